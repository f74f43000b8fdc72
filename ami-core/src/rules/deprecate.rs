//! Deprecation: when an image may be deprecated, and the default deprecation of public images.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::id::AccountId;
use crate::model::{Image, ImageState};
use crate::time::Timestamp;

use super::check_owner;

/// The latest deprecation time: now plus 10 years (3,650 days).
pub const MAX_DEPRECATION_AHEAD: Duration = Duration::from_secs(3650 * 24 * 60 * 60);
/// The latest deprecation time of a public image, and its default: creation plus 2 years
/// (730 days).
pub const PUBLIC_DEPRECATION_AFTER_CREATION: Duration = Duration::from_secs(730 * 24 * 60 * 60);

/// The deprecation time EnableImageDeprecation sets: `at` rounded to the nearest minute.
///
/// | situation | code |
/// |---|---|
/// | the caller does not own the image | `AuthFailure` |
/// | the image is deregistered | `InvalidAMIID.Unavailable` |
/// | the time is in the past, later than now + 10 years, or (public image) later than creation + 2 years | `InvalidParameterValue` (AWS's code is not documented) |
pub fn deprecation_time(
    caller: &AccountId,
    image: &Image,
    at: Timestamp,
    now: Timestamp,
) -> Result<Timestamp> {
    check_owner(caller, image, "deprecate it")?;
    check_not_deregistered(image)?;
    let at = at.round_to_minute();
    if at < now.round_to_minute() {
        return Err(Error::from_code(
            "InvalidParameterValue",
            format!(
                "The deprecation time {at} of image {} is in the past (now is {now}); choose a time from now on.",
                image.id
            ),
        ));
    }
    let max = now.add(MAX_DEPRECATION_AHEAD);
    if at > max {
        return Err(Error::from_code(
            "InvalidParameterValue",
            format!(
                "The deprecation time {at} of image {} is more than 10 years ahead; choose a time no later than {max}.",
                image.id
            ),
        ));
    }
    let public_max = image.creation_time.add(PUBLIC_DEPRECATION_AFTER_CREATION);
    if image.public && at > public_max {
        return Err(Error::from_code(
            "InvalidParameterValue",
            format!(
                "Image {} is public, so its deprecation time can be at most 2 years after its creation ({public_max}), not {at}. Make it private first to deprecate it later.",
                image.id
            ),
        ));
    }
    Ok(at)
}

/// Whether DisableImageDeprecation is allowed: owner only (`AuthFailure`), not on a
/// deregistered image (`InvalidAMIID.Unavailable`), and not on a public image, whose deprecation
/// can only be cancelled after making it private (`OperationNotPermitted`; the code is not
/// documented).
pub fn check_disable_deprecation(caller: &AccountId, image: &Image) -> Result<()> {
    check_owner(caller, image, "cancel its deprecation")?;
    check_not_deregistered(image)?;
    if image.public {
        return Err(Error::from_code(
            "OperationNotPermitted",
            format!(
                "Image {} is public, and public images must have a deprecation time: make it private first, then cancel its deprecation.",
                image.id
            ),
        ));
    }
    Ok(())
}

/// The deprecation time an image gets when it is made public: its own, if it has one no later
/// than creation + 2 years; otherwise creation + 2 years.
pub fn deprecation_when_public(image: &Image) -> Timestamp {
    let default = image.creation_time.add(PUBLIC_DEPRECATION_AFTER_CREATION);
    match image.deprecation_time {
        Some(t) if t <= default => t,
        _ => default,
    }
}

fn check_not_deregistered(image: &Image) -> Result<()> {
    if image.state == ImageState::Deregistered {
        return Err(Error::from_code(
            "InvalidAMIID.Unavailable",
            format!(
                "The image id '[{}]' is no longer available: it is deregistered.",
                image.id
            ),
        ));
    }
    Ok(())
}
