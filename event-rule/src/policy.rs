//! Policy documents: the queue policy, the topic policy, the scanner role's trust
//! policy, and the minimal IAM policy the tool itself needs for each command. Also the
//! comparison that tells whether a policy read back from AWS matches the desired one.

use std::collections::BTreeSet;

use processor_core::arn::Arn;

use serde_json::{json, Map, Value};

use crate::config::Config;

/// IAM policy language version.
pub const VERSION: &str = "2012-10-17";
/// Sid of the queue policy statement this tool owns; other statements are kept.
pub const QUEUE_SID: &str = "CloudcoreoEventTopics";
/// SQS's limit on a queue policy, in bytes.
pub const MAX_QUEUE_POLICY_BYTES: usize = 8192;
/// The AWS managed policy attached to the scanner role.
pub const SECURITY_AUDIT: &str = "policy/SecurityAudit";

/// Normalises a policy or pattern for comparison: object keys unordered, lists sorted,
/// one-element lists equal to their element, numbers and booleans equal to their text.
pub fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), normalize(v))).collect())
        }
        Value::Array(a) => {
            let mut items: Vec<Value> = a.iter().map(normalize).collect();
            items.sort_by_key(|v| v.to_string());
            items.dedup();
            if items.len() == 1 {
                items.pop().unwrap_or(Value::Null)
            } else {
                Value::Array(items)
            }
        }
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        other => other.clone(),
    }
}

/// Parses a policy as AWS returns it: plain JSON, or URL-encoded JSON (IAM).
pub fn parse(text: &str) -> Option<Value> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    serde_json::from_str(text)
        .ok()
        .or_else(|| serde_json::from_str(&percent_decode(text)).ok())
}

