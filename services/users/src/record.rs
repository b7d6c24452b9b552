//! The stored form of a user, separate from the wire type so either can change alone.

use serde::{Deserialize, Serialize};
use switchboard::proto::users::v1::User;
use switchboard::store::Versioned;
use switchboard::wire;

/// A user as stored in the `users` collection (the id is the record id).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRecord {
    /// Normalised email; unique (the collection has a unique index on it).
    pub email: String,
    /// How the user wants to be called.
    pub display_name: String,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_at_ms: i64,
}

impl UserRecord {
    /// The wire form of the stored user `record`.
    pub fn to_wire(record: &Versioned<UserRecord>) -> User {
        User {
            id: record.id.clone(),
            email: record.value.email.clone(),
            display_name: record.value.display_name.clone(),
            created_at: Some(wire::timestamp_from_millis(record.value.created_at_ms)),
        }
    }
}
