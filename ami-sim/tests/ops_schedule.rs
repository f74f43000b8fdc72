//! `ops::pipeline::ImageSchedule` on the simulator: scheduled images of tagged instances,
//! reboot versus no-reboot consistency, and retention.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ami_core::api::{DescribeImagesRequest, Filter, Owner, RunInstancesRequest};
use ami_core::ops::bake::{Consistency, TAG_SOURCE_INSTANCE};
use ami_core::ops::pipeline::{ImageSchedule, ImageScheduleRunner, TAG_SCHEDULE};
use ami_core::ops::wait::{wait_for_instance_state, WaitOptions};
use ami_core::{AccountId, Ec2Ext, ImageId, InstanceId, InstanceState, Region, Timestamp};
use ami_sim::{Durability, Sim};

const ACCOUNT: &str = "111111111111";
const DAY: Duration = Duration::from_secs(86_400);

fn account() -> AccountId {
    ACCOUNT.parse().unwrap()
}

fn us() -> Region {
    "us-east-1".parse().unwrap()
}

fn sim(seed: u64) -> Sim {
    Sim::builder()
        .seed(seed)
        .regions(["us-east-1"])
        .account(ACCOUNT)
        .build()
        .unwrap()
}

async fn running_instance(sim: &Sim, tags: &[(&str, &str)]) -> InstanceId {
    let ec2 = sim.ec2(&account(), &us());
    let mut req = RunInstancesRequest::new(sim.amazon_image(&us(), "al2023").unwrap());
    for (k, v) in tags {
        req = req.tag(*k, *v);
    }
    let inst = ec2.run_instances(req).await.unwrap().remove(0);
    wait_for_instance_state(
        ec2.as_ref(),
        &inst.id,
        InstanceState::Running,
        &WaitOptions::default(),
    )
    .await
    .unwrap();
    inst.id
}

async fn root_data(sim: &Sim, image: &ImageId) -> BTreeMap<String, String> {
    let img = sim
        .ec2(&account(), &us())
        .describe_image(image)
        .await
        .unwrap();
    let snap = img.block_devices[0].snapshot_id.clone().unwrap();
    sim.snapshot_data(&snap).unwrap()
}

#[tokio::test(start_paused = true)]
async fn no_reboot_image_loses_buffered_writes_and_the_rebooted_one_keeps_them() {
    let sim = sim(21);
    let db = running_instance(&sim, &[("Backup", "daily")]).await;
    sim.write_data(
        &db,
        "/dev/xvda",
        "/var/db/committed",
        "1",
        Durability::Flushed,
    )
    .unwrap();
    sim.write_data(
        &db,
        "/dev/xvda",
        "/var/db/in-flight",
        "2",
        Durability::Buffered,
    )
    .unwrap();
    let schedule = |c| {
        ImageSchedule::new(
            "db",
            account(),
            [us()],
            "Backup",
            "daily",
            "0 3 * * *".parse().unwrap(),
        )
        .consistency(c)
    };

    let mut no_reboot =
        ImageScheduleRunner::new(Arc::new(sim.clone()), schedule(Consistency::NoReboot)).unwrap();
    let run = no_reboot.run_now().await;
    assert!(run.failures.is_empty() && run.errors.is_empty(), "{run:?}");
    assert_eq!(run.images.len(), 1);
    assert_eq!(run.images[0].consistency, "crash-consistent");
    let crash = root_data(&sim, &run.images[0].image).await;
    assert_eq!(
        crash.get("/var/db/committed").map(String::as_str),
        Some("1")
    );
    assert_eq!(
        crash.get("/var/db/in-flight"),
        None,
        "the buffered write is lost"
    );

    tokio::time::sleep(Duration::from_secs(120)).await;
    let mut rebooted =
        ImageScheduleRunner::new(Arc::new(sim.clone()), schedule(Consistency::Reboot)).unwrap();
    let run = rebooted.run_now().await;
    assert!(run.failures.is_empty() && run.errors.is_empty(), "{run:?}");
    assert_eq!(run.images[0].consistency, "rebooted");
    let consistent = root_data(&sim, &run.images[0].image).await;
    assert_eq!(
        consistent.get("/var/db/committed").map(String::as_str),
        Some("1")
    );
    assert_eq!(
        consistent.get("/var/db/in-flight").map(String::as_str),
        Some("2"),
        "the reboot flushed the buffered write"
    );
}

