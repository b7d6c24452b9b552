//! Traces across processes: the real gateway, users and todos binaries export to a real
//! OTLP receiver (users over HTTP/protobuf, the others over gRPC), and one user action is
//! one trace with the parent chain and span kinds of the design.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use switchboard::auth::ADMIN_ROLE;
use switchboard::testing::otlp::{OtlpReceiver, ReceivedSpan};
use switchboard::testing::{self, NatsServer};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Child;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::helpers::{PATIENCE, Reply, SECRET, http, token};

/// nats-server, the receiver, and the three binaries exporting to it.
struct TracedSystem {
    server: NatsServer,
    receiver: OtlpReceiver,
    base: String,
    processes: Vec<Child>,
    /// Every line the users service wrote to stdout.
    users_log: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

/// A free local port (bound and released; the gateway binds it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

impl TracedSystem {
    /// Starts everything with `sampler` (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`)
    /// and waits until the gateway is ready.
    async fn start(sampler: (&str, &str)) -> Self {
        let server = NatsServer::start();
        let receiver = OtlpReceiver::start().await;
        let dir = tempfile::tempdir().expect("a temp dir");
        let port = free_port();
        let users_log = Arc::new(Mutex::new(Vec::new()));
        let spawn = |binary: std::path::PathBuf, envs: Vec<(&str, String)>| {
            let mut command = tokio::process::Command::new(binary);
            command
                .env("NATS_URL", server.url())
                .env("JWT_HS256_SECRET", SECRET)
                .env("OTEL_TRACES_SAMPLER", sampler.0)
                .env("OTEL_TRACES_SAMPLER_ARG", sampler.1)
                .env(
                    "OTEL_RESOURCE_ATTRIBUTES",
                    "deployment.environment.name=tracing-test",
                )
                // Export each batch soon after its spans end (the SDK's default is 5 s).
                .env("OTEL_BSP_SCHEDULE_DELAY", "100")
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .kill_on_drop(true);
            for (name, value) in envs {
                command.env(name, value);
            }
            command
        };
        let grpc = receiver.grpc_endpoint();
        let mut users = spawn(
            testing::workspace_binary("users"),
            vec![
                ("STORE_URL", sqlite(&dir, "users")),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint()),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".into()),
                // Refusals are logged at debug: the log test reads them.
                ("RUST_LOG", "warn,switchboard=debug".into()),
            ],
        );
        users.stdout(Stdio::piped());
        let mut users = users.spawn().expect("users starts");
        let stdout = users.stdout.take().expect("users' stdout");
        let log = users_log.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                log.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        let todos = spawn(
            testing::workspace_binary("todos"),
            vec![
                ("STORE_URL", sqlite(&dir, "todos")),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", grpc.clone()),
            ],
        )
        .spawn()
        .expect("todos starts");
        // The booking flow's services: the gateway is ready only once every service of
        // the contracts answers.
        let mut processes = vec![users, todos];
        for service in ["tickets", "billing", "bookings", "notifications"] {
            processes.push(
                spawn(
                    testing::workspace_binary(service),
                    vec![
                        ("STORE_URL", sqlite(&dir, service)),
                        ("OTEL_EXPORTER_OTLP_ENDPOINT", grpc.clone()),
                    ],
                )
                .spawn()
                .unwrap_or_else(|e| panic!("{service} starts: {e}")),
            );
        }
        let gateway = spawn(
            env!("CARGO_BIN_EXE_gateway").into(),
            vec![
                ("GATEWAY_ADDR", format!("127.0.0.1:{port}")),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", grpc),
            ],
        )
        .spawn()
        .expect("the gateway starts");
        let base = format!("http://127.0.0.1:{port}");
        let readyz = format!("{base}/readyz");
        testing::eventually(PATIENCE, || {
            let readyz = readyz.clone();
            async move {
                let ready = tokio::task::spawn_blocking(move || {
                    ureq::get(&readyz).call().is_ok_and(|r| r.status() == 200)
                })
                .await
                .unwrap_or(false);
                ready.then_some(())
            }
        })
        .await
        .expect("the gateway is ready: every service answers");
        Self {
            server,
            receiver,
            base,
            processes: processes.into_iter().chain([gateway]).collect(),
            users_log,
            _dir: dir,
        }
    }

