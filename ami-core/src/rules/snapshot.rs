//! Snapshots: ModifySnapshotAttribute `createVolumePermission`, who may read a snapshot (which
//! copying an image needs), and deleting a snapshot an image still uses.

use std::collections::BTreeSet;

use crate::api::PermissionChanges;
use crate::error::{Error, Result};
use crate::id::AccountId;
use crate::model::{CreateVolumePermission, Image, ImageState, KeyManager, Snapshot};

/// At most this many permission changes per ModifySnapshotAttribute call.
pub const MAX_SNAPSHOT_PERMISSION_CHANGES: usize = 500;

/// The create-volume permissions of `snapshot` after ModifySnapshotAttribute applies
/// `changes`, or AWS's refusal of the whole call.
///
/// | situation | code |
/// |---|---|
/// | the caller does not own the snapshot | `AuthFailure` (the code is not documented; the one of owner-only image calls) |
/// | adds and removes in one call | `InvalidParameterCombination` |
/// | more than 500 changes | `InvalidParameterValue` |
/// | adding anyone to a snapshot encrypted with an AWS managed key (the EBS default key) | `OperationNotPermitted` "Encrypted snapshots with EBS default key cannot be shared" |
/// | making an encrypted snapshot public | `OperationNotPermitted` (AWS forbids it; the code is inferred from the default-key refusal) |
///
/// Removing a permission the snapshot does not have changes nothing.
pub fn snapshot_permissions_after(
    caller: &AccountId,
    snapshot: &Snapshot,
    current: &[CreateVolumePermission],
    changes: &PermissionChanges<CreateVolumePermission>,
) -> Result<Vec<CreateVolumePermission>> {
    check_snapshot_owner(caller, snapshot, "change its create-volume permissions")?;
    if !changes.add.is_empty() && !changes.remove.is_empty() {
        return Err(Error::from_code(
            "InvalidParameterCombination",
            format!(
                "Snapshot {}: permissions can be added or removed in one call, not both. Make two calls.",
                snapshot.id
            ),
        ));
    }
    let count = changes.add.len() + changes.remove.len();
    if count > MAX_SNAPSHOT_PERMISSION_CHANGES {
        return Err(Error::from_code(
            "InvalidParameterValue",
            format!(
                "Snapshot {}: {count} permission changes in one call; at most {MAX_SNAPSHOT_PERMISSION_CHANGES} are allowed. Split them over several calls.",
                snapshot.id
            ),
        ));
    }
    let mut after: BTreeSet<CreateVolumePermission> = current.iter().cloned().collect();
    let adds_someone = changes.add.iter().any(|p| !after.contains(p));
    if adds_someone {
        if let Some(enc) = &snapshot.encryption {
            if enc.manager == KeyManager::Aws {
                return Err(Error::from_code(
                    "OperationNotPermitted",
                    format!(
                        "Encrypted snapshots with EBS default key cannot be shared. Snapshot {} is encrypted with the AWS managed key {}: copy it with a customer managed key (CopySnapshot with Encrypted and KmsKeyId) and share the copy.",
                        snapshot.id, enc.key
                    ),
                ));
            }
            if changes.add.contains(&CreateVolumePermission::Public) {
                return Err(Error::from_code(
                    "OperationNotPermitted",
                    format!(
                        "Encrypted snapshots can’t be shared publicly. Snapshot {} is encrypted with {}; share it with accounts instead.",
                        snapshot.id, enc.key
                    ),
                ));
            }
        }
    }
    after.extend(changes.add.iter().cloned());
    for p in &changes.remove {
        after.remove(p);
    }
    Ok(after.into_iter().collect())
}

/// Owner-only snapshot calls (ModifySnapshotAttribute, DeleteSnapshot): `AuthFailure`
/// "Not authorized for snapshot:snap-…" for anyone else (code chosen by analogy with images).
pub fn check_snapshot_owner(caller: &AccountId, snapshot: &Snapshot, action: &str) -> Result<()> {
    if &snapshot.owner == caller {
        Ok(())
    } else {
        Err(Error::from_code(
            "AuthFailure",
            format!(
                "Not authorized for snapshot:{}. Account {caller} cannot {action}: only the owner, account {}, can.",
                snapshot.id, snapshot.owner
            ),
        ))
    }
}

/// Whether `account` may create volumes from (and so copy) a snapshot owned by `owner` with
/// the given create-volume `permissions`: it owns it, or is named, or the snapshot is public.
pub fn can_read_snapshot(
    owner: &AccountId,
    permissions: &[CreateVolumePermission],
    account: &AccountId,
) -> bool {
    owner == account
        || permissions.iter().any(|p| match p {
            CreateVolumePermission::Public => true,
            CreateVolumePermission::Account(a) => a == account,
        })
}

/// DeleteSnapshot: owner only (see [`check_snapshot_owner`]), and refused with
/// `InvalidSnapshot.InUse` "The snapshot snap-… is currently in use by ami-…" while any image
/// among `images` that is not deregistered (a disabled one included) references it.
pub fn check_delete_snapshot<'a>(
    caller: &AccountId,
    snapshot: &Snapshot,
    images: impl IntoIterator<Item = &'a Image>,
) -> Result<()> {
    check_snapshot_owner(caller, snapshot, "delete it")?;
    let user = images
        .into_iter()
        .find(|i| i.state != ImageState::Deregistered && i.snapshot_ids().contains(&&snapshot.id));
    match user {
        None => Ok(()),
        Some(image) => Err(Error::from_code(
            "InvalidSnapshot.InUse",
            format!(
                "The snapshot {} is currently in use by {}. Deregister {} first (or deregister it with DeleteAssociatedSnapshots).",
                snapshot.id, image.id, image.id
            ),
        )),
    }
}
