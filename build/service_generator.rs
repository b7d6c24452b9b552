//! The prost-build `ServiceGenerator` that turns every proto `service` into NATS code.
//!
//! For `package users.v1; service Users { rpc Create(..) returns (..); }` it writes, next
//! to the message types prost generates:
//!
//! - `users_rpc`: the service name and one `switchboard::Rpc` constant per rpc (subject,
//!   retry policy), the single place both sides take their wire names from;
//! - `UsersClient`: one async method per rpc (and a `*_with` twin taking `CallOptions`);
//! - `UsersHandler`: the trait a service implements, one async method per rpc;
//! - `users_service(handler)`: the `switchboard::ServiceDefinition` that serves it;
//! - for the package's messages marked `(switchboard.v1.event)`: `users_events`, one
//!   `switchboard::EventType` per event, and `impl switchboard::Event` for each message;
//! - for the events the service consumes (`(switchboard.v1.consumes)`): `UsersConsumer`,
//!   one async method per handler, which `users_service` then also requires.
//!
//! A reply whose only content is a `oneof outcome` is unwrapped: the client returns
//! and the handler produces the outcome enum itself, so callers `match` domain cases.

use std::collections::HashSet;
use std::fmt::Write;

use heck::{ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};
use prost_reflect::DescriptorPool;

/// Marks the server side of generated code (handler traits, service definitions, reply
/// encoders): it exists only with the root crate's `runtime` feature, so a crate that only
/// calls services (the gateway) compiles no server code and cannot reach a store.
const RUNTIME_ONLY: &str = "#[cfg(feature = \"runtime\")]";

/// Generates typed NATS clients, handler traits and service definitions.
pub struct NatsServiceGenerator {
    /// Every compiled file, used to read custom options that `prost_types` drops.
    pool: DescriptorPool,
    /// Packages already given a service: one service per package keeps one name per service.
    packages: HashSet<String>,
    /// Packages generated elsewhere and the Rust path of their module
    /// (`users.v1` → `::switchboard::proto::users::v1`), for consumed events' types.
    externs: Vec<(String, String)>,
}

/// An event message of the package being generated.
struct EventPlan {
    /// Rust name of the message (`UserDeleted`).
    rust: String,
    /// Name of its `EventType` constant (`USER_DELETED`).
    constant: String,
    /// Full proto name (`users.v1.UserDeleted`).
    full_name: String,
    /// `events.users.user_deleted`.
    subject: String,
    /// Snake-case Rust name of the key field, when the event declares one.
    key: Option<String>,
}

/// An event the service consumes.
struct ConsumerPlan {
    /// Method of the consumer trait (`delete_owned_todos`).
    method: String,
    /// Name of its `EventConsumer` constant (`DELETE_OWNED_TODOS`).
    constant: String,
    /// The handler's proto name (`DeleteOwnedTodos`).
    handler: String,
    /// Rust path of the event message, from the generated module.
    event_type: String,
    /// Rust path of the event's `EventType` constant.
    event_constant: String,
    /// The event's full proto name.
    event_name: String,
}

/// What the generator knows about one rpc.
struct RpcPlan {
    /// Rust method name, snake case (`list_by_owner`).
    method: String,
    /// Name of its `Rpc` constant (`LIST_BY_OWNER`).
    constant: String,
    /// The rpc's name in the proto (`ListByOwner`).
    proto_name: String,
    /// Its subject (`todos.v1.list_by_owner`).
    subject: String,
    /// Doc comment lines from the proto.
    docs: Vec<String>,
    /// Rust path of the request message.
    input: String,
    /// Rust path of the reply message.
    output: String,
    /// Rust path of the outcome enum when the reply is just a `oneof outcome`.
    outcome: Option<String>,
    /// Declared safe to retry.
    retryable: bool,
    /// Callable without a token.
    public: bool,
    /// Answers with a stream of `output` messages (`returns (stream X)`).
    streaming: bool,
}

impl NatsServiceGenerator {
    /// A generator reading options from `pool`.
    pub fn new(pool: DescriptorPool) -> Self {
        Self {
            pool,
            packages: HashSet::new(),
            externs: Vec::new(),
        }
    }

    /// Names the Rust module of each package generated elsewhere (see `externs`).
    pub fn with_externs(mut self, externs: Vec<(String, String)>) -> Self {
        self.externs = externs;
        self
    }

