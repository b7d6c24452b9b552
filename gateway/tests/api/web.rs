//! The web client and GraphiQL served from `GATEWAY_WEB_DIR`, and development tokens
//! (`GATEWAY_DEV_TOKENS`), over real HTTP; a throwaway build stands in for `web/dist`.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use gateway::http::web::{CONTENT_SECURITY_POLICY, GRAPHIQL_CONTENT_SECURITY_POLICY};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Options, Reply, TestSystem, http, spawn_system, spawn_system_with};

const INDEX: &str = "<!doctype html><title>the web client</title>";
const GRAPHIQL: &str = "<!doctype html><title>GraphiQL page</title>";
const SCRIPT: &str = "console.log('the client')";
const SECRET: &str = "a file outside the web directory";

/// A build like Vite's: `index.html`, `graphiql.html`, hashed files under `assets/`; and a
/// file beside it (`../secret.txt`) that must never be served, with a link to it inside.
fn web_build() -> (tempfile::TempDir, std::path::PathBuf) {
    let parent = tempfile::tempdir().expect("a temporary directory");
    let dist = parent.path().join("dist");
    std::fs::create_dir_all(dist.join("assets")).expect("creates the build");
    let write = |path: &Path, text: &str| std::fs::write(path, text).expect("writes");
    write(&dist.join("index.html"), INDEX);
    write(&dist.join("graphiql.html"), GRAPHIQL);
    write(&dist.join("assets/index-3f9a1c.js"), SCRIPT);
    write(&dist.join("assets/index-77b0e2.css"), "body { margin: 0 }");
    write(&dist.join("robots.txt"), "User-agent: *");
    write(&parent.path().join("secret.txt"), SECRET);
    std::os::unix::fs::symlink(parent.path().join("secret.txt"), dist.join("link.txt"))
        .expect("links");
    (parent, dist)
}

async fn web_system() -> (tempfile::TempDir, TestSystem) {
    let (dir, dist) = web_build();
    let system = spawn_system_with(Options {
        web_dir: Some(dist),
        ..Options::default()
    })
    .await;
    (dir, system)
}

async fn get(system: &TestSystem, path: &str) -> Reply {
    get_with(system, path, Vec::new()).await
}

async fn get_with(system: &TestSystem, path: &str, headers: Vec<(String, String)>) -> Reply {
    http("GET", &system.url(path), headers, Vec::new()).await
}

fn browser() -> Vec<(String, String)> {
    vec![(
        "Accept".into(),
        "text/html,application/xhtml+xml,*/*;q=0.8".into(),
    )]
}

fn assert_secured(reply: &Reply, what: &str) {
    assert_secured_by(reply, what, CONTENT_SECURITY_POLICY);
}

fn assert_secured_by(reply: &Reply, what: &str, policy: &str) {
    assert_eq!(
        reply.header("content-security-policy"),
        Some(policy),
        "{what}: {reply:?}"
    );
    assert_eq!(
        reply.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        reply.header("referrer-policy"),
        Some("no-referrer"),
        "{what}"
    );
}

