//! What the booking saga works on, and the wire form of a booking, which is the saga's
//! record seen from outside.

use serde::{Deserialize, Serialize};
use switchboard::proto::bookings::v1::{Booking, BookingStatus};
use switchboard::saga::{SagaState, SagaStatus};
use switchboard::wire;

/// The saga's data: what was asked, and what the steps learned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookingData {
    /// The user who booked (the token's subject).
    pub user_id: String,
    /// The show.
    pub show_id: String,
    /// How many seats.
    pub seats: u32,
    /// What the seats cost, in cents, once the reservation priced them.
    pub amount_cents: u64,
}

/// A booking as stored: the booking saga's state.
pub type BookingState = SagaState<BookingData>;

/// The wire form of booking `id`.
///
/// Its status follows the saga: PENDING before the first step is done, SEATS_RESERVED and
/// CHARGED after the first and second, CONFIRMED once complete, CANCELLED once every
/// finished step is undone. While steps are being undone, the status stays at the last
/// one reached and `compensating` names the step being undone.
pub fn to_wire(id: &str, state: &BookingState) -> Booking {
    let reached = state
        .history
        .iter()
        .filter(|event| event.outcome == "done")
        .count();
    let status = match state.status {
        SagaStatus::Completed => BookingStatus::Confirmed,
        SagaStatus::Cancelled => BookingStatus::Cancelled,
        SagaStatus::Running | SagaStatus::Compensating => match reached {
            0 => BookingStatus::Pending,
            1 => BookingStatus::SeatsReserved,
            _ => BookingStatus::Charged,
        },
    };
    let compensating = match state.status {
        SagaStatus::Compensating => state.current.clone().unwrap_or_default(),
        _ => String::new(),
    };
    Booking {
        id: id.to_owned(),
        user_id: state.data.user_id.clone(),
        show_id: state.data.show_id.clone(),
        seats: state.data.seats,
        status: status.into(),
        reason: state.reason.clone().unwrap_or_default(),
        amount_cents: state.data.amount_cents,
        compensating,
        created_at: Some(wire::timestamp_from_millis(state.created_ms)),
        updated_at: Some(wire::timestamp_from_millis(state.updated_ms)),
        revision: state.revision,
    }
}
