//! Bad configuration: the real `todos` binary prints one line naming the variable and
//! exits with status 64, before it connects to anything.

#[tokio::test]
async fn a_bad_variable_exits_64_with_one_line_naming_it_and_why() {
    switchboard::testing::config::assert_refuses_bad_config(env!("CARGO_BIN_EXE_todos"), "todos")
        .await;
}
