//! `ops::retire` on the simulator: explained decisions, staged retirement, and never an image
//! in use, in the owner's account or in an account it is shared with.

use std::time::Duration;

use ami_core::api::{
    CreateImageRequest, DescribeImagesRequest, Owner, PermissionChanges, RegisterImageRequest,
    RunInstancesRequest,
};
use ami_core::model::DeleteSnapshotOutcome;
use ami_core::ops::retire::{
    self, Action, FamilySelector, Reason, RetentionPolicy, RetireOptions, RetireStage,
};
use ami_core::{AccountId, Ec2Ext, ImageId, ImageState, LaunchPermission, Region};
use ami_sim::{Op, Sim};

const OWNER: &str = "111111111111";
const CONSUMER: &str = "444444444444";
const DAY: Duration = Duration::from_secs(86_400);

fn acct(s: &str) -> AccountId {
    s.parse().unwrap()
}
fn region(s: &str) -> Region {
    s.parse().unwrap()
}

struct World {
    sim: Sim,
    web: Vec<ImageId>,
}

/// Five images of family web (one a day), web-2 tagged Keep=yes, web-1 used by a running
/// instance of the consumer it is shared with, web-3 shared with the consumer whose instance of
/// it is terminated, and web-3's root snapshot also used by a registered image.
async fn world(seed: u64) -> World {
    let sim = Sim::builder()
        .seed(seed)
        .regions(["us-east-1", "eu-west-1"])
        .account(OWNER)
        .account(CONSUMER)
        .build()
        .unwrap();
    let (owner, consumer, r) = (acct(OWNER), acct(CONSUMER), region("us-east-1"));
    let ec2 = sim.ec2(&owner, &r);
    let base = sim.amazon_image(&r, "al2023").unwrap();
    let inst = ec2
        .run_instances(RunInstancesRequest::new(base))
        .await
        .unwrap()
        .remove(0);
    tokio::time::sleep(Duration::from_secs(120)).await;
    let mut web = Vec::new();
    for i in 1..=5 {
        let id = ec2
            .create_image(
                CreateImageRequest::new(inst.id.clone(), format!("web-{i}"))
                    .no_reboot(true)
                    .tag("Family", "web"),
            )
            .await
            .unwrap();
        tokio::time::sleep(DAY).await;
        assert_eq!(
            ec2.describe_image(&id).await.unwrap().state,
            ImageState::Available
        );
        web.push(id);
    }
    let db = ec2
        .create_image(
            CreateImageRequest::new(inst.id.clone(), "db-1")
                .no_reboot(true)
                .tag("Family", "db"),
        )
        .await
        .unwrap();
    ec2.create_tags(
        vec![web[1].clone().into()],
        [("Keep".to_string(), "yes".to_string())].into(),
    )
    .await
    .unwrap();
    for i in [0, 2] {
        ec2.modify_launch_permissions(
            web[i].clone(),
            PermissionChanges::add([LaunchPermission::Account(consumer.clone())]),
        )
        .await
        .unwrap();
    }
    let cec2 = sim.ec2(&consumer, &r);
    cec2.run_instances(RunInstancesRequest::new(web[0].clone()))
        .await
        .unwrap();
    let gone = cec2
        .run_instances(RunInstancesRequest::new(web[2].clone()))
        .await
        .unwrap()
        .remove(0);
    tokio::time::sleep(Duration::from_secs(120)).await;
    cec2.terminate_instances(vec![gone.id]).await.unwrap();
    let root = ec2.describe_image(&web[2]).await.unwrap().snapshot_ids()[0].clone();
    ec2.register_image(RegisterImageRequest::new("web-3-restored", root))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    let _ = db;
    World { sim, web }
}

fn policy() -> RetentionPolicy {
    RetentionPolicy::new(
        FamilySelector::Tag {
            key: "Family".into(),
            value: None,
        },
        2,
        [acct(OWNER)],
        [region("us-east-1"), region("eu-west-1")],
    )
    .min_age(2 * DAY)
    .protect_tag("Keep", Some("yes"))
}

/// Every decision carries its reasons: the newest two are kept, the protected one is kept, the
/// one in use in the consumer's account is kept, and only web-3 (a terminated instance does not
/// count) is retired.
#[tokio::test(start_paused = true)]
async fn plan_explains_every_decision() {
    let w = world(1).await;
    let n = w.sim.call_log().len();
    let plan = retire::plan(&w.sim, &policy()).await.unwrap();
    // A dry run changes nothing.
    assert!(w.sim.call_log()[n..].iter().all(|c| matches!(
        c.op,
        Op::DescribeImages | Op::DescribeInstances | Op::DescribeImageAttribute
    )));
    let by_name = |name: &str| plan.decisions.iter().find(|d| d.name == name).unwrap();
    assert_eq!(by_name("web-5").action, Action::Keep);
    assert_eq!(
        by_name("web-5").reasons[0],
        Reason::AmongNewest { rank: 1, keep: 2 }
    );
    assert_eq!(
        by_name("web-4").reasons[0],
        Reason::AmongNewest { rank: 2, keep: 2 }
    );
    let web3 = by_name("web-3");
    assert_eq!(web3.action, Action::Retire);
    assert_eq!(web3.reasons[0], Reason::BeyondNewest { rank: 3, keep: 2 });
    assert!(web3.reasons.contains(&Reason::Unused), "{:?}", web3.reasons);
    let web2 = by_name("web-2");
    assert_eq!(web2.action, Action::Keep);
    assert!(web2.reasons.contains(&Reason::ProtectedByTag {
        key: "Keep".into(),
        value: "yes".into()
    }));
    let web1 = by_name("web-1");
    assert_eq!(web1.action, Action::Keep);
    match web1
        .reasons
        .iter()
        .find(|r| matches!(r, Reason::InUse { .. }))
    {
        Some(Reason::InUse { instances }) => {
            assert_eq!(instances.len(), 1);
            assert_eq!(instances[0].account, acct(CONSUMER));
        }
        other => panic!("web-1 must be in use: {other:?} in {:?}", web1.reasons),
    }
    assert_eq!(by_name("db-1").action, Action::Keep);
    assert_eq!(plan.to_retire().count(), 1);
    // The consumer was scanned because the images are shared with it.
    assert!(plan
        .scanned
        .contains(&(acct(CONSUMER), region("us-east-1"))));
    let text = plan.to_string();
    assert!(text.contains("RETIRE"), "{text}");
    assert!(text.contains("in use by i-"), "{text}");
    let json = serde_json::to_string(&plan).unwrap();
    let back: retire::RetirementPlan = serde_json::from_str(&json).unwrap();
    assert_eq!(back, plan);
    let _ = &w.web;
}

