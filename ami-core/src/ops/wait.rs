//! Waiting until an image is `available` (or an instance reaches a state): exponential backoff
//! with seeded jitter, one overall deadline, fail fast on terminal states.
//!
//! ```
//! use std::time::Duration;
//! use ami_core::ops::wait::WaitOptions;
//!
//! let opts = WaitOptions::default()
//!     .initial_delay(Duration::from_secs(5))
//!     .max_delay(Duration::from_secs(60))
//!     .timeout(Duration::from_secs(3 * 3600))
//!     .confirmations(2)
//!     .seed(42);
//! assert!(opts.validate().is_ok());
//! assert!(WaitOptions::default().multiplier(0.5).validate().is_err());
//! ```
//!
//! # Behaviour
//!
//! - Polls with delays `initial_delay × multiplier^n`, capped at `max_delay`, each shortened by a
//!   random fraction up to `jitter` drawn from a ChaCha RNG seeded with `seed` and the resource
//!   id (so many waits started together do not poll in lockstep, and a run is reproducible).
//! - Gives up with [`Error::Timeout`] once `timeout` has passed since the wait started; no call
//!   outlives the deadline.
//! - An image in `failed` ends the wait at once with [`Error::ImageFailed`] carrying AWS's state
//!   reason; `deregistered`, `disabled`, `invalid` and `error` end it too.
//! - `NotFound` is tolerated for `not_found_grace` after the wait started (a new id may not have
//!   propagated yet: EC2 is eventually consistent); afterwards it is returned.
//! - Retryable errors (throttling, internal errors) are retried until the deadline.
//! - `confirmations` consecutive `available` answers are required before returning (guards
//!   against a stale read from one endpoint).
//! - Progress is reported as `tracing` events (target `ami_core::ops::wait`).
//! - Cancellation-safe: the wait only reads, so dropping its future at any point leaves nothing
//!   behind.

use std::future::Future;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use std::collections::BTreeSet;

use crate::api::{DeregisterImageRequest, DescribeSnapshotsRequest, Ec2, Ec2Ext, Filter};
use crate::error::{Error, Result, ServiceError};
use crate::id::{ImageId, InstanceId, SnapshotId};
use crate::model::{
    DeleteSnapshotOutcome, Image, ImageState, Instance, InstanceState, StateReason,
};

use super::retry::{retry_default, stable_hash};

/// The longest deadline a wait accepts (30 days).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(30 * 86_400);

/// How to wait: backoff, jitter, deadline, grace window and confirmations.
///
/// Build it from [`WaitOptions::default`] with the setters; [`validate`](Self::validate) checks
/// it (every waiter calls it first).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WaitOptions {
    /// The first delay between two polls.
    pub initial_delay: Duration,
    /// The longest delay between two polls.
    pub max_delay: Duration,
    /// What each delay is multiplied by for the next one (at least 1).
    pub multiplier: f64,
    /// The largest fraction (0 to 1) by which a delay is randomly shortened.
    pub jitter: f64,
    /// The seed of the jitter RNG (mixed with the id waited for).
    pub seed: u64,
    /// The overall deadline, from the start of the wait.
    pub timeout: Duration,
    /// How long after the start of the wait a `NotFound` answer is tolerated.
    pub not_found_grace: Duration,
    /// How many `available` (or target-state) answers in a row end the wait (at least 1).
    pub confirmations: u32,
}

impl Default for WaitOptions {
    /// 2 s first delay doubling to at most 60 s, 20 % jitter, seed 0, a 2-hour deadline (a
    /// CreateImage can take hours for large volumes), 3 minutes of NotFound grace, one
    /// confirmation.
    fn default() -> Self {
        WaitOptions {
            initial_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(60),
            multiplier: 2.0,
            jitter: 0.2,
            seed: 0,
            timeout: Duration::from_secs(2 * 3600),
            not_found_grace: Duration::from_secs(180),
            confirmations: 1,
        }
    }
}

