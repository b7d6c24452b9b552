//! `gateway`: the whole path — HTTP → GraphQL → bus → todos service → embedded store — for
//! `todos(ownerId)` returning 10 items, against async-graphql resolving the same 10 items
//! in the same process, without the hop, in the same run.
//!
//! Each *target* is a server (or a direct call) the load generator measures:
//! - `full`: the gateway (`gateway::Application`) answering over NATS from the `todos`
//!   service, which reads its SQLite file;
//! - `store`: a static async-graphql schema in this process ([`in_process`]) whose resolver
//!   reads the same SQLite file through its own `Collection<TodoRecord>`;
//! - `memory`: the same schema resolving from a `Vec` (an upper bound, no store);
//! - `hand`: the hand-written baseline of issue 8 ([`hand`]): a minimal axum handler
//!   sending one raw async-nats request with a prost body to a raw subscriber that answers
//!   from memory (no JWT, no SQLite);
//! - `create`: the write path, the gateway's `createTodo` mutation through the bus into the
//!   todos service's store, beside `hand-create`, the same insert by a minimal axum handler
//!   into its own SQLite file with the same settings ([`hand_write`]);
//! - with `--breakdown`, the pieces: `canned` (HTTP + token verification answering
//!   prepared bytes: the floor of HTTP and of the load generator), `bus-call` (the
//!   generated `TodosClient::list_by_owner` over the bus: the hop without HTTP or
//!   GraphQL), `store-find` (the store read alone).
//!
//! Every HTTP request is the same `POST` with the same body and bearer token, over
//! keep-alive HTTP/1.1 connections ([`http`]). Each round has three phases: a warm-up of
//! every target; sequential latency over one connection per target, the targets taking
//! turns request by request; then throughput, `concurrency` connections looping for a
//! fixed time, one target after the other.

mod hand;
mod hand_write;
mod http;
mod in_process;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::gateway::settings::GatewaySettings;
use anyhow::{Context as _, Result, ensure};
use bytes::Bytes;
use serde_json::{Value, json};
use switchboard::Bus;
use switchboard::auth::{JwtVerifier, TokenVerifier};
use switchboard::bus::BusSettings;
use switchboard::proto::switchboard::v1::PageRequest;
use switchboard::proto::todos::v1::{
    CreateTodoRequest, ListTodosByOwnerRequest, TodosClient, create_todo_reply,
};
use switchboard::service::RuntimeSettings;
use switchboard::service::ServiceSettings;
use switchboard::settings::Secret;
use switchboard::store::Collection;
use switchboard::testing::{NatsServer, hs256_auth};
use todos::record::TodoRecord;
use tokio::net::TcpListener;
use tokio::sync::{Barrier, watch};
use tokio::task::{JoinHandle, JoinSet};

use self::http::{Connection, Post};
use crate::cpu::Clocks;
use crate::report::{self, Call, Measurement, Subject, find, verdict};
use crate::stats::{Load, micros};

/// Throughput the full path must reach, as a fraction of the in-process (store) throughput.
const TARGET_RATIO: f64 = 0.8;
/// The HS256 secret of the gateway, the service and the in-process server.
const SECRET: &str = "bench-gateway-secret-0123456789abcdef";
/// The owner of the todos, and the token's subject.
const OWNER: &str = "bench-user";
/// How many todos the owner has and the query asks for.
const ITEMS: usize = 10;
/// How long the benchmark's token is valid (`testing::token` gives a minute, less than a
/// run with `--breakdown` takes).
const TOKEN_TTL: Duration = Duration::from_secs(3600);
/// Width of the target column in tables and progress lines.
const LABEL_WIDTH: usize = 30;
/// The full path's CPU per request may be at most this multiple of the hand-written
/// path's (bench + nats-server), and so may its load p99 (issue 8).
const HAND_CPU_RATIO: f64 = 2.0;
/// The full path's throughput must reach this fraction of the hand-written path's.
const HAND_THROUGHPUT_RATIO: f64 = 0.5;
/// The write path's throughput must reach this fraction of the hand-written insert's.
const WRITE_THROUGHPUT_RATIO: f64 = 0.5;
/// The mutation the write targets answer; the todos are the token subject's, titled
/// [`WRITE_TITLE`].
const CREATE: &str = "mutation($o:ID!,$t:String!){ createTodo(ownerId:$o, title:$t) \
                      { ... on Todo { id title } } }";
