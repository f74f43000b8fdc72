//! Error paths: malformed and unknown ids, operations on a deregistered image.

use super::copy::unknown_image;
use super::fixtures::{checks, ensure, expect_code, fail, During, Fixtures, Step};
use super::snapshots::other_account;
use super::{Ctx, Feature};
use crate::api::{
    CopyImageRequest, CreateImageRequest, DeregisterImageRequest, DescribeImagesRequest,
    DescribeInstancesRequest, DescribeSnapshotsRequest, PermissionChanges,
};
use crate::error::Error;
use crate::id::{AccountId, IdError, ImageId, InstanceId, KmsKeyRef, Region, SnapshotId};
use crate::model::LaunchPermission;

checks! {
    /// Unknown image, snapshot, instance and KMS key ids fail with `InvalidAMIID.NotFound`,
    /// `InvalidSnapshot.NotFound`, `InvalidInstanceID.NotFound` and `NotFoundException`.
    check_unknown_ids => unknown_ids;
    /// Launch-permission calls on an unknown image fail with `InvalidAMIID.NotFound`.
    check_unknown_image_attribute => unknown_image_attribute;
    /// Malformed ids are refused with the code AWS answers (`InvalidAMIID.Malformed`, ...),
    /// naming the value, before any call is made.
    check_malformed_ids => malformed_ids;
    /// A deregistered image cannot be deregistered, shared or copied again
    /// (`InvalidAMIID.Unavailable` or `InvalidAMIID.NotFound`).
    check_deregistered_image_is_gone => deregistered_image_is_gone;
}

/// A snapshot id no backend has issued.
fn unknown_snapshot() -> SnapshotId {
    SnapshotId::from_u128(0x0de_adbe_efde_adbe_ef01)
}

/// An instance id no backend has issued.
fn unknown_instance() -> InstanceId {
    InstanceId::from_u128(0x0de_adbe_efde_adbe_ef02)
}

async fn unknown_ids(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let ec2 = &ctx.primary.ec2;
    let ami = unknown_image();
    let err = expect_code(
        ec2.describe_images(DescribeImagesRequest::ids([ami.clone()]))
            .await,
        "InvalidAMIID.NotFound",
        "DescribeImages of an unknown id",
    )?;
    ensure!(
        err.message().contains(ami.as_str()),
        "the message should name {ami}: {}",
        err.message()
    );
    ensure!(matches!(err, Error::NotFound(_)), "classified as {err:?}");
    expect_code(
        ec2.deregister_image(DeregisterImageRequest::new(ami.clone()))
            .await,
        "InvalidAMIID.NotFound",
        "DeregisterImage of an unknown id",
    )?;
    let snap = unknown_snapshot();
    expect_code(
        ec2.describe_snapshots(DescribeSnapshotsRequest::ids([snap.clone()]))
            .await,
        "InvalidSnapshot.NotFound",
        "DescribeSnapshots of an unknown id",
    )?;
    expect_code(
        ec2.delete_snapshot(snap).await,
        "InvalidSnapshot.NotFound",
        "DeleteSnapshot of an unknown id",
    )?;
    let inst = unknown_instance();
    expect_code(
        ec2.describe_instances(DescribeInstancesRequest::ids([inst.clone()]))
            .await,
        "InvalidInstanceID.NotFound",
        "DescribeInstances of an unknown id",
    )?;
    let name = fx.name("noinstance");
    let res = ec2.create_image(CreateImageRequest::new(inst, name)).await;
    if let Ok(id) = &res {
        fx.track_image(ec2, id);
    }
    expect_code(
        res,
        "InvalidInstanceID.NotFound",
        "CreateImage of an unknown instance",
    )?;
    let key = match KmsKeyRef::key_arn(
        ctx.primary.region(),
        ctx.primary.account(),
        "0000dead-beef-4000-8000-00000000dead",
    ) {
        Ok(k) => k,
        Err(e) => fail!("building an unknown key ARN: {e}"),
    };
    expect_code(
        ctx.primary.kms.describe_key(key).await,
        "NotFoundException",
        "DescribeKey of an unknown key",
    )?;
    Ok(())
}

