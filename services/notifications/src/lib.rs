//! The `notifications` service (`proto/notifications/v1/notifications.proto`): tells users
//! by email what happened to their bookings, from the bookings service's
//! `BookingConfirmed` and `BookingCancelled` events, and lists what it sent (`List`,
//! administrators only).
//!
//! - [`build`]: the service from settings, as an [`Application`] that runs until shutdown;
//! - [`define`]: its store indexes and its definition;
//! - [`settings`]: `SMTP_URL`, `SMTP_FROM` and the service's own settings;
//! - [`compose`]: the email's subject and text for an event;
//! - [`mailer`]: the SMTP client (lettre) and the message it sends;
//! - `handlers/`: one file per rpc or consumed event, behind [`handlers::Notifications`];
//!   `handlers/notify.rs` holds the delivery flow both consumers share;
//! - [`record`]: the stored notification, which is not the wire type.
//!
//! # One email per booking and kind
//!
//! The runtime's inbox gives one *effect* per event id, but sending mail is an effect
//! outside the store: it cannot commit in the inbox's transaction. So the email itself is
//! made idempotent, in three steps around the send:
//!
//! 1. **The notification is recorded before anything is sent**, in state `SENDING`, under
//!    the id `<booking id>.<kind>` (`kind` is `confirmed` or `cancelled`): one record per
//!    booking and kind, whatever the event id — a redelivery, a copy republished under
//!    another `Nats-Msg-Id`, or a second announcement of the same outcome with a new event
//!    id all meet at that record. The recipient (`users.v1.Users.Get`, with the service's
//!    own token) and the text are fixed in it, so every later attempt sends the same mail.
//!    The insert commits on its own; if the id is taken, the record is read instead.
//! 2. **The mail is sent** with `Message-ID: <booking_id.kind@notifications.switchboard>`,
//!    the same on every attempt (and the `Date` of the record's creation).
//! 3. **The record is marked `SENT` in the transaction `EventContext::commit` writes**,
//!    which also writes the inbox record of the event: the event counts as handled exactly
//!    when the notification counts as sent. An `AlreadyExists` from that commit is the
//!    inbox's: another delivery of the same event finished first, which is success.
//!
//! What a delivery finds decides what it does: no record → steps 1–3; `SENT`, `RECORDED`
//! or `UNDELIVERABLE` → nothing to send, only the inbox is committed
//! (`ctx.commit(Transaction::new())`); `SENDING` → an earlier attempt stopped between
//! steps 1 and 3 (the mail server refused or was unreachable, the process died, the
//! handler overran its deadline): steps 2–3 again. If that earlier attempt had in fact
//! handed the mail over, the mail goes a second time **with the same `Message-ID`**, by
//! which mail systems drop the copy. That window — a crash after the server accepted the
//! mail and before step 3 commits — is the "-ish" in exactly-once-ish, and no SMTP client
//! can close it: SMTP has no transaction that could commit with our store.
//!
//! Concurrent deliveries about the same notification in one process (two copies of an
//! event in flight at once) take turns (a lock per notification id), so the second finds
//! the first's outcome instead of a `SENDING` record it would send again. Two replicas
//! racing on copies of one event at the same moment can both send; again with one
//! `Message-ID`.
//!
//! The other outcomes:
//! - **The user does not exist** (`Users.Get` answers `not_found`), or their address is
//!   not one a mail can be sent to: the notification is recorded `UNDELIVERABLE` with the
//!   inbox record, and nothing is sent.
//! - **The mail server rejects the recipient or the message for good** (a 55x reply):
//!   `UNDELIVERABLE`, as no retry can change it. Any other failure — the users service or
//!   the mail server unreachable, a 4xx reply, a refused login — fails the handler: the
//!   event is delivered again after the consumer's backoff and, after
//!   `SB_CONSUMER_MAX_DELIVERIES`, dead-lettered, leaving the record `SENDING`.
//! - **No `SMTP_URL`**: the same flow, but step 2 sends nothing and the final state is
//!   `RECORDED`.
//! - **An event without a booking or user id** (or a booking id that cannot be part of a
//!   `Message-ID`) is refused as bad (400): dead-lettered at once.

pub mod compose;
pub mod handlers;
pub mod mailer;
pub mod record;
pub mod settings;

use std::sync::Arc;

use switchboard::ServiceDefinition;
use switchboard::proto::notifications::v1::{notifications_rpc, notifications_service};
use switchboard::service::StartError;
use switchboard::store::{Collection, Store, StoreError};

pub use mailer::Mailer;
pub use settings::{NotificationsSettings, SmtpSettings};
pub use switchboard::service::Application;

/// The service name: NATS service, queue group, subjects, binary and default store file.
pub const SERVICE: &str = notifications_rpc::SERVICE;
/// The collection notification records live in.
pub const COLLECTION: &str = "notifications";

/// Starts the `notifications` service with `settings`.
pub async fn build(settings: NotificationsSettings) -> Result<Application, StartError> {
    let mailer = settings
        .smtp
        .as_ref()
        .map(|smtp| Mailer::new(smtp, settings.from.clone()));
    match &settings.smtp {
        Some(smtp) => {
            tracing::info!(smtp = %smtp.redacted(), from = %settings.from, "notifications are sent by SMTP")
        }
        None => tracing::info!("no SMTP_URL: notifications are recorded, not sent"),
    }
    Application::build(SERVICE, &settings.service, |store| define(store, mailer)).await
}

/// Prepares `store` (its indexes) and the service definition over it; `mailer` sends the
/// notifications (none: they are only recorded).
pub async fn define(
    store: Arc<dyn Store>,
    mailer: Option<Mailer>,
) -> Result<ServiceDefinition, StoreError> {
    let notifications = Collection::new(store, COLLECTION);
    notifications.ensure_index("booking_id", false).await?;
    Ok(
        notifications_service(handlers::Notifications::new(notifications, mailer))
            .version(env!("CARGO_PKG_VERSION")),
    )
}
