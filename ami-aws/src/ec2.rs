//! [`AwsEc2`]: the [`Ec2`] trait on aws-sdk-ec2.

use std::collections::BTreeMap;

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
use async_trait::async_trait;
use aws_sdk_ec2::operation::modify_snapshot_attribute::builders::ModifySnapshotAttributeFluentBuilder as ModifySnapshotAttribute;
use aws_sdk_ec2::types as sdk;

use crate::convert::{self, VolumeFacts};
use crate::error::{map_sdk_error, response_error};
use crate::keys::KeyManagerResolver;

/// The [`Ec2`] trait on an `aws_sdk_ec2::Client`: one account in one Region.
///
/// Every trait method is one EC2 call (DescribeInstances adds one DescribeVolumes call for the
/// size and encryption of attached volumes). Describe calls return one page: `max_results` and
/// `next_token` are passed through, and [`Ec2Ext`](ami_core::Ec2Ext) follows the pages.
///
/// The KMS key of an encrypted block device or snapshot is classified as AWS or customer managed
/// by the rules of [the crate docs](crate#key-managers): when the rules are not enough
/// and a KMS client was given ([`AwsEc2::with_kms`]), KMS DescribeKey is asked once per key.
///
/// Build one from an [`AwsBackend`](crate::AwsBackend), or from any SDK client with
/// [`AwsEc2::new`].
#[derive(Debug, Clone)]
pub struct AwsEc2 {
    client: aws_sdk_ec2::Client,
    account: AccountId,
    region: Region,
    keys: KeyManagerResolver,
    /// Every changing call is sent with `DryRun=true`.
    dry_run: bool,
}

impl AwsEc2 {
    /// Wraps an SDK client that acts as `account` in `region` (the client's own Region setting
    /// decides where calls go; `region` is what [`Ec2::region`] reports and what returned images
    /// are placed in). Without [`with_kms`](Self::with_kms), keys whose manager is not evident
    /// from their reference are assumed customer managed.
    pub fn new(client: aws_sdk_ec2::Client, account: AccountId, region: Region) -> Self {
        AwsEc2 {
            keys: KeyManagerResolver::new(account.clone(), None),
            client,
            account,
            region,
            dry_run: false,
        }
    }

    /// Uses `kms` (same account and Region) to ask DescribeKey who manages a key.
    pub fn with_kms(mut self, kms: aws_sdk_kms::Client) -> Self {
        self.keys = KeyManagerResolver::new(self.account.clone(), Some(kms));
        self
    }

    /// The SDK client, for calls the trait does not cover.
    pub fn sdk_client(&self) -> &aws_sdk_ec2::Client {
        &self.client
    }

    /// Whether KMS DescribeKey is used to classify keys.
    pub fn resolves_keys_with_kms(&self) -> bool {
        self.keys.has_kms()
    }

    async fn images_from_sdk(&self, images: &[sdk::Image]) -> Result<Vec<Image>> {
        let keys = convert::encrypted_keys(convert::image_key_pairs(images));
        let managers = self.keys.resolve_all(&keys).await;
        images
            .iter()
            .filter(|i| convert::usable_id("image", i.image_id(), ImageId::parse))
            .map(|i| convert::image_from_sdk(i, &self.region, &managers))
            .collect()
    }

