//! AWS plumbing: the SDK configuration (rustls with ring, retries with backoff,
//! timeouts), ARNs, the caller's identity, and the per-account context reached by
//! assuming a role.

use std::time::{Duration, SystemTime};

use aws_config::{retry::RetryConfig, timeout::TimeoutConfig, BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::{
    error::CredentialsError, future, ProvideCredentials, SharedCredentialsProvider,
};
use aws_credential_types::Credentials;
use aws_smithy_http_client::{
    tls::{self, rustls_provider::CryptoMode},
    Builder,
};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use tracing::{debug, info, warn};

use crate::error::{source_chain, Call, Error};

/// Session name used for every assumed role, visible in the member's CloudTrail.
pub const SESSION_NAME: &str = "event-rule";

/// The partition a region belongs to (the core's one table).
pub fn partition(region: &str) -> &'static str {
    processor_core::arn::partition_for_region(region)
}

/// ARN of an SNS topic.
pub fn topic_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:{}:sns:{region}:{account}:{name}", partition(region))
}

/// ARN of a rule on the default event bus.
pub fn rule_arn(region: &str, account: &str, name: &str) -> String {
    format!(
        "arn:{}:events:{region}:{account}:rule/{name}",
        partition(region)
    )
}

/// ARN of an SQS queue.
pub fn queue_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:{}:sqs:{region}:{account}:{name}", partition(region))
}

/// The HTTP client every SDK client uses: hyper with rustls and the ring provider.
pub fn http_client() -> SharedHttpClient {
    Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// How to load the base SDK configuration.
#[derive(Debug, Clone, Default)]
pub struct SdkOptions {
    /// Region of the calls that are not regional (home region).
    pub region: String,
    /// Attempts per call (throttling and transient errors retried with backoff).
    pub max_attempts: u32,
    /// Endpoint for every service, overriding `AWS_ENDPOINT_URL` (tests).
    pub endpoint_url: Option<String>,
    /// Static credentials `(access key, secret)`, overriding the default chain (tests).
    pub static_credentials: Option<(String, String)>,
}

/// Loads the base SDK configuration from the environment (profiles, env credentials,
/// SSO, IMDS, `AWS_ENDPOINT_URL`...), with this tool's HTTP client, retry and timeouts.
pub async fn load_sdk_config(opts: &SdkOptions) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .region(Region::new(opts.region.clone()))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(opts.max_attempts.max(1))
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(20)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(30))
                .operation_timeout(Duration::from_secs(180))
                .build(),
        );
    if let Some(url) = &opts.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some((ak, sk)) = &opts.static_credentials {
        loader = loader.credentials_provider(Credentials::new(ak, sk, None, None, "static"));
    }
    loader.load().await
}

/// Fails with [`Error::MissingCredentials`] when the SDK cannot find any credentials.
pub async fn check_credentials(sdk: &SdkConfig) -> Result<(), Error> {
    let provider = sdk
        .credentials_provider()
        .ok_or_else(|| Error::MissingCredentials("no credentials provider configured".into()))?;
    provider
        .provide_credentials()
        .await
        .map(|_| ())
        .map_err(|e| Error::MissingCredentials(source_chain(&e)))
}

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Account id.
    pub account: String,
    /// Caller ARN.
    pub arn: String,
    /// Partition of the caller.
    pub partition: String,
}

/// STS GetCallerIdentity.
pub async fn identity(sdk: &SdkConfig) -> Result<Identity, Error> {
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let out = aws_sdk_sts::Client::new(sdk)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| {
            Call {
                account: "current",
                region: &region,
            }
            .err("sts:GetCallerIdentity", "caller", e)
        })?;
    let arn = out.arn().unwrap_or_default().to_string();
    let partition = processor_core::arn::Arn::parse(&arn)
        .map_or("aws", |a| a.partition)
        .to_string();
    Ok(Identity {
        account: out.account().unwrap_or_default().to_string(),
        arn,
        partition,
    })
}

/// One target account: its id and the SDK configuration that acts in it.
#[derive(Debug, Clone)]
pub struct AccountCtx {
    /// Account id.
    pub account: String,
    /// Configuration with this account's credentials, in the home region.
    pub sdk: SdkConfig,
}

impl AccountCtx {
    /// The configuration for calls in `region`.
    pub fn in_region(&self, region: &str) -> SdkConfig {
        self.sdk
            .to_builder()
            .region(Region::new(region.to_string()))
            .build()
    }

    /// Error context for calls in `region`.
    pub(crate) fn call<'a>(&'a self, region: &'a str) -> Call<'a> {
        Call {
            account: &self.account,
            region,
        }
    }
}

/// Assumes `role_arn` in `account` with the base credentials for the default session
/// duration ([`DEFAULT_SESSION_DURATION_SECS`]); see [`assume_for`].
pub async fn assume(base: &SdkConfig, account: &str, role_arn: &str) -> Result<AccountCtx, Error> {
    let session = Duration::from_secs(crate::config::DEFAULT_SESSION_DURATION_SECS.into());
    assume_for(base, account, role_arn, session).await
}

