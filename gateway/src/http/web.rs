//! The web client and GraphiQL, served from the built `web/` directory
//! (`GATEWAY_WEB_DIR`), and development tokens (`POST /dev/token`, `GATEWAY_DEV_TOKENS`).
//!
//! The directory is Vite's output: `index.html` (the web client), `graphiql.html` (GraphiQL,
//! served at `GET /graphql` to browsers) and content-hashed files under `assets/`. Files are
//! read from disk on each request (a rebuilt client is served without a restart), only
//! through [`Site::resolve`]: percent-decoded segment by segment, with `.`/`..`, hidden
//! names, separators and NUL refused before the file system is asked, and the file's
//! canonical path required to lie inside the directory (symbolic links cannot lead out).
//! There are no directory listings: a path naming no file serves `index.html` when it has
//! no extension (the client routes it), else 404.

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{AppState, GRAPHQL_PATH, WEBSOCKET_PATH};
use crate::settings::GatewaySettings;

/// The `Content-Security-Policy` of every page and file served from the web directory
/// (and of GraphiQL): everything from this origin only — scripts, styles, images, fonts,
/// `fetch`/WebSocket (`connect-src 'self'` covers `ws://`/`wss://` to the same host in
/// current browsers) — plus `data:` images and fonts and `blob:` workers (GraphiQL's
/// editor runs its language services in workers); no plugins, no `<base>`, no framing,
/// forms posting only here. No inline script or style is allowed: the build emits none.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
     worker-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
     form-action 'self'";

/// The policy of GraphiQL's page: [`CONTENT_SECURITY_POLICY`] with inline styles allowed.
/// Its editor (Monaco) sets `style` attributes and inserts `<style>` elements it generates
/// at run time, with no nonce support, so neither nonces nor hashes can admit them; under
/// `style-src 'self'` the editor loses its colours and misplaces lines. Scripts stay
/// `'self'` only, so an injected style can restyle the page but never run code.
pub const GRAPHIQL_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; worker-src 'self' blob:; object-src 'none'; base-uri 'none'; \
     frame-ancestors 'none'; form-action 'self'";

/// Where development tokens are issued when `GATEWAY_DEV_TOKENS=true`.
pub const DEV_TOKEN_PATH: &str = "/dev/token";
/// The largest `POST /dev/token` body accepted.
pub const MAX_DEV_TOKEN_BODY: usize = 4 * 1024;
/// How long a development token is valid.
pub const DEV_TOKEN_TTL: Duration = Duration::from_secs(60 * 60);

/// The longest subject a development token may name, in characters.
const MAX_SUBJECT_CHARS: usize = 128;
/// The most roles a development token may carry.
const MAX_ROLES: usize = 8;
/// The longest role name.
const MAX_ROLE_CHARS: usize = 64;

/// Paths that belong to the API: never answered with the web client, nor anything below them.
const API_PATHS: &[&str] = &[
    GRAPHQL_PATH,
    WEBSOCKET_PATH,
    "/healthz",
    "/readyz",
    "/metrics",
    DEV_TOKEN_PATH,
];

/// The web client's page, served at `/` and for client-side routes.
const INDEX: &str = "index.html";
/// GraphiQL's page, served at `GET /graphql` to browsers.
const GRAPHIQL: &str = "graphiql.html";
/// The directory of content-hashed files, cached for good.
const ASSETS: &str = "assets";

/// `Cache-Control` of content-hashed files: a changed file has a new name.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of everything else: kept, but revalidated (`ETag`) before each use.
const REVALIDATE: &str = "no-cache";

/// The web directory, as served.
#[derive(Debug, Clone)]
pub struct Site {
    /// The directory, canonical (so a file's canonical path can be compared with it).
    root: PathBuf,
    /// Whether `graphiql.html` may be served (`GATEWAY_GRAPHIQL`).
    graphiql: bool,
}

/// What a request path names in the web directory.
#[derive(Debug, PartialEq, Eq)]
enum Resolved {
    /// A file inside the directory (canonical path), and whether it is under `assets/`.
    File { path: PathBuf, asset: bool },
    /// No file, and no extension: the client's own route, answered with `index.html`.
    ClientRoute,
    /// Nothing to serve.
    NotFound,
    /// A path that tries to leave the directory or is not a path at all.
    Refused,
}