    /// Size and encryption of volumes, by volume id (DescribeVolumes, 200 ids per call).
    async fn volume_facts(&self, ids: Vec<String>) -> Result<BTreeMap<String, VolumeFacts>> {
        let mut out = BTreeMap::new();
        for chunk in ids.chunks(200) {
            let mut token = None;
            loop {
                let resp = self
                    .client
                    .describe_volumes()
                    .filters(
                        sdk::Filter::builder()
                            .name("volume-id")
                            .set_values(Some(chunk.to_vec()))
                            .build(),
                    )
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(map_sdk_error)?;
                let keys = convert::encrypted_keys(
                    resp.volumes()
                        .iter()
                        .map(|v| (v.encrypted(), v.kms_key_id())),
                );
                let managers = self.keys.resolve_all(&keys).await;
                for v in resp.volumes() {
                    let Some(id) = v.volume_id() else { continue };
                    out.insert(
                        id.to_owned(),
                        VolumeFacts {
                            size_gib: v.size().and_then(|s| u32::try_from(s).ok()).unwrap_or(0),
                            encryption: convert::encryption(
                                v.encrypted(),
                                v.kms_key_id(),
                                &managers,
                            )?,
                        },
                    );
                }
                match resp.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                    _ => break,
                }
            }
        }
        Ok(out)
    }

    async fn instances_from_sdk(
        &self,
        instances: &[(&sdk::Instance, Option<&str>)],
    ) -> Result<Vec<Instance>> {
        let volume_ids: Vec<String> = instances
            .iter()
            .flat_map(|(i, _)| i.block_device_mappings())
            .filter_map(|m| m.ebs().and_then(|e| e.volume_id()).map(str::to_owned))
            .collect();
        let facts = if volume_ids.is_empty() {
            BTreeMap::new()
        } else {
            self.volume_facts(volume_ids).await?
        };
        instances
            .iter()
            .filter(|(i, _)| convert::usable_id("instance", i.instance_id(), InstanceId::parse))
            .map(|(i, owner)| {
                let owner = match owner {
                    Some(o) => convert::required_id("OwnerId", Some(o), AccountId::parse)?,
                    None => self.account.clone(),
                };
                convert::instance_from_sdk(i, &owner, &self.region, &facts)
            })
            .collect()
    }
}

fn page_size(n: Option<u32>) -> Result<Option<i32>> {
    n.map(|n| convert::to_i32("max_results", n)).transpose()
}

fn next_token(t: Option<&str>) -> Option<String> {
    t.filter(|t| !t.is_empty()).map(str::to_owned)
}

fn ids<T: AsRef<str>>(v: &[T]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| v.iter().map(|i| i.as_ref().to_owned()).collect())
}

fn tag_specs(specs: [Option<sdk::TagSpecification>; 2]) -> Option<Vec<sdk::TagSpecification>> {
    let v: Vec<_> = specs.into_iter().flatten().collect();
    (!v.is_empty()).then_some(v)
}

/// ModifySnapshotAttribute in the `OperationType` + `UserId.N`/`UserGroup.N` form.
fn legacy_volume_permissions(
    call: ModifySnapshotAttribute,
    op: sdk::OperationType,
    perms: &[CreateVolumePermission],
) -> ModifySnapshotAttribute {
    let users: Vec<String> = perms
        .iter()
        .filter_map(|p| match p {
            CreateVolumePermission::Account(a) => Some(a.as_str().to_owned()),
            CreateVolumePermission::Public => None,
        })
        .collect();
    let public = perms.contains(&CreateVolumePermission::Public);
    call.operation_type(op)
        .set_user_ids((!users.is_empty()).then_some(users))
        .set_group_names(public.then(|| vec!["all".to_owned()]))
}

fn new_image_id(id: Option<&str>) -> Result<ImageId> {
    convert::required_id("ImageId", id, ImageId::parse)
}

#[async_trait]
impl Ec2 for AwsEc2 {
    fn account(&self) -> &AccountId {
        &self.account
    }

    fn region(&self) -> &Region {
        &self.region
    }

    fn dry_run(&self) -> std::sync::Arc<dyn Ec2> {
        std::sync::Arc::new(AwsEc2 {
            dry_run: true,
            ..self.clone()
        })
    }

    async fn run_instances(&self, req: RunInstancesRequest) -> Result<Vec<Instance>> {
        let count = convert::to_i32("count", req.count)?;
        let mut mappings = Vec::new();
        for v in &req.extra_volumes {
            mappings.push(
                sdk::BlockDeviceMapping::builder()
                    .device_name(&v.device_name)
                    .ebs(
                        sdk::EbsBlockDevice::builder()
                            .volume_size(convert::to_i32("size_gib", v.size_gib)?)
                            .encrypted(v.encrypted)
                            .set_kms_key_id(v.kms_key_id.as_ref().map(|k| k.as_str().to_owned()))
                            .delete_on_termination(true)
                            .build(),
                    )
                    .build(),
            );
        }
        for v in &req.encrypt_volumes {
            mappings.push(
                sdk::BlockDeviceMapping::builder()
                    .device_name(&v.device_name)
                    .ebs(
                        sdk::EbsBlockDevice::builder()
                            .encrypted(true)
                            .set_kms_key_id(v.kms_key_id.as_ref().map(|k| k.as_str().to_owned()))
                            .build(),
                    )
                    .build(),
            );
        }
        let resp = self
            .client
            .run_instances()
            .dry_run(self.dry_run)
            .image_id(req.image_id.as_str())
            .instance_type(sdk::InstanceType::from(req.instance_type.as_str()))
            .min_count(count)
            .max_count(count)
            .set_block_device_mappings((!mappings.is_empty()).then_some(mappings))
            .set_tag_specifications(tag_specs([
                convert::tag_spec(sdk::ResourceType::Instance, &req.tags),
                convert::tag_spec(sdk::ResourceType::Volume, &req.tags),
            ]))
            .set_client_token(req.client_token.map(|t| t.as_str().to_owned()))
            .send()
            .await
            .map_err(map_sdk_error)?;
        let owner = resp.owner_id();
        let list: Vec<_> = resp.instances().iter().map(|i| (i, owner)).collect();
        self.instances_from_sdk(&list).await
    }

