//! The services of the workspace, discovered rather than listed: every directory under
//! `services/` whose `Cargo.toml` is a workspace package building a binary of its own
//! name. Adding a service is adding its crate there (plus its proto and its Helm values
//! block); nothing in xtask names it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::tools::entries;

/// Where the service crates live, relative to the repository root.
pub const SERVICES_DIR: &str = "services";

/// The service binaries under `<repo>/services/`, sorted by name. Asks `cargo metadata`
/// which packages the workspace has, so a crate that is not a member is reported rather
/// than silently skipped.
pub fn services(repo_root: &Path) -> Result<Vec<String>> {
    let output = Command::new(crate::cargo())
        .current_dir(repo_root)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .output()
        .context("running cargo metadata")?;
    anyhow::ensure!(
        output.status.success(),
        "`cargo metadata` failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value =
        serde_json::from_slice(&output.stdout).context("reading cargo metadata's JSON")?;
    services_in(&metadata, &crate_dirs(&repo_root.join(SERVICES_DIR))?)
}

/// The directories directly under `dir` that hold a `Cargo.toml`, sorted.
fn crate_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    // cargo metadata names manifests by their canonical path.
    entries(dir, |path| path.join("Cargo.toml").is_file())?
        .iter()
        .map(|path| fs::canonicalize(path).with_context(|| format!("resolving {}", path.display())))
        .collect()
}

/// The service names among `crate_dirs`, given `cargo metadata` output: a crate counts
/// when its package builds a binary named like the package. A crate that is not a
/// workspace member is an error (the root manifest's `members` must cover `services/*`).
fn services_in(metadata: &Value, crate_dirs: &[PathBuf]) -> Result<Vec<String>> {
    let packages = metadata["packages"]
        .as_array()
        .context("cargo metadata lists no packages")?;
    let mut names = Vec::new();
    for dir in crate_dirs {
        let manifest = dir.join("Cargo.toml");
        let package = packages
            .iter()
            .find(|p| p["manifest_path"].as_str().map(Path::new) == Some(manifest.as_path()));
        let Some(package) = package else {
            bail!(
                "{} is not a workspace member: add it to `members` in the root Cargo.toml",
                manifest.display()
            );
        };
        let name = package["name"]
            .as_str()
            .with_context(|| format!("{} has no package name", manifest.display()))?;
        let builds_binary = package["targets"].as_array().is_some_and(|targets| {
            targets.iter().any(|t| {
                t["name"].as_str() == Some(name)
                    && t["kind"]
                        .as_array()
                        .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"))
            })
        });
        if builds_binary {
            names.push(name.to_string());
        }
    }
    names.sort();
    anyhow::ensure!(
        !names.is_empty(),
        "no service binary under {SERVICES_DIR}/ (a crate with a binary named like its package)"
    );
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(dir: &str, name: &str, kinds: &[(&str, &str)]) -> Value {
        let targets: Vec<Value> = kinds
            .iter()
            .map(|(target, kind)| serde_json::json!({ "name": target, "kind": [kind] }))
            .collect();
        serde_json::json!({
            "name": name,
            "manifest_path": format!("/repo/services/{dir}/Cargo.toml"),
            "targets": targets,
        })
    }

    #[test]
    fn a_crate_with_a_binary_of_its_name_is_a_service() -> Result<()> {
        let metadata = serde_json::json!({ "packages": [
            package("users", "users", &[("users", "lib"), ("users", "bin")]),
            package("billing", "billing", &[("billing", "bin")]),
            package("common", "common", &[("common", "lib")]),
            package("tool", "tool", &[("other-name", "bin")]),
        ]});
        let dirs: Vec<PathBuf> = ["billing", "common", "tool", "users"]
            .iter()
            .map(|d| PathBuf::from("/repo/services").join(d))
            .collect();
        assert_eq!(services_in(&metadata, &dirs)?, vec!["billing", "users"]);
        Ok(())
    }

    #[test]
    fn a_crate_outside_the_workspace_is_an_error() {
        let metadata = serde_json::json!({ "packages": [
            package("users", "users", &[("users", "bin")]),
        ]});
        let dirs = vec![
            PathBuf::from("/repo/services/users"),
            PathBuf::from("/repo/services/orphan"),
        ];
        let error = services_in(&metadata, &dirs).expect_err("orphan is not a member");
        assert!(error.to_string().contains("orphan"), "{error}");
    }

    #[test]
    fn the_repository_has_the_reference_services() -> Result<()> {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("xtask has a parent directory")?;
        let found = services(repo)?;
        assert!(
            found.contains(&"users".to_string()) && found.contains(&"todos".to_string()),
            "{found:?}"
        );
        Ok(())
    }
}
