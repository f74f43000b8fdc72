//! DescribeImages: request validation and which images a caller is shown.

use crate::api::DescribeImagesRequest;
use crate::error::{Error, Result};
use crate::id::AccountId;
use crate::model::{Image, ImageState, LaunchPermission};
use crate::time::Timestamp;

use super::{has_launch_permission, Membership};

/// Validates a DescribeImages request: filtering on `state=disabled` requires
/// `IncludeDisabled=true`, else `InvalidParameter` "When filtering by the 'disabled' state,
/// 'IncludeDisabled' must be set to 'true' in the request."
pub fn check_describe_images(req: &DescribeImagesRequest) -> Result<()> {
    let disabled_filter = req
        .filters
        .iter()
        .any(|f| f.name == "state" && f.values.iter().any(|v| v == ImageState::Disabled.as_str()));
    if disabled_filter && !req.include_disabled {
        return Err(Error::from_code(
            "InvalidParameter",
            "When filtering by the 'disabled' state, 'IncludeDisabled' must be set to 'true' in the request. Set include_disabled on the request.",
        ));
    }
    Ok(())
}

/// Whether DescribeImages shows `image` to `caller` at `now`, before filters, owners and
/// executable-by are applied.
///
/// - The caller must own it or have launch permission for it (explicit, organization, OU,
///   public). Deregistered images are not shown.
/// - A disabled image is shown only to its owner, and only with `IncludeDisabled`.
/// - A deprecated image of another account is shown only with `IncludeDeprecated` or when it
///   is named by id (`named_by_id`); the caller's own deprecated images are always shown.
pub fn image_listed(
    image: &Image,
    permissions: &[LaunchPermission],
    caller: &AccountId,
    membership: &Membership,
    req: &DescribeImagesRequest,
    now: Timestamp,
) -> bool {
    let owner = &image.owner == caller;
    if image.state == ImageState::Deregistered {
        return false;
    }
    if image.state == ImageState::Disabled {
        return owner && req.include_disabled;
    }
    if !has_launch_permission(image, permissions, caller, membership) {
        return false;
    }
    let named_by_id = req.image_ids.contains(&image.id);
    owner || named_by_id || req.include_deprecated || !image.is_deprecated_at(now)
}
