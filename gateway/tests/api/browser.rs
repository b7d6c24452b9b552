//! The web client and GraphiQL in a real browser: each test starts the system with the
//! built client (`GATEWAY_WEB_DIR`) and development tokens on, then runs one of the
//! `web/e2e/*.mjs` scripts (Node.js driving headless Chromium through playwright-core)
//! against it and asserts that it passed. A script fails on a failed expectation, a page
//! error, a console error or a Content-Security-Policy violation, and takes a screenshot
//! after every step, into `<target>/browser-screenshots/<test>/`.
//!
//! `cargo xtask test` builds the client (`npm --prefix web run build:dev`) and gives its
//! directory as `SB_WEB_DIST` and the browser as `CHROMIUM_BIN`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use switchboard::auth::ADMIN_ROLE;
use switchboard::proto::billing::v1::{BillingClient, Faults, SetFaultsRequest};
use switchboard::settings::{Env, Secret};

use crate::helpers::{
    Options, PATIENCE, SECRET, TestSystem, admin, hs_auth, repository, run_node, spawn_system_with,
};

/// The longest one script may run: it has many steps, each waiting up to [`PATIENCE`].
const SCRIPT_LIMIT: Duration = Duration::from_secs(PATIENCE.as_secs() * 6);

/// The value of `name`, which `cargo xtask test` sets; an empty value counts as unset.
fn required(name: &str, what: &str) -> String {
    match Env::from_process().string(name) {
        Some(value) => value,
        None => panic!(
            "{name} is not set: it names {what}. Run the tests through `cargo xtask test`, or \
             build the client with `npm --prefix web run build:dev` and set \
             SB_WEB_DIST=<repository>/web/dist and CHROMIUM_BIN=<a Chromium binary>"
        ),
    }
}

/// `<target dir>/browser-screenshots/<test>`, emptied.
fn screenshot_dir(test: &str) -> PathBuf {
    let target = option_env!("CARGO_TARGET_TMPDIR")
        .and_then(|tmp| Path::new(tmp).parent().map(Path::to_path_buf))
        .unwrap_or_else(|| repository().join("target"));
    let dir = target.join("browser-screenshots").join(test);
    // Screenshots of an earlier run must not pass for this one's.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// The system with the built web client, development tokens and the booking services,
/// billing answering after `latency_ms` and declining `decline_rate` of the charges.
async fn web_system(decline_rate: f64, latency_ms: u32) -> TestSystem {
    let dist = PathBuf::from(required(
        "SB_WEB_DIST",
        "the web client built in development mode (web/dist)",
    ));
    assert!(
        dist.join("index.html").is_file() && dist.join("graphiql.html").is_file(),
        "SB_WEB_DIST={} holds no index.html and graphiql.html: build the client with \
         `npm --prefix web run build:dev` (or run through `cargo xtask test`)",
        dist.display()
    );
    let mut system = spawn_system_with(Options {
        web_dir: Some(dist),
        dev_tokens: true,
        ..Options::default()
    })
    .await;
    system.start_booking_services().await;
    BillingClient::new(system.bus.with_bearer_token(&admin()))
        .set_faults(SetFaultsRequest {
            faults: Some(Faults {
                decline_rate,
                latency_ms,
                overloaded: false,
            }),
        })
        .await
        .expect("billing takes the faults");
    system
}

/// Runs `web/e2e/<script>` against `system` with `env` added, and fails the test with the
/// script's output unless it passes.
async fn run_script(system: &TestSystem, script: &str, test: &str, env: &[(&str, &str)]) {
    let chromium = required("CHROMIUM_BIN", "the Chromium binary the scripts drive");
    let shots = screenshot_dir(test);
    println!("screenshots of {test}: {}", shots.display());
    let patience = PATIENCE.as_millis().to_string();
    let run_timeout = (SCRIPT_LIMIT - Duration::from_secs(10))
        .as_millis()
        .to_string();
    let shots_dir = shots.display().to_string();
    let mut all = vec![
        ("GATEWAY_URL", system.base.as_str()),
        ("SCREENSHOT_DIR", shots_dir.as_str()),
        ("CHROMIUM_BIN", chromium.as_str()),
        ("E2E_PATIENCE_MS", patience.as_str()),
        ("E2E_RUN_TIMEOUT_MS", run_timeout.as_str()),
    ];
    all.extend_from_slice(env);
    let context = format!("screenshots: {shots_dir}");
    run_node(
        &format!("web/e2e/{script}"),
        &[],
        &all,
        SCRIPT_LIMIT,
        &context,
    )
    .await;
}

#[tokio::test]
async fn the_web_client_signs_in_follows_todos_live_and_books_seats() {
    // Billing takes a moment per charge, so each state of a booking is on screen a while.
    let system = web_system(0.0, 300).await;
    run_script(
        &system,
        "app.mjs",
        "the_web_client_signs_in_follows_todos_live_and_books_seats",
        &[],
    )
    .await;
}

#[tokio::test]
async fn the_web_client_shows_a_declined_card_apart() {
    let system = web_system(1.0, 0).await;
    run_script(
        &system,
        "declined.mjs",
        "the_web_client_shows_a_declined_card_apart",
        &[],
    )
    .await;
}

#[tokio::test]
async fn graphiql_runs_queries_and_subscriptions_with_the_headers_token() {
    let system = web_system(0.0, 0).await;
    // Valid for longer than the script may run (the helpers' tokens last a minute).
    let token = switchboard::auth::sign_hs256(
        &Secret::new(SECRET),
        &hs_auth(),
        "graphiql-admin",
        &[ADMIN_ROLE],
        SCRIPT_LIMIT * 2,
    )
    .expect("signs a token");
    run_script(
        &system,
        "graphiql.mjs",
        "graphiql_runs_queries_and_subscriptions_with_the_headers_token",
        &[("E2E_TOKEN", token.as_str())],
    )
    .await;
}
