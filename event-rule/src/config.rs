//! The one configuration struct shared by every command, and the names it derives.
//!
//! Every field is a clap flag with an `EVENT_RULE_*` environment fallback and a default
//! that matches the classic CloudFormation deployment, so `event-rule setup` with no
//! flags does the usual thing in the current account.

use std::collections::BTreeMap;

use clap::Args;
use processor_core::pipeline::DEFAULT_MAX_HOLD_SECS;
use processor_core::services::ServiceSet;

use crate::error::Error;

/// Default home region of the central queue.
pub const DEFAULT_HOME_REGION: &str = "us-west-2";
/// Default name of the central SQS queue.
pub const DEFAULT_QUEUE_NAME: &str = "cloudcoreo-events-queue";
/// Default name of the SNS topic created in every target region.
pub const DEFAULT_TOPIC_NAME: &str = "cloudcoreo-events";
/// Default name of the EventBridge rule created in every target region.
pub const DEFAULT_RULE_NAME: &str = "cloudcoreo-events";
/// Default role assumed in member accounts.
pub const DEFAULT_ACCOUNT_ROLE: &str = "OrganizationAccountAccessRole";
/// Default name of the optional read-only scanner role.
pub const DEFAULT_SCANNER_ROLE: &str = "cloudcoreo-scanner";
/// Default tag key put on every created resource.
pub const DEFAULT_TAG_KEY: &str = "managed-by";
/// Default tag value put on every created resource.
pub const DEFAULT_TAG_VALUE: &str = "cloudcoreo-event-rule";
/// Default number of account-regions worked on at once.
pub const DEFAULT_CONCURRENCY: u32 = 128;
/// Default number of accounts prepared at once.
pub const DEFAULT_ACCOUNT_CONCURRENCY: u32 = 32;
/// Default duration, in seconds, of the sessions of roles assumed in member accounts.
pub const DEFAULT_SESSION_DURATION_SECS: u32 = 3600;

/// Default receives before a message moves to the dead-letter queue.
pub const DEFAULT_MAX_RECEIVE_COUNT: u32 = 5;
/// Fewest and most receives SQS accepts in a redrive policy.
pub const MAX_RECEIVE_COUNT_RANGE: (u32, u32) = (1, 1000);

/// How many times a Lambda consumer's timeout the queue's visibility timeout must be
/// at least (AWS's guidance for SQS event sources: a batch may be retried while the
/// function is throttled, and each try must finish before the message reappears).
pub const LAMBDA_VISIBILITY_FACTOR: u32 = 6;
/// Default timeout of the processor as a Lambda function (the `processor-lambda`
/// template's `Timeout`), seconds.
pub const DEFAULT_LAMBDA_TIMEOUT_SECS: u32 = 60;
/// Timeouts Lambda accepts, seconds.
pub const LAMBDA_TIMEOUT_RANGE: (u32, u32) = (1, 900);
/// Default visibility timeout of the central queue, seconds: six times the Lambda
/// consumer's default timeout (360 s).
///
/// `processor run` asks for its own visibility timeout on every receive (120 s by
/// default, which must exceed its `--max-hold`) and extends it while a request is
/// held, so the queue's value only governs consumers that do not ask: the Lambda
/// event source mapping, and ad-hoc readers. 360 s is the Lambda's need, and leaves
/// well over the processor's longest hold ([`DEFAULT_MAX_HOLD_SECS`], 60 s) as margin
/// should a consumer hold messages the way `processor run` does without asking.
pub const DEFAULT_VISIBILITY_TIMEOUT_SECS: u32 =
    LAMBDA_VISIBILITY_FACTOR * DEFAULT_LAMBDA_TIMEOUT_SECS;