impl Site {
    /// Serves `dir`; `graphiql` says whether its `graphiql.html` may be served.
    pub fn new(dir: &Path, graphiql: bool) -> Self {
        // Settings from the environment were checked at start; a directory that is gone
        // or was never checked (settings built in code) serves nothing but 404s.
        let root = std::fs::canonicalize(dir).unwrap_or_else(|error| {
            tracing::error!(dir = %dir.display(), %error, "the web directory cannot be read");
            dir.to_path_buf()
        });
        Self { root, graphiql }
    }

    /// The router's fallback: every path no API route took.
    pub async fn serve(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Response {
        if method != Method::GET && method != Method::HEAD {
            return not_found();
        }
        match self.resolve(uri.path()).await {
            Resolved::File { path, asset } => file(&path, asset, headers).await,
            Resolved::ClientRoute => file(&self.root.join(INDEX), false, headers).await,
            Resolved::NotFound => not_found(),
            Resolved::Refused => plain(StatusCode::BAD_REQUEST, "not a path of this site"),
        }
    }

    /// What the request path `path` names.
    async fn resolve(&self, path: &str) -> Resolved {
        if API_PATHS
            .iter()
            .any(|api| path == *api || path.strip_prefix(api).is_some_and(|r| r.starts_with('/')))
        {
            return Resolved::NotFound;
        }
        let Some(relative) = path.strip_prefix('/') else {
            return Resolved::Refused;
        };
        let mut segments = Vec::new();
        for raw in relative.split('/') {
            // Empty segments (`//`, a trailing `/`) name nothing.
            if raw.is_empty() {
                continue;
            }
            let Some(segment) = percent_decode(raw) else {
                return Resolved::Refused;
            };
            // `.`, `..` and hidden names are refused, as are separators, NUL and control
            // characters that only decoding revealed.
            if segment.starts_with('.')
                || segment.contains(['/', '\\', '\0'])
                || segment.chars().any(char::is_control)
            {
                return Resolved::Refused;
            }
            segments.push(segment);
        }
        if segments.is_empty() {
            return self.existing(self.root.join(INDEX), false).await;
        }
        if segments.len() == 1 && segments[0] == GRAPHIQL && !self.graphiql {
            return Resolved::NotFound;
        }
        let asset = segments.len() > 1 && segments[0] == ASSETS;
        let has_extension = segments.last().is_some_and(|last| last.contains('.'));
        let candidate = segments
            .iter()
            .fold(self.root.clone(), |path, segment| path.join(segment));
        match self.existing(candidate, asset).await {
            // A directory (`/assets/`) or a route of the client: no listing, the client.
            Resolved::NotFound if !has_extension || path.ends_with('/') => Resolved::ClientRoute,
            resolved => resolved,
        }
    }

    /// `candidate` when it is a file inside the root once links are followed.
    async fn existing(&self, candidate: PathBuf, asset: bool) -> Resolved {
        let Ok(path) = tokio::fs::canonicalize(&candidate).await else {
            return Resolved::NotFound;
        };
        if !path.starts_with(&self.root) {
            tracing::warn!(path = %candidate.display(), "refused a link out of the web directory");
            return Resolved::Refused;
        }
        if tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_file()) {
            Resolved::File { path, asset }
        } else {
            Resolved::NotFound
        }
    }
}

/// `GET /graphql` from a browser: GraphiQL from the web directory, or a page saying how
/// to install it.
pub async fn graphiql(settings: &GatewaySettings, headers: &HeaderMap) -> Response {
    let Some(dir) = &settings.web_dir else {
        return not_installed();
    };
    let page = dir.join(GRAPHIQL);
    if !tokio::fs::metadata(&page).await.is_ok_and(|m| m.is_file()) {
        return not_installed();
    }
    file(&page, false, headers).await
}

/// GraphiQL's page is missing.
fn not_installed() -> Response {
    plain(
        StatusCode::NOT_FOUND,
        "GraphiQL's assets are not installed: set GATEWAY_WEB_DIR to the web client's build \
         (web/dist, made by `cargo xtask web`; `cargo xtask dev` does both).\n",
    )
}

