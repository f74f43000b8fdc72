//! The conformance suite every implementation of the [`Ec2`](crate::Ec2) and [`Kms`](crate::Kms)
//! traits must pass.
//!
//! Each check is a plain `async fn check_x(ctx: &Ctx) -> Outcome`. It makes its own uniquely
//! named fixtures (instances, images, snapshots, keys), asserts behaviour and exact AWS error
//! codes, and cleans up what it made (best effort) whatever the result: images, snapshots and
//! instances are deleted, and every customer managed key it made is scheduled for deletion
//! with the shortest waiting period (7 days), so a run against AWS leaves nothing billed
//! beyond that.
//!
//! A backend that does not model some behaviour says so in its [`Capabilities`]; a check that
//! needs it then answers [`Outcome::Skipped`] with the reason, and is never counted as passed.
//!
//! | module | checks |
//! |---|---|
//! | [`images`] | create, describe, deregister, pending → available, names, tags, description, lineage |
//! | [`instances`] | instance state changes, launching a new image |
//! | [`snapshots`] | snapshots of CreateImage, tags, createVolumePermission, in use, deregister keeping or deleting them |
//! | [`sharing`] | launch permissions add, remove, reset, public, block public access |
//! | [`copy`] | copy within and across Regions, encrypted copy with a customer key, idempotency, tags |
//! | [`describe`] | filters, owners, pagination |
//! | [`errors`] | malformed and unknown ids |
//! | [`kms`] | key create, describe, alias, policy, grants, scheduled deletion and its cancellation, disable and enable |
//! | [`lifecycle`] | deprecation, deregistration protection, disable and enable |
//! | [`cross_account`] | sharing with, and copying into, a second account |
//!
//! # Running it
//!
//! ```no_run
//! # async fn demo(primary: ami_core::conformance::Scope, base: ami_core::ImageId) {
//! use std::sync::Arc;
//! use ami_core::conformance::{run_all, Capabilities, Ctx};
//!
//! let ctx = Ctx::new(primary, base, Arc::new(ami_core::SystemClock))
//!     .with_capabilities(Capabilities::full())
//!     .with_prefix("conf-1234");
//! let report = run_all(&ctx).await;
//! println!("{report}");
//! assert!(report.is_success(), "{report}");
//! # }
//! ```

mod capabilities;
mod context;
mod fixtures;
mod report;

pub mod copy;
pub mod cross_account;
pub mod describe;
pub mod errors;
pub mod images;
pub mod instances;
pub mod kms;
pub mod lifecycle;
pub mod sharing;
pub mod snapshots;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

pub use capabilities::{Capabilities, Feature};
pub use context::{Ctx, Scope};
pub use report::{Entry, Report};

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The backend behaved as AWS does.
    Passed,
    /// The check did not run its assertions; the reason says why (a missing capability or
    /// an unconfigured second Region or account).
    Skipped(String),
    /// The backend differs from AWS; the message says how.
    Failed(String),
}

impl Outcome {
    /// Whether the check passed.
    pub fn is_passed(&self) -> bool {
        matches!(self, Outcome::Passed)
    }
    /// Whether the check failed.
    pub fn is_failed(&self) -> bool {
        matches!(self, Outcome::Failed(_))
    }
    /// Whether the check was skipped.
    pub fn is_skipped(&self) -> bool {
        matches!(self, Outcome::Skipped(_))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Passed => f.write_str("pass"),
            Outcome::Skipped(why) => write!(f, "skip: {why}"),
            Outcome::Failed(why) => write!(f, "FAIL: {why}"),
        }
    }
}

/// A boxed check future.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// One check of the suite: its name, what it asserts, and how to run it.
#[derive(Clone, Copy)]
pub struct Check {
    /// The function name, e.g. `check_name_duplicate`.
    pub name: &'static str,
    /// What it asserts, in one sentence.
    pub about: &'static str,
    run: for<'a> fn(&'a Ctx) -> CheckFuture<'a>,
}

impl Check {
    /// Runs the check.
    pub fn run<'a>(&self, ctx: &'a Ctx) -> CheckFuture<'a> {
        (self.run)(ctx)
    }
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("name", &self.name)
            .field("about", &self.about)
            .finish()
    }
}

/// Builds the table of checks with a boxed runner for each `check_x` function.
macro_rules! registry {
    ($($module:ident :: $name:ident => $about:literal,)*) => {
        /// Boxed runners, one per check, named like the check.
        mod boxed {
            use super::*;
            $(
                pub(super) fn $name(ctx: &Ctx) -> CheckFuture<'_> {
                    Box::pin($module::$name(ctx))
                }
            )*
        }

        /// Every check of the suite, in the order [`run_all`] runs them.
        pub fn all() -> Vec<Check> {
            vec![$(
                Check {
                    name: stringify!($name),
                    about: $about,
                    run: boxed::$name,
                },
            )*]
        }
    };
}

