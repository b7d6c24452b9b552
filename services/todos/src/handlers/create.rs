//! `Todos.Create`: a new open todo for an owner.

use switchboard::proto::todos::v1::{CreateTodoRequest, TodoChange, create_todo_reply::Outcome};
use switchboard::store::{Collection, Transaction, Versioned};
use switchboard::{Context, ServiceError, wire};

use super::require;
use crate::record::TodoRecord;

/// The longest title accepted, in characters.
const MAX_TITLE: usize = 500;

pub(super) async fn handle(
    todos: &Collection<TodoRecord>,
    ctx: Context,
    request: CreateTodoRequest,
) -> Result<Outcome, ServiceError> {
    require("owner_id", &request.owner_id)?;
    ctx.require_owner(&request.owner_id)?;
    let title = request.title.trim();
    let length = title.chars().count();
    if length == 0 || length > MAX_TITLE {
        return Err(ServiceError::invalid_field(
            "title",
            format!("must be 1 to {MAX_TITLE} characters"),
        ));
    }
    let id = uuid::Uuid::now_v7().to_string();
    let record = TodoRecord {
        owner_id: request.owner_id,
        title: title.to_string(),
        completed_at_ms: None,
        created_at_ms: wire::now_millis(),
    };
    let tx = todos.insert(Transaction::new(), &id, &record)?;
    let stored = Versioned {
        id,
        version: 1,
        value: record,
    };
    let tx = ctx.announce(tx, &TodoRecord::changed(&stored, TodoChange::Created))?;
    let created = Outcome::Created(TodoRecord::to_wire(&stored));
    ctx.commit(tx, &created).await?;
    Ok(created)
}
