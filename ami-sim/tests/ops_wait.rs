//! `ops::wait` on the simulator: images that become available, fail, stay invisible for a while
//! (eventual consistency), or take longer than the deadline; instance waits; cancellation.

use std::time::Duration;

use ami_core::api::{CreateImageRequest, RunInstancesRequest};
use ami_core::ops::wait::{
    wait_for_image_available, wait_for_instance_state, wait_for_new_image, WaitOptions,
};
use ami_core::{
    AccountId, Ec2, Ec2Ext, Error, ImageId, ImageState, InstanceId, InstanceState, Region,
};
use ami_sim::{FaultPlan, Op, Sim};

const OWNER: &str = "111111111111";

fn owner() -> AccountId {
    OWNER.parse().unwrap()
}
fn region() -> Region {
    "us-east-1".parse().unwrap()
}

fn sim(seed: u64, faults: FaultPlan, lag: Duration) -> Sim {
    Sim::builder()
        .seed(seed)
        .regions(["us-east-1"])
        .account(OWNER)
        .faults(faults)
        .consistency_lag(lag)
        .build()
        .unwrap()
}

/// A running instance of the Amazon catalogue image.
async fn running_instance(sim: &Sim, ec2: &dyn Ec2) -> InstanceId {
    let base = sim.amazon_image(&region(), "al2023").unwrap();
    let inst = ec2
        .run_instances(RunInstancesRequest::new(base))
        .await
        .unwrap()
        .remove(0);
    let patient = WaitOptions::default().not_found_grace(Duration::from_secs(3600));
    wait_for_instance_state(ec2, &inst.id, InstanceState::Running, &patient)
        .await
        .unwrap();
    inst.id
}

async fn create_image(sim: &Sim, name: &str) -> (std::sync::Arc<dyn Ec2>, ImageId) {
    let ec2 = sim.ec2(&owner(), &region());
    let inst = running_instance(sim, ec2.as_ref()).await;
    let image = ec2
        .create_image(CreateImageRequest::new(inst, name).no_reboot(true))
        .await
        .unwrap();
    (ec2, image)
}

#[tokio::test(start_paused = true)]
async fn waits_until_a_new_image_is_available() {
    let sim = sim(1, FaultPlan::none(), Duration::ZERO);
    let (ec2, image) = create_image(&sim, "wait-available").await;
    assert_eq!(
        ec2.describe_image(&image).await.unwrap().state,
        ImageState::Pending
    );
    let started = tokio::time::Instant::now();
    let img = wait_for_image_available(ec2.as_ref(), &image, &WaitOptions::default())
        .await
        .unwrap();
    assert_eq!(img.id, image);
    assert_eq!(img.state, ImageState::Available);
    assert!(
        started.elapsed() > Duration::ZERO,
        "an image is never available at once"
    );
}

/// A new id the simulator hides for a while (eventual consistency) is waited for, not reported.
#[tokio::test(start_paused = true)]
async fn tolerates_not_found_during_the_consistency_lag() {
    let sim = sim(2, FaultPlan::none(), Duration::from_secs(20));
    let (ec2, image) = create_image(&sim, "wait-lag").await;
    let first = ec2.describe_image(&image).await.unwrap_err();
    assert_eq!(first.code(), "InvalidAMIID.NotFound");
    let img = wait_for_image_available(ec2.as_ref(), &image, &WaitOptions::default())
        .await
        .unwrap();
    assert_eq!(img.state, ImageState::Available);
}

/// With a grace window shorter than the lag, NotFound is the answer.
#[tokio::test(start_paused = true)]
async fn not_found_past_the_grace_window_is_returned() {
    let sim = sim(3, FaultPlan::none(), Duration::from_secs(600));
    let (ec2, image) = create_image(&sim, "wait-lag-long").await;
    let opts = WaitOptions::default().not_found_grace(Duration::from_secs(30));
    let err = wait_for_image_available(ec2.as_ref(), &image, &opts)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "InvalidAMIID.NotFound");
}

