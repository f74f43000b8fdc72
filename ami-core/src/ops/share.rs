//! Sharing an image: launch permissions, snapshot create-volume permissions and KMS key access,
//! planned as a diff, then applied; and undone the same way.
//!
//! A consumer account needs up to three grants from the owner:
//!
//! 1. a **launch permission** on the image (account, organization, OU or public);
//! 2. **createVolumePermission** on every snapshot of the image, if it must be able to *copy*
//!    the image ([`ShareSpec::allow_copy`]);
//! 3. for every **customer managed KMS key** of the image's snapshots, a key policy statement
//!    allowing exactly [`KmsAction::CONSUMER`] to exactly the target accounts, to the target
//!    organizations (through `aws:PrincipalOrgID`), or to the accounts of the target OUs and
//!    the OUs nested in them (`aws:PrincipalOrgPaths` matching [`ou_path_pattern`], and nobody
//!    else in the organization). Each image has its own statements (Sid
//!    `ami-share:<image>:accounts`, `ami-share:<image>:org:<o-id>`,
//!    `ami-share:<image>:ou:<ou-id>`), so revoking one image's share never takes key access
//!    another image's share still needs.
//!
//! [`plan`] reads the image, its launch permissions, snapshot permissions and key policies and
//! returns a [`SharePlan`] of exactly what is missing; every refusal AWS would make (and the
//! ones it would only make later, like key access) comes before any change. [`apply`] carries
//! a plan out; [`share`] does both. Applying a plan twice changes nothing, and planning again
//! after applying gives an empty plan. [`plan_revoke`] / [`revoke`] undo all three grants.
//!
//! Images encrypted with the AWS managed key `aws/ebs` can never be shared: [`plan`] refuses
//! them with AWS's `InvalidParameter`; [`reencrypt`] makes a copy under a customer managed key
//! that can be.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use crate::api::{
    Connector, CopyImageRequest, DescribeImagesRequest, DescribeSnapshotsRequest, Ec2, Ec2Ext, Kms,
    Owner, PermissionChanges,
};
use crate::error::{Error, Result};
use crate::id::{
    AccountId, ImageId, KmsKeyRef, OrganizationArn, OrganizationalUnitArn, Region, SnapshotId,
};
use crate::model::{
    BlockPublicAccessState, CreateVolumePermission, Image, KeyManager, KeyPolicy,
    KeyPolicyStatement, KeyPrincipal, KeyState, KmsAction, LaunchPermission, Tags,
};
use crate::rules::{
    check_name_available, launch_permissions_after, snapshot_permissions_after,
    validate_image_name, ShareContext, NAME_MAX_LEN,
};

use super::bake::check_tags;
use super::dry_run::{DryRunOutcome, DryRunReport};
use super::images::images_named;
use super::retry::{derived_token, retry_default};
use super::wait::{wait_for_new_image, WaitOptions};

/// Who to share an image with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShareSpec {
    /// The image (in the Region the plan is made for).
    pub image: ImageId,
    /// Accounts.
    pub accounts: BTreeSet<AccountId>,
    /// Organizations.
    pub organizations: BTreeSet<OrganizationArn>,
    /// Organizational units (and their nested OUs).
    pub ous: BTreeSet<OrganizationalUnitArn>,
    /// Everyone (launch permission group `all`).
    pub public: bool,
    /// Let the target accounts copy the image: createVolumePermission on its snapshots (only
    /// accounts, and everyone for a public unencrypted image, can hold one).
    pub allow_copy: bool,
}

impl ShareSpec {
    /// Share `image` with nobody yet.
    pub fn new(image: ImageId) -> Self {
        ShareSpec {
            image,
            accounts: BTreeSet::new(),
            organizations: BTreeSet::new(),
            ous: BTreeSet::new(),
            public: false,
            allow_copy: false,
        }
    }
    /// Adds an account.
    pub fn account(mut self, a: AccountId) -> Self {
        self.accounts.insert(a);
        self
    }
    /// Adds accounts.
    pub fn accounts(mut self, a: impl IntoIterator<Item = AccountId>) -> Self {
        self.accounts.extend(a);
        self
    }
    /// Adds an organization.
    pub fn organization(mut self, o: OrganizationArn) -> Self {
        self.organizations.insert(o);
        self
    }
    /// Adds an organizational unit.
    pub fn ou(mut self, o: OrganizationalUnitArn) -> Self {
        self.ous.insert(o);
        self
    }
    /// Makes the image public (or not).
    pub fn public(mut self, yes: bool) -> Self {
        self.public = yes;
        self
    }
    /// Lets the target accounts copy the image (or not).
    pub fn allow_copy(mut self, yes: bool) -> Self {
        self.allow_copy = yes;
        self
    }

    /// The createVolumePermissions the spec stands for on the image's snapshots: its accounts,
    /// and everyone when it is public (organizations and OUs cannot hold one).
    fn create_volume_permissions(&self) -> Vec<CreateVolumePermission> {
        let mut out: Vec<CreateVolumePermission> = self
            .accounts
            .iter()
            .cloned()
            .map(CreateVolumePermission::Account)
            .collect();
        if self.public {
            out.push(CreateVolumePermission::Public);
        }
        out
    }

    /// The launch permissions the spec asks for, in order.
    pub fn launch_permissions(&self) -> Vec<LaunchPermission> {
        let mut out: Vec<LaunchPermission> = self
            .accounts
            .iter()
            .cloned()
            .map(LaunchPermission::Account)
            .collect();
        out.extend(
            self.organizations
                .iter()
                .cloned()
                .map(LaunchPermission::Organization),
        );
        out.extend(
            self.ous
                .iter()
                .cloned()
                .map(LaunchPermission::OrganizationalUnit),
        );
        if self.public {
            out.push(LaunchPermission::Public);
        }
        out
    }

    /// The organization ids (`o-…`) the spec's organizations and OUs belong to.
    pub fn org_ids(&self) -> BTreeSet<String> {
        self.organizations
            .iter()
            .map(|o| o.org_id().to_owned())
            .chain(self.ous.iter().map(|o| o.org_id().to_owned()))
            .collect()
    }

    /// `Ok` if the spec names an image and at least one target, and not the owner itself.
    fn validate(&self, owner: &AccountId) -> Result<&ImageId> {
        let image = &self.image;
        if self.accounts.is_empty()
            && self.organizations.is_empty()
            && self.ous.is_empty()
            && !self.public
        {
            return Err(Error::from_code(
                "InvalidParameterValue",
                format!(
                    "The share of {image} names nobody: add an account, an organization, an OU, or public."
                ),
            ));
        }
        if self.accounts.contains(owner) {
            return Err(Error::from_code(
                "InvalidParameterValue",
                format!(
                    "Account {owner} owns {image} and cannot be a share target: remove it from the accounts."
                ),
            ));
        }
        Ok(image)
    }
}

/// The createVolumePermission changes of one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotPermissionChange {
    /// The snapshot.
    pub snapshot: SnapshotId,
    /// What to add and remove.
    pub changes: PermissionChanges<CreateVolumePermission>,
}