    /// The event messages of `package`, in declaration order.
    fn events(&self, package: &str) -> Vec<EventPlan> {
        let service = crate::naming::service_name(package).unwrap_or_default();
        let mut events = Vec::new();
        for message in self.pool.all_messages() {
            if message.package_name() != package {
                continue;
            }
            let spec = crate::contract::event_spec(&self.pool, &message)
                .unwrap_or_else(|error| panic!("{error}"));
            let Some(spec) = spec else { continue };
            assert!(
                message.parent_message().is_none(),
                "{}: an event must be a top-level message",
                message.full_name()
            );
            events.push(EventPlan {
                rust: message.name().to_upper_camel_case(),
                constant: message.name().to_shouty_snake_case(),
                full_name: message.full_name().to_string(),
                subject: crate::naming::event_subject(service, message.name()),
                key: spec.key.map(|k| k.to_snake_case()),
            });
        }
        events
    }

    /// The events `service` consumes.
    fn consumers(&self, service: &prost_build::Service) -> Vec<ConsumerPlan> {
        let full_service = format!("{}.{}", service.package, service.proto_name);
        let descriptor = self
            .pool
            .get_service_by_name(&full_service)
            .unwrap_or_else(|| panic!("{full_service} missing from the pool"));
        let specs = crate::contract::consumers(&self.pool, &descriptor)
            .unwrap_or_else(|error| panic!("{error}"));
        specs
            .into_iter()
            .map(|spec| {
                let package = spec.event.package_name();
                let module = self.module_path(&service.package, package);
                let owner = crate::naming::service_name(package).unwrap_or_else(|| {
                    panic!(
                        "{}: the event's package is not `<service>.v<major>`",
                        spec.event.full_name()
                    )
                });
                ConsumerPlan {
                    method: spec.handler.to_snake_case(),
                    constant: spec.handler.to_shouty_snake_case(),
                    event_type: format!("{module}{}", spec.event.name().to_upper_camel_case()),
                    event_constant: format!(
                        "{module}{owner}_events::{}",
                        spec.event.name().to_shouty_snake_case()
                    ),
                    event_name: spec.event.full_name().to_string(),
                    handler: spec.handler,
                }
            })
            .collect()
    }

    /// The Rust path prefix (ending in `::`) of package `target`'s module, as seen from
    /// the module of package `from`.
    fn module_path(&self, from: &str, target: &str) -> String {
        if from == target {
            return String::new();
        }
        if let Some((_, path)) = self.externs.iter().find(|(package, _)| package == target) {
            return format!("{path}::");
        }
        let up = "super::".repeat(from.split('.').count());
        format!("{up}{}::", target.replace('.', "::"))
    }

    fn plan(&self, service: &prost_build::Service, method: &prost_build::Method) -> RpcPlan {
        assert!(
            !method.client_streaming,
            "{}.{}: client-streaming rpcs are not supported",
            service.proto_name, method.proto_name
        );
        let full_service = format!("{}.{}", service.package, service.proto_name);
        let descriptor = self
            .pool
            .get_service_by_name(&full_service)
            .and_then(|svc| svc.methods().find(|m| m.name() == method.proto_name))
            .unwrap_or_else(|| {
                panic!("{full_service}.{} missing from the pool", method.proto_name)
            });
        let crate::contract::RpcFlags { retryable, public } =
            crate::contract::rpc_flags(&self.pool, &descriptor);
        RpcPlan {
            method: method.name.clone(),
            constant: method.name.to_shouty_snake_case(),
            proto_name: method.proto_name.clone(),
            subject: crate::naming::rpc_subject(&service.package, &method.proto_name),
            docs: method.comments.leading.clone(),
            input: method.input_type.clone(),
            output: method.output_type.clone(),
            // A stream's items are whole messages, never unwrapped.
            outcome: (!method.server_streaming)
                .then(|| self.outcome_enum(&method.output_proto_type, &method.output_type))
                .flatten(),
            retryable,
            public,
            streaming: method.server_streaming,
        }
    }

    /// The Rust path of the reply's outcome enum, when the reply holds nothing else.
    fn outcome_enum(&self, proto_type: &str, rust_type: &str) -> Option<String> {
        let message = self
            .pool
            .get_message_by_name(proto_type.trim_start_matches('.'))?;
        crate::contract::outcome_oneof(&message)?;
        let (prefix, name) = match rust_type.rsplit_once("::") {
            Some((prefix, name)) => (format!("{prefix}::"), name),
            None => (String::new(), rust_type),
        };
        Some(format!("{prefix}{}::Outcome", name.to_snake_case()))
    }
}

