//! `ops::govern` on the simulator: the approval policy as a launch guard, the compliance scan,
//! and the property that an attached policy lets no unapproved image run.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ami_core::api::{CreateImageRequest, PermissionChanges, RunInstancesRequest};
use ami_core::ops::govern::{scan, ApprovalPolicy, ScanScope, Violation};
use ami_core::ops::wait::{wait_for_image_available, WaitOptions};
use ami_core::{
    Ec2, Ec2Ext, ImageId, ImageState, InstanceId, LaunchGuard, LaunchPermission, OwnerAlias, Region,
};
use ami_sim::{Op, Sim};
use proptest::prelude::*;

mod common;
use common::{acct, eu, us};

const FACTORY: &str = "111111111111";
const PROD: &str = "222222222222";

fn sim(seed: u64) -> Sim {
    common::builder(seed, &["us-east-1", "eu-west-1"], &[FACTORY, PROD])
        .build()
        .unwrap()
}

fn policy() -> ApprovalPolicy {
    ApprovalPolicy::builder()
        .require_tag("Approved", "true")
        .allow_owner(acct(FACTORY))
        .build()
        .unwrap()
}

/// Bakes an image in the factory from the Amazon base image, with `tags`, shares it with
/// PROD, and returns it once available.
async fn factory_image(sim: &Sim, region: &Region, name: &str, tags: &[(&str, &str)]) -> ImageId {
    let ec2 = sim.ec2(&acct(FACTORY), region);
    let base = sim.amazon_image(region, "al2023").unwrap();
    let inst = ec2
        .run_instances(RunInstancesRequest::new(base))
        .await
        .unwrap()
        .remove(0);
    tokio::time::sleep(Duration::from_secs(120)).await;
    let mut req = CreateImageRequest::new(inst.id.clone(), name).no_reboot(true);
    for (k, v) in tags {
        req = req.tag(*k, *v);
    }
    let id = ec2.create_image(req).await.unwrap();
    wait_for_image_available(ec2.as_ref(), &id, &WaitOptions::default())
        .await
        .unwrap();
    ec2.terminate_instances(vec![inst.id]).await.unwrap();
    ec2.modify_launch_permissions(
        id.clone(),
        PermissionChanges::add([LaunchPermission::Account(acct(PROD))]),
    )
    .await
    .unwrap();
    id
}

async fn launch(ec2: &dyn Ec2, image: &ImageId) -> ami_core::Result<InstanceId> {
    Ok(ec2
        .run_instances(RunInstancesRequest::new(image.clone()))
        .await?
        .remove(0)
        .id)
}

#[tokio::test(start_paused = true)]
async fn attached_policy_denies_unapproved_launches_with_unauthorized_operation() {
    let sim = sim(1);
    let approved = factory_image(&sim, &us(), "golden-1", &[("Approved", "true")]).await;
    let unapproved = factory_image(&sim, &us(), "golden-2", &[("Approved", "no")]).await;
    let amazon = sim.amazon_image(&us(), "al2023").unwrap();
    let prod = sim.ec2(&acct(PROD), &us());

    sim.set_launch_guard(&acct(PROD), Some(Arc::new(policy())));
    launch(prod.as_ref(), &approved).await.unwrap();
    let e = launch(prod.as_ref(), &unapproved).await.unwrap_err();
    assert_eq!(e.code(), "UnauthorizedOperation");
    assert!(
        e.message().contains("image tag Approved is \"no\""),
        "{}",
        e.message()
    );
    let e = launch(prod.as_ref(), &amazon).await.unwrap_err();
    assert_eq!(e.code(), "UnauthorizedOperation");
    assert!(
        e.message().contains("not an approved owner"),
        "{}",
        e.message()
    );

    // The guard is per account: the factory itself is not restricted.
    let factory = sim.ec2(&acct(FACTORY), &us());
    launch(factory.as_ref(), &amazon).await.unwrap();

    // Detached, the same launch goes through.
    sim.set_launch_guard(&acct(PROD), None);
    launch(prod.as_ref(), &unapproved).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn guard_enforces_age_and_deprecation_that_iam_cannot() {
    let sim = sim(2);
    let img = factory_image(&sim, &us(), "golden-age", &[("Approved", "true")]).await;
    let p = ApprovalPolicy::builder()
        .allow_owner(acct(FACTORY))
        .max_age_days(30)
        .deny_deprecated(true)
        .build()
        .unwrap();
    assert_eq!(p.iam_unenforced().len(), 2);
    sim.set_launch_guard(&acct(PROD), Some(Arc::new(p)));
    let prod = sim.ec2(&acct(PROD), &us());
    launch(prod.as_ref(), &img).await.unwrap();

    let factory = sim.ec2(&acct(FACTORY), &us());
    let soon = sim.now().add(Duration::from_secs(3600));
    factory
        .enable_image_deprecation(img.clone(), soon)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2 * 3600)).await;
    let e = launch(prod.as_ref(), &img).await.unwrap_err();
    assert_eq!(e.code(), "UnauthorizedOperation");
    assert!(e.message().contains("deprecated"), "{}", e.message());

    factory
        .disable_image_deprecation(img.clone())
        .await
        .unwrap();
    launch(prod.as_ref(), &img).await.unwrap();
    tokio::time::sleep(Duration::from_secs(31 * 86_400)).await;
    let e = launch(prod.as_ref(), &img).await.unwrap_err();
    assert_eq!(e.code(), "UnauthorizedOperation");
    assert!(e.message().contains("more than 30 days"), "{}", e.message());
}

