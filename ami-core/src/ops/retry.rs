//! Retrying calls that failed for a reason that can pass (throttling, AWS internal errors,
//! transport failures), and the deterministic hashes behind idempotency tokens, run ids and
//! jitter salts.
//!
//! One implementation for every workflow: bake, share, adopt, wait, pipeline and govern retry
//! with [`RetryPolicy::CALL`] and no jitter ([`retry_default`]); distribute and retire bound the
//! attempts per call and jitter the delays from a salt ([`retry`]).

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::id::ClientToken;

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
    /// 10 attempts, 500 ms doubling up to 20 s between them.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The policy of the single calls inside the workflows ([`retry_default`]): 12 attempts,
    /// pausing 200 ms, 400 ms, ... up to 20 s between them (about 1.5 min in all): long enough
    /// to ride out a burst of `RequestLimitExceeded`, short enough to surface a real outage.
    pub(crate) const CALL: RetryPolicy = RetryPolicy {
        max_attempts: 12,
        base_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(20),
    };

    /// The delay after the `attempt`-th failure (1-based) without jitter: exponential, capped.
    pub(crate) fn pause(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The delay after the `attempt`-th failure (1-based): exponential, capped, with up to 50 %
    /// jitter drawn from `salt` (deterministic: same salt, same delays).
    pub fn delay(&self, attempt: u32, salt: u64) -> Duration {
        let jitter = mix(salt ^ u64::from(attempt)) % 1000;
        self.pause(attempt).mul_f64(0.5 + jitter as f64 / 2000.0)
    }
}

/// Calls `call` until it succeeds, fails with an error that is not retryable, or `attempts`
/// attempts (at least 1) failed; then returns the last error and the number of attempts made.
/// Pauses with `tokio::time::sleep`: [`RetryPolicy::delay`] when a `salt` is given (so calls
/// started together do not retry in lockstep), else [`RetryPolicy::pause`].
///
/// Only for calls that are safe to repeat: reads, additive permission changes, calls with a
/// client token, or calls whose repetition the caller detects (see `bake`).
pub(crate) async fn retry<T, F, Fut>(
    what: &str,
    policy: &RetryPolicy,
    attempts: u32,
    salt: Option<u64>,
    mut call: F,
) -> std::result::Result<T, (Error, u32)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let attempts = attempts.max(1);
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retryable() && attempt < attempts => {
                let pause = match salt {
                    Some(salt) => policy.delay(attempt, salt),
                    None => policy.pause(attempt),
                };
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
            Err(e) => return Err((e, attempt)),
        }
    }
}

/// Retries `call` with [`RetryPolicy::CALL`], without jitter; returns the last error.
pub(crate) async fn retry_default<T, F, Fut>(what: &str, call: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let policy = RetryPolicy::CALL;
    retry(what, &policy, policy.max_attempts, None, call)
        .await
        .map_err(|(e, _)| e)
}

/// 64-bit FNV-1a over `bytes`, stable across Rust versions and platforms, unlike `std`'s
/// hashers.
fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// FNV-1a of the parts, each followed by a separator (so `["ab", "c"]` and `["a", "bc"]`
/// differ).
pub(crate) fn stable_hash<'a>(parts: impl IntoIterator<Item = &'a str>) -> u64 {
    fnv1a(
        parts
            .into_iter()
            .flat_map(|part| part.bytes().chain(std::iter::once(0x1f))),
    )
}

/// FNV-1a of one string (no separator), for salts and run ids.
pub(crate) fn hash_str(s: &str) -> u64 {
    fnv1a(s.bytes())
}

/// A 64-bit mixer (splitmix64 finaliser).
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
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
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn pauses_double_up_to_the_cap() {
        let p = RetryPolicy::CALL;
        assert_eq!(p.pause(1), Duration::from_millis(200));
        assert_eq!(p.pause(2), Duration::from_millis(400));
        assert_eq!(p.pause(8), Duration::from_millis(25_600).min(p.max_delay));
        assert_eq!(p.pause(40), p.max_delay);
    }

    #[test]
    fn delays_grow_and_are_capped() {
        let p = RetryPolicy::default();
        assert!(p.delay(1, 7) <= Duration::from_millis(500));
        assert!(p.delay(1, 7) >= Duration::from_millis(250));
        assert!(p.delay(20, 7) <= Duration::from_secs(20));
        assert_eq!(p.delay(3, 9), p.delay(3, 9));
    }

    /// The two hashes are the same FNV-1a: one string without separators is `hash_str`, and
    /// `stable_hash` only adds a separator after each part. Pinned values: run ids, tokens and
    /// salts derived from them are persisted in journals and must never change.
    #[test]
    fn hashes_are_pinned() {
        assert_eq!(hash_str(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash_str("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(stable_hash(["a"]), hash_str("a\u{1f}"));
        assert_ne!(stable_hash(["ab", "c"]), stable_hash(["a", "bc"]));
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
            max_attempts: 3,
            ..RetryPolicy::CALL
        };
        let (err, n) = retry("create", &policy, policy.max_attempts, None, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Error::from_code("InternalError", "boom"))
        })
        .await
        .unwrap_err();
        assert_eq!(err.code(), "InternalError");
        assert_eq!(n, 3);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_only_transient_errors() {
        let calls = Cell::new(0);
        let r: std::result::Result<(), _> = retry("x", &RetryPolicy::default(), 5, Some(1), || {
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
        let r: std::result::Result<(), _> = retry("x", &RetryPolicy::default(), 5, Some(1), || {
            calls.set(calls.get() + 1);
            async { Err(Error::from_code("InvalidAMIID.NotFound", "gone")) }
        })
        .await;
        assert_eq!(r.unwrap_err().0.code(), "InvalidAMIID.NotFound");
        assert_eq!(calls.get(), 1);
    }
}
