//! `cargo xtask tap` as a process against a real nats-server and the real users service:
//! it prints a request, its reply and the event a deletion announces, each decoded.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use switchboard::auth::ADMIN_ROLE;
use switchboard::bus::BusSettings;
use switchboard::proto::users::v1::{
    CreateUserRequest, DeleteUserRequest, UsersClient, create_user_reply, users_events, users_rpc,
};
use switchboard::service::{RuntimeSettings, ServiceSettings};
use switchboard::testing::{self, NatsServer};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

const SECRET: &str = "tap-tests-secret-0123456789abcdef";
/// How long the test waits for one line of the tap.
const PATIENCE: Duration = Duration::from_secs(30);

/// The tap's next JSON line, within [`PATIENCE`].
async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>) -> Value {
    let line = tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .expect("the tap printed a line in time")
        .expect("the tap's output is readable")
        .expect("the tap is still running");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

/// Reads lines until one matches `wanted`, returning it.
async fn line_where(
    lines: &mut Lines<BufReader<ChildStdout>>,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    loop {
        let line = next_line(lines).await;
        if wanted(&line) {
            return line;
        }
    }
}

/// Starts the tap against `url` and waits until it listens.
async fn start_tap(url: &str) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut tap = tokio::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("tap")
        .env("NATS_URL", url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the tap starts");
    let stderr = tap.stderr.take().expect("the tap's stderr");
    let mut errors = BufReader::new(stderr).lines();
    let ready = tokio::time::timeout(PATIENCE, async {
        while let Ok(Some(line)) = errors.next_line().await {
            if line.starts_with("tap: listening") {
                return true;
            }
        }
        false
    })
    .await
    .expect("the tap listens in time");
    assert!(ready, "the tap ended before it listened");
    let stdout = tap.stdout.take().expect("the tap's stdout");
    (tap, BufReader::new(stdout).lines())
}

#[tokio::test]
async fn the_tap_prints_a_decoded_request_its_reply_and_an_event() {
    let server = NatsServer::start();
    let dir = tempfile::tempdir().expect("a temp dir");
    let users = users::build(ServiceSettings {
        bus: BusSettings::new(server.url()),
        runtime: RuntimeSettings::default(),
        store_url: format!("sqlite://{}", dir.path().join("users.db").display()),
        auth: testing::hs256_auth(SECRET),
    })
    .await
    .expect("users starts");
    let (mut tap, mut lines) = start_tap(server.url()).await;

    let bus = testing::connect(&server).await;
    let client =
        UsersClient::new(bus.with_bearer_token(&testing::token(SECRET, "root", &[ADMIN_ROLE])));
    let created = client
        .create(CreateUserRequest {
            email: "tap@example.org".into(),
            display_name: "Tapped".into(),
        })
        .await
        .expect("create answers");
    let create_user_reply::Outcome::Created(user) = created else {
        panic!("expected a created user, got {created:?}");
    };

    let request = line_where(&mut lines, |l| l["kind"] == "request").await;
    assert_eq!(request["subject"], users_rpc::CREATE.subject, "{request}");
    assert_eq!(request["sender"], "tests", "{request}");
    assert_eq!(request["payload"]["email"], "tap@example.org", "{request}");
    assert_eq!(request["payload"]["displayName"], "Tapped", "{request}");
    let reply = line_where(&mut lines, |l| l["kind"] == "reply").await;
    assert_eq!(reply["response_to"], request["message_id"], "{reply}");
    assert_eq!(
        reply["request_subject"],
        users_rpc::CREATE.subject,
        "{reply}"
    );
    assert_eq!(reply["payload"]["created"]["id"], user.id, "{reply}");
    assert!(reply["latency_ms"].as_f64().is_some(), "{reply}");

    client
        .delete(DeleteUserRequest {
            id: user.id.clone(),
        })
        .await
        .expect("delete answers");
    let event = line_where(&mut lines, |l| l["kind"] == "event").await;
    assert_eq!(
        event["subject"],
        users_events::USER_DELETED.subject,
        "{event}"
    );
    assert_eq!(
        event["event_type"],
        users_events::USER_DELETED.name,
        "{event}"
    );
    assert_eq!(event["payload"]["id"], user.id, "{event}");

    tap.start_kill().expect("the tap is stopped");
    users
        .run_until_stopped(async {})
        .await
        .expect("users stops");
}
