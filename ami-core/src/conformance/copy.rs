//! CopyImage: within and across Regions, encryption, idempotency, tags.

use super::fixtures::{checks, ensure, expect_code, fail, During, Fixtures, Step};
use super::snapshots::other_account;
use super::{Ctx, Feature};
use crate::api::{CopyImageRequest, CreateKeyRequest, Ec2Ext, PermissionChanges};
use crate::id::{ClientToken, ImageId};
use crate::model::{KeyManager, LaunchPermission, ResourceId};

checks! {
    /// CopyImage in the same Region makes a distinct image with new snapshots, owned by the
    /// caller, with lineage, and without the source's launch permissions.
    check_copy_within_region => copy_within_region;
    /// CopyImage called in a second Region makes an image that lives there, with its own
    /// snapshots there, and the source Region does not know it.
    check_copy_across_regions => copy_across_regions;
    /// CopyImage of an unknown image fails with `InvalidAMIID.NotFound`.
    check_copy_unknown_source => copy_unknown_source;
    /// CopyImage with `Encrypted` and a customer managed key encrypts every snapshot of the copy
    /// with that key.
    check_encrypted_copy_customer_key => encrypted_copy_customer_key;
    /// `KmsKeyId` without `Encrypted` fails with `InvalidParameterDependency`; an unencrypted
    /// copy of an encrypted image fails with `InvalidRequest`.
    check_copy_encryption_errors => copy_encryption_errors;
    /// The same client token with the same parameters returns the same image; with other
    /// parameters it fails with `IdempotentParameterMismatch`.
    check_copy_client_token => copy_client_token;
    /// `CopyImageTags` copies the caller's tags to the copy; without it nothing is copied.
    check_copy_image_tags => copy_image_tags;
}

/// An image id no backend has issued.
pub(crate) fn unknown_image() -> ImageId {
    ImageId::from_u128(0x0de_adbe_efde_adbe_ef00)
}

async fn copy_within_region(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let ec2 = &ctx.primary.ec2;
    let source = fx.image("src").await?;
    ec2.modify_launch_permissions(
        source.id.clone(),
        PermissionChanges::add([LaunchPermission::Account(other_account(ctx))]),
    )
    .await
    .during("ModifyImageAttribute add")?;
    let name = fx.name("copy");
    let req = CopyImageRequest::new(ec2.region().clone(), source.id.clone(), name.clone())
        .description("a copy");
    let id = ec2.copy_image(req).await.during("CopyImage")?;
    fx.track_image(ec2, &id);
    ensure!(id != source.id, "the copy has the source's id");
    let copy = fx.wait_image(ec2, &id).await?;
    ensure!(copy.name == name, "copy name {:?}", copy.name);
    ensure!(&copy.owner == ec2.account(), "copy owner {}", copy.owner);
    ensure!(&copy.region == ec2.region(), "copy region {}", copy.region);
    let src_snaps = source.snapshot_ids();
    let copy_snaps = copy.snapshot_ids();
    ensure!(
        copy_snaps.len() == src_snaps.len(),
        "copy has {} snapshots, source {}",
        copy_snaps.len(),
        src_snaps.len()
    );
    ensure!(
        copy_snaps.iter().all(|s| !src_snaps.contains(s)),
        "the copy shares snapshots with its source: {copy_snaps:?}"
    );
    for s in &copy_snaps {
        ec2.describe_snapshot(s)
            .await
            .during(format_args!("DescribeSnapshots {s} of the copy"))?;
    }
    let perms = ec2
        .describe_launch_permissions(id.clone())
        .await
        .during("DescribeImageAttribute launchPermission of the copy")?;
    ensure!(
        perms.is_empty(),
        "launch permissions were copied: {perms:?}"
    );
    if ctx.capabilities.has(Feature::Lineage) {
        ensure!(
            copy.source_image_id.as_ref() == Some(&source.id)
                && copy.source_region.as_ref() == Some(ec2.region()),
            "lineage {:?} / {:?}",
            copy.source_image_id,
            copy.source_region
        );
    }
    Ok(())
}