impl prost_build::ServiceGenerator for NatsServiceGenerator {
    fn generate(&mut self, service: prost_build::Service, buf: &mut String) {
        let name = crate::naming::service_name(&service.package).unwrap_or_else(|| {
            panic!(
                "package `{}` must be `<service>.v<major>` with a lower-case service name (e.g. `users.v1`)",
                service.package
            )
        });
        assert!(
            self.packages.insert(service.package.clone()),
            "package `{}` declares more than one service; give each service its own package",
            service.package
        );
        let rpcs: Vec<RpcPlan> = service
            .methods
            .iter()
            .map(|m| self.plan(&service, m))
            .collect();
        let names = Names {
            service: name.to_string(),
            rust: service.name.clone(),
            rpc_module: format!("{name}_rpc"),
            docs: service.comments.leading.clone(),
        };
        let events = self.events(&service.package);
        let consumers = self.consumers(&service);
        write_constants(buf, &names, &rpcs, &consumers);
        write_events(buf, &names, &service.package, &events);
        write_client(buf, &names, &rpcs);
        write_handler(buf, &names, &rpcs);
        write_consumer(buf, &names, &consumers);
        write_service(buf, &names, &rpcs, !events.is_empty(), &consumers);
        write_reply_encoders(buf, &rpcs);
    }
}

/// The names one service's generated items use.
struct Names {
    /// NATS service name and queue group (`users`).
    service: String,
    /// Rust name of the proto service (`Users`).
    rust: String,
    /// Module holding the wire constants (`users_rpc`).
    rpc_module: String,
    /// Doc comment lines of the proto service.
    docs: Vec<String>,
}

fn doc_lines(buf: &mut String, indent: &str, lines: &[String]) {
    for line in lines {
        let _ = writeln!(buf, "{indent}///{line}");
    }
}

fn reply_type(rpc: &RpcPlan) -> &str {
    rpc.outcome.as_deref().unwrap_or(&rpc.output)
}

fn write_constants(buf: &mut String, names: &Names, rpcs: &[RpcPlan], consumers: &[ConsumerPlan]) {
    let module = &names.rpc_module;
    let _ = writeln!(
        buf,
        "/// Wire names and policies of the `{service}` service, shared by its client and its server.\n\
         pub mod {module} {{\n\
         \x20   /// The NATS service name, which is also the queue group of every endpoint.\n\
         \x20   pub const SERVICE: &str = \"{service}\";",
        service = names.service
    );
    for rpc in rpcs {
        let _ = writeln!(
            buf,
            "    /// `{subject}`: {proto}.\n\
             \x20   pub const {constant}: ::switchboard::Rpc = ::switchboard::Rpc {{\n\
             \x20       service: SERVICE,\n\
             \x20       name: \"{proto}\",\n\
             \x20       subject: \"{subject}\",\n\
             \x20       retryable: {retryable},\n\
             \x20       public: {public},\n\
             \x20   }};",
            subject = rpc.subject,
            proto = rpc.proto_name,
            constant = rpc.constant,
            retryable = rpc.retryable,
            public = rpc.public,
        );
    }
    let all: Vec<&str> = rpcs.iter().map(|r| r.constant.as_str()).collect();
    let _ = writeln!(
        buf,
        "    /// Every rpc of the service.\n    pub const ALL: &[::switchboard::Rpc] = &[{}];",
        all.join(", ")
    );
    for consumer in consumers {
        let _ = writeln!(
            buf,
            "    /// The `{handler}` consumer of `{event}`.\n\
             \x20   pub const {constant}: ::switchboard::EventConsumer = ::switchboard::EventConsumer {{\n\
             \x20       service: SERVICE,\n\
             \x20       handler: \"{handler}\",\n\
             \x20       durable: \"{durable}\",\n\
             \x20       dead_letter_subject: \"{dlq}\",\n\
             \x20       dead_letter_stream: \"{dlq_stream}\",\n\
             \x20       event: super::{event_constant},\n\
             \x20   }};",
            handler = consumer.handler,
            event = consumer.event_name,
            constant = consumer.constant,
            durable = crate::naming::consumer_name(&names.service, &consumer.handler),
            dlq = crate::naming::dead_letter_subject(&names.service, &consumer.handler),
            dlq_stream = crate::naming::dead_letter_stream(&names.service),
            event_constant = consumer.event_constant,
        );
    }
    let _ = writeln!(buf, "}}");
}

