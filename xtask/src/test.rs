//! `cargo xtask test [args]`: run `cargo test --workspace [args]` against a nats-server ≥ 2.10
//! and SecantusDB, a MongoDB-compatible server; then, without `args`, the MongoDB pass: the
//! black-box tests of users and todos and the gateway's event cascade again, each service on
//! MongoDB (`SB_TEST_STORE=mongodb`).
//!
//! The server paths reach the tests through `NATS_SERVER_BIN` ([`nats::ensure`]) and
//! `SECANTUSD_BIN` ([`secantus::ensure`]: the pinned `secantusd-py` in `.tools/secantus-venv/`)
//! in the child's environment; each test starts its own servers from them (or uses the
//! MongoDB of `MONGODB_URI` when it is set). The web client is built first (development
//! mode, [`web::ensure_built`]) and reaches the browser tests as `SB_WEB_DIST`, with the
//! Chromium they drive as `CHROMIUM_BIN` ([`web::chromium`]). The exit code is the first
//! failing cargo's.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result};

use crate::{nats, secantus, web};

/// Ensures nats-server and SecantusDB, runs the workspace tests with extra `args`, and returns
/// cargo's exit code.
pub fn run(repo_root: &Path, args: &[String]) -> Result<ExitCode> {
    let server = nats::ensure(repo_root)?;
    eprintln!("xtask: NATS_SERVER_BIN={}", server.display());
    let secantusd = secantus::ensure(repo_root)?;
    eprintln!("xtask: SECANTUSD_BIN={}", secantusd.display());
    let chromium = web::chromium()?;
    eprintln!("xtask: CHROMIUM_BIN={}", chromium.display());
    let web_dist = web::ensure_built(repo_root, web::Mode::Development)?;
    eprintln!("xtask: SB_WEB_DIST={}", web_dist.display());
    let cargo_test = |test_args: &[&str], store: Option<&str>| {
        let mut command = Command::new(crate::cargo());
        command
            .current_dir(repo_root)
            .arg("test")
            .args(test_args)
            .env("NATS_SERVER_BIN", &server)
            .env("SECANTUSD_BIN", &secantusd)
            .env("SB_WEB_DIST", &web_dist)
            .env("CHROMIUM_BIN", &chromium);
        if let Some(store) = store {
            eprintln!(
                "xtask: SB_TEST_STORE={store} cargo test {}",
                test_args.join(" ")
            );
            command.env("SB_TEST_STORE", store);
        }
        command.status().context("running cargo test")
    };
    let mut workspace = vec!["--workspace"];
    workspace.extend(args.iter().map(String::as_str));
    let status = cargo_test(&workspace, None)?;
    if !status.success() || !args.is_empty() {
        return Ok(exit_code(status));
    }
    for mongodb_pass in MONGODB_PASS {
        let status = cargo_test(mongodb_pass, Some("mongodb"))?;
        if !status.success() {
            return Ok(exit_code(status));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The tests run a second time with every service on MongoDB: users' and todos' black-box
/// tests, and the gateway's event cascade (users → events → todos).
const MONGODB_PASS: &[&[&str]] = &[
    &["-p", "users", "-p", "todos", "--test", "api"],
    &["-p", "gateway", "--test", "api", "--", "cascade"],
];

/// Maps a child's status to ours: its code, or 128 + signal like a shell does.
fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