/// The key policy changes of one customer managed key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPolicyChange {
    /// The key, as the image's block devices name it (a key ARN).
    pub key: KmsKeyRef,
    /// The account that owns the key (whose KMS client edits the policy).
    pub key_owner: AccountId,
    /// Accounts to add to the image's account statement.
    pub add_accounts: BTreeSet<AccountId>,
    /// Accounts to remove from it.
    pub remove_accounts: BTreeSet<AccountId>,
    /// Organizations (`o-…`) to give an organization statement.
    pub add_orgs: BTreeSet<String>,
    /// Organizations whose statement to remove.
    pub remove_orgs: BTreeSet<String>,
    /// OUs to give a statement admitting the OU's accounts, those of nested OUs included
    /// (`aws:PrincipalOrgPaths`), and nobody else in the organization.
    pub add_ous: BTreeSet<OrganizationalUnitArn>,
    /// OUs whose statement to remove.
    pub remove_ous: BTreeSet<OrganizationalUnitArn>,
}

impl KeyPolicyChange {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.add_accounts.is_empty()
            && self.remove_accounts.is_empty()
            && self.add_orgs.is_empty()
            && self.remove_orgs.is_empty()
            && self.add_ous.is_empty()
            && self.remove_ous.is_empty()
    }
}

/// What a share (or revoke) changes: the diff between the image's grants and the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SharePlan {
    /// The image.
    pub image: ImageId,
    /// Its owner (whose clients make the changes).
    pub owner: AccountId,
    /// Its Region.
    pub region: Region,
    /// Launch permission changes.
    pub launch_permissions: PermissionChanges<LaunchPermission>,
    /// Snapshot createVolumePermission changes (only snapshots that change).
    pub snapshot_permissions: Vec<SnapshotPermissionChange>,
    /// Key policy changes (only keys that change).
    pub key_policies: Vec<KeyPolicyChange>,
    /// What the plan cannot do exactly as asked, and why.
    pub notes: Vec<String>,
}

impl SharePlan {
    /// Whether applying the plan changes nothing.
    pub fn is_empty(&self) -> bool {
        self.launch_permissions.is_empty()
            && self.snapshot_permissions.is_empty()
            && self.key_policies.is_empty()
    }
}

fn list<T: fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn cvp(p: &CreateVolumePermission) -> String {
    match p {
        CreateVolumePermission::Account(a) => format!("account {a}"),
        CreateVolumePermission::Public => "group all (public)".into(),
    }
}

impl fmt::Display for SharePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "share plan for {} (owner {}, {}):",
            self.image, self.owner, self.region
        )?;
        if self.is_empty() {
            writeln!(f, "  nothing to change")?;
        }
        for p in &self.launch_permissions.remove {
            writeln!(f, "  - launch permission: {p}")?;
        }
        for p in &self.launch_permissions.add {
            writeln!(f, "  + launch permission: {p}")?;
        }
        for s in &self.snapshot_permissions {
            for p in &s.changes.remove {
                writeln!(
                    f,
                    "  - snapshot {}: create-volume permission for {}",
                    s.snapshot,
                    cvp(p)
                )?;
            }
            for p in &s.changes.add {
                writeln!(
                    f,
                    "  + snapshot {}: create-volume permission for {}",
                    s.snapshot,
                    cvp(p)
                )?;
            }
        }
        let actions = list(KmsAction::CONSUMER.iter().map(|a| a.as_policy_action()));
        for k in &self.key_policies {
            let sid = account_sid(&self.image);
            if !k.remove_accounts.is_empty() {
                writeln!(
                    f,
                    "  - key {} (account {}): statement {sid:?} drops account {}",
                    k.key,
                    k.key_owner,
                    list(&k.remove_accounts)
                )?;
            }
            if !k.add_accounts.is_empty() {
                writeln!(
                    f,
                    "  + key {} (account {}): statement {sid:?} allows account {} {actions}",
                    k.key,
                    k.key_owner,
                    list(&k.add_accounts)
                )?;
            }
            for o in &k.remove_orgs {
                writeln!(
                    f,
                    "  - key {} (account {}): statement {:?} removed",
                    k.key,
                    k.key_owner,
                    org_sid(&self.image, o)
                )?;
            }
            for o in &k.add_orgs {
                writeln!(
                    f,
                    "  + key {} (account {}): statement {:?} allows organization {o} {actions}",
                    k.key,
                    k.key_owner,
                    org_sid(&self.image, o)
                )?;
            }
            for o in &k.remove_ous {
                writeln!(
                    f,
                    "  - key {} (account {}): statement {:?} removed",
                    k.key,
                    k.key_owner,
                    ou_sid(&self.image, o)
                )?;
            }
            for o in &k.add_ous {
                writeln!(
                    f,
                    "  + key {} (account {}): statement {:?} allows OU {} (paths {}) {actions}",
                    k.key,
                    k.key_owner,
                    ou_sid(&self.image, o),
                    o.ou_id(),
                    ou_path_pattern(o)
                )?;
            }
        }
        for n in &self.notes {
            writeln!(f, "  note: {n}")?;
        }
        Ok(())
    }
}

/// The Sid of the key policy statement admitting an image's target accounts.
pub fn account_sid(image: &ImageId) -> String {
    format!("ami-share:{image}:accounts")
}

/// The Sid of the key policy statement admitting an organization for an image.
pub fn org_sid(image: &ImageId, org_id: &str) -> String {
    format!("ami-share:{image}:org:{org_id}")
}

/// The Sid of the key policy statement admitting one OU for an image.
pub fn ou_sid(image: &ImageId, ou: &OrganizationalUnitArn) -> String {
    format!("ami-share:{image}:ou:{}", ou.ou_id())
}

/// The `aws:PrincipalOrgPaths` pattern of the accounts in `ou` or in OUs nested in it:
/// `o-…/r-…/*ou-…/*` (the root id is the middle part of the OU id; what lies between the root
/// and the OU, the parent OUs, is left to the wildcard).
pub fn ou_path_pattern(ou: &OrganizationalUnitArn) -> String {
    let id = ou.ou_id();
    match id.strip_prefix("ou-").and_then(|rest| rest.split_once('-')) {
        Some((root, _)) => format!("{}/r-{root}/*{id}/*", ou.org_id()),
        None => format!("{}/*{id}/*", ou.org_id()),
    }
}

/// The account owning `key` (named in its ARN; the image owner for short forms).
fn key_owner(key: &KmsKeyRef, image_owner: &AccountId) -> AccountId {
    key.account().unwrap_or_else(|| image_owner.clone())
}

/// The image's customer managed keys.
fn customer_keys(image: &Image) -> Vec<KmsKeyRef> {
    image
        .kms_keys()
        .into_iter()
        .filter(|e| e.manager == KeyManager::Customer)
        .map(|e| e.key.clone())
        .collect()
}

