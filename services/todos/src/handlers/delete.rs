//! `Todos.Delete`: removes a todo.

use switchboard::proto::todos::v1::{
    DeleteTodoRequest, TodoChange, TodoDeleted, TodoNotFound, delete_todo_reply::Outcome,
};
use switchboard::store::{Collection, StoreError, Transaction};
use switchboard::{Context, ServiceError};

use super::require;
use crate::record::TodoRecord;

pub(super) async fn handle(
    todos: &Collection<TodoRecord>,
    ctx: Context,
    request: DeleteTodoRequest,
) -> Result<Outcome, ServiceError> {
    require("id", &request.id)?;
    ctx.require_identity()?;
    let not_found = |id: String| Outcome::NotFound(TodoNotFound { id });
    let Some(todo) = todos.get(&request.id).await? else {
        return Ok(not_found(request.id));
    };
    ctx.require_owner(&todo.value.owner_id)?;
    let tx = todos.delete(Transaction::new(), &todo.id, Some(todo.version));
    let tx = ctx.announce(tx, &TodoRecord::changed(&todo, TodoChange::Deleted))?;
    let deleted = Outcome::Deleted(TodoDeleted {
        id: todo.id.clone(),
    });
    match ctx.commit(tx, &deleted).await {
        Ok(()) => Ok(deleted),
        // Deleted by a concurrent request: the caller's intent holds.
        Err(StoreError::NotFound { .. }) => Ok(not_found(request.id)),
        Err(error) => Err(error.into()),
    }
}
