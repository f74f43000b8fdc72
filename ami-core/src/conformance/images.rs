//! Images: create, describe, deregister, states, names, tags, description, lineage.

use super::fixtures::{checks, ensure, expect_code, fail, During, Fixtures, Step};
use super::{Ctx, Feature};
use crate::api::{
    CreateImageRequest, DeregisterImageRequest, DescribeImagesRequest, Ec2Ext, Owner,
};
use crate::model::{ImageState, InstanceState, ResourceId};

checks! {
    /// CreateImage from an instance; DescribeImages shows the image with the requested name
    /// and description, owned by the caller, in the caller's Region; DeregisterImage removes it.
    check_create_describe_deregister => create_describe_deregister;
    /// A new image is `pending` first and becomes `available`.
    check_pending_then_available => pending_then_available;
    /// CreateImage accepts a stopped instance.
    check_create_image_from_stopped_instance => create_image_from_stopped_instance;
    /// A second image with a name in use fails with `InvalidAMIName.Duplicate`.
    check_name_duplicate => name_duplicate;
    /// A name with characters AWS refuses fails with `InvalidAMIName.Malformed`.
    check_name_malformed => name_malformed;
    /// Tags given at creation and with CreateTags/DeleteTags show on the image.
    check_image_tags => image_tags;
    /// ModifyImageAttribute `description` changes the description.
    check_modify_description => modify_description;
    /// CreateImage records the source instance and, as lineage, the image it was launched from.
    check_lineage => lineage;
}

async fn create_describe_deregister(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let ec2 = &ctx.primary.ec2;
    let instance = fx.instance().await?;
    let name = fx.name("image");
    let id = fx
        .create_image(
            CreateImageRequest::new(instance.clone(), name.clone())
                .description("conformance image")
                .no_reboot(true),
        )
        .await?;
    let image = fx.wait_image(ec2, &id).await?;
    ensure!(image.id == id, "described id {} != created {id}", image.id);
    ensure!(image.name == name, "name {:?} != {name:?}", image.name);
    ensure!(
        image.description.as_deref() == Some("conformance image"),
        "description {:?}",
        image.description
    );
    ensure!(
        &image.owner == ec2.account(),
        "owner {} != caller {}",
        image.owner,
        ec2.account()
    );
    ensure!(
        &image.region == ec2.region(),
        "region {} != {}",
        image.region,
        ec2.region()
    );
    ensure!(!image.public, "a new image must be private");
    ensure!(
        !image.block_devices.is_empty(),
        "image has no block devices"
    );
    ensure!(
        image
            .block_devices
            .iter()
            .any(|d| d.device_name == image.root_device_name),
        "no block device for root device {:?}",
        image.root_device_name
    );
    let owned = ec2
        .describe_all_images(DescribeImagesRequest::new().owner(Owner::SelfAccount))
        .await
        .during("DescribeImages Owners=self")?;
    ensure!(
        owned.iter().any(|i| i.id == id),
        "{id} missing from Owners=self"
    );

    let results = ec2
        .deregister_image(DeregisterImageRequest::new(id.clone()))
        .await
        .during("DeregisterImage")?;
    ensure!(
        results.is_empty(),
        "DeregisterImage without DeleteAssociatedSnapshots deleted {results:?}"
    );
    // AWS: a deregistered image is briefly described as `deregistered`, then not at all.
    match ec2
        .describe_images(DescribeImagesRequest::ids([id.clone()]))
        .await
    {
        Ok(page) => {
            if let Some(i) = page.items.iter().find(|i| i.id == id) {
                ensure!(
                    i.state == ImageState::Deregistered,
                    "deregistered image described as {}",
                    i.state
                );
            }
        }
        Err(e) => ensure!(
            e.code() == "InvalidAMIID.NotFound",
            "describing a deregistered image: {}: {}",
            e.code(),
            e.message()
        ),
    }
    let owned = ec2
        .describe_all_images(DescribeImagesRequest::new().owner(Owner::SelfAccount))
        .await
        .during("DescribeImages Owners=self")?;
    ensure!(
        owned
            .iter()
            .all(|i| i.id != id || i.state == ImageState::Deregistered),
        "{id} still listed as owned after DeregisterImage"
    );
    Ok(())
}

async fn pending_then_available(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    ctx.require(Feature::PendingState)?;
    let ec2 = &ctx.primary.ec2;
    let instance = fx.instance().await?;
    let name = fx.name("image");
    let id = fx
        .create_image(CreateImageRequest::new(instance, name).no_reboot(true))
        .await?;
    let first = ec2.describe_image(&id).await.during("DescribeImages")?;
    ensure!(
        first.state == ImageState::Pending,
        "a new image must be pending, was {}",
        first.state
    );
    let image = fx.wait_image(ec2, &id).await?;
    ensure!(
        image.state == ImageState::Available,
        "state {}",
        image.state
    );
    Ok(())
}

