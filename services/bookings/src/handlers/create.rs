//! `Bookings.Create`: stores the booking PENDING with its saga, answers, then lets the
//! saga run.

use switchboard::proto::bookings::v1::{CreateBookingRequest, create_booking_reply::Outcome};
use switchboard::saga::SagaRunner;
use switchboard::store::Transaction;
use switchboard::{Context, ServiceError};

use crate::record::{BookingData, to_wire};
use crate::saga::BookingSaga;

/// The most seats one booking may hold.
pub const MAX_SEATS: u32 = 10;

pub(super) async fn handle(
    runner: &SagaRunner<BookingSaga>,
    ctx: Context,
    request: CreateBookingRequest,
) -> Result<Outcome, ServiceError> {
    let user_id = ctx.require_identity()?.subject.clone();
    if request.show_id.trim().is_empty() {
        return Err(ServiceError::invalid_field("show_id", "is required"));
    }
    if !(1..=MAX_SEATS).contains(&request.seats) {
        return Err(ServiceError::invalid_field(
            "seats",
            format!("must be 1 to {MAX_SEATS}"),
        ));
    }
    let id = uuid::Uuid::now_v7().to_string();
    let data = BookingData {
        user_id,
        show_id: request.show_id,
        seats: request.seats,
        amount_cents: 0,
    };
    let (tx, state) = runner.begin(&ctx, Transaction::new(), &id, data)?;
    let created = Outcome::Created(to_wire(&id, &state));
    ctx.commit(tx, &created).await?;
    runner.kick(&id);
    Ok(created)
}
