//! The proof: 1,000 bookings with random seats over a few shows of limited capacity, while
//! cards are declined, billing is overloaded for a while, billing is killed and restarted,
//! the bookings binary is killed with SIGKILL and restarted, and nats-server restarts.
//! Once everything has settled (a bounded wait on conditions, no sleeps):
//!
//! - every booking ended CONFIRMED or CANCELLED with a reason; none is stuck;
//! - the seats a show holds are the seats of its confirmed bookings, within capacity;
//! - exactly one charge per confirmed booking; none left standing for a cancelled one;
//! - exactly one email per booking outcome.
//!
//! tickets, users and notifications run in this process; billing and bookings run as
//! their binaries, so they can be killed.

#[path = "api/helpers.rs"]
#[allow(dead_code)] // the other tests' helpers
mod helpers;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use switchboard::auth::ADMIN_ROLE;
use switchboard::bus::BusSettings;
use switchboard::proto::billing::v1::{
    BillingClient, ChargeState, Faults, ListChargesRequest, SetFaultsRequest,
};
use switchboard::proto::bookings::v1::{
    Booking, BookingStatus, BookingsClient, CreateBookingRequest, ListBookingsRequest,
    create_booking_reply,
};
use switchboard::proto::notifications::v1::{
    ListNotificationsRequest, NotificationKind, NotificationsClient,
};
use switchboard::proto::switchboard::v1::PageRequest;
use switchboard::proto::users::v1::{CreateUserRequest, UsersClient, create_user_reply};
use switchboard::saga::SagaSettings;
use switchboard::service::{Application, RuntimeSettings, ServiceSettings};
use switchboard::settings::Env;
use switchboard::testing::{NatsServer, eventually};
use switchboard::{Bus, CallOptions};

use helpers::{SECRET, auth_settings, token};

/// Bookings made in all.
const BOOKINGS: usize = 1000;
/// Shows, and the seats of each: 4 × 500 seats for about 3,000 asked.
const SHOWS: usize = 4;
const CAPACITY: u32 = 500;
/// Users booking.
const USERS: usize = 8;
/// Bookings being made at once.
const CALLERS: usize = 24;
/// How long everything may take to settle once the last booking is made.
const SETTLE: Duration = Duration::from_secs(240);

/// Saga timing for the run: replicas killed are replaced within 2 s.
fn saga() -> SagaSettings {
    SagaSettings {
        deadline: Duration::from_secs(10),
        lease: Duration::from_secs(2),
        step_timeout: Duration::from_secs(1),
        sweep: Duration::from_millis(200),
        ..SagaSettings::default()
    }
}

/// The services of the run and where they keep their data.
struct System {
    server: NatsServer,
    dir: tempfile::TempDir,
    _in_process: Vec<Application>,
}

impl System {
    fn store_url(&self, service: &str) -> String {
        format!(
            "sqlite://{}",
            self.dir.path().join(format!("{service}.db")).display()
        )
    }

    fn settings(&self, service: &str) -> ServiceSettings {
        ServiceSettings {
            bus: BusSettings::new(self.server.url()),
            runtime: RuntimeSettings::default(),
            store_url: self.store_url(service),
            auth: auth_settings(),
        }
    }

    /// `binary` as a child process with the system's NATS, store and secret.
    fn spawn(
        &self,
        binary: &std::path::Path,
        service: &str,
        env: &[(&str, String)],
    ) -> tokio::process::Child {
        let mut command = tokio::process::Command::new(binary);
        command
            .env("NATS_URL", self.server.url())
            .env("STORE_URL", self.store_url(service))
            .env("JWT_HS256_SECRET", SECRET)
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true);
        for (name, value) in env {
            command.env(name, value);
        }
        command.spawn().expect("the binary starts")
    }

    fn billing(&self) -> tokio::process::Child {
        self.spawn(
            &switchboard::testing::workspace_binary("billing"),
            "billing",
            &[
                ("BILLING_FAULT_INJECTION", "true".into()),
                ("BILLING_DECLINE_RATE", "0.1".into()),
            ],
        )
    }

    fn bookings(&self, instance: &str) -> tokio::process::Child {
        let saga = saga();
        let ms = |d: Duration| d.as_millis().to_string();
        self.spawn(
            std::path::Path::new(env!("CARGO_BIN_EXE_bookings")),
            "bookings",
            &[
                ("SB_INSTANCE_ID", instance.into()),
                ("SB_SAGA_DEADLINE_MS", ms(saga.deadline)),
                ("SB_SAGA_LEASE_MS", ms(saga.lease)),
                ("SB_SAGA_STEP_TIMEOUT_MS", ms(saga.step_timeout)),
                ("SB_SAGA_SWEEP_MS", ms(saga.sweep)),
            ],
        )
    }
}

