//! Test support: a real `nats-server` per test, on a free port, removed on `Drop`.
//!
//! The binary comes from `NATS_SERVER_BIN` (which `cargo xtask test` sets) or `PATH`.
//! Tests never use a server on the default port 4222.
//! [`proto`] holds the test-only contracts; [`otlp`] a real OTLP trace receiver; [`config`]
//! the bad-configuration check every service binary must pass.

pub mod config;
pub mod mongo;
pub mod otlp;
pub mod smtp;
pub mod store;

/// Contracts used only by tests and benchmarks (`tests/proto/`): the `probe` service, whose
/// requests tell the handler what to do (panic, forward), and `ledger` (announces
/// `Appended` events) with `tally` (consumes them). Compiled with the crate
/// so tests of every crate and the benchmarks share one definition.
pub mod proto {
    #![allow(missing_docs, clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/test_protos/protos.rs"));

    /// The encoded `FileDescriptorSet` of the real and the test-only contracts together.
    pub const DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/test_descriptor_set.bin"));
}

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to write its ports file.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A `nats-server` child process with JetStream enabled, killed on `Drop`.
pub struct NatsServer {
    /// The server process.
    child: Child,
    /// Its ports file and JetStream store, deleted on `Drop`.
    dir: PathBuf,
    /// `nats://127.0.0.1:<port>`.
    url: String,
    /// `http://127.0.0.1:<port>` of the monitoring endpoints, when started with them.
    monitoring: Option<String>,
    /// The extra command-line arguments it was started with, for [`Self::restart`].
    args: Vec<String>,
}

impl NatsServer {
    /// Starts a server on a free port and waits until it accepts connections.
    ///
    /// # Panics
    /// When no `nats-server` can be run or it does not come up: a test cannot go on.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra command-line arguments (e.g. `["--user", "u", "--pass", "p"]`
    /// or `["-c", "server.conf"]`), panicking when it cannot.
    pub fn start_with(args: &[&str]) -> Self {
        match Self::try_start_with(args) {
            Ok(server) => server,
            Err(error) => panic!(
                "cannot start nats-server ({error}); run the tests with `cargo xtask test`, \
                 or set NATS_SERVER_BIN to a nats-server >= 2.10"
            ),
        }
    }

    /// Starts a server that also serves its monitoring endpoints (`/connz`, `/varz`, …) on a
    /// free port; read them with [`Self::monitor`].
    pub fn start_monitored() -> Self {
        Self::start_with(&["-m", "-1"])
    }

    /// Starts a server on a free port, reporting what went wrong instead of panicking.
    pub fn try_start() -> std::io::Result<Self> {
        Self::try_start_with(&[])
    }

    /// [`Self::try_start`] with extra command-line arguments.
    pub fn try_start_with(args: &[&str]) -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(format!("switchboard-nats-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        let args: Vec<String> = args.iter().map(|arg| (*arg).to_string()).collect();
        let child = spawn(&dir, "-1", &args)?;
        let mut server = Self {
            child,
            dir,
            url: String::new(),
            monitoring: None,
            args,
        };
        let ports = server.wait_for_ports()?;
        server.url = ports.0;
        server.monitoring = ports.1;
        Ok(server)
    }

    /// Kills the server, as a crash would, and starts a new one on the same port with the
    /// same arguments and JetStream directory, so streams, consumers and the messages they
    /// hold survive and clients reconnect to the same URL. Returns once the new server
    /// accepts connections.
    ///
    /// # Panics
    /// When the new server does not come up: a test cannot go on.
    pub fn restart(&mut self) {
        if let Err(error) = self.try_restart() {
            panic!("cannot restart nats-server on {}: {error}", self.url);
        }
    }

    /// [`Self::restart`], reporting what went wrong instead of panicking.
    pub fn try_restart(&mut self) -> std::io::Result<()> {
        let port = self
            .url
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse::<u16>().ok())
            .ok_or_else(|| std::io::Error::other(format!("no port in {:?}", self.url)))?;
        // An already-exited server makes the kill fail, which is fine: it is gone either way.
        let _ = self.child.kill();
        self.child.wait()?;
        self.child = spawn(&self.dir, &port.to_string(), &self.args)?;
        let (url, monitoring) = self.wait_for_ports()?;
        self.url = url;
        self.monitoring = monitoring;
        Ok(())
    }

    /// The server's client URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The JSON a monitoring endpoint (e.g. `"/connz"`) answers; the server must have been
    /// started with [`Self::start_monitored`]. Blocking, with a 10 s timeout.
    pub fn monitor(&self, endpoint: &str) -> std::io::Result<serde_json::Value> {
        let base = self
            .monitoring
            .as_deref()
            .ok_or_else(|| std::io::Error::other("the server was not started with monitoring"))?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let body = agent
            .get(&format!("{base}{endpoint}"))
            .call()
            .and_then(|mut response| response.body_mut().read_to_string())
            .map_err(|e| std::io::Error::other(format!("{endpoint}: {e}")))?;
        serde_json::from_str(&body).map_err(|e| std::io::Error::other(format!("{endpoint}: {e}")))
    }

