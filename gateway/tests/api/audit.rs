//! GraphQL over HTTP conformance: the audits of the `graphql-http` npm package
//! (`web/tests/audit.mjs`) against a real gateway, strictly — every audit `ok`, a SHOULD's
//! warning counting as a failure.

use std::path::PathBuf;
use std::process::Stdio;

use crate::helpers::{PATIENCE, spawn_system};

#[tokio::test]
async fn every_graphql_over_http_audit_passes() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the gateway crate is inside the repository")
        .to_path_buf();
    let package = repo.join("web/node_modules/graphql-http");
    assert!(
        package.is_dir(),
        "{} is missing: run `npm ci --prefix web` (the audits come from the npm package graphql-http)",
        package.display()
    );
    let system = spawn_system().await;

    let child = tokio::process::Command::new("node")
        .arg(repo.join("web/tests/audit.mjs"))
        .arg(system.url("/graphql"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Dropped on timeout, and so killed.
        .kill_on_drop(true)
        .spawn()
        .expect("`node` runs (Node.js on PATH)");
    let output = tokio::time::timeout(PATIENCE * 4, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("the audits did not finish within {:?}", PATIENCE * 4))
        .expect("the audits' output");

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Shown with `--nocapture`.
    println!("{stdout}");
    assert!(
        output.status.success(),
        "an audit is not ok ({}):\n{stdout}\n{stderr}",
        output.status
    );
}
