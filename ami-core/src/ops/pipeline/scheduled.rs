//! Scheduled images of running instances, consistent through a reboot, with retention.
//!
//! AWS Backup and Data Lifecycle Manager take their EC2 images without a reboot by default, so
//! the file systems on them are only crash-consistent: writes still buffered in the guest are
//! missing. An [`ImageSchedule`] bakes every instance matching a tag selector with
//! [`Consistency::Reboot`] (CreateImage reboots the instance, which flushes them), on a cron
//! schedule, and keeps the `keep` newest images per instance: older ones are retired through
//! [`retire`](crate::ops::retire) (deprecated, disabled, then deregistered with their
//! snapshots), unless an instance still runs from them.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::cron::CronSchedule;
use super::state_file::{self, StateFile};
use crate::api::{Connector, DescribeInstancesRequest, Ec2Ext, Filter};
use crate::error::{Error, Result};
use crate::id::{AccountId, ImageId, InstanceId, Region};
use crate::model::InstanceState;
use crate::ops::bake::{bake, BakeRequest, Consistency};
use crate::ops::retire::{
    self, Action, FamilySelector, Reason, RetentionPolicy, RetireOptions, RetireStage,
};
use crate::ops::retry::retry_default;
use crate::ops::wait::WaitOptions;
use crate::rules::validate_image_name;
use crate::time::Timestamp;

/// Tag on every image a schedule makes: the schedule's name. A second tag,
/// `ami:image-schedule/<name>`, holds the source instance and groups the images for retention.
pub const TAG_SCHEDULE: &str = "ami:image-schedule";

/// Which instances a schedule images, where, when, and how many images it keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSchedule {
    /// The name: it prefixes image names and tags every image ([`TAG_SCHEDULE`]).
    pub name: String,
    /// The account of the instances.
    pub account: AccountId,
    /// The Regions to look in.
    pub regions: Vec<Region>,
    /// The instances: those carrying this tag key with this value.
    pub selector: (String, String),
    /// When.
    pub schedule: CronSchedule,
    /// How consistent (default [`Consistency::Reboot`]).
    pub consistency: Consistency,
    /// How many images to keep per instance (at least 1).
    pub keep: usize,
    /// How to wait for images.
    pub wait: WaitOptions,
}

impl ImageSchedule {
    /// Images of the instances tagged `key=value` in `account`/`regions`, rebooted, keeping 7.
    pub fn new(
        name: impl Into<String>,
        account: AccountId,
        regions: impl IntoIterator<Item = Region>,
        key: impl Into<String>,
        value: impl Into<String>,
        schedule: CronSchedule,
    ) -> Self {
        ImageSchedule {
            name: name.into(),
            account,
            regions: regions.into_iter().collect(),
            selector: (key.into(), value.into()),
            schedule,
            consistency: Consistency::Reboot,
            keep: 7,
            wait: WaitOptions::default(),
        }
    }
    /// Sets the consistency.
    pub fn consistency(mut self, c: Consistency) -> Self {
        self.consistency = c;
        self
    }
    /// Sets how many images are kept per instance.
    pub fn keep(mut self, n: usize) -> Self {
        self.keep = n;
        self
    }
    /// Sets the wait options.
    pub fn wait(mut self, w: WaitOptions) -> Self {
        self.wait = w;
        self
    }

    /// Checks the schedule: name usable in image names, `keep` at least 1, a Region.
    pub fn validate(&self) -> Result<()> {
        let sample = format!("{}-i-0123456789abcdef0-20260101000000", self.name);
        validate_image_name(&sample).map_err(|e| {
            Error::workflow(format!(
                "image schedule name {:?} cannot prefix image names ({}); use letters, digits and ()[]./-'@_, at most 90 characters",
                self.name,
                e.message()
            ))
        })?;
        if self.keep == 0 {
            return Err(Error::workflow(format!(
                "image schedule {:?} keeps 0 images, which would delete every image it makes; keep at least 1",
                self.name
            )));
        }
        if self.regions.is_empty() {
            return Err(Error::workflow(format!(
                "image schedule {:?} has no Region; add the Regions of the instances",
                self.name
            )));
        }
        self.wait.validate()
    }
}

/// One instance imaged by a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledImage {
    /// The Region.
    pub region: Region,
    /// The instance.
    pub instance: InstanceId,
    /// The new image.
    pub image: ImageId,
    /// Its consistency tag (`rebooted`, `stopped` or `crash-consistent`).
    pub consistency: String,
}

/// What one run of an [`ImageSchedule`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledRun {
    /// The schedule match it ran for (or the start time, on demand).
    pub at: Timestamp,
    /// When it finished.
    pub finished: Timestamp,
    /// The images made.
    pub images: Vec<ScheduledImage>,
    /// Instances that could not be imaged, with the error.
    pub failures: Vec<(InstanceId, String)>,
    /// Images removed by retention.
    pub retired: Vec<ImageId>,
    /// Images beyond retention kept because an instance runs from them.
    pub kept_in_use: Vec<ImageId>,
    /// Errors of whole Regions or of retention, in order.
    pub errors: Vec<String>,
}

