//! A world for the booking saga: a nats-server, tickets, billing and bookings on temp-dir
//! stores, and clients acting as a user and as an administrator.

use std::path::PathBuf;
use std::time::Duration;

use bookings::record::BookingState;
use switchboard::Bus;
use switchboard::auth::{ADMIN_ROLE, AuthSettings};
use switchboard::bus::{BreakerSettings, BusSettings};
use switchboard::proto::billing::v1::{
    BillingClient, Charge, Faults, GetChargeRequest, SetFaultsRequest, get_charge_reply,
};
use switchboard::proto::bookings::v1::{
    Booking, BookingStatus, BookingsClient, CreateBookingRequest, GetBookingRequest,
    create_booking_reply, get_booking_reply,
};
use switchboard::proto::tickets::v1::{
    CreateShowRequest, GetShowRequest, Show, TicketsClient, create_show_reply, get_show_reply,
};
use switchboard::saga::SagaSettings;
use switchboard::service::{Application, RuntimeSettings, ServiceSettings};
use switchboard::settings::Env;
use switchboard::store;
use switchboard::testing::{self, NatsServer};

/// The development secret every service of the world verifies tokens with.
pub const SECRET: &str = "bookings-tests-secret-0123456789abcdef";
/// How long a test waits for a condition before failing.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub struct World {
    pub server: NatsServer,
    pub dir: tempfile::TempDir,
    pub tickets: Option<Application>,
    pub billing: Option<Application>,
    pub bookings: Option<Application>,
    /// Saga settings of the bookings instances this world starts.
    pub saga: SagaSettings,
    /// A bus with no token.
    pub bus: Bus,
    /// Bookings as the user `ada`.
    pub ada: BookingsClient,
    /// Bookings as an administrator.
    pub admin: BookingsClient,
    pub tickets_admin: TicketsClient,
    pub billing_admin: BillingClient,
}

/// Saga settings short enough for tests: a booking that cannot be charged gives up after
/// 1.5 s; a dead replica's sagas are taken over after 1 s.
pub fn quick_saga() -> SagaSettings {
    SagaSettings {
        deadline: Duration::from_millis(1500),
        lease: Duration::from_millis(1000),
        step_timeout: Duration::from_millis(400),
        sweep: Duration::from_millis(100),
        ..SagaSettings::default()
    }
}

pub async fn spawn_world() -> World {
    spawn_world_with(quick_saga()).await
}

pub async fn spawn_world_with(saga: SagaSettings) -> World {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("a temp dir");
    let bus = Bus::connect(&BusSettings::new(server.url()), "tests")
        .await
        .expect("connects");
    let admin_bus = bus.with_bearer_token(&token("root", &[ADMIN_ROLE]));
    let mut world = World {
        dir,
        tickets: None,
        billing: None,
        bookings: None,
        saga,
        ada: BookingsClient::new(bus.with_bearer_token(&token("ada", &[]))),
        admin: BookingsClient::new(admin_bus.clone()),
        tickets_admin: TicketsClient::new(admin_bus.clone()),
        billing_admin: BillingClient::new(admin_bus),
        bus,
        server,
    };
    world.tickets = Some(world.start_tickets().await);
    world.billing = Some(world.start_billing().await);
    world.bookings = Some(world.start_bookings("replica-a").await);
    world
}

pub fn auth_settings() -> AuthSettings {
    testing::hs256_auth(SECRET)
}

/// A token for `subject` with `roles`, valid for a minute.
pub fn token(subject: &str, roles: &[&str]) -> String {
    testing::token(SECRET, subject, roles)
}

impl World {
    fn service_settings(&self, service: &str) -> ServiceSettings {
        let mut bus = BusSettings::new(self.server.url());
        // A breaker that recovers within a test: open after 3 failures, probe after 300 ms.
        bus.breaker = BreakerSettings {
            failures: 3,
            window: Duration::from_secs(10),
            cooldown: Duration::from_millis(300),
            probes: 1,
        };
        ServiceSettings {
            bus,
            runtime: RuntimeSettings {
                saga: self.saga.clone(),
                ..RuntimeSettings::default()
            },
            store_url: self.store_url(service),
            auth: auth_settings(),
        }
    }