/// Assumes `role_arn` in `account` with the base credentials and returns a context
/// acting in that account. The role is assumed once here, so an account whose role
/// cannot be assumed fails now with [`Error::AssumeRole`]. The context's credentials
/// are renewed (AssumeRole again) [`renew_early`] before each session of `session`
/// ends, so a run may outlast a session.
pub async fn assume_for(
    base: &SdkConfig,
    account: &str,
    role_arn: &str,
    session: Duration,
) -> Result<AccountCtx, Error> {
    let role = AssumedRole {
        sts: aws_sdk_sts::Client::new(base),
        account: account.to_string(),
        role_arn: role_arn.to_string(),
        session_secs: i32::try_from(session.as_secs()).unwrap_or(i32::MAX),
    };
    let first = role.fetch().await?;
    debug!(account, role_arn, "assumed role");
    let provider = RefreshingRole {
        current: tokio::sync::Mutex::new(first),
        early: renew_early(session),
        role,
    };
    let sdk = base
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build();
    info!(account, role_arn, "acting in account through role");
    Ok(AccountCtx {
        account: account.to_string(),
        sdk,
    })
}

/// The role of one target account, as STS AssumeRole parameters.
#[derive(Debug)]
struct AssumedRole {
    sts: aws_sdk_sts::Client,
    account: String,
    role_arn: String,
    session_secs: i32,
}

impl AssumedRole {
    /// One STS AssumeRole call: fresh credentials, or [`Error::AssumeRole`].
    async fn fetch(&self) -> Result<Credentials, Error> {
        let (account, role_arn) = (self.account.as_str(), self.role_arn.as_str());
        let fail = |message: String| Error::AssumeRole {
            account: account.to_string(),
            role_arn: role_arn.to_string(),
            message,
        };
        let out = self
            .sts
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(SESSION_NAME)
            .duration_seconds(self.session_secs)
            .send()
            .await
            .map_err(|e| {
                let e = Call {
                    account,
                    region: "global",
                }
                .err("sts:AssumeRole", role_arn, e);
                fail(format!("{}: {}: {}", e.action, e.code, e.message))
            })?;
        let c = out
            .credentials()
            .ok_or_else(|| fail("STS returned no credentials".into()))?;
        let expiry = SystemTime::try_from(*c.expiration()).ok();
        Ok(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            expiry,
            "event-rule-assume-role",
        ))
    }
}

/// How long before its session ends an assumed role is assumed again: half the
/// session, at most five minutes (and more than the SDK identity cache's own 10 to 15 s,
/// so the cache finds renewed credentials when it asks).
pub fn renew_early(session: Duration) -> Duration {
    (session / 2).min(Duration::from_secs(300))
}

/// Credentials of an assumed role: first the ones [`assume_for`] obtained, then new
/// ones (AssumeRole again, one call however many callers wait) whenever they are
/// within `early` of their expiry. The SDK's identity cache asks it before its own
/// cached copy expires; callers that sign requests themselves (EC2's Query API) ask it
/// for every request, and get the held credentials.
#[derive(Debug)]
struct RefreshingRole {
    current: tokio::sync::Mutex<Credentials>,
    early: Duration,
    role: AssumedRole,
}

impl ProvideCredentials for RefreshingRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let mut current = self.current.lock().await;
            let renew_at = current
                .expiry()
                .map(|e| e.checked_sub(self.early).unwrap_or(SystemTime::UNIX_EPOCH));
            let now = SystemTime::now();
            if renew_at.is_some_and(|t| now >= t) {
                debug!(account = %self.role.account, role_arn = %self.role.role_arn, "renewing assumed-role credentials");
                match self.role.fetch().await {
                    Ok(fresh) => *current = fresh,
                    // A failed renewal is retried on the next request; the held
                    // credentials serve until they actually expire.
                    Err(e) if current.expiry().is_some_and(|x| now < x) => {
                        warn!(account = %self.role.account, error = %e, "renewing assumed-role credentials failed; the current ones are still valid");
                    }
                    Err(e) => return Err(CredentialsError::provider_error(e)),
                }
            }
            Ok(current.clone())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_margin() {
        let s = Duration::from_secs;
        assert_eq!(renew_early(s(3600)), s(300));
        assert_eq!(renew_early(s(900)), s(300));
        assert_eq!(renew_early(s(20)), s(10));
    }

    #[test]
    fn arns() {
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition("eu-west-1"), "aws");
        assert_eq!(
            topic_arn("eu-west-1", "111111111111", "t"),
            "arn:aws:sns:eu-west-1:111111111111:t"
        );
        assert_eq!(
            rule_arn("cn-north-1", "111111111111", "r"),
            "arn:aws-cn:events:cn-north-1:111111111111:rule/r"
        );
        assert_eq!(
            queue_arn("us-west-2", "111111111111", "q"),
            "arn:aws:sqs:us-west-2:111111111111:q"
        );
    }
}
