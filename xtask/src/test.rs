//! `cargo xtask test [args]`: run `cargo test --workspace [args]` against a nats-server ≥ 2.10.
//!
//! The server path reaches the tests through `NATS_SERVER_BIN` in the child's environment; each
//! test starts its own server from it. The exit code is cargo's.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result};

use crate::nats;

/// Ensures nats-server, runs the workspace tests with extra `args`, and returns cargo's exit code.
pub fn run(repo_root: &Path, args: &[String]) -> Result<ExitCode> {
    let server = nats::ensure(repo_root)?;
    eprintln!("xtask: NATS_SERVER_BIN={}", server.display());
    let status = Command::new(crate::cargo())
        .current_dir(repo_root)
        .args(["test", "--workspace"])
        .args(args)
        .env("NATS_SERVER_BIN", &server)
        .status()
        .context("running cargo test")?;
    Ok(exit_code(status))
}

/// Maps a child's status to ours: its code, or 128 + signal like a shell does.
fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