/// The title of every todo the write targets create.
const WRITE_TITLE: &str = "a todo the write benchmark created";
/// The query every read target answers.
const QUERY: &str = "query($o:ID!){ todos(ownerId:$o, first:10) \
                     { nodes { id title completed createdAt } } }";

/// The media type the gateway answers in when the client sends no `Accept` (as the load
/// generator does): the GraphQL-over-HTTP audits ask for `application/json` then.
const ANSWER_MEDIA_TYPE: &str = "application/json; charset=utf-8";

/// A 200 answer carrying `body` in the gateway's media type: what every in-process server
/// answers with.
fn graphql_ok(body: impl Into<axum::body::Body>) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    (
        axum::http::StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, ANSWER_MEDIA_TYPE)],
        body.into(),
    )
        .into_response()
}

/// The request for the first page of `owner`'s todos that every target answers.
fn owner_page(owner: &str) -> ListTodosByOwnerRequest {
    ListTodosByOwnerRequest {
        owner_id: owner.into(),
        page: Some(PageRequest {
            limit: ITEMS as u32,
            ..Default::default()
        }),
    }
}

/// What the command line chose (see [`crate::options::Options`]).
pub type Options = crate::options::Options<Target>;

/// Reads the options that follow `gateway` on the command line.
pub fn parse_options(args: impl Iterator<Item = String>) -> Result<Options> {
    Options::with_defaults(1_000, 5_000).parse(args, Target::named)
}

/// What the load generator measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// HTTP → gateway → bus → todos service → SQLite.
    Full,
    /// HTTP → axum handler → one raw async-nats request (prost) → raw subscriber, memory.
    Hand,
    /// HTTP → static async-graphql schema → the same SQLite file, in this process.
    Store,
    /// HTTP → static async-graphql schema → a `Vec` in memory.
    Memory,
    /// HTTP → token verification → prepared bytes.
    Canned,
    /// `TodosClient::list_by_owner` over the bus, no HTTP, no GraphQL.
    BusCall,
    /// `Collection::find` of the same page, no HTTP, no GraphQL.
    StoreFind,
    /// HTTP → gateway `createTodo` → bus → todos service → SQLite insert.
    Create,
    /// HTTP → axum handler → SQLite insert, the same settings.
    HandCreate,
}

impl Subject for Target {
    const DEFAULT: &'static [Self] = &[
        Target::Full,
        Target::Hand,
        Target::Store,
        Target::Memory,
        Target::Create,
        Target::HandCreate,
    ];
    const NAMES: &'static [(Self, &'static str)] = &[
        (Target::Full, "full"),
        (Target::Hand, "hand"),
        (Target::Store, "store"),
        (Target::Memory, "memory"),
        (Target::Canned, "canned"),
        (Target::BusCall, "bus-call"),
        (Target::StoreFind, "store-find"),
        (Target::Create, "create"),
        (Target::HandCreate, "hand-create"),
    ];

    fn label(self) -> &'static str {
        match self {
            Target::Full => "full path (gateway+bus)",
            Target::Hand => "hand-written (axum+async-nats)",
            Target::Store => "in-process, store",
            Target::Memory => "in-process, memory (bound)",
            Target::Canned => "HTTP+auth, canned body",
            Target::BusCall => "bus call, no HTTP/GraphQL",
            Target::StoreFind => "store read, no HTTP/GraphQL",
            Target::Create => "createTodo, full path",
            Target::HandCreate => "createTodo, hand-written",
        }
    }
}

/// An HTTP target: its prepared request and what every correct answer looks like.
#[derive(Debug, Clone)]
struct HttpTarget {
    /// The request.
    post: Post,
    /// How an answer is checked.
    answer: Expected,
}

/// What a correct answer of an HTTP target is.
#[derive(Debug, Clone, Copy)]
enum Expected {
    /// A read: exactly as many bytes as the verified first answer (the 10 todos never
    /// change).
    Length(usize),
    /// A write: a new todo with its id and [`WRITE_TITLE`].
    Created,
}