async fn unknown_image_attribute(ctx: &Ctx, _fx: &mut Fixtures<'_>) -> Step {
    ctx.require(Feature::UnknownImageAttributes)?;
    let ec2 = &ctx.primary.ec2;
    expect_code(
        ec2.describe_launch_permissions(unknown_image()).await,
        "InvalidAMIID.NotFound",
        "DescribeImageAttribute of an unknown image",
    )?;
    expect_code(
        ec2.modify_launch_permissions(
            unknown_image(),
            PermissionChanges::add([LaunchPermission::Account(other_account(ctx))]),
        )
        .await,
        "InvalidAMIID.NotFound",
        "ModifyImageAttribute of an unknown image",
    )?;
    Ok(())
}

fn expect_malformed<T: std::fmt::Debug>(
    parsed: Result<T, IdError>,
    value: &str,
    code: &str,
) -> Step {
    match parsed {
        Ok(v) => fail!("{value:?} parsed as {v:?}, expected {code}"),
        Err(e) => {
            ensure!(
                e.code == code,
                "{value:?}: code {}, expected {code}",
                e.code
            );
            ensure!(e.value == value, "{value:?}: the error names {:?}", e.value);
            let err = Error::from(e);
            ensure!(err.code() == code, "as Error the code is {}", err.code());
            ensure!(
                err.message().contains(value),
                "the message should name {value:?}: {}",
                err.message()
            );
            Ok(())
        }
    }
}

async fn malformed_ids(_ctx: &Ctx, _fx: &mut Fixtures<'_>) -> Step {
    for bad in [
        "ami-XYZ",
        "ami-123",
        "image-0123456789abcdef0",
        "ami-0123456789ABCDEF0",
        "",
    ] {
        expect_malformed(ImageId::parse(bad), bad, "InvalidAMIID.Malformed")?;
    }
    for bad in ["snap-1", "snapshot-12345678"] {
        expect_malformed(SnapshotId::parse(bad), bad, "InvalidSnapshotID.Malformed")?;
    }
    expect_malformed(
        InstanceId::parse("i-zz"),
        "i-zz",
        "InvalidInstanceID.Malformed",
    )?;
    for bad in ["12345", "1234567890123", "1234-5678-9012"] {
        expect_malformed(AccountId::parse(bad), bad, "InvalidUserID.Malformed")?;
    }
    expect_malformed(Region::parse("moon-base-1"), "moon-base-1", "InvalidRegion")?;
    expect_malformed(
        KmsKeyRef::parse("key/nope"),
        "key/nope",
        "InvalidKmsKey.Malformed",
    )?;
    Ok(())
}

async fn deregistered_image_is_gone(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    ctx.require(Feature::DeregisteredImageChecks)?;
    let ec2 = &ctx.primary.ec2;
    let image = fx.image("gone").await?;
    ec2.deregister_image(DeregisterImageRequest::new(image.id.clone()))
        .await
        .during("DeregisterImage")?;
    let gone = |what: &str, res: crate::error::Result<String>| -> Step {
        match res {
            Ok(v) => fail!("{what} of a deregistered image succeeded: {v}"),
            Err(e)
                if matches!(
                    e.code(),
                    "InvalidAMIID.Unavailable" | "InvalidAMIID.NotFound"
                ) =>
            {
                Ok(())
            }
            Err(e) => fail!(
                "{what} of a deregistered image: expected InvalidAMIID.Unavailable or \
                 InvalidAMIID.NotFound, got {}: {}",
                e.code(),
                e.message()
            ),
        }
    };
    let res = ec2
        .deregister_image(DeregisterImageRequest::new(image.id.clone()))
        .await
        .map(|r| format!("{r:?}"));
    gone("DeregisterImage", res)?;
    let res = ec2
        .modify_launch_permissions(
            image.id.clone(),
            PermissionChanges::add([LaunchPermission::Account(other_account(ctx))]),
        )
        .await
        .map(|()| "()".to_owned());
    gone("ModifyImageAttribute", res)?;
    let name = fx.name("copy");
    let res = ec2
        .copy_image(CopyImageRequest::new(
            ec2.region().clone(),
            image.id.clone(),
            name,
        ))
        .await;
    if let Ok(id) = &res {
        fx.track_image(ec2, id);
    }
    gone("CopyImage", res.map(|id| id.to_string()))?;
    Ok(())
}
