//! DescribeImages and DescribeSnapshots: filters, owners, pagination.

use std::collections::BTreeSet;

use super::fixtures::{checks, ensure, fail, During, Fixtures, Step};
use super::snapshots::other_account;
use super::{Ctx, Feature};
use crate::api::{
    CopyImageRequest, DescribeImagesRequest, DescribeSnapshotsRequest, Ec2Ext, Filter, Owner,
    RegisterImageRequest,
};
use crate::id::{ImageId, SnapshotId};
use crate::model::ResourceId;

checks! {
    /// DescribeImages filters by tag, name wildcard, state and image id, all of which must match.
    check_describe_filters => describe_filters;
    /// DescribeImages owner scopes: `self` and the caller's id include the caller's image,
    /// another account's id does not.
    check_describe_owners => describe_owners;
    /// DescribeSnapshots by id, by tag filter and by snapshot-id filter.
    check_describe_snapshot_filters => describe_snapshot_filters;
    /// DescribeImages pages of `MaxResults` 5 over 6 images return every image exactly once,
    /// in more than one page.
    check_pagination_images => pagination_images;
    /// DescribeSnapshots pages of `MaxResults` 5 over 6 snapshots return every snapshot exactly
    /// once, in more than one page.
    check_pagination_snapshots => pagination_snapshots;
}

fn ids(images: &[crate::model::Image]) -> BTreeSet<ImageId> {
    images.iter().map(|i| i.id.clone()).collect()
}

async fn describe_filters(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let ec2 = &ctx.primary.ec2;
    let a = fx.image("alpha").await?;
    let b = fx.image("beta").await?;
    let key = format!("{}-flavour", ctx.prefix);
    for (img, value) in [(&a, "a"), (&b, "b")] {
        ec2.create_tags(
            vec![ResourceId::Image(img.id.clone())],
            [(key.clone(), value.to_owned())].into(),
        )
        .await
        .during("CreateTags")?;
    }
    let owned = || DescribeImagesRequest::new().owner(Owner::SelfAccount);
    let both: BTreeSet<ImageId> = [a.id.clone(), b.id.clone()].into();

    let got = ec2
        .describe_all_images(owned().filter(Filter::tag(&key, "a")))
        .await
        .during("DescribeImages tag filter")?;
    ensure!(
        ids(&got) == [a.id.clone()].into(),
        "tag:{key}=a gave {:?}",
        ids(&got)
    );

    let got = ec2
        .describe_all_images(owned().filter(Filter::new("tag-key", [key.clone()])))
        .await
        .during("DescribeImages tag-key filter")?;
    ensure!(ids(&got) == both, "tag-key={key} gave {:?}", ids(&got));

    let got = ec2
        .describe_all_images(owned().filter(Filter::new("name", [format!("{}alpha-*", fx.stem())])))
        .await
        .during("DescribeImages name wildcard")?;
    ensure!(
        ids(&got) == [a.id.clone()].into(),
        "name wildcard gave {:?}",
        ids(&got)
    );

    let got = ec2
        .describe_all_images(
            owned()
                .filter(Filter::new("name", [format!("{}*", fx.stem())]))
                .filter(Filter::new("state", ["available"])),
        )
        .await
        .during("DescribeImages name and state")?;
    ensure!(
        ids(&got) == both,
        "name+state=available gave {:?}",
        ids(&got)
    );

    let got = ec2
        .describe_all_images(
            owned()
                .filter(Filter::new("name", [format!("{}*", fx.stem())]))
                .filter(Filter::new("state", ["failed"])),
        )
        .await
        .during("DescribeImages state=failed")?;
    ensure!(got.is_empty(), "state=failed gave {:?}", ids(&got));

    let got = ec2
        .describe_all_images(owned().filter(Filter::new("image-id", [b.id.to_string()])))
        .await
        .during("DescribeImages image-id filter")?;
    ensure!(
        ids(&got) == [b.id.clone()].into(),
        "image-id filter gave {:?}",
        ids(&got)
    );

    let got = ec2
        .describe_all_images(
            owned()
                .filter(Filter::tag(&key, "a"))
                .filter(Filter::new("image-id", [b.id.to_string()])),
        )
        .await
        .during("DescribeImages two filters")?;
    ensure!(
        got.is_empty(),
        "filters that cannot both match gave {:?}",
        ids(&got)
    );
    Ok(())
}

