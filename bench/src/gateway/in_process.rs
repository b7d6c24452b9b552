//! The comparison without a hop: a static async-graphql schema served by axum in the bench
//! process, whose `todos` resolver reads the todos itself.
//!
//! It serves the same query document as the gateway and answers with the same JSON. To
//! keep the hop the only difference, it has what the gateway's HTTP side has: axum with
//! the same layers (body limit, CORS, trace), the request parsed with `serde_json` into an
//! `async_graphql::Request`, the bearer token verified by a `JwtVerifier` behind
//! `dyn TokenVerifier`, the owner checked like `Context::require_owner` does, and the
//! response serialised with `serde_json` in `application/graphql-response+json`. The
//! gateway also records Prometheus metrics and runs its query-limits extension; this side
//! does neither.
//!
//! Routes:
//! - `POST /store/graphql`: the resolver reads the same SQLite file the todos service uses,
//!   through its own `Collection<TodoRecord>` (one connection, like the service's);
//! - `POST /memory/graphql`: the resolver clones the todos from a `Vec` (upper bound);
//! - `POST /canned`: verifies the token and answers prepared bytes, no GraphQL (the floor
//!   of HTTP, auth and the load generator).

use std::sync::Arc;

use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema, SimpleObject};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use switchboard::auth::{self, ADMIN_ROLE, Identity, TokenVerifier};
use switchboard::store::{self, Collection, StoreError, Versioned};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use todos::record::TodoRecord;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::{DefaultMakeSpan, TraceLayer};

/// The route resolving from the store.
pub const STORE_PATH: &str = "/store/graphql";
/// The route resolving from memory.
pub const MEMORY_PATH: &str = "/memory/graphql";
/// The route answering prepared bytes.
pub const CANNED_PATH: &str = "/canned";

/// A todo as GraphQL shows it: the fields the benchmark's query selects.
#[derive(Debug, Clone, SimpleObject)]
pub struct Todo {
    /// The record id.
    id: String,
    /// What to do.
    title: String,
    /// Whether it is done.
    completed: bool,
    /// Creation time, RFC 3339 (the gateway's `DateTime`).
    created_at: String,
}

/// One page of todos, shaped like the gateway's `TodoConnection` (its `nodes`).
#[derive(Debug, Clone, SimpleObject)]
struct TodoPage {
    /// The page's todos.
    nodes: Vec<Todo>,
}

/// Where the resolver gets todos from.
#[derive(Clone)]
pub enum Source {
    /// The same SQLite file as the todos service.
    Store(Collection<TodoRecord>),
    /// Todos held in memory.
    Memory(Arc<Vec<Todo>>),
}

/// The root query.
struct Query;

#[Object]
impl Query {
    /// One owner's todos, first page: what the gateway's `todos` does through the service.
    async fn todos(
        &self,
        ctx: &async_graphql::Context<'_>,
        owner_id: async_graphql::ID,
        first: Option<u32>,
    ) -> async_graphql::Result<TodoPage> {
        let owner_id = owner_id.0;
        let caller = ctx.data::<Identity>()?;
        if caller.subject != owner_id && !caller.roles.iter().any(|r| r == ADMIN_ROLE) {
            return Err("this belongs to another user".into());
        }
        let limit = store::page_size(first.unwrap_or(0));
        let todos = match ctx.data::<Source>()? {
            Source::Store(collection) => find_todos(collection, &owner_id, limit).await?,
            Source::Memory(todos) => todos
                .iter()
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .cloned()
                .collect(),
        };
        Ok(TodoPage { nodes: todos })
    }
}

/// The static schema resolving from `source`.
type StaticSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// Reads `owner`'s first `limit` todos as the todos service's `ListByOwner` does.
pub async fn find_todos(
    collection: &Collection<TodoRecord>,
    owner: &str,
    limit: u32,
) -> Result<Vec<Todo>, StoreError> {
    let page = collection
        .find(collection.query().where_eq("owner_id", owner).limit(limit))
        .await?;
    Ok(page.records.iter().map(to_graphql).collect())
}

