//! Hostile input from anonymous clients: no request, of any shape, may crash or stall the
//! gateway. Each test sends the attack, checks the refusal (status and code), then checks
//! that an ordinary request is still answered. The gateway runs on a multi-threaded
//! runtime, whose worker threads have the stack size of production.

use serde_json::{Value, json};

use crate::helpers::{GRAPHQL_RESPONSE, TestSystem, admin, http, spawn_system};

/// An ordinary request still gets an ordinary answer.
async fn still_serving(system: &TestSystem) {
    let reply = system
        .graphql(
            "{ users { pageInfo { hasNextPage } } }",
            json!({}),
            Some(&admin()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.error_codes().is_empty(), "{}", reply.body);
}

fn nested(open: &str, inner: &str, close: &str, depth: usize) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

async fn post_raw(system: &TestSystem, body: String) -> crate::helpers::Reply {
    http(
        "POST",
        &system.url("/graphql"),
        vec![
            ("Content-Type".into(), "application/json".into()),
            ("Accept".into(), GRAPHQL_RESPONSE.into()),
        ],
        body.into_bytes(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_values_in_query_text_are_refused_before_parsing() {
    let system = spawn_system().await;
    // About 4 KB each; a few hundred levels overflowed the stack before the bound.
    let attacks = [
        format!(
            "{{ probeEcho(text: {}) {{ __typename }} }}",
            nested("[", "\"x\"", "]", 2000)
        ),
        format!(
            "{{ users(after: {}) {{ __typename }} }}",
            nested("{a: ", "1", "}", 1000)
        ),
        format!(
            "query($v: {}) {{ __typename }}",
            nested("[", "String", "]", 2000)
        ),
        format!(
            "query($v: String = {}) {{ __typename }}",
            nested("[", "1", "]", 2000)
        ),
        nested("{", "__typename", "}", 2000),
    ];

    for attack in attacks {
        let reply = system.graphql(&attack, json!({}), None).await;

        assert_eq!(reply.status, 400, "{}", &reply.body);
        assert_eq!(reply.error_codes(), ["NESTING_TOO_DEEP"], "{}", reply.body);
        still_serving(&system).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_variables_are_refused() {
    let system = spawn_system().await;
    let query = "query($v: String) { probeEcho(text: $v) { __typename } }";
    let body = |value: String| {
        format!(
            r#"{{"query":{},"variables":{{"v":{value}}}}}"#,
            json!(query)
        )
    };

    // Deeper than JSON's own bound (128): serde_json refuses to parse it at all.
    let beyond_json = post_raw(&system, body(nested("[", "1", "]", 2000))).await;
    // Within JSON's bound but beyond the gateway's: refused before anything walks it.
    let beyond_ours = post_raw(&system, body(nested("[", "1", "]", 100))).await;
    let objects = post_raw(&system, body(nested("{\"a\":", "1", "}", 100))).await;

    assert_eq!(beyond_json.status, 400, "{}", beyond_json.body);
    assert_eq!(beyond_json.error_codes(), ["BAD_REQUEST"]);
    for reply in [beyond_ours, objects] {
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert_eq!(reply.error_codes(), ["NESTING_TOO_DEEP"], "{}", reply.body);
    }
    let variables = nested("[", "1", "]", 100);
    let via_get = http(
        "GET",
        &system.url(&format!(
            "/graphql?query={}&variables={}",
            encode(query),
            encode(&format!("{{\"v\":{variables}}}"))
        )),
        vec![("Accept".into(), GRAPHQL_RESPONSE.into())],
        vec![],
    )
    .await;
    assert_eq!(via_get.status, 400, "{}", via_get.body);
    assert_eq!(
        via_get.error_codes(),
        ["NESTING_TOO_DEEP"],
        "{}",
        via_get.body
    );
    still_serving(&system).await;
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `links` fragments, each spreading the next twice: 2^links fields if expanded.
fn chained_fragments(links: usize) -> String {
    let mut query = String::from("{ ...F0 }");
    for n in 0..links {
        query.push_str(&format!(
            " fragment F{n} on Query {{ ...F{} ...F{} }}",
            n + 1,
            n + 1
        ));
    }
    query.push_str(&format!(" fragment F{links} on Query {{ __typename }}"));
    query
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chained_fragments_are_refused_by_their_cost_without_expanding_them() {
    let system = spawn_system().await;
    // About 1 KB, 2^30 fields expanded.
    let attack = chained_fragments(30);
    assert!(attack.len() < 1300, "{} bytes", attack.len());

    // Two at once, as the issue's attack did: neither may stall the other requests.
    let (one, two) = tokio::join!(
        system.graphql(&attack, json!({}), None),
        system.graphql(&attack, json!({}), None)
    );

    for reply in [one, two] {
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert_eq!(reply.error_codes(), ["QUERY_TOO_COMPLEX"], "{}", reply.body);
    }
    still_serving(&system).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragment_cycles_and_long_fragment_chains_are_refused() {
    let system = spawn_system().await;
    let cycle =
        "{ ...A } fragment A on Query { __typename ...B } fragment B on Query { ...A ...A }";
    let mut chain = String::from("{ ...F0 }");
    for n in 0..3000 {
        chain.push_str(&format!(" fragment F{n} on Query {{ ...F{} }}", n + 1));
    }
    chain.push_str(" fragment F3000 on Query { __typename }");

    let cyclic = system.graphql(cycle, json!({}), None).await;
    let long = system.graphql(&chain, json!({}), None).await;

    assert_eq!(cyclic.status, 400, "{}", cyclic.body);
    assert_eq!(
        cyclic.error_codes(),
        ["GRAPHQL_VALIDATION_FAILED"],
        "{}",
        cyclic.body
    );
    assert_eq!(long.status, 400, "{}", long.body);
    assert_eq!(long.error_codes(), ["NESTING_TOO_DEEP"], "{}", long.body);
    still_serving(&system).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nesting_within_the_bound_is_served() {
    let system = spawn_system().await;
    // Selection sets and a list argument, 64 levels in all with the default bound.
    let query = format!(
        "{{ probeEcho(text: {}) {{ __typename }} }}",
        nested("[", "\"x\"", "]", 62)
    );

    let reply = system.graphql(&query, json!({}), None).await;

    // Parsed and validated, not refused for its shape: a list is not a String.
    assert_eq!(
        reply.error_codes(),
        ["GRAPHQL_VALIDATION_FAILED"],
        "{}",
        reply.body
    );
    let message = reply.json()["errors"][0]["message"].clone();
    assert!(
        message.as_str().is_some_and(|m| m.contains("text")),
        "{message}"
    );
    assert_ne!(reply.json()["errors"][0]["extensions"]["code"], Value::Null);
    still_serving(&system).await;
}
