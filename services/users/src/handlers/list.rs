//! `Users.List`: users ordered by id, one page at a time.

use switchboard::proto::users::v1::{ListUsersReply, ListUsersRequest};
use switchboard::store::Collection;
use switchboard::{Context, ServiceError};

use crate::record::UserRecord;

pub(super) async fn handle(
    users: &Collection<UserRecord>,
    _ctx: Context,
    request: ListUsersRequest,
) -> Result<ListUsersReply, ServiceError> {
    let found = users
        .find(users.query().page(request.page.as_ref()))
        .await?;
    Ok(ListUsersReply {
        users: found.records.iter().map(UserRecord::to_wire).collect(),
        page: Some(found.info()),
    })
}
