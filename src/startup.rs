//! The start of every binary: settings read from the process environment once, logging
//! installed, and bad configuration turned into one line and exit status 64 (EX_USAGE).

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
