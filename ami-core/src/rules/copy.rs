//! Copying an image (CopyImage): who may copy what, the encryption of the copy, and what the
//! copy records about where it came from.
//!
//! The copy is a new image **owned by the copier**, in the destination Region, with its own
//! snapshots; launch permissions are not copied.

use std::collections::BTreeMap;

use crate::api::CopyImageRequest;
use crate::error::{Error, Result};
use crate::id::{AccountId, ImageId, Region, SnapshotId};
use crate::model::{
    BlockDevice, CreateVolumePermission, Encryption, Image, ImageState, KmsAction,
    LaunchPermission, StateReason, Tags,
};

use super::{
    can_read_snapshot, check_key_access, has_launch_permission, validate_description,
    validate_image_name, KeyView, Membership,
};

/// The facts a CopyImage call is judged on.
#[derive(Debug, Clone, Copy)]
pub struct CopyContext<'a> {
    /// The account copying (it will own the copy).
    pub caller: &'a AccountId,
    /// The caller's organization and OU path.
    pub membership: &'a Membership,
    /// The Region the copy is made in (where CopyImage is called).
    pub destination_region: &'a Region,
    /// The source image.
    pub source: &'a Image,
    /// The source image's launch permissions.
    pub source_permissions: &'a [LaunchPermission],
    /// The create-volume permissions of the source's snapshots; a snapshot missing from the map
    /// has none.
    pub snapshot_permissions: &'a BTreeMap<SnapshotId, Vec<CreateVolumePermission>>,
}

impl CopyContext<'_> {
    /// Whether the copy crosses accounts (the caller does not own the source).
    pub fn is_cross_account(&self) -> bool {
        &self.source.owner != self.caller
    }

    /// Whether an encrypted source snapshot can keep its key: only when the caller owns it and
    /// the copy stays in the same Region (KMS keys are regional).
    pub fn source_key_reusable(&self) -> bool {
        !self.is_cross_account() && &self.source.region == self.destination_region
    }
}

/// The synchronous checks of CopyImage, in the order they are made:
///
/// | situation | code |
/// |---|---|
/// | bad name / description | `InvalidAMIName.Malformed` / `InvalidParameterValue` |
/// | `KmsKeyId` without `Encrypted=true` | `InvalidParameterDependency` "The parameter KmsKeyId requires the parameter Encrypted to be set." |
/// | source and destination Regions in different partitions | `InvalidRequest` (AWS does not support it; code inferred) |
/// | the caller can neither see nor launch the source (a disabled image of another account included) | `InvalidAMIID.NotFound` |
/// | the source is not `available` (pending, failed, disabled) | `InvalidAMIID.Unavailable` |
/// | cross-account copy of a Marketplace image | `InvalidRequest` "Images from AWS Marketplace cannot be copied to another AWS account." |
/// | cross-account copy of an image with other (billing) product codes | `InvalidRequest` "Images with EC2 BillingProduct codes cannot be copied to another AWS account." |
/// | cross-account copy without read permission on every snapshot | `InvalidRequest` "You do not have permission to access the storage of this ami" |
/// | `Encrypted=false` on an image with encrypted snapshots | `InvalidRequest` "Snapshot snap-… is encrypted. Creating an unencrypted copy from an encrypted snapshot is not supported." |
///
/// Name uniqueness in the destination is checked by
/// [`check_name_available`](super::check_name_available); KMS access by
/// [`check_copy_keys`], which AWS only reports asynchronously.
pub fn check_copy_image(ctx: &CopyContext<'_>, req: &CopyImageRequest) -> Result<()> {
    validate_image_name(&req.name)?;
    if let Some(d) = &req.description {
        validate_description(d)?;
    }
    check_encryption_parameters(req.encrypted, req.kms_key_id.is_some())?;
    let source = ctx.source;
    if source.region.partition() != ctx.destination_region.partition() {
        return Err(Error::from_code(
            "InvalidRequest",
            format!(
                "Image {} is in {} (partition {}) and cannot be copied to {} (partition {}): CopyImage works within a partition. Use CreateStoreImageTask and CreateRestoreImageTask instead.",
                source.id,
                source.region,
                source.region.partition(),
                ctx.destination_region,
                ctx.destination_region.partition()
            ),
        ));
    }
    // A disabled image is private: only its owner still sees it.
    let visible = has_launch_permission(source, ctx.source_permissions, ctx.caller, ctx.membership)
        && (source.state != ImageState::Disabled || !ctx.is_cross_account());
    if !visible {
        return Err(Error::from_code(
            "InvalidAMIID.NotFound",
            format!(
                "The image id '[{}]' does not exist (in {}, for account {}). Ask its owner to share it with this account, its organization or OU.",
                source.id, source.region, ctx.caller
            ),
        ));
    }
    if source.state != ImageState::Available {
        return Err(Error::from_code(
            "InvalidAMIID.Unavailable",
            format!(
                "The image id '[{}]' is not available for copying: it is '{}'.{}",
                source.id,
                source.state,
                match source.state {
                    ImageState::Pending => " Wait until it is available.",
                    ImageState::Disabled => " Its owner must enable it first (EnableImage).",
                    _ => "",
                }
            ),
        ));
    }
    if ctx.is_cross_account() {
        if source.is_marketplace() {
            return Err(Error::from_code(
                "InvalidRequest",
                format!(
                    "Images from AWS Marketplace cannot be copied to another AWS account. Launch an instance from {} and create an image from it instead (the product codes are kept).",
                    source.id
                ),
            ));
        }
        if let Some(code) = source.product_codes.first() {
            return Err(Error::from_code(
                "InvalidRequest",
                format!(
                    "Images with EC2 BillingProduct codes cannot be copied to another AWS account. Image {} carries product code {}; launch an instance from it and create an image from that instead.",
                    source.id, code.id
                ),
            ));
        }
        let unreadable = source.snapshot_ids().into_iter().find(|s| {
            let perms = ctx
                .snapshot_permissions
                .get(*s)
                .map(Vec::as_slice)
                .unwrap_or_default();
            !can_read_snapshot(&source.owner, perms, ctx.caller)
        });
        if let Some(snap) = unreadable {
            return Err(Error::from_code(
                "InvalidRequest",
                format!(
                    "You do not have permission to access the storage of this ami. The owner of {}, account {}, must grant account {} createVolumePermission on snapshot {snap} (and on every other snapshot of the image).",
                    source.id, source.owner, ctx.caller
                ),
            ));
        }
    }
    if req.encrypted == Some(false) {
        if let Some(dev) = source.block_devices.iter().find(|d| d.encryption.is_some()) {
            return Err(unencrypted_copy_refusal(dev));
        }
    }
    Ok(())
}

