//! The EC2 and KMS backends against mocked SDK clients (aws-smithy-mocks): error mapping of real
//! operation errors, pagination, retries, and conversion of realistic answers.

use std::time::Duration;

use ami_aws::{AwsEc2, AwsKms};
use ami_core::api::{
    CopyImageRequest, CreateGrantRequest, CreateKeyRequest, DeregisterImageRequest,
    DescribeImagesRequest, DescribeInstancesRequest, DescribeSnapshotsRequest, Owner,
    PermissionChanges,
};
use ami_core::model::{
    DeleteSnapshotOutcome, DeleteSnapshotResult, KeyPolicy, KeyState, KmsAction, ProductCodeType,
    SnapshotState,
};
use ami_core::{
    AccountId, BlockDevice, CreateVolumePermission, DeregistrationProtection, Ec2, Ec2Ext,
    Encryption, Error, Image, ImageId, ImageState, KeyManager, Kms, KmsKeyRef, LaunchPermission,
    ProductCode, Region, SnapshotId, Timestamp,
};
use aws_sdk_ec2::error::ErrorMetadata;
use aws_sdk_ec2::operation::copy_image::CopyImageError;
use aws_sdk_ec2::operation::delete_snapshot::DeleteSnapshotError;
use aws_sdk_ec2::operation::deregister_image::DeregisterImageOutput;
use aws_sdk_ec2::operation::describe_images::{DescribeImagesError, DescribeImagesOutput};
use aws_sdk_ec2::operation::describe_instances::DescribeInstancesOutput;
use aws_sdk_ec2::operation::describe_snapshots::DescribeSnapshotsOutput;
use aws_sdk_ec2::operation::describe_volumes::DescribeVolumesOutput;
use aws_sdk_ec2::operation::modify_image_attribute::ModifyImageAttributeOutput;
use aws_sdk_ec2::operation::modify_snapshot_attribute::{
    ModifySnapshotAttributeError, ModifySnapshotAttributeOutput,
};
use aws_sdk_ec2::types as ec2t;
use aws_sdk_kms::operation::cancel_key_deletion::{
    CancelKeyDeletionError, CancelKeyDeletionOutput,
};
use aws_sdk_kms::operation::create_grant::CreateGrantOutput;
use aws_sdk_kms::operation::create_key::CreateKeyOutput;
use aws_sdk_kms::operation::describe_key::DescribeKeyOutput;
use aws_sdk_kms::operation::disable_key::{DisableKeyError, DisableKeyOutput};
use aws_sdk_kms::operation::enable_key::{EnableKeyError, EnableKeyOutput};
use aws_sdk_kms::operation::get_key_policy::GetKeyPolicyOutput;
use aws_sdk_kms::operation::list_aliases::ListAliasesOutput;
use aws_sdk_kms::operation::list_grants::ListGrantsOutput;
use aws_sdk_kms::operation::schedule_key_deletion::{
    ScheduleKeyDeletionError, ScheduleKeyDeletionOutput,
};
use aws_sdk_kms::types as kmst;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_types::retry::RetryConfig;

const ME: &str = "111122223333";
const OTHER: &str = "444455556666";
const KEY_ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

fn me() -> AccountId {
    AccountId::parse(ME).unwrap()
}

fn region() -> Region {
    Region::parse("us-east-1").unwrap()
}

fn own_key_arn() -> String {
    format!("arn:aws:kms:us-east-1:{ME}:key/{KEY_ID}")
}

fn other_key_arn() -> String {
    format!("arn:aws:kms:us-east-1:{OTHER}:key/mrk-1234abcd12ab34cd56ef1234567890ab")
}

fn ec2_error(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

fn simple_image(id: &str) -> ec2t::Image {
    ec2t::Image::builder()
        .image_id(id)
        .name(format!("name-{id}"))
        .owner_id(ME)
        .state(ec2t::ImageState::Available)
        .creation_date("2026-01-01T00:00:00.000Z")
        .build()
}

fn fast_retries(attempts: u32) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(attempts)
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5))
}

// ---------------------------------------------------------------------------------------------
// Error mapping of real operation errors.

