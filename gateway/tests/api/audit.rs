//! GraphQL over HTTP conformance: the audits of the `graphql-http` npm package
//! (`web/tests/audit.mjs`) against a real gateway, strictly — every audit `ok`, a SHOULD's
//! warning counting as a failure.

use crate::helpers::{PATIENCE, repository, run_node, spawn_system};

#[tokio::test]
async fn every_graphql_over_http_audit_passes() {
    let package = repository().join("web/node_modules/graphql-http");
    assert!(
        package.is_dir(),
        "{} is missing: run `npm ci --prefix web` (the audits come from the npm package graphql-http)",
        package.display()
    );
    let system = spawn_system().await;

    let url = system.url("/graphql");
    run_node(
        "web/tests/audit.mjs",
        &[&url],
        &[],
        PATIENCE * 4,
        "an audit is not ok",
    )
    .await;
}
