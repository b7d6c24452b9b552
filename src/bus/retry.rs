//! Backoff between attempts and the time one attempt may wait.

use std::time::Duration;

/// Pause before the second attempt; it doubles with each further attempt.
const BASE_BACKOFF: Duration = Duration::from_millis(25);
/// Longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Below this much time left, an attempt gets all of it rather than half.
const MIN_SPLIT_ATTEMPT: Duration = Duration::from_millis(100);

/// The pause after failed attempt number `attempt` (1-based): exponential, capped, with
/// jitter between half and all of it, so replicas restarting together are not hit in step.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let exponential = BASE_BACKOFF.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let capped = exponential.min(MAX_BACKOFF);
    capped.mul_f64(0.5 + fastrand::f64() * 0.5)
}

/// How long a non-final attempt waits: the caller's choice, else half the time left so a
/// request lost with a dying replica can still be sent to another one.
pub(crate) fn attempt_timeout(remaining: Duration, chosen: Option<Duration>) -> Duration {
    match chosen {
        Some(chosen) => chosen.min(remaining),
        None if remaining < MIN_SPLIT_ATTEMPT => remaining,
        None => remaining / 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..30 {
            let pause = backoff(attempt);
            let ceiling = BASE_BACKOFF
                .saturating_mul(1u32 << (attempt - 1).min(16))
                .min(MAX_BACKOFF);
            assert!(
                pause >= ceiling / 2 && pause <= ceiling,
                "{attempt}: {pause:?}"
            );
        }
    }

    #[test]
    fn attempts_split_the_time_left() {
        let second = Duration::from_secs(1);
        assert_eq!(attempt_timeout(second * 4, None), second * 2);
        assert_eq!(
            attempt_timeout(Duration::from_millis(50), None),
            Duration::from_millis(50)
        );
        assert_eq!(attempt_timeout(second, Some(second * 3)), second);
    }
}
