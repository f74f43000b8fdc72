//! `ops::pipeline` across a process restart: a runner's state saved to a file and resumed keeps
//! the auto-disable, the parent-unchanged start condition, the schedule position, the run
//! numbers, and (for image schedules) retention of the images made before the restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ami_core::api::{Owner, RunInstancesRequest};
use ami_core::ops::bake::{bake, BakeRequest};
use ami_core::ops::pipeline::{
    component_fn, CronSchedule, ImageSchedule, ImageScheduleRunner, ImageScheduleState,
    ParentSelector, Pipeline, PipelineRunner, PipelineState, Recipe, RunOutcome, StartCondition,
    Trigger,
};
use ami_core::ops::wait::{wait_for_instance_state, WaitOptions};
use ami_core::{Ec2Ext, Error, ImageId, ImageState, InstanceState, OwnerAlias, Timestamp};
use ami_sim::{Op, Sim};

mod common;
use common::{acct, eu, us};

const FACTORY: &str = "111111111111";
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

fn sim(seed: u64) -> Sim {
    common::builder(seed, &["us-east-1", "eu-west-1"], &[FACTORY])
        .build()
        .unwrap()
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn amazon_parent() -> ParentSelector {
    ParentSelector::newest("al2023-ami-*-x86_64", [Owner::Alias(OwnerAlias::Amazon)])
}

fn failing_component() -> Arc<dyn ami_core::ops::pipeline::Component> {
    component_fn("install-agent", |_ctx| async move {
        Err(Error::workflow(
            "install-agent: package repository unreachable",
        ))
    })
}

/// A directory of its own under the system temp dir, removed when dropped (even when the test
/// fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("ami-pipeline-state-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Saves the runner's state to `path`, loads it back as a new process would, and resumes a new
/// runner (with a new connector handle) from it.
fn restart(sim: &Sim, runner: PipelineRunner, path: &Path) -> PipelineRunner {
    let pipeline = runner.pipeline().clone();
    runner.state().save(path).unwrap();
    drop(runner);
    let state = PipelineState::load(path).unwrap().expect("the state file");
    PipelineRunner::resume(Arc::new(sim.clone()), pipeline, state).unwrap()
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
async fn failures_and_the_auto_disable_survive_restarts_and_run_numbers_continue() {
    let sim = sim(31);
    let dir = TempDir::new("disable");
    let path = dir.path("flaky.json");
    let recipe = Recipe::new(amazon_parent()).component(failing_component());
    let pipeline = Pipeline::new("flaky", acct(FACTORY), us(), recipe)
        .schedule("0 */6 * * *".parse().unwrap())
        .auto_disable_after(3);
    let mut runner = PipelineRunner::new(Arc::new(sim.clone()), pipeline).unwrap();
    let start = sim.now();

    // 06:00 and 12:00 fail.
    let runs = runner.run_until(start.add(HOUR * 12)).await;
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r.outcome.is_failure()));
    assert_eq!(runner.consecutive_failures(), 2);

    let mut runner = restart(&sim, runner, &path);
    assert_eq!(runner.consecutive_failures(), 2);
    assert!(runner.is_enabled());
    assert_eq!(runner.history().len(), 2);
    assert_eq!(runner.next_due(), Some(ts("2026-01-01T18:00:00Z")));

    // 18:00: the third failure in a row disables the pipeline; 00:00 is skipped.
    let runs = runner.run_until(start.add(DAY)).await;
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].number, 3);
    assert!(runs[0].outcome.is_failure(), "{:?}", runs[0].outcome);
    assert!(runs[0].disabled_pipeline);
    assert_eq!(runs[1].number, 4);
    assert_eq!(runs[1].outcome, RunOutcome::SkippedDisabled);
    assert!(!runner.is_enabled());
    assert_eq!(sim.call_count(Op::RunInstances), 3);

    // A second restart remembers the pipeline disabled itself: 06:00 is skipped too.
    let mut runner = restart(&sim, runner, &path);
    assert!(!runner.is_enabled());
    assert_eq!(runner.consecutive_failures(), 3);
    let runs = runner.run_until(start.add(DAY + HOUR * 6)).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].number, 5);
    assert_eq!(
        runs[0].trigger,
        Trigger::Schedule(ts("2026-01-02T06:00:00Z"))
    );
    assert_eq!(runs[0].outcome, RunOutcome::SkippedDisabled);
    assert_eq!(sim.call_count(Op::RunInstances), 3);
    let numbers: Vec<u64> = runner.history().iter().map(|r| r.number).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5]);
}

