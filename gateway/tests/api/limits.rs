//! Depth, complexity, alias, root-field and body-size limits, each with its own error.

use serde_json::json;

use crate::helpers::{Options, admin, http, spawn_system_with};
use gateway::limits::Limits;

async fn system_with_limits(limits: Limits) -> crate::helpers::TestSystem {
    spawn_system_with(Options {
        limits,
        max_body_bytes: 2048,
        ..Options::default()
    })
    .await
}

/// A query over each limit of `{ depth 4, complexity 12, aliases 2, root fields 3,
/// nesting max_nesting }`, with the code it must get.
pub fn over_the_limits(max_nesting: usize) -> Vec<(String, &'static str)> {
    let brackets = max_nesting + 1;
    vec![
        (
            "{ users { nodes { todos { owner { todos { id } } } } } }".into(),
            "QUERY_TOO_DEEP",
        ),
        (
            "{ users { nodes { id email displayName createdAt todos { id title completed ownerId createdAt completedAt } } } }".into(),
            "QUERY_TOO_COMPLEX",
        ),
        (
            "{ users { ...A ...A } } fragment A on ListUsersReply { ...B ...B } fragment B on ListUsersReply { ...C ...C } fragment C on ListUsersReply { users { id } }".into(),
            "QUERY_TOO_COMPLEX",
        ),
        (
            "{ a: users { pageInfo { hasNextPage } } b: users { pageInfo { hasNextPage } } c: users { pageInfo { hasNextPage } } }".into(),
            "TOO_MANY_ALIASES",
        ),
        (
            "{ users { pageInfo { hasNextPage } } todos { pageInfo { hasNextPage } } user { __typename } todo { __typename } }".into(),
            "TOO_MANY_ROOT_FIELDS",
        ),
        (
            format!(
                "{{ probeEcho(text: {}\"x\"{}) {{ __typename }} }}",
                "[".repeat(brackets),
                "]".repeat(brackets)
            ),
            "NESTING_TOO_DEEP",
        ),
    ]
}

#[tokio::test]
async fn each_limit_is_enforced_with_its_own_code() {
    let system = system_with_limits(Limits {
        max_depth: 4,
        max_complexity: 12,
        max_aliases: 2,
        max_root_fields: 3,
        max_nesting: 16,
    })
    .await;
    for (query, code) in over_the_limits(16) {
        let reply = system.graphql(&query, json!({}), Some(&admin())).await;
        assert_eq!(reply.status, 400, "{code}: {}", reply.body);
        assert_eq!(reply.error_codes(), [code], "{}", reply.body);
    }
    let within = system
        .graphql("{ users { nodes { id } } }", json!({}), Some(&admin()))
        .await;
    assert_eq!(within.status, 200, "{}", within.body);
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413() {
    let system = system_with_limits(Limits::default()).await;
    let padding = " ".repeat(4096);
    let body = json!({ "query": format!("{{ users {{ pageInfo {{ hasNextPage }} }} {padding}}}") })
        .to_string();

    let reply = http(
        "POST",
        &system.url("/graphql"),
        vec![("Content-Type".into(), "application/json".into())],
        body.into_bytes(),
    )
    .await;

    assert_eq!(reply.status, 413, "{}", reply.body);
    let after = system
        .graphql(
            "{ users { pageInfo { hasNextPage } } }",
            json!({}),
            Some(&admin()),
        )
        .await;
    assert_eq!(after.status, 200, "the gateway keeps serving");
}
