//! Sharing an image: ModifyImageAttribute `launchPermission`, ResetImageAttribute and
//! CancelImageLaunchPermission.
//!
//! The functions compute the permissions an image has **after** the call, or refuse it as a
//! whole: a refused call changes nothing (AWS validates every item before applying any).

use std::collections::BTreeSet;

use crate::api::PermissionChanges;
use crate::error::{Error, Result};
use crate::id::{AccountId, OrganizationArn, OrganizationalUnitArn};
use crate::model::{BlockPublicAccessState, Image, ImageState, KeyManager, LaunchPermission};

use super::{check_owner, permission_covers, Membership};

/// At most this many sharing entities (accounts, organizations and OUs; not `all`) per image.
pub const MAX_SHARE_TARGETS: usize = 1000;
/// At most this many public images per account and Region.
pub const MAX_PUBLIC_IMAGES: usize = 5;

/// The sharing quotas of an account and Region. AWS's defaults are [`ShareLimits::default`];
/// a simulator can lower them to exercise the refusals cheaply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareLimits {
    /// Sharing entities (accounts, organizations, OUs) per image: [`MAX_SHARE_TARGETS`].
    pub max_share_targets: usize,
    /// Public images per account and Region: [`MAX_PUBLIC_IMAGES`].
    pub max_public_images: usize,
}

impl Default for ShareLimits {
    fn default() -> Self {
        ShareLimits {
            max_share_targets: MAX_SHARE_TARGETS,
            max_public_images: MAX_PUBLIC_IMAGES,
        }
    }
}

/// The facts a launch-permission change of one image is judged on.
#[derive(Debug, Clone, Copy)]
pub struct ShareContext<'a> {
    /// The account making the call.
    pub caller: &'a AccountId,
    /// The image, as it is now (its owner, state, encryption, product codes, public flag).
    pub image: &'a Image,
    /// Its launch permissions now (with or without [`LaunchPermission::Public`]; `image.public`
    /// counts too).
    pub current_permissions: &'a [LaunchPermission],
    /// The caller's image block public access setting in the image's Region.
    pub block_public_access: BlockPublicAccessState,
    /// How many **other** public images the caller owns in the image's Region (Recycle Bin
    /// included): the quota is [`MAX_PUBLIC_IMAGES`].
    pub public_images_in_region: usize,
}

/// The launch permissions of the image after ModifyImageAttribute adds `changes.add` and then
/// removes `changes.remove`, or AWS's refusal of the whole call.
///
/// Refusals, in the order they are checked:
///
/// | situation | code |
/// |---|---|
/// | the caller does not own the image | `AuthFailure` "Not authorized for image:ami-…" |
/// | the image is not `available` (pending, failed, disabled, deregistered) | `InvalidAMIID.Unavailable` |
/// | making public an image with encrypted snapshots | `UnsupportedOperation` "Encrypted snapshots can’t be shared publicly. Specify another snapshot." |
/// | making public an image with product codes | `UnsupportedOperation` (AWS forbids it; the code is not documented, this is the most plausible one) |
/// | making public while block public access is on | `OperationNotPermitted` |
/// | making public the 6th public image of the Region | `ResourceLimitExceeded` (quota documented, code not: most plausible) |
/// | adding anyone to an image with snapshots under an AWS managed key | `InvalidParameter` "Snapshots encrypted with the AWS Managed CMK can’t be shared. Specify another snapshot." |
/// | more than 1,000 accounts, organizations and OUs in total | `ResourceLimitExceeded` (quota documented, code not: most plausible) |
///
/// Removing a permission the image does not have succeeds and changes nothing. In particular,
/// removing an account that has access through an organization or OU share leaves that access
/// in place, as on AWS. Adding `all` to an image that is already public changes nothing and is
/// not refused by block public access (which only blocks **new** public sharing).
pub fn launch_permissions_after(
    ctx: &ShareContext<'_>,
    changes: &PermissionChanges<LaunchPermission>,
) -> Result<Vec<LaunchPermission>> {
    launch_permissions_after_with_limits(ctx, changes, ShareLimits::default())
}