    async fn graphql(&self, query: &str, variables: Value, headers: &[(&str, &str)]) -> Reply {
        let body = json!({ "query": query, "variables": variables }).to_string();
        // As an admin unless the headers name another caller.
        let mut all = vec![("Content-Type".to_string(), "application/json".to_string())];
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        {
            all.push(("Authorization".to_string(), format!("Bearer {}", admin())));
        }
        all.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        http(
            "POST",
            &format!("{}/graphql", self.base),
            all,
            body.into_bytes(),
        )
        .await
    }

    /// A plain subscriber on `subject`, seeing what is sent there, headers included.
    async fn watch(&self, subject: &str) -> async_nats::Subscriber {
        let watcher = switchboard::testing::connect(&self.server).await;
        let requests = watcher
            .nats()
            .subscribe(subject.to_string())
            .await
            .expect("subscribes");
        watcher.nats().flush().await.expect("flushed");
        requests
    }

    /// The spans of trace `trace_id` once `complete` holds for them.
    async fn trace(&self, what: &str, trace_id: &str, complete: impl Fn(&Trace) -> bool) -> Trace {
        self.receiver
            .wait_for(what, PATIENCE, |spans| {
                let trace = Trace(
                    spans
                        .iter()
                        .filter(|s| s.trace_id == trace_id)
                        .cloned()
                        .collect(),
                );
                complete(&trace).then_some(trace)
            })
            .await
    }

    /// Stops every process with SIGTERM and waits for each to exit (each flushes its spans
    /// on the way out).
    async fn stop(mut self) -> OtlpReceiver {
        for child in &mut self.processes {
            let pid = child.id().expect("still running");
            let status = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .expect("kill runs");
            assert!(status.success());
            let exited = tokio::time::timeout(PATIENCE, child.wait())
                .await
                .expect("the process exits in time")
                .expect("its status");
            assert!(exited.success(), "exit status {exited}");
        }
        self.receiver
    }
}

/// The headers of the next message `requests` sees, within [`PATIENCE`].
async fn next_headers(requests: &mut async_nats::Subscriber) -> async_nats::HeaderMap {
    tokio::time::timeout(PATIENCE, requests.next())
        .await
        .expect("a request, in time")
        .expect("a message")
        .headers
        .expect("headers")
}

fn sqlite(dir: &tempfile::TempDir, name: &str) -> String {
    format!(
        "sqlite://{}",
        dir.path().join(format!("{name}.db")).display()
    )
}

fn admin() -> String {
    token("tracing-admin", &[ADMIN_ROLE])
}

/// The spans of one trace.
struct Trace(Vec<ReceivedSpan>);

impl Trace {
    fn find(&self, service: &str, kind: &str, name: &str) -> Option<&ReceivedSpan> {
        self.0
            .iter()
            .find(|s| s.service == service && s.kind == kind && s.name == name)
    }

    fn all(&self, service: &str, kind: &str, name_prefix: &str) -> Vec<&ReceivedSpan> {
        self.0
            .iter()
            .filter(|s| s.service == service && s.kind == kind && s.name.starts_with(name_prefix))
            .collect()
    }

    fn parent_of(&self, span: &ReceivedSpan) -> Option<&ReceivedSpan> {
        self.0.iter().find(|s| s.span_id == span.parent_span_id)
    }

    fn has(&self, service: &str, kind: &str, name_prefix: &str) -> bool {
        !self.all(service, kind, name_prefix).is_empty()
    }
}

/// The subjects of the services' rpcs and events, by generated constant.
mod subjects {
    pub use switchboard::proto::billing::v1::billing_rpc;
    pub use switchboard::proto::bookings::v1::{bookings_events, bookings_rpc};
    pub use switchboard::proto::tickets::v1::tickets_rpc;
    pub use switchboard::proto::todos::v1::todos_rpc;
    pub use switchboard::proto::users::v1::users_rpc;
}