/// Visibility timeouts SQS accepts, seconds (up to 12 hours).
pub const VISIBILITY_TIMEOUT_RANGE: (u32, u32) = (0, 43_200);
/// Default long-poll wait of receives that do not set their own
/// (`ReceiveMessageWaitTimeSeconds`), seconds: SQS's maximum, as `processor run` uses.
pub const DEFAULT_RECEIVE_WAIT_SECS: u32 = 20;
/// Long-poll waits SQS accepts, seconds.
pub const RECEIVE_WAIT_RANGE: (u32, u32) = (0, 20);
/// Default time the central queue keeps a message, seconds: 4 days (SQS's default),
/// long enough to ride out a consumer outage over a weekend.
pub const DEFAULT_MESSAGE_RETENTION_SECS: u32 = 345_600;
/// Retention periods SQS accepts, seconds: 1 minute to 14 days.
pub const MESSAGE_RETENTION_RANGE: (u32, u32) = (60, 1_209_600);

// `processor run` dispatches a request before its messages' visibility runs out; a
// queue default below its longest hold would hand held messages to another consumer.
const _: () = assert!(DEFAULT_VISIBILITY_TIMEOUT_SECS > DEFAULT_MAX_HOLD_SECS);
const _: () = assert!(DEFAULT_VISIBILITY_TIMEOUT_SECS <= VISIBILITY_TIMEOUT_RANGE.1);

