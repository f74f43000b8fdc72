//! DescribeSnapshots, DeleteSnapshot and snapshot create-volume permissions.

use ami_core::api::{DescribeSnapshotsRequest, Owner, Page, PermissionChanges};
use ami_core::model::SnapshotState;
use ami_core::rules;
use ami_core::{AccountId, CreateVolumePermission, OwnerAlias, Result, Snapshot, SnapshotId};

use super::describe::{
    check_filters, matches_any, page_in_order, page_of_records, tag_filter, Paging, NO_TAGS,
};
use crate::sim::Ctx;
use crate::state::{err, SnapRec, State};

fn snapshot_not_found(id: &SnapshotId) -> ami_core::Error {
    // AWS: §10 "unknown snapshot": InvalidSnapshot.NotFound.
    err(
        "InvalidSnapshot.NotFound",
        format!("The snapshot '{id}' does not exist."),
    )
}

fn alias_owners(alias: OwnerAlias) -> &'static [u64] {
    match alias {
        OwnerAlias::Amazon => &[137_112_412_989, 801_119_661_308],
        OwnerAlias::AwsMarketplace => &[679_593_333_241],
        OwnerAlias::AwsBackupVault => &[],
    }
}

fn state_name(s: SnapshotState) -> &'static str {
    match s {
        SnapshotState::Pending => "pending",
        SnapshotState::Completed => "completed",
        SnapshotState::Error => "error",
    }
}

impl State {
    fn snapshot_for(&self, cx: &Ctx<'_>, id: &SnapshotId) -> Result<&SnapRec> {
        match self.snapshots.get(id) {
            Some(s)
                if s.snap.region == *cx.region
                    && s.visible_at <= cx.now
                    && self.can_read_snapshot(s, cx.account) =>
            {
                Ok(s)
            }
            _ => Err(snapshot_not_found(id)),
        }
    }

    fn own_snapshot(&self, cx: &Ctx<'_>, id: &SnapshotId, action: &str) -> Result<&SnapRec> {
        let s = self.snapshot_for(cx, id)?;
        rules::check_snapshot_owner(cx.account, &s.snap, action)?;
        Ok(s)
    }