/// [`launch_permissions_after`] with other quotas than AWS's defaults.
pub fn launch_permissions_after_with_limits(
    ctx: &ShareContext<'_>,
    changes: &PermissionChanges<LaunchPermission>,
    limits: ShareLimits,
) -> Result<Vec<LaunchPermission>> {
    let image = ctx.image;
    check_owner(ctx.caller, image, "change its launch permissions")?;
    check_shareable_state(image)?;

    let mut current: BTreeSet<LaunchPermission> = ctx.current_permissions.iter().cloned().collect();
    if image.public {
        current.insert(LaunchPermission::Public);
    }
    let was_public = current.contains(&LaunchPermission::Public);
    let becomes_public = !was_public && changes.add.contains(&LaunchPermission::Public);

    if becomes_public {
        if let Some(snap) = image.block_devices.iter().find(|d| d.encryption.is_some()) {
            return Err(Error::from_code(
                "UnsupportedOperation",
                format!(
                    "Encrypted snapshots can’t be shared publicly. Specify another snapshot. Image {} has encrypted snapshot {} on {}; share it with accounts, organizations or OUs instead.",
                    image.id,
                    snap.snapshot_id.as_ref().map_or("(unknown)".to_owned(), ToString::to_string),
                    snap.device_name
                ),
            ));
        }
        if let Some(code) = image.product_codes.first() {
            return Err(Error::from_code(
                "UnsupportedOperation",
                format!(
                    "Images with product codes can’t be shared publicly. Image {} carries product code {}; share it with accounts, organizations or OUs instead.",
                    image.id, code.id
                ),
            ));
        }
        if ctx.block_public_access == BlockPublicAccessState::BlockNewSharing {
            return Err(Error::from_code(
                "OperationNotPermitted",
                format!(
                    "You can’t publicly share this image because block public access for AMIs is enabled for this account. To publicly share the image, you must call the DisableImageBlockPublicAccess API. (image {}, account {}, Region {})",
                    image.id, ctx.caller, image.region
                ),
            ));
        }
        if ctx.public_images_in_region >= limits.max_public_images {
            return Err(Error::from_code(
                "ResourceLimitExceeded",
                format!(
                    "Account {} already has {} public images in {}, the quota is {}: make one of them private (or request a quota increase) before making {} public.",
                    ctx.caller, ctx.public_images_in_region, image.region, limits.max_public_images, image.id
                ),
            ));
        }
    }

    let adds_someone = changes.add.iter().any(|p| !current.contains(p));
    if adds_someone {
        if let Some(enc) = image
            .kms_keys()
            .into_iter()
            .find(|e| e.manager == KeyManager::Aws)
        {
            return Err(Error::from_code(
                "InvalidParameter",
                format!(
                    "Snapshots encrypted with the AWS Managed CMK can’t be shared. Specify another snapshot. Image {} is encrypted with the AWS managed key {}: copy it with a customer managed key (CopyImage with Encrypted and KmsKeyId) and share the copy.",
                    image.id, enc.key
                ),
            ));
        }
    }

    let mut after = current;
    after.extend(changes.add.iter().cloned());
    for p in &changes.remove {
        after.remove(p);
    }
    let targets = share_target_count(after.iter());
    if targets > limits.max_share_targets {
        return Err(Error::from_code(
            "ResourceLimitExceeded",
            format!(
                "Image {} would be shared with {targets} accounts, organizations and OUs; at most {} are allowed. Share with an organization or OU instead of many single accounts.",
                image.id, limits.max_share_targets
            ),
        ));
    }
    Ok(after.into_iter().collect())
}

/// How many sharing entities (accounts, organizations, OUs; not `all`) a permission list has.
pub fn share_target_count<'a>(
    permissions: impl IntoIterator<Item = &'a LaunchPermission>,
) -> usize {
    permissions
        .into_iter()
        .filter(|p| !matches!(p, LaunchPermission::Public))
        .count()
}

fn check_shareable_state(image: &Image) -> Result<()> {
    let why = match image.state {
        ImageState::Available => return Ok(()),
        ImageState::Pending => "it is still pending; wait until it is available",
        ImageState::Disabled => {
            "it is disabled, and disabled images can’t be shared; enable it first (EnableImage)"
        }
        ImageState::Failed => "it failed; a failed image can only be deregistered",
        ImageState::Deregistered => "it is deregistered",
        _ => "it is not in a modifiable state",
    };
    Err(Error::from_code(
        "InvalidAMIID.Unavailable",
        format!(
            "The image id '[{}]' is not available for sharing: {why}.",
            image.id
        ),
    ))
}

/// The launch permissions after ResetImageAttribute `launchPermission`: none (the image becomes
/// private; the owner keeps access). Owner only: `AuthFailure` otherwise.
pub fn launch_permissions_after_reset(
    caller: &AccountId,
    image: &Image,
) -> Result<Vec<LaunchPermission>> {
    check_owner(caller, image, "reset its launch permissions")?;
    Ok(Vec::new())
}