/// A file's response: its bytes, media type, caching and the security headers; 304 when
/// the client's `If-None-Match` holds its current `ETag`.
async fn file(path: &Path, asset: bool, request: &HeaderMap) -> Response {
    let metadata = match tokio::fs::metadata(path).await {
        Ok(metadata) if metadata.is_file() => metadata,
        _ => return not_found(),
    };
    let modified = metadata
        .modified()
        .ok()
        .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
        .unwrap_or_default();
    let etag = format!("\"{:x}-{:x}\"", metadata.len(), modified.as_nanos());
    let cache = if asset { IMMUTABLE } else { REVALIDATE };
    let mut response = if fresh(request, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        match tokio::fs::read(path).await {
            Ok(bytes) => (
                [(header::CONTENT_TYPE, media_type(path))],
                Bytes::from(bytes),
            )
                .into_response(),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "cannot read a web file");
                return not_found();
            }
        }
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    let graphiql = path.file_name().is_some_and(|name| name == GRAPHIQL);
    secure_with(
        response,
        if graphiql {
            GRAPHIQL_CONTENT_SECURITY_POLICY
        } else {
            CONTENT_SECURITY_POLICY
        },
    )
}

/// Whether the client's copy, named by `If-None-Match`, is `etag`.
fn fresh(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == etag || tag == "*")
}

/// The media type of a web file, by extension; unknown ones are opaque bytes (and
/// `nosniff` keeps browsers from guessing).
fn media_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("txt") => "text/plain; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("ttf") => "font/ttf",
        Some("otf") => "font/otf",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// 404, with the security headers.
fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "not found\n")
}

/// A short plain-text answer, with the security headers.
fn plain(status: StatusCode, text: &'static str) -> Response {
    let response = (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, REVALIDATE),
        ],
        text,
    )
        .into_response();
    secure(response)
}

/// Adds the security headers every page and file carries.
fn secure(response: Response) -> Response {
    secure_with(response, CONTENT_SECURITY_POLICY)
}

/// Adds the security headers, with `policy` as the Content-Security-Policy.
fn secure_with(mut response: Response, policy: &'static str) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(policy),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `%XX`-decodes one path segment; `None` when an escape is malformed or the result is
/// not UTF-8.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

/// The body of `POST /dev/token`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    /// Who the token is for.
    sub: String,
    /// What it may do (`admin`, …); none when absent.
    #[serde(default)]
    roles: Option<Vec<String>>,
}

/// `POST /dev/token` (only when `GATEWAY_DEV_TOKENS=true`): `{"sub", "roles"}` in,
/// `{"token"}` out — an HS256 token from the gateway's own `JWT_HS256_SECRET`, with its
/// issuer and audience, valid for [`DEV_TOKEN_TTL`]. Anyone who reaches it can be anyone:
/// development only.
pub async fn dev_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json {
        return token_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the request as application/json".into(),
        );
    }
    let Ok(body) = body else {
        return token_error(
            StatusCode::BAD_REQUEST,
            format!("the body must be at most {MAX_DEV_TOKEN_BODY} bytes"),
        );
    };
    let request: TokenRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return token_error(
                StatusCode::BAD_REQUEST,
                format!("expected {{\"sub\": \"<subject>\", \"roles\": [\"<role>\", …]}}: {error}"),
            );
        }
    };
    let roles = request.roles.unwrap_or_default();
    if let Err(why) = check_token_request(&request.sub, &roles) {
        return token_error(StatusCode::BAD_REQUEST, why);
    }
    let auth = &state.settings.auth;
    let Some(secret) = &auth.hs256_secret else {
        // `from_env` refuses this combination; settings built in code may still have it.
        return token_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no JWT_HS256_SECRET to sign development tokens with".into(),
        );
    };
    let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
    match switchboard::auth::sign_hs256(secret, auth, &request.sub, &roles, DEV_TOKEN_TTL) {
        Ok(token) => {
            tracing::info!(sub = %request.sub, ?roles, "issued a development token");
            (
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                serde_json::json!({ "token": token }).to_string(),
            )
                .into_response()
        }
        Err(error) => {
            tracing::error!(%error, "cannot sign a development token");
            token_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the token could not be signed".into(),
            )
        }
    }
}

/// Whether a development token may be issued for `sub` with `roles`: the subject 1 to 128
/// visible characters (no blanks or control characters), at most 8 roles of 1 to 64
/// characters out of `a-z`, `_` and `-`.
fn check_token_request(sub: &str, roles: &[String]) -> Result<(), String> {
    let length = sub.chars().count();
    if length == 0 || length > MAX_SUBJECT_CHARS {
        return Err(format!(
            "`sub` must be 1 to {MAX_SUBJECT_CHARS} characters long"
        ));
    }
    if sub.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("`sub` must be visible characters (no blanks or control characters)".into());
    }
    if roles.len() > MAX_ROLES {
        return Err(format!("at most {MAX_ROLES} roles"));
    }
    for role in roles {
        let valid = (1..=MAX_ROLE_CHARS).contains(&role.len())
            && role
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'-');
        if !valid {
            return Err(format!(
                "a role must be 1 to {MAX_ROLE_CHARS} characters out of a-z, `_` and `-`"
            ));
        }
    }
    Ok(())
}

