//! Running a [`Pipeline`]: on its schedule in (virtual) time, or on demand, with a history.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::cron::CronSchedule;
use super::recipe::{Infrastructure, ParentSelector, Recipe, StepContext};
use super::state_file::{self, StateFile};
use crate::api::{Connector, Ec2, RunInstancesRequest};
use crate::error::{Error, Result};
use crate::id::{AccountId, ImageId, InstanceId, Region};
use crate::model::{Image, InstanceState};
use crate::ops::bake::{bake, BakeRequest, Consistency};
use crate::ops::distribute::{self, DistributeOptions, DistributionSpec, Manifest, SourceImage};
use crate::ops::journal::MemoryJournal;
use crate::ops::retry::retry_default;
use crate::ops::wait::{discard_image, wait_for_instance_state, WaitOptions};
use crate::rules::validate_image_name;
use crate::time::Timestamp;

/// Tag on build and test instances, images and snapshots: the pipeline's name.
pub const TAG_PIPELINE: &str = "ami:pipeline";
/// Tag on build and test instances, images and snapshots: the run number.
pub const TAG_RUN: &str = "ami:pipeline-run";
/// Tag on build and test instances: `build` or `test`.
pub const TAG_ROLE: &str = "ami:pipeline-role";
/// Tag on images: the parent image the build started from.
pub const TAG_PARENT: &str = "ami:parent-image";

/// The default time limit of one component or test.
const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(2 * 3600);

/// When a scheduled run builds (AWS Image Builder's `pipelineExecutionStartCondition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum StartCondition {
    /// Build at every schedule match.
    ExpressionMatchOnly,
    /// Build at a schedule match only if the parent image changed since the last successful
    /// build (the default, as on Image Builder).
    #[default]
    ExpressionMatchAndParentChanged,
}

/// A pipeline: recipe + infrastructure + distribution + schedule, in one account and Region.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// The name: it prefixes image names, so it follows AMI name rules.
    pub name: String,
    /// The account that builds (and owns the images).
    pub account: AccountId,
    /// The build Region.
    pub region: Region,
    /// What to build.
    pub recipe: Recipe,
    /// Build and test instances.
    pub infrastructure: Infrastructure,
    /// Where to distribute a tested image: a template whose source is replaced by the new
    /// image at each run. `None`: the image stays in the build Region only.
    pub distribution: Option<DistributionSpec>,
    /// How the distribution runs.
    pub distribute_options: DistributeOptions,
    /// When to run; `None`: only on demand.
    pub schedule: Option<CronSchedule>,
    /// Whether a scheduled run builds only when the parent changed.
    pub start_condition: StartCondition,
    /// Disable the pipeline after this many consecutive failed runs.
    pub auto_disable_after: Option<u32>,
    /// How to wait for instances and images.
    pub wait: WaitOptions,
    /// The longest one component or one test may run before it counts as failed
    /// (`None`: no limit). Default: 2 hours.
    pub step_timeout: Option<Duration>,
    /// A tag put on the image (and on every distributed copy) once its tests pass, e.g.
    /// `Approved=true` for an [`ApprovalPolicy`](crate::ops::govern::ApprovalPolicy) that
    /// requires it. The principal running the pipeline must be allowed to set it, and the build
    /// account must not deny launches of untagged images, or the test instance cannot start.
    pub approval_tag: Option<(String, String)>,
}

impl Pipeline {
    /// A pipeline named `name` in `account`/`region` building `recipe` on demand only.
    pub fn new(
        name: impl Into<String>,
        account: AccountId,
        region: Region,
        recipe: Recipe,
    ) -> Self {
        Pipeline {
            name: name.into(),
            account,
            region,
            recipe,
            infrastructure: Infrastructure::default(),
            distribution: None,
            distribute_options: DistributeOptions::default(),
            schedule: None,
            start_condition: StartCondition::default(),
            auto_disable_after: None,
            wait: WaitOptions::default(),
            step_timeout: Some(DEFAULT_STEP_TIMEOUT),
            approval_tag: None,
        }
    }

