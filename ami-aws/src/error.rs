//! The one place where SDK failures become [`ami_core::Error`].
//!
//! See [`map_sdk_error`] for the table.

use std::error::Error as StdError;

use ami_core::{Error, ServiceError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The pseudo error code of errors in the client's own configuration or in a request the SDK
/// could not build (no Region, a bad endpoint URL, a bad role name, ...): these never reach AWS.
pub const INVALID_CLIENT_CONFIGURATION: &str = "InvalidClientConfiguration";

/// The pseudo error code of an AWS answer that this crate could not read into the ami-core model
/// (for example an id that is not AWS-shaped).
pub const INVALID_RESPONSE: &str = "InvalidResponse";

/// Maps the failure of any SDK operation to [`ami_core::Error`], keeping the AWS code and message.
///
/// | SDK failure | [`Error`] | retryable |
/// |---|---|---|
/// | service error with a code | [`Error::from_code`]: the meaning of the code, with the code and message kept verbatim; unknown codes become [`Error::Other`] | throttling and server codes |
/// | service error without a code, HTTP 5xx | [`Error::Internal`] with code `Unknown` | yes |
/// | service error without a code, other status | [`Error::Other`] with code `Unknown` | no |
/// | response that could not be parsed, HTTP 5xx | [`Error::Internal`] with code `InvalidResponse` | yes |
/// | response that could not be parsed, other status | [`Error::Other`] with code `InvalidResponse` | no |
/// | timeout (operation or attempt) | [`Error::Transport`] | yes |
/// | dispatch failure (connection, DNS, TLS, credentials) | [`Error::Transport`] | yes |
/// | request construction failure | [`Error::InvalidParameter`] with code [`INVALID_CLIENT_CONFIGURATION`] | no |
///
/// The SDK has already retried retryable failures (standard retry mode, see
/// [`AwsConfig::max_attempts`](crate::AwsConfig::max_attempts)) before an error reaches this
/// function; `is_retryable()` tells a workflow whether trying again later can help.
pub fn map_sdk_error<E>(err: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    match &err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let service = ctx.err();
            let message = service
                .message()
                .map(str::to_owned)
                .unwrap_or_else(|| chain(service));
            match service.code() {
                Some(code) => Error::from_code(code, message),
                None if status >= 500 => Error::Internal(ServiceError::new(
                    "Unknown",
                    format!("HTTP {status} without an error code: {message}"),
                )),
                None => Error::Other(ServiceError::new(
                    "Unknown",
                    format!("HTTP {status} without an error code: {message}"),
                )),
            }
        }
        SdkError::ResponseError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let se = ServiceError::new(
                INVALID_RESPONSE,
                format!(
                    "HTTP {status}: the response could not be read: {}",
                    chain(&err)
                ),
            );
            if status >= 500 {
                Error::Internal(se)
            } else {
                Error::Other(se)
            }
        }
        SdkError::TimeoutError(_) => Error::Transport {
            message: format!(
                "the request timed out (see AwsConfig::operation_timeout and \
                 AwsConfig::operation_attempt_timeout): {}",
                chain(&err)
            ),
        },
        SdkError::DispatchFailure(_) => Error::Transport {
            message: format!(
                "the request could not be sent (check the endpoint URL, the network and the \
                 credentials): {}",
                chain(&err)
            ),
        },
        SdkError::ConstructionFailure(_) => Error::InvalidParameter(ServiceError::new(
            INVALID_CLIENT_CONFIGURATION,
            format!(
                "the request could not be built (check the Region, the endpoint URL and the \
                 parameters): {}",
                chain(&err)
            ),
        )),
        _ => Error::Other(ServiceError::new("Unknown", chain(&err))),
    }
}

/// An error and its sources, joined with `: `, each said once (the SDK's errors often repeat
/// their source in their own message).
fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let s = e.to_string();
        if !s.is_empty() && !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// An error in the client's configuration, with code [`INVALID_CLIENT_CONFIGURATION`].
pub(crate) fn config_error(message: impl Into<String>) -> Error {
    Error::InvalidParameter(ServiceError::new(INVALID_CLIENT_CONFIGURATION, message))
}

