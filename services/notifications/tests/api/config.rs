//! Bad configuration: the real `notifications` binary prints one line naming the variable
//! and exits with status 64, before it connects to anything — for every service's
//! variables and for its own, without repeating the mail account's password.

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
        let (status, stderr, stdout) =
            switchboard::testing::config::run_with(BINARY, &[(var, value)]).await;

        assert_eq!(status, Some(64), "{var}={value}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{var}={value}: {stderr}");
        assert!(
            stderr.starts_with("notifications:") && stderr.contains(var),
            "{var}={value}: {stderr}"
        );
        assert!(!stderr.contains("hunter2"), "{var}={value}: {stderr}");
        assert!(stdout.is_empty(), "{var}={value}: nothing on stdout");
    }
}
