//! Configuration: read once from the environment at the binary's edge, typed, validated,
//! then passed down. Nothing below `main` reads the environment; tests build settings
//! values directly.
//!
//! Every variable is listed in the README's configuration table.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::auth::AuthSettings;
use crate::bus::BusSettings;
use crate::service::RuntimeSettings;

/// A configuration value that must not appear in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself; call only where it is used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// A configuration value that is missing, malformed or inconsistent.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A variable's value cannot be used.
    #[error("{var}={value:?} is invalid: {reason}")]
    Invalid {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// Variables that cannot be set together, or one needs another.
    #[error("{0}")]
    Inconsistent(String),
}

/// A snapshot of environment variables, so settings are parsed from one consistent view
/// and tests can parse settings without touching the process environment.
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The process environment, read once.
    #[allow(clippy::disallowed_methods)] // The one place the environment is read.
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars().collect(),
        }
    }

    /// An environment made of the given pairs (for tests and tools).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// The variable's value, treating an empty value as unset.
    pub fn string(&self, var: &str) -> Option<String> {
        self.vars.get(var).filter(|v| !v.trim().is_empty()).cloned()
    }

    /// The variable parsed as `T`, or `default` when unset.
    pub fn parse<T>(&self, var: &'static str, default: T) -> Result<T, SettingsError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.string(var) {
            None => Ok(default),
            Some(value) => value
                .trim()
                .parse()
                .map_err(|e: T::Err| SettingsError::Invalid {
                    var,
                    value,
                    reason: e.to_string(),
                }),
        }
    }

    /// A duration given in milliseconds, which must be positive.
    pub fn millis(&self, var: &'static str, default: Duration) -> Result<Duration, SettingsError> {
        let millis: u64 =
            self.parse(var, u64::try_from(default.as_millis()).unwrap_or(u64::MAX))?;
        if millis == 0 {
            return Err(SettingsError::Invalid {
                var,
                value: "0".into(),
                reason: "must be greater than zero".into(),
            });
        }
        Ok(Duration::from_millis(millis))
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
    pub fn from_env(service: &str, env: &Env) -> Result<Self, SettingsError> {
        Ok(Self {
            bus: BusSettings::from_env(env)?,
            runtime: RuntimeSettings::from_env(env)?,
            store_url: env
                .string("STORE_URL")
                .unwrap_or_else(|| format!("sqlite://data/{service}.db")),
            auth: AuthSettings::from_env(env)?,
        })
    }
}

/// For a binary's `main`: reads the settings `parse` builds from the process environment
/// and installs logging. Bad configuration prints one line and exits with status 64
/// (EX_USAGE).
pub fn load_or_exit<T>(binary: &str, parse: impl FnOnce(&Env) -> Result<T, SettingsError>) -> T {
    let env = Env::from_process();
    let loaded =
        crate::telemetry::LogFormat::from_env(&env).and_then(|format| Ok((format, parse(&env)?)));
    match loaded {
        Ok((format, settings)) => {
            crate::telemetry::init(format);
            tracing::info!(binary, version = env!("CARGO_PKG_VERSION"), "starting");
            settings
        }
        Err(error) => {
            eprintln!("{binary}: configuration error: {error}");
            std::process::exit(64);
        }
    }
}
