//! The domain model: images, snapshots, instances, KMS keys and the permissions between them.
//!
//! These are plain values (no I/O). Every implementation of the [`Ec2`](crate::Ec2) and
//! [`Kms`](crate::Kms) traits returns them, so workflows never see an SDK type.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::id::{
    AccountId, ImageId, InstanceId, KmsKeyRef, OrganizationArn, OrganizationalUnitArn, Region,
    SnapshotId, VolumeId,
};
use crate::time::Timestamp;

/// Resource tags: key → value, ordered so output is deterministic.
pub type Tags = BTreeMap<String, String>;

/// The state of an image (AWS `ImageState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageState {
    /// Being created, copied or registered; not yet usable.
    Pending,
    /// Ready to launch, share and copy.
    Available,
    /// Creation failed; the image carries a [`StateReason`].
    Failed,
    /// Deregistered (briefly visible before it disappears).
    Deregistered,
    /// Disabled by its owner: private, not launchable, hidden unless asked for.
    Disabled,
    /// Documented by AWS but never entered by the core flows.
    Invalid,
    /// Documented by AWS but never entered by the core flows.
    Transient,
    /// Documented by AWS but never entered by the core flows.
    Error,
}

impl ImageState {
    /// The AWS wire name (`pending`, `available`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ImageState::Pending => "pending",
            ImageState::Available => "available",
            ImageState::Failed => "failed",
            ImageState::Deregistered => "deregistered",
            ImageState::Disabled => "disabled",
            ImageState::Invalid => "invalid",
            ImageState::Transient => "transient",
            ImageState::Error => "error",
        }
    }

    /// All states, in declaration order.
    pub const ALL: [ImageState; 8] = [
        ImageState::Pending,
        ImageState::Available,
        ImageState::Failed,
        ImageState::Deregistered,
        ImageState::Disabled,
        ImageState::Invalid,
        ImageState::Transient,
        ImageState::Error,
    ];
}

impl fmt::Display for ImageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ImageState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ImageState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown image state {s:?}"))
    }
}

/// Why an image (or instance) reached its state: AWS `StateReason{Code, Message}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StateReason {
    /// The reason code (e.g. `Client.InternalError`, `Server.InternalError`).
    pub code: String,
    /// A human-readable explanation.
    pub message: String,
}

/// The verified provider alias of an image owner (AWS `ImageOwnerAlias`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum OwnerAlias {
    /// Images published by Amazon.
    #[serde(rename = "amazon")]
    Amazon,
    /// AWS Marketplace images.
    #[serde(rename = "aws-marketplace")]
    AwsMarketplace,
    /// Images restored from AWS Backup vaults.
    #[serde(rename = "aws-backup-vault")]
    AwsBackupVault,
}

impl OwnerAlias {
    /// The AWS wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerAlias::Amazon => "amazon",
            OwnerAlias::AwsMarketplace => "aws-marketplace",
            OwnerAlias::AwsBackupVault => "aws-backup-vault",
        }
    }
}

impl fmt::Display for OwnerAlias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OwnerAlias {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "amazon" => Ok(OwnerAlias::Amazon),
            "aws-marketplace" => Ok(OwnerAlias::AwsMarketplace),
            "aws-backup-vault" => Ok(OwnerAlias::AwsBackupVault),
            _ => Err(format!("unknown owner alias {s:?}")),
        }
    }
}

/// The kind of a product code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProductCodeType {
    /// An AWS Marketplace product.
    Marketplace,
    /// A legacy DevPay product.
    Devpay,
}

/// A product code attached to an image (Marketplace or DevPay).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ProductCode {
    /// The product code id.
    pub id: String,
    /// Marketplace or DevPay.
    pub kind: ProductCodeType,
}

/// Who manages a KMS key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum KeyManager {
    /// An AWS managed key (`alias/aws/*`, e.g. the EBS default key). It can never be shared.
    Aws,
    /// A customer managed key: its key policy and grants can admit other accounts.
    Customer,
}

/// How a volume or snapshot is encrypted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Encryption {
    /// The key, as a key ARN when known.
    pub key: KmsKeyRef,
    /// Whether AWS or the customer manages the key.
    pub manager: KeyManager,
}