async fn describe_owners(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let ec2 = &ctx.primary.ec2;
    let image = fx.image("owned").await?;
    let name = Filter::new("name", [image.name.clone()]);
    for owner in [Owner::SelfAccount, Owner::Account(ec2.account().clone())] {
        let got = ec2
            .describe_all_images(
                DescribeImagesRequest::new()
                    .owner(owner.clone())
                    .filter(name.clone()),
            )
            .await
            .during(format_args!("DescribeImages Owners={owner}"))?;
        ensure!(
            ids(&got) == [image.id.clone()].into(),
            "Owners={owner} gave {:?}",
            ids(&got)
        );
    }
    let stranger = Owner::Account(other_account(ctx));
    let got = ec2
        .describe_all_images(
            DescribeImagesRequest::new()
                .owner(stranger.clone())
                .filter(name),
        )
        .await
        .during(format_args!("DescribeImages Owners={stranger}"))?;
    ensure!(got.is_empty(), "Owners={stranger} gave {:?}", ids(&got));
    Ok(())
}

/// Follows every page of `req` (page size 5), checking that no item repeats.
async fn page_images(
    ctx: &Ctx,
    req: DescribeImagesRequest,
) -> Result<(Vec<ImageId>, usize), super::fixtures::Stop> {
    let ec2 = &ctx.primary.ec2;
    let mut req = req.max_results(5);
    let mut all = Vec::new();
    let mut pages = 0;
    loop {
        let page = ec2
            .describe_images(req.clone())
            .await
            .during("DescribeImages page")?;
        pages += 1;
        ensure!(
            page.items.len() <= 5,
            "a page of MaxResults 5 had {} images",
            page.items.len()
        );
        all.extend(page.items.into_iter().map(|i| i.id));
        match page.next_token {
            Some(t) => req.next_token = Some(t),
            None => return Ok((all, pages)),
        }
        if pages > 100 {
            fail!("more than 100 pages for a handful of images");
        }
    }
}

async fn pagination_images(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    ctx.require(Feature::Pagination)?;
    let ec2 = &ctx.primary.ec2;
    let first = fx.image("page").await?;
    let Some(root) = first.snapshot_ids().first().map(|s| (*s).clone()) else {
        fail!("image {} has no snapshot", first.id);
    };
    let mut want: BTreeSet<ImageId> = [first.id.clone()].into();
    for _ in 0..5 {
        let name = fx.name("page");
        let id = ec2
            .register_image(RegisterImageRequest::new(name, root.clone()))
            .await
            .during("RegisterImage")?;
        fx.track_image(ec2, &id);
        want.insert(id);
    }
    for id in &want {
        fx.wait_image(ec2, id).await?;
    }
    let req = DescribeImagesRequest::new()
        .owner(Owner::SelfAccount)
        .filter(Filter::new("name", [format!("{}page-*", fx.stem())]));
    let (got, pages) = page_images(ctx, req).await?;
    let unique: BTreeSet<ImageId> = got.iter().cloned().collect();
    ensure!(
        unique.len() == got.len(),
        "an image repeated across pages: {got:?}"
    );
    ensure!(unique == want, "pages gave {unique:?}, expected {want:?}");
    ensure!(pages >= 2, "6 images in pages of 5 came in {pages} page(s)");
    Ok(())
}

