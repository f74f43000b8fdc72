//! Request values of the [`Ec2`](super::Ec2) and [`Kms`](super::Kms) calls, with builders.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::id::{
    AccountId, ClientToken, IdError, ImageId, InstanceId, KmsKeyRef, Region, SnapshotId,
};
use crate::model::{KeyPolicy, KmsAction, OwnerAlias, Tags};

/// One page of a paginated describe call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The token for the next page; `None` on the last page.
    pub next_token: Option<String>,
}

impl<T> Page<T> {
    /// A last page.
    pub fn last(items: Vec<T>) -> Self {
        Page {
            items,
            next_token: None,
        }
    }
}

/// A describe filter: `Name` and `Values`, with `*` and `?` wildcards in values where AWS
/// allows them (e.g. `name`, `tag:<key>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// The filter name, e.g. `name`, `state`, `tag:Team`, `tag-key`, `image-id`.
    pub name: String,
    /// Accepted values (any one matches).
    pub values: Vec<String>,
}

impl Filter {
    /// A filter with one or more values.
    pub fn new<I, S>(name: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Filter {
            name: name.into(),
            values: values.into_iter().map(Into::into).collect(),
        }
    }

    /// A `tag:<key>` filter for one value.
    pub fn tag(key: &str, value: impl Into<String>) -> Self {
        Filter::new(format!("tag:{key}"), [value.into()])
    }
}

/// An owner scope of DescribeImages / DescribeSnapshots.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Owner {
    /// `self`: the caller's account.
    SelfAccount,
    /// An account id.
    Account(AccountId),
    /// A verified provider alias (`amazon`, `aws-marketplace`, `aws-backup-vault`).
    Alias(OwnerAlias),
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::SelfAccount => f.write_str("self"),
            Owner::Account(a) => a.fmt(f),
            Owner::Alias(a) => a.fmt(f),
        }
    }
}

impl FromStr for Owner {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        if s == "self" {
            return Ok(Owner::SelfAccount);
        }
        if let Ok(a) = s.parse::<OwnerAlias>() {
            return Ok(Owner::Alias(a));
        }
        AccountId::parse(s)
            .map(Owner::Account)
            .map_err(|_| IdError {
                kind: "owner",
                value: s.chars().take(200).collect(),
                expected:
                    "self, amazon, aws-marketplace, aws-backup-vault or a 12-digit account id",
                code: "InvalidUserID.Malformed",
            })
    }
}

/// An executable-by scope of DescribeImages.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ExecutableBy {
    /// `self`: images shared with the caller (explicitly or through its organization or OU),
    /// not the ones it owns.
    SelfAccount,
    /// Images shared explicitly with this account (not through its organization).
    Account(AccountId),
    /// `all`: public images.
    All,
}

impl fmt::Display for ExecutableBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecutableBy::SelfAccount => f.write_str("self"),
            ExecutableBy::Account(a) => a.fmt(f),
            ExecutableBy::All => f.write_str("all"),
        }
    }
}

impl FromStr for ExecutableBy {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        match s {
            "self" => Ok(ExecutableBy::SelfAccount),
            "all" => Ok(ExecutableBy::All),
            _ => AccountId::parse(s)
                .map(ExecutableBy::Account)
                .map_err(|_| IdError {
                    kind: "executable-by value",
                    value: s.chars().take(200).collect(),
                    expected: "self, all or a 12-digit account id",
                    code: "InvalidUserID.Malformed",
                }),
        }
    }
}

/// DescribeImages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeImagesRequest {
    /// Only these images (then deprecated ones are included as AWS does when naming ids).
    pub image_ids: Vec<ImageId>,
    /// Only images of these owners.
    pub owners: Vec<Owner>,
    /// Only images launchable by these.
    pub executable_by: Vec<ExecutableBy>,
    /// Filters, all of which must match.
    pub filters: Vec<Filter>,
    /// Include deprecated images the caller does not own.
    pub include_deprecated: bool,
    /// Include disabled images.
    pub include_disabled: bool,
    /// Page size (5 to 1000 on AWS).
    pub max_results: Option<u32>,
    /// Token of the page to fetch.
    pub next_token: Option<String>,
}

