//! One error type of meanings, each carrying the AWS error code and message.
//!
//! Every backend converts its own failures into [`Error`] in one place: the simulator builds
//! them from the [`rules`](crate::rules), the AWS backend from the SDK error's `code()` through
//! [`Error::from_code`]. Callers match on the meaning (`Error::NotFound`, `Error::Throttled`, ...)
//! and can still read the exact AWS code with [`Error::code`].

use std::fmt;
use std::time::Duration;

use crate::id::{IdError, ImageId, InstanceId};
use crate::model::StateReason;

/// An AWS error code and message, verbatim.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServiceError {
    /// The AWS error code, e.g. `InvalidAMIID.NotFound`.
    pub code: String,
    /// The message: what was wrong, with which value, and what to do about it.
    pub message: String,
}

impl ServiceError {
    /// A code and message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ServiceError {
            code: code.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// The errors of this library, by meaning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The resource does not exist or is not visible to the caller
    /// (`InvalidAMIID.NotFound`, `InvalidSnapshot.NotFound`, `NotFoundException`, ...).
    #[error("not found: {0}")]
    NotFound(ServiceError),
    /// An id, name or value is malformed (`InvalidAMIID.Malformed`, `InvalidAMIName.Malformed`,
    /// `InvalidAMIAttributeItemValue`, `InvalidRegion`, `InvalidUserID.Malformed`, ...).
    #[error("malformed: {0}")]
    Malformed(ServiceError),
    /// A parameter is invalid or inconsistent with others (`InvalidParameter`,
    /// `InvalidParameterValue`, `InvalidParameterDependency`, `InvalidParameterCombination`).
    #[error("invalid parameter: {0}")]
    InvalidParameter(ServiceError),
    /// The resource exists but is not in a state that allows the call
    /// (`InvalidAMIID.Unavailable`, `IncorrectInstanceState`, `KMSInvalidStateException`).
    #[error("unavailable: {0}")]
    Unavailable(ServiceError),
    /// The caller is not allowed (`AuthFailure`, `UnauthorizedOperation`,
    /// `AccessDeniedException`).
    #[error("permission denied: {0}")]
    PermissionDenied(ServiceError),
    /// AWS never allows this (`UnsupportedOperation`, `OperationNotPermitted`, `InvalidRequest`).
    #[error("not allowed: {0}")]
    Unsupported(ServiceError),
    /// A quota would be exceeded (`ResourceLimitExceeded`, `AMIQuotaExceeded`, ...).
    #[error("quota exceeded: {0}")]
    QuotaExceeded(ServiceError),
    /// Throttled (`RequestLimitExceeded`, `Throttling`, ...). Retryable.
    #[error("throttled: {0}")]
    Throttled(ServiceError),
    /// A conflict: a name in use, or a client token reused with other parameters
    /// (`InvalidAMIName.Duplicate`, `IdempotentParameterMismatch`, `AlreadyExistsException`).
    #[error("conflict: {0}")]
    Conflict(ServiceError),
    /// AWS failed internally (`InternalError`, `ServiceUnavailable`, `Unavailable`). Retryable.
    #[error("AWS internal error: {0}")]
    Internal(ServiceError),
    /// A dry run that would have succeeded (`DryRunOperation`).
    #[error("dry run: {0}")]
    DryRun(ServiceError),
    /// An AWS error code this library does not classify; code and message are kept.
    #[error("AWS error {0}")]
    Other(ServiceError),
    /// The request never got an answer (connection, DNS, timeout). Retryable.
    #[error("transport error: {message}")]
    Transport {
        /// What happened.
        message: String,
    },
    /// An image reached `failed`.
    #[error("image {image_id} failed: {} ({})", reason.message, reason.code)]
    ImageFailed {
        /// The image.
        image_id: ImageId,
        /// AWS's state reason.
        reason: StateReason,
    },
    /// An instance ended (`shutting-down` or `terminated`) before it was `running`: AWS
    /// accepted the launch and the instance failed later, for example because a KMS key of
    /// its image's snapshots cannot be used (`Client.InternalError`).
    #[error("instance {instance_id} did not start: {} ({})", reason.message, reason.code)]
    LaunchFailed {
        /// The instance.
        instance_id: InstanceId,
        /// AWS's state reason (`Client.InternalError`, `Server.InsufficientInstanceCapacity`, ...).
        reason: StateReason,
    },
    /// A wait ran out of time.
    #[error("timed out after {waited:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        waited: Duration,
    },
    /// A workflow refused a plan before making any call, or stopped part-way; the message
    /// says why and what to do.
    #[error("{message}")]
    Workflow {
        /// Why, and the fix.
        message: String,
    },
    /// The journal of a workflow, or the saved state of a pipeline runner, could not be read
    /// or written (the message names the file).
    #[error("journal: {message}")]
    Journal {
        /// What went wrong.
        message: String,
    },
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A classification of AWS error codes, as one table.
///
/// `(code, constructor)`: every code of the reference's error catalogue plus the common
/// EC2/KMS/STS ones.
/// Builds an [`Error`] of one meaning from a code and message.
type Classify = fn(ServiceError) -> Error;

