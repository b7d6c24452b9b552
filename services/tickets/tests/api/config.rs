//! Bad configuration: the real `tickets` binary prints one line naming the variable and
//! exits with status 64, before it connects to anything — for the variables every service
//! has and for its own.

#[tokio::test]
async fn a_bad_variable_exits_64_with_one_line_naming_it_and_why() {
    switchboard::testing::config::assert_refuses_bad_config(
        env!("CARGO_BIN_EXE_tickets"),
        "tickets",
    )
    .await;
}

#[tokio::test]
async fn a_bad_hold_or_sweep_exits_64_naming_the_variable() {
    for (var, value) in [
        ("TICKETS_HOLD_SECS", "0"),
        ("TICKETS_HOLD_SECS", "soon"),
        ("TICKETS_SWEEP_MS", "0"),
        ("TICKETS_SWEEP_MS", "-5"),
    ] {
        let (status, stderr, _) =
            switchboard::testing::config::run_with(env!("CARGO_BIN_EXE_tickets"), &[(var, value)])
                .await;
        assert_eq!(status, Some(64), "{var}={value}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{var}={value}: {stderr:?}");
        assert!(
            stderr.starts_with("tickets:") && stderr.contains(var),
            "{var}={value}: {stderr:?}"
        );
    }
}
