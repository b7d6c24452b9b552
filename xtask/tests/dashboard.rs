//! The Grafana dashboard the Helm chart ships: valid JSON, and it charts exactly the
//! metrics the README's Metrics table documents.

use std::collections::BTreeSet;
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the repository")
        .to_path_buf()
}

/// Metric names in `text`: words starting `sb_` or `graphql_`, histogram suffixes removed.
fn metric_names(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("sb_") || word.starts_with("graphql_"))
        .map(|word| word.trim_end_matches("_bucket").to_owned())
        .collect()
}

#[test]
fn the_dashboard_charts_every_documented_metric_and_no_other() {
    let path = repo().join("helm/switchboard/dashboards/switchboard.json");
    let text = std::fs::read_to_string(&path).expect("the dashboard");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let exprs: Vec<&str> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .filter_map(|panel| panel["targets"].as_array())
        .flatten()
        .map(|target| target["expr"].as_str().expect("every target has an expr"))
        .collect();
    assert!(!exprs.is_empty(), "the dashboard has queries");
    let charted: BTreeSet<String> = exprs.iter().flat_map(|e| metric_names(e)).collect();

    let readme = std::fs::read_to_string(repo().join("README.md")).expect("the README");
    let section = readme
        .split("\n## Metrics\n")
        .nth(1)
        .expect("a Metrics section")
        .split("\n## ")
        .next()
        .unwrap_or_default();
    let documented: BTreeSet<String> = section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|line| line.split('`').next())
        .map(str::to_owned)
        .collect();
    assert!(!documented.is_empty(), "the README's table lists metrics");
    assert_eq!(
        charted, documented,
        "the dashboard and the README's Metrics table must name the same metrics"
    );
}