    /// A distribution template for this pipeline: its source is the pipeline's account and
    /// Region (the image id is filled in by each run). Add Regions, keys, accounts, launch
    /// permissions, then pass it to [`distribution`](Self::distribution).
    pub fn distribution_template(&self) -> DistributionSpec {
        DistributionSpec::new(
            self.account.clone(),
            self.region.clone(),
            ImageId::from_u128(0),
        )
    }
    /// Sets the time limit of each component and test (`None`: no limit).
    pub fn step_timeout(mut self, t: Option<Duration>) -> Self {
        self.step_timeout = t;
        self
    }
    /// Tags the image and its distributed copies `key=value` once the tests pass.
    pub fn approval_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.approval_tag = Some((key.into(), value.into()));
        self
    }
    /// Sets the infrastructure.
    pub fn infrastructure(mut self, i: Infrastructure) -> Self {
        self.infrastructure = i;
        self
    }
    /// Sets the distribution template (its source is replaced at each run).
    pub fn distribution(mut self, d: DistributionSpec) -> Self {
        self.distribution = Some(d);
        self
    }
    /// Sets the schedule.
    pub fn schedule(mut self, s: CronSchedule) -> Self {
        self.schedule = Some(s);
        self
    }
    /// Sets the start condition.
    pub fn start_condition(mut self, c: StartCondition) -> Self {
        self.start_condition = c;
        self
    }
    /// Disables the pipeline after `n` consecutive failures.
    pub fn auto_disable_after(mut self, n: u32) -> Self {
        self.auto_disable_after = Some(n);
        self
    }
    /// Sets the wait options.
    pub fn wait(mut self, w: WaitOptions) -> Self {
        self.wait = w;
        self
    }

    /// Checks the pipeline before any run: the name makes valid image names, the auto-disable
    /// count is at least 1, the wait options are valid.
    pub fn validate(&self) -> Result<()> {
        // The longest name a run produces: "<name>-<14 digits>-<run>".
        validate_image_name(&format!("{}-20260101000000-1", self.name)).map_err(|e| {
            Error::workflow(format!(
                "pipeline name {:?} cannot prefix image names ({}); use 3 to 100 letters, digits and ()[]./-'@_",
                self.name,
                e.message()
            ))
        })?;
        if self.name.chars().count() > 100 {
            return Err(Error::workflow(format!(
                "pipeline name {:?} is {} characters; use at most 100 so image names stay within 128",
                self.name,
                self.name.chars().count()
            )));
        }
        if let Some((k, v)) = &self.approval_tag {
            if k.is_empty()
                || k.chars().count() > 128
                || k.starts_with("aws:")
                || v.chars().count() > 256
            {
                return Err(Error::workflow(format!(
                    "approval tag {k:?}={v:?} is not a valid tag: use a key of 1 to 128 characters not starting with \"aws:\" and a value of at most 256"
                )));
            }
        }
        if let ParentSelector::Newest {
            name_pattern,
            owners,
        } = &self.recipe.parent
        {
            if owners.is_empty() {
                return Err(Error::workflow(format!(
                    "the parent selector {name_pattern:?} names no owner, so any public image with a matching name could become the parent; name the owners (e.g. amazon, self or an account id)"
                )));
            }
        }
        if self.step_timeout == Some(Duration::ZERO) {
            return Err(Error::workflow(
                "step_timeout is zero, which would fail every component and test; give a positive limit or None",
            ));
        }
        if self.auto_disable_after == Some(0) {
            return Err(Error::workflow(
                "auto_disable_after is 0, which would disable the pipeline before any run; use 1 or more, or None",
            ));
        }
        self.wait.validate()
    }
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trigger {
    /// The schedule matched at this time.
    Schedule(Timestamp),
    /// Started on demand.
    Manual,
}

