//! The GraphQL schema, built at start-up from the compiled proto descriptors with
//! async-graphql's dynamic schema: no per-service code lives in the gateway. An rpc marked
//! `graphql: { query: "…" }` or `{ mutation: "…" }` in its proto becomes a root field;
//! messages become objects, `oneof outcome` replies unions, relations batched fields.
//!
//! The conventions that make it read like GraphQL rather than protobuf:
//! - **Descriptions** are the proto comments ([`docs`]).
//! - **Required arguments.** A request's scalar and enum fields are required arguments
//!   (non-null, no default: leaving one out is a validation error before any request is
//!   sent); fields declared proto3 `optional` are nullable arguments; message fields are
//!   optional input objects and repeated fields optional lists.
//! - **Identifiers.** A string field named `id`, or ending in `_id` (repeated: `_ids`), is
//!   an `ID`, in arguments and outputs.
//! - **Enum values** lose the prefix the protobuf style guide gives them
//!   (`BOOKING_STATUS_PENDING` → `PENDING`).
//! - **Paged lists** are cursor connections (`first`/`after`, `edges { node cursor }`,
//!   `pageInfo { hasNextPage endCursor }`), mapped onto `switchboard.v1.PageRequest` and
//!   `PageInfo` ([`routes`]).
//!
//! Outputs: scalars are non-null, message fields nullable, lists non-null; root fields are
//! nullable, so one failing field leaves the others' data.
//!
//! - [`routes`]: root fields from annotated rpcs;
//! - [`types`]: objects, inputs, enums, unions and scalars, registered on first use;
//! - [`relations`]: batched fields across services (DataLoader);
//! - [`events`]: subscription fields from events declared `subscription: "…"`;
//! - [`status`]: the gateway's own readiness feed, also on the `Subscription` root;
//! - [`streams`]: subscription fields from server-streaming rpcs declared `subscription: "…"`;
//! - [`values`]: GraphQL ↔ protobuf value conversion.

pub mod docs;
pub mod events;
pub mod relations;
pub mod routes;
pub mod status;
pub mod streams;
pub mod types;
pub mod values;

use std::collections::BTreeSet;
use std::sync::Arc;

use async_graphql::dynamic::{Object, Schema};
use prost_reflect::DescriptorPool;

use crate::limits::Limits;
use relations::RelationSpec;
use routes::{RootKind, Route};
use types::Registry;

/// Why the schema cannot be built from the descriptors.
#[derive(Debug, thiserror::Error)]
pub enum SchemaBuildError {
    /// The descriptor set does not decode.
    #[error("invalid descriptor set: {0}")]
    Descriptors(String),
    /// Two proto elements would take one GraphQL name.
    #[error("GraphQL name {name:?} would be used by both {first} and {second}")]
    NameCollision {
        /// The GraphQL name.
        name: String,
        /// The first proto element.
        first: String,
        /// The second proto element.
        second: String,
    },
    /// A relation option names something that does not exist or does not fit.
    #[error("relation {field:?} on {message}: {why}")]
    InvalidRelation {
        /// The message declaring it.
        message: String,
        /// The relation's field name.
        field: String,
        /// What is wrong.
        why: String,
    },
    /// A proto construct the gateway cannot expose.
    #[error("{0}")]
    Unsupported(String),
    /// No rpc is exposed, so there would be no `Query` type.
    #[error("no rpc is annotated as a GraphQL query")]
    NoQueries,
    /// async-graphql refused the assembled schema.
    #[error("the schema is invalid: {0}")]
    Invalid(String),
}

/// How deep async-graphql's own depth check lets an operation go at least: the
/// introspection query of GraphiQL (graphql-js 16) is 13 deep, tools asking for deeper
/// type references a few more.
const INTROSPECTION_DEPTH: usize = 20;

/// Schema-wide switches.
#[derive(Debug, Clone)]
pub struct SchemaOptions {
    /// Query shape limits, enforced on every parsed operation.
    pub limits: Limits,
    /// Whether `__schema` / `__type` are answered.
    pub introspection: bool,
}

