//! `Todos.ListByOwner`: one owner's todos ordered by id, one page at a time.

use switchboard::proto::todos::v1::{ListTodosByOwnerReply, ListTodosByOwnerRequest};
use switchboard::store::Collection;
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
    let query = todos
        .query()
        .where_eq("owner_id", request.owner_id)
        .page(request.page.as_ref());
    let found = todos.find(query).await?;
    Ok(ListTodosByOwnerReply {
        todos: found.records.iter().map(TodoRecord::to_wire).collect(),
        page: Some(found.info()),
    })
}
