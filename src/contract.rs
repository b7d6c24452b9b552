//! What the proto files say beyond types, read from descriptors: the
//! `(switchboard.v1.rpc)` option (retry policy, public, GraphQL exposure) and whether a
//! reply is only a `oneof outcome`. One reader, shared by the code generator (`build.rs`
//! includes this file) and by run-time users of the descriptors (the gateway), so both
//! always read a contract the same way.

use prost_reflect::{
    DescriptorPool, DynamicMessage, MessageDescriptor, MethodDescriptor, OneofDescriptor,
};

/// The full name of the rpc option.
pub const RPC_OPTION: &str = "switchboard.v1.rpc";
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