fn check_encryption_parameters(encrypted: Option<bool>, has_key: bool) -> Result<()> {
    if has_key && encrypted != Some(true) {
        return Err(Error::from_code(
            "InvalidParameterDependency",
            "The parameter KmsKeyId requires the parameter Encrypted to be set. Pass Encrypted=true together with KmsKeyId.",
        ));
    }
    Ok(())
}

fn unencrypted_copy_refusal(dev: &BlockDevice) -> Error {
    let snap = dev
        .snapshot_id
        .as_ref()
        .map_or_else(|| format!("of {}", dev.device_name), ToString::to_string);
    Error::from_code(
        "InvalidRequest",
        format!(
            "Snapshot {snap} is encrypted. Creating an unencrypted copy from an encrypted snapshot is not supported. Omit Encrypted, or pass Encrypted=true."
        ),
    )
}

/// The encryption parameters of a copy, with the keys already resolved to [`Encryption`]s.
#[derive(Debug, Clone, Copy)]
pub struct CopyEncryption<'a> {
    /// The request's `Encrypted` flag (`None` when omitted).
    pub encrypted: Option<bool>,
    /// The request's `KmsKeyId`, resolved (key ARN and manager) in the destination Region.
    pub kms_key: Option<&'a Encryption>,
    /// The caller's EBS default key in the destination Region (`alias/aws/ebs` unless changed).
    pub default_key: &'a Encryption,
    /// Whether the caller has EBS encryption by default on in the destination Region.
    pub encryption_by_default: bool,
}

