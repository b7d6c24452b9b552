//! `cargo xtask dev`: run the whole system on one machine until Ctrl-C.
//!
//! Builds every service binary under `services/` (found by [`workspace::services`], not
//! listed here) and the gateway once, and the web client in development mode
//! ([`web::ensure_built`]), starts a local nats-server (unless `NATS_URL` points at one),
//! starts each service against it with its own SQLite file under `.dev/`, waits until each
//! answers `$SRV.PING.<name>`, starts the gateway serving the web client
//! (`GATEWAY_WEB_DIR`) and development sign-in (`GATEWAY_DEV_TOKENS=true`), and prints a
//! banner. On Ctrl-C or SIGTERM, or when any child dies, it stops the services (SIGTERM,
//! then SIGKILL after a grace period), then nats-server. Children run in their own process
//! groups so that a terminal Ctrl-C reaches only xtask, which then stops them in order;
//! [`Children`] stops whatever is still running when it is dropped, so an error midway
//! leaves no orphans.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::signal::unix::{Signal, SignalKind, signal};

use switchboard::auth::AuthSettings;

use crate::{env, nats, token, web, workspace};

/// The gateway binary, started once every service answers.
const GATEWAY: &str = "gateway";
/// Where the gateway listens unless `GATEWAY_ADDR` says otherwise.
const DEFAULT_GATEWAY_ADDR: &str = "127.0.0.1:8080";

/// How long nats-server gets to write its ports file after it is spawned.
const NATS_START_TIMEOUT: Duration = Duration::from_secs(10);

/// How long all services together get to answer their first `$SRV.PING`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one `$SRV.PING` request may take before we retry.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a child gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(15);

