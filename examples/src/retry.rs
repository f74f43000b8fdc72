//! Retrying the stories' own calls through transient errors, as the workflows do theirs.

use std::future::Future;
use std::time::Duration;

use ami_core::Result;

/// Attempts per call, the first included.
const ATTEMPTS: u32 = 8;

/// Runs `call` until it succeeds, fails with an error that is not retryable (see
/// [`ami_core::Error::is_retryable`]: throttling, internal errors, unavailability), or has
/// failed 8 times; waits 1 s, 2 s, 4 s, ... (at most 30 s) between attempts, on
/// tokio's clock (virtual on the simulator).
pub async fn retry<T, F, Fut>(what: &str, mut call: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut delay = Duration::from_secs(1);
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e) if e.is_retryable() && attempt < ATTEMPTS => {
                tracing::debug!(what, attempt, code = e.code(), "retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ami_core::Error;
    use std::cell::Cell;

    #[tokio::test(start_paused = true)]
    async fn retries_transient_errors_only() {
        let calls = Cell::new(0);
        let r = retry("x", || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move {
                if n < 3 {
                    Err(Error::from_code("RequestLimitExceeded", "slow down"))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(r.unwrap(), 3);

        calls.set(0);
        let r: Result<()> = retry("y", || {
            calls.set(calls.get() + 1);
            async { Err(Error::from_code("InvalidAMIID.NotFound", "gone")) }
        })
        .await;
        assert_eq!(r.unwrap_err().code(), "InvalidAMIID.NotFound");
        assert_eq!(calls.get(), 1);

        calls.set(0);
        let r: Result<()> = retry("z", || {
            calls.set(calls.get() + 1);
            async { Err(Error::from_code("RequestLimitExceeded", "slow down")) }
        })
        .await;
        assert_eq!(r.unwrap_err().code(), "RequestLimitExceeded");
        assert_eq!(calls.get(), ATTEMPTS);
    }
}
