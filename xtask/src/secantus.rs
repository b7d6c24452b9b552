//! `cargo xtask secantus`: make sure SecantusDB's server, `secantusd-py`, is available and
//! return its path. SecantusDB is a MongoDB-compatible server; the tests start their own from
//! it (`cargo xtask test` passes it as `SECANTUSD_BIN`).
//!
//! Lookup order: `SECANTUSD_BIN` (must be an existing file, or we fail), then a venv
//! `<repo>/.tools/secantus-venv/` built with pip from [`REQUIREMENTS`] (SecantusDB and every
//! dependency pinned exactly), reused while a stamp holds that file's sha256 and the venv
//! imports `secantus`, rebuilt otherwise. No root is needed and nothing outside the repo is
//! touched.
//!
//! SecantusDB is GPL-2.0-only: it is only ever run as a separate process at test time, never
//! vendored, linked or shipped.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::tools::{PinnedVenv, ensure_venv, given_binary};

/// The pinned SecantusDB and its dependencies, relative to the repository root.
const REQUIREMENTS: &str = "xtask/secantus-requirements.txt";

/// Returns the path of a `secantusd-py`, installing the pinned one if needed.
/// Notes go to stderr so that stdout carries only the path.
pub fn ensure(repo_root: &Path) -> Result<PathBuf> {
    if let Some(bin) = given_binary("SECANTUSD_BIN")? {
        return Ok(bin);
    }
    ensure_venv(
        repo_root,
        &PinnedVenv {
            name: "secantus-venv",
            requirements: REQUIREMENTS,
            import: "secantus",
            program: "secantusd-py",
            how_to_fix: "SecantusDB needs python3 >= 3.11 with its venv module (`apt-get install python3-venv`) and PyPI on the first run; or set SECANTUSD_BIN to a secantusd-py",
        },
    )
}