#[tokio::test(start_paused = true)]
async fn daily_schedule_images_tagged_instances_and_keeps_the_newest_per_instance() {
    let sim = sim(22);
    let a = running_instance(&sim, &[("Backup", "daily")]).await;
    let b = running_instance(&sim, &[("Backup", "daily")]).await;
    let other = running_instance(&sim, &[("Backup", "weekly")]).await;
    let schedule = ImageSchedule::new(
        "nightly",
        account(),
        [us()],
        "Backup",
        "daily",
        "30 1 * * *".parse().unwrap(),
    )
    .keep(2);
    let mut runner = ImageScheduleRunner::new(Arc::new(sim.clone()), schedule).unwrap();
    let start = sim.now();
    let runs = runner.run_until(start.add(DAY * 4)).await;
    assert_eq!(runs.len(), 4);
    for (n, run) in runs.iter().enumerate() {
        let at: Timestamp = format!("2026-01-0{}T01:30:00Z", n + 1).parse().unwrap();
        assert_eq!(run.at, at);
        assert!(run.failures.is_empty() && run.errors.is_empty(), "{run:?}");
        let imaged: std::collections::BTreeSet<&InstanceId> =
            run.images.iter().map(|i| &i.instance).collect();
        assert_eq!(imaged, [&a, &b].into_iter().collect());
        assert!(!imaged.contains(&&other));
        // Retention removes the oldest pair from the third run on.
        assert_eq!(run.retired.len(), if n >= 2 { 2 } else { 0 }, "run {n}");
    }
    let ec2 = sim.ec2(&account(), &us());
    let kept = ec2
        .describe_all_images(
            DescribeImagesRequest::new()
                .owner(Owner::SelfAccount)
                .filter(Filter::tag(TAG_SCHEDULE, "nightly")),
        )
        .await
        .unwrap();
    let mut per_instance: BTreeMap<String, Vec<ImageId>> = BTreeMap::new();
    for img in &kept {
        per_instance
            .entry(img.tags[TAG_SOURCE_INSTANCE].clone())
            .or_default()
            .push(img.id.clone());
    }
    assert_eq!(per_instance.len(), 2);
    let newest: Vec<ImageId> = runs[2..]
        .iter()
        .flat_map(|r| r.images.iter().map(|i| i.image.clone()))
        .collect();
    for ids in per_instance.values() {
        assert_eq!(ids.len(), 2);
        assert!(
            ids.iter().all(|i| newest.contains(i)),
            "{ids:?} vs {newest:?}"
        );
    }
    // Retired images took their snapshots with them: 4 images with one snapshot each remain.
    let snaps = ec2
        .describe_all_snapshots(ami_core::api::DescribeSnapshotsRequest::owned())
        .await
        .unwrap();
    assert_eq!(snaps.len(), 4);
}

#[tokio::test(start_paused = true)]
async fn retention_keeps_an_image_an_instance_runs_from() {
    let sim = sim(23);
    running_instance(&sim, &[("Backup", "daily")]).await;
    let schedule = ImageSchedule::new(
        "keep1",
        account(),
        [us()],
        "Backup",
        "daily",
        "@daily".parse().unwrap(),
    )
    .keep(1);
    let mut runner = ImageScheduleRunner::new(Arc::new(sim.clone()), schedule).unwrap();
    let first = runner.run_now().await.images[0].image.clone();
    // Someone restores a server from the first image.
    let ec2 = sim.ec2(&account(), &us());
    ec2.run_instances(RunInstancesRequest::new(first.clone()))
        .await
        .unwrap();
    let second = runner.run_now().await;
    assert_eq!(second.kept_in_use, vec![first.clone()]);
    assert!(second.retired.is_empty());
    assert_eq!(
        ec2.describe_image(&first).await.unwrap().state,
        ami_core::ImageState::Available
    );
}

#[test]
fn bad_schedules_are_refused() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let sim = sim(24);
        let make = |name: &str, keep| {
            ImageSchedule::new(name, account(), [us()], "k", "v", "@daily".parse().unwrap())
                .keep(keep)
        };
        let e = ImageScheduleRunner::new(Arc::new(sim.clone()), make("ok", 0)).unwrap_err();
        assert_eq!(e.code(), "Workflow");
        assert!(e.message().contains("keeps 0 images"), "{}", e.message());
        let e = ImageScheduleRunner::new(Arc::new(sim.clone()), make("bad:name", 1)).unwrap_err();
        assert!(e.message().contains("bad:name"), "{}", e.message());
        let e = "0 25 * * *"
            .parse::<ami_core::ops::pipeline::CronSchedule>()
            .unwrap_err();
        assert_eq!(e.field, "hour");
        assert!(sim.call_log().is_empty());
    });
}
