//! Behaviour of the simulator over virtual time: instance and image state machines, what a
//! snapshot holds, describe scoping, filters and pagination, deprecation, block public access,
//! eventual consistency, faults and the call log.

mod sim_support;

use std::time::Duration;

use ami_core::api::{
    CopyImageRequest, CreateImageRequest, DeregisterImageRequest, DescribeImagesRequest,
    DescribeInstancesRequest, DescribeSnapshotsRequest, Filter, Owner, PermissionChanges,
    RegisterImageRequest, RunInstancesRequest,
};
use ami_core::model::{BlockPublicAccessState, DeleteSnapshotOutcome, ResourceId};
use ami_core::{Ec2, Ec2Ext, ImageState, InstanceState, LaunchPermission, OwnerAlias};
use ami_sim::{Durability, FaultPlan, Op};
use sim_support::*;

#[tokio::test(start_paused = true)]
async fn instances_move_through_their_states_over_virtual_time() {
    let w = world(200);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();
    let i = ec2
        .run_instances(RunInstancesRequest::new(base))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(i.state, InstanceState::Pending);
    pass(20).await;
    assert_eq!(
        ec2.describe_instance(&i.id).await.unwrap().state,
        InstanceState::Running
    );
    let ch = ec2.stop_instances(vec![i.id.clone()]).await.unwrap();
    assert_eq!(
        (ch[0].previous, ch[0].current),
        (InstanceState::Running, InstanceState::Stopping)
    );
    pass(60).await;
    assert_eq!(
        ec2.describe_instance(&i.id).await.unwrap().state,
        InstanceState::Stopped
    );
    ec2.start_instances(vec![i.id.clone()]).await.unwrap();
    assert_eq!(
        ec2.describe_instance(&i.id).await.unwrap().state,
        InstanceState::Pending
    );
    pass(20).await;
    ec2.terminate_instances(vec![i.id.clone()]).await.unwrap();
    assert_eq!(
        ec2.describe_instance(&i.id).await.unwrap().state,
        InstanceState::ShuttingDown
    );
    pass(60).await;
    assert_eq!(
        ec2.describe_instance(&i.id).await.unwrap().state,
        InstanceState::Terminated
    );
}

#[tokio::test(start_paused = true)]
async fn no_reboot_image_misses_buffered_writes_and_a_rebooted_one_keeps_them() {
    let w = world(201);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();
    let inst = running(&*ec2, &base).await;
    w.sim
        .write_data(
            &inst,
            "/dev/xvda",
            "/etc/flushed",
            "yes",
            Durability::Flushed,
        )
        .unwrap();
    w.sim
        .write_data(
            &inst,
            "/dev/xvda",
            "/etc/buffered",
            "yes",
            Durability::Buffered,
        )
        .unwrap();
    assert!(!w
        .sim
        .volume_data(&inst, "/dev/xvda")
        .unwrap()
        .contains_key("/etc/buffered"));

    let crash = ec2
        .create_image(CreateImageRequest::new(inst.clone(), "crash-consistent").no_reboot(true))
        .await
        .unwrap();
    // The instance is not touched by a no-reboot image.
    assert_eq!(
        ec2.describe_instance(&inst).await.unwrap().state,
        InstanceState::Running
    );
    let crash = wait_image(&*ec2, &crash).await;
    let snap = crash.block_devices[0].snapshot_id.clone().unwrap();
    let data = w.sim.snapshot_data(&snap).unwrap();
    assert_eq!(data.get("/etc/flushed").map(String::as_str), Some("yes"));
    assert!(
        !data.contains_key("/etc/buffered"),
        "no-reboot misses unflushed writes"
    );

    let clean = ec2
        .create_image(CreateImageRequest::new(inst.clone(), "consistent"))
        .await
        .unwrap();
    // CreateImage reboots the instance: it passes through stopping and is running again.
    assert_eq!(
        ec2.describe_instance(&inst).await.unwrap().state,
        InstanceState::Stopping
    );
    let clean = wait_image(&*ec2, &clean).await;
    assert_eq!(
        ec2.describe_instance(&inst).await.unwrap().state,
        InstanceState::Running
    );
    let snap = clean.block_devices[0].snapshot_id.clone().unwrap();
    assert_eq!(
        w.sim
            .snapshot_data(&snap)
            .unwrap()
            .get("/etc/buffered")
            .map(String::as_str),
        Some("yes"),
        "the reboot flushed the buffered write"
    );

    // A stopped instance: the stop flushed everything.
    w.sim
        .write_data(&inst, "/dev/xvda", "/etc/late", "1", Durability::Buffered)
        .unwrap();
    ec2.stop_instances(vec![inst.clone()]).await.unwrap();
    wait_instance(&*ec2, &inst, InstanceState::Stopped).await;
    let stopped = ec2
        .create_image(CreateImageRequest::new(inst.clone(), "from-stopped").no_reboot(true))
        .await
        .unwrap();
    let stopped = wait_image(&*ec2, &stopped).await;
    let snap = stopped.block_devices[0].snapshot_id.clone().unwrap();
    assert!(w
        .sim
        .snapshot_data(&snap)
        .unwrap()
        .contains_key("/etc/late"));
}

