//! Retire old images by policy, never one still in use.
//!
//! 1. A [`RetentionPolicy`] says which images form a family (a tag, or a name prefix), how many
//!    of the newest to keep per family (per owner account and Region, since images are
//!    regional), how old an image must be before it can go, and which tags protect an image.
//! 2. [`plan`] is a dry run: it scans every owner account and Region of the policy (following
//!    every page), and every account that could be using an image: the policy's usage accounts,
//!    and each account an image is explicitly shared with (through the [`Connector`]). Each image
//!    gets a [`Decision`] with every reason behind it. The [`RetirementPlan`] prints as a table
//!    and serialises to JSON.
//! 3. [`apply`] retires in stages: deprecate, then disable, then deregister with
//!    `DeleteAssociatedSnapshots` (AWS keeps snapshots other images use; the outcome lists
//!    them). Usage is scanned again first, so an image someone launched since the plan is left
//!    alone. [`RetireOptions::until`] stops after an earlier stage.
//!
//! An image is never retired while an instance in any state but `terminated` uses it in a
//! scanned account, nor while it is shared with something whose usage cannot be checked
//! (public, an organization or OU unless the policy says its members are scanned, an account the
//! connector cannot reach).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::api::{
    Connector, DeregisterImageRequest, DescribeImagesRequest, DescribeInstancesRequest, Ec2Ext,
    Owner,
};
use crate::error::{Error, Result};
use crate::id::{AccountId, ImageId, InstanceId, Region, SnapshotId};
use crate::model::{
    DeleteSnapshotOutcome, Image, ImageState, InstanceState, LaunchPermission, Tags,
};
use crate::ops::retry::{hash_str, retry, RetryPolicy};
use crate::time::Timestamp;

/// Which images form a family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FamilySelector {
    /// Images carrying tag `key`: one family per value, or only the images with `value`.
    Tag {
        /// The tag key.
        key: String,
        /// Only this value (one family); `None`: one family per value.
        value: Option<String>,
    },
    /// Images whose name starts with the prefix: one family.
    NamePrefix(String),
}

impl FamilySelector {
    /// The family of an image, or `None` if the selector does not select it.
    pub fn family_of(&self, image: &Image) -> Option<String> {
        match self {
            FamilySelector::Tag { key, value } => match (image.tags.get(key), value) {
                (Some(v), None) => Some(format!("{key}={v}")),
                (Some(v), Some(want)) if v == want => Some(format!("{key}={v}")),
                _ => None,
            },
            FamilySelector::NamePrefix(p) => {
                image.name.starts_with(p.as_str()).then(|| format!("{p}*"))
            }
        }
    }
}

/// A tag (key, and optionally value) that protects an image from retirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagSelector {
    /// The key.
    pub key: String,
    /// The value; `None` matches any value.
    pub value: Option<String>,
}

impl TagSelector {
    /// Whether the tags match.
    pub fn matches(&self, tags: &Tags) -> bool {
        match (tags.get(&self.key), &self.value) {
            (Some(_), None) => true,
            (Some(v), Some(want)) => v == want,
            _ => false,
        }
    }
}

/// Which images to retire, and where to look.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    /// The family selector.
    pub family: FamilySelector,
    /// Keep this many of the newest available images per family, account and Region.
    pub keep_newest: usize,
    /// Never retire an image younger than this.
    pub min_age: Duration,
    /// Images with any of these tags are kept.
    pub protect: Vec<TagSelector>,
    /// The accounts whose images are considered.
    pub owners: Vec<AccountId>,
    /// The Regions scanned.
    pub regions: Vec<Region>,
    /// Further accounts whose instances are scanned for usage (accounts reached through
    /// organization or OU sharing, for example).
    pub usage_accounts: Vec<AccountId>,
    /// The scanned accounts include every member of the organizations and OUs images are shared
    /// with; without it, an image shared with an organization or OU is kept.
    pub org_members_scanned: bool,
}

impl RetentionPolicy {
    /// A policy for `family`, keeping the newest `keep_newest`, for images of `owners` in
    /// `regions`, with no minimum age and no protecting tag.
    pub fn new(
        family: FamilySelector,
        keep_newest: usize,
        owners: impl IntoIterator<Item = AccountId>,
        regions: impl IntoIterator<Item = Region>,
    ) -> Self {
        RetentionPolicy {
            family,
            keep_newest,
            min_age: Duration::ZERO,
            protect: Vec::new(),
            owners: owners.into_iter().collect(),
            regions: regions.into_iter().collect(),
            usage_accounts: Vec::new(),
            org_members_scanned: false,
        }
    }