impl DescribeImagesRequest {
    /// Everything the caller can launch (AWS's default scope).
    pub fn new() -> Self {
        Self::default()
    }
    /// Only these image ids.
    pub fn ids(ids: impl IntoIterator<Item = ImageId>) -> Self {
        DescribeImagesRequest {
            image_ids: ids.into_iter().collect(),
            ..Self::default()
        }
    }
    /// Adds an owner scope.
    pub fn owner(mut self, o: Owner) -> Self {
        self.owners.push(o);
        self
    }
    /// Adds an executable-by scope.
    pub fn executable_by(mut self, e: ExecutableBy) -> Self {
        self.executable_by.push(e);
        self
    }
    /// Adds a filter.
    pub fn filter(mut self, f: Filter) -> Self {
        self.filters.push(f);
        self
    }
    /// Sets `IncludeDeprecated`.
    pub fn include_deprecated(mut self, yes: bool) -> Self {
        self.include_deprecated = yes;
        self
    }
    /// Sets `IncludeDisabled`.
    pub fn include_disabled(mut self, yes: bool) -> Self {
        self.include_disabled = yes;
        self
    }
    /// Sets the page size.
    pub fn max_results(mut self, n: u32) -> Self {
        self.max_results = Some(n);
        self
    }
}

/// One extra EBS volume of a new instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSpec {
    /// The device name, e.g. `/dev/sdf`.
    pub device_name: String,
    /// Size in GiB.
    pub size_gib: u32,
    /// Encrypt it.
    pub encrypted: bool,
    /// With this key (default: the account's EBS default key).
    pub kms_key_id: Option<KmsKeyRef>,
}

/// RunInstances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInstancesRequest {
    /// The image to launch.
    pub image_id: ImageId,
    /// The instance type.
    pub instance_type: String,
    /// How many instances (min = max).
    pub count: u32,
    /// Tags for the instances (and their volumes).
    pub tags: Tags,
    /// Extra EBS volumes beyond the image's block devices.
    pub extra_volumes: Vec<VolumeSpec>,
    /// Volumes of the image's own devices to encrypt at launch
    /// (`BlockDeviceMapping.N.Ebs.Encrypted=true`, with `KmsKeyId` when a key is named).
    pub encrypt_volumes: Vec<EncryptVolume>,
    /// Idempotency token.
    pub client_token: Option<ClientToken>,
}

/// One of the image's devices whose volume a launch encrypts: with `kms_key_id`, or with the
/// account's default EBS key (`alias/aws/ebs` unless changed) when `None`. A volume whose
/// snapshot is already encrypted is re-encrypted under the named key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptVolume {
    /// The image's device, e.g. `/dev/xvda` (the root device of most Linux images).
    pub device_name: String,
    /// The key; `None`: the default EBS key.
    pub kms_key_id: Option<KmsKeyRef>,
}

impl RunInstancesRequest {
    /// One `t3.micro` instance of `image_id`.
    pub fn new(image_id: ImageId) -> Self {
        RunInstancesRequest {
            image_id,
            instance_type: "t3.micro".into(),
            count: 1,
            tags: Tags::new(),
            extra_volumes: Vec::new(),
            encrypt_volumes: Vec::new(),
            client_token: None,
        }
    }
    /// Encrypts the volume of the image's device `device_name` (its root device, say
    /// `/dev/xvda`) at launch, under `key` or the default EBS key. An image made from such an
    /// instance has encrypted snapshots: this is how an image under `aws/ebs` is made without
    /// a copy. A device the image does not have is refused with `InvalidBlockDeviceMapping`.
    pub fn encrypt_volume(
        mut self,
        device_name: impl Into<String>,
        key: Option<KmsKeyRef>,
    ) -> Self {
        self.encrypt_volumes.push(EncryptVolume {
            device_name: device_name.into(),
            kms_key_id: key,
        });
        self
    }
    /// Sets the instance type.
    pub fn instance_type(mut self, t: impl Into<String>) -> Self {
        self.instance_type = t.into();
        self
    }
    /// Sets the count.
    pub fn count(mut self, n: u32) -> Self {
        self.count = n;
        self
    }
    /// Adds a tag.
    pub fn tag(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.tags.insert(k.into(), v.into());
        self
    }
    /// Adds an extra volume.
    pub fn extra_volume(mut self, v: VolumeSpec) -> Self {
        self.extra_volumes.push(v);
        self
    }
    /// Sets the idempotency token.
    pub fn client_token(mut self, t: ClientToken) -> Self {
        self.client_token = Some(t);
        self
    }
}