#[tokio::test(start_paused = true)]
async fn one_snapshot_per_volume_with_aws_descriptions() {
    let w = world(202);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();
    let req = RunInstancesRequest::new(base).extra_volume(ami_core::api::VolumeSpec {
        device_name: "/dev/sdf".into(),
        size_gib: 100,
        encrypted: true,
        kms_key_id: None,
    });
    let inst = ec2.run_instances(req).await.unwrap().remove(0).id;
    wait_instance(&*ec2, &inst, InstanceState::Running).await;
    let id = ec2
        .create_image(CreateImageRequest::new(inst.clone(), "two-volumes"))
        .await
        .unwrap();
    let img = wait_image(&*ec2, &id).await;
    assert_eq!(img.block_devices.len(), 2);
    assert!(img.block_devices[1].encryption.is_some());
    for d in &img.block_devices {
        let s = ec2
            .describe_snapshot(d.snapshot_id.as_ref().unwrap())
            .await
            .unwrap();
        assert!(
            s.description
                .starts_with(&format!("Created by CreateImage({inst}) for {id}")),
            "{}",
            s.description
        );
    }
    let copy = ec2
        .copy_image(CopyImageRequest::new(w.r1.clone(), id.clone(), "copied"))
        .await
        .unwrap();
    let copy = wait_image(&*ec2, &copy).await;
    let s = ec2
        .describe_snapshot(copy.block_devices[0].snapshot_id.as_ref().unwrap())
        .await
        .unwrap();
    assert!(
        s.description.starts_with(&format!(
            "Copied for DestinationAmi {} from SourceAmi {id} for SourceSnapshot snap-",
            copy.id
        )),
        "{}",
        s.description
    );
}

/// Virtual seconds until the image leaves `pending`.
async fn time_to_available(ec2: &dyn Ec2, id: &ami_core::ImageId) -> u64 {
    let mut waited = 0;
    while ec2.describe_image(id).await.unwrap().state == ImageState::Pending {
        pass(5).await;
        waited += 5;
    }
    waited
}

#[tokio::test(start_paused = true)]
async fn image_time_grows_with_size_and_cross_region_copies_are_slower() {
    let w = world(203);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let small = w.sim.amazon_image(&w.r1, "al2023").unwrap(); // 8 GiB
    let big = w.sim.amazon_image(&w.r1, "windows-2022").unwrap(); // 30 GiB
    let s = ec2
        .copy_image(CopyImageRequest::new(w.r1.clone(), small.clone(), "small"))
        .await
        .unwrap();
    let t_small = time_to_available(&*ec2, &s).await;
    let b = ec2
        .copy_image(CopyImageRequest::new(w.r1.clone(), big, "big"))
        .await
        .unwrap();
    let t_big = time_to_available(&*ec2, &b).await;
    let far = w.sim.ec2(&w.a, &w.r2);
    let x = far
        .copy_image(CopyImageRequest::new(w.r1.clone(), small, "far"))
        .await
        .unwrap();
    let t_far = time_to_available(&*far, &x).await;
    assert!(t_small < t_big, "{t_small} < {t_big}");
    assert!(t_small < t_far, "{t_small} < {t_far}");
    assert!(t_small > 0);
}

