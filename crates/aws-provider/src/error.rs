//! Classifying AWS SDK errors: absent, retryable or final.
//!
//! Throttling, 5xx responses, timeouts and connection failures are retryable; "not found" codes
//! mean the resource is absent; a failed precondition (HTTP 412) is a conflict; everything else,
//! validation errors included, is final and keeps AWS's own message.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use strata_core::ProviderError;
use strata_core::provider::ErrorCause;

/// What an AWS error means to a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AwsErrorKind {
    /// The resource does not exist.
    NotFound,
    /// A conditional request's precondition failed (HTTP 412).
    PreconditionFailed,
    /// Trying again later may help (throttling, 5xx, timeouts, connection failures).
    Retryable,
    /// Trying again will not help (validation errors, access denied, conflicts).
    Final,
}

/// An AWS error, classified, with AWS's code and message, and the SDK error it came from.
///
/// Two AWS errors are equal when their kind, code, status and message are; the SDK error is
/// not compared.
#[derive(Debug, Clone)]
pub struct AwsError {
    /// What it means.
    pub kind: AwsErrorKind,
    /// AWS's error code (`Throttling`, `DBInstanceNotFound` …), when the service sent one.
    pub code: Option<String>,
    /// The HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// A readable message: the operation, the code and AWS's message.
    pub message: String,
    /// The SDK error this one was classified from, when there is one.
    pub source: Option<ErrorCause>,
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AwsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|cause| cause as &(dyn std::error::Error + 'static))
    }
}

impl PartialEq for AwsError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.code == other.code
            && self.status == other.status
            && self.message == other.message
    }
}

impl Eq for AwsError {}

impl AwsError {
    /// Whether the resource does not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind == AwsErrorKind::NotFound
    }

    /// A final error raised by Strata itself (a refused or invalid request).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: AwsErrorKind::Final,
            code: None,
            status: None,
            message: message.into(),
            source: None,
        }
    }

    /// The same error, recording the SDK error it was classified from.
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        self.source = Some(std::sync::Arc::from(source.into()));
        self
    }
}

impl From<AwsError> for ProviderError {
    /// Keeps the message and passes the SDK error on as the provider error's source.
    fn from(e: AwsError) -> Self {
        let error = match e.kind {
            AwsErrorKind::Retryable => ProviderError::retryable(e.message),
            _ => ProviderError::final_error(e.message),
        };
        ProviderError {
            source: e.source,
            ..error
        }
    }
}

/// How a request failed before any service error could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// The request could not be built (a client-side validation error).
    Construction,
    /// The request timed out.
    Timeout,
    /// The request could not be sent (connection refused, DNS, TLS …).
    Dispatch,
    /// A response arrived but could not be read.
    Response,
    /// The service answered with an error.
    Service,
}

/// Error codes meaning "the resource does not exist".
const NOT_FOUND_CODES: &[&str] = &[
    "NotFound",
    "NoSuchBucket",
    "NoSuchKey",
    "NoSuchTagSet",
    "NoSuchTagSetError",
    "ServerSideEncryptionConfigurationNotFoundError",
    "NoSuchPublicAccessBlockConfiguration",
    "DBInstanceNotFound",
    "DBInstanceNotFoundFault",
    "DBSubnetGroupNotFoundFault",
    "DBSubnetGroupNotFound",
    "DBParameterGroupNotFound",
    "DBParameterGroupNotFoundFault",
];

/// Error codes meaning "slow down" or "the service had a problem, try again".
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "SlowDown",
    "ProvisionedThroughputExceededException",
    "BandwidthLimitExceeded",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
    "OperationAborted",
    "InvalidDBInstanceState",
    "InvalidDBInstanceStateFault",
    "InvalidDBSubnetGroupStateFault",
    "InvalidDBParameterGroupState",
];