impl Expected {
    /// Whether `body` is a correct answer.
    fn accepts(self, body: &[u8]) -> bool {
        match self {
            Expected::Length(len) => body.len() == len,
            Expected::Created => created_todo(body).is_some(),
        }
    }
}

/// The id of the todo a `createTodo` answer reports, if it is a complete answer without
/// errors and with [`WRITE_TITLE`].
fn created_todo(body: &[u8]) -> Option<String> {
    let answer: Value = serde_json::from_slice(body).ok()?;
    let todo = &answer["data"]["createTodo"];
    (answer.get("errors").is_none() && todo["title"] == WRITE_TITLE)
        .then(|| todo["id"].as_str().map(str::to_owned))
        .flatten()
}

/// Everything a run serves and calls: nats-server, the todos service, the gateway, the
/// in-process server, and how to reach each target.
struct Fixture {
    /// The nats-server; killed when the fixture is dropped.
    _server: NatsServer,
    /// Holds the todos service's SQLite file.
    _dir: tempfile::TempDir,
    /// The todos service's MongoDB database, with `--mongodb`.
    _mongodb: Option<switchboard::testing::mongo::TestDatabase>,
    /// The todos service.
    todos: todos::Application,
    /// The gateway's, the in-process server's and the hand-written handler's serving
    /// tasks.
    servers: Vec<JoinHandle<std::io::Result<()>>>,
    /// The hand-written responder.
    responder: JoinHandle<()>,
    /// The full path.
    full: Arc<HttpTarget>,
    /// The hand-written axum → async-nats → subscriber path.
    hand: Arc<HttpTarget>,
    /// In-process, from the store.
    store: Arc<HttpTarget>,
    /// In-process, from memory.
    memory: Arc<HttpTarget>,
    /// HTTP + auth floor.
    canned: Arc<HttpTarget>,
    /// `createTodo` through the gateway.
    create: Arc<HttpTarget>,
    /// The hand-written insert.
    hand_create: Arc<HttpTarget>,
    /// The generated client, carrying the token, over its own connection.
    client: TodosClient,
    /// The in-process server's view of the todos collection.
    collection: Collection<TodoRecord>,
    /// CPU clocks of this process and of the nats-server.
    clocks: Clocks,
}

