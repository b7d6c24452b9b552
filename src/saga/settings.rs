//! How sagas run (`SB_SAGA_*`).

use std::time::Duration;

use crate::settings::{Env, SettingsError};

/// Default time a saga has to finish its steps before it gives up and compensates.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);
/// Default time a replica holds a saga before another may take it over.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);
/// Default bound on one attempt of a step.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(5);
/// Default interval between looks for sagas nobody drives.
pub const DEFAULT_SWEEP: Duration = Duration::from_secs(2);
/// Default bound on sagas one replica drives at once.
pub const DEFAULT_CONCURRENCY: usize = 512;

/// How sagas run.
#[derive(Debug, Clone, PartialEq)]
pub struct SagaSettings {
    /// Time a saga has for its steps (`SB_SAGA_DEADLINE_MS`); past it, it compensates.
    pub deadline: Duration,
    /// How long a replica's hold on a saga lasts unless renewed (`SB_SAGA_LEASE_MS`); a
    /// replica that dies is replaced after at most this long.
    pub lease: Duration,
    /// Bound on one attempt of a step (`SB_SAGA_STEP_TIMEOUT_MS`); kept under half the
    /// lease, so an attempt never outlives its replica's hold.
    pub step_timeout: Duration,
    /// Interval between looks for sagas nobody drives (`SB_SAGA_SWEEP_MS`).
    pub sweep: Duration,
    /// Sagas one replica drives at once (`SB_SAGA_CONCURRENCY`); more wait their turn.
    pub concurrency: usize,
}

impl Default for SagaSettings {
    fn default() -> Self {
        Self {
            deadline: DEFAULT_DEADLINE,
            lease: DEFAULT_LEASE,
            step_timeout: DEFAULT_STEP_TIMEOUT,
            sweep: DEFAULT_SWEEP,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

impl SagaSettings {
    /// Reads `SB_SAGA_DEADLINE_MS`, `SB_SAGA_LEASE_MS`, `SB_SAGA_STEP_TIMEOUT_MS`,
    /// `SB_SAGA_SWEEP_MS` and `SB_SAGA_CONCURRENCY`.
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let settings = Self {
            deadline: env.millis("SB_SAGA_DEADLINE_MS", DEFAULT_DEADLINE)?,
            lease: env.millis("SB_SAGA_LEASE_MS", DEFAULT_LEASE)?,
            step_timeout: env.millis("SB_SAGA_STEP_TIMEOUT_MS", DEFAULT_STEP_TIMEOUT)?,
            sweep: env.millis("SB_SAGA_SWEEP_MS", DEFAULT_SWEEP)?,
            concurrency: env.parse("SB_SAGA_CONCURRENCY", DEFAULT_CONCURRENCY)?,
        };
        if settings.lease < Duration::from_millis(200) {
            return Err(SettingsError::Inconsistent(
                "SB_SAGA_LEASE_MS must be at least 200".into(),
            ));
        }
        if settings.step_timeout.is_zero() || settings.step_timeout * 2 > settings.lease {
            return Err(SettingsError::Inconsistent(
                "SB_SAGA_STEP_TIMEOUT_MS must be above 0 and at most half of SB_SAGA_LEASE_MS"
                    .into(),
            ));
        }
        if settings.sweep.is_zero() || settings.concurrency == 0 || settings.deadline.is_zero() {
            return Err(SettingsError::Inconsistent(
                "SB_SAGA_DEADLINE_MS, SB_SAGA_SWEEP_MS and SB_SAGA_CONCURRENCY must be above 0"
                    .into(),
            ));
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_hold_and_inconsistent_values_are_refused() {
        let defaults = SagaSettings::from_env(&Env::default()).expect("defaults are valid");
        assert_eq!(defaults, SagaSettings::default());
        for pairs in [
            [
                ("SB_SAGA_LEASE_MS", "1000"),
                ("SB_SAGA_STEP_TIMEOUT_MS", "600"),
            ],
            [
                ("SB_SAGA_LEASE_MS", "100"),
                ("SB_SAGA_STEP_TIMEOUT_MS", "10"),
            ],
            [("SB_SAGA_CONCURRENCY", "0"), ("SB_SAGA_SWEEP_MS", "10")],
        ] {
            let error = SagaSettings::from_env(&Env::from_pairs(pairs));
            assert!(
                matches!(error, Err(SettingsError::Inconsistent(_))),
                "{pairs:?}: {error:?}"
            );
        }
    }
}
