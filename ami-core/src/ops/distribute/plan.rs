//! From a [`DistributionSpec`] to a checked, printable [`DistributionPlan`].
//!
//! Planning reads only: it describes the source, every target key and the names already in use
//! in every destination, and refuses the whole plan (before any copy is made) if anything would
//! fail later.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::spec::{Destination, DistributionSpec, Protection, SourceImage};
use crate::api::{Connector, CopyImageRequest, DescribeImagesRequest, Ec2Ext, Filter, Owner};
use crate::error::{Error, Result};
use crate::id::{AccountId, ClientToken, KmsKeyRef, Region, SnapshotId};
use crate::model::{Encryption, ImageState, KeyManager, KeyState, LaunchPermission, Tags};
use crate::ops::retry::{hash_str, mix, retry, RetryPolicy};
use crate::rules::{check_key_region, check_name_available, validate_image_name};
use crate::time::Timestamp;

/// The tag every copy and snapshot of a run carries: its run id. Rollback uses it to find
/// snapshots of copies that were still pending.
pub const RUN_TAG: &str = "ami-distribute:run-id";

/// One copy the plan makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedCopy {
    /// Where it goes.
    pub destination: Destination,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: Option<String>,
    /// The key it is encrypted with (`None`: AWS's default behaviour).
    pub kms_key: Option<KmsKeyRef>,
    /// The key's ARN, as DescribeKey resolved it during planning (key policies are edited
    /// through it).
    pub kms_key_arn: Option<KmsKeyRef>,
    /// The CopyImage idempotency token (run id + destination).
    pub client_token: ClientToken,
    /// Launch permissions granted once it is available.
    pub launch_permissions: Vec<LaunchPermission>,
}

/// A checked plan: what [`apply`](super::apply) will do, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistributionPlan {
    /// The run id; every client token and the [`RUN_TAG`] derive from it.
    pub run_id: String,
    /// The source image.
    pub source: SourceImage,
    /// The source's name.
    pub source_name: String,
    /// The source's snapshots.
    pub source_snapshots: Vec<SnapshotId>,
    /// The keys of the source's snapshots.
    pub source_keys: Vec<Encryption>,
    /// Accounts the source is shared with so they can copy it into their own account.
    pub shared_with: Vec<AccountId>,
    /// The copies, ordered by Region then account.
    pub copies: Vec<PlannedCopy>,
    /// Tags of every copy and snapshot (the [`RUN_TAG`] included).
    pub tags: Tags,
    /// Deprecation time of every copy.
    pub deprecate_at: Option<Timestamp>,
    /// Deregistration protection, applied once every copy is complete.
    pub protection: Option<Protection>,
    /// Things the plan cannot do for you, said plainly.
    pub notes: Vec<String>,
}

impl DistributionPlan {
    /// The exact CopyImage request of a copy (the same on every retry, resume and rollback, so
    /// its client token always names the same request).
    pub fn copy_request(&self, copy: &PlannedCopy) -> CopyImageRequest {
        let mut req = CopyImageRequest::new(
            self.source.region.clone(),
            self.source.image_id.clone(),
            copy.name.clone(),
        )
        .client_token(copy.client_token.clone());
        if let Some(d) = &copy.description {
            req = req.description(d.clone());
        }
        if let Some(k) = &copy.kms_key {
            req = req.encrypt_with(k.clone());
        }
        for (k, v) in &self.tags {
            req = req.tag(k.clone(), v.clone());
        }
        req
    }

    /// The copy of a destination.
    pub fn copy(&self, d: &Destination) -> Option<&PlannedCopy> {
        self.copies.iter().find(|c| &c.destination == d)
    }

    /// The fewest API calls [`apply`](super::apply) can make for this plan: every call that
    /// changes something (CopyImage, the permission and key policy writes, deprecation,
    /// protection) plus one availability check per copy; no retries, no other reads.
    pub fn minimum_calls(&self) -> usize {
        let mut n = 0;
        if !self.shared_with.is_empty() {
            // Launch permission, snapshot permission per snapshot, one policy per key.
            n += 1 + self.source_snapshots.len() + self.customer_source_keys().len();
        }
        for c in &self.copies {
            n += 2; // CopyImage + one DescribeImages
            let own = LaunchPermission::Account(c.destination.account.clone());
            if c.launch_permissions.iter().any(|p| p != &own) {
                n += 1; // ModifyImageAttribute
                if self.needs_key_access(c) {
                    n += 1; // PutKeyPolicy
                }
            }
            n += usize::from(self.deprecate_at.is_some());
            n += usize::from(self.protection.is_some());
        }
        n
    }

    pub(crate) fn customer_source_keys(&self) -> Vec<&KmsKeyRef> {
        self.source_keys
            .iter()
            .filter(|e| e.manager == KeyManager::Customer)
            .map(|e| &e.key)
            .collect()
    }

