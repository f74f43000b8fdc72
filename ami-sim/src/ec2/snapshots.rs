//! DescribeSnapshots, DeleteSnapshot and snapshot create-volume permissions.

use ami_core::api::{DescribeSnapshotsRequest, Owner, Page, PermissionChanges};
use ami_core::model::SnapshotState;
use ami_core::{
    AccountId, CreateVolumePermission, KeyManager, OwnerAlias, Result, Snapshot, SnapshotId,
};

use super::describe::{check_filters, matches_any, page_of, tag_filter};
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
    fn snapshot_for(&self, cx: &Ctx, id: &SnapshotId) -> Result<&SnapRec> {
        match self.snapshots.get(id) {
            Some(s)
                if s.snap.region == cx.region
                    && s.visible_at <= cx.now
                    && self.can_read_snapshot(s, &cx.account) =>
            {
                Ok(s)
            }
            _ => Err(snapshot_not_found(id)),
        }
    }

    fn own_snapshot(&self, cx: &Ctx, id: &SnapshotId) -> Result<&SnapRec> {
        let s = self.snapshot_for(cx, id)?;
        if s.snap.owner != cx.account {
            return Err(err(
                "AuthFailure",
                format!("Not authorized for snapshot:{id}; only its owner can do this"),
            ));
        }
        Ok(s)
    }

    pub(crate) fn describe_snapshots(
        &mut self,
        cx: &Ctx,
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
        let me = &cx.account;
        let matches_owner = |s: &Snapshot, o: &Owner| match o {
            Owner::SelfAccount => s.owner == *me,
            Owner::Account(a) => s.owner == *a,
            Owner::Alias(al) => alias_owners(*al)
                .iter()
                .any(|n| AccountId::from_number(*n) == s.owner),
        };
        let items: Vec<Snapshot> = self
            .snapshots
            .values()
            .filter(|s| {
                s.snap.region == cx.region
                    && s.visible_at <= cx.now
                    && self.can_read_snapshot(s, me)
            })
            .filter(|s| req.snapshot_ids.is_empty() || req.snapshot_ids.contains(&s.snap.id))
            .filter(|s| {
                req.owners.is_empty() || req.owners.iter().any(|o| matches_owner(&s.snap, o))
            })
            .filter(|s| {
                req.restorable_by.is_empty()
                    || req.restorable_by.iter().any(|a| {
                        s.snap.owner == *a
                            || s.perms.contains(&CreateVolumePermission::Public)
                            || s.perms
                                .contains(&CreateVolumePermission::Account(a.clone()))
                    })
            })
            .filter(|s| {
                let sn = &s.snap;
                req.filters.iter().all(|f| match f.name.as_str() {
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
                    _ => tag_filter(f, &sn.tags),
                })
            })
            .map(|s| {
                let mut sn = s.snap.clone();
                if sn.owner != *me {
                    sn.tags.clear();
                }
                sn
            })
            .collect();
        page_of(items, |s| s.id.to_string(), req.max_results, req.next_token)
    }

    pub(crate) fn delete_snapshot(&mut self, cx: &Ctx, id: &SnapshotId) -> Result<()> {
        self.own_snapshot(cx, id)?;
        // AWS: §2: a snapshot used by a registered (or disabled) image can't be deleted.
        if let Some(image) = self.images_using(id).first() {
            return Err(err(
                "InvalidSnapshot.InUse",
                format!("The snapshot {id} is currently in use by {image}"),
            ));
        }
        self.snapshots.remove(id);
        Ok(())
    }

    pub(crate) fn describe_snapshot_permissions(
        &mut self,
        cx: &Ctx,
        id: &SnapshotId,
    ) -> Result<Vec<CreateVolumePermission>> {
        Ok(self.own_snapshot(cx, id)?.perms.iter().cloned().collect())
    }

    pub(crate) fn modify_snapshot_permissions(
        &mut self,
        cx: &Ctx,
        id: &SnapshotId,
        changes: PermissionChanges<CreateVolumePermission>,
    ) -> Result<()> {
        let s = self.own_snapshot(cx, id)?;
        // AWS: §2: add and remove can't be combined; at most 500 modifications per call.
        if !changes.add.is_empty() && !changes.remove.is_empty() {
            return Err(err(
                "InvalidParameterCombination",
                "Add and remove create-volume permissions in separate calls",
            ));
        }
        if changes.add.len() + changes.remove.len() > 500 {
            return Err(err(
                "InvalidParameterValue",
                "At most 500 create-volume permission changes are allowed per call",
            ));
        }
        if !changes.add.is_empty() {
            if let Some(e) = &s.snap.encryption {
                // AWS: §2: snapshots encrypted with the default AWS managed key can't be shared.
                if e.manager == KeyManager::Aws {
                    return Err(err(
                        "OperationNotPermitted",
                        "Encrypted snapshots with EBS default key cannot be shared",
                    ));
                }
            }
            if changes.add.contains(&CreateVolumePermission::Public) {
                // AWS: §2: only unencrypted snapshots without Marketplace codes can be public.
                if s.snap.encryption.is_some() {
                    return Err(err(
                        "UnsupportedOperation",
                        "Encrypted snapshots can’t be shared publicly. Specify another snapshot.",
                    ));
                }
                if !s.product_codes.is_empty() {
                    return Err(err(
                        "UnsupportedOperation",
                        format!(
                            "Snapshot {id} has Marketplace product codes and can't be made public"
                        ),
                    ));
                }
            }
        }
        if let Some(s) = self.snapshots.get_mut(id) {
            for p in changes.add {
                s.perms.insert(p);
            }
            for p in &changes.remove {
                s.perms.remove(p);
            }
        }
        Ok(())
    }
}
