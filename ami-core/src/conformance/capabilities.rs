//! What a backend does not model, so the checks that need it are skipped, never passed.

use std::collections::BTreeMap;
use std::fmt;

/// A behaviour of AWS that some backends do not model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Feature {
    /// New images are `pending` before they become `available`.
    PendingState,
    /// Image names are unique per account and Region (`InvalidAMIName.Duplicate`).
    NameUniqueness,
    /// Image names are validated (`InvalidAMIName.Malformed`).
    NameValidation,
    /// CreateImage snapshots every EBS volume of the instance, not only the root.
    SnapshotPerVolume,
    /// Snapshot tag specifications of CreateImage / CopyImage.
    SnapshotTagsOnCreate,
    /// ModifyImageAttribute `description` is stored.
    DescriptionChange,
    /// `SourceImageId` / `SourceImageRegion` lineage on created and copied images.
    Lineage,
    /// ResetImageAttribute `launchPermission`.
    ResetLaunchPermissions,
    /// CancelImageLaunchPermission.
    CancelLaunchPermission,
    /// Get/Enable/DisableImageBlockPublicAccess.
    BlockPublicAccess,
    /// Encryption of copies with KMS keys, and its parameter rules.
    Encryption,
    /// CopyImage client-token idempotency.
    Idempotency,
    /// CopyImage `CopyImageTags`.
    CopyImageTags,
    /// DeregisterImage `DeleteAssociatedSnapshots`.
    DeleteAssociatedSnapshots,
    /// `MaxResults` / `NextToken` paging of DescribeImages and DescribeSnapshots.
    Pagination,
    /// Enable/DisableImageDeprecation.
    Deprecation,
    /// Enable/DisableImageDeregistrationProtection.
    DeregistrationProtection,
    /// DisableImage / EnableImage.
    DisableImage,
    /// Images shared with another account are visible to it, and copyable by it.
    CrossAccount,
    /// Owner-only calls refuse other accounts with `AuthFailure`.
    OwnerChecks,
    /// Operations on a deregistered image fail with `InvalidAMIID.Unavailable`/`NotFound`.
    DeregisteredImageChecks,
    /// DescribeImageAttribute / ModifyImageAttribute of an unknown image answer
    /// `InvalidAMIID.NotFound`.
    UnknownImageAttributes,
    /// `alias/aws/ebs` is described as an AWS managed key.
    AwsManagedKeys,
    /// KMS grants (CreateGrant, ListGrants, RevokeGrant).
    KmsGrants,
    /// ScheduleKeyDeletion (the key turns `PendingDeletion`) and CancelKeyDeletion (it turns
    /// `Disabled`).
    KeyDeletion,
    /// ScheduleKeyDeletion and CancelKeyDeletion refuse a waiting period outside 7 to 30 days
    /// (`ValidationException`) and a key in the wrong state (`KMSInvalidStateException`).
    KeyDeletionChecks,
    /// EnableKey and DisableKey refuse a key pending deletion (`KMSInvalidStateException`).
    KeyEnableChecks,
}

/// What a backend does not model, each with the reason.
///
/// [`Capabilities::full`] claims everything (the simulator, real AWS);
/// [`Capabilities::moto`] lists moto's known gaps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    missing: BTreeMap<Feature, String>,
}

impl Capabilities {
    /// Every behaviour is modelled.
    pub fn full() -> Self {
        Capabilities::default()
    }

    /// The same, without `feature`, for `reason`.
    pub fn without(mut self, feature: Feature, reason: impl Into<String>) -> Self {
        self.missing.insert(feature, reason.into());
        self
    }

    /// Why `feature` is not modelled, or `None` if it is.
    pub fn missing(&self, feature: Feature) -> Option<&str> {
        self.missing.get(&feature).map(String::as_str)
    }

    /// Whether `feature` is modelled.
    pub fn has(&self, feature: Feature) -> bool {
        !self.missing.contains_key(&feature)
    }

    /// Every missing feature with its reason, in a stable order.
    pub fn missing_features(&self) -> impl Iterator<Item = (Feature, &str)> {
        self.missing.iter().map(|(f, r)| (*f, r.as_str()))
    }

    /// moto's server mode (moto 5.2), as read from its source and checked against a server.
    pub fn moto() -> Self {
        use Feature::*;
        Capabilities::full()
            .without(PendingState, "moto creates images directly as available")
            .without(NameUniqueness, "moto does not check image names for uniqueness")
            .without(NameValidation, "moto does not validate image names")
            .without(SnapshotPerVolume, "moto fabricates one root snapshot per image, whatever the instance's volumes")
            .without(SnapshotTagsOnCreate, "moto raises NotImplementedError (HTTP 500) for snapshot tag specifications of CreateImage")
            .without(DescriptionChange, "moto accepts ModifyImageAttribute description but does not store it")
            .without(Lineage, "moto sets no SourceImageId/SourceImageRegion")
            .without(ResetLaunchPermissions, "moto does not implement ResetImageAttribute (HTTP 500)")
            .without(CancelLaunchPermission, "moto does not implement CancelImageLaunchPermission")
            .without(BlockPublicAccess, "moto does not implement image block public access")
            .without(Encryption, "moto ignores Encrypted and KmsKeyId on CopyImage; its snapshots are never encrypted")
            .without(Idempotency, "moto ignores the CopyImage client token")
            .without(CopyImageTags, "moto ignores CopyImageTags")
            .without(DeleteAssociatedSnapshots, "moto ignores DeleteAssociatedSnapshots")
            .without(Pagination, "moto returns every image and snapshot in one page whatever MaxResults says")
            .without(Deprecation, "moto does not implement Enable/DisableImageDeprecation")
            .without(DeregistrationProtection, "moto does not implement deregistration protection")
            .without(DisableImage, "moto does not implement DisableImage/EnableImage")
            .without(CrossAccount, "moto keeps each account's images apart: a grantee never sees a shared image")
            .without(OwnerChecks, "moto does not check that the caller owns the image")
            .without(DeregisteredImageChecks, "moto answers ModifyImageAttribute of a deregistered image with an internal error (HTTP 500)")
            .without(AwsManagedKeys, "moto describes alias/aws/ebs as a customer managed key")
            .without(UnknownImageAttributes, "moto answers DescribeImageAttribute of an unknown image with an internal error (HTTP 500)")
            .without(KeyDeletionChecks, "moto accepts a ScheduleKeyDeletion window outside 7 to 30 days without an error (it schedules nothing and answers no DeletionDate), schedules a key already pending deletion again, cancels the deletion of a key not pending deletion, and answers both calls with an internal error (HTTP 500) when the key is named by its ARN")
            .without(KeyEnableChecks, "moto's EnableKey and DisableKey of a key pending deletion succeed and take the key out of PendingDeletion (to Enabled or Disabled) where AWS answers KMSInvalidStateException")
    }
}

impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.missing.is_empty() {
            return f.write_str("every feature modelled");
        }
        for (i, (feature, reason)) in self.missing.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "no {feature:?} ({reason})")?;
        }
        Ok(())
    }
}
