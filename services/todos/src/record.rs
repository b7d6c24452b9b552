//! The stored form of a todo, separate from the wire type so either can change alone.

use serde::{Deserialize, Serialize};
use switchboard::proto::todos::v1::{Todo, TodoChange, TodoChanged};
use switchboard::store::Versioned;
use switchboard::wire;

/// A todo as stored in the `todos` collection (the id is the record id).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TodoRecord {
    /// The owning user's id (indexed).
    pub owner_id: String,
    /// What to do.
    pub title: String,
    /// Completion time in milliseconds since the Unix epoch; `None` while open.
    pub completed_at_ms: Option<i64>,
    /// Creation time in milliseconds since the Unix epoch.
    pub created_at_ms: i64,
}

impl TodoRecord {
    /// The `TodoChanged` event announcing `change` of the stored todo `record`; the todo
    /// itself is left out of a deletion.
    pub fn changed(record: &Versioned<TodoRecord>, change: TodoChange) -> TodoChanged {
        TodoChanged {
            id: record.id.clone(),
            owner_id: record.value.owner_id.clone(),
            change: change.into(),
            todo: (change != TodoChange::Deleted).then(|| Self::to_wire(record)),
        }
    }

    /// The wire form of the stored todo `record`.
    pub fn to_wire(record: &Versioned<TodoRecord>) -> Todo {
        Todo {
            id: record.id.clone(),
            owner_id: record.value.owner_id.clone(),
            title: record.value.title.clone(),
            completed: record.value.completed_at_ms.is_some(),
            created_at: Some(wire::timestamp_from_millis(record.value.created_at_ms)),
            completed_at: record
                .value
                .completed_at_ms
                .map(wire::timestamp_from_millis),
        }
    }
}
