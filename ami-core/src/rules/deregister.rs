//! Deregistering an image: owner only, deregistration protection with its 24 h cooldown, and
//! which snapshots `DeleteAssociatedSnapshots` deletes.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::id::AccountId;
use crate::lifecycle::{image_transition, ImageEvent};
use crate::model::{
    DeleteSnapshotOutcome, DeleteSnapshotResult, DeregistrationProtection, Image, ImageState,
};
use crate::time::Timestamp;

use super::check_owner;

/// How long protection enabled "with cooldown" stays in force after it is disabled.
pub const PROTECTION_COOLDOWN: Duration = Duration::from_secs(24 * 60 * 60);

/// Whether `caller` may deregister `image` at `now`.
///
/// | situation | code |
/// |---|---|
/// | the caller does not own the image | `AuthFailure` "Not authorized for image:ami-…" |
/// | the image is already deregistered | `InvalidAMIID.Unavailable` |
/// | deregistration protection is on, or its cooldown is running | `OperationNotPermitted` (AWS's code is not documented; this is the most plausible one) |
///
/// Pending (a copy in progress), failed and disabled images can be deregistered.
pub fn check_deregister(caller: &AccountId, image: &Image, now: Timestamp) -> Result<()> {
    check_owner(caller, image, "deregister it")?;
    image_transition(&image.id, image.state, ImageEvent::Deregister)?;
    let protection = image.deregistration_protection;
    if protection.protects_at(now) {
        let detail = match protection {
            DeregistrationProtection::DisabledAfter(until) => format!(
                "protection was disabled with a cooldown that runs until {until}; try again after that"
            ),
            DeregistrationProtection::EnabledWithCooldown => "protection is enabled with a 24 hour cooldown: disable it (DisableImageDeregistrationProtection) and deregister 24 hours later".to_owned(),
            _ => "protection is enabled: disable it first (DisableImageDeregistrationProtection)".to_owned(),
        };
        return Err(Error::from_code(
            "OperationNotPermitted",
            format!(
                "Image {} has deregistration protection and cannot be deregistered: {detail}.",
                image.id
            ),
        ));
    }
    Ok(())
}

/// The protection after EnableImageDeregistrationProtection.
pub fn protection_after_enable(with_cooldown: bool) -> DeregistrationProtection {
    if with_cooldown {
        DeregistrationProtection::EnabledWithCooldown
    } else {
        DeregistrationProtection::Enabled
    }
}

/// The protection after DisableImageDeregistrationProtection at `now`: protection with cooldown
/// stays in force for [`PROTECTION_COOLDOWN`]; without cooldown it is lifted at once; a
/// running cooldown keeps its end; disabling an unprotected image changes nothing.
pub fn protection_after_disable(
    current: DeregistrationProtection,
    now: Timestamp,
) -> DeregistrationProtection {
    match current {
        DeregistrationProtection::EnabledWithCooldown => {
            DeregistrationProtection::DisabledAfter(now.add(PROTECTION_COOLDOWN))
        }
        DeregistrationProtection::Enabled | DeregistrationProtection::Disabled => {
            DeregistrationProtection::Disabled
        }
        DeregistrationProtection::DisabledAfter(until) if now < until => current,
        DeregistrationProtection::DisabledAfter(_) => DeregistrationProtection::Disabled,
    }
}

/// What DeregisterImage does to the snapshots of `image`, in device order.
///
/// Without `delete_associated_snapshots` nothing is deleted (AWS's default) and the list is
/// empty. With it, each snapshot is [`Success`](DeleteSnapshotOutcome::Success) (delete it),
/// or [`Skipped`](DeleteSnapshotOutcome::Skipped) when another image among `images` that is not
/// deregistered also uses it; a snapshot the image's owner does not own (`snapshot_owner`
/// answers `Some` other account) is [`MissingPermissions`](DeleteSnapshotOutcome::MissingPermissions).
pub fn deregister_snapshot_plan<'a>(
    image: &Image,
    delete_associated_snapshots: bool,
    images: impl IntoIterator<Item = &'a Image> + Clone,
    snapshot_owner: impl Fn(&crate::id::SnapshotId) -> Option<AccountId>,
) -> Vec<DeleteSnapshotResult> {
    if !delete_associated_snapshots {
        return Vec::new();
    }
    let mut seen = Vec::new();
    let mut plan = Vec::new();
    for snap in image.snapshot_ids() {
        if seen.contains(&snap) {
            continue;
        }
        seen.push(snap);
        let used_elsewhere = images.clone().into_iter().any(|other| {
            other.id != image.id
                && other.state != ImageState::Deregistered
                && other.snapshot_ids().contains(&snap)
        });
        let outcome = if used_elsewhere {
            DeleteSnapshotOutcome::Skipped
        } else if snapshot_owner(snap).is_some_and(|o| o != image.owner) {
            DeleteSnapshotOutcome::MissingPermissions
        } else {
            DeleteSnapshotOutcome::Success
        };
        plan.push(DeleteSnapshotResult {
            snapshot_id: snap.clone(),
            outcome,
        });
    }
    plan
}
