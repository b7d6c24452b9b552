//! The faults Billing injects into Charge on purpose, so tests and demonstrations can
//! watch the booking saga cope with a payment provider in trouble: a share of charges
//! declined, every charge slowed down, or every charge refused as overloaded.
//!
//! They start from `BILLING_DECLINE_RATE`, `BILLING_LATENCY_MS` and `BILLING_OVERLOADED`
//! and change through SetFaults while `BILLING_FAULT_INJECTION` is on. Each replica holds
//! its own (SetFaults reaches the one replica that takes it). Refund is never faulted:
//! a compensation must be able to succeed.

use std::time::Duration;

use switchboard::ServiceError;
use switchboard::proto::billing::v1 as wire;
use switchboard::settings::{Env, SettingsError};

/// The faults in force.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Faults {
    /// Share of new charges declined, from 0 (none) to 1 (all).
    pub decline_rate: f64,
    /// Added to every Charge before it answers.
    pub latency: Duration,
    /// Every Charge is refused with 503 before it touches the store.
    pub overloaded: bool,
}

impl Faults {
    /// Reads `BILLING_DECLINE_RATE` (0 to 1, default 0), `BILLING_LATENCY_MS` (default 0)
    /// and `BILLING_OVERLOADED` (`true`/`false`, default false).
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        let decline_rate: f64 = env.parse("BILLING_DECLINE_RATE", 0.0)?;
        if !(0.0..=1.0).contains(&decline_rate) {
            return Err(SettingsError::Invalid {
                var: "BILLING_DECLINE_RATE",
                value: env.string("BILLING_DECLINE_RATE").unwrap_or_default(),
                reason: "must be a share from 0 to 1".into(),
            });
        }
        let latency_ms: u32 = env.parse("BILLING_LATENCY_MS", 0)?;
        Ok(Self {
            decline_rate,
            latency: Duration::from_millis(latency_ms.into()),
            overloaded: env.parse("BILLING_OVERLOADED", false)?,
        })
    }

    /// The faults a SetFaults request asks for (none when it names none); 400 naming the
    /// field when the decline rate is not a share from 0 to 1.
    pub fn from_wire(faults: Option<&wire::Faults>) -> Result<Self, ServiceError> {
        let Some(faults) = faults else {
            return Ok(Self::default());
        };
        if !(0.0..=1.0).contains(&faults.decline_rate) {
            return Err(ServiceError::invalid_field(
                "faults.decline_rate",
                "must be a share from 0 to 1",
            ));
        }
        Ok(Self {
            decline_rate: faults.decline_rate,
            latency: Duration::from_millis(faults.latency_ms.into()),
            overloaded: faults.overloaded,
        })
    }

    /// The wire form.
    pub fn to_wire(&self) -> wire::Faults {
        wire::Faults {
            decline_rate: self.decline_rate,
            latency_ms: u32::try_from(self.latency.as_millis()).unwrap_or(u32::MAX),
            overloaded: self.overloaded,
        }
    }

    /// Whether the card of a new charge is declined: a draw against the decline rate.
    pub fn declines(&self) -> bool {
        self.decline_rate > 0.0 && fastrand::f64() < self.decline_rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_sets_the_faults_and_bad_values_name_their_variable() {
        assert_eq!(
            Faults::from_env(&Env::default()).ok(),
            Some(Faults::default())
        );
        let set = Faults::from_env(&Env::from_pairs([
            ("BILLING_DECLINE_RATE", "0.25"),
            ("BILLING_LATENCY_MS", "150"),
            ("BILLING_OVERLOADED", "true"),
        ]));
        assert_eq!(
            set.ok(),
            Some(Faults {
                decline_rate: 0.25,
                latency: Duration::from_millis(150),
                overloaded: true,
            })
        );
        for (var, value) in [
            ("BILLING_DECLINE_RATE", "1.5"),
            ("BILLING_DECLINE_RATE", "-0.1"),
            ("BILLING_DECLINE_RATE", "NaN"),
            ("BILLING_DECLINE_RATE", "half"),
            ("BILLING_LATENCY_MS", "-1"),
            ("BILLING_OVERLOADED", "yes please"),
        ] {
            let error = Faults::from_env(&Env::from_pairs([(var, value)]));
            assert!(
                matches!(error, Err(SettingsError::Invalid { var: named, .. }) if named == var),
                "{var}={value}: {error:?}"
            );
        }
    }

    #[test]
    fn declines_follow_the_rate_at_its_bounds() {
        let never = Faults::default();
        let always = Faults {
            decline_rate: 1.0,
            ..Faults::default()
        };
        assert!((0..1000).all(|_| !never.declines()));
        assert!((0..1000).all(|_| always.declines()));
    }

    #[test]
    fn a_requested_rate_outside_zero_to_one_is_refused() {
        for rate in [-0.5, 1.01, f64::NAN, f64::INFINITY] {
            let faults = wire::Faults {
                decline_rate: rate,
                ..wire::Faults::default()
            };
            assert!(Faults::from_wire(Some(&faults)).is_err(), "{rate}");
        }
        assert_eq!(Faults::from_wire(None).ok(), Some(Faults::default()));
    }
}
