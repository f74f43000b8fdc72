//! `ops::bake` on the simulator: file-system integrity per consistency choice, tags on creation,
//! refusals before any change, cleanup after failures, and faults.

use std::time::Duration;

use ami_core::api::{DescribeImagesRequest, DescribeSnapshotsRequest, Owner};
use ami_core::ops::bake::{bake, BakeRequest, Consistency, TAG_CONSISTENCY, TAG_SOURCE_INSTANCE};
use ami_core::ops::wait::{wait_for_instance_state, WaitOptions};
use ami_core::{Ec2, Ec2Ext, ImageState, InstanceId, InstanceState};
use ami_sim::{Durability, FaultPlan, Op, Sim};

mod common;
use common::{acct, must, running_instance, us};

const OWNER: &str = "111111111111";
const ROOT: &str = "/dev/xvda";

fn sim(seed: u64, faults: FaultPlan) -> Sim {
    common::sim(seed, &["us-east-1"], &[OWNER], faults)
}

/// A running instance with one flushed and one buffered write on its root volume.
async fn instance_with_data(sim: &Sim, ec2: &dyn Ec2) -> InstanceId {
    let inst = running_instance(sim, ec2, &us()).await;
    sim.write_data(
        &inst.id,
        ROOT,
        "/etc/flushed",
        "on disk",
        Durability::Flushed,
    )
    .unwrap();
    sim.write_data(
        &inst.id,
        ROOT,
        "/etc/buffered",
        "in cache",
        Durability::Buffered,
    )
    .unwrap();
    inst.id
}

/// The story: buffered writes survive a stop-first or reboot bake and are lost by a no-reboot
/// bake, which says so in its result and its tag.
#[tokio::test(start_paused = true)]
async fn integrity_follows_the_consistency_choice() {
    let cases = [
        (Consistency::StopFirst, "stopped", true, false),
        (Consistency::Reboot, "rebooted", true, false),
        (Consistency::NoReboot, "crash-consistent", false, true),
    ];
    for (i, (consistency, tag, keeps_buffered, crash)) in cases.into_iter().enumerate() {
        let sim = sim(10 + i as u64, FaultPlan::none());
        let ec2 = sim.ec2(&acct(OWNER), &us());
        let inst = instance_with_data(&sim, ec2.as_ref()).await;
        let baked = bake(
            ec2.as_ref(),
            BakeRequest::new(inst.clone(), format!("app-{consistency}"))
                .consistency(consistency)
                .tag("Team", "platform"),
        )
        .await
        .unwrap();

        assert_eq!(baked.image.state, ImageState::Available);
        assert_eq!(baked.image.owner, acct(OWNER));
        assert_eq!(baked.image.source_instance_id.as_ref(), Some(&inst));
        assert_eq!(baked.consistency, consistency);
        assert_eq!(baked.crash_consistent, crash, "{consistency}");
        assert_eq!(baked.consistency_tag, tag);
        assert_eq!(
            baked.image.tags.get(TAG_CONSISTENCY).map(String::as_str),
            Some(tag)
        );
        assert_eq!(
            baked
                .image
                .tags
                .get(TAG_SOURCE_INSTANCE)
                .map(String::as_str),
            Some(inst.as_str())
        );
        assert_eq!(
            baked.image.tags.get("Team").map(String::as_str),
            Some("platform")
        );
        assert_eq!(baked.snapshots.len(), baked.image.block_devices.len());
        assert!(!baked.snapshots.is_empty());
        for snap in &baked.snapshots {
            assert_eq!(
                snap.tags.get(TAG_CONSISTENCY).map(String::as_str),
                Some(tag)
            );
            assert_eq!(
                snap.tags.get(TAG_SOURCE_INSTANCE).map(String::as_str),
                Some(inst.as_str())
            );
        }
        let root = baked.image.block_devices[0].snapshot_id.clone().unwrap();
        let data = sim.snapshot_data(&root).unwrap();
        assert_eq!(
            data.get("/etc/flushed").map(String::as_str),
            Some("on disk")
        );
        assert_eq!(
            data.get("/etc/buffered").map(String::as_str),
            keeps_buffered.then_some("in cache"),
            "{consistency}"
        );
        // The instance is running again (stop-first restarted it; the others never stopped it
        // for long).
        assert_eq!(baked.instance_state, InstanceState::Running);
        assert_eq!(
            baked.stopped_instance,
            consistency == Consistency::StopFirst
        );
        assert!(baked.warnings.is_empty());
        let now = ec2.describe_instance(&inst).await.unwrap();
        assert_eq!(now.state, InstanceState::Running, "{consistency}");
        assert_eq!(
            sim.call_count(Op::StopInstances),
            usize::from(consistency == Consistency::StopFirst)
        );
    }
}