/// A refused token request: `{"error": why}`.
fn token_error(status: StatusCode, why: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        serde_json::json!({ "error": why }).to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A web directory with an index, GraphiQL, an asset, and a secret beside it.
    fn site(graphiql: bool) -> (tempfile::TempDir, Site) {
        let parent = tempfile::tempdir().expect("a temporary directory");
        let dist = parent.path().join("dist");
        std::fs::create_dir_all(dist.join("assets")).expect("creates dist");
        std::fs::write(dist.join("index.html"), "<!doctype html>").expect("writes");
        std::fs::write(dist.join("graphiql.html"), "<!doctype html>").expect("writes");
        std::fs::write(dist.join("assets/app-1234.js"), "1").expect("writes");
        std::fs::write(parent.path().join("secret.txt"), "secret").expect("writes");
        let site = Site::new(&dist, graphiql);
        (parent, site)
    }

    #[tokio::test]
    async fn paths_resolve_to_files_client_routes_or_nothing() {
        let (_dir, site) = site(true);
        let root = site.root.clone();
        let file = |p: &str, asset| Resolved::File {
            path: root.join(p),
            asset,
        };
        assert_eq!(site.resolve("/").await, file("index.html", false));
        assert_eq!(site.resolve("/index.html").await, file("index.html", false));
        assert_eq!(
            site.resolve("/assets/app-1234.js").await,
            file("assets/app-1234.js", true)
        );
        assert_eq!(
            site.resolve("/assets/%61pp-1234.js").await,
            file("assets/app-1234.js", true)
        );
        assert_eq!(
            site.resolve("/graphiql.html").await,
            file("graphiql.html", false)
        );
        assert_eq!(site.resolve("/todos/42").await, Resolved::ClientRoute);
        assert_eq!(site.resolve("/assets").await, Resolved::ClientRoute);
        assert_eq!(site.resolve("/assets/").await, Resolved::ClientRoute);
        assert_eq!(site.resolve("/assets/gone.js").await, Resolved::NotFound);
        assert_eq!(site.resolve("/graphql/x").await, Resolved::NotFound);
        assert_eq!(site.resolve("/metrics").await, Resolved::NotFound);
        assert_eq!(site.resolve(DEV_TOKEN_PATH).await, Resolved::NotFound);
        let (_dir, without) = self::site(false);
        assert_eq!(without.resolve("/graphiql.html").await, Resolved::NotFound);
    }

    #[tokio::test]
    async fn traversal_is_refused_however_it_is_spelled() {
        let (_dir, site) = site(true);
        for path in [
            "/../secret.txt",
            "/assets/../../secret.txt",
            "/%2e%2e/secret.txt",
            "/%2E%2E/secret.txt",
            "/assets/%2e%2e%2f%2e%2e%2fsecret.txt",
            "/..%5csecret.txt",
            "/.%2e/secret.txt",
            "/%00",
            "/%zz",
            "/%c0%ae%c0%ae/secret.txt",
            "/.hidden",
        ] {
            assert_eq!(site.resolve(path).await, Resolved::Refused, "{path}");
        }
    }

    #[test]
    fn token_requests_are_checked() {
        let roles = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check_token_request("ada", &roles(&["admin", "service"])).is_ok());
        assert!(check_token_request(&"a".repeat(128), &[]).is_ok());
        assert!(check_token_request("", &[]).is_err());
        assert!(check_token_request(&"a".repeat(129), &[]).is_err());
        assert!(check_token_request("a b", &[]).is_err());
        assert!(check_token_request("a\u{7}", &[]).is_err());
        assert!(check_token_request("ada", &roles(&["Admin"])).is_err());
        assert!(check_token_request("ada", &roles(&[""])).is_err());
        assert!(check_token_request("ada", &roles(&[&"a".repeat(65)])).is_err());
        assert!(check_token_request("ada", &roles(&["a"; 9])).is_err());
    }
}
