//! GraphQL types for proto messages and enums, registered on first use.
//!
//! Output objects are named after their message (`User`); input objects get an `Input`
//! suffix (`FaultsInput`); a reply that is only a `oneof outcome` becomes a union named
//! after the reply with `Reply` replaced by `Result` (`CreateUserResult`); a paged list of
//! `Todo`s becomes `TodoConnection` with `TodoEdge`s and the shared `PageInfo` (the
//! cursor connection convention). Two proto types that would take the same GraphQL name
//! are refused, naming both. Every type, field, argument and enum value is described by
//! its proto comment ([`docs`](super::docs)).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::Value as GqlValue;
use async_graphql::dynamic::{
    Enum, EnumItem, Field, FieldFuture, FieldValue, InputObject, InputValue, Object, Scalar,
    TypeRef, Union,
};
use prost_reflect::{DynamicMessage, EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor};

use super::SchemaBuildError;
use super::docs::Documented as _;
use super::relations::{self, RelationSpec};
use super::values::{self, TIMESTAMP};

/// `DateTime`: an RFC 3339 timestamp.
pub const DATE_TIME: &str = "DateTime";
/// `Int64`: a signed 64-bit integer as a decimal string.
pub const INT64: &str = "Int64";
/// `UInt64`: an unsigned 64-bit integer as a decimal string.
pub const UINT64: &str = "UInt64";
/// `Base64`: bytes as standard base64.
pub const BASE64: &str = "Base64";
/// The connection convention's page information, shared by every connection.
pub const PAGE_INFO: &str = "PageInfo";

/// Everything registered so far, to be handed to the schema builder.
pub struct Registry {
    /// GraphQL name → proto full name, to refuse collisions.
    names: HashMap<String, String>,
    /// Messages whose output object is built or being built (cycles end here).
    objects_started: HashSet<String>,
    /// Messages whose input object is built or being built.
    inputs_started: HashSet<String>,
    /// Built objects.
    pub objects: Vec<Object>,
    /// Built input objects.
    pub inputs: Vec<InputObject>,
    /// Built enums.
    pub enums: Vec<Enum>,
    /// Built unions.
    pub unions: Vec<Union>,
    /// Relations found on the messages registered, in registration order.
    pub relations: Vec<Arc<RelationSpec>>,
    /// The pool relations name their rpcs in.
    pool: prost_reflect::DescriptorPool,
    /// Whether `PageInfo` is registered.
    page_info_registered: bool,
}

impl Registry {
    /// An empty registry over `pool`.
    pub fn new(pool: prost_reflect::DescriptorPool) -> Self {
        Self {
            names: HashMap::new(),
            objects_started: HashSet::new(),
            inputs_started: HashSet::new(),
            objects: Vec::new(),
            inputs: Vec::new(),
            enums: Vec::new(),
            unions: Vec::new(),
            relations: Vec::new(),
            pool,
            page_info_registered: false,
        }
    }

    /// The custom scalars every schema registers.
    pub fn scalars() -> Vec<Scalar> {
        let string_of = |parse: fn(&str) -> bool| move |value: &GqlValue| matches!(value, GqlValue::String(s) if parse(s));
        vec![
            Scalar::new(DATE_TIME)
                .description("An instant as an RFC 3339 string, e.g. 2026-11-22T16:24:00Z.")
                .specified_by_url("https://datatracker.ietf.org/doc/html/rfc3339"),
            Scalar::new(INT64)
                .description(
                    "A signed 64-bit integer as a decimal string (GraphQL's Int is 32-bit).",
                )
                .validator(string_of(|s| s.parse::<i64>().is_ok())),
            Scalar::new(UINT64)
                .description("An unsigned 64-bit integer as a decimal string.")
                .validator(string_of(|s| s.parse::<u64>().is_ok())),
            Scalar::new(BASE64).description("Bytes as a standard base64 string."),
        ]
    }

    fn claim(&mut self, graphql: &str, proto: &str) -> Result<(), SchemaBuildError> {
        match self.names.get(graphql) {
            Some(existing) if existing != proto => Err(SchemaBuildError::NameCollision {
                name: graphql.to_string(),
                first: existing.clone(),
                second: proto.to_string(),
            }),
            _ => {
                self.names.insert(graphql.to_string(), proto.to_string());
                Ok(())
            }
        }
    }