/// Configuration of `event-rule`, shared by `setup`, `plan`, `status`, `teardown` and
/// `policy`. Endpoints, profiles and credentials are left to the AWS SDK's usual
/// environment (`AWS_PROFILE`, `AWS_ENDPOINT_URL`, ...).
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Region of the central queue (and of the calls that are not regional).
    #[arg(long, env = "EVENT_RULE_HOME_REGION", default_value = DEFAULT_HOME_REGION, global = true)]
    pub home_region: String,

    /// Services to watch: `all` (no eventSource filter), `seed` (the classic 21), or a
    /// comma-separated list such as `ec2,s3,ssm`.
    #[arg(long, env = "EVENT_RULE_SERVICES", default_value = "all", value_parser = parse_services, global = true)]
    pub services: ServiceSet,

    /// Target regions, comma-separated. Default: every region enabled in each account
    /// (EC2 DescribeRegions, opted-in regions included).
    #[arg(long, env = "EVENT_RULE_REGIONS", value_delimiter = ',', global = true)]
    pub regions: Vec<String>,

    /// Fail a region that no logging CloudTrail trail covers instead of skipping it.
    #[arg(long, env = "EVENT_RULE_REQUIRE_TRAIL", global = true)]
    pub require_trail: bool,

    /// Target accounts, comma-separated 12-digit ids. Default: the current account.
    #[arg(
        long,
        env = "EVENT_RULE_ACCOUNTS",
        value_delimiter = ',',
        conflicts_with = "organization",
        global = true
    )]
    pub accounts: Vec<String>,

    /// Target every ACTIVE account of the AWS Organization (Organizations ListAccounts,
    /// called from the current account).
    #[arg(long, env = "EVENT_RULE_ORGANIZATION", global = true)]
    pub organization: bool,

    /// Role assumed in every target account other than the current one.
    #[arg(long, env = "EVENT_RULE_ROLE_NAME", default_value = DEFAULT_ACCOUNT_ROLE, global = true)]
    pub role_name: String,

    /// Per-account role override, `ACCOUNT=ROLE` (a role name or a full role ARN);
    /// repeatable or comma-separated.
    #[arg(long = "account-role", env = "EVENT_RULE_ACCOUNT_ROLES", value_delimiter = ',', value_parser = parse_account_role, global = true)]
    pub account_roles: Vec<(String, String)>,

    /// Name of the central SQS queue.
    #[arg(long, env = "EVENT_RULE_QUEUE_NAME", default_value = DEFAULT_QUEUE_NAME, global = true)]
    pub queue_name: String,

    /// Name of the dead-letter queue. Default: the queue name followed by `-dlq`.
    #[arg(long, env = "EVENT_RULE_DLQ_NAME", global = true)]
    pub dlq_name: Option<String>,

    /// Receives before a message moves to the dead-letter queue (1 to 1000).
    #[arg(long, env = "EVENT_RULE_MAX_RECEIVE_COUNT", default_value_t = DEFAULT_MAX_RECEIVE_COUNT, value_parser = clap::value_parser!(u32).range(i64::from(MAX_RECEIVE_COUNT_RANGE.0)..=i64::from(MAX_RECEIVE_COUNT_RANGE.1)), global = true)]
    pub max_receive_count: u32,

    /// The central queue's visibility timeout, seconds: how long a received message
    /// stays hidden from other consumers. Default:
    /// [`LAMBDA_VISIBILITY_FACTOR`] x `--lambda-timeout` when that is given, else
    /// [`DEFAULT_VISIBILITY_TIMEOUT_SECS`]. `None` here means that default; use
    /// [`Config::visibility_timeout`] for the value.
    #[arg(long = "visibility-timeout", env = "EVENT_RULE_VISIBILITY_TIMEOUT", value_name = "SECS", help = visibility_help(), value_parser = clap::value_parser!(u32).range(i64::from(VISIBILITY_TIMEOUT_RANGE.0)..=i64::from(VISIBILITY_TIMEOUT_RANGE.1)), global = true)]
    pub visibility_timeout_secs: Option<u32>,

    /// Timeout of a Lambda function consuming the queue, seconds: the visibility
    /// timeout must be at least [`LAMBDA_VISIBILITY_FACTOR`] times this, and is derived
    /// from it unless `--visibility-timeout` is given.
    #[arg(long, env = "EVENT_RULE_LAMBDA_TIMEOUT", value_name = "SECS", help = lambda_timeout_help(), value_parser = clap::value_parser!(u32).range(i64::from(LAMBDA_TIMEOUT_RANGE.0)..=i64::from(LAMBDA_TIMEOUT_RANGE.1)), global = true)]
    pub lambda_timeout: Option<u32>,

    /// Long-poll wait of receives that do not set their own
    /// (`ReceiveMessageWaitTimeSeconds`), seconds.
    #[arg(long, env = "EVENT_RULE_RECEIVE_WAIT_TIME", value_name = "SECS", default_value_t = DEFAULT_RECEIVE_WAIT_SECS, value_parser = clap::value_parser!(u32).range(i64::from(RECEIVE_WAIT_RANGE.0)..=i64::from(RECEIVE_WAIT_RANGE.1)), global = true)]
    pub receive_wait_time: u32,

    /// How long the central queue keeps a message (`MessageRetentionPeriod`), seconds;
    /// the dead-letter queue keeps them the maximum, 14 days.
    #[arg(long, env = "EVENT_RULE_MESSAGE_RETENTION", value_name = "SECS", default_value_t = DEFAULT_MESSAGE_RETENTION_SECS, value_parser = clap::value_parser!(u32).range(i64::from(MESSAGE_RETENTION_RANGE.0)..=i64::from(MESSAGE_RETENTION_RANGE.1)), global = true)]
    pub message_retention: u32,

    /// KMS key for the queues' server-side encryption. Default: SQS-managed SSE.
    #[arg(long, env = "EVENT_RULE_QUEUE_KMS_KEY", global = true)]
    pub queue_kms_key: Option<String>,

    /// Admit to the central queue the topics named `--topic-name` of every account of
    /// this organization (`aws:SourceOrgID`, `o-...`) instead of listing each topic: no
    /// account limit, and what the central-queue template's `OrganizationId` deploys.
    #[arg(long, env = "EVENT_RULE_QUEUE_ORG_ID", global = true)]
    pub queue_org_id: Option<String>,

    /// Name of the SNS topic in every target region.
    #[arg(long, env = "EVENT_RULE_TOPIC_NAME", default_value = DEFAULT_TOPIC_NAME, global = true)]
    pub topic_name: String,

    /// KMS key (id, alias or ARN, valid in every target region) for the topic. Its key
    /// policy must let events.amazonaws.com use it. Default: unencrypted topic.
    #[arg(long, env = "EVENT_RULE_TOPIC_KMS_KEY", global = true)]
    pub topic_kms_key: Option<String>,

    /// Name of the EventBridge rule on the default bus in every target region.
    #[arg(long, env = "EVENT_RULE_RULE_NAME", default_value = DEFAULT_RULE_NAME, global = true)]
    pub rule_name: String,

    /// Tag key put on everything created; status and teardown act only on resources
    /// that carry it.
    #[arg(long, env = "EVENT_RULE_TAG_KEY", default_value = DEFAULT_TAG_KEY, global = true)]
    pub tag_key: String,

    /// Tag value put on everything created.
    #[arg(long, env = "EVENT_RULE_TAG_VALUE", default_value = DEFAULT_TAG_VALUE, global = true)]
    pub tag_value: String,

    /// Take over resources that already have the configured names but not the tag
    /// (for example from an older CloudFormation stack) instead of failing.
    #[arg(long, env = "EVENT_RULE_ADOPT", global = true)]
    pub adopt: bool,

    /// Setup: drop the statements of the queue policy and the topic policies that
    /// event-rule did not write (found by their Sid), instead of keeping them next to
    /// its own. Teardown keeps them regardless.
    #[arg(long, env = "EVENT_RULE_REPLACE_FOREIGN_STATEMENTS", global = true)]
    pub replace_foreign_statements: bool,

    /// Status: count statements event-rule did not write in the queue policy or a
    /// topic policy as drift (exit code 2), not only report them.
    #[arg(long, env = "EVENT_RULE_STRICT", global = true)]
    pub strict: bool,

    /// Create the read-only scanner role (SecurityAudit) in every target account,
    /// trusted by this principal ARN only. Requires `--scanner-external-id`.
    #[arg(
        long,
        env = "EVENT_RULE_SCANNER_PRINCIPAL",
        requires = "scanner_external_id",
        global = true
    )]
    pub scanner_principal: Option<String>,

    /// External id the scanner principal must present (sts:ExternalId).
    #[arg(long, env = "EVENT_RULE_SCANNER_EXTERNAL_ID", global = true)]
    pub scanner_external_id: Option<String>,

    /// Name of the scanner role.
    #[arg(long, env = "EVENT_RULE_SCANNER_ROLE_NAME", default_value = DEFAULT_SCANNER_ROLE, global = true)]
    pub scanner_role_name: String,

    /// Account-regions worked on at once, over all accounts. Each one's calls are made
    /// in turn, so API rate limits (per account and region) are not the bound; the
    /// round trips are.
    #[arg(long, env = "EVENT_RULE_CONCURRENCY", default_value_t = DEFAULT_CONCURRENCY, value_parser = clap::value_parser!(u32).range(1..=1024), global = true)]
    pub concurrency: u32,

    /// Accounts prepared (role assumed, regions listed) at once.
    #[arg(long, env = "EVENT_RULE_ACCOUNT_CONCURRENCY", default_value_t = DEFAULT_ACCOUNT_CONCURRENCY, value_parser = clap::value_parser!(u32).range(1..=256), global = true)]
    pub account_concurrency: u32,

    /// Seconds each assumed-role session lasts (STS accepts 900 up to the role's
    /// maximum, at most 43,200, and at most 3,600 when the base credentials are
    /// themselves a role's). Credentials are renewed before they expire, so a run may
    /// take longer than one session.
    #[arg(long, env = "EVENT_RULE_SESSION_DURATION", default_value_t = DEFAULT_SESSION_DURATION_SECS, value_parser = clap::value_parser!(u32).range(900..=43_200), global = true)]
    pub session_duration: u32,

    /// No progress line on stderr (it is only drawn when stderr is a terminal).
    #[arg(long, env = "EVENT_RULE_NO_PROGRESS", global = true)]
    pub no_progress: bool,

    /// Attempts per AWS call; throttling and transient errors are retried with
    /// exponential backoff and jitter.
    #[arg(long, env = "EVENT_RULE_MAX_ATTEMPTS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=20), global = true)]
    pub max_attempts: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            home_region: DEFAULT_HOME_REGION.into(),
            services: ServiceSet::All,
            regions: Vec::new(),
            require_trail: false,
            accounts: Vec::new(),
            organization: false,
            role_name: DEFAULT_ACCOUNT_ROLE.into(),
            account_roles: Vec::new(),
            queue_name: DEFAULT_QUEUE_NAME.into(),
            dlq_name: None,
            max_receive_count: DEFAULT_MAX_RECEIVE_COUNT,
            visibility_timeout_secs: None,
            lambda_timeout: None,
            receive_wait_time: DEFAULT_RECEIVE_WAIT_SECS,
            message_retention: DEFAULT_MESSAGE_RETENTION_SECS,
            queue_kms_key: None,
            queue_org_id: None,
            topic_name: DEFAULT_TOPIC_NAME.into(),
            topic_kms_key: None,
            rule_name: DEFAULT_RULE_NAME.into(),
            tag_key: DEFAULT_TAG_KEY.into(),
            tag_value: DEFAULT_TAG_VALUE.into(),
            adopt: false,
            replace_foreign_statements: false,
            strict: false,
            scanner_principal: None,
            scanner_external_id: None,
            scanner_role_name: DEFAULT_SCANNER_ROLE.into(),
            concurrency: DEFAULT_CONCURRENCY,
            account_concurrency: DEFAULT_ACCOUNT_CONCURRENCY,
            session_duration: DEFAULT_SESSION_DURATION_SECS,
            no_progress: false,
            max_attempts: 8,
        }
    }
}