/// Classifies an error from its parts. Pure, so every rule is unit-tested.
pub fn classify_parts(
    operation: &str,
    transport: Transport,
    status: Option<u16>,
    code: Option<&str>,
    message: Option<&str>,
) -> AwsError {
    let kind = match transport {
        Transport::Construction => AwsErrorKind::Final,
        Transport::Timeout | Transport::Dispatch => AwsErrorKind::Retryable,
        Transport::Response => match status {
            Some(s) if s >= 500 || s == 429 => AwsErrorKind::Retryable,
            Some(404) => AwsErrorKind::NotFound,
            Some(_) => AwsErrorKind::Final,
            None => AwsErrorKind::Retryable,
        },
        Transport::Service => {
            if code.is_some_and(|c| NOT_FOUND_CODES.contains(&c)) {
                AwsErrorKind::NotFound
            } else if code.is_some_and(|c| RETRYABLE_CODES.contains(&c)) {
                AwsErrorKind::Retryable
            } else if status == Some(412) || code == Some("PreconditionFailed") {
                AwsErrorKind::PreconditionFailed
            } else if status.is_some_and(|s| s >= 500 || s == 429) {
                AwsErrorKind::Retryable
            } else if code.is_none() && status == Some(404) {
                AwsErrorKind::NotFound
            } else {
                AwsErrorKind::Final
            }
        }
    };
    let mut text = format!("{operation}: ");
    match (code, message.filter(|m| !m.is_empty())) {
        (Some(c), Some(m)) => text.push_str(&format!("{c}: {m}")),
        (Some(c), None) => text.push_str(c),
        (None, Some(m)) => text.push_str(m),
        (None, None) => text.push_str(match transport {
            Transport::Timeout => "the request timed out",
            Transport::Dispatch => "the request could not be sent",
            Transport::Construction => "the request could not be built",
            Transport::Response | Transport::Service => "the service returned an error",
        }),
    }
    if let Some(s) = status {
        text.push_str(&format!(" (HTTP {s})"));
    }
    AwsError {
        kind,
        code: code.map(str::to_owned),
        status,
        message: text,
        source: None,
    }
}

/// A delete's result with "not found" counted as success (what is gone needs no deleting).
pub fn gone_is_ok(result: Result<(), AwsError>) -> Result<(), AwsError> {
    match result {
        Err(e) if e.is_not_found() => Ok(()),
        other => other,
    }
}

/// Classifies an SDK error of any AWS operation, keeping it as the source.
pub fn classify<E>(operation: &str, err: SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    classify_ref(operation, &err).with_source(err)
}

fn classify_ref<E>(operation: &str, err: &SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    match err {
        SdkError::ConstructionFailure(_) => classify_parts(
            operation,
            Transport::Construction,
            status,
            None,
            Some(&source_text(err)),
        ),
        SdkError::TimeoutError(_) => {
            classify_parts(operation, Transport::Timeout, status, None, None)
        }
        SdkError::DispatchFailure(_) => classify_parts(
            operation,
            Transport::Dispatch,
            status,
            None,
            Some(&source_text(err)),
        ),
        SdkError::ResponseError(_) => classify_parts(
            operation,
            Transport::Response,
            status,
            None,
            Some(&source_text(err)),
        ),
        SdkError::ServiceError(service) => {
            let inner = service.err();
            classify_parts(
                operation,
                Transport::Service,
                status,
                inner.code(),
                inner.message(),
            )
        }
        _ => classify_parts(
            operation,
            Transport::Response,
            status,
            None,
            Some(&source_text(err)),
        ),
    }
}

