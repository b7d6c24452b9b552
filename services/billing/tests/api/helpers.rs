//! `spawn_app()`: a nats-server, a billing service on a temp-dir store, and clients acting
//! as a user, an administrator and the bookings saga.

use billing::{Application, BillingSettings, Faults};
use switchboard::Bus;
use switchboard::auth::{ADMIN_ROLE, AuthSettings, SERVICE_ROLE};
use switchboard::bus::{BreakerSettings, BusSettings};
use switchboard::proto::billing::v1::{
    BillingClient, ChargeRequest, RefundRequest, charge_reply, refund_reply,
};
use switchboard::service::{RuntimeSettings, ServiceSettings};
use switchboard::testing::{self, NatsServer};

/// The development secret the test service verifies tokens with.
const SECRET: &str = "billing-tests-secret-0123456789abcdef";

pub struct TestApp {
    pub _server: NatsServer,
    /// A client acting as the user `ada`.
    pub user: BillingClient,
    /// A client acting as an administrator.
    pub admin: BillingClient,
    /// A client acting as the bookings saga (role `service`).
    pub saga: BillingClient,
    /// The bus without a token: its calls make one attempt and no breaker opens, so a
    /// test sees each failure as it is.
    pub bus: Bus,
    pub _app: Application,
    pub _dir: tempfile::TempDir,
}

/// The service with no faults and fault injection off.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Faults::default(), false).await
}

/// The service starting with `faults`, SetFaults allowed when `fault_injection`.
pub async fn spawn_app_with(faults: Faults, fault_injection: bool) -> TestApp {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("a temp dir");
    let settings = BillingSettings {
        service: ServiceSettings {
            bus: BusSettings::new(server.url()),
            runtime: RuntimeSettings::default(),
            store_url: format!("sqlite://{}", dir.path().join("billing.db").display()),
            auth: auth_settings(),
        },
        faults,
        fault_injection,
    };
    let app = billing::build(settings).await.expect("the service starts");
    let mut bus_settings = BusSettings::new(server.url());
    bus_settings.max_attempts = 1;
    bus_settings.breaker = BreakerSettings {
        failures: 0,
        ..BreakerSettings::default()
    };
    let bus = Bus::connect(&bus_settings, "tests")
        .await
        .expect("connects");
    TestApp {
        user: client(&bus, "ada", &[]),
        admin: client(&bus, "root", &[ADMIN_ROLE]),
        saga: client(&bus, "bookings", &[SERVICE_ROLE]),
        bus,
        _server: server,
        _app: app,
        _dir: dir,
    }
}

fn client(bus: &Bus, subject: &str, roles: &[&str]) -> BillingClient {
    BillingClient::new(bus.with_bearer_token(&token(subject, roles)))
}

impl TestApp {
    /// Charges `amount_cents` to `ada` for `booking` (as the saga).
    pub async fn charge(&self, booking: &str, amount_cents: u64) -> charge_reply::Outcome {
        self.saga
            .charge(charge_request(booking, amount_cents))
            .await
            .expect("charge answers")
    }

    /// Refunds `booking` (as the saga).
    pub async fn refund(&self, booking: &str) -> switchboard::proto::billing::v1::Charge {
        match self
            .saga
            .refund(RefundRequest {
                booking_id: booking.into(),
            })
            .await
            .expect("refund answers")
        {
            refund_reply::Outcome::Refunded(charge) => charge,
        }
    }
}

pub fn charge_request(booking: &str, amount_cents: u64) -> ChargeRequest {
    ChargeRequest {
        booking_id: booking.into(),
        customer_id: "ada".into(),
        amount_cents,
    }
}

fn auth_settings() -> AuthSettings {
    testing::hs256_auth(SECRET)
}

/// A token for `subject` with `roles`, valid for a minute.
pub fn token(subject: &str, roles: &[&str]) -> String {
    testing::token(SECRET, subject, roles)
}