/// Apply deprecates, disables, then deregisters web-3; its root snapshot survives because a
/// registered image still uses it; nothing else is touched.
#[tokio::test(start_paused = true)]
async fn apply_retires_in_stages_and_keeps_shared_snapshots() {
    let w = world(2).await;
    let plan = retire::plan(&w.sim, &policy()).await.unwrap();
    let out = retire::apply(&w.sim, &plan, &RetireOptions::default())
        .await
        .unwrap();
    assert_eq!(out.images.len(), 1);
    let r = &out.images[0];
    assert_eq!(r.image_id, w.web[2]);
    assert_eq!(
        r.stages,
        vec![
            RetireStage::Deprecate,
            RetireStage::Disable,
            RetireStage::Deregister
        ]
    );
    assert_eq!(r.snapshots_kept.len(), 1);
    assert_eq!(r.snapshots_kept[0].1, DeleteSnapshotOutcome::Skipped);
    assert!(r.skipped.is_none());
    let ec2 = w.sim.ec2(&acct(OWNER), &region("us-east-1"));
    let left: Vec<String> = ec2
        .describe_all_images(
            DescribeImagesRequest::new()
                .owner(Owner::SelfAccount)
                .include_disabled(true),
        )
        .await
        .unwrap()
        .into_iter()
        .filter(|i| i.state != ImageState::Deregistered)
        .map(|i| i.name)
        .collect();
    for name in ["web-1", "web-2", "web-4", "web-5", "web-3-restored", "db-1"] {
        assert!(left.iter().any(|n| n == name), "{name} kept: {left:?}");
    }
    assert!(!left.iter().any(|n| n == "web-3"), "{left:?}");
    assert!(out.to_string().contains("deregistered"));
}

/// Stopping at the disable stage leaves the image disabled and registered.
#[tokio::test(start_paused = true)]
async fn staged_apply_stops_where_asked() {
    let w = world(3).await;
    let plan = retire::plan(&w.sim, &policy()).await.unwrap();
    let options = RetireOptions {
        until: RetireStage::Disable,
        ..RetireOptions::default()
    };
    let out = retire::apply(&w.sim, &plan, &options).await.unwrap();
    assert_eq!(
        out.images[0].stages,
        vec![RetireStage::Deprecate, RetireStage::Disable]
    );
    let img = w
        .sim
        .ec2(&acct(OWNER), &region("us-east-1"))
        .describe_image(&w.web[2])
        .await
        .unwrap();
    assert_eq!(img.state, ImageState::Disabled);
    assert!(img.deprecation_time.is_some());
    assert_eq!(w.sim.call_count(Op::DeregisterImage), 0);
}

/// An image someone started using after the plan was made is left alone, with the reason.
#[tokio::test(start_paused = true)]
async fn an_image_used_since_the_plan_is_left_alone() {
    let w = world(4).await;
    let plan = retire::plan(&w.sim, &policy()).await.unwrap();
    assert_eq!(plan.to_retire().count(), 1);
    let cec2 = w.sim.ec2(&acct(CONSUMER), &region("us-east-1"));
    cec2.run_instances(RunInstancesRequest::new(w.web[2].clone()))
        .await
        .unwrap();
    let out = retire::apply(&w.sim, &plan, &RetireOptions::default())
        .await
        .unwrap();
    let r = &out.images[0];
    assert!(r.stages.is_empty(), "{r:?}");
    assert!(
        r.skipped
            .as_deref()
            .unwrap_or_default()
            .contains("in use by i-"),
        "{r:?}"
    );
    assert_eq!(w.sim.call_count(Op::DisableImage), 0);
    assert_eq!(w.sim.call_count(Op::DeregisterImage), 0);
}

/// A policy without owners or Regions is refused with the fix, before any call.
#[tokio::test(start_paused = true)]
async fn an_empty_scope_is_refused() {
    let w = world(5).await;
    let mut p = policy();
    p.owners.clear();
    let err = retire::plan(&w.sim, &p).await.unwrap_err();
    assert_eq!(err.code(), "MissingParameter");
}
