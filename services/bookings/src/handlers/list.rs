//! `Bookings.List`: every booking ordered by id, one page at a time, for administrators.

use switchboard::auth::ADMIN_ROLE;
use switchboard::proto::bookings::v1::{ListBookingsReply, ListBookingsRequest};
use switchboard::proto::switchboard::v1::PageInfo;
use switchboard::saga::SagaRunner;
use switchboard::store;
use switchboard::{Context, ServiceError};

use crate::record::to_wire;
use crate::saga::BookingSaga;

pub(super) async fn handle(
    runner: &SagaRunner<BookingSaga>,
    ctx: Context,
    request: ListBookingsRequest,
) -> Result<ListBookingsReply, ServiceError> {
    ctx.require_role(ADMIN_ROLE)?;
    let page = request.page.unwrap_or_default();
    let after = Some(page.after).filter(|a| !a.is_empty());
    let records = runner.records();
    let found = records
        .find(
            records
                .query()
                .after(after)
                .limit(store::page_size(page.limit)),
        )
        .await?;
    Ok(ListBookingsReply {
        bookings: found
            .records
            .iter()
            .map(|booking| to_wire(&booking.id, &booking.value))
            .collect(),
        page: Some(PageInfo {
            next: found.next.unwrap_or_default(),
        }),
    })
}
