//! The conformance suite of `ami_core::conformance`, run on the simulator: every check must
//! pass or be skipped (the simulator claims every capability, so a skip can only come from a
//! missing second Region or account, and this test configures both).

use std::sync::Arc;
use std::time::Duration;

use ami_core::conformance::{self, Capabilities, Ctx, Scope};
use ami_core::{AccountId, Region};
use ami_sim::Sim;

const OWNER: &str = "111111111111";
const CONSUMER: &str = "222222222222";

fn context(sim: &Sim) -> Ctx {
    let owner: AccountId = OWNER.parse().unwrap();
    let consumer: AccountId = CONSUMER.parse().unwrap();
    let home: Region = "us-east-1".parse().unwrap();
    let away: Region = "eu-west-1".parse().unwrap();
    let base = sim
        .amazon_image(&home, "al2023")
        .expect("the catalogue has al2023 in us-east-1");
    let scope = |a: &AccountId, r: &Region| Scope::new(sim.ec2(a, r), sim.kms(a, r));
    Ctx::new(scope(&owner, &home), base, Arc::new(sim.clock()))
        .with_second_region(scope(&owner, &away))
        .with_second_account(scope(&consumer, &home))
        .with_capabilities(Capabilities::full())
        .with_prefix("conf")
        .with_timing(Duration::from_secs(15), Duration::from_secs(24 * 3600))
        .with_backend("ami-sim")
}

fn sim(seed: u64) -> Sim {
    Sim::builder()
        .seed(seed)
        .regions(["us-east-1", "eu-west-1"])
        .account(OWNER)
        .account(CONSUMER)
        .build()
        .unwrap()
}

/// The whole suite on a fresh simulator: no check fails, and none is skipped, because the
/// simulator models every capability and both extra scopes are configured.
#[tokio::test(start_paused = true)]
async fn conformance_suite_passes_on_the_simulator() {
    let sim = sim(7);
    let report = conformance::run_all(&context(&sim)).await;
    println!("{report}");
    assert!(
        report.failed().is_empty(),
        "seed {}: {} check(s) failed:\n{report}",
        sim.seed(),
        report.failed().len()
    );
    assert!(
        report.skipped().is_empty(),
        "the simulator should run every check:\n{report}"
    );
    assert_eq!(report.passed().len(), conformance::all().len());
}

/// Every check cleans up what it made: after the suite the owner has no image left, no
/// snapshot of its own beyond those it started with, and every key the suite created is
/// pending deletion, gone once the shortest waiting period (7 days) has passed.
#[tokio::test(start_paused = true)]
async fn the_suite_cleans_up_after_itself() {
    use ami_core::api::{DescribeImagesRequest, DescribeSnapshotsRequest, Owner};
    use ami_core::Ec2Ext;

    let sim = sim(11);
    let ctx = context(&sim);
    let report = conformance::run_all(&ctx).await;
    assert!(report.is_success(), "{report}");
    for scope in [
        &ctx.primary,
        ctx.second_region.as_ref().unwrap(),
        ctx.second_account.as_ref().unwrap(),
    ] {
        let images = scope
            .ec2
            .describe_all_images(DescribeImagesRequest::new().owner(Owner::SelfAccount))
            .await
            .unwrap();
        let left: Vec<_> = images
            .iter()
            .filter(|i| i.state != ami_core::ImageState::Deregistered)
            .map(|i| (&i.id, &i.name))
            .collect();
        assert!(
            left.is_empty(),
            "{}/{}: images left {left:?}",
            scope.account(),
            scope.region()
        );
        let snaps = scope
            .ec2
            .describe_all_snapshots(DescribeSnapshotsRequest::owned())
            .await
            .unwrap();
        let left: Vec<_> = snaps.iter().map(|s| (&s.id, &s.description)).collect();
        assert!(
            left.is_empty(),
            "{}/{}: snapshots left {left:?}",
            scope.account(),
            scope.region()
        );
    }
    let created: Vec<(AccountId, Region, String)> = sim
        .call_log()
        .into_iter()
        .filter(|c| c.op == ami_sim::Op::CreateKey)
        .filter_map(|c| Some((c.account, c.region, c.outcome.ok()?)))
        .collect();
    assert!(created.len() >= 5, "keys created: {created:?}");
    for (account, region, id) in &created {
        let kms = sim.kms(account, region);
        let key = kms.describe_key(id.parse().unwrap()).await.unwrap();
        assert_eq!(
            key.state,
            ami_core::model::KeyState::PendingDeletion,
            "{account}/{region} key {id} ({})",
            key.description
        );
    }
    tokio::time::sleep(Duration::from_secs(7 * 24 * 3600)).await;
    for (account, region, id) in &created {
        let err = sim
            .kms(account, region)
            .describe_key(id.parse().unwrap())
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            "NotFoundException",
            "{account}/{region} key {id}"
        );
    }
}