    /// The output type of one value of `kind` (not list-wrapped), registering it.
    fn output_named(&mut self, kind: &Kind, field: &str) -> Result<String, SchemaBuildError> {
        Ok(match kind {
            Kind::Message(message) if message.full_name() == TIMESTAMP => DATE_TIME.into(),
            Kind::Message(message) => self.object(message)?,
            Kind::Enum(descriptor) => self.enumeration(descriptor)?,
            scalar => scalar_name(scalar, field)?.into(),
        })
    }

    /// The output type reference of `field`.
    pub fn output_ref(&mut self, field: &FieldDescriptor) -> Result<TypeRef, SchemaBuildError> {
        if field.is_map() {
            return Err(SchemaBuildError::Unsupported(format!(
                "{}: map fields are not supported in the GraphQL schema",
                field.full_name()
            )));
        }
        let name = if values::is_id(field) {
            TypeRef::ID.to_string()
        } else {
            self.output_named(&field.kind(), field.full_name())?
        };
        Ok(if field.is_list() {
            TypeRef::named_nn_list_nn(name)
        } else if field.supports_presence() {
            TypeRef::named(name)
        } else {
            TypeRef::named_nn(name)
        })
    }

    /// Registers the output object of `message` and returns its name.
    pub fn object(&mut self, message: &MessageDescriptor) -> Result<String, SchemaBuildError> {
        let name = message.name().to_string();
        if !self.objects_started.insert(message.full_name().to_string()) {
            return Ok(name);
        }
        self.claim(&name, message.full_name())?;
        let mut object = described(Object::new(&name), message.doc(), Object::description);
        for field in message.fields() {
            let type_ref = self.output_ref(&field)?;
            let descriptor = field.clone();
            let output = Field::new(values::graphql_name(&field), type_ref, move |ctx| {
                let value = ctx
                    .parent_value
                    .try_downcast_ref::<DynamicMessage>()
                    .map(|parent| values::field_output(parent, &descriptor));
                FieldFuture::Value(value.unwrap_or_default())
            });
            object = object.field(described(output, field.doc(), Field::description));
        }
        for spec in relations::of_message(&self.pool, message)? {
            let target = self.output_named(&spec.value_kind(), &spec.field)?;
            let type_ref = if spec.value_is_list() {
                TypeRef::named_nn_list_nn(target)
            } else {
                TypeRef::named(target)
            };
            let spec = Arc::new(spec.with_id(self.relations.len()));
            self.relations.push(spec.clone());
            object = object.field(relations::field(spec, type_ref));
        }
        self.objects.push(object);
        Ok(name)
    }

    /// Registers the union of the `outcome` cases of `reply` and returns its name.
    pub fn outcome_union(
        &mut self,
        reply: &MessageDescriptor,
        outcome: &prost_reflect::OneofDescriptor,
    ) -> Result<String, SchemaBuildError> {
        let base = reply.name().strip_suffix("Reply").unwrap_or(reply.name());
        let name = format!("{base}Result");
        if self.names.get(&name).map(String::as_str) == Some(reply.full_name()) {
            return Ok(name);
        }
        self.claim(&name, reply.full_name())?;
        let mut union = Union::new(&name);
        let mut cases = Vec::new();
        let mut members = HashSet::new();
        for case in outcome.fields() {
            let Kind::Message(message) = case.kind() else {
                return Err(SchemaBuildError::Unsupported(format!(
                    "{}: every outcome case must be a message",
                    case.full_name()
                )));
            };
            let member = self.object(&message)?;
            if !members.insert(member.clone()) {
                return Err(SchemaBuildError::Unsupported(format!(
                    "{}: two outcome cases have the type {member}; give each case its own message",
                    reply.full_name()
                )));
            }
            cases.push(match case.doc() {
                Some(doc) => format!("- `{member}`: {doc}"),
                None => format!("- `{member}`"),
            });
            union = union.possible_type(member);
        }
        let lead = reply.doc().unwrap_or_else(|| "The outcome.".into());
        union = union.description(format!("{lead} Exactly one of:\n{}", cases.join("\n")));
        self.unions.push(union);
        Ok(name)
    }