/// A stopped instance is imaged as it is and left stopped, whatever the choice.
#[tokio::test(start_paused = true)]
async fn a_stopped_instance_stays_stopped() {
    let sim = sim(20, FaultPlan::none());
    let ec2 = sim.ec2(&acct(OWNER), &us());
    let inst = instance_with_data(&sim, ec2.as_ref()).await;
    ec2.stop_instances(vec![inst.clone()]).await.unwrap();
    wait_for_instance_state(
        ec2.as_ref(),
        &inst,
        InstanceState::Stopped,
        &WaitOptions::default(),
    )
    .await
    .unwrap();
    let baked = bake(
        ec2.as_ref(),
        BakeRequest::new(inst.clone(), "app-stopped").consistency(Consistency::NoReboot),
    )
    .await
    .unwrap();
    // Stopping flushed the cache, so even a no-reboot image of it is consistent.
    assert!(!baked.crash_consistent);
    assert_eq!(baked.consistency_tag, "stopped");
    assert!(!baked.stopped_instance);
    assert_eq!(baked.instance_state, InstanceState::Stopped);
    let root = baked.image.block_devices[0].snapshot_id.clone().unwrap();
    assert_eq!(
        sim.snapshot_data(&root).unwrap()["/etc/buffered"],
        "in cache"
    );
    assert_eq!(
        ec2.describe_instance(&inst).await.unwrap().state,
        InstanceState::Stopped
    );
    assert_eq!(sim.call_count(Op::StartInstances), 0);
}