#[tokio::test(start_paused = true)]
async fn scan_lists_unapproved_instances_across_accounts_and_regions_with_reasons() {
    let sim = sim(3);
    let good_us = factory_image(&sim, &us(), "golden-us", &[("Approved", "true")]).await;
    let good_eu = factory_image(&sim, &eu(), "golden-eu", &[("Approved", "true")]).await;
    let doomed = factory_image(&sim, &eu(), "golden-old", &[("Approved", "true")]).await;
    let amazon_us = sim.amazon_image(&us(), "al2023").unwrap();

    let prod_us = sim.ec2(&acct(PROD), &us());
    let prod_eu = sim.ec2(&acct(PROD), &eu());
    let mut expected: BTreeSet<InstanceId> = BTreeSet::new();
    // 12 instances in us-east-1: every third from the Amazon image.
    for n in 0..12 {
        let image = if n % 3 == 0 { &amazon_us } else { &good_us };
        let id = launch(prod_us.as_ref(), image).await.unwrap();
        if n % 3 == 0 {
            expected.insert(id);
        }
    }
    // 7 in eu-west-1, two from an image that is then deregistered, one terminated.
    let mut from_doomed = Vec::new();
    for _ in 0..2 {
        from_doomed.push(launch(prod_eu.as_ref(), &doomed).await.unwrap());
    }
    for _ in 0..5 {
        launch(prod_eu.as_ref(), &good_eu).await.unwrap();
    }
    let gone = launch(prod_eu.as_ref(), &amazon_us_in(&sim, &eu()))
        .await
        .unwrap();
    prod_eu.terminate_instances(vec![gone]).await.unwrap();
    sim.ec2(&acct(FACTORY), &eu())
        .deregister_image(ami_core::api::DeregisterImageRequest::new(doomed.clone()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3 * 3600)).await;
    expected.extend(from_doomed.iter().cloned());

    let before = sim.call_count(Op::DescribeInstances);
    let scope = ScanScope::new([acct(FACTORY), acct(PROD)], [us(), eu()]).page_size(5);
    let report = scan(&sim, &policy(), &scope).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    // PROD has 12 + 7 live instances (the terminated one is not counted); the factory none.
    assert_eq!(report.instances_scanned, 19);
    assert_eq!(report.non_compliant_ids(), expected);
    assert_eq!(report.compliant_count(), 19 - expected.len() as u64);
    // Pages of 5: 3 pages in us-east-1 and 2 in eu-west-1 for PROD, 1 per Region for the factory.
    assert!(sim.call_count(Op::DescribeInstances) - before >= 7);

    for f in &report.findings {
        assert_eq!(f.account, acct(PROD));
        if f.image_id == amazon_us {
            assert_eq!(f.region, us());
            assert_eq!(
                f.verdict.violations(),
                &[
                    Violation::MissingTag {
                        key: "Approved".into(),
                        expected: Some("true".into())
                    },
                    Violation::OwnerNotAllowed {
                        owner: acct("137112412989"),
                        alias: Some(OwnerAlias::Amazon)
                    },
                ]
            );
        } else {
            assert_eq!(f.image_id, doomed);
            assert_eq!(f.region, eu());
            assert_eq!(f.verdict.violations(), &[Violation::ImageNotFound]);
        }
    }
    // Findings come by account, then Region in scope order.
    let regions: Vec<&Region> = report.findings.iter().map(|f| &f.region).collect();
    let mut sorted = regions.clone();
    sorted.sort_by_key(|r| if **r == us() { 0 } else { 1 });
    assert_eq!(regions, sorted);
}

