//! `Tickets.ListShows`: the shows ordered by id, one page at a time, for any signed-in
//! caller.

use switchboard::proto::switchboard::v1::PageInfo;
use switchboard::proto::tickets::v1::{ListShowsReply, ListShowsRequest};
use switchboard::store;
use switchboard::{Context, ServiceError};

use crate::record::ShowRecord;
use crate::seats::Seats;

pub(super) async fn handle(
    seats: &Seats,
    ctx: Context,
    request: ListShowsRequest,
) -> Result<ListShowsReply, ServiceError> {
    ctx.require_identity()?;
    let page = request.page.unwrap_or_default();
    let after = Some(page.after).filter(|a| !a.is_empty());
    let shows = seats.shows();
    let found = shows
        .find(
            shows
                .query()
                .after(after)
                .limit(store::page_size(page.limit)),
        )
        .await?;
    Ok(ListShowsReply {
        shows: found.records.iter().map(ShowRecord::to_wire).collect(),
        page: Some(PageInfo {
            next: found.next.unwrap_or_default(),
        }),
    })
}