    /// Registers the enum `descriptor` and returns its name.
    fn enumeration(&mut self, descriptor: &EnumDescriptor) -> Result<String, SchemaBuildError> {
        let name = descriptor.name().to_string();
        if self.names.get(&name).map(String::as_str) == Some(descriptor.full_name()) {
            return Ok(name);
        }
        self.claim(&name, descriptor.full_name())?;
        let items = descriptor.values().map(|value| {
            let item = EnumItem::new(values::enum_value_name(&value));
            described(item, value.doc(), EnumItem::description)
        });
        let enumeration = Enum::new(&name).items(items);
        self.enums
            .push(described(enumeration, descriptor.doc(), Enum::description));
        Ok(name)
    }

    /// The argument (or input object field) for request field `field`, described by its
    /// comment.
    pub fn input_value(&mut self, field: &FieldDescriptor) -> Result<InputValue, SchemaBuildError> {
        let value = InputValue::new(values::graphql_name(field), self.input_ref(field)?);
        Ok(described(value, field.doc(), InputValue::description))
    }

    /// The input type reference of request field `field`: required unless it is a list, a
    /// message, or declared `optional` (see the module docs of `schema`).
    fn input_ref(&mut self, field: &FieldDescriptor) -> Result<TypeRef, SchemaBuildError> {
        if field.is_map() {
            return Err(SchemaBuildError::Unsupported(format!(
                "{}: map fields are not supported as GraphQL input",
                field.full_name()
            )));
        }
        let name = match field.kind() {
            Kind::String if values::is_id(field) => TypeRef::ID.to_string(),
            Kind::Message(message) if message.full_name() == TIMESTAMP => DATE_TIME.to_string(),
            Kind::Message(message) => self.input_object(&message)?,
            Kind::Enum(descriptor) => self.enumeration(&descriptor)?,
            scalar => scalar_name(&scalar, field.full_name())?.to_string(),
        };
        Ok(if field.is_list() {
            TypeRef::named_nn_list(name)
        } else if field.supports_presence() {
            TypeRef::named(name)
        } else {
            TypeRef::named_nn(name)
        })
    }

    /// Registers `<Message>Input` and returns its name.
    fn input_object(&mut self, message: &MessageDescriptor) -> Result<String, SchemaBuildError> {
        let name = format!("{}Input", message.name());
        if !self.inputs_started.insert(message.full_name().to_string()) {
            return Ok(name);
        }
        self.claim(&name, message.full_name())?;
        let mut input = described(
            InputObject::new(&name),
            message.doc(),
            InputObject::description,
        );
        for field in message.fields() {
            input = input.field(self.input_value(&field)?);
        }
        self.inputs.push(input);
        Ok(name)
    }
}

impl Registry {
    /// Registers `<Node>Connection` and `<Node>Edge` for a paged list of `node`s (and
    /// `PageInfo`, once) and returns the connection's name. A node's cursor is its `id`:
    /// the paging contract continues a list after the item whose id it is given.
    pub fn connection(&mut self, node: &MessageDescriptor) -> Result<String, SchemaBuildError> {
        let node_name = self.object(node)?;
        let name = format!("{node_name}Connection");
        let edge = format!("{node_name}Edge");
        if self.names.get(&name).map(String::as_str) == Some(node.full_name()) {
            return Ok(name);
        }
        self.claim(&name, node.full_name())?;
        self.claim(&edge, node.full_name())?;
        self.claim(PAGE_INFO, "the cursor connection convention's PageInfo")?;
        if !self.page_info_registered {
            self.page_info_registered = true;
            self.objects.push(page_info());
        }
        let edges = Field::new("edges", TypeRef::named_nn_list_nn(&edge), |ctx| {
            let edges = ctx
                .parent_value
                .try_downcast_ref::<Connection>()
                .map(|c| FieldValue::list(c.edges.iter().map(|e| FieldValue::borrowed_any(e))));
            FieldFuture::Value(edges.ok())
        })
        .description("One edge per item of this page, in order.");
        let nodes = Field::new("nodes", TypeRef::named_nn_list_nn(&node_name), |ctx| {
            let nodes = ctx.parent_value.try_downcast_ref::<Connection>().map(|c| {
                FieldValue::list(c.edges.iter().map(|e| FieldValue::borrowed_any(&e.node)))
            });
            FieldFuture::Value(nodes.ok())
        })
        .description("The items of this page, in order (the edges' nodes, without cursors).");
        let page = Field::new("pageInfo", TypeRef::named_nn(PAGE_INFO), |ctx| {
            let connection = ctx.parent_value.try_downcast_ref::<Connection>();
            FieldFuture::Value(connection.ok().map(|c| FieldValue::borrowed_any(c)))
        })
        .description("Where this page stands in the list.");
        self.objects.push(
            Object::new(&name)
                .description(format!("A page of `{node_name}` items, ordered by id."))
                .field(edges)
                .field(nodes)
                .field(page),
        );
        let edge_node = Field::new("node", TypeRef::named_nn(&node_name), |ctx| {
            let node = ctx
                .parent_value
                .try_downcast_ref::<Edge>()
                .map(|e| FieldValue::borrowed_any(&e.node));
            FieldFuture::Value(node.ok())
        })
        .description("The item.");
        let cursor = Field::new("cursor", TypeRef::named_nn(TypeRef::STRING), |ctx| {
            let cursor = ctx
                .parent_value
                .try_downcast_ref::<Edge>()
                .map(|e| FieldValue::value(e.cursor.clone()));
            FieldFuture::Value(cursor.ok())
        })
        .description("Pass as `after` for the items that follow this one.");
        self.objects.push(
            Object::new(&edge)
                .description(format!("A `{node_name}` in a connection, with its cursor."))
                .field(edge_node)
                .field(cursor),
        );
        Ok(name)
    }
}