/// `<service>_events` with one `EventType` per event message, and `impl Event` for each.
fn write_events(buf: &mut String, names: &Names, package: &str, events: &[EventPlan]) {
    if events.is_empty() {
        return;
    }
    let service = &names.service;
    let stream = crate::naming::event_stream(service);
    let major = package.rsplit('.').next().unwrap_or_default();
    let _ = writeln!(
        buf,
        "/// The events of the `{service}` service: subjects, stream and schema version.\n\
         pub mod {service}_events {{\n\
         \x20   /// The JetStream stream holding every event of the service.\n\
         \x20   pub const STREAM: &str = \"{stream}\";"
    );
    for event in events {
        let _ = writeln!(
            buf,
            "    /// `{subject}`: {name}.\n\
             \x20   pub const {constant}: ::switchboard::EventType = ::switchboard::EventType {{\n\
             \x20       service: \"{service}\",\n\
             \x20       name: \"{name}\",\n\
             \x20       subject: \"{subject}\",\n\
             \x20       stream: STREAM,\n\
             \x20       schema_version: \"{major}\",\n\
             \x20   }};",
            subject = event.subject,
            name = event.full_name,
            constant = event.constant,
        );
    }
    let all: Vec<&str> = events.iter().map(|e| e.constant.as_str()).collect();
    let _ = writeln!(
        buf,
        "    /// Every event of the service.\n    pub const ALL: &[::switchboard::EventType] = &[{}];\n}}",
        all.join(", ")
    );
    for event in events {
        let key = match &event.key {
            Some(field) => format!("&self.{field}"),
            None => "\"\"".to_string(),
        };
        let _ = writeln!(
            buf,
            "impl ::switchboard::Event for {rust} {{\n\
             \x20   const TYPE: ::switchboard::EventType = {service}_events::{constant};\n\
             \x20   fn key(&self) -> &str {{\n\
             \x20       {key}\n\
             \x20   }}\n\
             }}",
            rust = event.rust,
            constant = event.constant,
        );
    }
}

/// `<Service>Consumer`: one method per consumed event's handler.
fn write_consumer(buf: &mut String, names: &Names, consumers: &[ConsumerPlan]) {
    if consumers.is_empty() {
        return;
    }
    let _ = writeln!(
        buf,
        "/// The events a `{service}` service handles, each through a durable consumer: an\n\
         /// event's effect must be committed with `ctx.commit`, which records the event id in\n\
         /// the same transaction so a redelivered event has its effect once.\n\
         {RUNTIME_ONLY}\n\
         pub trait {rust}Consumer: ::core::marker::Send + ::core::marker::Sync + 'static {{",
        service = names.service,
        rust = names.rust,
    );
    for consumer in consumers {
        let _ = writeln!(
            buf,
            "    /// Handles `{event}` (durable consumer `{durable}`).\n\
             \x20   fn {method}(&self, ctx: ::switchboard::EventContext, event: {event_type}) -> impl ::core::future::Future<Output = ::core::result::Result<(), ::switchboard::ServiceError>> + ::core::marker::Send;",
            event = consumer.event_name,
            durable = crate::naming::consumer_name(&names.service, &consumer.handler),
            method = consumer.method,
            event_type = consumer.event_type,
        );
    }
    let _ = writeln!(buf, "}}");
}

