//! `Todos.Complete`: marks a todo done; completing a done todo changes nothing, which is
//! what makes the rpc safe to retry.

use switchboard::proto::todos::v1::{
    CompleteTodoRequest, TodoChange, TodoNotFound, complete_todo_reply::Outcome,
};
use switchboard::store::{Collection, StoreError, Transaction, Versioned};
use switchboard::{Context, ServiceError, wire};

use super::require;
use crate::record::TodoRecord;

/// Attempts before giving up on a todo that keeps changing under us.
const MAX_ATTEMPTS: usize = 5;

pub(super) async fn handle(
    todos: &Collection<TodoRecord>,
    ctx: Context,
    request: CompleteTodoRequest,
) -> Result<Outcome, ServiceError> {
    require("id", &request.id)?;
    ctx.require_identity()?;
    for _ in 0..MAX_ATTEMPTS {
        let Some(mut todo) = todos.get(&request.id).await? else {
            return Ok(Outcome::NotFound(TodoNotFound { id: request.id }));
        };
        ctx.require_owner(&todo.value.owner_id)?;
        if todo.value.completed_at_ms.is_some() {
            return Ok(Outcome::Completed(TodoRecord::to_wire(&todo)));
        }
        todo.value.completed_at_ms = Some(wire::now_millis());
        let tx = todos.replace(Transaction::new(), &todo.id, todo.version, &todo.value)?;
        let stored = Versioned {
            version: todo.version + 1,
            ..todo
        };
        let tx = ctx.announce(tx, &TodoRecord::changed(&stored, TodoChange::Completed))?;
        let completed = Outcome::Completed(TodoRecord::to_wire(&stored));
        match ctx.commit(tx, &completed).await {
            Ok(()) => return Ok(completed),
            // Changed or deleted since we read it: read again.
            Err(StoreError::VersionConflict { .. } | StoreError::NotFound { .. }) => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(ServiceError::conflict(
        "the todo kept changing while being completed; try again",
    ))
}