/// Whether the policy text read from AWS means the same as `desired`.
pub fn same(actual: Option<&str>, desired: &Value) -> bool {
    actual
        .and_then(parse)
        .is_some_and(|a| normalize(&a) == normalize(desired))
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `Id` of the topic policy.
pub const TOPIC_POLICY_ID: &str = "cloudcoreo-events-topic-policy";

// The statement builders below take JSON values, not strings: the tool passes the
// ARNs it computed, the CloudFormation templates (`crate::templates`) pass intrinsic
// functions (`{"Fn::Sub": ...}`, `{"Ref": ...}`), so both deploy one definition.

/// The topic policy's statement letting only EventBridge publish, and only for
/// `rule` in `account`.
pub fn publish_statement(topic: Value, rule: Value, account: Value) -> Value {
    json!({
        "Sid": "AllowEventBridgeRulePublish",
        "Effect": "Allow",
        "Principal": { "Service": "events.amazonaws.com" },
        "Action": "sns:Publish",
        "Resource": topic,
        "Condition": {
            "ArnEquals": { "aws:SourceArn": rule },
            "StringEquals": { "aws:SourceAccount": account }
        }
    })
}

/// The topic policy's statements letting the central queue's account (`home_root`)
/// subscribe `queue` (and nothing else) and list the topic's subscriptions, when the
/// queue lives in another account.
pub fn subscribe_statements(topic: Value, home_root: Value, queue: Value) -> [Value; 2] {
    [
        json!({
            "Sid": "AllowCentralQueueSubscribe",
            "Effect": "Allow",
            "Principal": { "AWS": home_root.clone() },
            "Action": "sns:Subscribe",
            "Resource": topic.clone(),
            "Condition": {
                "StringEquals": { "sns:Protocol": "sqs", "sns:Endpoint": queue }
            }
        }),
        json!({
            "Sid": "AllowCentralQueueListSubscriptions",
            "Effect": "Allow",
            "Principal": { "AWS": home_root },
            "Action": "sns:ListSubscriptionsByTopic",
            "Resource": topic
        }),
    ]
}

/// A topic policy document holding `statements`.
pub fn topic_policy_document(statements: Vec<Value>) -> Value {
    json!({ "Version": VERSION, "Id": TOPIC_POLICY_ID, "Statement": statements })
}

/// The topic policy: only EventBridge may publish, and only for our rule in the
/// topic's own account. When the central queue lives in another account, that account
/// may also subscribe its queue (and list the topic's subscriptions), so the
/// subscription is confirmed at once.
pub fn topic_policy(
    topic_arn: &str,
    rule_arn: &str,
    account: &str,
    cross_account_queue: Option<(&str, &str)>,
) -> Value {
    let mut statements = vec![publish_statement(
        json!(topic_arn),
        json!(rule_arn),
        json!(account),
    )];
    if let Some((home_root, queue_arn)) = cross_account_queue {
        statements.extend(subscribe_statements(
            json!(topic_arn),
            json!(home_root),
            json!(queue_arn),
        ));
    }
    topic_policy_document(statements)
}

/// This tool's statement in the central queue's policy: only `sns.amazonaws.com`
/// may send, only from a topic matching `sources` (`ArnLike aws:SourceArn`), and only
/// when the topic's owner passes `owner_condition`: `("aws:SourceAccount", accounts)`
/// for listed topics, `("aws:SourceOrgID", organization)` for every account of an
/// organization.
pub fn queue_statement(queue: Value, sources: Value, owner_condition: (&str, Value)) -> Value {
    let (key, owners) = owner_condition;
    json!({
        "Sid": QUEUE_SID,
        "Effect": "Allow",
        "Principal": { "Service": "sns.amazonaws.com" },
        "Action": "sqs:SendMessage",
        "Resource": queue,
        "Condition": {
            "ArnLike": { "aws:SourceArn": sources },
            "StringEquals": { key: owners }
        }
    })
}

/// The topics named `topic_name` in any region of any account, as an `ArnLike`
/// pattern; the organization condition narrows it to one organization's accounts.
pub fn organization_topics(partition: &str, topic_name: &str) -> String {
    format!("arn:{partition}:sns:*:*:{topic_name}")
}

/// The queue policy admitting the topics matching `topics` of every account of
/// `organization` (`aws:SourceOrgID`); the statements of `existing` other than this
/// tool's are kept.
pub fn queue_policy_for_organization(
    queue_arn: &str,
    existing: Option<&str>,
    topics: &str,
    organization: &str,
) -> Value {
    let mut statements = foreign_statements(existing);
    statements.push(queue_statement(
        json!(queue_arn),
        json!(topics),
        ("aws:SourceOrgID", json!(organization)),
    ));
    queue_policy_document(statements)
}

/// The organization whose accounts' topics this tool's statement in an existing queue
/// policy admits (`aws:SourceOrgID`), if it is the organization-wide statement.
pub fn queue_policy_organization(policy: Option<&str>) -> Option<String> {
    let v = policy.and_then(parse)?;
    let statements = match &v["Statement"] {
        Value::Array(a) => a.clone(),
        s @ Value::Object(_) => vec![s.clone()],
        _ => Vec::new(),
    };
    statements
        .iter()
        .filter(|s| s["Sid"] == QUEUE_SID)
        .filter_map(|s| s["Condition"].as_object())
        .flat_map(|c| c.values())
        .find_map(|op| match &op["aws:SourceOrgID"] {
            Value::String(o) => Some(o.clone()),
            Value::Array(a) => a.first().and_then(Value::as_str).map(String::from),
            _ => None,
        })
}

/// The statements of a queue policy other than this tool's.
fn foreign_statements(existing: Option<&str>) -> Vec<Value> {
    let mut statements: Vec<Value> = match existing.and_then(parse) {
        Some(v) => match &v["Statement"] {
            Value::Array(a) => a.clone(),
            s @ Value::Object(_) => vec![s.clone()],
            _ => Vec::new(),
        },
        None => Vec::new(),
    };
    statements.retain(|s| s["Sid"] != QUEUE_SID);
    statements
}

/// A queue policy document holding `statements`.
pub fn queue_policy_document(statements: Vec<Value>) -> Value {
    json!({ "Version": VERSION, "Statement": statements })
}

/// The ARNs allowed by this tool's statement in an existing queue policy. Only entries
/// naming one account count: the organization-wide pattern (`sns:*:*:TOPIC`, see
/// [`queue_policy_for_organization`]) is no list of topics, and leaving organization
/// mode rebuilds the list from the topics set up.
pub fn queue_policy_sources(policy: Option<&str>) -> BTreeSet<String> {
    let Some(v) = policy.and_then(parse) else {
        return BTreeSet::new();
    };
    let statements = match &v["Statement"] {
        Value::Array(a) => a.clone(),
        s @ Value::Object(_) => vec![s.clone()],
        _ => Vec::new(),
    };
    let mut out = BTreeSet::new();
    let one_account =
        |arn: &str| processor_core::arn::Arn::parse(arn).is_some_and(|a| a.has_concrete_account());
    for s in statements.iter().filter(|s| s["Sid"] == QUEUE_SID) {
        if let Some(cond) = s["Condition"].as_object() {
            for op in cond.values() {
                match &op["aws:SourceArn"] {
                    Value::String(a) if one_account(a) => {
                        out.insert(a.clone());
                    }
                    Value::Array(a) => out.extend(
                        a.iter()
                            .filter_map(Value::as_str)
                            .filter(|a| one_account(a))
                            .map(String::from),
                    ),
                    _ => {}
                }
            }
        }
    }
    out
}

/// Whether an `ArnLike` pattern (with `*` and `?`) matches an ARN.
pub fn arn_like(pattern: &str, arn: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
            Some((b'?', rest)) => !s.is_empty() && go(rest, &s[1..]),
            Some((c, rest)) => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    go(pattern.as_bytes(), arn.as_bytes())
}

/// The queue policy: keeps every statement of `existing` except this tool's, which
/// allows `sns.amazonaws.com` to send only from the listed topic ARNs. Returns `None`
/// when nothing is left (the policy should be removed).
///
/// When the per-topic list would push the policy over SQS's 8 KiB limit, the topics of
/// each account are folded into one `arn:PARTITION:sns:*:ACCOUNT:TOPIC` entry: still
/// only that topic name, only in accounts this tool set up. When even that is too
/// large, the error says so before any call.
pub fn queue_policy(
    queue_arn: &str,
    existing: Option<&str>,
    sources: &BTreeSet<String>,
) -> Result<Option<Value>, crate::error::Error> {
    let mut statements = foreign_statements(existing);
    let ours = |sources: &BTreeSet<String>| {
        // The accounts owning the topics: the same set the ARNs name, stated again as
        // `aws:SourceAccount` so the statement holds even if an ARN entry is folded.
        let accounts: BTreeSet<&str> = sources
            .iter()
            .filter_map(|arn| Arn::parse(arn).map(|a| a.account).filter(|a| !a.is_empty()))
            .collect();
        queue_statement(
            json!(queue_arn),
            json!(sources.iter().collect::<Vec<_>>()),
            (
                "aws:SourceAccount",
                json!(accounts.into_iter().collect::<Vec<_>>()),
            ),
        )
    };
    if !sources.is_empty() {
        statements.push(ours(sources));
    }
    if statements.is_empty() {
        return Ok(None);
    }
    let full = queue_policy_document(statements.clone());
    if full.to_string().len() <= MAX_QUEUE_POLICY_BYTES {
        return Ok(Some(full));
    }
    let folded: BTreeSet<String> = sources
        .iter()
        .map(|arn| match Arn::parse(arn) {
            Some(a) => Arn { region: "*", ..a }.to_string(),
            None => arn.clone(),
        })
        .collect();
    statements.pop();
    statements.push(ours(&folded));
    let folded_doc = queue_policy_document(statements);
    let bytes = folded_doc.to_string().len();
    if bytes > MAX_QUEUE_POLICY_BYTES {
        let accounts: BTreeSet<&str> = folded
            .iter()
            .filter_map(|a| Arn::parse(a).map(|a| a.account))
            .collect();
        return Err(crate::error::Error::QueuePolicyTooLarge {
            accounts: accounts.len(),
            bytes,
            limit: MAX_QUEUE_POLICY_BYTES,
        });
    }
    Ok(Some(folded_doc))
}

/// The scanner role's trust policy: only `principal`, and only with the external id.
/// Values as for [`publish_statement`]: strings or CloudFormation intrinsics.
pub fn scanner_trust(principal: impl Into<Value>, external_id: impl Into<Value>) -> Value {
    json!({
        "Version": VERSION,
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "AWS": principal.into() },
            "Action": "sts:AssumeRole",
            "Condition": { "StringEquals": { "sts:ExternalId": external_id.into() } }
        }]
    })
}