#[tokio::test]
async fn a_booking_is_one_trace_from_the_request_through_the_saga_to_the_email() {
    let system = TracedSystem::start(("parentbased_always_on", "1")).await;
    let user = system
        .graphql(
            "mutation { createUser(email: \"fan@example.org\", displayName: \"Fan\") { ... on User { id } } }",
            json!({}),
            &[],
        )
        .await;
    let user = user.json()["data"]["createUser"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no user: {}", user.body))
        .to_string();
    let show = system
        .graphql(
            "mutation { createShow(name: \"Revue\", capacity: 5, priceCents: \"900\") { ... on Show { id } } }",
            json!({}),
            &[],
        )
        .await;
    let show = show.json()["data"]["createShow"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no show: {}", show.body))
        .to_string();

    let client_trace = "0af7651916cd43dd8448eb211c80319c";
    let traceparent = format!("00-{client_trace}-b7ad6b7169203331-01");
    let booked = system
        .graphql(
            "mutation($show: ID!) { createBooking(showId: $show, seats: 1) { ... on Booking { id } } }",
            json!({ "show": show }),
            &[
                ("traceparent", &traceparent),
                ("authorization", &format!("Bearer {}", token(&user, &[]))),
            ],
        )
        .await;
    assert_eq!(booked.status, 200, "{}", booked.body);

    let process = |subject: &str| format!("process {subject}");
    let create = process(subjects::bookings_rpc::CREATE.subject);
    let reserve = process(subjects::tickets_rpc::RESERVE.subject);
    let charge = process(subjects::billing_rpc::CHARGE.subject);
    let confirm = process(subjects::tickets_rpc::CONFIRM.subject);
    let confirmed = subjects::bookings_events::BOOKING_CONFIRMED.subject;
    let publish = format!("publish {confirmed}");
    let email = process(confirmed);
    let trace = system
        .trace("the booking's trace", client_trace, |t| {
            t.has("gateway", "SERVER", "POST /graphql")
                && t.has("bookings", "SERVER", &create)
                && t.has("tickets", "SERVER", &reserve)
                && t.has("billing", "SERVER", &charge)
                && t.has("tickets", "SERVER", &confirm)
                && t.has("bookings", "PRODUCER", &publish)
                && t.has("notifications", "CONSUMER", &email)
        })
        .await;

    // The saga's steps continue the request that started it: each step span is a child
    // of the bookings SERVER span, and each service's span a child of its step's call.
    let created = trace.find("bookings", "SERVER", &create).expect("create");
    for (service, server, step) in [
        ("tickets", &reserve, "booking reserve_seats run"),
        ("billing", &charge, "booking charge run"),
        ("tickets", &confirm, "booking confirm_seats run"),
    ] {
        let served = trace
            .find(service, "SERVER", server)
            .expect("the step's rpc");
        let call = trace.parent_of(served).expect("the step's CLIENT span");
        assert_eq!((call.service.as_str(), call.kind), ("bookings", "CLIENT"));
        let step_span = trace.parent_of(call).expect("the step span");
        assert_eq!(step_span.name, step, "{step_span:?}");
        assert_eq!(step_span.parent_span_id, created.span_id, "{step}");
    }
    // The email: the consumer continues the relay's publish of the confirmation.
    let consumed = trace
        .find("notifications", "CONSUMER", &email)
        .expect("the consumer span");
    let published = trace.parent_of(consumed).expect("the publish span");
    assert_eq!(published.name, publish);
    system.stop().await;
}

#[tokio::test]
async fn one_user_action_is_one_trace_across_the_gateway_and_the_services() {
    let system = TracedSystem::start(("parentbased_always_on", "1")).await;

    // Someone with a todo.
    let created = system
        .graphql(
            "mutation { createUser(email: \"ada@example.org\", displayName: \"Ada\") { ... on User { id } } }",
            json!({}),
            &[],
        )
        .await;
    let user = created.json()["data"]["createUser"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no user: {}", created.body))
        .to_string();
    let todo = system
        .graphql(
            "mutation($owner: ID!) { createTodo(ownerId: $owner, title: \"write\") { ... on Todo { id } } }",
            json!({ "owner": user }),
            &[],
        )
        .await;
    assert_eq!(todo.status, 200, "{}", todo.body);

    // One query touching users and, through a relation, todos — continuing the client's
    // trace, with vendor state and baggage that must pass through unchanged.
    let client_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{client_trace}-{client_span}-01");
    // A plain NATS subscriber sees what the gateway sends users, headers included.
    let mut requests = system.watch(subjects::users_rpc::LIST.subject).await;
    let reply = system
        .graphql(
            "{ users { nodes { id todos { title owner { email } } } } }",
            json!({}),
            &[
                ("traceparent", &traceparent),
                ("tracestate", "vendor=opaque"),
                ("baggage", "tenant=acme"),
            ],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("x-trace-id"), Some(client_trace));
    let traceresponse = reply
        .header("traceresponse")
        .expect("a traceresponse header");
    assert!(
        traceresponse.starts_with(&format!("00-{client_trace}-")),
        "{traceresponse}"
    );

    let headers = next_headers(&mut requests).await;
    let header = |name: &str| headers.get(name).map(|v| v.as_str().to_string());
    assert_eq!(header("tracestate").as_deref(), Some("vendor=opaque"));
    assert_eq!(header("baggage").as_deref(), Some("tenant=acme"));
    let sent_parent = header("traceparent").expect("a traceparent");
    assert!(
        sent_parent.starts_with(&format!("00-{client_trace}-")),
        "{sent_parent}"
    );

    let list = format!("process {}", subjects::users_rpc::LIST.subject);
    let by_owners = format!("process {}", subjects::todos_rpc::LIST_BY_OWNERS.subject);
    let trace = system
        .trace("the query's trace", client_trace, |t| {
            t.has("gateway", "SERVER", "POST /graphql")
                && t.has("users", "SERVER", &list)
                && t.has("todos", "SERVER", &by_owners)
                && t.has("users", "CLIENT", "find")
                && t.has("todos", "CLIENT", "find")
                && t.has("gateway", "INTERNAL", "batch ")
        })
        .await;

    // gateway: HTTP SERVER (child of the client's span) → GraphQL operation.
    let http_span = trace
        .find("gateway", "SERVER", "POST /graphql")
        .expect("the HTTP span");
    assert_eq!(
        http_span.parent_span_id, client_span,
        "continues the client's span"
    );
    assert_eq!(http_span.trace_state, "vendor=opaque");
    assert_eq!(
        http_span
            .resource
            .get("deployment.environment.name")
            .map(String::as_str),
        Some("tracing-test"),
        "OTEL_RESOURCE_ATTRIBUTES reaches the resource"
    );
    assert_eq!(
        http_span.attribute("http.response.status_code"),
        Some("200")
    );
    let operation = trace
        .find("gateway", "INTERNAL", "query anonymous")
        .expect("the GraphQL operation span");
    assert_eq!(operation.parent_span_id, http_span.span_id);
    assert_eq!(operation.attribute("graphql.operation.type"), Some("query"));

    // users: SERVER whose parent is the gateway's CLIENT span for it, which the operation
    // span parents; the store read beneath the SERVER span.
    let users_server = trace.find("users", "SERVER", &list).expect("users' span");
    let users_client = trace
        .parent_of(users_server)
        .expect("the gateway's CLIENT span");
    assert_eq!(
        (users_client.service.as_str(), users_client.kind),
        ("gateway", "CLIENT")
    );
    assert_eq!(users_client.attribute("messaging.system"), Some("nats"));
    assert_eq!(
        users_client.attribute("messaging.destination.name"),
        Some(subjects::users_rpc::LIST.subject)
    );
    assert_eq!(users_client.parent_span_id, operation.span_id);
    assert_eq!(users_server.attribute("messaging.system"), Some("nats"));
    let users_find = trace.all("users", "CLIENT", "find")[0];
    assert_eq!(users_find.parent_span_id, users_server.span_id);
    assert_eq!(users_find.attribute("db.system.name"), Some("sqlite"));

    // todos: SERVER under the gateway's CLIENT span, sent by the DataLoader's batch span
    // (linked to the fields it served), within the same operation.
    let todos_server = trace
        .find("todos", "SERVER", &by_owners)
        .expect("todos' span");
    let todos_client = trace.parent_of(todos_server).expect("the CLIENT span");
    assert_eq!(todos_client.kind, "CLIENT");
    let batch = trace.parent_of(todos_client).expect("the batch span");
    assert!(batch.name.starts_with("batch "), "{}", batch.name);
    assert!(
        !batch.links.is_empty(),
        "the batch links to the fields it served"
    );
    let fields: Vec<&str> = trace
        .0
        .iter()
        .filter(|s| s.name == "resolve todos")
        .map(|s| s.span_id.as_str())
        .collect();
    for (link_trace, link_span) in &batch.links {
        assert_eq!(link_trace, client_trace);
        assert!(
            fields.contains(&link_span.as_str()),
            "links to a field span"
        );
    }
    let todos_find = trace.all("todos", "CLIENT", "find")[0];
    assert_eq!(todos_find.parent_span_id, todos_server.span_id);

    // An operation over WebSocket is a trace of its own, rooted at its operation span.
    let ws_url = format!("{}/graphql/ws", system.base.replace("http://", "ws://"));
    let mut request = ws_url.into_client_request().expect("a request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().expect("a header value"),
    );
    let (mut socket, _) = tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(request))
        .await
        .expect("the upgrade is answered in time")
        .expect("upgrades");
    for message in [
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", admin()) } }),
        json!({ "id": "1", "type": "subscribe", "payload": { "query": "query Listing { users { nodes { id } } }" } }),
    ] {
        socket
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("sends");
    }
    let answered = tokio::time::timeout(PATIENCE, async {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Text(text) = message
                && text.contains("\"next\"")
            {
                return text.to_string();
            }
        }
        panic!("the socket ended before the answer")
    })
    .await
    .expect("the operation is answered in time");
    assert!(answered.contains("users"), "{answered}");
    let (operation, users_server) = system
        .receiver
        .wait_for("the WebSocket operation's trace", PATIENCE, |spans| {
            let operation = spans
                .iter()
                .find(|s| s.service == "gateway" && s.name == "query Listing")?;
            let client = spans
                .iter()
                .find(|s| s.kind == "CLIENT" && s.parent_span_id == operation.span_id)?;
            let server = spans
                .iter()
                .find(|s| s.kind == "SERVER" && s.parent_span_id == client.span_id)?;
            Some((operation.clone(), server.clone()))
        })
        .await;
    assert_eq!(operation.parent_span_id, "", "a root span");
    assert_eq!(users_server.service, "users");
    assert_eq!(users_server.trace_id, operation.trace_id);

    // A failing rpc marks its spans with the code, and the service's log line of the
    // refusal carries the request's trace id.
    let as_someone = format!("Bearer {}", token("someone", &[]));
    let missing = system
        .graphql(
            "mutation($id: ID!) { deleteUser(id: $id) { __typename } }",
            json!({ "id": user }),
            &[("Authorization", &as_someone)],
        )
        .await;
    assert_eq!(missing.error_codes(), ["FORBIDDEN"], "{}", missing.body);
    let missing_trace = missing
        .header("x-trace-id")
        .expect("a trace id")
        .to_string();
    let get = format!("process {}", subjects::users_rpc::DELETE.subject);
    let failed = system
        .trace("the refused deletion", &missing_trace, |t| {
            t.has("users", "SERVER", &get)
                && t.0
                    .iter()
                    .any(|s| s.service == "gateway" && s.kind == "CLIENT")
        })
        .await;
    let server = failed.find("users", "SERVER", &get).expect("users' span");
    assert!(server.failed, "the SERVER span is an error");
    assert_eq!(server.status_message, "FORBIDDEN");
    assert_eq!(server.attribute("error.type"), Some("FORBIDDEN"));
    let client = failed.parent_of(server).expect("the CLIENT span");
    assert!(client.failed && client.status_message == "FORBIDDEN");
    let logged = testing::eventually(PATIENCE, || {
        let lines = system
            .users_log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let trace = missing_trace.clone();
        let span = server.span_id.clone();
        async move {
            lines.into_iter().find_map(|line| {
                let value: Value = serde_json::from_str(&line).ok()?;
                (value["trace_id"] == trace.as_str() && value["span_id"] == span.as_str())
                    .then_some(value)
            })
        }
    })
    .await
    .expect("a log line of the refused request with its trace and span ids");
    assert_eq!(logged["message"], "request refused", "{logged}");

    // The deletion's event: announced in users' handler, published by its relay
    // (PRODUCER), consumed by todos (CONSUMER) — all in the deletion's trace.
    let deleted = system
        .graphql(
            "mutation($id: ID!) { deleteUser(id: $id) { __typename } }",
            json!({ "id": user }),
            &[],
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let deletion = deleted
        .header("x-trace-id")
        .expect("a trace id")
        .to_string();
    let trace = system
        .trace("the deletion's cascade", &deletion, |t| {
            t.has("users", "PRODUCER", "publish ")
                && t.has("todos", "CONSUMER", "process ")
                && t.has("todos", "CLIENT", "commit")
        })
        .await;
    let consumer = &trace.all("todos", "CONSUMER", "process ")[0];
    let producer = trace.parent_of(consumer).expect("the PRODUCER span");
    assert_eq!(
        (producer.service.as_str(), producer.kind),
        ("users", "PRODUCER")
    );
    let announce = trace.parent_of(producer).expect("the announcing span");
    assert!(announce.name.starts_with("announce "), "{}", announce.name);
    let handler = trace.parent_of(announce).expect("users' handler");
    assert_eq!(
        handler.name,
        format!("process {}", subjects::users_rpc::DELETE.subject)
    );
    let commit = trace
        .all("todos", "CLIENT", "commit")
        .into_iter()
        .find(|c| c.parent_span_id == consumer.span_id);
    assert!(commit.is_some(), "the consumer's commit is beneath it");

    // Every process flushes its spans when it stops.
    let spans_before: HashMap<String, usize> = counts(&system.receiver.spans());
    let receiver = system.stop().await;
    let spans_after = counts(&receiver.spans());
    for service in ["gateway", "users", "todos"] {
        assert!(spans_after.get(service) >= spans_before.get(service));
    }
}

fn counts(spans: &[ReceivedSpan]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for span in spans {
        *counts.entry(span.service.clone()).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn sampling_ratio_zero_exports_nothing_and_still_propagates_the_trace() {
    let system = TracedSystem::start(("parentbased_traceidratio", "0")).await;
    let mut requests = system.watch(subjects::users_rpc::LIST.subject).await;
    let reply = system
        .graphql("{ users { nodes { id } } }", json!({}), &[])
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let trace_id = reply
        .header("x-trace-id")
        .expect("a trace id, sampled or not");
    let traceparent = next_headers(&mut requests)
        .await
        .get("traceparent")
        .map(|v| v.as_str().to_string())
        .expect("the request carries the trace");
    assert!(
        traceparent.starts_with(&format!("00-{trace_id}-")) && traceparent.ends_with("-00"),
        "the same trace, not sampled: {traceparent}"
    );
    // Every process has flushed what it had when it exits: nothing.
    let receiver = system.stop().await;
    assert!(
        receiver.spans().is_empty(),
        "nothing exported: {:?}",
        receiver.spans()
    );
}
