//! `processor policy run`: the least-privilege IAM policy `processor run` needs for
//! its queue and sinks; `processor policy lambda`: the execution role's policy of the
//! `processor-lambda` function (the same flags, see [`lambda_policy`]).
//!
//! ## Statements
//! | Sid | actions | resource |
//! |---|---|---|
//! | `ConsumeQueue` | `sqs:ReceiveMessage`, `sqs:DeleteMessage`, `sqs:ChangeMessageVisibility` | the queue |
//! | `DecryptQueueMessages` (with `--queue-kms-key`) | `kms:Decrypt`, only through SQS (`kms:ViaService` = `sqs.REGION.amazonaws.com`) | the key |
//! | `SendToSinkQueues` (`sqs:` sinks) | `sqs:SendMessage` | each queue |
//! | `PublishToSinkTopics` (`sns:` sinks) | `sns:Publish` | each topic |
//! | `PutEventsOnSinkBuses` (`eventbridge:` sinks) | `events:PutEvents` | each bus |
//! | `ConfirmMemberTopicSubscriptions` (`--confirm-subscriptions`) | `sns:ConfirmSubscription` | every topic of each `--allow-accounts` account, `arn:PARTITION:sns:*:ACCOUNT:*` |
//! | `WriteLogs` (`policy lambda` only) | `logs:CreateLogGroup`, `logs:CreateLogStream`, `logs:PutLogEvents` | the function's log group (`/aws/lambda/NAME`), in the queue's region |
//!
//! For `policy lambda`, `ConsumeQueue` is what the event source mapping does with the
//! execution role: `sqs:ReceiveMessage`, `sqs:DeleteMessage`, `sqs:GetQueueAttributes`.
//!
//! `stdout`, `file:` and `http(s)://` sinks need nothing. The batch calls are
//! authorized by their single-message actions (`DeleteMessageBatch` by
//! `sqs:DeleteMessage`, `ChangeMessageVisibilityBatch` by
//! `sqs:ChangeMessageVisibility`, `SendMessageBatch` by `sqs:SendMessage`,
//! `PublishBatch` by `sns:Publish`). A sink queue or topic encrypted with a
//! customer-managed KMS key also needs `kms:GenerateDataKey` and `kms:Decrypt` on that
//! key, which this policy does not print.
//!
//! ## From a queue URL to its ARN
//! `https://sqs.REGION.amazonaws.com/ACCOUNT/NAME` gives
//! `arn:PARTITION:sqs:REGION:ACCOUNT:NAME`: the region is the host label after `sqs`
//! (so VPC endpoint hosts `vpce-...sqs.REGION.vpce.amazonaws.com` work too), or the
//! label before `queue` in the legacy `REGION.queue.amazonaws.com` (plain
//! `queue.amazonaws.com` is us-east-1); the account and the name are the URL's two path
//! segments. The partition follows the region (`cn-*`: `aws-cn`, `us-gov-*`:
//! `aws-us-gov`, ...). The assumption: the URL names the queue's real region and
//! account, as every URL AWS returns does. A host that names no region (a local
//! endpoint) takes `--region` (`AWS_REGION`).
//!
//! An EventBridge bus given by name is taken to be in the queue's account and in the
//! region the consumer runs in (`--region`/`AWS_REGION` when set, else the queue's),
//! which is where the sink puts its events; give its ARN when it is elsewhere.

use std::collections::BTreeSet;

use clap::{Args, Subcommand};
use processor_core::arn::{partition_for_region, Arn};
use processor_sinks::SinkSpec;
use serde_json::{json, Value};

/// IAM policy language version.
pub const VERSION: &str = "2012-10-17";

/// The actions on the consumed queue.
pub use processor_core::queue_access::RUN_QUEUE_ACTIONS as QUEUE_ACTIONS;

/// `processor policy ...`.
#[derive(Debug, Clone, Args)]
pub struct PolicyArgs {
    /// The command whose permissions to print.
    #[command(subcommand)]
    pub command: PolicyCommand,
}