/// Refuses images under the AWS managed key, with AWS's code and the fix.
fn check_not_aws_managed(image: &Image) -> Result<()> {
    match image
        .kms_keys()
        .into_iter()
        .find(|e| e.manager == KeyManager::Aws)
    {
        None => Ok(()),
        Some(enc) => Err(Error::from_code(
            "InvalidParameter",
            format!(
                "Snapshots encrypted with the AWS Managed CMK can’t be shared. Specify another snapshot. Image {} is encrypted with the AWS managed key {}, which no other account can ever use: make a copy under a customer managed key with ami_core::ops::share::reencrypt (CopyImage with Encrypted and KmsKeyId) and share the copy.",
                image.id, enc.key
            ),
        )),
    }
}

struct Clients {
    ec2: Arc<dyn Ec2>,
}

fn clients(connector: &dyn Connector, owner: &AccountId, region: &Region) -> Result<Clients> {
    Ok(Clients {
        ec2: connector.ec2(owner, region)?,
    })
}

async fn describe_owned_image(ec2: &dyn Ec2, id: &ImageId) -> Result<Image> {
    let image = retry_default("DescribeImages", || ec2.describe_image(id)).await?;
    if &image.owner != ec2.account() {
        return Err(Error::from_code(
            "AuthFailure",
            format!(
                "Not authorized for image:{id}. Account {} does not own it (account {} does): only the owner can share it.",
                ec2.account(),
                image.owner
            ),
        ));
    }
    Ok(image)
}

/// The image's launch permissions as DescribeImageAttribute lists them, and as a set that
/// also holds [`LaunchPermission::Public`] when the image is public.
async fn launch_permissions_of(
    ec2: &dyn Ec2,
    image: &Image,
) -> Result<(Vec<LaunchPermission>, BTreeSet<LaunchPermission>)> {
    let current = retry_default("DescribeImageAttribute", || {
        ec2.describe_launch_permissions(image.id.clone())
    })
    .await?;
    let mut current_set: BTreeSet<LaunchPermission> = current.iter().cloned().collect();
    if image.public {
        current_set.insert(LaunchPermission::Public);
    }
    Ok((current, current_set))
}

/// Plans sharing `spec.image` (owned by `owner`, in `region`): reads the current grants and
/// returns what is missing. Refuses, before any change, everything AWS would refuse (AWS
/// managed key, public encrypted image, block public access, quotas, not the owner, not
/// available) with AWS's code.
pub async fn plan(
    connector: &dyn Connector,
    owner: &AccountId,
    region: &Region,
    spec: &ShareSpec,
) -> Result<SharePlan> {
    let image_id = spec.validate(owner)?;
    let Clients { ec2 } = clients(connector, owner, region)?;
    let ec2 = ec2.as_ref();
    let image = describe_owned_image(ec2, image_id).await?;
    check_not_aws_managed(&image)?;
    let (current, current_set) = launch_permissions_of(ec2, &image).await?;

    // Launch permissions, judged by the same rule EC2 applies.
    let wanted = spec.launch_permissions();
    let becomes_public = spec.public && !current_set.contains(&LaunchPermission::Public);
    let (block_public_access, public_images_in_region) = if becomes_public {
        let bpa = retry_default("GetImageBlockPublicAccessState", || {
            ec2.get_image_block_public_access_state()
        })
        .await?;
        let owned = retry_default("DescribeImages", || {
            ec2.describe_all_images(DescribeImagesRequest::new().owner(Owner::SelfAccount))
        })
        .await?;
        let public = owned
            .iter()
            .filter(|i| i.public && i.id != image.id)
            .count();
        (bpa, public)
    } else {
        (BlockPublicAccessState::Unblocked, 0)
    };
    let ctx = ShareContext {
        caller: owner,
        image: &image,
        current_permissions: &current,
        block_public_access,
        public_images_in_region,
    };
    launch_permissions_after(&ctx, &PermissionChanges::add(wanted.iter().cloned()))?;
    let launch_add: Vec<LaunchPermission> = wanted
        .iter()
        .filter(|p| !current_set.contains(p))
        .cloned()
        .collect();

    let mut notes = Vec::new();
    if spec.allow_copy && (!spec.organizations.is_empty() || !spec.ous.is_empty()) {
        notes.push(
            "snapshots can only be shared with accounts (or everyone), so accounts that see the image through an organization or OU can launch it but not copy it".into(),
        );
    }

    // Snapshot permissions.
    let mut snapshot_permissions = Vec::new();
    if spec.allow_copy {
        let wanted_cvp = spec.create_volume_permissions();
        for (snapshot, current) in snapshot_permissions_of(ec2, &image).await? {
            let add: Vec<CreateVolumePermission> = wanted_cvp
                .iter()
                .filter(|p| !current.1.contains(p))
                .cloned()
                .collect();
            if add.is_empty() {
                continue;
            }
            let changes = PermissionChanges::add(add);
            snapshot_permissions_after(owner, &current.0, &current.1, &changes)?;
            snapshot_permissions.push(SnapshotPermissionChange { snapshot, changes });
        }
    }

    // Key policies: a statement per organization, and one per OU narrowed to the OU's paths.
    let org_ids: BTreeSet<String> = spec
        .organizations
        .iter()
        .map(|o| o.org_id().to_owned())
        .collect();
    let mut key_policies = Vec::new();
    for key in customer_keys(&image) {
        let key_owner = key_owner(&key, owner);
        let policy = read_policy(connector, &key_owner, region, &key).await?;
        let statement = policy
            .statements
            .iter()
            .find(|s| s.sid == account_sid(image_id));
        let has = |a: &AccountId| {
            statement.is_some_and(|s| {
                s.principals.contains(&KeyPrincipal::Account(a.clone()))
                    && KmsAction::CONSUMER.iter().all(|x| s.actions.contains(x))
            })
        };
        let add_accounts: BTreeSet<AccountId> = spec
            .accounts
            .iter()
            .filter(|a| **a != key_owner && !has(a))
            .cloned()
            .collect();
        let add_orgs: BTreeSet<String> = org_ids
            .iter()
            .filter(|o| {
                !policy.statements.iter().any(|s| {
                    s.sid == org_sid(image_id, o)
                        && s.principal_org_id.as_deref() == Some(o.as_str())
                        && KmsAction::CONSUMER.iter().all(|x| s.actions.contains(x))
                })
            })
            .cloned()
            .collect();
        let add_ous: BTreeSet<OrganizationalUnitArn> = spec
            .ous
            .iter()
            .filter(|o| {
                !policy.statements.iter().any(|s| {
                    s.sid == ou_sid(image_id, o)
                        && s.principal_org_id.as_deref() == Some(o.org_id())
                        && s.principal_org_paths.contains(&ou_path_pattern(o))
                        && KmsAction::CONSUMER.iter().all(|x| s.actions.contains(x))
                })
            })
            .cloned()
            .collect();
        let change = KeyPolicyChange {
            key,
            key_owner,
            add_accounts,
            remove_accounts: BTreeSet::new(),
            add_orgs,
            remove_orgs: BTreeSet::new(),
            add_ous,
            remove_ous: BTreeSet::new(),
        };
        if !change.is_empty() {
            key_policies.push(change);
        }
    }

    let plan = SharePlan {
        image: image_id.clone(),
        owner: owner.clone(),
        region: region.clone(),
        launch_permissions: PermissionChanges::add(launch_add),
        snapshot_permissions,
        key_policies,
        notes,
    };
    tracing::info!(image = %plan.image, empty = plan.is_empty(), "share planned");
    Ok(plan)
}

