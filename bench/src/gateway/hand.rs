//! The hand-written baseline of issue 8: what a user would write instead of Switchboard
//! with the same pieces — axum → one raw `async_nats::Client::request` with a prost
//! request → a raw async-nats queue subscriber answering prost from memory.
//!
//! - The HTTP side is a minimal axum handler on its own listener, without the gateway's
//!   layers: it reads the same `POST` as the other targets, takes the owner from the
//!   variables (the GraphQL text is ignored, the `Authorization` header is not verified),
//!   sends one prost-encoded `ListTodosByOwnerRequest`, decodes the
//!   `ListTodosByOwnerReply` and answers the gateway's JSON shape (written directly,
//!   strings escaped by `serde_json`).
//! - The responder has its own NATS connection and a queue subscription, answers every
//!   message inline (no task per message) from the 10 prost `Todo`s it holds, and
//!   publishes the encoded reply. No JWT, no SQLite, no headers.

use std::sync::Arc;

use anyhow::{Context as _, Result};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures::StreamExt as _;
use prost::Message as _;
use serde_json::Value;
use switchboard::proto::todos::v1::{ListTodosByOwnerReply, ListTodosByOwnerRequest, Todo};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::task::JoinHandle;

/// The subject the hand-written responder listens on.
const SUBJECT: &str = "bench.hand.todos.list_by_owner";
/// Its queue group.
const QUEUE: &str = "bench-hand";
/// The route of the hand-written handler.
pub const PATH: &str = "/hand/graphql";

/// Starts the responder on its own connection to `url`, answering from `todos`.
pub async fn responder(url: &str, todos: Vec<Todo>) -> Result<JoinHandle<()>> {
    let client = async_nats::connect(url)
        .await
        .context("connecting the hand-written responder")?;
    let mut requests = client
        .queue_subscribe(SUBJECT, QUEUE.into())
        .await
        .context("subscribing the hand-written responder")?;
    client
        .flush()
        .await
        .context("flushing the responder's subscription")?;
    Ok(tokio::spawn(async move {
        let mut encoded = Vec::with_capacity(2_048);
        while let Some(message) = requests.next().await {
            let Some(reply) = message.reply else { continue };
            let Ok(request) = ListTodosByOwnerRequest::decode(message.payload) else {
                continue;
            };
            let limit = request.page.map_or(usize::MAX, |p| {
                usize::try_from(p.limit).unwrap_or(usize::MAX)
            });
            let answer = ListTodosByOwnerReply {
                todos: todos
                    .iter()
                    .filter(|t| t.owner_id == request.owner_id)
                    .take(limit)
                    .cloned()
                    .collect(),
                page: None,
            };
            encoded.clear();
            if answer.encode(&mut encoded).is_err() {
                continue;
            }
            // A failed publish only costs the requester a timeout, which it reports.
            let _ = client
                .publish(reply, Bytes::copy_from_slice(&encoded))
                .await;
        }
    }))
}

/// The hand-written HTTP handler's router, requesting over `client` (its own connection).
pub fn router(client: async_nats::Client) -> Router {
    Router::new()
        .route(PATH, post(handle))
        .with_state(Arc::new(client))
}

/// `POST /hand/graphql`: one prost request over NATS, the reply as JSON.
async fn handle(State(client): State<Arc<async_nats::Client>>, body: Bytes) -> Response {
    let post: Value = match serde_json::from_slice(&body) {
        Ok(post) => post,
        Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    };
    let Some(owner) = post["variables"]["o"].as_str() else {
        return (StatusCode::BAD_REQUEST, "no variable o").into_response();
    };
    let request = super::owner_page(owner);
    let reply = match client
        .request(SUBJECT, Bytes::from(request.encode_to_vec()))
        .await
    {
        Ok(reply) => reply,
        Err(error) => return (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    };
    let reply = match ListTodosByOwnerReply::decode(reply.payload) {
        Ok(reply) => reply,
        Err(error) => return (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    };
    match answer(&reply.todos) {
        Ok(body) => super::graphql_ok(body),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// `{"data":{"todos":{"todos":[…]}}}`, the gateway's shape, with the fields the
/// benchmark's query selects; strings escaped by `serde_json`.
fn answer(todos: &[Todo]) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(1_536);
    out.extend_from_slice(br#"{"data":{"todos":{"nodes":["#);
    for (index, todo) in todos.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"id":"#);
        serde_json::to_writer(&mut out, &todo.id)?;
        out.extend_from_slice(br#","title":"#);
        serde_json::to_writer(&mut out, &todo.title)?;
        out.extend_from_slice(if todo.completed {
            br#","completed":true,"createdAt":"#
        } else {
            br#","completed":false,"createdAt":"#
        });
        serde_json::to_writer(&mut out, &created_at(todo))?;
        out.push(b'}');
    }
    out.extend_from_slice(b"]}}}");
    Ok(out)
}

/// A todo's creation time in RFC 3339, as the gateway prints a `Timestamp`.
fn created_at(todo: &Todo) -> String {
    todo.created_at
        .as_ref()
        .and_then(|at| {
            OffsetDateTime::from_unix_timestamp_nanos(
                i128::from(at.seconds) * 1_000_000_000 + i128::from(at.nanos),
            )
            .ok()
        })
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_default()
}
