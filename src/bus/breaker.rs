//! The circuit breaker: one per subject in each process. After `failures` failed attempts
//! (no responders, timeouts, overload, 5xx, transport failures) within `window`, the
//! breaker opens and calls to the subject fail at once with [`BusError::CircuitOpen`],
//! without touching the network. After `cooldown` it lets `probes` calls through
//! (half-open): if they all succeed it closes, if one fails it opens again.
//!
//! A caller's own mistakes (400, 401, 403, 404, 409) and domain outcomes are answers, not
//! failures: they never open a breaker.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::BusError;

/// When a breaker opens and how it recovers (`SB_BREAKER_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Failed attempts within `window` that open the breaker; 0 turns breakers off.
    pub failures: u32,
    /// How far back failures count.
    pub window: Duration,
    /// How long an open breaker refuses calls before it lets probes through.
    pub cooldown: Duration,
    /// Calls let through at once while half-open; all must succeed to close it.
    pub probes: u32,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            failures: 5,
            window: Duration::from_secs(10),
            cooldown: Duration::from_secs(5),
            probes: 1,
        }
    }
}

/// The state a breaker is in, as the `sb_circuit_state` gauge reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls go through (gauge 0).
    Closed,
    /// Calls fail at once (gauge 1).
    Open,
    /// A few probe calls go through (gauge 2).
    HalfOpen,
}

impl CircuitState {
    fn label(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }

    fn gauge(self) -> f64 {
        match self {
            CircuitState::Closed => 0.0,
            CircuitState::Open => 1.0,
            CircuitState::HalfOpen => 2.0,
        }
    }
}

/// Every breaker of one process, by subject.
#[derive(Debug)]
pub(crate) struct Breakers {
    settings: BreakerSettings,
    /// Read on every call, written once per subject.
    by_subject: RwLock<HashMap<&'static str, Arc<Breaker>>>,
}

impl Breakers {
    pub(crate) fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            by_subject: RwLock::new(HashMap::new()),
        }
    }

    /// Asks to send one attempt to `subject`: a [`Permit`] to report its outcome on, or
    /// [`BusError::CircuitOpen`] while the subject's breaker is open.
    pub(crate) fn admit(&self, subject: &'static str) -> Result<Permit, BusError> {
        if self.settings.failures == 0 {
            return Ok(Permit {
                breaker: None,
                probe: false,
                reported: true,
            });
        }
        let known = self
            .by_subject
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(subject)
            .cloned();
        let breaker = match known {
            Some(breaker) => breaker,
            None => self
                .by_subject
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .entry(subject)
                .or_insert_with(|| Arc::new(Breaker::new(subject, self.settings)))
                .clone(),
        };
        let probe = breaker.admit()?;
        Ok(Permit {
            breaker: Some(breaker),
            probe,
            reported: false,
        })
    }

    /// The state of `subject`'s breaker (closed when it has none yet).
    pub(crate) fn state(&self, subject: &str) -> CircuitState {
        let breakers = self.by_subject.read().unwrap_or_else(|p| p.into_inner());
        breakers
            .get(subject)
            .map_or(CircuitState::Closed, |breaker| breaker.state())
    }
}

/// One attempt let through; its outcome is reported with [`Permit::record`]. A permit
/// dropped unreported (the call was cancelled) gives its probe slot back without deciding
/// anything.
pub(crate) struct Permit {
    breaker: Option<Arc<Breaker>>,
    probe: bool,
    reported: bool,
}

