//! The world each test owns: a nats-server with JetStream, the bookings event stream (the
//! bookings service is not part of these tests: its events are published as its outbox
//! relay would), the users service, a real SMTP receiver and a temp directory for the
//! stores; then the notifications service, started by the test.

use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, message::PublishMessage, stream};
use switchboard::auth::ADMIN_ROLE;
use switchboard::bus::BusSettings;
use switchboard::proto::bookings::v1::{BookingCancelled, BookingConfirmed, bookings_events};
use switchboard::proto::notifications::v1::{
    DeliveryState, ListNotificationsRequest, Notification, NotificationsClient,
};
use switchboard::proto::users::v1::{CreateUserRequest, User, UsersClient, create_user_reply};
use switchboard::service::{ConsumerSettings, EventSettings, RuntimeSettings, ServiceSettings};
use switchboard::store::{self, OutboxEntry, Store};
use switchboard::testing::{self, NatsServer};
use switchboard::{Bus, Event, EventConsumer, naming};

use notifications::{Application, NotificationsSettings, SmtpSettings};

use switchboard::testing::smtp::SmtpReceiver;

/// How long a test waits for a condition before failing: generous, so a loaded machine is
/// slow but not wrong.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The secret every service of the test verifies tokens with (and the notifications
/// service signs its own token with, to call users).
const SECRET: &str = "notifications-tests-secret-0123456789abcdef";

pub struct World {
    pub server: NatsServer,
    pub bus: Bus,
    pub js: jetstream::Context,
    pub smtp: SmtpReceiver,
    /// The users service, as an administrator.
    pub users: UsersClient,
    pub dir: tempfile::TempDir,
    _users: users::Application,
}

impl World {
    /// Everything but the notifications service, ready.
    pub async fn start() -> Self {
        let server = NatsServer::start();
        let dir = tempfile::tempdir().expect("a temp dir");
        let bus = Bus::connect(&BusSettings::new(server.url()), "tests")
            .await
            .expect("connects");
        let js = jetstream::new(bus.nats().clone());
        // The bookings service's stream, as its runtime would create it.
        js.create_stream(stream::Config {
            name: naming::event_stream(bookings_events::BOOKING_CONFIRMED.service),
            subjects: vec![naming::event_subjects(
                bookings_events::BOOKING_CONFIRMED.service,
            )],
            ..Default::default()
        })
        .await
        .expect("the bookings stream is created");
        let users_app = users::build(ServiceSettings {
            bus: BusSettings::new(server.url()),
            runtime: RuntimeSettings::default(),
            store_url: format!("sqlite://{}", dir.path().join("users.db").display()),
            auth: testing::hs256_auth(SECRET),
        })
        .await
        // Started means subscribed: it answers from here on.
        .expect("the users service starts");
        let users = UsersClient::new(bus.with_bearer_token(&token("root", &[ADMIN_ROLE])));
        Self {
            server,
            bus,
            js,
            smtp: SmtpReceiver::start().await,
            users,
            dir,
            _users: users_app,
        }
    }

    /// The notifications service's settings: its store in the test's directory, mail to
    /// the test's receiver when `smtp`, quick redeliveries.
    pub fn settings(&self, smtp: bool) -> NotificationsSettings {
        NotificationsSettings {
            service: ServiceSettings {
                bus: BusSettings::new(self.server.url()),
                runtime: RuntimeSettings {
                    shutdown_grace: Duration::from_secs(5),
                    events: EventSettings {
                        consumer: ConsumerSettings {
                            backoff: vec![Duration::from_millis(20)],
                            ..Default::default()
                        },
                        ..Default::default()
                    },
                    ..Default::default()
                },
                store_url: self.store_url(),
                auth: testing::hs256_auth(SECRET),
            },
            smtp: smtp.then(|| SmtpSettings::from_url(&self.smtp.url()).expect("the URL")),
            from: notifications::settings::DEFAULT_FROM
                .parse()
                .expect("an address"),
        }
    }

    /// Starts the notifications service, sending mail to the receiver when `smtp`.
    pub async fn start_notifications(&self, smtp: bool) -> Application {
        notifications::build(self.settings(smtp))
            .await
            .expect("the notifications service starts")
    }

    fn store_url(&self) -> String {
        format!(
            "sqlite://{}",
            self.dir.path().join("notifications.db").display()
        )
    }

    /// The notifications service's store, opened beside it (as a second process would).
    pub async fn notifications_store(&self) -> Arc<dyn Store> {
        store::open(&self.store_url())
            .await
            .expect("the notifications store")
    }

