//! Conversions between GraphQL values and protobuf messages (through `prost-reflect`).
//!
//! The type mapping (also written in ARCHITECTURE.md):
//! `string` → `String`; `bool` → `Boolean`; 32-bit integers → `Int` (unsigned ones refuse
//! negative input); 64-bit integers → `Int64`/`UInt64`, decimal strings, because GraphQL's
//! `Int` is 32-bit; `float`/`double` → `Float`; `bytes` → `Base64`;
//! `google.protobuf.Timestamp` → `DateTime` (RFC 3339); enums → enums; `repeated` → lists;
//! messages → objects (outputs) and `<Message>Input` (inputs).

use std::borrow::Cow;

use async_graphql::dynamic::FieldValue;
use async_graphql::{Name, Value as GqlValue};
use base64::Engine;
use heck::{ToLowerCamelCase, ToShoutySnakeCase};
use prost_reflect::{
    DynamicMessage, EnumValueDescriptor, FieldDescriptor, Kind, MessageDescriptor, Value as PbValue,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The proto name of the type that becomes `DateTime`.
pub const TIMESTAMP: &str = "google.protobuf.Timestamp";

/// The GraphQL name of a proto field.
pub fn graphql_name(field: &FieldDescriptor) -> String {
    field.name().to_lower_camel_case()
}

/// Whether `field` is an identifier, typed `ID` in GraphQL: a string field named `id`, or
/// ending in `_id` (`owner_id`), or a repeated one ending in `_ids`.
pub fn is_id(field: &FieldDescriptor) -> bool {
    let name = field.name();
    matches!(field.kind(), Kind::String)
        && (name == "id" || name.ends_with("_id") || (field.is_list() && name.ends_with("_ids")))
}

/// The GraphQL name of an enum value: the proto name without the prefix the protobuf style
/// guide gives every value of an enum (`BOOKING_STATUS_PENDING` of `BookingStatus` →
/// `PENDING`). The prefix is dropped only when every value of the enum has it and what
/// remains is a name, so two values never take one GraphQL name.
pub fn enum_value_name(value: &EnumValueDescriptor) -> String {
    let prefix = format!("{}_", value.parent_enum().name().to_shouty_snake_case());
    let strippable = |name: &str| {
        name.strip_prefix(&prefix)
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_alphabetic()))
    };
    let all_prefixed = value.parent_enum().values().all(|v| strippable(v.name()));
    match value.name().strip_prefix(&prefix) {
        Some(rest) if all_prefixed => rest.to_string(),
        _ => value.name().to_string(),
    }
}

/// A request field's value is not acceptable; the message names the argument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// The deepest nesting of input objects converted. The gateway's limits refuse deeper
/// text and variables long before (`GATEWAY_MAX_NESTING`); this bound keeps the
/// conversion safe on its own, since a proto message may contain itself.
pub const MAX_INPUT_NESTING: usize = 128;

/// Builds a message of type `descriptor` from GraphQL input fields (arguments or an input
/// object), leaving absent fields at their proto defaults.
pub fn message_from_input<'a>(
    descriptor: &MessageDescriptor,
    get: impl FnMut(&str) -> Option<&'a GqlValue>,
) -> Result<DynamicMessage, InputError> {
    message_at(descriptor, get, 0)
}

/// [`message_from_input`] for a message `nesting` input objects down.
fn message_at<'a>(
    descriptor: &MessageDescriptor,
    mut get: impl FnMut(&str) -> Option<&'a GqlValue>,
    nesting: usize,
) -> Result<DynamicMessage, InputError> {
    if nesting > MAX_INPUT_NESTING {
        return Err(InputError(format!(
            "input objects nest more than {MAX_INPUT_NESTING} levels deep"
        )));
    }
    let mut message = DynamicMessage::new(descriptor.clone());
    for field in descriptor.fields() {
        let name = graphql_name(&field);
        let Some(value) = get(&name) else { continue };
        if matches!(value, GqlValue::Null) {
            continue;
        }
        let converted = if field.is_list() {
            let GqlValue::List(items) = value else {
                return Err(InputError(format!("{name}: expected a list")));
            };
            let items = items
                .iter()
                .map(|item| single_input(&field.kind(), item, &name, nesting))
                .collect::<Result<Vec<_>, _>>()?;
            PbValue::List(items)
        } else {
            single_input(&field.kind(), value, &name, nesting)?
        };
        message.set_field(&field, converted);
    }
    Ok(message)
}

