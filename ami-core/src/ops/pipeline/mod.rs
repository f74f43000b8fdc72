//! Image pipelines (build → test → distribute on a schedule) and scheduled reboot-consistent
//! images of running instances.
//!
//! | piece | what it is |
//! |---|---|
//! | [`CronSchedule`] | a 5-field cron expression evaluated on any timestamp (the injectable clock, never the wall clock) |
//! | [`Recipe`] | the parent image ([`ParentSelector`]), ordered [`Component`]s, [`ImageTest`]s |
//! | [`Pipeline`] | recipe + [`Infrastructure`] + distribution + schedule + [`StartCondition`] + auto-disable |
//! | [`PipelineRunner`] | runs it on schedule ([`run_due`](PipelineRunner::run_due), [`run_until`](PipelineRunner::run_until)) or on demand, keeps a [`RunRecord`] history |
//! | [`ImageSchedule`] / [`ImageScheduleRunner`] | scheduled images of tagged instances, with a reboot, with retention |
//! | [`PipelineState`] / [`ImageScheduleState`] | what a runner remembers, saved to a file atomically and resumed after a restart |
//!
//! # What a run guarantees
//!
//! 1. The parent is resolved (the newest matching image, or the pinned one). On a scheduled run
//!    with [`StartCondition::ExpressionMatchAndParentChanged`], a parent equal to the last
//!    successful build's ends the run as [`RunOutcome::SkippedParentUnchanged`].
//! 2. A build instance is launched and waited for; every component runs against it in order,
//!    each within [`Pipeline::step_timeout`].
//! 3. The instance is baked (stopped first, so the image is file-system consistent). The build
//!    instance is terminated whatever happened; a failed component or bake leaves no image and
//!    no snapshot.
//! 4. A test instance is launched from the new image; every test runs; the test instance is
//!    terminated whatever happened. A failed test discards the image and its snapshots, so
//!    nothing is distributed. A tested image gets the [`Pipeline::approval_tag`], if any (the
//!    tag an [`ApprovalPolicy`](crate::ops::govern::ApprovalPolicy) requires).
//! 5. The distribution template (if any, see [`Pipeline::distribution_template`]) is planned
//!    and applied for the new image, the approval tag added to every copy; if it fails, it is
//!    rolled back and the image discarded.
//! 6. The run is recorded with its outcome. After [`Pipeline::auto_disable_after`]
//!    consecutive failures the pipeline disables itself; scheduled runs are then recorded as
//!    [`RunOutcome::SkippedDisabled`] until [`PipelineRunner::enable`].
//!
//! Build and test instances, images and snapshots are tagged with [`TAG_PIPELINE`] and
//! [`TAG_RUN`], so anything a crashed process left behind can be found.
//!
//! # Restarts
//!
//! A runner's memory (enabled or auto-disabled, failures in a row, the last parent built, the
//! last schedule match handled, the history) is a [`PipelineState`] (an
//! [`ImageScheduleState`] for image schedules). Save it after each run (or drive the schedule
//! with [`PipelineRunner::run_until_saving`]) and start the next process with
//! [`PipelineState::load`] and [`PipelineRunner::resume`]: it carries on as if it had never
//! stopped, and missed schedule matches make one run. Saves are atomic (a temporary file,
//! synced, renamed over the old one); a run interrupted before its save runs again.

mod cron;
mod recipe;
mod runner;
mod scheduled;
mod state_file;

pub use cron::{CronError, CronSchedule};
pub use recipe::{
    component_fn, test_fn, Component, FnStep, ImageTest, Infrastructure, ParentSelector, Recipe,
    StepContext,
};
pub use runner::{
    Pipeline, PipelineRunner, PipelineState, RunOutcome, RunRecord, Stage, StartCondition, Trigger,
    TAG_PARENT, TAG_PIPELINE, TAG_ROLE, TAG_RUN,
};
pub use scheduled::{
    ImageSchedule, ImageScheduleRunner, ImageScheduleState, ScheduledImage, ScheduledRun,
    TAG_SCHEDULE,
};
