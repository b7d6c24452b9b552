//! `Todos.ListByOwners`: the first todos of many owners in one request, so a caller
//! resolving todos for a list of users sends one request, not one per user.

use switchboard::proto::todos::v1::{ListTodosByOwnersReply, ListTodosByOwnersRequest, OwnerTodos};
use switchboard::store::{self, Collection};
use switchboard::{Context, ServiceError};

use super::MAX_BATCH;
use crate::record::TodoRecord;

pub(super) async fn handle(
    todos: &Collection<TodoRecord>,
    ctx: Context,
    request: ListTodosByOwnersRequest,
) -> Result<ListTodosByOwnersReply, ServiceError> {
    if request.owner_ids.len() > MAX_BATCH {
        return Err(ServiceError::invalid_field(
            "owner_ids",
            format!("at most {MAX_BATCH} owners per request"),
        ));
    }
    for owner_id in &request.owner_ids {
        ctx.require_owner(owner_id)?;
    }
    let limit = store::page_size(request.limit_per_owner);
    let mut owners = Vec::with_capacity(request.owner_ids.len());
    for owner_id in request.owner_ids {
        let found = todos
            .find(
                todos
                    .query()
                    .where_eq("owner_id", owner_id.as_str())
                    .limit(limit),
            )
            .await?;
        owners.push(OwnerTodos {
            owner_id,
            todos: found.records.iter().map(TodoRecord::to_wire).collect(),
            truncated: found.next.is_some(),
        });
    }
    Ok(ListTodosByOwnersReply { owners })
}
