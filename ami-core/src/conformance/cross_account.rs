//! Two accounts: sharing, owner-only calls, cross-account copy, cancelling a grant.

use std::sync::Arc;

use super::fixtures::{checks, ensure, expect_code, During, Fixtures, Step, Stop};
use super::{Ctx, Feature, Scope};
use crate::api::{CopyImageRequest, DescribeImagesRequest, Ec2, ExecutableBy, PermissionChanges};
use crate::id::ImageId;
use crate::model::{CreateVolumePermission, Image, LaunchPermission, ResourceId};

checks! {
    /// An image shared with a second account is launchable and visible to it with
    /// `ExecutableUsers=self`, still owned by the first account and without its tags; once the
    /// grant is removed the second account no longer sees it.
    check_share_with_account => share_with_account;
    /// Owner-only calls by a grantee fail with `AuthFailure`.
    check_not_owner_refused => not_owner_refused;
    /// A grantee's CopyImage fails with `InvalidRequest` until the owner shares the snapshots;
    /// then it succeeds and the grantee owns the copy.
    check_cross_account_copy => cross_account_copy;
    /// CancelImageLaunchPermission by the grantee removes its own grant.
    check_cancel_launch_permission => cancel_launch_permission;
}

/// The second account, after checking the backend models cross-account sharing.
fn grantee(ctx: &Ctx) -> Result<&Scope, Stop> {
    ctx.require(Feature::CrossAccount)?;
    ctx.second_account()
}

/// An available image of the primary account, tagged, shared with the second account.
async fn shared_image(ctx: &Ctx, fx: &mut Fixtures<'_>, b: &Scope) -> Result<Image, Stop> {
    let ec2 = &ctx.primary.ec2;
    let image = fx.image("shared").await?;
    ec2.create_tags(
        vec![ResourceId::Image(image.id.clone())],
        [("secret".to_owned(), "owner-only".to_owned())].into(),
    )
    .await
    .during("CreateTags")?;
    ec2.modify_launch_permissions(
        image.id.clone(),
        PermissionChanges::add([LaunchPermission::Account(b.account().clone())]),
    )
    .await
    .during("ModifyImageAttribute add the second account")?;
    Ok(image)
}

/// Whether `ec2` can describe `id` (not found counts as no).
async fn sees(ec2: &Arc<dyn Ec2>, id: &ImageId) -> Result<Option<Image>, Stop> {
    match ec2
        .describe_images(DescribeImagesRequest::ids([id.clone()]))
        .await
    {
        Ok(page) => Ok(page.items.into_iter().find(|i| &i.id == id)),
        Err(e) if e.code() == "InvalidAMIID.NotFound" => Ok(None),
        Err(e) => Err(Stop::Fail(format!(
            "DescribeImages {id} as the second account: {}: {}",
            e.code(),
            e.message()
        ))),
    }
}

async fn share_with_account(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let b = grantee(ctx)?;
    let image = shared_image(ctx, fx, b).await?;
    let seen = sees(&b.ec2, &image.id).await?;
    let Some(seen) = seen else {
        return Err(Stop::Fail(format!(
            "the grantee cannot describe {}",
            image.id
        )));
    };
    ensure!(
        &seen.owner == ctx.primary.account(),
        "the grantee sees owner {}",
        seen.owner
    );
    ensure!(
        seen.tags.is_empty(),
        "the grantee sees the owner's tags {:?}",
        seen.tags
    );
    let shared = b
        .ec2
        .describe_images(DescribeImagesRequest::new().executable_by(ExecutableBy::SelfAccount))
        .await
        .during("DescribeImages ExecutableUsers=self as the grantee")?;
    ensure!(
        shared.items.iter().any(|i| i.id == image.id) || shared.next_token.is_some(),
        "ExecutableUsers=self of the grantee misses {}",
        image.id
    );
    ctx.primary
        .ec2
        .modify_launch_permissions(
            image.id.clone(),
            PermissionChanges::remove([LaunchPermission::Account(b.account().clone())]),
        )
        .await
        .during("ModifyImageAttribute remove")?;
    ensure!(
        sees(&b.ec2, &image.id).await?.is_none(),
        "the grantee still sees {} after the grant was removed",
        image.id
    );
    Ok(())
}

async fn not_owner_refused(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let b = grantee(ctx)?;
    ctx.require(Feature::OwnerChecks)?;
    let image = shared_image(ctx, fx, b).await?;
    expect_code(
        b.ec2.describe_launch_permissions(image.id.clone()).await,
        "AuthFailure",
        "DescribeImageAttribute launchPermission by a grantee",
    )?;
    expect_code(
        b.ec2
            .modify_launch_permissions(
                image.id.clone(),
                PermissionChanges::add([LaunchPermission::Public]),
            )
            .await,
        "AuthFailure",
        "ModifyImageAttribute by a grantee",
    )?;
    let perms = ctx
        .primary
        .ec2
        .describe_launch_permissions(image.id.clone())
        .await
        .during("DescribeImageAttribute launchPermission")?;
    ensure!(
        perms == [LaunchPermission::Account(b.account().clone())],
        "a refused call changed the grants: {perms:?}"
    );
    Ok(())
}

async fn cross_account_copy(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let b = grantee(ctx)?;
    let image = shared_image(ctx, fx, b).await?;
    let region = ctx.primary.region().clone();
    let name = fx.name("copy");
    let res = b
        .ec2
        .copy_image(CopyImageRequest::new(
            region.clone(),
            image.id.clone(),
            name.clone(),
        ))
        .await;
    if let Ok(id) = &res {
        fx.track_image(&b.ec2, id);
    }
    expect_code(
        res,
        "InvalidRequest",
        "CopyImage by a grantee without snapshot permission",
    )?;
    for s in image.snapshot_ids() {
        ctx.primary
            .ec2
            .modify_snapshot_permissions(
                s.clone(),
                PermissionChanges::add([CreateVolumePermission::Account(b.account().clone())]),
            )
            .await
            .during("ModifySnapshotAttribute add the second account")?;
    }
    let id = b
        .ec2
        .copy_image(CopyImageRequest::new(region, image.id.clone(), name))
        .await
        .during("CopyImage by a grantee with snapshot permission")?;
    fx.track_image(&b.ec2, &id);
    let copy = fx.wait_image(&b.ec2, &id).await?;
    ensure!(
        &copy.owner == b.account(),
        "the copy is owned by {}",
        copy.owner
    );
    let source = ctx
        .primary
        .ec2
        .describe_images(DescribeImagesRequest::ids([image.id.clone()]))
        .await
        .during("DescribeImages source")?;
    ensure!(
        source
            .items
            .iter()
            .all(|i| &i.owner == ctx.primary.account()),
        "copying changed the source's owner"
    );
    Ok(())
}

async fn cancel_launch_permission(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let b = grantee(ctx)?;
    ctx.require(Feature::CancelLaunchPermission)?;
    let image = shared_image(ctx, fx, b).await?;
    b.ec2
        .cancel_image_launch_permission(image.id.clone())
        .await
        .during("CancelImageLaunchPermission")?;
    let perms = ctx
        .primary
        .ec2
        .describe_launch_permissions(image.id.clone())
        .await
        .during("DescribeImageAttribute launchPermission")?;
    ensure!(
        perms.is_empty(),
        "after CancelImageLaunchPermission: {perms:?}"
    );
    ensure!(
        sees(&b.ec2, &image.id).await?.is_none(),
        "the grantee still sees {} after cancelling",
        image.id
    );
    Ok(())
}