impl WaitOptions {
    /// Sets the first delay.
    pub fn initial_delay(mut self, d: Duration) -> Self {
        self.initial_delay = d;
        self
    }
    /// Sets the longest delay.
    pub fn max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }
    /// Sets the backoff multiplier (at least 1).
    pub fn multiplier(mut self, m: f64) -> Self {
        self.multiplier = m;
        self
    }
    /// Sets the jitter fraction (0 to 1).
    pub fn jitter(mut self, j: f64) -> Self {
        self.jitter = j;
        self
    }
    /// Sets the jitter seed.
    pub fn seed(mut self, s: u64) -> Self {
        self.seed = s;
        self
    }
    /// Sets the overall deadline.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }
    /// Sets the NotFound grace window.
    pub fn not_found_grace(mut self, d: Duration) -> Self {
        self.not_found_grace = d;
        self
    }
    /// Sets how many target answers in a row end the wait (at least 1).
    pub fn confirmations(mut self, n: u32) -> Self {
        self.confirmations = n;
        self
    }

    /// `Ok` if the options make sense, else `InvalidParameterValue` naming the bad value.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| {
            Err(Error::InvalidParameter(ServiceError::new(
                "InvalidParameterValue",
                what,
            )))
        };
        if self.initial_delay.is_zero() {
            return bad("wait option initial_delay is 0: use a positive delay such as 2 s".into());
        }
        if self.max_delay < self.initial_delay {
            return bad(format!(
                "wait option max_delay ({:?}) is shorter than initial_delay ({:?}): raise max_delay",
                self.max_delay, self.initial_delay
            ));
        }
        if !(self.multiplier.is_finite() && self.multiplier >= 1.0) {
            return bad(format!(
                "wait option multiplier {} is not a finite number of at least 1: use e.g. 2.0",
                self.multiplier
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return bad(format!(
                "wait option jitter {} is outside 0..=1: use a fraction such as 0.2",
                self.jitter
            ));
        }
        if self.timeout.is_zero() {
            return bad("wait option timeout is 0: give the wait some time, e.g. 2 h".into());
        }
        if self.timeout > MAX_TIMEOUT {
            return bad(format!(
                "wait option timeout {:?} is longer than {} days: no image takes that long; use a shorter deadline",
                self.timeout,
                MAX_TIMEOUT.as_secs() / 86_400
            ));
        }
        if self.confirmations == 0 {
            return bad("wait option confirmations is 0: at least 1 answer is needed".into());
        }
        Ok(())
    }
}

/// What one poll found.
enum Poll<T> {
    /// The target was observed.
    Ready(T),
    /// Not yet; the state seen, for progress events.
    Pending(String),
}

/// The backoff schedule of one wait.
struct Backoff {
    next: Duration,
    rng: ChaCha8Rng,
}

impl Backoff {
    fn new(opts: &WaitOptions, id: &str) -> Self {
        Backoff {
            next: opts.initial_delay,
            rng: ChaCha8Rng::seed_from_u64(opts.seed ^ stable_hash([id])),
        }
    }

    /// The next delay (jittered), advancing the schedule.
    fn delay(&mut self, opts: &WaitOptions) -> Duration {
        let base = self.next;
        self.next = Duration::try_from_secs_f64(base.as_secs_f64() * opts.multiplier)
            .unwrap_or(opts.max_delay)
            .min(opts.max_delay);
        let cut: f64 = self.rng.random::<f64>() * opts.jitter;
        Duration::try_from_secs_f64(base.as_secs_f64() * (1.0 - cut))
            .map_or(base, |d| d.min(base))
            .max(Duration::from_millis(1))
    }
}