    pub(crate) fn describe_snapshots(
        &mut self,
        cx: &Ctx<'_>,
        req: DescribeSnapshotsRequest,
    ) -> Result<Page<Snapshot>> {
        check_filters(
            &req.filters,
            &[
                "snapshot-id",
                "status",
                "encrypted",
                "description",
                "owner-id",
                "volume-id",
                "volume-size",
                "kms-key-id",
                "tag-key",
            ],
        )?;
        let missing: Vec<String> = req
            .snapshot_ids
            .iter()
            .filter(|id| self.snapshot_for(cx, id).is_err())
            .map(ToString::to_string)
            .collect();
        if !missing.is_empty() {
            return Err(err(
                "InvalidSnapshot.NotFound",
                format!("The snapshot '{}' does not exist.", missing.join(", ")),
            ));
        }
        let paging = Paging::of(req.max_results, req.next_token.clone())?;
        let listing = req.snapshot_ids.is_empty();
        if listing {
            self.snapshots.prepare_order();
        }
        let me = cx.account;
        let matches_owner = |s: &Snapshot, o: &Owner| match o {
            Owner::SelfAccount => s.owner == *me,
            Owner::Account(a) => s.owner == *a,
            Owner::Alias(al) => alias_owners(*al)
                .iter()
                .any(|n| AccountId::from_number(*n) == s.owner),
        };
        let keep = |s: &SnapRec| {
            let sn = &s.snap;
            // AWS: tags are the owner's: others neither see them nor filter on them.
            let tags = if sn.owner == *me { &sn.tags } else { &NO_TAGS };
            sn.region == *cx.region
                && s.visible_at <= cx.now
                && self.can_read_snapshot(s, me)
                && (req.owners.is_empty() || req.owners.iter().any(|o| matches_owner(sn, o)))
                && (req.restorable_by.is_empty()
                    || req.restorable_by.iter().any(|a| {
                        sn.owner == *a
                            || s.perms.contains(&CreateVolumePermission::Public)
                            || s.perms
                                .contains(&CreateVolumePermission::Account(a.clone()))
                    }))
                && req.filters.iter().all(|f| match f.name.as_str() {
                    "snapshot-id" => matches_any(&f.values, sn.id.as_str()),
                    "status" => matches_any(&f.values, state_name(sn.state)),
                    "encrypted" => matches_any(
                        &f.values,
                        if sn.encryption.is_some() {
                            "true"
                        } else {
                            "false"
                        },
                    ),
                    "description" => matches_any(&f.values, &sn.description),
                    "owner-id" => matches_any(&f.values, sn.owner.as_str()),
                    "volume-id" => sn
                        .volume_id
                        .as_ref()
                        .is_some_and(|v| matches_any(&f.values, v.as_str())),
                    "volume-size" => matches_any(&f.values, &sn.volume_size_gib.to_string()),
                    "kms-key-id" => sn
                        .encryption
                        .as_ref()
                        .is_some_and(|e| matches_any(&f.values, e.key.as_str())),
                    _ => tag_filter(f, tags),
                })
        };
        let view = |s: &SnapRec| {
            let mut sn = s.snap.clone();
            if sn.owner != *me {
                sn.tags.clear();
            }
            sn
        };
        if listing {
            return Ok(page_in_order(
                self.snapshots
                    .ordered_after(paging.after.as_deref())
                    .map(|b| &**b),
                keep,
                |s| s.snap.id.as_str(),
                view,
                paging.limit,
            ));
        }
        // Named snapshots are looked up, not searched for among all of them.
        let items: Vec<&SnapRec> = self
            .snapshots
            .selected(&req.snapshot_ids)
            .map(|b| &**b)
            .filter(|s| keep(s))
            .collect();
        Ok(page_of_records(items, |s| s.snap.id.clone(), view, paging))
    }

    pub(crate) fn delete_snapshot(&mut self, cx: &Ctx<'_>, id: &SnapshotId) -> Result<()> {
        let s = self.snapshot_for(cx, id)?;
        // AWS: §2: a snapshot used by a registered (or disabled) image can't be deleted.
        rules::check_delete_snapshot(cx.account, &s.snap, self.images_using(id))?;
        self.snapshots.remove(id);
        Ok(())
    }

    pub(crate) fn describe_snapshot_permissions(
        &mut self,
        cx: &Ctx<'_>,
        id: &SnapshotId,
    ) -> Result<Vec<CreateVolumePermission>> {
        let s = self.own_snapshot(cx, id, "describe its create-volume permissions")?;
        Ok(s.perms.iter().cloned().collect())
    }

    pub(crate) fn modify_snapshot_permissions(
        &mut self,
        cx: &Ctx<'_>,
        id: &SnapshotId,
        changes: PermissionChanges<CreateVolumePermission>,
    ) -> Result<()> {
        let s = self.snapshot_for(cx, id)?;
        let current: Vec<CreateVolumePermission> = s.perms.iter().cloned().collect();
        // AWS: §2 "createVolumePermission": owner only, add xor remove, at most 500 changes,
        // never share a default-key snapshot, never make an encrypted one public.
        let after = rules::snapshot_permissions_after(cx.account, &s.snap, &current, &changes)?;
        // AWS: §2: snapshots with Marketplace product codes can't be made public either (not
        // covered by the rule; the code is inferred).
        if changes.add.contains(&CreateVolumePermission::Public) && !s.product_codes.is_empty() {
            return Err(err(
                "OperationNotPermitted",
                format!("Snapshot {id} carries Marketplace product codes and can’t be shared publicly; share it with accounts instead"),
            ));
        }
        if let Some(s) = self.snapshots.get_mut(id) {
            s.perms = after.into_iter().collect();
        }
        Ok(())
    }
}