    /// Whether launching the copy needs key access granted to others (a customer managed key
    /// and someone other than the copy's owner to launch it).
    fn needs_key_access(&self, c: &PlannedCopy) -> bool {
        c.kms_key_arn.is_some()
            && c.launch_permissions.iter().any(|p| match p {
                LaunchPermission::Account(a) => a != &c.destination.account,
                LaunchPermission::Organization(_) | LaunchPermission::OrganizationalUnit(_) => true,
                LaunchPermission::Public => false,
            })
    }
}

impl fmt::Display for DistributionPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "distribution {}: {} {:?} of {} in {}",
            self.run_id,
            self.source.image_id,
            self.source_name,
            self.source.account,
            self.source.region
        )?;
        if !self.shared_with.is_empty() {
            let accounts: Vec<String> = self.shared_with.iter().map(|a| a.to_string()).collect();
            writeln!(
                f,
                "  1. share the source with {}: launch permission, create-volume permission on {} snapshot(s), key policy access on {} key(s)",
                accounts.join(", "),
                self.source_snapshots.len(),
                self.customer_source_keys().len()
            )?;
        }
        writeln!(
            f,
            "  2. copy (bounded per Region), wait until available, then grant, deprecate:"
        )?;
        for c in &self.copies {
            let key = c
                .kms_key
                .as_ref()
                .map(|k| k.to_string())
                .unwrap_or_else(|| "default encryption".into());
            write!(
                f,
                "     {:<30} {:?} key {key}",
                c.destination.to_string(),
                c.name
            )?;
            if !c.launch_permissions.is_empty() {
                let ps: Vec<String> = c.launch_permissions.iter().map(|p| p.to_string()).collect();
                write!(f, "; launch: {}", ps.join(", "))?;
            }
            writeln!(f)?;
        }
        if let Some(t) = self.deprecate_at {
            writeln!(f, "     every copy deprecated at {t}")?;
        }
        if !self.tags.is_empty() {
            let ts: Vec<String> = self.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            writeln!(f, "     tags on creation: {}", ts.join(", "))?;
        }
        if let Some(p) = self.protection {
            writeln!(
                f,
                "  3. once every copy is complete: deregistration protection ({})",
                match p {
                    Protection::WithCooldown => "with 24 h cooldown",
                    Protection::WithoutCooldown => "without cooldown",
                }
            )?;
        }
        for n in &self.notes {
            writeln!(f, "  note: {n}")?;
        }
        Ok(())
    }
}

fn problem(code: &str, message: String) -> Error {
    Error::from_code(code, message)
}

fn render_name(template: &str, source_name: &str, d: &Destination, run_id: &str) -> Result<String> {
    let name = template
        .replace("{source_name}", source_name)
        .replace("{region}", d.region.as_str())
        .replace("{account}", d.account.as_str())
        .replace("{run_id}", run_id);
    if name.contains('{') || name.contains('}') {
        return Err(problem(
            "InvalidParameterValue",
            format!(
                "name template {template:?} has an unknown placeholder; use {{source_name}}, {{region}}, {{account}} or {{run_id}}"
            ),
        ));
    }
    Ok(name)
}

fn derive_run_id(spec: &DistributionSpec, now: Timestamp) -> String {
    let json = serde_json::to_string(spec).unwrap_or_default();
    let h = mix(hash_str(&json) ^ mix(now.as_millis() as u64));
    format!("d{h:016x}")
}