/// Makes `seats` bookings of `show` as `user`, retrying with the same idempotency key
/// until the system answers, so a retry never books twice.
async fn book(bus: &Bus, user: &str, show: &str, seats: u32, key: String) -> Booking {
    let client = BookingsClient::new(bus.with_bearer_token(&token(user, &[])));
    let request = CreateBookingRequest {
        show_id: show.to_owned(),
        seats,
    };
    let options = CallOptions::default()
        .idempotency_key(key)
        .timeout(Duration::from_secs(2));
    let created = eventually(SETTLE, || async {
        client
            .create_with(request.clone(), options.clone())
            .await
            .ok()
    })
    .await
    .expect("a booking is accepted once the system is back");
    match created {
        create_booking_reply::Outcome::Created(booking) => booking,
    }
}

/// Every page of a paged admin listing.
async fn all_bookings(client: &BookingsClient) -> Option<Vec<Booking>> {
    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        let page = client
            .list(ListBookingsRequest {
                page: Some(PageRequest { limit: 1000, after }),
            })
            .await
            .ok()?;
        all.extend(page.bookings);
        match page.page.map(|p| p.next).filter(|next| !next.is_empty()) {
            Some(next) => after = next,
            None => return Some(all),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_bookings_under_faults_end_consistent() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("a temp dir");
    let bus = switchboard::testing::connect_patient(&server).await;
    let mut system = System {
        server,
        dir,
        _in_process: Vec::new(),
    };
    let mut tickets_settings =
        tickets::TicketsSettings::from_env(&Env::default()).expect("defaults");
    tickets_settings.service = system.settings("tickets");
    let tickets = tickets::build(tickets_settings)
        .await
        .expect("tickets starts");
    let users = users::build(system.settings("users"))
        .await
        .expect("users starts");
    // Mail goes over real SMTP to a receiver that counts what it accepted.
    let mail = switchboard::testing::smtp::SmtpReceiver::start().await;
    let mut notifications_settings = notifications::NotificationsSettings::from_env(
        &Env::from_pairs([("SMTP_URL", mail.url().as_str())]),
    )
    .expect("settings");
    notifications_settings.service = system.settings("notifications");
    let notifications = notifications::build(notifications_settings)
        .await
        .expect("notifications starts");
    system._in_process = vec![tickets, users, notifications];
    let mut billing = system.billing();
    let mut bookings = system.bookings("replica-a");

    let admin = bus.with_bearer_token(&token("root", &[ADMIN_ROLE]));
    let billing_admin = BillingClient::new(admin.clone());
    let bookings_admin = BookingsClient::new(admin.clone());
    let notifications_admin = NotificationsClient::new(admin.clone());
    let users_client = UsersClient::new(bus.clone());
    let mut user_ids = Vec::new();
    for n in 0..USERS {
        let request = CreateUserRequest {
            email: format!("fan{n}@example.com"),
            display_name: format!("Fan {n}"),
        };
        match users_client
            .create(request)
            .await
            .expect("a user is created")
        {
            create_user_reply::Outcome::Created(user) => user_ids.push(user.id),
            other => panic!("{other:?}"),
        }
    }
    let tickets_admin = switchboard::proto::tickets::v1::TicketsClient::new(admin.clone());
    let mut shows = Vec::new();
    for n in 0..SHOWS {
        let request = switchboard::proto::tickets::v1::CreateShowRequest {
            name: format!("Show {n}"),
            capacity: CAPACITY,
            price_cents: 1000 + 250 * n as u64,
        };
        match tickets_admin
            .create_show(request)
            .await
            .expect("a show is created")
        {
            switchboard::proto::tickets::v1::create_show_reply::Outcome::Created(show) => {
                shows.push(show.id)
            }
        }
    }

    // Callers book until BOOKINGS are made; `made` says how far they are, which is what
    // the faults below wait for.
    let made = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..CALLERS)
        .map(|_| {
            let (bus, made, next) = (bus.clone(), made.clone(), next.clone());
            let (users, shows) = (user_ids.clone(), shows.clone());
            tokio::spawn(async move {
                let mut booked = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n >= BOOKINGS {
                        return booked;
                    }
                    let user = &users[fastrand::usize(..users.len())];
                    let show = &shows[fastrand::usize(..shows.len())];
                    let seats = fastrand::u32(1..=5);
                    let booking = book(&bus, user, show, seats, format!("booking-{n}")).await;
                    booked.push(booking.id);
                    made.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    let reached = |count: usize| {
        let made = made.clone();
        async move {
            eventually(SETTLE, || async {
                (made.load(Ordering::SeqCst) >= count).then_some(())
            })
            .await
            .unwrap_or_else(|| panic!("{count} bookings were never made"));
        }
    };

    let set_faults = |faults: Faults| {
        let billing_admin = billing_admin.clone();
        async move {
            eventually(SETTLE, || async {
                let request = SetFaultsRequest {
                    faults: Some(faults),
                };
                billing_admin.set_faults(request).await.ok()
            })
            .await
            .expect("billing takes new faults");
        }
    };
    let declining = Faults {
        decline_rate: 0.1,
        ..Faults::default()
    };

    reached(150).await;
    set_faults(Faults {
        overloaded: true,
        ..declining
    })
    .await;
    reached(250).await;
    // Overloaded past the saga's deadline: some bookings give up and undo their steps.
    eventually(SETTLE, || async {
        let bookings = all_bookings(&bookings_admin).await?;
        let gave_up = bookings
            .iter()
            .filter(|b| b.reason.contains("did not succeed in time"))
            .count();
        (gave_up >= 5).then_some(())
    })
    .await
    .expect("bookings give up while billing is overloaded");
    set_faults(declining).await;

    reached(350).await;
    billing.start_kill().expect("SIGKILL billing");
    billing.wait().await.expect("reaped");
    billing = system.billing();
    set_faults(declining).await; // answers once the new billing serves

    reached(500).await;
    bookings.start_kill().expect("SIGKILL bookings");
    bookings.wait().await.expect("reaped");
    // Another name: its sagas are taken over once their leases run out.
    bookings = system.bookings("replica-b");
    eventually(SETTLE, || async { all_bookings(&bookings_admin).await })
        .await
        .expect("the new bookings replica serves");

    reached(700).await;
    tokio::task::block_in_place(|| system.server.restart());

    let mut booked = Vec::new();
    for caller in callers {
        booked.extend(caller.await.expect("a caller"));
    }
    assert_eq!(booked.len(), BOOKINGS);

    // Settled: every booking ended, and every outcome's email is recorded.
    let settled = eventually(SETTLE, || async {
        let bookings = all_bookings(&bookings_admin).await?;
        let ended = bookings.iter().all(|b| {
            matches!(
                b.status(),
                BookingStatus::Confirmed | BookingStatus::Cancelled
            )
        });
        (ended && bookings.len() == BOOKINGS).then_some(bookings)
    })
    .await;
    let Some(all) = settled else {
        let stuck = all_bookings(&bookings_admin).await.unwrap_or_default();
        let stuck: Vec<_> = stuck
            .iter()
            .filter(|b| {
                !matches!(
                    b.status(),
                    BookingStatus::Confirmed | BookingStatus::Cancelled
                )
            })
            .take(5)
            .collect();
        panic!("bookings stuck: {stuck:?}");
    };
    let confirmed: Vec<&Booking> = all
        .iter()
        .filter(|b| b.status() == BookingStatus::Confirmed)
        .collect();
    let cancelled: Vec<&Booking> = all
        .iter()
        .filter(|b| b.status() == BookingStatus::Cancelled)
        .collect();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for booking in &cancelled {
        assert!(
            !booking.reason.is_empty(),
            "cancelled without a reason: {booking:?}"
        );
        let kind = booking
            .reason
            .split([':', '('])
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        *reasons.entry(kind).or_default() += 1;
    }
    println!(
        "{} bookings: {} confirmed, {} cancelled {reasons:?}",
        all.len(),
        confirmed.len(),
        cancelled.len()
    );

    // Seats: what each show holds is what its confirmed bookings hold.
    for show in &shows {
        let request = switchboard::proto::tickets::v1::GetShowRequest { id: show.clone() };
        let stored = match tickets_admin
            .get_show(request)
            .await
            .expect("reads the show")
        {
            switchboard::proto::tickets::v1::get_show_reply::Outcome::Found(show) => show,
            other => panic!("{other:?}"),
        };
        let sold: u32 = confirmed
            .iter()
            .filter(|b| &b.show_id == show)
            .map(|b| b.seats)
            .sum();
        println!(
            "show {show}: {} sold of {}, {} held",
            stored.sold, stored.capacity, stored.reserved
        );
        assert_eq!(stored.reserved, 0, "no seat is left held");
        assert_eq!(
            stored.sold, sold,
            "sold seats are the confirmed bookings' seats"
        );
        assert!(stored.sold <= stored.capacity);
    }

    // Money: one charge per confirmed booking; none standing for a cancelled one.
    let mut charges = HashMap::new();
    let mut after = String::new();
    loop {
        let page = billing_admin
            .list_charges(ListChargesRequest {
                page: Some(PageRequest { limit: 1000, after }),
            })
            .await
            .expect("lists charges");
        for charge in page.charges {
            assert!(
                charges.insert(charge.booking_id.clone(), charge).is_none(),
                "one charge record per booking"
            );
        }
        match page.page.map(|p| p.next).filter(|next| !next.is_empty()) {
            Some(next) => after = next,
            None => break,
        }
    }
    for booking in &confirmed {
        let charge = charges
            .get(&booking.id)
            .unwrap_or_else(|| panic!("not charged: {booking:?}"));
        assert_eq!(charge.state(), ChargeState::Charged, "{booking:?}");
        assert_eq!(charge.amount_cents, booking.amount_cents);
    }
    for booking in &cancelled {
        if let Some(charge) = charges.get(&booking.id) {
            assert_ne!(
                charge.state(),
                ChargeState::Charged,
                "a cancelled booking's charge stands: {booking:?} {charge:?}"
            );
        }
    }
    let refunded = charges
        .values()
        .filter(|c| c.state() == ChargeState::Refunded)
        .count();
    println!("charges: {} records, {refunded} refunded", charges.len());

    // Emails: one per booking outcome, however often the events were delivered.
    let emails = eventually(SETTLE, || async {
        let mut kinds = HashMap::new();
        let mut after = String::new();
        loop {
            let page = notifications_admin
                .list(ListNotificationsRequest {
                    booking_id: String::new(),
                    page: Some(PageRequest { limit: 1000, after }),
                })
                .await
                .ok()?;
            for notification in page.notifications {
                let previous = kinds.insert(notification.booking_id.clone(), notification.kind());
                assert!(
                    previous.is_none(),
                    "two emails for {}",
                    notification.booking_id
                );
            }
            match page.page.map(|p| p.next).filter(|next| !next.is_empty()) {
                Some(next) => after = next,
                None => break,
            }
        }
        (kinds.len() == BOOKINGS).then_some(kinds)
    })
    .await
    .expect("every booking outcome is notified");
    for booking in &all {
        let expected = match booking.status() {
            BookingStatus::Confirmed => NotificationKind::BookingConfirmed,
            _ => NotificationKind::BookingCancelled,
        };
        assert_eq!(emails.get(&booking.id), Some(&expected), "{booking:?}");
    }
    // What the mail server accepted: one mail per booking, of the booking's outcome. (A
    // notification is sent again, with the same Message-ID, only when its process died
    // between the mail server's answer and recording it; no process here dies.)
    let accepted = mail.wait_for(BOOKINGS, SETTLE).await;
    let mut mails: HashMap<String, usize> = HashMap::new();
    for message in &accepted {
        let id = message.header("Message-ID").unwrap_or_default();
        *mails.entry(id).or_default() += 1;
    }
    for booking in &all {
        let kind = match booking.status() {
            BookingStatus::Confirmed => "confirmed",
            _ => "cancelled",
        };
        let id = format!("<{}.{kind}@notifications.switchboard>", booking.id);
        assert_eq!(mails.get(&id), Some(&1), "mails for {booking:?}");
    }
    assert_eq!(accepted.len(), BOOKINGS, "no other mail was sent");
    println!("mails: {} accepted, one per booking", accepted.len());
    drop((billing, bookings));
}
