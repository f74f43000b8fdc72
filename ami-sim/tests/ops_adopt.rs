//! `ops::adopt` on the simulator: the consumer copies an image shared with it into its own
//! account and owns it; the pre-flight names what the owner still has to grant, or why it can
//! never work, before any CopyImage.

use ami_core::api::{PermissionChanges, RunInstancesRequest};
use ami_core::ops::adopt::{
    adopt, preflight_adopt, AdoptOptions, BlockerKind, TAG_ADOPTED_FROM, TAG_SOURCE_OWNER,
};
use ami_core::ops::share::{self, ShareSpec};
use ami_core::{
    CreateVolumePermission, Ec2Ext, ImageId, ImageState, KeyManager, KmsExt, KmsKey,
    LaunchPermission,
};
use ami_sim::{FaultPlan, Op, Sim};

mod common;
use common::{acct, baked_with_key, eu, must, reencrypted, us};

const OWNER: &str = "111111111111";
const CONSUMER: &str = "222222222222";

fn sim(seed: u64) -> Sim {
    sim_with(seed, FaultPlan::none())
}

fn sim_with(seed: u64, faults: FaultPlan) -> Sim {
    common::sim(
        seed,
        &["us-east-1", "eu-west-1"],
        &[OWNER, CONSUMER],
        faults,
    )
}

/// OWNER's image `golden` in us-east-1, encrypted with OWNER's customer managed key.
async fn cmk_image(sim: &Sim) -> (ImageId, KmsKey) {
    let (plain, key) = baked_with_key(sim, OWNER).await;
    let img = reencrypted(sim, OWNER, &plain, &key).await;
    (img.id, key)
}

/// CONSUMER's own key in eu-west-1.
async fn consumer_key(sim: &Sim) -> KmsKey {
    let kms = sim.kms(&acct(CONSUMER), &eu());
    must(|| kms.create_key_with_alias("mine", "adopted images")).await
}

/// The story: shared with snapshots and key, the consumer adopts the image into eu-west-1
/// under its own key, owns the copy (with lineage), launches it, and keeps it after the owner
/// revokes the share.
#[tokio::test(start_paused = true)]
async fn consumer_adopts_and_owns_the_copy() {
    let sim = sim(1);
    let (image, _key) = cmk_image(&sim).await;
    let spec = ShareSpec::new(image.clone())
        .account(acct(CONSUMER))
        .allow_copy(true);
    share::share(&sim, &acct(OWNER), &us(), &spec)
        .await
        .unwrap();
    let mine = consumer_key(&sim).await;

    let opts = AdoptOptions::new()
        .target_region(eu())
        .name("golden-adopted")
        .kms_key(mine.arn.clone())
        .tag("Team", "consumers");
    let pre = preflight_adopt(&sim, &acct(CONSUMER), &us(), &image, &opts)
        .await
        .unwrap();
    assert!(pre.is_ready(), "{pre}");
    assert!(pre.to_string().contains("ready"));

    let adopted = adopt(&sim, &acct(CONSUMER), &us(), &image, opts)
        .await
        .unwrap();
    let copy = &adopted.image;
    assert_eq!(copy.owner, acct(CONSUMER));
    assert_eq!(copy.region, eu());
    assert_eq!(copy.state, ImageState::Available);
    assert_eq!(copy.name, "golden-adopted");
    assert_eq!(copy.source_image_id.as_ref(), Some(&image));
    assert_eq!(copy.source_region.as_ref(), Some(&us()));
    assert_eq!(adopted.source_owner, acct(OWNER));
    assert_eq!(
        copy.tags.get(TAG_ADOPTED_FROM).map(String::as_str),
        Some(format!("us-east-1/{image}").as_str())
    );
    assert_eq!(
        copy.tags.get(TAG_SOURCE_OWNER).map(String::as_str),
        Some(OWNER)
    );
    assert_eq!(copy.tags.get("Team").map(String::as_str), Some("consumers"));
    for enc in copy.kms_keys() {
        assert_eq!(enc.key, mine.arn);
        assert_eq!(enc.manager, KeyManager::Customer);
    }
    let consumer_eu = sim.ec2(&acct(CONSUMER), &eu());
    for snap in copy.snapshot_ids() {
        assert_eq!(
            consumer_eu.describe_snapshot(snap).await.unwrap().owner,
            acct(CONSUMER)
        );
    }

    // The owner revokes; the consumer's copy is its own and still launches.
    share::revoke(&sim, &acct(OWNER), &us(), &spec)
        .await
        .unwrap();
    consumer_eu
        .run_instances(RunInstancesRequest::new(copy.id.clone()))
        .await
        .unwrap();
}

