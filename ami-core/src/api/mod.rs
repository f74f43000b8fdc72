//! The trait seam: [`Ec2`], [`Kms`] and [`Connector`].
//!
//! One client is one account in one Region, like an AWS SDK client. The traits mirror the EC2
//! and KMS calls the image lifecycle needs and nothing more; they are thin on purpose. The
//! behaviour lives in [`rules`](crate::rules) and [`lifecycle`](crate::lifecycle) (pure) and in
//! [`ops`](crate::ops) (orchestration), so an implementation only has to be faithful to AWS.
//!
//! # Contract
//!
//! Every implementation (the simulator `ami-sim`, the AWS SDK backend `ami-aws`, a mock) must:
//!
//! - answer with the AWS error **code** AWS would answer with, classified by meaning in
//!   [`Error`](crate::Error) (the conformance suite checks this);
//! - create images in `pending`; they later become `available` or `failed` with a state reason;
//! - return ids AWS-shaped and never reuse one;
//! - return describe results in a stable order, and page them when `max_results` is set:
//!   `next_token` is `None` on the last page; following tokens yields every item exactly once;
//! - treat an unknown id as `NotFound` and a malformed one as `Malformed`, changing nothing;
//! - keep ownership with the owner: sharing never changes `Image::owner`; a copy is owned by the
//!   caller of CopyImage;
//! - be `Send + Sync`, cheap to clone behind an `Arc`, and safe to call concurrently.
//!
//! Every method is required: conveniences (describe everything across pages, describe one image)
//! live in [`Ec2Ext`], which has a blanket implementation and must not be implemented by hand.

mod ext;
mod forward;
mod request;

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;

pub use ext::{Ec2Ext, KmsExt};
pub use request::{
    CopyImageRequest, CreateGrantRequest, CreateImageRequest, CreateKeyRequest,
    DeregisterImageRequest, DescribeImagesRequest, DescribeInstancesRequest,
    DescribeSnapshotsRequest, EncryptVolume, ExecutableBy, Filter, InstanceStateChange, Owner,
    Page, PermissionChanges, RegisterBlockDevice, RegisterImageRequest, RunInstancesRequest,
    VolumeSpec,
};

use crate::error::Result;
use crate::id::{AccountId, ImageId, InstanceId, KmsKeyRef, Region, SnapshotId};
use crate::model::{
    BlockPublicAccessState, CreateVolumePermission, DeleteSnapshotResult, Grant, Image, Instance,
    KeyPolicy, KmsKey, LaunchPermission, ResourceId, Snapshot, Tags,
};
use crate::time::{Clock, Timestamp};