#[tokio::test]
async fn describe_images_not_found_keeps_code_and_message() {
    let rule = mock!(aws_sdk_ec2::Client::describe_images).then_error(|| {
        DescribeImagesError::generic(ec2_error(
            "InvalidAMIID.NotFound",
            "The image id '[ami-0123456789abcdef0]' does not exist",
        ))
    });
    let ec2 = AwsEc2::new(mock_client!(aws_sdk_ec2, [&rule]), me(), region());
    let id = ImageId::parse("ami-0123456789abcdef0").unwrap();
    let err = ec2.describe_image(&id).await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert_eq!(err.code(), "InvalidAMIID.NotFound");
    assert_eq!(
        err.message(),
        "The image id '[ami-0123456789abcdef0]' does not exist"
    );
    assert!(!err.is_retryable());
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn copy_image_without_storage_permission_is_invalid_request() {
    let rule = mock!(aws_sdk_ec2::Client::copy_image)
        .match_requests(|r| {
            r.source_region() == Some("eu-west-1")
                && r.source_image_id() == Some("ami-0123456789abcdef0")
                && r.encrypted() == Some(true)
                && r.kms_key_id() == Some("alias/golden")
        })
        .then_error(|| {
            CopyImageError::generic(ec2_error(
                "InvalidRequest",
                "You do not have permission to access the storage of this ami",
            ))
        });
    let ec2 = AwsEc2::new(mock_client!(aws_sdk_ec2, [&rule]), me(), region());
    let req = CopyImageRequest::new(
        Region::parse("eu-west-1").unwrap(),
        ImageId::parse("ami-0123456789abcdef0").unwrap(),
        "copy",
    )
    .encrypt_with(KmsKeyRef::parse("alias/golden").unwrap());
    let err = ec2.copy_image(req).await.unwrap_err();
    assert!(matches!(err, Error::Unsupported(_)), "{err:?}");
    assert_eq!(err.code(), "InvalidRequest");
    assert_eq!(
        err.message(),
        "You do not have permission to access the storage of this ami"
    );
}

#[tokio::test]
async fn delete_snapshot_in_use_is_unavailable() {
    let rule = mock!(aws_sdk_ec2::Client::delete_snapshot).then_error(|| {
        DeleteSnapshotError::generic(ec2_error(
            "InvalidSnapshot.InUse",
            "The snapshot snap-0123456789abcdef0 is currently in use by ami-0123456789abcdef0",
        ))
    });
    let ec2 = AwsEc2::new(mock_client!(aws_sdk_ec2, [&rule]), me(), region());
    let err = ec2
        .delete_snapshot(SnapshotId::parse("snap-0123456789abcdef0").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
    assert_eq!(err.code(), "InvalidSnapshot.InUse");
}

#[tokio::test]
async fn unknown_codes_are_preserved() {
    let rule = mock!(aws_sdk_ec2::Client::describe_images)
        .then_error(|| DescribeImagesError::generic(ec2_error("Brand.New.Code", "something new")));
    let ec2 = AwsEc2::new(mock_client!(aws_sdk_ec2, [&rule]), me(), region());
    let err = ec2
        .describe_images(DescribeImagesRequest::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Other(_)), "{err:?}");
    assert_eq!(err.code(), "Brand.New.Code");
    assert_eq!(err.message(), "something new");
}

// ---------------------------------------------------------------------------------------------
// Pagination.

#[tokio::test]
async fn describe_images_passes_page_size_token_and_scope_through() {
    let rule = mock!(aws_sdk_ec2::Client::describe_images)
        .match_requests(|r| {
            r.max_results() == Some(5)
                && r.next_token() == Some("token-1")
                && r.owners() == ["self".to_owned(), OTHER.to_owned()]
                && r.executable_users().is_empty()
                && r.include_deprecated() == Some(true)
                && r.filters().len() == 1
                && r.filters()[0].name() == Some("tag:Team")
                && r.filters()[0].values() == ["web".to_owned()]
        })
        .then_output(|| {
            DescribeImagesOutput::builder()
                .images(simple_image("ami-00000000000000001"))
                .next_token("token-2")
                .build()
        });
    let ec2 = AwsEc2::new(mock_client!(aws_sdk_ec2, [&rule]), me(), region());
    let mut req = DescribeImagesRequest::new()
        .owner(Owner::SelfAccount)
        .owner(Owner::Account(AccountId::parse(OTHER).unwrap()))
        .filter(ami_core::api::Filter::tag("Team", "web"))
        .include_deprecated(true)
        .max_results(5);
    req.next_token = Some("token-1".into());
    let page = ec2.describe_images(req).await.unwrap();
    assert_eq!(page.next_token.as_deref(), Some("token-2"));
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id.as_str(), "ami-00000000000000001");
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn describe_all_images_follows_two_pages() {
    let first = mock!(aws_sdk_ec2::Client::describe_images)
        .match_requests(|r| r.next_token().is_none() && r.max_results() == Some(5))
        .then_output(|| {
            DescribeImagesOutput::builder()
                .images(simple_image("ami-00000000000000001"))
                .images(simple_image("ami-00000000000000002"))
                .next_token("page-2")
                .build()
        });
    let second = mock!(aws_sdk_ec2::Client::describe_images)
        .match_requests(|r| r.next_token() == Some("page-2") && r.max_results() == Some(5))
        .then_output(|| {
            DescribeImagesOutput::builder()
                .images(simple_image("ami-00000000000000003"))
                // AWS ends with an absent (or empty) token.
                .next_token("")
                .build()
        });
    let ec2 = AwsEc2::new(
        mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&first, &second]),
        me(),
        region(),
    );
    let all = ec2
        .describe_all_images(DescribeImagesRequest::new().max_results(5))
        .await
        .unwrap();
    let ids: Vec<&str> = all.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "ami-00000000000000001",
            "ami-00000000000000002",
            "ami-00000000000000003"
        ]
    );
    assert_eq!(first.num_calls(), 1);
    assert_eq!(second.num_calls(), 1);
}

// ---------------------------------------------------------------------------------------------
// Retries (the SDK's standard retry mode).

#[tokio::test]
async fn a_throttled_call_is_retried_then_succeeds() {
    let rule = mock!(aws_sdk_ec2::Client::describe_images)
        .sequence()
        .error(|| {
            DescribeImagesError::generic(ec2_error(
                "RequestLimitExceeded",
                "Request limit exceeded.",
            ))
        })
        .output(|| {
            DescribeImagesOutput::builder()
                .images(simple_image("ami-00000000000000001"))
                .build()
        })
        .build();
    let client = mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&rule], |c| c
        .retry_config(fast_retries(3)));
    let ec2 = AwsEc2::new(client, me(), region());
    let page = ec2
        .describe_images(DescribeImagesRequest::new())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(rule.num_calls(), 2, "one throttled attempt, one retry");
}

#[tokio::test]
async fn throttling_beyond_max_attempts_is_a_throttled_error() {
    let rule = mock!(aws_sdk_ec2::Client::describe_images)
        .sequence()
        .error(|| {
            DescribeImagesError::generic(ec2_error(
                "RequestLimitExceeded",
                "Request limit exceeded.",
            ))
        })
        .times(5)
        .build();
    let client = mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&rule], |c| c
        .retry_config(fast_retries(2)));
    let ec2 = AwsEc2::new(client, me(), region());
    let err = ec2
        .describe_images(DescribeImagesRequest::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Throttled(_)), "{err:?}");
    assert_eq!(err.code(), "RequestLimitExceeded");
    assert!(err.is_retryable());
    assert_eq!(rule.num_calls(), 2, "max_attempts counts the first attempt");
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let rule = mock!(aws_sdk_ec2::Client::describe_images)
        .sequence()
        .error(|| {
            DescribeImagesError::generic(ec2_error(
                "InvalidAMIID.Malformed",
                "Invalid id: \"ami-x\" (expecting \"ami-...\")",
            ))
        })
        .times(3)
        .build();
    let client = mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&rule], |c| c
        .retry_config(fast_retries(3)));
    let ec2 = AwsEc2::new(client, me(), region());
    let err = ec2
        .describe_images(DescribeImagesRequest::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "InvalidAMIID.Malformed");
    assert_eq!(rule.num_calls(), 1);
}

// ---------------------------------------------------------------------------------------------
// Model conversion.

