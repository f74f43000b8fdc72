//! Image attributes: launch permissions, description, deprecation, deregistration protection,
//! disable/enable, and image block public access.

use std::time::Duration;

use ami_core::api::PermissionChanges;
use ami_core::model::BlockPublicAccessState;
use ami_core::rules::{self, ShareContext};
use ami_core::{ImageId, ImageState, LaunchPermission, Result, Timestamp};

use super::instances::image_not_found;
use crate::sim::Ctx;
use crate::state::{err, BpaRec, Event, ImageRec, State};

/// How long EnableImageBlockPublicAccess takes to be in force. AWS: §3 "Block public access":
/// "can take up to 10 minutes".
const BPA_DELAY: Duration = Duration::from_secs(600);

/// Launch permissions sorted and without duplicates, as [`ImageRec::perms`] keeps them.
fn sorted(mut perms: Vec<LaunchPermission>) -> Vec<LaunchPermission> {
    perms.sort();
    perms.dedup();
    perms
}

fn unavailable(id: &ImageId, state: ImageState) -> ami_core::Error {
    err(
        "InvalidAMIID.Unavailable",
        format!("The image id '[{id}]' is no longer available: it is {state}"),
    )
}

impl State {
    /// A visible image the caller owns, for the owner-only calls: `InvalidAMIID.NotFound` if
    /// it cannot see it, `AuthFailure` if it only may launch it.
    fn owned_for(&self, cx: &Ctx<'_>, id: &ImageId, action: &str) -> Result<&ImageRec> {
        let r = self.visible_image(cx, id)?;
        // AWS: §3 "Ownership and usage": owner-only calls by a grantee get AuthFailure.
        rules::check_owner(cx.account, &r.image, action)?;
        Ok(r)
    }

    /// Changes an image through [`State::with_image`], so the indexes follow.
    fn change(&mut self, id: &ImageId, f: impl FnOnce(&mut ImageRec)) -> Result<()> {
        self.with_image(id, f).ok_or_else(|| image_not_found(id))
    }

    pub(crate) fn describe_launch_permissions(
        &mut self,
        cx: &Ctx<'_>,
        id: &ImageId,
    ) -> Result<Vec<LaunchPermission>> {
        let r = self.owned_for(cx, id, "describe its launch permissions")?;
        Ok(Self::perms_of(r).to_vec())
    }

    pub(crate) fn modify_launch_permissions(
        &mut self,
        cx: &Ctx<'_>,
        id: &ImageId,
        changes: PermissionChanges<LaunchPermission>,
    ) -> Result<()> {
        let r = self.visible_image(cx, id)?;
        let public_others = self
            .count_in(&self.index.public, cx.account, cx.region)
            .saturating_sub(usize::from(r.image.public));
        let current = Self::perms_of(r).to_vec();
        let ctx = ShareContext {
            caller: cx.account,
            image: &r.image,
            current_permissions: &current,
            block_public_access: self.bpa_state(cx.account, cx.region),
            public_images_in_region: public_others,
        };
        // AWS: §3 "Sharing": owner only, available only, encrypted never public, AWS managed
        // key never shared, block public access, 5 public images, 1,000 sharing entities.
        let after = rules::launch_permissions_after(&ctx, &changes)?;
        let quota = self.quotas.sharing_entities;
        let targets = rules::share_target_count(after.iter());
        if targets > quota {
            return Err(err(
                "ResourceLimitExceeded",
                format!("Image {id} would be shared with {targets} accounts, organizations and OUs; this simulator's quota is {quota}"),
            ));
        }
        let public_quota = self.quotas.public_images;
        let becomes_public = after.contains(&LaunchPermission::Public) && !r.image.public;
        if becomes_public && public_others >= public_quota {
            return Err(err(
                "ResourceLimitExceeded",
                format!("Account {} already has {public_others} public images in {}, this simulator's quota", cx.account, cx.region),
            ));
        }
        self.change(id, |r| {
            r.perms = sorted(after);
            r.image.public = r.perms.contains(&LaunchPermission::Public);
            if becomes_public {
                // AWS: §6 "Deprecation": public images get creation + 2 years by default.
                r.image.deprecation_time = Some(rules::deprecation_when_public(&r.image));
            }
        })
    }

    pub(crate) fn reset_launch_permissions(&mut self, cx: &Ctx<'_>, id: &ImageId) -> Result<()> {
        let r = self.visible_image(cx, id)?;
        // AWS: §3 "ResetImageAttribute": removes every public and explicit permission.
        let after = rules::launch_permissions_after_reset(cx.account, &r.image)?;
        self.change(id, |r| {
            r.perms = sorted(after);
            r.image.public = false;
        })
    }