impl Permit {
    /// Reports how the attempt ended.
    pub(crate) fn record<T>(mut self, result: &Result<T, BusError>) {
        self.reported = true;
        if let Some(breaker) = &self.breaker {
            let failed = result.as_ref().err().is_some_and(counts_as_failure);
            breaker.record(self.probe, failed);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.reported
            && self.probe
            && let Some(breaker) = &self.breaker
        {
            breaker.abandon_probe();
        }
    }
}

/// Whether `error` says the subject's service is failing (not that the caller erred).
fn counts_as_failure(error: &BusError) -> bool {
    match error {
        BusError::NoResponders { .. }
        | BusError::Timeout { .. }
        | BusError::DeadlineExpired { .. }
        | BusError::Overloaded { .. }
        | BusError::Transport { .. } => true,
        BusError::Service { code, .. } => *code >= 500,
        BusError::Connect { .. }
        | BusError::Unauthorized { .. }
        | BusError::Decode { .. }
        | BusError::MissingOutcome { .. }
        | BusError::CircuitOpen { .. } => false,
    }
}

#[derive(Debug)]
enum State {
    /// The instants of recent failures, oldest first, at most `failures` of them.
    Closed {
        failures: VecDeque<Instant>,
    },
    Open {
        until: Instant,
    },
    HalfOpen {
        in_flight: u32,
        succeeded: u32,
    },
}

#[derive(Debug)]
struct Breaker {
    subject: &'static str,
    settings: BreakerSettings,
    state: Mutex<State>,
}

impl Breaker {
    fn new(subject: &'static str, settings: BreakerSettings) -> Self {
        metrics::gauge!("sb_circuit_state", "subject" => subject).set(0.0);
        Self {
            subject,
            settings,
            state: Mutex::new(State::Closed {
                failures: VecDeque::new(),
            }),
        }
    }

    fn state(&self) -> CircuitState {
        match &*self.state.lock().unwrap_or_else(|p| p.into_inner()) {
            State::Closed { .. } => CircuitState::Closed,
            State::Open { .. } => CircuitState::Open,
            State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Lets an attempt through (returning whether it is a probe) or refuses it.
    fn admit(&self) -> Result<bool, BusError> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if let State::Open { until } = *state {
            if now < until {
                return Err(self.refuse(until - now));
            }
            *state = State::HalfOpen {
                in_flight: 0,
                succeeded: 0,
            };
            self.changed(CircuitState::HalfOpen);
        }
        match &mut *state {
            State::Closed { .. } => Ok(false),
            State::HalfOpen { in_flight, .. } if *in_flight < self.settings.probes.max(1) => {
                *in_flight += 1;
                Ok(true)
            }
            State::HalfOpen { .. } | State::Open { .. } => Err(self.refuse(Duration::ZERO)),
        }
    }

    fn refuse(&self, retry_in: Duration) -> BusError {
        metrics::counter!("sb_circuit_rejected_total", "subject" => self.subject).increment(1);
        BusError::CircuitOpen {
            subject: self.subject,
            retry_in,
        }
    }

    fn record(&self, probe: bool, failed: bool) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match &mut *state {
            State::Closed { failures } => {
                if !failed {
                    return;
                }
                failures.push_back(now);
                while failures
                    .front()
                    .is_some_and(|at| now.duration_since(*at) > self.settings.window)
                {
                    failures.pop_front();
                }
                if failures.len() >= self.settings.failures as usize {
                    *state = State::Open {
                        until: now + self.settings.cooldown,
                    };
                    self.changed(CircuitState::Open);
                }
            }
            State::HalfOpen {
                in_flight,
                succeeded,
            } if probe => {
                *in_flight = in_flight.saturating_sub(1);
                if failed {
                    *state = State::Open {
                        until: now + self.settings.cooldown,
                    };
                    self.changed(CircuitState::Open);
                } else {
                    *succeeded += 1;
                    if *succeeded >= self.settings.probes.max(1) {
                        *state = State::Closed {
                            failures: VecDeque::new(),
                        };
                        self.changed(CircuitState::Closed);
                    }
                }
            }
            // An attempt let through before the breaker opened, ending now: the probes
            // decide, not it.
            State::HalfOpen { .. } | State::Open { .. } => {}
        }
    }

    fn abandon_probe(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let State::HalfOpen { in_flight, .. } = &mut *state {
            *in_flight = in_flight.saturating_sub(1);
        }
    }

