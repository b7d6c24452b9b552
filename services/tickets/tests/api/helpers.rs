//! `spawn_app()`: a nats-server, a tickets service on a temp-dir store, and clients acting
//! as a user, an administrator and the bookings saga.

use std::path::Path;
use std::time::Duration;

use switchboard::Bus;
use switchboard::auth::{ADMIN_ROLE, AuthSettings, SERVICE_ROLE};
use switchboard::bus::BusSettings;
use switchboard::proto::tickets::v1::{
    ConfirmSeatsRequest, CreateShowRequest, GetShowRequest, ReleaseSeatsRequest, Reservation,
    ReserveSeatsRequest, Show, TicketsClient, confirm_seats_reply, create_show_reply,
    get_show_reply, release_seats_reply, reserve_seats_reply,
};
use switchboard::service::{RuntimeSettings, ServiceSettings};
use switchboard::testing::{self, NatsServer};
use tickets::{Application, TicketsSettings};

/// The development secret the test service verifies tokens with.
const SECRET: &str = "tickets-tests-secret-0123456789abcdef";

/// A hold long enough never to run out during a test that is not about expiry.
pub const LONG_HOLD: Duration = Duration::from_secs(300);

pub struct TestApp {
    pub server: NatsServer,
    /// A client acting as the user `ada`.
    pub user: TicketsClient,
    /// A client acting as an administrator.
    pub admin: TicketsClient,
    /// A client acting as the bookings saga (role `service`).
    pub saga: TicketsClient,
    /// The bus without a token.
    pub bus: Bus,
    pub _app: Application,
    pub dir: tempfile::TempDir,
}

/// The service with a long hold and the default sweep.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(LONG_HOLD, Duration::from_secs(2)).await
}

/// The service holding reservations for `hold` and sweeping every `sweep`.
pub async fn spawn_app_with(hold: Duration, sweep: Duration) -> TestApp {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("a temp dir");
    let app = start_service(&server, dir.path(), hold, sweep).await;
    let bus = Bus::connect(&BusSettings::new(server.url()), "tests")
        .await
        .expect("connects");
    TestApp {
        user: client(&bus, "ada", &[]),
        admin: client(&bus, "root", &[ADMIN_ROLE]),
        saga: client(&bus, "bookings", &[SERVICE_ROLE]),
        bus,
        server,
        _app: app,
        dir,
    }
}

/// Another instance of the service on `server` over the store in `dir`: a replica.
pub async fn start_service(
    server: &NatsServer,
    dir: &Path,
    hold: Duration,
    sweep: Duration,
) -> Application {
    let settings = TicketsSettings {
        service: ServiceSettings {
            bus: BusSettings::new(server.url()),
            runtime: RuntimeSettings::default(),
            store_url: format!("sqlite://{}", dir.join("tickets.db").display()),
            auth: auth_settings(),
        },
        hold,
        sweep,
    };
    tickets::build(settings).await.expect("the service starts")
}

fn client(bus: &Bus, subject: &str, roles: &[&str]) -> TicketsClient {
    TicketsClient::new(bus.with_bearer_token(&token(subject, roles)))
}

impl TestApp {
    /// Puts a show with `capacity` seats at 2500 cents on sale (as an administrator).
    pub async fn create_show(&self, capacity: u32) -> Show {
        let request = CreateShowRequest {
            name: "The Tempest".into(),
            capacity,
            price_cents: 2500,
        };
        match self.admin.create_show(request).await.expect("create_show") {
            create_show_reply::Outcome::Created(show) => show,
        }
    }

    /// The show `id` as it stands now.
    pub async fn show(&self, id: &str) -> Show {
        match self
            .user
            .get_show(GetShowRequest { id: id.into() })
            .await
            .expect("get_show")
        {
            get_show_reply::Outcome::Found(show) => show,
            other => panic!("show {id} not found: {other:?}"),
        }
    }

    /// Reserves `seats` of `show` for `booking` (as the saga).
    pub async fn reserve(
        &self,
        booking: &str,
        show: &str,
        seats: u32,
    ) -> reserve_seats_reply::Outcome {
        self.saga
            .reserve(reserve_request(booking, show, seats))
            .await
            .expect("reserve")
    }

    /// Reserves and expects the seats to be held.
    pub async fn reserved(&self, booking: &str, show: &str, seats: u32) -> Reservation {
        match self.reserve(booking, show, seats).await {
            reserve_seats_reply::Outcome::Reserved(reservation) => reservation,
            other => panic!("expected {booking} to hold {seats} seats, got {other:?}"),
        }
    }

    /// Releases `booking`'s seats (as the saga).
    pub async fn release(&self, booking: &str) -> release_seats_reply::Outcome {
        self.saga
            .release(ReleaseSeatsRequest {
                booking_id: booking.into(),
            })
            .await
            .expect("release")
    }

    /// Confirms `booking`'s seats (as the saga).
    pub async fn confirm(&self, booking: &str) -> confirm_seats_reply::Outcome {
        self.saga
            .confirm(ConfirmSeatsRequest {
                booking_id: booking.into(),
            })
            .await
            .expect("confirm")
    }
}

pub fn reserve_request(booking: &str, show: &str, seats: u32) -> ReserveSeatsRequest {
    ReserveSeatsRequest {
        booking_id: booking.into(),
        show_id: show.into(),
        seats,
    }
}

fn auth_settings() -> AuthSettings {
    testing::hs256_auth(SECRET)
}

/// A token for `subject` with `roles`, valid for a minute.
pub fn token(subject: &str, roles: &[&str]) -> String {
    testing::token(SECRET, subject, roles)
}
