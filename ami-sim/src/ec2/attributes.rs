//! Image attributes: launch permissions, description, deprecation, deregistration protection,
//! disable/enable, and image block public access.

use std::time::Duration;

use ami_core::api::PermissionChanges;
use ami_core::model::BlockPublicAccessState;
use ami_core::{
    DeregistrationProtection, ImageId, ImageState, KeyManager, LaunchPermission, Result, Timestamp,
};

use super::instances::image_not_found;
use crate::sim::Ctx;
use crate::state::{err, BpaRec, Event, ImageRec, State};

/// How long EnableImageBlockPublicAccess takes to be in force. AWS: §3 "Block public access":
/// "can take up to 10 minutes".
const BPA_DELAY: Duration = Duration::from_secs(600);

fn unavailable(id: &ImageId, state: ImageState) -> ami_core::Error {
    err(
        "InvalidAMIID.Unavailable",
        format!("The image id '[{id}]' is no longer available: it is {state}"),
    )
}

impl State {
    fn owned_image_mut(&mut self, cx: &Ctx, id: &ImageId) -> Result<&mut ImageRec> {
        self.owned_image(cx, id)?;
        self.images.get_mut(id).ok_or_else(|| image_not_found(id))
    }

    /// An owned image that is not deregistered (or failed).
    fn modifiable(&mut self, cx: &Ctx, id: &ImageId) -> Result<&mut ImageRec> {
        let r = self.owned_image_mut(cx, id)?;
        // AWS: §3 "Validation errors": a deregistered image is InvalidAMIID.Unavailable.
        if matches!(r.image.state, ImageState::Deregistered | ImageState::Failed) {
            return Err(unavailable(id, r.image.state));
        }
        Ok(r)
    }

    pub(crate) fn describe_launch_permissions(
        &mut self,
        cx: &Ctx,
        id: &ImageId,
    ) -> Result<Vec<LaunchPermission>> {
        let r = self.owned_image(cx, id)?;
        Ok(r.perms.iter().cloned().collect())
    }

    pub(crate) fn modify_launch_permissions(
        &mut self,
        cx: &Ctx,
        id: &ImageId,
        changes: PermissionChanges<LaunchPermission>,
    ) -> Result<()> {
        let bpa = self.bpa_state(&cx.account, &cx.region);
        let public_count = self
            .images
            .values()
            .filter(|r| {
                r.image.owner == cx.account && r.image.region == cx.region && r.image.public
            })
            .count();
        let quota_public = self.quotas.public_images;
        let quota_entities = self.quotas.sharing_entities;
        let r = self.modifiable(cx, id)?;
        if !changes.add.is_empty() {
            // AWS: §1 "DisableImage": a disabled image can't be shared (code undocumented).
            if r.image.state == ImageState::Disabled {
                return Err(unavailable(id, r.image.state));
            }
            let adds_public = changes.add.contains(&LaunchPermission::Public);
            if adds_public {
                // AWS: §3 "Encryption rules": encrypted images can't be made public.
                if r.image.is_encrypted() {
                    return Err(err(
                        "UnsupportedOperation",
                        "Encrypted snapshots can’t be shared publicly. Specify another snapshot.",
                    ));
                }
                // AWS: §3 "Product codes": images with product codes can't be made public
                // (code undocumented).
                if !r.image.product_codes.is_empty() {
                    return Err(err(
                        "InvalidParameter",
                        format!(
                            "Image {id} has product codes and can't be made public; share it \
                             with accounts instead"
                        ),
                    ));
                }
                // AWS: §3 "Block public access".
                if bpa == BlockPublicAccessState::BlockNewSharing && !r.image.public {
                    return Err(err(
                        "OperationNotPermitted",
                        "You can’t publicly share this image because block public access for AMIs is enabled for this account. To publicly share the image, you must call the DisableImageBlockPublicAccess API.",
                    ));
                }
                // AWS: §3 "Limits": 5 public AMIs per Region (code undocumented).
                if !r.image.public && public_count >= quota_public {
                    return Err(err(
                        "ResourceLimitExceeded",
                        format!(
                            "account {} already has {public_count} public images in {}, the \
                             quota; make one private first",
                            cx.account, cx.region
                        ),
                    ));
                }
            }
            // AWS: §3 "Encryption rules": AWS-managed-key snapshots can't be shared at all.
            if r.image.block_devices.iter().any(|d| {
                d.encryption
                    .as_ref()
                    .is_some_and(|e| e.manager == KeyManager::Aws)
            }) {
                return Err(err(
                    "InvalidParameter",
                    "Snapshots encrypted with the AWS Managed CMK can’t be shared. Specify another snapshot.",
                ));
            }
            let entities = r
                .perms
                .iter()
                .chain(changes.add.iter())
                .filter(|p| **p != LaunchPermission::Public)
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            if entities > quota_entities {
                // AWS: §3 "Limits": 1,000 sharing entities per AMI (code undocumented).
                return Err(err(
                    "ResourceLimitExceeded",
                    format!(
                        "Image {id} would be shared with {entities} accounts, organizations and \
                         OUs; the limit is {quota_entities}. Share with an organization or OU \
                         instead"
                    ),
                ));
            }
        }
        for p in &changes.add {
            r.perms.insert(p.clone());
        }
        // AWS: §3: removing an account that has access through an org/OU changes nothing.
        for p in &changes.remove {
            r.perms.remove(p);
        }
        let now_public = r.perms.contains(&LaunchPermission::Public);
        if now_public && !r.image.public && r.image.deprecation_time.is_none() {
            // AWS: §6 "Deprecation": public images get creation + 2 years by default.
            r.image.deprecation_time = Some(
                r.image
                    .creation_time
                    .add(Duration::from_secs(2 * 365 * 86_400)),
            );
        }
        r.image.public = now_public;
        Ok(())
    }

