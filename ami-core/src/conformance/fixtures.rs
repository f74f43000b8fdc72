//! What every check shares: the early exits (skip, fail), assertions on AWS codes, waiting,
//! and the fixtures a check makes and cleans up.

use std::fmt::{self, Debug, Display};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;

use super::capabilities::Feature;
use super::context::Ctx;
use super::Outcome;
use crate::api::{
    CreateImageRequest, CreateKeyRequest, DeregisterImageRequest, Ec2, Ec2Ext, Kms,
    RunInstancesRequest, KEY_DELETION_WINDOW_DAYS,
};
use crate::error::Error;
use crate::id::{ImageId, InstanceId, KmsKeyRef, SnapshotId};
use crate::model::{BlockPublicAccessState, Image, ImageState, Instance, InstanceState, KmsKey};

/// Why a check stopped before the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The check cannot run here; the reason says why.
    Skip(String),
    /// The backend differs from AWS.
    Fail(String),
}

/// The result of a check body.
pub(crate) type Step = std::result::Result<(), Stop>;

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Fail(format!("unexpected error {}: {}", e.code(), e.message()))
    }
}

/// Names the call an unexpected error came from.
pub(crate) trait During<T> {
    /// Maps an error into a failure that says which call failed.
    fn during(self, what: impl Display) -> std::result::Result<T, Stop>;
}

impl<T> During<T> for crate::error::Result<T> {
    fn during(self, what: impl Display) -> std::result::Result<T, Stop> {
        self.map_err(|e| {
            Stop::Fail(format!(
                "{what}: unexpected error {}: {}",
                e.code(),
                e.message()
            ))
        })
    }
}

/// Fails the check with a formatted message.
macro_rules! fail {
    ($($arg:tt)*) => {
        return Err($crate::conformance::fixtures::Stop::Fail(format!($($arg)*)))
    };
}

/// Fails the check unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            $crate::conformance::fixtures::fail!($($arg)*);
        }
    };
}

/// Defines public checks whose bodies take the context and the fixtures.
macro_rules! checks {
    ($($(#[$meta:meta])* $name:ident => $body:ident;)*) => {
        $(
            $(#[$meta])*
            pub async fn $name(ctx: &$crate::conformance::Ctx) -> $crate::conformance::Outcome {
                let mut fx = $crate::conformance::fixtures::Fixtures::new(ctx, stringify!($name));
                let step = $crate::conformance::fixtures::guard($body(ctx, &mut fx)).await;
                fx.finish(step).await
            }
        )*
    };
}

pub(crate) use {checks, ensure, fail};

/// Runs a check body, turning a panic into a failure.
pub(crate) async fn guard(body: impl std::future::Future<Output = Step> + Send) -> Step {
    match AssertUnwindSafe(body).catch_unwind().await {
        Ok(step) => step,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(Stop::Fail(format!("panicked: {msg}")))
        }
    }
}

/// Expects `result` to be an error with AWS code `code`; returns the error.
pub(crate) fn expect_code<T: Debug>(
    result: crate::error::Result<T>,
    code: &str,
    what: impl Display,
) -> std::result::Result<Error, Stop> {
    match result {
        Ok(v) => Err(Stop::Fail(format!(
            "{what}: expected {code}, got success {v:?}"
        ))),
        Err(e) if e.code() == code => Ok(e),
        Err(e) => Err(Stop::Fail(format!(
            "{what}: expected {code}, got {}: {}",
            e.code(),
            e.message()
        ))),
    }
}

/// Something to put back when the check ends.
enum Undo {
    /// Put block public access back in this state in this scope.
    BlockPublicAccess(Arc<dyn Ec2>, BlockPublicAccessState),
}

impl fmt::Debug for Undo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Undo::BlockPublicAccess(ec2, state) => {
                write!(f, "BlockPublicAccess({}, {})", ec2.region(), state.as_str())
            }
        }
    }
}

/// The resources one check made, cleaned up when it ends.
#[derive(Debug)]
pub(crate) struct Fixtures<'a> {
    ctx: &'a Ctx,
    check: &'static str,
    counter: u32,
    instance: Option<InstanceId>,
    instances: Vec<(Arc<dyn Ec2>, InstanceId)>,
    images: Vec<(Arc<dyn Ec2>, ImageId)>,
    snapshots: Vec<(Arc<dyn Ec2>, SnapshotId)>,
    keys: Vec<(Arc<dyn Kms>, KmsKeyRef)>,
    undo: Vec<Undo>,
}