    pub fn store_path(&self, service: &str) -> PathBuf {
        self.dir.path().join(format!("{service}.db"))
    }

    pub fn store_url(&self, service: &str) -> String {
        format!("sqlite://{}", self.store_path(service).display())
    }

    pub async fn start_tickets(&self) -> Application {
        let mut settings =
            tickets::TicketsSettings::from_env(&Env::default()).expect("default settings");
        settings.service = self.service_settings("tickets");
        tickets::build(settings).await.expect("tickets starts")
    }

    pub async fn start_billing(&self) -> Application {
        let env = Env::from_pairs([("BILLING_FAULT_INJECTION", "true")]);
        let mut settings = billing::BillingSettings::from_env(&env).expect("settings");
        settings.service = self.service_settings("billing");
        billing::build(settings).await.expect("billing starts")
    }

    /// A bookings replica named `instance` on the world's bookings store.
    pub async fn start_bookings(&self, instance: &str) -> Application {
        let mut settings = self.service_settings("bookings");
        settings.runtime.instance_id = instance.to_owned();
        bookings::build(settings).await.expect("bookings starts")
    }

    /// Stops billing gracefully: its subjects have no responders until it is restarted.
    pub async fn stop_billing(&mut self) {
        if let Some(app) = self.billing.take() {
            app.run_until_stopped(async {})
                .await
                .expect("stops cleanly");
        }
    }

    pub async fn set_faults(&self, faults: Faults) {
        self.billing_admin
            .set_faults(SetFaultsRequest {
                faults: Some(faults),
            })
            .await
            .expect("faults are set");
    }

    /// A show with `capacity` seats at `price_cents` each.
    pub async fn create_show(&self, capacity: u32, price_cents: u64) -> Show {
        let request = CreateShowRequest {
            name: "The Switchboard Revue".into(),
            capacity,
            price_cents,
        };
        match self
            .tickets_admin
            .create_show(request)
            .await
            .expect("creates")
        {
            create_show_reply::Outcome::Created(show) => show,
        }
    }

    pub async fn show(&self, id: &str) -> Show {
        let request = GetShowRequest { id: id.to_owned() };
        match self.tickets_admin.get_show(request).await.expect("reads") {
            get_show_reply::Outcome::Found(show) => show,
            other => panic!("show {id}: {other:?}"),
        }
    }

    /// Books `seats` of `show` as `ada`; the reply is the PENDING booking.
    pub async fn book(&self, show: &str, seats: u32) -> Booking {
        let request = CreateBookingRequest {
            show_id: show.to_owned(),
            seats,
        };
        match self.ada.create(request).await.expect("create answers") {
            create_booking_reply::Outcome::Created(booking) => booking,
        }
    }

    pub async fn booking(&self, id: &str) -> Booking {
        let request = GetBookingRequest { id: id.to_owned() };
        match self.ada.get(request).await.expect("get answers") {
            get_booking_reply::Outcome::Found(booking) => booking,
            other => panic!("booking {id}: {other:?}"),
        }
    }

    /// Waits until booking `id` is CONFIRMED or CANCELLED, and returns it.
    pub async fn settled(&self, id: &str) -> Booking {
        testing::eventually(PATIENCE, || async {
            let booking = self.booking(id).await;
            let status = booking.status();
            matches!(status, BookingStatus::Confirmed | BookingStatus::Cancelled).then_some(booking)
        })
        .await
        .unwrap_or_else(|| panic!("booking {id} never settled"))
    }

    /// Billing's charge of booking `id`, if it has one.
    pub async fn charge(&self, id: &str) -> Option<Charge> {
        let request = GetChargeRequest {
            booking_id: id.to_owned(),
        };
        match self
            .billing_admin
            .get_charge(request)
            .await
            .expect("reads the charge")
        {
            get_charge_reply::Outcome::Found(charge) => Some(charge),
            get_charge_reply::Outcome::NotFound(_) => None,
        }
    }

    /// The saga record of booking `id`, read from the bookings store.
    pub async fn stored(&self, id: &str) -> BookingState {
        let store = store::open(&self.store_url("bookings"))
            .await
            .expect("opens the store");
        let record = store
            .get(bookings::COLLECTION, id)
            .await
            .expect("reads")
            .expect("the booking is stored");
        store::from_document(record.doc).expect("decodes")
    }
}