    /// Sets the minimum age.
    pub fn min_age(mut self, d: Duration) -> Self {
        self.min_age = d;
        self
    }

    /// Protects images with tag `key` (any value, or `value`).
    pub fn protect_tag(mut self, key: impl Into<String>, value: Option<&str>) -> Self {
        self.protect.push(TagSelector {
            key: key.into(),
            value: value.map(str::to_owned),
        });
        self
    }

    /// Scans the instances of `account` too.
    pub fn usage_account(mut self, account: AccountId) -> Self {
        self.usage_accounts.push(account);
        self
    }

    /// Declares that the scanned accounts cover every member of shared organizations and OUs.
    pub fn org_members_scanned(mut self, yes: bool) -> Self {
        self.org_members_scanned = yes;
        self
    }

    fn check(&self) -> Result<()> {
        if self.owners.is_empty() || self.regions.is_empty() {
            return Err(Error::from_code(
                "MissingParameter",
                "the retention policy names no owner account or no Region; add at least one of each",
            ));
        }
        if let FamilySelector::NamePrefix(p) = &self.family {
            if p.is_empty() {
                return Err(Error::from_code(
                    "InvalidParameterValue",
                    "the family name prefix is empty, which would select every image; give a prefix or use a tag",
                ));
            }
        }
        Ok(())
    }
}

/// An instance that uses an image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InstanceUse {
    /// The account running it.
    pub account: AccountId,
    /// The Region.
    pub region: Region,
    /// The instance.
    pub instance_id: InstanceId,
    /// Its state.
    pub state: InstanceState,
}

/// Why an image is kept or retired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// Kept: among the newest of its family.
    AmongNewest {
        /// 1 = newest.
        rank: usize,
        /// How many are kept.
        keep: usize,
    },
    /// Kept: younger than the minimum age.
    TooYoung {
        /// Its age, in seconds.
        age_secs: u64,
        /// The minimum age, in seconds.
        min_age_secs: u64,
    },
    /// Kept: carries a protecting tag.
    ProtectedByTag {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Kept: deregistration protection is on.
    DeregistrationProtected,
    /// Kept: still pending.
    Pending,
    /// Kept: instances use it.
    InUse {
        /// The instances.
        instances: Vec<InstanceUse>,
    },
    /// Kept: shared with someone whose usage cannot be checked.
    UsageUnknown {
        /// With whom, and why it cannot be checked.
        detail: String,
    },
    /// Retire: older than the newest `keep` of its family.
    BeyondNewest {
        /// 1 = newest.
        rank: usize,
        /// How many are kept.
        keep: usize,
    },
    /// Retire: it failed, so it can never be used.
    Failed,
    /// Retire: old enough.
    OldEnough {
        /// Its age, in seconds.
        age_secs: u64,
    },
    /// Retire: no instance in any scanned account uses it.
    Unused,
}

impl Reason {
    fn keeps(&self) -> bool {
        !matches!(
            self,
            Reason::BeyondNewest { .. }
                | Reason::Failed
                | Reason::OldEnough { .. }
                | Reason::Unused
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::AmongNewest { rank, keep } => write!(f, "newest #{rank} of {keep} kept"),
            Reason::TooYoung {
                age_secs,
                min_age_secs,
            } => write!(
                f,
                "{}h old, younger than {}h",
                age_secs / 3600,
                min_age_secs / 3600
            ),
            Reason::ProtectedByTag { key, value } => write!(f, "protected by tag {key}={value}"),
            Reason::DeregistrationProtected => f.write_str("deregistration protection is on"),
            Reason::Pending => f.write_str("still pending"),
            Reason::InUse { instances } => {
                let list: Vec<String> = instances
                    .iter()
                    .map(|i| {
                        format!(
                            "{} ({}, {}/{})",
                            i.instance_id,
                            i.state.as_str(),
                            i.region,
                            i.account
                        )
                    })
                    .collect();
                write!(f, "in use by {}", list.join(", "))
            }
            Reason::UsageUnknown { detail } => write!(f, "usage unknown: {detail}"),
            Reason::BeyondNewest { rank, keep } => write!(f, "#{rank}, beyond the newest {keep}"),
            Reason::Failed => f.write_str("failed image"),
            Reason::OldEnough { age_secs } => write!(f, "{}h old", age_secs / 3600),
            Reason::Unused => f.write_str("no instance uses it"),
        }
    }
}

