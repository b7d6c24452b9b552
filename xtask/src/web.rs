//! `cargo xtask web [--production]`: build the web client and GraphiQL (`web/`, React +
//! Apollo + Vite) into `web/dist/`, which the gateway serves with `GATEWAY_WEB_DIR`, and
//! print that directory.
//!
//! [`ensure_built`] does only what is needed, so `dev` and `test` call it every time:
//! - `npm ci --no-audit --no-fund` when `web/node_modules/` is missing or was installed from
//!   another `package-lock.json` (its sha256 is kept in [`INSTALL_STAMP`], written last, so
//!   an interrupted install runs again). When npm refuses the lock only because it lacks an
//!   optional package the registry does not serve at all (npm 11 does, npm 10 does not),
//!   the locked versions are installed with `npm install --no-save` instead, which leaves
//!   the lock as it is;
//! - `npm run build:dev` (development: the client's development sign-in through the
//!   gateway's `POST /dev/token`) or `npm run build` (production) when `web/dist/` is
//!   missing, was built in the other mode, or is older than any file under `web/` outside
//!   `node_modules/` and `dist/` ([`BUILD_STAMP`] in `dist/` holds the mode; its time is the
//!   build's).
//!
//! npm's output is shown only when it fails; what is done is said on stderr, so stdout
//! carries only the path.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

use crate::tools::{require, sha256_hex};

/// What to tell someone without Node.js or npm.
pub const NPM_HELP: &str =
    "install Node.js and npm (Debian/Ubuntu: `apt-get install npm`, which brings nodejs)";

/// In `web/node_modules/`: the sha256 of the `package-lock.json` it was installed from.
const INSTALL_STAMP: &str = ".xtask-package-lock-sha256";
/// In `web/dist/`: the mode it was built in (hidden, so the gateway never serves it).
const BUILD_STAMP: &str = ".xtask-build-mode";

/// The build's flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `npm run build:dev` (`vite build --mode development`): with the development sign-in.
    Development,
    /// `npm run build`: what the image ships.
    Production,
}

impl Mode {
    /// The name recorded in the build stamp and shown in messages.
    fn name(self) -> &'static str {
        match self {
            Mode::Development => "development",
            Mode::Production => "production",
        }
    }

    /// The npm script that builds in this mode.
    fn script(self) -> &'static str {
        match self {
            Mode::Development => "build:dev",
            Mode::Production => "build",
        }
    }
}

/// `cargo xtask web [--production]`: builds (if needed) and prints the absolute `web/dist`.
pub fn run(repo_root: &Path, args: &[String]) -> Result<ExitCode> {
    let mode = match args {
        [] => Mode::Development,
        [flag] if flag == "--production" => Mode::Production,
        _ => bail!(
            "usage: cargo xtask web [--production] (got: {})",
            args.join(" ")
        ),
    };
    let dist = ensure_built(repo_root, mode)?;
    println!("{}", dist.display());
    Ok(ExitCode::SUCCESS)
}

/// The absolute path of `web/dist/`, built in `mode` from the current sources, installing
/// the packages and building first when needed (see the module doc).
pub fn ensure_built(repo_root: &Path, mode: Mode) -> Result<PathBuf> {
    let web = repo_root.join("web");
    anyhow::ensure!(
        web.join("package.json").is_file(),
        "{} has no package.json: the web client is missing",
        web.display()
    );
    require("node", NPM_HELP)?;
    require("npm", NPM_HELP)?;
    let installed = ensure_installed(&web)?;
    let dist = web.join("dist");
    let reason = if installed {
        Some("its packages were just installed".to_string())
    } else {
        stale(&web, mode)?
    };
    if let Some(reason) = reason {
        eprintln!(
            "xtask: building the web client ({} mode: npm run {}) into {}, because {reason}",
            mode.name(),
            mode.script(),
            dist.display()
        );
        npm(&web, &["run", mode.script()])?;
        anyhow::ensure!(
            dist.join("index.html").is_file(),
            "`npm run {}` left no {}",
            mode.script(),
            dist.join("index.html").display()
        );
        let stamp = dist.join(BUILD_STAMP);
        fs::write(&stamp, mode.name()).with_context(|| format!("writing {}", stamp.display()))?;
    }
    fs::canonicalize(&dist).with_context(|| format!("resolving {}", dist.display()))
}