/// DescribeInstances.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeInstancesRequest {
    /// Only these instances.
    pub instance_ids: Vec<InstanceId>,
    /// Filters (`image-id`, `instance-state-name`, `tag:<key>`, `tag-key`, ...).
    pub filters: Vec<Filter>,
    /// Page size.
    pub max_results: Option<u32>,
    /// Token of the page to fetch.
    pub next_token: Option<String>,
}

impl DescribeInstancesRequest {
    /// All instances of the caller.
    pub fn new() -> Self {
        Self::default()
    }
    /// Only these ids.
    pub fn ids(ids: impl IntoIterator<Item = InstanceId>) -> Self {
        DescribeInstancesRequest {
            instance_ids: ids.into_iter().collect(),
            ..Self::default()
        }
    }
    /// Adds a filter.
    pub fn filter(mut self, f: Filter) -> Self {
        self.filters.push(f);
        self
    }
    /// Sets the page size.
    pub fn max_results(mut self, n: u32) -> Self {
        self.max_results = Some(n);
        self
    }
}

/// A change of instance state returned by Start/Stop/TerminateInstances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceStateChange {
    /// The instance.
    pub instance_id: InstanceId,
    /// The state before the call.
    pub previous: crate::model::InstanceState,
    /// The state right after the call.
    pub current: crate::model::InstanceState,
}

/// CreateImage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateImageRequest {
    /// The instance to image.
    pub instance_id: InstanceId,
    /// The image name (3 to 128 characters of `[A-Za-z0-9 ()[]./-'@_]`).
    pub name: String,
    /// The description (at most 255 characters).
    pub description: Option<String>,
    /// Skip the reboot: the image is then only crash-consistent.
    pub no_reboot: bool,
    /// Tags for the new image.
    pub image_tags: Tags,
    /// Tags for every new snapshot.
    pub snapshot_tags: Tags,
}

impl CreateImageRequest {
    /// CreateImage with a reboot (the default, file-system consistent).
    pub fn new(instance_id: InstanceId, name: impl Into<String>) -> Self {
        CreateImageRequest {
            instance_id,
            name: name.into(),
            description: None,
            no_reboot: false,
            image_tags: Tags::new(),
            snapshot_tags: Tags::new(),
        }
    }
    /// Sets the description.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = Some(d.into());
        self
    }
    /// Sets `NoReboot`.
    pub fn no_reboot(mut self, yes: bool) -> Self {
        self.no_reboot = yes;
        self
    }
    /// Adds a tag to the image and to its snapshots.
    pub fn tag(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        let (k, v) = (k.into(), v.into());
        self.image_tags.insert(k.clone(), v.clone());
        self.snapshot_tags.insert(k, v);
        self
    }
}

/// CopyImage (called in the destination Region).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyImageRequest {
    /// The Region of the source image.
    pub source_region: Region,
    /// The source image.
    pub source_image_id: ImageId,
    /// The name of the copy.
    pub name: String,
    /// The description of the copy.
    pub description: Option<String>,
    /// `Encrypted`: `None` keeps the source's encryption state.
    pub encrypted: Option<bool>,
    /// `KmsKeyId` (requires `encrypted = Some(true)`).
    pub kms_key_id: Option<KmsKeyRef>,
    /// Idempotency token.
    pub client_token: Option<ClientToken>,
    /// Copy the caller's own user-defined tags of the source.
    pub copy_image_tags: bool,
    /// Tags for the new image.
    pub image_tags: Tags,
    /// Tags for every new snapshot.
    pub snapshot_tags: Tags,
}

