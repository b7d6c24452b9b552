//! MongoDB for tests: a real MongoDB when `MONGODB_URI` is set, else a SecantusDB server (a
//! MongoDB-compatible server on WiredTiger that presents a one-node replica set) started
//! from `SECANTUSD_BIN`, which `cargo xtask test` installs and sets.
//!
//! SecantusDB is GPL-2.0-only and runs only as an external process here: nothing of it is
//! linked or copied. Each test gets a database of its own ([`TestDatabase`]), dropped when the
//! test ends, so tests share one server per test binary ([`shared_url`]) without seeing each
//! other's data. Tests that stop and start the server start their own ([`MongoServer`]).

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long a server gets to accept connections: it is a Python program, slow to start on a
/// loaded machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A SecantusDB server process on a free port with its own storage directory, killed on
/// `Drop`; it also exits when the test process dies (it is watched through a pipe).
pub struct MongoServer {
    child: Child,
    /// Closing it (dropping it, or the test process ending however it ends) kills the server.
    lifeline: Option<ChildStdin>,
    dir: PathBuf,
    port: u16,
    args: Vec<String>,
}

impl MongoServer {
    /// Starts a server that presents a one-node replica set and waits until it accepts
    /// connections.
    ///
    /// # Panics
    /// When it cannot be started: a test cannot go on.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra arguments (e.g. `["--standalone"]`).
    ///
    /// # Panics
    /// When it cannot be started: a test cannot go on.
    pub fn start_with(args: &[&str]) -> Self {
        let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
        let dir = std::env::temp_dir().join(format!("switchboard-mongo-{}", uuid::Uuid::new_v4()));
        let started = std::fs::create_dir_all(&dir).and_then(|()| {
            let port = free_port()?;
            let (child, lifeline) = spawn(&dir, port, &args)?;
            Ok((child, lifeline, port))
        });
        let (child, lifeline, port) = started.unwrap_or_else(|error| panic!("{}", help(&error)));
        let mut server = Self {
            child,
            lifeline: Some(lifeline),
            dir,
            port,
            args,
        };
        if let Err(error) = server.wait_until_listening() {
            panic!("{}", help(&error));
        }
        server
    }

    /// `mongodb://127.0.0.1:<port>/?replicaSet=secantus`: a URL with no database.
    pub fn url(&self) -> String {
        let options = if self.args.iter().any(|arg| arg == "--standalone") {
            ""
        } else {
            "?replicaSet=secantus"
        };
        format!("mongodb://127.0.0.1:{}/{options}", self.port)
    }

    /// The URL of database `name` on this server.
    pub fn database_url(&self, name: &str) -> String {
        with_database(&self.url(), name)
    }