/// One block device of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockDevice {
    /// The device name, e.g. `/dev/xvda`.
    pub device_name: String,
    /// The backing snapshot (EBS devices).
    pub snapshot_id: Option<SnapshotId>,
    /// Volume size in GiB.
    pub volume_size_gib: u32,
    /// Encryption of the backing snapshot, if encrypted.
    pub encryption: Option<Encryption>,
    /// Whether the volume is deleted when the instance terminates.
    pub delete_on_termination: bool,
}

/// Deregistration protection of an image (AWS `DeregistrationProtection`, a string on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum DeregistrationProtection {
    /// Off: the owner can deregister.
    #[default]
    Disabled,
    /// On, without cooldown: disabling it lifts protection at once.
    Enabled,
    /// On, with a 24 h cooldown after it is disabled.
    EnabledWithCooldown,
    /// Disabled, but the cooldown keeps protection in force until the given time.
    DisabledAfter(Timestamp),
}

impl DeregistrationProtection {
    /// Whether DeregisterImage is refused at `now`.
    pub fn protects_at(self, now: Timestamp) -> bool {
        match self {
            DeregistrationProtection::Disabled => false,
            DeregistrationProtection::Enabled | DeregistrationProtection::EnabledWithCooldown => {
                true
            }
            DeregistrationProtection::DisabledAfter(until) => now < until,
        }
    }

    /// The AWS wire string: `disabled`, `enabled-without-cooldown`, `enabled-with-cooldown` or
    /// `disabled after <RFC 3339 time>`.
    pub fn to_wire(self) -> String {
        match self {
            DeregistrationProtection::Disabled => "disabled".into(),
            DeregistrationProtection::Enabled => "enabled-without-cooldown".into(),
            DeregistrationProtection::EnabledWithCooldown => "enabled-with-cooldown".into(),
            DeregistrationProtection::DisabledAfter(t) => format!("disabled after {t}"),
        }
    }

    /// Parses the AWS wire string (unknown forms read as `Disabled`).
    pub fn from_wire(s: &str) -> Self {
        match s {
            "enabled-with-cooldown" => DeregistrationProtection::EnabledWithCooldown,
            "enabled" | "enabled-without-cooldown" => DeregistrationProtection::Enabled,
            _ => s
                .strip_prefix("disabled after ")
                .and_then(|t| t.trim().parse().ok())
                .map(DeregistrationProtection::DisabledAfter)
                .unwrap_or(DeregistrationProtection::Disabled),
        }
    }
}

/// An Amazon Machine Image, as DescribeImages shows it to the caller.
///
/// Launch permissions are not part of it (AWS returns them only through DescribeImageAttribute,
/// and only to the owner); see [`LaunchPermission`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// The image id.
    pub id: ImageId,
    /// The Region the image lives in (images are regional).
    pub region: Region,
    /// The name, unique per account and Region.
    pub name: String,
    /// The description.
    pub description: Option<String>,
    /// The owning account.
    pub owner: AccountId,
    /// The provider alias of the owner, for Amazon, Marketplace and Backup images.
    pub owner_alias: Option<OwnerAlias>,
    /// The state.
    pub state: ImageState,
    /// Why the image is in its state (filled for `failed`).
    pub state_reason: Option<StateReason>,
    /// Whether anyone can launch it (launch permission group `all`).
    pub public: bool,
    /// The block devices, with their snapshots and encryption.
    pub block_devices: Vec<BlockDevice>,
    /// The root device name.
    pub root_device_name: String,
    /// The architecture, e.g. `x86_64` or `arm64`.
    pub architecture: String,
    /// Product codes (Marketplace / DevPay).
    pub product_codes: Vec<ProductCode>,
    /// Tags (only the owner sees them).
    pub tags: Tags,
    /// When the image was created.
    pub creation_time: Timestamp,
    /// When the image is (or was) deprecated.
    pub deprecation_time: Option<Timestamp>,
    /// Deregistration protection.
    pub deregistration_protection: DeregistrationProtection,
    /// The image this one was copied or created from (lineage).
    pub source_image_id: Option<ImageId>,
    /// The Region of [`source_image_id`](Self::source_image_id).
    pub source_region: Option<Region>,
    /// The instance CreateImage was called on.
    pub source_instance_id: Option<InstanceId>,
    /// When the image was last used to launch an instance (reported with a delay on AWS).
    pub last_launched_time: Option<Timestamp>,
}

