//! `SendCancellation`: on `bookings.v1.BookingCancelled`, one "Your booking was cancelled"
//! mail per booking, with the reason.

use switchboard::proto::bookings::v1::BookingCancelled;
use switchboard::{EventContext, ServiceError};

use super::notify::Notifier;
use crate::compose::About;

pub(super) async fn handle(
    notifier: &Notifier,
    ctx: EventContext,
    event: BookingCancelled,
) -> Result<(), ServiceError> {
    notifier.notify(ctx, About::Cancelled(&event)).await
}