fn single_input(
    kind: &Kind,
    value: &GqlValue,
    name: &str,
    nesting: usize,
) -> Result<PbValue, InputError> {
    let wrong = |expected: &str| InputError(format!("{name}: expected {expected}"));
    Ok(match kind {
        Kind::String => match value {
            GqlValue::String(s) => PbValue::String(s.clone()),
            // An `ID` may be written as an integer literal; validation lets numbers
            // through only for `ID`s.
            GqlValue::Number(n) => PbValue::String(n.to_string()),
            _ => return Err(wrong("a string")),
        },
        Kind::Bool => match value {
            GqlValue::Boolean(b) => PbValue::Bool(*b),
            _ => return Err(wrong("a boolean")),
        },
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            let n = integer(value).ok_or_else(|| wrong("an integer"))?;
            PbValue::I32(i32::try_from(n).map_err(|_| wrong("a 32-bit integer"))?)
        }
        Kind::Uint32 | Kind::Fixed32 => {
            let n = integer(value).ok_or_else(|| wrong("an integer"))?;
            PbValue::U32(u32::try_from(n).map_err(|_| wrong("a non-negative 32-bit integer"))?)
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            let n = integer(value).ok_or_else(|| wrong("an Int64 (a decimal string)"))?;
            PbValue::I64(i64::try_from(n).map_err(|_| wrong("a 64-bit integer"))?)
        }
        Kind::Uint64 | Kind::Fixed64 => {
            let n = integer(value).ok_or_else(|| wrong("a UInt64 (a decimal string)"))?;
            PbValue::U64(u64::try_from(n).map_err(|_| wrong("a non-negative 64-bit integer"))?)
        }
        Kind::Float | Kind::Double => {
            let GqlValue::Number(n) = value else {
                return Err(wrong("a number"));
            };
            let f = n.as_f64().ok_or_else(|| wrong("a number"))?;
            if matches!(kind, Kind::Float) {
                PbValue::F32(f as f32)
            } else {
                PbValue::F64(f)
            }
        }
        Kind::Bytes => match value {
            GqlValue::String(s) => PbValue::Bytes(
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(|_| wrong("base64"))?
                    .into(),
            ),
            _ => return Err(wrong("a base64 string")),
        },
        Kind::Enum(descriptor) => {
            let GqlValue::Enum(item) = value else {
                return Err(wrong("an enum value"));
            };
            let number = descriptor
                .values()
                .find(|v| enum_value_name(v) == item.as_str())
                .ok_or_else(|| wrong("a known enum value"))?
                .number();
            PbValue::EnumNumber(number)
        }
        Kind::Message(descriptor) if descriptor.full_name() == TIMESTAMP => {
            let GqlValue::String(text) = value else {
                return Err(wrong("a DateTime (RFC 3339)"));
            };
            let at = OffsetDateTime::parse(text, &Rfc3339)
                .map_err(|_| wrong("a DateTime (RFC 3339)"))?;
            let mut timestamp = DynamicMessage::new(descriptor.clone());
            timestamp.set_field_by_name("seconds", PbValue::I64(at.unix_timestamp()));
            timestamp.set_field_by_name(
                "nanos",
                PbValue::I32(i32::try_from(at.nanosecond()).unwrap_or(0)),
            );
            PbValue::Message(timestamp)
        }
        Kind::Message(descriptor) => {
            let GqlValue::Object(fields) = value else {
                return Err(wrong("an input object"));
            };
            let nested = message_at(descriptor, |key| fields.get(key), nesting + 1)
                .map_err(|e| InputError(format!("{name}.{}", e.0)))?;
            PbValue::Message(nested)
        }
    })
}

/// An integer from a GraphQL number or a decimal string (how 64-bit values travel).
fn integer(value: &GqlValue) -> Option<i128> {
    match value {
        GqlValue::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        GqlValue::String(s) => s.trim().parse::<i128>().ok(),
        _ => None,
    }
}

/// The GraphQL value of `field` in `parent`: `None` (null) for unset fields with presence.
/// Nested messages are lent, not cloned: their resolvers read them where they lie.
pub fn field_output<'a>(
    parent: &'a DynamicMessage,
    field: &FieldDescriptor,
) -> Option<FieldValue<'a>> {
    if field.is_map() || (field.supports_presence() && !parent.has_field(field)) {
        // Maps are refused when the schema is built; nothing reaches here.
        return None;
    }
    match parent.get_field(field) {
        Cow::Borrowed(value) => borrowed_output(&field.kind(), value),
        Cow::Owned(value) => owned_output(&field.kind(), value),
    }
}

/// The GraphQL value of a protobuf value (or list of them) of `kind`, lending messages.
pub fn borrowed_output<'a>(kind: &Kind, value: &'a PbValue) -> Option<FieldValue<'a>> {
    match value {
        PbValue::List(items) => {
            Some(FieldValue::list(items.iter().map(|item| {
                borrowed_output(kind, item).unwrap_or(FieldValue::NULL)
            })))
        }
        PbValue::Message(message) if !is_timestamp(kind) => Some(FieldValue::borrowed_any(message)),
        other => plain_output(kind, other),
    }
}

