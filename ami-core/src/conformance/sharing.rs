//! Launch permissions: add, remove, reset, public, block public access.

use std::sync::Arc;
use std::time::Duration;

use super::fixtures::{checks, ensure, expect_code, fail, During, Fixtures, Step};
use super::snapshots::other_account;
use super::{Ctx, Feature};
use crate::api::{Ec2, Ec2Ext, PermissionChanges};
use crate::model::{BlockPublicAccessState, LaunchPermission};

checks! {
    /// A launch permission for an account is added, described and removed; removing a grant
    /// that is not there succeeds and changes nothing.
    check_launch_permissions_add_remove => launch_permissions_add_remove;
    /// ResetImageAttribute `launchPermission` removes every grant.
    check_launch_permissions_reset => launch_permissions_reset;
    /// Group `all` makes the image public; removing it makes it private again.
    check_public_launch_permission => public_launch_permission;
    /// While block public access is on, making an image public fails with
    /// `OperationNotPermitted` and changes nothing.
    check_block_public_access => block_public_access;
}

async fn launch_permissions_add_remove(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let ec2 = &ctx.primary.ec2;
    let image = fx.image("share").await?;
    let id = image.id.clone();
    let perms = ec2
        .describe_launch_permissions(id.clone())
        .await
        .during("DescribeImageAttribute launchPermission")?;
    ensure!(
        perms.is_empty(),
        "a new image has launch permissions {perms:?}"
    );
    let grant = LaunchPermission::Account(other_account(ctx));
    ec2.modify_launch_permissions(id.clone(), PermissionChanges::add([grant.clone()]))
        .await
        .during("ModifyImageAttribute add")?;
    let perms = ec2
        .describe_launch_permissions(id.clone())
        .await
        .during("DescribeImageAttribute launchPermission")?;
    ensure!(perms == [grant.clone()], "after add: {perms:?}");
    let image = ec2.describe_image(&id).await.during("DescribeImages")?;
    ensure!(
        !image.public,
        "sharing with an account must not make the image public"
    );
    ensure!(
        &image.owner == ec2.account(),
        "sharing changed the owner to {}",
        image.owner
    );

    ec2.modify_launch_permissions(id.clone(), PermissionChanges::remove([grant.clone()]))
        .await
        .during("ModifyImageAttribute remove")?;
    let perms = ec2
        .describe_launch_permissions(id.clone())
        .await
        .during("DescribeImageAttribute launchPermission")?;
    ensure!(perms.is_empty(), "after remove: {perms:?}");
    ec2.modify_launch_permissions(id.clone(), PermissionChanges::remove([grant]))
        .await
        .during("ModifyImageAttribute remove of a missing grant")?;
    Ok(())
}

async fn launch_permissions_reset(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    ctx.require(Feature::ResetLaunchPermissions)?;
    let ec2 = &ctx.primary.ec2;
    let image = fx.image("reset").await?;
    let id = image.id.clone();
    let other = other_account(ctx);
    let grants = vec![LaunchPermission::Account(other)];
    ec2.modify_launch_permissions(id.clone(), PermissionChanges::add(grants.clone()))
        .await
        .during("ModifyImageAttribute add")?;
    ec2.reset_launch_permissions(id.clone())
        .await
        .during("ResetImageAttribute launchPermission")?;
    let perms = ec2
        .describe_launch_permissions(id.clone())
        .await
        .during("DescribeImageAttribute launchPermission")?;
    ensure!(perms.is_empty(), "after reset: {perms:?}");
    Ok(())
}

/// Turns block public access off in `ec2`'s scope for the rest of the check, if the backend
/// models it and it is on.
async fn allow_public_sharing(ctx: &Ctx, fx: &mut Fixtures<'_>, ec2: &Arc<dyn Ec2>) -> Step {
    if !ctx.capabilities.has(Feature::BlockPublicAccess) {
        return Ok(());
    }
    let state = ec2
        .get_image_block_public_access_state()
        .await
        .during("GetImageBlockPublicAccessState")?;
    if state == BlockPublicAccessState::BlockNewSharing {
        ec2.disable_image_block_public_access()
            .await
            .during("DisableImageBlockPublicAccess")?;
        fx.restore_block_public_access(ec2, state);
    }
    Ok(())
}

async fn public_launch_permission(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let ec2 = &ctx.primary.ec2;
    let image = fx.image("public").await?;
    let id = image.id.clone();
    allow_public_sharing(ctx, fx, ec2).await?;
    ec2.modify_launch_permissions(
        id.clone(),
        PermissionChanges::add([LaunchPermission::Public]),
    )
    .await
    .during("ModifyImageAttribute add group all")?;
    let image = ec2.describe_image(&id).await.during("DescribeImages")?;
    ensure!(image.public, "group all must make the image public");
    let perms = ec2
        .describe_launch_permissions(id.clone())
        .await
        .during("DescribeImageAttribute launchPermission")?;
    ensure!(
        perms == [LaunchPermission::Public],
        "after add group all: {perms:?}"
    );
    ec2.modify_launch_permissions(
        id.clone(),
        PermissionChanges::remove([LaunchPermission::Public]),
    )
    .await
    .during("ModifyImageAttribute remove group all")?;
    let image = ec2.describe_image(&id).await.during("DescribeImages")?;
    ensure!(
        !image.public,
        "removing group all must make the image private"
    );
    Ok(())
}

async fn block_public_access(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    ctx.require(Feature::BlockPublicAccess)?;
    let ec2 = &ctx.primary.ec2;
    let image = fx.image("bpa").await?;
    let initial = ec2
        .get_image_block_public_access_state()
        .await
        .during("GetImageBlockPublicAccessState")?;
    fx.restore_block_public_access(ec2, initial);
    if initial == BlockPublicAccessState::Unblocked {
        ec2.enable_image_block_public_access()
            .await
            .during("EnableImageBlockPublicAccess")?;
        // AWS: enabling can take up to 10 minutes to show.
        wait_state(ctx, ec2, BlockPublicAccessState::BlockNewSharing).await?;
    }
    let err = expect_code(
        ec2.modify_launch_permissions(
            image.id.clone(),
            PermissionChanges::add([LaunchPermission::Public]),
        )
        .await,
        "OperationNotPermitted",
        "ModifyImageAttribute group all while block public access is on",
    )?;
    ensure!(
        err.message().contains("DisableImageBlockPublicAccess"),
        "the message should name the fix (DisableImageBlockPublicAccess): {}",
        err.message()
    );
    let now = ec2
        .describe_image(&image.id)
        .await
        .during("DescribeImages")?;
    ensure!(!now.public, "a refused share made the image public");
    ec2.disable_image_block_public_access()
        .await
        .during("DisableImageBlockPublicAccess")?;
    let state = ec2
        .get_image_block_public_access_state()
        .await
        .during("GetImageBlockPublicAccessState")?;
    ensure!(
        state == BlockPublicAccessState::Unblocked,
        "after disable: {state:?}"
    );
    Ok(())
}

async fn wait_state(ctx: &Ctx, ec2: &Arc<dyn Ec2>, want: BlockPublicAccessState) -> Step {
    let start = tokio::time::Instant::now();
    let limit = ctx.wait_timeout.min(Duration::from_secs(15 * 60));
    loop {
        let state = ec2
            .get_image_block_public_access_state()
            .await
            .during("GetImageBlockPublicAccessState")?;
        if state == want {
            return Ok(());
        }
        if start.elapsed() >= limit {
            fail!("block public access still {state:?} after {limit:?}");
        }
        tokio::time::sleep(ctx.poll_interval).await;
    }
}
