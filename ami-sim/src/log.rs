//! The call log: every API call the simulator answered, with its virtual time, scope and outcome.

use std::fmt;

use ami_core::{AccountId, Region, Timestamp};
use serde::{Deserialize, Serialize};

/// An EC2 or KMS API operation, named as AWS names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Op {
    /// `RunInstances`
    RunInstances,
    /// `DescribeInstances`
    DescribeInstances,
    /// `StopInstances`
    StopInstances,
    /// `StartInstances`
    StartInstances,
    /// `RebootInstances`
    RebootInstances,
    /// `TerminateInstances`
    TerminateInstances,
    /// `CreateImage`
    CreateImage,
    /// `CopyImage`
    CopyImage,
    /// `RegisterImage`
    RegisterImage,
    /// `DescribeImages`
    DescribeImages,
    /// `DeregisterImage`
    DeregisterImage,
    /// `DescribeImageAttribute`
    DescribeImageAttribute,
    /// `ModifyImageAttribute` (launch permissions and description)
    ModifyImageAttribute,
    /// `ResetImageAttribute`
    ResetImageAttribute,
    /// `CancelImageLaunchPermission`
    CancelImageLaunchPermission,
    /// `EnableImageDeprecation`
    EnableImageDeprecation,
    /// `DisableImageDeprecation`
    DisableImageDeprecation,
    /// `EnableImageDeregistrationProtection`
    EnableImageDeregistrationProtection,
    /// `DisableImageDeregistrationProtection`
    DisableImageDeregistrationProtection,
    /// `DisableImage`
    DisableImage,
    /// `EnableImage`
    EnableImage,
    /// `GetImageBlockPublicAccessState`
    GetImageBlockPublicAccessState,
    /// `EnableImageBlockPublicAccess`
    EnableImageBlockPublicAccess,
    /// `DisableImageBlockPublicAccess`
    DisableImageBlockPublicAccess,
    /// `CreateTags`
    CreateTags,
    /// `DeleteTags`
    DeleteTags,
    /// `DescribeSnapshots`
    DescribeSnapshots,
    /// `DeleteSnapshot`
    DeleteSnapshot,
    /// `DescribeSnapshotAttribute`
    DescribeSnapshotAttribute,
    /// `ModifySnapshotAttribute`
    ModifySnapshotAttribute,
    /// KMS `CreateKey`
    CreateKey,
    /// KMS `DescribeKey`
    DescribeKey,
    /// KMS `CreateAlias`
    CreateAlias,
    /// KMS `GetKeyPolicy`
    GetKeyPolicy,
    /// KMS `PutKeyPolicy`
    PutKeyPolicy,
    /// KMS `CreateGrant`
    CreateGrant,
    /// KMS `ListGrants`
    ListGrants,
    /// KMS `RevokeGrant`
    RevokeGrant,
    /// KMS `ScheduleKeyDeletion`
    ScheduleKeyDeletion,
    /// KMS `CancelKeyDeletion`
    CancelKeyDeletion,
    /// KMS `EnableKey`
    EnableKey,
    /// KMS `DisableKey`
    DisableKey,
}

impl Op {
    /// Every operation, in declaration order.
    pub const ALL: [Op; 42] = [
        Op::RunInstances,
        Op::DescribeInstances,
        Op::StopInstances,
        Op::StartInstances,
        Op::RebootInstances,
        Op::TerminateInstances,
        Op::CreateImage,
        Op::CopyImage,
        Op::RegisterImage,
        Op::DescribeImages,
        Op::DeregisterImage,
        Op::DescribeImageAttribute,
        Op::ModifyImageAttribute,
        Op::ResetImageAttribute,
        Op::CancelImageLaunchPermission,
        Op::EnableImageDeprecation,
        Op::DisableImageDeprecation,
        Op::EnableImageDeregistrationProtection,
        Op::DisableImageDeregistrationProtection,
        Op::DisableImage,
        Op::EnableImage,
        Op::GetImageBlockPublicAccessState,
        Op::EnableImageBlockPublicAccess,
        Op::DisableImageBlockPublicAccess,
        Op::CreateTags,
        Op::DeleteTags,
        Op::DescribeSnapshots,
        Op::DeleteSnapshot,
        Op::DescribeSnapshotAttribute,
        Op::ModifySnapshotAttribute,
        Op::CreateKey,
        Op::DescribeKey,
        Op::CreateAlias,
        Op::GetKeyPolicy,
        Op::PutKeyPolicy,
        Op::CreateGrant,
        Op::ListGrants,
        Op::RevokeGrant,
        Op::ScheduleKeyDeletion,
        Op::CancelKeyDeletion,
        Op::EnableKey,
        Op::DisableKey,
    ];

    /// Whether this operation only reads (`Describe*`, `Get*`, `List*`); every other one
    /// changes something, and is a dry run on a dry-run client.
    pub fn is_read(self) -> bool {
        matches!(
            self,
            Op::DescribeInstances
                | Op::DescribeImages
                | Op::DescribeImageAttribute
                | Op::GetImageBlockPublicAccessState
                | Op::DescribeSnapshots
                | Op::DescribeSnapshotAttribute
                | Op::DescribeKey
                | Op::GetKeyPolicy
                | Op::ListGrants
        )
    }

    /// Whether this is a KMS operation (otherwise EC2).
    pub fn is_kms(self) -> bool {
        matches!(
            self,
            Op::CreateKey
                | Op::DescribeKey
                | Op::CreateAlias
                | Op::GetKeyPolicy
                | Op::PutKeyPolicy
                | Op::CreateGrant
                | Op::ListGrants
                | Op::RevokeGrant
                | Op::ScheduleKeyDeletion
                | Op::CancelKeyDeletion
                | Op::EnableKey
                | Op::DisableKey
        )
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One answered API call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    /// Position in the log, from 1.
    pub seq: u64,
    /// Virtual time of the call.
    pub at: Timestamp,
    /// The calling account.
    pub account: AccountId,
    /// The Region called.
    pub region: Region,
    /// The operation.
    pub op: Op,
    /// `Ok(summary)` (e.g. the new id) or `Err(AWS error code)`.
    pub outcome: Result<String, String>,
}

impl fmt::Display for Call {
    /// One stable line: `#<seq> <time> <account> <region> <Op> ok <summary>` or
    /// `... <Op> err <code>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{} {} {} {} {} ",
            self.seq, self.at, self.account, self.region, self.op
        )?;
        match &self.outcome {
            Ok(s) if s.is_empty() => f.write_str("ok"),
            Ok(s) => write!(f, "ok {s}"),
            Err(code) => write!(f, "err {code}"),
        }
    }
}
