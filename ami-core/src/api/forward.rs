//! `Arc<T>`, `Box<T>` and `&T` forward every trait method, so wrappers never lose one.

use std::sync::Arc;

use super::*;

/// One forwarded method: the inner value's boxed future is returned as it is, not boxed
/// again inside another (the signature is the one `async_trait` gives the trait's method).
macro_rules! fwd {
    ($name:ident($($arg:ident: $t:ty),*) -> $out:ty) => {
        fn $name<'life0, 'async_trait>(
            &'life0 self $(, $arg: $t)*
        ) -> ::core::pin::Pin<Box<dyn ::core::future::Future<Output = $out> + Send + 'async_trait>>
        where
            'life0: 'async_trait,
            Self: 'async_trait,
        {
            (**self).$name($($arg),*)
        }
    };
}

macro_rules! forward_ec2 {
    ($($ty:ty),*) => {$(
        #[deny(clippy::missing_trait_methods)]
        impl<T: Ec2 + ?Sized> Ec2 for $ty {
            fn account(&self) -> &AccountId { (**self).account() }
            fn region(&self) -> &Region { (**self).region() }
            fn dry_run(&self) -> std::sync::Arc<dyn Ec2> { (**self).dry_run() }
            fwd!(run_instances(req: RunInstancesRequest) -> Result<Vec<Instance>>);
            fwd!(describe_instances(req: DescribeInstancesRequest) -> Result<Page<Instance>>);
            fwd!(stop_instances(ids: Vec<InstanceId>) -> Result<Vec<InstanceStateChange>>);
            fwd!(start_instances(ids: Vec<InstanceId>) -> Result<Vec<InstanceStateChange>>);
            fwd!(reboot_instances(ids: Vec<InstanceId>) -> Result<()>);
            fwd!(terminate_instances(ids: Vec<InstanceId>) -> Result<Vec<InstanceStateChange>>);
            fwd!(create_image(req: CreateImageRequest) -> Result<ImageId>);
            fwd!(copy_image(req: CopyImageRequest) -> Result<ImageId>);
            fwd!(register_image(req: RegisterImageRequest) -> Result<ImageId>);
            fwd!(describe_images(req: DescribeImagesRequest) -> Result<Page<Image>>);
            fwd!(deregister_image(req: DeregisterImageRequest) -> Result<Vec<DeleteSnapshotResult>>);
            fwd!(describe_launch_permissions(image: ImageId) -> Result<Vec<LaunchPermission>>);
            fwd!(modify_launch_permissions(image: ImageId, changes: PermissionChanges<LaunchPermission>) -> Result<()>);
            fwd!(reset_launch_permissions(image: ImageId) -> Result<()>);
            fwd!(cancel_image_launch_permission(image: ImageId) -> Result<()>);
            fwd!(modify_image_description(image: ImageId, description: String) -> Result<()>);
            fwd!(enable_image_deprecation(image: ImageId, at: Timestamp) -> Result<()>);
            fwd!(disable_image_deprecation(image: ImageId) -> Result<()>);
            fwd!(enable_image_deregistration_protection(image: ImageId, with_cooldown: bool) -> Result<()>);
            fwd!(disable_image_deregistration_protection(image: ImageId) -> Result<()>);
            fwd!(disable_image(image: ImageId) -> Result<()>);
            fwd!(enable_image(image: ImageId) -> Result<()>);
            fwd!(get_image_block_public_access_state() -> Result<BlockPublicAccessState>);
            fwd!(enable_image_block_public_access() -> Result<()>);
            fwd!(disable_image_block_public_access() -> Result<()>);
            fwd!(create_tags(resources: Vec<ResourceId>, tags: Tags) -> Result<()>);
            fwd!(delete_tags(resources: Vec<ResourceId>, keys: Vec<String>) -> Result<()>);
            fwd!(describe_snapshots(req: DescribeSnapshotsRequest) -> Result<Page<Snapshot>>);
            fwd!(delete_snapshot(id: SnapshotId) -> Result<()>);
            fwd!(describe_snapshot_permissions(id: SnapshotId) -> Result<Vec<CreateVolumePermission>>);
            fwd!(modify_snapshot_permissions(id: SnapshotId, changes: PermissionChanges<CreateVolumePermission>) -> Result<()>);
        }
    )*};
}

macro_rules! forward_kms {
    ($($ty:ty),*) => {$(
        #[deny(clippy::missing_trait_methods)]
        impl<T: Kms + ?Sized> Kms for $ty {
            fn account(&self) -> &AccountId { (**self).account() }
            fn region(&self) -> &Region { (**self).region() }
            fwd!(create_key(req: CreateKeyRequest) -> Result<KmsKey>);
            fwd!(describe_key(key: KmsKeyRef) -> Result<KmsKey>);
            fwd!(create_alias(alias: String, key: KmsKeyRef) -> Result<()>);
            fwd!(get_key_policy(key: KmsKeyRef) -> Result<KeyPolicy>);
            fwd!(put_key_policy(key: KmsKeyRef, policy: KeyPolicy) -> Result<()>);
            fwd!(create_grant(req: CreateGrantRequest) -> Result<String>);
            fwd!(list_grants(key: KmsKeyRef) -> Result<Vec<Grant>>);
            fwd!(revoke_grant(key: KmsKeyRef, grant_id: String) -> Result<()>);
            fwd!(schedule_key_deletion(key: KmsKeyRef, pending_window_days: u32) -> Result<Timestamp>);
            fwd!(cancel_key_deletion(key: KmsKeyRef) -> Result<()>);
            fwd!(enable_key(key: KmsKeyRef) -> Result<()>);
            fwd!(disable_key(key: KmsKeyRef) -> Result<()>);
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
