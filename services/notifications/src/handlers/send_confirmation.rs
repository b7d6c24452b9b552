//! `SendConfirmation`: on `bookings.v1.BookingConfirmed`, one "Your booking is confirmed"
//! mail per booking.

use switchboard::proto::bookings::v1::BookingConfirmed;
use switchboard::{EventContext, ServiceError};

use super::notify::Notifier;
use crate::compose::About;

pub(super) async fn handle(
    notifier: &Notifier,
    ctx: EventContext,
    event: BookingConfirmed,
) -> Result<(), ServiceError> {
    notifier.notify(ctx, About::Confirmed(&event)).await
}
