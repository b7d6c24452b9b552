//! Bad configuration: the real `billing` binary prints one line naming the variable and
//! exits with status 64, before it connects to anything — for the variables every service
//! has and for its own.

use std::process::Stdio;
use std::time::Duration;

#[tokio::test]
async fn a_bad_variable_exits_64_with_one_line_naming_it_and_why() {
    switchboard::testing::config::assert_refuses_bad_config(
        env!("CARGO_BIN_EXE_billing"),
        "billing",
    )
    .await;
}

#[tokio::test]
async fn a_bad_fault_setting_exits_64_naming_the_variable() {
    for (var, value) in [
        ("BILLING_DECLINE_RATE", "2"),
        ("BILLING_DECLINE_RATE", "often"),
        ("BILLING_LATENCY_MS", "-3"),
        ("BILLING_OVERLOADED", "sometimes"),
        ("BILLING_FAULT_INJECTION", "on"),
    ] {
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_billing"))
            .env_clear()
            .env(var, value)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("billing starts");
        let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("{var}={value}: billing did not exit"))
            .expect("waits for billing");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(64), "{var}={value}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{var}={value}: {stderr:?}");
        assert!(
            stderr.starts_with("billing:") && stderr.contains(var),
            "{var}={value}: {stderr:?}"
        );
    }
}