#[tokio::test(start_paused = true)]
async fn describe_images_owners_filters_and_pagination() {
    let w = world(204);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();
    let mut ids = Vec::new();
    for n in 0..12 {
        let id = ec2
            .copy_image(
                CopyImageRequest::new(w.r1.clone(), base.clone(), format!("web-{n:02}"))
                    .tag("tier", if n % 2 == 0 { "even" } else { "odd" }),
            )
            .await
            .unwrap();
        ids.push(id);
    }
    pass(3600).await;
    let mine = DescribeImagesRequest::new().owner(Owner::SelfAccount);
    // Pages of 5 in a stable order by id, every image exactly once.
    let mut seen = Vec::new();
    let mut req = mine.clone().max_results(5);
    loop {
        let page = ec2.describe_images(req.clone()).await.unwrap();
        assert!(page.items.len() <= 5);
        seen.extend(page.items.into_iter().map(|i| i.id));
        match page.next_token {
            Some(t) => req.next_token = Some(t),
            None => break,
        }
    }
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(seen, sorted);

    let names = |f: Filter| {
        let ec2 = ec2.clone();
        let req = mine.clone().filter(f);
        async move {
            ec2.describe_all_images(req)
                .await
                .unwrap()
                .into_iter()
                .map(|i| i.name)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(names(Filter::new("name", ["web-0?"])).await.len(), 10);
    let mut ones = names(Filter::new("name", ["web-1*"])).await;
    ones.sort();
    assert_eq!(ones, names_sorted(&["web-10", "web-11"]));
    assert_eq!(names(Filter::tag("tier", "odd")).await.len(), 6);
    assert_eq!(names(Filter::new("tag-key", ["ti*"])).await.len(), 12);
    assert_eq!(
        names(Filter::new("source-image-id", [base.to_string()]))
            .await
            .len(),
        12
    );
    assert_eq!(names(Filter::new("state", ["available"])).await.len(), 12);
    assert_eq!(names(Filter::new("is-public", ["false"])).await.len(), 12);

    // Owner aliases and the public catalogue.
    let amazon = ec2
        .describe_all_images(DescribeImagesRequest::new().owner(Owner::Alias(OwnerAlias::Amazon)))
        .await
        .unwrap();
    assert!(amazon
        .iter()
        .all(|i| i.owner_alias == Some(OwnerAlias::Amazon) && i.public));
    assert_eq!(amazon.len(), 4);
    let mp = ec2
        .describe_all_images(
            DescribeImagesRequest::new().owner(Owner::Alias(OwnerAlias::AwsMarketplace)),
        )
        .await
        .unwrap();
    assert_eq!(mp.len(), 2);
    assert!(mp.iter().all(|i| i.is_marketplace()));
    let by_code = ec2
        .describe_all_images(
            DescribeImagesRequest::new()
                .filter(Filter::new("product-code", ["8fjeu3yzekzc3h9rq5a4fn8m1"])),
        )
        .await
        .unwrap();
    assert_eq!(by_code.len(), 1);
}

fn names_sorted(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(start_paused = true)]
async fn describe_instances_filters_and_pages() {
    let w = world(205);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();
    let other = w.sim.amazon_image(&w.r1, "al2").unwrap();
    ec2.run_instances(
        RunInstancesRequest::new(base.clone())
            .count(7)
            .tag("role", "web"),
    )
    .await
    .unwrap();
    ec2.run_instances(RunInstancesRequest::new(other).count(3))
        .await
        .unwrap();
    pass(30).await;
    let all = ec2
        .describe_all_instances(DescribeInstancesRequest::new().max_results(5))
        .await
        .unwrap();
    assert_eq!(all.len(), 10);
    let web = ec2
        .describe_all_instances(DescribeInstancesRequest::new().filter(Filter::tag("role", "web")))
        .await
        .unwrap();
    assert_eq!(web.len(), 7);
    let by_image = ec2
        .describe_all_instances(
            DescribeInstancesRequest::new().filter(Filter::new("image-id", [base.to_string()])),
        )
        .await
        .unwrap();
    assert_eq!(by_image.len(), 7);
    let running = ec2
        .describe_all_instances(
            DescribeInstancesRequest::new().filter(Filter::new("instance-state-name", ["running"])),
        )
        .await
        .unwrap();
    assert_eq!(running.len(), 10);
    // Another account sees none of them.
    assert!(w
        .sim
        .ec2(&w.c, &w.r1)
        .describe_all_instances(DescribeInstancesRequest::new())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(start_paused = true)]
async fn deprecated_images_of_others_are_hidden_unless_asked_for() {
    let w = world(206);
    let owner = w.sim.ec2(&w.a, &w.r1);
    let img = baked(&w, &*owner, "old").await;
    owner
        .modify_launch_permissions(
            img.clone(),
            PermissionChanges::add([LaunchPermission::Account(w.c.clone())]),
        )
        .await
        .unwrap();
    let at = w.sim.now().add(Duration::from_secs(3600));
    owner
        .enable_image_deprecation(img.clone(), at)
        .await
        .unwrap();
    let consumer = w.sim.ec2(&w.c, &w.r1);
    let shared = DescribeImagesRequest::new().owner(Owner::Account(w.a.clone()));
    assert_eq!(
        consumer
            .describe_all_images(shared.clone())
            .await
            .unwrap()
            .len(),
        1,
        "not deprecated yet"
    );
    pass(3600).await;
    assert!(consumer
        .describe_all_images(shared.clone())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        consumer
            .describe_all_images(shared.include_deprecated(true))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        consumer
            .describe_all_images(DescribeImagesRequest::ids([img.clone()]))
            .await
            .unwrap()
            .len(),
        1
    );
    // The owner always sees its own deprecated images, and can still launch them by id.
    assert_eq!(
        owner
            .describe_all_images(DescribeImagesRequest::new().owner(Owner::SelfAccount))
            .await
            .unwrap()
            .len(),
        1
    );
    running(&*consumer, &img).await;
}

#[tokio::test(start_paused = true)]
async fn disabled_images_are_hidden_unless_included() {
    let w = world(207);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let img = baked(&w, &*ec2, "to-disable").await;
    ec2.disable_image(img.clone()).await.unwrap();
    let mine = DescribeImagesRequest::new().owner(Owner::SelfAccount);
    assert!(ec2
        .describe_all_images(mine.clone())
        .await
        .unwrap()
        .is_empty());
    let with = ec2
        .describe_all_images(mine.include_disabled(true))
        .await
        .unwrap();
    assert_eq!(with[0].state, ImageState::Disabled);
}

#[tokio::test(start_paused = true)]
async fn block_public_access_defaults_on_and_takes_time_to_enable() {
    let w = world(208);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    assert_eq!(
        ec2.get_image_block_public_access_state().await.unwrap(),
        BlockPublicAccessState::BlockNewSharing
    );
    ec2.disable_image_block_public_access().await.unwrap();
    assert_eq!(
        ec2.get_image_block_public_access_state().await.unwrap(),
        BlockPublicAccessState::Unblocked
    );
    let img = baked(&w, &*ec2, "public-one").await;
    ec2.modify_launch_permissions(
        img.clone(),
        PermissionChanges::add([LaunchPermission::Public]),
    )
    .await
    .unwrap();
    let public = ec2.describe_image(&img).await.unwrap();
    assert!(public.public);
    assert!(
        public.deprecation_time.is_some(),
        "public images get a default deprecation time"
    );
    // Everyone sees it now.
    assert_eq!(
        w.sim
            .ec2(&w.c, &w.r1)
            .describe_image(&img)
            .await
            .unwrap()
            .owner,
        w.a
    );
    ec2.enable_image_block_public_access().await.unwrap();
    assert_eq!(
        ec2.get_image_block_public_access_state().await.unwrap(),
        BlockPublicAccessState::Unblocked
    );
    pass(600).await;
    assert_eq!(
        ec2.get_image_block_public_access_state().await.unwrap(),
        BlockPublicAccessState::BlockNewSharing
    );
    assert!(
        ec2.describe_image(&img).await.unwrap().public,
        "already public images stay public"
    );
}

#[tokio::test(start_paused = true)]
async fn deregister_with_associated_snapshots_skips_shared_ones() {
    let w = world(209);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let img = baked(&w, &*ec2, "with-snaps").await;
    let snap = ec2.describe_image(&img).await.unwrap().block_devices[0]
        .snapshot_id
        .clone()
        .unwrap();
    let twin = ec2
        .register_image(RegisterImageRequest::new("twin", snap.clone()))
        .await
        .unwrap();
    wait_image(&*ec2, &twin).await;
    let res = ec2
        .deregister_image(DeregisterImageRequest::new(img).with_snapshots())
        .await
        .unwrap();
    assert_eq!(res.len(), 1);
    assert_eq!(res[0].outcome, DeleteSnapshotOutcome::Skipped);
    let res = ec2
        .deregister_image(DeregisterImageRequest::new(twin).with_snapshots())
        .await
        .unwrap();
    assert_eq!(res[0].outcome, DeleteSnapshotOutcome::Success);
    assert!(ec2.describe_snapshot(&snap).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn new_ids_are_not_found_during_the_consistency_lag() {
    let w = world_with(builder(210).consistency_lag(Duration::from_secs(30)));
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();
    let copy = ec2
        .copy_image(CopyImageRequest::new(w.r1.clone(), base, "lagging"))
        .await
        .unwrap();
    let e = ec2
        .describe_images(DescribeImagesRequest::ids([copy.clone()]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "InvalidAMIID.NotFound");
    let e = ec2
        .create_tags(
            vec![ResourceId::Image(copy.clone())],
            [("k".into(), "v".into())].into(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "InvalidAMIID.NotFound");
    pass(30).await;
    assert_eq!(ec2.describe_image(&copy).await.unwrap().id, copy);
}

#[tokio::test(start_paused = true)]
async fn image_failure_rate_fails_images_with_a_reason() {
    let w = world_with_faults(211, FaultPlan::default().image_failures(1.0));
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();
    let id = ec2
        .copy_image(CopyImageRequest::new(w.r1.clone(), base, "doomed"))
        .await
        .unwrap();
    let img = wait_image(&*ec2, &id).await;
    assert_eq!(img.state, ImageState::Failed);
    assert_eq!(img.state_reason.unwrap().code, "Server.InternalError");
    // Failed images can be deregistered.
    ec2.deregister_image(DeregisterImageRequest::new(id))
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn call_log_records_every_call_with_time_scope_and_outcome() {
    let w = world(212);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    ec2.describe_images(DescribeImagesRequest::new().owner(Owner::SelfAccount))
        .await
        .unwrap();
    pass(10).await;
    let _ = ec2
        .delete_snapshot(ami_core::SnapshotId::from_u128(1))
        .await;
    let log = w.sim.call_log();
    assert_eq!(log.len(), 2);
    assert_eq!(
        log[0].to_string(),
        "#1 2026-01-01T00:00:00Z 111111111111 us-east-1 DescribeImages ok 0 items"
    );
    assert_eq!(log[1].to_string(), "#2 2026-01-01T00:00:10Z 111111111111 us-east-1 DeleteSnapshot err InvalidSnapshot.NotFound");
    assert_eq!(w.sim.call_count(Op::DescribeImages), 1);
    assert_eq!(w.sim.call_count(Op::CopyImage), 0);
}

#[tokio::test(start_paused = true)]
async fn a_simulated_day_passes_instantly_and_snapshots_are_listed() {
    let w = world(213);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let start = w.sim.now();
    pass(86_400).await;
    assert_eq!(w.sim.now().since(start), Duration::from_secs(86_400));
    let img = baked(&w, &*ec2, "snapshots").await;
    let own = ec2
        .describe_all_snapshots(DescribeSnapshotsRequest::owned())
        .await
        .unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(
        Some(&own[0].id),
        ec2.describe_image(&img).await.unwrap().block_devices[0]
            .snapshot_id
            .as_ref()
    );
    assert!(w
        .sim
        .ec2(&w.c, &w.r1)
        .describe_all_snapshots(DescribeSnapshotsRequest::owned())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(start_paused = true)]
async fn deregistering_a_pending_copy_stops_it() {
    let w = world(214);
    let far = w.sim.ec2(&w.a, &w.r2);
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();
    let copy = far
        .copy_image(CopyImageRequest::new(w.r1.clone(), base, "stop-me"))
        .await
        .unwrap();
    let snap = far.describe_image(&copy).await.unwrap().block_devices[0]
        .snapshot_id
        .clone()
        .unwrap();
    far.deregister_image(DeregisterImageRequest::new(copy.clone()))
        .await
        .unwrap();
    pass(3600).await;
    assert_eq!(
        w.sim
            .inspect_images()
            .into_iter()
            .find(|(i, _)| i.id == copy)
            .unwrap()
            .0
            .state,
        ImageState::Deregistered,
        "a stopped copy never becomes available"
    );
    assert_eq!(
        far.describe_snapshot(&snap).await.unwrap().state,
        ami_core::model::SnapshotState::Error
    );
    // The snapshot is free to delete now.
    far.delete_snapshot(snap).await.unwrap();
}

/// An instance carries its image's product codes (DescribeInstances `productCodes`), so a
/// Marketplace launch is recognisable from the instance alone; an Amazon image has none.
#[tokio::test(start_paused = true)]
async fn instances_carry_their_images_product_codes() {
    let w = world(231);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let mp = w.sim.marketplace_image(&w.r1, "hardened-linux").unwrap();
    let codes = ec2.describe_image(&mp).await.unwrap().product_codes;
    assert!(!codes.is_empty());
    let i = ec2
        .run_instances(RunInstancesRequest::new(mp))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(i.product_codes, codes);
    assert_eq!(
        ec2.describe_instance(&i.id).await.unwrap().product_codes,
        codes
    );

    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();
    let plain = ec2
        .run_instances(RunInstancesRequest::new(base))
        .await
        .unwrap()
        .remove(0);
    assert!(plain.product_codes.is_empty());
}

/// RunInstances can encrypt the image's root volume (`BlockDeviceMapping.Ebs.Encrypted`, with
/// or without `KmsKeyId`); an image made from that instance is encrypted the same way, so an
/// `aws/ebs` image needs no copy. A device the image lacks is `InvalidBlockDeviceMapping`, an
/// unknown key `NotFoundException`, and neither launches anything.
#[tokio::test(start_paused = true)]
async fn run_instances_encrypts_the_root_volume_at_launch() {
    use ami_core::{KeyManager, KmsKeyRef};
    let w = world(232);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let kms = w.sim.kms(&w.a, &w.r1);
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();

    // The default EBS key.
    let i = ec2
        .run_instances(RunInstancesRequest::new(base.clone()).encrypt_volume("/dev/xvda", None))
        .await
        .unwrap()
        .remove(0);
    let ebs = kms.describe_key(KmsKeyRef::aws_ebs_alias()).await.unwrap();
    let enc = i.volumes[0].encryption.clone().expect("encrypted root");
    assert_eq!(enc.key, ebs.arn);
    assert_eq!(enc.manager, KeyManager::Aws);
    wait_instance(&*ec2, &i.id, InstanceState::Running).await;
    let img = ec2
        .create_image(CreateImageRequest::new(i.id.clone(), "root-aws-ebs"))
        .await
        .unwrap();
    let img = wait_image(&*ec2, &img).await;
    assert_eq!(img.state, ImageState::Available);
    assert_eq!(img.kms_keys()[0].key, ebs.arn);

    // A customer managed key.
    let key = key_with_alias(&*kms, "root").await;
    let i = ec2
        .run_instances(
            RunInstancesRequest::new(base.clone())
                .encrypt_volume("/dev/xvda", Some(key.arn.clone())),
        )
        .await
        .unwrap()
        .remove(0);
    let enc = i.volumes[0].encryption.clone().expect("encrypted root");
    assert_eq!(enc.key, key.arn);
    assert_eq!(enc.manager, KeyManager::Customer);

    // Refusals change nothing.
    let before = w.sim.inspect_instances().len();
    let e = ec2
        .run_instances(RunInstancesRequest::new(base.clone()).encrypt_volume("/dev/sdz", None))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "InvalidBlockDeviceMapping");
    assert!(
        e.message().contains("/dev/sdz") && e.message().contains("/dev/xvda"),
        "{}",
        e.message()
    );
    let e = ec2
        .run_instances(
            RunInstancesRequest::new(base)
                .encrypt_volume("/dev/xvda", Some(key_ref("alias/never-made"))),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "NotFoundException");
    assert_eq!(w.sim.inspect_instances().len(), before);
}