#[tokio::test(start_paused = true)]
async fn the_parent_unchanged_condition_survives_a_restart_and_launches_nothing() {
    let sim = sim(32);
    let dir = TempDir::new("parent");
    let path = dir.path("app.json");
    let base1 = publish_base(&sim, 1).await;
    let recipe = Recipe::new(ParentSelector::newest("base-*", [Owner::SelfAccount]));
    let pipeline = Pipeline::new("app", acct(FACTORY), us(), recipe)
        .schedule("0 2 * * *".parse::<CronSchedule>().unwrap());
    assert_eq!(
        pipeline.start_condition,
        StartCondition::ExpressionMatchAndParentChanged
    );
    let mut runner = PipelineRunner::new(Arc::new(sim.clone()), pipeline).unwrap();
    let start = sim.now();
    let runs = runner.run_until(start.add(DAY)).await;
    assert_eq!(runs.len(), 1);
    assert!(runs[0].outcome.is_success(), "{:?}", runs[0].outcome);
    assert_eq!(runs[0].parent.as_ref(), Some(&base1));
    let launched = sim.call_count(Op::RunInstances);
    let images = sim.call_count(Op::CreateImage);

    let mut runner = restart(&sim, runner, &path);
    assert_eq!(runner.state().last_built_parent.as_ref(), Some(&base1));
    let runs = runner.run_until(start.add(DAY * 2)).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].number, 2);
    assert_eq!(runs[0].outcome, RunOutcome::SkippedParentUnchanged);
    assert_eq!(runs[0].parent.as_ref(), Some(&base1));
    assert!(runs[0].instances.is_empty());
    assert_eq!(sim.call_count(Op::RunInstances), launched);
    assert_eq!(sim.call_count(Op::CreateImage), images);

    // A new parent still builds after the restart.
    let base2 = publish_base(&sim, 2).await;
    let launched = sim.call_count(Op::RunInstances);
    let runs = runner.run_until(start.add(DAY * 3)).await;
    assert!(runs[0].outcome.is_success(), "{:?}", runs[0].outcome);
    assert_eq!(runs[0].parent.as_ref(), Some(&base2));
    assert_eq!(sim.call_count(Op::RunInstances), launched + 1);
}