/// The launch permissions after CancelImageLaunchPermission by a grantee: its own explicit
/// grant is removed.
///
/// - The owner cannot cancel (it has no grant to give up): `InvalidParameter`.
/// - A caller that cannot see the image at all gets `InvalidAMIID.NotFound`.
/// - A caller whose access comes only from an organization, OU or public share cannot cancel
///   it (AWS: "can't remove access that comes from an org/OU share or from public access"):
///   `InvalidParameter`, saying which share gives the access. The code is not documented.
pub fn launch_permissions_after_cancel(
    caller: &AccountId,
    membership: &Membership,
    image: &Image,
    current: &[LaunchPermission],
) -> Result<Vec<LaunchPermission>> {
    if &image.owner == caller {
        return Err(Error::from_code(
            "InvalidParameter",
            format!(
                "Account {caller} owns image {}; CancelImageLaunchPermission is for accounts the image is shared with. Use ModifyImageAttribute or ResetImageAttribute to change who can launch it.",
                image.id
            ),
        ));
    }
    let own = LaunchPermission::Account(caller.clone());
    if current.contains(&own) {
        return Ok(current.iter().filter(|p| **p != own).cloned().collect());
    }
    let via = if image.public {
        Some(LaunchPermission::Public)
    } else {
        current
            .iter()
            .find(|p| permission_covers(p, caller, membership))
            .cloned()
    };
    match via {
        Some(p) => Err(Error::from_code(
            "InvalidParameter",
            format!(
                "Image {} is not shared with account {caller} explicitly; its access comes from the share with {p}, which only the owner, account {}, can remove.",
                image.id, image.owner
            ),
        )),
        None => Err(Error::from_code(
            "InvalidAMIID.NotFound",
            format!("The image id '[{}]' does not exist (or is not shared with account {caller}).", image.id),
        )),
    }
}

/// One raw launch-permission item, as a request spells it before validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchPermissionItem<'a> {
    /// `UserId`: a 12-digit account id.
    UserId(&'a str),
    /// `Group`: only `all` is valid.
    Group(&'a str),
    /// `OrganizationArn`.
    OrganizationArn(&'a str),
    /// `OrganizationalUnitArn`.
    OrganizationalUnitArn(&'a str),
}

/// Validates raw launch-permission items all-or-nothing: the first bad item refuses the whole
/// list.
///
/// A bad `UserId` gives `InvalidAMIAttributeItemValue` "Invalid attribute item value "v" for
/// userId item type.", a bad `Group` the same "… for UserGroup item type.". A bad organization
/// or OU ARN gives `InvalidParameterValue` (AWS rejects them, the code is not documented).
pub fn parse_launch_permission_items(
    items: &[LaunchPermissionItem<'_>],
) -> Result<Vec<LaunchPermission>> {
    items
        .iter()
        .map(|i| parse_launch_permission_item(*i))
        .collect()
}

/// Validates one raw launch-permission item; see [`parse_launch_permission_items`].
pub fn parse_launch_permission_item(item: LaunchPermissionItem<'_>) -> Result<LaunchPermission> {
    match item {
        LaunchPermissionItem::UserId(v) => AccountId::parse(v).map(LaunchPermission::Account).map_err(|_| {
            Error::from_code(
                "InvalidAMIAttributeItemValue",
                format!(
                    "Invalid attribute item value \"{}\" for userId item type. An account id is exactly 12 digits, leading zeros included, with no spaces or dashes.",
                    shorten(v)
                ),
            )
        }),
        LaunchPermissionItem::Group("all") => Ok(LaunchPermission::Public),
        LaunchPermissionItem::Group(v) => Err(Error::from_code(
            "InvalidAMIAttributeItemValue",
            format!(
                "Invalid attribute item value \"{}\" for UserGroup item type. The only group is \"all\" (public).",
                shorten(v)
            ),
        )),
        LaunchPermissionItem::OrganizationArn(v) => OrganizationArn::parse(v)
            .map(LaunchPermission::Organization)
            .map_err(Error::from),
        LaunchPermissionItem::OrganizationalUnitArn(v) => OrganizationalUnitArn::parse(v)
            .map(LaunchPermission::OrganizationalUnit)
            .map_err(Error::from),
    }
}

fn shorten(v: &str) -> String {
    v.chars().take(200).collect()
}