    pub(crate) fn reset_launch_permissions(&mut self, cx: &Ctx, id: &ImageId) -> Result<()> {
        let r = self.modifiable(cx, id)?;
        // AWS: §3 "ResetImageAttribute": removes every public and explicit permission.
        r.perms.clear();
        r.image.public = false;
        Ok(())
    }

    pub(crate) fn cancel_image_launch_permission(&mut self, cx: &Ctx, id: &ImageId) -> Result<()> {
        let me = LaunchPermission::Account(cx.account.clone());
        match self.images.get_mut(id) {
            Some(r)
                if r.image.region == cx.region
                    && r.visible_at <= cx.now
                    && r.image.owner != cx.account
                    && r.perms.contains(&me) =>
            {
                // AWS: §3 "CancelImageLaunchPermission": removes only the caller's explicit
                // grant; org/OU and public access stay.
                r.perms.remove(&me);
                Ok(())
            }
            Some(r) if r.image.region == cx.region && r.image.owner == cx.account => Err(err(
                "InvalidParameterValue",
                format!(
                    "Image {id} is owned by account {}; CancelImageLaunchPermission is for \
                     accounts it is shared with",
                    cx.account
                ),
            )),
            _ => Err(image_not_found(id)),
        }
    }

    pub(crate) fn modify_image_description(
        &mut self,
        cx: &Ctx,
        id: &ImageId,
        description: String,
    ) -> Result<()> {
        if description.chars().count() > 255 {
            return Err(err(
                "InvalidParameterValue",
                "The description is longer than 255 characters",
            ));
        }
        let r = self.modifiable(cx, id)?;
        r.image.description = Some(description);
        Ok(())
    }

    pub(crate) fn enable_image_deprecation(
        &mut self,
        cx: &Ctx,
        id: &ImageId,
        at: Timestamp,
    ) -> Result<()> {
        let now = cx.now;
        let r = self.modifiable(cx, id)?;
        // AWS: §6 "Deprecation": rounded to the minute, not in the past, at most 10 years
        // ahead (2 years after creation for public images).
        let at = at.round_to_minute();
        if at < now.sub(Duration::from_secs(60)) {
            return Err(err(
                "InvalidParameterValue",
                format!("The deprecation time {at} is in the past; choose a future time"),
            ));
        }
        let max = if r.image.public {
            r.image
                .creation_time
                .add(Duration::from_secs(2 * 365 * 86_400))
        } else {
            now.add(Duration::from_secs(10 * 365 * 86_400))
        };
        if at > max {
            return Err(err(
                "InvalidParameterValue",
                format!("The deprecation time {at} is later than the maximum {max}"),
            ));
        }
        r.image.deprecation_time = Some(at);
        Ok(())
    }

    pub(crate) fn disable_image_deprecation(&mut self, cx: &Ctx, id: &ImageId) -> Result<()> {
        let r = self.modifiable(cx, id)?;
        r.image.deprecation_time = None;
        Ok(())
    }

    pub(crate) fn enable_deregistration_protection(
        &mut self,
        cx: &Ctx,
        id: &ImageId,
        with_cooldown: bool,
    ) -> Result<()> {
        let r = self.modifiable(cx, id)?;
        r.image.deregistration_protection = if with_cooldown {
            DeregistrationProtection::EnabledWithCooldown
        } else {
            DeregistrationProtection::Enabled
        };
        Ok(())
    }

    pub(crate) fn disable_deregistration_protection(
        &mut self,
        cx: &Ctx,
        id: &ImageId,
    ) -> Result<()> {
        let now = cx.now;
        let r = self.modifiable(cx, id)?;
        // AWS: §6 "Deregistration protection": with cooldown, protection lasts 24 h after it
        // is disabled.
        r.image.deregistration_protection = match r.image.deregistration_protection {
            DeregistrationProtection::EnabledWithCooldown => {
                DeregistrationProtection::DisabledAfter(now.add(Duration::from_secs(86_400)))
            }
            DeregistrationProtection::DisabledAfter(t) if t > now => {
                DeregistrationProtection::DisabledAfter(t)
            }
            _ => DeregistrationProtection::Disabled,
        };
        Ok(())
    }

    pub(crate) fn disable_image(&mut self, cx: &Ctx, id: &ImageId) -> Result<()> {
        let r = self.modifiable(cx, id)?;
        if r.image.state != ImageState::Available {
            return Err(unavailable(id, r.image.state));
        }
        // AWS: §1 "DisableImage": removes all launch permissions; the image becomes private.
        r.image.state = ImageState::Disabled;
        r.perms.clear();
        r.image.public = false;
        Ok(())
    }

    pub(crate) fn enable_image(&mut self, cx: &Ctx, id: &ImageId) -> Result<()> {
        let r = self.modifiable(cx, id)?;
        if r.image.state != ImageState::Disabled {
            return Err(err(
                "IncorrectState",
                format!(
                    "Image {id} is {}, not disabled; only a disabled image can be enabled",
                    r.image.state
                ),
            ));
        }
        // AWS: §1 "EnableImage": former grantees do not get access back.
        r.image.state = ImageState::Available;
        Ok(())
    }

    pub(crate) fn set_block_public_access(
        &mut self,
        cx: &Ctx,
        to: BlockPublicAccessState,
    ) -> Result<()> {
        let key = (cx.account.clone(), cx.region.clone());
        let current = self.bpa_state(&cx.account, &cx.region);
        let rec = self.bpa.entry(key.clone()).or_insert(BpaRec {
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
                    self.schedule(due, Event::Bpa(key.0, key.1));
                }
            }
        }
        Ok(())
    }
}
