//! Snapshots: the ones CreateImage makes, tags, createVolumePermission, in use, deregistration.

use super::fixtures::{checks, ensure, expect_code, fail, During, Fixtures, Step};
use super::{Ctx, Feature};
use crate::api::{
    CreateImageRequest, DeregisterImageRequest, Ec2Ext, PermissionChanges, RunInstancesRequest,
    VolumeSpec,
};
use crate::id::AccountId;
use crate::model::{CreateVolumePermission, DeleteSnapshotOutcome, ResourceId};

checks! {
    /// CreateImage makes one snapshot per EBS volume of the instance, owned by the caller and
    /// described `Created by CreateImage(<instance>) for <image>`.
    check_create_image_snapshots => create_image_snapshots;
    /// CreateTags/DeleteTags on a snapshot.
    check_snapshot_tags => snapshot_tags;
    /// Snapshot tag specifications of CreateImage land on every new snapshot.
    check_snapshot_tags_on_create => snapshot_tags_on_create;
    /// ModifySnapshotAttribute `createVolumePermission` add and remove.
    check_snapshot_permissions => snapshot_permissions;
    /// DeleteSnapshot of a snapshot a registered image uses fails with `InvalidSnapshot.InUse`.
    check_snapshot_in_use => snapshot_in_use;
    /// DeregisterImage keeps the snapshots by default.
    check_deregister_keeps_snapshots => deregister_keeps_snapshots;
    /// DeregisterImage with `DeleteAssociatedSnapshots` deletes them and says so.
    check_deregister_deletes_snapshots => deregister_deletes_snapshots;
}

/// An account that is not the caller: the second account if configured, else a fixed one.
pub(crate) fn other_account(ctx: &Ctx) -> AccountId {
    match &ctx.second_account {
        Some(s) => s.account().clone(),
        None => {
            let mine = ctx.primary.account();
            let candidate = AccountId::from_number(111_122_223_333);
            if &candidate == mine {
                AccountId::from_number(444_455_556_666)
            } else {
                candidate
            }
        }
    }
}

async fn create_image_snapshots(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let ec2 = &ctx.primary.ec2;
    let per_volume = ctx.capabilities.has(Feature::SnapshotPerVolume);
    let mut req = RunInstancesRequest::new(ctx.base_image.clone());
    if per_volume {
        req = req.extra_volume(VolumeSpec {
            device_name: "/dev/sdf".into(),
            size_gib: 3,
            encrypted: false,
            kms_key_id: None,
        });
    }
    let instance = fx.run_instance(req).await?;
    let name = fx.name("snaps");
    let id = fx
        .create_image(CreateImageRequest::new(instance.id.clone(), name).no_reboot(true))
        .await?;
    let image = fx.wait_image(ec2, &id).await?;
    let snaps = image.snapshot_ids();
    ensure!(!snaps.is_empty(), "image {id} has no snapshot");
    if per_volume {
        ensure!(
            snaps.len() == 2,
            "an instance with a root and one extra EBS volume must give 2 snapshots, got {snaps:?}"
        );
        ensure!(
            image
                .block_devices
                .iter()
                .any(|d| d.device_name == "/dev/sdf" && d.volume_size_gib == 3),
            "no 3 GiB /dev/sdf device in {:?}",
            image.block_devices
        );
    }
    let prefix = format!("Created by CreateImage({}) for {id}", instance.id);
    for s in snaps {
        let snap = ec2.describe_snapshot(s).await.during("DescribeSnapshots")?;
        ensure!(
            &snap.owner == ec2.account(),
            "snapshot {s} owned by {}",
            snap.owner
        );
        ensure!(snap.volume_size_gib > 0, "snapshot {s} has size 0");
        ensure!(
            snap.description.starts_with(&prefix),
            "snapshot {s} described {:?}, expected it to start with {prefix:?}",
            snap.description
        );
    }
    Ok(())
}

async fn snapshot_tags(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let ec2 = &ctx.primary.ec2;
    let image = fx.image("snaptags").await?;
    let Some(snap) = image.snapshot_ids().first().map(|s| (*s).clone()) else {
        fail!("image {} has no snapshot", image.id);
    };
    let res = ResourceId::Snapshot(snap.clone());
    ec2.create_tags(
        vec![res.clone()],
        [
            ("team".to_owned(), "platform".to_owned()),
            ("tmp".to_owned(), "1".to_owned()),
        ]
        .into(),
    )
    .await
    .during("CreateTags on a snapshot")?;
    let s = ec2
        .describe_snapshot(&snap)
        .await
        .during("DescribeSnapshots")?;
    ensure!(
        s.tags.get("team").map(String::as_str) == Some("platform") && s.tags.contains_key("tmp"),
        "snapshot tags {:?}",
        s.tags
    );
    ec2.delete_tags(vec![res], vec!["tmp".into()])
        .await
        .during("DeleteTags on a snapshot")?;
    let s = ec2
        .describe_snapshot(&snap)
        .await
        .during("DescribeSnapshots")?;
    ensure!(
        !s.tags.contains_key("tmp") && s.tags.contains_key("team"),
        "after DeleteTags: {:?}",
        s.tags
    );
    let image = ec2
        .describe_image(&image.id)
        .await
        .during("DescribeImages")?;
    ensure!(
        !image.tags.contains_key("team"),
        "tagging a snapshot must not tag its image: {:?}",
        image.tags
    );
    Ok(())
}

