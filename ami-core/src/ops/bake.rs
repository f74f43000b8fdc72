//! Baking an image from an instance, with an explicit choice of consistency.
//!
//! | [`Consistency`] | what happens | file systems on the image |
//! |---|---|---|
//! | `StopFirst` (default) | stop the instance, CreateImage, start it again if it was running | consistent |
//! | `Reboot` | CreateImage without `NoReboot`: EC2 reboots the instance | consistent |
//! | `NoReboot` | CreateImage with `NoReboot`: the instance keeps running | crash-consistent only |
//!
//! The image and its snapshots are tagged on creation with [`TAG_SOURCE_INSTANCE`] and
//! [`TAG_CONSISTENCY`] (`stopped`, `rebooted` or `crash-consistent`: what the snapshots really
//! are, e.g. `stopped` for a `NoReboot` bake of an instance that was already stopped).
//!
//! Before any change, [`bake`] checks the request (name, description, tags) and the instance's
//! state with the same rules CreateImage applies, and refuses with AWS's error and the fix. If
//! the image then fails, or the wait times out, the image is deregistered and its snapshots are
//! deleted, so nothing is orphaned, and an instance the bake stopped is started again.
//!
//! Dropping the future of a bake part-way leaves what was done so far: an instance it stopped
//! stays stopped, and a pending image stays (tagged with [`TAG_SOURCE_INSTANCE`], so it can be
//! found).

use std::fmt;

use crate::api::{
    CreateImageRequest, DescribeImagesRequest, DescribeSnapshotsRequest, Ec2, Ec2Ext, Filter, Owner,
};
use crate::error::{Error, Result};
use crate::id::{ImageId, InstanceId};
use crate::lifecycle::{create_image_accepts, create_image_effect, CreateImageEffect};
use crate::model::{Image, InstanceState, Snapshot, Tags};
use crate::rules::{check_name_available, validate_description, validate_image_name};

use super::images::images_named;
use super::retry::retry_default;
use super::wait::{wait_for_instance_state, wait_for_new_image, WaitOptions};

/// Tag put on the image and its snapshots: the instance they were made from.
pub const TAG_SOURCE_INSTANCE: &str = "ami:source-instance";
/// Tag put on the image and its snapshots: `stopped`, `rebooted` or `crash-consistent`.
pub const TAG_CONSISTENCY: &str = "ami:consistency";

/// At most this many tags per resource (AWS's limit).
const MAX_TAGS: usize = 50;

/// How consistent the file systems on the image must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Consistency {
    /// Stop the instance before CreateImage and start it again afterwards if it was running:
    /// every write is on the volumes. The default.
    #[default]
    StopFirst,
    /// Let CreateImage reboot the instance (no `NoReboot`): buffered writes are flushed.
    Reboot,
    /// CreateImage with `NoReboot`: the instance keeps running; the image is only
    /// crash-consistent (writes still buffered in the guest are missing).
    NoReboot,
}

impl fmt::Display for Consistency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Consistency::StopFirst => "stop-first",
            Consistency::Reboot => "reboot",
            Consistency::NoReboot => "no-reboot",
        })
    }
}

/// The value of [`TAG_CONSISTENCY`] for what CreateImage did.
pub fn consistency_tag(effect: CreateImageEffect) -> &'static str {
    match effect {
        CreateImageEffect::Stopped => "stopped",
        CreateImageEffect::Reboot => "rebooted",
        CreateImageEffect::NoReboot => "crash-consistent",
    }
}

/// What to bake.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BakeRequest {
    /// The instance to image (owned by the client's account, in its Region).
    pub instance: InstanceId,
    /// The image name.
    pub name: String,
    /// The image description.
    pub description: Option<String>,
    /// How consistent the image must be.
    pub consistency: Consistency,
    /// Tags for the image and its snapshots (besides the `ami:` tags the bake adds).
    pub tags: Tags,
    /// How to wait for the instance and the image.
    pub wait: WaitOptions,
}

