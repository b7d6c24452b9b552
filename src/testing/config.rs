//! Bad configuration, the same for every service binary: one line on stderr naming the
//! binary and the variable, exit status 64, before it connects to anything. A service's
//! tests call [`assert_refuses_bad_config`] with its binary.

use std::process::Stdio;
use std::time::Duration;

/// Variables with values every service binary must refuse, and what its one line must name.
pub const BAD: &[(&str, &str, &str)] = &[
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
    ("STORE_URL", "mongodb://x/db?tls=maybe", "STORE_URL"),
    ("JWT_JWKS_FILE", "/missing.json", "JWT_JWKS_FILE"),
];

/// Values whose one line must also say more than the variable's name.
pub const EXPLAINED: &[(&str, &str, &str)] = &[
    // A MongoDB URL the driver refuses: the line says why, never the password.
    (
        "STORE_URL",
        "mongodb://admin:hunter2@db/users?maxPoolSize=-1",
        "not a valid MongoDB connection string",
    ),
    ("JWT_JWKS_FILE", "/missing.json", "cannot be read"),
];

/// Runs `binary` (named `name`, as its lines start) once per [`BAD`] and [`EXPLAINED`]
/// value, with only that variable set, and asserts the refusal.
pub async fn assert_refuses_bad_config(binary: &str, name: &str) {
    for (var, value, named) in BAD {
        let (status, stderr, stdout) = run_with(binary, &[(var, value)]).await;
        assert_eq!(status, Some(64), "{var}={value}: stderr {stderr:?}");
        assert_eq!(
            stderr.lines().count(),
            1,
            "{var}={value}: one line, got {stderr:?}"
        );
        assert!(
            stderr.contains(named) && stderr.starts_with(&format!("{name}:")),
            "{var}={value}: the line names the binary and {named}: {stderr:?}"
        );
        assert!(stdout.is_empty(), "{var}={value}: nothing on stdout");
    }
    for (var, value, says) in EXPLAINED {
        let (status, stderr, _) = run_with(binary, &[(var, value)]).await;
        assert_eq!(status, Some(64), "{var}={value}: stderr {stderr:?}");
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

/// Runs `binary` with only `vars` set (so the result depends on them alone): its exit
/// status, stderr and stdout. For a service's checks of its own variables.
pub async fn run_with(binary: &str, vars: &[(&str, &str)]) -> (Option<i32>, String, Vec<u8>) {
    let mut command = tokio::process::Command::new(binary);
    command.env_clear();
    for (var, value) in vars {
        command.env(var, value);
    }
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{binary} starts: {e}"));
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{vars:?}: {binary} did not exit"))
        .unwrap_or_else(|e| panic!("waits for {binary}: {e}"));
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        output.stdout,
    )
}
