//! Removing everything a run created, from its journal.

use std::collections::BTreeSet;
use std::fmt;

use futures::future::join_all;
use serde::{Deserialize, Serialize};

use super::apply::Run;
use super::plan::{PlannedCopy, RUN_TAG};
use super::progress::{DestProgress, Progress};
use super::spec::Destination;
use super::DistributeOptions;
use crate::api::{
    Connector, DeregisterImageRequest, DescribeSnapshotsRequest, Ec2Ext, Filter, PermissionChanges,
};
use crate::error::{Error, Result};
use crate::id::{AccountId, ImageId, KmsKeyRef, SnapshotId};
use crate::model::{CreateVolumePermission, LaunchPermission};
use crate::ops::journal::{JournalEntry, JournalStore};
use crate::ops::share::{edit_policy, KeyPolicyChange};

/// What a rollback removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackReport {
    /// The run.
    pub run_id: String,
    /// Images deregistered, by destination.
    pub images: Vec<(Destination, ImageId)>,
    /// Snapshots deleted.
    pub snapshots: Vec<SnapshotId>,
    /// Accounts whose access to the source (added by the run) was revoked.
    pub source_access_revoked: Vec<AccountId>,
    /// Key policies edited to remove the key access the run added.
    pub key_policies_edited: usize,
}

impl fmt::Display for RollbackReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "rollback of {}: {} image(s), {} snapshot(s) removed, access of {} account(s) to the source revoked, {} key policy edit(s)",
            self.run_id,
            self.images.len(),
            self.snapshots.len(),
            self.source_access_revoked.len(),
            self.key_policies_edited
        )?;
        for (d, i) in &self.images {
            writeln!(f, "  {:<30} {i} deregistered", d.to_string())?;
        }
        Ok(())
    }
}