/// EC2 image, snapshot and instance calls, for one account in one Region.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Ec2: Send + Sync + Debug {
    /// The account this client acts as.
    fn account(&self) -> &AccountId;
    /// The Region this client calls.
    fn region(&self) -> &Region;
    /// A client of the same account and Region whose changing calls are AWS dry runs
    /// (`DryRun=true`): each is checked as AWS checks it (permissions; on the simulator every
    /// rule of the real call) and answers [`Error::DryRun`](crate::Error::DryRun)
    /// (`DryRunOperation`) where it would have succeeded, or the error it would have failed
    /// with. Nothing changes. Reading calls answer as usual.
    fn dry_run(&self) -> Arc<dyn Ec2>;

    /// RunInstances: launch instances of an image the caller may launch.
    async fn run_instances(&self, req: RunInstancesRequest) -> Result<Vec<Instance>>;
    /// DescribeInstances (one page).
    async fn describe_instances(&self, req: DescribeInstancesRequest) -> Result<Page<Instance>>;
    /// StopInstances.
    async fn stop_instances(&self, ids: Vec<InstanceId>) -> Result<Vec<InstanceStateChange>>;
    /// StartInstances.
    async fn start_instances(&self, ids: Vec<InstanceId>) -> Result<Vec<InstanceStateChange>>;
    /// RebootInstances.
    async fn reboot_instances(&self, ids: Vec<InstanceId>) -> Result<()>;
    /// TerminateInstances.
    async fn terminate_instances(&self, ids: Vec<InstanceId>) -> Result<Vec<InstanceStateChange>>;

    /// CreateImage from an instance; the image starts `pending`.
    async fn create_image(&self, req: CreateImageRequest) -> Result<ImageId>;
    /// CopyImage into this client's Region (and account); the copy starts `pending`.
    async fn copy_image(&self, req: CopyImageRequest) -> Result<ImageId>;
    /// RegisterImage from snapshots.
    async fn register_image(&self, req: RegisterImageRequest) -> Result<ImageId>;
    /// DescribeImages (one page).
    async fn describe_images(&self, req: DescribeImagesRequest) -> Result<Page<Image>>;
    /// DeregisterImage, optionally deleting the snapshots no other image uses.
    async fn deregister_image(
        &self,
        req: DeregisterImageRequest,
    ) -> Result<Vec<DeleteSnapshotResult>>;
    /// DescribeImageAttribute `launchPermission` (owner only).
    async fn describe_launch_permissions(&self, image: ImageId) -> Result<Vec<LaunchPermission>>;
    /// ModifyImageAttribute `launchPermission` (owner only).
    async fn modify_launch_permissions(
        &self,
        image: ImageId,
        changes: PermissionChanges<LaunchPermission>,
    ) -> Result<()>;
    /// ResetImageAttribute `launchPermission`: removes every grant (owner only).
    async fn reset_launch_permissions(&self, image: ImageId) -> Result<()>;
    /// CancelImageLaunchPermission: a grantee removes its own explicit grant.
    async fn cancel_image_launch_permission(&self, image: ImageId) -> Result<()>;
    /// ModifyImageAttribute `description` (owner only).
    async fn modify_image_description(&self, image: ImageId, description: String) -> Result<()>;
    /// EnableImageDeprecation (owner only); AWS rounds the time to the minute.
    async fn enable_image_deprecation(&self, image: ImageId, at: Timestamp) -> Result<()>;
    /// DisableImageDeprecation (owner only).
    async fn disable_image_deprecation(&self, image: ImageId) -> Result<()>;
    /// EnableImageDeregistrationProtection (owner only).
    async fn enable_image_deregistration_protection(
        &self,
        image: ImageId,
        with_cooldown: bool,
    ) -> Result<()>;
    /// DisableImageDeregistrationProtection (owner only).
    async fn disable_image_deregistration_protection(&self, image: ImageId) -> Result<()>;
    /// DisableImage: makes it private and not launchable (owner only).
    async fn disable_image(&self, image: ImageId) -> Result<()>;
    /// EnableImage (owner only); former grants do not come back.
    async fn enable_image(&self, image: ImageId) -> Result<()>;
    /// GetImageBlockPublicAccessState.
    async fn get_image_block_public_access_state(&self) -> Result<BlockPublicAccessState>;
    /// EnableImageBlockPublicAccess.
    async fn enable_image_block_public_access(&self) -> Result<()>;
    /// DisableImageBlockPublicAccess.
    async fn disable_image_block_public_access(&self) -> Result<()>;

    /// CreateTags on owned resources.
    async fn create_tags(&self, resources: Vec<ResourceId>, tags: Tags) -> Result<()>;
    /// DeleteTags (by key) on owned resources.
    async fn delete_tags(&self, resources: Vec<ResourceId>, keys: Vec<String>) -> Result<()>;

    /// DescribeSnapshots (one page).
    async fn describe_snapshots(&self, req: DescribeSnapshotsRequest) -> Result<Page<Snapshot>>;
    /// DeleteSnapshot; refused while a registered image uses it.
    async fn delete_snapshot(&self, id: SnapshotId) -> Result<()>;
    /// DescribeSnapshotAttribute `createVolumePermission` (owner only).
    async fn describe_snapshot_permissions(
        &self,
        id: SnapshotId,
    ) -> Result<Vec<CreateVolumePermission>>;
    /// ModifySnapshotAttribute `createVolumePermission` (owner only).
    async fn modify_snapshot_permissions(
        &self,
        id: SnapshotId,
        changes: PermissionChanges<CreateVolumePermission>,
    ) -> Result<()>;
}

/// The waiting periods, in days, that [`Kms::schedule_key_deletion`] accepts (AWS:
/// `PendingWindowInDays`, 7 to 30; AWS's default is 30).
pub const KEY_DELETION_WINDOW_DAYS: std::ops::RangeInclusive<u32> = 7..=30;