    async fn describe_instances(&self, req: DescribeInstancesRequest) -> Result<Page<Instance>> {
        let resp = self
            .client
            .describe_instances()
            .set_instance_ids(ids(&req.instance_ids))
            .set_filters(convert::filters_to_sdk(&req.filters))
            .set_max_results(page_size(req.max_results)?)
            .set_next_token(req.next_token)
            .send()
            .await
            .map_err(map_sdk_error)?;
        let list: Vec<_> = resp
            .reservations()
            .iter()
            .flat_map(|r| r.instances().iter().map(move |i| (i, r.owner_id())))
            .collect();
        Ok(Page {
            items: self.instances_from_sdk(&list).await?,
            next_token: next_token(resp.next_token()),
        })
    }

    async fn stop_instances(&self, ids: Vec<InstanceId>) -> Result<Vec<InstanceStateChange>> {
        let resp = self
            .client
            .stop_instances()
            .dry_run(self.dry_run)
            .set_instance_ids(self::ids(&ids))
            .send()
            .await
            .map_err(map_sdk_error)?;
        resp.stopping_instances()
            .iter()
            .map(convert::state_change)
            .collect()
    }

    async fn start_instances(&self, ids: Vec<InstanceId>) -> Result<Vec<InstanceStateChange>> {
        let resp = self
            .client
            .start_instances()
            .dry_run(self.dry_run)
            .set_instance_ids(self::ids(&ids))
            .send()
            .await
            .map_err(map_sdk_error)?;
        resp.starting_instances()
            .iter()
            .map(convert::state_change)
            .collect()
    }

    async fn reboot_instances(&self, ids: Vec<InstanceId>) -> Result<()> {
        self.client
            .reboot_instances()
            .dry_run(self.dry_run)
            .set_instance_ids(self::ids(&ids))
            .send()
            .await
            .map_err(map_sdk_error)?;
        Ok(())
    }

    async fn terminate_instances(&self, ids: Vec<InstanceId>) -> Result<Vec<InstanceStateChange>> {
        let resp = self
            .client
            .terminate_instances()
            .dry_run(self.dry_run)
            .set_instance_ids(self::ids(&ids))
            .send()
            .await
            .map_err(map_sdk_error)?;
        resp.terminating_instances()
            .iter()
            .map(convert::state_change)
            .collect()
    }

    async fn create_image(&self, req: CreateImageRequest) -> Result<ImageId> {
        let resp = self
            .client
            .create_image()
            .dry_run(self.dry_run)
            .instance_id(req.instance_id.as_str())
            .name(req.name)
            .set_description(req.description)
            .no_reboot(req.no_reboot)
            .set_tag_specifications(tag_specs([
                convert::tag_spec(sdk::ResourceType::Image, &req.image_tags),
                convert::tag_spec(sdk::ResourceType::Snapshot, &req.snapshot_tags),
            ]))
            .send()
            .await
            .map_err(map_sdk_error)?;
        new_image_id(resp.image_id())
    }

    async fn copy_image(&self, req: CopyImageRequest) -> Result<ImageId> {
        let resp = self
            .client
            .copy_image()
            .dry_run(self.dry_run)
            .source_region(req.source_region.as_str())
            .source_image_id(req.source_image_id.as_str())
            .name(req.name)
            .set_description(req.description)
            .set_encrypted(req.encrypted)
            .set_kms_key_id(req.kms_key_id.map(|k| k.as_str().to_owned()))
            .set_client_token(req.client_token.map(|t| t.as_str().to_owned()))
            .set_copy_image_tags(req.copy_image_tags.then_some(true))
            .set_tag_specifications(tag_specs([
                convert::tag_spec(sdk::ResourceType::Image, &req.image_tags),
                convert::tag_spec(sdk::ResourceType::Snapshot, &req.snapshot_tags),
            ]))
            .send()
            .await
            .map_err(map_sdk_error)?;
        new_image_id(resp.image_id())
    }

