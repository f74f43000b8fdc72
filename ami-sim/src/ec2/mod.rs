//! The EC2 client of one account in one Region: [`Ec2`] over the shared state.

mod attributes;
mod describe;
mod images;
mod instances;
mod snapshots;
mod tags;

use async_trait::async_trait;

use ami_core::api::{
    CopyImageRequest, CreateImageRequest, DeregisterImageRequest, DescribeImagesRequest,
    DescribeInstancesRequest, DescribeSnapshotsRequest, InstanceStateChange, Page,
    PermissionChanges, RegisterImageRequest, RunInstancesRequest,
};
use ami_core::model::{BlockPublicAccessState, DeleteSnapshotResult, ResourceId};
use ami_core::{
    AccountId, CreateVolumePermission, Ec2, Image, ImageId, Instance, InstanceId, LaunchPermission,
    Region, Result, Snapshot, SnapshotId, Tags, Timestamp,
};

use crate::log::Op;
use crate::sim::Sim;

/// The EC2 client of one account in one Region.
#[derive(Debug, Clone)]
pub(crate) struct SimEc2 {
    pub sim: Sim,
    pub account: AccountId,
    pub region: Region,
    /// Every changing call is an AWS dry run (`DryRun=true`).
    pub dry_run: bool,
}

fn ok<T>(_: &T) -> String {
    String::new()
}

fn ids<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn changes(v: &[InstanceStateChange]) -> String {
    v.iter()
        .map(|c| format!("{}:{}->{}", c.instance_id, c.previous, c.current))
        .collect::<Vec<_>>()
        .join(",")
}

fn page_summary<T>(p: &Page<T>) -> String {
    match &p.next_token {
        Some(_) => format!("{} items, more", p.items.len()),
        None => format!("{} items", p.items.len()),
    }
}

impl SimEc2 {
    fn call<T>(
        &self,
        op: Op,
        f: impl FnOnce(&mut crate::state::State, &crate::sim::Ctx<'_>) -> Result<T>,
        summary: impl FnOnce(&T) -> String,
    ) -> Result<T> {
        if self.dry_run && !op.is_read() {
            return self.sim.call_dry_run(op, &self.account, &self.region, f);
        }
        self.sim.call(op, &self.account, &self.region, f, summary)
    }
}

#[async_trait]
impl Ec2 for SimEc2 {
    fn account(&self) -> &AccountId {
        &self.account
    }

    fn region(&self) -> &Region {
        &self.region
    }

    fn dry_run(&self) -> std::sync::Arc<dyn Ec2> {
        std::sync::Arc::new(SimEc2 {
            dry_run: true,
            ..self.clone()
        })
    }

    async fn run_instances(&self, req: RunInstancesRequest) -> Result<Vec<Instance>> {
        self.call(
            Op::RunInstances,
            |st, cx| st.run_instances(cx, req),
            |v: &Vec<Instance>| ids(&v.iter().map(|i| i.id.clone()).collect::<Vec<_>>()),
        )
    }

    async fn describe_instances(&self, req: DescribeInstancesRequest) -> Result<Page<Instance>> {
        self.call(
            Op::DescribeInstances,
            |st, cx| st.describe_instances(cx, req),
            page_summary,
        )
    }

    async fn stop_instances(&self, ids: Vec<InstanceId>) -> Result<Vec<InstanceStateChange>> {
        self.call(
            Op::StopInstances,
            |st, cx| st.stop_instances(cx, ids),
            |v| changes(v),
        )
    }

    async fn start_instances(&self, ids: Vec<InstanceId>) -> Result<Vec<InstanceStateChange>> {
        self.call(
            Op::StartInstances,
            |st, cx| st.start_instances(cx, ids),
            |v| changes(v),
        )
    }

    async fn reboot_instances(&self, ids: Vec<InstanceId>) -> Result<()> {
        self.call(
            Op::RebootInstances,
            |st, cx| st.reboot_instances(cx, ids),
            ok,
        )
    }

    async fn terminate_instances(&self, ids: Vec<InstanceId>) -> Result<Vec<InstanceStateChange>> {
        self.call(
            Op::TerminateInstances,
            |st, cx| st.terminate_instances(cx, ids),
            |v| changes(v),
        )
    }

    async fn create_image(&self, req: CreateImageRequest) -> Result<ImageId> {
        self.call(
            Op::CreateImage,
            |st, cx| st.create_image(cx, req),
            ToString::to_string,
        )
    }

    async fn copy_image(&self, req: CopyImageRequest) -> Result<ImageId> {
        self.call(
            Op::CopyImage,
            |st, cx| st.copy_image(cx, req),
            ToString::to_string,
        )
    }

    async fn register_image(&self, req: RegisterImageRequest) -> Result<ImageId> {
        self.call(
            Op::RegisterImage,
            |st, cx| st.register_image(cx, req),
            ToString::to_string,
        )
    }

    async fn describe_images(&self, req: DescribeImagesRequest) -> Result<Page<Image>> {
        self.call(
            Op::DescribeImages,
            |st, cx| st.describe_images(cx, req),
            page_summary,
        )
    }

    async fn deregister_image(
        &self,
        req: DeregisterImageRequest,
    ) -> Result<Vec<DeleteSnapshotResult>> {
        self.call(
            Op::DeregisterImage,
            |st, cx| st.deregister_image(cx, req),
            |v: &Vec<DeleteSnapshotResult>| {
                v.iter()
                    .map(|r| format!("{}:{:?}", r.snapshot_id, r.outcome))
                    .collect::<Vec<_>>()
                    .join(",")
            },
        )
    }

