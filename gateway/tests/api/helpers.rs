//! `spawn_system()`: nats-server, the users and todos services, the probe service and the
//! gateway on a free port — and a client speaking HTTP to it.

use std::sync::Arc;
use std::time::Duration;

use gateway::limits::Limits;
use gateway::settings::GatewaySettings;
use serde_json::{Value, json};
use switchboard::auth::{ADMIN_ROLE, AuthSettings};
use switchboard::bus::BusSettings;
use switchboard::service::RuntimeSettings;
use switchboard::service::ServiceSettings;
use switchboard::testing::NatsServer;
use switchboard::testing::store::TestStore;
use switchboard::{Bus, ServiceRuntime};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// The media type of the GraphQL-over-HTTP specification, which tests accept so that a
/// refused request gets 400 (`application/json`, the default without `Accept`, gets 200).
pub const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// The development secret of the default system.
pub const SECRET: &str = "gateway-tests-secret-0123456789abcdef";

/// How a test wants its system.
pub struct Options {
    pub auth: AuthSettings,
    pub limits: Limits,
    pub max_body_bytes: usize,
    pub introspection: bool,
    pub cors_origins: Vec<String>,
    pub request_timeout: Duration,
    pub ws_init_timeout: Duration,
    pub max_websockets: usize,
    pub shutdown_grace: Duration,
    /// The probe's bound on requests in flight per endpoint.
    pub probe_max_in_flight: usize,
    /// The web client's directory (`GATEWAY_WEB_DIR`), if any.
    pub web_dir: Option<std::path::PathBuf>,
    /// Whether `POST /dev/token` signs tokens (`GATEWAY_DEV_TOKENS`).
    pub dev_tokens: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            auth: hs_auth(),
            limits: Limits::default(),
            max_body_bytes: gateway::settings::DEFAULT_MAX_BODY_BYTES,
            introspection: true,
            cors_origins: Vec::new(),
            request_timeout: gateway::settings::DEFAULT_REQUEST_TIMEOUT,
            ws_init_timeout: gateway::settings::DEFAULT_WS_INIT_TIMEOUT,
            max_websockets: gateway::settings::DEFAULT_MAX_WEBSOCKETS,
            shutdown_grace: gateway::settings::DEFAULT_SHUTDOWN_GRACE,
            probe_max_in_flight: RuntimeSettings::default().max_in_flight,
            web_dir: None,
            dev_tokens: false,
        }
    }
}

/// The longest a test waits for a condition or a read before failing: generous, so a
/// loaded machine is slow but never wrong.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The repository the gateway crate is in (where `web/` lives).
pub fn repository() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the gateway crate is inside the repository")
        .to_path_buf()
}