impl Fixture {
    /// Starts nats-server, the todos service (with 10 todos for [`OWNER`]), the gateway
    /// and the in-process server, and checks that every HTTP target answers the same 10
    /// todos.
    async fn start(mongodb: bool) -> Result<Self> {
        let server = NatsServer::try_start().context(
            "cannot start nats-server: set NATS_SERVER_BIN (`cargo xtask nats` prints one)",
        )?;
        let url = server.url().to_string();
        let dir = tempfile::tempdir().context("a temporary directory")?;
        let mongodb = mongodb.then(|| switchboard::testing::mongo::TestDatabase::new("bench"));
        let store_url = match &mongodb {
            Some(database) => database.url().to_owned(),
            None => format!("sqlite://{}", dir.path().join("todos.db").display()),
        };
        let todos = todos::build(ServiceSettings {
            bus: BusSettings::new(url.clone()),
            runtime: RuntimeSettings::default(),
            store_url: store_url.clone(),
            auth: hs256_auth(SECRET),
        })
        .await
        .context("starting the todos service")?;

        let token = switchboard::auth::sign_hs256(
            &Secret::new(SECRET),
            &hs256_auth(SECRET),
            OWNER,
            &[],
            TOKEN_TTL,
        )
        .context("signing the token")?;
        let bus = Bus::connect(&BusSettings::new(url.clone()), "bench-client")
            .await
            .context("connecting the bench client")?;
        let client = TodosClient::new(bus.with_bearer_token(&token));
        create_todos(&client).await?;

        let mut settings = GatewaySettings::new(&url);
        settings.addr = SocketAddr::from(([127, 0, 0, 1], 0));
        settings.auth = hs256_auth(SECRET);
        let gateway_bus = Bus::connect(&settings.bus, ::gateway::SENDER)
            .await
            .context("connecting the gateway")?;
        let app = ::gateway::Application::build_with(
            settings,
            gateway_bus,
            switchboard::proto::DESCRIPTOR_SET,
        )
        .await
        .context("starting the gateway")?;
        let gateway_addr = app.local_addr();
        let mut servers = vec![tokio::spawn(app.run_until_stopped(std::future::pending()))];

        let body = Bytes::from(json!({ "query": QUERY, "variables": { "o": OWNER } }).to_string());
        let full_post = Post::new(gateway_addr, "/graphql", &token, body.clone())?;
        let (reference, full) = first_answer(&full_post, None)
            .await
            .context("the full path's first answer")?;

        let collection = Collection::new(
            switchboard::store::open(&store_url)
                .await
                .context("opening the todos store in process")?,
            todos::COLLECTION,
        );
        let memory = in_process::find_todos(&collection, OWNER, 10)
            .await
            .context("reading the todos in process")?;
        ensure!(
            memory.len() == ITEMS,
            "the store holds {} todos",
            memory.len()
        );
        let verifier: Arc<dyn TokenVerifier> = Arc::new(
            JwtVerifier::new(&hs256_auth(SECRET))
                .await
                .context("the in-process token verifier")?,
        );
        // The canned route answers the gateway's own bytes: the same size on the wire.
        let router = in_process::router(
            collection.clone(),
            memory,
            Bytes::copy_from_slice(full.as_bytes()),
            verifier,
        );
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .context("binding the in-process server")?;
        let in_process_addr = listener.local_addr()?;
        servers.push(tokio::spawn(
            async move { axum::serve(listener, router).await },
        ));

        let check = |path| {
            let post = Post::new(in_process_addr, path, &token, body.clone());
            async { checked_target(post?, &reference).await }
        };
        let store = check(in_process::STORE_PATH)
            .await
            .context("the in-process (store) first answer")?;
        let memory = check(in_process::MEMORY_PATH)
            .await
            .context("the in-process (memory) first answer")?;
        let canned = check(in_process::CANNED_PATH)
            .await
            .context("the canned first answer")?;

        // The hand-written path: its responder holds the 10 todos as the service answers
        // them (prost), each side on its own NATS connection.
        let listed = client
            .list_by_owner(owner_page(OWNER))
            .await
            .context("listing the todos for the hand-written responder")?;
        let responder = hand::responder(&url, listed.todos).await?;
        let hand_client = async_nats::connect(&url)
            .await
            .context("connecting the hand-written handler")?;
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .context("binding the hand-written handler")?;
        let hand_addr = listener.local_addr()?;
        let hand_router = hand::router(hand_client);
        servers.push(tokio::spawn(async move {
            axum::serve(listener, hand_router).await
        }));
        let hand = checked_target(
            Post::new(hand_addr, hand::PATH, &token, body.clone())?,
            &reference,
        )
        .await
        .context("the hand-written first answer")?;

        // The write path, and the hand-written insert into a file of its own.
        let create_body = Bytes::from(
            json!({ "query": CREATE, "variables": { "o": OWNER, "t": WRITE_TITLE } }).to_string(),
        );
        let create = checked_write(Post::new(
            gateway_addr,
            "/graphql",
            &token,
            create_body.clone(),
        )?)
        .await
        .context("the full path's first createTodo")?;
        let hand_db = hand_write::open(&dir.path().join("hand.db"))?;
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .context("binding the hand-written insert handler")?;
        let hand_create_addr = listener.local_addr()?;
        let hand_create_router = hand_write::router(hand_db);
        servers.push(tokio::spawn(async move {
            axum::serve(listener, hand_create_router).await
        }));
        let hand_create = checked_write(Post::new(
            hand_create_addr,
            hand_write::PATH,
            &token,
            create_body,
        )?)
        .await
        .context("the hand-written first insert")?;
        Ok(Self {
            _server: server,
            _dir: dir,
            _mongodb: mongodb,
            todos,
            servers,
            responder,
            full: Arc::new(HttpTarget {
                answer: Expected::Length(full.len()),
                post: full_post,
            }),
            create,
            hand_create,
            hand,
            store,
            memory,
            canned,
            client,
            collection,
            clocks: Clocks::find(),
        })
    }

