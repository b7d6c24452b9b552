//! `Bookings.Get`: one booking as it stands, for its owner or an administrator.

use switchboard::proto::bookings::v1::{
    BookingNotFound, GetBookingRequest, get_booking_reply::Outcome,
};
use switchboard::saga::SagaRunner;
use switchboard::{Context, ServiceError};

use crate::record::to_wire;
use crate::saga::BookingSaga;

pub(super) async fn handle(
    runner: &SagaRunner<BookingSaga>,
    ctx: Context,
    request: GetBookingRequest,
) -> Result<Outcome, ServiceError> {
    if request.id.trim().is_empty() {
        return Err(ServiceError::invalid_field("id", "is required"));
    }
    ctx.require_identity()?;
    Ok(match runner.get(&request.id).await? {
        Some(booking) => {
            ctx.require_owner(&booking.value.data.user_id)?;
            Outcome::Found(to_wire(&booking.id, &booking.value))
        }
        None => Outcome::NotFound(BookingNotFound { id: request.id }),
    })
}