impl<'a> Fixtures<'a> {
    /// Fixtures of `check`.
    pub(crate) fn new(ctx: &'a Ctx, check: &'static str) -> Self {
        Fixtures {
            ctx,
            check,
            counter: 0,
            instance: None,
            instances: Vec::new(),
            images: Vec::new(),
            snapshots: Vec::new(),
            keys: Vec::new(),
            undo: Vec::new(),
        }
    }

    /// The start of every name of this check: `<prefix>-<check>-`.
    pub(crate) fn stem(&self) -> String {
        let check = self.check.trim_start_matches("check_").replace('_', "-");
        format!("{}-{}-", self.ctx.prefix, check)
    }

    /// A unique name: `<prefix>-<check>-<label>-<n>`.
    pub(crate) fn name(&mut self, label: &str) -> String {
        self.counter += 1;
        format!("{}{}-{}", self.stem(), label, self.counter)
    }

    /// Cleans up `id` (and its snapshots) when the check ends.
    pub(crate) fn track_image(&mut self, ec2: &Arc<dyn Ec2>, id: &ImageId) {
        self.images.push((ec2.clone(), id.clone()));
    }

    /// Deletes `id` when the check ends.
    pub(crate) fn track_snapshot(&mut self, ec2: &Arc<dyn Ec2>, id: &SnapshotId) {
        self.snapshots.push((ec2.clone(), id.clone()));
    }

    /// Schedules the deletion of customer managed key `key` when the check ends, with the
    /// shortest waiting period AWS allows (7 days), so that a run against AWS leaves no key
    /// billed beyond that.
    pub(crate) fn track_key(&mut self, kms: &Arc<dyn Kms>, key: &KmsKeyRef) {
        self.keys.push((kms.clone(), key.clone()));
    }

    /// CreateKey through `kms`, tracked for deletion when the check ends.
    pub(crate) async fn create_key(
        &mut self,
        kms: &Arc<dyn Kms>,
        req: CreateKeyRequest,
    ) -> std::result::Result<KmsKey, Stop> {
        let key = kms.create_key(req).await.during("CreateKey")?;
        // By key id: the caller's own key in its Region, which every backend resolves.
        let by_id = KmsKeyRef::parse(&key.key_id).unwrap_or_else(|_| key.arn.clone());
        self.track_key(kms, &by_id);
        Ok(key)
    }

    /// Puts block public access of `ec2`'s scope back to `state` when the check ends.
    pub(crate) fn restore_block_public_access(
        &mut self,
        ec2: &Arc<dyn Ec2>,
        state: BlockPublicAccessState,
    ) {
        self.undo.push(Undo::BlockPublicAccess(ec2.clone(), state));
    }

    /// Launches an instance of the base image in the primary scope and waits until it runs.
    pub(crate) async fn run_instance(
        &mut self,
        req: RunInstancesRequest,
    ) -> std::result::Result<Instance, Stop> {
        let ec2 = self.ctx.primary.ec2.clone();
        let name = self.name("instance");
        let instances = ec2
            .run_instances(req.tag("Name", name))
            .await
            .during("RunInstances")?;
        let Some(first) = instances.first() else {
            fail!("RunInstances returned no instance");
        };
        for i in &instances {
            self.instances.push((ec2.clone(), i.id.clone()));
        }
        self.wait_instance(&first.id, InstanceState::Running).await
    }

    /// A running instance of the base image in the primary scope, launched once per check.
    pub(crate) async fn instance(&mut self) -> std::result::Result<InstanceId, Stop> {
        if let Some(id) = &self.instance {
            return Ok(id.clone());
        }
        let inst = self
            .run_instance(RunInstancesRequest::new(self.ctx.base_image.clone()))
            .await?;
        self.instance = Some(inst.id.clone());
        Ok(inst.id)
    }

    /// CreateImage in the primary scope, tracked for cleanup; does not wait.
    pub(crate) async fn create_image(
        &mut self,
        req: CreateImageRequest,
    ) -> std::result::Result<ImageId, Stop> {
        let ec2 = self.ctx.primary.ec2.clone();
        let what = format!("CreateImage {:?}", req.name);
        let id = ec2.create_image(req).await.during(what)?;
        self.track_image(&ec2, &id);
        Ok(id)
    }

