//! The compliance scan: every instance (not shutting down or terminated) of every account and Region in scope
//! that runs an image the policy does not approve, with the reasons, like AWS Config's
//! `approved-amis-by-tag` rule but across accounts and Regions in one pass.
//!
//! The scan pages through DescribeInstances, resolves each distinct image once per account and
//! Region (DescribeImages in batches, deprecated and disabled images included) and caches the
//! verdict per image id, so evaluating an instance is one hash lookup. An image the account
//! cannot see (deregistered and gone, or no longer shared) is a violation of its own. When the
//! image belongs to another account in scope, its tags are read as its owner sees them (EC2
//! shows tags only to the owner), which is what IAM evaluates at launch.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::policy::{ApprovalPolicy, Verdict, Violation};
use crate::api::{Connector, DescribeImagesRequest, DescribeInstancesRequest, Ec2, Ec2Ext};
use crate::error::{Error, Result};
use crate::id::{AccountId, ImageId, InstanceId, Region};
use crate::model::{Image, InstanceState};
use crate::ops::retry::retry_default;
use crate::time::Timestamp;

/// How many image ids one DescribeImages call of the scan names.
const IMAGE_BATCH: usize = 100;

/// Which accounts and Regions a scan covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanScope {
    /// The accounts, scanned in this order.
    pub accounts: Vec<AccountId>,
    /// The Regions, scanned in this order for each account.
    pub regions: Vec<Region>,
    /// DescribeInstances page size (AWS accepts 5 to 1000).
    pub page_size: u32,
}

impl ScanScope {
    /// Every pair of `accounts` × `regions`, with pages of 1000 instances.
    pub fn new(
        accounts: impl IntoIterator<Item = AccountId>,
        regions: impl IntoIterator<Item = Region>,
    ) -> Self {
        ScanScope {
            accounts: accounts.into_iter().collect(),
            regions: regions.into_iter().collect(),
            page_size: 1000,
        }
    }

    /// Sets the DescribeInstances page size (clamped to AWS's 5..=1000).
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = n.clamp(5, 1000);
        self
    }
}

/// One instance running an unapproved image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The account the instance runs in.
    pub account: AccountId,
    /// Its Region.
    pub region: Region,
    /// The instance.
    pub instance_id: InstanceId,
    /// The image it was launched from.
    pub image_id: ImageId,
    /// The instance state at scan time.
    pub state: InstanceState,
    /// When it was launched.
    pub launch_time: Timestamp,
    /// Why the image is not approved (shared by every finding of the same image).
    pub verdict: Arc<Verdict>,
}

/// A scope the scan could not finish; the rest of the report is still valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeError {
    /// The account.
    pub account: AccountId,
    /// The Region.
    pub region: Region,
    /// What failed, after retries.
    pub error: Error,
}

/// The result of a [`scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplianceReport {
    /// The time the verdicts were evaluated at (read once from the connector's clock).
    pub evaluated_at: Timestamp,
    /// How many instances (not shutting down or terminated) were examined.
    pub instances_scanned: u64,
    /// How many distinct (account, Region, image) verdicts were computed.
    pub images_evaluated: u64,
    /// The non-compliant instances, by account, then Region, then DescribeInstances order.
    pub findings: Vec<Finding>,
    /// The scopes that failed, in scope order.
    pub errors: Vec<ScopeError>,
}

impl ComplianceReport {
    /// Whether every scanned instance runs an approved image and every scope was scanned.
    pub fn is_compliant(&self) -> bool {
        self.findings.is_empty() && self.errors.is_empty()
    }

    /// How many scanned instances run an approved image.
    pub fn compliant_count(&self) -> u64 {
        self.instances_scanned
            .saturating_sub(self.findings.len() as u64)
    }

    /// The non-compliant instance ids, sorted (handy for comparisons).
    pub fn non_compliant_ids(&self) -> BTreeSet<InstanceId> {
        self.findings
            .iter()
            .map(|f| f.instance_id.clone())
            .collect()
    }
}

/// Scans every account × Region of `scope` and reports each instance (not shutting down or
/// terminated) whose
/// image `policy` does not approve, with the reasons.
///
/// Calls that fail with a retryable error are retried with exponential backoff (on the tokio
/// clock); a scope that still fails is recorded in [`ComplianceReport::errors`] and the scan
/// goes on. "Now" (for age and deprecation) is read once from the connector's clock.
pub async fn scan(
    connector: &dyn Connector,
    policy: &ApprovalPolicy,
    scope: &ScanScope,
) -> Result<ComplianceReport> {
    let now = connector.clock().now();
    let mut report = ComplianceReport {
        evaluated_at: now,
        instances_scanned: 0,
        images_evaluated: 0,
        findings: Vec::new(),
        errors: Vec::new(),
    };
    let in_scope: BTreeSet<&AccountId> = scope.accounts.iter().collect();
    // Images as their owners see them, shared by every account of the scan.
    let mut owner_views: HashMap<(Region, ImageId), Option<Image>> = HashMap::new();
    // An account or Region listed twice is scanned once.
    let mut seen = BTreeSet::new();
    let accounts: Vec<&AccountId> = scope.accounts.iter().filter(|a| seen.insert(*a)).collect();
    let mut seen = BTreeSet::new();
    let regions: Vec<&Region> = scope.regions.iter().filter(|r| seen.insert(*r)).collect();
    for account in accounts {
        for region in regions.iter().copied() {
            let mut ctx = ScopeScan {
                connector,
                policy,
                now,
                account,
                region,
                in_scope: &in_scope,
                owner_views: &mut owner_views,
                verdicts: HashMap::new(),
            };
            if let Err(error) = ctx.run(scope.page_size, &mut report).await {
                report.errors.push(ScopeError {
                    account: account.clone(),
                    region: region.clone(),
                    error,
                });
            }
        }
    }
    Ok(report)
}

