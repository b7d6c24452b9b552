//! `Bookings.List`: every booking ordered by id, one page at a time, for administrators.

use switchboard::auth::ADMIN_ROLE;
use switchboard::proto::bookings::v1::{ListBookingsReply, ListBookingsRequest};
use switchboard::saga::SagaRunner;
use switchboard::{Context, ServiceError};

use crate::record::to_wire;
use crate::saga::BookingSaga;

pub(super) async fn handle(
    runner: &SagaRunner<BookingSaga>,
    ctx: Context,
    request: ListBookingsRequest,
) -> Result<ListBookingsReply, ServiceError> {
    ctx.require_role(ADMIN_ROLE)?;
    let records = runner.records();
    let found = records
        .find(records.query().page(request.page.as_ref()))
        .await?;
    Ok(ListBookingsReply {
        bookings: found
            .records
            .iter()
            .map(|booking| to_wire(&booking.id, &booking.value))
            .collect(),
        page: Some(found.info()),
    })
}
