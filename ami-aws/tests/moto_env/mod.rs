//! Where the moto server is: `AMI_MOTO_ENDPOINT` (`scripts/test` starts moto and sets it).
//! Outside CI a test without it says it is skipped; under CI (`CI=true`) a missing endpoint is
//! a failure, so a broken test setup cannot pass silently.

/// The moto endpoint, or `None` (after saying the test is skipped) when it is not set.
///
/// # Panics
///
/// Under `CI=true` when `AMI_MOTO_ENDPOINT` is not set.
pub fn moto_endpoint(test: &str) -> Option<String> {
    match std::env::var("AMI_MOTO_ENDPOINT") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(
                !ci,
                "{test}: AMI_MOTO_ENDPOINT is not set under CI; scripts/test starts moto and sets it"
            );
            eprintln!("{test}: skipped, AMI_MOTO_ENDPOINT is not set (scripts/test sets it)");
            None
        }
    }
}
