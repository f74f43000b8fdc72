//! Launching an instance from an image (RunInstances): launch permission, image state, and
//! the KMS access encrypted snapshots need.

use crate::error::{Error, Result};
use crate::id::AccountId;
use crate::model::{Image, ImageState, KmsAction, LaunchPermission, StateReason};

use super::{check_key_access, has_launch_permission, KeyView, Membership};

/// The facts a launch is judged on.
#[derive(Debug, Clone, Copy)]
pub struct LaunchContext<'a> {
    /// The account launching.
    pub caller: &'a AccountId,
    /// The caller's organization and OU path.
    pub membership: &'a Membership,
    /// The image.
    pub image: &'a Image,
    /// The image's launch permissions.
    pub permissions: &'a [LaunchPermission],
}

/// Whether the caller may launch the image now.
///
/// | situation | code |
/// |---|---|
/// | no launch permission (not owner, not shared explicitly, through its organization or an OU on its path, not public); a disabled image of another account | `AuthFailure` "Not authorized for images: [ami-…]" |
/// | the image is not `available` (pending, failed, deregistered, disabled for its owner) | `InvalidAMIID.Unavailable` |
///
/// A deprecated image is still launchable by id. KMS access is checked by
/// [`check_launch_keys`].
pub fn check_launch(ctx: &LaunchContext<'_>) -> Result<()> {
    let image = ctx.image;
    let owner = &image.owner == ctx.caller;
    let permitted = has_launch_permission(image, ctx.permissions, ctx.caller, ctx.membership);
    // A disabled image has no launch permissions: only its owner still sees it.
    if !permitted || (image.state == ImageState::Disabled && !owner) {
        return Err(Error::from_code(
            "AuthFailure",
            format!(
                "Not authorized for images: [{}]. Account {} has no launch permission for it; its owner, account {}, can share it with this account, its organization or OU.",
                image.id, ctx.caller, image.owner
            ),
        ));
    }
    let why = match image.state {
        ImageState::Available => return Ok(()),
        ImageState::Pending => "it is still pending; wait until it is available",
        ImageState::Disabled => "it is disabled; enable it first (EnableImage)",
        ImageState::Failed => "it failed and can never be launched; create or copy it again",
        ImageState::Deregistered => "it is deregistered",
        _ => "it is not in a launchable state",
    };
    Err(Error::from_code(
        "InvalidAMIID.Unavailable",
        format!(
            "The image id '[{}]' is not available for launch: {why}.",
            image.id
        ),
    ))
}

/// The KMS access a launch needs: the [`KmsAction::CONSUMER`] actions on every key of the
/// image's encrypted snapshots, for the caller. `keys` must hold a view of each of those keys;
/// a missing one gives `NotFoundException`.
///
/// On AWS a launch with an unusable key is accepted and the instance then terminates (see
/// [`launch_failure_reason`]).
pub fn check_launch_keys(ctx: &LaunchContext<'_>, keys: &[KeyView<'_>]) -> Result<()> {
    for enc in ctx.image.kms_keys() {
        let Some(view) = keys.iter().find(|v| v.key.arn == enc.key) else {
            return Err(Error::from_code(
                "NotFoundException",
                format!(
                    "Key '{}' does not exist or is not visible to account {}.",
                    enc.key, ctx.caller
                ),
            ));
        };
        check_key_access(*view, ctx.caller, ctx.membership, &KmsAction::CONSUMER)?;
    }
    Ok(())
}

/// The state reason of an instance that terminated at launch because of `error` (AWS:
/// `Client.InternalError`, "Client error on launch"; the cause is appended).
pub fn launch_failure_reason(error: &Error) -> StateReason {
    StateReason {
        code: "Client.InternalError".into(),
        message: format!(
            "Client.InternalError: Client error on launch ({}: {})",
            error.code(),
            error.message()
        ),
    }
}
