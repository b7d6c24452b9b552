//! Relations: fields a message gains from another service's batch rpc, declared with
//! `option (switchboard.v1.relation)` in the proto. Within one GraphQL request every
//! parent's key goes into one DataLoader per relation, which sends one batch request per
//! tick (at most [`MAX_BATCH`] keys), so 50 todos with their owners cost one users request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::dynamic::{Field, FieldFuture, FieldValue, TypeRef};
use bytes::Bytes;
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor,
    Value as PbValue,
};
use switchboard::Rpc;
use switchboard::telemetry::propagation;
use tracing::Instrument as _;

use super::routes::rpc_of;
use super::values;
use super::{SchemaBuildError, docs};
use crate::dispatch::{self, RequestScope};

/// The proto option declaring relations.
const RELATION_OPTION: &str = "switchboard.v1.relation";
/// Most keys one batch request carries (the batch rpcs accept up to 1000).
pub const MAX_BATCH: usize = 1000;
/// How long a loader waits to collect keys before sending the batch.
const BATCH_DELAY: Duration = Duration::from_millis(1);

/// One relation, resolved against the descriptors.
pub struct RelationSpec {
    /// Position in the schema's relation list; the index of its loader.
    pub id: usize,
    /// The GraphQL field name.
    pub field: String,
    /// The batch rpc.
    pub rpc: Rpc,
    /// Its descriptor.
    pub method: MethodDescriptor,
    /// The key field of the parent message.
    pub key: FieldDescriptor,
    /// The request field taking the keys.
    pub request_keys: FieldDescriptor,
    /// The reply field listing the items.
    pub reply_items: FieldDescriptor,
    /// The item field holding the key.
    pub item_key: FieldDescriptor,
    /// The item field exposed; `None` exposes the item.
    pub item_value: Option<FieldDescriptor>,
    /// The comment above the relation option, the field's description.
    pub doc: Option<String>,
}

impl RelationSpec {
    /// This relation at position `id`.
    pub fn with_id(self, id: usize) -> Self {
        Self { id, ..self }
    }

    /// The proto kind of the exposed value.
    pub fn value_kind(&self) -> Kind {
        match &self.item_value {
            Some(field) => field.kind(),
            None => Kind::Message(self.item_key.parent_message().clone()),
        }
    }

    /// Whether the exposed value is a list.
    pub fn value_is_list(&self) -> bool {
        self.item_value
            .as_ref()
            .is_some_and(FieldDescriptor::is_list)
    }
}

/// The relations declared on `message`.
pub fn of_message(
    pool: &DescriptorPool,
    message: &MessageDescriptor,
) -> Result<Vec<RelationSpec>, SchemaBuildError> {
    let Some(extension) = pool.get_extension_by_name(RELATION_OPTION) else {
        return Ok(Vec::new());
    };
    let options = message.options();
    if !options.has_extension(&extension) {
        return Ok(Vec::new());
    }
    let declared = options.get_extension(&extension);
    let Some(list) = declared.as_list() else {
        return Ok(Vec::new());
    };
    list.iter()
        .filter_map(PbValue::as_message)
        .enumerate()
        .map(|(index, relation)| {
            let doc = docs::message_option(message, extension.number(), index);
            resolve(pool, message, relation).map(|spec| RelationSpec { doc, ..spec })
        })
        .collect()
}