/// Removes what the run made at one destination: lifts the protection it enabled, deregisters
/// the image (pending or not) with its snapshots, deletes any snapshot of the run left in that
/// account and Region, removes the key policy statements made for the copy, and records it.
///
/// When CopyImage may have been called but its answer was not recorded, the same request with
/// the same client token is sent again: AWS answers with the id of the copy it made, if any
/// (and the copy made now otherwise, which is removed the same way).
pub(super) async fn undo_destination(
    run: &Run<'_>,
    copy: &PlannedCopy,
    p: &DestProgress,
) -> Result<(Option<ImageId>, Vec<SnapshotId>, usize)> {
    let d = &copy.destination;
    let plan = run.plan;
    let ec2 = run.connector.ec2(&d.account, &d.region)?;
    let image_id = match &p.image_id {
        Some(id) => Some(id.clone()),
        None if p.requested => {
            let req = plan.copy_request(copy);
            match run
                .call(d, "CopyImage", || ec2.copy_image(req.clone()))
                .await
            {
                Ok(id) => Some(id),
                // A request AWS refuses now was refused then too: no copy exists.
                Err(e) if !e.is_retryable() => None,
                Err(e) => return Err(e),
            }
        }
        None => None,
    };
    let mut edited = 0;
    let mut snapshots: BTreeSet<SnapshotId> = p.snapshots.iter().flatten().cloned().collect();
    if let Some(id) = &image_id {
        match run
            .call(d, "DescribeImages", || ec2.describe_image(id))
            .await
        {
            Ok(img) => snapshots.extend(img.snapshot_ids().into_iter().cloned()),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        if p.protection_requested {
            match run
                .call(d, "DisableImageDeregistrationProtection", || {
                    ec2.disable_image_deregistration_protection(id.clone())
                })
                .await
            {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        // The copy's statements in its key's policy exist only for it: remove them all.
        if !copy.launch_permissions.is_empty() {
            if let Some(key) = &copy.kms_key_arn {
                if strip_image_statements(run, d, key, id).await? {
                    edited += 1;
                }
            }
        }
        let req = DeregisterImageRequest::new(id.clone()).with_snapshots();
        match run
            .call(d, "DeregisterImage", || ec2.deregister_image(req.clone()))
            .await
        {
            Ok(_) => {}
            Err(e) if e.is_not_found() || e.code() == "InvalidAMIID.Unavailable" => {}
            Err(e) => return Err(e),
        }
    }
    // Snapshots of a copy that was still pending may not be listed on the image: find every
    // snapshot of the run in this account and Region by its tag.
    let tagged =
        DescribeSnapshotsRequest::owned().filter(Filter::tag(RUN_TAG, plan.run_id.clone()));
    let found = run
        .call(d, "DescribeSnapshots", || {
            ec2.describe_all_snapshots(tagged.clone())
        })
        .await?;
    snapshots.extend(found.into_iter().map(|s| s.id));
    let mut deleted = Vec::new();
    for s in &snapshots {
        match run
            .call(d, "DeleteSnapshot", || ec2.delete_snapshot(s.clone()))
            .await
        {
            Ok(()) => deleted.push(s.clone()),
            Err(e) if e.is_not_found() => deleted.push(s.clone()),
            Err(e) => return Err(e),
        }
    }
    run.append_plain(JournalEntry::RolledBack {
        destination: d.clone(),
        image_id: image_id.clone(),
        snapshot_ids: deleted.clone(),
    })?;
    Ok((image_id, deleted, edited))
}

/// Removes every statement of `key`'s policy that [`share`](crate::ops::share) made for
/// `image` (an image the run created, so no one else's statement is touched).
async fn strip_image_statements(
    run: &Run<'_>,
    d: &Destination,
    key: &KmsKeyRef,
    image: &ImageId,
) -> Result<bool> {
    let owner = key.account().unwrap_or_else(|| d.account.clone());
    let region = key.region().unwrap_or_else(|| d.region.clone());
    let kms = run.connector.kms(&owner, &region)?;
    let policy = run
        .call(d, "GetKeyPolicy", || kms.get_key_policy(key.clone()))
        .await?;
    let prefix = format!("ami-share:{image}:");
    let mut edited = policy.clone();
    edited.statements.retain(|s| !s.sid.starts_with(&prefix));
    if edited != policy {
        run.call(d, "PutKeyPolicy", || {
            kms.put_key_policy(key.clone(), edited.clone())
        })
        .await?;
        return Ok(true);
    }
    Ok(false)
}

/// Removes the source sharing the run added (never what was there before it).
async fn revoke_source_share(
    run: &Run<'_>,
    progress: &Progress,
) -> Result<(Vec<AccountId>, usize)> {
    let Some(pre) = &progress.share_requested else {
        return Ok((Vec::new(), 0));
    };
    let plan = run.plan;
    let src = &plan.source;
    let here = Destination::new(src.region.clone(), src.account.clone());
    let ec2 = run.connector.ec2(&src.account, &src.region)?;
    let added: Vec<AccountId> = pre
        .accounts
        .iter()
        .filter(|a| !pre.launch_already.contains(a))
        .cloned()
        .collect();
    if !added.is_empty() {
        let remove: Vec<LaunchPermission> = added
            .iter()
            .map(|a| LaunchPermission::Account(a.clone()))
            .collect();
        match run
            .call(&here, "ModifyImageAttribute", || {
                ec2.modify_launch_permissions(
                    src.image_id.clone(),
                    PermissionChanges::remove(remove.clone()),
                )
            })
            .await
        {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    for (s, already) in &pre.snapshot_already {
        let remove: Vec<CreateVolumePermission> = pre
            .accounts
            .iter()
            .filter(|a| !already.contains(a))
            .map(|a| CreateVolumePermission::Account(a.clone()))
            .collect();
        if remove.is_empty() {
            continue;
        }
        match run
            .call(&here, "ModifySnapshotAttribute", || {
                ec2.modify_snapshot_permissions(
                    s.clone(),
                    PermissionChanges::remove(remove.clone()),
                )
            })
            .await
        {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    // The accounts the share added to the source's key policy statements.
    let mut n = 0;
    for k in &pre.key_access_added {
        if k.accounts.is_empty() {
            continue;
        }
        let kms = run.connector.kms(&k.key_owner, &k.region)?;
        let policy = run
            .call(&here, "GetKeyPolicy", || kms.get_key_policy(k.key.clone()))
            .await?;
        let change = KeyPolicyChange {
            key: k.key.clone(),
            key_owner: k.key_owner.clone(),
            add_accounts: BTreeSet::new(),
            remove_accounts: k.accounts.iter().cloned().collect(),
            add_orgs: BTreeSet::new(),
            remove_orgs: BTreeSet::new(),
            add_ous: BTreeSet::new(),
            remove_ous: BTreeSet::new(),
        };
        let edited = edit_policy(&policy, &src.image_id, &change);
        if edited != policy {
            run.call(&here, "PutKeyPolicy", || {
                kms.put_key_policy(k.key.clone(), edited.clone())
            })
            .await?;
            n += 1;
        }
    }
    Ok((added, n))
}

/// Removes every image and snapshot the journal's run created, at every destination (pending
/// copies included), and the sharing it added to the source. Anything the journal does not
/// name is left alone. Running it again after a partial rollback finishes the job.
///
/// An empty journal (a run that stopped before its first step) has nothing to undo.
///
/// Errors: if something cannot be removed (for instance a copy protected with a cooldown), the
/// rest is still removed, and the error names what is left and when to run it again.
pub async fn rollback(
    connector: &dyn Connector,
    journal: &dyn JournalStore,
    options: &DistributeOptions,
) -> Result<RollbackReport> {
    options.validate()?;
    let entries = journal.entries()?;
    let progress = Progress::from_entries(&entries)?;
    // A journal without a run: the run stopped before its first step and made nothing.
    let Some(plan) = progress.plan.clone() else {
        return Ok(RollbackReport::default());
    };
    let mut report = RollbackReport {
        run_id: plan.run_id.clone(),
        ..RollbackReport::default()
    };
    if progress.rollback_completed {
        return Ok(report);
    }
    if !progress.rollback_started {
        journal.append(&JournalEntry::RollbackStarted {
            run_id: plan.run_id.clone(),
        })?;
    }
    let run = Run::new(connector, &plan, journal, options);
    let todo: Vec<(&PlannedCopy, DestProgress)> = plan
        .copies
        .iter()
        .map(|c| (c, progress.of(&c.destination)))
        .filter(|(_, p)| p.requested && !p.rolled_back)
        .collect();
    let outcomes = join_all(todo.iter().map(|(c, p)| undo_destination(&run, c, p))).await;
    let mut left = Vec::new();
    for ((c, _), o) in todo.iter().zip(outcomes) {
        match o {
            Ok((image, snaps, edits)) => {
                if let Some(i) = image {
                    report.images.push((c.destination.clone(), i));
                }
                report.snapshots.extend(snaps);
                report.key_policies_edited += edits;
            }
            Err(e) => left.push(format!("{}: {} ({})", c.destination, e.message(), e.code())),
        }
    }
    if !progress.share_revoked {
        match revoke_source_share(&run, &progress).await {
            Ok((accounts, edits)) => {
                report.key_policies_edited += edits;
                journal.append(&JournalEntry::SourceShareRevoked {
                    accounts: accounts.clone(),
                })?;
                report.source_access_revoked = accounts;
            }
            Err(e) => left.push(format!("source sharing: {} ({})", e.message(), e.code())),
        }
    }
    if !left.is_empty() {
        return Err(Error::workflow(format!(
            "rollback of {} is incomplete; run it again once the cause is fixed (a copy protected with a cooldown can be removed 24 hours after the rollback lifted it):\n  - {}",
            plan.run_id,
            left.join("\n  - ")
        )));
    }
    journal.append(&JournalEntry::RollbackCompleted {
        run_id: plan.run_id.clone(),
    })?;
    Ok(report)
}