    /// A fresh worker for `target` (for HTTP, a new connection).
    async fn worker(&self, target: Target) -> Result<Worker> {
        let http = |target: &Arc<HttpTarget>| {
            let target = Arc::clone(target);
            async move {
                anyhow::Ok(Worker::Http {
                    connection: Connection::open(target.post.addr).await?,
                    target,
                })
            }
        };
        match target {
            Target::Full => http(&self.full).await,
            Target::Hand => http(&self.hand).await,
            Target::Store => http(&self.store).await,
            Target::Memory => http(&self.memory).await,
            Target::Canned => http(&self.canned).await,
            Target::Create => http(&self.create).await,
            Target::HandCreate => http(&self.hand_create).await,
            Target::BusCall => Ok(Worker::Bus(self.client.clone())),
            Target::StoreFind => Ok(Worker::Store(self.collection.clone())),
        }
    }

    /// Stops the servers and the todos service.
    async fn stop(self) -> Result<()> {
        for server in &self.servers {
            server.abort();
        }
        self.responder.abort();
        self.todos
            .run_until_stopped(async {})
            .await
            .context("stopping the todos service")
    }
}

/// `post` as a target, once its first answer is the same JSON as `reference`.
async fn checked_target(post: Post, reference: &Value) -> Result<Arc<HttpTarget>> {
    let (_, text) = first_answer(&post, Some(reference)).await?;
    Ok(Arc::new(HttpTarget {
        answer: Expected::Length(text.len()),
        post,
    }))
}

/// `post` as a write target, once it answered a created todo.
async fn checked_write(post: Post) -> Result<Arc<HttpTarget>> {
    let mut connection = Connection::open(post.addr).await?;
    let (status, body) = connection.send(&post).await?;
    ensure!(
        status.is_success() && created_todo(&body).is_some(),
        "{} answered {status}, not a created todo: {}",
        post.path,
        String::from_utf8_lossy(&body)
    );
    Ok(Arc::new(HttpTarget {
        answer: Expected::Created,
        post,
    }))
}

/// Creates [`ITEMS`] todos for [`OWNER`] through the generated client.
async fn create_todos(client: &TodosClient) -> Result<()> {
    for n in 1..=ITEMS {
        let outcome = client
            .create(CreateTodoRequest {
                owner_id: OWNER.into(),
                title: format!("benchmark todo number {n}"),
            })
            .await
            .with_context(|| format!("creating todo {n}"))?;
        let create_todo_reply::Outcome::Created(_) = outcome;
    }
    Ok(())
}

/// Sends `post` once on a new connection and checks the answer: 200, exactly [`ITEMS`]
/// todos with every selected field, and — when `reference` is given — the same JSON as
/// it. Returns the parsed answer and its text.
async fn first_answer(post: &Post, reference: Option<&Value>) -> Result<(Value, String)> {
    let mut connection = Connection::open(post.addr).await?;
    let (status, body) = connection.send(post).await?;
    let text = String::from_utf8(body.to_vec()).context("the answer is not UTF-8")?;
    ensure!(
        status.is_success(),
        "{} answered {status}: {text}",
        post.path
    );
    let answer: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} answered no JSON: {text}", post.path))?;
    let todos = answer["data"]["todos"]["nodes"]
        .as_array()
        .with_context(|| format!("{} answered no todos: {text}", post.path))?;
    ensure!(
        todos.len() == ITEMS,
        "{} answered {} todos, not {ITEMS}: {text}",
        post.path,
        todos.len()
    );
    for todo in todos {
        ensure!(
            todo["id"].is_string()
                && todo["title"].is_string()
                && todo["completed"].is_boolean()
                && todo["createdAt"].is_string(),
            "{} answered an incomplete todo: {todo}",
            post.path
        );
    }
    if let Some(reference) = reference {
        ensure!(
            answer == *reference,
            "{} answered other todos than the gateway: {text}",
            post.path
        );
    }
    Ok((answer, text))
}