/// States CreateImage refuses are refused before any change, with AWS's code and the reason.
#[tokio::test(start_paused = true)]
async fn refused_states_change_nothing() {
    let sim = sim(30, FaultPlan::none());
    let ec2 = sim.ec2(&acct(OWNER), &us());
    let inst = instance_with_data(&sim, ec2.as_ref()).await;
    ec2.terminate_instances(vec![inst.clone()]).await.unwrap();
    let err = bake(ec2.as_ref(), BakeRequest::new(inst.clone(), "app-gone"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "InvalidParameterValue");
    assert!(err.message().contains(inst.as_str()), "{}", err.message());
    assert_eq!(sim.call_count(Op::CreateImage), 0);
    assert_eq!(sim.call_count(Op::StopInstances), 0);
}

/// A name already used in the Region is refused before the instance is stopped.
#[tokio::test(start_paused = true)]
async fn a_duplicate_name_is_refused_before_stopping() {
    let sim = sim(31, FaultPlan::none());
    let ec2 = sim.ec2(&acct(OWNER), &us());
    let inst = instance_with_data(&sim, ec2.as_ref()).await;
    bake(
        ec2.as_ref(),
        BakeRequest::new(inst.clone(), "app-v1").consistency(Consistency::NoReboot),
    )
    .await
    .unwrap();
    let stops = sim.call_count(Op::StopInstances);
    let err = bake(ec2.as_ref(), BakeRequest::new(inst.clone(), "app-v1"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "InvalidAMIName.Duplicate");
    assert_eq!(sim.call_count(Op::StopInstances), stops);
    assert_eq!(sim.call_count(Op::CreateImage), 1);
}

async fn owned_images_and_snapshots(ec2: &dyn Ec2) -> (usize, usize) {
    let images = ec2
        .describe_all_images(
            DescribeImagesRequest::new()
                .owner(Owner::SelfAccount)
                .include_disabled(true),
        )
        .await
        .unwrap();
    let live = images
        .iter()
        .filter(|i| i.state != ImageState::Deregistered)
        .count();
    let snaps = ec2
        .describe_all_snapshots(DescribeSnapshotsRequest::owned())
        .await
        .unwrap();
    (live, snaps.len())
}

/// An image that fails is deregistered with its snapshots, and the instance runs again.
#[tokio::test(start_paused = true)]
async fn a_failed_image_leaves_nothing_behind() {
    let sim = sim(40, FaultPlan::none().image_failures(1.0));
    let ec2 = sim.ec2(&acct(OWNER), &us());
    let inst = instance_with_data(&sim, ec2.as_ref()).await;
    let before = owned_images_and_snapshots(ec2.as_ref()).await;
    let err = bake(ec2.as_ref(), BakeRequest::new(inst.clone(), "app-doomed"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ImageFailed");
    assert_eq!(owned_images_and_snapshots(ec2.as_ref()).await, before);
    assert_eq!(sim.call_count(Op::CreateImage), 1);
    assert_eq!(sim.call_count(Op::DeregisterImage), 1);
    assert_eq!(
        ec2.describe_instance(&inst).await.unwrap().state,
        InstanceState::Running
    );
}

/// A wait that times out discards the pending image (unlike Packer, packer#10248).
#[tokio::test(start_paused = true)]
async fn a_timed_out_wait_leaves_nothing_behind() {
    let sim = sim(41, FaultPlan::none());
    let ec2 = sim.ec2(&acct(OWNER), &us());
    let inst = instance_with_data(&sim, ec2.as_ref()).await;
    let before = owned_images_and_snapshots(ec2.as_ref()).await;
    let err = bake(
        ec2.as_ref(),
        BakeRequest::new(inst.clone(), "app-slow")
            .consistency(Consistency::NoReboot)
            .wait(WaitOptions::default().timeout(Duration::from_secs(5))),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), "Timeout");
    assert_eq!(owned_images_and_snapshots(ec2.as_ref()).await, before);
}

/// Replaces every AWS id (`ami-`, `snap-`, `i-`, `vol-`, key UUIDs are not in this text) by its
/// order of first appearance, so states of two runs whose ids differ can be compared.
fn normalize_ids(text: &str) -> String {
    let mut seen: Vec<String> = Vec::new();
    let mut out = String::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        let prefix = ["ami-", "snap-", "vol-", "i-"]
            .into_iter()
            .find(|p| rest.starts_with(p) && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric()));
        if let Some(p) = prefix {
            let hex: String = rest[p.len()..]
                .chars()
                .take_while(|c| c.is_ascii_hexdigit())
                .collect();
            if hex.len() == 8 || hex.len() == 17 {
                let id = format!("{p}{hex}");
                let n = match seen.iter().position(|s| *s == id) {
                    Some(n) => n,
                    None => {
                        seen.push(id.clone());
                        seen.len() - 1
                    }
                };
                out.push_str(&format!("{p}#{n}"));
                i += id.len();
                continue;
            }
        }
        let c = rest.chars().next().unwrap();
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// The owner's images, snapshots (with their data) and instances, without ids or times.
async fn final_state(sim: &Sim) -> String {
    let ec2 = sim.ec2(&acct(OWNER), &us());
    let mut out = String::new();
    let mut images =
        must(|| ec2.describe_all_images(DescribeImagesRequest::new().owner(Owner::SelfAccount)))
            .await;
    images.sort_by(|a, b| a.name.cmp(&b.name));
    for img in images {
        out.push_str(&format!(
            "image {} {} {} {} tags={:?} devices={}\n",
            img.name,
            img.id,
            img.state,
            img.source_instance_id
                .map(|i| i.to_string())
                .unwrap_or_default(),
            img.tags,
            img.block_devices.len()
        ));
        for d in img.block_devices {
            let snap = d.snapshot_id.unwrap();
            let s = must(|| ec2.describe_snapshot(&snap)).await;
            out.push_str(&format!(
                "  {} {} {} tags={:?} data={:?}\n",
                d.device_name,
                snap,
                s.description,
                s.tags,
                sim.snapshot_data(&snap).unwrap()
            ));
        }
    }
    let instances =
        must(|| ec2.describe_all_instances(ami_core::api::DescribeInstancesRequest::new())).await;
    for inst in instances {
        out.push_str(&format!("instance {} {}\n", inst.id, inst.state));
    }
    normalize_ids(&out)
}

/// Three bakes of one instance; the final state and how many calls failed on the way.
async fn bake_story(seed: u64, faults: FaultPlan) -> (String, usize) {
    let sim = sim(seed, faults);
    let ec2 = sim.ec2(&acct(OWNER), &us());
    let inst = instance_with_data(&sim, ec2.as_ref()).await;
    for consistency in [
        Consistency::StopFirst,
        Consistency::Reboot,
        Consistency::NoReboot,
    ] {
        bake(
            ec2.as_ref(),
            BakeRequest::new(inst.clone(), format!("story-{consistency}"))
                .consistency(consistency)
                .tag("Team", "platform"),
        )
        .await
        .unwrap();
    }
    let failed = sim.call_log().iter().filter(|c| c.outcome.is_err()).count();
    (final_state(&sim).await, failed)
}

/// With 20 % throttling and 5 % internal errors on every call, the bakes succeed and leave
/// exactly the state of the fault-free run with the same seed (ids aside, which the faults'
/// random draws shift).
#[tokio::test(start_paused = true)]
async fn faults_do_not_change_the_outcome() {
    let (clean, clean_failures) = bake_story(50, FaultPlan::none()).await;
    let (faulty, failures) =
        bake_story(50, FaultPlan::none().throttle(0.2).internal_errors(0.05)).await;
    assert_eq!(clean_failures, 0);
    assert!(failures >= 5, "only {failures} calls failed");
    assert_eq!(faulty, clean);
    assert!(clean.contains("story-stop-first"), "{clean}");
    assert!(clean.contains("crash-consistent"), "{clean}");
}