fn visibility_help() -> String {
    let (min, max) = VISIBILITY_TIMEOUT_RANGE;
    format!(
        "The central queue's visibility timeout, seconds ({min} to {max}): how long a received \
         message stays hidden from other consumers. `processor run` asks for its own on each \
         receive; a Lambda consumer uses this one. Default: {LAMBDA_VISIBILITY_FACTOR} times \
         --lambda-timeout when that is given, else {DEFAULT_VISIBILITY_TIMEOUT_SECS} \
         ({LAMBDA_VISIBILITY_FACTOR} times the processor-lambda template's \
         {DEFAULT_LAMBDA_TIMEOUT_SECS} s timeout)"
    )
}

fn lambda_timeout_help() -> String {
    let (min, max) = LAMBDA_TIMEOUT_RANGE;
    format!(
        "Timeout of a Lambda function consuming the queue, seconds ({min} to {max}): the \
         visibility timeout is then {LAMBDA_VISIBILITY_FACTOR} times this, or, with \
         --visibility-timeout, must be at least that"
    )
}

fn parse_services(s: &str) -> Result<ServiceSet, String> {
    ServiceSet::parse(s)
}

fn parse_account_role(s: &str) -> Result<(String, String), String> {
    let (account, role) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected ACCOUNT=ROLE"))?;
    let (account, role) = (account.trim(), role.trim());
    if !is_account_id(account) {
        return Err(format!("`{account}` is not a 12-digit account id"));
    }
    if role.is_empty() {
        return Err(format!("`{s}`: empty role"));
    }
    Ok((account.to_string(), role.to_string()))
}