/// The stage a run failed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stage {
    /// Resolving the parent image.
    Parent,
    /// Launching the build instance.
    Launch,
    /// Running a component (its name).
    Component(String),
    /// Creating the image.
    Bake,
    /// Launching the test instance.
    TestLaunch,
    /// Running a test (its name).
    Test(String),
    /// Tagging the tested image as approved.
    Approve,
    /// Distributing.
    Distribute,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Parent => f.write_str("parent image"),
            Stage::Launch => f.write_str("build instance launch"),
            Stage::Component(n) => write!(f, "component {n}"),
            Stage::Bake => f.write_str("image creation"),
            Stage::TestLaunch => f.write_str("test instance launch"),
            Stage::Test(n) => write!(f, "test {n}"),
            Stage::Approve => f.write_str("approval tag"),
            Stage::Distribute => f.write_str("distribution"),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunOutcome {
    /// Built, tested and distributed.
    Succeeded {
        /// The image in the build Region.
        image: ImageId,
        /// The distribution's manifest (`None` without a distribution).
        manifest: Option<Manifest>,
    },
    /// Not built: the parent image is the one of the last successful build.
    SkippedParentUnchanged,
    /// Not run: the pipeline is disabled.
    SkippedDisabled,
    /// Failed; the build and test instances are terminated and the image, its snapshots and
    /// any distributed copies are removed.
    Failed {
        /// Where.
        stage: Stage,
        /// The error code ([`Error::code`]).
        code: String,
        /// The error message.
        message: String,
    },
}

impl RunOutcome {
    /// Whether the run succeeded.
    pub fn is_success(&self) -> bool {
        matches!(self, RunOutcome::Succeeded { .. })
    }
    /// Whether the run failed.
    pub fn is_failure(&self) -> bool {
        matches!(self, RunOutcome::Failed { .. })
    }
}

/// One run of a pipeline, as kept in its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run number (1-based, counting every run including skipped ones).
    pub number: u64,
    /// What started it.
    pub trigger: Trigger,
    /// When it started.
    pub started: Timestamp,
    /// When it ended.
    pub finished: Timestamp,
    /// The parent image, once resolved.
    pub parent: Option<ImageId>,
    /// The build and test instances it launched (all terminated by the end of the run).
    pub instances: Vec<InstanceId>,
    /// How it ended.
    pub outcome: RunOutcome,
    /// Cleanup that did not succeed (empty when everything was removed).
    pub cleanup_errors: Vec<String>,
    /// Whether this run disabled the pipeline (auto-disable after consecutive failures).
    pub disabled_pipeline: bool,
}

/// Everything a [`PipelineRunner`] remembers between runs, so a restarted process carries on
/// where the last one stopped: whether the pipeline is enabled (it may have disabled itself),
/// the failures since the last success, the parent of the last successful build (for
/// [`StartCondition::ExpressionMatchAndParentChanged`]), the last schedule match handled, and
/// the history (whose last run number the next run continues from).
///
/// Take it with [`PipelineRunner::state`] after each run, keep it with [`save`](Self::save),
/// and start the next process with [`load`](Self::load) and [`PipelineRunner::resume`]:
///
/// ```no_run
/// # use std::sync::Arc;
/// # use ami_core::ops::pipeline::{Pipeline, PipelineRunner, PipelineState};
/// # async fn service(connector: Arc<dyn ami_core::Connector>, pipeline: Pipeline) -> ami_core::Result<()> {
/// let path = std::path::Path::new("state/golden.json");
/// let mut runner = match PipelineState::load(path)? {
///     Some(state) => PipelineRunner::resume(connector.clone(), pipeline, state)?,
///     None => PipelineRunner::new(connector.clone(), pipeline)?,
/// };
/// loop {
///     let now = connector.clock().now();
///     if runner.run_due(now).await.is_some() {
///         runner.state().save(path)?;
///     }
///     let Some(next) = runner.next_due() else { break };
///     tokio::time::sleep(next.since(connector.clock().now())).await;
/// }
/// # Ok(())
/// # }
/// ```
///
/// A process that stops in the middle of a run, before saving, runs that schedule match again
/// after the restart (the build instances of the interrupted run carry [`TAG_PIPELINE`] and
/// [`TAG_RUN`], so they can be found).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineState {
    /// The pipeline's name ([`Pipeline::name`]).
    pub name: String,
    /// Whether scheduled runs happen.
    pub enabled: bool,
    /// Failed runs since the last success.
    pub consecutive_failures: u32,
    /// The parent image of the last successful build.
    pub last_built_parent: Option<ImageId>,
    /// The last schedule match handled (or the time the first runner started).
    pub cursor: Timestamp,
    /// Every run, oldest first.
    pub history: Vec<RunRecord>,
}

impl StateFile for PipelineState {
    const KIND: &'static str = "pipeline";
    const WHAT: &'static str = "pipeline state";
}

