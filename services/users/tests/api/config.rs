//! Bad configuration: the real `users` binary prints one line naming the variable and
//! exits with status 64, before it connects to anything.

use std::process::Stdio;
use std::time::Duration;

/// Variables with values the binary must refuse, and what its one line must name.
const BAD: &[(&str, &str, &str)] = &[
    ("SB_MAX_IN_FLIGHT", "abc", "SB_MAX_IN_FLIGHT"),
    ("SB_MAX_IN_FLIGHT", "0", "SB_MAX_IN_FLIGHT"),
    ("SB_DEADLINE_MS", "soon", "SB_DEADLINE_MS"),
    ("SB_SHUTDOWN_GRACE_MS", "-1", "SB_SHUTDOWN_GRACE_MS"),
    ("NATS_URL", "http://example.org", "NATS_URL"),
    ("NATS_TLS_CERT_FILE", "/client.pem", "NATS_TLS_KEY_FILE"),
    ("NATS_TLS_REQUIRED", "maybe", "NATS_TLS_REQUIRED"),
    ("ADMIN_ADDR", "not an address", "ADMIN_ADDR"),
    ("JWT_LEEWAY_SECS", "lots", "JWT_LEEWAY_SECS"),
    ("JWT_JWKS_URL", "ftp://keys", "JWT_JWKS_URL"),
    ("LOG_FORMAT", "xml", "LOG_FORMAT"),
    ("JWT_JWKS_REFRESH_SECS", "0", "JWT_JWKS_REFRESH_SECS"),
    ("STORE_URL", "bogus", "STORE_URL"),
    ("STORE_URL", "mongodb://x/db", "STORE_URL"),
    ("JWT_JWKS_FILE", "/missing.json", "JWT_JWKS_FILE"),
];

/// Values whose one line must also say more than the variable's name.
const EXPLAINED: &[(&str, &str, &str)] = &[
    // No MongoDB store exists yet: the line says so rather than "unsupported".
    (
        "STORE_URL",
        "mongodb://admin:hunter2@db/users",
        "MongoDB store is not built yet",
    ),
    ("JWT_JWKS_FILE", "/missing.json", "cannot be read"),
];

#[tokio::test]
async fn a_bad_variable_exits_64_with_one_line_naming_it() {
    for (var, value, named) in BAD {
        // Nothing else set: the result depends on this variable alone.
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_users"))
            .env_clear()
            .env(var, value)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the users binary starts");
        let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("{var}={value}: the binary did not exit"))
            .expect("waits for the binary");

        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(64),
            "{var}={value}: exit status {}, stderr {stderr:?}",
            output.status
        );
        assert_eq!(
            stderr.lines().count(),
            1,
            "{var}={value}: one line, got {stderr:?}"
        );
        assert!(
            stderr.contains(named) && stderr.starts_with("users:"),
            "{var}={value}: the line names the binary and {named}: {stderr:?}"
        );
        assert!(output.stdout.is_empty(), "{var}={value}: nothing on stdout");
    }
}

#[tokio::test]
async fn the_line_says_why_and_repeats_no_password() {
    for (var, value, says) in EXPLAINED {
        let (status, stderr) = run_with(var, value).await;
        assert_eq!(status, Some(64), "{var}={value}: stderr {stderr:?}");
        assert_eq!(
            stderr.lines().count(),
            1,
            "{var}={value}: one line, got {stderr:?}"
        );
        assert!(
            stderr.contains(var) && stderr.contains(says),
            "{var}={value}: the line names {var} and says {says:?}: {stderr:?}"
        );
        assert!(
            !stderr.contains("hunter2"),
            "{var}={value}: a password leaked: {stderr:?}"
        );
    }
}

/// Runs the binary with only `var=value` set: its exit status and stderr.
async fn run_with(var: &str, value: &str) -> (Option<i32>, String) {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_users"))
        .env_clear()
        .env(var, value)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the users binary starts");
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{var}={value}: the binary did not exit"))
        .expect("waits for the binary");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