/// Every snapshot of the image with its description and current createVolumePermission.
async fn snapshot_permissions_of(
    ec2: &dyn Ec2,
    image: &Image,
) -> Result<BTreeMap<SnapshotId, (crate::model::Snapshot, Vec<CreateVolumePermission>)>> {
    let ids: Vec<SnapshotId> = image.snapshot_ids().into_iter().cloned().collect();
    let mut out = BTreeMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let snapshots = retry_default("DescribeSnapshots", || {
        ec2.describe_all_snapshots(DescribeSnapshotsRequest::ids(ids.clone()))
    })
    .await?;
    for snap in snapshots {
        let perms = retry_default("DescribeSnapshotAttribute", || {
            ec2.describe_snapshot_permissions(snap.id.clone())
        })
        .await?;
        out.insert(snap.id.clone(), (snap, perms));
    }
    Ok(out)
}

fn kms_for(
    connector: &dyn Connector,
    key_owner: &AccountId,
    region: &Region,
    key: &KmsKeyRef,
) -> Result<Arc<dyn Kms>> {
    let key_region = key.region().unwrap_or_else(|| region.clone());
    connector.kms(key_owner, &key_region)
}

async fn read_policy(
    connector: &dyn Connector,
    key_owner: &AccountId,
    region: &Region,
    key: &KmsKeyRef,
) -> Result<KeyPolicy> {
    let kms = kms_for(connector, key_owner, region, key)?;
    retry_default("GetKeyPolicy", || kms.get_key_policy(key.clone())).await
}

/// The key policy after `change` for `image`: the image's account statement holds exactly its
/// target accounts with exactly [`KmsAction::CONSUMER`] (and is dropped when empty); one
/// statement per organization. Other statements are kept as they are.
pub fn edit_policy(policy: &KeyPolicy, image: &ImageId, change: &KeyPolicyChange) -> KeyPolicy {
    let mut out = policy.clone();
    let sid = account_sid(image);
    let mut principals: BTreeSet<KeyPrincipal> = out
        .statements
        .iter()
        .find(|s| s.sid == sid)
        .map(|s| s.principals.clone())
        .unwrap_or_default();
    principals.extend(
        change
            .add_accounts
            .iter()
            .cloned()
            .map(KeyPrincipal::Account),
    );
    for a in &change.remove_accounts {
        principals.remove(&KeyPrincipal::Account(a.clone()));
    }
    let account_statement = (!principals.is_empty()).then(|| KeyPolicyStatement {
        sid: sid.clone(),
        principals,
        actions: KmsAction::CONSUMER.into_iter().collect(),
        principal_org_id: None,
        principal_org_paths: BTreeSet::new(),
    });
    match (
        out.statements.iter().position(|s| s.sid == sid),
        account_statement,
    ) {
        (Some(i), Some(s)) => out.statements[i] = s,
        (Some(i), None) => {
            out.statements.remove(i);
        }
        (None, Some(s)) => out.statements.push(s),
        (None, None) => {}
    }
    // The organization and OU statements: removals, then additions (replacing a statement of
    // the same Sid), each admitting anyone of the organization, narrowed to the OU's paths.
    let removed = change
        .remove_orgs
        .iter()
        .map(|org| org_sid(image, org))
        .chain(change.remove_ous.iter().map(|ou| ou_sid(image, ou)));
    for sid in removed {
        out.statements.retain(|s| s.sid != sid);
    }
    let added = change
        .add_orgs
        .iter()
        .map(|org| (org_sid(image, org), org.clone(), BTreeSet::new()))
        .chain(change.add_ous.iter().map(|ou| {
            let paths = [ou_path_pattern(ou)].into();
            (ou_sid(image, ou), ou.org_id().to_owned(), paths)
        }));
    for (sid, org, paths) in added {
        let statement = KeyPolicyStatement {
            sid: sid.clone(),
            principals: [KeyPrincipal::Any].into(),
            actions: KmsAction::CONSUMER.into_iter().collect(),
            principal_org_id: Some(org),
            principal_org_paths: paths,
        };
        match out.statements.iter().position(|s| s.sid == sid) {
            Some(i) => out.statements[i] = statement,
            None => out.statements.push(statement),
        }
    }
    out
}

/// Carries out a plan, in an order that never leaves a consumer half-served: removals first
/// (launch permissions, then snapshot permissions, then key access), then additions (key
/// access, then snapshot permissions, then launch permissions: a consumer that can see the
/// image can already use it). Every step is idempotent, so applying a plan twice, or again
/// after an interruption, changes nothing more. Key policies are read again right before they
/// are written, so statements added by others since the plan are kept.
pub async fn apply(connector: &dyn Connector, plan: &SharePlan) -> Result<()> {
    let Clients { ec2 } = clients(connector, &plan.owner, &plan.region)?;
    let ec2 = ec2.as_ref();
    let image = &plan.image;
    let launch = &plan.launch_permissions;

    modify_launch_permissions(ec2, image, PermissionChanges::remove(launch.remove.clone())).await?;
    modify_snapshot_permissions(ec2, plan, |c| PermissionChanges::remove(c.remove.clone())).await?;
    for k in &plan.key_policies {
        let kms = kms_for(connector, &k.key_owner, &plan.region, &k.key)?;
        let current = retry_default("GetKeyPolicy", || kms.get_key_policy(k.key.clone())).await?;
        let edited = edit_policy(&current, image, k);
        if edited != current {
            retry_default("PutKeyPolicy", || {
                kms.put_key_policy(k.key.clone(), edited.clone())
            })
            .await?;
            tracing::info!(key = %k.key, %image, "key policy updated");
        }
    }
    modify_snapshot_permissions(ec2, plan, |c| PermissionChanges::add(c.add.clone())).await?;
    modify_launch_permissions(ec2, image, PermissionChanges::add(launch.add.clone())).await?;
    Ok(())
}

/// Checks `plan` by AWS itself without changing anything: every ModifyImageAttribute and
/// ModifySnapshotAttribute of [`apply`] is sent as a dry run (see [`super::dry_run`]); the
/// key-policy edits, which KMS cannot dry-run, are checked by reading each key's policy as its
/// owner. The report lists every call with its verdict.
pub async fn dry_run_apply(connector: &dyn Connector, plan: &SharePlan) -> Result<DryRunReport> {
    let Clients { ec2 } = clients(connector, &plan.owner, &plan.region)?;
    let ec2 = ec2.dry_run();
    let (owner, region, image) = (&plan.owner, &plan.region, &plan.image);
    let mut report = DryRunReport::default();
    let launch = &plan.launch_permissions;
    for part in [
        PermissionChanges::remove(launch.remove.clone()),
        PermissionChanges::add(launch.add.clone()),
    ] {
        if !part.is_empty() {
            report
                .check(
                    "ModifyImageAttribute",
                    owner,
                    region,
                    image.as_str(),
                    || ec2.modify_launch_permissions(image.clone(), part.clone()),
                )
                .await;
        }
    }
    for s in &plan.snapshot_permissions {
        for part in [
            PermissionChanges::remove(s.changes.remove.clone()),
            PermissionChanges::add(s.changes.add.clone()),
        ] {
            if !part.is_empty() {
                report
                    .check(
                        "ModifySnapshotAttribute",
                        owner,
                        region,
                        s.snapshot.as_str(),
                        || ec2.modify_snapshot_permissions(s.snapshot.clone(), part.clone()),
                    )
                    .await;
            }
        }
    }
    for k in &plan.key_policies {
        let kms = kms_for(connector, &k.key_owner, region, &k.key)?;
        let outcome =
            match retry_default("GetKeyPolicy", || kms.get_key_policy(k.key.clone())).await {
                Ok(_) => DryRunOutcome::ReadOnly(format!(
                    "KMS PutKeyPolicy has no dry run; account {} can read the key's policy",
                    k.key_owner
                )),
                Err(e) => DryRunOutcome::WouldFail(e),
            };
        report.push(
            "PutKeyPolicy",
            &k.key_owner,
            region,
            k.key.as_str(),
            outcome,
        );
    }
    Ok(report)
}