impl PipelineState {
    /// Writes the state to `path` as JSON, atomically: a temporary file beside it is written,
    /// synced to disk and renamed over `path`, so a crash leaves the old state or the new one,
    /// never a torn file.
    ///
    /// # Errors
    ///
    /// [`Error::Journal`] naming the path if the file cannot be written (for instance the
    /// directory does not exist); `path` is then unchanged.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        state_file::save(self, path.as_ref())
    }

    /// Reads a state written by [`save`](Self::save). `Ok(None)` if there is no file at
    /// `path` (the pipeline has not run yet: start it with [`PipelineRunner::new`]).
    ///
    /// # Errors
    ///
    /// [`Error::Journal`] naming the path if the file cannot be read, is not valid JSON of a
    /// pipeline state (damaged, truncated), holds an image schedule's state, or has a format
    /// version this library does not read.
    pub fn load(path: impl AsRef<Path>) -> Result<Option<Self>> {
        state_file::load(path.as_ref())
    }

    /// The number the next run gets: one more than the last recorded run.
    fn next_number(&self) -> u64 {
        self.history.last().map_or(1, |r| r.number + 1)
    }
}

/// Runs a [`Pipeline`] and keeps its history.
///
/// Runs are sequential: [`run_due`](Self::run_due) and [`run_until`](Self::run_until) start at
/// most one run per call to catch up with missed schedule matches (as cron does), so a
/// pipeline that was stopped for a week builds once, not seven times.
///
/// Its memory ([`PipelineState`]) can be saved and a later process [resumed](Self::resume)
/// from it.
#[derive(Debug)]
pub struct PipelineRunner {
    connector: Arc<dyn Connector>,
    pipeline: Pipeline,
    state: PipelineState,
}

impl PipelineRunner {
    /// A runner for `pipeline`; its schedule counts from the connector clock's "now".
    pub fn new(connector: Arc<dyn Connector>, pipeline: Pipeline) -> Result<Self> {
        pipeline.validate()?;
        let cursor = connector.clock().now();
        let state = PipelineState {
            name: pipeline.name.clone(),
            enabled: true,
            consecutive_failures: 0,
            last_built_parent: None,
            cursor,
            history: Vec::new(),
        };
        Ok(PipelineRunner {
            connector,
            pipeline,
            state,
        })
    }

    /// A runner for `pipeline` that carries on where `state` left off: the enabled flag, the
    /// consecutive failures, the last parent built, the schedule position (a match already
    /// handled is not run again; missed matches since then make one run, as in
    /// [`run_due`](Self::run_due)) and the run numbers. A cursor later than the clock's "now"
    /// is kept as it is: the next run is the first match after it.
    ///
    /// # Errors
    ///
    /// What [`new`](Self::new) refuses; `InvalidParameterValue` if the state is of another
    /// pipeline (its name differs) or its history's run numbers do not increase.
    pub fn resume(
        connector: Arc<dyn Connector>,
        pipeline: Pipeline,
        state: PipelineState,
    ) -> Result<Self> {
        pipeline.validate()?;
        if state.name != pipeline.name {
            return Err(Error::from_code(
                "InvalidParameterValue",
                format!(
                    "the state is of pipeline {:?}, not of pipeline {:?}; load the state file of pipeline {:?}, start it afresh with PipelineRunner::new, or, if the pipeline was renamed, set the state's name to {:?}",
                    state.name, pipeline.name, pipeline.name, pipeline.name
                ),
            ));
        }
        if let Some(w) = state
            .history
            .windows(2)
            .find(|w| w[1].number <= w[0].number)
        {
            return Err(Error::from_code(
                "InvalidParameterValue",
                format!(
                    "the state of pipeline {:?} records run {} after run {}, so run numbers would repeat; restore the state from a copy or remove the out-of-order records",
                    state.name, w[1].number, w[0].number
                ),
            ));
        }
        Ok(PipelineRunner {
            connector,
            pipeline,
            state,
        })
    }

