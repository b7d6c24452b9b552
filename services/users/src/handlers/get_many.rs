//! `Users.GetMany`: many users by id in one request, for batching callers.

use switchboard::proto::users::v1::{GetUsersReply, GetUsersRequest};
use switchboard::store::Collection;
use switchboard::{Context, ServiceError};

use super::MAX_BATCH;
use crate::record::UserRecord;

pub(super) async fn handle(
    users: &Collection<UserRecord>,
    _ctx: Context,
    request: GetUsersRequest,
) -> Result<GetUsersReply, ServiceError> {
    if request.ids.len() > MAX_BATCH {
        return Err(ServiceError::invalid_field(
            "ids",
            format!("at most {MAX_BATCH} ids per request"),
        ));
    }
    let mut ids = request.ids;
    ids.sort();
    ids.dedup();
    let mut found = Vec::with_capacity(ids.len());
    for id in &ids {
        if let Some(user) = users.get(id).await? {
            found.push(UserRecord::to_wire(&user));
        }
    }
    Ok(GetUsersReply { users: found })
}