fn realistic_image(id: &str) -> ec2t::Image {
    ec2t::Image::builder()
        .image_id(id)
        .name("web-2026-03-01")
        .description("golden web image")
        .owner_id(ME)
        .state(ec2t::ImageState::Available)
        .public(false)
        .architecture(ec2t::ArchitectureValues::Arm64)
        .root_device_name("/dev/xvda")
        .root_device_type(ec2t::DeviceType::Ebs)
        .creation_date("2026-03-01T10:00:00.000Z")
        .deprecation_time("2027-03-01T10:00:00.000Z")
        .deregistration_protection("enabled-with-cooldown")
        .source_image_id("ami-0fedcba9876543210")
        .source_image_region("eu-west-1")
        .product_codes(
            ec2t::ProductCode::builder()
                .product_code_id("abcdefghijklmnopqrstuvwxy")
                .product_code_type(ec2t::ProductCodeValues::Marketplace)
                .build(),
        )
        .tags(ec2t::Tag::builder().key("Team").value("web").build())
        .tags(ec2t::Tag::builder().key("Stage").value("approved").build())
        .block_device_mappings(
            ec2t::BlockDeviceMapping::builder()
                .device_name("/dev/xvda")
                .ebs(
                    ec2t::EbsBlockDevice::builder()
                        .snapshot_id("snap-0123456789abcdef0")
                        .volume_size(8)
                        .delete_on_termination(true)
                        .encrypted(true)
                        .kms_key_id(own_key_arn())
                        .volume_type(ec2t::VolumeType::Gp3)
                        .build(),
                )
                .build(),
        )
        .block_device_mappings(
            ec2t::BlockDeviceMapping::builder()
                .device_name("/dev/sdf")
                .ebs(
                    ec2t::EbsBlockDevice::builder()
                        .snapshot_id("snap-0123456789abcdef1")
                        .volume_size(100)
                        .delete_on_termination(false)
                        .encrypted(true)
                        .kms_key_id(other_key_arn())
                        .build(),
                )
                .build(),
        )
        .block_device_mappings(
            ec2t::BlockDeviceMapping::builder()
                .device_name("/dev/sdb")
                .virtual_name("ephemeral0")
                .build(),
        )
        .build()
}

#[tokio::test]
async fn a_realistic_describe_images_answer_converts_to_the_model() {
    let images = mock!(aws_sdk_ec2::Client::describe_images).then_output(|| {
        DescribeImagesOutput::builder()
            .images(realistic_image("ami-0123456789abcdef0"))
            .images(realistic_image("ami-0123456789abcdef1"))
            .build()
    });
    // KMS says the caller's key is AWS managed; it is asked once although two images use it,
    // and never about the other account's key (necessarily customer managed).
    let describe_key = mock!(aws_sdk_kms::Client::describe_key)
        .match_requests(|r| r.key_id() == Some(own_key_arn().as_str()))
        .then_output(|| {
            DescribeKeyOutput::builder()
                .key_metadata(
                    kmst::KeyMetadata::builder()
                        .key_id(KEY_ID)
                        .key_manager(kmst::KeyManagerType::Aws)
                        .build()
                        .unwrap(),
                )
                .build()
        });
    let kms = mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&describe_key]);
    let ec2 = AwsEc2::new(
        mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&images]),
        me(),
        region(),
    )
    .with_kms(kms);

    let page = ec2
        .describe_images(DescribeImagesRequest::new())
        .await
        .unwrap();
    assert_eq!(page.next_token, None);
    assert_eq!(page.items.len(), 2);
    assert_eq!(describe_key.num_calls(), 1);

    let want = Image {
        id: ImageId::parse("ami-0123456789abcdef0").unwrap(),
        region: region(),
        name: "web-2026-03-01".into(),
        description: Some("golden web image".into()),
        owner: me(),
        owner_alias: None,
        state: ImageState::Available,
        state_reason: None,
        public: false,
        block_devices: vec![
            BlockDevice {
                device_name: "/dev/xvda".into(),
                snapshot_id: Some(SnapshotId::parse("snap-0123456789abcdef0").unwrap()),
                volume_size_gib: 8,
                encryption: Some(Encryption {
                    key: KmsKeyRef::parse(&own_key_arn()).unwrap(),
                    manager: KeyManager::Aws,
                }),
                delete_on_termination: true,
            },
            BlockDevice {
                device_name: "/dev/sdf".into(),
                snapshot_id: Some(SnapshotId::parse("snap-0123456789abcdef1").unwrap()),
                volume_size_gib: 100,
                encryption: Some(Encryption {
                    key: KmsKeyRef::parse(&other_key_arn()).unwrap(),
                    manager: KeyManager::Customer,
                }),
                delete_on_termination: false,
            },
        ],
        root_device_name: "/dev/xvda".into(),
        architecture: "arm64".into(),
        product_codes: vec![ProductCode {
            id: "abcdefghijklmnopqrstuvwxy".into(),
            kind: ProductCodeType::Marketplace,
        }],
        tags: [
            ("Stage".to_owned(), "approved".to_owned()),
            ("Team".to_owned(), "web".to_owned()),
        ]
        .into(),
        creation_time: "2026-03-01T10:00:00Z".parse().unwrap(),
        deprecation_time: Some("2027-03-01T10:00:00Z".parse().unwrap()),
        deregistration_protection: DeregistrationProtection::EnabledWithCooldown,
        source_image_id: Some(ImageId::parse("ami-0fedcba9876543210").unwrap()),
        source_region: Some(Region::parse("eu-west-1").unwrap()),
        source_instance_id: None,
        last_launched_time: None,
    };
    assert_eq!(page.items[0], want);
    assert!(page.items[0].is_marketplace());
    assert!(page.items[0].is_deprecated_at("2027-03-01T10:00:00Z".parse().unwrap()));
    assert_eq!(page.items[1].id.as_str(), "ami-0123456789abcdef1");
}