registry! {
    images::check_create_describe_deregister => "CreateImage from an instance, DescribeImages shows it owned by the caller, DeregisterImage removes it",
    images::check_pending_then_available => "a new image is pending first and becomes available",
    images::check_create_image_from_stopped_instance => "CreateImage accepts a stopped instance",
    images::check_name_duplicate => "a second image with a name in use fails with InvalidAMIName.Duplicate",
    images::check_name_malformed => "a name with characters AWS refuses fails with InvalidAMIName.Malformed",
    images::check_image_tags => "tags given at creation and with CreateTags/DeleteTags show on the image",
    images::check_modify_description => "ModifyImageAttribute description changes the description",
    images::check_lineage => "CreateImage records the source instance and image",
    instances::check_instance_state_changes => "Stop, Start and TerminateInstances report AWS's state changes",
    instances::check_launch_from_image => "an instance launched from a new image runs and records the image",
    instances::check_dry_run => "RunInstances, StopInstances and CreateTags with DryRun answer DryRunOperation and change nothing",
    snapshots::check_create_image_snapshots => "CreateImage makes one snapshot per EBS volume, owned by the caller, described as AWS does",
    snapshots::check_snapshot_tags => "CreateTags/DeleteTags on a snapshot",
    snapshots::check_snapshot_tags_on_create => "snapshot tag specifications of CreateImage land on every new snapshot",
    snapshots::check_snapshot_permissions => "ModifySnapshotAttribute createVolumePermission add and remove",
    snapshots::check_snapshot_in_use => "DeleteSnapshot of a snapshot a registered image uses fails with InvalidSnapshot.InUse",
    snapshots::check_deregister_keeps_snapshots => "DeregisterImage keeps the snapshots by default",
    snapshots::check_deregister_deletes_snapshots => "DeregisterImage with DeleteAssociatedSnapshots deletes them",
    sharing::check_launch_permissions_add_remove => "launch permission for an account is added, described and removed",
    sharing::check_launch_permissions_reset => "ResetImageAttribute launchPermission removes every grant",
    sharing::check_public_launch_permission => "group all makes the image public and removing it makes it private",
    sharing::check_block_public_access => "while block public access is on, making an image public fails with OperationNotPermitted",
    copy::check_copy_within_region => "CopyImage in the same Region makes a distinct image with new snapshots, owned by the caller, without launch permissions",
    copy::check_copy_across_regions => "CopyImage into a second Region makes an image that lives there",
    copy::check_copy_unknown_source => "CopyImage of an unknown image fails with InvalidAMIID.NotFound",
    copy::check_encrypted_copy_customer_key => "CopyImage with Encrypted and a customer key encrypts every snapshot with that key",
    copy::check_copy_encryption_errors => "KmsKeyId without Encrypted and encrypted to unencrypted copies are refused with AWS's codes",
    copy::check_copy_client_token => "CopyImage with the same client token is idempotent, and with other parameters fails with IdempotentParameterMismatch",
    copy::check_copy_image_tags => "CopyImage with CopyImageTags copies the caller's tags",
    describe::check_describe_filters => "DescribeImages filters by tag, name wildcard, state and image id",
    describe::check_describe_owners => "DescribeImages owner scopes self and account id",
    describe::check_describe_snapshot_filters => "DescribeSnapshots by id, tag filter and snapshot-id filter",
    describe::check_pagination_images => "DescribeImages pages with MaxResults return every image exactly once",
    describe::check_pagination_snapshots => "DescribeSnapshots pages with MaxResults return every snapshot exactly once",
    errors::check_unknown_ids => "unknown image, snapshot, instance and key ids fail with the exact NotFound codes",
    errors::check_unknown_image_attribute => "launch-permission calls on an unknown image fail with InvalidAMIID.NotFound",
    errors::check_malformed_ids => "malformed ids are refused with the exact Malformed codes before any call",
    errors::check_deregistered_image_is_gone => "a deregistered image cannot be deregistered, shared or copied",
    kms::check_kms_key_create_describe => "CreateKey and DescribeKey by id, ARN and alias",
    kms::check_kms_key_policy => "GetKeyPolicy returns the default policy and PutKeyPolicy replaces it",
    kms::check_kms_grants => "CreateGrant, ListGrants and RevokeGrant",
    kms::check_kms_aws_managed_key => "alias/aws/ebs names an AWS managed key",
    kms::check_key_deletion => "ScheduleKeyDeletion turns a key PendingDeletion with a deletion date 7 days away, CancelKeyDeletion turns it Disabled",
    kms::check_key_deletion_errors => "ScheduleKeyDeletion outside 7 to 30 days fails with ValidationException, and deletion calls on a key in the wrong state with KMSInvalidStateException",
    kms::check_key_disable_enable => "DisableKey turns a key Disabled (twice changes nothing) and EnableKey turns it Enabled",
    kms::check_key_enable_pending_deletion => "EnableKey and DisableKey of a key pending deletion fail with KMSInvalidStateException",
    lifecycle::check_deprecation => "EnableImageDeprecation rounds to the minute and DisableImageDeprecation clears it",
    lifecycle::check_deregistration_protection => "a protected image cannot be deregistered until protection is disabled",
    lifecycle::check_disable_enable_image => "DisableImage hides the image and drops its grants; EnableImage does not bring them back",
    cross_account::check_share_with_account => "an image shared with a second account is visible to it, owned by the first, without tags",
    cross_account::check_not_owner_refused => "owner-only calls by a grantee fail with AuthFailure",
    cross_account::check_cross_account_copy => "a grantee copies only with snapshot permission, and owns the copy",
    cross_account::check_cancel_launch_permission => "CancelImageLaunchPermission removes the grantee's own grant",
}

/// Runs every check in order, each isolated: a failing or panicking check is recorded and the
/// next one runs. Prints one line per check as it finishes.
pub async fn run_all(ctx: &Ctx) -> Report {
    run_matching(ctx, |_| true).await
}

/// Runs the checks whose name `select` accepts (e.g. to rerun one failing check).
pub async fn run_matching(ctx: &Ctx, select: impl Fn(&str) -> bool) -> Report {
    let mut report = Report::new(ctx.backend.clone());
    for check in all().into_iter().filter(|c| select(c.name)) {
        let outcome = check.run(ctx).await;
        println!(
            "conformance[{}] {:<45} {}",
            ctx.backend, check.name, outcome
        );
        report.push(check.name, outcome);
    }
    report
}