/// Keep or retire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Leave it.
    Keep,
    /// Retire it.
    Retire,
}

/// The decision about one image, with every reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The image.
    pub image_id: ImageId,
    /// Its owner.
    pub account: AccountId,
    /// Its Region.
    pub region: Region,
    /// Its name.
    pub name: String,
    /// Its family.
    pub family: String,
    /// Its creation time.
    pub created: Timestamp,
    /// Its state when scanned.
    pub state: ImageState,
    /// Keep or retire.
    pub action: Action,
    /// Why.
    pub reasons: Vec<Reason>,
}

/// The dry-run report: a decision for every image of the policy's families.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetirementPlan {
    /// The policy.
    pub policy: RetentionPolicy,
    /// When the scan ran.
    pub scanned_at: Timestamp,
    /// The account/Region pairs whose instances were scanned.
    pub scanned: Vec<(AccountId, Region)>,
    /// The decisions, by account, Region, family, newest first.
    pub decisions: Vec<Decision>,
}

impl RetirementPlan {
    /// The decisions to retire.
    pub fn to_retire(&self) -> impl Iterator<Item = &Decision> {
        self.decisions.iter().filter(|d| d.action == Action::Retire)
    }
}

impl fmt::Display for RetirementPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let retire = self.to_retire().count();
        writeln!(
            f,
            "retirement plan at {}: {} image(s), {} to retire, {} kept; instances scanned in {} account/Region pair(s)",
            self.scanned_at,
            self.decisions.len(),
            retire,
            self.decisions.len() - retire,
            self.scanned.len()
        )?;
        for d in &self.decisions {
            let reasons: Vec<String> = d.reasons.iter().map(|r| r.to_string()).collect();
            writeln!(
                f,
                "  {:<6} {} {:<12} {} {:<24} {:<16} {}: {}",
                match d.action {
                    Action::Keep => "keep",
                    Action::Retire => "RETIRE",
                },
                d.image_id,
                d.region.as_str(),
                d.account,
                format!("{:?}", d.name),
                d.family,
                d.created,
                reasons.join("; ")
            )?;
        }
        Ok(())
    }
}

/// Usage of images, by image id, from the scanned accounts.
#[derive(Debug, Default)]
struct Usage {
    by_image: BTreeMap<ImageId, Vec<InstanceUse>>,
    scanned: BTreeSet<(AccountId, Region)>,
    unreachable: BTreeMap<(AccountId, Region), String>,
}

impl Usage {
    /// Scans the instances of `account` in `region` (every page), once.
    async fn scan(
        &mut self,
        connector: &dyn Connector,
        policy: &RetryPolicy,
        account: &AccountId,
        region: &Region,
    ) {
        let key = (account.clone(), region.clone());
        if self.scanned.contains(&key) || self.unreachable.contains_key(&key) {
            return;
        }
        let result = async {
            let ec2 = connector.ec2(account, region)?;
            retry(
                "DescribeInstances",
                policy,
                policy.max_attempts,
                Some(hash_str(account.as_str())),
                || ec2.describe_all_instances(DescribeInstancesRequest::new().max_results(1000)),
            )
            .await
            .map_err(|(e, _)| e)
        }
        .await;
        match result {
            Ok(instances) => {
                for i in instances {
                    if i.state == InstanceState::Terminated {
                        continue;
                    }
                    self.by_image
                        .entry(i.image_id.clone())
                        .or_default()
                        .push(InstanceUse {
                            account: account.clone(),
                            region: region.clone(),
                            instance_id: i.id,
                            state: i.state,
                        });
                }
                self.scanned.insert(key);
            }
            Err(e) => {
                self.unreachable
                    .insert(key, format!("{} ({})", e.message(), e.code()));
            }
        }
    }