/// The built schema and what it dispatches to.
pub struct GatewaySchema {
    /// The executable schema.
    pub schema: Schema,
    /// Every root field.
    pub routes: Vec<Arc<Route>>,
    /// Every relation, indexed by `RelationSpec::id`.
    pub relations: Vec<Arc<RelationSpec>>,
    /// Every event exposed as a subscription.
    pub events: Vec<Arc<events::EventRoute>>,
}

impl GatewaySchema {
    /// Builds the schema from an encoded `FileDescriptorSet`.
    pub fn from_descriptor_set(
        bytes: &[u8],
        options: &SchemaOptions,
    ) -> Result<Self, SchemaBuildError> {
        let pool = DescriptorPool::decode(bytes)
            .map_err(|e| SchemaBuildError::Descriptors(e.to_string()))?;
        Self::build(&pool, options)
    }

    /// Builds the schema from a descriptor pool.
    pub fn build(pool: &DescriptorPool, options: &SchemaOptions) -> Result<Self, SchemaBuildError> {
        let routes: Vec<Arc<Route>> = routes::discover(pool)?.into_iter().map(Arc::new).collect();
        let mut registry = Registry::new(pool.clone());
        let mut query = Object::new("Query");
        let mut mutation = Object::new("Mutation");
        let (mut queries, mut mutations) = (0, 0);
        for route in &routes {
            let field = routes::field(route.clone(), &mut registry)?;
            match route.kind {
                RootKind::Query => {
                    query = query.field(field);
                    queries += 1;
                }
                RootKind::Mutation => {
                    mutation = mutation.field(field);
                    mutations += 1;
                }
            }
        }
        if queries == 0 {
            return Err(SchemaBuildError::NoQueries);
        }
        let (mut subscription, readiness) = status::subscription_root();
        let events: Vec<Arc<events::EventRoute>> =
            events::discover(pool)?.into_iter().map(Arc::new).collect();
        for event in &events {
            subscription = subscription.field(events::field(event.clone(), &mut registry)?);
        }
        for stream in streams::discover(pool)? {
            subscription = subscription.field(streams::field(Arc::new(stream), &mut registry)?);
        }
        let mut builder = Schema::build(
            "Query",
            (mutations > 0).then_some("Mutation"),
            Some(subscription.type_name()),
        )
        .register(query)
        .register(subscription)
        .register(readiness)
        .extension(crate::limits::LimitsExtension(options.limits))
        // A backstop: `LimitsExtension` refuses these shapes before async-graphql sees
        // them, with its own codes; async-graphql's checks guard whatever it might miss.
        // Its depth check counts introspection fields, which `LimitsExtension` exempts:
        // the backstop leaves room for the standard schema query (13 deep).
        .limit_depth(options.limits.max_depth.max(INTROSPECTION_DEPTH))
        .limit_complexity(options.limits.max_complexity)
        .limit_recursive_depth(options.limits.max_nesting);
        if mutations > 0 {
            builder = builder.register(mutation);
        }
        if !options.introspection {
            builder = builder.disable_introspection();
        }
        for scalar in Registry::scalars() {
            builder = builder.register(scalar);
        }
        let relations = std::mem::take(&mut registry.relations);
        for object in registry.objects {
            builder = builder.register(object);
        }
        for input in registry.inputs {
            builder = builder.register(input);
        }
        for enumeration in registry.enums {
            builder = builder.register(enumeration);
        }
        for union in registry.unions {
            builder = builder.register(union);
        }
        let schema = builder
            .finish()
            .map_err(|e| SchemaBuildError::Invalid(e.to_string()))?;
        Ok(Self {
            schema,
            routes,
            relations,
            events,
        })
    }

    /// The SDL of the schema `bytes` (an encoded `FileDescriptorSet`) make, as `gateway
    /// print-schema` prints it and `gateway/schema.graphql` records it.
    pub fn sdl_of(bytes: &[u8]) -> Result<String, SchemaBuildError> {
        let options = SchemaOptions {
            limits: Limits::default(),
            introspection: true,
        };
        Ok(Self::from_descriptor_set(bytes, &options)?.schema.sdl())
    }

    /// Every subject the schema may send to: root fields and relations.
    pub fn required_subjects(&self) -> BTreeSet<&'static str> {
        self.routes
            .iter()
            .map(|r| r.rpc.subject)
            .chain(self.relations.iter().map(|r| r.rpc.subject))
            .collect()
    }
}
