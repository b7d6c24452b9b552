//! The `BookingsHandler`: one file per rpc, each a function over the saga runner (whose
//! records are the bookings).

mod create;
mod get;
mod list;
mod progress;

use switchboard::proto::bookings::v1::{
    Booking, BookingProgressRequest, BookingsHandler, CreateBookingRequest, GetBookingRequest,
    ListBookingsReply, ListBookingsRequest, create_booking_reply, get_booking_reply,
};
use switchboard::saga::SagaRunner;
use switchboard::service::ReplySink;
use switchboard::{Context, ServiceError};

use crate::saga::BookingSaga;

/// The bookings service's handler: the runner that starts and stores booking sagas.
pub struct Bookings {
    runner: SagaRunner<BookingSaga>,
}

impl Bookings {
    /// A handler starting sagas on `runner`.
    pub fn new(runner: SagaRunner<BookingSaga>) -> Self {
        Self { runner }
    }
}

impl BookingsHandler for Bookings {
    async fn create(
        &self,
        ctx: Context,
        request: CreateBookingRequest,
    ) -> Result<create_booking_reply::Outcome, ServiceError> {
        create::handle(&self.runner, ctx, request).await
    }

    async fn get(
        &self,
        ctx: Context,
        request: GetBookingRequest,
    ) -> Result<get_booking_reply::Outcome, ServiceError> {
        get::handle(&self.runner, ctx, request).await
    }

    async fn progress(
        &self,
        ctx: Context,
        request: BookingProgressRequest,
        sink: ReplySink<Booking>,
    ) -> Result<(), ServiceError> {
        progress::handle(&self.runner, ctx, request, sink).await
    }

    async fn list(
        &self,
        ctx: Context,
        request: ListBookingsRequest,
    ) -> Result<ListBookingsReply, ServiceError> {
        list::handle(&self.runner, ctx, request).await
    }
}
