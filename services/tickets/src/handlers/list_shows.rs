//! `Tickets.ListShows`: the shows ordered by id, one page at a time, for any signed-in
//! caller.

use switchboard::proto::tickets::v1::{ListShowsReply, ListShowsRequest};
use switchboard::{Context, ServiceError};

use crate::record::ShowRecord;
use crate::seats::Seats;

pub(super) async fn handle(
    seats: &Seats,
    ctx: Context,
    request: ListShowsRequest,
) -> Result<ListShowsReply, ServiceError> {
    ctx.require_identity()?;
    let shows = seats.shows();
    let found = shows
        .find(shows.query().page(request.page.as_ref()))
        .await?;
    Ok(ListShowsReply {
        shows: found.records.iter().map(ShowRecord::to_wire).collect(),
        page: Some(found.info()),
    })
}
