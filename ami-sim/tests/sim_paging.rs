//! Pagination of the describe calls while the world changes between pages: every item present
//! from the first page to the last comes exactly once, in id order; what is gone by the time
//! its page comes does not; a token is only ever one the simulator gave out.

mod sim_support;

use std::collections::BTreeSet;

use ami_core::api::{
    CopyImageRequest, DeregisterImageRequest, DescribeImagesRequest, DescribeInstancesRequest,
    DescribeSnapshotsRequest, Owner, RunInstancesRequest,
};
use ami_core::{Ec2, Ec2Ext, ImageId, InstanceId};
use sim_support::*;

/// Copies of a catalogue image, named `<prefix>-<n>`, made available.
async fn copies(ec2: &dyn Ec2, w: &World, prefix: &str, n: usize) -> Vec<ImageId> {
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();
    let mut ids = Vec::new();
    for k in 0..n {
        ids.push(
            ec2.copy_image(CopyImageRequest::new(
                w.r1.clone(),
                base.clone(),
                format!("{prefix}-{k:03}"),
            ))
            .await
            .unwrap(),
        );
    }
    pass(3600).await;
    ids
}

/// Images: between pages, new images are made and images not yet listed are deregistered.
/// The listing holds every image present throughout exactly once, in id order, none of the
/// deregistered ones, and every new one whose id sorts after the page it was made during.
#[tokio::test(start_paused = true)]
async fn image_pages_stay_exact_while_images_come_and_go() {
    let w = world(700);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let first = copies(&*ec2, &w, "first", 40).await;
    let mut req = DescribeImagesRequest::new()
        .owner(Owner::SelfAccount)
        .max_results(7);
    let mut listed: Vec<ImageId> = Vec::new();
    let mut gone: BTreeSet<ImageId> = BTreeSet::new();
    let mut added: Vec<(ImageId, Option<ImageId>)> = Vec::new();
    for round in 0.. {
        let page = ec2.describe_images(req.clone()).await.unwrap();
        assert!(page.items.len() <= 7);
        listed.extend(page.items.iter().map(|i| i.id.clone()));
        let Some(token) = page.next_token else { break };
        req.next_token = Some(token);
        // Deregister the greatest image not listed yet and still there.
        let cursor = listed.last().cloned();
        if let Some(victim) = first
            .iter()
            .filter(|i| !gone.contains(*i) && Some(*i) > cursor.as_ref())
            .max()
        {
            ec2.deregister_image(DeregisterImageRequest::new(victim.clone()))
                .await
                .unwrap();
            gone.insert(victim.clone());
        }
        let new = copies(&*ec2, &w, &format!("new{round}"), 2).await;
        added.extend(new.into_iter().map(|n| (n, cursor.clone())));
    }
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "in id order");
    let unique: BTreeSet<&ImageId> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "each image once");
    for id in &first {
        assert_eq!(
            listed.contains(id),
            !gone.contains(id),
            "{id}: present throughout iff listed"
        );
    }
    assert!(!gone.is_empty());
    for (id, cursor) in &added {
        if Some(id) > cursor.as_ref() {
            assert!(listed.contains(id), "{id} was made ahead of the cursor");
        } else {
            assert!(!listed.contains(id), "{id} was made behind the cursor");
        }
    }
}

/// Instances and snapshots page the same way: the pages of a listing, concatenated, equal the
/// whole list in one call, and new items ahead of the cursor show up.
#[tokio::test(start_paused = true)]
async fn instance_and_snapshot_pages_concatenate_to_the_whole_list() {
    let w = world(701);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();
    ec2.run_instances(RunInstancesRequest::new(base.clone()).count(23))
        .await
        .unwrap();
    copies(&*ec2, &w, "snap-source", 11).await;
    pass(60).await;

    let whole: Vec<InstanceId> = ec2
        .describe_all_instances(DescribeInstancesRequest::new())
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(whole.len(), 23);
    let mut paged = Vec::new();
    let mut req = DescribeInstancesRequest::new().max_results(5);
    loop {
        let page = ec2.describe_instances(req.clone()).await.unwrap();
        paged.extend(page.items.into_iter().map(|i| i.id));
        match page.next_token {
            Some(t) => req.next_token = Some(t),
            None => break,
        }
    }
    assert_eq!(paged, whole);
    let mut sorted = whole.clone();
    sorted.sort();
    assert_eq!(whole, sorted, "in id order");

    let mine = DescribeSnapshotsRequest::owned();
    let whole: Vec<_> = ec2
        .describe_all_snapshots(mine.clone())
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(whole.len(), 11);
    let mut paged = Vec::new();
    let mut req = mine;
    req.max_results = Some(5);
    loop {
        let page = ec2.describe_snapshots(req.clone()).await.unwrap();
        paged.extend(page.items.into_iter().map(|s| s.id));
        match page.next_token {
            Some(t) => req.next_token = Some(t),
            None => break,
        }
    }
    assert_eq!(paged, whole);
}

/// A token is one the simulator returned: anything else is `InvalidPaginationToken`, and a
/// page size outside 5 to 1000 is `InvalidParameterValue`, for each describe call.
#[tokio::test(start_paused = true)]
async fn foreign_tokens_and_page_sizes_are_refused() {
    let w = world(702);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    for token in [
        "garbage",
        "sim-page:",
        "sim-page:ami-xyz",
        "sim-page:ami-0123",
    ] {
        let mut images = DescribeImagesRequest::new();
        images.next_token = Some(token.into());
        let mut instances = DescribeInstancesRequest::new();
        instances.next_token = Some(token.into());
        let mut snapshots = DescribeSnapshotsRequest::owned();
        snapshots.next_token = Some(token.into());
        assert_eq!(
            ec2.describe_images(images).await.unwrap_err().code(),
            "InvalidPaginationToken",
            "{token}"
        );
        assert_eq!(
            ec2.describe_instances(instances).await.unwrap_err().code(),
            "InvalidPaginationToken",
            "{token}"
        );
        assert_eq!(
            ec2.describe_snapshots(snapshots).await.unwrap_err().code(),
            "InvalidPaginationToken",
            "{token}"
        );
    }
    for n in [0, 4, 1001] {
        assert_eq!(
            ec2.describe_images(DescribeImagesRequest::new().max_results(n))
                .await
                .unwrap_err()
                .code(),
            "InvalidParameterValue"
        );
        assert_eq!(
            ec2.describe_instances(DescribeInstancesRequest::new().max_results(n))
                .await
                .unwrap_err()
                .code(),
            "InvalidParameterValue"
        );
    }
}