    /// Logs and counts a transition.
    fn changed(&self, to: CircuitState) {
        match to {
            CircuitState::Open => tracing::warn!(
                subject = self.subject,
                cooldown_ms = self.settings.cooldown.as_millis() as u64,
                "circuit opened: calls fail at once until the cool-down ends"
            ),
            CircuitState::HalfOpen => {
                tracing::info!(subject = self.subject, "circuit half-open: probing")
            }
            CircuitState::Closed => tracing::info!(subject = self.subject, "circuit closed"),
        }
        metrics::gauge!("sb_circuit_state", "subject" => self.subject).set(to.gauge());
        metrics::counter!(
            "sb_circuit_transitions_total",
            "subject" => self.subject,
            "to" => to.label()
        )
        .increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Any key: breakers do not read the subject.
    const SUBJECT: &str = "the subject";

    fn breakers(failures: u32, cooldown: Duration, probes: u32) -> Breakers {
        Breakers::new(BreakerSettings {
            failures,
            window: Duration::from_secs(60),
            cooldown,
            probes,
        })
    }

    fn fail(breakers: &Breakers) {
        let permit = breakers.admit(SUBJECT).expect("admitted");
        permit.record::<()>(&Err(BusError::NoResponders { subject: SUBJECT }));
    }

    #[test]
    fn opens_after_the_threshold_and_refuses_at_once() {
        let breakers = breakers(3, Duration::from_secs(60), 1);
        fail(&breakers);
        fail(&breakers);
        assert_eq!(breakers.state(SUBJECT), CircuitState::Closed);
        fail(&breakers);
        assert_eq!(breakers.state(SUBJECT), CircuitState::Open);
        assert!(matches!(
            breakers.admit(SUBJECT),
            Err(BusError::CircuitOpen { .. })
        ));
    }

    #[test]
    fn a_callers_mistakes_never_open_it() {
        let breakers = breakers(1, Duration::from_secs(60), 1);
        for code in [400, 403, 404, 409] {
            let permit = breakers.admit(SUBJECT).expect("admitted");
            permit.record::<()>(&Err(BusError::Service {
                subject: SUBJECT,
                code,
                message: String::new(),
                details: Vec::new(),
            }));
        }
        assert_eq!(breakers.state(SUBJECT), CircuitState::Closed);
    }

    #[test]
    fn half_open_lets_only_the_probes_through_and_their_outcome_decides() {
        let breakers = breakers(1, Duration::ZERO, 2);
        fail(&breakers);
        // The cool-down is over at once: two probes, a third caller refused.
        let first = breakers.admit(SUBJECT).expect("a probe");
        let second = breakers.admit(SUBJECT).expect("another probe");
        assert_eq!(breakers.state(SUBJECT), CircuitState::HalfOpen);
        assert!(breakers.admit(SUBJECT).is_err(), "beyond the probes");
        first.record::<()>(&Ok(()));
        assert_eq!(breakers.state(SUBJECT), CircuitState::HalfOpen);
        second.record::<()>(&Ok(()));
        assert_eq!(breakers.state(SUBJECT), CircuitState::Closed);

        fail(&breakers);
        let probe = breakers.admit(SUBJECT).expect("a probe");
        probe.record::<()>(&Err(BusError::Overloaded {
            subject: SUBJECT,
            message: String::new(),
        }));
        assert_eq!(breakers.state(SUBJECT), CircuitState::Open);
    }

    #[test]
    fn a_cancelled_probe_gives_its_slot_back() {
        let breakers = breakers(1, Duration::ZERO, 1);
        fail(&breakers);
        drop(breakers.admit(SUBJECT).expect("a probe"));
        assert!(breakers.admit(SUBJECT).is_ok(), "the slot is free again");
    }

    #[test]
    fn zero_failures_turns_breakers_off() {
        let breakers = breakers(0, Duration::from_secs(60), 1);
        for _ in 0..10 {
            fail(&breakers);
        }
        assert_eq!(breakers.state(SUBJECT), CircuitState::Closed);
    }
}