/// The innermost message of an error chain, for errors without a service message.
fn source_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current: &(dyn std::error::Error + 'static) = err;
    let mut text = current.to_string();
    while let Some(next) = current.source() {
        text = next.to_string();
        current = next;
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(status: u16, code: &str) -> AwsError {
        classify_parts(
            "Op",
            Transport::Service,
            Some(status),
            Some(code),
            Some("msg"),
        )
    }

    #[test]
    fn throttling_and_5xx_are_retryable() {
        for code in [
            "Throttling",
            "ThrottlingException",
            "SlowDown",
            "RequestLimitExceeded",
        ] {
            assert_eq!(service(400, code).kind, AwsErrorKind::Retryable, "{code}");
        }
        assert_eq!(service(503, "Whatever").kind, AwsErrorKind::Retryable);
        assert_eq!(service(500, "InternalError").kind, AwsErrorKind::Retryable);
        assert_eq!(service(429, "Other").kind, AwsErrorKind::Retryable);
        assert_eq!(
            classify_parts("Op", Transport::Timeout, None, None, None).kind,
            AwsErrorKind::Retryable
        );
        assert_eq!(
            classify_parts("Op", Transport::Dispatch, None, None, Some("refused")).kind,
            AwsErrorKind::Retryable
        );
    }

    #[test]
    fn not_found_codes_mean_absent() {
        for code in [
            "NoSuchBucket",
            "DBInstanceNotFound",
            "DBSubnetGroupNotFoundFault",
            "DBParameterGroupNotFound",
            "NoSuchTagSet",
        ] {
            assert!(service(404, code).is_not_found(), "{code}");
        }
        // HeadBucket answers a bare 404 without a code.
        assert!(
            classify_parts("HeadBucket", Transport::Service, Some(404), None, None).is_not_found()
        );
    }

    #[test]
    fn validation_errors_are_final_with_the_aws_message() {
        let e = classify_parts(
            "CreateDBInstance",
            Transport::Service,
            Some(400),
            Some("InvalidParameterValue"),
            Some("Invalid DB engine: postgress"),
        );
        assert_eq!(e.kind, AwsErrorKind::Final);
        assert!(
            e.message.contains("Invalid DB engine: postgress"),
            "{}",
            e.message
        );
        assert!(e.message.contains("CreateDBInstance"));
        let p: ProviderError = e.into();
        assert!(!p.is_retryable());
        assert_eq!(service(403, "AccessDenied").kind, AwsErrorKind::Final);
    }

    #[test]
    fn precondition_failed_is_a_conflict() {
        assert_eq!(
            classify_parts(
                "PutObject",
                Transport::Service,
                Some(412),
                Some("PreconditionFailed"),
                None
            )
            .kind,
            AwsErrorKind::PreconditionFailed
        );
    }

    fn response(status: u16) -> HttpResponse {
        HttpResponse::new(
            status.try_into().expect("status"),
            aws_sdk_s3::primitives::SdkBody::empty(),
        )
    }

    #[test]
    fn hand_built_sdk_errors_are_classified() {
        use aws_sdk_rds::operation::describe_db_instances::DescribeDBInstancesError;
        use aws_sdk_s3::error::ErrorMetadata;
        use aws_sdk_s3::operation::get_object::GetObjectError;

        let throttled = SdkError::service_error(
            DescribeDBInstancesError::generic(
                ErrorMetadata::builder()
                    .code("Throttling")
                    .message("Rate exceeded")
                    .build(),
            ),
            response(400),
        );
        let e = classify("DescribeDBInstances", throttled);
        assert_eq!(e.kind, AwsErrorKind::Retryable);
        let provider_error: ProviderError = e.clone().into();
        assert!(
            std::error::Error::source(&provider_error).is_some(),
            "the SDK error is passed on as the source"
        );
        assert_eq!(
            e.message,
            "DescribeDBInstances: Throttling: Rate exceeded (HTTP 400)"
        );

        let slow_down = SdkError::service_error(
            GetObjectError::generic(ErrorMetadata::builder().code("SlowDown").build()),
            response(503),
        );
        assert_eq!(
            classify("GetObject", slow_down).kind,
            AwsErrorKind::Retryable
        );

        let missing = SdkError::service_error(
            GetObjectError::generic(ErrorMetadata::builder().build()),
            response(404),
        );
        assert!(classify("HeadBucket", missing).is_not_found());

        let timeout: SdkError<GetObjectError, HttpResponse> =
            SdkError::timeout_error("operation timed out");
        assert_eq!(classify("GetObject", timeout).kind, AwsErrorKind::Retryable);

        let invalid = SdkError::service_error(
            DescribeDBInstancesError::generic(
                ErrorMetadata::builder()
                    .code("InvalidParameterCombination")
                    .message("FinalDBSnapshotIdentifier is required")
                    .build(),
            ),
            response(400),
        );
        let e = classify("DeleteDBInstance", invalid);
        assert_eq!(e.kind, AwsErrorKind::Final);
        assert!(e.message.contains("FinalDBSnapshotIdentifier is required"));
    }

    #[test]
    fn busy_instances_are_retryable() {
        assert_eq!(
            service(400, "InvalidDBInstanceState").kind,
            AwsErrorKind::Retryable
        );
    }

    #[test]
    fn retryable_maps_to_a_retryable_provider_error() {
        let p: ProviderError = service(400, "Throttling").into();
        assert!(p.is_retryable());
        assert!(p.message.contains("Throttling: msg"), "{}", p.message);
    }
}
