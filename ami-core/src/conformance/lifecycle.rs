//! Image lifecycle: deprecation, deregistration protection, disable and enable.

use std::time::Duration;

use super::fixtures::{checks, ensure, expect_code, During, Fixtures, Step};
use super::snapshots::other_account;
use super::{Ctx, Feature};
use crate::api::{
    DeregisterImageRequest, DescribeImagesRequest, Ec2Ext, Filter, Owner, PermissionChanges,
};
use crate::model::{DeregistrationProtection, ImageState, LaunchPermission};

checks! {
    /// EnableImageDeprecation stores the time rounded to the minute; a future time does not yet
    /// deprecate; DisableImageDeprecation clears it.
    check_deprecation => deprecation;
    /// A protected image cannot be deregistered; once protection (without cooldown) is
    /// disabled, it can.
    check_deregistration_protection => deregistration_protection;
    /// DisableImage hides the image unless disabled images are asked for and drops its launch
    /// permissions; EnableImage makes it available again without them.
    check_disable_enable_image => disable_enable_image;
}

async fn deprecation(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    ctx.require(Feature::Deprecation)?;
    let ec2 = &ctx.primary.ec2;
    let image = fx.image("deprecate").await?;
    ensure!(
        image.deprecation_time.is_none(),
        "a new image has a deprecation time"
    );
    let now = ctx.clock.now();
    let at = now.add(Duration::from_secs(2 * 3600 + 47));
    ec2.enable_image_deprecation(image.id.clone(), at)
        .await
        .during("EnableImageDeprecation")?;
    let got = ec2
        .describe_image(&image.id)
        .await
        .during("DescribeImages")?;
    ensure!(
        got.deprecation_time == Some(at.round_to_minute()),
        "deprecation time {:?}, expected {} (rounded to the minute)",
        got.deprecation_time,
        at.round_to_minute()
    );
    ensure!(
        !got.is_deprecated_at(ctx.clock.now()),
        "a future deprecation already deprecates"
    );
    ec2.disable_image_deprecation(image.id.clone())
        .await
        .during("DisableImageDeprecation")?;
    let got = ec2
        .describe_image(&image.id)
        .await
        .during("DescribeImages")?;
    ensure!(
        got.deprecation_time.is_none(),
        "deprecation time {:?} after disable",
        got.deprecation_time
    );
    Ok(())
}

async fn deregistration_protection(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    ctx.require(Feature::DeregistrationProtection)?;
    let ec2 = &ctx.primary.ec2;
    let image = fx.image("protect").await?;
    ensure!(
        image.deregistration_protection == DeregistrationProtection::Disabled,
        "a new image is protected: {:?}",
        image.deregistration_protection
    );
    ec2.enable_image_deregistration_protection(image.id.clone(), false)
        .await
        .during("EnableImageDeregistrationProtection")?;
    let got = ec2
        .describe_image(&image.id)
        .await
        .during("DescribeImages")?;
    ensure!(
        got.deregistration_protection == DeregistrationProtection::Enabled,
        "protection {:?}",
        got.deregistration_protection
    );
    expect_code(
        ec2.deregister_image(DeregisterImageRequest::new(image.id.clone()))
            .await,
        "OperationNotPermitted",
        "DeregisterImage of a protected image",
    )?;
    let still = ec2
        .describe_image(&image.id)
        .await
        .during("DescribeImages")?;
    ensure!(
        still.state == ImageState::Available,
        "a refused deregister left it {}",
        still.state
    );
    ec2.disable_image_deregistration_protection(image.id.clone())
        .await
        .during("DisableImageDeregistrationProtection")?;
    let got = ec2
        .describe_image(&image.id)
        .await
        .during("DescribeImages")?;
    ensure!(
        got.deregistration_protection == DeregistrationProtection::Disabled,
        "protection without cooldown after disable: {:?}",
        got.deregistration_protection
    );
    ec2.deregister_image(DeregisterImageRequest::new(image.id.clone()))
        .await
        .during("DeregisterImage once unprotected")?;
    Ok(())
}

async fn disable_enable_image(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    ctx.require(Feature::DisableImage)?;
    let ec2 = &ctx.primary.ec2;
    let image = fx.image("disable").await?;
    let grant = LaunchPermission::Account(other_account(ctx));
    ec2.modify_launch_permissions(image.id.clone(), PermissionChanges::add([grant]))
        .await
        .during("ModifyImageAttribute add")?;
    ec2.disable_image(image.id.clone())
        .await
        .during("DisableImage")?;
    let by_name = || {
        DescribeImagesRequest::new()
            .owner(Owner::SelfAccount)
            .filter(Filter::new("name", [image.name.clone()]))
    };
    let listed = ec2
        .describe_all_images(by_name())
        .await
        .during("DescribeImages")?;
    ensure!(
        listed.is_empty(),
        "a disabled image is listed without IncludeDisabled"
    );
    let listed = ec2
        .describe_all_images(by_name().include_disabled(true))
        .await
        .during("DescribeImages IncludeDisabled")?;
    ensure!(
        listed.len() == 1 && listed[0].state == ImageState::Disabled,
        "with IncludeDisabled: {:?}",
        listed.iter().map(|i| (&i.id, i.state)).collect::<Vec<_>>()
    );
    let perms = ec2
        .describe_launch_permissions(image.id.clone())
        .await
        .during("DescribeImageAttribute launchPermission")?;
    ensure!(
        perms.is_empty(),
        "a disabled image keeps launch permissions {perms:?}"
    );
    ec2.enable_image(image.id.clone())
        .await
        .during("EnableImage")?;
    let got = fx.wait_image(ec2, &image.id).await?;
    ensure!(
        got.state == ImageState::Available,
        "after EnableImage: {}",
        got.state
    );
    let perms = ec2
        .describe_launch_permissions(image.id.clone())
        .await
        .during("DescribeImageAttribute launchPermission")?;
    ensure!(
        perms.is_empty(),
        "EnableImage brought back launch permissions {perms:?}"
    );
    Ok(())
}