/// Polls `probe` until it is ready `opts.confirmations` times in a row, under the rules of the
/// module documentation.
async fn poll_until<T, F, Fut>(what: &str, id: &str, opts: &WaitOptions, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>>>,
{
    opts.validate()?;
    let start = tokio::time::Instant::now();
    let deadline = start + opts.timeout;
    let timeout = || Error::Timeout {
        what: what.to_owned(),
        waited: start.elapsed(),
    };
    let mut backoff = Backoff::new(opts, id);
    let mut confirmed = 0u32;
    let mut polls = 0u32;
    loop {
        polls += 1;
        let answer = match tokio::time::timeout_at(deadline, probe()).await {
            Ok(a) => a,
            Err(_) => return Err(timeout()),
        };
        let delay = match answer {
            Ok(Poll::Ready(v)) => {
                confirmed += 1;
                if confirmed >= opts.confirmations {
                    tracing::info!(
                        what,
                        polls,
                        waited_ms = millis(start.elapsed()),
                        "wait complete"
                    );
                    return Ok(v);
                }
                tracing::debug!(what, confirmed, "target state seen; confirming");
                opts.initial_delay
            }
            Ok(Poll::Pending(state)) => {
                confirmed = 0;
                tracing::debug!(
                    what,
                    state = state.as_str(),
                    polls,
                    waited_ms = millis(start.elapsed()),
                    "still waiting"
                );
                backoff.delay(opts)
            }
            Err(e) if e.is_not_found() && start.elapsed() < opts.not_found_grace => {
                confirmed = 0;
                tracing::debug!(
                    what,
                    code = e.code(),
                    "not visible yet; within grace window"
                );
                backoff.delay(opts)
            }
            Err(e) if e.is_retryable() => {
                tracing::debug!(what, code = e.code(), "retryable error while waiting");
                backoff.delay(opts)
            }
            Err(e) => return Err(e),
        };
        // The last poll happens at the deadline itself (an answer that is already there still
        // counts); nothing waits past it.
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(timeout());
        }
        tokio::time::sleep(delay.min(deadline - now)).await;
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Waits until `image` is `available` and returns it as last described.
///
/// Errors: [`Error::ImageFailed`] (with AWS's state reason) when it reaches `failed`;
/// `InvalidAMIID.Unavailable` when it is deregistered or disabled while waited for;
/// [`Error::Timeout`] after `opts.timeout`; `InvalidAMIID.NotFound` when it stays invisible
/// past the grace window; any non-retryable error of DescribeImages.
pub async fn wait_for_image_available(
    ec2: &dyn Ec2,
    image: &ImageId,
    opts: &WaitOptions,
) -> Result<Image> {
    let what = format!("image {image} to become available in {}", ec2.region());
    poll_until(&what, image.as_str(), opts, || async {
        let img = ec2.describe_image(image).await?;
        image_poll(img)
    })
    .await
}

/// Waits until an image the caller **just created** (CreateImage, CopyImage, RegisterImage) is
/// `available`; if the wait fails (the image failed, the deadline passed, an error), deregisters
/// the image and deletes its snapshots, so nothing is orphaned, and returns the wait's error.
///
/// If that cleanup fails too, the error is a [`Error::Workflow`] naming what is left behind.
pub async fn wait_for_new_image(
    ec2: &dyn Ec2,
    image: &ImageId,
    opts: &WaitOptions,
) -> Result<Image> {
    match wait_for_image_available(ec2, image, opts).await {
        Ok(img) => Ok(img),
        Err(e) => {
            tracing::warn!(%image, code = e.code(), "new image did not become available; discarding it");
            match discard_image(ec2, image).await {
                Ok(_) => Err(e),
                Err(cleanup) => Err(Error::workflow(format!(
                    "{e}; discarding {image} and its snapshots then failed ({cleanup}): deregister {image} and delete its snapshots by hand"
                ))),
            }
        }
    }
}

/// Deregisters `image` (if it still exists) and deletes every snapshot made for it: those its
/// block devices name and those whose description names it (a failed CreateImage or CopyImage
/// can leave snapshots its image no longer lists). Returns the deleted snapshots.
pub(crate) async fn discard_image(ec2: &dyn Ec2, image: &ImageId) -> Result<Vec<SnapshotId>> {
    let mut snapshots: BTreeSet<SnapshotId> = BTreeSet::new();
    match retry_default("DescribeImages", || ec2.describe_image(image)).await {
        Ok(img) => snapshots.extend(img.snapshot_ids().into_iter().cloned()),
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e),
    }
    let dereg = retry_default("DeregisterImage", || {
        ec2.deregister_image(DeregisterImageRequest::new(image.clone()).with_snapshots())
    })
    .await;
    let mut deleted = Vec::new();
    match dereg {
        Ok(results) => {
            for r in results {
                if r.outcome == DeleteSnapshotOutcome::Success {
                    snapshots.remove(&r.snapshot_id);
                    deleted.push(r.snapshot_id);
                }
            }
        }
        Err(e) if e.is_not_found() || e.code() == "InvalidAMIID.Unavailable" => {}
        Err(e) => return Err(e),
    }
    // Snapshots that name the image in their AWS-made description. The filter is applied here
    // again, so a backend that ignores it can never make this delete someone else's snapshot.
    let needle = image.as_str();
    let described = retry_default("DescribeSnapshots", || {
        ec2.describe_all_snapshots(
            DescribeSnapshotsRequest::owned()
                .filter(Filter::new("description", [format!("*{needle}*")])),
        )
    })
    .await;
    if let Ok(found) = described {
        snapshots.extend(
            found
                .into_iter()
                .filter(|s| s.description.contains(needle))
                .map(|s| s.id),
        );
    }
    for snap in snapshots {
        match retry_default("DeleteSnapshot", || ec2.delete_snapshot(snap.clone())).await {
            Ok(()) => deleted.push(snap),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    tracing::info!(%image, snapshots = deleted.len(), "discarded image and its snapshots");
    Ok(deleted)
}

fn image_poll(img: Image) -> Result<Poll<Image>> {
    match img.state {
        ImageState::Available => Ok(Poll::Ready(img)),
        ImageState::Pending | ImageState::Transient => Ok(Poll::Pending(img.state.to_string())),
        ImageState::Failed | ImageState::Invalid | ImageState::Error => {
            let reason = img.state_reason.clone().unwrap_or_else(|| StateReason {
                code: "Unknown".into(),
                message: format!("the image entered state '{}' without a reason", img.state),
            });
            tracing::warn!(image = %img.id, state = %img.state, reason = %reason.message, "image failed");
            Err(Error::ImageFailed {
                image_id: img.id,
                reason,
            })
        }
        ImageState::Deregistered | ImageState::Disabled => Err(Error::Unavailable(
            ServiceError::new(
                "InvalidAMIID.Unavailable",
                format!(
                    "The image id '[{}]' is no longer available: it was {} while waiting for it to become available.",
                    img.id, img.state
                ),
            ),
        )),
    }
}

/// Waits until `instance` is in `target` and returns it as last described.
///
/// Fails fast with `IncorrectInstanceState` when the instance reaches a state from which
/// `target` can no longer be reached without someone acting (`terminated` or `shutting-down`
/// while waiting for anything else). Otherwise as [`wait_for_image_available`].
pub async fn wait_for_instance_state(
    ec2: &dyn Ec2,
    instance: &InstanceId,
    target: InstanceState,
    opts: &WaitOptions,
) -> Result<Instance> {
    let what = format!("instance {instance} to be {target} in {}", ec2.region());
    poll_until(&what, instance.as_str(), opts, || async {
        let inst = ec2.describe_instance(instance).await?;
        instance_poll(inst, target)
    })
    .await
}

/// Waits until `instance` is `running` and returns it as last described.
///
/// A launch AWS accepted can still fail: the instance goes `pending` → `shutting-down` →
/// `terminated` with a state reason (`Client.InternalError` when a KMS key of the image's
/// snapshots cannot be used, with the KMS cause in the message). That ends the wait at once
/// with [`Error::LaunchFailed`] carrying the reason. A stop or termination by someone else
/// without a reason ends it with `IncorrectInstanceState`; otherwise as
/// [`wait_for_instance_state`].
pub async fn wait_for_running(
    ec2: &dyn Ec2,
    instance: &InstanceId,
    opts: &WaitOptions,
) -> Result<Instance> {
    let what = format!("instance {instance} to be running in {}", ec2.region());
    poll_until(&what, instance.as_str(), opts, || async {
        let inst = ec2.describe_instance(instance).await?;
        if matches!(
            inst.state,
            InstanceState::ShuttingDown | InstanceState::Terminated
        ) {
            if let Some(reason) = &inst.state_reason {
                return Err(Error::LaunchFailed {
                    instance_id: inst.id.clone(),
                    reason: reason.clone(),
                });
            }
        }
        instance_poll(inst, InstanceState::Running)
    })
    .await
}

fn instance_poll(inst: Instance, target: InstanceState) -> Result<Poll<Instance>> {
    if inst.state == target {
        return Ok(Poll::Ready(inst));
    }
    let dead = matches!(
        inst.state,
        InstanceState::Terminated | InstanceState::ShuttingDown
    );
    let reachable = match target {
        InstanceState::ShuttingDown => !matches!(inst.state, InstanceState::Terminated),
        InstanceState::Terminated => true,
        _ => !dead,
    };
    if reachable {
        Ok(Poll::Pending(inst.state.to_string()))
    } else {
        Err(Error::from_code(
            "IncorrectInstanceState",
            format!(
                "Instance {} is '{}' and can no longer become '{target}'{}.",
                inst.id,
                inst.state,
                inst.state_reason
                    .as_ref()
                    .map(|r| format!(" ({})", r.message))
                    .unwrap_or_default()
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DescribeImagesRequest, MockEc2, Page};
    use crate::id::{AccountId, Region};
    use crate::model::DeregistrationProtection;
    use crate::time::Timestamp;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    fn image(id: &ImageId, state: ImageState) -> Image {
        Image {
            id: id.clone(),
            region: "us-east-1".parse().unwrap(),
            name: "test-image".into(),
            description: None,
            owner: "111122223333".parse().unwrap(),
            owner_alias: None,
            state,
            state_reason: (state == ImageState::Failed).then(|| StateReason {
                code: "Client.InternalError".into(),
                message: "Copy image failed with an internal error".into(),
            }),
            public: false,
            block_devices: vec![],
            root_device_name: "/dev/xvda".into(),
            architecture: "x86_64".into(),
            product_codes: vec![],
            tags: Default::default(),
            creation_time: Timestamp::EPOCH,
            deprecation_time: None,
            deregistration_protection: DeregistrationProtection::Disabled,
            source_image_id: None,
            source_region: None,
            source_instance_id: None,
            last_launched_time: None,
        }
    }

    /// A mock whose DescribeImages answers from `script` in order (the last answer repeats).
    fn scripted(id: &ImageId, script: Vec<Result<ImageState>>) -> (MockEc2, Arc<AtomicU32>) {
        let mut ec2 = MockEc2::new();
        let region: Region = "us-east-1".parse().unwrap();
        let account: AccountId = "111122223333".parse().unwrap();
        ec2.expect_region().return_const(region);
        ec2.expect_account().return_const(account);
        let calls = Arc::new(AtomicU32::new(0));
        let counter = calls.clone();
        let id = id.clone();
        ec2.expect_describe_images()
            .returning(move |_req: DescribeImagesRequest| {
                let n = counter.fetch_add(1, Ordering::SeqCst) as usize;
                let step = script
                    .get(n)
                    .or(script.last())
                    .cloned()
                    .unwrap_or(Ok(ImageState::Pending));
                step.map(|s| Page::last(vec![image(&id, s)]))
            });
        (ec2, calls)
    }

    fn throttled() -> Error {
        Error::from_code("RequestLimitExceeded", "Request limit exceeded.")
    }

    fn not_found(id: &ImageId) -> Error {
        Error::from_code(
            "InvalidAMIID.NotFound",
            format!("The image id '[{id}]' does not exist"),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn waits_through_not_found_throttling_and_pending() {
        let id: ImageId = "ami-0123456789abcdef0".parse().unwrap();
        let (ec2, calls) = scripted(
            &id,
            vec![
                Err(not_found(&id)),
                Err(throttled()),
                Ok(ImageState::Pending),
                Err(Error::from_code("InternalError", "oops")),
                Ok(ImageState::Available),
            ],
        );
        let img = wait_for_image_available(&ec2, &id, &WaitOptions::default())
            .await
            .unwrap();
        assert_eq!(img.state, ImageState::Available);
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn fails_fast_with_the_state_reason() {
        let id: ImageId = "ami-0123456789abcdef0".parse().unwrap();
        let (ec2, calls) = scripted(&id, vec![Ok(ImageState::Pending), Ok(ImageState::Failed)]);
        let started = tokio::time::Instant::now();
        let err = wait_for_image_available(&ec2, &id, &WaitOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "ImageFailed");
        match err {
            Error::ImageFailed { image_id, reason } => {
                assert_eq!(image_id, id);
                assert_eq!(reason.code, "Client.InternalError");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn times_out_at_the_deadline_exactly() {
        let id: ImageId = "ami-0123456789abcdef0".parse().unwrap();
        let (ec2, _) = scripted(&id, vec![Ok(ImageState::Pending)]);
        let opts = WaitOptions::default().timeout(Duration::from_secs(600));
        let started = tokio::time::Instant::now();
        let err = wait_for_image_available(&ec2, &id, &opts)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "Timeout");
        assert!(matches!(err, Error::Timeout { waited, .. } if waited == Duration::from_secs(600)));
        assert_eq!(started.elapsed(), Duration::from_secs(600));
    }

    #[tokio::test(start_paused = true)]
    async fn not_found_after_the_grace_window_is_returned() {
        let id: ImageId = "ami-0123456789abcdef0".parse().unwrap();
        let (ec2, _) = scripted(&id, vec![Err(not_found(&id))]);
        let opts = WaitOptions::default().not_found_grace(Duration::from_secs(30));
        let started = tokio::time::Instant::now();
        let err = wait_for_image_available(&ec2, &id, &opts)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "InvalidAMIID.NotFound");
        assert!(started.elapsed() >= Duration::from_secs(30));
        assert!(started.elapsed() < Duration::from_secs(120));
    }

    #[tokio::test(start_paused = true)]
    async fn deregistered_while_waiting_is_unavailable() {
        let id: ImageId = "ami-0123456789abcdef0".parse().unwrap();
        let (ec2, _) = scripted(&id, vec![Ok(ImageState::Deregistered)]);
        let err = wait_for_image_available(&ec2, &id, &WaitOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "InvalidAMIID.Unavailable");
    }

    #[tokio::test(start_paused = true)]
    async fn confirmations_must_come_in_a_row() {
        let id: ImageId = "ami-0123456789abcdef0".parse().unwrap();
        let (ec2, calls) = scripted(
            &id,
            vec![
                Ok(ImageState::Available),
                Ok(ImageState::Pending),
                Ok(ImageState::Available),
                Ok(ImageState::Available),
                Ok(ImageState::Available),
            ],
        );
        let opts = WaitOptions::default().confirmations(3);
        wait_for_image_available(&ec2, &id, &opts).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn non_retryable_errors_end_the_wait() {
        let id: ImageId = "ami-0123456789abcdef0".parse().unwrap();
        let (ec2, calls) = scripted(
            &id,
            vec![Err(Error::from_code("AuthFailure", "Not authorized"))],
        );
        let err = wait_for_image_available(&ec2, &id, &WaitOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "AuthFailure");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn bad_options_are_refused_before_any_call() {
        let id: ImageId = "ami-0123456789abcdef0".parse().unwrap();
        let (ec2, calls) = scripted(&id, vec![Ok(ImageState::Available)]);
        for opts in [
            WaitOptions::default().initial_delay(Duration::ZERO),
            WaitOptions::default().max_delay(Duration::from_millis(1)),
            WaitOptions::default().multiplier(f64::NAN),
            WaitOptions::default().jitter(1.5),
            WaitOptions::default().timeout(Duration::ZERO),
            WaitOptions::default().timeout(Duration::MAX),
            WaitOptions::default().confirmations(0),
        ] {
            let err = wait_for_image_available(&ec2, &id, &opts)
                .await
                .unwrap_err();
            assert_eq!(err.code(), "InvalidParameterValue");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    /// Huge delays and multipliers saturate at `max_delay` instead of overflowing.
    #[test]
    fn backoff_saturates() {
        let opts = WaitOptions::default()
            .max_delay(Duration::MAX)
            .multiplier(1e300)
            .jitter(0.0);
        let mut b = Backoff::new(&opts, "ami-1");
        assert_eq!(b.delay(&opts), opts.initial_delay);
        assert_eq!(b.delay(&opts), Duration::MAX);
        assert_eq!(b.delay(&opts), Duration::MAX);
    }

    /// The delays of one schedule never exceed `max_delay`, never undercut
    /// `(1 - jitter) × base`, and the same seed and id give the same schedule.
    #[test]
    fn backoff_is_bounded_and_reproducible() {
        let opts = WaitOptions::default().seed(7);
        let schedule = |id: &str| {
            let mut b = Backoff::new(&opts, id);
            (0..20).map(|_| b.delay(&opts)).collect::<Vec<_>>()
        };
        let a = schedule("ami-1");
        assert_eq!(a, schedule("ami-1"));
        assert_ne!(a, schedule("ami-2"));
        let mut base = opts.initial_delay;
        for d in a {
            assert!(d <= base, "{d:?} > {base:?}");
            assert!(d >= base.mul_f64(1.0 - opts.jitter), "{d:?}");
            base = base.mul_f64(opts.multiplier).min(opts.max_delay);
        }
    }

    #[test]
    fn instance_states_that_cannot_reach_the_target_fail_fast() {
        let inst = |state| Instance {
            id: "i-0123456789abcdef0".parse().unwrap(),
            region: "us-east-1".parse().unwrap(),
            owner: "111122223333".parse().unwrap(),
            image_id: "ami-0123456789abcdef0".parse().unwrap(),
            instance_type: "t3.micro".into(),
            state,
            state_reason: None,
            launch_time: Timestamp::EPOCH,
            volumes: vec![],
            product_codes: Vec::new(),
            tags: Default::default(),
        };
        assert!(matches!(
            instance_poll(inst(InstanceState::Stopping), InstanceState::Stopped),
            Ok(Poll::Pending(_))
        ));
        assert!(matches!(
            instance_poll(inst(InstanceState::Stopped), InstanceState::Stopped),
            Ok(Poll::Ready(_))
        ));
        let err = instance_poll(inst(InstanceState::Terminated), InstanceState::Running)
            .err()
            .unwrap();
        assert_eq!(err.code(), "IncorrectInstanceState");
        assert!(matches!(
            instance_poll(inst(InstanceState::ShuttingDown), InstanceState::Terminated),
            Ok(Poll::Pending(_))
        ));
    }
}
