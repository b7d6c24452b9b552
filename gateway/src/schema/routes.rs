//! Root fields: every rpc annotated `graphql: { query | mutation }` becomes one, its
//! request fields the arguments, its reply the type, resolved by one bus request.

use std::sync::Arc;

use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, TypeRef};
use bytes::Bytes;
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, MethodDescriptor, OneofDescriptor, ReflectMessage, Value,
};
use switchboard::{Rpc, contract, naming};

use super::SchemaBuildError;
use super::types::Registry;
use super::values;
use crate::dispatch::{self, RequestScope};

/// Where a root field goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootKind {
    /// A field of `Query`.
    Query,
    /// A field of `Mutation`.
    Mutation,
}

/// An rpc exposed as a root field.
pub struct Route {
    /// Query or mutation.
    pub kind: RootKind,
    /// The field name.
    pub field: String,
    /// The rpc, as the bus sends it.
    pub rpc: Rpc,
    /// Its descriptor.
    pub method: MethodDescriptor,
    /// The reply's `oneof outcome`, when the reply is only that.
    pub outcome: Option<OneofDescriptor>,
}

/// Every annotated rpc in `pool`.
pub fn discover(pool: &DescriptorPool) -> Result<Vec<Route>, SchemaBuildError> {
    let mut routes = Vec::new();
    for service in pool.services() {
        for method in service.methods() {
            let Some((kind, field)) = graphql_exposure(pool, &method) else {
                continue;
            };
            if method.is_client_streaming() || method.is_server_streaming() {
                return Err(SchemaBuildError::Unsupported(format!(
                    "{}: a streaming rpc can only be a subscription field",
                    method.full_name()
                )));
            }
            let outcome = contract::outcome_oneof(&method.output());
            routes.push(Route {
                kind,
                field,
                rpc: rpc_of(&method)?,
                method,
                outcome,
            });
        }
    }
    routes.sort_by(|a, b| a.field.cmp(&b.field));
    for pair in routes.windows(2) {
        if pair[0].field == pair[1].field && pair[0].kind == pair[1].kind {
            return Err(SchemaBuildError::NameCollision {
                name: pair[0].field.clone(),
                first: pair[0].method.full_name().to_string(),
                second: pair[1].method.full_name().to_string(),
            });
        }
    }
    Ok(routes)
}

fn graphql_exposure(
    pool: &DescriptorPool,
    method: &MethodDescriptor,
) -> Option<(RootKind, String)> {
    graphql_name(pool, method, "query")
        .map(|f| (RootKind::Query, f))
        .or_else(|| graphql_name(pool, method, "mutation").map(|f| (RootKind::Mutation, f)))
}

/// The field name `method`'s `graphql` option gives it as a `kind` (`query`, `mutation`,
/// `subscription`), when it gives one.
pub fn graphql_name(
    pool: &DescriptorPool,
    method: &MethodDescriptor,
    kind: &str,
) -> Option<String> {
    contract::rpc_option(pool, method)?
        .get_field_by_name("graphql")?
        .as_message()?
        .get_field_by_name(kind)
        .and_then(|v| v.as_str().map(str::to_string))
        .filter(|s| !s.is_empty())
}

/// The bus's view of `method`: subject (by the same rule as generated code), retry
/// policy and whether it is public. The strings are leaked once, when the schema is
/// built, so `Rpc` keeps its `&'static str` fields; a schema is built once per process.
pub fn rpc_of(method: &MethodDescriptor) -> Result<Rpc, SchemaBuildError> {
    let package = method.parent_service().package_name().to_string();
    let service = naming::service_name(&package).ok_or_else(|| {
        SchemaBuildError::Unsupported(format!(
            "{}: package {package:?} is not <service>.v<major>",
            method.full_name()
        ))
    })?;
    let flags = contract::rpc_flags(method.parent_pool(), method);
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    Ok(Rpc {
        service: leak(service.to_string()),
        name: leak(method.name().to_string()),
        subject: leak(naming::rpc_subject(&package, method.name())),
        retryable: flags.retryable,
        public: flags.public,
    })
}

/// The root field of `route`, registering the types it needs.
pub fn field(route: Arc<Route>, registry: &mut Registry) -> Result<Field, SchemaBuildError> {
    let output = route.method.output();
    let type_name = match &route.outcome {
        Some(outcome) => registry.outcome_union(&output, outcome)?,
        None => registry.object(&output)?,
    };
    let mut field = Field::new(route.field.clone(), TypeRef::named(type_name), {
        let route = route.clone();
        move |ctx| {
            let route = route.clone();
            FieldFuture::new(async move {
                let scope = ctx.data::<Arc<RequestScope>>()?;
                let request = values::message_from_input(&route.method.input(), |name| {
                    ctx.args.get(name).map(|v| v.as_value())
                })
                .map_err(|e| dispatch::bad_input(e.to_string()))?;
                if !route.rpc.public && scope.is_anonymous() {
                    return Err(dispatch::unauthenticated(format!(
                        "`{}` requires a bearer token",
                        route.field
                    )));
                }
                let payload = Bytes::from(request.encode_to_vec());
                let reply = dispatch::call_root(scope, &route.rpc, payload).await?;
                let reply = DynamicMessage::decode(route.method.output(), reply).map_err(|e| {
                    dispatch::internal(format!("{}: undecodable reply: {e}", route.rpc.subject))
                })?;
                resolve_reply(&route, reply).map(Some)
            })
        }
    })
    .description(format!("`{}`.", route.method.full_name()));
    for input in route.method.input().fields() {
        let mut argument =
            InputValue::new(values::graphql_name(&input), registry.input_ref(&input)?);
        if let Some(default) = values::default_input(&input) {
            argument = argument.default_value(default);
        }
        field = field.argument(argument);
    }
    Ok(field)
}

/// The reply as a field value: the object, or the union case that is set.
fn resolve_reply(
    route: &Route,
    reply: DynamicMessage,
) -> Result<FieldValue<'static>, async_graphql::Error> {
    let Some(outcome) = &route.outcome else {
        return Ok(FieldValue::owned_any(reply));
    };
    for case in outcome.fields() {
        if reply.has_field(&case)
            && let Value::Message(inner) = reply.get_field(&case).into_owned()
        {
            let type_name = inner.descriptor().name().to_string();
            return Ok(FieldValue::owned_any(inner).with_type(type_name));
        }
    }
    Err(dispatch::internal(format!(
        "{}: the reply carries no outcome",
        route.rpc.subject
    )))
}
