//! Logging set-up, in one place. Libraries only emit `tracing` events; binaries call
//! [`init`] once. OTLP export arrives with the observability work.

use tracing_subscriber::EnvFilter;

use crate::settings::{Env, SettingsError};

/// How logs are written (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (the default; what log collectors want).
    Json,
    /// Human-readable lines, for a terminal.
    Text,
}

impl LogFormat {
    /// Reads `LOG_FORMAT` (`json` or `text`, default `json`).
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        match env
            .string("LOG_FORMAT")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("json") => Ok(LogFormat::Json),
            Some("text") => Ok(LogFormat::Text),
            Some(other) => Err(SettingsError::Invalid {
                var: "LOG_FORMAT",
                value: other.to_string(),
                reason: "expected `json` or `text`".into(),
            }),
        }
    }
}

/// Installs the global subscriber: level filter from `RUST_LOG` (default `info`),
/// format from `LOG_FORMAT`. Calling it twice keeps the first subscriber.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    if result.is_err() {
        tracing::debug!("a global subscriber was already installed");
    }
}