/// A command whose IAM needs `event-rule policy` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ToolCommand {
    /// `event-rule setup`.
    Setup,
    /// `event-rule plan`.
    Plan,
    /// `event-rule status`.
    Status,
    /// `event-rule teardown`.
    Teardown,
}

fn statement(sid: &str, actions: &[&str], resources: Vec<String>) -> Value {
    let mut m = Map::new();
    m.insert("Sid".into(), json!(sid));
    m.insert("Effect".into(), json!("Allow"));
    m.insert("Action".into(), json!(actions));
    m.insert("Resource".into(), json!(resources));
    Value::Object(m)
}

/// The minimal identity policy for running `cmd` with `cfg`, for the caller in the
/// home account. Member accounts reached with `--organization` or `--accounts` need the
/// same statements in the role assumed there, less `sts:AssumeRole` and Organizations.
pub fn tool_policy(cmd: ToolCommand, cfg: &Config) -> Value {
    use ToolCommand::*;
    let p = crate::aws::partition(&cfg.home_region);
    let home = &cfg.home_region;
    let queues = vec![
        format!("arn:{p}:sqs:{home}:*:{}", cfg.queue_name),
        format!("arn:{p}:sqs:{home}:*:{}", cfg.dlq_name()),
    ];
    let topic = vec![format!("arn:{p}:sns:*:*:{}", cfg.topic_name)];
    let rule = vec![format!("arn:{p}:events:*:*:rule/{}", cfg.rule_name)];
    let scanner = vec![format!("arn:{p}:iam::*:role/{}", cfg.scanner_role_name)];
    let all = || vec!["*".to_string()];

    let mut s = vec![statement(
        "Discover",
        &[
            "sts:GetCallerIdentity",
            "ec2:DescribeRegions",
            "cloudtrail:DescribeTrails",
            "cloudtrail:GetTrailStatus",
        ],
        all(),
    )];
    if cfg.organization {
        s.push(statement(
            "ListOrganizationAccounts",
            &[
                "organizations:ListAccounts",
                "organizations:DescribeOrganization",
            ],
            all(),
        ));
    }
    if cfg.organization || !cfg.accounts.is_empty() {
        let mut roles = vec![format!("arn:{p}:iam::*:role/{}", cfg.role_name)];
        roles.extend(
            cfg.account_roles
                .iter()
                .map(|(a, _)| cfg.role_arn_for(a, p)),
        );
        s.push(statement("AssumeMemberRole", &["sts:AssumeRole"], roles));
    }
    let (sqs, sns, events, iam): (&[&str], &[&str], &[&str], &[&str]) = match cmd {
        Setup => (
            &[
                "sqs:GetQueueUrl",
                "sqs:GetQueueAttributes",
                "sqs:ListQueueTags",
                "sqs:CreateQueue",
                "sqs:SetQueueAttributes",
                "sqs:TagQueue",
            ],
            &[
                "sns:GetTopicAttributes",
                "sns:ListTagsForResource",
                "sns:ListSubscriptionsByTopic",
                "sns:CreateTopic",
                "sns:SetTopicAttributes",
                "sns:TagResource",
            ],
            &[
                "events:DescribeRule",
                "events:ListTagsForResource",
                "events:ListTargetsByRule",
                "events:PutRule",
                "events:TagResource",
            ],
            &[
                "iam:GetRole",
                "iam:ListAttachedRolePolicies",
                "iam:ListRolePolicies",
                "iam:CreateRole",
                "iam:UpdateAssumeRolePolicy",
                "iam:TagRole",
                "iam:DetachRolePolicy",
                "iam:DeleteRolePolicy",
            ],
        ),
        Plan | Status => (
            &[
                "sqs:GetQueueUrl",
                "sqs:GetQueueAttributes",
                "sqs:ListQueueTags",
            ],
            &[
                "sns:GetTopicAttributes",
                "sns:ListTagsForResource",
                "sns:ListSubscriptionsByTopic",
            ],
            &[
                "events:DescribeRule",
                "events:ListTagsForResource",
                "events:ListTargetsByRule",
            ],
            &[
                "iam:GetRole",
                "iam:ListAttachedRolePolicies",
                "iam:ListRolePolicies",
            ],
        ),
        Teardown => (
            &[
                "sqs:GetQueueUrl",
                "sqs:GetQueueAttributes",
                "sqs:ListQueueTags",
                "sqs:SetQueueAttributes",
                "sqs:DeleteQueue",
            ],
            &[
                "sns:GetTopicAttributes",
                "sns:ListTagsForResource",
                "sns:ListSubscriptionsByTopic",
                "sns:Unsubscribe",
                "sns:DeleteTopic",
            ],
            &[
                "events:DescribeRule",
                "events:ListTagsForResource",
                "events:ListTargetsByRule",
                "events:RemoveTargets",
                "events:DeleteRule",
            ],
            &[
                "iam:GetRole",
                "iam:ListAttachedRolePolicies",
                "iam:ListRolePolicies",
                "iam:DetachRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:DeleteRole",
            ],
        ),
    };
    s.push(statement("CentralQueue", sqs, queues));
    s.push(statement("RegionalTopic", sns, topic.clone()));
    s.push(statement("RegionalRule", events, rule.clone()));
    // The subscription's filter policy and raw delivery are drift (setup repairs them).
    // SNS authorizes these two actions on no resource type: "*" is the narrowest.
    match cmd {
        Setup => s.push(statement(
            "SubscriptionAttributes",
            &[
                "sns:GetSubscriptionAttributes",
                "sns:SetSubscriptionAttributes",
            ],
            all(),
        )),
        Plan | Status => s.push(statement(
            "SubscriptionAttributes",
            &["sns:GetSubscriptionAttributes"],
            all(),
        )),
        Teardown => {}
    }
    // Setup's actions that could send the stream elsewhere or widen the scanner role
    // are held to what setup does with them: subscribe only the central queue, target
    // only our topic, attach only SecurityAudit.
    if cmd == Setup {
        s.push(with_condition(
            statement("SubscribeCentralQueue", &["sns:Subscribe"], topic),
            json!({
                "StringEquals": { "sns:Protocol": "sqs" },
                "StringLike": { "sns:Endpoint": format!("arn:{p}:sqs:{home}:*:{}", cfg.queue_name) }
            }),
        ));
        s.push(with_condition(
            statement("TargetOurTopic", &["events:PutTargets"], rule),
            json!({ "ArnLike": { "events:TargetArn": format!("arn:{p}:sns:*:*:{}", cfg.topic_name) } }),
        ));
    }
    // Teardown looks for a scanner role an earlier setup made even without the flags.
    if cfg.scanner_enabled() || cmd == Teardown {
        s.push(statement("ScannerRole", iam, scanner.clone()));
        if cmd == Setup {
            s.push(with_condition(
                statement("AttachSecurityAuditOnly", &["iam:AttachRolePolicy"], scanner),
                json!({ "ArnEquals": { "iam:PolicyARN": format!("arn:{p}:iam::aws:{SECURITY_AUDIT}") } }),
            ));
        }
    }
    json!({ "Version": VERSION, "Statement": s })
}

