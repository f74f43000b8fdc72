//! `Arc<T>`, `Box<T>` and `&T` forward every trait method, so wrappers never lose one.

use std::sync::Arc;

use async_trait::async_trait;

use super::*;

macro_rules! forward_ec2 {
    ($($ty:ty),*) => {$(
        #[deny(clippy::missing_trait_methods)]
        #[async_trait]
        impl<T: Ec2 + ?Sized> Ec2 for $ty {
            fn account(&self) -> &AccountId { (**self).account() }
            fn region(&self) -> &Region { (**self).region() }
            async fn run_instances(&self, req: RunInstancesRequest) -> Result<Vec<Instance>> { (**self).run_instances(req).await }
            async fn describe_instances(&self, req: DescribeInstancesRequest) -> Result<Page<Instance>> { (**self).describe_instances(req).await }
            async fn stop_instances(&self, ids: Vec<InstanceId>) -> Result<Vec<InstanceStateChange>> { (**self).stop_instances(ids).await }
            async fn start_instances(&self, ids: Vec<InstanceId>) -> Result<Vec<InstanceStateChange>> { (**self).start_instances(ids).await }
            async fn reboot_instances(&self, ids: Vec<InstanceId>) -> Result<()> { (**self).reboot_instances(ids).await }
            async fn terminate_instances(&self, ids: Vec<InstanceId>) -> Result<Vec<InstanceStateChange>> { (**self).terminate_instances(ids).await }
            async fn create_image(&self, req: CreateImageRequest) -> Result<ImageId> { (**self).create_image(req).await }
            async fn copy_image(&self, req: CopyImageRequest) -> Result<ImageId> { (**self).copy_image(req).await }
            async fn register_image(&self, req: RegisterImageRequest) -> Result<ImageId> { (**self).register_image(req).await }
            async fn describe_images(&self, req: DescribeImagesRequest) -> Result<Page<Image>> { (**self).describe_images(req).await }
            async fn deregister_image(&self, req: DeregisterImageRequest) -> Result<Vec<DeleteSnapshotResult>> { (**self).deregister_image(req).await }
            async fn describe_launch_permissions(&self, image: ImageId) -> Result<Vec<LaunchPermission>> { (**self).describe_launch_permissions(image).await }
            async fn modify_launch_permissions(&self, image: ImageId, changes: PermissionChanges<LaunchPermission>) -> Result<()> { (**self).modify_launch_permissions(image, changes).await }
            async fn reset_launch_permissions(&self, image: ImageId) -> Result<()> { (**self).reset_launch_permissions(image).await }
            async fn cancel_image_launch_permission(&self, image: ImageId) -> Result<()> { (**self).cancel_image_launch_permission(image).await }
            async fn modify_image_description(&self, image: ImageId, description: String) -> Result<()> { (**self).modify_image_description(image, description).await }
            async fn enable_image_deprecation(&self, image: ImageId, at: Timestamp) -> Result<()> { (**self).enable_image_deprecation(image, at).await }
            async fn disable_image_deprecation(&self, image: ImageId) -> Result<()> { (**self).disable_image_deprecation(image).await }
            async fn enable_image_deregistration_protection(&self, image: ImageId, with_cooldown: bool) -> Result<()> { (**self).enable_image_deregistration_protection(image, with_cooldown).await }
            async fn disable_image_deregistration_protection(&self, image: ImageId) -> Result<()> { (**self).disable_image_deregistration_protection(image).await }
            async fn disable_image(&self, image: ImageId) -> Result<()> { (**self).disable_image(image).await }
            async fn enable_image(&self, image: ImageId) -> Result<()> { (**self).enable_image(image).await }
            async fn get_image_block_public_access_state(&self) -> Result<BlockPublicAccessState> { (**self).get_image_block_public_access_state().await }
            async fn enable_image_block_public_access(&self) -> Result<()> { (**self).enable_image_block_public_access().await }
            async fn disable_image_block_public_access(&self) -> Result<()> { (**self).disable_image_block_public_access().await }
            async fn create_tags(&self, resources: Vec<ResourceId>, tags: Tags) -> Result<()> { (**self).create_tags(resources, tags).await }
            async fn delete_tags(&self, resources: Vec<ResourceId>, keys: Vec<String>) -> Result<()> { (**self).delete_tags(resources, keys).await }
            async fn describe_snapshots(&self, req: DescribeSnapshotsRequest) -> Result<Page<Snapshot>> { (**self).describe_snapshots(req).await }
            async fn delete_snapshot(&self, id: SnapshotId) -> Result<()> { (**self).delete_snapshot(id).await }
            async fn describe_snapshot_permissions(&self, id: SnapshotId) -> Result<Vec<CreateVolumePermission>> { (**self).describe_snapshot_permissions(id).await }
            async fn modify_snapshot_permissions(&self, id: SnapshotId, changes: PermissionChanges<CreateVolumePermission>) -> Result<()> { (**self).modify_snapshot_permissions(id, changes).await }
        }
    )*};
}

macro_rules! forward_kms {
    ($($ty:ty),*) => {$(
        #[deny(clippy::missing_trait_methods)]
        #[async_trait]
        impl<T: Kms + ?Sized> Kms for $ty {
            fn account(&self) -> &AccountId { (**self).account() }
            fn region(&self) -> &Region { (**self).region() }
            async fn create_key(&self, req: CreateKeyRequest) -> Result<KmsKey> { (**self).create_key(req).await }
            async fn describe_key(&self, key: KmsKeyRef) -> Result<KmsKey> { (**self).describe_key(key).await }
            async fn create_alias(&self, alias: String, key: KmsKeyRef) -> Result<()> { (**self).create_alias(alias, key).await }
            async fn get_key_policy(&self, key: KmsKeyRef) -> Result<KeyPolicy> { (**self).get_key_policy(key).await }
            async fn put_key_policy(&self, key: KmsKeyRef, policy: KeyPolicy) -> Result<()> { (**self).put_key_policy(key, policy).await }
            async fn create_grant(&self, req: CreateGrantRequest) -> Result<String> { (**self).create_grant(req).await }
            async fn list_grants(&self, key: KmsKeyRef) -> Result<Vec<Grant>> { (**self).list_grants(key).await }
            async fn revoke_grant(&self, key: KmsKeyRef, grant_id: String) -> Result<()> { (**self).revoke_grant(key, grant_id).await }
        }
    )*};
}

forward_ec2!(Arc<T>, Box<T>);
forward_kms!(Arc<T>, Box<T>);

#[cfg(test)]
mod tests {
    use super::*;

    fn takes_generic<E: Ec2>(_: &E) {}
    fn takes_generic_kms<K: Kms>(_: &K) {}

    #[test]
    fn dyn_and_smart_pointers_meet_the_bounds() {
        let mock: Arc<dyn Ec2> = Arc::new(MockEc2::new());
        takes_generic(&mock);
        let boxed: Box<dyn Ec2> = Box::new(MockEc2::new());
        takes_generic(&boxed);
        let kms: Arc<dyn Kms> = Arc::new(MockKms::new());
        takes_generic_kms(&kms);
    }
}