/// The scan of one account in one Region.
struct ScopeScan<'a> {
    connector: &'a dyn Connector,
    policy: &'a ApprovalPolicy,
    now: Timestamp,
    account: &'a AccountId,
    region: &'a Region,
    in_scope: &'a BTreeSet<&'a AccountId>,
    owner_views: &'a mut HashMap<(Region, ImageId), Option<Image>>,
    verdicts: HashMap<ImageId, Arc<Verdict>>,
}

impl ScopeScan<'_> {
    async fn run(&mut self, page_size: u32, report: &mut ComplianceReport) -> Result<()> {
        let ec2 = self.connector.ec2(self.account, self.region)?;
        let mut req = DescribeInstancesRequest::new().max_results(page_size);
        loop {
            let page =
                retry_default("DescribeInstances", || ec2.describe_instances(req.clone())).await?;
            // One verdict lookup per instance; images not seen yet are resolved once, in a
            // batch, and looked up again after.
            let mut unknown: BTreeSet<ImageId> = BTreeSet::new();
            let known: Vec<Option<Arc<Verdict>>> = page
                .items
                .iter()
                .map(|i| {
                    if !is_live(i.state) {
                        return None;
                    }
                    let v = self.verdicts.get(&i.image_id).cloned();
                    if v.is_none() {
                        unknown.insert(i.image_id.clone());
                    }
                    v
                })
                .collect();
            if !unknown.is_empty() {
                let images = self.resolve(ec2.as_ref(), unknown).await?;
                report.images_evaluated += images.len() as u64;
                for (id, image) in images {
                    let verdict = match image {
                        Some(img) => self.policy.evaluate(&img, self.now),
                        None => Verdict::with(vec![Violation::ImageNotFound]),
                    };
                    self.verdicts.insert(id, Arc::new(verdict));
                }
            }
            for (inst, verdict) in page.items.into_iter().zip(known) {
                if !is_live(inst.state) {
                    continue;
                }
                report.instances_scanned += 1;
                let verdict = match verdict {
                    Some(v) => v,
                    None => match self.verdicts.get(&inst.image_id) {
                        Some(v) => Arc::clone(v),
                        None => continue,
                    },
                };
                if !verdict.is_approved() {
                    report.findings.push(Finding {
                        account: self.account.clone(),
                        region: self.region.clone(),
                        instance_id: inst.id,
                        image_id: inst.image_id,
                        state: inst.state,
                        launch_time: inst.launch_time,
                        verdict,
                    });
                }
            }
            match page.next_token {
                Some(t) => req.next_token = Some(t),
                None => return Ok(()),
            }
        }
    }

    /// Each id → the image as this account sees it (as its owner sees it when the owner is in
    /// scope), or `None` when the account cannot see it.
    async fn resolve(
        &mut self,
        ec2: &dyn Ec2,
        ids: BTreeSet<ImageId>,
    ) -> Result<BTreeMap<ImageId, Option<Image>>> {
        let ids: Vec<ImageId> = ids.into_iter().collect();
        let mut out: BTreeMap<ImageId, Option<Image>> = BTreeMap::new();
        for chunk in ids.chunks(IMAGE_BATCH) {
            for (id, image) in describe_batch(ec2, chunk).await? {
                out.insert(id, image);
            }
        }
        for (id, image) in out.iter_mut() {
            let Some(img) = image else { continue };
            if &img.owner == self.account || !self.in_scope.contains(&img.owner) {
                continue;
            }
            let key = (self.region.clone(), id.clone());
            if !self.owner_views.contains_key(&key) {
                let owner = self.connector.ec2(&img.owner, self.region)?;
                let view = match retry_default("DescribeImages", || owner.describe_image(id)).await
                {
                    Ok(v) => Some(v),
                    Err(e) if e.is_not_found() => None,
                    Err(e) => return Err(e),
                };
                self.owner_views.insert(key.clone(), view);
            }
            if let Some(Some(owner_view)) = self.owner_views.get(&key) {
                *img = owner_view.clone();
            }
        }
        Ok(out)
    }
}

/// Whether an instance counts: it is not shutting down or terminated.
fn is_live(state: InstanceState) -> bool {
    !matches!(
        state,
        InstanceState::ShuttingDown | InstanceState::Terminated
    )
}

/// DescribeImages of up to [`IMAGE_BATCH`] ids. AWS fails the whole call when one id is
/// unknown, so on `NotFound` the ids are asked one by one.
async fn describe_batch(ec2: &dyn Ec2, ids: &[ImageId]) -> Result<Vec<(ImageId, Option<Image>)>> {
    let req = DescribeImagesRequest::ids(ids.iter().cloned())
        .include_deprecated(true)
        .include_disabled(true);
    match retry_default("DescribeImages", || ec2.describe_all_images(req.clone())).await {
        Ok(images) => {
            let mut found: HashMap<ImageId, Image> =
                images.into_iter().map(|i| (i.id.clone(), i)).collect();
            Ok(ids
                .iter()
                .map(|id| (id.clone(), found.remove(id)))
                .collect())
        }
        Err(e) if e.is_not_found() => {
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                match retry_default("DescribeImages", || ec2.describe_image(id)).await {
                    Ok(img) => out.push((id.clone(), Some(img))),
                    Err(e) if e.is_not_found() => out.push((id.clone(), None)),
                    Err(e) => return Err(e),
                }
            }
            Ok(out)
        }
        Err(e) => Err(e),
    }
}
