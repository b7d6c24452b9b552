//! Project automation for Switchboard, run as `cargo xtask <command>`.
//!
//! - [`nats`]: find or install a nats-server ≥ 2.10 (`cargo xtask nats`).
//! - [`secantus`]: find or install SecantusDB, a MongoDB-compatible test server
//!   (`cargo xtask secantus`).
//! - [`test`]: run the workspace tests against those servers (`cargo xtask test`).
//! - [`dev`]: run the whole system on one machine (`cargo xtask dev`).
//! - [`web`]: build the web client and GraphiQL into `web/dist/` (`cargo xtask web`).
//! - [`token`]: print a development token (`cargo xtask token --sub <id>`).
//! - [`tap`]: print the bus's requests, replies and events live, decoded (`cargo xtask tap`).
//! - [`helm`] and [`docker_lint`]: offline checks of the chart and the Dockerfile
//!   (`cargo xtask deploy-check`).
//!
//! `main` only parses the command line and dispatches; each command lives in its own file.

mod dev;
mod docker_lint;
mod env;
mod helm;
mod nats;
mod secantus;
mod tap;
mod test;
mod token;
mod tools;
mod web;
mod workspace;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

const USAGE: &str = "\
usage: cargo xtask <command> [args]

commands:
  nats          ensure a nats-server >= 2.10 is available and print its path
                (NATS_SERVER_BIN, else nats-server on PATH, else a pinned install in .tools/)
  secantus      ensure SecantusDB (a MongoDB-compatible test server) is available and print
                the path of its secantusd-py (SECANTUSD_BIN, else a pinned venv in .tools/)
  test [args]   build the web client, then run `cargo test --workspace [args]` with
                NATS_SERVER_BIN, SECANTUSD_BIN, SB_WEB_DIST and CHROMIUM_BIN set
  dev           run nats-server, every service and the gateway (serving the web client)
                locally until Ctrl-C (uses NATS_URL instead of starting a server when set)
  web [--production]  build the web client and GraphiQL (npm) into web/dist if it is out
                of date, and print that path (development mode unless --production)
  token --sub <id> [--role <role>]...  print a development token for the dev secret
  tap [filter]  print every request, reply, error and event on the bus (or on the subjects
                `filter` matches) as JSON lines, payloads decoded; joins `cargo xtask dev`
                unless NATS_URL says otherwise
  deploy-check [docker|helm]  lint docker/ and helm/ offline (pinned hadolint, helm, k8s 1.29/1.35 schemas)
  help          print this text
";

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<ExitCode> {
    let mut args = std::env::args().skip(1);
    let command = args.next();
    let rest: Vec<String> = args.collect();
    match command.as_deref() {
        Some("nats") => {
            no_extra_args("nats", &rest)?;
            let path = nats::ensure(&repo_root()?)?;
            println!("{}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Some("secantus") => {
            no_extra_args("secantus", &rest)?;
            let path = secantus::ensure(&repo_root()?)?;
            println!("{}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Some("test") => test::run(&repo_root()?, &rest),
        Some("dev") => {
            no_extra_args("dev", &rest)?;
            dev::run(&repo_root()?)
        }
        Some("web") => web::run(&repo_root()?, &rest),
        Some("deploy-check") => helm::run(&repo_root()?, &rest),
        Some("token") => token::run(&rest),
        Some("tap") => tap::run(&repo_root()?, &rest),
        Some("help" | "--help" | "-h") => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Some(other) => {
            eprintln!("xtask: unknown command `{other}`\n\n{USAGE}");
            Ok(ExitCode::from(2))
        }
        None => {
            eprint!("{USAGE}");
            Ok(ExitCode::from(2))
        }
    }
}

fn no_extra_args(command: &str, rest: &[String]) -> Result<()> {
    anyhow::ensure!(
        rest.is_empty(),
        "`cargo xtask {command}` takes no arguments (got: {})",
        rest.join(" ")
    );
    Ok(())
}

/// The workspace root: the parent of this crate's manifest directory.
fn repo_root() -> Result<PathBuf> {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(PathBuf::from)
        .with_context(|| format!("{} has no parent directory", manifest_dir.display()))
}

/// The `cargo` that launched us (cargo sets `CARGO` for `cargo run`), else `cargo` on PATH.
fn cargo() -> std::ffi::OsString {
    env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}