fn check_spec(spec: &DistributionSpec) -> Result<()> {
    if spec.regions.is_empty() {
        return Err(problem(
            "MissingParameter",
            "the distribution has no target Region; add at least one with .region(..)".into(),
        ));
    }
    let regions: BTreeSet<&Region> = spec.regions.iter().collect();
    for r in spec.kms_keys.keys() {
        if !regions.contains(r) {
            return Err(problem(
                "InvalidParameterValue",
                format!("a KMS key is given for {r}, which is not a target Region; add the Region or remove the key"),
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for a in &spec.accounts {
        if a.account == spec.source.account {
            return Err(problem(
                "InvalidParameterValue",
                format!("account {} owns the source and gets its copies anyway; remove it from the receiving accounts", a.account),
            ));
        }
        if !seen.insert(&a.account) {
            return Err(problem(
                "InvalidParameterValue",
                format!(
                    "account {} is listed twice as a receiving account; list it once",
                    a.account
                ),
            ));
        }
        for r in a.kms_keys.keys() {
            if !regions.contains(r) {
                return Err(problem(
                    "InvalidParameterValue",
                    format!(
                        "account {} has a KMS key for {r}, which is not a target Region",
                        a.account
                    ),
                ));
            }
        }
    }
    if let Some(id) = &spec.run_id {
        if id.is_empty()
            || id.len() > 24
            || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(problem(
                "InvalidParameterValue",
                format!("run id {id:?} must be 1 to 24 letters, digits or dashes (it goes into client tokens)"),
            ));
        }
    }
    Ok(())
}

/// Plans a distribution and runs every pre-flight check in every target Region: the source
/// exists, is available and is the owner's; each name is valid and unused in its destination;
/// each key exists in its Region, is enabled, and is customer managed wherever the copy is
/// shared; nothing encrypted goes public; Regions are in the source's partition.
///
/// Nothing is changed. All problems are reported at once, in one error carrying the AWS code of
/// the first.
pub async fn plan(connector: &dyn Connector, spec: &DistributionSpec) -> Result<DistributionPlan> {
    check_spec(spec)?;
    let policy = RetryPolicy::default();
    let attempts = policy.max_attempts;
    let call = |e: (Error, u32)| e.0;
    let src = &spec.source;
    let src_ec2 = connector.ec2(&src.account, &src.region)?;
    let image = retry("DescribeImages", &policy, attempts, Some(1), || {
        src_ec2.describe_image(&src.image_id)
    })
    .await
    .map_err(call)?;
    if image.owner != src.account {
        return Err(problem(
            "AuthFailure",
            format!(
                "{} is owned by {}, not {}; distribute it from its owner, or adopt it first",
                src.image_id, image.owner, src.account
            ),
        ));
    }
    if image.state != ImageState::Available {
        return Err(problem(
            "InvalidAMIID.Unavailable",
            format!(
                "{} is {}; wait until it is available before distributing it",
                src.image_id, image.state
            ),
        ));
    }
    let now = connector.clock().now();
    let run_id = spec
        .run_id
        .clone()
        .unwrap_or_else(|| derive_run_id(spec, now));
    let source_keys: Vec<Encryption> = image.kms_keys().into_iter().cloned().collect();
    let source_snapshots: Vec<SnapshotId> = image.snapshot_ids().into_iter().cloned().collect();
    let mut problems: Vec<Error> = Vec::new();
    let notes: Vec<String> = Vec::new();

    if !spec.accounts.is_empty() {
        if image.is_marketplace() {
            problems.push(problem(
                "InvalidRequest",
                format!("{} carries an AWS Marketplace product code; Marketplace images cannot be copied to another account. Have each account launch it and create its own image instead", src.image_id),
            ));
        }
        if source_keys.iter().any(|e| e.manager == KeyManager::Aws) {
            problems.push(problem(
                "InvalidParameter",
                format!("{} is encrypted with the AWS managed key aws/ebs, which cannot be shared with other accounts; copy it with a customer managed key first (re-encrypt) and distribute that copy", src.image_id),
            ));
        }
    }
    if let Some(t) = spec.deprecate_at {
        if t <= now {
            problems.push(problem(
                "InvalidParameterValue",
                format!(
                    "deprecation time {t} is not in the future (now is {now}); pick a later time"
                ),
            ));
        }
    }

    // The destinations, ordered by Region then account.
    let regions: BTreeSet<Region> = spec.regions.iter().cloned().collect();
    let mut copies = Vec::new();
    for region in &regions {
        let mut dests: BTreeMap<AccountId, (Option<KmsKeyRef>, Vec<LaunchPermission>)> =
            BTreeMap::new();
        dests.insert(
            src.account.clone(),
            (
                spec.kms_keys.get(region).cloned(),
                spec.launch_permissions.clone(),
            ),
        );
        for a in &spec.accounts {
            dests.insert(
                a.account.clone(),
                (
                    a.kms_keys.get(region).cloned(),
                    a.launch_permissions.clone(),
                ),
            );
        }
        for (account, (kms_key, launch_permissions)) in dests {
            let destination = Destination::new(region.clone(), account.clone());
            let name = render_name(&spec.name_template, &image.name, &destination, &run_id)?;
            let token = format!("{run_id}-{account}-{region}");
            let client_token = ClientToken::parse(&token)?;
            copies.push(PlannedCopy {
                destination,
                name,
                description: spec
                    .description
                    .clone()
                    .or_else(|| image.description.clone()),
                kms_key,
                kms_key_arn: None,
                client_token,
                launch_permissions,
            });
        }
    }

    for c in copies.iter_mut() {
        let d = &c.destination.clone();
        let at = |m: String| format!("{d}: {m}");
        if d.region.partition() != src.region.partition() {
            problems.push(problem(
                "InvalidRegion",
                at(format!(
                    "{} is in partition {}, the source in {}; images cannot be copied across partitions",
                    d.region,
                    d.region.partition(),
                    src.region.partition()
                )),
            ));
            continue;
        }
        if let Err(e) = validate_image_name(&c.name) {
            problems.push(problem(e.code(), at(e.message())));
        }
        let shared = !c.launch_permissions.is_empty();
        let encrypted = c.kms_key.is_some() || !source_keys.is_empty();
        if encrypted && c.launch_permissions.contains(&LaunchPermission::Public) {
            problems.push(problem(
                "UnsupportedOperation",
                at(
                    "encrypted images cannot be made public; remove the public launch permission"
                        .into(),
                ),
            ));
        }
        let ec2 = match connector.ec2(&d.account, &d.region) {
            Ok(c) => c,
            Err(e) => {
                problems.push(problem(e.code(), at(e.message())));
                continue;
            }
        };
        match &c.kms_key {
            Some(k) if k.is_aws_managed_alias() && shared => problems.push(problem(
                "InvalidParameter",
                at(format!("the copy is shared but {k} is an AWS managed key, which cannot be shared; give a customer managed key for {}", d.region)),
            )),
            Some(k) => {
                if let Err(e) = check_key_region(k, None, &d.region) {
                    problems.push(problem(e.code(), at(e.message())));
                    continue;
                }
                let kms = match connector.kms(&d.account, &d.region) {
                    Ok(k) => k,
                    Err(e) => {
                        problems.push(problem(e.code(), at(e.message())));
                        continue;
                    }
                };
                match retry("DescribeKey", &policy, attempts, Some(2), || kms.describe_key(k.clone())).await {
                    Err((e, _)) => problems.push(problem(
                        e.code(),
                        at(format!("key {k} cannot be used: {}; create it in {} or fix the reference", e.message(), d.region)),
                    )),
                    Ok(key) => {
                        c.kms_key_arn = Some(key.arn.clone());
                        if key.state != KeyState::Enabled {
                            problems.push(problem(
                                "KMSInvalidStateException",
                                at(format!("key {k} is {:?}; enable it or choose another key", key.state)),
                            ));
                        }
                        if let Err(e) = check_key_region(k, Some(&key.region), &d.region) {
                            problems.push(problem(e.code(), at(e.message())));
                        }
                        if key.manager == KeyManager::Aws && shared {
                            problems.push(problem(
                                "InvalidParameter",
                                at(format!("the copy is shared but {k} is AWS managed, which cannot be shared; give a customer managed key")),
                            ));
                        }
                    }
                }
            }
            None if shared && encrypted => problems.push(problem(
                "InvalidParameter",
                at(format!("the copy is shared and encrypted, but no customer managed key is given for {}; AWS would use the AWS managed key, which cannot be shared", d.region)),
            )),
            None => {}
        }
        let req = DescribeImagesRequest::new()
            .owner(Owner::SelfAccount)
            .filter(Filter::new("name", [c.name.clone()]))
            .include_disabled(true);
        match retry("DescribeImages", &policy, attempts, Some(3), || {
            ec2.describe_all_images(req.clone())
        })
        .await
        {
            Err((e, _)) => problems.push(problem(e.code(), at(e.message()))),
            Ok(found) => {
                // The run's own copies (a plan made again for the same run) do not count.
                let others = found
                    .iter()
                    .filter(|i| i.tags.get(RUN_TAG) != Some(&run_id));
                if let Err(e) = check_name_available(&c.name, &d.account, &d.region, others) {
                    problems.push(problem(
                        e.code(),
                        at(format!(
                            "{} Or change name_template (for example add {{run_id}}).",
                            e.message()
                        )),
                    ));
                }
            }
        }
    }

    if let Some(first) = problems.first() {
        let mut message = format!(
            "pre-flight found {} problem(s); nothing was changed:",
            problems.len()
        );
        for p in &problems {
            message.push_str(&format!("\n  - {} ({})", p.message(), p.code()));
        }
        return Err(Error::from_code(first.code(), message));
    }

    let mut tags = spec.tags.clone();
    tags.insert(RUN_TAG.into(), run_id.clone());
    Ok(DistributionPlan {
        run_id,
        source: src.clone(),
        source_name: image.name.clone(),
        source_snapshots,
        source_keys,
        shared_with: spec.accounts.iter().map(|a| a.account.clone()).collect(),
        copies,
        tags,
        deprecate_at: spec.deprecate_at,
        protection: spec.protection,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_and_refuse_unknown_placeholders() {
        let d = Destination::new("eu-west-1".parse().unwrap(), AccountId::from_number(7));
        assert_eq!(
            render_name("{source_name}-{region}-{run_id}", "base", &d, "r1").unwrap(),
            "base-eu-west-1-r1"
        );
        let e = render_name("{nme}", "base", &d, "r1").unwrap_err();
        assert_eq!(e.code(), "InvalidParameterValue");
    }
}
