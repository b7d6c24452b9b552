//! `Todos.ListByOwner`: one owner's todos ordered by id, one page at a time.

use switchboard::proto::switchboard::v1::PageInfo;
use switchboard::proto::todos::v1::{ListTodosByOwnerReply, ListTodosByOwnerRequest};
use switchboard::store::{self, Collection};
use switchboard::{Context, ServiceError};

use super::require;
use crate::record::TodoRecord;

pub(super) async fn handle(
    todos: &Collection<TodoRecord>,
    ctx: Context,
    request: ListTodosByOwnerRequest,
) -> Result<ListTodosByOwnerReply, ServiceError> {
    require("owner_id", &request.owner_id)?;
    ctx.require_owner(&request.owner_id)?;
    let page = request.page.unwrap_or_default();
    let after = Some(page.after).filter(|a| !a.is_empty());
    let found = todos
        .find(
            todos
                .query()
                .where_eq("owner_id", request.owner_id)
                .after(after)
                .limit(store::page_size(page.limit)),
        )
        .await?;
    Ok(ListTodosByOwnerReply {
        todos: found.records.iter().map(TodoRecord::to_wire).collect(),
        page: Some(PageInfo {
            next: found.next.unwrap_or_default(),
        }),
    })
}
