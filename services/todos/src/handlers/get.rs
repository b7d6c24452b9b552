//! `Todos.Get`: one todo by id.

use switchboard::proto::todos::v1::{GetTodoRequest, TodoNotFound, get_todo_reply::Outcome};
use switchboard::store::Collection;
use switchboard::{Context, ServiceError};

use super::require;
use crate::record::TodoRecord;

pub(super) async fn handle(
    todos: &Collection<TodoRecord>,
    ctx: Context,
    request: GetTodoRequest,
) -> Result<Outcome, ServiceError> {
    require("id", &request.id)?;
    ctx.require_identity()?;
    Ok(match todos.get(&request.id).await? {
        Some(todo) => {
            ctx.require_owner(&todo.value.owner_id)?;
            Outcome::Found(TodoRecord::to_wire(&todo))
        }
        None => Outcome::NotFound(TodoNotFound { id: request.id }),
    })
}