async fn pagination_snapshots(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    ctx.require(Feature::Pagination)?;
    let ec2 = &ctx.primary.ec2;
    let source = fx.image("src").await?;
    let mut images = vec![source.clone()];
    for _ in 0..5 {
        let name = fx.name("copy");
        let id = ec2
            .copy_image(CopyImageRequest::new(
                ec2.region().clone(),
                source.id.clone(),
                name,
            ))
            .await
            .during("CopyImage")?;
        fx.track_image(ec2, &id);
        images.push(fx.wait_image(ec2, &id).await?);
    }
    let want: BTreeSet<SnapshotId> = images
        .iter()
        .flat_map(|i| i.snapshot_ids().into_iter().cloned())
        .collect();
    ensure!(
        want.len() >= 6,
        "6 images have only {} distinct snapshots",
        want.len()
    );
    let key = format!("{}page", fx.stem());
    ec2.create_tags(
        want.iter().cloned().map(ResourceId::Snapshot).collect(),
        [(key.clone(), "1".to_owned())].into(),
    )
    .await
    .during("CreateTags on snapshots")?;
    let mut req = DescribeSnapshotsRequest::owned().filter(Filter::tag(&key, "1"));
    req.max_results = Some(5);
    let mut got = Vec::new();
    let mut pages = 0;
    loop {
        let page = ec2
            .describe_snapshots(req.clone())
            .await
            .during("DescribeSnapshots page")?;
        pages += 1;
        ensure!(
            page.items.len() <= 5,
            "a page of MaxResults 5 had {} snapshots",
            page.items.len()
        );
        got.extend(page.items.into_iter().map(|s| s.id));
        match page.next_token {
            Some(t) => req.next_token = Some(t),
            None => break,
        }
        if pages > 100 {
            fail!("more than 100 pages for a handful of snapshots");
        }
    }
    let unique: BTreeSet<SnapshotId> = got.iter().cloned().collect();
    ensure!(
        unique.len() == got.len(),
        "a snapshot repeated across pages: {got:?}"
    );
    ensure!(unique == want, "pages gave {unique:?}, expected {want:?}");
    ensure!(
        pages >= 2,
        "{} snapshots in pages of 5 came in {pages} page(s)",
        want.len()
    );
    Ok(())
}

async fn describe_snapshot_filters(ctx: &Ctx, fx: &mut Fixtures<'_>) -> Step {
    let ec2 = &ctx.primary.ec2;
    let a = fx.image("alpha").await?;
    let b = fx.image("beta").await?;
    let (Some(sa), Some(sb)) = (
        a.snapshot_ids().first().cloned(),
        b.snapshot_ids().first().cloned(),
    ) else {
        fail!("the fixture images have no snapshot");
    };
    let (sa, sb) = (sa.clone(), sb.clone());
    let key = format!("{}flavour", fx.stem());
    for (s, value) in [(&sa, "a"), (&sb, "b")] {
        ec2.create_tags(
            vec![ResourceId::Snapshot(s.clone())],
            [(key.clone(), value.to_owned())].into(),
        )
        .await
        .during("CreateTags on a snapshot")?;
    }
    let snap_ids = |v: &[crate::model::Snapshot]| -> BTreeSet<SnapshotId> {
        v.iter().map(|s| s.id.clone()).collect()
    };
    let got = ec2
        .describe_all_snapshots(DescribeSnapshotsRequest::ids([sa.clone()]))
        .await
        .during("DescribeSnapshots by id")?;
    ensure!(
        snap_ids(&got) == [sa.clone()].into(),
        "by id: {:?}",
        snap_ids(&got)
    );
    ensure!(&got[0].owner == ec2.account(), "owner {}", got[0].owner);
    let got = ec2
        .describe_all_snapshots(DescribeSnapshotsRequest::owned().filter(Filter::tag(&key, "b")))
        .await
        .during("DescribeSnapshots tag filter")?;
    ensure!(
        snap_ids(&got) == [sb.clone()].into(),
        "tag:{key}=b gave {:?}",
        snap_ids(&got)
    );
    let got = ec2
        .describe_all_snapshots(
            DescribeSnapshotsRequest::owned().filter(Filter::new("snapshot-id", [sa.to_string()])),
        )
        .await
        .during("DescribeSnapshots snapshot-id filter")?;
    ensure!(
        snap_ids(&got) == [sa.clone()].into(),
        "snapshot-id filter gave {:?}",
        snap_ids(&got)
    );
    let got = ec2
        .describe_all_snapshots(
            DescribeSnapshotsRequest::owned()
                .filter(Filter::tag(&key, "b"))
                .filter(Filter::new("snapshot-id", [sa.to_string()])),
        )
        .await
        .during("DescribeSnapshots two filters")?;
    ensure!(
        got.is_empty(),
        "filters that cannot both match gave {:?}",
        snap_ids(&got)
    );
    Ok(())
}