/// ModifyImageAttribute with `changes` (only additions or only removals), unless empty.
async fn modify_launch_permissions(
    ec2: &dyn Ec2,
    image: &ImageId,
    changes: PermissionChanges<LaunchPermission>,
) -> Result<()> {
    if changes.is_empty() {
        return Ok(());
    }
    retry_default("ModifyImageAttribute", || {
        ec2.modify_launch_permissions(image.clone(), changes.clone())
    })
    .await?;
    tracing::info!(
        %image,
        added = changes.add.len(),
        removed = changes.remove.len(),
        "launch permissions changed"
    );
    Ok(())
}

/// ModifySnapshotAttribute on every snapshot of the plan, with the part of its changes `part`
/// picks (only additions or only removals), skipping snapshots where that part is empty.
async fn modify_snapshot_permissions(
    ec2: &dyn Ec2,
    plan: &SharePlan,
    part: impl Fn(
        &PermissionChanges<CreateVolumePermission>,
    ) -> PermissionChanges<CreateVolumePermission>,
) -> Result<()> {
    for s in &plan.snapshot_permissions {
        let changes = part(&s.changes);
        if changes.is_empty() {
            continue;
        }
        retry_default("ModifySnapshotAttribute", || {
            ec2.modify_snapshot_permissions(s.snapshot.clone(), changes.clone())
        })
        .await?;
        tracing::info!(
            snapshot = %s.snapshot,
            added = changes.add.len(),
            removed = changes.remove.len(),
            "snapshot permissions changed"
        );
    }
    Ok(())
}

/// Plans and applies a share; returns the plan that was applied.
pub async fn share(
    connector: &dyn Connector,
    owner: &AccountId,
    region: &Region,
    spec: &ShareSpec,
) -> Result<SharePlan> {
    let p = plan(connector, owner, region, spec).await?;
    apply(connector, &p).await?;
    Ok(p)
}

/// Plans undoing a share: the spec's launch permissions the image has, the spec's accounts'
/// (and, for `public`, everyone's) snapshot permissions, the spec's accounts in the image's key
/// statement, and the organization statements no remaining organization or OU share needs.
pub async fn plan_revoke(
    connector: &dyn Connector,
    owner: &AccountId,
    region: &Region,
    spec: &ShareSpec,
) -> Result<SharePlan> {
    let image_id = spec.validate(owner)?;
    let Clients { ec2 } = clients(connector, owner, region)?;
    let ec2 = ec2.as_ref();
    let image = describe_owned_image(ec2, image_id).await?;
    let (_, current_set) = launch_permissions_of(ec2, &image).await?;
    let launch_remove: Vec<LaunchPermission> = spec
        .launch_permissions()
        .into_iter()
        .filter(|p| current_set.contains(p))
        .collect();
    let remaining: BTreeSet<&LaunchPermission> = current_set
        .iter()
        .filter(|p| !launch_remove.contains(p))
        .collect();

    let unwanted_cvp = spec.create_volume_permissions();
    let mut snapshot_permissions = Vec::new();
    for (snapshot, (_, perms)) in snapshot_permissions_of(ec2, &image).await? {
        let remove: Vec<CreateVolumePermission> = unwanted_cvp
            .iter()
            .filter(|p| perms.contains(p))
            .cloned()
            .collect();
        if !remove.is_empty() {
            snapshot_permissions.push(SnapshotPermissionChange {
                snapshot,
                changes: PermissionChanges::remove(remove),
            });
        }
    }

    let still_needed_orgs: BTreeSet<String> = remaining
        .iter()
        .filter_map(|p| match p {
            LaunchPermission::Organization(o) => Some(o.org_id().to_owned()),
            _ => None,
        })
        .collect();
    let mut key_policies = Vec::new();
    for key in customer_keys(&image) {
        let key_owner = key_owner(&key, owner);
        let policy = read_policy(connector, &key_owner, region, &key).await?;
        let in_statement: BTreeSet<AccountId> = policy
            .statements
            .iter()
            .filter(|s| s.sid == account_sid(image_id))
            .flat_map(|s| s.principals.iter())
            .filter_map(|p| match p {
                KeyPrincipal::Account(a) => Some(a.clone()),
                KeyPrincipal::Any => None,
            })
            .collect();
        let remove_accounts = spec
            .accounts
            .iter()
            .filter(|a| in_statement.contains(a))
            .cloned()
            .collect();
        let remove_orgs = spec
            .organizations
            .iter()
            .map(|o| o.org_id().to_owned())
            .filter(|o| !still_needed_orgs.contains(o))
            .filter(|o| {
                policy
                    .statements
                    .iter()
                    .any(|s| s.sid == org_sid(image_id, o))
            })
            .collect();
        let remove_ous = spec
            .ous
            .iter()
            .filter(|o| {
                policy
                    .statements
                    .iter()
                    .any(|s| s.sid == ou_sid(image_id, o))
            })
            .cloned()
            .collect();
        let change = KeyPolicyChange {
            key,
            key_owner,
            add_accounts: BTreeSet::new(),
            remove_accounts,
            add_orgs: BTreeSet::new(),
            remove_orgs,
            add_ous: BTreeSet::new(),
            remove_ous,
        };
        if !change.is_empty() {
            key_policies.push(change);
        }
    }
    Ok(SharePlan {
        image: image_id.clone(),
        owner: owner.clone(),
        region: region.clone(),
        launch_permissions: PermissionChanges::remove(launch_remove),
        snapshot_permissions,
        key_policies,
        notes: Vec::new(),
    })
}

/// Plans and applies undoing a share; returns the plan that was applied.
pub async fn revoke(
    connector: &dyn Connector,
    owner: &AccountId,
    region: &Region,
    spec: &ShareSpec,
) -> Result<SharePlan> {
    let p = plan_revoke(connector, owner, region, spec).await?;
    apply(connector, &p).await?;
    Ok(p)
}