/// The GraphQL form of a stored todo, with the timestamp the gateway would print.
fn to_graphql(record: &Versioned<TodoRecord>) -> Todo {
    let created = OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(record.value.created_at_ms) * 1_000_000,
    )
    .ok()
    .and_then(|at| at.format(&Rfc3339).ok())
    .unwrap_or_default();
    Todo {
        id: record.id.clone(),
        title: record.value.title.clone(),
        completed: record.value.completed_at_ms.is_some(),
        created_at: created,
    }
}

/// What a GraphQL route shares.
#[derive(Clone)]
struct GraphqlState {
    /// The schema, with its source as data.
    schema: StaticSchema,
    /// Verifies bearer tokens.
    verifier: Arc<dyn TokenVerifier>,
}

/// What the canned route shares.
#[derive(Clone)]
struct CannedState {
    /// The body it answers.
    body: Bytes,
    /// Verifies bearer tokens.
    verifier: Arc<dyn TokenVerifier>,
}

/// The router of every in-process route, with the gateway's layers. `canned` is the body
/// `/canned` answers.
pub fn router(
    store: Collection<TodoRecord>,
    memory: Vec<Todo>,
    canned: Bytes,
    verifier: Arc<dyn TokenVerifier>,
) -> Router {
    let graphql = |path: &str, source: Source| {
        let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
            .data(source)
            .finish();
        Router::new()
            .route(path, post(graphql))
            .with_state(GraphqlState {
                schema,
                verifier: verifier.clone(),
            })
    };
    let canned = Router::new()
        .route(CANNED_PATH, post(canned_reply))
        .with_state(CannedState {
            body: canned,
            verifier: verifier.clone(),
        });
    graphql(STORE_PATH, Source::Store(store))
        .merge(graphql(MEMORY_PATH, Source::Memory(Arc::new(memory))))
        .merge(canned)
        .layer(DefaultBodyLimit::max(
            ::gateway::settings::DEFAULT_MAX_BODY_BYTES,
        ))
        .layer(
            // The gateway's CORS layer with no origins configured.
            CorsLayer::new()
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
                .allow_origin(AllowOrigin::list(Vec::new())),
        )
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(tracing::Level::INFO)),
        )
}

/// `POST` of a GraphQL request: verify the token, execute, serialise.
async fn graphql(State(state): State<GraphqlState>, headers: HeaderMap, body: Bytes) -> Response {
    let identity = match authenticate(state.verifier.as_ref(), &headers).await {
        Ok(identity) => identity,
        Err(refusal) => return refusal,
    };
    let request = match serde_json::from_slice::<async_graphql::Request>(&body) {
        Ok(request) => request,
        Err(error) => return (StatusCode::BAD_REQUEST, error.to_string()).into_response(),
    };
    let response = state.schema.execute(request.data(identity)).await;
    match serde_json::to_string(&response) {
        Ok(body) => super::graphql_ok(body),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// `POST /canned`: verify the token, answer the prepared body.
async fn canned_reply(State(state): State<CannedState>, headers: HeaderMap) -> Response {
    if let Err(refusal) = authenticate(state.verifier.as_ref(), &headers).await {
        return refusal;
    }
    super::graphql_ok(state.body)
}

/// The identity the `Authorization` header proves, or 401.
async fn authenticate(
    verifier: &dyn TokenVerifier,
    headers: &HeaderMap,
) -> Result<Identity, Response> {
    let unauthorized = |message: String| (StatusCode::UNAUTHORIZED, message).into_response();
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthorized("no bearer token".into()))?;
    let token = auth::bearer_token(value).map_err(|e| unauthorized(e.to_string()))?;
    verifier
        .verify(token)
        .await
        .map_err(|e| unauthorized(e.to_string()))
}