/// Adopting again returns the same copy: one CopyImage in all.
#[tokio::test(start_paused = true)]
async fn adopting_twice_returns_the_same_copy() {
    let sim = sim(2);
    let (image, _) = cmk_image(&sim).await;
    share::share(
        &sim,
        &acct(OWNER),
        &us(),
        &ShareSpec::new(image.clone())
            .account(acct(CONSUMER))
            .allow_copy(true),
    )
    .await
    .unwrap();
    let copies = sim.call_count(Op::CopyImage);
    let a = adopt(&sim, &acct(CONSUMER), &us(), &image, AdoptOptions::new())
        .await
        .unwrap();
    let b = adopt(&sim, &acct(CONSUMER), &us(), &image, AdoptOptions::new())
        .await
        .unwrap();
    assert_eq!(a.image.id, b.image.id);
    assert_eq!(a.image.name, "golden");
    assert_eq!(sim.call_count(Op::CopyImage), copies + 1);
}

/// Shared for launching only: the pre-flight says the owner must grant createVolumePermission,
/// with AWS's `InvalidRequest`, and nothing is copied.
#[tokio::test(start_paused = true)]
async fn missing_snapshot_permission_is_named_before_any_copy() {
    let sim = sim(3);
    let (image, _) = cmk_image(&sim).await;
    share::share(
        &sim,
        &acct(OWNER),
        &us(),
        &ShareSpec::new(image.clone()).account(acct(CONSUMER)),
    )
    .await
    .unwrap();
    let pre = preflight_adopt(&sim, &acct(CONSUMER), &us(), &image, &AdoptOptions::new())
        .await
        .unwrap();
    assert_eq!(pre.blockers.len(), 1, "{pre}");
    let b = &pre.blockers[0];
    assert_eq!(b.kind, BlockerKind::SnapshotPermission);
    assert_eq!(b.error.code(), "InvalidRequest");
    let snap = sim
        .ec2(&acct(OWNER), &us())
        .describe_image(&image)
        .await
        .unwrap()
        .snapshot_ids()[0]
        .clone();
    assert!(b.error.message().contains(snap.as_str()), "{}", b.error);
    assert!(b.error.message().contains(OWNER), "{}", b.error);

    let copies = sim.call_count(Op::CopyImage);
    let err = adopt(&sim, &acct(CONSUMER), &us(), &image, AdoptOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "InvalidRequest");
    assert_eq!(sim.call_count(Op::CopyImage), copies);

    // Once granted, the adoption goes through.
    share::share(
        &sim,
        &acct(OWNER),
        &us(),
        &ShareSpec::new(image.clone())
            .account(acct(CONSUMER))
            .allow_copy(true),
    )
    .await
    .unwrap();
    adopt(&sim, &acct(CONSUMER), &us(), &image, AdoptOptions::new())
        .await
        .unwrap();
}

/// Launch and snapshot permissions granted by hand, the key forgotten: the pre-flight names the
/// key and its owner.
#[tokio::test(start_paused = true)]
async fn missing_key_access_is_named_before_any_copy() {
    let sim = sim(4);
    let (image, key) = cmk_image(&sim).await;
    let owner_ec2 = sim.ec2(&acct(OWNER), &us());
    owner_ec2
        .modify_launch_permissions(
            image.clone(),
            PermissionChanges::add([LaunchPermission::Account(acct(CONSUMER))]),
        )
        .await
        .unwrap();
    let img = owner_ec2.describe_image(&image).await.unwrap();
    for snap in img.snapshot_ids() {
        owner_ec2
            .modify_snapshot_permissions(
                snap.clone(),
                PermissionChanges::add([CreateVolumePermission::Account(acct(CONSUMER))]),
            )
            .await
            .unwrap();
    }
    let pre = preflight_adopt(&sim, &acct(CONSUMER), &us(), &image, &AdoptOptions::new())
        .await
        .unwrap();
    assert_eq!(pre.blockers.len(), 1, "{pre}");
    let b = &pre.blockers[0];
    assert_eq!(b.kind, BlockerKind::KeyAccess);
    assert_eq!(b.error.code(), "AccessDeniedException");
    assert!(b.error.message().contains(key.arn.as_str()), "{}", b.error);
    let copies = sim.call_count(Op::CopyImage);
    let err = adopt(&sim, &acct(CONSUMER), &us(), &image, AdoptOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "AccessDeniedException");
    assert_eq!(sim.call_count(Op::CopyImage), copies);
}