/// Whether `s` is a 12-digit AWS account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `s` is an AWS Organizations id: `o-` and 10 to 32 lowercase letters or digits.
pub fn is_organization_id(s: &str) -> bool {
    s.strip_prefix("o-").is_some_and(|rest| {
        (10..=32).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// Whether `s` looks like a region name (`us-west-2`, `ap-southeast-3`, `us-gov-east-1`).
pub fn is_region_name(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// Names valid for SNS topics and SQS queues: letters, digits, `-` and `_`, 1 to 80.
fn is_simple_name(s: &str) -> bool {
    (1..=80).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// EventBridge rule names: letters, digits, `.`, `-` and `_`, 1 to 64.
fn is_rule_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// IAM role names: letters, digits and `+=,.@_-`, 1 to 64.
fn is_role_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

impl Config {
    /// Checks every argument that can be checked without calling AWS. The event
    /// pattern's length is checked here too, so nothing is created with a pattern
    /// EventBridge would refuse.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::InvalidArgument(m));
        // The CLI's ranges refuse 0; a library caller could pass it and wait forever.
        if self.concurrency == 0 || self.account_concurrency == 0 {
            return bad("--concurrency and --account-concurrency must be at least 1".into());
        }
        if self.session_duration == 0 {
            return bad("--session-duration must be at least 1 second".into());
        }
        if !is_region_name(&self.home_region) {
            return bad(format!("`{}` is not a region name", self.home_region));
        }
        for r in &self.regions {
            if !is_region_name(r) {
                return bad(format!("`{r}` in --regions is not a region name"));
            }
        }
        for a in &self.accounts {
            if !is_account_id(a) {
                return bad(format!("`{a}` in --accounts is not a 12-digit account id"));
            }
        }
        if !is_simple_name(&self.queue_name) {
            return bad(format!("invalid queue name `{}`", self.queue_name));
        }
        if !is_simple_name(&self.dlq_name()) {
            return bad(format!(
                "invalid dead-letter queue name `{}`",
                self.dlq_name()
            ));
        }
        if self.dlq_name() == self.queue_name {
            return bad("the dead-letter queue needs a name of its own".into());
        }
        if let Some(org) = &self.queue_org_id {
            if !is_organization_id(org) {
                return bad(format!("`{org}` is not an organization id (o-...)"));
            }
        }
        if !is_simple_name(&self.topic_name) {
            return bad(format!("invalid topic name `{}`", self.topic_name));
        }
        if !is_rule_name(&self.rule_name) {
            return bad(format!("invalid rule name `{}`", self.rule_name));
        }
        if !is_role_name(&self.role_name) {
            return bad(format!("invalid role name `{}`", self.role_name));
        }
        for (account, role) in &self.account_roles {
            if role.starts_with("arn:") {
                let arn = processor_core::arn::Arn::parse(role);
                let ok = arn.is_some_and(|a| {
                    a.account == account.as_str() && a.resource.starts_with("role/")
                });
                if !ok {
                    return bad(format!(
                        "role `{role}` for account {account} must be a role ARN in that account"
                    ));
                }
            } else if !is_role_name(role) {
                return bad(format!("invalid role `{role}` for account {account}"));
            }
        }
        if !is_role_name(&self.scanner_role_name) {
            return bad(format!(
                "invalid scanner role name `{}`",
                self.scanner_role_name
            ));
        }
        if self.tag_key.is_empty() || self.tag_key.len() > 128 || self.tag_value.len() > 256 {
            return bad("tag key must be 1 to 128 characters and the value at most 256".into());
        }
        match (&self.scanner_principal, &self.scanner_external_id) {
            (Some(p), Some(x)) => {
                if !p.starts_with("arn:") {
                    return bad(format!("--scanner-principal `{p}` must be an ARN"));
                }
                if x.len() < 2 || x.len() > 1224 {
                    return bad("--scanner-external-id must be 2 to 1224 characters".into());
                }
            }
            (Some(_), None) => {
                return bad("--scanner-principal requires --scanner-external-id".into())
            }
            (None, Some(_)) => {
                return bad("--scanner-external-id requires --scanner-principal".into())
            }
            (None, None) => {}
        }
        self.validate_queue_attributes()?;
        crate::pattern::build(&self.services)?;
        Ok(())
    }

    /// The central queue's attributes: each within what SQS (or Lambda) accepts (the
    /// CLI's ranges check this too; a library caller may not), and a visibility timeout
    /// long enough for a Lambda consumer's timeout.
    fn validate_queue_attributes(&self) -> Result<(), Error> {
        let in_range = |flag: &str, value: u32, (min, max): (u32, u32)| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(Error::InvalidArgument(format!(
                    "{flag} {value} is outside {min} to {max}"
                )))
            }
        };
        in_range(
            "--max-receive-count",
            self.max_receive_count,
            MAX_RECEIVE_COUNT_RANGE,
        )?;
        in_range(
            "--receive-wait-time",
            self.receive_wait_time,
            RECEIVE_WAIT_RANGE,
        )?;
        in_range(
            "--message-retention",
            self.message_retention,
            MESSAGE_RETENTION_RANGE,
        )?;
        if let Some(t) = self.lambda_timeout {
            in_range("--lambda-timeout", t, LAMBDA_TIMEOUT_RANGE)?;
        }
        in_range(
            "--visibility-timeout",
            self.visibility_timeout(),
            VISIBILITY_TIMEOUT_RANGE,
        )?;
        if let (Some(lambda), Some(visibility)) =
            (self.lambda_timeout, self.visibility_timeout_secs)
        {
            let least = LAMBDA_VISIBILITY_FACTOR * lambda;
            if visibility < least {
                return Err(Error::InvalidArgument(format!(
                    "--visibility-timeout {visibility} is shorter than {LAMBDA_VISIBILITY_FACTOR} \
                     times --lambda-timeout {lambda} ({least} s): a message would reappear while \
                     the function may still be working on it; raise it or leave it out"
                )));
            }
        }
        Ok(())
    }

    /// The central queue's visibility timeout, seconds: `--visibility-timeout`, else
    /// [`LAMBDA_VISIBILITY_FACTOR`] times `--lambda-timeout`, else
    /// [`DEFAULT_VISIBILITY_TIMEOUT_SECS`].
    pub fn visibility_timeout(&self) -> u32 {
        self.visibility_timeout_secs.unwrap_or_else(|| {
            self.lambda_timeout
                .map_or(DEFAULT_VISIBILITY_TIMEOUT_SECS, |t| {
                    LAMBDA_VISIBILITY_FACTOR.saturating_mul(t)
                })
        })
    }

    /// Name of the dead-letter queue.
    pub fn dlq_name(&self) -> String {
        self.dlq_name
            .clone()
            .unwrap_or_else(|| format!("{}-dlq", self.queue_name))
    }

    /// The role to assume in `account`: a per-account override, or `--role-name`.
    pub fn role_arn_for(&self, account: &str, partition: &str) -> String {
        let role = self
            .account_roles
            .iter()
            .find(|(a, _)| a == account)
            .map(|(_, r)| r.as_str())
            .unwrap_or(&self.role_name);
        if role.starts_with("arn:") {
            role.to_string()
        } else {
            format!("arn:{partition}:iam::{account}:role/{role}")
        }
    }

    /// The tags put on every resource.
    pub fn tags(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(self.tag_key.clone(), self.tag_value.clone())])
    }

    /// Whether the optional scanner role is configured.
    pub fn scanner_enabled(&self) -> bool {
        self.scanner_principal.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names() {
        for ok in [
            "us-west-2",
            "ap-southeast-3",
            "us-gov-east-1",
            "il-central-1",
        ] {
            assert!(is_region_name(ok), "{ok}");
        }
        for bad in [
            "",
            "us-west",
            "US-west-2",
            "us_west_2",
            "us--1",
            "us-west-x",
        ] {
            assert!(!is_region_name(bad), "{bad}");
        }
    }

    #[test]
    fn validation() {
        let c = Config::default();
        c.validate().unwrap();
        let zero = Config {
            concurrency: 0,
            ..c.clone()
        };
        assert!(
            matches!(zero.validate(), Err(Error::InvalidArgument(m)) if m.contains("--concurrency"))
        );
        assert_eq!(c.dlq_name(), "cloudcoreo-events-queue-dlq");

        let c = Config {
            accounts: vec!["12345".into()],
            ..Config::default()
        };
        assert!(matches!(c.validate(), Err(Error::InvalidArgument(m)) if m.contains("12345")));
        let c = Config {
            regions: vec!["mars-1".into()],
            ..Config::default()
        };
        assert!(c.validate().is_err());
        let c = Config {
            scanner_principal: Some("arn:aws:iam::1:root".into()),
            ..Config::default()
        };
        assert!(c.validate().is_err());
        let c = Config {
            queue_org_id: Some("o-short".into()),
            ..Config::default()
        };
        assert!(matches!(c.validate(), Err(Error::InvalidArgument(m)) if m.contains("o-short")));
        let c = Config {
            queue_org_id: Some("o-abcdefghij".into()),
            ..Config::default()
        };
        c.validate().unwrap();
        let c = Config {
            topic_name: "a b".into(),
            ..Config::default()
        };
        assert!(c.validate().is_err());
        let c = Config {
            account_roles: vec![(
                "222222222222".into(),
                "arn:aws:iam::333333333333:role/R".into(),
            )],
            ..Config::default()
        };
        assert!(c.validate().is_err());
    }

    #[test]
    fn queue_attributes_default_and_derive_from_a_lambda_timeout() {
        let c = Config::default();
        assert_eq!(c.visibility_timeout(), DEFAULT_VISIBILITY_TIMEOUT_SECS);
        // The default suits a Lambda with the template's timeout, and `processor run`.
        assert!(c.visibility_timeout() >= LAMBDA_VISIBILITY_FACTOR * DEFAULT_LAMBDA_TIMEOUT_SECS);
        assert!(c.visibility_timeout() > DEFAULT_MAX_HOLD_SECS);
        let lambda = Config {
            lambda_timeout: Some(300),
            ..Config::default()
        };
        lambda.validate().unwrap();
        assert_eq!(lambda.visibility_timeout(), 1800);
        let explicit = Config {
            visibility_timeout_secs: Some(45),
            ..Config::default()
        };
        explicit.validate().unwrap();
        assert_eq!(explicit.visibility_timeout(), 45);
        // Given both, the visibility must be at least six times the Lambda's timeout.
        let enough = Config {
            visibility_timeout_secs: Some(1800),
            lambda_timeout: Some(300),
            ..Config::default()
        };
        enough.validate().unwrap();
        assert_eq!(enough.visibility_timeout(), 1800);
        let short = Config {
            visibility_timeout_secs: Some(1799),
            ..enough.clone()
        };
        assert!(matches!(short.validate(), Err(Error::InvalidArgument(m))
            if m.contains("--visibility-timeout 1799") && m.contains("1800 s")));
        // Out of SQS's or Lambda's ranges (a library caller skips clap's checks).
        for bad in [
            Config {
                lambda_timeout: Some(901),
                ..Config::default()
            },
            Config {
                visibility_timeout_secs: Some(43_201),
                ..Config::default()
            },
            Config {
                receive_wait_time: 21,
                ..Config::default()
            },
            Config {
                message_retention: 59,
                ..Config::default()
            },
            Config {
                max_receive_count: 0,
                ..Config::default()
            },
        ] {
            assert!(
                matches!(bad.validate(), Err(Error::InvalidArgument(m)) if m.contains("outside"))
            );
        }
    }

    #[test]
    fn role_arns() {
        let mut c = Config::default();
        c.account_roles
            .push(("222222222222".into(), "Custom".into()));
        c.account_roles.push((
            "333333333333".into(),
            "arn:aws:iam::333333333333:role/x/Y".into(),
        ));
        assert_eq!(
            c.role_arn_for("111111111111", "aws"),
            "arn:aws:iam::111111111111:role/OrganizationAccountAccessRole"
        );
        assert_eq!(
            c.role_arn_for("222222222222", "aws"),
            "arn:aws:iam::222222222222:role/Custom"
        );
        assert_eq!(
            c.role_arn_for("333333333333", "aws"),
            "arn:aws:iam::333333333333:role/x/Y"
        );
        assert_eq!(
            parse_account_role("222222222222=R").unwrap(),
            ("222222222222".into(), "R".into())
        );
        assert!(parse_account_role("2=R").is_err());
        assert!(parse_account_role("222222222222").is_err());
    }

    #[test]
    fn session_duration() {
        let c = Config::default();
        assert_eq!(c.session_duration, DEFAULT_SESSION_DURATION_SECS);
        let zero = Config {
            session_duration: 0,
            ..c
        };
        assert!(
            matches!(zero.validate(), Err(Error::InvalidArgument(m)) if m.contains("--session-duration"))
        );
    }
}