impl Image {
    /// Whether any backing snapshot is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.block_devices.iter().any(|d| d.encryption.is_some())
    }

    /// The distinct KMS keys of the backing snapshots, in device order.
    pub fn kms_keys(&self) -> Vec<&Encryption> {
        let mut seen = BTreeSet::new();
        self.block_devices
            .iter()
            .filter_map(|d| d.encryption.as_ref())
            .filter(|e| seen.insert(&e.key))
            .collect()
    }

    /// The backing snapshots, in device order.
    pub fn snapshot_ids(&self) -> Vec<&SnapshotId> {
        self.block_devices
            .iter()
            .filter_map(|d| d.snapshot_id.as_ref())
            .collect()
    }

    /// Whether the image is deprecated at `now` (a deprecation time in the future does not count).
    pub fn is_deprecated_at(&self, now: Timestamp) -> bool {
        self.deprecation_time.is_some_and(|t| t <= now)
    }

    /// Whether it carries a Marketplace product code.
    pub fn is_marketplace(&self) -> bool {
        self.owner_alias == Some(OwnerAlias::AwsMarketplace)
            || self
                .product_codes
                .iter()
                .any(|p| p.kind == ProductCodeType::Marketplace)
    }

    /// The image ARN: `arn:aws:ec2:<region>::image/<id>` (no account field).
    pub fn arn(&self) -> String {
        format!(
            "arn:{}:ec2:{}::image/{}",
            self.region.partition(),
            self.region,
            self.id
        )
    }
}

/// Who may launch an image besides its owner.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum LaunchPermission {
    /// One account.
    Account(AccountId),
    /// Everyone (group `all`): the image is public.
    Public,
    /// Every account of an organization.
    Organization(OrganizationArn),
    /// Every account of an organizational unit and its nested OUs.
    OrganizationalUnit(OrganizationalUnitArn),
}

impl fmt::Display for LaunchPermission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LaunchPermission::Account(a) => write!(f, "account {a}"),
            LaunchPermission::Public => f.write_str("group all (public)"),
            LaunchPermission::Organization(o) => write!(f, "organization {o}"),
            LaunchPermission::OrganizationalUnit(o) => write!(f, "OU {o}"),
        }
    }
}

/// Who may create volumes from (and so copy) a snapshot besides its owner.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CreateVolumePermission {
    /// One account.
    Account(AccountId),
    /// Everyone (group `all`).
    Public,
}

/// The state of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotState {
    /// Being taken or copied.
    Pending,
    /// Complete.
    Completed,
    /// Failed.
    Error,
}

/// An EBS snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The snapshot id.
    pub id: SnapshotId,
    /// The Region it lives in.
    pub region: Region,
    /// The owning account.
    pub owner: AccountId,
    /// The volume it was taken from, if any.
    pub volume_id: Option<VolumeId>,
    /// Size in GiB.
    pub volume_size_gib: u32,
    /// The state.
    pub state: SnapshotState,
    /// Encryption, if encrypted.
    pub encryption: Option<Encryption>,
    /// The description (AWS fills one in for CreateImage and CopyImage).
    pub description: String,
    /// Tags.
    pub tags: Tags,
    /// When the snapshot was started.
    pub start_time: Timestamp,
}

/// The state of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceState {
    /// Starting.
    Pending,
    /// Running.
    Running,
    /// Shutting down before stop.
    Stopping,
    /// Stopped; volumes kept.
    Stopped,
    /// Shutting down before termination.
    ShuttingDown,
    /// Terminated; gone soon.
    Terminated,
}

impl InstanceState {
    /// The AWS wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Pending => "pending",
            InstanceState::Running => "running",
            InstanceState::Stopping => "stopping",
            InstanceState::Stopped => "stopped",
            InstanceState::ShuttingDown => "shutting-down",
            InstanceState::Terminated => "terminated",
        }
    }

    /// All states, in declaration order.
    pub const ALL: [InstanceState; 6] = [
        InstanceState::Pending,
        InstanceState::Running,
        InstanceState::Stopping,
        InstanceState::Stopped,
        InstanceState::ShuttingDown,
        InstanceState::Terminated,
    ];
}

