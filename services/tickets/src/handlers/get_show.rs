//! `Tickets.GetShow`: one show with its seat counts, for any signed-in caller.

use switchboard::proto::tickets::v1::{GetShowRequest, ShowNotFound, get_show_reply::Outcome};
use switchboard::{Context, ServiceError};

use super::require;
use crate::record::ShowRecord;
use crate::seats::Seats;

pub(super) async fn handle(
    seats: &Seats,
    ctx: Context,
    request: GetShowRequest,
) -> Result<Outcome, ServiceError> {
    ctx.require_identity()?;
    require("id", &request.id)?;
    Ok(match seats.shows().get(&request.id).await? {
        Some(show) => Outcome::Found(ShowRecord::to_wire(&show)),
        None => Outcome::NotFound(ShowNotFound { id: request.id }),
    })
}