    /// An available image of the fixture instance in the primary scope, named after `label`.
    pub(crate) async fn image(&mut self, label: &str) -> std::result::Result<Image, Stop> {
        let instance = self.instance().await?;
        let name = self.name(label);
        let id = self
            .create_image(CreateImageRequest::new(instance, name).no_reboot(true))
            .await?;
        self.wait_image(&self.ctx.primary.ec2.clone(), &id).await
    }

    /// Polls `id` until it leaves `pending`; fails unless it is then `available`.
    pub(crate) async fn wait_image(
        &self,
        ec2: &Arc<dyn Ec2>,
        id: &ImageId,
    ) -> std::result::Result<Image, Stop> {
        let start = tokio::time::Instant::now();
        loop {
            let image = ec2
                .describe_image(id)
                .await
                .during(format_args!("DescribeImages {id} while waiting"))?;
            match image.state {
                ImageState::Pending => {}
                ImageState::Available => return Ok(image),
                other => fail!(
                    "image {id} reached {other} instead of available (reason: {:?})",
                    image.state_reason
                ),
            }
            if start.elapsed() >= self.ctx.wait_timeout {
                fail!("image {id} still pending after {:?}", self.ctx.wait_timeout);
            }
            tokio::time::sleep(self.ctx.poll_interval).await;
        }
    }

    /// Polls instance `id` (primary scope) until it reaches `state`.
    pub(crate) async fn wait_instance(
        &self,
        id: &InstanceId,
        state: InstanceState,
    ) -> std::result::Result<Instance, Stop> {
        let ec2 = &self.ctx.primary.ec2;
        let start = tokio::time::Instant::now();
        loop {
            let inst = ec2
                .describe_instance(id)
                .await
                .during(format_args!("DescribeInstances {id} while waiting"))?;
            if inst.state == state {
                return Ok(inst);
            }
            if start.elapsed() >= self.ctx.wait_timeout {
                fail!(
                    "instance {id} still {} after {:?}, expected {}",
                    inst.state.as_str(),
                    self.ctx.wait_timeout,
                    state.as_str()
                );
            }
            tokio::time::sleep(self.ctx.poll_interval).await;
        }
    }

    /// Cleans up (best effort) and turns the body's result into the check's outcome.
    pub(crate) async fn finish(self, step: Step) -> Outcome {
        self.cleanup().await;
        match step {
            Ok(()) => Outcome::Passed,
            Err(Stop::Skip(why)) => Outcome::Skipped(why),
            Err(Stop::Fail(why)) => Outcome::Failed(why),
        }
    }

    async fn cleanup(self) {
        let protection = self.ctx.capabilities.has(Feature::DeregistrationProtection);
        for undo in self.undo.iter().rev() {
            match undo {
                Undo::BlockPublicAccess(ec2, BlockPublicAccessState::BlockNewSharing) => {
                    let _ = ec2.enable_image_block_public_access().await;
                }
                Undo::BlockPublicAccess(ec2, BlockPublicAccessState::Unblocked) => {
                    let _ = ec2.disable_image_block_public_access().await;
                }
            }
        }
        let mut snapshots = self.snapshots.clone();
        for (ec2, id) in self.images.iter().rev() {
            if let Ok(image) = ec2.describe_image(id).await {
                snapshots.extend(
                    image
                        .snapshot_ids()
                        .into_iter()
                        .map(|s| (ec2.clone(), s.clone())),
                );
            }
            let deregister = || ec2.deregister_image(DeregisterImageRequest::new(id.clone()));
            if deregister().await.is_err() && protection {
                let _ = ec2
                    .disable_image_deregistration_protection(id.clone())
                    .await;
                let _ = deregister().await;
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (ec2, id) in snapshots {
            if seen.insert(id.clone()) {
                let _ = ec2.delete_snapshot(id).await;
            }
        }
        let ids: Vec<(Arc<dyn Ec2>, InstanceId)> = self.instances;
        for (ec2, id) in ids {
            let _ = ec2.terminate_instances(vec![id]).await;
        }
        // Keys last: the images encrypted with them are gone by now. A key already pending
        // deletion answers KMSInvalidStateException, which is as good.
        let window = *KEY_DELETION_WINDOW_DAYS.start();
        for (kms, key) in self.keys {
            let _ = kms.schedule_key_deletion(key, window).await;
        }
    }
}
