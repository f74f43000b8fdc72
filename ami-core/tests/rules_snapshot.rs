//! Snapshot rules: createVolumePermission changes, read access, deleting a snapshot in use.

mod rules_fixtures;

use ami_core::api::PermissionChanges;
use ami_core::model::SnapshotState;
use ami_core::rules::{
    can_read_snapshot, check_delete_snapshot, snapshot_permissions_after,
    MAX_SNAPSHOT_PERMISSION_CHANGES,
};
use ami_core::{AccountId, CreateVolumePermission, Encryption, ImageState, Snapshot, Timestamp};
use rules_fixtures::*;

use CreateVolumePermission as P;

fn snapshot(encryption: Option<Encryption>) -> Snapshot {
    Snapshot {
        id: snapshot_id(1),
        region: region(),
        owner: owner(),
        volume_id: None,
        volume_size_gib: 8,
        state: SnapshotState::Completed,
        encryption,
        description: String::new(),
        tags: Default::default(),
        start_time: Timestamp::EPOCH,
    }
}

#[test]
fn snapshot_permission_table() {
    let acct = P::Account(member());
    let many: Vec<_> = (0..=MAX_SNAPSHOT_PERMISSION_CHANGES as u64)
        .map(|n| P::Account(account(n)))
        .collect();
    #[allow(clippy::type_complexity)]
    let table: Vec<(
        &str,
        AccountId,
        Snapshot,
        Vec<P>,
        PermissionChanges<P>,
        Result<Vec<P>, &str>,
    )> = vec![
        (
            "share an unencrypted snapshot",
            owner(),
            snapshot(None),
            vec![],
            PermissionChanges::add([acct.clone()]),
            Ok(vec![acct.clone()]),
        ),
        (
            "make an unencrypted snapshot public",
            owner(),
            snapshot(None),
            vec![],
            PermissionChanges::add([P::Public]),
            Ok(vec![P::Public]),
        ),
        (
            "share a customer-key snapshot",
            owner(),
            snapshot(Some(customer_key(&owner()))),
            vec![],
            PermissionChanges::add([acct.clone()]),
            Ok(vec![acct.clone()]),
        ),
        (
            "unshare",
            owner(),
            snapshot(None),
            vec![acct.clone(), P::Public],
            PermissionChanges::remove([P::Public]),
            Ok(vec![acct.clone()]),
        ),
        (
            "remove a missing grant",
            owner(),
            snapshot(None),
            vec![],
            PermissionChanges::remove([acct.clone()]),
            Ok(vec![]),
        ),
        (
            "default key snapshot",
            owner(),
            snapshot(Some(aws_key(&owner()))),
            vec![],
            PermissionChanges::add([acct.clone()]),
            Err("OperationNotPermitted"),
        ),
        (
            "encrypted snapshot public",
            owner(),
            snapshot(Some(customer_key(&owner()))),
            vec![],
            PermissionChanges::add([P::Public]),
            Err("OperationNotPermitted"),
        ),
        (
            "not the owner",
            member(),
            snapshot(None),
            vec![],
            PermissionChanges::add([acct.clone()]),
            Err("AuthFailure"),
        ),
        (
            "add and remove together",
            owner(),
            snapshot(None),
            vec![],
            PermissionChanges {
                add: vec![acct.clone()],
                remove: vec![P::Public],
            },
            Err("InvalidParameterCombination"),
        ),
        (
            "more than 500 changes",
            owner(),
            snapshot(None),
            vec![],
            PermissionChanges::add(many),
            Err("InvalidParameterValue"),
        ),
    ];
    for (name, caller, snap, current, changes, expect) in table {
        match (
            expect,
            snapshot_permissions_after(&caller, &snap, &current, &changes),
        ) {
            (Ok(want), Ok(got)) => assert_eq!(got, want, "{name}"),
            (Err(code), Err(e)) => assert_eq!(e.code(), code, "{name}: {e}"),
            (want, got) => panic!("{name}: expected {want:?}, got {got:?}"),
        }
    }
    let e = snapshot_permissions_after(
        &owner(),
        &snapshot(Some(aws_key(&owner()))),
        &[],
        &PermissionChanges::add([P::Account(member())]),
    )
    .unwrap_err();
    assert!(e
        .message()
        .starts_with("Encrypted snapshots with EBS default key cannot be shared"));
}

#[test]
fn who_can_read_a_snapshot() {
    let o = owner();
    assert!(can_read_snapshot(&o, &[], &o));
    assert!(!can_read_snapshot(&o, &[], &member()));
    assert!(can_read_snapshot(&o, &[P::Account(member())], &member()));
    assert!(!can_read_snapshot(&o, &[P::Account(member())], &stranger()));
    assert!(can_read_snapshot(&o, &[P::Public], &stranger()));
}

#[test]
fn delete_snapshot_in_use_table() {
    let snap = snapshot(None);
    let using = |state: ImageState| {
        let mut i = image(1); // image(1) uses snapshot_id(1)
        i.state = state;
        i
    };
    let unrelated = image(2);
    let table = [
        ("no image uses it", vec![unrelated.clone()], owner(), Ok(())),
        (
            "available image",
            vec![unrelated.clone(), using(ImageState::Available)],
            owner(),
            Err("InvalidSnapshot.InUse"),
        ),
        (
            "disabled image",
            vec![using(ImageState::Disabled)],
            owner(),
            Err("InvalidSnapshot.InUse"),
        ),
        (
            "pending image",
            vec![using(ImageState::Pending)],
            owner(),
            Err("InvalidSnapshot.InUse"),
        ),
        (
            "deregistered image no longer holds it",
            vec![using(ImageState::Deregistered)],
            owner(),
            Ok(()),
        ),
        ("not the owner", vec![], member(), Err("AuthFailure")),
    ];
    for (name, images, caller, expect) in table {
        match (expect, check_delete_snapshot(&caller, &snap, &images)) {
            (Ok(()), Ok(())) => {}
            (Err(code), Err(e)) => assert_eq!(e.code(), code, "{name}: {e}"),
            (want, got) => panic!("{name}: expected {want:?}, got {got:?}"),
        }
    }
    let e = check_delete_snapshot(&owner(), &snap, &[image(1)]).unwrap_err();
    assert!(e.message().starts_with(&format!(
        "The snapshot {} is currently in use by {}",
        snap.id,
        image_id(1)
    )));
}