/// The encryption of the copy of one block device (the table of the reference, section 4).
///
/// | source | parameters | copy |
/// |---|---|---|
/// | unencrypted | none (encryption by default off) | unencrypted |
/// | unencrypted | none, encryption by default on / `Encrypted=true` | the default key |
/// | any | `Encrypted=true` + `KmsKeyId` | that key |
/// | encrypted, key reusable (own, same Region) | none / `Encrypted=true` | the same key |
/// | encrypted, shared with the caller or another Region | none / `Encrypted=true` | the default key |
/// | encrypted | `Encrypted=false` | refused: `InvalidRequest` |
/// | any | `KmsKeyId` without `Encrypted=true` | refused: `InvalidParameterDependency` |
///
/// `source_key_reusable` is [`CopyContext::source_key_reusable`].
pub fn copy_encryption(
    source: &BlockDevice,
    source_key_reusable: bool,
    params: &CopyEncryption<'_>,
) -> Result<Option<Encryption>> {
    check_encryption_parameters(params.encrypted, params.kms_key.is_some())?;
    Ok(match (&source.encryption, params.kms_key) {
        (Some(_), _) if params.encrypted == Some(false) => {
            return Err(unencrypted_copy_refusal(source))
        }
        (_, Some(key)) => Some(key.clone()),
        (Some(src), None) if source_key_reusable => Some(src.clone()),
        (Some(_), None) => Some(params.default_key.clone()),
        (None, None) if params.encrypted == Some(true) || params.encryption_by_default => {
            Some(params.default_key.clone())
        }
        (None, None) => None,
    })
}

/// The KMS access a copy needs, checked for the caller: the [`KmsAction::CONSUMER`] actions on
/// every key of the source's snapshots, and on the target key when one is requested.
///
/// `keys` must hold a view of each of those keys; a key missing from it, or a target key that
/// is not in the destination Region, gives `NotFoundException`. On AWS these failures are **asynchronous**: CopyImage returns an image
/// id and the image turns `failed` (see [`copy_failure_reason`]).
pub fn check_copy_keys(
    ctx: &CopyContext<'_>,
    target_key: Option<&Encryption>,
    keys: &[KeyView<'_>],
) -> Result<()> {
    if let Some(target) = target_key {
        if let Some(view) = keys.iter().find(|v| v.key.arn == target.key) {
            if &view.key.region != ctx.destination_region {
                return Err(Error::from_code(
                    "NotFoundException",
                    format!(
                        "Key '{}' is in {}, not in {} where the copy is made: name a key of the destination Region (a multi-Region key needs a replica there).",
                        target.key, view.key.region, ctx.destination_region
                    ),
                ));
            }
        }
    }
    let needed = ctx
        .source
        .kms_keys()
        .into_iter()
        .chain(target_key)
        .map(|e| &e.key);
    for key in needed {
        let Some(view) = keys.iter().find(|v| &v.key.arn == key) else {
            return Err(Error::from_code(
                "NotFoundException",
                format!(
                    "Key '{key}' does not exist or is not visible to account {}.",
                    ctx.caller
                ),
            ));
        };
        check_key_access(*view, ctx.caller, ctx.membership, &KmsAction::CONSUMER)?;
    }
    Ok(())
}

/// The state reason of a copy that failed asynchronously because of `error` (AWS reports
/// "Copy image failed with an internal error" for an unusable key; the cause is appended).
pub fn copy_failure_reason(error: &Error) -> StateReason {
    StateReason {
        code: "Server.InternalError".into(),
        message: format!(
            "Copy image failed with an internal error ({}: {})",
            error.code(),
            error.message()
        ),
    }
}

/// Who owns the copy and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyLineage {
    /// The copier: always the owner of the copy, whoever owned the source.
    pub owner: AccountId,
    /// `SourceImageId`.
    pub source_image_id: ImageId,
    /// `SourceImageRegion`.
    pub source_region: Region,
}

/// The owner and lineage of the copy of `source` made by `caller`.
pub fn copy_lineage(caller: &AccountId, source: &Image) -> CopyLineage {
    CopyLineage {
        owner: caller.clone(),
        source_image_id: source.id.clone(),
        source_region: source.region.clone(),
    }
}

/// The tags of the copy: with `CopyImageTags`, the source's user tags, only if the caller owns
/// the source (tags are never visible to grantees) and without `aws:` system tags; then the
/// request's own image tags, which win on a clash.
pub fn copied_tags(caller: &AccountId, source: &Image, req: &CopyImageRequest) -> Tags {
    let mut tags = Tags::new();
    if req.copy_image_tags && &source.owner == caller {
        tags.extend(
            source
                .tags
                .iter()
                .filter(|(k, _)| !k.starts_with("aws:"))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
    }
    tags.extend(req.image_tags.iter().map(|(k, v)| (k.clone(), v.clone())));
    tags
}
