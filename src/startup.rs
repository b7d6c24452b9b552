//! The start of every binary: settings read from the process environment once, logging
//! installed, and bad configuration turned into one line and exit status 64 (EX_USAGE).

use crate::settings::{Env, SettingsError};

/// For a binary's `main`: reads the settings `parse` builds from the process environment
/// and installs logging. Bad configuration prints one line and exits with status 64
/// (EX_USAGE).
pub fn load_or_exit<T>(binary: &str, parse: impl FnOnce(&Env) -> Result<T, SettingsError>) -> T {
    let env = Env::from_process();
    let loaded =
        crate::telemetry::LogSettings::from_env(&env).and_then(|log| Ok((log, parse(&env)?)));
    match loaded {
        Ok((log, settings)) => {
            crate::telemetry::init(&log);
            tracing::info!(binary, version = env!("CARGO_PKG_VERSION"), "starting");
            settings
        }
        Err(error) => {
            eprintln!("{binary}: configuration error: {error}");
            std::process::exit(64);
        }
    }
}