impl BakeRequest {
    /// Bake `instance` into an image called `name`, stopping it first.
    pub fn new(instance: InstanceId, name: impl Into<String>) -> Self {
        BakeRequest {
            instance,
            name: name.into(),
            description: None,
            consistency: Consistency::default(),
            tags: Tags::new(),
            wait: WaitOptions::default(),
        }
    }
    /// Sets the consistency.
    pub fn consistency(mut self, c: Consistency) -> Self {
        self.consistency = c;
        self
    }
    /// Sets the description.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = Some(d.into());
        self
    }
    /// Adds a tag for the image and its snapshots.
    pub fn tag(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.tags.insert(k.into(), v.into());
        self
    }
    /// Sets the wait options.
    pub fn wait(mut self, w: WaitOptions) -> Self {
        self.wait = w;
        self
    }

    /// `Ok` if CreateImage would accept the name, description and tags; else the error.
    pub fn validate(&self) -> Result<()> {
        validate_image_name(&self.name)?;
        if let Some(d) = &self.description {
            validate_description(d)?;
        }
        check_tags(&self.tags, &[TAG_SOURCE_INSTANCE, TAG_CONSISTENCY])?;
        self.wait.validate()
    }
}

/// Checks user tags for an image and its snapshots: no `aws:` keys (reserved by AWS), none of
/// the keys the workflow sets itself (`reserved`), and at most 50 tags with those added.
pub(crate) fn check_tags(tags: &Tags, reserved: &[&str]) -> Result<()> {
    for key in tags.keys() {
        if key.starts_with("aws:") {
            return Err(Error::from_code(
                "InvalidParameterValue",
                format!(
                    "Tag key {key:?} starts with 'aws:', which is reserved for AWS; use another prefix."
                ),
            ));
        }
        if reserved.contains(&key.as_str()) {
            return Err(Error::from_code(
                "InvalidParameterValue",
                format!(
                    "Tag key {key:?} is set by the workflow itself; remove it from the request."
                ),
            ));
        }
    }
    if tags.len() + reserved.len() > MAX_TAGS {
        return Err(Error::from_code(
            "TagLimitExceeded",
            format!(
                "The request has {} tags; with the {} the workflow adds at most {MAX_TAGS} are allowed per resource. Remove {}.",
                tags.len(),
                reserved.len(),
                tags.len() + reserved.len() - MAX_TAGS
            ),
        ));
    }
    Ok(())
}

/// A baked image.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Baked {
    /// The image, `available`.
    pub image: Image,
    /// Its snapshots, one per EBS volume of the instance.
    pub snapshots: Vec<Snapshot>,
    /// The consistency asked for.
    pub consistency: Consistency,
    /// Whether the snapshots are only crash-consistent (a `NoReboot` bake of a running instance).
    pub crash_consistent: bool,
    /// The value of the [`TAG_CONSISTENCY`] tag.
    pub consistency_tag: &'static str,
    /// Whether the bake stopped the instance (and so started it again).
    pub stopped_instance: bool,
    /// The instance's state when the bake ended.
    pub instance_state: InstanceState,
    /// Things that went wrong without spoiling the image (e.g. the instance did not start again).
    pub warnings: Vec<String>,
}