impl fmt::Display for InstanceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for InstanceState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        InstanceState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown instance state {s:?}"))
    }
}

/// An EBS volume attached to an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachedVolume {
    /// The device name, e.g. `/dev/xvda`.
    pub device_name: String,
    /// The volume id.
    pub volume_id: VolumeId,
    /// Size in GiB.
    pub size_gib: u32,
    /// Encryption, if encrypted.
    pub encryption: Option<Encryption>,
    /// Whether it is deleted when the instance terminates.
    pub delete_on_termination: bool,
}

/// An EC2 instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// The instance id.
    pub id: InstanceId,
    /// The Region.
    pub region: Region,
    /// The account that launched it.
    pub owner: AccountId,
    /// The image it was launched from.
    pub image_id: ImageId,
    /// The instance type, e.g. `t3.micro`.
    pub instance_type: String,
    /// The state.
    pub state: InstanceState,
    /// Why it is in its state, if AWS said.
    pub state_reason: Option<StateReason>,
    /// When it was launched.
    pub launch_time: Timestamp,
    /// Attached EBS volumes; the first is the root.
    pub volumes: Vec<AttachedVolume>,
    /// The product codes it carries from its image (Marketplace images), as DescribeInstances
    /// answers `productCodes`.
    #[serde(default)]
    pub product_codes: Vec<ProductCode>,
    /// Tags.
    pub tags: Tags,
}

/// An action a KMS key policy or grant can allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum KmsAction {
    /// `kms:DescribeKey`
    DescribeKey,
    /// `kms:CreateGrant`
    CreateGrant,
    /// `kms:Decrypt`
    Decrypt,
    /// `kms:Encrypt`
    Encrypt,
    /// `kms:GenerateDataKey*`
    GenerateDataKey,
    /// `kms:ReEncrypt*`
    ReEncrypt,
}

impl KmsAction {
    /// The IAM action name as it appears in a key policy (`kms:Decrypt`, `kms:ReEncrypt*`, ...).
    pub fn as_policy_action(self) -> &'static str {
        match self {
            KmsAction::DescribeKey => "kms:DescribeKey",
            KmsAction::CreateGrant => "kms:CreateGrant",
            KmsAction::Decrypt => "kms:Decrypt",
            KmsAction::Encrypt => "kms:Encrypt",
            KmsAction::GenerateDataKey => "kms:GenerateDataKey*",
            KmsAction::ReEncrypt => "kms:ReEncrypt*",
        }
    }

    /// The grant operation names (grants list `Decrypt`, `ReEncryptFrom`, ...).
    pub fn as_grant_operations(self) -> &'static [&'static str] {
        match self {
            KmsAction::DescribeKey => &["DescribeKey"],
            KmsAction::CreateGrant => &["CreateGrant"],
            KmsAction::Decrypt => &["Decrypt"],
            KmsAction::Encrypt => &["Encrypt"],
            KmsAction::GenerateDataKey => &["GenerateDataKey", "GenerateDataKeyWithoutPlaintext"],
            KmsAction::ReEncrypt => &["ReEncryptFrom", "ReEncryptTo"],
        }
    }

    /// Parses a policy action (`kms:Decrypt`) or grant operation (`Decrypt`) name.
    pub fn from_name(s: &str) -> Option<Self> {
        let s = s.strip_prefix("kms:").unwrap_or(s);
        Some(match s {
            "DescribeKey" => KmsAction::DescribeKey,
            "CreateGrant" => KmsAction::CreateGrant,
            "Decrypt" => KmsAction::Decrypt,
            "Encrypt" => KmsAction::Encrypt,
            "GenerateDataKey*" | "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext" => {
                KmsAction::GenerateDataKey
            }
            "ReEncrypt*" | "ReEncryptFrom" | "ReEncryptTo" => KmsAction::ReEncrypt,
            _ => return None,
        })
    }

    /// What a consumer account needs on the key of an encrypted snapshot to launch from or copy
    /// the image: DescribeKey, CreateGrant, Decrypt, ReEncrypt*, GenerateDataKey*.
    pub const CONSUMER: [KmsAction; 5] = [
        KmsAction::DescribeKey,
        KmsAction::CreateGrant,
        KmsAction::Decrypt,
        KmsAction::ReEncrypt,
        KmsAction::GenerateDataKey,
    ];
}

