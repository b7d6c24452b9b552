//! The stored form of a booking's charge, separate from the wire type so either can
//! change alone.

use serde::{Deserialize, Serialize};
use switchboard::proto::billing::v1::{Charge, ChargeState};
use switchboard::store::Versioned;
use switchboard::wire;

/// Where a booking's money stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The amount was taken.
    Charged,
    /// The card was declined; nothing was taken.
    Declined,
    /// The amount was taken and given back.
    Refunded,
    /// Refunded before any charge: nothing was taken and nothing will be.
    Voided,
}

impl Status {
    fn to_wire(self) -> ChargeState {
        match self {
            Status::Charged => ChargeState::Charged,
            Status::Declined => ChargeState::Declined,
            Status::Refunded => ChargeState::Refunded,
            Status::Voided => ChargeState::Voided,
        }
    }
}

/// A booking's charge as stored in the `charges` collection; the record id is the
/// booking id, so a booking has at most one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChargeRecord {
    /// Who pays (a user id); empty for a voided booking that was never charged.
    pub customer_id: String,
    /// The amount, in cents (0 for a voided booking).
    pub amount_cents: u64,
    /// Where it stands.
    pub state: Status,
    /// Why the card was declined, when it was.
    pub decline_reason: Option<String>,
    /// When the amount was taken, in milliseconds since the Unix epoch.
    pub charged_at_ms: Option<i64>,
    /// When it was refunded or voided, in milliseconds since the Unix epoch.
    pub refunded_at_ms: Option<i64>,
    /// When the record was stored, in milliseconds since the Unix epoch.
    pub created_at_ms: i64,
}

impl ChargeRecord {
    /// The record of a booking refunded before it was charged: nothing was taken, and a
    /// later Charge is declined.
    pub fn voided() -> Self {
        let now = wire::now_millis();
        Self {
            customer_id: String::new(),
            amount_cents: 0,
            state: Status::Voided,
            decline_reason: None,
            charged_at_ms: None,
            refunded_at_ms: Some(now),
            created_at_ms: now,
        }
    }

    /// The wire form of the stored charge `record`.
    pub fn to_wire(record: &Versioned<ChargeRecord>) -> Charge {
        Charge {
            booking_id: record.id.clone(),
            customer_id: record.value.customer_id.clone(),
            amount_cents: record.value.amount_cents,
            state: record.value.state.to_wire().into(),
            decline_reason: record.value.decline_reason.clone().unwrap_or_default(),
            charged_at: record.value.charged_at_ms.map(wire::timestamp_from_millis),
            refunded_at: record.value.refunded_at_ms.map(wire::timestamp_from_millis),
        }
    }
}
