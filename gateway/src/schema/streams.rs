//! Subscriptions from streaming rpcs: every server-streaming rpc annotated
//! `graphql: { subscription: "…" }` becomes a field of the `Subscription` root, its
//! request fields the arguments, each streamed reply one event — `bookingProgress(id)`
//! follows a booking until it ends. No per-service code: subject, types and arguments
//! come from the descriptors.
//!
//! The caller's token goes with the request, and the service decides who may follow what
//! (as for any rpc). The stream lasts until the service ends it, or until the token
//! expires (at most [`MAX_STREAM`]); the client leaving drops the stream, which tells the
//! service to stop.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_graphql::dynamic::{FieldValue, SubscriptionField, SubscriptionFieldFuture, TypeRef};
use bytes::Bytes;
use futures::StreamExt as _;
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor};
use switchboard::auth::Caller;
use switchboard::{CallOptions, Rpc};

use super::docs::Documented as _;
use super::types::Registry;
use super::{SchemaBuildError, routes, values};
use crate::dispatch::{self, RequestScope};

/// The longest a streamed subscription lasts, whatever its token says.
pub const MAX_STREAM: Duration = Duration::from_secs(3600);

/// A streaming rpc exposed as a subscription field.
pub struct StreamRoute {
    /// The field name.
    pub field: String,
    /// The rpc, as the bus sends it.
    pub rpc: Rpc,
    /// Its descriptor.
    pub method: MethodDescriptor,
}

/// Every streaming rpc in `pool` annotated as a subscription.
pub fn discover(pool: &DescriptorPool) -> Result<Vec<StreamRoute>, SchemaBuildError> {
    let mut found: Vec<StreamRoute> = Vec::new();
    for service in pool.services() {
        for method in service.methods() {
            let Some(field) = routes::graphql_name(pool, &method, "subscription") else {
                continue;
            };
            if method.is_client_streaming() || !method.is_server_streaming() {
                return Err(SchemaBuildError::Unsupported(format!(
                    "{}: only a server-streaming rpc can be a subscription",
                    method.full_name()
                )));
            }
            if let Some(other) = found.iter().find(|r| r.field == field) {
                return Err(SchemaBuildError::NameCollision {
                    name: field,
                    first: other.method.full_name().to_string(),
                    second: method.full_name().to_string(),
                });
            }
            found.push(StreamRoute {
                field,
                rpc: routes::rpc_of(&method)?,
                method,
            });
        }
    }
    found.sort_by(|a, b| a.field.cmp(&b.field));
    Ok(found)
}

/// The subscription field of `route`, registering the types it needs.
pub fn field(
    route: Arc<StreamRoute>,
    registry: &mut Registry,
) -> Result<SubscriptionField, SchemaBuildError> {
    let type_name = registry.object(&route.method.output())?;
    let mut field = SubscriptionField::new(route.field.clone(), TypeRef::named_nn(type_name), {
        let route = route.clone();
        move |ctx| {
            let route = route.clone();
            SubscriptionFieldFuture::new(async move {
                let scope = ctx.data::<Arc<RequestScope>>()?.clone();
                let request = values::message_from_input(&route.method.input(), |name| {
                    ctx.args.get(name).map(|v| v.as_value())
                })
                .map_err(|e| dispatch::bad_input(e.to_string()))?;
                let expires_at = match &scope.caller {
                    Caller::Authenticated(identity) => identity.expires_at,
                    Caller::Anonymous if route.rpc.public => None,
                    Caller::Anonymous => {
                        return Err(dispatch::unauthenticated(format!(
                            "`{}` requires a bearer token",
                            route.field
                        )));
                    }
                };
                let payload = Bytes::from(request.encode_to_vec());
                let replies =
                    dispatch::stream(&scope, &route.rpc, payload, options(&scope, expires_at))
                        .await?;
                let output = route.method.output();
                let rpc = route.rpc;
                Ok(replies.map(move |reply| {
                    let bytes = reply.map_err(|error| dispatch::from_bus(&rpc, error))?;
                    let message = DynamicMessage::decode(output.clone(), bytes).map_err(|e| {
                        dispatch::internal(format!("{}: undecodable reply: {e}", rpc.subject))
                    })?;
                    Ok(FieldValue::owned_any(message))
                }))
            })
        }
    });
    if let Some(doc) = route.method.doc() {
        field = field.description(doc);
    }
    for input in route.method.input().fields() {
        field = field.argument(registry.input_value(&input)?);
    }
    Ok(field)
}

/// The stream's call options: the caller's token and trace, and a deadline at the token's
/// expiry (seconds since the Unix epoch), within [`MAX_STREAM`].
fn options(scope: &RequestScope, expires_at: Option<u64>) -> CallOptions {
    let now = SystemTime::now();
    let longest = now + MAX_STREAM;
    let deadline = expires_at
        .map(|exp| UNIX_EPOCH + Duration::from_secs(exp))
        .map_or(longest, |exp| exp.min(longest));
    let mut options = CallOptions::default().deadline(deadline);
    if let Some(token) = &scope.token {
        options = options.bearer_token(token);
    }
    if let Some(trace) = &scope.trace {
        options = options.trace(trace.clone());
    }
    options
}
