//! The one configuration struct shared by every command, and the names it derives.
//!
//! Every field is a clap flag with an `EVENT_RULE_*` environment fallback and a default
//! that matches the classic CloudFormation deployment, so `event-rule setup` with no
//! flags does the usual thing in the current account.

use std::collections::BTreeMap;

use clap::Args;
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
    #[arg(long, env = "EVENT_RULE_MAX_RECEIVE_COUNT", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000), global = true)]
    pub max_receive_count: u32,

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

    /// Regions worked on at once, over all accounts.
    #[arg(long, env = "EVENT_RULE_CONCURRENCY", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=256), global = true)]
    pub concurrency: u32,

    /// Accounts prepared (role assumed, regions listed) at once.
    #[arg(long, env = "EVENT_RULE_ACCOUNT_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64), global = true)]
    pub account_concurrency: u32,

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
            max_receive_count: 5,
            queue_kms_key: None,
            queue_org_id: None,
            topic_name: DEFAULT_TOPIC_NAME.into(),
            topic_kms_key: None,
            rule_name: DEFAULT_RULE_NAME.into(),
            tag_key: DEFAULT_TAG_KEY.into(),
            tag_value: DEFAULT_TAG_VALUE.into(),
            adopt: false,
            scanner_principal: None,
            scanner_external_id: None,
            scanner_role_name: DEFAULT_SCANNER_ROLE.into(),
            concurrency: 32,
            account_concurrency: 8,
            max_attempts: 8,
        }
    }
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
        crate::pattern::build(&self.services)?;
        Ok(())
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
}