    /// The notifications service, as an administrator.
    pub fn admin(&self) -> NotificationsClient {
        self.notifications_as("root", &[ADMIN_ROLE])
    }

    /// The notifications service, as `subject` with `roles`.
    pub fn notifications_as(&self, subject: &str, roles: &[&str]) -> NotificationsClient {
        NotificationsClient::new(self.bus.with_bearer_token(&token(subject, roles)))
    }

    /// Registers a user.
    pub async fn create_user(&self, email: &str, display_name: &str) -> User {
        let created = self
            .users
            .create(CreateUserRequest {
                email: email.into(),
                display_name: display_name.into(),
            })
            .await
            .expect("the user is created");
        match created {
            create_user_reply::Outcome::Created(user) => user,
            other => panic!("expected a new user, got {other:?}"),
        }
    }

    /// Publishes `event` as the bookings service's outbox relay would: the headers of its
    /// announcement, its id as `Nats-Msg-Id`. Returns the entry (to publish copies of) and
    /// the event's stream sequence.
    pub async fn publish<E: Event>(&self, event: &E) -> (OutboxEntry, u64) {
        let entry = switchboard::service::announcement(E::TYPE.service, event, None)
            .expect("an announcement of the bookings service");
        let sequence = self.publish_entry(&entry, &entry.id).await;
        (entry, sequence)
    }

    /// Publishes `entry` under `Nats-Msg-Id` `msg_id`; its stream sequence.
    pub async fn publish_entry(&self, entry: &OutboxEntry, msg_id: &str) -> u64 {
        let mut headers = HeaderMap::new();
        for (name, value) in &entry.headers {
            headers.append(name.as_str(), value.as_str());
        }
        let ack = self
            .js
            .send_publish(
                entry.subject.clone(),
                PublishMessage::build()
                    .headers(headers)
                    .message_id(msg_id)
                    .payload(entry.payload.clone().into()),
            )
            .await
            .expect("the event is sent")
            .await
            .expect("and stored");
        assert!(!ack.duplicate, "the stream kept {msg_id}");
        ack.sequence
    }

    /// Waits until `consumer` has handled its stream up to `sequence`: delivered it,
    /// nothing left to deliver, nothing unacknowledged (so nothing more will be sent for
    /// those events).
    pub async fn until_handled(&self, consumer: EventConsumer, sequence: u64) {
        let found = testing::eventually(PATIENCE, || async {
            let stream = self.js.get_stream(consumer.event.stream).await.ok()?;
            let info = stream.consumer_info(consumer.durable).await.ok()?;
            (info.delivered.stream_sequence >= sequence
                && info.num_pending == 0
                && info.num_ack_pending == 0)
                .then_some(())
        })
        .await;
        assert!(
            found.is_some(),
            "{} handled up to stream sequence {sequence} within {PATIENCE:?}",
            consumer.durable
        );
    }

    /// Every notification of `booking_id`, listed by an administrator.
    pub async fn notifications_of(&self, booking_id: &str) -> Vec<Notification> {
        self.admin()
            .list(ListNotificationsRequest {
                booking_id: booking_id.into(),
                page: None,
            })
            .await
            .expect("an administrator lists notifications")
            .notifications
    }

    /// Waits until notification `id` is in `state`.
    pub async fn until_notification(&self, id: &str, state: DeliveryState) -> Notification {
        let booking_id = id.split('.').next().unwrap_or_default();
        let found = testing::eventually(PATIENCE, || async {
            self.notifications_of(booking_id)
                .await
                .into_iter()
                .find(|n| n.id == id && n.state() == state)
        })
        .await;
        found.unwrap_or_else(|| panic!("notification {id} {state:?} within {PATIENCE:?}"))
    }
}

/// A token for `subject` with `roles`, valid for a minute.
pub fn token(subject: &str, roles: &[&str]) -> String {
    testing::token(SECRET, subject, roles)
}

/// A fresh booking id, as the bookings service makes them (UUID v7).
pub fn booking_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A confirmation of booking `booking_id` by `user_id`: 2 seats of show `show-7` for 45.00.
pub fn confirmed(booking_id: &str, user_id: &str) -> BookingConfirmed {
    BookingConfirmed {
        booking_id: booking_id.into(),
        user_id: user_id.into(),
        show_id: "show-7".into(),
        seats: 2,
        amount_cents: 4500,
    }
}

/// A cancellation of booking `booking_id` by `user_id`, for `reason`.
pub fn cancelled(booking_id: &str, user_id: &str, reason: &str) -> BookingCancelled {
    BookingCancelled {
        booking_id: booking_id.into(),
        user_id: user_id.into(),
        show_id: "show-7".into(),
        reason: reason.into(),
    }
}