/// Sends requests to one target and checks each answer.
enum Worker {
    /// One keep-alive HTTP connection.
    Http {
        /// The connection.
        connection: Connection,
        /// What to send and how long the answer is.
        target: Arc<HttpTarget>,
    },
    /// The generated client over the bus.
    Bus(TodosClient),
    /// The store, read directly.
    Store(Collection<TodoRecord>),
}

impl Call for Worker {
    async fn call(&mut self) -> Result<()> {
        match self {
            Worker::Http { connection, target } => {
                let (status, body) = connection.send(&target.post).await?;
                ensure!(
                    status.is_success() && target.answer.accepts(&body),
                    "{} answered {status}, not {:?}: {}",
                    target.post.path,
                    target.answer,
                    String::from_utf8_lossy(&body)
                );
            }
            Worker::Bus(client) => {
                let reply = client
                    .list_by_owner(owner_page(OWNER))
                    .await
                    .context("listing the owner's todos over the bus")?;
                ensure!(reply.todos.len() == ITEMS, "{} todos", reply.todos.len());
            }
            Worker::Store(collection) => {
                let todos = in_process::find_todos(collection, OWNER, 10)
                    .await
                    .context("reading the store")?;
                ensure!(todos.len() == ITEMS, "{} todos", todos.len());
            }
        }
        Ok(())
    }
}

/// Opens `concurrency` workers for `target`, lets each send one unmeasured request, then
/// starts them together and measures what they achieve in `duration`.
async fn under_load(fixture: &Fixture, target: Target, options: &Options) -> Result<Load> {
    let ready = Arc::new(Barrier::new(options.concurrency + 1));
    let (start, started_at) = watch::channel(None::<Instant>);
    let duration = options.duration;
    let mut workers = JoinSet::new();
    for _ in 0..options.concurrency {
        let mut worker = fixture.worker(target).await?;
        let ready = ready.clone();
        let mut started_at = started_at.clone();
        workers.spawn(async move {
            let warmed = worker.call().await;
            ready.wait().await;
            warmed?;
            let end = started_at
                .wait_for(Option::is_some)
                .await
                .context("the start signal was dropped")?
                .map(|at| at + duration)
                .context("no start time")?;
            report::until(&mut worker, end).await
        });
    }
    ready.wait().await;
    let cpu_before = fixture.clocks.now();
    let started = Instant::now();
    start.send_replace(Some(started));
    report::collect(workers, started, &fixture.clocks, &cpu_before).await
}

/// One round: a warm-up of every target, sequential latency of all targets taking turns,
/// then the throughput of each target, one after another.
async fn round(
    fixture: &Fixture,
    targets: &[Target],
    options: &Options,
) -> Result<Vec<Measurement<Target>>> {
    let mut workers = Vec::with_capacity(targets.len());
    for &target in targets {
        workers.push(fixture.worker(target).await?);
    }
    let latencies = report::warm_up_then_sequential(&mut workers, targets, options).await?;
    drop(workers);
    report::throughput_phase(targets, latencies, async |_, target| {
        under_load(fixture, target, options).await
    })
    .await
}

/// Runs the benchmark and prints its tables.
pub async fn run(options: Options) -> Result<()> {
    let fixture = Fixture::start(options.mongodb).await?;
    if options.mongodb {
        println!("gateway: the todos service and `in-process, store` read MongoDB (--mongodb)");
    }
    let targets = options.chosen();
    println!(
        "gateway: todos(ownerId) returning {ITEMS} items, and createTodo; per round, {} \
         warm-up requests per target; {} sequential requests per target over one keep-alive \
         connection, the targets taking turns request by request; then {} connections for \
         {:.1} s per target, one target after another; {} round(s); {}-byte request body, \
         {:?} (read)",
        options.warmup,
        options.requests,
        options.concurrency,
        options.duration.as_secs_f64(),
        options.rounds,
        fixture.full.post.body.len(),
        fixture.full.answer,
    );
    let rounds = report::rounds(&options, LABEL_WIDTH, async || {
        round(&fixture, &targets, &options).await
    })
    .await?;
    fixture.stop().await?;
    print_result_lines(&rounds);
    print_table(&rounds, &options);
    print_verdict(&rounds);
    print_hand_verdict(&rounds);
    print_write_verdict(&rounds);
    Ok(())
}