fn with_condition(mut statement: Value, condition: Value) -> Value {
    statement["Condition"] = condition;
    statement
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPIC: &str = "arn:aws:sns:eu-west-1:222222222222:cloudcoreo-events";
    const RULE: &str = "arn:aws:events:eu-west-1:222222222222:rule/cloudcoreo-events";
    const QUEUE: &str = "arn:aws:sqs:us-west-2:111111111111:cloudcoreo-events-queue";

    #[test]
    fn topic_policy_lets_only_our_rule_publish() {
        let p = topic_policy(TOPIC, RULE, "222222222222", None);
        let st = p["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 1);
        assert_eq!(
            st[0]["Principal"],
            json!({"Service": "events.amazonaws.com"})
        );
        assert_eq!(st[0]["Action"], "sns:Publish");
        assert_eq!(st[0]["Resource"], TOPIC);
        assert_eq!(st[0]["Condition"]["ArnEquals"]["aws:SourceArn"], RULE);
        assert_eq!(
            st[0]["Condition"]["StringEquals"]["aws:SourceAccount"],
            "222222222222"
        );
        assert!(!p.to_string().contains("\"*\""), "no wildcard principal");
    }

    #[test]
    fn topic_policy_cross_account_subscription() {
        let p = topic_policy(
            TOPIC,
            RULE,
            "222222222222",
            Some(("arn:aws:iam::111111111111:root", QUEUE)),
        );
        let st = p["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 3);
        assert_eq!(st[1]["Action"], "sns:Subscribe");
        assert_eq!(st[1]["Condition"]["StringEquals"]["sns:Endpoint"], QUEUE);
        assert_eq!(st[1]["Condition"]["StringEquals"]["sns:Protocol"], "sqs");
        assert!(st
            .iter()
            .all(|s| s["Action"] != "sns:Publish"
                || s["Principal"]["Service"] == "events.amazonaws.com"));
    }

    #[test]
    fn comparison_is_semantic() {
        let desired = topic_policy(TOPIC, RULE, "222222222222", None);
        // AWS may return a one-element Action as a list and reorder keys.
        let returned = format!(
            r#"{{"Statement":[{{"Condition":{{"StringEquals":{{"aws:SourceAccount":"222222222222"}},"ArnEquals":{{"aws:SourceArn":["{RULE}"]}}}},"Resource":"{TOPIC}","Action":["sns:Publish"],"Principal":{{"Service":"events.amazonaws.com"}},"Effect":"Allow","Sid":"AllowEventBridgeRulePublish"}}],"Id":"cloudcoreo-events-topic-policy","Version":"2012-10-17"}}"#
        );
        assert!(same(Some(&returned), &desired));
        let other = returned.replace("222222222222\"}", "333333333333\"}");
        assert!(!same(Some(&other), &desired));
        assert!(!same(None, &desired));
        assert!(!same(Some("not json"), &desired));
        // IAM returns documents URL-encoded.
        let trust = scanner_trust("arn:aws:iam::999999999999:root", "ext-1");
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22AWS%22%3A%22arn%3Aaws%3Aiam%3A%3A999999999999%3Aroot%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%2C%22Condition%22%3A%7B%22StringEquals%22%3A%7B%22sts%3AExternalId%22%3A%22ext-1%22%7D%7D%7D%5D%7D";
        assert!(same(Some(encoded), &trust));
    }

    #[test]
    fn queue_policy_allows_only_listed_topics_and_keeps_foreign_statements() {
        let existing = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Other","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sqs:ReceiveMessage","Resource":"x"}]}"#;
        let sources: BTreeSet<String> =
            [TOPIC.to_string(), TOPIC.replace("eu-west-1", "us-east-1")].into();
        let p = queue_policy(QUEUE, Some(existing), &sources)
            .unwrap()
            .unwrap();
        let st = p["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 2);
        assert_eq!(st[0]["Sid"], "Other");
        assert_eq!(st[1]["Principal"], json!({"Service": "sns.amazonaws.com"}));
        assert_eq!(st[1]["Action"], "sqs:SendMessage");
        assert_eq!(st[1]["Resource"], QUEUE);
        assert_eq!(
            st[1]["Condition"]["StringEquals"]["aws:SourceAccount"],
            json!(["222222222222"])
        );
        assert_eq!(queue_policy_sources(Some(&p.to_string())), sources);
        // Nothing left: remove the policy.
        assert!(queue_policy(QUEUE, Some(&p.to_string()), &BTreeSet::new())
            .unwrap()
            .is_some());
        assert!(queue_policy(QUEUE, None, &BTreeSet::new())
            .unwrap()
            .is_none());
    }

    #[test]
    fn queue_policy_folds_when_too_large() {
        let mut sources = BTreeSet::new();
        for a in 0..40 {
            for r in [
                "us-east-1",
                "us-east-2",
                "us-west-1",
                "us-west-2",
                "eu-west-1",
            ] {
                sources.insert(format!(
                    "arn:aws:sns:{r}:{:012}:cloudcoreo-events",
                    100000000000u64 + a
                ));
            }
        }
        let p = queue_policy(QUEUE, None, &sources).unwrap().unwrap();
        assert!(p.to_string().len() <= MAX_QUEUE_POLICY_BYTES);
        let kept = queue_policy_sources(Some(&p.to_string()));
        assert_eq!(kept.len(), 40);
        let accounts = p["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(accounts, 40);
        assert!(sources.iter().all(|s| kept.iter().any(|k| arn_like(k, s))));
        assert!(!kept
            .iter()
            .any(|k| arn_like(k, "arn:aws:sns:us-east-1:999999999999:cloudcoreo-events")));
    }

    #[test]
    fn queue_policy_too_large_even_folded_is_a_clear_error() {
        let sources: BTreeSet<String> = (0..400u64)
            .map(|a| {
                format!(
                    "arn:aws:sns:us-east-1:{:012}:cloudcoreo-events",
                    100000000000 + a
                )
            })
            .collect();
        let err = queue_policy(QUEUE, None, &sources).unwrap_err();
        assert!(
            matches!(
                err,
                crate::error::Error::QueuePolicyTooLarge { accounts: 400, .. }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("400 accounts"), "{err}");
    }

    #[test]
    fn arn_like_globs() {
        assert!(arn_like("arn:aws:sns:*:1:t", "arn:aws:sns:eu-west-1:1:t"));
        assert!(!arn_like("arn:aws:sns:*:1:t", "arn:aws:sns:eu-west-1:2:t"));
        assert!(arn_like("a?c", "abc"));
        assert!(arn_like(TOPIC, TOPIC));
    }

    #[test]
    fn tool_policies_are_least_privilege() {
        let cfg = Config::default();
        let plan = tool_policy(ToolCommand::Plan, &cfg).to_string();
        for write in ["Create", "Put", "Set", "Delete", "Subscribe", "Tag"] {
            assert!(
                !plan.contains(&format!(":{write}")),
                "plan must not write: {write}"
            );
        }
        let setup = tool_policy(ToolCommand::Setup, &cfg);
        let text = setup.to_string();
        assert!(
            text.contains("events:PutRule")
                && text.contains("arn:aws:events:*:*:rule/cloudcoreo-events")
        );
        assert!(
            !text.contains("sts:AssumeRole\""),
            "no AssumeRole for the current account alone"
        );
        assert!(!text.contains("iam:"), "no IAM without a scanner role");
        assert!(!text.contains("Delete"));
        let teardown = tool_policy(ToolCommand::Teardown, &cfg).to_string();
        assert!(teardown.contains("events:DeleteRule") && !teardown.contains("sns:CreateTopic"));
        // The actions that could send the stream elsewhere carry conditions.
        let conditioned = |doc: &Value, action: &str| -> Value {
            let st = doc["Statement"].as_array().unwrap();
            let with: Vec<&Value> = st
                .iter()
                .filter(|s| s["Action"].as_array().unwrap().iter().any(|a| a == action))
                .collect();
            assert_eq!(with.len(), 1, "{action} in one statement");
            with[0]["Condition"].clone()
        };
        assert_eq!(
            conditioned(&setup, "sns:Subscribe"),
            json!({"StringEquals": {"sns:Protocol": "sqs"},
                   "StringLike": {"sns:Endpoint": "arn:aws:sqs:us-west-2:*:cloudcoreo-events-queue"}})
        );
        assert_eq!(
            conditioned(&setup, "events:PutTargets"),
            json!({"ArnLike": {"events:TargetArn": "arn:aws:sns:*:*:cloudcoreo-events"}})
        );
        let scanning = Config {
            scanner_principal: Some("arn:aws:iam::999999999999:root".into()),
            scanner_external_id: Some("x".into()),
            ..Config::default()
        };
        let with_scanner = tool_policy(ToolCommand::Setup, &scanning);
        assert_eq!(
            conditioned(&with_scanner, "iam:AttachRolePolicy"),
            json!({"ArnEquals": {"iam:PolicyARN": "arn:aws:iam::aws:policy/SecurityAudit"}})
        );
        // Teardown may remove a scanner role made earlier, without the scanner flags.
        assert!(
            teardown.contains("iam:DeleteRole")
                && teardown.contains("arn:aws:iam::*:role/cloudcoreo-scanner")
                && !teardown.contains("iam:CreateRole")
        );
        let org = Config {
            organization: true,
            ..Config::default()
        };
        let text = tool_policy(ToolCommand::Setup, &org).to_string();
        assert!(text.contains("organizations:ListAccounts"));
        assert!(text.contains("arn:aws:iam::*:role/OrganizationAccountAccessRole"));
    }
}