/// Everything an [`ImageScheduleRunner`] remembers between runs: the last schedule match
/// handled and the history. Retention needs nothing from it (it finds the schedule's images
/// by their tags), so images made before a restart are retired by the runs after it.
///
/// Keep it with [`save`](Self::save) after each run; start the next process with
/// [`load`](Self::load) and [`ImageScheduleRunner::resume`] (or [`ImageScheduleRunner::new`]
/// when `load` finds no file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageScheduleState {
    /// The schedule's name ([`ImageSchedule::name`]).
    pub name: String,
    /// The last schedule match handled (or the time the first runner started).
    pub cursor: Timestamp,
    /// Every run, oldest first.
    pub history: Vec<ScheduledRun>,
}

impl StateFile for ImageScheduleState {
    const KIND: &'static str = "image-schedule";
    const WHAT: &'static str = "image schedule state";
}

impl ImageScheduleState {
    /// Writes the state to `path` as JSON, atomically (a temporary file beside it, synced,
    /// then renamed over `path`): a crash leaves the old state or the new one, never a torn
    /// file.
    ///
    /// # Errors
    ///
    /// [`Error::Journal`] naming the path if the file cannot be written; `path` is then
    /// unchanged.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        state_file::save(self, path.as_ref())
    }

    /// Reads a state written by [`save`](Self::save); `Ok(None)` if there is no file at
    /// `path`.
    ///
    /// # Errors
    ///
    /// [`Error::Journal`] naming the path if the file cannot be read, is damaged or truncated,
    /// holds a pipeline's state, or has a format version this library does not read.
    pub fn load(path: impl AsRef<Path>) -> Result<Option<Self>> {
        state_file::load(path.as_ref())
    }
}

/// Runs an [`ImageSchedule`] and keeps its history.
#[derive(Debug)]
pub struct ImageScheduleRunner {
    connector: Arc<dyn Connector>,
    schedule: ImageSchedule,
    state: ImageScheduleState,
}

impl ImageScheduleRunner {
    /// A runner; the schedule counts from the connector clock's "now".
    pub fn new(connector: Arc<dyn Connector>, schedule: ImageSchedule) -> Result<Self> {
        schedule.validate()?;
        let state = ImageScheduleState {
            name: schedule.name.clone(),
            cursor: connector.clock().now(),
            history: Vec::new(),
        };
        Ok(ImageScheduleRunner {
            connector,
            schedule,
            state,
        })
    }

    /// A runner for `schedule` that carries on where `state` left off: a match already handled
    /// is not run again, and missed matches since then make one run. A cursor later than the
    /// clock's "now" is kept as it is.
    ///
    /// # Errors
    ///
    /// What [`new`](Self::new) refuses; `InvalidParameterValue` if the state is of another
    /// schedule (its name differs).
    pub fn resume(
        connector: Arc<dyn Connector>,
        schedule: ImageSchedule,
        state: ImageScheduleState,
    ) -> Result<Self> {
        schedule.validate()?;
        if state.name != schedule.name {
            return Err(Error::from_code(
                "InvalidParameterValue",
                format!(
                    "the state is of image schedule {:?}, not of image schedule {:?}; load the state file of image schedule {:?}, start it afresh with ImageScheduleRunner::new, or, if the schedule was renamed, set the state's name to {:?}",
                    state.name, schedule.name, schedule.name, schedule.name
                ),
            ));
        }
        Ok(ImageScheduleRunner {
            connector,
            schedule,
            state,
        })
    }

    /// What the runner remembers, to [save](ImageScheduleState::save) and
    /// [resume](Self::resume) from.
    pub fn state(&self) -> ImageScheduleState {
        self.state.clone()
    }

    /// Every run so far.
    pub fn history(&self) -> &[ScheduledRun] {
        &self.state.history
    }