impl CopyImageRequest {
    /// Copy `source_image_id` from `source_region` under `name`.
    pub fn new(source_region: Region, source_image_id: ImageId, name: impl Into<String>) -> Self {
        CopyImageRequest {
            source_region,
            source_image_id,
            name: name.into(),
            description: None,
            encrypted: None,
            kms_key_id: None,
            client_token: None,
            copy_image_tags: false,
            image_tags: Tags::new(),
            snapshot_tags: Tags::new(),
        }
    }
    /// Encrypt the copy with `key` (sets `Encrypted=true` and `KmsKeyId`).
    pub fn encrypt_with(mut self, key: KmsKeyRef) -> Self {
        self.encrypted = Some(true);
        self.kms_key_id = Some(key);
        self
    }
    /// Sets `Encrypted` without a key.
    pub fn encrypted(mut self, yes: bool) -> Self {
        self.encrypted = Some(yes);
        self
    }
    /// Sets the description.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = Some(d.into());
        self
    }
    /// Sets the idempotency token.
    pub fn client_token(mut self, t: ClientToken) -> Self {
        self.client_token = Some(t);
        self
    }
    /// Sets `CopyImageTags`.
    pub fn copy_image_tags(mut self, yes: bool) -> Self {
        self.copy_image_tags = yes;
        self
    }
    /// Adds a tag to the copy and to its snapshots.
    pub fn tag(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        let (k, v) = (k.into(), v.into());
        self.image_tags.insert(k.clone(), v.clone());
        self.snapshot_tags.insert(k, v);
        self
    }
}

/// One block device of RegisterImage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterBlockDevice {
    /// The device name.
    pub device_name: String,
    /// The snapshot (owned by, or shared with, the caller).
    pub snapshot_id: SnapshotId,
    /// Size in GiB; `None` takes the snapshot's size.
    pub volume_size_gib: Option<u32>,
    /// Delete on termination.
    pub delete_on_termination: bool,
}

/// RegisterImage from snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterImageRequest {
    /// The name.
    pub name: String,
    /// The description.
    pub description: Option<String>,
    /// The architecture (`x86_64`, `arm64`).
    pub architecture: String,
    /// The root device name.
    pub root_device_name: String,
    /// The block devices; one must be the root device.
    pub block_devices: Vec<RegisterBlockDevice>,
    /// Tags for the image.
    pub image_tags: Tags,
}

impl RegisterImageRequest {
    /// An x86_64 image whose root device `/dev/xvda` is `root_snapshot`.
    pub fn new(name: impl Into<String>, root_snapshot: SnapshotId) -> Self {
        RegisterImageRequest {
            name: name.into(),
            description: None,
            architecture: "x86_64".into(),
            root_device_name: "/dev/xvda".into(),
            block_devices: vec![RegisterBlockDevice {
                device_name: "/dev/xvda".into(),
                snapshot_id: root_snapshot,
                volume_size_gib: None,
                delete_on_termination: true,
            }],
            image_tags: Tags::new(),
        }
    }
}

/// DeregisterImage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeregisterImageRequest {
    /// The image.
    pub image_id: ImageId,
    /// Also delete the snapshots no other image uses (`DeleteAssociatedSnapshots`).
    pub delete_associated_snapshots: bool,
}

impl DeregisterImageRequest {
    /// Deregister, keeping the snapshots (AWS's default).
    pub fn new(image_id: ImageId) -> Self {
        DeregisterImageRequest {
            image_id,
            delete_associated_snapshots: false,
        }
    }
    /// Also delete the snapshots no other image uses.
    pub fn with_snapshots(mut self) -> Self {
        self.delete_associated_snapshots = true;
        self
    }
}

