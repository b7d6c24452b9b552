//! What the proto files say beyond types, read from descriptors: the
//! `(switchboard.v1.rpc)` option (retry policy, public, GraphQL exposure), whether a
//! reply is only a `oneof outcome`, which messages are events and which events a service
//! consumes. One reader, shared by the code generator (`build.rs`
//! includes this file) and by run-time users of the descriptors (the gateway), so both
//! always read a contract the same way.

use prost_reflect::{
    DescriptorPool, DynamicMessage, Kind, MessageDescriptor, MethodDescriptor, OneofDescriptor,
    ServiceDescriptor,
};

/// The full name of the rpc option.
pub const RPC_OPTION: &str = "switchboard.v1.rpc";
/// The full name of the event option.
pub const EVENT_OPTION: &str = "switchboard.v1.event";
/// The full name of the service option listing consumed events.
pub const CONSUMES_OPTION: &str = "switchboard.v1.consumes";
/// The name of the oneof that holds a reply's domain outcome.
pub const OUTCOME_ONEOF: &str = "outcome";

/// The flags an rpc's option sets; each defaults to false.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RpcFlags {
    /// Safe to send again after a failure that may have reached the service.
    pub retryable: bool,
    /// Callable without a bearer token.
    pub public: bool,
}

/// The `(switchboard.v1.rpc)` option of `method` in `pool`, when it has one.
pub fn rpc_option(pool: &DescriptorPool, method: &MethodDescriptor) -> Option<DynamicMessage> {
    let extension = pool.get_extension_by_name(RPC_OPTION)?;
    let options = method.options();
    if !options.has_extension(&extension) {
        return None;
    }
    options.get_extension(&extension).as_message().cloned()
}

/// The flags of `method` (all false without the option).
pub fn rpc_flags(pool: &DescriptorPool, method: &MethodDescriptor) -> RpcFlags {
    let Some(option) = rpc_option(pool, method) else {
        return RpcFlags::default();
    };
    let flag = |name: &str| {
        option
            .get_field_by_name(name)
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    };
    RpcFlags {
        retryable: flag("retryable"),
        public: flag("public"),
    }
}

/// The `oneof outcome` of reply type `message`, when the reply holds nothing else: such a
/// reply is unwrapped into its outcome enum by generated code and becomes a GraphQL union.
pub fn outcome_oneof(message: &MessageDescriptor) -> Option<OneofDescriptor> {
    let oneof = message.oneofs().find(|o| o.name() == OUTCOME_ONEOF)?;
    let only_outcome = message.fields().all(|f| {
        f.containing_oneof()
            .is_some_and(|o| o.name() == oneof.name())
    });
    only_outcome.then_some(oneof)
}

/// What `(switchboard.v1.event)` says of an event message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSpec {
    /// The string field naming the event's aggregate, when one is declared.
    pub key: Option<String>,
    /// The GraphQL subscription field exposing the event, when one is declared.
    pub subscription: Option<String>,
    /// The string field naming the user the event belongs to, when one is declared.
    pub owner: Option<String>,
    /// String fields subscribers may filter on (besides the owner).
    pub filters: Vec<String>,
}

/// The event option of `message`, when it is an event.
///
/// # Errors
/// When the declared key is not a singular string field of the message.
pub fn event_spec(
    pool: &DescriptorPool,
    message: &MessageDescriptor,
) -> Result<Option<EventSpec>, String> {
    let Some(extension) = pool.get_extension_by_name(EVENT_OPTION) else {
        return Ok(None);
    };
    let options = message.options();
    if !options.has_extension(&extension) {
        return Ok(None);
    }
    let option = options.get_extension(&extension);
    let option = option.as_message();
    let text = |name: &str| {
        option
            .and_then(|o| o.get_field_by_name(name))
            .and_then(|v| v.as_str().map(str::to_owned))
            .filter(|k| !k.is_empty())
    };
    let filters: Vec<String> = option
        .and_then(|o| o.get_field_by_name("filters"))
        .and_then(|v| {
            v.as_list().map(|l| {
                l.iter()
                    .filter_map(|f| f.as_str().map(str::to_owned))
                    .collect()
            })
        })
        .unwrap_or_default();
    let spec = EventSpec {
        key: text("key"),
        subscription: text("subscription"),
        owner: text("owner"),
        filters,
    };
    let named = spec.key.iter().map(|f| ("key", f));
    let named = named
        .chain(spec.owner.iter().map(|f| ("owner", f)))
        .chain(spec.filters.iter().map(|f| ("filter", f)));
    for (what, name) in named {
        let field = message.get_field_by_name(name);
        if !field.is_some_and(|f| f.kind() == Kind::String && !f.is_list() && !f.is_map()) {
            return Err(format!(
                "{}: the event {what} `{name}` must be a string field of the message",
                message.full_name()
            ));
        }
    }
    Ok(Some(spec))
}

/// One `(switchboard.v1.consumes)` entry of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerSpec {
    /// The event message.
    pub event: MessageDescriptor,
    /// The handler's proto name (UpperCamelCase).
    pub handler: String,
}

/// The events `service` consumes, in declaration order.
///
/// # Errors
/// When an entry names a message that is not an event, or has no handler name.
pub fn consumers(
    pool: &DescriptorPool,
    service: &ServiceDescriptor,
) -> Result<Vec<ConsumerSpec>, String> {
    let Some(extension) = pool.get_extension_by_name(CONSUMES_OPTION) else {
        return Ok(Vec::new());
    };
    let options = service.options();
    if !options.has_extension(&extension) {
        return Ok(Vec::new());
    }
    let value = options.get_extension(&extension);
    let Some(entries) = value.as_list() else {
        return Ok(Vec::new());
    };
    entries
        .iter()
        .map(|entry| {
            let text = |name: &str| {
                entry
                    .as_message()
                    .and_then(|m| m.get_field_by_name(name))
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            };
            let (event, handler) = (text("event"), text("handler"));
            let message = pool.get_message_by_name(&event).ok_or_else(|| {
                format!(
                    "{}: consumes unknown message `{event}`",
                    service.full_name()
                )
            })?;
            if event_spec(pool, &message)?.is_none() {
                return Err(format!(
                    "{}: consumes `{event}`, which is not marked `(switchboard.v1.event)`",
                    service.full_name()
                ));
            }
            let valid = handler
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_uppercase())
                && handler.chars().all(|c| c.is_ascii_alphanumeric());
            if !valid {
                return Err(format!(
                    "{}: the handler of `{event}` must be an UpperCamelCase name, not `{handler}`",
                    service.full_name()
                ));
            }
            Ok(ConsumerSpec {
                event: message,
                handler,
            })
        })
        .collect()
}