/// One page of a paged list, as a connection field resolves it.
pub struct Connection {
    /// The page's items with their cursors.
    pub edges: Vec<Edge>,
    /// Whether more items follow the last one.
    pub has_next_page: bool,
}

/// An item of a [`Connection`].
pub struct Edge {
    /// The item.
    pub node: DynamicMessage,
    /// Its cursor: its id.
    pub cursor: String,
}

/// `PageInfo`, read from the [`Connection`] it belongs to.
fn page_info() -> Object {
    fn read<T>(
        ctx: &async_graphql::dynamic::ResolverContext<'_>,
        f: impl Fn(&Connection) -> T,
    ) -> Option<T> {
        ctx.parent_value
            .try_downcast_ref::<Connection>()
            .ok()
            .map(f)
    }
    let flag = |name: &str, description: &str, f: fn(&Connection) -> bool| {
        Field::new(name, TypeRef::named_nn(TypeRef::BOOLEAN), move |ctx| {
            FieldFuture::Value(read(&ctx, f).map(FieldValue::value))
        })
        .description(description)
    };
    let cursor = |name: &str, description: &str, f: fn(&Connection) -> Option<&Edge>| {
        Field::new(name, TypeRef::named(TypeRef::STRING), move |ctx| {
            let cursor = read(&ctx, |c| f(c).map(|e| FieldValue::value(e.cursor.clone())));
            FieldFuture::Value(cursor.flatten())
        })
        .description(description)
    };
    Object::new(PAGE_INFO)
        .description("Where a page stands in its list (the cursor connection convention).")
        .field(flag(
            "hasNextPage",
            "Whether more items follow this page: ask again with `after: endCursor`.",
            |c| c.has_next_page,
        ))
        .field(flag(
            "hasPreviousPage",
            "Always false: lists are paged forwards only.",
            |_| false,
        ))
        .field(cursor(
            "startCursor",
            "The first item's cursor; null on an empty page.",
            |c| c.edges.first(),
        ))
        .field(cursor(
            "endCursor",
            "The last item's cursor; null on an empty page.",
            |c| c.edges.last(),
        ))
}

/// `target` with `doc` as its description, when there is one.
fn described<T>(target: T, doc: Option<String>, describe: fn(T, String) -> T) -> T {
    match doc {
        Some(doc) => describe(target, doc),
        None => target,
    }
}

/// The GraphQL scalar of a scalar proto kind.
fn scalar_name(kind: &Kind, field: &str) -> Result<&'static str, SchemaBuildError> {
    Ok(match kind {
        Kind::String => TypeRef::STRING,
        Kind::Bool => TypeRef::BOOLEAN,
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 | Kind::Uint32 | Kind::Fixed32 => TypeRef::INT,
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => INT64,
        Kind::Uint64 | Kind::Fixed64 => UINT64,
        Kind::Float | Kind::Double => TypeRef::FLOAT,
        Kind::Bytes => BASE64,
        Kind::Message(_) | Kind::Enum(_) => {
            return Err(SchemaBuildError::Unsupported(format!(
                "{field}: not a scalar"
            )));
        }
    })
}
