//! The start of every binary: settings read from the process environment once, logging
//! installed, bad configuration turned into one line and exit status 64 (EX_USAGE), and a
//! failed start into one line and exit status 1.

use crate::settings::{Env, SettingsError};

/// For a binary's `main`: reads the settings `parse` builds from the process environment
/// and installs logging and tracing (inside the Tokio runtime: the trace exporter's
/// connections live on it). Bad configuration prints one line and exits with status 64
/// (EX_USAGE).
pub fn load_or_exit<T>(binary: &str, parse: impl FnOnce(&Env) -> Result<T, SettingsError>) -> T {
    let env = Env::from_process();
    let loaded = crate::telemetry::LogSettings::from_env(&env).and_then(|log| {
        let traces = crate::telemetry::TraceSettings::from_env(&env, binary)?;
        Ok((log, traces, parse(&env)?))
    });
    let installed = loaded
        .map_err(|e| e.to_string())
        .and_then(|(log, traces, settings)| {
            crate::telemetry::init(&log, &traces)?;
            Ok(settings)
        });
    match installed {
        Ok(settings) => {
            tracing::info!(binary, version = env!("CARGO_PKG_VERSION"), "starting");
            settings
        }
        Err(error) => {
            eprintln!("{binary}: configuration error: {error}");
            std::process::exit(64);
        }
    }
}

/// For a binary's `main`: the started application, or — when it could not start (NATS or
/// the database unreachable, a deployment the store cannot use) — one line naming the error
/// and its causes on stderr, and exit status 1.
pub fn started_or_exit<T, E: std::error::Error>(binary: &str, started: Result<T, E>) -> T {
    match started {
        Ok(app) => app,
        Err(error) => {
            let line = crate::telemetry::error_chain(&error).replace('\n', " ");
            tracing::error!(binary, error = %line, "cannot start");
            eprintln!("{binary}: cannot start: {line}");
            std::process::exit(1);
        }
    }
}
