//! Root fields: every rpc annotated `graphql: { query | mutation }` becomes one, its
//! request fields the arguments, its reply the type, resolved by one bus request.
//!
//! A paged list rpc — its request has a `switchboard.v1.PageRequest` field, its reply one
//! repeated message field beside a `switchboard.v1.PageInfo` — becomes a connection field:
//! `first`/`after` instead of the page argument, `<Node>Connection` as its type.

use std::sync::Arc;

use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, TypeRef};
use bytes::Bytes;
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor,
    OneofDescriptor, ReflectMessage, Value,
};
use switchboard::{Rpc, contract, naming};

use super::SchemaBuildError;
use super::docs::Documented as _;
use super::types::{Connection, Edge, Registry};
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
    /// How the rpc pages, when it returns a paged list.
    pub paging: Option<Paging>,
}

/// The proto name of a list request's paging field.
const PAGE_REQUEST: &str = "switchboard.v1.PageRequest";
/// The proto name of a list reply's paging field.
const PAGE_INFO: &str = "switchboard.v1.PageInfo";

/// The fields a paged list rpc pages through.
pub struct Paging {
    /// The request's `switchboard.v1.PageRequest` field.
    pub page: FieldDescriptor,
    /// The reply's repeated field holding the page's items.
    pub items: FieldDescriptor,
    /// The reply's `switchboard.v1.PageInfo` field.
    pub info: FieldDescriptor,
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
                paging: paging_of(&method)?,
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

/// How `method` pages, when its request has a `PageRequest` field; a paged request whose
/// reply does not have exactly one repeated message field (with an `id`) beside a
/// `PageInfo` is refused.
fn paging_of(method: &MethodDescriptor) -> Result<Option<Paging>, SchemaBuildError> {
    let is = |field: &FieldDescriptor, name: &str| {
        !field.is_list() && matches!(field.kind(), Kind::Message(m) if m.full_name() == name)
    };
    let Some(page) = method.input().fields().find(|f| is(f, PAGE_REQUEST)) else {
        return Ok(None);
    };
    let refuse = |why: &str| {
        SchemaBuildError::Unsupported(format!(
            "{}: a paged list's reply must have {why}",
            method.full_name()
        ))
    };
    let reply = method.output();
    let info = reply
        .fields()
        .find(|f| is(f, PAGE_INFO))
        .ok_or_else(|| refuse("a switchboard.v1.PageInfo field"))?;
    let mut lists = reply.fields().filter(|f| f.is_list() && !f.is_map());
    let (Some(items), None) = (lists.next(), lists.next()) else {
        return Err(refuse("exactly one repeated field"));
    };
    match items.kind() {
        Kind::Message(node) if node.get_field_by_name("id").is_some() => {}
        _ => return Err(refuse("its items be messages with an `id` (their cursor)")),
    }
    Ok(Some(Paging { page, items, info }))
}

/// The root field of `route`, registering the types it needs.
pub fn field(route: Arc<Route>, registry: &mut Registry) -> Result<Field, SchemaBuildError> {
    let output = route.method.output();
    let type_name = match (&route.outcome, &route.paging) {
        (Some(outcome), _) => registry.outcome_union(&output, outcome)?,
        (None, Some(paging)) => match paging.items.kind() {
            Kind::Message(node) => registry.connection(&node)?,
            _ => unreachable!("paging_of accepts only message items"),
        },
        (None, None) => registry.object(&output)?,
    };
    let mut field = Field::new(route.field.clone(), TypeRef::named(type_name), {
        let route = route.clone();
        move |ctx| {
            let route = route.clone();
            FieldFuture::new(async move {
                let scope = ctx.data::<Arc<RequestScope>>()?;
                let argument = |name: &str| ctx.args.get(name).map(|v| v.as_value());
                let request = request_of(&route, argument)?;
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
    });
    if let Some(doc) = route.method.doc() {
        field = field.description(doc);
    }
    let page = route.paging.as_ref().map(|p| p.page.clone());
    for input in route.method.input().fields() {
        if Some(&input) != page.as_ref() {
            field = field.argument(registry.input_value(&input)?);
        }
    }
    if route.paging.is_some() {
        field = field
            .argument(
                InputValue::new(FIRST, TypeRef::named(TypeRef::INT))
                    .description("At most this many items (1 or more); the service's default page size when left out."),
            )
            .argument(
                InputValue::new(AFTER, TypeRef::named(TypeRef::STRING))
                    .description("Start after the item with this cursor (an edge's `cursor`, or `pageInfo.endCursor`); from the first item when left out."),
            );
    }
    Ok(field)
}

/// The paging arguments of a connection field.
const FIRST: &str = "first";
const AFTER: &str = "after";

/// The rpc's request from the field's arguments; a paged list's `first`/`after` become its
/// `PageRequest`.
fn request_of<'a>(
    route: &Route,
    argument: impl Fn(&str) -> Option<&'a async_graphql::Value>,
) -> Result<DynamicMessage, async_graphql::Error> {
    let input = route.method.input();
    let Some(paging) = &route.paging else {
        return values::message_from_input(&input, argument)
            .map_err(|e| dispatch::bad_input(e.to_string()));
    };
    let page_name = values::graphql_name(&paging.page);
    let mut request =
        values::message_from_input(&input, |name| argument(name).filter(|_| name != page_name))
            .map_err(|e| dispatch::bad_input(e.to_string()))?;
    let Kind::Message(page_type) = paging.page.kind() else {
        unreachable!("paging_of checked the page field's type")
    };
    request.set_field(
        &paging.page,
        Value::Message(page_request(&page_type, argument)?),
    );
    Ok(request)
}

/// The `PageRequest` for `first` and `after`.
fn page_request<'a>(
    page_type: &MessageDescriptor,
    argument: impl Fn(&str) -> Option<&'a async_graphql::Value>,
) -> Result<DynamicMessage, async_graphql::Error> {
    let mut page = DynamicMessage::new(page_type.clone());
    match argument(FIRST) {
        None | Some(async_graphql::Value::Null) => {}
        Some(async_graphql::Value::Number(n)) => {
            let limit = n
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| dispatch::bad_input("first: must be 1 or more"))?;
            page.set_field_by_name("limit", Value::U32(limit));
        }
        Some(_) => return Err(dispatch::bad_input("first: expected an integer")),
    }
    if let Some(async_graphql::Value::String(after)) = argument(AFTER) {
        page.set_field_by_name("after", Value::String(after.clone()));
    }
    Ok(page)
}

/// The reply as a field value: the object, or the union case that is set.
fn resolve_reply(
    route: &Route,
    reply: DynamicMessage,
) -> Result<FieldValue<'static>, async_graphql::Error> {
    if let Some(paging) = &route.paging {
        return Ok(FieldValue::owned_any(connection(paging, reply)));
    }
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

/// A paged list's reply as a connection: each item with its id as cursor, and whether the
/// reply's `PageInfo` says more follow.
fn connection(paging: &Paging, mut reply: DynamicMessage) -> Connection {
    let has_next_page = reply
        .get_field(&paging.info)
        .as_message()
        .and_then(|info| info.get_field_by_name("next"))
        .is_some_and(|next| next.as_str().is_some_and(|s| !s.is_empty()));
    // Taken, not copied: the reply is dropped after this.
    let edges = match reply.take_field(&paging.items) {
        Some(Value::List(items)) => items
            .into_iter()
            .filter_map(|item| match item {
                Value::Message(node) => Some(node),
                _ => None,
            })
            .map(|node| Edge {
                cursor: node
                    .get_field_by_name("id")
                    .and_then(|id| values::key_string(&id))
                    .unwrap_or_default(),
                node,
            })
            .collect(),
        _ => Vec::new(),
    };
    Connection {
        edges,
        has_next_page,
    }
}
