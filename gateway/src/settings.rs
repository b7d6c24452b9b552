//! The gateway's configuration (`GATEWAY_*`, plus the bus and auth variables every
//! binary reads), loaded once in `main`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use switchboard::auth::AuthSettings;
use switchboard::bus::BusSettings;
use switchboard::settings::{Env, SettingsError};

use crate::limits::Limits;

/// Default listen address.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
/// Default bound on a request body: far above any real query, far below a memory problem.
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;
/// Default time one GraphQL request may take, every bus request included.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a WebSocket has to send `connection_init` before it is closed with 4408.
pub const DEFAULT_WS_INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default bound on open WebSocket connections; beyond it upgrades get 503.
pub const DEFAULT_MAX_WEBSOCKETS: usize = 1024;
/// Default time a client has to send a request's headers once it starts one (or once the
/// connection opens); slower connections are closed.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time requests in flight get to finish after the shutdown signal, before every
/// remaining connection is closed.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Everything the gateway is configured with.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Where to listen (`GATEWAY_ADDR`).
    pub addr: SocketAddr,
    /// How to reach NATS.
    pub bus: BusSettings,
    /// How tokens are verified.
    pub auth: AuthSettings,
    /// Request shape limits (`GATEWAY_MAX_DEPTH`, `…_COMPLEXITY`, `…_ALIASES`,
    /// `…_ROOT_FIELDS`, `…_NESTING`).
    pub limits: Limits,
    /// Largest request body accepted (`GATEWAY_MAX_BODY_BYTES`); larger ones get 413.
    pub max_body_bytes: usize,
    /// Time one request may take (`GATEWAY_REQUEST_TIMEOUT_MS`).
    pub request_timeout: Duration,
    /// Origins allowed by CORS (`GATEWAY_CORS_ORIGINS`, comma-separated, or `*`); none by default.
    pub cors_origins: Vec<String>,
    /// Whether introspection is answered (`GATEWAY_INTROSPECTION`, default true).
    pub introspection: bool,
    /// Whether browsers get GraphiQL at the GraphQL path (`GATEWAY_GRAPHIQL`, default true).
    pub graphiql: bool,
    /// Time a WebSocket has to send `connection_init` (`GATEWAY_WS_INIT_TIMEOUT_MS`).
    pub ws_init_timeout: Duration,
    /// Most WebSocket connections open at once (`GATEWAY_MAX_WEBSOCKETS`).
    pub max_websockets: usize,
    /// Time a client has to send a request's headers (`GATEWAY_HEADER_READ_TIMEOUT_MS`).
    pub header_read_timeout: Duration,
    /// Time in-flight requests get after the shutdown signal (`GATEWAY_SHUTDOWN_GRACE_MS`).
    pub shutdown_grace: Duration,
    /// The built web client and GraphiQL, served at `/` (`GATEWAY_WEB_DIR`); unset, none.
    /// It must hold `index.html` (checked by [`GatewaySettings::from_env`]).
    pub web_dir: Option<PathBuf>,
    /// Whether `POST /dev/token` signs a token for anyone who asks (`GATEWAY_DEV_TOKENS`,
    /// default false): for development only; needs `JWT_HS256_SECRET`.
    pub dev_tokens: bool,
}

impl GatewaySettings {
    /// Settings with every value at its default, talking to NATS at `nats_url`.
    pub fn new(nats_url: &str) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            bus: BusSettings::new(nats_url),
            auth: AuthSettings::default(),
            limits: Limits::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            cors_origins: Vec::new(),
            introspection: true,
            graphiql: true,
            ws_init_timeout: DEFAULT_WS_INIT_TIMEOUT,
            max_websockets: DEFAULT_MAX_WEBSOCKETS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            web_dir: None,
            dev_tokens: false,
        }
    }

    /// Reads the settings from `env`.
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let defaults = Limits::default();
        let addr_text = env
            .string("GATEWAY_ADDR")
            .unwrap_or_else(|| DEFAULT_ADDR.into());
        let addr =
            addr_text
                .parse()
                .map_err(|e: std::net::AddrParseError| SettingsError::Invalid {
                    var: "GATEWAY_ADDR",
                    value: addr_text.clone(),
                    reason: e.to_string(),
                })?;
        let positive = |var: &'static str, default: usize| -> Result<usize, SettingsError> {
            let value = env.parse(var, default)?;
            if value == 0 {
                return Err(SettingsError::Inconsistent(format!(
                    "{var} must be at least 1"
                )));
            }
            Ok(value)
        };
        let auth = AuthSettings::from_env(env)?;
        let dev_tokens = env.parse("GATEWAY_DEV_TOKENS", false)?;
        if dev_tokens && auth.hs256_secret.is_none() {
            return Err(SettingsError::Inconsistent(
                "GATEWAY_DEV_TOKENS=true needs JWT_HS256_SECRET: development tokens are signed with it".into(),
            ));
        }
        let web_dir = env.string("GATEWAY_WEB_DIR").map(PathBuf::from);
        if let Some(dir) = &web_dir {
            check_web_dir(dir)?;
        }
        Ok(Self {
            addr,
            bus: BusSettings::from_env(env)?,
            auth,
            limits: Limits {
                max_depth: positive("GATEWAY_MAX_DEPTH", defaults.max_depth)?,
                max_complexity: positive("GATEWAY_MAX_COMPLEXITY", defaults.max_complexity)?,
                max_aliases: env.parse("GATEWAY_MAX_ALIASES", defaults.max_aliases)?,
                max_root_fields: positive("GATEWAY_MAX_ROOT_FIELDS", defaults.max_root_fields)?,
                max_nesting: positive("GATEWAY_MAX_NESTING", defaults.max_nesting)?,
            },
            max_body_bytes: positive("GATEWAY_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)?,
            request_timeout: env.millis("GATEWAY_REQUEST_TIMEOUT_MS", DEFAULT_REQUEST_TIMEOUT)?,
            cors_origins: env
                .string("GATEWAY_CORS_ORIGINS")
                .map(|list| {
                    list.split(',')
                        .map(|o| o.trim().to_string())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            introspection: env.parse("GATEWAY_INTROSPECTION", true)?,
            graphiql: env.parse("GATEWAY_GRAPHIQL", true)?,
            ws_init_timeout: env.millis("GATEWAY_WS_INIT_TIMEOUT_MS", DEFAULT_WS_INIT_TIMEOUT)?,
            max_websockets: positive("GATEWAY_MAX_WEBSOCKETS", DEFAULT_MAX_WEBSOCKETS)?,
            header_read_timeout: env.millis(
                "GATEWAY_HEADER_READ_TIMEOUT_MS",
                DEFAULT_HEADER_READ_TIMEOUT,
            )?,
            shutdown_grace: env.millis("GATEWAY_SHUTDOWN_GRACE_MS", DEFAULT_SHUTDOWN_GRACE)?,
            web_dir,
            dev_tokens,
        })
    }
}

/// A web directory must be a directory holding `index.html`.
fn check_web_dir(dir: &std::path::Path) -> Result<(), SettingsError> {
    let invalid = |reason: &str| SettingsError::Invalid {
        var: "GATEWAY_WEB_DIR",
        value: dir.display().to_string(),
        reason: reason.into(),
    };
    if !dir.is_dir() {
        return Err(invalid("not a directory"));
    }
    if !dir.join("index.html").is_file() {
        return Err(invalid(
            "it holds no index.html (build the web client: `cargo xtask web`)",
        ));
    }
    Ok(())
}
