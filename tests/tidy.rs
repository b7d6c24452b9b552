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
        for other in names.iter().filter(|other| *other != name) {
            let depends = manifest.lines().any(|line| {
                line.trim_start().starts_with(&format!("{other} "))
                    || line.trim_start().starts_with(&format!("{other}."))
            });
            assert!(!depends, "services/{name} depends on services/{other}");
        }
    }
}

#[test]
fn subjects_are_never_written_by_hand() {
    let mut files = Vec::new();
    for dir in ["src", "services", "xtask", "bench", "tests"] {
        if repo().join(dir).is_dir() {
            rust_files(&repo().join(dir), &mut files);
        }
    }
    let mut offenders = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable source");
        for name in service_names().iter().map(String::as_str).chain(["probe"]) {
            if contains_subject_literal(&text, name) {
                offenders.push(file.display().to_string());
            }
        }
    }
    // Test assertions may name the subject they expect; production code may not.
    offenders.retain(|path| !path.contains("/tests/"));
    assert!(
        offenders.is_empty(),
        "hand-written subjects in {offenders:?}"
    );
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
