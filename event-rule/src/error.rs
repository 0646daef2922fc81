//! Typed errors. Every AWS failure carries the action, resource, account and region it
//! concerned, and a [`AwsErrorKind`] that says whether retrying could help.

use std::fmt;

use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Everything that can go wrong in `event-rule`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag or value was rejected before any AWS call.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The event pattern is longer than EventBridge accepts.
    #[error(
        "the event pattern is {len} characters, over EventBridge's limit of {limit}: \
         watch fewer services, or use `--services all` (no eventSource filter)"
    )]
    PatternTooLong {
        /// Length of the pattern built.
        len: usize,
        /// EventBridge's limit.
        limit: usize,
    },

    /// The SDK found no credentials at all.
    #[error(
        "no AWS credentials (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, \
         or log in with aws sso login): {0}"
    )]
    MissingCredentials(String),

    /// Assuming the role in a target account failed.
    #[error("could not assume role {role_arn} in account {account}: {message}")]
    AssumeRole {
        /// Target account.
        account: String,
        /// The role that was assumed.
        role_arn: String,
        /// What STS said.
        message: String,
    },

    /// An explicitly requested region is not enabled (opted in) in the account.
    #[error("region {region} is not enabled in account {account} (opt in to it, or leave it out of --regions)")]
    RegionNotEnabled {
        /// Target account.
        account: String,
        /// The region.
        region: String,
    },

    /// An explicitly requested region is unknown to the account.
    #[error("region {region} does not exist for account {account}")]
    UnknownRegion {
        /// Target account.
        account: String,
        /// The region.
        region: String,
    },

    /// No logging CloudTrail trail covers the region and `--require-trail` was given.
    #[error(
        "no logging CloudTrail trail covers {region} in account {account}: create a \
         multi-region trail, or start logging"
    )]
    NoTrail {
        /// Target account.
        account: String,
        /// The region.
        region: String,
    },

    /// A resource with the configured name exists but was not made by this tool.
    #[error("{resource} exists but is not tagged {tag}: rerun with --adopt to take it over, or choose other names")]
    Unmanaged {
        /// ARN or name of the resource.
        resource: String,
        /// `key=value` of the missing tag.
        tag: String,
    },

    /// Even with one entry per account, the queue policy is over SQS's limit.
    #[error(
        "the queue policy allowing topics in {accounts} accounts would be {bytes} bytes, \
         over SQS's limit of {limit}: set up fewer accounts per central queue"
    )]
    QueuePolicyTooLarge {
        /// Accounts whose topics the policy allows.
        accounts: usize,
        /// Size of the smallest policy built.
        bytes: usize,
        /// SQS's limit.
        limit: usize,
    },

    /// A step was not attempted because one it depends on failed.
    #[error("not attempted: {0}")]
    NotAttempted(String),

    /// An AWS call failed.
    #[error(transparent)]
    Aws(Box<AwsError>),
}

impl From<AwsError> for Error {
    fn from(e: AwsError) -> Self {
        Error::Aws(Box::new(e))
    }
}

impl Error {
    /// Whether trying again later might succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Aws(e) => e.kind.is_retryable(),
            _ => false,
        }
    }
}

/// The class of an AWS failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorKind {
    /// The caller lacks permission for the action on the resource.
    AccessDenied,
    /// Still throttled after every retry.
    Throttled,
    /// The credentials were rejected (expired, invalid, or the region is not enabled).
    InvalidCredentials,
    /// The resource does not exist.
    NotFound,
    /// The request could not be sent or the connection failed.
    Network,
    /// The call timed out.
    Timeout,
    /// Anything else the service said.
    Other,
}