const CODE_TABLE: &[(&str, Classify)] = &[
    // Not found.
    ("InvalidAMIID.NotFound", Error::NotFound),
    ("InvalidSnapshot.NotFound", Error::NotFound),
    ("InvalidInstanceID.NotFound", Error::NotFound),
    ("InvalidVolume.NotFound", Error::NotFound),
    ("InvalidKeyPair.NotFound", Error::NotFound),
    ("NotFoundException", Error::NotFound),
    // Malformed.
    ("InvalidAMIID.Malformed", Error::Malformed),
    ("InvalidSnapshotID.Malformed", Error::Malformed),
    ("InvalidInstanceID.Malformed", Error::Malformed),
    ("InvalidVolumeID.Malformed", Error::Malformed),
    ("InvalidAMIName.Malformed", Error::Malformed),
    ("InvalidAMIAttributeItemValue", Error::Malformed),
    ("InvalidUserID.Malformed", Error::Malformed),
    ("InvalidRegion", Error::Malformed),
    ("InvalidKmsKey.Malformed", Error::Malformed),
    ("InvalidID", Error::Malformed),
    ("MalformedPolicyDocumentException", Error::Malformed),
    ("InvalidArnException", Error::Malformed),
    // Invalid parameters.
    ("InvalidParameter", Error::InvalidParameter),
    ("InvalidParameterValue", Error::InvalidParameter),
    ("InvalidBlockDeviceMapping", Error::InvalidParameter),
    ("InvalidParameterDependency", Error::InvalidParameter),
    ("InvalidParameterCombination", Error::InvalidParameter),
    ("MissingParameter", Error::InvalidParameter),
    ("InvalidFilter", Error::InvalidParameter),
    ("InvalidPaginationToken", Error::InvalidParameter),
    ("InvalidNextToken", Error::InvalidParameter),
    ("ValidationException", Error::InvalidParameter),
    ("InvalidAliasNameException", Error::InvalidParameter),
    ("InvalidKeyUsageException", Error::InvalidParameter),
    // Unavailable (wrong state).
    ("InvalidAMIID.Unavailable", Error::Unavailable),
    ("IncorrectInstanceState", Error::Unavailable),
    ("IncorrectState", Error::Unavailable),
    ("InvalidSnapshot.InUse", Error::Unavailable),
    ("KMSInvalidStateException", Error::Unavailable),
    ("DisabledException", Error::Unavailable),
    ("NonEBSInstance", Error::Unavailable),
    // Permission.
    ("AuthFailure", Error::PermissionDenied),
    ("UnauthorizedOperation", Error::PermissionDenied),
    ("AccessDeniedException", Error::PermissionDenied),
    ("AccessDenied", Error::PermissionDenied),
    ("InvalidClientTokenId", Error::PermissionDenied),
    ("OptInRequired", Error::PermissionDenied),
    ("Blocked", Error::PermissionDenied),
    // Never allowed.
    ("UnsupportedOperation", Error::Unsupported),
    ("OperationNotPermitted", Error::Unsupported),
    ("InvalidRequest", Error::Unsupported),
    ("Unsupported", Error::Unsupported),
    // Quotas.
    ("ResourceLimitExceeded", Error::QuotaExceeded),
    ("AMIQuotaExceeded", Error::QuotaExceeded),
    ("InstanceLimitExceeded", Error::QuotaExceeded),
    ("SnapshotLimitExceeded", Error::QuotaExceeded),
    (
        "ConcurrentCreateImageNoRebootLimitExceeded",
        Error::QuotaExceeded,
    ),
    ("LimitExceededException", Error::QuotaExceeded),
    // Throttling (botocore's standard retry list).
    ("RequestLimitExceeded", Error::Throttled),
    ("EC2ThrottledException", Error::Throttled),
    ("Throttling", Error::Throttled),
    ("ThrottlingException", Error::Throttled),
    ("ThrottledException", Error::Throttled),
    ("RequestThrottled", Error::Throttled),
    ("RequestThrottledException", Error::Throttled),
    ("TooManyRequestsException", Error::Throttled),
    ("SlowDown", Error::Throttled),
    ("BandwidthLimitExceeded", Error::Throttled),
    // Conflicts.
    ("InvalidAMIName.Duplicate", Error::Conflict),
    ("IdempotentParameterMismatch", Error::Conflict),
    ("AlreadyExistsException", Error::Conflict),
    ("InvalidGrantIdException", Error::NotFound),
    // Server side.
    ("InternalError", Error::Internal),
    ("InternalFailure", Error::Internal),
    ("ServiceUnavailable", Error::Internal),
    ("Unavailable", Error::Internal),
    ("KMSInternalException", Error::Internal),
    ("DependencyTimeoutException", Error::Internal),
    ("RequestTimeout", Error::Internal),
    ("RequestTimeoutException", Error::Internal),
    ("PriorRequestNotComplete", Error::Internal),
    // Dry run.
    ("DryRunOperation", Error::DryRun),
];