    /// What the runner remembers, to [save](PipelineState::save) and
    /// [resume](Self::resume) from.
    pub fn state(&self) -> PipelineState {
        self.state.clone()
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Every run so far, oldest first.
    pub fn history(&self) -> &[RunRecord] {
        &self.state.history
    }

    /// Whether scheduled runs happen.
    pub fn is_enabled(&self) -> bool {
        self.state.enabled
    }

    /// Enables the pipeline again and forgets the consecutive failures.
    pub fn enable(&mut self) {
        self.state.enabled = true;
        self.state.consecutive_failures = 0;
    }

    /// Disables the pipeline: scheduled runs are skipped (and recorded as such).
    pub fn disable(&mut self) {
        self.state.enabled = false;
    }

    /// Failed runs since the last success.
    pub fn consecutive_failures(&self) -> u32 {
        self.state.consecutive_failures
    }

    /// The next schedule match after the last one handled.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.pipeline
            .schedule
            .as_ref()
            .and_then(|s| s.next_after(self.state.cursor))
    }

    /// Runs the pipeline once if the schedule matched in `(last handled match, now]`; returns
    /// the record of that run, if any.
    pub async fn run_due(&mut self, now: Timestamp) -> Option<RunRecord> {
        let schedule = self.pipeline.schedule.clone()?;
        let mut due = None;
        while let Some(next) = schedule.next_after(self.state.cursor) {
            if next > now {
                break;
            }
            due = Some(next);
            self.state.cursor = next;
        }
        let at = due?;
        let record = if self.state.enabled {
            self.execute(Trigger::Schedule(at), true).await
        } else {
            self.skip(Trigger::Schedule(at), RunOutcome::SkippedDisabled)
        };
        Some(record)
    }

    /// Drives the schedule until `until`: sleeps (tokio time: virtual on the simulator) to each
    /// match and runs it. Returns the records of the runs it made, oldest first.
    pub async fn run_until(&mut self, until: Timestamp) -> Vec<RunRecord> {
        let mut out = Vec::new();
        // Without a state file nothing can fail.
        let _ = self.drive(until, None, &mut out).await;
        out
    }

    /// Like [`run_until`](Self::run_until), keeping the [`state`](Self::state) in the file at
    /// `path`: saved once before anything runs (so a wrong path is found before any build,
    /// and a new runner's schedule position is kept) and again after every run.
    ///
    /// # Errors
    ///
    /// The first failed save ([`Error::Journal`] naming the path): the runs made until then
    /// are in [`history`](Self::history), and the file holds the state before the run whose
    /// save failed.
    pub async fn run_until_saving(
        &mut self,
        until: Timestamp,
        path: impl AsRef<Path>,
    ) -> Result<Vec<RunRecord>> {
        let mut out = Vec::new();
        self.drive(until, Some(path.as_ref()), &mut out).await?;
        Ok(out)
    }

    async fn drive(
        &mut self,
        until: Timestamp,
        save_to: Option<&Path>,
        out: &mut Vec<RunRecord>,
    ) -> Result<()> {
        let save = |state: &PipelineState| save_to.map_or(Ok(()), |p| state.save(p));
        save(&self.state)?;
        let clock = self.connector.clock();
        while let Some(next) = self.next_due() {
            if next > until {
                break;
            }
            sleep_until(clock.now(), next).await;
            if let Some(r) = self.run_due(clock.now()).await {
                out.push(r);
                save(&self.state)?;
            }
        }
        sleep_until(clock.now(), until).await;
        Ok(())
    }

    /// Runs the pipeline now, whatever the schedule, the start condition or the enabled state.
    pub async fn run_now(&mut self) -> RunRecord {
        self.execute(Trigger::Manual, false).await
    }

    fn skip(&mut self, trigger: Trigger, outcome: RunOutcome) -> RunRecord {
        let now = self.connector.clock().now();
        let record = RunRecord {
            number: self.state.next_number(),
            trigger,
            started: now,
            finished: now,
            parent: None,
            instances: Vec::new(),
            outcome,
            cleanup_errors: Vec::new(),
            disabled_pipeline: false,
        };
        self.state.history.push(record.clone());
        record
    }