#[tokio::test]
async fn failed_images_and_wire_forms_of_protection_convert() {
    let rule = mock!(aws_sdk_ec2::Client::describe_images).then_output(|| {
        let failed = ec2t::Image::builder()
            .image_id("ami-0123456789abcdef0")
            .name("broken")
            .owner_id(ME)
            .image_owner_alias("amazon")
            .state(ec2t::ImageState::Failed)
            .state_reason(
                ec2t::StateReason::builder()
                    .code("Server.InternalError")
                    .message("Copy image failed with an internal error")
                    .build(),
            )
            .deregistration_protection("disabled after 2026-05-01T12:00:00Z")
            .creation_date("2026-03-01T10:00:00.000Z")
            .last_launched_time("2026-04-01T00:00:00Z")
            .build();
        DescribeImagesOutput::builder().images(failed).build()
    });
    let ec2 = AwsEc2::new(mock_client!(aws_sdk_ec2, [&rule]), me(), region());
    let img = &ec2
        .describe_images(DescribeImagesRequest::new())
        .await
        .unwrap()
        .items[0];
    assert_eq!(img.state, ImageState::Failed);
    let reason = img.state_reason.as_ref().unwrap();
    assert_eq!(reason.code, "Server.InternalError");
    assert_eq!(reason.message, "Copy image failed with an internal error");
    assert_eq!(img.owner_alias, Some(ami_core::OwnerAlias::Amazon));
    let until: Timestamp = "2026-05-01T12:00:00Z".parse().unwrap();
    assert_eq!(
        img.deregistration_protection,
        DeregistrationProtection::DisabledAfter(until)
    );
    assert_eq!(
        img.last_launched_time,
        Some("2026-04-01T00:00:00Z".parse().unwrap())
    );
}

#[tokio::test]
async fn items_with_unusable_ids_are_left_out_and_other_malformed_ids_fail() {
    // moto's catalogue holds images such as ami-ekswin: they cannot be named through the
    // model, so the page leaves them out.
    let odd = mock!(aws_sdk_ec2::Client::describe_images).then_output(|| {
        DescribeImagesOutput::builder()
            .images(simple_image("ami-ekswin"))
            .images(simple_image("ami-00000000000000001"))
            .next_token("more")
            .build()
    });
    let ec2 = AwsEc2::new(mock_client!(aws_sdk_ec2, [&odd]), me(), region());
    let page = ec2
        .describe_images(DescribeImagesRequest::new())
        .await
        .unwrap();
    let ids: Vec<&str> = page.items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["ami-00000000000000001"]);
    assert_eq!(page.next_token.as_deref(), Some("more"));

    // A malformed id inside a usable item is an error naming the value.
    let bad_owner = mock!(aws_sdk_ec2::Client::describe_images).then_output(|| {
        let mut i = simple_image("ami-00000000000000001");
        i.owner_id = Some("12".into());
        DescribeImagesOutput::builder().images(i).build()
    });
    let ec2 = AwsEc2::new(mock_client!(aws_sdk_ec2, [&bad_owner]), me(), region());
    let err = ec2
        .describe_images(DescribeImagesRequest::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), ami_aws::INVALID_RESPONSE);
    assert!(err.message().contains("OwnerId"), "{}", err.message());
    assert!(err.message().contains("\"12\""), "{}", err.message());
}

#[tokio::test]
async fn deregister_with_snapshots_reports_each_snapshot() {
    let rule = mock!(aws_sdk_ec2::Client::deregister_image)
        .match_requests(|r| {
            r.image_id() == Some("ami-0123456789abcdef0")
                && r.delete_associated_snapshots() == Some(true)
        })
        .then_output(|| {
            DeregisterImageOutput::builder()
                .delete_snapshot_results(
                    ec2t::DeleteSnapshotReturnCode::builder()
                        .snapshot_id("snap-0123456789abcdef0")
                        .return_code(ec2t::SnapshotReturnCodes::Success)
                        .build(),
                )
                .delete_snapshot_results(
                    ec2t::DeleteSnapshotReturnCode::builder()
                        .snapshot_id("snap-0123456789abcdef1")
                        .return_code(ec2t::SnapshotReturnCodes::WarnSkipped)
                        .build(),
                )
                .build()
        });
    let ec2 = AwsEc2::new(mock_client!(aws_sdk_ec2, [&rule]), me(), region());
    let results = ec2
        .deregister_image(
            DeregisterImageRequest::new(ImageId::parse("ami-0123456789abcdef0").unwrap())
                .with_snapshots(),
        )
        .await
        .unwrap();
    assert_eq!(
        results,
        [
            DeleteSnapshotResult {
                snapshot_id: SnapshotId::parse("snap-0123456789abcdef0").unwrap(),
                outcome: DeleteSnapshotOutcome::Success,
            },
            DeleteSnapshotResult {
                snapshot_id: SnapshotId::parse("snap-0123456789abcdef1").unwrap(),
                outcome: DeleteSnapshotOutcome::Skipped,
            },
        ]
    );
}

#[tokio::test]
async fn launch_permission_changes_are_sent_as_add_and_remove_lists() {
    let rule = mock!(aws_sdk_ec2::Client::modify_image_attribute)
        .match_requests(|r| {
            let Some(lp) = r.launch_permission() else {
                return false;
            };
            let add = lp.add();
            let remove = lp.remove();
            r.image_id() == Some("ami-0123456789abcdef0")
                && add.len() == 2
                && add[0].user_id() == Some(OTHER)
                && add[1].organization_arn()
                    == Some("arn:aws:organizations::111122223333:organization/o-abc123def4")
                && remove.len() == 1
                && remove[0].group() == Some(&ec2t::PermissionGroup::All)
        })
        .then_output(|| ModifyImageAttributeOutput::builder().build());
    let ec2 = AwsEc2::new(mock_client!(aws_sdk_ec2, [&rule]), me(), region());
    let changes = PermissionChanges {
        add: vec![
            LaunchPermission::Account(AccountId::parse(OTHER).unwrap()),
            LaunchPermission::Organization(
                "arn:aws:organizations::111122223333:organization/o-abc123def4"
                    .parse()
                    .unwrap(),
            ),
        ],
        remove: vec![LaunchPermission::Public],
    };
    ec2.modify_launch_permissions(ImageId::parse("ami-0123456789abcdef0").unwrap(), changes)
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn instances_get_volume_size_and_encryption_from_describe_volumes() {
    let instances = mock!(aws_sdk_ec2::Client::describe_instances).then_output(|| {
        let i = ec2t::Instance::builder()
            .instance_id("i-0123456789abcdef0")
            .image_id("ami-0123456789abcdef0")
            .instance_type(ec2t::InstanceType::T3Micro)
            .state(
                ec2t::InstanceState::builder()
                    .name(ec2t::InstanceStateName::Stopped)
                    .code(80)
                    .build(),
            )
            .root_device_name("/dev/xvda")
            .block_device_mappings(
                ec2t::InstanceBlockDeviceMapping::builder()
                    .device_name("/dev/sdf")
                    .ebs(
                        ec2t::EbsInstanceBlockDevice::builder()
                            .volume_id("vol-0000000000000000f")
                            .delete_on_termination(false)
                            .build(),
                    )
                    .build(),
            )
            .block_device_mappings(
                ec2t::InstanceBlockDeviceMapping::builder()
                    .device_name("/dev/xvda")
                    .ebs(
                        ec2t::EbsInstanceBlockDevice::builder()
                            .volume_id("vol-0000000000000000a")
                            .delete_on_termination(true)
                            .build(),
                    )
                    .build(),
            )
            .build();
        DescribeInstancesOutput::builder()
            .reservations(
                ec2t::Reservation::builder()
                    .owner_id(ME)
                    .instances(i)
                    .build(),
            )
            .build()
    });
    let volumes = mock!(aws_sdk_ec2::Client::describe_volumes)
        .match_requests(|r| {
            r.filters().len() == 1
                && r.filters()[0].name() == Some("volume-id")
                && r.filters()[0].values().len() == 2
        })
        .then_output(|| {
            DescribeVolumesOutput::builder()
                .volumes(
                    ec2t::Volume::builder()
                        .volume_id("vol-0000000000000000a")
                        .size(8)
                        .encrypted(false)
                        .build(),
                )
                .volumes(
                    ec2t::Volume::builder()
                        .volume_id("vol-0000000000000000f")
                        .size(50)
                        .encrypted(true)
                        .kms_key_id(other_key_arn())
                        .build(),
                )
                .build()
        });
    let ec2 = AwsEc2::new(
        mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&instances, &volumes]),
        me(),
        region(),
    );
    let page = ec2
        .describe_instances(DescribeInstancesRequest::new())
        .await
        .unwrap();
    let i = &page.items[0];
    assert_eq!(i.id.as_str(), "i-0123456789abcdef0");
    assert_eq!(i.state, ami_core::InstanceState::Stopped);
    assert_eq!(i.instance_type, "t3.micro");
    assert_eq!(i.owner, me());
    let devices: Vec<(&str, u32, bool)> = i
        .volumes
        .iter()
        .map(|v| (v.device_name.as_str(), v.size_gib, v.encryption.is_some()))
        .collect();
    assert_eq!(devices, [("/dev/xvda", 8, false), ("/dev/sdf", 50, true)]);
    assert_eq!(volumes.num_calls(), 1);
}

