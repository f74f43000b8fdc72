//! Approved images in production: one [`ApprovalPolicy`] and everything that enforces it.
//!
//! | piece | what it gives |
//! |---|---|
//! | [`ApprovalPolicy`] | the criteria (required tags, allowed owners and aliases, maximum age, not deprecated) and the [`Verdict`] on one image |
//! | [`ApprovalPolicy::iam_policy`] | the IAM policy denying `ec2:RunInstances` of unapproved images (preventive; see [`iam`](self#the-iam-policy)) |
//! | [`ApprovalPolicy::image_criteria`] | the EC2 Allowed-AMIs `ImageCriteria` (preventive, per account and Region) |
//! | [`LaunchGuard`](crate::LaunchGuard) impl | the policy attached to an account on the simulator: unapproved launches fail with `UnauthorizedOperation` |
//! | [`scan`] | detective: every instance, in every account × Region, running an unapproved image, with the reasons |
//!
//! No single AWS mechanism enforces the whole policy: IAM sees tags and owner but not age or
//! deprecation; Allowed AMIs sees owner, age and deprecation but not tags, and never restricts
//! the account's own images; both only act on new launches. Use the preventive documents
//! together and run the scan for what was launched before them.
//!
//! # The IAM policy
//!
//! RunInstances authorizes several resources at once (instance, volumes, network interface,
//! subnet, security groups, image). Each generated statement is a `Deny` on the image resource
//! `arn:aws:ec2:*::image/*` only, so a condition about the image never denies the other
//! resources (the `Null: {"ec2:ImageType": "false"}` guard a `NotResource` deny needs is
//! therefore not needed). There is one statement per criterion, because conditions in one
//! statement are ANDed while an image must pass every criterion:
//!
//! - owner: `StringNotEquals` on `ec2:Owner` with the allowed account ids and aliases;
//! - each required tag with a value: `StringNotEquals` on `ec2:ResourceTag/<key>` (a negated
//!   operator is true when the tag is absent, so untagged images are denied as well);
//! - each required tag key without a value: `Null` on `ec2:ResourceTag/<key>` = `true`;
//! - optionally, a deny of `ec2:CreateTags`/`ec2:DeleteTags` on images for the approval tag
//!   keys (`aws:TagKeys`), since tag-based control is only sound if the restricted principals
//!   cannot tag images themselves.
//!
//! ```
//! use ami_core::ops::govern::ApprovalPolicy;
//!
//! let policy = ApprovalPolicy::builder().require_tag("Approved", "true").build()?;
//! let doc = policy.iam_policy();
//! assert_eq!(doc["Statement"][0]["Effect"], "Deny");
//! assert_eq!(
//!     doc["Statement"][0]["Condition"]["StringNotEquals"]["ec2:ResourceTag/Approved"],
//!     "true"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod criteria;
mod iam;
mod policy;
mod scan;

pub use criteria::{
    CreationDateCondition, DeprecationTimeCondition, ImageCriteria, ImageCriterion,
};
pub use iam::IamPolicyOptions;
pub use policy::{
    ApprovalPolicy, ApprovalPolicyBuilder, PolicyError, Verdict, Violation, MAX_IMAGE_PROVIDERS,
};
pub use scan::{scan, ComplianceReport, Finding, ScanScope, ScopeError};

#[cfg(test)]
mod tests;