/// The GraphQL value of a protobuf value (or list of them) of `kind`, taking it.
pub fn owned_output(kind: &Kind, value: PbValue) -> Option<FieldValue<'static>> {
    match value {
        PbValue::List(items) => {
            Some(FieldValue::list(items.into_iter().map(|item| {
                owned_output(kind, item).unwrap_or(FieldValue::NULL)
            })))
        }
        PbValue::Message(message) if !is_timestamp(kind) => Some(FieldValue::owned_any(message)),
        other => plain_output(kind, &other),
    }
}

fn is_timestamp(kind: &Kind) -> bool {
    matches!(kind, Kind::Message(descriptor) if descriptor.full_name() == TIMESTAMP)
}

/// The GraphQL value of a scalar, enum or timestamp.
fn plain_output(kind: &Kind, value: &PbValue) -> Option<FieldValue<'static>> {
    let plain = |v: GqlValue| Some(FieldValue::value(v));
    match (kind, value) {
        (_, PbValue::Message(message)) => {
            timestamp_output(message).map(|text| FieldValue::value(GqlValue::String(text)))
        }
        (Kind::Enum(descriptor), PbValue::EnumNumber(number)) => descriptor
            .get_value(*number)
            .and_then(|v| plain(GqlValue::Enum(Name::new(enum_value_name(&v))))),
        (_, PbValue::Bool(b)) => plain(GqlValue::Boolean(*b)),
        (_, PbValue::I32(n)) => plain(GqlValue::from(*n)),
        (_, PbValue::U32(n)) => plain(GqlValue::from(*n)),
        (_, PbValue::I64(n)) => plain(GqlValue::String(n.to_string())),
        (_, PbValue::U64(n)) => plain(GqlValue::String(n.to_string())),
        (_, PbValue::F32(n)) => plain(GqlValue::from(f64::from(*n))),
        (_, PbValue::F64(n)) => plain(GqlValue::from(*n)),
        (_, PbValue::String(s)) => plain(GqlValue::String(s.clone())),
        (_, PbValue::Bytes(b)) => plain(GqlValue::String(
            base64::engine::general_purpose::STANDARD.encode(b),
        )),
        _ => None,
    }
}

/// RFC 3339 text of a `google.protobuf.Timestamp`.
fn timestamp_output(message: &DynamicMessage) -> Option<String> {
    let seconds = message.get_field_by_name("seconds")?.as_i64()?;
    let nanos = message.get_field_by_name("nanos")?.as_i32()?;
    let at = OffsetDateTime::from_unix_timestamp(seconds).ok()?
        + time::Duration::nanoseconds(i64::from(nanos));
    at.format(&Rfc3339).ok()
}

/// The string form of a key field's value (relations key on ids, usually strings).
pub fn key_string(value: &PbValue) -> Option<String> {
    match value {
        PbValue::String(s) => Some(s.clone()),
        PbValue::I32(n) => Some(n.to_string()),
        PbValue::I64(n) => Some(n.to_string()),
        PbValue::U32(n) => Some(n.to_string()),
        PbValue::U64(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use prost_reflect::DescriptorPool;
    use prost_reflect::prost_types::field_descriptor_proto::{Label, Type};
    use prost_reflect::prost_types::{
        DescriptorProto, FieldDescriptorProto, FileDescriptorProto, FileDescriptorSet,
    };

    use super::*;

    /// `message Node { Node child = 1; }`: a message that contains itself.
    fn node() -> MessageDescriptor {
        let file = FileDescriptorProto {
            name: Some("node.proto".into()),
            package: Some("test".into()),
            syntax: Some("proto3".into()),
            message_type: vec![DescriptorProto {
                name: Some("Node".into()),
                field: vec![FieldDescriptorProto {
                    name: Some("child".into()),
                    number: Some(1),
                    label: Some(Label::Optional as i32),
                    r#type: Some(Type::Message as i32),
                    type_name: Some(".test.Node".into()),
                    json_name: Some("child".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        DescriptorPool::from_file_descriptor_set(FileDescriptorSet { file: vec![file] })
            .expect("a pool")
            .get_message_by_name("test.Node")
            .expect("Node")
    }

    fn nested(levels: usize) -> GqlValue {
        let mut value = GqlValue::Object(Default::default());
        for _ in 0..levels {
            let mut fields = async_graphql::indexmap::IndexMap::new();
            fields.insert(Name::new("child"), value);
            value = GqlValue::Object(fields);
        }
        value
    }

    #[test]
    fn input_objects_nest_only_so_deep() {
        let descriptor = node();
        let convert = |value: &GqlValue| {
            let GqlValue::Object(fields) = value else {
                unreachable!("built as an object")
            };
            message_from_input(&descriptor, |key| fields.get(key))
        };

        assert!(convert(&nested(MAX_INPUT_NESTING)).is_ok());
        let refused = convert(&nested(MAX_INPUT_NESTING + 2)).expect_err("too deep");
        assert!(refused.0.contains("nest more than"), "{refused}");
    }
}