// ---------------------------------------------------------------------------------------------
// KMS.

#[tokio::test]
async fn key_policy_is_read_from_json() {
    let rule = mock!(aws_sdk_kms::Client::get_key_policy)
        .match_requests(|r| r.policy_name() == Some("default"))
        .then_output(|| {
            let policy = KeyPolicy::default_for(&me()).to_json("aws");
            GetKeyPolicyOutput::builder().policy(policy).build()
        });
    let kms = AwsKms::new(mock_client!(aws_sdk_kms, [&rule]), me(), region());
    let policy = kms
        .get_key_policy(KmsKeyRef::parse(&own_key_arn()).unwrap())
        .await
        .unwrap();
    assert_eq!(policy, KeyPolicy::default_for(&me()));
    assert!(policy.allows(&me(), None, KmsAction::Decrypt));
}

#[tokio::test]
async fn grants_go_to_account_roots_and_list_follows_pages() {
    let create = mock!(aws_sdk_kms::Client::create_grant)
        .match_requests(|r| {
            let ops: Vec<&str> = r.operations().iter().map(|o| o.as_str()).collect();
            r.grantee_principal() == Some(&format!("arn:aws:iam::{OTHER}:root"))
                && ops == ["DescribeKey", "Decrypt"]
                && r.name() == Some("consumer")
        })
        .then_output(|| CreateGrantOutput::builder().grant_id("grant-1").build());
    let page1 = mock!(aws_sdk_kms::Client::list_grants)
        .match_requests(|r| r.marker().is_none())
        .then_output(|| {
            ListGrantsOutput::builder()
                .grants(
                    kmst::GrantListEntry::builder()
                        .grant_id("grant-1")
                        .key_id(own_key_arn())
                        .grantee_principal(format!("arn:aws:iam::{OTHER}:root"))
                        .operations(kmst::GrantOperation::Decrypt)
                        .operations(kmst::GrantOperation::ReEncryptFrom)
                        .name("consumer")
                        .build(),
                )
                .grants(
                    kmst::GrantListEntry::builder()
                        .grant_id("grant-service")
                        .key_id(own_key_arn())
                        .grantee_principal("ec2.us-east-1.amazonaws.com")
                        .operations(kmst::GrantOperation::Decrypt)
                        .build(),
                )
                .truncated(true)
                .next_marker("m2")
                .build()
        });
    let page2 = mock!(aws_sdk_kms::Client::list_grants)
        .match_requests(|r| r.marker() == Some("m2"))
        .then_output(|| {
            ListGrantsOutput::builder()
                .grants(
                    kmst::GrantListEntry::builder()
                        .grant_id("grant-2")
                        .key_id(own_key_arn())
                        .grantee_principal(format!("arn:aws:iam::{ME}:role/builder"))
                        .operations(kmst::GrantOperation::GenerateDataKey)
                        .build(),
                )
                .truncated(false)
                .build()
        });
    let kms = AwsKms::new(
        mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&create, &page1, &page2]),
        me(),
        region(),
    );
    let key = KmsKeyRef::parse(&own_key_arn()).unwrap();
    let id = kms
        .create_grant(CreateGrantRequest {
            key: key.clone(),
            grantee: AccountId::parse(OTHER).unwrap(),
            operations: [KmsAction::DescribeKey, KmsAction::Decrypt].into(),
            name: Some("consumer".into()),
        })
        .await
        .unwrap();
    assert_eq!(id, "grant-1");
    let grants = kms.list_grants(key.clone()).await.unwrap();
    let summary: Vec<(&str, &str, Vec<KmsAction>)> = grants
        .iter()
        .map(|g| {
            (
                g.id.as_str(),
                g.grantee.as_str(),
                g.operations.iter().copied().collect(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "grant-1",
                OTHER,
                vec![KmsAction::Decrypt, KmsAction::ReEncrypt]
            ),
            ("grant-2", ME, vec![KmsAction::GenerateDataKey]),
        ]
    );
    assert_eq!(grants[0].name.as_deref(), Some("consumer"));
    assert_eq!(grants[0].key_arn, key);
    assert_eq!(page1.num_calls(), 1);
    assert_eq!(page2.num_calls(), 1);
}

