//! The stored forms of a show and a reservation, separate from the wire types so either
//! can change alone.

use serde::{Deserialize, Serialize};
use switchboard::proto::tickets::v1::{Reservation, ReservationState, Show};
use switchboard::store::Versioned;
use switchboard::wire;

/// A show as stored in the `shows` collection (the id is the record id).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShowRecord {
    /// 1 to 200 characters.
    pub name: String,
    /// Seats in total.
    pub capacity: u32,
    /// Seats held by HELD reservations.
    pub reserved: u32,
    /// Seats sold: held by CONFIRMED reservations.
    pub sold: u32,
    /// Price of one seat, in cents.
    pub price_cents: u64,
    /// Creation time in milliseconds since the Unix epoch.
    pub created_at_ms: i64,
}

impl ShowRecord {
    /// Seats neither held nor sold.
    pub fn available(&self) -> u32 {
        self.capacity
            .saturating_sub(self.reserved)
            .saturating_sub(self.sold)
    }

    /// The wire form of the stored show `record`.
    pub fn to_wire(record: &Versioned<ShowRecord>) -> Show {
        Show {
            id: record.id.clone(),
            name: record.value.name.clone(),
            capacity: record.value.capacity,
            reserved: record.value.reserved,
            sold: record.value.sold,
            price_cents: record.value.price_cents,
            created_at: Some(wire::timestamp_from_millis(record.value.created_at_ms)),
        }
    }
}

/// Where a stored reservation stands (the `state` field, indexed: the expiry worker looks
/// up the held ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Seats are held until `expires_at_ms`; they count in the show's `reserved`.
    Held,
    /// Seats are sold; they count in the show's `sold`.
    Confirmed,
    /// Seats were given back, or none were ever held (a tombstone); counts nothing.
    Released,
    /// The hold ran out; counts nothing.
    Expired,
}

impl Status {
    /// The value stored in the `state` field, for queries.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Held => "held",
            Status::Confirmed => "confirmed",
            Status::Released => "released",
            Status::Expired => "expired",
        }
    }

    /// Whether a reservation in this state can never hold or sell seats again.
    pub fn is_closed(self) -> bool {
        matches!(self, Status::Released | Status::Expired)
    }

    fn to_wire(self) -> ReservationState {
        match self {
            Status::Held => ReservationState::Held,
            Status::Confirmed => ReservationState::Confirmed,
            Status::Released => ReservationState::Released,
            Status::Expired => ReservationState::Expired,
        }
    }
}

/// A booking's reservation as stored in the `reservations` collection; the record id is
/// the booking id, so a booking has at most one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReservationRecord {
    /// The show; empty for a tombstone (a booking released or confirmed before it held
    /// anything). Never changes once stored.
    pub show_id: String,
    /// Seats held or sold (0 for a tombstone). Never changes once stored.
    pub seats: u32,
    /// Where the seats stand.
    pub state: Status,
    /// Price of one seat when reserved, in cents.
    pub price_cents: u64,
    /// When a hold expires, in milliseconds since the Unix epoch; `None` for a tombstone.
    pub expires_at_ms: Option<i64>,
    /// When the reservation was stored, in milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// When its state last changed, in milliseconds since the Unix epoch.
    pub changed_at_ms: i64,
}

impl ReservationRecord {
    /// A closed reservation that never held seats: a booking released (or confirmed)
    /// before it reserved anything, so a later Reserve is refused.
    pub fn tombstone() -> Self {
        let now = wire::now_millis();
        Self {
            show_id: String::new(),
            seats: 0,
            state: Status::Released,
            price_cents: 0,
            expires_at_ms: None,
            created_at_ms: now,
            changed_at_ms: now,
        }
    }

    /// Whether this is a hold whose time has run out at `now_ms`.
    pub fn is_due(&self, now_ms: i64) -> bool {
        self.state == Status::Held && self.expires_at_ms.is_some_and(|at| at <= now_ms)
    }

    /// The wire form of the stored reservation `record`.
    pub fn to_wire(record: &Versioned<ReservationRecord>) -> Reservation {
        Reservation {
            booking_id: record.id.clone(),
            show_id: record.value.show_id.clone(),
            seats: record.value.seats,
            state: record.value.state.to_wire().into(),
            price_cents: record.value.price_cents,
            expires_at: record.value.expires_at_ms.map(wire::timestamp_from_millis),
        }
    }
}