impl Error {
    /// Classifies an AWS error code. Unknown codes are kept as [`Error::Other`].
    pub fn from_code(code: &str, message: impl Into<String>) -> Self {
        let se = ServiceError::new(code, message);
        CODE_TABLE
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, make)| make(se.clone()))
            .unwrap_or(Error::Other(se))
    }

    /// Every AWS code [`Error::from_code`] classifies.
    pub fn known_codes() -> impl Iterator<Item = &'static str> {
        CODE_TABLE.iter().map(|(c, _)| *c)
    }

    /// The AWS code, or a stable pseudo-code for errors that did not come from AWS
    /// (`Transport`, `ImageFailed`, `LaunchFailed`, `Timeout`, `Workflow`, `Journal`).
    pub fn code(&self) -> &str {
        match self.service_error() {
            Some(se) => &se.code,
            None => match self {
                Error::Transport { .. } => "Transport",
                Error::ImageFailed { .. } => "ImageFailed",
                Error::LaunchFailed { .. } => "LaunchFailed",
                Error::Timeout { .. } => "Timeout",
                Error::Workflow { .. } => "Workflow",
                Error::Journal { .. } => "Journal",
                _ => "Unknown",
            },
        }
    }

    /// The message.
    pub fn message(&self) -> String {
        match self.service_error() {
            Some(se) => se.message.clone(),
            None => self.to_string(),
        }
    }

    /// The AWS code and message, for errors that came from (or mirror) an AWS answer.
    pub fn service_error(&self) -> Option<&ServiceError> {
        match self {
            Error::NotFound(e)
            | Error::Malformed(e)
            | Error::InvalidParameter(e)
            | Error::Unavailable(e)
            | Error::PermissionDenied(e)
            | Error::Unsupported(e)
            | Error::QuotaExceeded(e)
            | Error::Throttled(e)
            | Error::Conflict(e)
            | Error::Internal(e)
            | Error::DryRun(e)
            | Error::Other(e) => Some(e),
            _ => None,
        }
    }

    /// Whether retrying the same call later can succeed: throttling, AWS internal errors and
    /// transport failures.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Throttled(_) | Error::Internal(_) | Error::Transport { .. }
        )
    }

    /// Whether this is a not-found error.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound(_))
    }

    /// A workflow refusal with a message that says why and what to do.
    pub fn workflow(message: impl Into<String>) -> Self {
        Error::Workflow {
            message: message.into(),
        }
    }
}

