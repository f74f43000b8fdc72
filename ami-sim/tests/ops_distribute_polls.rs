//! How often `ops::distribute` checks a long copy: the pause grows with the time waited, so an
//! hour-long copy costs about half the availability checks of fixed 30-second pauses, and is
//! still seen within 5% of its duration.

use std::time::Duration;

use ami_core::api::{CreateImageRequest, RunInstancesRequest, VolumeSpec};
use ami_core::ops::distribute::{self, DistributeOptions, DistributionSpec};
use ami_core::ops::journal::MemoryJournal;
use ami_core::{Ec2Ext, ImageId, ImageState, Timestamp};
use ami_sim::{Op, Sim};

mod common;
use common::{acct, region, wait_available};

const OWNER: &str = "111111111111";

/// A simulator holding an unencrypted image of OWNER in us-east-1 with a 200 GiB data volume:
/// its copy to another Region takes about an hour.
async fn big_image(seed: u64) -> (Sim, ImageId) {
    let sim = Sim::builder()
        .seed(seed)
        .regions(["us-east-1", "eu-west-1"])
        .account(OWNER)
        .build()
        .unwrap();
    let (owner, us) = (acct(OWNER), region("us-east-1"));
    let ec2 = sim.ec2(&owner, &us);
    let base = sim.amazon_image(&us, "al2023").unwrap();
    let inst = ec2
        .run_instances(RunInstancesRequest::new(base).extra_volume(VolumeSpec {
            device_name: "/dev/sdf".into(),
            size_gib: 200,
            encrypted: false,
            kms_key_id: None,
        }))
        .await
        .unwrap()
        .remove(0);
    tokio::time::sleep(Duration::from_secs(60)).await;
    ec2.stop_instances(vec![inst.id.clone()]).await.unwrap();
    tokio::time::sleep(Duration::from_secs(120)).await;
    let image = ec2
        .create_image(CreateImageRequest::new(inst.id, "big-data-1"))
        .await
        .unwrap();
    wait_available(&sim, &owner, &us, &image).await;
    (sim, image)
}

/// Distributes the big image to eu-west-1 with `options`: the availability checks it made,
/// how long the run took, and when the copy really became available (from its own record:
/// creation time plus the simulator's copy time, read back by polling every second).
async fn run(options: DistributeOptions) -> (usize, Duration, Duration) {
    let (sim, image) = big_image(7).await;
    let spec = DistributionSpec::new(acct(OWNER), region("us-east-1"), image)
        .regions([region("eu-west-1")])
        .name_template("{source_name}-eu")
        .run_id("big-run");
    let plan = distribute::plan(&sim, &spec).await.unwrap();
    let before = sim.call_count(Op::DescribeImages);
    let start: Timestamp = sim.now();
    let manifest = distribute::apply(&sim, &plan, &MemoryJournal::new(), &options)
        .await
        .unwrap();
    let took = sim.now().since(start);
    let checks = sim.call_count(Op::DescribeImages) - before;
    let copy = manifest.images[0].image_id.clone();
    let img = sim
        .ec2(&acct(OWNER), &region("eu-west-1"))
        .describe_image(&copy)
        .await
        .unwrap();
    assert_eq!(img.state, ImageState::Available);
    // The copy's own duration: replay the same world, polling every second.
    let (sim2, image2) = big_image(7).await;
    let plan2 = distribute::plan(
        &sim2,
        &DistributionSpec::new(acct(OWNER), region("us-east-1"), image2)
            .regions([region("eu-west-1")])
            .name_template("{source_name}-eu")
            .run_id("big-run"),
    )
    .await
    .unwrap();
    let start2 = sim2.now();
    let every_second = DistributeOptions {
        poll_initial: Duration::from_secs(1),
        poll_max: Duration::from_secs(1),
        poll_overshoot_percent: 0,
        ..DistributeOptions::default()
    };
    distribute::apply(&sim2, &plan2, &MemoryJournal::new(), &every_second)
        .await
        .unwrap();
    (checks, took, sim2.now().since(start2))
}

#[tokio::test(start_paused = true)]
async fn a_long_copy_is_checked_less_often_and_still_seen_promptly() {
    let (default_checks, default_took, copy_time) = run(DistributeOptions::default()).await;
    let fixed = DistributeOptions {
        poll_overshoot_percent: 0,
        ..DistributeOptions::default()
    };
    let (fixed_checks, fixed_took, _) = run(fixed).await;
    assert!(
        copy_time > Duration::from_secs(3000),
        "the copy takes about an hour: {copy_time:?}"
    );
    // Fixed 30 s pauses: about one check per 30 s of copying.
    assert!(
        fixed_checks as u64 >= copy_time.as_secs() / 30,
        "{fixed_checks} checks over {copy_time:?}"
    );
    assert!(
        default_checks * 10 <= fixed_checks * 6,
        "proportional pauses: {default_checks} checks, fixed: {fixed_checks}"
    );
    // Seen within 5% of the copy's duration (plus one second of measuring slack).
    let late = default_took.saturating_sub(copy_time);
    assert!(
        late <= copy_time.mul_f64(0.05) + Duration::from_secs(1),
        "seen {late:?} late after a {copy_time:?} copy"
    );
    assert!(fixed_took <= copy_time + Duration::from_secs(31));
}

#[test]
fn an_overshoot_over_half_the_wait_is_refused() {
    let options = DistributeOptions {
        poll_overshoot_percent: 51,
        ..DistributeOptions::default()
    };
    let e = options.validate().unwrap_err();
    assert_eq!(e.code(), "InvalidParameterValue");
    assert!(e.to_string().contains("51"), "{e}");
}
