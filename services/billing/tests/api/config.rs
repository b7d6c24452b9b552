//! Bad configuration: the real `billing` binary prints one line naming the variable and
//! exits with status 64, before it connects to anything — for the variables every service
//! has and for its own.

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
        let (status, stderr, _) =
            switchboard::testing::config::run_with(env!("CARGO_BIN_EXE_billing"), &[(var, value)])
                .await;
        assert_eq!(status, Some(64), "{var}={value}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{var}={value}: {stderr:?}");
        assert!(
            stderr.starts_with("billing:") && stderr.contains(var),
            "{var}={value}: {stderr:?}"
        );
    }
}