/// The commands a policy can be printed for.
#[derive(Debug, Clone, Subcommand)]
pub enum PolicyCommand {
    /// The queue consumer, `processor run`.
    Run(PolicyRunArgs),
    /// The execution role of the `processor-lambda` function: its event source
    /// mapping's queue, its sinks, its logs.
    Lambda(PolicyLambdaArgs),
}

/// The actions the event source mapping needs on the queue, with the function's
/// execution role.
pub use processor_core::queue_access::LAMBDA_QUEUE_ACTIONS;

/// What the Lambda function's policy depends on: `processor policy run`'s flags and
/// the function's name, account and log group.
#[derive(Debug, Clone, Args)]
pub struct PolicyLambdaArgs {
    /// The queue, sinks, key and subscription settings, as for `policy run`.
    #[command(flatten)]
    pub run: PolicyRunArgs,

    /// Name of the function.
    #[arg(long, default_value = "processor-lambda")]
    pub function_name: String,

    /// Account the function runs in, when not the queue's (an event source mapping
    /// reads a queue of its own region, in any account that allows it).
    #[arg(long)]
    pub account: Option<String>,

    /// The function's log group, when not the default `/aws/lambda/FUNCTION_NAME`.
    #[arg(long)]
    pub log_group: Option<String>,
}

/// What `processor run`'s policy depends on: the same queue and sinks flags (and
/// environment) as `processor run`.
#[derive(Debug, Clone, Args)]
pub struct PolicyRunArgs {
    /// URL of the consumed queue.
    #[arg(long, env = "PROCESSOR_QUEUE_URL")]
    pub queue_url: String,

    /// The sinks (repeatable), as given to `processor run`.
    #[arg(long = "sink", env = "PROCESSOR_SINKS", value_delimiter = ',')]
    pub sinks: Vec<SinkSpec>,

    /// ARN of the customer-managed KMS key encrypting the queue
    /// (`arn:aws:kms:REGION:ACCOUNT:key/ID`); adds `kms:Decrypt` through SQS.
    #[arg(long, env = "PROCESSOR_QUEUE_KMS_KEY")]
    pub queue_kms_key: Option<String>,

    /// The consumer confirms SNS subscriptions of the allowed accounts' topics
    /// (`processor run --confirm-subscriptions`).
    #[arg(long, env = "PROCESSOR_CONFIRM_SUBSCRIPTIONS")]
    pub confirm_subscriptions: bool,

    /// The accounts whose topics' subscriptions are confirmed (`processor run
    /// --allow-accounts`).
    #[arg(long, env = "PROCESSOR_ALLOW_ACCOUNTS", value_delimiter = ',')]
    pub allow_accounts: Vec<String>,

    /// Region the consumer runs in: for a queue URL naming none, and for buses given
    /// by name.
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
}

/// Why no policy can be printed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A queue URL that does not name a queue.
    #[error("queue URL `{url}`: {why}")]
    QueueUrl {
        /// The URL, without query or userinfo.
        url: String,
        /// What is wrong.
        why: String,
    },
    /// An account id that is not 12 digits.
    #[error("--account `{0}`: expected the 12-digit account id")]
    Account(String),
    /// A KMS key that is not a key ARN.
    #[error("--queue-kms-key `{key}`: {why}")]
    KmsKey {
        /// The value given.
        key: String,
        /// What is wrong.
        why: String,
    },
}

/// A queue's ARN and the parts the policy needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueArn {
    /// `aws`, `aws-cn`, ...
    pub partition: String,
    /// Region of the queue.
    pub region: String,
    /// Account owning it.
    pub account: String,
    /// Its name.
    pub name: String,
}

impl QueueArn {
    /// `arn:PARTITION:sqs:REGION:ACCOUNT:NAME`.
    pub fn arn(&self) -> String {
        format!(
            "arn:{}:sqs:{}:{}:{}",
            self.partition, self.region, self.account, self.name
        )
    }
}

