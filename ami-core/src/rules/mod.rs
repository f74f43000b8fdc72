//! Every AWS permission rule as a pure function over model values.
//!
//! Each function answers `Ok` (sometimes with the computed outcome: the permissions after a
//! change, the encryption of a copy) or the exact error AWS answers: the AWS code
//! ([`Error::code`](crate::Error::code)) and a message that names the value and the fix. The
//! simulator enforces these rules by calling them; the workflows call them as pre-flight
//! checks, before any request is made.
//!
//! | family | functions |
//! |---|---|
//! | who | [`Membership`], [`has_launch_permission`], [`check_owner`] |
//! | KMS | [`KeyView`], [`key_allows`], [`check_key_access`] |
//! | sharing | [`ShareContext`], [`launch_permissions_after`], [`ShareLimits`], [`parse_launch_permission_items`], [`launch_permissions_after_cancel`], [`launch_permissions_after_reset`] |
//! | snapshots | [`snapshot_permissions_after`], [`can_read_snapshot`], [`check_delete_snapshot`], [`check_snapshot_owner`] |
//! | creating | [`check_create_image`], [`create_lineage`] |
//! | copying | [`CopyContext`], [`check_copy_image`], [`copy_encryption`], [`check_copy_keys`], [`copy_lineage`], [`copied_tags`] |
//! | launching | [`LaunchContext`], [`check_launch`], [`check_launch_keys`] |
//! | deregistering | [`check_deregister`], [`deregister_snapshot_plan`], [`protection_after_enable`], [`protection_after_disable`] |
//! | disabling | [`check_disable_image`], [`check_enable_image`] |
//! | deprecation | [`deprecation_time`], [`check_disable_deprecation`], [`deprecation_when_public`] |
//! | names | [`validate_image_name`], [`check_name_available`], [`validate_description`] |
//! | describing | [`check_describe_images`], [`image_listed`] |
//!
//! Where the reference knows no AWS code for a refusal, the function documents the code it
//! chose: `OperationNotPermitted` to deregister a protected image or cancel the deprecation of
//! a public one, `UnsupportedOperation` to make a product-code image public,
//! `ResourceLimitExceeded` for the sharing quotas, `InvalidAMIID.Unavailable` to act on a
//! disabled image, `InvalidParameterValue` for deprecation times out of range.
//!
//! KMS access is checked when a key is used (launch, copy), as EC2 does; on AWS those failures
//! surface asynchronously, so [`copy_failure_reason`] and [`launch_failure_reason`] turn them
//! into the state reason of the failed image or instance.
//!
//! # Example
//!
//! An image encrypted with a customer managed key can be shared with an account, but never
//! made public:
//!
//! ```
//! use ami_core::api::PermissionChanges;
//! use ami_core::model::BlockPublicAccessState;
//! use ami_core::rules::{launch_permissions_after, ShareContext};
//! use ami_core::{
//!     AccountId, BlockDevice, DeregistrationProtection, Encryption, Image, ImageState,
//!     KeyManager, LaunchPermission, Timestamp,
//! };
//!
//! let owner: AccountId = "111122223333".parse()?;
//! let key = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
//! let image = Image {
//!     id: "ami-0123456789abcdef0".parse()?,
//!     region: "eu-west-1".parse()?,
//!     name: "golden-2026-11-27".into(),
//!     description: None,
//!     owner: owner.clone(),
//!     owner_alias: None,
//!     state: ImageState::Available,
//!     state_reason: None,
//!     public: false,
//!     block_devices: vec![BlockDevice {
//!         device_name: "/dev/xvda".into(),
//!         snapshot_id: Some("snap-0123456789abcdef0".parse()?),
//!         volume_size_gib: 8,
//!         encryption: Some(Encryption { key: key.parse()?, manager: KeyManager::Customer }),
//!         delete_on_termination: true,
//!     }],
//!     root_device_name: "/dev/xvda".into(),
//!     architecture: "x86_64".into(),
//!     product_codes: vec![],
//!     tags: Default::default(),
//!     creation_time: Timestamp::EPOCH,
//!     deprecation_time: None,
//!     deregistration_protection: DeregistrationProtection::Disabled,
//!     source_image_id: None,
//!     source_region: None,
//!     source_instance_id: None,
//!     last_launched_time: None,
//! };
//! let ctx = ShareContext {
//!     caller: &owner,
//!     image: &image,
//!     current_permissions: &[],
//!     block_public_access: BlockPublicAccessState::Unblocked,
//!     public_images_in_region: 0,
//! };
//!
//! let consumer = LaunchPermission::Account("444455556666".parse()?);
//! let after = launch_permissions_after(&ctx, &PermissionChanges::add([consumer.clone()]))?;
//! assert_eq!(after, vec![consumer]);
//!
//! let refused = launch_permissions_after(&ctx, &PermissionChanges::add([LaunchPermission::Public]))
//!     .unwrap_err();
//! assert_eq!(refused.code(), "UnsupportedOperation");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod access;
mod copy;
mod create;
mod deprecate;
mod deregister;
mod describe;
mod disable;
mod kms;
mod launch;
mod names;
mod share;
mod snapshot;

pub use access::{check_owner, has_launch_permission, permission_covers, Membership};
pub use copy::{
    check_copy_image, check_copy_keys, copied_tags, copy_encryption, copy_failure_reason,
    copy_lineage, CopyContext, CopyEncryption, CopyLineage,
};
pub use create::{check_create_image, create_lineage, CreateLineage};
pub use deprecate::{
    check_disable_deprecation, deprecation_time, deprecation_when_public, MAX_DEPRECATION_AHEAD,
    PUBLIC_DEPRECATION_AFTER_CREATION,
};
pub use deregister::{
    check_deregister, deregister_snapshot_plan, protection_after_disable, protection_after_enable,
    PROTECTION_COOLDOWN,
};
pub use describe::{check_describe_images, image_listed};
pub use disable::{check_disable_image, check_enable_image};
pub use kms::{check_key_access, check_key_region, key_allows, key_allows_all, KeyView};
pub use launch::{check_launch, check_launch_keys, launch_failure_reason, LaunchContext};
pub use names::{
    check_name_available, validate_description, validate_image_name, DESCRIPTION_MAX_LEN,
    NAME_MAX_LEN, NAME_MIN_LEN,
};
pub use share::{
    launch_permissions_after, launch_permissions_after_cancel, launch_permissions_after_reset,
    launch_permissions_after_with_limits, parse_launch_permission_item,
    parse_launch_permission_items, share_target_count, LaunchPermissionItem, ShareContext,
    ShareLimits, MAX_PUBLIC_IMAGES, MAX_SHARE_TARGETS,
};
pub use snapshot::{
    can_read_snapshot, check_delete_snapshot, check_snapshot_owner, snapshot_permissions_after,
    MAX_SNAPSHOT_PERMISSION_CHANGES,
};