/// A copy of an image under a customer managed key, in the same account and Region.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ReencryptRequest {
    /// The image to copy.
    pub image: ImageId,
    /// The customer managed key of the copy (in the image's account and Region).
    pub key: KmsKeyRef,
    /// The name of the copy; default: the source's name with `-cmk` appended.
    pub name: Option<String>,
    /// Tags for the copy and its snapshots (the source's own tags are copied too).
    pub tags: Tags,
    /// How to wait for the copy.
    pub wait: WaitOptions,
}

impl ReencryptRequest {
    /// Copy `image` under `key`.
    pub fn new(image: ImageId, key: KmsKeyRef) -> Self {
        ReencryptRequest {
            image,
            key,
            name: None,
            tags: Tags::new(),
            wait: WaitOptions::default(),
        }
    }
    /// Sets the name of the copy.
    pub fn name(mut self, n: impl Into<String>) -> Self {
        self.name = Some(n.into());
        self
    }
    /// Adds a tag.
    pub fn tag(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.tags.insert(k.into(), v.into());
        self
    }
    /// Sets the wait options.
    pub fn wait(mut self, w: WaitOptions) -> Self {
        self.wait = w;
        self
    }
}

/// Tag put on a re-encrypted copy: the image it was copied from.
pub const TAG_REENCRYPTED_FROM: &str = "ami:reencrypted-from";

