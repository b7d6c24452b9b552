//! What the `billing` binary is configured with: the service's settings, the faults it
//! starts with (`BILLING_DECLINE_RATE`, `BILLING_LATENCY_MS`, `BILLING_OVERLOADED`) and
//! whether SetFaults may change them (`BILLING_FAULT_INJECTION`).

use switchboard::service::ServiceSettings;
use switchboard::settings::{Env, SettingsError};

use crate::faults::Faults;

/// Everything the `billing` service is configured with.
#[derive(Debug, Clone)]
pub struct BillingSettings {
    /// The settings every service binary has (NATS, store, auth, runtime).
    pub service: ServiceSettings,
    /// The faults injected into Charge from the start (default: none).
    pub faults: Faults,
    /// Whether SetFaults may change the faults (`BILLING_FAULT_INJECTION`, default false).
    pub fault_injection: bool,
}

impl BillingSettings {
    /// Reads the service's settings, the faults and `BILLING_FAULT_INJECTION`.
    pub fn from_env(env: &Env) -> Result<Self, SettingsError> {
        Ok(Self {
            service: ServiceSettings::from_env(crate::SERVICE, env)?,
            faults: Faults::from_env(env)?,
            fault_injection: env.parse("BILLING_FAULT_INJECTION", false)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_default_nothing_is_faulted_and_injection_is_off() {
        let settings = BillingSettings::from_env(&Env::default()).expect("defaults are valid");
        assert_eq!(settings.faults, Faults::default());
        assert!(!settings.fault_injection);
        assert_eq!(settings.service.store_url, "sqlite://data/billing.db");

        let on = BillingSettings::from_env(&Env::from_pairs([("BILLING_FAULT_INJECTION", "true")]));
        assert!(on.is_ok_and(|s| s.fault_injection));
        let bad = BillingSettings::from_env(&Env::from_pairs([("BILLING_FAULT_INJECTION", "1")]));
        assert!(
            matches!(
                bad,
                Err(SettingsError::Invalid {
                    var: "BILLING_FAULT_INJECTION",
                    ..
                })
            ),
            "{bad:?}"
        );
    }
}