/// The exact request target, sent over a raw connection (an HTTP client library might
/// normalise `..` away before sending): the status and body.
async fn raw_get(system: &TestSystem, target: &str) -> (u16, String) {
    let addr = system.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    stream
        .write_all(
            format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .expect("sends");
    let mut answer = Vec::new();
    tokio::time::timeout(crate::helpers::PATIENCE, stream.read_to_end(&mut answer))
        .await
        .expect("an answer in time")
        .expect("reads");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {answer:?}"));
    (status, answer)
}

#[tokio::test]
async fn the_client_and_its_assets_are_served_with_caching_and_security_headers() {
    let (_dir, system) = web_system().await;

    let index = get_with(&system, "/", browser()).await;
    let asset = get(&system, "/assets/index-3f9a1c.js").await;
    let style = get(&system, "/assets/index-77b0e2.css").await;
    let robots = get(&system, "/robots.txt").await;
    let by_name = get(&system, "/index.html").await;

    assert_eq!((index.status, index.body.as_str()), (200, INDEX));
    assert_eq!(index.content_type, "text/html; charset=utf-8");
    assert_eq!(index.header("cache-control"), Some("no-cache"));
    assert_secured(&index, "index");
    assert_eq!((by_name.status, by_name.body.as_str()), (200, INDEX));
    assert_eq!((asset.status, asset.body.as_str()), (200, SCRIPT));
    assert_eq!(asset.content_type, "text/javascript; charset=utf-8");
    assert_eq!(
        asset.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_secured(&asset, "a script");
    assert_eq!(style.content_type, "text/css; charset=utf-8");
    assert_secured(&style, "a style sheet");
    assert_eq!(robots.status, 200);
    assert_eq!(robots.header("cache-control"), Some("no-cache"));

    // Revalidation: the page's ETag back gets 304 with no body.
    let etag = index.header("etag").expect("an ETag").to_string();
    let again = get_with(&system, "/", vec![("If-None-Match".into(), etag)]).await;
    assert_eq!((again.status, again.body.as_str()), (304, ""));
    assert_secured(&again, "a 304");
}

#[tokio::test]
async fn client_routes_get_the_client_missing_files_404_and_the_api_stays_the_api() {
    let (_dir, system) = web_system().await;

    for route in [
        "/todos",
        "/todos/42",
        "/bookings/7/seats",
        "/assets",
        "/assets/",
    ] {
        let page = get_with(&system, route, browser()).await;
        assert_eq!((page.status, page.body.as_str()), (200, INDEX), "{route}");
        assert_eq!(page.header("cache-control"), Some("no-cache"), "{route}");
        assert_secured(&page, route);
    }
    for missing in ["/assets/index-000000.js", "/favicon.ico", "/todos/42.json"] {
        let reply = get(&system, missing).await;
        assert_eq!(reply.status, 404, "{missing}: {reply:?}");
        assert!(!reply.body.contains(INDEX), "{missing}");
        assert_secured(&reply, missing);
    }
    // The API paths, and anything below them, are never the client.
    assert_eq!(get(&system, "/healthz").await.body, "ok");
    for api in ["/graphql/other", "/healthz/x", "/metrics/x", "/dev/token"] {
        let reply = get_with(&system, api, browser()).await;
        assert_eq!(reply.status, 404, "{api}: {reply:?}");
    }
    let query = system.graphql("{ __typename }", json!({}), None).await;
    assert_eq!(query.status, 200, "{}", query.body);
    assert_eq!(query.json()["data"]["__typename"], "Query");
    // Other methods find no file to change.
    let post = http("POST", &system.url("/index.html"), vec![], b"x".to_vec()).await;
    assert_eq!(post.status, 404);
}

#[tokio::test]
async fn no_path_leads_out_of_the_web_directory() {
    let (_dir, system) = web_system().await;

    for target in [
        "/../secret.txt",
        "/assets/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/%2E%2E/secret.txt",
        "/assets/%2e%2e/%2e%2e/secret.txt",
        "/assets/..%2f..%2fsecret.txt",
        "/assets/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/..%5csecret.txt",
        "/.%2e/secret.txt",
        "/%c0%ae%c0%ae/secret.txt",
        "/link.txt",
        "/%00",
        "//secret.txt",
    ] {
        let (status, answer) = raw_get(&system, target).await;
        assert!(
            status == 400 || status == 404,
            "{target}: refused, got {status}: {answer}"
        );
        assert!(!answer.contains(SECRET), "{target} leaked: {answer}");
    }
    // The directory itself is no listing.
    let (status, answer) = raw_get(&system, "/assets/").await;
    assert_eq!(status, 200);
    assert!(answer.contains(INDEX) && !answer.contains("index-3f9a1c"));
}

#[tokio::test]
async fn graphiql_comes_from_the_web_directory() {
    let (_dir, system) = web_system().await;

    let page = get_with(&system, "/graphql", browser()).await;
    let query = get_with(
        &system,
        "/graphql?query=%7B__typename%7D",
        vec![("Accept".into(), "application/json".into())],
    )
    .await;

    assert_eq!((page.status, page.body.as_str()), (200, GRAPHIQL));
    assert_eq!(page.content_type, "text/html; charset=utf-8");
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    // GraphiQL's editor needs inline styles; its page alone allows them, never scripts.
    assert_secured_by(&page, "GraphiQL", GRAPHIQL_CONTENT_SECURITY_POLICY);
    // A query in the URL is still a query, from a browser too.
    assert_eq!(query.status, 200, "{}", query.body);
    assert_eq!(query.json()["data"]["__typename"], "Query");
}

#[tokio::test]
async fn without_a_web_directory_graphiql_says_how_to_install_it() {
    let system = spawn_system().await;

    let page = get_with(&system, "/graphql", browser()).await;
    let root = get_with(&system, "/", browser()).await;

    assert_eq!(page.status, 404, "{page:?}");
    assert!(
        page.body.contains("not installed") && page.body.contains("GATEWAY_WEB_DIR"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("unpkg"), "no CDN: {}", page.body);
    assert_secured(&page, "the not-installed page");
    assert_eq!(root.status, 404);
}

/// `POST /dev/token` with `body` as JSON.
async fn ask_token(system: &TestSystem, body: Vec<u8>) -> Reply {
    http(
        "POST",
        &system.url("/dev/token"),
        vec![("Content-Type".into(), "application/json".into())],
        body,
    )
    .await
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

#[tokio::test]
async fn a_development_token_is_issued_and_accepted_by_the_services() {
    let system = spawn_system_with(Options {
        dev_tokens: true,
        ..Options::default()
    })
    .await;

    let admin = ask_token(
        &system,
        br#"{"sub": "dev-ada", "roles": ["admin"]}"#.to_vec(),
    )
    .await;
    let user = ask_token(&system, br#"{"sub": "dev-bob"}"#.to_vec()).await;

    assert_eq!(admin.status, 200, "{}", admin.body);
    assert_eq!(admin.content_type, "application/json");
    assert_eq!(admin.header("cache-control"), Some("no-store"));
    let token = admin.json()["token"].as_str().expect("a token").to_string();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).expect("a JWT payload"))
            .expect("base64"),
    )
    .expect("JSON claims");
    assert_eq!(claims["sub"], "dev-ada");
    assert_eq!(claims["roles"], json!(["admin"]));
    let ttl = claims["exp"].as_u64().expect("exp") - now();
    assert!(
        (3500..=3600).contains(&ttl),
        "valid for an hour, not {ttl} s"
    );
    // The gateway and the users service verify the token, and its roles: deleting a user
    // needs `admin` (the id inline, whatever the argument's type is called).
    let user_token = user.json()["token"].as_str().expect("a token").to_string();
    let victim = system.create_user("victim@example.org").await;
    let delete = format!("mutation {{ deleteUser(id: {victim:?}) {{ __typename }} }}");
    let refused = system.graphql(&delete, json!({}), Some(&user_token)).await;
    assert_eq!(
        refused.error_codes(),
        vec!["FORBIDDEN".to_string()],
        "{}",
        refused.body
    );
    let deleted = system.graphql(&delete, json!({}), Some(&token)).await;
    assert_eq!(
        deleted.json()["data"]["deleteUser"]["__typename"],
        "UserDeleted",
        "{}",
        deleted.body
    );
}

#[tokio::test]
async fn malformed_token_requests_are_refused_with_400() {
    let system = spawn_system_with(Options {
        dev_tokens: true,
        ..Options::default()
    })
    .await;
    let long_sub = "a".repeat(129);
    let long_role = "a".repeat(65);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not JSON", b"sub=ada".to_vec()),
        ("no sub", br#"{"roles": ["admin"]}"#.to_vec()),
        ("an empty sub", br#"{"sub": ""}"#.to_vec()),
        ("a sub with a blank", br#"{"sub": "ada lovelace"}"#.to_vec()),
        ("a control character", br#"{"sub": "ada\u0007"}"#.to_vec()),
        (
            "a sub over 128 characters",
            json!({ "sub": long_sub }).to_string().into_bytes(),
        ),
        ("a number as sub", br#"{"sub": 7}"#.to_vec()),
        (
            "roles not a list",
            br#"{"sub": "ada", "roles": "admin"}"#.to_vec(),
        ),
        (
            "an upper-case role",
            br#"{"sub": "ada", "roles": ["Admin"]}"#.to_vec(),
        ),
        (
            "an empty role",
            br#"{"sub": "ada", "roles": [""]}"#.to_vec(),
        ),
        (
            "a role with a dot",
            br#"{"sub": "ada", "roles": ["a.b"]}"#.to_vec(),
        ),
        (
            "a role over 64 characters",
            json!({ "sub": "ada", "roles": [long_role] })
                .to_string()
                .into_bytes(),
        ),
        (
            "nine roles",
            json!({ "sub": "ada", "roles": ["a", "b", "c", "d", "e", "f", "g", "h", "i"] })
                .to_string()
                .into_bytes(),
        ),
        ("an unknown field", br#"{"sub": "ada", "exp": 1}"#.to_vec()),
        (
            "a body over 4 KiB",
            format!("{{\"sub\": \"ada\"{}}}", " ".repeat(5000)).into_bytes(),
        ),
    ];
    for (what, body) in cases {
        let reply = ask_token(&system, body).await;
        assert_eq!(reply.status, 400, "{what}: {}", reply.body);
        assert!(reply.json()["error"].is_string(), "{what}: {}", reply.body);
        assert!(reply.json().get("token").is_none(), "{what}");
    }
    let form = http(
        "POST",
        &system.url("/dev/token"),
        vec![("Content-Type".into(), "text/plain".into())],
        br#"{"sub": "ada"}"#.to_vec(),
    )
    .await;
    assert_eq!(form.status, 415, "{}", form.body);
    // Eight roles of 64 characters and a 128-character subject are within the limits.
    let widest = json!({ "sub": "é".repeat(128), "roles": vec!["a".repeat(64); 8] });
    let reply = ask_token(&system, widest.to_string().into_bytes()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[tokio::test]
async fn development_tokens_are_off_unless_enabled() {
    let (_dir, with_web) = web_system().await;
    let without_web = spawn_system().await;

    for system in [&with_web, &without_web] {
        let reply = ask_token(system, br#"{"sub": "ada", "roles": ["admin"]}"#.to_vec()).await;
        assert_eq!(reply.status, 404, "{}", reply.body);
        assert!(!reply.body.contains("token\""), "{}", reply.body);
    }
}

#[tokio::test]
async fn bad_web_and_token_settings_exit_64_naming_the_variable() {
    let empty = tempfile::tempdir().expect("a temporary directory");
    let (_dir, dist) = web_build();
    let empty_dir = empty.path().to_string_lossy().into_owned();
    let dist = dist.to_string_lossy().into_owned();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("GATEWAY_WEB_DIR", "/no/such/web/dist")],
            "GATEWAY_WEB_DIR",
        ),
        (vec![("GATEWAY_WEB_DIR", empty_dir.as_str())], "index.html"),
        (
            vec![("GATEWAY_DEV_TOKENS", "yes please")],
            "GATEWAY_DEV_TOKENS",
        ),
        (vec![("GATEWAY_DEV_TOKENS", "true")], "JWT_HS256_SECRET"),
        (
            vec![
                ("GATEWAY_DEV_TOKENS", "true"),
                ("GATEWAY_WEB_DIR", dist.as_str()),
            ],
            "GATEWAY_DEV_TOKENS",
        ),
    ];
    for (vars, named) in cases {
        let (status, stderr, stdout) =
            switchboard::testing::config::run_with(env!("CARGO_BIN_EXE_gateway"), &vars).await;
        assert_eq!(status, Some(64), "{vars:?}: {stderr}");
        assert_eq!(
            stderr.lines().count(),
            1,
            "{vars:?}: one line, got {stderr:?}"
        );
        assert!(
            stderr.starts_with("gateway:") && stderr.contains(named),
            "{vars:?}: the line names {named}: {stderr:?}"
        );
        assert!(stdout.is_empty(), "{vars:?}: nothing on stdout");
    }
}