#[tokio::test]
async fn schedule_key_deletion_sends_the_window_and_returns_the_deletion_date() {
    const CREATED: i64 = 1_767_225_600;
    let rule = mock!(aws_sdk_kms::Client::schedule_key_deletion)
        .match_requests(|r| {
            r.key_id() == Some(own_key_arn().as_str()) && r.pending_window_in_days() == Some(7)
        })
        .then_output(|| {
            ScheduleKeyDeletionOutput::builder()
                .key_id(own_key_arn())
                .deletion_date(aws_smithy_types::DateTime::from_secs(CREATED + 7 * 86_400))
                .key_state(kmst::KeyState::PendingDeletion)
                .pending_window_in_days(7)
                .build()
        });
    let kms = AwsKms::new(mock_client!(aws_sdk_kms, [&rule]), me(), region());
    let date = kms
        .schedule_key_deletion(KmsKeyRef::parse(&own_key_arn()).unwrap(), 7)
        .await
        .unwrap();
    assert_eq!(date, Timestamp::from_secs(CREATED + 7 * 86_400));
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn schedule_key_deletion_of_a_key_pending_deletion_keeps_the_kms_code() {
    let message = format!("{} is pending deletion.", own_key_arn());
    let rule = mock!(aws_sdk_kms::Client::schedule_key_deletion)
        .match_requests(|r| {
            r.key_id() == Some("alias/golden") && r.pending_window_in_days() == Some(30)
        })
        .then_error(move || {
            ScheduleKeyDeletionError::KmsInvalidStateException(
                kmst::error::KmsInvalidStateException::builder()
                    .message(message.clone())
                    .meta(ec2_error("KMSInvalidStateException", &message))
                    .build(),
            )
        });
    let kms = AwsKms::new(mock_client!(aws_sdk_kms, [&rule]), me(), region());
    let err = kms
        .schedule_key_deletion(KmsKeyRef::parse("alias/golden").unwrap(), 30)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
    assert_eq!(err.code(), "KMSInvalidStateException");
    assert_eq!(
        err.message(),
        format!("{} is pending deletion.", own_key_arn())
    );
    assert!(!err.is_retryable());
    assert_eq!(rule.num_calls(), 1, "a client error is not retried");
}

#[tokio::test]
async fn schedule_key_deletion_without_a_deletion_date() {
    // A multi-Region primary key with replicas: AWS gives no date, the earliest one is returned.
    let replicas = mock!(aws_sdk_kms::Client::schedule_key_deletion)
        .match_requests(|r| r.key_id() == Some(KEY_ID))
        .then_output(|| {
            ScheduleKeyDeletionOutput::builder()
                .key_id(own_key_arn())
                .key_state(kmst::KeyState::PendingReplicaDeletion)
                .pending_window_in_days(10)
                .build()
        });
    // Any other answer without a date is not one AWS gives.
    let odd = mock!(aws_sdk_kms::Client::schedule_key_deletion)
        .match_requests(|r| r.key_id() == Some("alias/odd"))
        .then_output(|| {
            ScheduleKeyDeletionOutput::builder()
                .key_id(own_key_arn())
                .build()
        });
    let kms = AwsKms::new(
        mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&replicas, &odd]),
        me(),
        region(),
    );
    let ten_days = Duration::from_secs(10 * 86_400);
    let before = Timestamp::now_wall();
    let date = kms
        .schedule_key_deletion(KmsKeyRef::parse(KEY_ID).unwrap(), 10)
        .await
        .unwrap();
    let after = Timestamp::now_wall();
    assert!(
        before.add(ten_days) <= date && date <= after.add(ten_days),
        "{date} not 10 days after {before}"
    );
    let err = kms
        .schedule_key_deletion(KmsKeyRef::parse("alias/odd").unwrap(), 10)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ami_aws::INVALID_RESPONSE);
}

/// KMS's answer for `alias/gone`, an alias that does not exist.
fn alias_gone() -> kmst::error::NotFoundException {
    let message = "Alias arn:aws:kms:us-east-1:111122223333:alias/gone is not found.";
    kmst::error::NotFoundException::builder()
        .message(message)
        .meta(ec2_error("NotFoundException", message))
        .build()
}

#[tokio::test]
async fn cancel_key_deletion_sends_the_key_and_maps_not_found() {
    let ok = mock!(aws_sdk_kms::Client::cancel_key_deletion)
        .match_requests(|r| r.key_id() == Some(own_key_arn().as_str()))
        .then_output(|| {
            CancelKeyDeletionOutput::builder()
                .key_id(own_key_arn())
                .build()
        });
    let missing = mock!(aws_sdk_kms::Client::cancel_key_deletion)
        .match_requests(|r| r.key_id() == Some("alias/gone"))
        .then_error(|| CancelKeyDeletionError::NotFoundException(alias_gone()));
    let kms = AwsKms::new(
        mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&ok, &missing]),
        me(),
        region(),
    );
    kms.cancel_key_deletion(KmsKeyRef::parse(&own_key_arn()).unwrap())
        .await
        .unwrap();
    assert_eq!(ok.num_calls(), 1);
    let err = kms
        .cancel_key_deletion(KmsKeyRef::parse("alias/gone").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert_eq!(err.code(), "NotFoundException");
    assert_eq!(missing.num_calls(), 1);
}

#[tokio::test]
async fn enable_key_sends_the_key_and_maps_a_key_pending_deletion() {
    let ok = mock!(aws_sdk_kms::Client::enable_key)
        .match_requests(|r| r.key_id() == Some(own_key_arn().as_str()))
        .then_output(|| EnableKeyOutput::builder().build());
    let message = format!("{} is pending deletion.", own_key_arn());
    let pending = mock!(aws_sdk_kms::Client::enable_key)
        .match_requests(|r| r.key_id() == Some(KEY_ID))
        .then_error(move || {
            EnableKeyError::KmsInvalidStateException(
                kmst::error::KmsInvalidStateException::builder()
                    .message(message.clone())
                    .meta(ec2_error("KMSInvalidStateException", &message))
                    .build(),
            )
        });
    let kms = AwsKms::new(
        mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&ok, &pending]),
        me(),
        region(),
    );
    kms.enable_key(KmsKeyRef::parse(&own_key_arn()).unwrap())
        .await
        .unwrap();
    assert_eq!(ok.num_calls(), 1);
    let err = kms
        .enable_key(KmsKeyRef::parse(KEY_ID).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err:?}");
    assert_eq!(err.code(), "KMSInvalidStateException");
    assert_eq!(
        err.message(),
        format!("{} is pending deletion.", own_key_arn())
    );
    assert!(!err.is_retryable());
    assert_eq!(pending.num_calls(), 1, "a client error is not retried");
}

