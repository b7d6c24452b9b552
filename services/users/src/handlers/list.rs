//! `Users.List`: users ordered by id, one page at a time.

use switchboard::proto::switchboard::v1::PageInfo;
use switchboard::proto::users::v1::{ListUsersReply, ListUsersRequest};
use switchboard::store::{self, Collection};
use switchboard::{Context, ServiceError};

use crate::record::UserRecord;

pub(super) async fn handle(
    users: &Collection<UserRecord>,
    _ctx: Context,
    request: ListUsersRequest,
) -> Result<ListUsersReply, ServiceError> {
    let page = request.page.unwrap_or_default();
    let after = Some(page.after).filter(|a| !a.is_empty());
    let found = users
        .find(
            users
                .query()
                .after(after)
                .limit(store::page_size(page.limit)),
        )
        .await?;
    Ok(ListUsersReply {
        users: found.records.iter().map(UserRecord::to_wire).collect(),
        page: Some(PageInfo {
            next: found.next.unwrap_or_default(),
        }),
    })
}
