//! What to distribute, and where: [`DistributionSpec`].

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::id::{AccountId, ImageId, KmsKeyRef, Region};
use crate::model::{LaunchPermission, Tags};
use crate::time::Timestamp;

/// The image to distribute: its id, Region and owning account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceImage {
    /// The owning account (it makes the copies of its own destinations).
    pub account: AccountId,
    /// The Region the image lives in.
    pub region: Region,
    /// The image.
    pub image_id: ImageId,
}

/// One place a copy goes: an account in a Region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Destination {
    /// The Region of the copy.
    pub region: Region,
    /// The account that owns the copy.
    pub account: AccountId,
}

impl Destination {
    /// A destination.
    pub fn new(region: Region, account: AccountId) -> Self {
        Destination { region, account }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.region, self.account)
    }
}

/// An account that receives its own copies (it owns them) in every target Region.
///
/// The source image is shared with the account first (launch permission, snapshot
/// create-volume permission and access to the source's KMS keys); the account then copies it
/// from the source Region into each target Region, encrypted with its own key for that Region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountCopies {
    /// The receiving account.
    pub account: AccountId,
    /// The account's own customer managed key per Region (a copy without one keeps AWS's
    /// default encryption and so cannot be shared further).
    pub kms_keys: BTreeMap<Region, KmsKeyRef>,
    /// Launch permissions the account's copies grant to others.
    pub launch_permissions: Vec<LaunchPermission>,
}

impl AccountCopies {
    /// Copies for `account`, with no key and no further sharing.
    pub fn new(account: AccountId) -> Self {
        AccountCopies {
            account,
            kms_keys: BTreeMap::new(),
            launch_permissions: Vec::new(),
        }
    }

    /// Encrypts the copy in `region` with `key` (a key the account can use there).
    pub fn kms_key(mut self, region: Region, key: KmsKeyRef) -> Self {
        self.kms_keys.insert(region, key);
        self
    }

    /// Grants a launch permission on each of the account's copies.
    pub fn launch_permission(mut self, p: LaunchPermission) -> Self {
        self.launch_permissions.push(p);
        self
    }
}

/// Deregistration protection applied to every copy once every copy is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protection {
    /// Protection that can be lifted at once.
    WithoutCooldown,
    /// Protection that stays in force 24 hours after it is lifted.
    WithCooldown,
}

/// Everything a distribution does: which image, to which Regions and accounts, encrypted with
/// which keys, shared with whom, tagged, named, deprecated and protected.
///
/// The owner account of the source gets a copy in every target Region; each entry of
/// [`accounts`](Self::accounts) gets its own copy (which it owns) in every target Region too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistributionSpec {
    /// The image to distribute.
    pub source: SourceImage,
    /// The target Regions (the source's own Region too, for an in-Region copy).
    pub regions: Vec<Region>,
    /// The owner's customer managed key per target Region.
    pub kms_keys: BTreeMap<Region, KmsKeyRef>,
    /// Accounts that receive copies they own.
    pub accounts: Vec<AccountCopies>,
    /// Launch permissions granted on each of the owner's copies (with the key access launching
    /// needs).
    pub launch_permissions: Vec<LaunchPermission>,
    /// Tags put on every copy and its snapshots at creation.
    pub tags: Tags,
    /// The name of each copy: `{source_name}`, `{region}`, `{account}` and `{run_id}` are
    /// replaced. Default: `{source_name}`.
    pub name_template: String,
    /// The description of each copy (default: the source's).
    pub description: Option<String>,
    /// Deprecate every copy at this time.
    pub deprecate_at: Option<Timestamp>,
    /// Deregistration protection, applied last.
    pub protection: Option<Protection>,
    /// The run id (default: derived from the spec and the clock at planning time).
    pub run_id: Option<String>,
}

impl DistributionSpec {
    /// Distributes `image_id`, owned by `account` in `region`, to no Region yet.
    pub fn new(account: AccountId, region: Region, image_id: ImageId) -> Self {
        DistributionSpec {
            source: SourceImage {
                account,
                region,
                image_id,
            },
            regions: Vec::new(),
            kms_keys: BTreeMap::new(),
            accounts: Vec::new(),
            launch_permissions: Vec::new(),
            tags: Tags::new(),
            name_template: "{source_name}".into(),
            description: None,
            deprecate_at: None,
            protection: None,
            run_id: None,
        }
    }

    /// Adds a target Region.
    pub fn region(mut self, r: Region) -> Self {
        self.regions.push(r);
        self
    }

    /// Adds target Regions.
    pub fn regions(mut self, rs: impl IntoIterator<Item = Region>) -> Self {
        self.regions.extend(rs);
        self
    }

    /// Encrypts the owner's copy in `region` with `key`.
    pub fn kms_key(mut self, region: Region, key: KmsKeyRef) -> Self {
        self.kms_keys.insert(region, key);
        self
    }

    /// Adds an account that receives its own copies.
    pub fn account_copies(mut self, a: AccountCopies) -> Self {
        self.accounts.push(a);
        self
    }

    /// Grants a launch permission on each of the owner's copies.
    pub fn launch_permission(mut self, p: LaunchPermission) -> Self {
        self.launch_permissions.push(p);
        self
    }

    /// Adds a tag for every copy and its snapshots.
    pub fn tag(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.tags.insert(k.into(), v.into());
        self
    }

    /// Sets the name template.
    pub fn name_template(mut self, t: impl Into<String>) -> Self {
        self.name_template = t.into();
        self
    }

    /// Sets the description of the copies.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = Some(d.into());
        self
    }

    /// Deprecates every copy at `at`.
    pub fn deprecate_at(mut self, at: Timestamp) -> Self {
        self.deprecate_at = Some(at);
        self
    }

    /// Protects every copy from deregistration, once all are complete.
    pub fn protect(mut self, p: Protection) -> Self {
        self.protection = Some(p);
        self
    }

    /// Fixes the run id (default: derived from the spec and the clock).
    pub fn run_id(mut self, id: impl Into<String>) -> Self {
        self.run_id = Some(id.into());
        self
    }
}