#[tokio::test]
async fn disable_key_sends_the_key_and_maps_not_found() {
    let ok = mock!(aws_sdk_kms::Client::disable_key)
        .match_requests(|r| r.key_id() == Some("alias/golden"))
        .then_output(|| DisableKeyOutput::builder().build());
    let missing = mock!(aws_sdk_kms::Client::disable_key)
        .match_requests(|r| r.key_id() == Some("alias/gone"))
        .then_error(|| DisableKeyError::NotFoundException(alias_gone()));
    let kms = AwsKms::new(
        mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&ok, &missing]),
        me(),
        region(),
    );
    kms.disable_key(KmsKeyRef::parse("alias/golden").unwrap())
        .await
        .unwrap();
    assert_eq!(ok.num_calls(), 1);
    let err = kms
        .disable_key(KmsKeyRef::parse("alias/gone").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert_eq!(err.code(), "NotFoundException");
    assert_eq!(
        err.message(),
        "Alias arn:aws:kms:us-east-1:111122223333:alias/gone is not found."
    );
    assert_eq!(missing.num_calls(), 1);
}

#[tokio::test]
async fn a_server_error_without_a_code_is_retried_by_its_status() {
    let rule = mock!(aws_sdk_ec2::Client::describe_images)
        .sequence()
        .http_status(503, None)
        .output(|| {
            DescribeImagesOutput::builder()
                .images(simple_image("ami-00000000000000001"))
                .build()
        })
        .build();
    let client = mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&rule], |c| c
        .retry_config(fast_retries(3)));
    let ec2 = AwsEc2::new(client, me(), region());
    let page = ec2
        .describe_images(DescribeImagesRequest::new())
        .await
        .unwrap();
    assert_eq!(page.items[0].id.as_str(), "ami-00000000000000001");
    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test]
async fn snapshots_convert_with_encryption_and_page_tokens() {
    let rule = mock!(aws_sdk_ec2::Client::describe_snapshots)
        .match_requests(|r| {
            r.owner_ids() == ["self".to_owned()]
                && r.restorable_by_user_ids().is_empty()
                && r.next_token() == Some("p1")
                && r.max_results() == Some(10)
        })
        .then_output(|| {
            DescribeSnapshotsOutput::builder()
                .snapshots(
                    ec2t::Snapshot::builder()
                        .snapshot_id("snap-0123456789abcdef0")
                        .owner_id(ME)
                        .volume_id("vol-ffffffff")
                        .volume_size(8)
                        .state(ec2t::SnapshotState::Completed)
                        .encrypted(true)
                        .kms_key_id(other_key_arn())
                        .description("Copied for DestinationAmi ami-0123456789abcdef0")
                        .start_time(aws_smithy_types::DateTime::from_secs(1_767_225_600))
                        .tags(ec2t::Tag::builder().key("Team").value("web").build())
                        .build(),
                )
                .snapshots(
                    ec2t::Snapshot::builder()
                        .snapshot_id("snap-0123456789abcdef1")
                        .owner_id(ME)
                        .volume_id("vol-0123456789abcdef0")
                        .volume_size(20)
                        .state(ec2t::SnapshotState::Pending)
                        .encrypted(false)
                        .build(),
                )
                .next_token("p2")
                .build()
        });
    let ec2 = AwsEc2::new(mock_client!(aws_sdk_ec2, [&rule]), me(), region());
    let mut req = DescribeSnapshotsRequest::owned();
    req.next_token = Some("p1".into());
    req.max_results = Some(10);
    let page = ec2.describe_snapshots(req).await.unwrap();
    assert_eq!(page.next_token.as_deref(), Some("p2"));
    let copy = &page.items[0];
    assert_eq!(copy.volume_id, None, "vol-ffffffff means no source volume");
    assert_eq!(copy.volume_size_gib, 8);
    assert_eq!(copy.state, SnapshotState::Completed);
    assert_eq!(
        copy.encryption,
        Some(Encryption {
            key: KmsKeyRef::parse(&other_key_arn()).unwrap(),
            manager: KeyManager::Customer,
        })
    );
    assert_eq!(copy.start_time, Timestamp::from_secs(1_767_225_600));
    assert_eq!(copy.tags.get("Team").map(String::as_str), Some("web"));
    let fresh = &page.items[1];
    assert_eq!(
        fresh.volume_id.as_ref().map(|v| v.as_str()),
        Some("vol-0123456789abcdef0")
    );
    assert_eq!(fresh.state, SnapshotState::Pending);
    assert_eq!(fresh.encryption, None);
}