/// Copies an image of `owner` in `region` under a customer managed key, so it can be shared,
/// and waits until the copy is available (the copy records its source as lineage). The key is
/// checked first: it must exist, be enabled and be customer managed. If the copy fails it is
/// deregistered with its snapshots. Running the same request again returns the same copy
/// (CopyImage client token).
pub async fn reencrypt(
    connector: &dyn Connector,
    owner: &AccountId,
    region: &Region,
    req: ReencryptRequest,
) -> Result<Image> {
    req.wait.validate()?;
    check_tags(&req.tags, &[TAG_REENCRYPTED_FROM])?;
    let ec2 = connector.ec2(owner, region)?;
    let kms = connector.kms(owner, region)?;
    let key = retry_default("DescribeKey", || kms.describe_key(req.key.clone())).await?;
    if key.manager != KeyManager::Customer {
        return Err(Error::from_code(
            "InvalidParameterValue",
            format!(
                "Key {} is AWS managed and cannot be shared with other accounts: name a customer managed key (create one with Kms::create_key).",
                req.key
            ),
        ));
    }
    if key.state != KeyState::Enabled {
        return Err(Error::from_code(
            "KMSInvalidStateException",
            format!(
                "Key {} is {:?}: enable it (or name another key) before copying with it.",
                key.arn, key.state
            ),
        ));
    }
    let source = describe_owned_image(ec2.as_ref(), &req.image).await?;
    let name = match &req.name {
        Some(n) => n.clone(),
        None => {
            let base: String = source.name.chars().take(NAME_MAX_LEN - 4).collect();
            format!("{base}-cmk")
        }
    };
    validate_image_name(&name)?;
    let same_name = images_named(ec2.as_ref(), &name).await?;
    let token = derived_token(
        "reencrypt",
        [
            owner.as_str(),
            region.as_str(),
            req.image.as_str(),
            key.arn.as_str(),
            name.as_str(),
        ],
    )?;
    // A copy made by an earlier run of this very request is the answer, not a conflict.
    if let Some(existing) = same_name.iter().find(|i| {
        i.source_image_id.as_ref() == Some(&req.image)
            && i.tags.get(TAG_REENCRYPTED_FROM).map(String::as_str) == Some(req.image.as_str())
            && i.kms_keys().iter().all(|e| e.key == key.arn)
    }) {
        return wait_for_new_image(ec2.as_ref(), &existing.id, &req.wait).await;
    }
    check_name_available(&name, owner, region, &same_name)?;
    let mut copy = CopyImageRequest::new(region.clone(), req.image.clone(), name)
        .encrypt_with(key.arn.clone())
        .client_token(token)
        .copy_image_tags(true)
        .tag(TAG_REENCRYPTED_FROM, req.image.to_string());
    for (k, v) in &req.tags {
        copy = copy.tag(k.clone(), v.clone());
    }
    let id = retry_default("CopyImage", || ec2.copy_image(copy.clone())).await?;
    tracing::info!(source = %req.image, copy = %id, key = %key.arn, "re-encrypting copy started");
    wait_for_new_image(ec2.as_ref(), &id, &req.wait).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{MockEc2, MockKms, Page};
    use crate::model::{
        BlockDevice, DeregistrationProtection, Encryption, Snapshot, SnapshotState,
    };
    use crate::time::{Clock, Timestamp};
    use mockall::predicate::eq;
    use mockall::Sequence;

    const OWNER: &str = "111122223333";
    const CONSUMER: &str = "444455556666";
    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[derive(Debug)]
    struct FixedClock;
    impl Clock for FixedClock {
        fn now(&self) -> Timestamp {
            Timestamp::EPOCH
        }
    }

    #[derive(Debug)]
    struct Mocks {
        ec2: Arc<MockEc2>,
        kms: Arc<MockKms>,
    }
    impl Connector for Mocks {
        fn ec2(&self, _: &AccountId, _: &Region) -> Result<Arc<dyn Ec2>> {
            Ok(self.ec2.clone())
        }
        fn kms(&self, _: &AccountId, _: &Region) -> Result<Arc<dyn Kms>> {
            Ok(self.kms.clone())
        }
        fn clock(&self) -> Arc<dyn Clock> {
            Arc::new(FixedClock)
        }
    }

    fn owner() -> AccountId {
        OWNER.parse().unwrap()
    }
    fn consumer() -> AccountId {
        CONSUMER.parse().unwrap()
    }
    fn region() -> Region {
        "us-east-1".parse().unwrap()
    }
    fn image_id() -> ImageId {
        "ami-0123456789abcdef0".parse().unwrap()
    }
    fn snap_id() -> SnapshotId {
        "snap-0123456789abcdef0".parse().unwrap()
    }

    fn image(manager: KeyManager) -> Image {
        let key: KmsKeyRef = match manager {
            KeyManager::Customer => KEY.parse().unwrap(),
            KeyManager::Aws => KmsKeyRef::aws_ebs_alias(),
        };
        Image {
            id: image_id(),
            region: region(),
            name: "golden".into(),
            description: None,
            owner: owner(),
            owner_alias: None,
            state: crate::model::ImageState::Available,
            state_reason: None,
            public: false,
            block_devices: vec![BlockDevice {
                device_name: "/dev/xvda".into(),
                snapshot_id: Some(snap_id()),
                volume_size_gib: 8,
                encryption: Some(Encryption { key, manager }),
                delete_on_termination: true,
            }],
            root_device_name: "/dev/xvda".into(),
            architecture: "x86_64".into(),
            product_codes: vec![],
            tags: Tags::new(),
            creation_time: Timestamp::EPOCH,
            deprecation_time: None,
            deregistration_protection: DeregistrationProtection::Disabled,
            source_image_id: None,
            source_region: None,
            source_instance_id: None,
            last_launched_time: None,
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot {
            id: snap_id(),
            region: region(),
            owner: owner(),
            volume_id: None,
            volume_size_gib: 8,
            state: SnapshotState::Completed,
            encryption: Some(Encryption {
                key: KEY.parse().unwrap(),
                manager: KeyManager::Customer,
            }),
            description: "Created by CreateImage(i-0123456789abcdef0) for ami-0123456789abcdef0"
                .into(),
            tags: Tags::new(),
            start_time: Timestamp::EPOCH,
        }
    }

    fn base_ec2() -> MockEc2 {
        let mut ec2 = MockEc2::new();
        ec2.expect_account().return_const(owner());
        ec2.expect_region().return_const(region());
        ec2
    }

    fn spec() -> ShareSpec {
        ShareSpec::new(image_id())
            .account(consumer())
            .allow_copy(true)
    }

    fn policy_with_consumer() -> KeyPolicy {
        let mut p = KeyPolicy::default_for(&owner());
        p.statements.push(KeyPolicyStatement {
            sid: account_sid(&image_id()),
            principals: [KeyPrincipal::Account(consumer())].into(),
            actions: KmsAction::CONSUMER.into_iter().collect(),
            principal_org_id: None,
            principal_org_paths: Default::default(),
        });
        p
    }

    /// The exact calls of `share` for one image with one customer managed key, shared with one
    /// account that may copy it: reads first, then key → snapshot → launch permission.
    #[tokio::test(start_paused = true)]
    async fn share_makes_exactly_these_calls_in_this_order() {
        let mut seq = Sequence::new();
        let mut ec2 = base_ec2();
        let mut kms = MockKms::new();
        ec2.expect_describe_images()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(Page::last(vec![image(KeyManager::Customer)])));
        ec2.expect_describe_launch_permissions()
            .with(eq(image_id()))
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(vec![]));
        ec2.expect_describe_snapshots()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(Page::last(vec![snapshot()])));
        ec2.expect_describe_snapshot_permissions()
            .with(eq(snap_id()))
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(vec![]));
        kms.expect_get_key_policy()
            .with(eq(KEY.parse::<KmsKeyRef>().unwrap()))
            .times(2)
            .in_sequence(&mut seq)
            .returning(|_| Ok(KeyPolicy::default_for(&owner())));
        kms.expect_put_key_policy()
            .with(
                eq(KEY.parse::<KmsKeyRef>().unwrap()),
                eq(policy_with_consumer()),
            )
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(()));
        ec2.expect_modify_snapshot_permissions()
            .with(
                eq(snap_id()),
                eq(PermissionChanges::add([CreateVolumePermission::Account(
                    consumer(),
                )])),
            )
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(()));
        ec2.expect_modify_launch_permissions()
            .with(
                eq(image_id()),
                eq(PermissionChanges::add([LaunchPermission::Account(
                    consumer(),
                )])),
            )
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(()));
        let mocks = Mocks {
            ec2: Arc::new(ec2),
            kms: Arc::new(kms),
        };
        let applied = share(&mocks, &owner(), &region(), &spec()).await.unwrap();
        assert_eq!(
            applied.launch_permissions.add,
            vec![LaunchPermission::Account(consumer())]
        );
        assert_eq!(applied.key_policies.len(), 1);
        assert_eq!(
            applied.key_policies[0].add_accounts,
            [consumer()].into_iter().collect()
        );
    }

    /// Planning when every grant is in place reads and changes nothing.
    #[tokio::test(start_paused = true)]
    async fn nothing_to_do_when_everything_is_granted() {
        let mut ec2 = base_ec2();
        let mut kms = MockKms::new();
        ec2.expect_describe_images()
            .returning(|_| Ok(Page::last(vec![image(KeyManager::Customer)])));
        ec2.expect_describe_launch_permissions()
            .returning(|_| Ok(vec![LaunchPermission::Account(consumer())]));
        ec2.expect_describe_snapshots()
            .returning(|_| Ok(Page::last(vec![snapshot()])));
        ec2.expect_describe_snapshot_permissions()
            .returning(|_| Ok(vec![CreateVolumePermission::Account(consumer())]));
        kms.expect_get_key_policy()
            .returning(|_| Ok(policy_with_consumer()));
        let mocks = Mocks {
            ec2: Arc::new(ec2),
            kms: Arc::new(kms),
        };
        let p = plan(&mocks, &owner(), &region(), &spec()).await.unwrap();
        assert!(p.is_empty(), "{p}");
        assert!(p.to_string().contains("nothing to change"));
        // Applying an empty plan makes no call at all (the mocks expect none).
        apply(&mocks, &p).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn aws_managed_key_is_refused_before_any_change() {
        let mut ec2 = base_ec2();
        ec2.expect_describe_images()
            .returning(|_| Ok(Page::last(vec![image(KeyManager::Aws)])));
        let mocks = Mocks {
            ec2: Arc::new(ec2),
            kms: Arc::new(MockKms::new()),
        };
        let err = share(&mocks, &owner(), &region(), &spec())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "InvalidParameter");
        assert!(err.message().contains("reencrypt"), "{}", err.message());
        assert!(err.message().contains("alias/aws/ebs"), "{}", err.message());
    }

    #[tokio::test(start_paused = true)]
    async fn bad_specs_are_refused_without_calls() {
        let mocks = Mocks {
            ec2: Arc::new(MockEc2::new()),
            kms: Arc::new(MockKms::new()),
        };
        let err = plan(&mocks, &owner(), &region(), &ShareSpec::new(image_id()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "InvalidParameterValue");
        assert!(err.message().contains("names nobody"));
        let err = plan(
            &mocks,
            &owner(),
            &region(),
            &ShareSpec::new(image_id()).account(owner()),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "InvalidParameterValue");
        assert!(err.message().contains(OWNER));
    }

    #[tokio::test(start_paused = true)]
    async fn images_of_others_are_refused_with_auth_failure() {
        let mut ec2 = MockEc2::new();
        ec2.expect_account().return_const(consumer());
        ec2.expect_region().return_const(region());
        ec2.expect_describe_images()
            .returning(|_| Ok(Page::last(vec![image(KeyManager::Customer)])));
        let mocks = Mocks {
            ec2: Arc::new(ec2),
            kms: Arc::new(MockKms::new()),
        };
        let err = plan(
            &mocks,
            &consumer(),
            &region(),
            &ShareSpec::new(image_id()).account(owner()),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "AuthFailure");
    }

    #[test]
    fn edit_policy_adds_removes_and_keeps_other_statements() {
        let base = KeyPolicy::default_for(&owner());
        let add = KeyPolicyChange {
            key: KEY.parse().unwrap(),
            key_owner: owner(),
            add_accounts: [consumer()].into(),
            remove_accounts: BTreeSet::new(),
            add_orgs: ["o-abcdefghij".to_owned()].into(),
            remove_orgs: BTreeSet::new(),
            add_ous: BTreeSet::new(),
            remove_ous: BTreeSet::new(),
        };
        let added = edit_policy(&base, &image_id(), &add);
        assert_eq!(added.statements.len(), 3);
        assert_eq!(added.statements[0], base.statements[0]);
        assert!(added.allows(&consumer(), None, KmsAction::Decrypt));
        assert!(!added.allows(&consumer(), None, KmsAction::Encrypt));
        let stranger: AccountId = "777788889999".parse().unwrap();
        assert!(added.allows(&stranger, Some("o-abcdefghij"), KmsAction::ReEncrypt));
        assert!(!added.allows(&stranger, None, KmsAction::ReEncrypt));
        // Idempotent.
        assert_eq!(edit_policy(&added, &image_id(), &add), added);
        // Undo.
        let remove = KeyPolicyChange {
            add_accounts: BTreeSet::new(),
            remove_accounts: [consumer()].into(),
            add_orgs: BTreeSet::new(),
            remove_orgs: ["o-abcdefghij".to_owned()].into(),
            ..add
        };
        assert_eq!(edit_policy(&added, &image_id(), &remove), base);
    }

    /// An OU statement admits the OU's accounts (nested OUs included) through the
    /// organization path, and nobody else in the organization; removing it restores the
    /// policy.
    #[test]
    fn edit_policy_admits_an_ou_by_its_paths() {
        let ou: OrganizationalUnitArn =
            "arn:aws:organizations::999999999999:ou/o-abcdefghij/ou-ab12-appsapps"
                .parse()
                .unwrap();
        assert_eq!(
            ou_path_pattern(&ou),
            "o-abcdefghij/r-ab12/*ou-ab12-appsapps/*"
        );
        let base = KeyPolicy::default_for(&owner());
        let add = KeyPolicyChange {
            key: KEY.parse().unwrap(),
            key_owner: owner(),
            add_accounts: BTreeSet::new(),
            remove_accounts: BTreeSet::new(),
            add_orgs: BTreeSet::new(),
            remove_orgs: BTreeSet::new(),
            add_ous: [ou.clone()].into(),
            remove_ous: BTreeSet::new(),
        };
        let added = edit_policy(&base, &image_id(), &add);
        assert_eq!(added.statements.len(), 2);
        let stranger: AccountId = "777788889999".parse().unwrap();
        let org = Some("o-abcdefghij");
        let path = |ous: &[&str]| {
            let ous: Vec<OrganizationalUnitArn> = ous
                .iter()
                .map(|o| {
                    format!("arn:aws:organizations::999999999999:ou/o-abcdefghij/{o}")
                        .parse()
                        .unwrap()
                })
                .collect();
            crate::rules::Membership::of(
                "arn:aws:organizations::999999999999:organization/o-abcdefghij"
                    .parse()
                    .unwrap(),
                ous,
            )
            .org_path()
        };
        for (ous, admitted) in [
            (&["ou-ab12-appsapps"][..], true),
            (&["ou-ab12-appsapps", "ou-ab12-teamteam"][..], true),
            (&["ou-ab12-otherous"][..], false),
            (&[][..], false),
        ] {
            assert_eq!(
                added.allows_principal(&stranger, org, path(ous).as_deref(), KmsAction::Decrypt),
                admitted,
                "{ous:?}"
            );
        }
        assert!(!added.allows_principal(
            &stranger,
            None,
            path(&["ou-ab12-appsapps"]).as_deref(),
            KmsAction::Decrypt
        ));
        assert_eq!(edit_policy(&added, &image_id(), &add), added, "idempotent");
        let remove = KeyPolicyChange {
            add_ous: BTreeSet::new(),
            remove_ous: [ou].into(),
            ..add
        };
        assert_eq!(edit_policy(&added, &image_id(), &remove), base);
    }

    fn arb_account() -> impl proptest::strategy::Strategy<Value = AccountId> {
        use proptest::prelude::*;
        (0u64..6).prop_map(|n| AccountId::from_number(222_222_222_000 + n))
    }

    proptest::proptest! {
        /// Whatever sequence of additions and removals is applied, the image's statement admits
        /// exactly the accounts added and not removed since, with exactly the consumer actions
        /// (and is absent when it would admit nobody), while every other statement is untouched.
        #[test]
        fn edit_policy_tracks_exactly_the_targets(
            steps in proptest::collection::vec((proptest::bool::ANY, arb_account()), 0..20)
        ) {
            let base = KeyPolicy::default_for(&owner());
            let mut policy = base.clone();
            let mut expected: BTreeSet<AccountId> = BTreeSet::new();
            for (add, account) in steps {
                let change = KeyPolicyChange {
                    key: KEY.parse().unwrap(),
                    key_owner: owner(),
                    add_accounts: if add { [account.clone()].into() } else { BTreeSet::new() },
                    remove_accounts: if add { BTreeSet::new() } else { [account.clone()].into() },
                    add_orgs: BTreeSet::new(),
                    remove_orgs: BTreeSet::new(),
                    add_ous: BTreeSet::new(),
                    remove_ous: BTreeSet::new(),
                };
                policy = edit_policy(&policy, &image_id(), &change);
                if add { expected.insert(account); } else { expected.remove(&account); }
                proptest::prop_assert_eq!(&policy.statements[0], &base.statements[0]);
                let ours = policy.statements.iter().find(|s| s.sid == account_sid(&image_id()));
                match ours {
                    None => proptest::prop_assert!(expected.is_empty()),
                    Some(s) => {
                        let admitted: BTreeSet<AccountId> = s.principals.iter().filter_map(|p| match p {
                            KeyPrincipal::Account(a) => Some(a.clone()),
                            KeyPrincipal::Any => None,
                        }).collect();
                        proptest::prop_assert_eq!(&admitted, &expected);
                        proptest::prop_assert_eq!(&s.actions, &KmsAction::CONSUMER.into_iter().collect::<BTreeSet<_>>());
                    }
                }
                proptest::prop_assert!(policy.statements.len() <= 2);
            }
        }
    }

    #[test]
    fn plans_print_every_change() {
        let p = SharePlan {
            image: image_id(),
            owner: owner(),
            region: region(),
            launch_permissions: PermissionChanges::add([LaunchPermission::Account(consumer())]),
            snapshot_permissions: vec![SnapshotPermissionChange {
                snapshot: snap_id(),
                changes: PermissionChanges::add([CreateVolumePermission::Account(consumer())]),
            }],
            key_policies: vec![KeyPolicyChange {
                key: KEY.parse().unwrap(),
                key_owner: owner(),
                add_accounts: [consumer()].into(),
                remove_accounts: BTreeSet::new(),
                add_orgs: BTreeSet::new(),
                remove_orgs: BTreeSet::new(),
                add_ous: BTreeSet::new(),
                remove_ous: BTreeSet::new(),
            }],
            notes: vec![],
        };
        let text = p.to_string();
        assert_eq!(
            text,
            format!(
                "share plan for ami-0123456789abcdef0 (owner {OWNER}, us-east-1):\n  \
                 + launch permission: account {CONSUMER}\n  \
                 + snapshot snap-0123456789abcdef0: create-volume permission for account {CONSUMER}\n  \
                 + key {KEY} (account {OWNER}): statement \"ami-share:ami-0123456789abcdef0:accounts\" allows account {CONSUMER} kms:DescribeKey, kms:CreateGrant, kms:Decrypt, kms:ReEncrypt*, kms:GenerateDataKey*\n"
            )
        );
    }
}