fn write_client(buf: &mut String, names: &Names, rpcs: &[RpcPlan]) {
    let client = format!("{}Client", names.rust);
    let _ = writeln!(
        buf,
        "/// Typed client of the `{service}` service: one method per rpc, sent over the bus.\n\
         #[derive(Clone, Debug)]\n\
         pub struct {client} {{\n\
         \x20   bus: ::switchboard::Bus,\n\
         }}\n\
         impl {client} {{\n\
         \x20   /// A client sending through `bus` (inside a handler, pass `ctx.bus()` so calls inherit the deadline, token and trace).\n\
         \x20   pub fn new(bus: ::switchboard::Bus) -> Self {{\n\
         \x20       Self {{ bus }}\n\
         \x20   }}",
        service = names.service,
    );
    for rpc in rpcs {
        doc_lines(buf, "    ", &rpc.docs);
        if rpc.streaming {
            write_stream_client(buf, names, rpc);
            continue;
        }
        let reply = reply_type(rpc);
        let _ = writeln!(
            buf,
            "    pub async fn {method}(&self, request: {input}) -> ::core::result::Result<{reply}, ::switchboard::BusError> {{\n\
             \x20       self.{method}_with(request, ::switchboard::CallOptions::default()).await\n\
             \x20   }}\n\
             \x20   /// [`Self::{method}`] with explicit call options (deadline, idempotency key, token).\n\
             \x20   pub async fn {method}_with(&self, request: {input}, options: ::switchboard::CallOptions) -> ::core::result::Result<{reply}, ::switchboard::BusError> {{",
            method = rpc.method,
            input = rpc.input,
        );
        let call = format!(
            "self.bus.call::<{input}, {output}>(&{module}::{constant}, &request, options).await",
            input = rpc.input,
            output = rpc.output,
            module = names.rpc_module,
            constant = rpc.constant,
        );
        if rpc.outcome.is_some() {
            let _ = writeln!(
                buf,
                "        let reply = {call}?;\n\
                 \x20       reply.outcome.ok_or_else(|| ::switchboard::BusError::MissingOutcome {{ subject: {module}::{constant}.subject }})\n\
                 \x20   }}",
                module = names.rpc_module,
                constant = rpc.constant,
            );
        } else {
            let _ = writeln!(buf, "        {call}\n    }}");
        }
    }
    let _ = writeln!(buf, "}}");
}

/// The client methods of a streaming rpc: a stream of its items.
fn write_stream_client(buf: &mut String, names: &Names, rpc: &RpcPlan) {
    let _ = writeln!(
        buf,
        "    pub async fn {method}(&self, request: {input}) -> ::core::result::Result<::switchboard::bus::ReplyStream<{output}>, ::switchboard::BusError> {{\n\
         \x20       self.{method}_with(request, ::switchboard::CallOptions::default()).await\n\
         \x20   }}\n\
         \x20   /// [`Self::{method}`] with explicit call options (deadline, idle timeout, token).\n\
         \x20   pub async fn {method}_with(&self, request: {input}, options: ::switchboard::CallOptions) -> ::core::result::Result<::switchboard::bus::ReplyStream<{output}>, ::switchboard::BusError> {{\n\
         \x20       self.bus.stream::<{input}, {output}>(&{module}::{constant}, &request, options).await\n\
         \x20   }}",
        method = rpc.method,
        input = rpc.input,
        output = rpc.output,
        module = names.rpc_module,
        constant = rpc.constant,
    );
}

fn write_handler(buf: &mut String, names: &Names, rpcs: &[RpcPlan]) {
    let _ = writeln!(buf, "/// What a `{}` service implements.", names.service);
    if !names.docs.is_empty() {
        let _ = writeln!(buf, "///");
        doc_lines(buf, "", &names.docs);
    }
    let _ = writeln!(
        buf,
        "{RUNTIME_ONLY}\npub trait {}Handler: ::core::marker::Send + ::core::marker::Sync + 'static {{",
        names.rust
    );
    for rpc in rpcs {
        doc_lines(buf, "    ", &rpc.docs);
        if rpc.streaming {
            let _ = writeln!(
                buf,
                "    fn {method}(&self, ctx: ::switchboard::Context, request: {input}, sink: ::switchboard::service::ReplySink<{output}>) -> impl ::core::future::Future<Output = ::core::result::Result<(), ::switchboard::ServiceError>> + ::core::marker::Send;",
                method = rpc.method,
                input = rpc.input,
                output = rpc.output,
            );
            continue;
        }
        let _ = writeln!(
            buf,
            "    fn {method}(&self, ctx: ::switchboard::Context, request: {input}) -> impl ::core::future::Future<Output = ::core::result::Result<{reply}, ::switchboard::ServiceError>> + ::core::marker::Send;",
            method = rpc.method,
            input = rpc.input,
            reply = reply_type(rpc),
        );
    }
    let _ = writeln!(buf, "}}");
}