/// A principal in a key policy statement.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum KeyPrincipal {
    /// An account root (`arn:aws:iam::<account>:root`), i.e. the account's IAM principals.
    Account(AccountId),
    /// Any principal (`*`), usually narrowed by an organization condition.
    Any,
}

/// One `Allow` statement of a key policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPolicyStatement {
    /// The statement id.
    pub sid: String,
    /// Who it admits.
    pub principals: BTreeSet<KeyPrincipal>,
    /// What it allows.
    pub actions: BTreeSet<KmsAction>,
    /// `aws:PrincipalOrgID` condition: only principals of this organization (`o-...`).
    pub principal_org_id: Option<String>,
    /// `aws:PrincipalOrgPaths` condition (`ForAnyValue:StringLike`): only principals whose
    /// organization path (`o-…/r-…/ou-…/…/`) matches one of these patterns, where `*` is any
    /// run of characters and `?` any one; empty for no such condition. This is how a key
    /// policy admits one OU (and the OUs nested in it) rather than a whole organization.
    #[serde(default)]
    pub principal_org_paths: BTreeSet<String>,
}

/// A KMS key policy, as the `Allow` statements this library understands.
///
/// [`KeyPolicy::to_json`] renders the IAM policy document AWS stores; [`KeyPolicy::from_json`]
/// reads one back, keeping the statements it cannot express in [`KeyPolicy::opaque`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KeyPolicy {
    /// The statements.
    pub statements: Vec<KeyPolicyStatement>,
    /// Statements of a policy read from AWS that are not plain `Allow` statements of KMS
    /// actions, kept verbatim (JSON) so writing the policy back loses nothing.
    pub opaque: Vec<String>,
}

impl KeyPolicy {
    /// The default policy of a new key: the owner account's root may do everything.
    pub fn default_for(owner: &AccountId) -> Self {
        KeyPolicy {
            statements: vec![KeyPolicyStatement {
                sid: "Enable IAM User Permissions".into(),
                principals: [KeyPrincipal::Account(owner.clone())].into(),
                actions: [
                    KmsAction::DescribeKey,
                    KmsAction::CreateGrant,
                    KmsAction::Decrypt,
                    KmsAction::Encrypt,
                    KmsAction::GenerateDataKey,
                    KmsAction::ReEncrypt,
                ]
                .into(),
                principal_org_id: None,
                principal_org_paths: BTreeSet::new(),
            }],
            opaque: Vec::new(),
        }
    }

    /// Whether `account` (member of `org_id`, if any) may perform `action` under this policy.
    /// The organization path is taken as unknown, so a statement narrowed to organization
    /// paths admits nobody here; [`allows_principal`](Self::allows_principal) takes the path.
    pub fn allows(&self, account: &AccountId, org_id: Option<&str>, action: KmsAction) -> bool {
        self.allows_principal(account, org_id, None, action)
    }

    /// Whether `account`, member of `org_id` with the organization path `org_path`
    /// (`o-…/r-…/ou-…/…/`, as `aws:PrincipalOrgPaths` gives it), may perform `action` under
    /// this policy.
    pub fn allows_principal(
        &self,
        account: &AccountId,
        org_id: Option<&str>,
        org_path: Option<&str>,
        action: KmsAction,
    ) -> bool {
        self.statements.iter().any(|s| {
            s.actions.contains(&action)
                && (s
                    .principals
                    .contains(&KeyPrincipal::Account(account.clone()))
                    || s.principals.contains(&KeyPrincipal::Any))
                && match &s.principal_org_id {
                    None => true,
                    Some(o) => org_id == Some(o.as_str()),
                }
                && (s.principal_org_paths.is_empty()
                    || org_path.is_some_and(|path| {
                        s.principal_org_paths
                            .iter()
                            .any(|pattern| crate::wildcard::matches(pattern, path))
                    }))
        })
    }