/// An AWS answer that does not fit the model, with code [`INVALID_RESPONSE`].
pub(crate) fn response_error(message: impl Into<String>) -> Error {
    Error::Other(ServiceError::new(INVALID_RESPONSE, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::operation::describe_images::DescribeImagesError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn response(status: u16) -> HttpResponse {
        HttpResponse::new(
            StatusCode::try_from(status).unwrap(),
            SdkBody::from("<Response/>"),
        )
    }

    fn service(code: &str, message: &str, status: u16) -> Error {
        let e = DescribeImagesError::generic(
            ErrorMetadata::builder().code(code).message(message).build(),
        );
        map_sdk_error(SdkError::service_error(e, response(status)))
    }

    /// What a code must mean.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Meaning {
        NotFound,
        Malformed,
        InvalidParameter,
        Unavailable,
        PermissionDenied,
        Unsupported,
        QuotaExceeded,
        Throttled,
        Conflict,
        Internal,
        DryRun,
        Other,
    }

    fn meaning(e: &Error) -> Meaning {
        match e {
            Error::NotFound(_) => Meaning::NotFound,
            Error::Malformed(_) => Meaning::Malformed,
            Error::InvalidParameter(_) => Meaning::InvalidParameter,
            Error::Unavailable(_) => Meaning::Unavailable,
            Error::PermissionDenied(_) => Meaning::PermissionDenied,
            Error::Unsupported(_) => Meaning::Unsupported,
            Error::QuotaExceeded(_) => Meaning::QuotaExceeded,
            Error::Throttled(_) => Meaning::Throttled,
            Error::Conflict(_) => Meaning::Conflict,
            Error::Internal(_) => Meaning::Internal,
            Error::DryRun(_) => Meaning::DryRun,
            Error::Other(_) => Meaning::Other,
            other => panic!("not a service error: {other:?}"),
        }
    }

    /// Every code of the reference's error catalogue (section 10), with a message AWS (or moto)
    /// sends, the meaning it must map to, and the HTTP status it comes with.
    const CATALOGUE: &[(&str, &str, Meaning, u16)] = &[
        (
            "InvalidAMIID.Malformed",
            "Invalid id: \"x\" (expecting \"ami-...\")",
            Meaning::Malformed,
            400,
        ),
        (
            "InvalidAMIID.NotFound",
            "The image id '[ami-0123456789abcdef0]' does not exist",
            Meaning::NotFound,
            400,
        ),
        (
            "InvalidAMIID.Unavailable",
            "The image id '[ami-0123456789abcdef0]' is no longer available",
            Meaning::Unavailable,
            400,
        ),
        (
            "InvalidAMIName.Duplicate",
            "AMI name web is already in use by AMI ami-0123456789abcdef0",
            Meaning::Conflict,
            400,
        ),
        (
            "InvalidAMIName.Malformed",
            "AMI names must be between 3 and 128 characters long",
            Meaning::Malformed,
            400,
        ),
        (
            "InvalidParameterValue",
            "Invalid value 'i-0123456789abcdef0' for instanceId. Instance is not in state \
             'running' or 'stopping' or 'stopped'",
            Meaning::InvalidParameter,
            400,
        ),
        (
            "ConcurrentCreateImageNoRebootLimitExceeded",
            "The maximum number of concurrent CreateImage requests for the instance has been \
             reached.",
            Meaning::QuotaExceeded,
            400,
        ),
        (
            "InvalidAMIAttributeItemValue",
            "Invalid attribute item value \"12\" for userId item type.",
            Meaning::Malformed,
            400,
        ),
        (
            "InvalidParameter",
            "Snapshots encrypted with the AWS Managed CMK can’t be shared. Specify another \
             snapshot.",
            Meaning::InvalidParameter,
            400,
        ),
        (
            "UnsupportedOperation",
            "Encrypted snapshots can’t be shared publicly. Specify another snapshot.",
            Meaning::Unsupported,
            400,
        ),
        (
            "OperationNotPermitted",
            "Encrypted snapshots with EBS default key cannot be shared",
            Meaning::Unsupported,
            400,
        ),
        (
            "AuthFailure",
            "Not authorized for image:ami-0123456789abcdef0",
            Meaning::PermissionDenied,
            400,
        ),
        (
            "InvalidRequest",
            "You do not have permission to access the storage of this ami",
            Meaning::Unsupported,
            400,
        ),
        (
            "InvalidParameterDependency",
            "The parameter KmsKeyId requires the parameter Encrypted to be set.",
            Meaning::InvalidParameter,
            400,
        ),
        (
            "InvalidRegion",
            "The region 'moon-1' does not exist",
            Meaning::Malformed,
            400,
        ),
        (
            "IdempotentParameterMismatch",
            "The client token was already used with different parameters",
            Meaning::Conflict,
            400,
        ),
        (
            "InvalidSnapshot.InUse",
            "The snapshot snap-0123456789abcdef0 is currently in use by ami-0123456789abcdef0",
            Meaning::Unavailable,
            400,
        ),
        ("InvalidSnapshot.NotFound", "", Meaning::NotFound, 400),
        (
            "InvalidUserID.Malformed",
            "Invalid user id: \"12\"",
            Meaning::Malformed,
            400,
        ),
        (
            "RequestLimitExceeded",
            "Request limit exceeded.",
            Meaning::Throttled,
            503,
        ),
        (
            "DryRunOperation",
            "Request would have succeeded, but DryRun flag is set.",
            Meaning::DryRun,
            412,
        ),
        (
            "UnauthorizedOperation",
            "You are not authorized to perform this operation.",
            Meaning::PermissionDenied,
            403,
        ),
        // Server errors the standard retry mode retries (reference section 8).
        (
            "InternalError",
            "An internal error has occurred",
            Meaning::Internal,
            500,
        ),
        (
            "InternalFailure",
            "The request processing has failed",
            Meaning::Internal,
            500,
        ),
        (
            "ServiceUnavailable",
            "The request has failed due to a temporary failure of the server.",
            Meaning::Internal,
            503,
        ),
        (
            "Unavailable",
            "The server is overloaded",
            Meaning::Internal,
            503,
        ),
        (
            "EC2ThrottledException",
            "Throttled",
            Meaning::Throttled,
            503,
        ),
        // KMS.
        (
            "NotFoundException",
            "Key 'arn:aws:kms:us-east-1:111122223333:key/x' does not exist",
            Meaning::NotFound,
            400,
        ),
        (
            "AccessDeniedException",
            "User is not authorized to perform kms:DescribeKey",
            Meaning::PermissionDenied,
            400,
        ),
        (
            "KMSInvalidStateException",
            "key is pending deletion",
            Meaning::Unavailable,
            400,
        ),
        (
            "ThrottlingException",
            "Rate exceeded",
            Meaning::Throttled,
            400,
        ),
        // A code nobody classified yet is kept, not swallowed.
        (
            "Brand.New.Code",
            "something AWS added later",
            Meaning::Other,
            400,
        ),
    ];

    #[test]
    fn every_catalogue_code_maps_to_its_meaning_and_keeps_code_and_message() {
        for (code, message, want, status) in CATALOGUE {
            let e = service(code, message, *status);
            assert_eq!(meaning(&e), *want, "{code} mapped to {e:?}");
            assert_eq!(e.code(), *code);
            assert_eq!(e.message(), *message);
            let retryable = matches!(want, Meaning::Throttled | Meaning::Internal);
            assert_eq!(e.is_retryable(), retryable, "{code}");
        }
    }

    #[test]
    fn the_table_covers_every_code_of_the_reference_catalogue() {
        // The codes of the reference's section 10, in its order.
        let reference = [
            "InvalidAMIID.Malformed",
            "InvalidAMIID.NotFound",
            "InvalidAMIID.Unavailable",
            "InvalidAMIName.Duplicate",
            "InvalidAMIName.Malformed",
            "InvalidParameterValue",
            "ConcurrentCreateImageNoRebootLimitExceeded",
            "InvalidAMIAttributeItemValue",
            "InvalidParameter",
            "UnsupportedOperation",
            "OperationNotPermitted",
            "AuthFailure",
            "InvalidRequest",
            "InvalidParameterDependency",
            "InvalidRegion",
            "IdempotentParameterMismatch",
            "InvalidSnapshot.InUse",
            "InvalidSnapshot.NotFound",
            "InvalidUserID.Malformed",
            "RequestLimitExceeded",
            "DryRunOperation",
            "UnauthorizedOperation",
        ];
        for code in reference {
            assert!(
                CATALOGUE.iter().any(|(c, ..)| *c == code),
                "{code} is not tested"
            );
            assert!(
                Error::known_codes().any(|c| c == code),
                "{code} is not classified by ami-core"
            );
        }
    }

    #[test]
    fn service_error_without_code_is_classified_by_status() {
        let e = DescribeImagesError::generic(ErrorMetadata::builder().message("boom").build());
        let err = map_sdk_error(SdkError::service_error(e, response(502)));
        assert!(matches!(err, Error::Internal(_)), "{err:?}");
        assert_eq!(err.code(), "Unknown");
        assert!(err.message().contains("HTTP 502"), "{}", err.message());
        assert!(err.message().contains("boom"), "{}", err.message());
        assert!(err.is_retryable());

        let e = DescribeImagesError::generic(ErrorMetadata::builder().message("odd").build());
        let err = map_sdk_error(SdkError::service_error(e, response(400)));
        assert!(matches!(err, Error::Other(_)), "{err:?}");
        assert_eq!(err.code(), "Unknown");
        assert!(!err.is_retryable());
    }

    #[test]
    fn an_unparseable_error_body_reads_cleanly() {
        // moto answers NotImplementedError with an HTML 500 page.
        let e = DescribeImagesError::unhandled("error parsing XML: no root element");
        let err = map_sdk_error(SdkError::service_error(e, response(500)));
        assert!(matches!(err, Error::Internal(_)), "{err:?}");
        assert_eq!(err.code(), "Unknown");
        assert!(
            err.message()
                .starts_with("HTTP 500 without an error code: "),
            "{}",
            err.message()
        );
        assert!(
            err.message().contains("no root element"),
            "{}",
            err.message()
        );
        assert!(!err.message().contains("Unhandled {"), "{}", err.message());
    }

    #[test]
    fn unreadable_responses_keep_the_status() {
        let err = map_sdk_error::<DescribeImagesError>(SdkError::response_error(
            "not XML",
            response(500),
        ));
        assert!(matches!(err, Error::Internal(_)), "{err:?}");
        assert_eq!(err.code(), INVALID_RESPONSE);
        assert!(err.message().contains("HTTP 500"), "{}", err.message());
        assert!(err.is_retryable());

        let err = map_sdk_error::<DescribeImagesError>(SdkError::response_error(
            "not XML",
            response(200),
        ));
        assert!(matches!(err, Error::Other(_)), "{err:?}");
        assert!(!err.is_retryable());
    }

    #[test]
    fn timeouts_and_dispatch_failures_are_retryable_transport_errors() {
        let err = map_sdk_error::<DescribeImagesError>(SdkError::timeout_error(
            "operation timed out after 5s",
        ));
        assert!(matches!(err, Error::Transport { .. }), "{err:?}");
        assert_eq!(err.code(), "Transport");
        assert!(err.message().contains("timed out"), "{}", err.message());
        assert!(err.is_retryable());

        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let err = map_sdk_error::<DescribeImagesError>(SdkError::dispatch_failure(
            ConnectorError::io(Box::new(io)),
        ));
        assert!(matches!(err, Error::Transport { .. }), "{err:?}");
        assert!(
            err.message().contains("connection refused"),
            "{}",
            err.message()
        );
        assert_eq!(
            err.message().matches("connection refused").count(),
            1,
            "each cause is said once: {}",
            err.message()
        );
        assert!(
            !err.message().contains("ConnectorError {"),
            "{}",
            err.message()
        );
        assert!(err.is_retryable());
    }

    #[test]
    fn construction_failures_are_configuration_errors() {
        let err = map_sdk_error::<DescribeImagesError>(SdkError::construction_failure(
            "A region must be set when sending requests to EC2.",
        ));
        assert!(matches!(err, Error::InvalidParameter(_)), "{err:?}");
        assert_eq!(err.code(), INVALID_CLIENT_CONFIGURATION);
        assert!(
            err.message().contains("A region must be set"),
            "{}",
            err.message()
        );
        assert!(!err.is_retryable());
    }
}