    async fn describe_launch_permissions(&self, image: ImageId) -> Result<Vec<LaunchPermission>> {
        self.call(
            Op::DescribeImageAttribute,
            |st, cx| st.describe_launch_permissions(cx, &image),
            |v: &Vec<LaunchPermission>| format!("{} permissions", v.len()),
        )
    }

    async fn modify_launch_permissions(
        &self,
        image: ImageId,
        changes: PermissionChanges<LaunchPermission>,
    ) -> Result<()> {
        self.call(
            Op::ModifyImageAttribute,
            |st, cx| st.modify_launch_permissions(cx, &image, changes),
            ok,
        )
    }

    async fn reset_launch_permissions(&self, image: ImageId) -> Result<()> {
        self.call(
            Op::ResetImageAttribute,
            |st, cx| st.reset_launch_permissions(cx, &image),
            ok,
        )
    }

    async fn cancel_image_launch_permission(&self, image: ImageId) -> Result<()> {
        self.call(
            Op::CancelImageLaunchPermission,
            |st, cx| st.cancel_image_launch_permission(cx, &image),
            ok,
        )
    }

    async fn modify_image_description(&self, image: ImageId, description: String) -> Result<()> {
        self.call(
            Op::ModifyImageAttribute,
            |st, cx| st.modify_image_description(cx, &image, description),
            ok,
        )
    }

    async fn enable_image_deprecation(&self, image: ImageId, at: Timestamp) -> Result<()> {
        self.call(
            Op::EnableImageDeprecation,
            |st, cx| st.enable_image_deprecation(cx, &image, at),
            ok,
        )
    }

    async fn disable_image_deprecation(&self, image: ImageId) -> Result<()> {
        self.call(
            Op::DisableImageDeprecation,
            |st, cx| st.disable_image_deprecation(cx, &image),
            ok,
        )
    }

    async fn enable_image_deregistration_protection(
        &self,
        image: ImageId,
        with_cooldown: bool,
    ) -> Result<()> {
        self.call(
            Op::EnableImageDeregistrationProtection,
            |st, cx| st.enable_deregistration_protection(cx, &image, with_cooldown),
            ok,
        )
    }

    async fn disable_image_deregistration_protection(&self, image: ImageId) -> Result<()> {
        self.call(
            Op::DisableImageDeregistrationProtection,
            |st, cx| st.disable_deregistration_protection(cx, &image),
            ok,
        )
    }

    async fn disable_image(&self, image: ImageId) -> Result<()> {
        self.call(Op::DisableImage, |st, cx| st.disable_image(cx, &image), ok)
    }

    async fn enable_image(&self, image: ImageId) -> Result<()> {
        self.call(Op::EnableImage, |st, cx| st.enable_image(cx, &image), ok)
    }

    async fn get_image_block_public_access_state(&self) -> Result<BlockPublicAccessState> {
        self.call(
            Op::GetImageBlockPublicAccessState,
            |st, cx| Ok(st.bpa_state(cx.account, cx.region)),
            |s| s.as_str().to_owned(),
        )
    }

    async fn enable_image_block_public_access(&self) -> Result<()> {
        self.call(
            Op::EnableImageBlockPublicAccess,
            |st, cx| st.set_block_public_access(cx, BlockPublicAccessState::BlockNewSharing),
            ok,
        )
    }

    async fn disable_image_block_public_access(&self) -> Result<()> {
        self.call(
            Op::DisableImageBlockPublicAccess,
            |st, cx| st.set_block_public_access(cx, BlockPublicAccessState::Unblocked),
            ok,
        )
    }

    async fn create_tags(&self, resources: Vec<ResourceId>, tags: Tags) -> Result<()> {
        self.call(
            Op::CreateTags,
            |st, cx| st.create_tags(cx, resources, tags),
            ok,
        )
    }

    async fn delete_tags(&self, resources: Vec<ResourceId>, keys: Vec<String>) -> Result<()> {
        self.call(
            Op::DeleteTags,
            |st, cx| st.delete_tags(cx, resources, keys),
            ok,
        )
    }

    async fn describe_snapshots(&self, req: DescribeSnapshotsRequest) -> Result<Page<Snapshot>> {
        self.call(
            Op::DescribeSnapshots,
            |st, cx| st.describe_snapshots(cx, req),
            page_summary,
        )
    }

    async fn delete_snapshot(&self, id: SnapshotId) -> Result<()> {
        self.call(Op::DeleteSnapshot, |st, cx| st.delete_snapshot(cx, &id), ok)
    }

    async fn describe_snapshot_permissions(
        &self,
        id: SnapshotId,
    ) -> Result<Vec<CreateVolumePermission>> {
        self.call(
            Op::DescribeSnapshotAttribute,
            |st, cx| st.describe_snapshot_permissions(cx, &id),
            |v: &Vec<CreateVolumePermission>| format!("{} permissions", v.len()),
        )
    }

    async fn modify_snapshot_permissions(
        &self,
        id: SnapshotId,
        changes: PermissionChanges<CreateVolumePermission>,
    ) -> Result<()> {
        self.call(
            Op::ModifySnapshotAttribute,
            |st, cx| st.modify_snapshot_permissions(cx, &id, changes),
            ok,
        )
    }
}