    async fn execute(&mut self, trigger: Trigger, scheduled: bool) -> RunRecord {
        let clock = self.connector.clock();
        let mut run = Run {
            pipeline: &self.pipeline,
            connector: self.connector.as_ref(),
            number: self.state.next_number(),
            record_parent: None,
            instances: Vec::new(),
            live: Vec::new(),
            cleanup_errors: Vec::new(),
        };
        let started = clock.now();
        tracing::info!(
            pipeline = self.pipeline.name.as_str(),
            run = run.number,
            "pipeline run starting"
        );
        let skip_if_parent = (scheduled
            && self.pipeline.start_condition == StartCondition::ExpressionMatchAndParentChanged)
            .then(|| self.state.last_built_parent.clone())
            .flatten();
        let outcome = run.go(skip_if_parent.as_ref(), started).await;
        let parent = run.record_parent.clone();
        let instances = run.instances.clone();
        let cleanup_errors = run.cleanup_errors.clone();
        let mut disabled_pipeline = false;
        match &outcome {
            RunOutcome::Succeeded { .. } => {
                self.state.consecutive_failures = 0;
                self.state.last_built_parent = parent.clone();
            }
            RunOutcome::Failed { .. } => {
                self.state.consecutive_failures += 1;
                if let Some(n) = self.pipeline.auto_disable_after {
                    if self.state.consecutive_failures >= n && self.state.enabled {
                        self.state.enabled = false;
                        disabled_pipeline = true;
                        tracing::warn!(
                            pipeline = self.pipeline.name.as_str(),
                            failures = n,
                            "pipeline disabled after consecutive failures"
                        );
                    }
                }
            }
            RunOutcome::SkippedParentUnchanged | RunOutcome::SkippedDisabled => {}
        }
        let record = RunRecord {
            number: self.state.next_number(),
            trigger,
            started,
            finished: clock.now(),
            parent,
            instances,
            outcome,
            cleanup_errors,
            disabled_pipeline,
        };
        tracing::info!(pipeline = self.pipeline.name.as_str(), run = record.number, outcome = ?record.outcome, "pipeline run finished");
        self.state.history.push(record.clone());
        record
    }
}

/// Runs one component or test within the step time limit.
async fn within(
    limit: Option<Duration>,
    name: &str,
    step: impl std::future::Future<Output = Result<()>>,
) -> Result<()> {
    match limit {
        None => step.await,
        Some(d) => match tokio::time::timeout(d, step).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout {
                what: format!("step {name} to finish"),
                waited: d,
            }),
        },
    }
}

async fn sleep_until(now: Timestamp, at: Timestamp) {
    let d: Duration = at.since(now);
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

/// The state of one run, for cleanup.
struct Run<'a> {
    pipeline: &'a Pipeline,
    connector: &'a dyn Connector,
    number: u64,
    record_parent: Option<ImageId>,
    /// Every instance launched (for the record).
    instances: Vec<InstanceId>,
    /// Instances launched and not yet terminated.
    live: Vec<InstanceId>,
    cleanup_errors: Vec<String>,
}

fn failed(stage: Stage, e: &Error) -> RunOutcome {
    RunOutcome::Failed {
        stage,
        code: e.code().to_owned(),
        message: e.message(),
    }
}

