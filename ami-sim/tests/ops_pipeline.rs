//! `ops::pipeline` on the simulator: scheduled builds through virtual days, tests,
//! distribution, failure cleanup, the parent-changed start condition and auto-disable.

use std::sync::Arc;
use std::time::Duration;

use ami_core::api::{DescribeImagesRequest, DescribeSnapshotsRequest, Owner, RunInstancesRequest};
use ami_core::ops::bake::{bake, BakeRequest};
use ami_core::ops::distribute::DistributionSpec;
use ami_core::ops::govern::ApprovalPolicy;
use ami_core::ops::pipeline::{
    component_fn, test_fn, CronSchedule, Infrastructure, ParentSelector, Pipeline, PipelineRunner,
    Recipe, RunOutcome, Stage, StartCondition, Trigger, TAG_PIPELINE,
};
use ami_core::ops::wait::{wait_for_instance_state, WaitOptions};
use ami_core::{
    AccountId, Ec2Ext, Error, ImageId, ImageState, InstanceState, OwnerAlias, Region, Timestamp,
};
use ami_sim::{Durability, Op, Sim};

mod common;
use common::{acct, eu, us};

const PROD: &str = "222222222222";

const FACTORY: &str = "111111111111";
const DAY: Duration = Duration::from_secs(86_400);

fn sim(seed: u64) -> Sim {
    common::builder(seed, &["us-east-1", "eu-west-1"], &[FACTORY, PROD])
        .build()
        .unwrap()
}

fn amazon_parent() -> ParentSelector {
    ParentSelector::newest("al2023-ami-*-x86_64", [Owner::Alias(OwnerAlias::Amazon)])
}

/// A component that writes `/etc/app.conf = run-<n>` into the build instance (buffered: the
/// bake's stop flushes it).
fn write_config(sim: &Sim) -> Arc<dyn ami_core::ops::pipeline::Component> {
    let sim = sim.clone();
    component_fn("write-config", move |ctx| {
        let sim = sim.clone();
        async move {
            sim.write_data(
                &ctx.instance.id,
                "/dev/xvda",
                "/etc/app.conf",
                format!("run-{}", ctx.run),
                Durability::Buffered,
            )
        }
    })
}

/// A test that the test instance has the config the build wrote.
fn config_present(sim: &Sim) -> Arc<dyn ami_core::ops::pipeline::ImageTest> {
    let sim = sim.clone();
    test_fn("config-present", move |ctx| {
        let sim = sim.clone();
        async move {
            let data = sim.volume_data(&ctx.instance.id, "/dev/xvda")?;
            match data.get("/etc/app.conf") {
                Some(v) if *v == format!("run-{}", ctx.run) => Ok(()),
                other => Err(Error::workflow(format!("/etc/app.conf is {other:?}"))),
            }
        }
    })
}

fn failing_test() -> Arc<dyn ami_core::ops::pipeline::ImageTest> {
    test_fn("smoke", |_ctx| async move {
        Err(Error::workflow(
            "smoke test: service did not answer on port 443",
        ))
    })
}

fn failing_component() -> Arc<dyn ami_core::ops::pipeline::Component> {
    component_fn("install-agent", |_ctx| async move {
        Err(Error::workflow(
            "install-agent: package repository unreachable",
        ))
    })
}

fn daily() -> CronSchedule {
    "0 2 * * *".parse().unwrap()
}

fn distribution() -> DistributionSpec {
    // The source is replaced by each run's image.
    Pipeline::new("any", acct(FACTORY), us(), Recipe::new(amazon_parent()))
        .distribution_template()
        .region(eu())
}

/// Instances of the factory that are not terminated (shutting down counts as gone).
async fn live_instances(sim: &Sim) -> Vec<ami_core::Instance> {
    let mut out = Vec::new();
    for r in [us(), eu()] {
        out.extend(
            sim.ec2(&acct(FACTORY), &r)
                .describe_all_instances(Default::default())
                .await
                .unwrap()
                .into_iter()
                .filter(|i| {
                    !matches!(
                        i.state,
                        InstanceState::Terminated | InstanceState::ShuttingDown
                    )
                }),
        );
    }
    out
}

