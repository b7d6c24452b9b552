//! The stored form of a notification, separate from the wire type so either can change
//! alone.

use serde::{Deserialize, Serialize};
use switchboard::proto::notifications::v1::{DeliveryState, Notification, NotificationKind};
use switchboard::store::Versioned;
use switchboard::wire;

/// What a notification is about; its name is the last part of the notification's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The booking is confirmed.
    Confirmed,
    /// The booking is cancelled.
    Cancelled,
}

impl Kind {
    /// `confirmed` or `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Confirmed => "confirmed",
            Kind::Cancelled => "cancelled",
        }
    }

    fn to_wire(self) -> NotificationKind {
        match self {
            Kind::Confirmed => NotificationKind::BookingConfirmed,
            Kind::Cancelled => NotificationKind::BookingCancelled,
        }
    }
}

/// Where a notification stands (see the crate's documentation for the moves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Recorded, and being (or to be) handed to the mail server.
    Sending,
    /// The mail server accepted it.
    Sent,
    /// Recorded only: no mail server is configured.
    Recorded,
    /// It cannot be delivered.
    Undeliverable,
}

impl State {
    /// Whether nothing more will be done about it.
    pub fn is_final(self) -> bool {
        self != State::Sending
    }

    fn to_wire(self) -> DeliveryState {
        match self {
            State::Sending => DeliveryState::Sending,
            State::Sent => DeliveryState::Sent,
            State::Recorded => DeliveryState::Recorded,
            State::Undeliverable => DeliveryState::Undeliverable,
        }
    }
}

/// The id of `booking_id`'s notification of `kind`: `<booking id>.<kind>`.
pub fn notification_id(booking_id: &str, kind: Kind) -> String {
    format!("{booking_id}.{}", kind.as_str())
}

/// A notification as stored in the `notifications` collection (the id is
/// [`notification_id`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationRecord {
    /// The booking (indexed).
    pub booking_id: String,
    /// What it is about.
    pub kind: Kind,
    /// The recipient's address; empty when unknown.
    pub to: String,
    /// The recipient's name, as the mail's `To` shows it.
    pub to_name: String,
    /// The subject line.
    pub subject: String,
    /// The text.
    pub body: String,
    /// Where it stands.
    pub state: State,
    /// When it was first recorded, milliseconds since the Unix epoch; also the mail's
    /// `Date`, so every attempt sends the same mail.
    pub created_at_ms: i64,
}

impl NotificationRecord {
    /// The wire form of the stored notification `record`.
    pub fn to_wire(record: &Versioned<NotificationRecord>) -> Notification {
        let value = &record.value;
        Notification {
            id: record.id.clone(),
            booking_id: value.booking_id.clone(),
            kind: value.kind.to_wire().into(),
            to: value.to.clone(),
            subject: value.subject.clone(),
            body: value.body.clone(),
            state: value.state.to_wire().into(),
            created_at: Some(wire::timestamp_from_millis(value.created_at_ms)),
        }
    }
}