/// KMS calls, for one account in one Region.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Kms: Send + Sync + Debug {
    /// The account this client acts as.
    fn account(&self) -> &AccountId;
    /// The Region this client calls.
    fn region(&self) -> &Region;

    /// CreateKey: a symmetric customer managed key.
    async fn create_key(&self, req: CreateKeyRequest) -> Result<KmsKey>;
    /// DescribeKey (keys of other accounts by ARN, if their policy allows).
    async fn describe_key(&self, key: KmsKeyRef) -> Result<KmsKey>;
    /// CreateAlias `alias/<name>` for a key of the caller.
    async fn create_alias(&self, alias: String, key: KmsKeyRef) -> Result<()>;
    /// GetKeyPolicy (the `default` policy).
    async fn get_key_policy(&self, key: KmsKeyRef) -> Result<KeyPolicy>;
    /// PutKeyPolicy (the `default` policy).
    async fn put_key_policy(&self, key: KmsKeyRef, policy: KeyPolicy) -> Result<()>;
    /// CreateGrant; returns the grant id.
    async fn create_grant(&self, req: CreateGrantRequest) -> Result<String>;
    /// ListGrants of a key.
    async fn list_grants(&self, key: KmsKeyRef) -> Result<Vec<Grant>>;
    /// RevokeGrant.
    async fn revoke_grant(&self, key: KmsKeyRef, grant_id: String) -> Result<()>;
    /// ScheduleKeyDeletion of a customer managed key of the caller, after a waiting period of
    /// `pending_window_days` (see [`KEY_DELETION_WINDOW_DAYS`]); returns the deletion date.
    ///
    /// The key turns [`KeyState::PendingDeletion`](crate::model::KeyState::PendingDeletion)
    /// at once and serves no cryptographic use from then on (images encrypted with it can be
    /// neither launched nor copied); it is deleted, with its aliases, when the window ends,
    /// unless [`cancel_key_deletion`](Kms::cancel_key_deletion) is called first. A window
    /// outside 7..=30 fails with `ValidationException`, an unknown key with
    /// `NotFoundException`, a key already pending deletion with `KMSInvalidStateException`,
    /// an AWS managed key or another account's key with `AccessDeniedException`.
    async fn schedule_key_deletion(
        &self,
        key: KmsKeyRef,
        pending_window_days: u32,
    ) -> Result<Timestamp>;
    /// CancelKeyDeletion of a key pending deletion: the key is kept and turns
    /// [`KeyState::Disabled`](crate::model::KeyState::Disabled) (as on AWS, not `Enabled`: the
    /// owner enables it again with [`enable_key`](Kms::enable_key)). A key not pending
    /// deletion fails with `KMSInvalidStateException`, an unknown key with `NotFoundException`,
    /// an AWS managed key or another account's key with `AccessDeniedException`.
    async fn cancel_key_deletion(&self, key: KmsKeyRef) -> Result<()>;
    /// EnableKey of a customer managed key of the caller: the key turns
    /// [`KeyState::Enabled`](crate::model::KeyState::Enabled) and serves cryptographic use
    /// again (images encrypted with it can be launched and copied). Enabling an enabled key
    /// succeeds and changes nothing. An unknown key fails with `NotFoundException`, a key
    /// pending deletion with `KMSInvalidStateException` (cancel the deletion first, see
    /// [`cancel_key_deletion`](Kms::cancel_key_deletion)), an AWS managed key or another
    /// account's key with `AccessDeniedException`.
    async fn enable_key(&self, key: KmsKeyRef) -> Result<()>;
    /// DisableKey of a customer managed key of the caller: the key turns
    /// [`KeyState::Disabled`](crate::model::KeyState::Disabled) and serves no cryptographic use
    /// until [`enable_key`](Kms::enable_key) (images encrypted with it can be neither launched
    /// nor copied; such uses fail with `DisabledException`). Disabling a disabled key succeeds
    /// and changes nothing. An unknown key fails with `NotFoundException`, a key pending
    /// deletion with `KMSInvalidStateException`, an AWS managed key or another account's key
    /// with `AccessDeniedException`.
    async fn disable_key(&self, key: KmsKeyRef) -> Result<()>;
}

/// Gives a client for any `(account, Region)` scope, and the clock workflows read.
///
/// The simulator implements it over its accounts; the AWS backend assumes a role per account.
pub trait Connector: Send + Sync + Debug {
    /// An EC2 client acting as `account` in `region`.
    fn ec2(&self, account: &AccountId, region: &Region) -> Result<Arc<dyn Ec2>>;
    /// A KMS client acting as `account` in `region`.
    fn kms(&self, account: &AccountId, region: &Region) -> Result<Arc<dyn Kms>>;
    /// The clock to read "now" from (virtual on the simulator).
    fn clock(&self) -> Arc<dyn Clock>;
}

/// A launch-time check of the image an instance is launched from: the simulator's way of
/// enforcing an IAM policy that denies RunInstances of unapproved images
/// (see [`ops::govern`](crate::ops::govern)).
pub trait LaunchGuard: Send + Sync + Debug {
    /// `Ok(())` allows the launch; `Err(reason)` denies it, and RunInstances fails with
    /// `UnauthorizedOperation` carrying the reason.
    fn check(&self, image: &Image, now: Timestamp) -> std::result::Result<(), String>;
}

/// `dyn Ec2`, for readability.
pub type DynEc2 = dyn Ec2;
/// `dyn Kms`, for readability.
pub type DynKms = dyn Kms;