#[tokio::test]
async fn describe_key_lists_the_aliases_of_own_keys_only() {
    let own = mock!(aws_sdk_kms::Client::describe_key)
        .match_requests(|r| r.key_id() == Some("alias/golden"))
        .then_output(|| {
            DescribeKeyOutput::builder()
                .key_metadata(
                    kmst::KeyMetadata::builder()
                        .key_id(KEY_ID)
                        .arn(own_key_arn())
                        .aws_account_id(ME)
                        .key_manager(kmst::KeyManagerType::Customer)
                        .key_state(kmst::KeyState::PendingDeletion)
                        .description("golden images")
                        .multi_region(false)
                        .creation_date(aws_smithy_types::DateTime::from_secs(1_767_225_600))
                        .build()
                        .unwrap(),
                )
                .build()
        });
    let theirs = mock!(aws_sdk_kms::Client::describe_key)
        .match_requests(|r| r.key_id() == Some(other_key_arn().as_str()))
        .then_output(|| {
            DescribeKeyOutput::builder()
                .key_metadata(
                    kmst::KeyMetadata::builder()
                        .key_id("mrk-1234abcd12ab34cd56ef1234567890ab")
                        .arn(other_key_arn())
                        .aws_account_id(OTHER)
                        .key_manager(kmst::KeyManagerType::Customer)
                        .key_state(kmst::KeyState::Enabled)
                        .multi_region(true)
                        .build()
                        .unwrap(),
                )
                .build()
        });
    let aliases = mock!(aws_sdk_kms::Client::list_aliases)
        .match_requests(|r| r.key_id() == Some(KEY_ID))
        .then_output(|| {
            ListAliasesOutput::builder()
                .aliases(
                    kmst::AliasListEntry::builder()
                        .alias_name("alias/golden")
                        .build(),
                )
                .aliases(
                    kmst::AliasListEntry::builder()
                        .alias_name("alias/base")
                        .build(),
                )
                .truncated(false)
                .build()
        });
    let kms = AwsKms::new(
        mock_client!(aws_sdk_kms, RuleMode::MatchAny, [&own, &theirs, &aliases]),
        me(),
        region(),
    );
    let key = kms
        .describe_key(KmsKeyRef::parse("alias/golden").unwrap())
        .await
        .unwrap();
    assert_eq!(key.key_id, KEY_ID);
    assert_eq!(key.arn.as_str(), own_key_arn());
    assert_eq!(key.owner, me());
    assert_eq!(key.manager, KeyManager::Customer);
    assert_eq!(key.state, KeyState::PendingDeletion);
    assert_eq!(key.aliases, ["alias/base", "alias/golden"]);
    assert_eq!(key.creation_time, Timestamp::from_secs(1_767_225_600));

    let other = kms
        .describe_key(KmsKeyRef::parse(&other_key_arn()).unwrap())
        .await
        .unwrap();
    assert_eq!(other.owner.as_str(), OTHER);
    assert!(other.multi_region);
    assert!(other.aliases.is_empty());
    assert_eq!(
        aliases.num_calls(),
        1,
        "ListAliases only for the caller's key"
    );
}

#[tokio::test]
async fn create_key_sends_the_policy_as_json() {
    let consumer = AccountId::parse(OTHER).unwrap();
    let rule = mock!(aws_sdk_kms::Client::create_key)
        .match_requests(move |r| {
            let Some(json) = r.policy() else { return false };
            let Ok(policy) = KeyPolicy::from_json(json) else {
                return false;
            };
            r.description() == Some("shared")
                && r.multi_region() == Some(true)
                && r.key_spec() == Some(&kmst::KeySpec::SymmetricDefault)
                && r.tags().len() == 1
                && r.tags()[0].tag_key() == "Team"
                && policy.allows(&AccountId::parse(OTHER).unwrap(), None, KmsAction::Decrypt)
        })
        .then_output(|| {
            CreateKeyOutput::builder()
                .key_metadata(
                    kmst::KeyMetadata::builder()
                        .key_id("mrk-00000000000000000000000000000001")
                        .arn(format!(
                            "arn:aws:kms:us-east-1:{ME}:key/mrk-00000000000000000000000000000001"
                        ))
                        .aws_account_id(ME)
                        .key_manager(kmst::KeyManagerType::Customer)
                        .key_state(kmst::KeyState::Enabled)
                        .multi_region(true)
                        .build()
                        .unwrap(),
                )
                .build()
        });
    let kms = AwsKms::new(mock_client!(aws_sdk_kms, [&rule]), me(), region());
    let mut policy = KeyPolicy::default_for(&me());
    policy.statements.push(ami_core::model::KeyPolicyStatement {
        sid: "consumer".into(),
        principals: [ami_core::model::KeyPrincipal::Account(consumer)].into(),
        actions: KmsAction::CONSUMER.into(),
        principal_org_id: None,
        principal_org_paths: Default::default(),
    });
    let mut req = CreateKeyRequest::new("shared")
        .policy(policy)
        .multi_region(true);
    req.tags.insert("Team".into(), "web".into());
    let key = kms.create_key(req).await.unwrap();
    assert!(key.multi_region);
    assert!(key.arn.is_multi_region());
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn snapshot_permission_changes_use_the_operation_type_form_when_one_directional() {
    let add = mock!(aws_sdk_ec2::Client::modify_snapshot_attribute)
        .match_requests(|r| {
            r.operation_type() == Some(&ec2t::OperationType::Add)
                && r.user_ids() == [OTHER.to_owned()]
                && r.group_names() == ["all".to_owned()]
                && r.create_volume_permission().is_none()
                && r.attribute() == Some(&ec2t::SnapshotAttributeName::CreateVolumePermission)
        })
        .then_output(|| ModifySnapshotAttributeOutput::builder().build());
    let remove = mock!(aws_sdk_ec2::Client::modify_snapshot_attribute)
        .match_requests(|r| {
            r.operation_type() == Some(&ec2t::OperationType::Remove)
                && r.user_ids() == [OTHER.to_owned()]
                && r.group_names().is_empty()
        })
        .then_output(|| ModifySnapshotAttributeOutput::builder().build());
    // AWS refuses add and remove in one call; the structured form lets AWS say so.
    let mixed = mock!(aws_sdk_ec2::Client::modify_snapshot_attribute)
        .match_requests(|r| {
            r.operation_type().is_none()
                && r.create_volume_permission().is_some_and(|m| {
                    m.add().len() == 1
                        && m.add()[0].user_id() == Some(OTHER)
                        && m.remove().len() == 1
                        && m.remove()[0].group() == Some(&ec2t::PermissionGroup::All)
                })
        })
        .then_error(|| {
            ModifySnapshotAttributeError::generic(ec2_error(
                "InvalidParameterCombination",
                "You cannot add and remove permissions in the same request",
            ))
        });
    let ec2 = AwsEc2::new(
        mock_client!(aws_sdk_ec2, RuleMode::Sequential, [&add, &remove, &mixed]),
        me(),
        region(),
    );
    let snap = SnapshotId::parse("snap-0123456789abcdef0").unwrap();
    let other = CreateVolumePermission::Account(AccountId::parse(OTHER).unwrap());
    ec2.modify_snapshot_permissions(
        snap.clone(),
        PermissionChanges::add([other.clone(), CreateVolumePermission::Public]),
    )
    .await
    .unwrap();
    ec2.modify_snapshot_permissions(snap.clone(), PermissionChanges::remove([other.clone()]))
        .await
        .unwrap();
    let err = ec2
        .modify_snapshot_permissions(
            snap,
            PermissionChanges {
                add: vec![other],
                remove: vec![CreateVolumePermission::Public],
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "InvalidParameterCombination");
    assert!(matches!(err, Error::InvalidParameter(_)), "{err:?}");
    assert_eq!(
        (add.num_calls(), remove.num_calls(), mixed.num_calls()),
        (1, 1, 1)
    );
}
