//! The prost-build `ServiceGenerator` that turns every proto `service` into NATS code.
//!
//! For `package users.v1; service Users { rpc Create(..) returns (..); }` it writes, next
//! to the message types prost generates:
//!
//! - `users_rpc`: the service name and one `switchboard::Rpc` constant per rpc (subject,
//!   retry policy), the single place both sides take their wire names from;
//! - `UsersClient`: one async method per rpc (and a `*_with` twin taking `CallOptions`);
//! - `UsersHandler`: the trait a service implements, one async method per rpc;
//! - `users_service(handler)`: the `switchboard::ServiceDefinition` that serves it.
//!
//! A reply whose only content is a `oneof outcome` is unwrapped: the client returns
//! and the handler produces the outcome enum itself, so callers `match` domain cases.

use std::collections::HashSet;
use std::fmt::Write;

use heck::{ToShoutySnakeCase, ToSnakeCase};
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
}

impl NatsServiceGenerator {
    /// A generator reading options from `pool`.
    pub fn new(pool: DescriptorPool) -> Self {
        Self {
            pool,
            packages: HashSet::new(),
        }
    }

    fn plan(&self, service: &prost_build::Service, method: &prost_build::Method) -> RpcPlan {
        assert!(
            !method.client_streaming && !method.server_streaming,
            "{}.{}: streaming rpcs are not supported yet",
            service.proto_name,
            method.proto_name
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
            outcome: self.outcome_enum(&method.output_proto_type, &method.output_type),
            retryable,
            public,
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
        write_constants(buf, &names, &rpcs);
        write_client(buf, &names, &rpcs);
        write_handler(buf, &names, &rpcs);
        write_service(buf, &names, &rpcs);
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

fn write_constants(buf: &mut String, names: &Names, rpcs: &[RpcPlan]) {
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
        "    /// Every rpc of the service.\n    pub const ALL: &[::switchboard::Rpc] = &[{}];\n}}",
        all.join(", ")
    );
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

fn write_service(buf: &mut String, names: &Names, rpcs: &[RpcPlan]) {
    let _ = writeln!(
        buf,
        "/// The `{service}` service: every rpc of `handler` as an endpoint, ready for `switchboard::ServiceRuntime`.\n\
         {RUNTIME_ONLY}\n\
         pub fn {service}_service<H: {rust}Handler>(handler: H) -> ::switchboard::ServiceDefinition {{\n\
         \x20   let handler = ::std::sync::Arc::new(handler);\n\
         \x20   ::switchboard::ServiceDefinition::new({module}::SERVICE, \"{description}\")",
        service = names.service,
        rust = names.rust,
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
             \x20               async move {{ handler.{method}(ctx, request).await{wrap} }}\n\
             \x20           }}\n\
             \x20       }})",
            module = names.rpc_module,
            constant = rpc.constant,
            input = rpc.input,
            method = rpc.method,
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
