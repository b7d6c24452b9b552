//! Tidy checks: invariants from ARCHITECTURE.md that the compiler alone does not enforce.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn service_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("services"))
        .expect("services/ exists")
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().join("Cargo.toml").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target") {
                rust_files(&path, found);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn no_service_crate_depends_on_another() {
    let names = service_names();
    assert!(names.len() >= 2, "found services {names:?}");
    for name in &names {
        let manifest =
            std::fs::read_to_string(repo().join("services").join(name).join("Cargo.toml"))
                .expect("a manifest");
        // Only what the service is built with: its tests may start the services it talks
        // to (dev-dependencies), as the gateway's tests do.
        let mut section = "";
        let dependencies: Vec<&str> = manifest
            .lines()
            .map(str::trim_start)
            .filter(|line| {
                if line.starts_with('[') {
                    section = line;
                }
                section == "[dependencies]"
            })
            .collect();
        for other in names.iter().filter(|other| *other != name) {
            let depends = dependencies.iter().any(|line| {
                line.starts_with(&format!("{other} ")) || line.starts_with(&format!("{other}."))
            });
            assert!(!depends, "services/{name} depends on services/{other}");
        }
    }
}

/// Every crate's sources, build scripts, tests and benchmarks, relative to the repository.
fn all_rust_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [
        "src", "build", "services", "gateway", "xtask", "bench", "tests",
    ] {
        if repo().join(dir).is_dir() {
            rust_files(&repo().join(dir), &mut files);
        }
    }
    files
        .into_iter()
        .map(|path| {
            path.strip_prefix(repo())
                .expect("inside the repository")
                .to_path_buf()
        })
        .collect()
}

/// Whether `path` is test code: a crate's `tests/` folder (root, services, gateway).
fn is_test_code(path: &Path) -> bool {
    path.components().any(|c| c.as_os_str() == "tests")
}

/// Fails listing `offenders`, if there are any.
fn assert_none(mut offenders: Vec<String>, why: &str) {
    offenders.sort();
    offenders.dedup();
    assert!(offenders.is_empty(), "{why}: {offenders:?}");
}

#[test]
fn subjects_are_never_written_by_hand() {
    let mut offenders = Vec::new();
    for file in all_rust_files() {
        // This file's own examples of what the check refuses.
        if file == Path::new("tests/tidy.rs") {
            continue;
        }
        let text = std::fs::read_to_string(repo().join(&file)).expect("readable source");
        for name in service_names().iter().map(String::as_str).chain(["probe"]) {
            if contains_subject_literal(&text, name) {
                offenders.push(file.display().to_string());
            }
        }
    }
    // Tests too: every subject, expected or sent, comes from the generated `Rpc` constants.
    assert_none(
        offenders,
        "hand-written subjects (use the generated `<service>_rpc` constants)",
    );
}

#[test]
fn tests_wait_for_conditions_instead_of_sleeping() {
    let mut offenders = Vec::new();
    for file in all_rust_files().into_iter().filter(|f| is_test_code(f)) {
        // This file names what it looks for.
        if file == Path::new("tests/tidy.rs") {
            continue;
        }
        let text = std::fs::read_to_string(repo().join(&file)).expect("readable source");
        let sleeps = text.lines().any(|line| {
            let code = line.split("//").next().unwrap_or_default();
            code.contains("sleep(") || code.contains("sleep_until(")
        });
        if sleeps {
            offenders.push(file.display().to_string());
        }
    }
    assert_none(
        offenders,
        "tests that sleep (wait for a condition with `switchboard::testing::eventually`)",
    );
}

