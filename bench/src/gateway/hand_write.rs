//! The hand-written write baseline of issue 8: the insert `createTodo` makes, done by a
//! minimal axum handler straight into SQLite, as a user would write it without Switchboard.
//!
//! - The handler reads the same `POST` as the gateway's `createTodo` target, takes the
//!   owner and title from the variables (the GraphQL text is ignored, the `Authorization`
//!   header is not verified), makes a UUID v7 id, and inserts one row on a blocking thread
//!   into its own SQLite file with the store's settings: WAL, `synchronous=NORMAL`, a
//!   5 s busy timeout, one connection behind a mutex, and an index on the owner.
//! - It answers the gateway's JSON shape for the benchmark's selection (`id`, `title`).
//! - No NATS, no JWT, no idempotency record.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context as _, Result};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use rusqlite::Connection;
use serde_json::{Value, json};

/// The route of the hand-written insert handler.
pub const PATH: &str = "/hand/create";

/// Opens the handler's database at `path`, configured as the store configures its own.
pub fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).context("opening the hand-written database")?;
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute_batch(
        "CREATE TABLE todos (
             id TEXT PRIMARY KEY,
             owner_id TEXT NOT NULL,
             title TEXT NOT NULL,
             completed_at_ms INTEGER,
             created_at_ms INTEGER NOT NULL
         );
         CREATE INDEX todos_owner ON todos (owner_id, id);",
    )
    .context("creating the hand-written table")?;
    Ok(conn)
}

/// The hand-written insert handler's router, writing through `conn`.
pub fn router(conn: Connection) -> Router {
    Router::new()
        .route(PATH, post(handle))
        .with_state(Arc::new(Mutex::new(conn)))
}

/// `POST /hand/create`: one `INSERT`, the new todo's id and title as JSON.
async fn handle(State(conn): State<Arc<Mutex<Connection>>>, body: Bytes) -> Response {
    let post: Value = match serde_json::from_slice(&body) {
        Ok(post) => post,
        Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    };
    let (Some(owner), Some(title)) = (
        post["variables"]["o"].as_str(),
        post["variables"]["t"].as_str(),
    ) else {
        return (StatusCode::BAD_REQUEST, "variables o and t are required").into_response();
    };
    let id = uuid::Uuid::now_v7().to_string();
    let created_at_ms = switchboard::wire::now_millis();
    let row = (id.clone(), owner.to_owned(), title.to_owned());
    let inserted = tokio::task::spawn_blocking(move || {
        let conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
        conn.prepare_cached(
            "INSERT INTO todos (id, owner_id, title, created_at_ms) VALUES (?, ?, ?, ?)",
        )?
        .execute((&row.0, &row.1, &row.2, created_at_ms))
    })
    .await;
    match inserted {
        Ok(Ok(1)) => super::graphql_ok(
            json!({ "data": { "createTodo": { "id": id, "title": title } } }).to_string(),
        ),
        Ok(Ok(rows)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{rows} rows inserted"),
        )
            .into_response(),
        Ok(Err(error)) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}