    /// Why an image cannot be retired, if it is used or its usage is unknown.
    async fn blockers(
        &mut self,
        connector: &dyn Connector,
        retry_policy: &RetryPolicy,
        policy: &RetentionPolicy,
        image: &Image,
    ) -> Vec<Reason> {
        let mut reasons = Vec::new();
        let region = &image.region;
        let mut accounts: BTreeSet<AccountId> = policy.owners.iter().cloned().collect();
        accounts.extend(policy.usage_accounts.iter().cloned());
        let perms = async {
            let ec2 = connector.ec2(&image.owner, region)?;
            retry(
                "DescribeImageAttribute",
                retry_policy,
                retry_policy.max_attempts,
                Some(hash_str(image.id.as_str())),
                || ec2.describe_launch_permissions(image.id.clone()),
            )
            .await
            .map_err(|(e, _)| e)
        }
        .await;
        match perms {
            Ok(perms) => {
                for p in perms {
                    match p {
                        LaunchPermission::Account(a) => {
                            accounts.insert(a);
                        }
                        LaunchPermission::Public => reasons.push(Reason::UsageUnknown {
                            detail: "it is public".into(),
                        }),
                        LaunchPermission::Organization(o) if !policy.org_members_scanned => {
                            reasons.push(Reason::UsageUnknown {
                                detail: format!("shared with organization {o}; scan its members (usage_accounts) and set org_members_scanned"),
                            })
                        }
                        LaunchPermission::OrganizationalUnit(o) if !policy.org_members_scanned => {
                            reasons.push(Reason::UsageUnknown {
                                detail: format!("shared with OU {o}; scan its members (usage_accounts) and set org_members_scanned"),
                            })
                        }
                        _ => {}
                    }
                }
            }
            Err(e) => reasons.push(Reason::UsageUnknown {
                detail: format!(
                    "its launch permissions cannot be read: {} ({})",
                    e.message(),
                    e.code()
                ),
            }),
        }
        for a in &accounts {
            self.scan(connector, retry_policy, a, region).await;
            if let Some(why) = self.unreachable.get(&(a.clone(), region.clone())) {
                reasons.push(Reason::UsageUnknown {
                    detail: format!("instances of {a} in {region} cannot be listed: {why}"),
                });
            }
        }
        if let Some(uses) = self.by_image.get(&image.id) {
            let mut instances = uses.clone();
            instances.sort();
            reasons.push(Reason::InUse { instances });
        }
        reasons
    }
}

fn age_secs(now: Timestamp, created: Timestamp) -> u64 {
    now.since(created).as_secs()
}

/// The dry run: scans, decides, explains. Changes nothing.
pub async fn plan(connector: &dyn Connector, policy: &RetentionPolicy) -> Result<RetirementPlan> {
    policy.check()?;
    let retry_policy = RetryPolicy::default();
    let now = connector.clock().now();
    let mut usage = Usage::default();
    let mut decisions = Vec::new();
    let owners: BTreeSet<&AccountId> = policy.owners.iter().collect();
    let regions: BTreeSet<&Region> = policy.regions.iter().collect();
    for owner in &owners {
        for region in &regions {
            let ec2 = connector.ec2(owner, region)?;
            let req = DescribeImagesRequest::new()
                .owner(Owner::SelfAccount)
                .include_deprecated(true)
                .include_disabled(true)
                .max_results(1000);
            let images = retry(
                "DescribeImages",
                &retry_policy,
                retry_policy.max_attempts,
                Some(hash_str(region.as_str())),
                || ec2.describe_all_images(req.clone()),
            )
            .await
            .map_err(|(e, _)| e)?;
            let mut families: BTreeMap<String, Vec<Image>> = BTreeMap::new();
            for img in images {
                if img.state == ImageState::Deregistered {
                    continue;
                }
                if let Some(f) = policy.family.family_of(&img) {
                    families.entry(f).or_default().push(img);
                }
            }
            for (family, mut imgs) in families {
                imgs.sort_by(|a, b| b.creation_time.cmp(&a.creation_time).then(b.id.cmp(&a.id)));
                let mut rank = 0;
                for img in imgs {
                    let mut reasons = Vec::new();
                    match img.state {
                        ImageState::Available => {
                            rank += 1;
                            if rank <= policy.keep_newest {
                                reasons.push(Reason::AmongNewest {
                                    rank,
                                    keep: policy.keep_newest,
                                });
                            } else {
                                reasons.push(Reason::BeyondNewest {
                                    rank,
                                    keep: policy.keep_newest,
                                });
                            }
                        }
                        ImageState::Pending => reasons.push(Reason::Pending),
                        ImageState::Failed => reasons.push(Reason::Failed),
                        // Disabled (or an unusual state): already on its way out; continue.
                        _ => {}
                    }
                    let age = age_secs(now, img.creation_time);
                    if now.since(img.creation_time) < policy.min_age {
                        reasons.push(Reason::TooYoung {
                            age_secs: age,
                            min_age_secs: policy.min_age.as_secs(),
                        });
                    } else {
                        reasons.push(Reason::OldEnough { age_secs: age });
                    }
                    for sel in &policy.protect {
                        if sel.matches(&img.tags) {
                            reasons.push(Reason::ProtectedByTag {
                                key: sel.key.clone(),
                                value: img.tags.get(&sel.key).cloned().unwrap_or_default(),
                            });
                        }
                    }
                    if img.deregistration_protection.protects_at(now) {
                        reasons.push(Reason::DeregistrationProtected);
                    }
                    // Only an image that would otherwise go is checked for usage (fewer calls).
                    if !reasons.iter().any(Reason::keeps) {
                        let blockers = usage.blockers(connector, &retry_policy, policy, &img).await;
                        if blockers.is_empty() {
                            reasons.push(Reason::Unused);
                        }
                        reasons.extend(blockers);
                    }
                    let action = if reasons.iter().any(Reason::keeps) {
                        Action::Keep
                    } else {
                        Action::Retire
                    };
                    decisions.push(Decision {
                        image_id: img.id.clone(),
                        account: (*owner).clone(),
                        region: (*region).clone(),
                        name: img.name.clone(),
                        family: family.clone(),
                        created: img.creation_time,
                        state: img.state,
                        action,
                        reasons,
                    });
                }
            }
        }
    }
    Ok(RetirementPlan {
        policy: policy.clone(),
        scanned_at: now,
        scanned: usage.scanned.into_iter().collect(),
        decisions,
    })
}