/// One line per full-path measurement for a benchmark that runs this one as a child
/// process (`tracing`): `RESULT full <req/s> <seq p50 µs> <load p99 µs> <bench CPU µs/req>
/// <nats CPU µs/req>`.
fn print_result_lines(rounds: &[Vec<Measurement<Target>>]) {
    for measurements in rounds {
        if let Some(full) = find(measurements, Target::Full) {
            let cpu = |d: Option<Duration>| d.map_or(f64::NAN, micros);
            println!(
                "RESULT full {:.1} {:.1} {:.1} {:.1} {:.1}",
                full.throughput(),
                micros(full.sequential.p50),
                micros(full.load.latency.p99),
                cpu(full.load.bench_cpu),
                cpu(full.load.server_cpu),
            );
        }
    }
}

/// Prints every measurement, with its throughput relative to `in-process, store` in the
/// same round.
fn print_table(rounds: &[Vec<Measurement<Target>>], options: &Options) {
    report::print_header(
        "target",
        LABEL_WIDTH,
        &format!(
            "seq p50 µs | seq p99 µs | seq mean µs | {}× req/s | × store",
            options.concurrency
        ),
        "-----------:|-----------:|------------:|---------:|--------:",
    );
    for (index, measurements) in rounds.iter().enumerate() {
        let store = find(measurements, Target::Store);
        for m in measurements {
            let ratio = store.map_or_else(
                || "-".into(),
                |store| format!("{:.2}", m.throughput() / store.throughput()),
            );
            let middle = format!(
                "{:>10.1} | {:>10.1} | {:>11.1} | {:>8.0} | {:>7}",
                micros(m.sequential.p50),
                micros(m.sequential.p99),
                micros(m.sequential.mean),
                m.throughput(),
                ratio,
            );
            report::print_row(index + 1, LABEL_WIDTH, m, &middle);
        }
    }
}

/// Prints the full path against in-process (store) per round and over all rounds, with
/// PASS/MISS, and against in-process (memory) for reference.
fn print_verdict(rounds: &[Vec<Measurement<Target>>]) {
    println!();
    let mut totals = [0.0; 3];
    let mut counted = 0;
    for (index, measurements) in rounds.iter().enumerate() {
        let (Some(full), Some(store)) = (
            find(measurements, Target::Full),
            find(measurements, Target::Store),
        ) else {
            continue;
        };
        let ratio = full.throughput() / store.throughput();
        let memory = find(measurements, Target::Memory).map(Measurement::throughput);
        println!(
            "round {}: full/in-process(store) = {ratio:.3} ({}){}; seq p50 full − store = {:+.1} µs",
            index + 1,
            verdict(ratio >= TARGET_RATIO),
            memory.map_or_else(String::new, |memory| format!(
                ", full/in-process(memory) = {:.3}",
                full.throughput() / memory
            )),
            micros(full.sequential.p50) - micros(store.sequential.p50),
        );
        totals[0] += full.throughput();
        totals[1] += store.throughput();
        totals[2] += memory.unwrap_or_default();
        counted += 1;
    }
    if counted == 0 {
        return;
    }
    let ratio = totals[0] / totals[1];
    println!(
        "all rounds: full/in-process(store) req/s = {ratio:.3} (target ≥ {TARGET_RATIO}: {}){}",
        verdict(ratio >= TARGET_RATIO),
        if totals[2] > 0.0 {
            format!("; full/in-process(memory) = {:.3}", totals[0] / totals[2])
        } else {
            String::new()
        },
    );
}

/// The full path's figures over the hand-written path's in one round (or summed over
/// rounds): req/s, CPU µs per request (bench + nats-server), load p99.
#[derive(Debug, Clone, Copy, Default)]
struct HandRatios {
    /// Full req/s over hand-written req/s.
    throughput: f64,
    /// Full CPU per request over hand-written CPU per request.
    cpu: f64,
    /// Full load p99 over hand-written load p99.
    p99: f64,
}

