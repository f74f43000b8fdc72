//! Determinism: the same seed and the same calls give byte-identical call logs and ids; a
//! different seed gives different ids; faults retried until they succeed change no id.

mod sim_support;

use ami_core::api::{
    CopyImageRequest, CreateImageRequest, CreateKeyRequest, DescribeImagesRequest,
    PermissionChanges, RunInstancesRequest,
};
use std::future::Future;

use ami_core::{
    CreateVolumePermission, Ec2Ext, Image, ImageId, Instance, LaunchPermission, Snapshot,
};
use ami_sim::FaultPlan;
use sim_support::*;

/// A scenario touching every kind of id and every fault kind; errors are part of the log.
async fn scenario(seed: u64, faults: FaultPlan) -> (String, Vec<ImageId>) {
    let w = world_with_faults(seed, faults);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();
    let mut ids = vec![base.clone()];
    let key = w
        .sim
        .kms(&w.a, &w.r2)
        .create_key(CreateKeyRequest::new("k"))
        .await
        .ok();
    for round in 0..5 {
        let Ok(mut insts) = ec2
            .run_instances(RunInstancesRequest::new(base.clone()).count(2))
            .await
        else {
            continue;
        };
        pass(30).await;
        let inst = insts.remove(0).id;
        if let Ok(img) = ec2
            .create_image(CreateImageRequest::new(inst, format!("img-{round}")))
            .await
        {
            ids.push(img.clone());
            pass(600).await;
            let _ = ec2
                .modify_launch_permissions(
                    img.clone(),
                    PermissionChanges::add([LaunchPermission::Account(w.c.clone())]),
                )
                .await;
            let far = w.sim.ec2(&w.a, &w.r2);
            let mut req = CopyImageRequest::new(w.r1.clone(), img, format!("copy-{round}"));
            if let Some(k) = &key {
                req = req.encrypt_with(k.arn.clone());
            }
            if let Ok(copy) = far.copy_image(req).await {
                ids.push(copy);
            }
        }
        let _ = w
            .sim
            .ec2(&w.c, &w.r1)
            .describe_all_images(DescribeImagesRequest::new())
            .await;
        pass(3600).await;
    }
    (w.sim.call_log_text(), ids)
}

fn faulty() -> FaultPlan {
    FaultPlan::default()
        .throttle(0.1)
        .internal_errors(0.05)
        .image_failures(0.2)
}

#[tokio::test(start_paused = true)]
async fn same_seed_gives_identical_call_logs_and_ids() {
    let (log1, ids1) = scenario(42, FaultPlan::default()).await;
    let (log2, ids2) = scenario(42, FaultPlan::default()).await;
    assert_eq!(log1, log2);
    assert_eq!(ids1, ids2);
    assert!(log1.lines().count() > 20, "{log1}");
}

#[tokio::test(start_paused = true)]
async fn same_seed_gives_identical_faults() {
    let (log1, ids1) = scenario(7, faulty()).await;
    let (log2, ids2) = scenario(7, faulty()).await;
    assert_eq!(log1, log2);
    assert_eq!(ids1, ids2);
    assert!(
        log1.contains("err RequestLimitExceeded") || log1.contains("err InternalError"),
        "{log1}"
    );
}

#[tokio::test(start_paused = true)]
async fn different_seed_gives_different_ids() {
    let (_, ids1) = scenario(1, FaultPlan::default()).await;
    let (_, ids2) = scenario(2, FaultPlan::default()).await;
    assert_eq!(ids1.len(), ids2.len());
    assert!(
        ids1.iter().zip(&ids2).all(|(a, b)| a != b),
        "{ids1:?} vs {ids2:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn catalogue_ids_come_from_the_seed() {
    let a = world(5);
    let b = world(5);
    let c = world(6);
    let name = |w: &World| w.sim.amazon_image(&w.r1, "al2023").unwrap();
    assert_eq!(name(&a), name(&b));
    assert_ne!(name(&a), name(&c));
}

/// Calls `f` until it succeeds, retrying retryable errors at once; counts the retries.
async fn retried<T, F, Fut>(retries: &mut usize, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ami_core::Result<T>>,
{
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) if e.is_retryable() => *retries += 1,
            Err(e) => panic!("not retryable: {} {e}", e.code()),
        }
    }
}

/// Ground truth at the end of a run: every image, snapshot and instance, ids included.
type Truth = (
    Vec<(Image, Vec<LaunchPermission>)>,
    Vec<(Snapshot, Vec<CreateVolumePermission>)>,
    Vec<Instance>,
);

/// Launch, image, share, encrypted copy across Regions and describe, every call retried until
/// it succeeds; returns the ground truth, the key id and how many calls were retried.
async fn retried_scenario(seed: u64, faults: FaultPlan) -> (Truth, String, usize) {
    let w = world_with_faults(seed, faults);
    let mut retries = 0;
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let far = w.sim.ec2(&w.a, &w.r2);
    let kms = w.sim.kms(&w.a, &w.r2);
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();
    let key = retried(&mut retries, || kms.create_key(CreateKeyRequest::new("k"))).await;
    for round in 0..8 {
        let insts = retried(&mut retries, || {
            ec2.run_instances(RunInstancesRequest::new(base.clone()).count(2))
        })
        .await;
        pass(30).await;
        let img = retried(&mut retries, || {
            ec2.create_image(CreateImageRequest::new(
                insts[0].id.clone(),
                format!("img-{round}"),
            ))
        })
        .await;
        pass(600).await;
        retried(&mut retries, || {
            ec2.modify_launch_permissions(
                img.clone(),
                PermissionChanges::add([LaunchPermission::Account(w.c.clone())]),
            )
        })
        .await;
        let copy = retried(&mut retries, || {
            far.copy_image(
                CopyImageRequest::new(w.r1.clone(), img.clone(), format!("copy-{round}"))
                    .encrypt_with(key.arn.clone()),
            )
        })
        .await;
        retried(&mut retries, || {
            far.describe_all_images(DescribeImagesRequest::ids([copy.clone()]))
        })
        .await;
        pass(3600).await;
    }
    let truth = (
        w.sim.inspect_images(),
        w.sim.inspect_snapshots(),
        w.sim.inspect_instances(),
    );
    (truth, key.key_id.to_string(), retries)
}

/// Faults retried until they succeed leave the world exactly as the fault-free run with the
/// same seed leaves it: same images, snapshots and instances, with the same ids.
#[tokio::test(start_paused = true)]
async fn retried_faults_leave_the_same_ids_as_a_fault_free_run() {
    let (clean, clean_key, clean_retries) = retried_scenario(11, FaultPlan::default()).await;
    let plan = FaultPlan::default().throttle(0.2).internal_errors(0.05);
    let (faulty, faulty_key, retries) = retried_scenario(11, plan).await;
    assert_eq!(clean_retries, 0);
    assert!(
        retries >= 5,
        "only {retries} retries: the plan injected too few faults"
    );
    assert_eq!(clean_key, faulty_key);
    assert_eq!(clean, faulty);
    // The run made its images: 8 images and their 8 encrypted copies.
    let owner = acct("111111111111");
    assert_eq!(
        faulty.0.iter().filter(|(i, _)| i.owner == owner).count(),
        16
    );
}