#[tokio::test(start_paused = true)]
async fn a_failed_image_ends_the_wait_with_its_state_reason() {
    let sim = sim(4, FaultPlan::none().image_failures(1.0), Duration::ZERO);
    let (ec2, image) = create_image(&sim, "wait-fails").await;
    let err = wait_for_image_available(ec2.as_ref(), &image, &WaitOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ImageFailed");
    let Error::ImageFailed { image_id, reason } = err else {
        unreachable!()
    };
    assert_eq!(image_id, image);
    let described = ec2.describe_image(&image).await.unwrap();
    assert_eq!(described.state, ImageState::Failed);
    assert_eq!(Some(reason), described.state_reason);
}

/// `wait_for_new_image` removes a failed image and its snapshots: nothing is orphaned.
#[tokio::test(start_paused = true)]
async fn a_failed_new_image_is_discarded_with_its_snapshots() {
    let sim = sim(5, FaultPlan::none().image_failures(1.0), Duration::ZERO);
    let (ec2, image) = create_image(&sim, "wait-discard").await;
    let err = wait_for_new_image(ec2.as_ref(), &image, &WaitOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ImageFailed");
    let images = ec2
        .describe_all_images(
            ami_core::api::DescribeImagesRequest::new().owner(ami_core::api::Owner::SelfAccount),
        )
        .await
        .unwrap();
    assert!(
        images
            .iter()
            .all(|i| i.id != image || i.state == ImageState::Deregistered),
        "{images:?}"
    );
    let snapshots = ec2
        .describe_all_snapshots(ami_core::api::DescribeSnapshotsRequest::owned())
        .await
        .unwrap();
    assert!(
        snapshots
            .iter()
            .all(|s| !s.description.contains(image.as_str())),
        "{snapshots:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn times_out_at_the_deadline() {
    let sim = sim(6, FaultPlan::none(), Duration::ZERO);
    let (ec2, image) = create_image(&sim, "wait-timeout").await;
    let opts = WaitOptions::default().timeout(Duration::from_secs(1));
    let started = tokio::time::Instant::now();
    let err = wait_for_image_available(ec2.as_ref(), &image, &opts)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "Timeout");
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    // Nothing was touched: the image goes on to become available by itself.
    let img = wait_for_image_available(ec2.as_ref(), &image, &WaitOptions::default())
        .await
        .unwrap();
    assert_eq!(img.state, ImageState::Available);
}

/// Throttling and internal errors on every call are ridden out within the deadline.
#[tokio::test(start_paused = true)]
async fn rides_out_throttling_and_internal_errors() {
    let sim = sim(7, FaultPlan::none(), Duration::ZERO);
    let (ec2, image) = create_image(&sim, "wait-faults").await;
    for code in [
        "RequestLimitExceeded",
        "InternalError",
        "RequestLimitExceeded",
    ] {
        sim.fail_next(Op::DescribeImages, ami_sim::Scope::any(), code);
    }
    let before = sim.call_count(Op::DescribeImages);
    let img = wait_for_image_available(ec2.as_ref(), &image, &WaitOptions::default())
        .await
        .unwrap();
    assert_eq!(img.state, ImageState::Available);
    assert!(sim.call_count(Op::DescribeImages) >= before + 4);
}

/// Dropping a wait part-way leaves nothing behind: it only ever described the image.
#[tokio::test(start_paused = true)]
async fn dropping_a_wait_leaves_nothing_behind() {
    let sim = sim(8, FaultPlan::none(), Duration::ZERO);
    let (ec2, image) = create_image(&sim, "wait-cancel").await;
    let before = sim.call_log().len();
    let cut = tokio::time::timeout(
        Duration::from_secs(3),
        wait_for_image_available(ec2.as_ref(), &image, &WaitOptions::default()),
    )
    .await;
    assert!(cut.is_err(), "the wait was cut short");
    let calls = sim.call_log();
    assert!(calls.len() > before);
    assert!(
        calls[before..].iter().all(|c| c.op == Op::DescribeImages),
        "{calls:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn waits_for_instance_states_and_fails_fast_on_terminated() {
    let sim = sim(9, FaultPlan::none(), Duration::ZERO);
    let ec2 = sim.ec2(&owner(), &region());
    let inst = running_instance(&sim, ec2.as_ref()).await;
    ec2.stop_instances(vec![inst.clone()]).await.unwrap();
    let stopped = wait_for_instance_state(
        ec2.as_ref(),
        &inst,
        InstanceState::Stopped,
        &WaitOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(stopped.state, InstanceState::Stopped);
    ec2.terminate_instances(vec![inst.clone()]).await.unwrap();
    let err = wait_for_instance_state(
        ec2.as_ref(),
        &inst,
        InstanceState::Running,
        &WaitOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "IncorrectInstanceState");
}
