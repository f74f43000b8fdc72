//! Retrying calls that failed for a reason that can pass (throttling, AWS internal errors,
//! transport failures), and deterministic idempotency tokens.
//!
//! Shared by the workflows; not public.

use std::future::Future;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::id::ClientToken;

/// How often and how patiently a call is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Attempts in total (the first call included).
    pub attempts: u32,
    /// The pause after the first failure; it doubles after every further failure.
    pub initial: Duration,
    /// The longest pause.
    pub max: Duration,
}

impl Default for RetryPolicy {
    /// 12 attempts, pausing 200 ms, 400 ms, ... up to 20 s between them (about 1.5 min in all):
    /// long enough to ride out a burst of `RequestLimitExceeded`, short enough to surface a
    /// real outage.
    fn default() -> Self {
        RetryPolicy {
            attempts: 12,
            initial: Duration::from_millis(200),
            max: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The pause after failed attempt number `attempt` (1-based).
    pub(crate) fn pause(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// Calls `call` until it succeeds, fails with an error that is not retryable, or `policy`'s
/// attempts are used up (then the last error is returned). Pauses with `tokio::time::sleep`.
///
/// Only for calls that are safe to repeat: reads, additive permission changes, calls with a
/// client token, or calls whose repetition the caller detects (see `bake`).
pub(crate) async fn retry<T, F, Fut>(what: &str, policy: &RetryPolicy, mut call: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retryable() && attempt < policy.attempts => {
                let pause = policy.pause(attempt);
                tracing::debug!(
                    call = what,
                    attempt,
                    code = e.code(),
                    pause_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
                    "retryable error; retrying"
                );
                tokio::time::sleep(pause).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Retries `call` with the default policy.
pub(crate) async fn retry_default<T, F, Fut>(what: &str, call: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    retry(what, &RetryPolicy::default(), call).await
}

/// A 64-bit FNV-1a hash of the parts (each followed by a separator), stable across Rust
/// versions and platforms, unlike `std`'s hashers.
pub(crate) fn stable_hash<'a>(parts: impl IntoIterator<Item = &'a str>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0x1f)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// A client token `<prefix>-<16 hex digits>` derived from the request's parts, so running the
/// same request again (after a crash, or a retry whose answer was lost) is recognised by AWS
/// instead of starting a second copy.
pub(crate) fn derived_token<'a>(
    prefix: &str,
    parts: impl IntoIterator<Item = &'a str>,
) -> Result<ClientToken> {
    let token = format!("{prefix}-{:016x}", stable_hash(parts));
    ClientToken::parse(&token).map_err(Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ServiceError;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn pauses_double_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.pause(1), Duration::from_millis(200));
        assert_eq!(p.pause(2), Duration::from_millis(400));
        assert_eq!(p.pause(8), Duration::from_millis(25_600).min(p.max));
        assert_eq!(p.pause(40), p.max);
    }

    #[test]
    fn tokens_are_stable_and_distinct() {
        let a = derived_token("adopt", ["ami-12345678", "us-east-1"]).unwrap();
        let b = derived_token("adopt", ["ami-12345678", "us-east-1"]).unwrap();
        let c = derived_token("adopt", ["ami-12345678us-east-1"]).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.as_str().starts_with("adopt-"));
        assert_eq!(a.as_str().len(), "adopt-".len() + 16);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_retryable_errors_only() {
        let calls = AtomicU32::new(0);
        let out = retry_default("describe", || async {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            if n < 3 {
                Err(Error::Throttled(ServiceError::new(
                    "RequestLimitExceeded",
                    "slow down",
                )))
            } else {
                Ok(n)
            }
        })
        .await
        .unwrap();
        assert_eq!(out, 3);

        let calls = AtomicU32::new(0);
        let err = retry_default("describe", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Error::from_code("InvalidAMIID.NotFound", "gone"))
        })
        .await
        .unwrap_err();
        assert_eq!(err.code(), "InvalidAMIID.NotFound");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_the_last_attempt() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy {
            attempts: 3,
            ..RetryPolicy::default()
        };
        let err = retry("create", &policy, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Error::from_code("InternalError", "boom"))
        })
        .await
        .unwrap_err();
        assert_eq!(err.code(), "InternalError");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }
}
