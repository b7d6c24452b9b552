//! xtask treats a variable set to the empty string as unset, like the binaries do:
//! `NATS_SERVER_BIN= cargo xtask nats` looks on PATH instead of failing on the path ``.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use anyhow::{Context, Result};

/// A stand-in `nats-server` in `dir` that only answers `--version` as v2.14.0 would.
fn fake_nats_server(dir: &Path) -> Result<()> {
    let bin = dir.join("nats-server");
    fs::write(&bin, "#!/bin/sh\necho 'nats-server: v2.14.0'\n").context("writing the fake")?;
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).context("chmod")?;
    Ok(())
}

/// `xtask nats` with `NATS_SERVER_BIN=<value>` and only `dir` on PATH.
fn xtask_nats(dir: &Path, nats_server_bin: &str) -> Result<Output> {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("nats")
        .env("PATH", dir)
        .env("NATS_SERVER_BIN", nats_server_bin)
        .output()
        .context("running xtask nats")
}

#[test]
fn an_empty_nats_server_bin_counts_as_unset() -> Result<()> {
    let dir = tempfile::tempdir()?;
    fake_nats_server(dir.path())?;
    for empty in ["", "  "] {
        let output = xtask_nats(dir.path(), empty)?;
        assert!(
            output.status.success(),
            "NATS_SERVER_BIN={empty:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let printed = String::from_utf8(output.stdout)?;
        assert_eq!(
            Path::new(printed.trim()),
            dir.path().join("nats-server"),
            "NATS_SERVER_BIN={empty:?} did not fall back to PATH"
        );
    }
    Ok(())
}

#[test]
fn a_set_nats_server_bin_is_used_or_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    fake_nats_server(dir.path())?;
    let missing = dir.path().join("no-such-server");
    let output = xtask_nats(dir.path(), &missing.to_string_lossy())?;
    assert!(
        !output.status.success(),
        "a missing NATS_SERVER_BIN was accepted"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("NATS_SERVER_BIN"));
    Ok(())
}