/// Marketplace images can never be copied to another account.
#[tokio::test(start_paused = true)]
async fn marketplace_images_can_never_be_adopted() {
    let sim = sim(5);
    let market = sim.marketplace_image(&us(), "hardened-linux").unwrap();
    let pre = preflight_adopt(&sim, &acct(CONSUMER), &us(), &market, &AdoptOptions::new())
        .await
        .unwrap();
    assert_eq!(pre.blockers[0].kind, BlockerKind::Never, "{pre}");
    assert_eq!(pre.blockers[0].error.code(), "InvalidRequest");
    assert!(pre.blockers[0].error.message().contains("Marketplace"));
    let err = adopt(&sim, &acct(CONSUMER), &us(), &market, AdoptOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "InvalidRequest");
    assert_eq!(sim.call_count(Op::CopyImage), 0);
}

/// An image nobody shared: the owner must share it first.
#[tokio::test(start_paused = true)]
async fn unshared_images_need_a_launch_permission() {
    let sim = sim(6);
    let (image, _) = cmk_image(&sim).await;
    let pre = preflight_adopt(&sim, &acct(CONSUMER), &us(), &image, &AdoptOptions::new())
        .await
        .unwrap();
    assert_eq!(pre.blockers.len(), 1);
    assert_eq!(pre.blockers[0].kind, BlockerKind::NotShared);
    assert_eq!(pre.blockers[0].error.code(), "InvalidAMIID.NotFound");
    assert!(pre.image.is_none());
    let copies = sim.call_count(Op::CopyImage);
    let err = adopt(&sim, &acct(CONSUMER), &us(), &image, AdoptOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "InvalidAMIID.NotFound");
    assert_eq!(sim.call_count(Op::CopyImage), copies);
}

/// The consumer's own side: an unknown key, a name already used in the target Region.
#[tokio::test(start_paused = true)]
async fn problems_on_the_consumer_side_are_named_too() {
    let sim = sim(7);
    let (image, _) = cmk_image(&sim).await;
    share::share(
        &sim,
        &acct(OWNER),
        &us(),
        &ShareSpec::new(image.clone())
            .account(acct(CONSUMER))
            .allow_copy(true),
    )
    .await
    .unwrap();
    adopt(
        &sim,
        &acct(CONSUMER),
        &us(),
        &image,
        AdoptOptions::new().name("taken"),
    )
    .await
    .unwrap();
    let opts = AdoptOptions::new()
        .name("taken")
        .target_region(us())
        .kms_key("alias/does-not-exist".parse().unwrap());
    let pre = preflight_adopt(&sim, &acct(CONSUMER), &us(), &image, &opts)
        .await
        .unwrap();
    let codes: Vec<(BlockerKind, &str)> = pre
        .blockers
        .iter()
        .map(|b| (b.kind, b.error.code()))
        .collect();
    assert_eq!(
        codes,
        vec![
            (BlockerKind::Yours, "NotFoundException"),
            (BlockerKind::Yours, "InvalidAMIName.Duplicate"),
        ],
        "{pre}"
    );
    let err = adopt(&sim, &acct(CONSUMER), &us(), &image, opts)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NotFoundException");
    assert!(err.message().contains("InvalidAMIName.Duplicate"), "{err}");
}

