//! DisableImage and EnableImage: owner only, and only between `available` and `disabled`.
//!
//! Disabling removes **all** launch permissions (the image becomes private); enabling does not
//! give them back.

use crate::error::Result;
use crate::id::AccountId;
use crate::lifecycle::{image_transition, ImageEvent};
use crate::model::{Image, ImageState};

use super::check_owner;

/// The state after DisableImage: `AuthFailure` for a non-owner, `InvalidAMIID.Unavailable`
/// unless the image is `available`. The caller must also clear the image's launch permissions
/// and public flag.
pub fn check_disable_image(caller: &AccountId, image: &Image) -> Result<ImageState> {
    check_owner(caller, image, "disable it")?;
    image_transition(&image.id, image.state, ImageEvent::Disable)
}

/// The state after EnableImage: `AuthFailure` for a non-owner, `InvalidAMIID.Unavailable`
/// unless the image is `disabled`. Former launch permissions stay removed.
pub fn check_enable_image(caller: &AccountId, image: &Image) -> Result<ImageState> {
    check_owner(caller, image, "enable it")?;
    image_transition(&image.id, image.state, ImageEvent::Enable)
}
