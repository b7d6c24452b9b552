//! The vocabulary of configuration: [`Env`] (the environment read once, at the binary's
//! edge), [`Secret`] and [`SettingsError`]. This module imports nothing of ours; each
//! part's settings (`BusSettings`, `AuthSettings`, `service::ServiceSettings`, the
//! gateway's) parse themselves from an `Env`, and `startup::load_or_exit` assembles a
//! binary's. Nothing below `main` reads the environment; tests build settings values.
//!
//! Every variable is listed in the README's configuration table.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

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