#[test]
fn the_gateway_depends_on_no_service_outside_its_tests() {
    let manifest =
        std::fs::read_to_string(repo().join("gateway/Cargo.toml")).expect("the gateway manifest");
    let mut section = String::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_string();
            continue;
        }
        if section == "[dependencies]" || section == "[build-dependencies]" {
            for name in service_names() {
                assert!(
                    !(line.starts_with(&format!("{name} "))
                        || line.starts_with(&format!("{name}."))
                        || line.starts_with(&format!("{name}="))),
                    "gateway/Cargo.toml {section} names the service {name}: the gateway has no per-service code"
                );
            }
        }
    }
    let mut offenders = Vec::new();
    for file in all_rust_files()
        .into_iter()
        .filter(|f| f.starts_with("gateway/src"))
    {
        let text = std::fs::read_to_string(repo().join(&file)).expect("readable source");
        for name in service_names() {
            if text.contains(&format!("{name}::")) {
                offenders.push(file.display().to_string());
            }
        }
    }
    assert_none(offenders, "gateway sources that use a service crate");
}

#[test]
fn the_scan_reaches_every_crate_and_its_tests() {
    let files = all_rust_files();
    for expected in [
        "src/lib.rs",
        "gateway/src/main.rs",
        "tests/bus/main.rs",
        "tests/store/main.rs",
        "services/users/tests/api/main.rs",
        "services/todos/tests/api/main.rs",
        "xtask/src/main.rs",
    ] {
        assert!(
            files.iter().any(|f| f == Path::new(expected)),
            "the tidy scan misses {expected}"
        );
    }
    assert!(files.iter().any(|f| f.starts_with("gateway/tests")));
}

/// Whether `text` has a string literal that is exactly a subject of `service`, like
/// `"users.v1.create"` (prose that merely mentions a subject is fine).
fn contains_subject_literal(text: &str, service: &str) -> bool {
    let opening = format!("\"{service}.v");
    text.match_indices(&opening).any(|(at, _)| {
        let rest = &text[at + opening.len()..];
        let literal: String = rest.chars().take_while(|c| *c != '"').collect();
        let mut parts = literal.splitn(2, '.');
        let major_ok = parts
            .next()
            .is_some_and(|m| !m.is_empty() && m.chars().all(|c| c.is_ascii_digit()));
        let rpc_ok = parts.next().is_some_and(|r| {
            !r.is_empty() && r.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        });
        major_ok && rpc_ok
    })
}

#[test]
fn the_subject_check_tells_literals_from_prose() {
    assert!(contains_subject_literal(
        r#"call("users.v1.get_many")"#,
        "users"
    ));
    assert!(!contains_subject_literal(
        r#"panic!("users.v1.create failed")"#,
        "users"
    ));
    assert!(!contains_subject_literal(
        r#"let s = "users.v1.";"#,
        "users"
    ));
}

/// The gateway has no database: its manifest takes `switchboard` without the `store` or
/// `runtime` features (only its tests may add `testing`), so `cargo check -p gateway`,
/// which CI runs on its own, fails if gateway code names the store. Production binaries
/// carry no test contracts: no crate's `[dependencies]` enables `testing`, except the
/// benchmarks, which are not deployed.
#[test]
fn the_features_keep_the_store_from_the_gateway_and_tests_from_production() {
    let root = repo();
    let mut manifests = vec![root.join("gateway/Cargo.toml")];
    manifests.extend(
        service_names()
            .iter()
            .map(|name| root.join("services").join(name).join("Cargo.toml")),
    );
    for manifest in manifests {
        let text = std::fs::read_to_string(&manifest).expect("a manifest");
        let is_gateway = manifest.ends_with("gateway/Cargo.toml");
        let mut section = String::new();
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line.to_string();
                continue;
            }
            if section != "[dependencies]" || !line.starts_with("switchboard") {
                continue;
            }
            assert!(
                !line.contains("\"testing\""),
                "{}: [dependencies] enables `testing`; production code carries no test support",
                manifest.display()
            );
            if is_gateway {
                assert!(
                    !line.contains("\"store\"") && !line.contains("\"runtime\""),
                    "gateway/Cargo.toml enables the store or the runtime: the gateway has no database"
                );
            }
        }
    }
}