fn amazon_us_in(sim: &Sim, region: &Region) -> ImageId {
    sim.amazon_image(region, "al2023").unwrap()
}

#[tokio::test(start_paused = true)]
async fn scan_reads_tags_of_shared_images_as_their_owner_sees_them() {
    let sim = sim(4);
    let img = factory_image(&sim, &us(), "golden-shared", &[("Approved", "true")]).await;
    let prod = sim.ec2(&acct(PROD), &us());
    let inst = launch(prod.as_ref(), &img).await.unwrap();
    // PROD cannot see the owner's tags (EC2 shows tags only to the owner)...
    assert!(prod.describe_image(&img).await.unwrap().tags.is_empty());
    // ...so with only PROD in scope the image looks untagged,
    let alone = scan(
        &sim,
        &policy(),
        &ScanScope::new([acct(PROD), acct(PROD)], [us(), us()]),
    )
    .await
    .unwrap();
    assert_eq!(alone.non_compliant_ids(), BTreeSet::from([inst]));
    assert_eq!(
        alone.findings[0].verdict.violations(),
        &[Violation::MissingTag {
            key: "Approved".into(),
            expected: Some("true".into())
        }]
    );
    // while with the owner in scope its tags are read from the owner, as IAM sees them.
    let both = scan(
        &sim,
        &policy(),
        &ScanScope::new([acct(PROD), acct(FACTORY)], [us()]),
    )
    .await
    .unwrap();
    assert!(both.is_compliant(), "{:?}", both.findings);
    assert_eq!(both.instances_scanned, 1);
}

#[tokio::test(start_paused = true)]
async fn scan_records_a_failing_scope_and_goes_on() {
    let sim = sim(5);
    let amazon = sim.amazon_image(&us(), "al2023").unwrap();
    let prod = sim.ec2(&acct(PROD), &us());
    let inst = launch(prod.as_ref(), &amazon).await.unwrap();
    let stranger = acct("999999999999");
    let report = scan(
        &sim,
        &policy(),
        &ScanScope::new([stranger.clone(), acct(PROD)], [us()]),
    )
    .await
    .unwrap();
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].account, stranger);
    assert_eq!(report.errors[0].error.code(), "AuthFailure");
    assert_eq!(report.non_compliant_ids(), BTreeSet::from([inst]));
    assert!(!report.is_compliant());
}

/// One random step of the property test.
#[derive(Debug, Clone)]
enum Step {
    /// Launch from image number n of the pool.
    Launch(usize),
    /// Stop the n-th instance launched so far (if any).
    Stop(usize),
    /// Start it.
    Start(usize),
    /// Terminate it.
    Terminate(usize),
    /// Let virtual minutes pass.
    Wait(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0usize..4).prop_map(Step::Launch),
        1 => (0usize..64).prop_map(Step::Stop),
        1 => (0usize..64).prop_map(Step::Start),
        1 => (0usize..64).prop_map(Step::Terminate),
        1 => (1u64..120).prop_map(Step::Wait),
    ]
}

