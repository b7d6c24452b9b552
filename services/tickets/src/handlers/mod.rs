//! The `TicketsHandler`: one file per rpc, each a function over the service's [`Seats`].

mod confirm;
mod create_show;
mod get_show;
mod list_shows;
mod release;
mod reserve;

use std::sync::Arc;

use switchboard::auth::{ADMIN_ROLE, SERVICE_ROLE};
use switchboard::proto::tickets::v1::{
    ConfirmSeatsRequest, CreateShowRequest, GetShowRequest, ListShowsReply, ListShowsRequest,
    ReleaseSeatsRequest, ReservationClosed, ReserveSeatsRequest, TicketsHandler,
    confirm_seats_reply, create_show_reply, get_show_reply, release_seats_reply,
    reserve_seats_reply,
};
use switchboard::store::Versioned;
use switchboard::{Context, ServiceError};

use crate::record::ReservationRecord;
use crate::seats::Seats;

/// The tickets service's handler: state shared by every request (and the expiry worker).
pub struct Tickets {
    seats: Arc<Seats>,
}

impl Tickets {
    /// A handler over `seats`.
    pub fn new(seats: Arc<Seats>) -> Self {
        Self { seats }
    }
}

impl TicketsHandler for Tickets {
    async fn create_show(
        &self,
        ctx: Context,
        request: CreateShowRequest,
    ) -> Result<create_show_reply::Outcome, ServiceError> {
        create_show::handle(&self.seats, ctx, request).await
    }

    async fn get_show(
        &self,
        ctx: Context,
        request: GetShowRequest,
    ) -> Result<get_show_reply::Outcome, ServiceError> {
        get_show::handle(&self.seats, ctx, request).await
    }

    async fn list_shows(
        &self,
        ctx: Context,
        request: ListShowsRequest,
    ) -> Result<ListShowsReply, ServiceError> {
        list_shows::handle(&self.seats, ctx, request).await
    }

    async fn reserve(
        &self,
        ctx: Context,
        request: ReserveSeatsRequest,
    ) -> Result<reserve_seats_reply::Outcome, ServiceError> {
        reserve::handle(&self.seats, ctx, request).await
    }

    async fn release(
        &self,
        ctx: Context,
        request: ReleaseSeatsRequest,
    ) -> Result<release_seats_reply::Outcome, ServiceError> {
        release::handle(&self.seats, ctx, request).await
    }

    async fn confirm(
        &self,
        ctx: Context,
        request: ConfirmSeatsRequest,
    ) -> Result<confirm_seats_reply::Outcome, ServiceError> {
        confirm::handle(&self.seats, ctx, request).await
    }
}

/// Refuses an empty id field.
fn require(field: &str, value: &str) -> Result<(), ServiceError> {
    if value.trim().is_empty() {
        return Err(ServiceError::invalid_field(field, "is required"));
    }
    Ok(())
}

/// The caller when it may move seats (the bookings saga's `service` role, or `admin`):
/// 403 otherwise, 401 when anonymous.
fn require_saga(ctx: &Context) -> Result<(), ServiceError> {
    let identity = ctx.require_identity()?;
    if identity
        .roles
        .iter()
        .any(|role| role == SERVICE_ROLE || role == ADMIN_ROLE)
    {
        Ok(())
    } else {
        Err(ServiceError::forbidden(format!(
            "this requires the `{SERVICE_ROLE}` or `{ADMIN_ROLE}` role"
        )))
    }
}

/// The `closed` answer for the stored reservation `record`.
fn closed(record: &Versioned<ReservationRecord>) -> ReservationClosed {
    ReservationClosed {
        reservation: Some(ReservationRecord::to_wire(record)),
    }
}
