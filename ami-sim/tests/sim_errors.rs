//! One test per error of the reference's error catalogue (section 10) that the simulator can
//! produce, plus the other refusals it makes; each asserts the exact AWS code.

mod sim_support;

use std::time::Duration;

use ami_core::api::CreateKeyRequest;
use ami_core::api::{
    CopyImageRequest, CreateImageRequest, DeregisterImageRequest, DescribeImagesRequest,
    DescribeSnapshotsRequest, Filter, Owner, PermissionChanges, RunInstancesRequest, VolumeSpec,
};
use ami_core::rules::{parse_launch_permission_items, LaunchPermissionItem};
use ami_core::{
    ClientToken, CreateVolumePermission, Ec2Ext, Error, ImageId, ImageState, InstanceState,
    KmsKeyRef, LaunchGuard, LaunchPermission, Timestamp,
};
use ami_sim::{FaultPlan, Op, Quotas, Scope};
use sim_support::*;

#[tokio::test(start_paused = true)]
async fn malformed_image_id_is_refused_before_any_call() {
    // The typed id refuses the value with the code AWS would answer.
    let e: Error = "ami-XYZ".parse::<ImageId>().unwrap_err().into();
    assert_eq!(e.code(), "InvalidAMIID.Malformed");
}

#[tokio::test(start_paused = true)]
async fn unknown_image_is_not_found() {
    let w = world(1);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let id = ImageId::from_u128(0xdead);
    let e = ec2
        .describe_images(DescribeImagesRequest::ids([id.clone()]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "InvalidAMIID.NotFound");
    assert_eq!(e.message(), format!("The image id '[{id}]' does not exist"));
    let two = ec2
        .describe_images(DescribeImagesRequest::ids([id, ImageId::from_u128(0xbeef)]))
        .await
        .unwrap_err();
    assert!(
        two.message().starts_with("The image ids '["),
        "{}",
        two.message()
    );
}

#[tokio::test(start_paused = true)]
async fn deregistered_image_is_unavailable() {
    let w = world(2);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let img = baked(&w, &*ec2, "gone").await;
    ec2.deregister_image(DeregisterImageRequest::new(img.clone()))
        .await
        .unwrap();
    assert_eq!(
        code(
            ec2.deregister_image(DeregisterImageRequest::new(img.clone()))
                .await
        ),
        "InvalidAMIID.Unavailable"
    );
    assert_eq!(
        code(ec2.run_instances(RunInstancesRequest::new(img)).await),
        "InvalidAMIID.Unavailable"
    );
}

#[tokio::test(start_paused = true)]
async fn pending_image_cannot_be_launched() {
    let w = world(3);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();
    let inst = running(&*ec2, &base).await;
    let img = ec2
        .create_image(CreateImageRequest::new(inst, "pending-one"))
        .await
        .unwrap();
    assert_eq!(
        code(ec2.run_instances(RunInstancesRequest::new(img)).await),
        "InvalidAMIID.Unavailable"
    );
}

#[tokio::test(start_paused = true)]
async fn duplicate_name_is_refused() {
    let w = world(4);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let img = baked(&w, &*ec2, "web-1").await;
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();
    let inst = running(&*ec2, &base).await;
    let e = ec2
        .create_image(CreateImageRequest::new(inst, "web-1"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "InvalidAMIName.Duplicate");
    assert!(e.message().contains(img.as_str()), "{}", e.message());
}

#[tokio::test(start_paused = true)]
async fn malformed_name_is_refused() {
    let w = world(5);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();
    let inst = running(&*ec2, &base).await;
    for bad in ["ab", "name#with#hash", &"x".repeat(129)] {
        assert_eq!(
            code(
                ec2.create_image(CreateImageRequest::new(inst.clone(), bad))
                    .await
            ),
            "InvalidAMIName.Malformed",
            "{bad}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn create_image_needs_running_stopping_or_stopped_instance() {
    let w = world(6);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();
    let inst = ec2
        .run_instances(RunInstancesRequest::new(base))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(inst.state, InstanceState::Pending);
    let e = ec2
        .create_image(CreateImageRequest::new(inst.id.clone(), "too-early"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "InvalidParameterValue");
    assert!(e
        .message()
        .contains("Instance is not in state 'running' or 'stopping' or 'stopped'"));
}

#[tokio::test(start_paused = true)]
async fn concurrent_no_reboot_create_image_is_limited() {
    let w = world(7);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();
    let inst = running(&*ec2, &base).await;
    ec2.create_image(CreateImageRequest::new(inst.clone(), "nr-1").no_reboot(true))
        .await
        .unwrap();
    assert_eq!(
        code(
            ec2.create_image(CreateImageRequest::new(inst, "nr-2").no_reboot(true))
                .await
        ),
        "ConcurrentCreateImageNoRebootLimitExceeded"
    );
}

#[tokio::test(start_paused = true)]
async fn bad_launch_permission_items_are_refused_all_or_nothing() {
    let e = parse_launch_permission_items(&[
        LaunchPermissionItem::UserId("222222222222"),
        LaunchPermissionItem::UserId("2222-2222-2222"),
    ])
    .unwrap_err();
    assert_eq!(e.code(), "InvalidAMIAttributeItemValue");
    let e = parse_launch_permission_items(&[LaunchPermissionItem::Group("everyone")]).unwrap_err();
    assert_eq!(e.code(), "InvalidAMIAttributeItemValue");
}

/// An image of `w.a` in r1 encrypted with the AWS managed key.
async fn default_key_image(w: &World) -> ImageId {
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let plain = baked(w, &*ec2, "plain").await;
    let enc = ec2
        .copy_image(CopyImageRequest::new(w.r1.clone(), plain, "enc-default").encrypted(true))
        .await
        .unwrap();
    assert_eq!(wait_image(&*ec2, &enc).await.state, ImageState::Available);
    enc
}

#[tokio::test(start_paused = true)]
async fn sharing_an_aws_managed_key_image_is_refused() {
    let w = world(8);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let enc = default_key_image(&w).await;
    let e = ec2
        .modify_launch_permissions(
            enc.clone(),
            PermissionChanges::add([LaunchPermission::Account(w.c.clone())]),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "InvalidParameter");
    assert!(ec2
        .describe_launch_permissions(enc)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(start_paused = true)]
async fn making_an_encrypted_image_public_is_refused() {
    let w = world(9);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    ec2.disable_image_block_public_access().await.unwrap();
    let enc = default_key_image(&w).await;
    assert_eq!(
        code(
            ec2.modify_launch_permissions(enc, PermissionChanges::add([LaunchPermission::Public]))
                .await
        ),
        "UnsupportedOperation"
    );
}

#[tokio::test(start_paused = true)]
async fn making_public_under_block_public_access_is_refused() {
    let w = world(10);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let img = baked(&w, &*ec2, "bpa").await;
    assert_eq!(
        code(
            ec2.modify_launch_permissions(img, PermissionChanges::add([LaunchPermission::Public]))
                .await
        ),
        "OperationNotPermitted"
    );
}

#[tokio::test(start_paused = true)]
async fn sharing_a_default_key_snapshot_is_refused() {
    let w = world(11);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let enc = default_key_image(&w).await;
    let snap = ec2.describe_image(&enc).await.unwrap().block_devices[0]
        .snapshot_id
        .clone()
        .unwrap();
    assert_eq!(
        code(
            ec2.modify_snapshot_permissions(
                snap,
                PermissionChanges::add([CreateVolumePermission::Account(w.c.clone())])
            )
            .await
        ),
        "OperationNotPermitted"
    );
}

#[tokio::test(start_paused = true)]
async fn owner_only_calls_by_a_grantee_are_auth_failures() {
    let w = world(12);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let img = baked(&w, &*ec2, "shared").await;
    ec2.modify_launch_permissions(
        img.clone(),
        PermissionChanges::add([LaunchPermission::Account(w.c.clone())]),
    )
    .await
    .unwrap();
    let other = w.sim.ec2(&w.c, &w.r1);
    let e = other
        .describe_launch_permissions(img.clone())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "AuthFailure");
    assert!(e
        .message()
        .starts_with(&format!("Not authorized for image:{img}")));
    assert_eq!(
        code(
            other
                .deregister_image(DeregisterImageRequest::new(img.clone()))
                .await
        ),
        "AuthFailure"
    );
    assert_eq!(code(other.disable_image(img).await), "AuthFailure");
}

#[tokio::test(start_paused = true)]
async fn launching_without_permission_is_an_auth_failure() {
    let w = world(13);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let img = baked(&w, &*ec2, "private").await;
    let e = w
        .sim
        .ec2(&w.c, &w.r1)
        .run_instances(RunInstancesRequest::new(img.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "AuthFailure");
    assert!(e
        .message()
        .starts_with(&format!("Not authorized for images: [{img}]")));
}

#[tokio::test(start_paused = true)]
async fn copy_without_snapshot_permission_is_an_invalid_request() {
    let w = world(14);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let img = baked(&w, &*ec2, "no-storage").await;
    ec2.modify_launch_permissions(
        img.clone(),
        PermissionChanges::add([LaunchPermission::Account(w.c.clone())]),
    )
    .await
    .unwrap();
    let e = w
        .sim
        .ec2(&w.c, &w.r1)
        .copy_image(CopyImageRequest::new(w.r1.clone(), img, "mine"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "InvalidRequest");
    assert!(e
        .message()
        .starts_with("You do not have permission to access the storage of this ami"));
}

#[tokio::test(start_paused = true)]
async fn cross_account_copy_of_marketplace_image_is_refused() {
    let w = world(15);
    let mp = w.sim.marketplace_image(&w.r1, "hardened-linux").unwrap();
    let e = w
        .sim
        .ec2(&w.a, &w.r1)
        .copy_image(CopyImageRequest::new(w.r1.clone(), mp, "my-hardened"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "InvalidRequest");
    assert!(e
        .message()
        .starts_with("Images from AWS Marketplace cannot be copied to another AWS account."));
}

#[tokio::test(start_paused = true)]
async fn unencrypted_copy_of_encrypted_image_is_refused() {
    let w = world(16);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let enc = default_key_image(&w).await;
    let e = ec2
        .copy_image(CopyImageRequest::new(w.r1.clone(), enc, "plain-again").encrypted(false))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "InvalidRequest");
    assert!(e
        .message()
        .contains("Creating an unencrypted copy from an encrypted snapshot is not supported."));
}

#[tokio::test(start_paused = true)]
async fn kms_key_without_encrypted_is_a_parameter_dependency() {
    let w = world(17);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();
    let mut req = CopyImageRequest::new(w.r1.clone(), base.clone(), "copy-x");
    req.kms_key_id = Some(KmsKeyRef::aws_ebs_alias());
    assert_eq!(
        code(ec2.copy_image(req).await),
        "InvalidParameterDependency"
    );
    let vol = VolumeSpec {
        device_name: "/dev/sdf".into(),
        size_gib: 10,
        encrypted: false,
        kms_key_id: Some(KmsKeyRef::aws_ebs_alias()),
    };
    assert_eq!(
        code(
            ec2.run_instances(RunInstancesRequest::new(base).extra_volume(vol))
                .await
        ),
        "InvalidParameterDependency"
    );
}

#[tokio::test(start_paused = true)]
async fn unknown_source_region_is_invalid_region() {
    let w = world(18);
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();
    let e = w
        .sim
        .ec2(&w.a, &w.r1)
        .copy_image(CopyImageRequest::new(
            region("ap-south-2"),
            base,
            "x-region",
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "InvalidRegion");
}

#[tokio::test(start_paused = true)]
async fn reused_client_token_with_other_parameters_is_a_mismatch() {
    let w = world(19);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();
    let token = ClientToken::parse("copy-token-1").unwrap();
    let first = ec2
        .copy_image(
            CopyImageRequest::new(w.r1.clone(), base.clone(), "al-copy")
                .client_token(token.clone()),
        )
        .await
        .unwrap();
    let again = ec2
        .copy_image(
            CopyImageRequest::new(w.r1.clone(), base.clone(), "al-copy")
                .client_token(token.clone()),
        )
        .await
        .unwrap();
    assert_eq!(
        first, again,
        "same token and parameters return the same image"
    );
    assert_eq!(
        code(
            ec2.copy_image(
                CopyImageRequest::new(w.r1.clone(), base.clone(), "al-copy-2").client_token(token)
            )
            .await
        ),
        "IdempotentParameterMismatch"
    );
    let run_token = ClientToken::parse("run-token-1").unwrap();
    let one = ec2
        .run_instances(RunInstancesRequest::new(base.clone()).client_token(run_token.clone()))
        .await
        .unwrap();
    let two = ec2
        .run_instances(RunInstancesRequest::new(base.clone()).client_token(run_token.clone()))
        .await
        .unwrap();
    assert_eq!(one[0].id, two[0].id);
    assert_eq!(
        code(
            ec2.run_instances(
                RunInstancesRequest::new(base)
                    .count(2)
                    .client_token(run_token)
            )
            .await
        ),
        "IdempotentParameterMismatch"
    );
}

#[tokio::test(start_paused = true)]
async fn deleting_a_snapshot_in_use_is_refused() {
    let w = world(20);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let img = baked(&w, &*ec2, "uses-snap").await;
    let snap = ec2.describe_image(&img).await.unwrap().block_devices[0]
        .snapshot_id
        .clone()
        .unwrap();
    let e = ec2.delete_snapshot(snap.clone()).await.unwrap_err();
    assert_eq!(e.code(), "InvalidSnapshot.InUse");
    assert!(e
        .message()
        .starts_with(&format!("The snapshot {snap} is currently in use by {img}")));
    // A disabled image still holds its snapshots.
    ec2.disable_image(img.clone()).await.unwrap();
    assert_eq!(
        code(ec2.delete_snapshot(snap.clone()).await),
        "InvalidSnapshot.InUse"
    );
    ec2.enable_image(img.clone()).await.unwrap();
    ec2.deregister_image(DeregisterImageRequest::new(img))
        .await
        .unwrap();
    ec2.delete_snapshot(snap).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn unknown_snapshot_is_not_found() {
    let w = world(21);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let snap = ami_core::SnapshotId::from_u128(77);
    assert_eq!(
        code(ec2.delete_snapshot(snap.clone()).await),
        "InvalidSnapshot.NotFound"
    );
    assert_eq!(
        code(
            ec2.describe_snapshots(DescribeSnapshotsRequest::ids([snap]))
                .await
        ),
        "InvalidSnapshot.NotFound"
    );
}

#[tokio::test(start_paused = true)]
async fn disabled_state_filter_needs_include_disabled() {
    let w = world(22);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let req = DescribeImagesRequest::new().filter(Filter::new("state", ["disabled"]));
    assert_eq!(
        code(ec2.describe_images(req.clone()).await),
        "InvalidParameter"
    );
    ec2.describe_images(req.include_disabled(true))
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn bad_owner_is_refused_before_any_call() {
    let e: Error = "nobody".parse::<Owner>().unwrap_err().into();
    assert_eq!(e.code(), "InvalidUserID.Malformed");
}

#[tokio::test(start_paused = true)]
async fn throttling_is_request_limit_exceeded() {
    let w = world_with_faults(
        23,
        FaultPlan::default().throttle_op(Op::DescribeImages, 1.0),
    );
    let e = w
        .sim
        .ec2(&w.a, &w.r1)
        .describe_images(DescribeImagesRequest::new())
        .await
        .unwrap_err();
    assert_eq!(e.code(), "RequestLimitExceeded");
    assert!(e.is_retryable());
}

#[tokio::test(start_paused = true)]
async fn copy_with_an_unusable_kms_key_fails_asynchronously() {
    let w = world(24);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    // A key of another account whose policy does not admit w.a.
    let foreign = w
        .sim
        .kms(&w.c, &w.r1)
        .create_key(CreateKeyRequest::new("not yours"))
        .await
        .unwrap();
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();
    let id = ec2
        .copy_image(
            CopyImageRequest::new(w.r1.clone(), base, "bad-key").encrypt_with(foreign.arn.clone()),
        )
        .await
        .expect("AWS accepts the call and fails the image later");
    let img = wait_image(&*ec2, &id).await;
    assert_eq!(img.state, ImageState::Failed);
    let reason = img.state_reason.unwrap();
    assert_eq!(reason.code, "Server.InternalError");
    assert!(
        reason.message.contains("AccessDeniedException"),
        "{}",
        reason.message
    );
}

// ---- refusals beyond the catalogue table -----------------------------------------------------

#[tokio::test(start_paused = true)]
async fn protected_image_deregistration_is_not_permitted() {
    let w = world(25);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let img = baked(&w, &*ec2, "protected").await;
    ec2.enable_image_deregistration_protection(img.clone(), false)
        .await
        .unwrap();
    assert_eq!(
        code(ec2.deregister_image(DeregisterImageRequest::new(img)).await),
        "OperationNotPermitted"
    );
}

#[tokio::test(start_paused = true)]
async fn sixth_public_image_exceeds_the_quota() {
    let w = world_with(builder(26).quotas(Quotas {
        public_images: 1,
        ..Quotas::default()
    }));
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    ec2.disable_image_block_public_access().await.unwrap();
    let one = baked(&w, &*ec2, "public-1").await;
    let two = baked(&w, &*ec2, "public-2").await;
    ec2.modify_launch_permissions(one, PermissionChanges::add([LaunchPermission::Public]))
        .await
        .unwrap();
    assert_eq!(
        code(
            ec2.modify_launch_permissions(two, PermissionChanges::add([LaunchPermission::Public]))
                .await
        ),
        "ResourceLimitExceeded"
    );
}

#[tokio::test(start_paused = true)]
async fn product_code_image_cannot_be_made_public() {
    let w = world(27);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    ec2.disable_image_block_public_access().await.unwrap();
    let mp = w.sim.marketplace_image(&w.r1, "firewall").unwrap();
    let inst = running(&*ec2, &mp).await;
    let img = ec2
        .create_image(CreateImageRequest::new(inst, "my-firewall"))
        .await
        .unwrap();
    let img = wait_image(&*ec2, &img).await;
    assert_eq!(
        img.product_codes.len(),
        1,
        "CreateImage keeps Marketplace codes"
    );
    assert_eq!(
        code(
            ec2.modify_launch_permissions(
                img.id,
                PermissionChanges::add([LaunchPermission::Public])
            )
            .await
        ),
        "UnsupportedOperation"
    );
}

#[derive(Debug)]
struct OnlyTagged;
impl LaunchGuard for OnlyTagged {
    fn check(&self, image: &ami_core::Image, _now: Timestamp) -> Result<(), String> {
        if image.tags.get("approved").map(String::as_str) == Some("true") {
            Ok(())
        } else {
            Err(format!("image {} is not approved", image.id))
        }
    }
}

#[tokio::test(start_paused = true)]
async fn launch_guard_refusal_is_unauthorized_operation() {
    let w = world(28);
    w.sim
        .set_launch_guard(&w.a, Some(std::sync::Arc::new(OnlyTagged)));
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();
    let e = w
        .sim
        .ec2(&w.a, &w.r1)
        .run_instances(RunInstancesRequest::new(base.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "UnauthorizedOperation");
    assert!(e.message().contains("is not approved"));
    w.sim.set_launch_guard(&w.a, None);
    w.sim
        .ec2(&w.a, &w.r1)
        .run_instances(RunInstancesRequest::new(base))
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn unknown_instance_and_wrong_instance_state() {
    let w = world(29);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let ghost = ami_core::InstanceId::from_u128(5);
    assert_eq!(
        code(ec2.stop_instances(vec![ghost]).await),
        "InvalidInstanceID.NotFound"
    );
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();
    let inst = running(&*ec2, &base).await;
    ec2.terminate_instances(vec![inst.clone()]).await.unwrap();
    assert_eq!(
        code(ec2.start_instances(vec![inst.clone()]).await),
        "IncorrectInstanceState"
    );
    assert_eq!(
        code(ec2.reboot_instances(vec![inst]).await),
        "IncorrectInstanceState"
    );
}

#[tokio::test(start_paused = true)]
async fn quotas_on_instances_and_images() {
    let w = world_with(builder(30).quotas(Quotas {
        instances: 2,
        images: 1,
        ..Quotas::default()
    }));
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let base = w.sim.amazon_image(&w.r1, "al2023").unwrap();
    assert_eq!(
        code(
            ec2.run_instances(RunInstancesRequest::new(base.clone()).count(3))
                .await
        ),
        "InstanceLimitExceeded"
    );
    let _one = baked(&w, &*ec2, "only-one").await;
    let inst = running(&*ec2, &base).await;
    assert_eq!(
        code(
            ec2.create_image(CreateImageRequest::new(inst, "second"))
                .await
        ),
        "AMIQuotaExceeded"
    );
}

#[tokio::test(start_paused = true)]
async fn pagination_and_filter_parameters_are_validated() {
    let w = world(31);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    assert_eq!(
        code(
            ec2.describe_images(DescribeImagesRequest::new().max_results(2))
                .await
        ),
        "InvalidParameterValue"
    );
    let mut req = DescribeImagesRequest::new();
    req.next_token = Some("garbage".into());
    assert_eq!(
        code(ec2.describe_images(req).await),
        "InvalidPaginationToken"
    );
    assert_eq!(
        code(
            ec2.describe_images(
                DescribeImagesRequest::new().filter(Filter::new("colour", ["blue"]))
            )
            .await
        ),
        "InvalidParameterValue"
    );
}

#[tokio::test(start_paused = true)]
async fn snapshot_permission_add_and_remove_together_is_a_bad_combination() {
    let w = world(32);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let img = baked(&w, &*ec2, "combo").await;
    let snap = ec2.describe_image(&img).await.unwrap().block_devices[0]
        .snapshot_id
        .clone()
        .unwrap();
    let changes = PermissionChanges {
        add: vec![CreateVolumePermission::Account(w.b.clone())],
        remove: vec![CreateVolumePermission::Account(w.c.clone())],
    };
    assert_eq!(
        code(ec2.modify_snapshot_permissions(snap, changes).await),
        "InvalidParameterCombination"
    );
}

#[tokio::test(start_paused = true)]
async fn owner_cannot_cancel_its_own_launch_permission() {
    let w = world(33);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    let img = baked(&w, &*ec2, "mine").await;
    assert_eq!(
        code(ec2.cancel_image_launch_permission(img).await),
        "InvalidParameter"
    );
}

#[tokio::test(start_paused = true)]
async fn kms_refusals() {
    let w = world(34);
    let kms_a = w.sim.kms(&w.a, &w.r1);
    let key = kms_a
        .create_key(CreateKeyRequest::new("a's key"))
        .await
        .unwrap();
    // Another account may not describe it without a policy statement or grant.
    assert_eq!(
        code(w.sim.kms(&w.c, &w.r1).describe_key(key.arn.clone()).await),
        "AccessDeniedException"
    );
    // A short key id names the caller's own keys only.
    let short = KmsKeyRef::parse(&key.key_id).unwrap();
    assert_eq!(
        code(w.sim.kms(&w.c, &w.r1).describe_key(short).await),
        "NotFoundException"
    );
    kms_a
        .create_alias("alias/golden".into(), key.arn.clone())
        .await
        .unwrap();
    assert_eq!(
        code(
            kms_a
                .create_alias("alias/golden".into(), key.arn.clone())
                .await
        ),
        "AlreadyExistsException"
    );
    assert_eq!(
        code(
            kms_a
                .create_alias("alias/aws/mine".into(), key.arn.clone())
                .await
        ),
        "NotAuthorizedException"
    );
    // The AWS managed key's policy can't be changed.
    let ebs = kms_a
        .describe_key(KmsKeyRef::aws_ebs_alias())
        .await
        .unwrap();
    assert_eq!(ebs.manager, ami_core::KeyManager::Aws);
    assert_eq!(
        code(
            kms_a
                .put_key_policy(ebs.arn, ami_core::model::KeyPolicy::default_for(&w.c))
                .await
        ),
        "AccessDeniedException"
    );
}

#[tokio::test(start_paused = true)]
async fn scripted_faults_and_outages() {
    let w = world(35);
    let ec2 = w.sim.ec2(&w.a, &w.r1);
    w.sim
        .fail_next(Op::DescribeImages, Scope::at(&w.a, &w.r1), "InternalError");
    assert_eq!(
        code(ec2.describe_images(DescribeImagesRequest::new()).await),
        "InternalError"
    );
    ec2.describe_images(DescribeImagesRequest::new())
        .await
        .unwrap();
    let now = w.sim.now();
    w.sim
        .region_outage(&w.r1, now, now.add(Duration::from_secs(600)));
    assert_eq!(
        code(ec2.describe_images(DescribeImagesRequest::new()).await),
        "ServiceUnavailable"
    );
    assert_eq!(
        code(
            w.sim
                .kms(&w.a, &w.r1)
                .create_key(CreateKeyRequest::new("k"))
                .await
        ),
        "KMSInternalException"
    );
    w.sim
        .ec2(&w.a, &w.r2)
        .describe_images(DescribeImagesRequest::new())
        .await
        .unwrap();
    pass(600).await;
    ec2.describe_images(DescribeImagesRequest::new())
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn unknown_account_and_region_are_refused() {
    let w = world(36);
    let stranger = acct("999999999999");
    assert_eq!(
        code(
            w.sim
                .ec2(&stranger, &w.r1)
                .describe_images(DescribeImagesRequest::new())
                .await
        ),
        "AuthFailure"
    );
    assert_eq!(
        code(
            w.sim
                .ec2(&w.a, &region("sa-east-1"))
                .describe_images(DescribeImagesRequest::new())
                .await
        ),
        "InvalidRegion"
    );
    assert_eq!(
        code(ami_core::Connector::ec2(&w.sim, &stranger, &w.r1)),
        "AuthFailure"
    );
}