/// The DNS suffix of a partition's service endpoints.
fn dns_suffix(partition: &str) -> &'static str {
    match partition {
        "aws-cn" => "amazonaws.com.cn",
        "aws-iso" => "c2s.ic.gov",
        "aws-iso-b" => "sc2s.sgov.gov",
        _ => "amazonaws.com",
    }
}

fn is_region(s: &str) -> bool {
    s.split('-').count() >= 3
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The region an SQS endpoint host names, if any (see the module documentation).
fn region_of_host(host: &str) -> Option<String> {
    let labels: Vec<&str> = host.split('.').collect();
    if let Some(i) = labels
        .iter()
        .position(|l| *l == "sqs" || l.starts_with("sqs-"))
    {
        if let Some(r) = labels.get(i + 1).filter(|r| is_region(r)) {
            return Some(r.to_string());
        }
    }
    if let Some(i) = labels.iter().position(|l| *l == "queue") {
        return match i.checked_sub(1).and_then(|j| labels.get(j)) {
            Some(r) if is_region(r) => Some(r.to_string()),
            None if host == "queue.amazonaws.com" => Some("us-east-1".into()),
            _ => None,
        };
    }
    None
}

/// The ARN of the queue at `url`; `fallback_region` when the host names no region.
pub fn queue_arn(url: &str, fallback_region: Option<&str>) -> Result<QueueArn, PolicyError> {
    let shown = processor_sinks::spec::redact_url(url);
    let bad = |why: &str| PolicyError::QueueUrl {
        url: shown.clone(),
        why: why.to_string(),
    };
    let rest = url
        .split_once("://")
        .map(|(_, r)| r)
        .ok_or_else(|| bad("not an http(s) URL"))?;
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let [account, name] = segments[..] else {
        return Err(bad(
            "expected two path segments, ACCOUNT/NAME (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)",
        ));
    };
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            "the first path segment must be the 12-digit account id",
        ));
    }
    let region = match region_of_host(&host) {
        Some(r) => r,
        None => match fallback_region.filter(|r| !r.is_empty()) {
            Some(r) => r.to_string(),
            None => {
                return Err(bad(
                    "the host names no region: pass --region (or set AWS_REGION)",
                ))
            }
        },
    };
    let partition = if host.ends_with(".amazonaws.com.cn") {
        "aws-cn"
    } else {
        partition_for_region(&region)
    };
    Ok(QueueArn {
        partition: partition.to_string(),
        region,
        account: account.to_string(),
        name: name.to_string(),
    })
}

fn check_kms_key(key: &str) -> Result<(), PolicyError> {
    let bad = |why: &str| PolicyError::KmsKey {
        key: key.to_string(),
        why: why.to_string(),
    };
    let arn = Arn::parse(key)
        .ok_or_else(|| bad("expected a key ARN, arn:aws:kms:REGION:ACCOUNT:key/ID"))?;
    if arn.service != "kms" {
        return Err(bad("not a KMS ARN"));
    }
    if arn.resource.starts_with("alias/") {
        return Err(bad(
            "an alias cannot authorize kms:Decrypt: give the ARN of the key it points to",
        ));
    }
    if !arn.resource.starts_with("key/") || arn.resource.len() == "key/".len() {
        return Err(bad("expected a key ARN, arn:aws:kms:REGION:ACCOUNT:key/ID"));
    }
    Ok(())
}

fn statement(sid: &str, actions: &[&str], resources: BTreeSet<String>) -> Value {
    let resources: Vec<String> = resources.into_iter().collect();
    json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources })
}

/// The policy `processor run` needs with these settings.
pub fn run_policy(args: &PolicyRunArgs) -> Result<Value, PolicyError> {
    let (_, statements) = consumer_statements(args, &QUEUE_ACTIONS)?;
    Ok(json!({ "Version": VERSION, "Statement": statements }))
}