/// Runs `node <script> <args>` from the repository with `env` added, its output captured
/// and killed if it outlives `limit`; prints the output and fails the test unless the
/// script exits 0. `context` goes into the failure messages (e.g. where screenshots are).
pub async fn run_node(
    script: &str,
    args: &[&str],
    env: &[(&str, &str)],
    limit: Duration,
    context: &str,
) {
    let child = tokio::process::Command::new("node")
        .arg(repository().join(script))
        .args(args)
        .current_dir(repository())
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        // Dropped on timeout, and so killed (a script's Chromium exits with it).
        .kill_on_drop(true)
        .spawn()
        .expect("`node` runs (Node.js on PATH)");
    let output = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish within {limit:?}; {context}"))
        .expect("the script's output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Shown with `--nocapture`, or with the failure.
    println!("{stdout}{stderr}");
    assert!(
        output.status.success(),
        "{script} failed ({}); {context}\n{stdout}\n{stderr}",
        output.status
    );
}

pub fn hs_auth() -> AuthSettings {
    switchboard::testing::hs256_auth(SECRET)
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The `extensions.code` of every error.
    pub fn error_codes(&self) -> Vec<String> {
        self.json()["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub struct TestSystem {
    _server: NatsServer,
    pub bus: Bus,
    pub base: String,
    _users: users::Application,
    pub todos: Option<todos::Application>,
    /// How todos was started, to start it again after [`TestSystem::stop_todos`].
    todos_settings: ServiceSettings,
    _probe: switchboard::service::RunningService,
    /// What the probe service has seen, and the gate its `block` requests wait at.
    pub probe: Arc<ProbeControl>,
    stop_gateway: Option<oneshot::Sender<()>>,
    gateway: Option<JoinHandle<std::io::Result<()>>>,
    /// tickets, billing and bookings, once [`TestSystem::start_booking_services`] ran.
    booking_services: Vec<switchboard::service::Application>,
    /// Every service's store (SQLite, or MongoDB with `SB_TEST_STORE=mongodb`).
    stores: Vec<TestStore>,
}

pub async fn spawn_system() -> TestSystem {
    spawn_system_with(Options::default()).await
}

pub async fn spawn_system_with(options: Options) -> TestSystem {
    // Monitored, so a test can count the subscriptions the gateway holds.
    let server = NatsServer::start_monitored();
    let mut stores = Vec::new();
    let mut settings = |name: &str| {
        let store = TestStore::new(name);
        let settings = ServiceSettings {
            bus: BusSettings::new(server.url()),
            runtime: RuntimeSettings::default(),
            store_url: store.url().to_owned(),
            auth: options.auth.clone(),
        };
        stores.push(store);
        settings
    };
    let users = users::build(settings("users")).await.expect("users starts");
    let todos_settings = settings("todos");
    let todos = todos::build(todos_settings.clone())
        .await
        .expect("todos starts");
    let bus = Bus::connect(&BusSettings::new(server.url()), "tests")
        .await
        .expect("connects");
    let probe = Arc::new(ProbeControl::default());
    let running_probe = start_probe(&bus, probe.clone(), options.probe_max_in_flight).await;
    let mut gateway_settings = GatewaySettings::new(server.url());
    gateway_settings.addr = "127.0.0.1:0".parse().expect("an address");
    gateway_settings.auth = options.auth.clone();
    gateway_settings.limits = options.limits;
    gateway_settings.max_body_bytes = options.max_body_bytes;
    gateway_settings.introspection = options.introspection;
    gateway_settings.cors_origins = options.cors_origins.clone();
    gateway_settings.request_timeout = options.request_timeout;
    gateway_settings.ws_init_timeout = options.ws_init_timeout;
    gateway_settings.max_websockets = options.max_websockets;
    gateway_settings.shutdown_grace = options.shutdown_grace;
    gateway_settings.web_dir = options.web_dir.clone();
    gateway_settings.dev_tokens = options.dev_tokens;
    let gateway_bus = Bus::connect(&gateway_settings.bus, gateway::SENDER)
        .await
        .expect("connects");
    let app = gateway::Application::build_with(
        gateway_settings,
        gateway_bus,
        switchboard::testing::proto::DESCRIPTOR_SET,
    )
    .await
    .expect("the gateway starts");
    let base = format!("http://{}", app.local_addr());
    let (stop_gateway, stop) = oneshot::channel::<()>();
    let gateway = tokio::spawn(app.run_until_stopped(async {
        // A dropped sender (the test ended) stops the gateway too.
        let _ = stop.await;
    }));
    TestSystem {
        _server: server,
        bus,
        base,
        _users: users,
        todos: Some(todos),
        todos_settings,
        _probe: running_probe,
        probe,
        stop_gateway: Some(stop_gateway),
        gateway: Some(gateway),
        booking_services: Vec::new(),
        stores,
    }
}

/// What the probe has seen, and the gate its `block` requests wait at.
pub struct ProbeControl {
    /// How many `block` requests have reached the handler.
    pub entered: watch::Sender<usize>,
    /// Opened (true) to let every `block` request finish.
    pub gate: watch::Sender<bool>,
}

impl Default for ProbeControl {
    fn default() -> Self {
        Self {
            entered: watch::Sender::new(0),
            gate: watch::Sender::new(false),
        }
    }
}

impl ProbeControl {
    /// Waits until at least `count` `block` requests are in the handler.
    pub async fn wait_for_entered(&self, count: usize) {
        let mut entered = self.entered.subscribe();
        tokio::time::timeout(PATIENCE, entered.wait_for(|n| *n >= count))
            .await
            .unwrap_or_else(|_| panic!("{count} requests never reached the probe"))
            .expect("the probe is alive");
    }

    /// Lets every `block` request, waiting or to come, finish.
    pub fn open_gate(&self) {
        self.gate.send_replace(true);
    }
}

/// The probe service: `probeEcho(text:)` echoes, except for these texts, which drive it
/// into one condition each — `block` (wait at the test's gate), `not-found`, `conflict`,
/// `internal` (an internal failure), `leak` (a downstream failure copied into its own
/// error, as services do with `?`); `panic: true` panics.
async fn start_probe(
    bus: &Bus,
    control: Arc<ProbeControl>,
    max_in_flight: usize,
) -> switchboard::service::RunningService {
    use switchboard::testing::proto::probe::v1::{
        EchoRequest, Echoed, ProbeHandler, echo_reply::Outcome, probe_service,
    };
    use switchboard::{BusError, ErrorCode, ServiceError};
    struct Echo(Arc<ProbeControl>);
    impl ProbeHandler for Echo {
        async fn echo(
            &self,
            _: switchboard::Context,
            r: EchoRequest,
        ) -> Result<Outcome, ServiceError> {
            match r.text.as_str() {
                _ if r.panic() => panic!("the probe was told to panic"),
                "block" => {
                    self.0.entered.send_modify(|n| *n += 1);
                    let mut gate = self.0.gate.subscribe();
                    let _ = gate.wait_for(|open| *open).await;
                }
                "not-found" => {
                    return Err(ServiceError::new(ErrorCode::NotFound, "no such echo"));
                }
                "conflict" => return Err(ServiceError::conflict("the echo changed meanwhile")),
                "internal" => {
                    return Err(ServiceError::internal("the disk at /var/lib/probe is full"));
                }
                "leak" => {
                    return Err(ServiceError::from(BusError::Service {
                        subject: switchboard::proto::users::v1::users_rpc::GET_MANY.subject,
                        code: 404,
                        message: "row 7 missing from table users_v1".into(),
                        details: Vec::new(),
                    }));
                }
                _ => {}
            }
            Ok(Outcome::Echoed(Echoed {
                text: r.text,
                ..Default::default()
            }))
        }
        async fn record(
            &self,
            c: switchboard::Context,
            r: EchoRequest,
        ) -> Result<Outcome, ServiceError> {
            self.echo(c, r).await
        }
        async fn whoami(
            &self,
            c: switchboard::Context,
            r: EchoRequest,
        ) -> Result<Outcome, ServiceError> {
            self.echo(c, r).await
        }
    }
    let store = switchboard::store::open("sqlite::memory:")
        .await
        .expect("a store");
    let settings = RuntimeSettings {
        max_in_flight,
        ..RuntimeSettings::default()
    };
    ServiceRuntime::new(probe_service(Echo(control)), bus.clone(), store, settings)
        .start()
        .await
        .expect("the probe starts")
}

/// A development token for `subject` with `roles`, valid for a minute.
pub fn token(subject: &str, roles: &[&str]) -> String {
    switchboard::testing::token(SECRET, subject, roles)
}

pub fn admin() -> String {
    token("root", &[ADMIN_ROLE])
}

impl TestSystem {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs a query (with variables) as the holder of `token`, accepting
    /// `application/graphql-response+json` as current clients do (a request refused before
    /// it runs gets 400; with `application/json` it would get 200).
    pub async fn graphql(&self, query: &str, variables: Value, token: Option<&str>) -> Reply {
        let body = json!({ "query": query, "variables": variables }).to_string();
        let mut headers = vec![
            ("Content-Type".to_string(), "application/json".to_string()),
            ("Accept".to_string(), GRAPHQL_RESPONSE.to_string()),
        ];
        if let Some(token) = token {
            headers.push(("Authorization".into(), format!("Bearer {token}")));
        }
        http("POST", &self.url("/graphql"), headers, body.into_bytes()).await
    }

    /// Registers a user and returns its id.
    pub async fn create_user(&self, email: &str) -> String {
        let reply = self
            .graphql(
                "mutation($email: String!) { createUser(email: $email, displayName: \"T\") { ... on User { id } } }",
                json!({ "email": email }),
                None,
            )
            .await;
        reply.json()["data"]["createUser"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no user id: {}", reply.body))
            .to_string()
    }

    /// Creates a todo for `owner` (as that owner) and returns its id.
    pub async fn create_todo(&self, owner: &str, title: &str) -> String {
        let reply = self
            .graphql(
                "mutation($owner: ID!, $title: String!) { createTodo(ownerId: $owner, title: $title) { ... on Todo { id } } }",
                json!({ "owner": owner, "title": title }),
                Some(&token(owner, &[])),
            )
            .await;
        reply.json()["data"]["createTodo"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no todo id: {}", reply.body))
            .to_string()
    }

    /// How many requests the (one) instance of `service` has counted on `endpoint`, from
    /// its `$SRV.STATS` reply.
    pub async fn requests_served(&self, service: &str, endpoint: &str) -> u64 {
        let client = self.bus.nats();
        let reply = tokio::time::timeout(
            PATIENCE,
            client.request(format!("$SRV.STATS.{service}"), "".into()),
        )
        .await
        .expect("the stats reply in time")
        .expect("a stats reply");
        let stats: Value = serde_json::from_slice(&reply.payload).expect("JSON");
        stats["endpoints"]
            .as_array()
            .expect("endpoints")
            .iter()
            .filter(|e| e["name"] == endpoint)
            .map(|e| e["num_requests"].as_u64().unwrap_or(0))
            .sum()
    }

    /// Gives the gateway its shutdown signal and returns its `run_until_stopped`.
    pub fn shut_down_gateway(&mut self) -> JoinHandle<std::io::Result<()>> {
        if let Some(stop) = self.stop_gateway.take() {
            let _ = stop.send(());
        }
        self.gateway.take().expect("the gateway runs")
    }

    /// Stops the todos service.
    /// How many subscriptions on `subject` the server holds, over every connection.
    pub fn subscribers(&self, subject: &str) -> usize {
        let connz = self
            ._server
            .monitor("/connz?subs=1")
            .expect("the server's connections");
        connz["connections"]
            .as_array()
            .expect("a list of connections")
            .iter()
            .filter_map(|c| c["subscriptions_list"].as_array())
            .flatten()
            .filter(|s| s.as_str() == Some(subject))
            .count()
    }

    /// Starts tickets, billing (whose faults tests may set) and bookings beside the
    /// system's services, each on its own store.
    pub async fn start_booking_services(&mut self) {
        let mut settings = |name: &str| {
            let store = TestStore::new(name);
            let mut settings = self.todos_settings.clone();
            settings.store_url = store.url().to_owned();
            self.stores.push(store);
            settings
        };
        let env = switchboard::settings::Env::from_pairs([("BILLING_FAULT_INJECTION", "true")]);
        let mut tickets = tickets::TicketsSettings::from_env(&env).expect("tickets settings");
        tickets.service = settings("tickets");
        let mut billing = billing::BillingSettings::from_env(&env).expect("billing settings");
        billing.service = settings("billing");
        self.booking_services = vec![
            tickets::build(tickets).await.expect("tickets starts"),
            billing::build(billing).await.expect("billing starts"),
            bookings::build(settings("bookings"))
                .await
                .expect("bookings starts"),
        ];
    }

    /// Starts todos again on its store, after [`TestSystem::stop_todos`].
    pub async fn start_todos(&mut self) {
        assert!(self.todos.is_none(), "todos is already running");
        let app = todos::build(self.todos_settings.clone())
            .await
            .expect("todos starts again");
        self.todos = Some(app);
    }

    pub async fn stop_todos(&mut self) {
        if let Some(app) = self.todos.take() {
            app.run_until_stopped(async {}).await.expect("stops");
        }
    }
}

/// One HTTP request with ureq (on a blocking thread), statuses returned, not raised.
pub async fn http(method: &str, url: &str, headers: Vec<(String, String)>, body: Vec<u8>) -> Reply {
    let (method, url) = (method.to_string(), url.to_string());
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // A gateway that stops answering fails the test instead of hanging it.
            .timeout_global(Some(PATIENCE))
            .build()
            .into();
        let mut request = ureq::http::Request::builder()
            .method(method.as_str())
            .uri(&url);
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        let request = request.body(body).expect("a request");
        let mut response = agent.run(request).expect("the gateway answers");
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect::<Vec<_>>();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        Reply {
            status: response.status().as_u16(),
            content_type,
            headers,
            body: response.body_mut().read_to_string().unwrap_or_default(),
        }
    })
    .await
    .expect("the HTTP thread")
}