    async fn register_image(&self, req: RegisterImageRequest) -> Result<ImageId> {
        let mut mappings = Vec::new();
        for d in &req.block_devices {
            mappings.push(
                sdk::BlockDeviceMapping::builder()
                    .device_name(&d.device_name)
                    .ebs(
                        sdk::EbsBlockDevice::builder()
                            .snapshot_id(d.snapshot_id.as_str())
                            .set_volume_size(
                                d.volume_size_gib
                                    .map(|s| convert::to_i32("volume_size_gib", s))
                                    .transpose()?,
                            )
                            .delete_on_termination(d.delete_on_termination)
                            .build(),
                    )
                    .build(),
            );
        }
        let resp = self
            .client
            .register_image()
            .dry_run(self.dry_run)
            .name(req.name)
            .set_description(req.description)
            .architecture(sdk::ArchitectureValues::from(req.architecture.as_str()))
            .root_device_name(req.root_device_name)
            // Every current instance type needs HVM; AWS's default for RegisterImage is paravirtual.
            .virtualization_type("hvm")
            .set_block_device_mappings(Some(mappings))
            .set_tag_specifications(tag_specs([
                convert::tag_spec(sdk::ResourceType::Image, &req.image_tags),
                None,
            ]))
            .send()
            .await
            .map_err(map_sdk_error)?;
        new_image_id(resp.image_id())
    }

    async fn describe_images(&self, req: DescribeImagesRequest) -> Result<Page<Image>> {
        let owners: Vec<String> = req.owners.iter().map(|o| o.to_string()).collect();
        let users: Vec<String> = req.executable_by.iter().map(|e| e.to_string()).collect();
        let resp = self
            .client
            .describe_images()
            .set_image_ids(ids(&req.image_ids))
            .set_owners(ids(&owners))
            .set_executable_users(ids(&users))
            .set_filters(convert::filters_to_sdk(&req.filters))
            .set_include_deprecated(req.include_deprecated.then_some(true))
            .set_include_disabled(req.include_disabled.then_some(true))
            .set_max_results(page_size(req.max_results)?)
            .set_next_token(req.next_token)
            .send()
            .await
            .map_err(map_sdk_error)?;
        Ok(Page {
            items: self.images_from_sdk(resp.images()).await?,
            next_token: next_token(resp.next_token()),
        })
    }

    async fn deregister_image(
        &self,
        req: DeregisterImageRequest,
    ) -> Result<Vec<DeleteSnapshotResult>> {
        let resp = self
            .client
            .deregister_image()
            .dry_run(self.dry_run)
            .image_id(req.image_id.as_str())
            .set_delete_associated_snapshots(req.delete_associated_snapshots.then_some(true))
            .send()
            .await
            .map_err(map_sdk_error)?;
        resp.delete_snapshot_results()
            .iter()
            .map(convert::delete_snapshot_result)
            .collect()
    }

    async fn describe_launch_permissions(&self, image: ImageId) -> Result<Vec<LaunchPermission>> {
        let resp = self
            .client
            .describe_image_attribute()
            .image_id(image.as_str())
            .attribute(sdk::ImageAttributeName::LaunchPermission)
            .send()
            .await
            .map_err(map_sdk_error)?;
        resp.launch_permissions()
            .iter()
            .map(convert::launch_permission_from_sdk)
            .collect()
    }

    async fn modify_launch_permissions(
        &self,
        image: ImageId,
        changes: PermissionChanges<LaunchPermission>,
    ) -> Result<()> {
        let list = |v: &[LaunchPermission]| {
            (!v.is_empty()).then(|| v.iter().map(convert::launch_permission_to_sdk).collect())
        };
        let mods = sdk::LaunchPermissionModifications::builder()
            .set_add(list(&changes.add))
            .set_remove(list(&changes.remove))
            .build();
        self.client
            .modify_image_attribute()
            .dry_run(self.dry_run)
            .image_id(image.as_str())
            .launch_permission(mods)
            .send()
            .await
            .map_err(map_sdk_error)?;
        Ok(())
    }