/// The policy of the `processor-lambda` function's execution role: the statements of
/// [`run_policy`] with [`LAMBDA_QUEUE_ACTIONS`] on the queue, and `WriteLogs`
/// (`logs:CreateLogGroup`, `logs:CreateLogStream`, `logs:PutLogEvents`) on the
/// function's log group in the queue's region.
pub fn lambda_policy(args: &PolicyLambdaArgs) -> Result<Value, PolicyError> {
    let (queue, mut statements) = consumer_statements(&args.run, &LAMBDA_QUEUE_ACTIONS)?;
    let account = match args.account.as_deref().filter(|a| !a.is_empty()) {
        Some(a) if a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()) => a,
        Some(a) => return Err(PolicyError::Account(a.to_string())),
        None => queue.account.as_str(),
    };
    let group = args
        .log_group
        .clone()
        .unwrap_or_else(|| format!("/aws/lambda/{}", args.function_name));
    let group_arn = format!(
        "arn:{}:logs:{}:{account}:log-group:{group}",
        queue.partition, queue.region
    );
    statements.push(statement(
        "WriteLogs",
        &[
            "logs:CreateLogGroup",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
        ],
        BTreeSet::from([group_arn.clone(), format!("{group_arn}:*")]),
    ));
    Ok(json!({ "Version": VERSION, "Statement": statements }))
}

/// The statements for the queue (with `queue_actions`), its key, the sinks and the
/// subscription confirmations.
fn consumer_statements(
    args: &PolicyRunArgs,
    queue_actions: &[&str],
) -> Result<(QueueArn, Vec<Value>), PolicyError> {
    let region_flag = args.region.as_deref().filter(|r| !r.is_empty());
    let queue = queue_arn(&args.queue_url, region_flag)?;
    let mut statements = vec![statement(
        "ConsumeQueue",
        queue_actions,
        BTreeSet::from([queue.arn()]),
    )];
    if let Some(key) = &args.queue_kms_key {
        check_kms_key(key)?;
        let mut decrypt = statement(
            "DecryptQueueMessages",
            &["kms:Decrypt"],
            BTreeSet::from([key.clone()]),
        );
        decrypt["Condition"] = json!({
            "StringEquals": {
                "kms:ViaService": format!("sqs.{}.{}", queue.region, dns_suffix(&queue.partition))
            }
        });
        statements.push(decrypt);
    }
    let mut queues = BTreeSet::new();
    let mut topics = BTreeSet::new();
    let mut buses = BTreeSet::new();
    for sink in &args.sinks {
        match sink {
            SinkSpec::Stdout | SinkSpec::File(_) | SinkSpec::Http(_) => {}
            SinkSpec::Sqs(url) => {
                queues.insert(queue_arn(url, region_flag)?.arn());
            }
            SinkSpec::Sns(arn) => {
                topics.insert(arn.clone());
            }
            SinkSpec::EventBridge(bus) => {
                if Arn::parse(bus).is_some() {
                    buses.insert(bus.clone());
                } else {
                    let region = region_flag.unwrap_or(&queue.region);
                    buses.insert(format!(
                        "arn:{}:events:{region}:{}:event-bus/{bus}",
                        partition_for_region(region),
                        queue.account
                    ));
                }
            }
        }
    }
    if !queues.is_empty() {
        statements.push(statement("SendToSinkQueues", &["sqs:SendMessage"], queues));
    }
    if !topics.is_empty() {
        statements.push(statement("PublishToSinkTopics", &["sns:Publish"], topics));
    }
    if !buses.is_empty() {
        statements.push(statement(
            "PutEventsOnSinkBuses",
            &["events:PutEvents"],
            buses,
        ));
    }
    if args.confirm_subscriptions {
        let topics: BTreeSet<String> = args
            .allow_accounts
            .iter()
            .filter(|a| !a.is_empty())
            .map(|a| format!("arn:{}:sns:*:{a}:*", queue.partition))
            .collect();
        if !topics.is_empty() {
            statements.push(statement(
                "ConfirmMemberTopicSubscriptions",
                &["sns:ConfirmSubscription"],
                topics,
            ));
        }
    }
    Ok((queue, statements))
}