impl AwsErrorKind {
    /// Whether trying again later might succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            AwsErrorKind::Throttled | AwsErrorKind::Network | AwsErrorKind::Timeout
        )
    }

    pub(crate) fn classify(code: &str) -> Self {
        match code {
            "AccessDenied"
            | "AccessDeniedException"
            | "AuthorizationError"
            | "UnauthorizedOperation"
            | "UnauthorizedAccess"
            | "KMSAccessDenied" => AwsErrorKind::AccessDenied,
            "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "Throttled"
            | "RequestLimitExceeded"
            | "TooManyRequestsException"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "SlowDown" => AwsErrorKind::Throttled,
            "InvalidClientTokenId"
            | "UnrecognizedClientException"
            | "AuthFailure"
            | "ExpiredToken"
            | "ExpiredTokenException"
            | "SignatureDoesNotMatch"
            | "OptInRequired" => AwsErrorKind::InvalidCredentials,
            c if c.contains("NotFound")
                || c.contains("NonExistent")
                || c.contains("DoesNotExist")
                || c == "NoSuchEntity" =>
            {
                AwsErrorKind::NotFound
            }
            _ => AwsErrorKind::Other,
        }
    }
}

impl fmt::Display for AwsErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AwsErrorKind::AccessDenied => "access denied",
            AwsErrorKind::Throttled => "throttled (gave up after retrying with backoff)",
            AwsErrorKind::InvalidCredentials => {
                "credentials rejected (expired, invalid, or the region is not enabled)"
            }
            AwsErrorKind::NotFound => "not found",
            AwsErrorKind::Network => "network error",
            AwsErrorKind::Timeout => "timed out",
            AwsErrorKind::Other => "failed",
        })
    }
}

/// A failed AWS call with its context.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind}: {action} on {resource} (account {account}, region {region}): {code}: {message}")]
pub struct AwsError {
    /// The class of failure.
    pub kind: AwsErrorKind,
    /// IAM action name, such as `sns:CreateTopic`.
    pub action: &'static str,
    /// ARN or name of the resource the call concerned.
    pub resource: String,
    /// Account whose credentials made the call.
    pub account: String,
    /// Region the call went to.
    pub region: String,
    /// The service's error code, or the SDK's failure class.
    pub code: String,
    /// The service's message.
    pub message: String,
}

/// Where a call went: the context attached to its error.
#[derive(Debug, Clone)]
pub(crate) struct Call<'a> {
    pub account: &'a str,
    pub region: &'a str,
}

impl Call<'_> {
    /// Converts an SDK error from `action` on `resource` into an [`AwsError`].
    pub(crate) fn err<E>(
        &self,
        action: &'static str,
        resource: impl Into<String>,
        err: aws_smithy_runtime_api::client::result::SdkError<E, HttpResponse>,
    ) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        use aws_smithy_runtime_api::client::result::SdkError;
        let (kind, code, message) = match &err {
            SdkError::ServiceError(se) => {
                let e = se.err();
                match e.code() {
                    Some(code) => {
                        let message = e
                            .message()
                            .map(str::to_string)
                            .unwrap_or_else(|| e.to_string());
                        (AwsErrorKind::classify(code), code.to_string(), message)
                    }
                    // The SDK could not read the error body (a service answering in
                    // another protocol than the client's): read it, and the status.
                    None => unparsed(se.raw(), e),
                }
            }
            SdkError::TimeoutError(_) => {
                (AwsErrorKind::Timeout, "Timeout".into(), source_chain(&err))
            }
            SdkError::DispatchFailure(d) => {
                let kind = if d.is_timeout() {
                    AwsErrorKind::Timeout
                } else {
                    AwsErrorKind::Network
                };
                (kind, "DispatchFailure".into(), source_chain(&err))
            }
            SdkError::ConstructionFailure(_) => (
                AwsErrorKind::Other,
                "ConstructionFailure".into(),
                source_chain(&err),
            ),
            _ => (
                AwsErrorKind::Other,
                "ResponseError".into(),
                source_chain(&err),
            ),
        };
        AwsError {
            kind,
            action,
            resource: resource.into(),
            account: self.account.to_string(),
            region: self.region.to_string(),
            code,
            message,
        }
    }
}