    async fn reset_launch_permissions(&self, image: ImageId) -> Result<()> {
        self.client
            .reset_image_attribute()
            .dry_run(self.dry_run)
            .image_id(image.as_str())
            .attribute(sdk::ResetImageAttributeName::LaunchPermission)
            .send()
            .await
            .map_err(map_sdk_error)?;
        Ok(())
    }

    async fn cancel_image_launch_permission(&self, image: ImageId) -> Result<()> {
        self.client
            .cancel_image_launch_permission()
            .dry_run(self.dry_run)
            .image_id(image.as_str())
            .send()
            .await
            .map_err(map_sdk_error)?;
        Ok(())
    }

    async fn modify_image_description(&self, image: ImageId, description: String) -> Result<()> {
        self.client
            .modify_image_attribute()
            .dry_run(self.dry_run)
            .image_id(image.as_str())
            .description(sdk::AttributeValue::builder().value(description).build())
            .send()
            .await
            .map_err(map_sdk_error)?;
        Ok(())
    }

    async fn enable_image_deprecation(&self, image: ImageId, at: Timestamp) -> Result<()> {
        self.client
            .enable_image_deprecation()
            .dry_run(self.dry_run)
            .image_id(image.as_str())
            .deprecate_at(convert::datetime(at))
            .send()
            .await
            .map_err(map_sdk_error)?;
        Ok(())
    }

    async fn disable_image_deprecation(&self, image: ImageId) -> Result<()> {
        self.client
            .disable_image_deprecation()
            .dry_run(self.dry_run)
            .image_id(image.as_str())
            .send()
            .await
            .map_err(map_sdk_error)?;
        Ok(())
    }

    async fn enable_image_deregistration_protection(
        &self,
        image: ImageId,
        with_cooldown: bool,
    ) -> Result<()> {
        self.client
            .enable_image_deregistration_protection()
            .dry_run(self.dry_run)
            .image_id(image.as_str())
            .with_cooldown(with_cooldown)
            .send()
            .await
            .map_err(map_sdk_error)?;
        Ok(())
    }

    async fn disable_image_deregistration_protection(&self, image: ImageId) -> Result<()> {
        self.client
            .disable_image_deregistration_protection()
            .dry_run(self.dry_run)
            .image_id(image.as_str())
            .send()
            .await
            .map_err(map_sdk_error)?;
        Ok(())
    }

    async fn disable_image(&self, image: ImageId) -> Result<()> {
        self.client
            .disable_image()
            .dry_run(self.dry_run)
            .image_id(image.as_str())
            .send()
            .await
            .map_err(map_sdk_error)?;
        Ok(())
    }

    async fn enable_image(&self, image: ImageId) -> Result<()> {
        self.client
            .enable_image()
            .dry_run(self.dry_run)
            .image_id(image.as_str())
            .send()
            .await
            .map_err(map_sdk_error)?;
        Ok(())
    }

    async fn get_image_block_public_access_state(&self) -> Result<BlockPublicAccessState> {
        let resp = self
            .client
            .get_image_block_public_access_state()
            .send()
            .await
            .map_err(map_sdk_error)?;
        match resp.image_block_public_access_state() {
            Some("block-new-sharing") => Ok(BlockPublicAccessState::BlockNewSharing),
            Some("unblocked") => Ok(BlockPublicAccessState::Unblocked),
            other => Err(response_error(format!(
                "AWS returned an unknown image block public access state {other:?}"
            ))),
        }
    }

    async fn enable_image_block_public_access(&self) -> Result<()> {
        self.client
            .enable_image_block_public_access()
            .dry_run(self.dry_run)
            .image_block_public_access_state(
                sdk::ImageBlockPublicAccessEnabledState::BlockNewSharing,
            )
            .send()
            .await
            .map_err(map_sdk_error)?;
        Ok(())
    }

    async fn disable_image_block_public_access(&self) -> Result<()> {
        self.client
            .disable_image_block_public_access()
            .dry_run(self.dry_run)
            .send()
            .await
            .map_err(map_sdk_error)?;
        Ok(())
    }