/// Permissions to add and to remove in one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionChanges<T> {
    /// Grants to add.
    pub add: Vec<T>,
    /// Grants to remove.
    pub remove: Vec<T>,
}

impl<T> Default for PermissionChanges<T> {
    fn default() -> Self {
        PermissionChanges {
            add: Vec::new(),
            remove: Vec::new(),
        }
    }
}

impl<T> PermissionChanges<T> {
    /// Only additions.
    pub fn add(add: impl IntoIterator<Item = T>) -> Self {
        PermissionChanges {
            add: add.into_iter().collect(),
            remove: Vec::new(),
        }
    }
    /// Only removals.
    pub fn remove(remove: impl IntoIterator<Item = T>) -> Self {
        PermissionChanges {
            add: Vec::new(),
            remove: remove.into_iter().collect(),
        }
    }
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// DescribeSnapshots.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeSnapshotsRequest {
    /// Only these snapshots.
    pub snapshot_ids: Vec<SnapshotId>,
    /// Only snapshots of these owners.
    pub owners: Vec<Owner>,
    /// Only snapshots these accounts may create volumes from.
    pub restorable_by: Vec<AccountId>,
    /// Filters (`tag:<key>`, `status`, `encrypted`, `description`, ...).
    pub filters: Vec<Filter>,
    /// Page size.
    pub max_results: Option<u32>,
    /// Token of the page to fetch.
    pub next_token: Option<String>,
}

impl DescribeSnapshotsRequest {
    /// The caller's own snapshots.
    pub fn owned() -> Self {
        DescribeSnapshotsRequest {
            owners: vec![Owner::SelfAccount],
            ..Self::default()
        }
    }
    /// Only these ids.
    pub fn ids(ids: impl IntoIterator<Item = SnapshotId>) -> Self {
        DescribeSnapshotsRequest {
            snapshot_ids: ids.into_iter().collect(),
            ..Self::default()
        }
    }
    /// Adds a filter.
    pub fn filter(mut self, f: Filter) -> Self {
        self.filters.push(f);
        self
    }
    /// Adds an owner (`self`, `amazon` or an account id).
    pub fn owner(mut self, o: Owner) -> Self {
        self.owners.push(o);
        self
    }
    /// Adds an account that must be allowed to create volumes from the snapshots.
    pub fn restorable_by(mut self, a: AccountId) -> Self {
        self.restorable_by.push(a);
        self
    }
    /// Sets the page size (AWS: 5 to 1,000 when no ids are given).
    pub fn max_results(mut self, n: u32) -> Self {
        self.max_results = Some(n);
        self
    }
    /// Sets the token of the page to fetch.
    pub fn next_token(mut self, t: impl Into<String>) -> Self {
        self.next_token = Some(t.into());
        self
    }
}

/// CreateKey.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateKeyRequest {
    /// The description.
    pub description: String,
    /// The key policy (default: the owner account may do everything).
    pub policy: Option<KeyPolicy>,
    /// Create a multi-Region primary key (`mrk-...`).
    pub multi_region: bool,
    /// Tags.
    pub tags: Tags,
}

impl CreateKeyRequest {
    /// A symmetric customer managed key with the default policy.
    pub fn new(description: impl Into<String>) -> Self {
        CreateKeyRequest {
            description: description.into(),
            ..Self::default()
        }
    }
    /// Sets the key policy.
    pub fn policy(mut self, p: KeyPolicy) -> Self {
        self.policy = Some(p);
        self
    }
    /// Makes it a multi-Region key.
    pub fn multi_region(mut self, yes: bool) -> Self {
        self.multi_region = yes;
        self
    }
}

/// CreateGrant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateGrantRequest {
    /// The key (an ARN to name a key of another account).
    pub key: KmsKeyRef,
    /// The account the grant is for.
    pub grantee: AccountId,
    /// What it allows.
    pub operations: BTreeSet<KmsAction>,
    /// A name; AWS makes CreateGrant with the same name and parameters idempotent.
    pub name: Option<String>,
}