async fn apply(
    ec2: &dyn Ec2,
    pool: &[ImageId],
    launched: &mut Vec<(InstanceId, ImageId)>,
    step: &Step,
) -> Option<ami_core::Error> {
    let pick = |n: usize, l: &[(InstanceId, ImageId)]| -> Option<InstanceId> {
        (!l.is_empty()).then(|| l[n % l.len()].0.clone())
    };
    match step {
        Step::Launch(n) => {
            let image = &pool[n % pool.len()];
            match launch(ec2, image).await {
                Ok(id) => launched.push((id, image.clone())),
                Err(e) => return Some(e),
            }
        }
        Step::Stop(n) => {
            if let Some(id) = pick(*n, launched) {
                let _ = ec2.stop_instances(vec![id]).await;
            }
        }
        Step::Start(n) => {
            if let Some(id) = pick(*n, launched) {
                let _ = ec2.start_instances(vec![id]).await;
            }
        }
        Step::Terminate(n) => {
            if let Some(id) = pick(*n, launched) {
                let _ = ec2.terminate_instances(vec![id]).await;
            }
        }
        Step::Wait(m) => tokio::time::sleep(Duration::from_secs(m * 60)).await,
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 16,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    // Invariant: once the policy is attached, every launch of an unapproved image fails with
    // UnauthorizedOperation and every launch of an approved one succeeds, so no instance
    // launched afterwards runs an unapproved image; and the scan reports exactly the
    // instances launched before the policy from unapproved images that are not terminated.
    #[test]
    fn attached_policy_lets_no_unapproved_image_run(
        seed in 0u64..1_000_000,
        before in prop::collection::vec(step(), 0..20),
        after in prop::collection::vec(step(), 0..30),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async move {
            let sim = sim(seed);
            let approved = factory_image(&sim, &us(), "golden-ok", &[("Approved", "true")]).await;
            let untagged = factory_image(&sim, &us(), "golden-raw", &[]).await;
            let amazon = sim.amazon_image(&us(), "al2023").unwrap();
            let pool = vec![approved.clone(), untagged, amazon, approved.clone()];
            let policy = policy();
            let ec2 = sim.ec2(&acct(PROD), &us());

            let mut launched = Vec::new();
            for s in &before {
                let e = apply(ec2.as_ref(), &pool, &mut launched, s).await;
                prop_assert!(e.is_none(), "seed {seed}: launch before the policy failed: {e:?}");
            }
            let before_policy = launched.len();
            sim.set_launch_guard(&acct(PROD), Some(Arc::new(policy.clone())));
            for s in &after {
                let e = apply(ec2.as_ref(), &pool, &mut launched, s).await;
                if let (Step::Launch(n), Some(e)) = (s, &e) {
                    let img = ec2.describe_image(&pool[n % pool.len()]).await.unwrap();
                    prop_assert_eq!(e.code(), "UnauthorizedOperation", "seed {}", seed);
                    prop_assert!(policy.check(&full_view(&sim, &img).await, sim.now()).is_err());
                }
            }
            // Every instance launched after the policy runs an approved image.
            for (_, image) in &launched[before_policy..] {
                prop_assert_eq!(image, &approved, "seed {}", seed);
            }
            let report = scan(&sim, &policy, &ScanScope::new([acct(PROD), acct(FACTORY)], [us()]))
                .await
                .unwrap();
            let live: BTreeSet<InstanceId> = ec2
                .describe_all_instances(Default::default())
                .await
                .unwrap()
                .into_iter()
                .filter(|i| !matches!(i.state, ami_core::InstanceState::Terminated | ami_core::InstanceState::ShuttingDown))
                .map(|i| i.id)
                .collect();
            let expected: BTreeSet<InstanceId> = launched[..before_policy]
                .iter()
                .filter(|(id, image)| image != &approved && live.contains(id))
                .map(|(id, _)| id.clone())
                .collect();
            prop_assert_eq!(report.non_compliant_ids(), expected, "seed {}", seed);
            Ok(())
        })?;
    }
}

/// The image as its owner sees it (with tags).
async fn full_view(sim: &Sim, img: &ami_core::Image) -> ami_core::Image {
    let owner = sim.ec2(&img.owner, &img.region);
    match owner.describe_image(&img.id).await {
        Ok(i) if i.state != ImageState::Deregistered => i,
        _ => img.clone(),
    }
}

#[tokio::test(start_paused = true)]
async fn scan_rides_out_throttling_and_internal_errors() {
    use ami_sim::Scope;
    let sim = sim(6);
    let amazon = sim.amazon_image(&us(), "al2023").unwrap();
    let prod = sim.ec2(&acct(PROD), &us());
    let mut ids = BTreeSet::new();
    for _ in 0..12 {
        ids.insert(launch(prod.as_ref(), &amazon).await.unwrap());
    }
    let at = Scope::at(&acct(PROD), &us());
    sim.fail_next(Op::DescribeInstances, at.clone(), "RequestLimitExceeded");
    sim.fail_next(Op::DescribeImages, at.clone(), "InternalError");
    let started = sim.now();
    let report = scan(
        &sim,
        &policy(),
        &ScanScope::new([acct(PROD)], [us()]).page_size(5),
    )
    .await
    .unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.non_compliant_ids(), ids);
    // The retries waited on the virtual clock.
    assert!(sim.now() > started);
}

/// The same seed and the same scan give the same call log.
#[tokio::test(start_paused = true)]
async fn scan_is_deterministic() {
    async fn run() -> String {
        let sim = sim(7);
        factory_image(&sim, &us(), "golden-det", &[("Approved", "true")]).await;
        let amazon = sim.amazon_image(&us(), "al2023").unwrap();
        let prod = sim.ec2(&acct(PROD), &us());
        for _ in 0..7 {
            launch(prod.as_ref(), &amazon).await.unwrap();
        }
        let scope = ScanScope::new([acct(PROD), acct(FACTORY)], [us(), eu()]).page_size(5);
        let report = scan(&sim, &policy(), &scope).await.unwrap();
        format!("{:?}\n{}", report.findings, sim.call_log_text())
    }
    assert_eq!(run().await, run().await);
}
