//! `Bookings.Progress`: the booking as it stands, then each change, until it ends.
//!
//! Changes come from the service's own `BookingChanged` events, which every replica's
//! saga announces with each transition (the relay publishes them in commit order per
//! booking), so a follower sees the saga's progress whichever replica drives it. The
//! subscription is opened before the booking is read, so no change falls between the two;
//! changes older than what was already sent (by revision) are skipped.

use futures::StreamExt as _;
use prost::Message as _;
use switchboard::proto::bookings::v1::{
    Booking, BookingChanged, BookingProgressRequest, BookingStatus, bookings_events,
};
use switchboard::saga::SagaRunner;
use switchboard::service::ReplySink;
use switchboard::wire::ErrorCode;
use switchboard::{Context, ServiceError};

use crate::record::to_wire;
use crate::saga::BookingSaga;

pub(super) async fn handle(
    runner: &SagaRunner<BookingSaga>,
    ctx: Context,
    request: BookingProgressRequest,
    sink: ReplySink<Booking>,
) -> Result<(), ServiceError> {
    if request.id.trim().is_empty() {
        return Err(ServiceError::invalid_field("id", "is required"));
    }
    ctx.require_identity()?;
    let mut changes = ctx
        .bus()
        .nats()
        .subscribe(bookings_events::BOOKING_CHANGED.subject)
        .await
        .map_err(ServiceError::internal)?;
    let Some(stored) = runner.get(&request.id).await? else {
        return Err(ServiceError::new(
            ErrorCode::NotFound,
            format!("no booking has id {}", request.id),
        ));
    };
    ctx.require_owner(&stored.value.data.user_id)?;
    let mut last = to_wire(&stored.id, &stored.value);
    sink.send(&last).await?;
    let deadline = tokio::time::sleep(ctx.remaining());
    tokio::pin!(deadline);
    while !ended(&last) {
        let message = tokio::select! {
            message = changes.next() => message,
            () = &mut deadline => {
                return Err(ServiceError::new(
                    ErrorCode::DeadlineExceeded,
                    "the booking had not ended by the stream's deadline",
                ));
            }
        };
        let Some(message) = message else {
            return Err(ServiceError::internal("the change subscription ended"));
        };
        let Ok(changed) = BookingChanged::decode(message.payload) else {
            tracing::warn!("skipping an undecodable BookingChanged");
            continue;
        };
        let Some(booking) = changed.booking.filter(|b| b.id == request.id) else {
            continue;
        };
        if newer(&booking, &last) {
            sink.send(&booking).await?;
            last = booking;
        }
    }
    Ok(())
}

/// Whether the booking has reached an end.
fn ended(booking: &Booking) -> bool {
    matches!(
        booking.status(),
        BookingStatus::Confirmed | BookingStatus::Cancelled
    )
}

/// Whether `booking` is a later state than `last` that a follower has not seen (two
/// transitions may share a millisecond: the revision, not the time, orders them).
fn newer(booking: &Booking, last: &Booking) -> bool {
    booking.revision > last.revision
        && (booking.status != last.status || booking.compensating != last.compensating)
}