/// The policy for `args`, as pretty-printed JSON.
pub fn render(args: &PolicyArgs) -> Result<String, PolicyError> {
    let doc = match &args.command {
        PolicyCommand::Run(run) => run_policy(run)?,
        PolicyCommand::Lambda(lambda) => lambda_policy(lambda)?,
    };
    // A `Value` always serialises.
    Ok(serde_json::to_string_pretty(&doc).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUEUE: &str = "https://sqs.us-west-2.amazonaws.com/111122223333/cloudcoreo-events-queue";

    fn args(
        queue_url: &str,
        sinks: &[&str],
        kms: Option<&str>,
        region: Option<&str>,
    ) -> PolicyRunArgs {
        PolicyRunArgs {
            queue_url: queue_url.into(),
            sinks: sinks.iter().map(|s| s.parse().unwrap()).collect(),
            queue_kms_key: kms.map(str::to_string),
            confirm_subscriptions: false,
            allow_accounts: Vec::new(),
            region: region.map(str::to_string),
        }
    }

    #[test]
    fn queue_urls_map_to_arns() {
        let arn = |url: &str, fallback: Option<&str>| queue_arn(url, fallback).map(|q| q.arn());
        assert_eq!(
            arn(QUEUE, None).unwrap(),
            "arn:aws:sqs:us-west-2:111122223333:cloudcoreo-events-queue"
        );
        // The URL's region wins over the fallback; a trailing slash or query is fine.
        assert_eq!(
            arn(
                "https://sqs.eu-west-1.amazonaws.com/111122223333/q/?x=1",
                Some("us-east-1")
            )
            .unwrap(),
            "arn:aws:sqs:eu-west-1:111122223333:q"
        );
        assert_eq!(
            arn(
                "https://sqs.cn-north-1.amazonaws.com.cn/111122223333/q",
                None
            )
            .unwrap(),
            "arn:aws-cn:sqs:cn-north-1:111122223333:q"
        );
        assert_eq!(
            arn(
                "https://sqs.us-gov-west-1.amazonaws.com/111122223333/q.fifo",
                None
            )
            .unwrap(),
            "arn:aws-us-gov:sqs:us-gov-west-1:111122223333:q.fifo"
        );
        assert_eq!(
            arn(
                "https://eu-central-1.queue.amazonaws.com/111122223333/q",
                None
            )
            .unwrap(),
            "arn:aws:sqs:eu-central-1:111122223333:q"
        );
        assert_eq!(
            arn("https://queue.amazonaws.com/111122223333/q", None).unwrap(),
            "arn:aws:sqs:us-east-1:111122223333:q"
        );
        assert_eq!(
            arn(
                "https://vpce-0abc-1234.sqs.ap-south-1.vpce.amazonaws.com/111122223333/q",
                None
            )
            .unwrap(),
            "arn:aws:sqs:ap-south-1:111122223333:q"
        );
        // A local endpoint names no region: the fallback, or a clear error.
        assert_eq!(
            arn("http://127.0.0.1:4566/000000000000/q", Some("us-east-1")).unwrap(),
            "arn:aws:sqs:us-east-1:000000000000:q"
        );
        let e = queue_arn("http://127.0.0.1:4566/000000000000/q", None).unwrap_err();
        assert!(e.to_string().contains("--region"), "{e}");
        for bad in [
            "sqs.us-east-1.amazonaws.com/111122223333/q",
            "https://sqs.us-east-1.amazonaws.com/q",
            "https://sqs.us-east-1.amazonaws.com/111122223333/q/extra",
            "https://sqs.us-east-1.amazonaws.com/1111/q",
        ] {
            assert!(queue_arn(bad, Some("us-east-1")).is_err(), "{bad}");
        }
        // Secrets in a URL are not repeated in the error.
        let e = queue_arn(
            "https://user:hunter2@sqs.us-east-1.amazonaws.com/q?X-Amz-Signature=s",
            None,
        )
        .unwrap_err();
        assert!(
            !e.to_string().contains("hunter2") && !e.to_string().contains("X-Amz"),
            "{e}"
        );
    }

    #[test]
    fn the_queue_alone_gets_exactly_the_consumer_actions() {
        let p = run_policy(&args(
            QUEUE,
            &["stdout", "file:/tmp/x", "https://example.com/hook"],
            None,
            None,
        ))
        .unwrap();
        assert_eq!(
            p,
            json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "ConsumeQueue",
                    "Effect": "Allow",
                    "Action": [
                        "sqs:ChangeMessageVisibility",
                        "sqs:DeleteMessage",
                        "sqs:ReceiveMessage"
                    ],
                    "Resource": ["arn:aws:sqs:us-west-2:111122223333:cloudcoreo-events-queue"]
                }]
            })
        );
    }

    #[test]
    fn an_encrypted_queue_adds_decrypt_through_sqs_only() {
        let key = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let p = run_policy(&args(QUEUE, &[], Some(key), None)).unwrap();
        assert_eq!(
            p["Statement"][1],
            json!({
                "Sid": "DecryptQueueMessages",
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": [key],
                "Condition": {"StringEquals": {"kms:ViaService": "sqs.us-west-2.amazonaws.com"}}
            })
        );
        let cn = run_policy(&args(
            "https://sqs.cn-north-1.amazonaws.com.cn/111122223333/q",
            &[],
            Some("arn:aws-cn:kms:cn-north-1:111122223333:key/k"),
            None,
        ))
        .unwrap();
        assert_eq!(
            cn["Statement"][1]["Condition"]["StringEquals"]["kms:ViaService"],
            "sqs.cn-north-1.amazonaws.com.cn"
        );
        for bad in [
            "1234abcd",
            "arn:aws:kms:us-west-2:111122223333:alias/events",
            "arn:aws:sqs:us-west-2:111122223333:key/x",
            "arn:aws:kms:us-west-2:111122223333:key/",
        ] {
            let e = run_policy(&args(QUEUE, &[], Some(bad), None)).unwrap_err();
            assert!(matches!(e, PolicyError::KmsKey { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn each_aws_sink_adds_its_one_action_on_its_resources() {
        let p = run_policy(&args(
            QUEUE,
            &[
                "sqs:https://sqs.eu-west-1.amazonaws.com/444455556666/rescans",
                "sqs:https://sqs.eu-west-1.amazonaws.com/444455556666/rescans",
                "sqs:https://sqs.us-east-1.amazonaws.com/444455556666/more.fifo",
                "sns:arn:aws:sns:eu-west-1:444455556666:rescans",
                "eventbridge:default",
                "eventbridge:arn:aws:events:eu-west-1:444455556666:event-bus/rescans",
                "stdout",
            ],
            None,
            None,
        ))
        .unwrap();
        let st = p["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 4);
        assert_eq!(
            st[1],
            json!({"Sid": "SendToSinkQueues", "Effect": "Allow", "Action": ["sqs:SendMessage"],
                   "Resource": ["arn:aws:sqs:eu-west-1:444455556666:rescans",
                                "arn:aws:sqs:us-east-1:444455556666:more.fifo"]})
        );
        assert_eq!(
            st[2],
            json!({"Sid": "PublishToSinkTopics", "Effect": "Allow", "Action": ["sns:Publish"],
                   "Resource": ["arn:aws:sns:eu-west-1:444455556666:rescans"]})
        );
        // A bus by name: the queue's account, the queue's region.
        assert_eq!(
            st[3],
            json!({"Sid": "PutEventsOnSinkBuses", "Effect": "Allow", "Action": ["events:PutEvents"],
                   "Resource": ["arn:aws:events:eu-west-1:444455556666:event-bus/rescans",
                                "arn:aws:events:us-west-2:111122223333:event-bus/default"]})
        );
        // With a region given, a bus by name is in that region.
        let p = run_policy(&args(
            QUEUE,
            &["eventbridge:rescans"],
            None,
            Some("eu-north-1"),
        ))
        .unwrap();
        assert_eq!(
            p["Statement"][1]["Resource"],
            json!(["arn:aws:events:eu-north-1:111122223333:event-bus/rescans"])
        );
    }

    #[test]
    fn confirming_subscriptions_adds_confirm_on_the_allowed_accounts_topics() {
        let mut a = args(QUEUE, &[], None, None);
        a.allow_accounts = vec!["222233334444".into(), "555566667777".into()];
        // Allowed accounts alone only filter events: nothing to confirm.
        assert_eq!(
            run_policy(&a).unwrap()["Statement"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        a.confirm_subscriptions = true;
        let p = run_policy(&a).unwrap();
        assert_eq!(
            p["Statement"][1],
            json!({"Sid": "ConfirmMemberTopicSubscriptions", "Effect": "Allow",
                   "Action": ["sns:ConfirmSubscription"],
                   "Resource": ["arn:aws:sns:*:222233334444:*", "arn:aws:sns:*:555566667777:*"]})
        );
        // Confirming with no allowed account confirms nothing.
        a.allow_accounts.clear();
        assert_eq!(
            run_policy(&a).unwrap()["Statement"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn the_lambda_role_reads_the_queue_writes_its_logs_and_reaches_its_sinks() {
        let lambda = |run: PolicyRunArgs| PolicyLambdaArgs {
            run,
            function_name: "processor-lambda".into(),
            account: None,
            log_group: None,
        };
        let p = lambda_policy(&lambda(args(QUEUE, &["stdout"], None, None))).unwrap();
        assert_eq!(
            p,
            json!({
                "Version": "2012-10-17",
                "Statement": [
                    {"Sid": "ConsumeQueue", "Effect": "Allow",
                     "Action": ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
                     "Resource": ["arn:aws:sqs:us-west-2:111122223333:cloudcoreo-events-queue"]},
                    {"Sid": "WriteLogs", "Effect": "Allow",
                     "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                     "Resource": [
                        "arn:aws:logs:us-west-2:111122223333:log-group:/aws/lambda/processor-lambda",
                        "arn:aws:logs:us-west-2:111122223333:log-group:/aws/lambda/processor-lambda:*"
                     ]}
                ]
            })
        );
        // Sinks, key and confirmations as for `run`; another account and log group.
        let key = "arn:aws:kms:us-west-2:111122223333:key/k";
        let mut run = args(
            QUEUE,
            &["sqs:https://sqs.us-west-2.amazonaws.com/444455556666/rescans"],
            Some(key),
            None,
        );
        run.confirm_subscriptions = true;
        run.allow_accounts = vec!["222233334444".into()];
        let mut a = lambda(run.clone());
        a.account = Some("999988887777".into());
        a.log_group = Some("/processor/events".into());
        let p = lambda_policy(&a).unwrap();
        let sids: Vec<&str> = p["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Sid"].as_str().unwrap())
            .collect();
        assert_eq!(
            sids,
            [
                "ConsumeQueue",
                "DecryptQueueMessages",
                "SendToSinkQueues",
                "ConfirmMemberTopicSubscriptions",
                "WriteLogs"
            ]
        );
        let run_p = run_policy(&run).unwrap();
        for i in 1..4 {
            assert_eq!(p["Statement"][i], run_p["Statement"][i], "same as run: {i}");
        }
        assert_eq!(
            p["Statement"][4]["Resource"],
            json!([
                "arn:aws:logs:us-west-2:999988887777:log-group:/processor/events",
                "arn:aws:logs:us-west-2:999988887777:log-group:/processor/events:*"
            ])
        );
        a.account = Some("9999".into());
        assert_eq!(
            lambda_policy(&a).unwrap_err(),
            PolicyError::Account("9999".into())
        );
    }

    #[test]
    fn render_prints_the_run_policy() {
        let text = render(&PolicyArgs {
            command: PolicyCommand::Run(args(QUEUE, &[], None, None)),
        })
        .unwrap();
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, run_policy(&args(QUEUE, &[], None, None)).unwrap());
        assert!(text.contains('\n'), "pretty-printed");
    }
}