async fn owned_images(sim: &Sim, region: &Region) -> Vec<ami_core::Image> {
    sim.ec2(&acct(FACTORY), region)
        .describe_all_images(DescribeImagesRequest::new().owner(Owner::SelfAccount))
        .await
        .unwrap()
}

async fn owned_snapshots(sim: &Sim, region: &Region) -> usize {
    sim.ec2(&acct(FACTORY), region)
        .describe_all_snapshots(DescribeSnapshotsRequest::owned())
        .await
        .unwrap()
        .len()
}

#[tokio::test(start_paused = true)]
async fn scheduled_pipeline_builds_tests_and_distributes_through_several_days() {
    let sim = sim(11);
    let recipe = Recipe::new(amazon_parent())
        .component(write_config(&sim))
        .test(config_present(&sim));
    let pipeline = Pipeline::new("golden", acct(FACTORY), us(), recipe)
        .infrastructure(
            Infrastructure::default()
                .instance_type("m5.large")
                .tag("Team", "platform"),
        )
        .distribution(distribution())
        .schedule(daily())
        .start_condition(StartCondition::ExpressionMatchOnly);
    let mut runner = PipelineRunner::new(Arc::new(sim.clone()), pipeline).unwrap();
    let start = sim.now();
    assert_eq!(
        runner.next_due(),
        Some("2026-01-01T02:00:00Z".parse::<Timestamp>().unwrap())
    );

    let runs = runner.run_until(start.add(DAY * 3)).await;
    assert_eq!(sim.now(), start.add(DAY * 3));
    assert_eq!(runs.len(), 3);
    assert_eq!(runner.history(), &runs[..]);
    for (n, run) in runs.iter().enumerate() {
        let day = start.add(DAY * n as u32).add(Duration::from_secs(2 * 3600));
        assert_eq!(run.trigger, Trigger::Schedule(day));
        assert_eq!(run.number, n as u64 + 1);
        assert!(run.started >= day && run.finished > run.started);
        assert!(run.cleanup_errors.is_empty(), "{:?}", run.cleanup_errors);
        // A build and a test instance, both terminated.
        assert_eq!(run.instances.len(), 2);
        let RunOutcome::Succeeded { image, manifest } = &run.outcome else {
            panic!("run {} did not succeed: {:?}", run.number, run.outcome);
        };
        let us_ec2 = sim.ec2(&acct(FACTORY), &us());
        let img = us_ec2.describe_image(image).await.unwrap();
        assert_eq!(img.state, ImageState::Available);
        assert_eq!(img.tags[TAG_PIPELINE], "golden");
        assert_eq!(img.tags["Team"], "platform");
        let snap = img.block_devices[0].snapshot_id.clone().unwrap();
        assert_eq!(
            sim.snapshot_data(&snap).unwrap()["/etc/app.conf"],
            format!("run-{}", run.number)
        );
        let manifest = manifest.as_ref().expect("distributed");
        let copy = manifest
            .image(&eu(), &acct(FACTORY))
            .expect("a copy in eu-west-1");
        let copy = sim
            .ec2(&acct(FACTORY), &eu())
            .describe_image(copy)
            .await
            .unwrap();
        assert_eq!(copy.state, ImageState::Available);
        assert_eq!(copy.source_image_id.as_ref(), Some(image));
    }
    assert!(live_instances(&sim).await.is_empty());
    assert_eq!(owned_images(&sim, &us()).await.len(), 3);
    assert_eq!(owned_images(&sim, &eu()).await.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn failing_component_leaves_no_instance_image_or_snapshot_and_distributes_nothing() {
    let sim = sim(12);
    let recipe = Recipe::new(amazon_parent())
        .component(write_config(&sim))
        .component(failing_component())
        .test(config_present(&sim));
    let pipeline =
        Pipeline::new("golden", acct(FACTORY), us(), recipe).distribution(distribution());
    let mut runner = PipelineRunner::new(Arc::new(sim.clone()), pipeline).unwrap();
    let run = runner.run_now().await;
    assert_eq!(run.trigger, Trigger::Manual);
    match &run.outcome {
        RunOutcome::Failed {
            stage,
            code,
            message,
        } => {
            assert_eq!(stage, &Stage::Component("install-agent".into()));
            assert_eq!(code, "Workflow");
            assert!(message.contains("unreachable"), "{message}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    assert_eq!(run.instances.len(), 1);
    assert!(run.cleanup_errors.is_empty(), "{:?}", run.cleanup_errors);
    assert!(live_instances(&sim).await.is_empty());
    assert!(owned_images(&sim, &us()).await.is_empty());
    assert_eq!(owned_snapshots(&sim, &us()).await, 0);
    assert_eq!(sim.call_count(Op::CreateImage), 0);
    assert_eq!(sim.call_count(Op::CopyImage), 0);
    assert_eq!(runner.consecutive_failures(), 1);
}

#[tokio::test(start_paused = true)]
async fn failing_test_discards_the_image_and_distributes_nothing() {
    let sim = sim(13);
    let recipe = Recipe::new(amazon_parent())
        .component(write_config(&sim))
        .test(config_present(&sim))
        .test(failing_test());
    let pipeline =
        Pipeline::new("golden", acct(FACTORY), us(), recipe).distribution(distribution());
    let mut runner = PipelineRunner::new(Arc::new(sim.clone()), pipeline).unwrap();
    let run = runner.run_now().await;
    match &run.outcome {
        RunOutcome::Failed { stage, .. } => assert_eq!(stage, &Stage::Test("smoke".into())),
        other => panic!("expected a failure, got {other:?}"),
    }
    // Build and test instance, both terminated.
    assert_eq!(run.instances.len(), 2);
    assert!(run.cleanup_errors.is_empty(), "{:?}", run.cleanup_errors);
    assert!(live_instances(&sim).await.is_empty());
    assert_eq!(sim.call_count(Op::CreateImage), 1);
    assert_eq!(sim.call_count(Op::CopyImage), 0);
    // The image was made, then deregistered with its snapshots.
    let left: Vec<_> = owned_images(&sim, &us())
        .await
        .into_iter()
        .filter(|i| i.state != ImageState::Deregistered)
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(owned_snapshots(&sim, &us()).await, 0);
    assert!(owned_images(&sim, &eu()).await.is_empty());
}

/// Bakes a new `base-<n>` image in the factory (the parent of the next builds).
async fn publish_base(sim: &Sim, n: u32) -> ImageId {
    let ec2 = sim.ec2(&acct(FACTORY), &us());
    let amazon = sim.amazon_image(&us(), "al2023").unwrap();
    let inst = ec2
        .run_instances(RunInstancesRequest::new(amazon))
        .await
        .unwrap()
        .remove(0);
    wait_for_instance_state(
        ec2.as_ref(),
        &inst.id,
        InstanceState::Running,
        &WaitOptions::default(),
    )
    .await
    .unwrap();
    let baked = bake(
        ec2.as_ref(),
        BakeRequest::new(inst.id.clone(), format!("base-{n}")),
    )
    .await
    .unwrap();
    ec2.terminate_instances(vec![inst.id]).await.unwrap();
    baked.image.id
}

#[tokio::test(start_paused = true)]
async fn parent_unchanged_skips_builds_until_a_new_parent_is_published() {
    let sim = sim(14);
    let base1 = publish_base(&sim, 1).await;
    let recipe = Recipe::new(ParentSelector::newest("base-*", [Owner::SelfAccount]))
        .component(write_config(&sim));
    let pipeline = Pipeline::new("app", acct(FACTORY), us(), recipe).schedule(daily());
    assert_eq!(
        pipeline.start_condition,
        StartCondition::ExpressionMatchAndParentChanged
    );
    let mut runner = PipelineRunner::new(Arc::new(sim.clone()), pipeline).unwrap();
    let start = sim.now();

    let runs = runner.run_until(start.add(DAY * 3)).await;
    assert_eq!(runs.len(), 3);
    assert!(runs[0].outcome.is_success(), "{:?}", runs[0].outcome);
    assert_eq!(runs[0].parent.as_ref(), Some(&base1));
    for r in &runs[1..] {
        assert_eq!(r.outcome, RunOutcome::SkippedParentUnchanged);
        assert_eq!(r.parent.as_ref(), Some(&base1));
        assert!(r.instances.is_empty());
    }

    let base2 = publish_base(&sim, 2).await;
    let runs = runner.run_until(start.add(DAY * 5)).await;
    assert_eq!(runs.len(), 2);
    assert!(runs[0].outcome.is_success(), "{:?}", runs[0].outcome);
    assert_eq!(runs[0].parent.as_ref(), Some(&base2));
    assert_eq!(runs[1].outcome, RunOutcome::SkippedParentUnchanged);
    // A manual run builds whatever the start condition says.
    assert!(runner.run_now().await.outcome.is_success());
    assert_eq!(runner.history().len(), 6);
    assert!(live_instances(&sim).await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn pipeline_disables_itself_after_consecutive_failures() {
    let sim = sim(15);
    let recipe = Recipe::new(amazon_parent()).component(failing_component());
    let pipeline = Pipeline::new("flaky", acct(FACTORY), us(), recipe)
        .schedule("0 */6 * * *".parse().unwrap())
        .auto_disable_after(2);
    let mut runner = PipelineRunner::new(Arc::new(sim.clone()), pipeline).unwrap();
    let start = sim.now();
    let runs = runner.run_until(start.add(DAY)).await;
    // Matches at 06, 12, 18 and 00 (the 00:00 start itself is not after the start).
    assert_eq!(runs.len(), 4);
    assert!(runs[0].outcome.is_failure() && !runs[0].disabled_pipeline);
    assert!(runs[1].outcome.is_failure() && runs[1].disabled_pipeline);
    assert_eq!(runs[2].outcome, RunOutcome::SkippedDisabled);
    assert_eq!(runs[3].outcome, RunOutcome::SkippedDisabled);
    assert!(!runner.is_enabled());
    assert_eq!(sim.call_count(Op::RunInstances), 2);
    assert!(live_instances(&sim).await.is_empty());

    runner.enable();
    assert_eq!(runner.consecutive_failures(), 0);
    let runs = runner
        .run_until(start.add(DAY + Duration::from_secs(6 * 3600)))
        .await;
    assert_eq!(runs.len(), 1);
    assert!(runs[0].outcome.is_failure());
    assert!(runner.is_enabled());
}

#[tokio::test(start_paused = true)]
async fn missed_matches_coalesce_into_one_run() {
    let sim = sim(16);
    let recipe = Recipe::new(amazon_parent());
    let pipeline = Pipeline::new("hourly", acct(FACTORY), us(), recipe)
        .schedule("@hourly".parse().unwrap())
        .start_condition(StartCondition::ExpressionMatchOnly);
    let mut runner = PipelineRunner::new(Arc::new(sim.clone()), pipeline).unwrap();
    tokio::time::sleep(Duration::from_secs(5 * 3600 + 600)).await;
    let run = runner.run_due(sim.now()).await.expect("due");
    assert_eq!(
        run.trigger,
        Trigger::Schedule("2026-01-01T05:00:00Z".parse().unwrap())
    );
    assert!(run.outcome.is_success(), "{:?}", run.outcome);
    assert!(runner.run_due(sim.now()).await.is_none());
    assert_eq!(runner.history().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn bad_pipelines_are_refused_before_any_call() {
    let sim = sim(17);
    let recipe = Recipe::new(amazon_parent());
    let bad_name = Pipeline::new("no:colons", acct(FACTORY), us(), recipe.clone());
    let e = PipelineRunner::new(Arc::new(sim.clone()), bad_name).unwrap_err();
    assert_eq!(e.code(), "Workflow");
    assert!(e.message().contains("no:colons"), "{}", e.message());
    let zero = Pipeline::new("ok", acct(FACTORY), us(), recipe).auto_disable_after(0);
    let e = PipelineRunner::new(Arc::new(sim.clone()), zero).unwrap_err();
    assert!(
        e.message().contains("auto_disable_after"),
        "{}",
        e.message()
    );
    assert!(sim.call_log().is_empty());

    // A parent pattern that matches nothing fails the run at the parent stage.
    let none = Recipe::new(ParentSelector::newest("no-such-*", [Owner::SelfAccount]));
    let mut runner = PipelineRunner::new(
        Arc::new(sim.clone()),
        Pipeline::new("p", acct(FACTORY), us(), none),
    )
    .unwrap();
    match runner.run_now().await.outcome {
        RunOutcome::Failed { stage, code, .. } => {
            assert_eq!(stage, Stage::Parent);
            assert_eq!(code, "InvalidAMIID.NotFound");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn tested_images_are_tagged_approved_and_pass_the_production_policy() {
    let sim = sim(18);
    let prod: AccountId = PROD.parse().unwrap();
    let recipe = Recipe::new(amazon_parent())
        .component(write_config(&sim))
        .test(config_present(&sim));
    let base = Pipeline::new("golden", acct(FACTORY), us(), recipe);
    let spec = base
        .distribution_template()
        .region(eu())
        .launch_permission(ami_core::LaunchPermission::Account(prod.clone()));
    let pipeline = base.distribution(spec).approval_tag("Approved", "true");
    let mut runner = PipelineRunner::new(Arc::new(sim.clone()), pipeline).unwrap();
    let run = runner.run_now().await;
    let RunOutcome::Succeeded { image, manifest } = &run.outcome else {
        panic!("{:?}", run.outcome);
    };
    let copy = manifest
        .as_ref()
        .unwrap()
        .image(&eu(), &acct(FACTORY))
        .unwrap()
        .clone();
    let us_ec2 = sim.ec2(&acct(FACTORY), &us());
    assert_eq!(
        us_ec2.describe_image(image).await.unwrap().tags["Approved"],
        "true"
    );
    let eu_ec2 = sim.ec2(&acct(FACTORY), &eu());
    assert_eq!(
        eu_ec2.describe_image(&copy).await.unwrap().tags["Approved"],
        "true"
    );

    let policy = ApprovalPolicy::builder()
        .require_tag("Approved", "true")
        .allow_owner(acct(FACTORY))
        .build()
        .unwrap();
    sim.set_launch_guard(&prod, Some(Arc::new(policy)));
    let prod_eu = sim.ec2(&prod, &eu());
    prod_eu
        .run_instances(RunInstancesRequest::new(copy))
        .await
        .unwrap();
    let amazon = sim.amazon_image(&eu(), "al2023").unwrap();
    let e = prod_eu
        .run_instances(RunInstancesRequest::new(amazon))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "UnauthorizedOperation");
}

#[tokio::test(start_paused = true)]
async fn a_hanging_component_times_out_and_leaves_nothing() {
    let sim = sim(19);
    let hang = component_fn("wait-for-approval", |_ctx| async move {
        tokio::time::sleep(Duration::from_secs(30 * 86_400)).await;
        Ok(())
    });
    let recipe = Recipe::new(amazon_parent()).component(hang);
    let pipeline = Pipeline::new("slow", acct(FACTORY), us(), recipe)
        .step_timeout(Some(Duration::from_secs(3600)));
    let mut runner = PipelineRunner::new(Arc::new(sim.clone()), pipeline).unwrap();
    let start = sim.now();
    let run = runner.run_now().await;
    match &run.outcome {
        RunOutcome::Failed { stage, code, .. } => {
            assert_eq!(stage, &Stage::Component("wait-for-approval".into()));
            assert_eq!(code, "Timeout");
        }
        other => panic!("{other:?}"),
    }
    assert!(run.finished.since(start) < Duration::from_secs(2 * 3600));
    assert!(live_instances(&sim).await.is_empty());
    assert!(owned_images(&sim, &us()).await.is_empty());
}

/// The same seed and the same pipeline give the same history and the same call log.
#[tokio::test(start_paused = true)]
async fn pipeline_runs_are_deterministic() {
    async fn run() -> String {
        let sim = sim(20);
        let recipe = Recipe::new(amazon_parent())
            .component(write_config(&sim))
            .test(config_present(&sim));
        let pipeline = Pipeline::new("golden", acct(FACTORY), us(), recipe)
            .distribution(distribution())
            .schedule(daily())
            .start_condition(StartCondition::ExpressionMatchOnly);
        let mut runner = PipelineRunner::new(Arc::new(sim.clone()), pipeline).unwrap();
        let until = sim.now().add(DAY * 2);
        runner.run_until(until).await;
        format!(
            "{}\n{}",
            serde_json::to_string(runner.history()).unwrap(),
            sim.call_log_text()
        )
    }
    assert_eq!(run().await, run().await);
}