#[tokio::test(start_paused = true)]
async fn the_schedule_position_survives_a_long_pause_and_missed_matches_make_one_run() {
    let sim = sim(33);
    let dir = TempDir::new("cursor");
    let path = dir.path("hourly.json");
    let pipeline = Pipeline::new("hourly", acct(FACTORY), us(), Recipe::new(amazon_parent()))
        .schedule("@hourly".parse().unwrap())
        .start_condition(StartCondition::ExpressionMatchOnly);
    let mut runner = PipelineRunner::new(Arc::new(sim.clone()), pipeline.clone()).unwrap();
    let start = sim.now();
    let runs = runner.run_until(start.add(HOUR)).await;
    assert_eq!(runs.len(), 1);
    runner.state().save(&path).unwrap();
    drop(runner);

    // The process is down for ten hours and a half.
    tokio::time::sleep(HOUR * 10 + Duration::from_secs(1800)).await;
    let state = PipelineState::load(&path).unwrap().unwrap();
    let mut runner =
        PipelineRunner::resume(Arc::new(sim.clone()), pipeline.clone(), state).unwrap();
    // The position comes from the state (02:00 is the first match after 01:00), not from "now".
    assert_eq!(runner.next_due(), Some(ts("2026-01-01T02:00:00Z")));
    let launched = sim.call_count(Op::RunInstances);
    let run = runner
        .run_due(sim.now())
        .await
        .expect("a run for the missed matches");
    assert_eq!(run.number, 2);
    assert_eq!(run.trigger, Trigger::Schedule(ts("2026-01-01T11:00:00Z")));
    assert!(run.outcome.is_success(), "{:?}", run.outcome);
    assert!(runner.run_due(sim.now()).await.is_none());
    assert_eq!(runner.history().len(), 2);
    assert_eq!(sim.call_count(Op::RunInstances), launched + 1);
    assert_eq!(runner.next_due(), Some(ts("2026-01-01T12:00:00Z")));

    // A cursor ahead of the clock is kept: nothing runs until the first match after it.
    let mut ahead = runner.state();
    ahead.cursor = ts("2026-01-03T00:30:00Z");
    let mut runner = PipelineRunner::resume(Arc::new(sim.clone()), pipeline, ahead).unwrap();
    assert_eq!(runner.next_due(), Some(ts("2026-01-03T01:00:00Z")));
    assert!(runner.run_due(sim.now().add(DAY)).await.is_none());
    assert_eq!(runner.history().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn states_of_other_pipelines_and_damaged_files_are_refused_and_saves_round_trip() {
    let sim = sim(34);
    let dir = TempDir::new("files");
    let path = dir.path("golden.json");
    let base = Pipeline::new("golden", acct(FACTORY), us(), Recipe::new(amazon_parent()));
    let spec = base.distribution_template().region(eu());
    let pipeline = base.distribution(spec).schedule("@daily".parse().unwrap());
    let mut runner = PipelineRunner::new(Arc::new(sim.clone()), pipeline.clone()).unwrap();
    assert!(runner.run_now().await.outcome.is_success());
    let state = runner.state();
    assert_eq!(state.name, "golden");
    assert_eq!(state.history.len(), 1);

    // No file yet: told apart from an error.
    assert_eq!(PipelineState::load(&path).unwrap(), None);
    // Save then load gives the same state (the manifest of the distribution included), and
    // leaves no temporary file beside it.
    state.save(&path).unwrap();
    assert_eq!(PipelineState::load(&path).unwrap().as_ref(), Some(&state));
    assert_eq!(dir.files(), ["golden.json"]);
    // Saving again replaces it.
    runner.disable();
    runner.state().save(&path).unwrap();
    assert!(!PipelineState::load(&path).unwrap().unwrap().enabled);
    assert_eq!(dir.files(), ["golden.json"]);

    // The state of "golden" is refused for "silver", naming both and changing nothing.
    let calls = sim.call_log().len();
    let silver = Pipeline::new("silver", acct(FACTORY), us(), Recipe::new(amazon_parent()));
    let e = PipelineRunner::resume(Arc::new(sim.clone()), silver, state.clone()).unwrap_err();
    assert_eq!(e.code(), "InvalidParameterValue");
    assert!(matches!(e, Error::InvalidParameter(_)), "{e:?}");
    assert!(
        e.message().contains("\"golden\"") && e.message().contains("\"silver\""),
        "{}",
        e.message()
    );
    assert!(
        e.message().contains("PipelineRunner::new"),
        "{}",
        e.message()
    );
    assert_eq!(sim.call_log().len(), calls);
    // A resume still validates the pipeline as `new` does.
    let bad = Pipeline::new("golden", acct(FACTORY), us(), Recipe::new(amazon_parent()))
        .auto_disable_after(0);
    let e = PipelineRunner::resume(Arc::new(sim.clone()), bad, state.clone()).unwrap_err();
    assert_eq!(e.code(), "Workflow");
    // Run numbers that go backwards would repeat: refused.
    let mut twisted = state.clone();
    twisted.history.push(state.history[0].clone());
    let e = PipelineRunner::resume(Arc::new(sim.clone()), pipeline.clone(), twisted).unwrap_err();
    assert_eq!(e.code(), "InvalidParameterValue");
    assert!(e.message().contains("run 1 after run 1"), "{}", e.message());

    // A truncated file is a typed error naming the path.
    let text = std::fs::read_to_string(&path).unwrap();
    let torn = dir.path("torn.json");
    std::fs::write(&torn, &text[..text.len() / 2]).unwrap();
    let e = PipelineState::load(&torn).unwrap_err();
    assert_eq!(e.code(), "Journal");
    assert!(matches!(e, Error::Journal { .. }), "{e:?}");
    assert!(
        e.message().contains(&torn.display().to_string()),
        "{}",
        e.message()
    );
    assert!(e.message().contains("damaged"), "{}", e.message());
    // So is a file that is JSON but not a pipeline state.
    let junk = dir.path("junk.json");
    std::fs::write(&junk, "{\"hello\": 1}\n").unwrap();
    let e = PipelineState::load(&junk).unwrap_err();
    assert_eq!(e.code(), "Journal");
    assert!(
        e.message().contains(&junk.display().to_string()),
        "{}",
        e.message()
    );

    // An image schedule's state is not a pipeline's.
    let nightly = dir.path("nightly.json");
    ImageScheduleState {
        name: "nightly".into(),
        cursor: sim.now(),
        history: Vec::new(),
    }
    .save(&nightly)
    .unwrap();
    let e = PipelineState::load(&nightly).unwrap_err();
    assert_eq!(e.code(), "Journal");
    assert!(e.message().contains("image-schedule"), "{}", e.message());

    // Saving into a directory that does not exist fails naming the path and creates nothing.
    let nowhere = dir.path("missing").join("golden.json");
    let e = state.save(&nowhere).unwrap_err();
    assert_eq!(e.code(), "Journal");
    assert!(
        e.message().contains(&nowhere.display().to_string()),
        "{}",
        e.message()
    );
    assert_eq!(
        dir.files(),
        ["golden.json", "junk.json", "nightly.json", "torn.json"]
    );
    drop(dir);
    assert!(!std::env::temp_dir()
        .join(format!("ami-pipeline-state-files-{}", std::process::id()))
        .exists());
}

/// Whether an image is gone (deregistered, or no longer described).
async fn is_gone(sim: &Sim, image: &ImageId) -> bool {
    match sim.ec2(&acct(FACTORY), &us()).describe_image(image).await {
        Ok(img) => img.state == ImageState::Deregistered,
        Err(e) => e.is_not_found(),
    }
}

#[tokio::test(start_paused = true)]
async fn image_schedule_retention_retires_images_made_before_a_restart() {
    let sim = sim(35);
    let dir = TempDir::new("schedule");
    let path = dir.path("nightly.json");
    let ec2 = sim.ec2(&acct(FACTORY), &us());
    let base = sim.amazon_image(&us(), "al2023").unwrap();
    let db = ec2
        .run_instances(RunInstancesRequest::new(base).tag("Backup", "daily"))
        .await
        .unwrap()
        .remove(0);
    wait_for_instance_state(
        ec2.as_ref(),
        &db.id,
        InstanceState::Running,
        &WaitOptions::default(),
    )
    .await
    .unwrap();
    let schedule = ImageSchedule::new(
        "nightly",
        acct(FACTORY),
        [us()],
        "Backup",
        "daily",
        "30 1 * * *".parse().unwrap(),
    )
    .keep(2);
    let mut runner = ImageScheduleRunner::new(Arc::new(sim.clone()), schedule.clone()).unwrap();
    let start = sim.now();
    let before = runner.run_until(start.add(DAY * 2)).await;
    assert_eq!(before.len(), 2);
    let old: Vec<ImageId> = before.iter().map(|r| r.images[0].image.clone()).collect();
    assert!(before.iter().all(|r| r.retired.is_empty()));
    runner.state().save(&path).unwrap();
    drop(runner);

    let state = ImageScheduleState::load(&path).unwrap().unwrap();
    assert_eq!(state.history, before);
    // Another schedule's state is refused.
    let other = ImageSchedule::new(
        "weekly",
        acct(FACTORY),
        [us()],
        "Backup",
        "weekly",
        "0 3 * * 0".parse().unwrap(),
    );
    let e = ImageScheduleRunner::resume(Arc::new(sim.clone()), other, state.clone()).unwrap_err();
    assert_eq!(e.code(), "InvalidParameterValue");
    assert!(
        e.message().contains("\"nightly\"") && e.message().contains("\"weekly\""),
        "{}",
        e.message()
    );

    let mut runner = ImageScheduleRunner::resume(Arc::new(sim.clone()), schedule, state).unwrap();
    assert_eq!(runner.next_due(), Some(ts("2026-01-03T01:30:00Z")));
    let after = runner
        .run_until_saving(start.add(DAY * 4), &path)
        .await
        .unwrap();
    assert_eq!(after.len(), 2);
    assert_eq!(after[0].at, ts("2026-01-03T01:30:00Z"));
    // Each run after the restart retires the oldest image made before it.
    assert_eq!(after[0].retired, [old[0].clone()]);
    assert_eq!(after[1].retired, [old[1].clone()]);
    for r in &after {
        assert!(r.errors.is_empty() && r.failures.is_empty(), "{r:?}");
    }
    assert!(is_gone(&sim, &old[0]).await);
    assert!(is_gone(&sim, &old[1]).await);
    for r in &after {
        assert!(!is_gone(&sim, &r.images[0].image).await);
    }
    assert_eq!(runner.history().len(), 4);
    assert_eq!(runner.state().history[..2], before[..]);
    // The file was kept current.
    assert_eq!(
        ImageScheduleState::load(&path).unwrap(),
        Some(runner.state())
    );
}

#[tokio::test(start_paused = true)]
async fn run_until_saving_keeps_the_file_current_and_refuses_a_bad_path_before_any_run() {
    let sim = sim(36);
    let dir = TempDir::new("saving");
    let path = dir.path("hourly.json");
    let pipeline = Pipeline::new("hourly", acct(FACTORY), us(), Recipe::new(amazon_parent()))
        .schedule("@hourly".parse().unwrap())
        .start_condition(StartCondition::ExpressionMatchOnly);
    let mut runner = PipelineRunner::new(Arc::new(sim.clone()), pipeline.clone()).unwrap();
    let start = sim.now();

    // A path that cannot be written is found before anything is built.
    let nowhere = dir.path("missing").join("hourly.json");
    let e = runner
        .run_until_saving(start.add(HOUR * 3), &nowhere)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "Journal");
    assert!(
        e.message().contains(&nowhere.display().to_string()),
        "{}",
        e.message()
    );
    assert!(runner.history().is_empty());
    assert_eq!(sim.call_count(Op::RunInstances), 0);
    assert_eq!(sim.now(), start);

    let runs = runner
        .run_until_saving(start.add(HOUR * 3), &path)
        .await
        .unwrap();
    assert_eq!(runs.len(), 3);
    assert_eq!(PipelineState::load(&path).unwrap(), Some(runner.state()));
    drop(runner);

    // The next process picks the file up where the last one stopped.
    let state = PipelineState::load(&path).unwrap().unwrap();
    let mut runner = PipelineRunner::resume(Arc::new(sim.clone()), pipeline, state).unwrap();
    let runs = runner
        .run_until_saving(start.add(HOUR * 5), &path)
        .await
        .unwrap();
    let numbers: Vec<u64> = runs.iter().map(|r| r.number).collect();
    assert_eq!(numbers, [4, 5]);
    assert_eq!(
        runs[0].trigger,
        Trigger::Schedule(ts("2026-01-01T04:00:00Z"))
    );
    assert_eq!(
        PipelineState::load(&path).unwrap().unwrap().history.len(),
        5
    );
    assert_eq!(dir.files(), ["hourly.json"]);
}