    /// Kills the server, as a crash would; [`Self::start_again`] brings it back.
    pub fn kill(&mut self) {
        // Closing the pipe makes the watching shell kill the server with SIGKILL, then exit.
        drop(self.lifeline.take());
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port and storage (after [`Self::kill`]), and
    /// waits until it accepts connections.
    ///
    /// # Panics
    /// When it does not come back: a test cannot go on.
    pub fn start_again(&mut self) {
        self.kill();
        let (child, lifeline) = spawn(&self.dir, self.port, &self.args)
            .unwrap_or_else(|error| panic!("{}", help(&error)));
        self.child = child;
        self.lifeline = Some(lifeline);
        if let Err(error) = self.wait_until_listening() {
            panic!("{}", help(&error));
        }
    }

    #[allow(clippy::disallowed_methods)] // Synchronous on purpose: usable outside a runtime.
    fn wait_until_listening(&mut self) -> std::io::Result<()> {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let started = Instant::now();
        loop {
            if TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                return Err(std::io::Error::other(format!(
                    "the server exited with {status} before listening; its log: {}",
                    self.dir.join("server.log").display()
                )));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(std::io::Error::other(format!(
                    "the server did not listen on {address} within {START_TIMEOUT:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for MongoServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn help(error: &std::io::Error) -> String {
    format!(
        "cannot start SecantusDB ({error}); run the tests with `cargo xtask test`, or \
         `export SECANTUSD_BIN=$(cargo xtask secantus)`, or set MONGODB_URI to a MongoDB replica set"
    )
}

/// A port nobody listens on now.
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// Starts `secantusd-py` under a shell that kills it when the shell's stdin closes, so a
/// test process that dies (a panic, a SIGKILL) leaves no server behind. Returns the shell and
/// the write end of that pipe.
#[allow(clippy::disallowed_methods)] // Test support: `cargo xtask test` passes the binary this way.
fn spawn(
    dir: &std::path::Path,
    port: u16,
    args: &[String],
) -> std::io::Result<(Child, ChildStdin)> {
    let binary = std::env::var_os("SECANTUSD_BIN")
        .filter(|value| !value.is_empty())
        .ok_or_else(|| std::io::Error::other("SECANTUSD_BIN is not set"))?;
    let log = std::fs::File::create(dir.join("server.log"))?;
    let mut child = Command::new("sh")
        .arg("-c")
        // The server runs in the background; a watcher blocks reading the pipe (fd 3: a
        // background job's stdin is /dev/null) and kills the server once it closes. The
        // shell itself ends when the server does.
        .arg(r#"exec 3<&0; "$0" "$@" </dev/null & server=$!; (read _ <&3; kill -9 $server 2>/dev/null) & wait $server"#)
        .arg(&binary)
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--storage-path"])
        .arg(dir.join("data"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?;
    let lifeline = child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("no stdin pipe"))?;
    Ok((child, lifeline))
}

/// The deployment MongoDB tests use, without a database: `MONGODB_URI` when set (a real
/// MongoDB replica set), else a SecantusDB started once for this test binary.
///
/// # Panics
/// When neither is available: a test cannot go on.
#[allow(clippy::disallowed_methods)] // Test support: the developer's own MongoDB.
pub fn shared_url() -> String {
    if let Some(uri) = std::env::var("MONGODB_URI")
        .ok()
        .filter(|uri| !uri.is_empty())
    {
        return uri;
    }
    static SERVER: OnceLock<MongoServer> = OnceLock::new();
    SERVER.get_or_init(MongoServer::start).url()
}

/// Whether the tests run against a real MongoDB (`MONGODB_URI`) rather than SecantusDB.
#[allow(clippy::disallowed_methods)] // Test support: the developer's own MongoDB.
pub fn is_real_mongodb() -> bool {
    std::env::var("MONGODB_URI").is_ok_and(|uri| !uri.is_empty())
}

/// `url` with its path set to database `name`, its options kept.
pub fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("mongodb", url));
    let (authority_and_path, options) = match rest.split_once('?') {
        Some((before, options)) => (before, Some(options)),
        None => (rest, None),
    };
    let authority = authority_and_path
        .split_once('/')
        .map_or(authority_and_path, |(authority, _)| authority);
    match options {
        Some(options) => format!("{scheme}://{authority}/{name}?{options}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

/// A database of one test on the shared deployment, dropped when the value is dropped.
pub struct TestDatabase {
    url: String,
    name: String,
}

impl TestDatabase {
    /// A fresh database whose name starts with `prefix` (letters, digits, `_`).
    pub fn new(prefix: &str) -> Self {
        let name = format!(
            "{prefix}_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        Self {
            url: with_database(&shared_url(), &name),
            name,
        }
    }

    /// The URL of this database (`STORE_URL`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop is synchronous and may run inside a runtime: the drop runs on a thread of
        // its own with its own runtime. A failure leaves a database behind, nothing worse.
        let url = self.url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let client = mongodb::Client::with_uri_str(&url)
                    .await
                    .map_err(std::io::Error::other)?;
                client
                    .database(&name)
                    .drop()
                    .await
                    .map_err(std::io::Error::other)
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("note: could not drop test database {}", self.name);
        }
    }
}
