//! Bad configuration: the real `bookings` binary prints one line naming the variable and
//! exits with status 64, before it connects to anything — also when the saga could not
//! call tickets and billing as the bookings service, or its timing is inconsistent.

#[tokio::test]
async fn a_bad_variable_exits_64_with_one_line_naming_it_and_why() {
    switchboard::testing::config::assert_refuses_bad_config(
        env!("CARGO_BIN_EXE_bookings"),
        "bookings",
    )
    .await;
}

/// Runs the binary with only `vars` set: its exit status and stderr.
async fn run(vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let (status, stderr, _) =
        switchboard::testing::config::run_with(env!("CARGO_BIN_EXE_bookings"), vars).await;
    (status, stderr)
}

#[tokio::test]
async fn without_a_service_token_or_a_secret_the_saga_cannot_run_and_the_binary_says_so() {
    let (status, stderr) = run(&[]).await;
    assert_eq!(status, Some(64), "{stderr}");
    assert!(stderr.contains("SB_SERVICE_TOKEN_FILE"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[tokio::test]
async fn inconsistent_saga_timing_is_refused() {
    for vars in [
        [
            ("SB_SAGA_LEASE_MS", "1000"),
            ("SB_SAGA_STEP_TIMEOUT_MS", "800"),
        ],
        [
            ("SB_SAGA_LEASE_MS", "50"),
            ("SB_SAGA_STEP_TIMEOUT_MS", "10"),
        ],
        [("SB_SAGA_DEADLINE_MS", "soon"), ("JWT_HS256_SECRET", "x")],
    ] {
        let (status, stderr) = run(&vars).await;
        assert_eq!(status, Some(64), "{vars:?}: {stderr}");
        assert!(stderr.contains("SB_SAGA_"), "{vars:?}: {stderr}");
    }
}