    /// The next schedule match.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.schedule.schedule.next_after(self.state.cursor)
    }

    /// Runs once if the schedule matched in `(last handled match, now]`.
    pub async fn run_due(&mut self, now: Timestamp) -> Option<ScheduledRun> {
        let mut due = None;
        while let Some(next) = self.schedule.schedule.next_after(self.state.cursor) {
            if next > now {
                break;
            }
            due = Some(next);
            self.state.cursor = next;
        }
        let at = due?;
        Some(self.execute(at).await)
    }

    /// Sleeps (tokio time) to each match up to `until` and runs it.
    pub async fn run_until(&mut self, until: Timestamp) -> Vec<ScheduledRun> {
        let mut out = Vec::new();
        // Without a state file nothing can fail.
        let _ = self.drive(until, None, &mut out).await;
        out
    }

    /// Like [`run_until`](Self::run_until), keeping the [`state`](Self::state) in the file at
    /// `path`: saved once before anything runs and again after every run.
    ///
    /// # Errors
    ///
    /// The first failed save ([`Error::Journal`] naming the path): the runs made until then
    /// are in [`history`](Self::history).
    pub async fn run_until_saving(
        &mut self,
        until: Timestamp,
        path: impl AsRef<Path>,
    ) -> Result<Vec<ScheduledRun>> {
        let mut out = Vec::new();
        self.drive(until, Some(path.as_ref()), &mut out).await?;
        Ok(out)
    }

    async fn drive(
        &mut self,
        until: Timestamp,
        save_to: Option<&Path>,
        out: &mut Vec<ScheduledRun>,
    ) -> Result<()> {
        let save = |state: &ImageScheduleState| save_to.map_or(Ok(()), |p| state.save(p));
        save(&self.state)?;
        let clock = self.connector.clock();
        while let Some(next) = self.next_due() {
            if next > until {
                break;
            }
            let d = next.since(clock.now());
            if !d.is_zero() {
                tokio::time::sleep(d).await;
            }
            if let Some(r) = self.run_due(clock.now()).await {
                out.push(r);
                save(&self.state)?;
            }
        }
        let d = until.since(clock.now());
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
        Ok(())
    }

    /// Runs now, whatever the schedule.
    pub async fn run_now(&mut self) -> ScheduledRun {
        let now = self.connector.clock().now();
        self.execute(now).await
    }

    async fn execute(&mut self, at: Timestamp) -> ScheduledRun {
        let mut run = ScheduledRun {
            at,
            finished: at,
            images: Vec::new(),
            failures: Vec::new(),
            retired: Vec::new(),
            kept_in_use: Vec::new(),
            errors: Vec::new(),
        };
        for region in self.schedule.regions.clone() {
            if let Err(e) = self.run_region(&region, at, &mut run).await {
                run.errors.push(format!("{region}: {e}"));
            }
        }
        if let Err(e) = self.retain(&mut run).await {
            run.errors.push(format!("retention: {e}"));
        }
        run.finished = self.connector.clock().now();
        self.state.history.push(run.clone());
        run
    }

    async fn run_region(
        &self,
        region: &Region,
        at: Timestamp,
        run: &mut ScheduledRun,
    ) -> Result<()> {
        let s = &self.schedule;
        let ec2 = self.connector.ec2(&s.account, region)?;
        let (key, value) = &s.selector;
        let req = DescribeInstancesRequest::new().filter(Filter::tag(key, value.clone()));
        let instances = retry_default("DescribeInstances", || {
            ec2.describe_all_instances(req.clone())
        })
        .await?;
        let stamp: String = at
            .to_string()
            .chars()
            .filter(char::is_ascii_digit)
            .take(14)
            .collect();
        for inst in instances.iter().filter(|i| {
            // Checked again here: a backend that ignores the filter must not widen the selection.
            i.tags.get(key) == Some(value)
                && matches!(i.state, InstanceState::Running | InstanceState::Stopped)
        }) {
            let req = BakeRequest::new(inst.id.clone(), format!("{}-{}-{stamp}", s.name, inst.id))
                .consistency(s.consistency)
                .description(format!("{} image of {} at {at}", s.name, inst.id))
                .tag(TAG_SCHEDULE, s.name.clone())
                .tag(family_key(&s.name), inst.id.to_string())
                .wait(s.wait.clone());
            match bake(ec2.as_ref(), req).await {
                Ok(b) => run.images.push(ScheduledImage {
                    region: region.clone(),
                    instance: inst.id.clone(),
                    image: b.image.id,
                    consistency: b.consistency_tag.to_owned(),
                }),
                Err(e) => run.failures.push((inst.id.clone(), e.to_string())),
            }
        }
        Ok(())
    }

    /// Keeps the `keep` newest images of each instance; retires the rest through
    /// [`retire`](crate::ops::retire), which leaves alone an image any instance still uses (or
    /// that is shared where usage cannot be checked), and deregisters the others with their
    /// snapshots.
    async fn retain(&self, run: &mut ScheduledRun) -> Result<()> {
        let s = &self.schedule;
        let policy = RetentionPolicy::new(
            FamilySelector::Tag {
                key: family_key(&s.name),
                value: None,
            },
            s.keep,
            [s.account.clone()],
            s.regions.iter().cloned(),
        );
        let plan = retire::plan(self.connector.as_ref(), &policy).await?;
        for d in &plan.decisions {
            let in_use = d.reasons.iter().any(|r| matches!(r, Reason::InUse { .. }));
            let beyond = !d
                .reasons
                .iter()
                .any(|r| matches!(r, Reason::AmongNewest { .. }));
            if d.action == Action::Keep && in_use && beyond {
                run.kept_in_use.push(d.image_id.clone());
            }
        }
        if plan.to_retire().next().is_none() {
            return Ok(());
        }
        let outcome =
            retire::apply(self.connector.as_ref(), &plan, &RetireOptions::default()).await?;
        for r in outcome.images {
            match r.skipped {
                None if r.stages.contains(&RetireStage::Deregister) => run.retired.push(r.image_id),
                None => {}
                Some(why) if why.contains("in use") => run.kept_in_use.push(r.image_id),
                Some(why) => run.errors.push(format!("retiring {}: {why}", r.image_id)),
            }
        }
        Ok(())
    }
}

/// The tag key whose value (the source instance) groups a schedule's images into families.
fn family_key(schedule: &str) -> String {
    format!("{TAG_SCHEDULE}/{schedule}")
}