/// A check a backend does not model is reported as skipped with the reason, never as passed.
#[tokio::test(start_paused = true)]
async fn a_missing_capability_skips_with_its_reason() {
    let sim = sim(3);
    let ctx = context(&sim).with_capabilities(
        Capabilities::full().without(conformance::Feature::NameUniqueness, "not modelled here"),
    );
    let report = conformance::run_matching(&ctx, |n| n == "check_name_duplicate").await;
    assert_eq!(report.passed().len(), 0);
    assert_eq!(
        report.skipped(),
        [(
            "check_name_duplicate",
            "NameUniqueness not modelled: not modelled here"
        )]
    );
    assert!(
        report.to_string().contains("| check_name_duplicate | skip"),
        "{report}"
    );
}

/// A backend that answers an unknown id with success fails the check with a message naming the
/// call and the expected code; a backend that panics fails only that check, and the runner goes
/// on to the next one.
#[tokio::test(start_paused = true)]
async fn the_runner_reports_wrong_answers_and_panics_per_check() {
    use ami_core::api::{MockEc2, MockKms, Page};

    let account: AccountId = OWNER.parse().unwrap();
    let region: Region = "us-east-1".parse().unwrap();
    let mut ec2 = MockEc2::new();
    ec2.expect_account().return_const(account.clone());
    ec2.expect_region().return_const(region.clone());
    // Wrong: an unknown image is "found" with no items instead of InvalidAMIID.NotFound.
    ec2.expect_describe_images()
        .returning(|_| Ok(Page::last(Vec::new())));
    // Every other call panics (no expectation set), as a buggy backend might.
    let mut kms = MockKms::new();
    kms.expect_account().return_const(account);
    kms.expect_region().return_const(region);
    let base = "ami-0123456789abcdef0".parse().unwrap();
    let ctx = Ctx::new(
        Scope::new(Arc::new(ec2), Arc::new(kms)),
        base,
        Arc::new(ami_core::VirtualClock::new(
            ami_core::VirtualClock::DEFAULT_EPOCH,
        )),
    )
    .with_backend("broken");
    let report = conformance::run_matching(&ctx, |n| {
        matches!(
            n,
            "check_unknown_ids" | "check_launch_from_image" | "check_malformed_ids"
        )
    })
    .await;
    let failed = report.failed();
    assert_eq!(failed.len(), 2, "{report}");
    assert_eq!(failed[0].0, "check_launch_from_image");
    assert!(failed[0].1.starts_with("panicked: "), "{}", failed[0].1);
    assert_eq!(failed[1].0, "check_unknown_ids");
    assert!(
        failed[1].1.starts_with(
            "DescribeImages of an unknown id: expected InvalidAMIID.NotFound, got success"
        ),
        "{}",
        failed[1].1
    );
    // The check that needs no backend still ran after the failures.
    assert_eq!(report.passed(), ["check_malformed_ids"]);
    assert!(
        report
            .to_string()
            .ends_with("broken: 1 passed, 2 failed, 0 skipped"),
        "{report}"
    );
}