fn write_service(
    buf: &mut String,
    names: &Names,
    rpcs: &[RpcPlan],
    has_events: bool,
    consumers: &[ConsumerPlan],
) {
    let bounds = if consumers.is_empty() {
        format!("{}Handler", names.rust)
    } else {
        format!("{rust}Handler + {rust}Consumer", rust = names.rust)
    };
    let _ = writeln!(
        buf,
        "/// The `{service}` service: every rpc of `handler` as an endpoint, ready for `switchboard::ServiceRuntime`.\n\
         {RUNTIME_ONLY}\n\
         pub fn {service}_service<H: {bounds}>(handler: H) -> ::switchboard::ServiceDefinition {{\n\
         \x20   let handler = ::std::sync::Arc::new(handler);\n\
         \x20   ::switchboard::ServiceDefinition::new({module}::SERVICE, \"{description}\")",
        service = names.service,
        module = names.rpc_module,
        description = names
            .docs
            .iter()
            .map(|l| l.trim())
            .collect::<Vec<_>>()
            .join(" ")
            .replace('\\', "\\\\")
            .replace('"', "\\\""),
    );
    for rpc in rpcs {
        if rpc.streaming {
            let _ = writeln!(
                buf,
                "        .stream_endpoint({module}::{constant}, {{\n\
                 \x20           let handler = handler.clone();\n\
                 \x20           move |ctx: ::switchboard::Context, request: {input}, sink: ::switchboard::service::ReplySink<{output}>| {{\n\
                 \x20               let handler = handler.clone();\n\
                 \x20               async move {{ {rust}Handler::{method}(&*handler, ctx, request, sink).await }}\n\
                 \x20           }}\n\
                 \x20       }})",
                module = names.rpc_module,
                constant = rpc.constant,
                input = rpc.input,
                output = rpc.output,
                method = rpc.method,
                rust = names.rust,
            );
            continue;
        }
        let wrap = if rpc.outcome.is_some() {
            format!(
                ".map(|outcome| {output} {{ outcome: ::core::option::Option::Some(outcome) }})",
                output = rpc.output
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            buf,
            "        .endpoint({module}::{constant}, {{\n\
             \x20           let handler = handler.clone();\n\
             \x20           move |ctx: ::switchboard::Context, request: {input}| {{\n\
             \x20               let handler = handler.clone();\n\
             \x20               async move {{ {rust}Handler::{method}(&*handler, ctx, request).await{wrap} }}\n\
             \x20           }}\n\
             \x20       }})",
            module = names.rpc_module,
            constant = rpc.constant,
            input = rpc.input,
            method = rpc.method,
            rust = names.rust,
        );
    }
    if has_events {
        let _ = writeln!(buf, "        .events({}_events::ALL)", names.service);
    }
    for consumer in consumers {
        let _ = writeln!(
            buf,
            "        .consumer({module}::{constant}, {{\n\
             \x20           let handler = handler.clone();\n\
             \x20           move |ctx: ::switchboard::EventContext, event: {event_type}| {{\n\
             \x20               let handler = handler.clone();\n\
             \x20               async move {{ {rust}Consumer::{method}(&*handler, ctx, event).await }}\n\
             \x20           }}\n\
             \x20       }})",
            module = names.rpc_module,
            constant = consumer.constant,
            event_type = consumer.event_type,
            rust = names.rust,
            method = consumer.method,
        );
    }
    let _ = writeln!(buf, "}}");
}

/// `EncodeReply` for each outcome enum, wrapping it in its reply message the way the
/// endpoint does, so `ctx.commit(tx, &outcome)` records exactly the bytes a caller gets.
fn write_reply_encoders(buf: &mut String, rpcs: &[RpcPlan]) {
    let mut done = HashSet::new();
    for rpc in rpcs {
        let Some(outcome) = &rpc.outcome else {
            continue;
        };
        if !done.insert(outcome.clone()) {
            continue;
        }
        let _ = writeln!(
            buf,
            "{RUNTIME_ONLY}\n\
             impl ::switchboard::service::EncodeReply for {outcome} {{\n\
             \x20   fn encode_reply(&self) -> ::std::vec::Vec<u8> {{\n\
             \x20       ::prost::Message::encode_to_vec(&{output} {{ outcome: ::core::option::Option::Some(self.clone()) }})\n\
             \x20   }}\n\
             }}",
            output = rpc.output,
        );
    }
}