/// Bakes an image from an instance: see the [module documentation](self).
pub async fn bake(ec2: &dyn Ec2, req: BakeRequest) -> Result<Baked> {
    req.validate()?;
    let id = &req.instance;
    let inst = retry_default("DescribeInstances", || ec2.describe_instance(id)).await?;
    // CreateImage's own rule, checked before anything changes.
    create_image_accepts(id, inst.state)?;
    check_name_free(ec2, &req.name).await?;
    tracing::info!(instance = %id, state = %inst.state, consistency = %req.consistency, name = req.name.as_str(), "bake starting");

    let mut stopped_instance = false;
    let mut state = inst.state;
    if req.consistency == Consistency::StopFirst && state != InstanceState::Stopped {
        if state == InstanceState::Running {
            retry_default("StopInstances", || ec2.stop_instances(vec![id.clone()])).await?;
            stopped_instance = true;
            tracing::info!(instance = %id, "stopping the instance before CreateImage");
        }
        let result = wait_for_instance_state(ec2, id, InstanceState::Stopped, &req.wait).await;
        match result {
            Ok(i) => state = i.state,
            Err(e) => {
                return Err(restart_after_failure(ec2, id, stopped_instance, &req.wait, e).await)
            }
        }
    }

    let no_reboot = req.consistency == Consistency::NoReboot;
    let effect = match create_image_effect(id, state, no_reboot) {
        Ok(e) => e,
        Err(e) => return Err(restart_after_failure(ec2, id, stopped_instance, &req.wait, e).await),
    };
    let tag_value = consistency_tag(effect);
    let mut create = CreateImageRequest::new(id.clone(), req.name.clone()).no_reboot(no_reboot);
    create.description = req.description.clone();
    for (k, v) in &req.tags {
        create = create.tag(k.clone(), v.clone());
    }
    create = create
        .tag(TAG_SOURCE_INSTANCE, id.to_string())
        .tag(TAG_CONSISTENCY, tag_value);

    let image_id = match create_image_once(ec2, &create).await {
        Ok(i) => i,
        Err(e) => return Err(restart_after_failure(ec2, id, stopped_instance, &req.wait, e).await),
    };
    tracing::info!(instance = %id, image = %image_id, consistency = tag_value, "CreateImage accepted; waiting");

    let image = match wait_for_new_image(ec2, &image_id, &req.wait).await {
        Ok(img) => img,
        Err(e) => return Err(restart_after_failure(ec2, id, stopped_instance, &req.wait, e).await),
    };

    let mut warnings = Vec::new();
    let mut instance_state = match effect {
        CreateImageEffect::Stopped => InstanceState::Stopped,
        _ => InstanceState::Running,
    };
    if stopped_instance {
        match restart(ec2, id, &req.wait).await {
            Ok(s) => instance_state = s,
            Err(e) => {
                tracing::warn!(instance = %id, code = e.code(), "instance did not start again");
                warnings.push(format!(
                    "instance {id} was stopped for the bake and did not start again ({e}); start it by hand"
                ));
            }
        }
    }

    let snapshot_ids: Vec<_> = image.snapshot_ids().into_iter().cloned().collect();
    let snapshots = if snapshot_ids.is_empty() {
        Vec::new()
    } else {
        retry_default("DescribeSnapshots", || {
            ec2.describe_all_snapshots(DescribeSnapshotsRequest::ids(snapshot_ids.clone()))
        })
        .await?
    };
    tracing::info!(image = %image.id, snapshots = snapshots.len(), consistency = tag_value, "bake complete");
    Ok(Baked {
        crash_consistent: effect == CreateImageEffect::NoReboot,
        consistency_tag: tag_value,
        image,
        snapshots,
        consistency: req.consistency,
        stopped_instance,
        instance_state,
        warnings,
    })
}

/// Refuses a name another image of the account already uses in the Region (CreateImage would
/// answer `InvalidAMIName.Duplicate` only after the instance was stopped).
async fn check_name_free(ec2: &dyn Ec2, name: &str) -> Result<()> {
    let images = images_named(ec2, name).await?;
    check_name_available(name, ec2.account(), ec2.region(), &images)
}

/// CreateImage, retried on throttling and internal errors. CreateImage takes no client token,
/// so a retry after an attempt that did reach EC2 answers `InvalidAMIName.Duplicate`; since the
/// name was free before the first attempt, the image of that attempt (same name, same source
/// instance) is then looked up and used.
async fn create_image_once(ec2: &dyn Ec2, req: &CreateImageRequest) -> Result<ImageId> {
    let mut attempts = 0u32;
    let result = retry_default("CreateImage", || {
        attempts += 1;
        ec2.create_image(req.clone())
    })
    .await;
    match result {
        Err(Error::Conflict(se)) if se.code == "InvalidAMIName.Duplicate" && attempts > 1 => {
            let found = retry_default("DescribeImages", || {
                ec2.describe_all_images(
                    DescribeImagesRequest::new()
                        .owner(Owner::SelfAccount)
                        .filter(Filter::new("name", [req.name.clone()])),
                )
            })
            .await?;
            let mine = found.into_iter().find(|i| {
                i.name == req.name && i.source_instance_id.as_ref() == Some(&req.instance_id)
            });
            match mine {
                Some(i) => {
                    tracing::info!(image = %i.id, "an earlier CreateImage attempt had succeeded; using its image");
                    Ok(i.id)
                }
                None => Err(Error::Conflict(se)),
            }
        }
        other => other,
    }
}