/// How often we look for children that exited.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Builds the services, runs the system until stopped, and returns the exit code:
/// success after Ctrl-C, failure if a child died on its own.
pub fn run(repo_root: &Path) -> Result<ExitCode> {
    let services = workspace::services(repo_root)?;
    let auth = token::dev_auth()?;
    // Built before any signal handler exists: a Ctrl-C here simply ends xtask and cargo.
    build(repo_root, &services)?;
    let system = System {
        repo_root: repo_root.to_path_buf(),
        services,
        auth,
        web_dist: web::ensure_built(repo_root, web::Mode::Development)?,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(supervise(&system))
}

/// What `dev` runs: the repository, its services and how tokens are signed and verified.
struct System {
    /// The workspace root.
    repo_root: PathBuf,
    /// The service binaries, in start order.
    services: Vec<String>,
    /// The HS256 secret every process gets, and the issuer/audience they require.
    auth: AuthSettings,
    /// The web client's development build, which the gateway serves.
    web_dist: PathBuf,
}

fn build(repo_root: &Path, services: &[String]) -> Result<()> {
    let mut command = Command::new(crate::cargo());
    command.current_dir(repo_root).arg("build");
    for name in services.iter().map(String::as_str).chain([GATEWAY]) {
        command.args(["--package", name]);
    }
    let status = command.status().context("running cargo build")?;
    anyhow::ensure!(
        status.success(),
        "cargo build of the services failed ({status})"
    );
    Ok(())
}

async fn supervise(system: &System) -> Result<ExitCode> {
    let mut stop = StopSignals::new()?;
    let mut children = Children::default();

    let started = tokio::select! {
        url = start(system, &mut children) => Some(url?),
        () = stop.recv() => None,
    };
    let Some((url, gateway)) = started else {
        eprintln!("xtask: interrupted during startup; stopping");
        children.stop_all();
        return Ok(ExitCode::SUCCESS);
    };
    print_banner(system, &url, &gateway)?;

    let died = loop {
        tokio::select! {
            () = stop.recv() => break None,
            () = tokio::time::sleep(POLL_INTERVAL) => {
                if let Some(exited) = children.first_exited() {
                    break Some(exited);
                }
            }
        }
    };
    match died {
        None => {
            eprintln!("xtask: stopping");
            children.stop_all();
            Ok(ExitCode::SUCCESS)
        }
        Some((name, status)) => {
            eprintln!("xtask: {name} exited on its own ({status}); stopping everything");
            children.stop_all();
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Starts nats-server (unless `NATS_URL` is set), every service and the gateway, and waits
/// until each service answers and the gateway is ready. Returns the NATS URL and the
/// gateway's (`http://<addr>`).
async fn start(system: &System, children: &mut Children) -> Result<(String, String)> {
    let repo_root = system.repo_root.as_path();
    let url = match env::var("NATS_URL") {
        Some(url) => {
            eprintln!("xtask: using NATS_URL={url}");
            url
        }
        None => start_nats(repo_root, children).await?,
    };
    let client = async_nats::connect(url.as_str())
        .await
        .with_context(|| format!("connecting to NATS at {url}"))?;

    let dev_dir = repo_root.join(".dev");
    fs::create_dir_all(&dev_dir).with_context(|| format!("creating {}", dev_dir.display()))?;
    let bin_dir = target_dir(repo_root).join("debug");
    for name in &system.services {
        let bin = bin_dir.join(name);
        anyhow::ensure!(
            bin.is_file(),
            "service binary {} is missing (does the `{name}` package build a binary named `{name}`?)",
            bin.display()
        );
        let store_url = format!("sqlite://{}", dev_dir.join(format!("{name}.db")).display());
        let mut command = binary(system, &bin, &url)?;
        command.env("STORE_URL", store_url);
        children.spawn(name, &mut command)?;
    }
    wait_until_ready(&client, &system.services, children).await?;

    let addr = env::var("GATEWAY_ADDR").unwrap_or_else(|| DEFAULT_GATEWAY_ADDR.to_string());
    let mut command = binary(system, &bin_dir.join(GATEWAY), &url)?;
    command
        .env("GATEWAY_ADDR", &addr)
        .env("GATEWAY_WEB_DIR", &system.web_dist)
        .env("GATEWAY_DEV_TOKENS", "true");
    children.spawn(GATEWAY, &mut command)?;
    wait_for_gateway(&addr, children).await?;
    Ok((url, format!("http://{addr}")))
}

/// A command running `bin` against NATS at `url` with the development secret (or
/// `JWT_HS256_SECRET`) and terminal-friendly logs (each can be overridden from the
/// environment). `JWT_ISSUER`/`JWT_AUDIENCE` are inherited, and the banner's token
/// carries them.
fn binary(system: &System, bin: &Path, url: &str) -> Result<Command> {
    let secret = system
        .auth
        .hs256_secret
        .as_ref()
        .context("no HS256 secret for the development processes")?;
    let mut command = Command::new(bin);
    command
        .env("NATS_URL", url)
        .env("JWT_HS256_SECRET", secret.expose());
    if env::var_os("RUST_LOG").is_none() {
        command.env("RUST_LOG", "info,async_nats=warn");
    }
    if env::var_os("LOG_FORMAT").is_none() {
        command.env("LOG_FORMAT", "text");
    }
    // Every other OTEL_* variable is inherited as it is (the endpoint, protocol, sampler,
    // resource attributes); the service name is each process's own.
    command.env_remove("OTEL_SERVICE_NAME");
    Ok(command)
}

/// Polls the gateway's `/readyz` until it answers 200, failing fast if a child exits.
async fn wait_for_gateway(addr: &str, children: &mut Children) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some((who, status)) = children.first_exited() {
            bail!("{who} exited early ({status}); stopped everything");
        }
        if readyz(addr).await.unwrap_or(false) {
            eprintln!("xtask: gateway is ready");
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("the gateway at {addr} was not ready within {READY_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether `GET /readyz` on `addr` answers 200 (plain HTTP/1.0, no client library).
async fn readyz(addr: &str) -> std::io::Result<bool> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(format!("GET /readyz HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await?;
    Ok(head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.0 200"))
}

/// Starts nats-server on a free loopback port and reads the URL from its ports file.
async fn start_nats(repo_root: &Path, children: &mut Children) -> Result<String> {
    let server = nats::ensure(repo_root)?;
    let dir = repo_root.join(".dev").join("nats");
    let store = dir.join("jetstream");
    fs::create_dir_all(&store).with_context(|| format!("creating {}", store.display()))?;
    let mut command = Command::new(&server);
    command
        .args(["-a", "127.0.0.1", "-p", "-1", "--ports_file_dir"])
        .arg(&dir)
        .args(["-js", "-sd"])
        .arg(&store)
        // Its start-up banner would bury the services' logs; the file keeps it.
        .arg("-l")
        .arg(dir.join("nats-server.log"));
    let pid = children.spawn("nats-server", &mut command)?;

    let ports_file = dir.join(format!("nats-server_{pid}.ports"));
    let deadline = Instant::now() + NATS_START_TIMEOUT;
    loop {
        if let Some(url) = read_ports_file(&ports_file)? {
            // Where `cargo xtask tap` finds this server.
            fs::write(dir.join("url"), &url)
                .with_context(|| format!("writing {}", dir.join("url").display()))?;
            eprintln!(
                "xtask: nats-server {} listening on {url} (log: {})",
                server.display(),
                dir.join("nats-server.log").display()
            );
            return Ok(url);
        }
        if let Some((name, status)) = children.first_exited() {
            bail!("{name} exited before it was ready ({status})");
        }
        if Instant::now() >= deadline {
            bail!(
                "nats-server did not write {} within {NATS_START_TIMEOUT:?}",
                ports_file.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads `{"nats":["nats://127.0.0.1:34567"],...}`; `None` while the file is absent or
/// still being written.
fn read_ports_file(path: &Path) -> Result<Option<String>> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    };
    let Ok(ports) = serde_json::from_str::<serde_json::Value>(&text) else {
        return Ok(None);
    };
    Ok(ports["nats"][0].as_str().map(String::from))
}

/// Pings each service until it answers, failing fast if any child exits.
async fn wait_until_ready(
    client: &async_nats::Client,
    services: &[String],
    children: &mut Children,
) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    for name in services {
        let subject = format!("$SRV.PING.{name}");
        let mut backoff = Duration::from_millis(50);
        loop {
            if let Some((who, status)) = children.first_exited() {
                bail!("{who} exited early ({status}); stopped everything");
            }
            let ping = client.request(subject.clone(), "".into());
            if let Ok(Ok(_reply)) = tokio::time::timeout(PING_TIMEOUT, ping).await {
                break;
            }
            if Instant::now() >= deadline {
                bail!("service `{name}` did not answer {subject} within {READY_TIMEOUT:?}");
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
        eprintln!("xtask: {name} is up");
    }
    Ok(())
}

fn print_banner(system: &System, url: &str, gateway: &str) -> Result<()> {
    let graphql = &format!("{gateway}/graphql");
    let token = token::sign(
        &system.auth,
        "dev-admin",
        &[switchboard::auth::ADMIN_ROLE.to_string()],
        token::DEFAULT_TTL,
    )?;
    println!();
    println!("Switchboard is running");
    println!("  Web       {gateway}/   (the web client; sign in as anyone: development tokens)");
    println!("  GraphQL   {graphql}   (GraphiQL in a browser)");
    println!("  NATS      {url}");
    for name in &system.services {
        println!("  {name:<9} up");
    }
    println!();
    let claims = [("iss", &system.auth.issuer), ("aud", &system.auth.audience)]
        .into_iter()
        .filter_map(|(claim, value)| value.as_ref().map(|v| format!(", {claim} {v}")))
        .collect::<String>();
    println!("A development token (sub dev-admin, role admin{claims}, valid 24 h):");
    println!("  {token}");
    println!("Try:");
    println!(
        "  curl -si {graphql} -H 'Content-Type: application/json' -H \"Authorization: Bearer $TOKEN\" \\"
    );
    println!(
        "       -d '{{\"query\":\"{{ users(first: 10) {{ nodes {{ id email todos {{ title }} }} }} }}\"}}'"
    );
    if ["tickets", "bookings"]
        .iter()
        .all(|needed| system.services.iter().any(|name| name == needed))
    {
        print_booking_example(graphql);
    }
    match env::var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        Some(endpoint) => println!(
            "Traces go to {endpoint}: each answer's X-Trace-Id names its trace (in a local \
             Jaeger: http://localhost:16686/trace/<X-Trace-Id>)."
        ),
        None => println!(
            "Traces are not exported: set OTEL_EXPORTER_OTLP_ENDPOINT (see the README's \
             \"Tracing\")."
        ),
    }
    println!("More tokens: cargo xtask token --sub <user id> [--role admin]");
    println!("Every service also answers $SRV.PING / $SRV.INFO / $SRV.STATS. Ctrl-C to stop.");
    println!();
    Ok(())
}

/// How to book seats through the gateway with the banner's token: a show (admin only), a
/// booking of it, and the booking as the saga leaves it (`cargo xtask tap 'bookings.>'`
/// shows the saga's calls).
fn print_booking_example(graphql: &str) {
    let curl = format!(
        "  curl -s {graphql} -H 'Content-Type: application/json' -H \"Authorization: Bearer $TOKEN\" \\"
    );
    println!("Book seats (the saga reserves them, charges, then confirms; PENDING at first):");
    println!("{curl}");
    println!(
        "       -d '{{\"query\":\"mutation {{ createShow(name: \\\"Gala\\\", capacity: 100, priceCents: \\\"2500\\\") {{ ... on Show {{ id }} }} }}\"}}'"
    );
    println!("{curl}");
    println!(
        "       -d '{{\"query\":\"mutation {{ createBooking(showId: \\\"<show id>\\\", seats: 2) {{ ... on Booking {{ id status }} }} }}\"}}'"
    );
    println!("{curl}");
    println!(
        "       -d '{{\"query\":\"{{ booking(id: \\\"<booking id>\\\") {{ ... on Booking {{ status reason amountCents }} ... on BookingNotFound {{ id }} }} }}\"}}'"
    );
}

/// Cargo's target directory: `CARGO_TARGET_DIR` if set (relative to the repo, where we run
/// cargo), else `<repo>/target`.
fn target_dir(repo_root: &Path) -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => repo_root.join(dir),
        None => repo_root.join("target"),
    }
}

/// Ctrl-C (SIGINT) or SIGTERM, registered before any child starts so neither kills xtask
/// while it still has children to stop.
struct StopSignals {
    /// SIGINT, from Ctrl-C in the terminal.
    interrupt: Signal,
    /// SIGTERM, from a process manager or `kill`.
    terminate: Signal,
}

impl StopSignals {
    fn new() -> Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            terminate: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// One process xtask started.
struct Managed {
    /// Its name in messages: a service name or `nats-server`.
    name: String,
    /// The process; only ever signalled while it has not been reaped, so its pid is ours.
    process: std::process::Child,
    /// Set once we have reaped it.
    exited: Option<ExitStatus>,
}

impl Managed {
    fn is_running(&mut self) -> bool {
        if self.exited.is_some() {
            return false;
        }
        match self.process.try_wait() {
            Ok(None) => true,
            Ok(Some(status)) => {
                self.exited = Some(status);
                false
            }
            // We cannot wait on it any more, so it is not ours to signal either.
            Err(_) => false,
        }
    }

    /// SIGTERM through `kill(1)`, which keeps libc out of our dependencies; SIGKILL if that
    /// cannot be run.
    fn terminate(&mut self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.process.id().to_string()])
            .status()
            .is_ok_and(|status| status.success());
        if !sent {
            self.kill();
        }
    }

    fn kill(&mut self) {
        // Errors mean it is already gone, which is what we want.
        let _ = self.process.kill();
        if let Ok(status) = self.process.wait() {
            self.exited = Some(status);
        }
    }
}

/// Every process xtask started: services in start order, then nats-server. Dropping it
/// stops whatever is still running, so no error path leaves orphans.
#[derive(Default)]
struct Children {
    /// The local nats-server, if xtask started one; stopped last.
    nats: Option<Managed>,
    /// The services; stopped first, all at once.
    services: Vec<Managed>,
}

impl Children {
    /// Spawns `command` in its own process group with stdin closed and stdout/stderr
    /// inherited, and returns its pid. A name of `nats-server` marks the server.
    fn spawn(&mut self, name: &str, command: &mut Command) -> Result<u32> {
        let process = command
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .with_context(|| {
                format!(
                    "starting {name} ({})",
                    command.get_program().to_string_lossy()
                )
            })?;
        let pid = process.id();
        let managed = Managed {
            name: name.to_string(),
            process,
            exited: None,
        };
        if name == "nats-server" {
            self.nats = Some(managed);
        } else {
            self.services.push(managed);
        }
        Ok(pid)
    }

    /// The first child found to have exited, with its status.
    fn first_exited(&mut self) -> Option<(String, ExitStatus)> {
        self.services
            .iter_mut()
            .chain(self.nats.as_mut())
            .find_map(|child| {
                if child.is_running() {
                    return None;
                }
                child.exited.map(|status| (child.name.clone(), status))
            })
    }

    /// Stops the services, then nats-server, each with SIGTERM and a grace period.
    fn stop_all(&mut self) {
        stop_group(&mut self.services);
        if let Some(nats) = self.nats.as_mut() {
            stop_group(std::slice::from_mut(nats));
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// SIGTERM to every running child, wait up to [`STOP_GRACE`], then SIGKILL the rest.
// Synchronous on purpose: it also runs from `Drop`, where nothing can be awaited, and only
// after every async task of `dev` is done.
#[allow(clippy::disallowed_methods)]
fn stop_group(group: &mut [Managed]) {
    for child in group.iter_mut() {
        if child.is_running() {
            child.terminate();
        }
    }
    let deadline = Instant::now() + STOP_GRACE;
    while group.iter_mut().any(Managed::is_running) {
        if Instant::now() >= deadline {
            for child in group.iter_mut() {
                if child.is_running() {
                    eprintln!(
                        "xtask: {} ignored SIGTERM for {STOP_GRACE:?}; killing it",
                        child.name
                    );
                    child.kill();
                }
            }
            break;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}