/// CPU µs per request of a measurement, bench process plus nats-server, if `/proc` told.
fn total_cpu(m: &Measurement<Target>) -> Option<f64> {
    Some(micros(m.load.bench_cpu?) + micros(m.load.server_cpu?))
}

/// Prints the full path against the hand-written path per round and over all rounds, with
/// PASS/MISS for each of issue 8's three targets.
fn print_hand_verdict(rounds: &[Vec<Measurement<Target>>]) {
    let mut sums = [0.0; 6];
    let mut counted = 0;
    let line = |what: &str, full_cpu: f64, hand_cpu: f64, r: HandRatios| {
        format!(
            "{what}: full/hand-written CPU µs/req (bench+nats) = {full_cpu:.1}/{hand_cpu:.1} = \
             {:.2} (target ≤ {HAND_CPU_RATIO}: {}); req/s = {:.3} (target ≥ \
             {HAND_THROUGHPUT_RATIO}: {}); load p99 = {:.2} (target ≤ {HAND_CPU_RATIO}: {})",
            r.cpu,
            verdict(r.cpu <= HAND_CPU_RATIO),
            r.throughput,
            verdict(r.throughput >= HAND_THROUGHPUT_RATIO),
            r.p99,
            verdict(r.p99 <= HAND_CPU_RATIO),
        )
    };
    for (index, measurements) in rounds.iter().enumerate() {
        let (Some(full), Some(hand)) = (
            find(measurements, Target::Full),
            find(measurements, Target::Hand),
        ) else {
            continue;
        };
        let (Some(full_cpu), Some(hand_cpu)) = (total_cpu(full), total_cpu(hand)) else {
            continue;
        };
        let (full_p99, hand_p99) = (micros(full.load.latency.p99), micros(hand.load.latency.p99));
        if counted == 0 {
            println!();
        }
        println!(
            "{}",
            line(
                &format!("round {}", index + 1),
                full_cpu,
                hand_cpu,
                HandRatios {
                    throughput: full.throughput() / hand.throughput(),
                    cpu: full_cpu / hand_cpu,
                    p99: full_p99 / hand_p99,
                },
            )
        );
        for (sum, value) in sums.iter_mut().zip([
            full.throughput(),
            hand.throughput(),
            full_cpu,
            hand_cpu,
            full_p99,
            hand_p99,
        ]) {
            *sum += value;
        }
        counted += 1;
    }
    if counted == 0 {
        return;
    }
    let n = f64::from(counted);
    println!(
        "{}",
        line(
            "all rounds (req/s summed; CPU, p99 averaged)",
            sums[2] / n,
            sums[3] / n,
            HandRatios {
                throughput: sums[0] / sums[1],
                cpu: sums[2] / sums[3],
                p99: sums[4] / sums[5],
            },
        )
    );
}

/// Prints the write path against the hand-written insert per round and over all rounds
/// (req/s summed), with PASS/MISS against issue 8's write target.
fn print_write_verdict(rounds: &[Vec<Measurement<Target>>]) {
    let mut sums = [0.0; 2];
    for (index, measurements) in rounds.iter().enumerate() {
        let (Some(full), Some(hand)) = (
            find(measurements, Target::Create),
            find(measurements, Target::HandCreate),
        ) else {
            continue;
        };
        if sums[1] == 0.0 {
            println!();
        }
        let ratio = full.throughput() / hand.throughput();
        println!(
            "round {}: createTodo full/hand-written req/s = {:.0}/{:.0} = {ratio:.3} (target ≥ \
             {WRITE_THROUGHPUT_RATIO}: {})",
            index + 1,
            full.throughput(),
            hand.throughput(),
            verdict(ratio >= WRITE_THROUGHPUT_RATIO),
        );
        sums[0] += full.throughput();
        sums[1] += hand.throughput();
    }
    if sums[1] > 0.0 {
        let ratio = sums[0] / sums[1];
        println!(
            "all rounds: createTodo full/hand-written req/s = {ratio:.3} (target ≥ \
             {WRITE_THROUGHPUT_RATIO}: {})",
            verdict(ratio >= WRITE_THROUGHPUT_RATIO),
        );
    }
}
