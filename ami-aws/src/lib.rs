//! # ami-aws: the ami-core traits on the AWS SDK for Rust
//!
//! `ami-aws` implements [`ami_core::Ec2`], [`ami_core::Kms`] and [`ami_core::Connector`] with
//! aws-sdk-ec2, aws-sdk-kms and aws-config, so every ami-core workflow that runs on the
//! simulator also runs on real AWS, or on an AWS emulator such as moto or LocalStack.
//!
//! | item | what it is |
//! |---|---|
//! | [`AwsConfig`] | the builder: Region, endpoint URL, credentials, retries, timeouts, role to assume |
//! | [`AwsBackend`] | a resolved configuration for the caller's account; makes clients |
//! | [`AwsEc2`] | [`Ec2`](ami_core::Ec2) on aws-sdk-ec2, one account in one Region |
//! | [`AwsKms`] | [`Kms`](ami_core::Kms) on aws-sdk-kms, one account in one Region |
//! | [`AwsConnector`] | [`Connector`](ami_core::Connector): any account (by assuming a role) and Region |
//! | [`map_sdk_error`] | the one mapping of SDK failures to [`ami_core::Error`] |
//!
//! # Build a backend from the environment
//!
//! With no settings, credentials and Region come from the standard AWS chains (environment
//! variables, `AWS_PROFILE` and the shared config files, SSO, web identity, ECS and EC2 instance
//! roles), and the caller's account id from STS GetCallerIdentity:
//!
//! ```no_run
//! use ami_core::{Ec2Ext, api::{DescribeImagesRequest, Owner}};
//! use ami_aws::AwsBackend;
//!
//! # async fn demo() -> ami_core::Result<()> {
//! let backend = AwsBackend::from_env().await?;
//! let ec2 = backend.ec2();
//! let mine = ec2
//!     .describe_all_images(DescribeImagesRequest::new().owner(Owner::SelfAccount))
//!     .await?;
//! println!("{} owns {} images in {}", backend.account(), mine.len(), backend.region());
//! # Ok(()) }
//! ```
//!
//! Settings override parts of the chain: [`AwsConfig::region`], [`AwsConfig::profile`],
//! [`AwsConfig::max_attempts`] (the SDK's standard retry mode), [`AwsConfig::operation_timeout`]
//! and [`AwsConfig::operation_attempt_timeout`], or start from your own `SdkConfig` with
//! [`AwsConfig::from_sdk_config`].
//!
//! # Point it at moto or LocalStack
//!
//! [`AwsConfig::emulator`] sends every EC2, KMS and STS call to one endpoint URL with static
//! test credentials in `us-east-1`:
//!
//! ```no_run
//! use ami_core::{AccountId, Kms, KmsExt};
//! use ami_aws::AwsConfig;
//!
//! # async fn demo() -> ami_core::Result<()> {
//! // moto_server -p 5000
//! let backend = AwsConfig::emulator("http://127.0.0.1:5000")
//!     // moto's default account; leave it out to ask the emulator's STS.
//!     .account(AccountId::parse("123456789012")?)
//!     .max_attempts(1)
//!     .build()
//!     .await?;
//! let key = backend.kms().create_key_with_alias("golden", "golden images").await?;
//! assert_eq!(key.owner, *backend.account());
//! # Ok(()) }
//! ```
//!
//! The same by hand: `AwsBackend::builder().endpoint_url(url).region("us-east-1")
//! .static_credentials("testing", "testing", None)`.
//!
//! # Many accounts: the Connector with assume-role
//!
//! Workflows that share and copy images across accounts take a [`Connector`](ami_core::Connector).
//! [`AwsConnector`] acts as the caller's own account directly, and as any other account by
//! assuming one role name there (`arn:aws:iam::<account>:role/<name>`) through STS, with
//! credentials cached and refreshed per account:
//!
//! ```no_run
//! use ami_core::{AccountId, Connector, Region};
//! use ami_aws::AwsBackend;
//!
//! # async fn demo() -> ami_core::Result<()> {
//! let backend = AwsBackend::builder()
//!     .region("us-east-1")
//!     .assume_role_name("ami-admin")
//!     .build()
//!     .await?;
//! let connector = backend.connector();
//! let consumer = AccountId::parse("444455556666")?;
//! let ec2 = connector.ec2(&consumer, &Region::parse("eu-west-1")?)?;
//! assert_eq!(ec2.account(), &consumer);
//! # Ok(()) }
//! ```
//!
//! On moto the same works: moto's STS AssumeRole answers for any role ARN, and calls made with
//! the returned keys act in the account named by the ARN.
//!
//! # Errors
//!
//! Every SDK failure goes through [`map_sdk_error`]: AWS error codes are classified by
//! [`ami_core::Error::from_code`] with the code and message kept (`err.code() ==
//! "InvalidAMIID.NotFound"`); unknown codes are kept as [`ami_core::Error::Other`]; timeouts and
//! connection failures are [`ami_core::Error::Transport`] (retryable). Problems in the client's
//! own configuration have the code [`INVALID_CLIENT_CONFIGURATION`], and AWS answers that do not
//! fit the model have the code [`INVALID_RESPONSE`]. The SDK retries throttling and server
//! errors itself before an error is returned.
//!
//! # Key managers
//!
//! EC2 reports the KMS key of an encrypted snapshot as a key ARN, without saying whether AWS or
//! the customer manages it. [`AwsEc2`] decides: `alias/aws/*` is AWS managed; any other alias,
//! and any key of another account, is customer managed; otherwise KMS DescribeKey is asked once
//! per key and cached; and if that is not possible (no permission), the key is assumed to be
//! **customer managed**. An encrypted device reported without a key id is recorded as the EBS
//! default key `alias/aws/ebs`, AWS managed.
//!
//! # Pagination
//!
//! The trait's describe calls return one page: `max_results` and `next_token` go to AWS as
//! `MaxResults`/`NextToken`, and the page's `next_token` is AWS's. [`ami_core::Ec2Ext`]
//! follows the pages (`describe_all_images`, ...). KMS ListGrants and ListAliases are always
//! followed to the end.
//!
//! # IAM permissions
//!
//! The caller (and the assumed role in each other account) needs these actions for each
//! ami-core workflow. All EC2 actions are on `*` or on `arn:aws:ec2:<region>::image/*` and
//! `arn:aws:ec2:<region>::snapshot/*`; KMS actions are on the customer managed keys used.
//!
//! | workflow | actions |
//! |---|---|
//! | every backend | `sts:GetCallerIdentity` (unless the account is given) |
//! | reading images (`wait`, `govern`, all) | `ec2:DescribeImages`, `ec2:DescribeSnapshots`, `kms:DescribeKey` (to classify keys; optional) |
//! | `bake` | `ec2:RunInstances`, `ec2:DescribeInstances`, `ec2:DescribeVolumes`, `ec2:StopInstances`, `ec2:StartInstances`, `ec2:RebootInstances`, `ec2:TerminateInstances`, `ec2:CreateImage`, `ec2:CreateTags` |
//! | `share` | `ec2:DescribeImageAttribute`, `ec2:ModifyImageAttribute`, `ec2:ResetImageAttribute`, `ec2:DescribeSnapshotAttribute`, `ec2:ModifySnapshotAttribute`, `kms:GetKeyPolicy`, `kms:PutKeyPolicy`, `kms:CreateGrant`, `kms:ListGrants`, `kms:RevokeGrant` |
//! | `adopt` (cross-account copy, consumer side) | `ec2:CopyImage`, `ec2:DescribeImages`, `ec2:CreateTags`; on the source key: `kms:DescribeKey`, `kms:CreateGrant`, `kms:Decrypt`, `kms:ReEncrypt*`, `kms:GenerateDataKey*`; on the destination key: `kms:Encrypt`, `kms:GenerateDataKey*`, `kms:CreateGrant` |
//! | `distribute` | the `share` and `adopt` actions, plus `ec2:CopyImage` in each Region, `kms:CreateKey`, `kms:CreateAlias`, `kms:ListAliases`, and `sts:AssumeRole` on the role in every target account |
//! | `retire` | `ec2:EnableImageDeprecation`, `ec2:DisableImageDeprecation`, `ec2:DisableImage`, `ec2:EnableImage`, `ec2:DisableImageDeregistrationProtection`, `ec2:DeregisterImage`, `ec2:DeleteSnapshot`, `ec2:DescribeInstances`, `ec2:DeleteTags` |
//! | `pipeline` | the `bake`, `distribute` and `retire` actions, plus `ec2:EnableImageDeregistrationProtection` |
//! | `govern` | `ec2:DescribeImages`, `ec2:CreateTags`, `ec2:GetImageBlockPublicAccessState`, `ec2:EnableImageBlockPublicAccess`, `ec2:DisableImageBlockPublicAccess` |
//!
//! Consumers of an image encrypted with a customer key also need the key policy (or a grant) of
//! the owner's key to admit them: `share` sets that up.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![deny(rustdoc::broken_intra_doc_links)]

mod config;
mod connector;

/// Where moto differs from AWS and from ami-sim: the divergence table of the differential test
/// and the gaps the conformance suite skips on moto, each with its reason.
#[doc = include_str!("../DIVERGENCES.md")]
pub mod divergences {}
mod convert;
mod ec2;
mod error;
mod keys;
mod kms;

pub use config::{AwsBackend, AwsConfig};
pub use connector::AwsConnector;
pub use ec2::AwsEc2;
pub use error::{map_sdk_error, INVALID_CLIENT_CONFIGURATION, INVALID_RESPONSE};
pub use kms::AwsKms;