/// Code, kind and message of an error response the SDK could not parse: the `<Code>`
/// and `<Message>` of an XML error body when there is one, else the HTTP status.
fn unparsed(raw: &HttpResponse, e: &dyn std::error::Error) -> (AwsErrorKind, String, String) {
    let body = raw.body().bytes().map(String::from_utf8_lossy);
    let tag = |name: &str| {
        let body = body.as_deref()?;
        let open = format!("<{name}>");
        let start = body.find(&open)? + open.len();
        let len = body[start..].find(&format!("</{name}>"))?;
        Some(body[start..start + len].trim().to_string())
    };
    let status = raw.status().as_u16();
    let message = tag("Message").unwrap_or_else(|| source_chain(e));
    if let Some(code) = tag("Code").filter(|c| !c.is_empty()) {
        return (AwsErrorKind::classify(&code), code, message);
    }
    let kind = match status {
        401 => AwsErrorKind::InvalidCredentials,
        403 => AwsErrorKind::AccessDenied,
        429 => AwsErrorKind::Throttled,
        _ => AwsErrorKind::Other,
    };
    (kind, format!("HTTP {status}"), message)
}

/// The error and its sources, joined with `: `.
pub(crate) fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let s_text = s.to_string();
        if !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &'static str) -> HttpResponse {
        HttpResponse::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(status).unwrap(),
            aws_smithy_types::body::SdkBody::from(body),
        )
    }

    #[test]
    fn unparsed_bodies_are_read_for_code_and_message_then_status() {
        let e = std::io::Error::other("unhandled error");
        let xml = r#"<?xml version="1.0"?><ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>User: u is not authorized to perform: sqs:GetQueueUrl</Message></Error></Errors></ErrorResponse>"#;
        let (kind, code, message) = unparsed(&response(403, xml), &e);
        assert_eq!(kind, AwsErrorKind::AccessDenied);
        assert_eq!(code, "AccessDenied");
        assert!(message.contains("sqs:GetQueueUrl"));
        let (kind, code, message) = unparsed(&response(429, "slow down"), &e);
        assert_eq!((kind, code.as_str()), (AwsErrorKind::Throttled, "HTTP 429"));
        assert_eq!(message, "unhandled error");
        let (kind, ..) = unparsed(&response(403, ""), &e);
        assert_eq!(kind, AwsErrorKind::AccessDenied);
        let (kind, ..) = unparsed(&response(404, "<html>"), &e);
        assert_eq!(
            kind,
            AwsErrorKind::Other,
            "a bare 404 is not taken as absence"
        );
    }

    #[test]
    fn classification() {
        assert_eq!(
            AwsErrorKind::classify("AccessDenied"),
            AwsErrorKind::AccessDenied
        );
        assert_eq!(
            AwsErrorKind::classify("AuthorizationError"),
            AwsErrorKind::AccessDenied
        );
        assert_eq!(
            AwsErrorKind::classify("ThrottlingException"),
            AwsErrorKind::Throttled
        );
        assert_eq!(
            AwsErrorKind::classify("LimitExceededException"),
            AwsErrorKind::Other
        );
        assert_eq!(AwsErrorKind::classify("NotFound"), AwsErrorKind::NotFound);
        assert_eq!(
            AwsErrorKind::classify("ResourceNotFoundException"),
            AwsErrorKind::NotFound
        );
        assert_eq!(
            AwsErrorKind::classify("AWS.SimpleQueueService.NonExistentQueue"),
            AwsErrorKind::NotFound
        );
        assert_eq!(
            AwsErrorKind::classify("UnrecognizedClientException"),
            AwsErrorKind::InvalidCredentials
        );
        assert!(AwsErrorKind::Throttled.is_retryable());
        assert!(!AwsErrorKind::AccessDenied.is_retryable());
    }

    #[test]
    fn messages_name_action_and_resource() {
        let e = Error::from(AwsError {
            kind: AwsErrorKind::AccessDenied,
            action: "sns:CreateTopic",
            resource: "arn:aws:sns:eu-west-1:111111111111:cloudcoreo-events".into(),
            account: "111111111111".into(),
            region: "eu-west-1".into(),
            code: "AuthorizationError".into(),
            message: "User is not authorized".into(),
        });
        let s = e.to_string();
        assert!(s.starts_with("access denied: sns:CreateTopic on arn:aws:sns:eu-west-1:111111111111:cloudcoreo-events"), "{s}");
        assert!(s.contains("account 111111111111, region eu-west-1"));
        assert!(!e.is_retryable());
    }
}