impl From<IdError> for Error {
    fn from(e: IdError) -> Self {
        Error::from_code(e.code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Case = (&'static str, fn(&Error) -> bool, bool);

    #[test]
    fn classification_table() {
        let cases: &[Case] = &[
            (
                "InvalidAMIID.NotFound",
                |e| matches!(e, Error::NotFound(_)),
                false,
            ),
            (
                "InvalidAMIID.Malformed",
                |e| matches!(e, Error::Malformed(_)),
                false,
            ),
            (
                "InvalidAMIID.Unavailable",
                |e| matches!(e, Error::Unavailable(_)),
                false,
            ),
            (
                "InvalidAMIName.Duplicate",
                |e| matches!(e, Error::Conflict(_)),
                false,
            ),
            (
                "InvalidAMIName.Malformed",
                |e| matches!(e, Error::Malformed(_)),
                false,
            ),
            (
                "InvalidParameterValue",
                |e| matches!(e, Error::InvalidParameter(_)),
                false,
            ),
            (
                "ConcurrentCreateImageNoRebootLimitExceeded",
                |e| matches!(e, Error::QuotaExceeded(_)),
                false,
            ),
            (
                "InvalidAMIAttributeItemValue",
                |e| matches!(e, Error::Malformed(_)),
                false,
            ),
            (
                "InvalidParameter",
                |e| matches!(e, Error::InvalidParameter(_)),
                false,
            ),
            (
                "UnsupportedOperation",
                |e| matches!(e, Error::Unsupported(_)),
                false,
            ),
            (
                "OperationNotPermitted",
                |e| matches!(e, Error::Unsupported(_)),
                false,
            ),
            (
                "AuthFailure",
                |e| matches!(e, Error::PermissionDenied(_)),
                false,
            ),
            (
                "InvalidRequest",
                |e| matches!(e, Error::Unsupported(_)),
                false,
            ),
            (
                "InvalidParameterDependency",
                |e| matches!(e, Error::InvalidParameter(_)),
                false,
            ),
            ("InvalidRegion", |e| matches!(e, Error::Malformed(_)), false),
            (
                "IdempotentParameterMismatch",
                |e| matches!(e, Error::Conflict(_)),
                false,
            ),
            (
                "InvalidSnapshot.InUse",
                |e| matches!(e, Error::Unavailable(_)),
                false,
            ),
            (
                "InvalidSnapshot.NotFound",
                |e| matches!(e, Error::NotFound(_)),
                false,
            ),
            (
                "InvalidUserID.Malformed",
                |e| matches!(e, Error::Malformed(_)),
                false,
            ),
            (
                "RequestLimitExceeded",
                |e| matches!(e, Error::Throttled(_)),
                true,
            ),
            ("DryRunOperation", |e| matches!(e, Error::DryRun(_)), false),
            (
                "UnauthorizedOperation",
                |e| matches!(e, Error::PermissionDenied(_)),
                false,
            ),
            ("InternalError", |e| matches!(e, Error::Internal(_)), true),
            (
                "ServiceUnavailable",
                |e| matches!(e, Error::Internal(_)),
                true,
            ),
            ("Totally.New.Code", |e| matches!(e, Error::Other(_)), false),
        ];
        for (code, is, retryable) in cases {
            let e = Error::from_code(code, "msg");
            assert!(is(&e), "{code} classified as {e:?}");
            assert_eq!(e.code(), *code);
            assert_eq!(e.message(), "msg");
            assert_eq!(e.is_retryable(), *retryable, "{code}");
        }
    }

    #[test]
    fn id_errors_keep_their_code() {
        let e: Error = ImageId::parse("ami-nope").unwrap_err().into();
        assert_eq!(e.code(), "InvalidAMIID.Malformed");
        assert!(e.message().contains("ami-nope"), "{}", e.message());
    }
}