    /// Renders the policy as the IAM JSON document (Version 2012-10-17).
    pub fn to_json(&self, partition: &str) -> String {
        let mut statements: Vec<serde_json::Value> = self
            .statements
            .iter()
            .map(|s| {
                let principals: Vec<String> = s
                    .principals
                    .iter()
                    .map(|p| match p {
                        KeyPrincipal::Account(a) => format!("arn:{partition}:iam::{a}:root"),
                        KeyPrincipal::Any => "*".into(),
                    })
                    .collect();
                let principal = if principals.iter().any(|p| p == "*") {
                    serde_json::json!("*")
                } else {
                    serde_json::json!({ "AWS": principals })
                };
                let actions: Vec<&str> = s.actions.iter().map(|a| a.as_policy_action()).collect();
                let mut st = serde_json::json!({
                    "Sid": s.sid,
                    "Effect": "Allow",
                    "Principal": principal,
                    "Action": actions,
                    "Resource": "*",
                });
                if let Some(org) = &s.principal_org_id {
                    st["Condition"]["StringEquals"] =
                        serde_json::json!({ "aws:PrincipalOrgID": org });
                }
                if !s.principal_org_paths.is_empty() {
                    st["Condition"]["ForAnyValue:StringLike"] =
                        serde_json::json!({ "aws:PrincipalOrgPaths": s.principal_org_paths });
                }
                st
            })
            .collect();
        statements.extend(
            self.opaque
                .iter()
                .filter_map(|s| serde_json::from_str::<serde_json::Value>(s).ok()),
        );
        serde_json::json!({ "Version": "2012-10-17", "Id": "key-policy", "Statement": statements })
            .to_string()
    }

    /// Reads an IAM JSON key policy. Statements that are not `Allow` statements over KMS
    /// actions with account-root or `*` principals are kept in [`opaque`](Self::opaque).
    pub fn from_json(json: &str) -> Result<Self, String> {
        let doc: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("key policy is not JSON: {e}"))?;
        let stmts = match &doc["Statement"] {
            serde_json::Value::Array(a) => a.clone(),
            serde_json::Value::Object(_) => vec![doc["Statement"].clone()],
            _ => return Err("key policy has no Statement".into()),
        };
        let mut policy = KeyPolicy::default();
        for (i, st) in stmts.into_iter().enumerate() {
            match parse_statement(&st, i) {
                Some(s) => policy.statements.push(s),
                None => policy.opaque.push(st.to_string()),
            }
        }
        Ok(policy)
    }
}

fn as_str_list(v: &serde_json::Value) -> Option<Vec<String>> {
    match v {
        serde_json::Value::String(s) => Some(vec![s.clone()]),
        serde_json::Value::Array(a) => a.iter().map(|x| x.as_str().map(str::to_owned)).collect(),
        _ => None,
    }
}

fn parse_statement(st: &serde_json::Value, index: usize) -> Option<KeyPolicyStatement> {
    if st["Effect"].as_str()? != "Allow" {
        return None;
    }
    let mut actions = BTreeSet::new();
    for a in as_str_list(&st["Action"])? {
        if a == "kms:*" {
            actions.extend([
                KmsAction::DescribeKey,
                KmsAction::CreateGrant,
                KmsAction::Decrypt,
                KmsAction::Encrypt,
                KmsAction::GenerateDataKey,
                KmsAction::ReEncrypt,
            ]);
        } else {
            actions.insert(KmsAction::from_name(&a)?);
        }
    }
    let principal_list = match &st["Principal"] {
        serde_json::Value::String(s) => vec![s.clone()],
        p => as_str_list(&p["AWS"])?,
    };
    let mut principals = BTreeSet::new();
    for p in principal_list {
        if p == "*" {
            principals.insert(KeyPrincipal::Any);
        } else if let Ok(a) = AccountId::parse(&p) {
            principals.insert(KeyPrincipal::Account(a));
        } else {
            let account = p
                .strip_suffix(":root")
                .and_then(|r| r.rsplit(':').next())
                .and_then(|a| AccountId::parse(a).ok())?;
            principals.insert(KeyPrincipal::Account(account));
        }
    }
    // The two organization conditions this library writes, alone or together; a statement
    // with any other condition is kept opaque.
    let (mut principal_org_id, mut principal_org_paths) = (None, BTreeSet::new());
    match &st["Condition"] {
        serde_json::Value::Null => {}
        c => {
            for (operator, keys) in c.as_object()? {
                let keys = keys.as_object()?;
                match (operator.as_str(), keys.len()) {
                    ("StringEquals", 1) => {
                        principal_org_id =
                            Some(keys.get("aws:PrincipalOrgID")?.as_str()?.to_owned());
                    }
                    ("ForAnyValue:StringLike", 1) => {
                        principal_org_paths = as_str_list(keys.get("aws:PrincipalOrgPaths")?)?
                            .into_iter()
                            .collect();
                    }
                    _ => return None,
                }
            }
        }
    }
    Some(KeyPolicyStatement {
        sid: st["Sid"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("statement-{index}")),
        principals,
        actions,
        principal_org_id,
        principal_org_paths,
    })
}

