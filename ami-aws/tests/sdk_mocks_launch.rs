//! RunInstances and dry runs on a mocked SDK client: launch-time encryption of the image's
//! devices is sent as `BlockDeviceMapping.N.Ebs.Encrypted` / `KmsKeyId`, an instance's product
//! codes are read from the answer, and a dry-run client sends `DryRun=true` on changing calls
//! and reads `DryRunOperation` as `Error::DryRun`.

use ami_aws::AwsEc2;
use ami_core::api::RunInstancesRequest;
use ami_core::model::ProductCodeType;
use ami_core::{AccountId, Ec2, Error, ImageId, KmsKeyRef, Region};
use aws_sdk_ec2::error::ErrorMetadata;
use aws_sdk_ec2::operation::create_image::CreateImageError;
use aws_sdk_ec2::operation::describe_volumes::DescribeVolumesOutput;
use aws_sdk_ec2::operation::run_instances::RunInstancesError;
use aws_sdk_ec2::operation::run_instances::RunInstancesOutput;
use aws_sdk_ec2::types as ec2t;
use aws_smithy_mocks::{mock, mock_client, RuleMode};

const ME: &str = "111122223333";

fn me() -> AccountId {
    AccountId::parse(ME).unwrap()
}

fn region() -> Region {
    Region::parse("us-east-1").unwrap()
}

fn launched() -> RunInstancesOutput {
    let i = ec2t::Instance::builder()
        .instance_id("i-0123456789abcdef0")
        .image_id("ami-0123456789abcdef0")
        .instance_type(ec2t::InstanceType::T3Micro)
        .state(
            ec2t::InstanceState::builder()
                .name(ec2t::InstanceStateName::Pending)
                .code(0)
                .build(),
        )
        .product_codes(
            ec2t::ProductCode::builder()
                .product_code_id("prod-abc123")
                .product_code_type(ec2t::ProductCodeValues::Marketplace)
                .build(),
        )
        .build();
    RunInstancesOutput::builder()
        .owner_id(ME)
        .instances(i)
        .build()
}

#[tokio::test]
async fn launch_encryption_is_sent_as_block_device_mappings() {
    let key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let run = mock!(aws_sdk_ec2::Client::run_instances)
        .match_requests(move |r| {
            let m = r.block_device_mappings();
            m.len() == 2
                && m[0].device_name() == Some("/dev/xvda")
                && m[0].ebs().and_then(|e| e.encrypted()) == Some(true)
                && m[0].ebs().and_then(|e| e.kms_key_id()) == Some(key)
                && m[0].ebs().and_then(|e| e.volume_size()).is_none()
                && m[1].device_name() == Some("/dev/sdb")
                && m[1].ebs().and_then(|e| e.encrypted()) == Some(true)
                && m[1].ebs().and_then(|e| e.kms_key_id()).is_none()
        })
        .then_output(launched);
    let volumes = mock!(aws_sdk_ec2::Client::describe_volumes)
        .then_output(|| DescribeVolumesOutput::builder().build());
    let ec2 = AwsEc2::new(
        mock_client!(aws_sdk_ec2, RuleMode::MatchAny, [&run, &volumes]),
        me(),
        region(),
    );
    let req = RunInstancesRequest::new(ImageId::parse("ami-0123456789abcdef0").unwrap())
        .encrypt_volume("/dev/xvda", Some(KmsKeyRef::parse(key).unwrap()))
        .encrypt_volume("/dev/sdb", None);
    let out = ec2.run_instances(req).await.unwrap();
    assert_eq!(run.num_calls(), 1);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].product_codes.len(), 1);
    assert_eq!(out[0].product_codes[0].id, "prod-abc123");
    assert_eq!(out[0].product_codes[0].kind, ProductCodeType::Marketplace);
}

#[tokio::test]
async fn a_dry_run_client_sends_dry_run_and_reads_dry_run_operation() {
    let dry_error = || {
        ErrorMetadata::builder()
            .code("DryRunOperation")
            .message("Request would have succeeded, but DryRun flag is set.")
            .build()
    };
    let run = mock!(aws_sdk_ec2::Client::run_instances)
        .match_requests(|r| r.dry_run() == Some(true))
        .then_error(move || RunInstancesError::generic(dry_error()));
    let create = mock!(aws_sdk_ec2::Client::create_image)
        .match_requests(|r| {
            r.dry_run() == Some(true) && r.instance_id() == Some("i-0123456789abcdef0")
        })
        .then_error(move || CreateImageError::generic(dry_error()));
    let real = mock!(aws_sdk_ec2::Client::run_instances)
        .match_requests(|r| r.dry_run() == Some(false))
        .then_output(launched);
    let volumes = mock!(aws_sdk_ec2::Client::describe_volumes)
        .then_output(|| DescribeVolumesOutput::builder().build());
    let ec2 = AwsEc2::new(
        mock_client!(
            aws_sdk_ec2,
            RuleMode::MatchAny,
            [&run, &create, &real, &volumes]
        ),
        me(),
        region(),
    );
    let image = ImageId::parse("ami-0123456789abcdef0").unwrap();
    let dry = ec2.dry_run();
    let e = dry
        .run_instances(RunInstancesRequest::new(image.clone()))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::DryRun(_)), "{e:?}");
    assert_eq!(e.code(), "DryRunOperation");
    let e = dry
        .create_image(ami_core::api::CreateImageRequest::new(
            ami_core::InstanceId::parse("i-0123456789abcdef0").unwrap(),
            "app",
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "DryRunOperation");
    assert_eq!((run.num_calls(), create.num_calls()), (1, 1));
    // The original client is not a dry-run one.
    assert_eq!(
        ec2.run_instances(RunInstancesRequest::new(image))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(real.num_calls(), 1);
}