/// How far [`apply`] goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RetireStage {
    /// Deprecate only.
    Deprecate,
    /// Deprecate, then disable.
    Disable,
    /// Deprecate, disable, then deregister with the snapshots no other image uses.
    Deregister,
}

/// Options of [`apply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetireOptions {
    /// The last stage to run.
    pub until: RetireStage,
    /// Retries of transient errors.
    pub retry: RetryPolicy,
}

impl Default for RetireOptions {
    fn default() -> Self {
        RetireOptions {
            until: RetireStage::Deregister,
            retry: RetryPolicy::default(),
        }
    }
}

/// What happened to one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retired {
    /// The image.
    pub image_id: ImageId,
    /// Its owner.
    pub account: AccountId,
    /// Its Region.
    pub region: Region,
    /// The stages done (deprecation already in force counts as done).
    pub stages: Vec<RetireStage>,
    /// Snapshots deleted with it.
    pub snapshots_deleted: Vec<SnapshotId>,
    /// Snapshots kept, with AWS's reason (`Skipped`: another image uses it).
    pub snapshots_kept: Vec<(SnapshotId, DeleteSnapshotOutcome)>,
    /// Why it was not (fully) retired, if so.
    pub skipped: Option<String>,
}

/// The outcome of [`apply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetirementOutcome {
    /// When it ran.
    pub at: Timestamp,
    /// Per image.
    pub images: Vec<Retired>,
}