    async fn create_tags(&self, resources: Vec<ResourceId>, tags: Tags) -> Result<()> {
        let resources: Vec<String> = resources.iter().map(|r| r.to_string()).collect();
        self.client
            .create_tags()
            .dry_run(self.dry_run)
            .set_resources(Some(resources))
            .set_tags(Some(convert::tags_to_sdk(&tags)))
            .send()
            .await
            .map_err(map_sdk_error)?;
        Ok(())
    }

    async fn delete_tags(&self, resources: Vec<ResourceId>, keys: Vec<String>) -> Result<()> {
        let resources: Vec<String> = resources.iter().map(|r| r.to_string()).collect();
        let tags = keys
            .into_iter()
            .map(|k| sdk::Tag::builder().key(k).build())
            .collect();
        self.client
            .delete_tags()
            .dry_run(self.dry_run)
            .set_resources(Some(resources))
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(map_sdk_error)?;
        Ok(())
    }

    async fn describe_snapshots(&self, req: DescribeSnapshotsRequest) -> Result<Page<Snapshot>> {
        let owners: Vec<String> = req.owners.iter().map(|o| o.to_string()).collect();
        let resp = self
            .client
            .describe_snapshots()
            .set_snapshot_ids(ids(&req.snapshot_ids))
            .set_owner_ids(ids(&owners))
            .set_restorable_by_user_ids(ids(&req.restorable_by))
            .set_filters(convert::filters_to_sdk(&req.filters))
            .set_max_results(page_size(req.max_results)?)
            .set_next_token(req.next_token)
            .send()
            .await
            .map_err(map_sdk_error)?;
        let keys = convert::encrypted_keys(
            resp.snapshots()
                .iter()
                .map(|s| (s.encrypted(), s.kms_key_id())),
        );
        let managers = self.keys.resolve_all(&keys).await;
        let items = resp
            .snapshots()
            .iter()
            .filter(|s| convert::usable_id("snapshot", s.snapshot_id(), SnapshotId::parse))
            .map(|s| convert::snapshot_from_sdk(s, &self.region, &managers))
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            items,
            next_token: next_token(resp.next_token()),
        })
    }

    async fn delete_snapshot(&self, id: SnapshotId) -> Result<()> {
        self.client
            .delete_snapshot()
            .dry_run(self.dry_run)
            .snapshot_id(id.as_str())
            .send()
            .await
            .map_err(map_sdk_error)?;
        Ok(())
    }

    async fn describe_snapshot_permissions(
        &self,
        id: SnapshotId,
    ) -> Result<Vec<CreateVolumePermission>> {
        let resp = self
            .client
            .describe_snapshot_attribute()
            .snapshot_id(id.as_str())
            .attribute(sdk::SnapshotAttributeName::CreateVolumePermission)
            .send()
            .await
            .map_err(map_sdk_error)?;
        resp.create_volume_permissions()
            .iter()
            .map(convert::volume_permission_from_sdk)
            .collect()
    }

    async fn modify_snapshot_permissions(
        &self,
        id: SnapshotId,
        changes: PermissionChanges<CreateVolumePermission>,
    ) -> Result<()> {
        let call = self
            .client
            .modify_snapshot_attribute()
            .dry_run(self.dry_run)
            .snapshot_id(id.as_str())
            .attribute(sdk::SnapshotAttributeName::CreateVolumePermission);
        // AWS takes either OperationType + UserId.N/UserGroup.N or CreateVolumePermission
        // Add/Remove lists. A change in one direction goes in the first form, which every AWS
        // implementation reads (moto reads only that one); a mixed change, which AWS refuses,
        // goes in the second so that AWS answers with its own error.
        let call = match (changes.add.is_empty(), changes.remove.is_empty()) {
            (false, true) => legacy_volume_permissions(call, sdk::OperationType::Add, &changes.add),
            (true, false) => {
                legacy_volume_permissions(call, sdk::OperationType::Remove, &changes.remove)
            }
            _ => {
                let list = |v: &[CreateVolumePermission]| {
                    (!v.is_empty())
                        .then(|| v.iter().map(convert::volume_permission_to_sdk).collect())
                };
                call.create_volume_permission(
                    sdk::CreateVolumePermissionModifications::builder()
                        .set_add(list(&changes.add))
                        .set_remove(list(&changes.remove))
                        .build(),
                )
            }
        };
        call.send().await.map_err(map_sdk_error)?;
        Ok(())
    }
}