async fn copy_across_regions(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let dest = ctx.second_region()?.ec2.clone();
    let ec2 = &ctx.primary.ec2;
    let source = fx.image("src").await?;
    let name = fx.name("xregion");
    let id = dest
        .copy_image(CopyImageRequest::new(
            ec2.region().clone(),
            source.id.clone(),
            name.clone(),
        ))
        .await
        .during("CopyImage into the second Region")?;
    fx.track_image(&dest, &id);
    let copy = fx.wait_image(&dest, &id).await?;
    ensure!(&copy.region == dest.region(), "copy region {}", copy.region);
    ensure!(copy.name == name, "copy name {:?}", copy.name);
    ensure!(&copy.owner == dest.account(), "copy owner {}", copy.owner);
    for s in copy.snapshot_ids() {
        let snap = dest
            .describe_snapshot(s)
            .await
            .during(format_args!("DescribeSnapshots {s} in the second Region"))?;
        ensure!(
            &snap.region == dest.region(),
            "snapshot {s} in {}",
            snap.region
        );
    }
    match ec2
        .describe_images(crate::api::DescribeImagesRequest::ids([id.clone()]))
        .await
    {
        Ok(page) => ensure!(
            page.items.iter().all(|i| i.id != id),
            "the source Region describes the copy {id}"
        ),
        Err(e) => ensure!(
            e.code() == "InvalidAMIID.NotFound",
            "describing the copy in the source Region: {}: {}",
            e.code(),
            e.message()
        ),
    }
    if ctx.capabilities.has(Feature::Lineage) {
        ensure!(
            copy.source_image_id.as_ref() == Some(&source.id)
                && copy.source_region.as_ref() == Some(ec2.region()),
            "lineage {:?} / {:?}",
            copy.source_image_id,
            copy.source_region
        );
    }
    Ok(())
}

async fn copy_unknown_source(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let ec2 = &ctx.primary.ec2;
    let name = fx.name("unknown");
    let res = ec2
        .copy_image(CopyImageRequest::new(
            ec2.region().clone(),
            unknown_image(),
            name,
        ))
        .await;
    if let Ok(id) = &res {
        fx.track_image(ec2, id);
    }
    expect_code(
        res,
        "InvalidAMIID.NotFound",
        "CopyImage of an unknown image",
    )?;
    Ok(())
}

async fn encrypted_copy_customer_key(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    ctx.require(Feature::Encryption)?;
    let ec2 = &ctx.primary.ec2;
    let name = fx.name("key");
    let key = fx
        .create_key(&ctx.primary.kms, CreateKeyRequest::new(name))
        .await?;
    let source = fx.image("src").await?;
    ensure!(
        !source.is_encrypted(),
        "the fixture image is already encrypted"
    );
    let name = fx.name("enc");
    let req = CopyImageRequest::new(ec2.region().clone(), source.id.clone(), name)
        .encrypt_with(key.arn.clone());
    let id = ec2.copy_image(req).await.during("CopyImage encrypted")?;
    fx.track_image(ec2, &id);
    let copy = fx.wait_image(ec2, &id).await?;
    ensure!(copy.is_encrypted(), "the copy is not encrypted");
    for d in &copy.block_devices {
        let Some(enc) = &d.encryption else {
            fail!("device {} of the copy is not encrypted", d.device_name);
        };
        ensure!(
            enc.key == key.arn && enc.manager == KeyManager::Customer,
            "device {} encrypted with {:?}, expected customer key {}",
            d.device_name,
            enc,
            key.arn
        );
    }
    for s in copy.snapshot_ids() {
        let snap = ec2.describe_snapshot(s).await.during("DescribeSnapshots")?;
        ensure!(
            snap.encryption.as_ref().map(|e| &e.key) == Some(&key.arn),
            "snapshot {s} encryption {:?}",
            snap.encryption
        );
    }
    Ok(())
}

