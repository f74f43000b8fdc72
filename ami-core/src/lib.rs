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
