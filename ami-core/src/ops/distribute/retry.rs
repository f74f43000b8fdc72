//! Retrying one call on transient errors (throttling, AWS internal errors, transport), with
//! exponential backoff and deterministic jitter, sleeping on tokio's clock.

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How a call that fails with a transient error is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts per call, the first included (at least 1).
    pub max_attempts: u32,
    /// The delay before the second attempt; it doubles after each failure.
    pub base_delay: Duration,
    /// The longest delay between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The delay after the `attempt`-th failure (1-based): exponential, capped, with up to 50 %
    /// jitter drawn from `salt` (deterministic: same salt, same delays).
    pub fn delay(&self, attempt: u32, salt: u64) -> Duration {
        let exp = self.base_delay.saturating_mul(
            1u32.checked_shl(attempt.saturating_sub(1))
                .unwrap_or(u32::MAX),
        );
        let capped = exp.min(self.max_delay);
        let jitter = mix(salt ^ u64::from(attempt)) % 1000;
        capped.mul_f64(0.5 + jitter as f64 / 2000.0)
    }
}

/// A 64-bit mixer (splitmix64 finaliser).
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// FNV-1a over a string, for salts and ids.
pub(crate) fn hash_str(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Calls `f` until it succeeds, fails with a non-transient error, or `attempts` attempts failed.
/// Returns the last error and the number of attempts made.
pub(crate) async fn retry<T, F, Fut>(
    policy: &RetryPolicy,
    attempts: u32,
    salt: u64,
    what: &str,
    mut f: F,
) -> std::result::Result<T, (Error, u32)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let attempts = attempts.max(1);
    let mut n = 0;
    loop {
        n += 1;
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retryable() && n < attempts => {
                let d = policy.delay(n, salt);
                tracing::debug!(
                    call = what,
                    attempt = n,
                    code = e.code(),
                    delay_ms = d.as_millis() as u64,
                    "transient error, retrying"
                );
                tokio::time::sleep(d).await;
            }
            Err(e) => return Err((e, n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ServiceError;
    use std::cell::Cell;

    #[test]
    fn delays_grow_and_are_capped() {
        let p = RetryPolicy::default();
        assert!(p.delay(1, 7) <= Duration::from_millis(500));
        assert!(p.delay(1, 7) >= Duration::from_millis(250));
        assert!(p.delay(20, 7) <= Duration::from_secs(20));
        assert_eq!(p.delay(3, 9), p.delay(3, 9));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_only_transient_errors() {
        let calls = Cell::new(0);
        let r: std::result::Result<(), _> = retry(&RetryPolicy::default(), 5, 1, "x", || {
            calls.set(calls.get() + 1);
            async {
                Err(Error::Throttled(ServiceError::new(
                    "RequestLimitExceeded",
                    "slow",
                )))
            }
        })
        .await;
        let (e, n) = r.unwrap_err();
        assert_eq!((e.code(), n, calls.get()), ("RequestLimitExceeded", 5, 5));

        calls.set(0);
        let r: std::result::Result<(), _> = retry(&RetryPolicy::default(), 5, 1, "x", || {
            calls.set(calls.get() + 1);
            async { Err(Error::from_code("InvalidAMIID.NotFound", "gone")) }
        })
        .await;
        assert_eq!(r.unwrap_err().0.code(), "InvalidAMIID.NotFound");
        assert_eq!(calls.get(), 1);
    }
}