/// Runs `npm ci` in `web` unless `node_modules/` was installed from this `package-lock.json`;
/// whether it ran.
fn ensure_installed(web: &Path) -> Result<bool> {
    let lock = web.join("package-lock.json");
    let wanted = sha256_hex(&lock)?;
    let stamp = web.join("node_modules").join(INSTALL_STAMP);
    if fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == wanted) {
        return Ok(false);
    }
    eprintln!(
        "xtask: installing the web client's packages (npm ci, from {}) into {}",
        lock.display(),
        web.join("node_modules").display()
    );
    let ci = npm_output(web, &["ci", "--no-audit", "--no-fund"])?;
    if !ci.status.success() {
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&ci.stdout),
            String::from_utf8_lossy(&ci.stderr)
        );
        let Some(unresolved) = only_unresolvable_optionals(&said) else {
            bail!(
                "`npm ci --no-audit --no-fund` in {} failed ({}):\n{said}",
                web.display(),
                ci.status
            );
        };
        // npm 11 refuses a lock file that lacks an optional package the registry does not
        // serve (npm 10, the image's, accepts it); the lock's versions are installed all
        // the same, without rewriting it.
        eprintln!(
            "xtask: note: this npm refuses package-lock.json for lacking {}, which the \
             registry does not serve; installing the locked versions with `npm install \
             --no-save` instead",
            unresolved.join(", ")
        );
        npm(web, &["install", "--no-audit", "--no-fund", "--no-save"])?;
    }
    fs::write(&stamp, &wanted).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(true)
}

/// The packages of a failed `npm ci` that refused the lock file only for packages that
/// npm could not resolve at all (`Missing: <name>@ from lock file`, no version: an optional
/// dependency the registry does not serve, which `npm install` skips); `None` when it
/// failed for anything else, such as a `package.json` changed without its lock.
fn only_unresolvable_optionals(said: &str) -> Option<Vec<String>> {
    if !said.contains("can only install packages when your package.json and package-lock.json") {
        return None;
    }
    let mut unresolved = Vec::new();
    for line in said.lines() {
        let line = line.trim_start_matches("npm error").trim();
        if line.starts_with("Invalid:") {
            return None;
        }
        if let Some(missing) = line.strip_prefix("Missing:") {
            let name = missing.trim().strip_suffix("@ from lock file")?;
            unresolved.push(name.to_string());
        }
    }
    (!unresolved.is_empty()).then_some(unresolved)
}

/// Why `web/dist` must be built (again) for `mode`, or `None` when it is up to date.
fn stale(web: &Path, mode: Mode) -> Result<Option<String>> {
    let dist = web.join("dist");
    let stamp = dist.join(BUILD_STAMP);
    if !dist.join("index.html").is_file() {
        return Ok(Some(format!("{} has no index.html", dist.display())));
    }
    let built = match fs::read_to_string(&stamp) {
        Ok(built) => built,
        Err(_) => return Ok(Some(format!("{} is missing", stamp.display()))),
    };
    if built.trim() != mode.name() {
        return Ok(Some(format!("it was built in {} mode", built.trim())));
    }
    let built_at = modified(&stamp)?;
    Ok(newer_source(web, built_at)?.map(|source| format!("{} changed", source.display())))
}

/// A file under `web` (outside `node_modules/` and `dist/`) modified after `time`.
fn newer_source(web: &Path, time: SystemTime) -> Result<Option<PathBuf>> {
    let mut pending = vec![web.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
            let path = entry.path();
            let kind = entry
                .file_type()
                .with_context(|| format!("reading {}", path.display()))?;
            let name = entry.file_name();
            if kind.is_dir() {
                let skipped = name == "node_modules" || (dir.as_path() == web && name == "dist");
                if !skipped {
                    pending.push(path);
                }
            } else if modified(&path)? > time {
                return Ok(Some(path));
            }
        }
    }
    Ok(None)
}

/// When `path` (not a link's target) was last modified.
fn modified(path: &Path) -> Result<SystemTime> {
    fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .with_context(|| format!("reading the time of {}", path.display()))
}

/// `npm <args>` in `web`, with its output captured.
fn npm_output(web: &Path, args: &[&str]) -> Result<Output> {
    Command::new("npm")
        .args(args)
        .current_dir(web)
        .env("npm_config_update_notifier", "false")
        .output()
        .with_context(|| format!("running npm {} ({NPM_HELP})", args.join(" ")))
}

