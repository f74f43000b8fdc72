//! # ami-core: the life of an Amazon Machine Image, as values, rules and workflows
//!
//! `ami-core` knows how AWS treats images (states, sharing, copying, encryption, retirement) and
//! turns that knowledge into pure functions and workflows that run on any backend:
//! the deterministic simulator `ami-sim` for tests, or real AWS through `ami-aws`.
//!
//! | module | what lives there |
//! |---|---|
//! | [`id`] | validated ids: [`ImageId`], [`AccountId`], [`Region`], [`KmsKeyRef`], ... |
//! | [`model`] | [`Image`], [`Snapshot`], [`Instance`], [`KmsKey`], [`LaunchPermission`], ... |
//! | [`lifecycle`] | the image and instance state machines, as pure functions |
//! | [`rules`] | every AWS permission rule, returning `Ok` or the exact AWS error |
//! | [`api`] | the [`Ec2`], [`Kms`] and [`Connector`] traits: the seam to AWS or the simulator |
//! | [`error`] | [`Error`]: one enum of meanings, each with the AWS code and message |
//! | [`time`] | [`Timestamp`] and the injectable [`Clock`] |
//! | [`ops`] | the workflows: wait, bake, share, adopt, distribute, retire, pipeline, govern |
//!
//! # Example: a rule check, before any call is made
//!
//! The rules answer exactly what AWS would, code included, so a workflow can refuse a bad
//! request up front instead of discovering it half-way:
//!
//! ```
//! use ami_core::rules::validate_image_name;
//! use ami_core::{Error, ImageId, KmsKeyRef};
//!
//! // An image name AWS would refuse: too short.
//! let err = validate_image_name("ab").unwrap_err();
//! assert_eq!(err.code(), "InvalidAMIName.Malformed");
//! assert!(matches!(err, Error::Malformed(_)));
//! validate_image_name("golden-2026.11.27 (x86_64)")?;
//!
//! // Ids are parsed once; a typo never reaches AWS, and the error names the value.
//! let err: Error = "ami-12G45678".parse::<ImageId>().unwrap_err().into();
//! assert_eq!(err.code(), "InvalidAMIID.Malformed");
//! assert!(err.message().contains("ami-12G45678"));
//!
//! // The EBS default key is AWS managed: images under it can never be shared.
//! assert!("alias/aws/ebs".parse::<KmsKeyRef>()?.is_aws_managed_alias());
//! # Ok::<(), ami_core::Error>(())
//! ```
//!
//! The [`rules`] page has a fuller example (sharing an encrypted image), and [`ops`] the
//! workflows built on the rules.
//!
//! # Feature flags
//!
//! - `mock`: `api::MockEc2` and `api::MockKms`, mockall mocks of the traits.
//! - `conformance`: the conformance suite every implementation of the traits must pass.
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![deny(rustdoc::broken_intra_doc_links)]

pub mod api;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod error;
pub mod id;
pub mod lifecycle;
pub mod model;
pub mod ops;
pub mod rules;
pub mod time;
pub mod wildcard;

pub use api::{Connector, DynEc2, DynKms, Ec2, Ec2Ext, Kms, KmsExt, LaunchGuard};
pub use error::{Error, Result, ServiceError};
pub use id::{
    AccountId, ClientToken, IdError, ImageId, InstanceId, KmsKeyRef, KmsKeyRefKind,
    OrganizationArn, OrganizationalUnitArn, Region, SnapshotId, VolumeId,
};
pub use model::{
    BlockDevice, CreateVolumePermission, DeregistrationProtection, Encryption, Image, ImageState,
    Instance, InstanceState, KeyManager, KmsKey, LaunchPermission, OwnerAlias, ProductCode,
    Snapshot, StateReason, Tags,
};
pub use time::{Clock, SystemClock, Timestamp, VirtualClock};
