//! Bad configuration: the real `notifications` binary prints one line naming the variable
//! and exits with status 64, before it connects to anything — for every service's
//! variables and for its own, without repeating the mail account's password.

use std::process::Stdio;
use std::time::Duration;

const BINARY: &str = env!("CARGO_BIN_EXE_notifications");

#[tokio::test]
async fn a_bad_variable_exits_64_with_one_line_naming_it_and_why() {
    switchboard::testing::config::assert_refuses_bad_config(BINARY, "notifications").await;
}

#[tokio::test]
async fn a_bad_smtp_setting_exits_64_without_leaking_the_password() {
    for (var, value) in [
        ("SMTP_URL", "http://mailer:hunter2@mail.example.org"),
        ("SMTP_URL", "smtp://mailer:hunter2@mail.example.org:99999"),
        (
            "SMTP_URL",
            "smtp://mailer:hunter2@mail.example.org?tls=maybe",
        ),
        ("SMTP_FROM", "not an address"),
    ] {
        let child = tokio::process::Command::new(BINARY)
            .env_clear()
            .env(var, value)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the binary starts");
        let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("{var}={value}: the binary did not exit"))
            .expect("its output");
        let stderr = String::from_utf8_lossy(&output.stderr);

        assert_eq!(output.status.code(), Some(64), "{var}={value}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{var}={value}: {stderr}");
        assert!(
            stderr.starts_with("notifications:") && stderr.contains(var),
            "{var}={value}: {stderr}"
        );
        assert!(!stderr.contains("hunter2"), "{var}={value}: {stderr}");
        assert!(output.stdout.is_empty(), "{var}={value}: nothing on stdout");
    }
}