async fn snapshot_tags_on_create(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    ctx.require(Feature::SnapshotTagsOnCreate)?;
    let ec2 = &ctx.primary.ec2;
    let instance = fx.instance().await?;
    let name = fx.name("snaptags");
    let mut req = CreateImageRequest::new(instance, name).no_reboot(true);
    req.snapshot_tags.insert("backup".into(), "weekly".into());
    let id = fx.create_image(req).await?;
    let image = fx.wait_image(ec2, &id).await?;
    ensure!(
        !image.tags.contains_key("backup"),
        "snapshot-only tags must not land on the image: {:?}",
        image.tags
    );
    for s in image.snapshot_ids() {
        let snap = ec2.describe_snapshot(s).await.during("DescribeSnapshots")?;
        ensure!(
            snap.tags.get("backup").map(String::as_str) == Some("weekly"),
            "snapshot {s} tags {:?}",
            snap.tags
        );
    }
    Ok(())
}

async fn snapshot_permissions(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let ec2 = &ctx.primary.ec2;
    let image = fx.image("snapperm").await?;
    let Some(snap) = image.snapshot_ids().first().map(|s| (*s).clone()) else {
        fail!("image {} has no snapshot", image.id);
    };
    let before = ec2
        .describe_snapshot_permissions(snap.clone())
        .await
        .during("DescribeSnapshotAttribute")?;
    ensure!(
        before.is_empty(),
        "a new snapshot has permissions {before:?}"
    );
    let grantee = CreateVolumePermission::Account(other_account(ctx));
    ec2.modify_snapshot_permissions(snap.clone(), PermissionChanges::add([grantee.clone()]))
        .await
        .during("ModifySnapshotAttribute add")?;
    let perms = ec2
        .describe_snapshot_permissions(snap.clone())
        .await
        .during("DescribeSnapshotAttribute")?;
    ensure!(perms == [grantee.clone()], "after add: {perms:?}");
    ec2.modify_snapshot_permissions(snap.clone(), PermissionChanges::remove([grantee]))
        .await
        .during("ModifySnapshotAttribute remove")?;
    let perms = ec2
        .describe_snapshot_permissions(snap)
        .await
        .during("DescribeSnapshotAttribute")?;
    ensure!(perms.is_empty(), "after remove: {perms:?}");
    Ok(())
}

async fn snapshot_in_use(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let ec2 = &ctx.primary.ec2;
    let image = fx.image("inuse").await?;
    let Some(snap) = image.snapshot_ids().first().map(|s| (*s).clone()) else {
        fail!("image {} has no snapshot", image.id);
    };
    let err = expect_code(
        ec2.delete_snapshot(snap.clone()).await,
        "InvalidSnapshot.InUse",
        "DeleteSnapshot of a snapshot a registered image uses",
    )?;
    ensure!(
        err.message().contains(snap.as_str()) && err.message().contains(image.id.as_str()),
        "the message should name the snapshot and the image: {}",
        err.message()
    );
    ec2.describe_snapshot(&snap)
        .await
        .during("DescribeSnapshots after a refused DeleteSnapshot")?;
    ec2.deregister_image(DeregisterImageRequest::new(image.id.clone()))
        .await
        .during("DeregisterImage")?;
    ec2.delete_snapshot(snap.clone())
        .await
        .during("DeleteSnapshot once the image is deregistered")?;
    expect_code(
        ec2.describe_snapshot(&snap).await,
        "InvalidSnapshot.NotFound",
        "DescribeSnapshots of a deleted snapshot",
    )?;
    Ok(())
}

async fn deregister_keeps_snapshots(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let ec2 = &ctx.primary.ec2;
    let image = fx.image("keep").await?;
    let snaps: Vec<_> = image.snapshot_ids().into_iter().cloned().collect();
    for s in &snaps {
        fx.track_snapshot(ec2, s);
    }
    let results = ec2
        .deregister_image(DeregisterImageRequest::new(image.id.clone()))
        .await
        .during("DeregisterImage")?;
    ensure!(
        results.is_empty(),
        "snapshot results without DeleteAssociatedSnapshots: {results:?}"
    );
    for s in &snaps {
        let snap = ec2
            .describe_snapshot(s)
            .await
            .during(format_args!("DescribeSnapshots {s} after DeregisterImage"))?;
        ensure!(
            &snap.owner == ec2.account(),
            "snapshot {s} owner {}",
            snap.owner
        );
    }
    Ok(())
}

async fn deregister_deletes_snapshots(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    ctx.require(Feature::DeleteAssociatedSnapshots)?;
    let ec2 = &ctx.primary.ec2;
    let image = fx.image("delete").await?;
    let snaps: Vec<_> = image.snapshot_ids().into_iter().cloned().collect();
    let results = ec2
        .deregister_image(DeregisterImageRequest::new(image.id.clone()).with_snapshots())
        .await
        .during("DeregisterImage DeleteAssociatedSnapshots")?;
    for s in &snaps {
        match results.iter().find(|r| &r.snapshot_id == s) {
            Some(r) if r.outcome == DeleteSnapshotOutcome::Success => {}
            other => fail!("snapshot {s}: expected a success result, got {other:?}"),
        }
        expect_code(
            ec2.describe_snapshot(s).await,
            "InvalidSnapshot.NotFound",
            format_args!("DescribeSnapshots {s} after it was deleted with its image"),
        )?;
    }
    Ok(())
}