impl fmt::Display for RetirementOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "retirement at {}: {} image(s)",
            self.at,
            self.images.len()
        )?;
        for r in &self.images {
            let stages: Vec<&str> = r
                .stages
                .iter()
                .map(|s| match s {
                    RetireStage::Deprecate => "deprecated",
                    RetireStage::Disable => "disabled",
                    RetireStage::Deregister => "deregistered",
                })
                .collect();
            write!(
                f,
                "  {} {}/{}: {}",
                r.image_id,
                r.region,
                r.account,
                stages.join(", ")
            )?;
            if !r.snapshots_deleted.is_empty() {
                write!(f, "; {} snapshot(s) deleted", r.snapshots_deleted.len())?;
            }
            if !r.snapshots_kept.is_empty() {
                write!(
                    f,
                    "; {} snapshot(s) kept (used by other images)",
                    r.snapshots_kept.len()
                )?;
            }
            if let Some(s) = &r.skipped {
                write!(f, "; left alone: {s}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// Retires the plan's images in stages: every image is deprecated, then every image disabled,
/// then every image deregistered with its snapshots. Usage is checked again first: an image an
/// instance started using since the plan is left alone, with the reason.
///
/// Errors are per image (reported in [`Retired::skipped`]); the call fails only if the plan is
/// unusable.
pub async fn apply(
    connector: &dyn Connector,
    plan: &RetirementPlan,
    options: &RetireOptions,
) -> Result<RetirementOutcome> {
    plan.policy.check()?;
    let rp = options.retry;
    let now = connector.clock().now();
    let mut usage = Usage::default();
    let mut todo: Vec<Retired> = Vec::new();
    let mut done: Vec<Retired> = Vec::new();
    for d in plan.to_retire() {
        let mut r = Retired {
            image_id: d.image_id.clone(),
            account: d.account.clone(),
            region: d.region.clone(),
            stages: Vec::new(),
            snapshots_deleted: Vec::new(),
            snapshots_kept: Vec::new(),
            skipped: None,
        };
        let ec2 = connector.ec2(&d.account, &d.region)?;
        let image = match retry(
            "DescribeImages",
            &rp,
            rp.max_attempts,
            Some(hash_str(d.image_id.as_str())),
            || ec2.describe_image(&d.image_id),
        )
        .await
        {
            Ok(i) => i,
            Err((e, _)) if e.is_not_found() => {
                r.skipped = Some("it no longer exists".into());
                done.push(r);
                continue;
            }
            Err((e, _)) => {
                r.skipped = Some(format!(
                    "it cannot be described: {} ({})",
                    e.message(),
                    e.code()
                ));
                done.push(r);
                continue;
            }
        };
        let mut keep: Vec<String> = Vec::new();
        if image.deregistration_protection.protects_at(now) {
            keep.push(Reason::DeregistrationProtected.to_string());
        }
        for sel in &plan.policy.protect {
            if sel.matches(&image.tags) {
                keep.push(format!("protected by tag {}", sel.key));
            }
        }
        for b in usage.blockers(connector, &rp, &plan.policy, &image).await {
            keep.push(b.to_string());
        }
        if keep.is_empty() {
            if image.is_deprecated_at(now) {
                r.stages.push(RetireStage::Deprecate);
            }
            if image.state == ImageState::Disabled {
                r.stages.push(RetireStage::Disable);
            }
            todo.push(r);
        } else {
            r.skipped = Some(keep.join("; "));
            done.push(r);
        }
    }

    for stage in [
        RetireStage::Deprecate,
        RetireStage::Disable,
        RetireStage::Deregister,
    ] {
        if stage > options.until {
            break;
        }
        for r in todo.iter_mut() {
            if r.skipped.is_some() || r.stages.contains(&stage) {
                continue;
            }
            let ec2 = connector.ec2(&r.account, &r.region)?;
            let salt = hash_str(r.image_id.as_str());
            let id = r.image_id.clone();
            let result = match stage {
                RetireStage::Deprecate => {
                    // AWS: the time cannot be in the past, and is rounded to the minute.
                    let at = connector.clock().now().add(Duration::from_secs(60));
                    retry(
                        "EnableImageDeprecation",
                        &rp,
                        rp.max_attempts,
                        Some(salt),
                        || ec2.enable_image_deprecation(id.clone(), at),
                    )
                    .await
                }
                RetireStage::Disable => {
                    retry("DisableImage", &rp, rp.max_attempts, Some(salt), || {
                        ec2.disable_image(id.clone())
                    })
                    .await
                }
                RetireStage::Deregister => {
                    let req = DeregisterImageRequest::new(id.clone()).with_snapshots();
                    match retry("DeregisterImage", &rp, rp.max_attempts, Some(salt), || {
                        ec2.deregister_image(req.clone())
                    })
                    .await
                    {
                        Ok(results) => {
                            for s in results {
                                if s.outcome == DeleteSnapshotOutcome::Success {
                                    r.snapshots_deleted.push(s.snapshot_id);
                                } else {
                                    r.snapshots_kept.push((s.snapshot_id, s.outcome));
                                }
                            }
                            Ok(())
                        }
                        Err(e) => Err(e),
                    }
                }
            };
            match result {
                Ok(()) => r.stages.push(stage),
                Err((e, _)) => {
                    r.skipped = Some(format!("{stage:?} failed: {} ({})", e.message(), e.code()));
                }
            }
        }
    }
    let mut images = done;
    images.extend(todo);
    images.sort_by(|a, b| {
        (&a.account, &a.region, &a.image_id).cmp(&(&b.account, &b.region, &b.image_id))
    });
    Ok(RetirementOutcome { at: now, images })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::api::{Ec2, Kms, MockEc2, Page};
    use crate::model::{DeregistrationProtection, Instance};
    use crate::time::{Clock, VirtualClock};

    #[derive(Debug)]
    struct OneScope {
        ec2: Arc<MockEc2>,
        clock: Arc<VirtualClock>,
    }

    impl Connector for OneScope {
        fn ec2(&self, _: &AccountId, _: &Region) -> Result<Arc<dyn Ec2>> {
            Ok(self.ec2.clone())
        }
        fn kms(&self, _: &AccountId, _: &Region) -> Result<Arc<dyn Kms>> {
            Err(Error::workflow("no KMS here"))
        }
        fn clock(&self) -> Arc<dyn Clock> {
            self.clock.clone()
        }
    }

    fn image(n: u128, name: &str, created: Timestamp) -> Image {
        Image {
            id: ImageId::from_u128(n),
            region: "us-east-1".parse().unwrap(),
            name: name.into(),
            description: None,
            owner: AccountId::from_number(1),
            owner_alias: None,
            state: ImageState::Available,
            state_reason: None,
            public: false,
            block_devices: vec![],
            root_device_name: "/dev/xvda".into(),
            architecture: "x86_64".into(),
            product_codes: vec![],
            tags: [("Family".to_string(), "web".to_string())].into(),
            creation_time: created,
            deprecation_time: None,
            deregistration_protection: DeregistrationProtection::Disabled,
            source_image_id: None,
            source_region: None,
            source_instance_id: None,
            last_launched_time: None,
        }
    }

    fn instance(n: u128, image: u128, state: InstanceState) -> Instance {
        Instance {
            id: InstanceId::from_u128(n),
            region: "us-east-1".parse().unwrap(),
            owner: AccountId::from_number(1),
            image_id: ImageId::from_u128(image),
            instance_type: "t3.micro".into(),
            state,
            state_reason: None,
            launch_time: VirtualClock::DEFAULT_EPOCH,
            volumes: vec![],
            product_codes: Vec::new(),
            tags: Tags::new(),
        }
    }

    /// Both describe calls are followed to their last page: the older image appears only on
    /// the second page of images, and the instance using it only on the second page of
    /// instances (a stopped instance counts as a use; a terminated one does not).
    #[tokio::test(start_paused = true)]
    async fn every_page_is_read_before_deciding() {
        let t0 = VirtualClock::DEFAULT_EPOCH;
        let mut ec2 = MockEc2::new();
        ec2.expect_describe_images().times(2).returning(move |r| {
            Ok(match r.next_token.as_deref() {
                None => Page {
                    items: vec![image(2, "web-2", t0.add(Duration::from_secs(86_400)))],
                    next_token: Some("images-2".into()),
                },
                Some("images-2") => Page::last(vec![image(1, "web-1", t0)]),
                Some(other) => panic!("unexpected token {other}"),
            })
        });
        ec2.expect_describe_launch_permissions()
            .times(1)
            .returning(|_| Ok(vec![]));
        ec2.expect_describe_instances().times(2).returning(|r| {
            assert_eq!(r.max_results, Some(1000));
            Ok(match r.next_token.as_deref() {
                None => Page {
                    items: vec![instance(1, 1, InstanceState::Terminated)],
                    next_token: Some("instances-2".into()),
                },
                Some("instances-2") => Page::last(vec![instance(2, 1, InstanceState::Stopped)]),
                Some(other) => panic!("unexpected token {other}"),
            })
        });
        let connector = OneScope {
            ec2: Arc::new(ec2),
            clock: Arc::new(VirtualClock::new(t0.add(Duration::from_secs(10 * 86_400)))),
        };
        let policy = RetentionPolicy::new(
            FamilySelector::Tag {
                key: "Family".into(),
                value: Some("web".into()),
            },
            1,
            [AccountId::from_number(1)],
            ["us-east-1".parse().unwrap()],
        );
        let plan = plan(&connector, &policy).await.unwrap();
        assert_eq!(plan.decisions.len(), 2);
        let web1 = &plan.decisions[1];
        assert_eq!(web1.name, "web-1");
        assert_eq!(web1.action, Action::Keep);
        assert_eq!(
            web1.reasons.last(),
            Some(&Reason::InUse {
                instances: vec![InstanceUse {
                    account: AccountId::from_number(1),
                    region: "us-east-1".parse().unwrap(),
                    instance_id: InstanceId::from_u128(2),
                    state: InstanceState::Stopped,
                }]
            })
        );
        assert_eq!(plan.to_retire().count(), 0);
    }
}