impl Run<'_> {
    async fn go(&mut self, skip_if_parent: Option<&ImageId>, started: Timestamp) -> RunOutcome {
        let ec2 = match self
            .connector
            .ec2(&self.pipeline.account, &self.pipeline.region)
        {
            Ok(c) => c,
            Err(e) => return failed(Stage::Parent, &e),
        };
        let parent = match self.pipeline.recipe.parent.resolve(ec2.as_ref()).await {
            Ok(p) => p,
            Err(e) => return failed(Stage::Parent, &e),
        };
        self.record_parent = Some(parent.id.clone());
        if skip_if_parent == Some(&parent.id) {
            return RunOutcome::SkippedParentUnchanged;
        }

        // Build: launch, customize, bake; the build instance is terminated whatever happens.
        let built = self.build(&ec2, &parent, started).await;
        let image = match built {
            Ok(img) => img,
            Err(outcome) => return outcome,
        };

        // Test: a failed test discards the image, so nothing is left and nothing distributed.
        if let Err(outcome) = self.test(&ec2, &parent, &image).await {
            self.discard(ec2.as_ref(), &image.id).await;
            return outcome;
        }

        // Approve.
        if let Some((k, v)) = &self.pipeline.approval_tag {
            let mut tags = crate::model::Tags::new();
            tags.insert(k.clone(), v.clone());
            let res = retry_default("CreateTags", || {
                ec2.create_tags(vec![image.id.clone().into()], tags.clone())
            })
            .await;
            if let Err(e) = res {
                self.discard(ec2.as_ref(), &image.id).await;
                return failed(Stage::Approve, &e);
            }
        }

        // Distribute.
        let manifest = match &self.pipeline.distribution {
            None => None,
            Some(template) => match self.distribute(template, &image).await {
                Ok(m) => Some(m),
                Err(outcome) => {
                    self.discard(ec2.as_ref(), &image.id).await;
                    return outcome;
                }
            },
        };
        RunOutcome::Succeeded {
            image: image.id,
            manifest,
        }
    }

    fn instance_request(&self, image: &ImageId, role: &str) -> RunInstancesRequest {
        let mut req = RunInstancesRequest::new(image.clone())
            .instance_type(self.pipeline.infrastructure.instance_type.clone());
        for (k, v) in &self.pipeline.infrastructure.tags {
            req = req.tag(k.clone(), v.clone());
        }
        req.tag(TAG_PIPELINE, self.pipeline.name.clone())
            .tag(TAG_RUN, self.number.to_string())
            .tag(TAG_ROLE, role)
    }

    /// Launches one instance and waits until it runs. A launched instance is recorded (for
    /// termination) before anything else can fail.
    async fn launch(
        &mut self,
        ec2: &dyn Ec2,
        req: RunInstancesRequest,
    ) -> Result<crate::model::Instance> {
        let launched = ec2.run_instances(req).await?;
        self.instances.extend(launched.iter().map(|i| i.id.clone()));
        self.live.extend(launched.iter().map(|i| i.id.clone()));
        let first = launched.into_iter().next().ok_or_else(|| {
            Error::workflow("RunInstances returned no instance; nothing was launched")
        })?;
        wait_for_instance_state(ec2, &first.id, InstanceState::Running, &self.pipeline.wait).await
    }

    async fn build(
        &mut self,
        ec2: &Arc<dyn Ec2>,
        parent: &Image,
        started: Timestamp,
    ) -> std::result::Result<Image, RunOutcome> {
        let req = self.instance_request(&parent.id, "build");
        let instance = match self.launch(ec2.as_ref(), req).await {
            Ok(i) => i,
            Err(e) => {
                self.terminate_all(ec2.as_ref()).await;
                return Err(failed(Stage::Launch, &e));
            }
        };
        let ctx = StepContext {
            ec2: Arc::clone(ec2),
            instance: instance.clone(),
            parent: parent.clone(),
            image: None,
            pipeline: self.pipeline.name.clone(),
            run: self.number,
        };
        for c in &self.pipeline.recipe.components {
            if let Err(e) = within(self.pipeline.step_timeout, c.name(), c.apply(&ctx)).await {
                self.terminate_all(ec2.as_ref()).await;
                return Err(failed(Stage::Component(c.name().to_owned()), &e));
            }
        }
        let stamp: String = started
            .to_string()
            .chars()
            .filter(char::is_ascii_digit)
            .take(14)
            .collect();
        let mut req = BakeRequest::new(
            instance.id.clone(),
            format!("{}-{stamp}-{}", self.pipeline.name, self.number),
        )
        .consistency(Consistency::StopFirst)
        .description(format!(
            "{} run {} from {}",
            self.pipeline.name, self.number, parent.id
        ))
        .tag(TAG_PIPELINE, self.pipeline.name.clone())
        .tag(TAG_RUN, self.number.to_string())
        .tag(TAG_PARENT, parent.id.to_string())
        .wait(self.pipeline.wait.clone());
        for (k, v) in &self.pipeline.infrastructure.tags {
            req = req.tag(k.clone(), v.clone());
        }
        // The bake discards a failed image and its snapshots itself.
        let baked = bake(ec2.as_ref(), req).await;
        self.terminate_all(ec2.as_ref()).await;
        match baked {
            Ok(b) => Ok(b.image),
            Err(e) => {
                // A bake that failed after CreateImage was accepted may leave a pending image
                // tagged with the run: remove it too.
                self.discard_run_images(ec2.as_ref()).await;
                Err(failed(Stage::Bake, &e))
            }
        }
    }

    async fn test(
        &mut self,
        ec2: &Arc<dyn Ec2>,
        parent: &Image,
        image: &Image,
    ) -> std::result::Result<(), RunOutcome> {
        if self.pipeline.recipe.tests.is_empty() {
            return Ok(());
        }
        let req = self.instance_request(&image.id, "test");
        let instance = match self.launch(ec2.as_ref(), req).await {
            Ok(i) => i,
            Err(e) => {
                self.terminate_all(ec2.as_ref()).await;
                return Err(failed(Stage::TestLaunch, &e));
            }
        };
        let ctx = StepContext {
            ec2: Arc::clone(ec2),
            instance,
            parent: parent.clone(),
            image: Some(image.clone()),
            pipeline: self.pipeline.name.clone(),
            run: self.number,
        };
        let mut result = Ok(());
        for t in &self.pipeline.recipe.tests {
            if let Err(e) = within(self.pipeline.step_timeout, t.name(), t.check(&ctx)).await {
                result = Err(failed(Stage::Test(t.name().to_owned()), &e));
                break;
            }
        }
        self.terminate_all(ec2.as_ref()).await;
        result
    }

    async fn distribute(
        &mut self,
        template: &DistributionSpec,
        image: &Image,
    ) -> std::result::Result<Manifest, RunOutcome> {
        let mut spec = template.clone();
        spec.source = SourceImage {
            account: self.pipeline.account.clone(),
            region: self.pipeline.region.clone(),
            image_id: image.id.clone(),
        };
        spec.run_id = Some(format!("{}-{}", self.pipeline.name, self.number));
        if let Some((k, v)) = &self.pipeline.approval_tag {
            spec.tags.insert(k.clone(), v.clone());
        }
        let opts = &self.pipeline.distribute_options;
        let plan = match distribute::plan(self.connector, &spec).await {
            Ok(p) => p,
            Err(e) => return Err(failed(Stage::Distribute, &e)),
        };
        let journal = MemoryJournal::new();
        match distribute::apply(self.connector, &plan, &journal, opts).await {
            Ok(m) => Ok(m),
            Err(e) => {
                if let Err(rb) = distribute::rollback(self.connector, &journal, opts).await {
                    self.cleanup_errors
                        .push(format!("rolling back the distribution failed: {rb}"));
                }
                Err(failed(Stage::Distribute, &e))
            }
        }
    }

    /// Terminates every instance the run launched that is not terminated yet.
    async fn terminate_all(&mut self, ec2: &dyn Ec2) {
        let ids = std::mem::take(&mut self.live);
        if !ids.is_empty() {
            let res = retry_default("TerminateInstances", || {
                ec2.terminate_instances(ids.clone())
            })
            .await;
            if let Err(e) = res {
                self.cleanup_errors.push(format!(
                    "terminating {} failed ({e}); terminate them by hand",
                    ids.iter()
                        .map(|i| i.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }

    async fn discard(&mut self, ec2: &dyn Ec2, image: &ImageId) {
        if let Err(e) = discard_image(ec2, image).await {
            self.cleanup_errors.push(format!(
                "discarding image {image} failed ({e}); deregister it and delete its snapshots by hand"
            ));
        }
    }

    /// Discards every image of this run still registered (tagged with the pipeline and run).
    async fn discard_run_images(&mut self, ec2: &dyn Ec2) {
        use crate::api::{DescribeImagesRequest, Ec2Ext, Filter, Owner};
        let req = DescribeImagesRequest::new()
            .owner(Owner::SelfAccount)
            .filter(Filter::tag(TAG_PIPELINE, self.pipeline.name.clone()))
            .filter(Filter::tag(TAG_RUN, self.number.to_string()))
            .include_disabled(true)
            .include_deprecated(true);
        match retry_default("DescribeImages", || ec2.describe_all_images(req.clone())).await {
            Ok(images) => {
                let run = self.number.to_string();
                let ours: Vec<ImageId> = images
                    .into_iter()
                    .filter(|i| {
                        i.tags.get(TAG_PIPELINE) == Some(&self.pipeline.name)
                            && i.tags.get(TAG_RUN) == Some(&run)
                    })
                    .map(|i| i.id)
                    .collect();
                for id in ours {
                    self.discard(ec2, &id).await;
                }
            }
            Err(e) => self.cleanup_errors.push(format!(
                "looking for images left by run {} failed ({e}); check for images tagged {TAG_PIPELINE}={} {TAG_RUN}={}",
                self.number, self.pipeline.name, self.number
            )),
        }
    }
}
