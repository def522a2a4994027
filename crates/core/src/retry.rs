//! Retrying retryable provider errors with capped exponential backoff: the one retry loop,
//! used by observations while planning and by every provider call while applying.

use std::time::Duration;

use crate::provider::ProviderError;

/// Retry policy for retryable provider errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Delay before the second attempt.
    pub initial_delay: Duration,
    /// Multiplier between delays.
    pub factor: u32,
    /// Cap on a single delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_delay: Duration::from_secs(1),
            factor: 2,
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Sets [`max_attempts`](Self::max_attempts).
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// Sets [`initial_delay`](Self::initial_delay).
    pub fn with_initial_delay(mut self, initial_delay: Duration) -> Self {
        self.initial_delay = initial_delay;
        self
    }

    /// Sets [`factor`](Self::factor).
    pub fn with_factor(mut self, factor: u32) -> Self {
        self.factor = factor;
        self
    }

    /// Sets [`max_delay`](Self::max_delay).
    pub fn with_max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// The delay after failed attempt number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let mut delay = self.initial_delay;
        for _ in 1..attempt {
            delay = delay.saturating_mul(self.factor).min(self.max_delay);
        }
        delay.min(self.max_delay)
    }
}

/// Runs `op` until it succeeds, fails with an error that is not retryable, or has been tried
/// `policy.max_attempts` times; `on_retry(attempt, delay, error)` is told before each wait.
pub async fn retrying<T, F, Fut>(
    policy: RetryPolicy,
    mut op: F,
    mut on_retry: impl FnMut(u32, Duration, &ProviderError),
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retryable() && attempt < policy.max_attempts => {
                let delay = policy.delay(attempt);
                on_retry(attempt, delay, &e);
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_are_capped() {
        let policy = RetryPolicy {
            max_attempts: 6,
            initial_delay: Duration::from_secs(1),
            factor: 2,
            max_delay: Duration::from_secs(5),
        };
        let delays: Vec<u64> = (1..=5).map(|a| policy.delay(a).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 5, 5]);
    }

    #[tokio::test(start_paused = true)]
    async fn retryable_errors_are_retried_until_the_limit_and_final_ones_never() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        let mut calls = 0;
        let mut told = Vec::new();
        let result: Result<(), _> = retrying(
            policy,
            || {
                calls += 1;
                async { Err(ProviderError::retryable("throttled")) }
            },
            |attempt, _, _| told.push(attempt),
        )
        .await;
        assert!(result.is_err());
        assert_eq!(calls, 3);
        assert_eq!(told, [1, 2]);

        let mut calls = 0;
        let result: Result<(), _> = retrying(
            policy,
            || {
                calls += 1;
                async { Err(ProviderError::final_error("bad input")) }
            },
            |_, _, _| {},
        )
        .await;
        assert!(result.is_err());
        assert_eq!(calls, 1);
    }
}
