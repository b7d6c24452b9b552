//! What the `tickets` binary is configured with: the service's settings plus the hold
//! time (`TICKETS_HOLD_SECS`) and the expiry sweep's interval (`TICKETS_SWEEP_MS`).

use std::time::Duration;

use switchboard::service::ServiceSettings;
use switchboard::settings::{Env, SettingsError};

/// How long a reservation holds its seats unless confirmed, by default.
pub const DEFAULT_HOLD: Duration = Duration::from_secs(300);
/// How often the expiry worker looks for holds past their time, by default.
pub const DEFAULT_SWEEP: Duration = Duration::from_secs(2);

/// Everything the `tickets` service is configured with.
#[derive(Debug, Clone)]
pub struct TicketsSettings {
    /// The settings every service binary has (NATS, store, auth, runtime).
    pub service: ServiceSettings,
    /// How long a reservation holds its seats unless confirmed (`TICKETS_HOLD_SECS`,
    /// default 300, at least 1).
    pub hold: Duration,
    /// How often holds past their time are expired (`TICKETS_SWEEP_MS`, default 2000, at
    /// least 1).
    pub sweep: Duration,
}

impl TicketsSettings {
    /// Reads the service's settings, `TICKETS_HOLD_SECS` and `TICKETS_SWEEP_MS`.
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let hold_secs: u64 = env.parse("TICKETS_HOLD_SECS", DEFAULT_HOLD.as_secs())?;
        if hold_secs == 0 {
            return Err(SettingsError::Invalid {
                var: "TICKETS_HOLD_SECS",
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(Self {
            service: ServiceSettings::from_env(crate::SERVICE, env)?,
            hold: Duration::from_secs(hold_secs),
            sweep: env.millis("TICKETS_SWEEP_MS", DEFAULT_SWEEP)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_values_are_read() {
        let defaults = TicketsSettings::from_env(&Env::default()).expect("defaults are valid");
        assert_eq!(
            (defaults.hold, defaults.sweep),
            (DEFAULT_HOLD, DEFAULT_SWEEP)
        );
        assert_eq!(defaults.service.store_url, "sqlite://data/tickets.db");

        let set = TicketsSettings::from_env(&Env::from_pairs([
            ("TICKETS_HOLD_SECS", "1"),
            ("TICKETS_SWEEP_MS", "50"),
        ]))
        .expect("valid values");
        assert_eq!(
            (set.hold, set.sweep),
            (Duration::from_secs(1), Duration::from_millis(50))
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("TICKETS_HOLD_SECS", "0"),
            ("TICKETS_HOLD_SECS", "five"),
            ("TICKETS_HOLD_SECS", "-1"),
            ("TICKETS_SWEEP_MS", "0"),
            ("TICKETS_SWEEP_MS", "often"),
        ] {
            let error = TicketsSettings::from_env(&Env::from_pairs([(var, value)]))
                .err()
                .unwrap_or_else(|| panic!("{var}={value} accepted"));
            assert!(
                matches!(error, SettingsError::Invalid { var: named, .. } if named == var),
                "{var}={value}: {error:?}"
            );
        }
    }
}