/// The adoption story; the copy as text, with the run's ids replaced by placeholders, and how
/// many calls failed on the way.
async fn adopt_story(seed: u64, faults: FaultPlan) -> (String, usize) {
    let sim = sim_with(seed, faults);
    let (image, _) = cmk_image(&sim).await;
    share::share(
        &sim,
        &acct(OWNER),
        &us(),
        &ShareSpec::new(image.clone())
            .account(acct(CONSUMER))
            .allow_copy(true),
    )
    .await
    .unwrap();
    let mine = consumer_key(&sim).await;
    let adopted = adopt(
        &sim,
        &acct(CONSUMER),
        &us(),
        &image,
        AdoptOptions::new()
            .target_region(eu())
            .kms_key(mine.arn.clone()),
    )
    .await
    .unwrap();
    let copy = adopted.image;
    let keys: Vec<String> = copy.kms_keys().iter().map(|e| e.key.to_string()).collect();
    let mut tags = copy.tags.clone();
    tags.remove(ami_core::ops::adopt::TAG_ADOPT_REQUEST);
    let text = format!(
        "{} owner={} region={} state={} source={:?}/{:?} tags={:?} keys={keys:?} devices={}",
        copy.name,
        copy.owner,
        copy.region,
        copy.state,
        copy.source_region,
        copy.source_image_id,
        tags,
        copy.block_devices.len()
    )
    .replace(image.as_str(), "<source>")
    .replace(mine.arn.as_str(), "<my key>");
    let failed = sim.call_log().iter().filter(|c| c.outcome.is_err()).count();
    (text, failed)
}

/// With 20 % throttling and 5 % internal errors on every call, the adoption succeeds with the
/// same copy as the fault-free run with the same seed.
#[tokio::test(start_paused = true)]
async fn faults_do_not_change_the_outcome() {
    let (clean, clean_failures) = adopt_story(8, FaultPlan::none()).await;
    let (faulty, failures) =
        adopt_story(8, FaultPlan::none().throttle(0.2).internal_errors(0.05)).await;
    assert_eq!(clean_failures, 0);
    assert!(failures >= 5, "only {failures} calls failed");
    assert_eq!(faulty, clean);
    assert!(clean.contains("owner=222222222222"), "{clean}");
    assert!(clean.contains("<my key>"), "{clean}");
}

/// A consumer key of another Region is a blocker of the pre-flight, whether named by its ARN
/// (which says its Region) or by an alias that only the target Region's KMS could resolve; and
/// `adopt` then makes no CopyImage (AWS would accept it and the copy would turn `failed`).
#[tokio::test(start_paused = true)]
async fn a_destination_key_of_another_region_is_a_blocker_before_any_copy() {
    let sim = sim(11);
    let (image, _key) = cmk_image(&sim).await;
    let spec = ShareSpec::new(image.clone())
        .account(acct(CONSUMER))
        .allow_copy(true);
    share::share(&sim, &acct(OWNER), &us(), &spec)
        .await
        .unwrap();
    // The consumer's key lives in us-east-1; the copy goes to eu-west-1.
    let kms_us = sim.kms(&acct(CONSUMER), &us());
    let us_key = must(|| kms_us.create_key_with_alias("mine-us", "wrong Region")).await;

    let by_arn = AdoptOptions::new()
        .target_region(eu())
        .name("golden-adopted")
        .kms_key(us_key.arn.clone());
    let pre = preflight_adopt(&sim, &acct(CONSUMER), &us(), &image, &by_arn)
        .await
        .unwrap();
    assert_eq!(pre.blockers.len(), 1, "{pre}");
    let b = &pre.blockers[0];
    assert_eq!(b.kind, BlockerKind::Yours);
    assert_eq!(b.error.code(), "InvalidParameterValue");
    let msg = b.error.message();
    assert!(msg.contains(us_key.arn.as_str()), "{msg}");
    assert!(msg.contains("is in us-east-1"), "{msg}");
    assert!(msg.contains("encrypted in eu-west-1"), "{msg}");

    let copies_before = sim.call_count(Op::CopyImage);
    let err = adopt(&sim, &acct(CONSUMER), &us(), &image, by_arn)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "InvalidParameterValue");
    assert_eq!(sim.call_count(Op::CopyImage), copies_before);

    // By alias, the key is looked up in the target Region, where it does not exist.
    let by_alias = AdoptOptions::new()
        .target_region(eu())
        .name("golden-adopted")
        .kms_key("alias/mine-us".parse().unwrap());
    let pre = preflight_adopt(&sim, &acct(CONSUMER), &us(), &image, &by_alias)
        .await
        .unwrap();
    assert_eq!(pre.blockers.len(), 1, "{pre}");
    assert_eq!(pre.blockers[0].kind, BlockerKind::Yours);
    assert_eq!(pre.blockers[0].error.code(), "NotFoundException");
    assert!(pre.blockers[0].error.message().contains("eu-west-1"));
    let err = adopt(&sim, &acct(CONSUMER), &us(), &image, by_alias)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "NotFoundException");
    assert_eq!(sim.call_count(Op::CopyImage), copies_before);
}
