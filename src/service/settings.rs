//! What a service binary is configured with: the runtime's bounds and grace periods, and
//! the whole [`ServiceSettings`] assembled from each part's own settings.

use std::time::Duration;

use crate::auth::AuthSettings;
use crate::bus::BusSettings;
use crate::settings::{Env, SettingsError};
use crate::store::{self, StoreError};

/// Default bound on requests one endpoint works on at once; beyond it requests are
/// refused with 503 rather than queued without limit.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;
/// Default time in-flight requests get to finish after a shutdown signal.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Default lifetime of idempotency records.
pub const DEFAULT_IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// Bounds, grace periods and the admin listener of the runtime (`SB_MAX_IN_FLIGHT`,
/// `SB_SHUTDOWN_GRACE_MS`, `SB_IDEMPOTENCY_TTL_SECS`, `ADMIN_ADDR`).
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    /// Requests one endpoint works on at once.
    pub max_in_flight: usize,
    /// Time in-flight requests get to finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// How long a command's reply is kept for repeats with the same idempotency key.
    pub idempotency_ttl: Duration,
    /// Where to serve `/healthz`, `/readyz` and `/metrics` (`ADMIN_ADDR`); none when unset.
    pub admin_addr: Option<std::net::SocketAddr>,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        Self {
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            idempotency_ttl: DEFAULT_IDEMPOTENCY_TTL,
            admin_addr: None,
        }
    }
}

impl RuntimeSettings {
    /// Reads `SB_MAX_IN_FLIGHT`, `SB_SHUTDOWN_GRACE_MS`, `SB_IDEMPOTENCY_TTL_SECS` and
    /// `ADMIN_ADDR`.
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let max_in_flight = env.parse("SB_MAX_IN_FLIGHT", DEFAULT_MAX_IN_FLIGHT)?;
        if max_in_flight == 0 {
            return Err(SettingsError::Inconsistent(
                "SB_MAX_IN_FLIGHT must be at least 1".into(),
            ));
        }
        Ok(Self {
            max_in_flight,
            shutdown_grace: env.millis("SB_SHUTDOWN_GRACE_MS", DEFAULT_SHUTDOWN_GRACE)?,
            idempotency_ttl: Duration::from_secs(
                env.parse("SB_IDEMPOTENCY_TTL_SECS", DEFAULT_IDEMPOTENCY_TTL.as_secs())?,
            ),
            admin_addr: match env.string("ADMIN_ADDR") {
                None => None,
                Some(text) => {
                    Some(text.trim().parse().map_err(|e: std::net::AddrParseError| {
                        SettingsError::Invalid {
                            var: "ADMIN_ADDR",
                            value: text.clone(),
                            reason: e.to_string(),
                        }
                    })?)
                }
            },
        })
    }
}

/// Everything a service binary is configured with.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// How to reach NATS and the defaults for outgoing calls.
    pub bus: BusSettings,
    /// Bounds and grace periods of the service runtime.
    pub runtime: RuntimeSettings,
    /// Where the service keeps its data (`STORE_URL`).
    pub store_url: String,
    /// How bearer tokens are verified.
    pub auth: AuthSettings,
}

impl ServiceSettings {
    /// Reads the settings of the service called `service` from `env`.
    ///
    /// `STORE_URL` defaults to `sqlite://data/<service>.db`, so every service owns its file.
    /// It is checked here with the store's own rule ([`store::parse_url`]), so a URL the
    /// store cannot open is a configuration error before anything connects.
    pub fn from_env(service: &str, env: &Env) -> Result<Self, SettingsError> {
        Ok(Self {
            bus: BusSettings::from_env(env)?,
            runtime: RuntimeSettings::from_env(env)?,
            store_url: store_url_from_env(service, env)?,
            auth: AuthSettings::from_env(env)?,
        })
    }
}

/// `STORE_URL`, or the service's default file, refused unless [`store::open`] can serve it.
fn store_url_from_env(service: &str, env: &Env) -> Result<String, SettingsError> {
    let url = env
        .string("STORE_URL")
        .unwrap_or_else(|| format!("sqlite://data/{service}.db"));
    match store::parse_url(&url) {
        Ok(_) => Ok(url),
        Err(error) => Err(SettingsError::Invalid {
            var: "STORE_URL",
            // A database URL may carry a password: only its scheme is repeated.
            value: store::redacted_url(&url),
            reason: match error {
                StoreError::UnsupportedUrl(reason) => reason,
                other => other.to_string(),
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<ServiceSettings, SettingsError> {
        ServiceSettings::from_env("users", &Env::from_pairs([("STORE_URL", url)]))
    }

    #[test]
    fn the_store_url_is_checked_while_parsing() {
        for url in [
            "sqlite://data/users.db",
            "sqlite:///var/lib/users.db",
            "sqlite::memory:",
        ] {
            let settings = parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(settings.store_url, url);
        }
        let default = ServiceSettings::from_env("todos", &Env::default()).expect("defaults");
        assert_eq!(default.store_url, "sqlite://data/todos.db");

        for url in [
            "bogus",
            "sqlite://",
            "postgres://u:hunter2@db/x",
            "mongodb://u:hunter2@x/db",
        ] {
            let error = parse(url).err().unwrap_or_else(|| panic!("{url} accepted"));
            let message = error.to_string();
            assert!(
                matches!(
                    error,
                    SettingsError::Invalid {
                        var: "STORE_URL",
                        ..
                    }
                ),
                "{url}: {error:?}"
            );
            assert!(
                !message.contains("hunter2"),
                "{url}: a password leaked: {message}"
            );
            // The settings and the store agree on what is valid.
            assert!(store::parse_url(url).is_err(), "{url}");
        }
        let mongo = parse("mongodb+srv://x/db").err().map(|e| e.to_string());
        assert!(
            mongo
                .as_deref()
                .is_some_and(|m| m.contains("MongoDB store is not built yet")),
            "{mongo:?}"
        );
    }
}