/// Starts an instance the bake stopped and waits until it runs.
async fn restart(ec2: &dyn Ec2, id: &InstanceId, wait: &WaitOptions) -> Result<InstanceState> {
    retry_default("StartInstances", || ec2.start_instances(vec![id.clone()])).await?;
    let inst = wait_for_instance_state(ec2, id, InstanceState::Running, wait).await?;
    Ok(inst.state)
}

/// After a failed bake: starts the instance again if the bake stopped it, and returns the error
/// (noting a failed restart in it).
async fn restart_after_failure(
    ec2: &dyn Ec2,
    id: &InstanceId,
    stopped_instance: bool,
    wait: &WaitOptions,
    err: Error,
) -> Error {
    if !stopped_instance {
        return err;
    }
    match restart(ec2, id, wait).await {
        Ok(_) => err,
        Err(e) => Error::workflow(format!(
            "{err}; the instance {id}, stopped for the bake, then failed to start again ({e}): start it by hand"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DeregisterImageRequest, InstanceStateChange, MockEc2, Page};
    use crate::id::{AccountId, Region};
    use crate::model::{DeregistrationProtection, ImageState, Instance, StateReason};
    use crate::time::Timestamp;
    use mockall::Sequence;
    use std::sync::{Arc, Mutex};

    fn instance_id() -> InstanceId {
        "i-0123456789abcdef0".parse().unwrap()
    }
    fn image_id() -> ImageId {
        "ami-0123456789abcdef0".parse().unwrap()
    }

    fn instance(state: InstanceState) -> Instance {
        Instance {
            id: instance_id(),
            region: "us-east-1".parse().unwrap(),
            owner: "111122223333".parse().unwrap(),
            image_id: "ami-00000000000000000".parse().unwrap(),
            instance_type: "t3.micro".into(),
            state,
            state_reason: None,
            launch_time: Timestamp::EPOCH,
            volumes: vec![],
            product_codes: Vec::new(),
            tags: Tags::new(),
        }
    }

    fn image(state: ImageState) -> Image {
        Image {
            id: image_id(),
            region: "us-east-1".parse().unwrap(),
            name: "golden".into(),
            description: None,
            owner: "111122223333".parse().unwrap(),
            owner_alias: None,
            state,
            state_reason: (state == ImageState::Failed).then(|| StateReason {
                code: "Server.InternalError".into(),
                message: "Internal error".into(),
            }),
            public: false,
            block_devices: vec![],
            root_device_name: "/dev/xvda".into(),
            architecture: "x86_64".into(),
            product_codes: vec![],
            tags: Tags::new(),
            creation_time: Timestamp::EPOCH,
            deprecation_time: None,
            deregistration_protection: DeregistrationProtection::Disabled,
            source_image_id: None,
            source_region: None,
            source_instance_id: Some(instance_id()),
            last_launched_time: None,
        }
    }

    fn change(previous: InstanceState, current: InstanceState) -> Vec<InstanceStateChange> {
        vec![InstanceStateChange {
            instance_id: instance_id(),
            previous,
            current,
        }]
    }

    fn base() -> MockEc2 {
        let mut ec2 = MockEc2::new();
        ec2.expect_account()
            .return_const("111122223333".parse::<AccountId>().unwrap());
        ec2.expect_region()
            .return_const("us-east-1".parse::<Region>().unwrap());
        ec2
    }

    /// Stop-first up to CreateImage: the running instance is described, its name found free,
    /// the instance stopped and waited for until stopped.
    fn expect_stop(ec2: &mut MockEc2, seq: &mut Sequence) {
        ec2.expect_describe_instances()
            .times(1)
            .in_sequence(seq)
            .returning(|_| Ok(Page::last(vec![instance(InstanceState::Running)])));
        ec2.expect_describe_images()
            .times(1)
            .in_sequence(seq)
            .returning(|_| Ok(Page::last(vec![])));
        ec2.expect_stop_instances()
            .times(1)
            .in_sequence(seq)
            .returning(|_| Ok(change(InstanceState::Running, InstanceState::Stopping)));
        ec2.expect_describe_instances()
            .times(1)
            .in_sequence(seq)
            .returning(|_| Ok(Page::last(vec![instance(InstanceState::Stopped)])));
    }

    /// The end of stop-first: the instance started and waited for until running.
    fn expect_restart(ec2: &mut MockEc2, seq: &mut Sequence) {
        ec2.expect_start_instances()
            .times(1)
            .in_sequence(seq)
            .returning(|_| Ok(change(InstanceState::Stopped, InstanceState::Pending)));
        ec2.expect_describe_instances()
            .times(1)
            .in_sequence(seq)
            .returning(|_| Ok(Page::last(vec![instance(InstanceState::Running)])));
    }

    /// Stop-first on a running instance: stop, wait, CreateImage (tagged), wait, start, wait.
    #[tokio::test(start_paused = true)]
    async fn stop_first_stops_images_and_restarts_in_order() {
        let mut seq = Sequence::new();
        let mut ec2 = base();
        expect_stop(&mut ec2, &mut seq);
        let seen = Arc::new(Mutex::new(None));
        let seen2 = seen.clone();
        ec2.expect_create_image()
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |req| {
                *seen2.lock().unwrap() = Some(req);
                Ok(image_id())
            });
        ec2.expect_describe_images()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(Page::last(vec![image(ImageState::Available)])));
        expect_restart(&mut ec2, &mut seq);

        let req = BakeRequest::new(instance_id(), "golden").tag("Team", "platform");
        let baked = bake(&ec2, req).await.unwrap();
        assert_eq!(baked.image.id, image_id());
        assert!(baked.stopped_instance);
        assert!(!baked.crash_consistent);
        assert_eq!(baked.consistency_tag, "stopped");
        assert_eq!(baked.instance_state, InstanceState::Running);
        let create = seen.lock().unwrap().clone().unwrap();
        for tags in [&create.image_tags, &create.snapshot_tags] {
            assert_eq!(
                tags.get(TAG_CONSISTENCY).map(String::as_str),
                Some("stopped")
            );
            assert_eq!(
                tags.get(TAG_SOURCE_INSTANCE).map(String::as_str),
                Some("i-0123456789abcdef0")
            );
            assert_eq!(tags.get("Team").map(String::as_str), Some("platform"));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn no_reboot_of_a_running_instance_is_crash_consistent() {
        let mut ec2 = base();
        ec2.expect_describe_instances()
            .returning(|_| Ok(Page::last(vec![instance(InstanceState::Running)])));
        let mut names = Sequence::new();
        ec2.expect_describe_images()
            .times(1)
            .in_sequence(&mut names)
            .returning(|_| Ok(Page::last(vec![])));
        ec2.expect_create_image()
            .withf(|r| {
                r.no_reboot
                    && r.image_tags.get(TAG_CONSISTENCY).map(String::as_str)
                        == Some("crash-consistent")
            })
            .times(1)
            .in_sequence(&mut names)
            .returning(|_| Ok(image_id()));
        ec2.expect_describe_images()
            .times(1)
            .in_sequence(&mut names)
            .returning(|_| Ok(Page::last(vec![image(ImageState::Available)])));
        let req = BakeRequest::new(instance_id(), "golden").consistency(Consistency::NoReboot);
        let baked = bake(&ec2, req).await.unwrap();
        assert!(baked.crash_consistent);
        assert_eq!(baked.consistency_tag, "crash-consistent");
        assert!(!baked.stopped_instance);
    }

    #[tokio::test(start_paused = true)]
    async fn refused_instance_states_never_reach_create_image() {
        for state in [
            InstanceState::Pending,
            InstanceState::ShuttingDown,
            InstanceState::Terminated,
        ] {
            let mut ec2 = base();
            ec2.expect_describe_instances()
                .returning(move |_| Ok(Page::last(vec![instance(state)])));
            let err = bake(&ec2, BakeRequest::new(instance_id(), "golden"))
                .await
                .unwrap_err();
            assert_eq!(err.code(), "InvalidParameterValue", "{state}");
            assert!(err.message().contains("i-0123456789abcdef0"));
            assert!(err.message().contains(state.as_str()), "{}", err.message());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn bad_requests_make_no_call() {
        let ec2 = MockEc2::new();
        let err = bake(&ec2, BakeRequest::new(instance_id(), "x"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "InvalidAMIName.Malformed");
        let err = bake(
            &ec2,
            BakeRequest::new(instance_id(), "golden").tag("aws:owner", "me"),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "InvalidParameterValue");
        let err = bake(
            &ec2,
            BakeRequest::new(instance_id(), "golden").tag(TAG_CONSISTENCY, "stopped"),
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "InvalidParameterValue");
    }

    #[tokio::test(start_paused = true)]
    async fn duplicate_name_is_refused_before_the_instance_is_stopped() {
        let mut ec2 = base();
        ec2.expect_describe_instances()
            .returning(|_| Ok(Page::last(vec![instance(InstanceState::Running)])));
        ec2.expect_describe_images()
            .returning(|_| Ok(Page::last(vec![image(ImageState::Available)])));
        let err = bake(&ec2, BakeRequest::new(instance_id(), "golden"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "InvalidAMIName.Duplicate");
    }

    /// CreateImage has no client token: an attempt that reached EC2 but answered with an
    /// internal error makes the retry answer `InvalidAMIName.Duplicate`; the bake then finds
    /// the image of the first attempt (same name, same instance) instead of failing.
    #[tokio::test(start_paused = true)]
    async fn a_retried_create_image_recognises_its_own_image() {
        let mut seq = Sequence::new();
        let mut ec2 = base();
        ec2.expect_describe_instances()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(Page::last(vec![instance(InstanceState::Running)])));
        ec2.expect_describe_images()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(Page::last(vec![])));
        ec2.expect_create_image()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Err(crate::Error::from_code("InternalError", "oops")));
        ec2.expect_create_image()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| {
                Err(crate::Error::from_code(
                    "InvalidAMIName.Duplicate",
                    "AMI name golden is already in use by AMI ami-0123456789abcdef0",
                ))
            });
        ec2.expect_describe_images()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(Page::last(vec![image(ImageState::Pending)])));
        ec2.expect_describe_images()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(Page::last(vec![image(ImageState::Available)])));
        let baked = bake(
            &ec2,
            BakeRequest::new(instance_id(), "golden").consistency(Consistency::NoReboot),
        )
        .await
        .unwrap();
        assert_eq!(baked.image.id, image_id());
    }

    /// A failed image is deregistered with its snapshots and the stopped instance restarted.
    #[tokio::test(start_paused = true)]
    async fn a_failed_image_is_cleaned_up_and_the_instance_restarted() {
        let mut seq = Sequence::new();
        let mut ec2 = base();
        expect_stop(&mut ec2, &mut seq);
        ec2.expect_create_image()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(image_id()));
        ec2.expect_describe_images()
            .times(2)
            .in_sequence(&mut seq)
            .returning(|_| Ok(Page::last(vec![image(ImageState::Failed)])));
        ec2.expect_deregister_image()
            .withf(|r: &DeregisterImageRequest| {
                r.image_id == image_id() && r.delete_associated_snapshots
            })
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(vec![]));
        ec2.expect_describe_snapshots()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(Page::last(vec![])));
        expect_restart(&mut ec2, &mut seq);
        let err = bake(&ec2, BakeRequest::new(instance_id(), "golden"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "ImageFailed");
    }
}