/// `npm <args>` in `web`, failing with npm's own output.
fn npm(web: &Path, args: &[&str]) -> Result<()> {
    let output = npm_output(web, args)?;
    anyhow::ensure!(
        output.status.success(),
        "`npm {}` in {} failed ({}):\n{}{}",
        args.join(" "),
        web.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// The Chromium the browser tests drive: `CHROMIUM_BIN` when set (it must exist), else
/// Debian's `/usr/bin/chromium`.
pub fn chromium() -> Result<PathBuf> {
    if let Some(given) = crate::env::var_os("CHROMIUM_BIN") {
        let given = PathBuf::from(given);
        anyhow::ensure!(
            given.is_file(),
            "CHROMIUM_BIN={} does not exist or is not a file",
            given.display()
        );
        return Ok(given);
    }
    let debian = PathBuf::from("/usr/bin/chromium");
    anyhow::ensure!(
        debian.is_file(),
        "Chromium is not installed (the web client's browser tests drive it): install the \
         Debian package `chromium` (`apt-get install chromium`), or set CHROMIUM_BIN"
    );
    Ok(debian)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn touch(path: &Path, time: SystemTime) {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("creates the directory");
        }
        fs::write(path, "x").expect("writes");
        fs::File::options()
            .write(true)
            .open(path)
            .and_then(|f| f.set_modified(time))
            .expect("sets the time");
    }

    /// A web directory built at `built` in `mode`, with sources from an hour before.
    fn built_web(mode: Mode, built: SystemTime) -> tempfile::TempDir {
        let web = tempfile::tempdir().expect("a temporary directory");
        let before = built - Duration::from_secs(3600);
        touch(&web.path().join("package.json"), before);
        touch(&web.path().join("src/main.jsx"), before);
        touch(&web.path().join("dist/index.html"), built);
        fs::write(web.path().join("dist").join(BUILD_STAMP), mode.name()).expect("writes");
        fs::File::options()
            .write(true)
            .open(web.path().join("dist").join(BUILD_STAMP))
            .and_then(|f| f.set_modified(built))
            .expect("sets the time");
        web
    }

    #[test]
    fn only_a_lock_refused_for_unresolvable_packages_is_installed_anyway() {
        let refused = "npm error code EUSAGE\nnpm error\nnpm error `npm ci` can only install \
             packages when your package.json and package-lock.json or npm-shrinkwrap.json are \
             in sync. Please update your lock file with `npm install` before continuing.\n\
             npm error\nnpm error Missing: napi-windows-process-start-time@ from lock file\n";
        assert_eq!(
            only_unresolvable_optionals(refused),
            Some(vec!["napi-windows-process-start-time".to_string()])
        );
        let changed = refused.replace("start-time@ from", "start-time@0.1.0 from");
        assert_eq!(only_unresolvable_optionals(&changed), None);
        let invalid = format!(
            "{refused}npm error Invalid: lock file's react@19.0.0 does not satisfy react@19.3.1\n"
        );
        assert_eq!(only_unresolvable_optionals(&invalid), None);
        assert_eq!(only_unresolvable_optionals("npm error code E404"), None);
    }

    #[test]
    fn a_build_newer_than_every_source_in_the_same_mode_is_kept() {
        let built = SystemTime::now() - Duration::from_secs(60);
        let web = built_web(Mode::Development, built);
        // Installed packages and the build itself are not sources.
        touch(
            &web.path().join("node_modules/react/index.js"),
            SystemTime::now(),
        );
        touch(
            &web.path().join("dist/assets/index-1.js"),
            SystemTime::now(),
        );

        assert_eq!(stale(web.path(), Mode::Development).expect("checks"), None);
    }

    #[test]
    fn a_changed_source_another_mode_or_no_build_means_building() {
        let built = SystemTime::now() - Duration::from_secs(60);
        let web = built_web(Mode::Development, built);
        assert!(
            stale(web.path(), Mode::Production)
                .expect("checks")
                .is_some_and(|why| why.contains("development mode"))
        );

        touch(&web.path().join("src/routes/todos.jsx"), SystemTime::now());
        let why = stale(web.path(), Mode::Development).expect("checks");
        assert!(why.is_some_and(|why| why.contains("todos.jsx")));

        fs::remove_file(web.path().join("dist").join(BUILD_STAMP)).expect("removes");
        assert!(
            stale(web.path(), Mode::Development)
                .expect("checks")
                .is_some()
        );

        fs::remove_dir_all(web.path().join("dist")).expect("removes");
        assert!(
            stale(web.path(), Mode::Development)
                .expect("checks")
                .is_some_and(|why| why.contains("index.html"))
        );
    }
}