/// A KMS grant: a delegated permission of one principal on one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The grant id.
    pub id: String,
    /// The key ARN.
    pub key_arn: KmsKeyRef,
    /// The account the grant is for.
    pub grantee: AccountId,
    /// What it allows.
    pub operations: BTreeSet<KmsAction>,
    /// The grant's name, if given.
    pub name: Option<String>,
}

/// The state of a KMS key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyState {
    /// Usable.
    Enabled,
    /// Disabled by its owner.
    Disabled,
    /// Scheduled for deletion.
    PendingDeletion,
}

/// A KMS key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KmsKey {
    /// The key id (UUID or `mrk-...`).
    pub key_id: String,
    /// The key ARN.
    pub arn: KmsKeyRef,
    /// The owning account.
    pub owner: AccountId,
    /// The Region.
    pub region: Region,
    /// AWS or customer managed.
    pub manager: KeyManager,
    /// The state.
    pub state: KeyState,
    /// The description.
    pub description: String,
    /// Whether it is a multi-Region key.
    pub multi_region: bool,
    /// Aliases (`alias/...`) pointing at the key.
    pub aliases: Vec<String>,
    /// When it was created.
    pub creation_time: Timestamp,
}

/// The per-account, per-Region setting that blocks new public sharing of images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BlockPublicAccessState {
    /// New public sharing is blocked (`block-new-sharing`).
    BlockNewSharing,
    /// Public sharing is allowed (`unblocked`).
    Unblocked,
}

impl BlockPublicAccessState {
    /// The AWS wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            BlockPublicAccessState::BlockNewSharing => "block-new-sharing",
            BlockPublicAccessState::Unblocked => "unblocked",
        }
    }
}

/// A resource that tags can be put on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ResourceId {
    /// An image.
    Image(ImageId),
    /// A snapshot.
    Snapshot(SnapshotId),
    /// An instance.
    Instance(InstanceId),
    /// A volume.
    Volume(VolumeId),
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourceId::Image(i) => i.fmt(f),
            ResourceId::Snapshot(i) => i.fmt(f),
            ResourceId::Instance(i) => i.fmt(f),
            ResourceId::Volume(i) => i.fmt(f),
        }
    }
}

impl From<ImageId> for ResourceId {
    fn from(i: ImageId) -> Self {
        ResourceId::Image(i)
    }
}
impl From<SnapshotId> for ResourceId {
    fn from(i: SnapshotId) -> Self {
        ResourceId::Snapshot(i)
    }
}
impl From<InstanceId> for ResourceId {
    fn from(i: InstanceId) -> Self {
        ResourceId::Instance(i)
    }
}
impl From<VolumeId> for ResourceId {
    fn from(i: VolumeId) -> Self {
        ResourceId::Volume(i)
    }
}

/// The outcome of deleting one snapshot during DeregisterImage (AWS `DeleteSnapshotReturnCode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeleteSnapshotOutcome {
    /// Deleted.
    Success,
    /// Kept because another image uses it.
    Skipped,
    /// The caller may not delete it.
    MissingPermissions,
    /// AWS failed internally.
    InternalError,
    /// The request was wrong.
    ClientError,
}

