//! `DeleteOwnedTodos`: on `users.v1.UserDeleted`, deletes every todo of the deleted user.
//!
//! The todos go in pages of [`PAGE`] per transaction; the last one carries the inbox
//! record, so the event counts as handled only once nothing of the user is left. A
//! failure part-way leaves the event unhandled: its redelivery reads what is left and
//! deletes that, so the effect is the same however often it runs.

use switchboard::proto::todos::v1::TodoChange;
use switchboard::proto::users::v1::UserDeleted;
use switchboard::store::{Collection, Transaction};
use switchboard::{EventContext, ServiceError};

use crate::record::TodoRecord;

/// Todos deleted per transaction.
const PAGE: u32 = 500;

pub(super) async fn handle(
    todos: &Collection<TodoRecord>,
    ctx: EventContext,
    event: UserDeleted,
) -> Result<(), ServiceError> {
    if event.id.is_empty() {
        return Err(ServiceError::bad_request("UserDeleted without an id"));
    }
    let mut deleted = 0;
    loop {
        let page = todos
            .find(
                todos
                    .query()
                    .where_eq("owner_id", event.id.as_str())
                    .limit(PAGE),
            )
            .await?;
        let last = page.next.is_none();
        let mut tx = Transaction::new();
        for todo in &page.records {
            tx = todos.delete(tx, &todo.id, Some(todo.version));
            tx = ctx.announce(tx, &TodoRecord::changed(todo, TodoChange::Deleted))?;
        }
        deleted += page.records.len();
        if last {
            ctx.commit(tx).await?;
            break;
        }
        todos.store().commit(tx).await?;
    }
    tracing::info!(
        owner = event.id,
        deleted,
        "deleted the todos of a deleted user"
    );
    Ok(())
}