async fn copy_encryption_errors(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    ctx.require(Feature::Encryption)?;
    let ec2 = &ctx.primary.ec2;
    let name = fx.name("key");
    let key = fx
        .create_key(&ctx.primary.kms, CreateKeyRequest::new(name))
        .await?;
    let source = fx.image("src").await?;
    let name = fx.name("nodep");
    let mut req = CopyImageRequest::new(ec2.region().clone(), source.id.clone(), name);
    req.kms_key_id = Some(key.arn.clone());
    let res = ec2.copy_image(req).await;
    if let Ok(id) = &res {
        fx.track_image(ec2, id);
    }
    expect_code(
        res,
        "InvalidParameterDependency",
        "CopyImage with KmsKeyId but no Encrypted",
    )?;

    let enc_name = fx.name("enc");
    let id = ec2
        .copy_image(
            CopyImageRequest::new(ec2.region().clone(), source.id.clone(), enc_name)
                .encrypt_with(key.arn.clone()),
        )
        .await
        .during("CopyImage encrypted")?;
    fx.track_image(ec2, &id);
    fx.wait_image(ec2, &id).await?;
    let plain = fx.name("plain");
    let res = ec2
        .copy_image(CopyImageRequest::new(ec2.region().clone(), id, plain).encrypted(false))
        .await;
    if let Ok(id) = &res {
        fx.track_image(ec2, id);
    }
    expect_code(
        res,
        "InvalidRequest",
        "CopyImage Encrypted=false of an encrypted image",
    )?;
    Ok(())
}

async fn copy_client_token(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    ctx.require(Feature::Idempotency)?;
    let ec2 = &ctx.primary.ec2;
    let source = fx.image("src").await?;
    let token_text = fx.name("token");
    let token = match ClientToken::parse(&token_text) {
        Ok(t) => t,
        Err(e) => fail!("client token {token_text:?} refused: {e}"),
    };
    let name = fx.name("copy");
    let req = CopyImageRequest::new(ec2.region().clone(), source.id.clone(), name)
        .client_token(token.clone());
    let first = ec2.copy_image(req.clone()).await.during("CopyImage")?;
    fx.track_image(ec2, &first);
    let again = ec2
        .copy_image(req.clone())
        .await
        .during("CopyImage retried")?;
    fx.track_image(ec2, &again);
    ensure!(
        first == again,
        "a retried CopyImage made {again}, the first made {first}"
    );
    let mut other = req;
    other.name = fx.name("other");
    let res = ec2.copy_image(other).await;
    if let Ok(id) = &res {
        fx.track_image(ec2, id);
    }
    expect_code(
        res,
        "IdempotentParameterMismatch",
        "CopyImage with a used client token and another name",
    )?;
    Ok(())
}

async fn copy_image_tags(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    ctx.require(Feature::CopyImageTags)?;
    let ec2 = &ctx.primary.ec2;
    let source = fx.image("src").await?;
    ec2.create_tags(
        vec![ResourceId::Image(source.id.clone())],
        [("team".to_owned(), "platform".to_owned())].into(),
    )
    .await
    .during("CreateTags")?;
    let with = fx.name("with");
    let id = ec2
        .copy_image(
            CopyImageRequest::new(ec2.region().clone(), source.id.clone(), with)
                .copy_image_tags(true)
                .tag("copy", "yes"),
        )
        .await
        .during("CopyImage CopyImageTags=true")?;
    fx.track_image(ec2, &id);
    let copy = fx.wait_image(ec2, &id).await?;
    ensure!(
        copy.tags.get("team").map(String::as_str) == Some("platform")
            && copy.tags.get("copy").map(String::as_str) == Some("yes"),
        "copy tags {:?}",
        copy.tags
    );
    let without = fx.name("without");
    let id = ec2
        .copy_image(CopyImageRequest::new(
            ec2.region().clone(),
            source.id.clone(),
            without,
        ))
        .await
        .during("CopyImage")?;
    fx.track_image(ec2, &id);
    let copy = fx.wait_image(ec2, &id).await?;
    ensure!(
        copy.tags.is_empty(),
        "tags copied without CopyImageTags: {:?}",
        copy.tags
    );
    Ok(())
}