    pub(crate) fn cancel_image_launch_permission(
        &mut self,
        cx: &Ctx<'_>,
        id: &ImageId,
    ) -> Result<()> {
        let r = self.visible_image(cx, id)?;
        // AWS: §3 "CancelImageLaunchPermission": removes only the caller's explicit grant;
        // org/OU and public access stay.
        let after = rules::launch_permissions_after_cancel(
            cx.account,
            self.membership(cx.account),
            &r.image,
            Self::perms_of(r),
        )?;
        self.change(id, |r| r.perms = sorted(after))
    }

    pub(crate) fn modify_image_description(
        &mut self,
        cx: &Ctx<'_>,
        id: &ImageId,
        description: String,
    ) -> Result<()> {
        let r = self.owned_for(cx, id, "change its description")?;
        if r.image.state == ImageState::Deregistered {
            return Err(unavailable(id, r.image.state));
        }
        rules::validate_description(&description)?;
        self.change(id, |r| r.image.description = Some(description))
    }

    pub(crate) fn enable_image_deprecation(
        &mut self,
        cx: &Ctx<'_>,
        id: &ImageId,
        at: Timestamp,
    ) -> Result<()> {
        let r = self.visible_image(cx, id)?;
        // AWS: §6 "Deprecation": rounded to the minute, not in the past, at most 10 years
        // ahead (2 years after creation for public images).
        let at = rules::deprecation_time(cx.account, &r.image, at, cx.now)?;
        self.change(id, |r| r.image.deprecation_time = Some(at))
    }

    pub(crate) fn disable_image_deprecation(&mut self, cx: &Ctx<'_>, id: &ImageId) -> Result<()> {
        let r = self.visible_image(cx, id)?;
        rules::check_disable_deprecation(cx.account, &r.image)?;
        self.change(id, |r| r.image.deprecation_time = None)
    }

    pub(crate) fn enable_deregistration_protection(
        &mut self,
        cx: &Ctx<'_>,
        id: &ImageId,
        with_cooldown: bool,
    ) -> Result<()> {
        let r = self.owned_for(cx, id, "protect it from deregistration")?;
        if r.image.state == ImageState::Deregistered {
            return Err(unavailable(id, r.image.state));
        }
        self.change(id, |r| {
            r.image.deregistration_protection = rules::protection_after_enable(with_cooldown)
        })
    }

    pub(crate) fn disable_deregistration_protection(
        &mut self,
        cx: &Ctx<'_>,
        id: &ImageId,
    ) -> Result<()> {
        let r = self.owned_for(cx, id, "lift its deregistration protection")?;
        if r.image.state == ImageState::Deregistered {
            return Err(unavailable(id, r.image.state));
        }
        // AWS: §6 "Deregistration protection": with cooldown, protection lasts 24 h after it
        // is disabled.
        let after = rules::protection_after_disable(r.image.deregistration_protection, cx.now);
        self.change(id, |r| r.image.deregistration_protection = after)
    }

    pub(crate) fn disable_image(&mut self, cx: &Ctx<'_>, id: &ImageId) -> Result<()> {
        let r = self.visible_image(cx, id)?;
        let next = rules::check_disable_image(cx.account, &r.image)?;
        // AWS: §1 "DisableImage": removes all launch permissions; the image becomes private.
        self.change(id, |r| {
            r.image.state = next;
            r.perms.clear();
            r.image.public = false;
        })
    }

    pub(crate) fn enable_image(&mut self, cx: &Ctx<'_>, id: &ImageId) -> Result<()> {
        let r = self.visible_image(cx, id)?;
        // AWS: §1 "EnableImage": former grantees do not get access back.
        let next = rules::check_enable_image(cx.account, &r.image)?;
        self.change(id, |r| r.image.state = next)
    }

    pub(crate) fn set_block_public_access(
        &mut self,
        cx: &Ctx<'_>,
        to: BlockPublicAccessState,
    ) -> Result<()> {
        let key = self.scope(cx.account, cx.region);
        let current = self.bpa_state(cx.account, cx.region);
        let rec = self.bpa.entry(key).or_insert(BpaRec {
            state: current,
            pending: None,
        });
        match to {
            BlockPublicAccessState::Unblocked => {
                rec.state = to;
                rec.pending = None;
            }
            BlockPublicAccessState::BlockNewSharing => {
                if rec.state != to {
                    // AWS: §3 "Block public access": enabling takes up to 10 minutes; Get
                    // reports `unblocked` meanwhile.
                    let due = cx.now.add(BPA_DELAY);
                    rec.pending = Some((to, due));
                    self.schedule(due, Event::Bpa(cx.account.clone(), cx.region.clone()));
                }
            }
        }
        Ok(())
    }
}