/// One entry of DeregisterImage's `DeleteSnapshotResults`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteSnapshotResult {
    /// The snapshot.
    pub snapshot_id: SnapshotId,
    /// What happened to it.
    pub outcome: DeleteSnapshotOutcome,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protection_wire_round_trip() {
        let t: Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
        for p in [
            DeregistrationProtection::Disabled,
            DeregistrationProtection::Enabled,
            DeregistrationProtection::EnabledWithCooldown,
            DeregistrationProtection::DisabledAfter(t),
        ] {
            assert_eq!(DeregistrationProtection::from_wire(&p.to_wire()), p);
        }
        let before = Timestamp::from_secs(t.as_secs() - 1);
        assert!(DeregistrationProtection::DisabledAfter(t).protects_at(before));
        assert!(!DeregistrationProtection::DisabledAfter(t).protects_at(t));
    }

    #[test]
    fn key_policy_json_round_trip() {
        let owner = AccountId::parse("111122223333").unwrap();
        let consumer = AccountId::parse("444455556666").unwrap();
        let mut p = KeyPolicy::default_for(&owner);
        p.statements.push(KeyPolicyStatement {
            sid: "consumers".into(),
            principals: [KeyPrincipal::Account(consumer.clone())].into(),
            actions: KmsAction::CONSUMER.into(),
            principal_org_id: None,
            principal_org_paths: BTreeSet::new(),
        });
        p.statements.push(KeyPolicyStatement {
            sid: "one OU".into(),
            principals: [KeyPrincipal::Any].into(),
            actions: KmsAction::CONSUMER.into(),
            principal_org_id: Some("o-abcdefghij".into()),
            principal_org_paths: ["o-abcdefghij/r-ab12/*ou-ab12-11111111/*".to_owned()].into(),
        });
        p.opaque.push(
            r#"{"Effect":"Deny","Principal":"*","Action":"kms:ScheduleKeyDeletion","Resource":"*"}"#
                .into(),
        );
        let json = p.to_json("aws");
        let back = KeyPolicy::from_json(&json).unwrap();
        assert_eq!(back.statements, p.statements);
        assert_eq!(back.opaque.len(), 1);
        assert!(back.allows(&consumer, None, KmsAction::Decrypt));
        assert!(!back.allows(&consumer, None, KmsAction::Encrypt));
        let stranger = AccountId::parse("777788889999").unwrap();
        assert!(!back.allows(&stranger, None, KmsAction::Decrypt));
        // The OU statement: only paths through the OU, in its organization.
        let org = Some("o-abcdefghij");
        let in_ou = "o-abcdefghij/r-ab12/ou-ab12-11111111/";
        let nested = "o-abcdefghij/r-ab12/ou-ab12-11111111/ou-ab12-22222222/";
        let under_parent = "o-abcdefghij/r-ab12/ou-ab12-00000000/ou-ab12-11111111/";
        let elsewhere = "o-abcdefghij/r-ab12/ou-ab12-33333333/";
        for (path, admitted) in [
            (in_ou, true),
            (nested, true),
            (under_parent, true),
            (elsewhere, false),
            ("o-abcdefghij/r-ab12/", false),
        ] {
            assert_eq!(
                back.allows_principal(&stranger, org, Some(path), KmsAction::Decrypt),
                admitted,
                "{path}"
            );
        }
        assert!(
            !back.allows(&stranger, org, KmsAction::Decrypt),
            "path unknown"
        );
        assert!(!back.allows_principal(
            &stranger,
            Some("o-zzzzzzzzzz"),
            Some(in_ou),
            KmsAction::Decrypt
        ));
    }

    /// Key policy statements with conditions this library does not write stay opaque.
    #[test]
    fn key_policy_other_conditions_stay_opaque() {
        let json = r#"{"Statement":[{"Sid":"a","Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}},{"Sid":"b","Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abcdefghij"},"ForAnyValue:StringLike":{"aws:PrincipalOrgPaths":"o-abcdefghij/r-ab12/ou-ab12-11111111/*"}}}]}"#;
        let p = KeyPolicy::from_json(json).unwrap();
        assert_eq!(p.opaque.len(), 1, "the kms:ViaService statement");
        assert_eq!(p.statements.len(), 1);
        assert_eq!(
            p.statements[0].principal_org_paths,
            ["o-abcdefghij/r-ab12/ou-ab12-11111111/*".to_owned()].into()
        );
    }
}