    /// Reads `nats-server_<pid>.ports`, which the server writes once it listens: the client
    /// URL and, when enabled, the monitoring URL.
    #[allow(clippy::disallowed_methods)] // Synchronous on purpose: usable outside a runtime.
    fn wait_for_ports(&mut self) -> std::io::Result<(String, Option<String>)> {
        let ports_file = self
            .dir
            .join(format!("nats-server_{}.ports", self.child.id()));
        let started = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(&ports_file)
                && let Ok(ports) = serde_json::from_str::<serde_json::Value>(&text)
                && let Some(url) = ports["nats"][0].as_str()
            {
                let monitoring = ports["monitoring"][0].as_str().map(str::to_string);
                return Ok((url.to_string(), monitoring));
            }
            if let Some(status) = self.child.try_wait()? {
                return Err(std::io::Error::other(format!(
                    "nats-server exited: {status}"
                )));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(std::io::Error::other("nats-server wrote no ports file"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Runs `nats-server` with JetStream on `port` (`-1` for a free one) with the extra `args`,
/// keeping its JetStream store and ports file in `dir`.
#[allow(clippy::disallowed_methods)] // Test support: `cargo xtask test` passes the binary this way.
fn spawn(dir: &std::path::Path, port: &str, args: &[String]) -> std::io::Result<Child> {
    // Like `Env`, an empty value counts as unset.
    let binary = std::env::var_os("NATS_SERVER_BIN")
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| "nats-server".into());
    Command::new(&binary)
        .args(["-a", "127.0.0.1", "-p", port, "-js"])
        .args(args)
        .arg("-sd")
        .arg(dir.join("jetstream"))
        .arg("--ports_file_dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("{}: {e}", PathBuf::from(&binary).display()),
            )
        })
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        // Already-exited servers make these fail, which is fine: the goal is no leftovers.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A write lock held on a SQLite database file from outside its owner (a real service
/// process): the owner's reads go on, its writes wait until [`Self::release`] (or for its
/// busy timeout). Tests use it to keep requests in flight for as long as they need.
pub struct SqliteWriteLock {
    connection: rusqlite::Connection,
}

impl SqliteWriteLock {
    /// Opens the database at `path` and takes its write lock (`BEGIN IMMEDIATE`).
    pub fn acquire(path: &std::path::Path) -> rusqlite::Result<Self> {
        let connection = rusqlite::Connection::open(path)?;
        connection.execute_batch("BEGIN IMMEDIATE")?;
        Ok(Self { connection })
    }

    /// Lets waiting writers go on, changing nothing.
    pub fn release(self) -> rusqlite::Result<()> {
        self.connection.execute_batch("ROLLBACK")
    }
}

/// A bus connected to `server`, sending as `tests`.
///
/// # Panics
/// When it cannot connect: a test cannot go on.
pub async fn connect(server: &NatsServer) -> crate::Bus {
    crate::Bus::connect(&crate::bus::BusSettings::new(server.url()), "tests")
        .await
        .expect("connects to the test's nats-server")
}

/// A bus to `server` that keeps retrying a retryable call (or one with an idempotency key)
/// for up to 30 s: long enough for anything a test starts or restarts meanwhile, however
/// loaded the machine. Its circuit breakers are off: a patient caller keeps trying.
///
/// # Panics
/// When it cannot connect: a test cannot go on.
pub async fn connect_patient(server: &NatsServer) -> crate::Bus {
    let mut settings = crate::bus::BusSettings::new(server.url());
    settings.max_attempts = u32::MAX;
    settings.default_deadline = Duration::from_secs(30);
    settings.breaker.failures = 0;
    crate::Bus::connect(&settings, "tests")
        .await
        .expect("connects to the test's nats-server")
}

/// A private in-memory store.
///
/// # Panics
/// When SQLite cannot open one: a test cannot go on.
pub async fn memory_store() -> std::sync::Arc<dyn crate::store::Store> {
    crate::store::open("sqlite::memory:")
        .await
        .expect("an in-memory store")
}

/// Polls `check` until it returns `Some`, every 10 ms, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if started.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Auth settings that verify HS256 tokens signed with `secret` (test support).
pub fn hs256_auth(secret: &str) -> crate::auth::AuthSettings {
    crate::auth::AuthSettings {
        hs256_secret: Some(crate::settings::Secret::new(secret)),
        ..Default::default()
    }
}

/// A token for `subject` with `roles`, signed with `secret`, valid for a minute.
///
/// # Panics
/// When signing fails, which only a broken key could cause: a test cannot go on.
pub fn token(secret: &str, subject: &str, roles: &[&str]) -> String {
    crate::auth::sign_hs256(
        &crate::settings::Secret::new(secret),
        &hs256_auth(secret),
        subject,
        roles,
        Duration::from_secs(60),
    )
    .unwrap_or_else(|e| panic!("cannot sign a test token: {e}"))
}

/// The path of the workspace binary of `package` (a binary named like its package),
/// built first — once per test process — with the running test's profile and target
/// directory, so a test never runs a stale binary of another package (`cargo test -p x`
/// does not rebuild other packages' binaries).
pub fn workspace_binary(package: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let test = std::env::current_exe().expect("the test's executable");
    // target/<profile>/deps/<test> → target/<profile>
    let profile_dir = test
        .parent()
        .and_then(std::path::Path::parent)
        .expect("the test runs from target/<profile>/deps");
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if !built.iter().any(|p| p == package) {
        // The cargo running the tests: test support, not a binary's configuration.
        #[allow(clippy::disallowed_methods)]
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let target_dir = profile_dir.parent().expect("the target directory");
        let mut build = Command::new(cargo);
        build
            .args(["build", "--quiet", "-p", package, "--bin", package])
            .env("CARGO_TARGET_DIR", target_dir);
        if profile_dir
            .file_name()
            .is_some_and(|name| name == "release")
        {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building {package} failed");
        built.push(package.to_string());
    }
    profile_dir.join(package)
}