async fn create_image_from_stopped_instance(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let ec2 = &ctx.primary.ec2;
    let instance = fx.instance().await?;
    ec2.stop_instances(vec![instance.clone()])
        .await
        .during("StopInstances")?;
    fx.wait_instance(&instance, InstanceState::Stopped).await?;
    let name = fx.name("stopped");
    let id = fx
        .create_image(CreateImageRequest::new(instance.clone(), name))
        .await?;
    let image = fx.wait_image(ec2, &id).await?;
    ensure!(
        image.source_instance_id.as_ref() == Some(&instance),
        "source instance {:?} != {instance}",
        image.source_instance_id
    );
    let inst = ec2
        .describe_instance(&instance)
        .await
        .during("DescribeInstances")?;
    ensure!(
        inst.state == InstanceState::Stopped,
        "CreateImage must leave a stopped instance stopped, it is {}",
        inst.state.as_str()
    );
    Ok(())
}

async fn name_duplicate(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    ctx.require(Feature::NameUniqueness)?;
    let ec2 = &ctx.primary.ec2;
    let first = fx.image("dup").await?;
    let instance = fx.instance().await?;
    let before = ec2
        .describe_all_images(DescribeImagesRequest::new().owner(Owner::SelfAccount))
        .await
        .during("DescribeImages")?
        .len();
    let res = ec2
        .create_image(CreateImageRequest::new(instance, first.name.clone()).no_reboot(true))
        .await;
    if let Ok(id) = &res {
        fx.track_image(ec2, id);
    }
    let err = expect_code(
        res,
        "InvalidAMIName.Duplicate",
        "CreateImage with a name in use",
    )?;
    ensure!(
        err.message().contains(first.name.as_str()),
        "the message should name the duplicate name {:?}: {}",
        first.name,
        err.message()
    );
    let after = ec2
        .describe_all_images(DescribeImagesRequest::new().owner(Owner::SelfAccount))
        .await
        .during("DescribeImages")?
        .len();
    ensure!(
        before == after,
        "a refused CreateImage changed the owned images ({before} -> {after})"
    );
    Ok(())
}

async fn name_malformed(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    ctx.require(Feature::NameValidation)?;
    let ec2 = &ctx.primary.ec2;
    let instance = fx.instance().await?;
    for bad in [format!("{}-bad#name!", ctx.prefix), "x".repeat(129)] {
        let res = ec2
            .create_image(CreateImageRequest::new(instance.clone(), bad.clone()).no_reboot(true))
            .await;
        if let Ok(id) = &res {
            fx.track_image(ec2, id);
        }
        expect_code(
            res,
            "InvalidAMIName.Malformed",
            format_args!("CreateImage named {bad:?}"),
        )?;
    }
    Ok(())
}

async fn image_tags(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let ec2 = &ctx.primary.ec2;
    let instance = fx.instance().await?;
    let name = fx.name("tags");
    let mut req = CreateImageRequest::new(instance, name).no_reboot(true);
    req.image_tags.insert("team".into(), "platform".into());
    req.image_tags.insert("stage".into(), "build".into());
    let id = fx.create_image(req).await?;
    let image = fx.wait_image(ec2, &id).await?;
    ensure!(
        image.tags.get("team").map(String::as_str) == Some("platform")
            && image.tags.get("stage").map(String::as_str) == Some("build"),
        "tags at creation: {:?}",
        image.tags
    );
    let res = ResourceId::Image(id.clone());
    ec2.create_tags(
        vec![res.clone()],
        [
            ("stage".to_owned(), "test".to_owned()),
            ("approved".to_owned(), "".to_owned()),
        ]
        .into(),
    )
    .await
    .during("CreateTags")?;
    let image = ec2.describe_image(&id).await.during("DescribeImages")?;
    ensure!(
        image.tags.get("stage").map(String::as_str) == Some("test"),
        "CreateTags must overwrite a value: {:?}",
        image.tags
    );
    ensure!(
        image.tags.get("approved").map(String::as_str) == Some(""),
        "an empty tag value is kept: {:?}",
        image.tags
    );
    ec2.delete_tags(vec![res], vec!["team".into(), "approved".into()])
        .await
        .during("DeleteTags")?;
    let image = ec2.describe_image(&id).await.during("DescribeImages")?;
    let keys: Vec<&str> = image.tags.keys().map(String::as_str).collect();
    ensure!(keys == ["stage"], "after DeleteTags the keys are {keys:?}");
    Ok(())
}

async fn modify_description(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    ctx.require(Feature::DescriptionChange)?;
    let ec2 = &ctx.primary.ec2;
    let image = fx.image("desc").await?;
    ec2.modify_image_description(image.id.clone(), "second description".into())
        .await
        .during("ModifyImageAttribute description")?;
    let image = ec2
        .describe_image(&image.id)
        .await
        .during("DescribeImages")?;
    ensure!(
        image.description.as_deref() == Some("second description"),
        "description is {:?}",
        image.description
    );
    Ok(())
}

async fn lineage(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let image = fx.image("lineage").await?;
    let instance = fx.instance().await?;
    ensure!(
        image.source_instance_id.as_ref() == Some(&instance),
        "SourceInstanceId {:?} != {instance}",
        image.source_instance_id
    );
    ctx.require(Feature::Lineage)?;
    if image.source_image_id.as_ref() != Some(&ctx.base_image) {
        fail!(
            "SourceImageId {:?} != the image the instance was launched from ({})",
            image.source_image_id,
            ctx.base_image
        );
    }
    ensure!(
        image.source_region.as_ref() == Some(ctx.primary.region()),
        "SourceImageRegion {:?}",
        image.source_region
    );
    Ok(())
}