fn resolve(
    pool: &DescriptorPool,
    parent: &MessageDescriptor,
    relation: &DynamicMessage,
) -> Result<RelationSpec, SchemaBuildError> {
    let text = |name: &str| {
        relation
            .get_field_by_name(name)
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let invalid = |why: String| SchemaBuildError::InvalidRelation {
        message: parent.full_name().to_string(),
        field: text("field"),
        why,
    };
    let rpc_name = text("rpc");
    let (service_name, method_name) = rpc_name
        .rsplit_once('.')
        .ok_or_else(|| invalid(format!("rpc {rpc_name:?} is not <package>.<Service>.<Rpc>")))?;
    let method = pool
        .get_service_by_name(service_name)
        .and_then(|s| s.methods().find(|m| m.name() == method_name))
        .ok_or_else(|| invalid(format!("rpc {rpc_name:?} is not in the contracts")))?;
    let field_of = |message: &MessageDescriptor, option: &str| {
        let name = text(option);
        message.get_field_by_name(&name).ok_or_else(|| {
            invalid(format!(
                "{option}: {} has no field {name:?}",
                message.full_name()
            ))
        })
    };
    let key = field_of(parent, "key")?;
    let request_keys = field_of(&method.input(), "request_keys")?;
    let reply_items = field_of(&method.output(), "reply_items")?;
    if !request_keys.is_list() || !reply_items.is_list() {
        return Err(invalid(
            "request_keys and reply_items must be repeated fields".into(),
        ));
    }
    let Kind::Message(item) = reply_items.kind() else {
        return Err(invalid("reply_items must be a repeated message".into()));
    };
    let item_key = field_of(&item, "item_key")?;
    let item_value = match text("item_value") {
        value if value.is_empty() => None,
        _ => Some(field_of(&item, "item_value")?),
    };
    Ok(RelationSpec {
        id: 0,
        field: text("field"),
        rpc: rpc_of(&method)?,
        method,
        key,
        request_keys,
        reply_items,
        item_key,
        item_value,
        doc: None,
    })
}

/// The GraphQL field resolving `spec` through the request's loader.
pub fn field(spec: Arc<RelationSpec>, type_ref: TypeRef) -> Field {
    let description = spec
        .doc
        .clone()
        .unwrap_or_else(|| format!("Resolved through `{}`.", spec.method.full_name()));
    Field::new(spec.field.clone(), type_ref, move |ctx| {
        let spec = spec.clone();
        FieldFuture::new(async move {
            let parent = ctx.parent_value.try_downcast_ref::<DynamicMessage>()?;
            let Some(key) = values::key_string(&parent.get_field(&spec.key)) else {
                return Ok(None);
            };
            let loaders = ctx.data::<Loaders>()?;
            let loader = loaders.0.get(spec.id).ok_or_else(|| {
                async_graphql::Error::new("internal error: no loader for a relation")
            })?;
            // The field's span; the batch that loads its key links to it.
            let span = tracing::info_span!(
                "graphql.field",
                "otel.name" = format!("resolve {}", spec.field),
                "otel.kind" = "internal",
                "graphql.field.name" = spec.field.as_str(),
            );
            loader.loader().waiting(&span);
            let value = loader.load_one(key).instrument(span).await?;
            Ok(match (value, spec.value_is_list()) {
                (Some(value), _) => values::owned_output(&spec.value_kind(), value),
                (None, true) => Some(FieldValue::list(Vec::<FieldValue>::new())),
                (None, false) => None,
            })
        })
    })
    .description(description)
}

/// One DataLoader per relation, made for each GraphQL request (so it carries that
/// request's token and deadline).
pub struct Loaders(Vec<DataLoader<RelationLoader>>);

impl Loaders {
    /// Loaders for `relations`, sending with `scope`.
    pub fn new(relations: &[Arc<RelationSpec>], scope: Arc<RequestScope>) -> Self {
        Self(
            relations
                .iter()
                .map(|spec| {
                    DataLoader::new(
                        RelationLoader {
                            spec: spec.clone(),
                            scope: scope.clone(),
                            waiting: Mutex::default(),
                        },
                        tokio::spawn,
                    )
                    .max_batch_size(MAX_BATCH)
                    .delay(BATCH_DELAY)
                })
                .collect(),
        )
    }
}

/// Loads one relation's values for a batch of keys with one rpc.
pub struct RelationLoader {
    spec: Arc<RelationSpec>,
    scope: Arc<RequestScope>,
    /// The spans of the fields waiting for the next batch: the batch's span is a child of
    /// the first and links to them all.
    waiting: Mutex<Vec<tracing::Span>>,
}

impl RelationLoader {
    /// Notes that the field of `span` waits for a batch.
    fn waiting(&self, span: &tracing::Span) {
        if !span.is_none() {
            self.waiting
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(span.clone());
        }
    }

    /// The span of one batch: a child of the first field it serves (the loader runs on a
    /// task of its own, outside the fields' spans), linked to every field it serves.
    fn batch_span(&self, keys: usize) -> tracing::Span {
        let fields = std::mem::take(&mut *self.waiting.lock().unwrap_or_else(|p| p.into_inner()));
        let Some(first) = fields.first() else {
            return tracing::Span::none();
        };
        let span = tracing::info_span!(
            parent: first,
            "graphql.batch",
            "otel.name" = format!("batch {}", self.spec.rpc.subject),
            "otel.kind" = "internal",
            "graphql.batch.keys" = keys,
            "graphql.batch.fields" = fields.len(),
        );
        for field in &fields {
            propagation::link(&span, field);
        }
        span
    }
}

impl Loader<String> for RelationLoader {
    type Value = PbValue;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, PbValue>, Self::Error> {
        let spec = &self.spec;
        let mut request = DynamicMessage::new(spec.method.input());
        request.set_field(
            &spec.request_keys,
            PbValue::List(keys.iter().cloned().map(PbValue::String).collect()),
        );
        let payload = Bytes::from(request.encode_to_vec());
        let reply = dispatch::call(&self.scope, &spec.rpc, payload)
            .instrument(self.batch_span(keys.len()))
            .await?;
        let reply = DynamicMessage::decode(spec.method.output(), reply).map_err(|e| {
            dispatch::internal(format!("{}: undecodable reply: {e}", spec.rpc.subject))
        })?;
        let mut found = HashMap::with_capacity(keys.len());
        if let Some(items) = reply.get_field(&spec.reply_items).as_list() {
            for item in items.iter().filter_map(PbValue::as_message) {
                let Some(key) = values::key_string(&item.get_field(&spec.item_key)) else {
                    continue;
                };
                let value = match &spec.item_value {
                    Some(field) => item.get_field(field).into_owned(),
                    None => PbValue::Message(item.clone()),
                };
                found.insert(key, value);
            }
        }
        Ok(found)
    }
}
