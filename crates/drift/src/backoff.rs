//! Sync-retry and self-heal backoff, computed exactly as ArgoCD computes them.
//!
//! * Sync retry: `retryAt = lastAttempt + min(maxDuration, duration · factor^retryCount)`
//!   (defaults 5 s, factor 2, 3 min). Note that the controller bumps the retry count before it
//!   waits, so the real waits are `duration · factor^n` for `n ≥ 1` ([`sync_retry_wait`]).
//! * Self-heal: `remaining = d(n) − elapsed since the last operation finished`, where `d(0) = 0`
//!   and `d(n)` is Kubernetes' `wait.Backoff.Step()` applied `n` times (defaults 2 s, factor 3,
//!   cap 300 s).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::parse_retry_duration;
use crate::error::DriftError;

/// Exponential backoff parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Backoff {
    /// The first delay.
    pub duration: Duration,
    /// Multiplier applied after each step.
    pub factor: f64,
    /// Upper bound of a delay (`Duration::ZERO` means no bound).
    pub max_duration: Duration,
}

impl Backoff {
    /// ArgoCD's sync-retry defaults: 5 s, factor 2, at most 3 minutes.
    pub const SYNC_RETRY_DEFAULT: Backoff = Backoff {
        duration: Duration::from_secs(5),
        factor: 2.0,
        max_duration: Duration::from_secs(180),
    };

    /// ArgoCD controller's self-heal defaults: 2 s, factor 3, cap 300 s.
    pub const SELF_HEAL_DEFAULT: Backoff = Backoff {
        duration: Duration::from_secs(2),
        factor: 3.0,
        max_duration: Duration::from_secs(300),
    };

    /// Builds a backoff from ArgoCD's string form (`"5s"`, `"3m"`, or a plain integer meaning seconds).
    pub fn parse(duration: &str, factor: f64, max_duration: &str) -> Result<Self, DriftError> {
        let parse = |s: &str| {
            parse_retry_duration(s).ok_or_else(|| DriftError::InvalidDuration(s.to_string()))
        };
        Ok(Self {
            duration: parse(duration)?,
            factor,
            max_duration: parse(max_duration)?,
        })
    }
}

/// Delay before the next sync retry for a given retry count (`NextRetryAt − lastAttempt`).
pub fn sync_retry_delay(backoff: &Backoff, retry_count: u32) -> Duration {
    let base = backoff.duration.as_nanos() as f64;
    let exponent = i32::try_from(retry_count).unwrap_or(i32::MAX);
    let mut wait = base * backoff.factor.powi(exponent);
    if !backoff.max_duration.is_zero() {
        wait = wait.min(backoff.max_duration.as_nanos() as f64);
    }
    // Go converts the float to an integer Duration by truncation.
    nanos_to_duration(wait)
}

/// The wait the controller really applies after the `failures`-th failed attempt: it bumps the
/// retry count first, so the first wait is `duration · factor`, not `duration`.
pub fn sync_retry_wait(backoff: &Backoff, failures: u32) -> Duration {
    sync_retry_delay(backoff, failures.max(1))
}

/// Whether another retry is allowed after `retries_done` retries; a negative limit means unlimited.
pub fn retry_allowed(limit: i64, retries_done: u32) -> bool {
    limit < 0 || i64::from(retries_done) < limit
}

/// `d(n)`: Kubernetes `wait.Backoff.Step()` applied `attempts` times (0 attempts → zero).
pub fn self_heal_backoff(backoff: &Backoff, attempts: u32) -> Duration {
    let cap = backoff.max_duration.as_nanos() as f64;
    let mut current = backoff.duration.as_nanos() as f64;
    let mut steps = attempts;
    let mut delay = 0.0;
    for _ in 0..attempts {
        if steps < 1 {
            delay = current;
            continue;
        }
        steps -= 1;
        delay = current;
        if backoff.factor != 0.0 {
            current *= backoff.factor;
        }
        if cap > 0.0 && current > cap {
            current = cap;
            steps = 0;
        }
    }
    nanos_to_duration(delay)
}

/// Outcome of the self-heal timing check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelfHealTiming {
    /// Time left before healing may run (zero when it may run now).
    pub remaining: Duration,
    /// Whether healing may run now.
    pub heal_now: bool,
}

/// Remaining self-heal backoff: `d(attempts) − since_finished`. `since_finished` is `None` when
/// the last operation has no finish time (then the full `d(attempts)` remains).
pub fn self_heal_remaining(
    backoff: &Backoff,
    attempts: u32,
    since_finished: Option<Duration>,
) -> SelfHealTiming {
    let delay = self_heal_backoff(backoff, attempts);
    let remaining = match since_finished {
        Some(elapsed) => delay.saturating_sub(elapsed),
        None => delay,
    };
    SelfHealTiming {
        remaining,
        heal_now: remaining.is_zero(),
    }
}

fn nanos_to_duration(nanos: f64) -> Duration {
    if !nanos.is_finite() || nanos <= 0.0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(nanos.min(u64::MAX as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_heal_defaults_sequence() {
        let secs: Vec<u64> = (0..8)
            .map(|n| self_heal_backoff(&Backoff::SELF_HEAL_DEFAULT, n).as_secs())
            .collect();
        assert_eq!(secs, vec![0, 2, 6, 18, 54, 162, 300, 300]);
    }

    #[test]
    fn sync_retry_defaults_sequence() {
        let secs: Vec<u64> = (0..7)
            .map(|n| sync_retry_delay(&Backoff::SYNC_RETRY_DEFAULT, n).as_secs())
            .collect();
        assert_eq!(secs, vec![5, 10, 20, 40, 80, 160, 180]);
        assert_eq!(
            sync_retry_wait(&Backoff::SYNC_RETRY_DEFAULT, 1).as_secs(),
            10
        );
    }

    #[test]
    fn retry_limits() {
        assert!(retry_allowed(-1, 1000));
        assert!(!retry_allowed(0, 0));
        assert!(retry_allowed(5, 4));
        assert!(!retry_allowed(5, 5));
    }
}
