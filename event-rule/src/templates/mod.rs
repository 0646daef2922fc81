//! CloudFormation templates for the same event stream `event-rule setup` builds, for
//! teams that deploy CloudFormation (one account) or StackSets (an organization)
//! instead of running the tool with rights in every account.
//!
//! The templates are generated (`event-rule templates --out infra`), committed under
//! `infra/`, and a test fails when the committed files differ from what this module
//! renders. The parts that must match what the tool creates come from the tool's own
//! builders, given CloudFormation expressions instead of strings:
//! - the rule's event pattern: [`pattern::document`], with the seed list from
//!   [`pattern::event_sources`];
//! - the topic policy: [`policy::publish_statement`], [`policy::subscribe_statements`],
//!   [`policy::topic_policy_document`];
//! - the queue policy: [`policy::queue_statement`], [`policy::queue_policy_document`];
//! - the scanner role's trust: [`policy::scanner_trust`];
//! - names, tags, the rule's description and target id, the dead-letter queue's
//!   retention and the redrive policy's shape: the tool's constants.
//!
//! | template | deploys |
//! |---|---|
//! | `central-queue` | the queue, its dead-letter queue, the queue policy, alarms, the subscriber role |
//! | `event-stream-region` | one region of one account: topic, topic policy, rule, target, subscription |
//! | `event-stream-stackset` | `event-stream-region` (and optionally `scanner-role`) to an organization |
//! | `scanner-role` | the read-only scanner role |
//! | `processor-lambda` | the processor as a Lambda function reading the queue |
//! | `processor-service` | the processor as an ECS Fargate service scaling on the queue |

use std::fmt::Write as _;
use std::path::Path;

use processor_core::queue_access::{LAMBDA_QUEUE_ACTIONS, RUN_QUEUE_ACTIONS};
use processor_core::services::{ServiceSet, EVENT_SOURCE_SUFFIX};
use serde_json::{json, Map, Value};

use crate::config::{
    DEFAULT_HOME_REGION, DEFAULT_LAMBDA_TIMEOUT_SECS, DEFAULT_MAX_RECEIVE_COUNT,
    DEFAULT_MESSAGE_RETENTION_SECS, DEFAULT_QUEUE_NAME, DEFAULT_RECEIVE_WAIT_SECS,
    DEFAULT_RULE_NAME, DEFAULT_SCANNER_ROLE, DEFAULT_TAG_KEY, DEFAULT_TAG_VALUE,
    DEFAULT_TOPIC_NAME, DEFAULT_VISIBILITY_TIMEOUT_SECS, LAMBDA_TIMEOUT_RANGE,
    LAMBDA_VISIBILITY_FACTOR, MAX_RECEIVE_COUNT_RANGE, MESSAGE_RETENTION_RANGE, RECEIVE_WAIT_RANGE,
    VISIBILITY_TIMEOUT_RANGE,
};
use crate::plan::DLQ_RETENTION_SECONDS;
use crate::{pattern, policy, region, scanner};

/// Default name of the role in the queue's account that subscribes the queue to topics
/// of other accounts (`central-queue` makes it, `event-stream-region` assumes it).
pub const DEFAULT_SUBSCRIBER_ROLE: &str = "cloudcoreo-events-subscriber";

/// The custom resource function of `event-stream-region` (cross-account only).
pub const SUBSCRIBER_FUNCTION: &str = include_str!("subscriber.py");

/// The templates, by file stem (`infra/NAME.json`).
pub fn all() -> Vec<(&'static str, Value)> {
    vec![
        ("central-queue", central_queue()),
        ("event-stream-region", event_stream_region()),
        ("event-stream-stackset", event_stream_stackset()),
        ("scanner-role", scanner_role()),
        ("processor-lambda", processor_lambda()),
        ("processor-service", processor_service()),
    ]
}

/// Every file `event-rule templates` writes: the templates (`NAME.json`) and their
/// reference (`reference.md`), with their contents.
pub fn files() -> Vec<(String, String)> {
    let templates = all();
    let mut out: Vec<(String, String)> = templates
        .iter()
        .map(|(name, t)| (format!("{name}.json"), render(t)))
        .collect();
    out.push(("reference.md".into(), reference(&templates)));
    out
}

/// Writes every file of [`files`] to `dir`; returns their paths.
pub fn write_all(dir: &Path) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (name, text) in files() {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        written.push(path.display().to_string());
    }
    Ok(written)
}

/// The files in `dir` that differ from what [`files`] renders (or are missing).
pub fn stale(dir: &Path) -> Vec<String> {
    files()
        .into_iter()
        .filter_map(|(name, text)| {
            let path = dir.join(name);
            let current = std::fs::read_to_string(&path).ok();
            (current.as_deref() != Some(text.as_str())).then(|| path.display().to_string())
        })
        .collect()
}

/// The parameters, resources and outputs of every template, as Markdown tables.
fn reference(templates: &[(&str, Value)]) -> String {
    fn cell(s: &str) -> String {
        s.replace('|', "\\|").replace('\n', " ")
    }
    fn code(v: &Value) -> String {
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if text.is_empty() {
            "(empty)".into()
        } else {
            format!("`{}`", cell(&text))
        }
    }
    let mut out = String::from(
        "# infra/: parameters, resources and outputs\n\n\
         Generated by `event-rule templates` from the templates beside it; do not edit. \
         What each template is for, how to deploy it and the permissions it needs: \
         [README.md](README.md).\n",
    );
    for (name, t) in templates {
        let _ = write!(
            out,
            "\n## `{name}.json`\n\n{}\n",
            t["Description"].as_str().unwrap_or_default()
        );
        out.push_str(
            "\n| parameter | type | default | allowed | description |\n|---|---|---|---|---|\n",
        );
        let empty = Map::new();
        for (p, d) in t["Parameters"].as_object().unwrap_or(&empty) {
            let allowed = if let Some(v) = d.get("AllowedValues") {
                v.as_array()
                    .map(|a| a.iter().map(code).collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            } else if let Some(p) = d.get("AllowedPattern") {
                code(p)
            } else if let (Some(min), Some(max)) = (d.get("MinValue"), d.get("MaxValue")) {
                format!("{min} to {max}")
            } else {
                String::new()
            };
            let default = d
                .get("Default")
                .map(code)
                .unwrap_or_else(|| "required".into());
            let _ = writeln!(
                out,
                "| `{p}` | {} | {default} | {allowed} | {} |",
                d["Type"].as_str().unwrap_or_default(),
                cell(d["Description"].as_str().unwrap_or_default())
            );
        }
        out.push_str("\n| resource | type | created when |\n|---|---|---|\n");
        for (r, d) in t["Resources"].as_object().unwrap_or(&empty) {
            let when = d["Condition"]
                .as_str()
                .map(|c| format!("`{c}`"))
                .unwrap_or_else(|| "always".into());
            let _ = writeln!(
                out,
                "| `{r}` | `{}` | {when} |",
                d["Type"].as_str().unwrap_or_default()
            );
        }
        if let Some(conditions) = t["Conditions"].as_object() {
            let names: Vec<String> = conditions.keys().map(|c| format!("`{c}`")).collect();
            let _ = writeln!(out, "\nConditions: {}.", names.join(", "));
        }
        out.push_str("\n| output | description |\n|---|---|\n");
        for (o, d) in t["Outputs"].as_object().unwrap_or(&empty) {
            let _ = writeln!(
                out,
                "| `{o}` | {} |",
                cell(d["Description"].as_str().unwrap_or_default())
            );
        }
    }
    out
}

// ------------------------------------------------------------------ rendering

/// Where a key goes among its siblings: CloudFormation's and IAM's usual order first,
/// then alphabetical. Independent of serde_json's map order, so the output is the same
/// whatever features the build enables.
fn key_rank(k: &str) -> usize {
    const ORDER: &[&str] = &[
        "AWSTemplateFormatVersion",
        "Description",
        "Metadata",
        "Parameters",
        "Rules",
        "Conditions",
        "Resources",
        "Outputs",
        "Type",
        "Version",
        "Id",
        "Sid",
        "Effect",
        "Principal",
        "Action",
        "Resource",
        "Condition",
        "DependsOn",
        "DeletionPolicy",
        "UpdateReplacePolicy",
        "Properties",
        "Default",
        "AllowedValues",
        "AllowedPattern",
        "MinValue",
        "MaxValue",
    ];
    ORDER.iter().position(|o| *o == k).unwrap_or(ORDER.len())
}

/// Writes `v` on one line, keys in [`key_rank`] order.
fn write_inline(out: &mut String, v: &Value) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| key_rank(a).cmp(&key_rank(b)).then(a.cmp(b)));
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{}: ", Value::from(k.as_str()));
                write_inline(out, &m[k.as_str()]);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_inline(out, x);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Writes `v` indented; lists and objects short enough stay on one line.
fn write_value(out: &mut String, v: &Value, indent: usize) {
    const WIDTH: usize = 100;
    let pad = |n: usize| "  ".repeat(n);
    let mut inline = String::new();
    write_inline(&mut inline, v);
    let column = out.len() - out.rfind('\n').map_or(0, |i| i + 1);
    if column + inline.len() <= WIDTH || !(v.is_object() || v.is_array()) {
        out.push_str(&inline);
        return;
    }
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| key_rank(a).cmp(&key_rank(b)).then(a.cmp(b)));
            out.push_str("{\n");
            for (i, k) in keys.iter().enumerate() {
                let _ = write!(out, "{}{}: ", pad(indent + 1), Value::from(k.as_str()));
                write_value(out, &m[k.as_str()], indent + 1);
                out.push_str(if i + 1 < keys.len() { ",\n" } else { "\n" });
            }
            let _ = write!(out, "{}}}", pad(indent));
        }
        Value::Array(a) => {
            out.push_str("[\n");
            for (i, x) in a.iter().enumerate() {
                out.push_str(&pad(indent + 1));
                write_value(out, x, indent + 1);
                out.push_str(if i + 1 < a.len() { ",\n" } else { "\n" });
            }
            let _ = write!(out, "{}]", pad(indent));
        }
        _ => unreachable!("scalars are written inline"),
    }
}

/// A template as committed: pretty JSON, keys in CloudFormation's usual order.
pub fn render(template: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, template, 0);
    out.push('\n');
    out
}

/// A template on one line (the StackSet embeds the regional template this way).
fn compact(template: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort_by(|a, b| key_rank(a).cmp(&key_rank(b)).then(a.cmp(b)));
                let mut out = Map::new();
                for k in keys {
                    out.insert(k.clone(), sorted(&m[k]));
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    // Key order only matters for reading; `render` fixes it for the committed files.
    sorted(template).to_string()
}

// ------------------------------------------------------------------ building blocks

fn r(name: &str) -> Value {
    json!({ "Ref": name })
}

fn sub(s: &str) -> Value {
    json!({ "Fn::Sub": s })
}

fn att(resource: &str, attribute: &str) -> Value {
    json!({ "Fn::GetAtt": [resource, attribute] })
}

fn iff(condition: &str, then: Value, otherwise: Value) -> Value {
    json!({ "Fn::If": [condition, then, otherwise] })
}

fn no_value() -> Value {
    r("AWS::NoValue")
}

fn equals(a: Value, b: Value) -> Value {
    json!({ "Fn::Equals": [a, b] })
}

fn not(condition: Value) -> Value {
    json!({ "Fn::Not": [condition] })
}

/// A condition true when a string parameter is not empty.
fn set(param: &str) -> Value {
    not(equals(r(param), json!("")))
}

/// A comma-separated string parameter as a list. Lists are passed as strings, not
/// `CommaDelimitedList`s: LocalStack's engine mistakes a stored list parameter for a
/// string when it re-evaluates conditions on stack deletion.
fn split(param: &str) -> Value {
    json!({ "Fn::Split": [",", r(param)] })
}

fn tags() -> Value {
    json!([{ "Key": r("TagKey"), "Value": r("TagValue") }])
}

fn string_param(description: &str, default: Option<&str>) -> Value {
    let mut p = json!({ "Type": "String", "Description": description });
    if let Some(d) = default {
        p["Default"] = json!(d);
    }
    p
}

fn with(mut v: Value, key: &str, x: Value) -> Value {
    v[key] = x;
    v
}

fn number_param(description: &str, default: u32, min: u32, max: u32) -> Value {
    json!({
        "Type": "Number",
        "Description": description,
        "Default": default,
        "MinValue": min,
        "MaxValue": max
    })
}

fn list_param(description: &str) -> Value {
    json!({ "Type": "String", "Description": description, "Default": "" })
}

const SIMPLE_NAME: &str = "^[A-Za-z0-9_-]{1,80}$";
const RULE_NAME: &str = "^[A-Za-z0-9._-]{1,64}$";
const ROLE_NAME: &str = "^[A-Za-z0-9+=,.@_-]{1,64}$";
const ACCOUNT_ID: &str = "^[0-9]{12}$";
const REGION: &str = "^[a-z]{2}(-[a-z]+)+-[0-9]+$";

fn name_param(description: &str, default: &str, pattern: &str) -> Value {
    with(
        string_param(description, Some(default)),
        "AllowedPattern",
        json!(pattern),
    )
}

/// The central queue's name, a parameter of the queue's template and of the regional
/// ones that subscribe to it.
fn queue_name_param() -> Value {
    name_param(
        "Name of the central queue.",
        DEFAULT_QUEUE_NAME,
        SIMPLE_NAME,
    )
}

fn tag_params(p: &mut Map<String, Value>) {
    p.insert(
        "TagKey".into(),
        string_param(
            "Tag key put on everything created; `event-rule status` and `teardown` act only on resources carrying it.",
            Some(DEFAULT_TAG_KEY),
        ),
    );
    p.insert(
        "TagValue".into(),
        string_param(
            "Tag value put on everything created.",
            Some(DEFAULT_TAG_VALUE),
        ),
    );
}

fn template(
    description: &str,
    parameters: Map<String, Value>,
    conditions: Value,
    resources: Value,
    outputs: Value,
) -> Value {
    let mut t = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": format!("{description} Generated by `event-rule templates`; do not edit."),
        "Parameters": parameters,
        "Resources": resources,
        "Outputs": outputs
    });
    if conditions.as_object().is_some_and(|c| !c.is_empty()) {
        t["Conditions"] = conditions;
    }
    t
}

fn output(description: &str, value: Value) -> Value {
    json!({ "Description": description, "Value": value })
}

fn role_trust(service: &str) -> Value {
    json!({
        "Version": policy::VERSION,
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": service },
            "Action": "sts:AssumeRole"
        }]
    })
}

fn allow(sid: &str, actions: Value, resource: Value) -> Value {
    json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resource })
}

/// The ARN of the central queue, from the parameters naming it.
const QUEUE_ARN: &str = "arn:${AWS::Partition}:sqs:${QueueRegion}:${QueueAccountId}:${QueueName}";
/// The rule's ARN (what `crate::aws::rule_arn` computes).
const RULE_ARN: &str =
    "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/${RuleName}";

/// The rule's event pattern for the `Services` parameter: `all` (no filter), `seed`
/// (the classic list, rendered here from the same list the tool uses), or a
/// comma-separated list of short names turned into `eventSource`s.
fn event_pattern() -> Value {
    let seed = pattern::event_sources(&ServiceSet::Seed)
        .ok()
        .flatten()
        .unwrap_or_default();
    // "ec2,s3" -> "ec2.amazonaws.com,s3.amazonaws.com" -> a list.
    let listed = json!({
        "Fn::Split": [",", {
            "Fn::Sub": [
                format!("${{Names}}{EVENT_SOURCE_SUFFIX}"),
                { "Names": { "Fn::Join": [format!("{EVENT_SOURCE_SUFFIX},"), { "Fn::Split": [",", r("Services")] }] } }
            ]
        }]
    });
    iff(
        "AllServices",
        pattern::document(None),
        iff(
            "SeedServices",
            pattern::document(Some(json!(seed))),
            pattern::document(Some(listed)),
        ),
    )
}

/// A KMS key usable by the account's IAM policies and, through `via_service` in this
/// region only, by `service`.
fn kms_key(description: &str, service: &str, via_service: &str) -> Value {
    json!({
        "Type": "AWS::KMS::Key",
        "Condition": "CreateKey",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "Description": description,
            "EnableKeyRotation": true,
            "KeyPolicy": {
                "Version": policy::VERSION,
                "Statement": [
                    {
                        "Sid": "AccountAdministersKeyThroughIam",
                        "Effect": "Allow",
                        "Principal": { "AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root") },
                        "Action": "kms:*",
                        "Resource": "*"
                    },
                    {
                        "Sid": format!("Allow{}", service.split('.').next().unwrap_or(service).to_uppercase()),
                        "Effect": "Allow",
                        "Principal": { "Service": service },
                        "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                        "Resource": "*",
                        "Condition": {
                            "StringEquals": {
                                "kms:ViaService": sub(&format!("{via_service}.${{AWS::Region}}.${{AWS::URLSuffix}}"))
                            }
                        }
                    }
                ]
            },
            "Tags": tags()
        }
    })
}

// ------------------------------------------------------------------ central-queue

/// The central queue and its dead-letter queue, the queue policy admitting the
/// organization's topics, alarms, and the role that subscribes the queue to topics of
/// other accounts.
pub fn central_queue() -> Value {
    let mut p = Map::new();
    p.insert("QueueName".into(), queue_name_param());
    p.insert(
        "DeadLetterQueueName".into(),
        with(
            string_param(
                "Name of the dead-letter queue; empty: the queue's name followed by `-dlq`.",
                Some(""),
            ),
            "AllowedPattern",
            json!("^[A-Za-z0-9_-]{0,80}$"),
        ),
    );
    // Defaults and ranges are the CLI's (`event-rule setup --max-receive-count ...`).
    let ranged = |description: &str, default: u32, (min, max): (u32, u32)| {
        number_param(description, default, min, max)
    };
    p.insert(
        "MaxReceiveCount".into(),
        ranged(
            "Receives before a message moves to the dead-letter queue.",
            DEFAULT_MAX_RECEIVE_COUNT,
            MAX_RECEIVE_COUNT_RANGE,
        ),
    );
    p.insert(
        "VisibilityTimeout".into(),
        ranged(
            &format!("Seconds a received message stays hidden. `processor run` asks for its own on each receive; a Lambda consumer uses this one: make it at least {LAMBDA_VISIBILITY_FACTOR} times the function's timeout."),
            DEFAULT_VISIBILITY_TIMEOUT_SECS,
            VISIBILITY_TIMEOUT_RANGE,
        ),
    );
    p.insert(
        "ReceiveMessageWaitTimeSeconds".into(),
        ranged(
            "Long-poll wait, in seconds, of receives that set none.",
            DEFAULT_RECEIVE_WAIT_SECS,
            RECEIVE_WAIT_RANGE,
        ),
    );
    p.insert(
        "MessageRetentionPeriod".into(),
        ranged(
            "Seconds the queue keeps a message (the dead-letter queue keeps them 14 days).",
            DEFAULT_MESSAGE_RETENTION_SECS,
            MESSAGE_RETENTION_RANGE,
        ),
    );
    p.insert(
        "QueueKmsKey".into(),
        string_param(
            "Encryption of both queues: empty for SQS-managed SSE; `create` for a new KMS key that SNS may use through SQS; or an existing key's id, alias or ARN (its policy must let sns.amazonaws.com use it).",
            Some(""),
        ),
    );
    p.insert(
        "OrganizationId".into(),
        with(
            string_param(
                "Admit the topics named TopicName of every account of this organization (aws:SourceOrgID), for StackSet deployments. Empty: admit only TopicArns.",
                Some(""),
            ),
            "AllowedPattern",
            json!("^(o-[a-z0-9]{10,32})?$"),
        ),
    );
    p.insert(
        "TopicArns".into(),
        list_param(
            "Without OrganizationId: the regional topics admitted (their ARNs, comma-separated).",
        ),
    );
    p.insert(
        "TopicAccountIds".into(),
        list_param("Without OrganizationId: the accounts owning TopicArns (aws:SourceAccount), comma-separated."),
    );
    p.insert(
        "TopicName".into(),
        name_param(
            "Name of the regional topics.",
            DEFAULT_TOPIC_NAME,
            SIMPLE_NAME,
        ),
    );
    p.insert(
        "SubscriberRoleName".into(),
        name_param(
            "Role the regional stacks of other accounts assume to subscribe this queue to their topic (as the queue's owner, so no confirmation is needed).",
            DEFAULT_SUBSCRIBER_ROLE,
            "^[A-Za-z0-9+=,.@_-]{1,48}$",
        ),
    );
    p.insert(
        "OldestMessageAgeThreshold".into(),
        number_param(
            "Alarm when the oldest message has waited this many seconds.",
            900,
            60,
            1_209_600,
        ),
    );
    p.insert(
        "AlarmTopicArn".into(),
        string_param(
            "SNS topic notified by the alarms; empty: no notification.",
            Some(""),
        ),
    );
    tag_params(&mut p);

    let conditions = json!({
        "CreateKey": equals(r("QueueKmsKey"), json!("create")),
        "CustomerKey": set("QueueKmsKey"),
        "DefaultDeadLetterQueueName": equals(r("DeadLetterQueueName"), json!("")),
        "OrganizationWide": set("OrganizationId"),
        "ListedTopics": set("TopicArns"),
        "AdmitsTopics": { "Fn::Or": [{ "Condition": "OrganizationWide" }, { "Condition": "ListedTopics" }] },
        "HasAlarmTopic": set("AlarmTopicArn")
    });

    let key = iff("CreateKey", att("QueueKey", "Arn"), r("QueueKmsKey"));
    let sse = |mut props: Value| {
        props["KmsMasterKeyId"] = iff("CustomerKey", key.clone(), no_value());
        props["SqsManagedSseEnabled"] = iff("CustomerKey", no_value(), json!(true));
        props
    };
    let queue_arn = att("Queue", "Arn");
    let topics = sub(&policy::organization_topics(
        "${AWS::Partition}",
        "${TopicName}",
    ));
    let statement = iff(
        "OrganizationWide",
        policy::queue_statement(
            queue_arn.clone(),
            topics.clone(),
            ("aws:SourceOrgID", r("OrganizationId")),
        ),
        policy::queue_statement(
            queue_arn.clone(),
            split("TopicArns"),
            ("aws:SourceAccount", split("TopicAccountIds")),
        ),
    );
    let alarm_actions = iff("HasAlarmTopic", json!([r("AlarmTopicArn")]), no_value());

    let resources = json!({
        "QueueKey": kms_key("Encrypts the cloudcoreo-events queues", "sns.amazonaws.com", "sqs"),
        "DeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            // Deleting the stack deletes the queues, as `event-rule teardown
            // --include-queue` does.
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": sse(json!({
                "QueueName": iff("DefaultDeadLetterQueueName", sub("${QueueName}-dlq"), r("DeadLetterQueueName")),
                "MessageRetentionPeriod": DLQ_RETENTION_SECONDS,
                "Tags": tags()
            }))
        },
        "Queue": {
            "Type": "AWS::SQS::Queue",
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": sse(json!({
                "QueueName": r("QueueName"),
                "VisibilityTimeout": r("VisibilityTimeout"),
                "ReceiveMessageWaitTimeSeconds": r("ReceiveMessageWaitTimeSeconds"),
                "MessageRetentionPeriod": r("MessageRetentionPeriod"),
                "RedrivePolicy": {
                    "deadLetterTargetArn": att("DeadLetterQueue", "Arn"),
                    "maxReceiveCount": r("MaxReceiveCount")
                },
                "Tags": tags()
            }))
        },
        "QueuePolicy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Condition": "AdmitsTopics",
            "Properties": {
                "Queues": [r("Queue")],
                "PolicyDocument": policy::queue_policy_document(vec![statement])
            }
        },
        "SubscriberRole": {
            "Type": "AWS::IAM::Role",
            "Condition": "AdmitsTopics",
            "Properties": {
                "RoleName": r("SubscriberRoleName"),
                "Description": "Subscribes the cloudcoreo-events queue to the regional topics of other accounts, as the queue's owner",
                "AssumeRolePolicyDocument": {
                    "Version": policy::VERSION,
                    "Statement": [iff(
                        "OrganizationWide",
                        json!({
                            "Effect": "Allow",
                            "Principal": { "AWS": "*" },
                            "Action": "sts:AssumeRole",
                            "Condition": {
                                "StringEquals": { "aws:PrincipalOrgID": r("OrganizationId") },
                                "ArnLike": { "aws:PrincipalArn": sub("arn:${AWS::Partition}:iam::*:role/${SubscriberRoleName}-*") }
                            }
                        }),
                        json!({
                            "Effect": "Allow",
                            "Principal": { "AWS": split("TopicAccountIds") },
                            "Action": "sts:AssumeRole",
                            "Condition": {
                                "ArnLike": { "aws:PrincipalArn": sub("arn:${AWS::Partition}:iam::*:role/${SubscriberRoleName}-*") }
                            }
                        })
                    )]
                },
                "Policies": [{
                    "PolicyName": "subscribe-central-queue",
                    "PolicyDocument": {
                        "Version": policy::VERSION,
                        "Statement": [
                            {
                                "Sid": "SubscribeOnlyTheCentralQueue",
                                "Effect": "Allow",
                                "Action": "sns:Subscribe",
                                "Resource": topics,
                                "Condition": {
                                    "StringEquals": { "sns:Protocol": "sqs", "sns:Endpoint": queue_arn }
                                }
                            },
                            // sns:Unsubscribe takes no resource-level permissions.
                            allow("RemoveItsSubscriptions", json!("sns:Unsubscribe"), json!("*"))
                        ]
                    }
                }],
                "Tags": tags()
            }
        },
        "DeadLetterQueueDepthAlarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmDescription": "Messages reached the cloudcoreo-events dead-letter queue: the processor could not handle them",
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [{ "Name": "QueueName", "Value": att("DeadLetterQueue", "QueueName") }],
                "Statistic": "Maximum",
                "Period": 300,
                "EvaluationPeriods": 1,
                "Threshold": 0,
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": alarm_actions.clone()
            }
        },
        "OldestMessageAgeAlarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmDescription": "The cloudcoreo-events queue's oldest message is getting old: the processor is behind or down",
                "Namespace": "AWS/SQS",
                "MetricName": "ApproximateAgeOfOldestMessage",
                "Dimensions": [{ "Name": "QueueName", "Value": att("Queue", "QueueName") }],
                "Statistic": "Maximum",
                "Period": 60,
                "EvaluationPeriods": 5,
                "Threshold": r("OldestMessageAgeThreshold"),
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": alarm_actions
            }
        }
    });
    let outputs = json!({
        "QueueArn": output("ARN of the central queue (the consumers' QueueArn).", att("Queue", "Arn")),
        "QueueUrl": output("URL of the central queue (PROCESSOR_QUEUE_URL).", r("Queue")),
        "QueueName": output("Name of the central queue.", att("Queue", "QueueName")),
        "DeadLetterQueueArn": output("ARN of the dead-letter queue.", att("DeadLetterQueue", "Arn")),
        "DeadLetterQueueUrl": output("URL of the dead-letter queue.", r("DeadLetterQueue")),
        "QueueKmsKeyArn": with(output("ARN of the KMS key created for the queues (the consumers' QueueKmsKeyArn).", att("QueueKey", "Arn")), "Condition", json!("CreateKey")),
        "SubscriberRoleArn": with(output("ARN of the subscriber role.", att("SubscriberRole", "Arn")), "Condition", json!("AdmitsTopics"))
    });
    let mut t = template(
        "cloudcoreo-events: the central SQS queue every regional topic delivers to, its dead-letter queue and alarms.",
        p,
        conditions,
        resources,
        outputs,
    );
    // The policy names the topics' accounts (aws:SourceAccount) and the subscriber role
    // trusts them: listed topics need their accounts.
    t["Rules"] = json!({
        "ListedTopicsNameTheirAccounts": {
            "RuleCondition": set("TopicArns"),
            "Assertions": [{
                "Assert": set("TopicAccountIds"),
                "AssertDescription": "TopicAccountIds must list the accounts owning TopicArns"
            }]
        }
    });
    t
}

// ------------------------------------------------------------------ event-stream-region

fn region_params() -> Map<String, Value> {
    let mut p = Map::new();
    p.insert(
        "QueueAccountId".into(),
        with(
            string_param(
                "Account of the central queue (this account, or another one).",
                None,
            ),
            "AllowedPattern",
            json!(ACCOUNT_ID),
        ),
    );
    p.insert(
        "QueueRegion".into(),
        with(
            string_param("Region of the central queue.", Some(DEFAULT_HOME_REGION)),
            "AllowedPattern",
            json!(REGION),
        ),
    );
    p.insert("QueueName".into(), queue_name_param());
    p.insert(
        "Services".into(),
        with(
            string_param(
                "Services whose API calls are forwarded: `all` (no eventSource filter), `seed` (the classic 21), or a comma-separated list of short names such as `ec2,s3,ssm` (the pattern must stay under EventBridge's 2,048 characters).",
                Some("all"),
            ),
            "AllowedPattern",
            json!("^(all|seed|[a-z0-9-]+(,[a-z0-9-]+)*)$"),
        ),
    );
    p.insert(
        "TopicName".into(),
        name_param("Name of the topic.", DEFAULT_TOPIC_NAME, SIMPLE_NAME),
    );
    p.insert(
        "TopicKmsKey".into(),
        string_param(
            "Encryption of the topic: empty for none; `create` for a new KMS key EventBridge may use through SNS; or an existing key's id, alias or ARN (its policy must let events.amazonaws.com use it).",
            Some(""),
        ),
    );
    p.insert(
        "RuleName".into(),
        name_param(
            "Name of the EventBridge rule on the default bus.",
            DEFAULT_RULE_NAME,
            RULE_NAME,
        ),
    );
    p.insert(
        "SubscriberRoleName".into(),
        name_param(
            "Cross-account only: the role of the queue's account (central-queue's SubscriberRoleName) assumed to subscribe the queue.",
            DEFAULT_SUBSCRIBER_ROLE,
            "^[A-Za-z0-9+=,.@_-]{1,48}$",
        ),
    );
    tag_params(&mut p);
    p
}

/// One region of one account: the topic (optionally encrypted), its policy, the rule,
/// its target and the subscription to the central queue.
pub fn event_stream_region() -> Value {
    let conditions = json!({
        "CrossAccount": not(equals(r("QueueAccountId"), r("AWS::AccountId"))),
        "SameAccount": equals(r("QueueAccountId"), r("AWS::AccountId")),
        "AllServices": equals(r("Services"), json!("all")),
        "SeedServices": equals(r("Services"), json!("seed")),
        "CreateKey": equals(r("TopicKmsKey"), json!("create")),
        "EncryptTopic": set("TopicKmsKey")
    });
    let topic = r("Topic");
    let queue_arn = sub(QUEUE_ARN);
    let [subscribe, list_subscriptions] = policy::subscribe_statements(
        topic.clone(),
        sub("arn:${AWS::Partition}:iam::${QueueAccountId}:root"),
        queue_arn.clone(),
    );
    let topic_policy = policy::topic_policy_document(vec![
        policy::publish_statement(topic.clone(), sub(RULE_ARN), r("AWS::AccountId")),
        iff("CrossAccount", subscribe, no_value()),
        iff("CrossAccount", list_subscriptions, no_value()),
    ]);
    let function_role = "${SubscriberRoleName}-${AWS::Region}";
    let function_name = "${TopicName}-subscriber";
    let resources = json!({
        "TopicKey": kms_key("Encrypts the cloudcoreo-events topic", "events.amazonaws.com", "sns"),
        "Topic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "TopicName": r("TopicName"),
                "KmsMasterKeyId": iff("EncryptTopic", iff("CreateKey", r("TopicKey"), r("TopicKmsKey")), no_value()),
                "Tags": tags()
            }
        },
        "TopicPolicy": {
            "Type": "AWS::SNS::TopicPolicy",
            "Properties": { "Topics": [topic.clone()], "PolicyDocument": topic_policy }
        },
        "Rule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "Name": r("RuleName"),
                "Description": region::RULE_DESCRIPTION,
                "EventPattern": event_pattern(),
                "State": "ENABLED",
                "Targets": [{ "Id": sub(&region::target_id_for("${TopicName}")), "Arn": topic.clone() }],
                "Tags": tags()
            }
        },
        "Subscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": "SameAccount",
            "Properties": { "TopicArn": topic.clone(), "Protocol": "sqs", "Endpoint": queue_arn.clone() }
        },
        "SubscriberLogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "Condition": "CrossAccount",
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": { "LogGroupName": sub(&format!("/aws/lambda/{function_name}")), "RetentionInDays": 30 }
        },
        "SubscriberFunctionRole": {
            "Type": "AWS::IAM::Role",
            "Condition": "CrossAccount",
            "Properties": {
                "RoleName": sub(function_role),
                "Description": "Runs the cloudcoreo-events subscriber function: assumes the queue account's subscriber role",
                "AssumeRolePolicyDocument": role_trust("lambda.amazonaws.com"),
                "Policies": [{
                    "PolicyName": "subscribe-as-queue-owner",
                    "PolicyDocument": {
                        "Version": policy::VERSION,
                        "Statement": [
                            allow("AssumeQueueOwnerSubscriber", json!("sts:AssumeRole"), sub("arn:${AWS::Partition}:iam::${QueueAccountId}:role/${SubscriberRoleName}")),
                            allow("WriteOwnLogs", json!(["logs:CreateLogStream", "logs:PutLogEvents"]), att("SubscriberLogGroup", "Arn"))
                        ]
                    }
                }],
                "Tags": tags()
            }
        },
        "SubscriberFunction": {
            "Type": "AWS::Lambda::Function",
            "Condition": "CrossAccount",
            "Properties": {
                "FunctionName": sub(function_name),
                "Description": "Subscribes the central queue to this region's cloudcoreo-events topic as the queue's owner",
                "Runtime": "python3.13",
                "Handler": "index.handler",
                "Timeout": 60,
                "MemorySize": 128,
                "Role": att("SubscriberFunctionRole", "Arn"),
                "LoggingConfig": { "LogGroup": r("SubscriberLogGroup") },
                "Code": { "ZipFile": SUBSCRIBER_FUNCTION },
                "Tags": tags()
            }
        },
        "CrossAccountSubscription": {
            "Type": "Custom::CentralQueueSubscription",
            "Condition": "CrossAccount",
            "DependsOn": ["TopicPolicy"],
            "Properties": {
                "ServiceToken": att("SubscriberFunction", "Arn"),
                "TopicArn": topic.clone(),
                "QueueArn": queue_arn,
                "RoleArn": sub("arn:${AWS::Partition}:iam::${QueueAccountId}:role/${SubscriberRoleName}")
            }
        }
    });
    let outputs = json!({
        "TopicArn": output("ARN of the regional topic (list it in central-queue's TopicArns).", topic),
        "RuleArn": output("ARN of the rule.", att("Rule", "Arn")),
        "SubscriptionArn": output(
            "ARN of the topic's subscription to the central queue.",
            iff("SameAccount", r("Subscription"), att("CrossAccountSubscription", "SubscriptionArn"))
        ),
        "TopicKmsKeyId": with(output("Id of the KMS key created for the topic (event-rule's --topic-kms-key).", r("TopicKey")), "Condition", json!("CreateKey"))
    });
    template(
        "cloudcoreo-events: one region of one account: CloudTrail API calls on the default bus -> EventBridge rule -> SNS topic -> the central queue.",
        region_params(),
        conditions,
        resources,
        outputs,
    )
}

// ------------------------------------------------------------------ event-stream-stackset

/// `event-stream-region` to every account of organizational units, in every chosen
/// region, with service-managed permissions and auto-deployment; optionally
/// `scanner-role` to the same accounts (one region: IAM is global).
pub fn event_stream_stackset() -> Value {
    let mut p = Map::new();
    p.insert(
        "StackSetName".into(),
        name_param(
            "Name of the event-stream StackSet.",
            "cloudcoreo-events-stream",
            "^[A-Za-z][A-Za-z0-9-]{0,127}$",
        ),
    );
    p.insert(
        "OrganizationalUnitIds".into(),
        json!({ "Type": "CommaDelimitedList", "Description": "Organizational units (or the root, r-...) whose accounts get the stream, comma-separated." }),
    );
    p.insert(
        "Regions".into(),
        json!({ "Type": "CommaDelimitedList", "Description": "Regions that get the stream, comma-separated. Include us-east-1: CloudTrail delivers global services' events (IAM, CloudFront, Route 53) there only." }),
    );
    p.insert(
        "CallAs".into(),
        with(string_param("SELF from the management account, DELEGATED_ADMIN from a delegated administrator account.", Some("SELF")), "AllowedValues", json!(["SELF", "DELEGATED_ADMIN"])),
    );
    p.insert("FailureTolerancePercentage".into(), number_param("Percentage of accounts per region that may fail before the operation stops in that region.", 10, 0, 100));
    p.insert(
        "MaxConcurrentPercentage".into(),
        number_param("Percentage of accounts deployed at once.", 25, 1, 100),
    );
    p.insert(
        "RegionConcurrencyType".into(),
        with(
            string_param(
                "Deploy the regions one after another or in parallel.",
                Some("PARALLEL"),
            ),
            "AllowedValues",
            json!(["SEQUENTIAL", "PARALLEL"]),
        ),
    );
    for (k, v) in region_params() {
        p.insert(k, v);
    }
    p.insert(
        "ScannerPrincipal".into(),
        string_param("Also deploy scanner-role to every account: the principal ARN allowed to assume it. Empty: no scanner role.", Some("")),
    );
    p.insert("ScannerExternalId".into(), json!({ "Type": "String", "Description": "The external id the scanner principal presents (with ScannerPrincipal).", "Default": "", "NoEcho": true }));
    p.insert(
        "ScannerRoleName".into(),
        name_param("Name of the scanner role.", DEFAULT_SCANNER_ROLE, ROLE_NAME),
    );
    p.insert(
        "ScannerRoleRegion".into(),
        with(
            string_param(
                "The one region the scanner-role stacks are deployed in (IAM roles are global).",
                Some("us-east-1"),
            ),
            "AllowedPattern",
            json!(REGION),
        ),
    );

    let conditions = json!({ "WithScanner": set("ScannerPrincipal") });
    let pass = |names: &[&str]| -> Value {
        Value::Array(
            names
                .iter()
                .map(|n| json!({ "ParameterKey": n, "ParameterValue": r(n) }))
                .collect(),
        )
    };
    let region_names: Vec<String> = region_params().keys().cloned().collect();
    let region_names: Vec<&str> = region_names.iter().map(String::as_str).collect();
    let common = |m: Value| -> Value {
        let mut m = m;
        m["PermissionModel"] = json!("SERVICE_MANAGED");
        m["AutoDeployment"] = json!({ "Enabled": true, "RetainStacksOnAccountRemoval": false });
        m["CallAs"] = r("CallAs");
        m["ManagedExecution"] = json!({ "Active": true });
        m["OperationPreferences"] = json!({
            "FailureTolerancePercentage": r("FailureTolerancePercentage"),
            "MaxConcurrentPercentage": r("MaxConcurrentPercentage"),
            "RegionConcurrencyType": r("RegionConcurrencyType")
        });
        m
    };
    let resources = json!({
        "EventStreamStackSet": {
            "Type": "AWS::CloudFormation::StackSet",
            "Properties": common(json!({
                "StackSetName": r("StackSetName"),
                "Description": "cloudcoreo-events: the event-stream-region template in every account and region",
                "Capabilities": ["CAPABILITY_NAMED_IAM"],
                "Parameters": pass(&region_names),
                "StackInstancesGroup": [{
                    "DeploymentTargets": { "OrganizationalUnitIds": r("OrganizationalUnitIds") },
                    "Regions": r("Regions")
                }],
                "TemplateBody": compact(&event_stream_region())
            }))
        },
        "ScannerRoleStackSet": {
            "Type": "AWS::CloudFormation::StackSet",
            "Condition": "WithScanner",
            "Properties": common(json!({
                "StackSetName": sub("${StackSetName}-scanner-role"),
                "Description": "cloudcoreo-events: the scanner-role template in every account",
                "Capabilities": ["CAPABILITY_NAMED_IAM"],
                "Parameters": [
                    { "ParameterKey": "ScannerPrincipal", "ParameterValue": r("ScannerPrincipal") },
                    { "ParameterKey": "ExternalId", "ParameterValue": r("ScannerExternalId") },
                    { "ParameterKey": "RoleName", "ParameterValue": r("ScannerRoleName") },
                    { "ParameterKey": "TagKey", "ParameterValue": r("TagKey") },
                    { "ParameterKey": "TagValue", "ParameterValue": r("TagValue") }
                ],
                "StackInstancesGroup": [{
                    "DeploymentTargets": { "OrganizationalUnitIds": r("OrganizationalUnitIds") },
                    "Regions": [r("ScannerRoleRegion")]
                }],
                "TemplateBody": compact(&scanner_role())
            }))
        }
    });
    let outputs = json!({
        "EventStreamStackSetId": output("Id of the event-stream StackSet.", r("EventStreamStackSet")),
        "ScannerRoleStackSetId": with(output("Id of the scanner-role StackSet.", r("ScannerRoleStackSet")), "Condition", json!("WithScanner"))
    });
    template(
        "cloudcoreo-events: the event stream in every account of organizational units and every chosen region (service-managed StackSet, new accounts included automatically).",
        p,
        conditions,
        resources,
        outputs,
    )
}

// ------------------------------------------------------------------ scanner-role

/// The read-only scanner role: SecurityAudit, trusted only by one principal presenting
/// the external id.
pub fn scanner_role() -> Value {
    let mut p = Map::new();
    p.insert(
        "ScannerPrincipal".into(),
        with(string_param("ARN of the principal allowed to assume the role (the scanner's role or account root).", None), "AllowedPattern", json!("^arn:[a-z-]+:(iam|sts)::[0-9]{12}:.+$")),
    );
    p.insert(
        "ExternalId".into(),
        json!({ "Type": "String", "Description": "External id the scanner must present (sts:ExternalId).", "MinLength": 2, "MaxLength": 1224, "NoEcho": true }),
    );
    p.insert(
        "RoleName".into(),
        name_param("Name of the role.", DEFAULT_SCANNER_ROLE, ROLE_NAME),
    );
    tag_params(&mut p);
    let resources = json!({
        "ScannerRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": r("RoleName"),
                "Description": scanner::ROLE_DESCRIPTION,
                "AssumeRolePolicyDocument": policy::scanner_trust(r("ScannerPrincipal"), r("ExternalId")),
                "ManagedPolicyArns": [sub(&format!("arn:${{AWS::Partition}}:iam::aws:{}", policy::SECURITY_AUDIT))],
                "Tags": tags()
            }
        }
    });
    let outputs =
        json!({ "RoleArn": output("ARN of the scanner role.", att("ScannerRole", "Arn")) });
    template(
        "cloudcoreo-events: the read-only scanner role (SecurityAudit) trusted by one principal with an external id.",
        p,
        json!({}),
        resources,
        outputs,
    )
}

// ------------------------------------------------------------------ processors

/// Parameters of both processor templates: the queue and the sinks.
fn consumer_params(p: &mut Map<String, Value>) {
    p.insert(
        "QueueArn".into(),
        with(
            string_param("ARN of the central queue (central-queue's QueueArn).", None),
            "AllowedPattern",
            json!("^arn:[a-z-]+:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}$"),
        ),
    );
    p.insert("QueueKmsKeyArn".into(), string_param("ARN of the queue's KMS key when it has one (kms:Decrypt through SQS only). Empty: SQS-managed SSE.", Some("")));
    p.insert(
        "Sinks".into(),
        with(
            string_param("Where rescan requests go (PROCESSOR_SINKS): comma-separated `sqs:QUEUE_URL`, `sns:TOPIC_ARN`, `eventbridge:BUS`, `https://URL`, `stdout`.", None),
            "MinLength",
            json!(1),
        ),
    );
    p.insert(
        "SinkQueueArns".into(),
        list_param("ARNs of the sink queues (sqs:SendMessage)."),
    );
    p.insert(
        "SinkTopicArns".into(),
        list_param("ARNs of the sink topics (sns:Publish)."),
    );
    p.insert(
        "SinkEventBusArns".into(),
        list_param("ARNs of the sink event buses (events:PutEvents)."),
    );
    p.insert(
        "SinkKmsKeyArns".into(),
        list_param(
            "ARNs of KMS keys encrypting sink queues or topics (kms:GenerateDataKey, kms:Decrypt).",
        ),
    );
    p.insert(
        "AllowServices".into(),
        string_param(
            "PROCESSOR_ALLOW_SERVICES: services kept (`seed`, `ec2,s3`); empty keeps all.",
            Some(""),
        ),
    );
    p.insert(
        "LogRetentionInDays".into(),
        with(
            json!({ "Type": "Number", "Description": "Days the processor's logs are kept.", "Default": 30 }),
            "AllowedValues",
            json!([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]),
        ),
    );
}

fn consumer_conditions() -> Map<String, Value> {
    let c = json!({
        "EncryptedQueue": set("QueueKmsKeyArn"),
        "HasSinkQueues": set("SinkQueueArns"),
        "HasSinkTopics": set("SinkTopicArns"),
        "HasSinkEventBuses": set("SinkEventBusArns"),
        "HasSinkKeys": set("SinkKmsKeyArns"),
        "HasAllowServices": set("AllowServices")
    });
    c.as_object().cloned().unwrap_or_default()
}

/// What the processor needs, and nothing more: consume the central queue with
/// `queue_actions` (decrypting through SQS only), and write to the sinks it is given.
/// The statements carry the names `processor policy run` prints for the same settings.
fn consumer_statements(queue_actions: &[&str]) -> Vec<Value> {
    vec![
        allow("ConsumeQueue", json!(queue_actions), r("QueueArn")),
        iff(
            "EncryptedQueue",
            with(
                allow(
                    "DecryptQueueMessages",
                    json!("kms:Decrypt"),
                    r("QueueKmsKeyArn"),
                ),
                "Condition",
                json!({ "StringEquals": { "kms:ViaService": sub("sqs.${AWS::Region}.${AWS::URLSuffix}") } }),
            ),
            no_value(),
        ),
        iff(
            "HasSinkQueues",
            allow(
                "SendToSinkQueues",
                json!("sqs:SendMessage"),
                split("SinkQueueArns"),
            ),
            no_value(),
        ),
        iff(
            "HasSinkTopics",
            allow(
                "PublishToSinkTopics",
                json!("sns:Publish"),
                split("SinkTopicArns"),
            ),
            no_value(),
        ),
        iff(
            "HasSinkEventBuses",
            allow(
                "PutEventsOnSinkBuses",
                json!("events:PutEvents"),
                split("SinkEventBusArns"),
            ),
            no_value(),
        ),
        iff(
            "HasSinkKeys",
            allow(
                "EncryptForSinks",
                json!(["kms:GenerateDataKey", "kms:Decrypt"]),
                split("SinkKmsKeyArns"),
            ),
            no_value(),
        ),
    ]
}

/// The processor's environment: the variables always set (with `extra`), and
/// `PROCESSOR_ALLOW_SERVICES`, set only when the parameter is not empty.
fn consumer_env(extra: &[(&str, Value)]) -> (Vec<(String, Value)>, (String, Value)) {
    let mut vars: Vec<(String, Value)> = vec![
        ("PROCESSOR_SINKS".into(), r("Sinks")),
        ("PROCESSOR_LOG_FORMAT".into(), json!("json")),
    ];
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    (
        vars,
        ("PROCESSOR_ALLOW_SERVICES".into(), r("AllowServices")),
    )
}

/// The processor as a Lambda function (the `cargo lambda build` artifact) reading the
/// queue through an event source mapping.
pub fn processor_lambda() -> Value {
    let mut p = Map::new();
    p.insert(
        "FunctionName".into(),
        name_param(
            "Name of the function.",
            "cloudcoreo-events-processor",
            "^[A-Za-z0-9_-]{1,64}$",
        ),
    );
    p.insert("CodeS3Bucket".into(), with(string_param("Bucket holding the function's zip (`cargo lambda build --release --output-format zip`, binary processor-lambda).", None), "MinLength", json!(3)));
    p.insert(
        "CodeS3Key".into(),
        with(
            string_param("Key of the zip in CodeS3Bucket.", None),
            "MinLength",
            json!(1),
        ),
    );
    p.insert(
        "CodeS3ObjectVersion".into(),
        string_param(
            "Version of the zip object, for versioned buckets; empty: the latest.",
            Some(""),
        ),
    );
    p.insert(
        "Architecture".into(),
        with(
            string_param(
                "x86_64 (`cargo lambda build`) or arm64 (`cargo lambda build --arm64`).",
                Some("x86_64"),
            ),
            "AllowedValues",
            json!(["x86_64", "arm64"]),
        ),
    );
    p.insert(
        "MemorySize".into(),
        number_param("Memory of the function, MB.", 512, 128, 10240),
    );
    p.insert(
        "Timeout".into(),
        number_param(
            &format!("Timeout of one invocation, seconds; keep central-queue's VisibilityTimeout at least {LAMBDA_VISIBILITY_FACTOR} times this (`event-rule setup --lambda-timeout`)."),
            DEFAULT_LAMBDA_TIMEOUT_SECS,
            LAMBDA_TIMEOUT_RANGE.0,
            LAMBDA_TIMEOUT_RANGE.1,
        ),
    );
    p.insert(
        "BatchSize".into(),
        number_param(
            "Messages per invocation (above 10 needs a batching window).",
            100,
            1,
            10000,
        ),
    );
    p.insert(
        "MaximumBatchingWindowInSeconds".into(),
        number_param("Seconds to gather a batch.", 5, 0, 300),
    );
    p.insert(
        "MaximumConcurrency".into(),
        number_param("Most concurrent invocations the queue drives.", 5, 2, 1000),
    );
    p.insert(
        "LogLevel".into(),
        string_param("RUST_LOG of the function.", Some("info")),
    );
    consumer_params(&mut p);

    let mut conditions = consumer_conditions();
    conditions.insert("HasObjectVersion".into(), set("CodeS3ObjectVersion"));
    let (vars, allow_services) = consumer_env(&[("RUST_LOG", r("LogLevel"))]);
    let vars_map: Map<String, Value> = vars.into_iter().collect();
    let mut with_allow = vars_map.clone();
    with_allow.insert(allow_services.0, allow_services.1);

    let mut statements = vec![allow(
        "WriteOwnLogs",
        json!(["logs:CreateLogStream", "logs:PutLogEvents"]),
        att("LogGroup", "Arn"),
    )];
    statements.extend(consumer_statements(&LAMBDA_QUEUE_ACTIONS));

    let resources = json!({
        "LogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": { "LogGroupName": sub("/aws/lambda/${FunctionName}"), "RetentionInDays": r("LogRetentionInDays") }
        },
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Description": "The cloudcoreo-events processor function: consume the central queue, write to the sinks",
                "AssumeRolePolicyDocument": role_trust("lambda.amazonaws.com"),
                "Policies": [{
                    "PolicyName": "processor",
                    "PolicyDocument": { "Version": policy::VERSION, "Statement": statements }
                }]
            }
        },
        "Function": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "FunctionName": r("FunctionName"),
                "Description": "cloudcoreo-events processor: CloudTrail events from the central queue -> rescan requests",
                "Runtime": "provided.al2023",
                "Handler": "bootstrap",
                "Architectures": [r("Architecture")],
                "MemorySize": r("MemorySize"),
                "Timeout": r("Timeout"),
                "Role": att("Role", "Arn"),
                "Code": {
                    "S3Bucket": r("CodeS3Bucket"),
                    "S3Key": r("CodeS3Key"),
                    "S3ObjectVersion": iff("HasObjectVersion", r("CodeS3ObjectVersion"), no_value())
                },
                "Environment": { "Variables": iff("HasAllowServices", Value::Object(with_allow), Value::Object(vars_map)) },
                "LoggingConfig": { "LogGroup": r("LogGroup") }
            }
        },
        "QueueEventSource": {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {
                "EventSourceArn": r("QueueArn"),
                "FunctionName": r("Function"),
                "Enabled": true,
                "BatchSize": r("BatchSize"),
                "MaximumBatchingWindowInSeconds": r("MaximumBatchingWindowInSeconds"),
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                "ScalingConfig": { "MaximumConcurrency": r("MaximumConcurrency") }
            }
        }
    });
    let outputs = json!({
        "FunctionArn": output("ARN of the processor function.", att("Function", "Arn")),
        "RoleArn": output("ARN of the function's role.", att("Role", "Arn")),
        "EventSourceMappingId": output("Id of the queue's event source mapping.", r("QueueEventSource"))
    });
    template(
        "cloudcoreo-events: the processor as a Lambda function fed by the central queue (partial batch failures reported).",
        p,
        Value::Object(conditions),
        resources,
        outputs,
    )
}

/// The processor as a container on ECS Fargate, scaling out on the queue's depth and
/// the age of its oldest message.
pub fn processor_service() -> Value {
    let mut p = Map::new();
    p.insert("Image".into(), with(string_param("Container image running `processor run` (listens on 9090: /metrics, /healthz, /readyz).", None), "MinLength", json!(1)));
    p.insert(
        "ClusterName".into(),
        string_param("Existing ECS cluster; empty: create one.", Some("")),
    );
    p.insert(
        "ServiceName".into(),
        name_param(
            "Name of the service.",
            "cloudcoreo-events-processor",
            "^[A-Za-z0-9_-]{1,255}$",
        ),
    );
    p.insert(
        "VpcId".into(),
        json!({ "Type": "AWS::EC2::VPC::Id", "Description": "VPC of the tasks." }),
    );
    p.insert("SubnetIds".into(), json!({ "Type": "List<AWS::EC2::Subnet::Id>", "Description": "Subnets of the tasks; they need a route to SQS and the sinks (NAT or VPC endpoints)." }));
    p.insert(
        "AssignPublicIp".into(),
        with(
            string_param(
                "ENABLED only in public subnets without NAT.",
                Some("DISABLED"),
            ),
            "AllowedValues",
            json!(["DISABLED", "ENABLED"]),
        ),
    );
    p.insert(
        "MetricsIngressCidr".into(),
        string_param(
            "CIDR allowed to scrape port 9090 (Prometheus); empty: no inbound traffic.",
            Some(""),
        ),
    );
    p.insert(
        "Cpu".into(),
        with(
            string_param("Task CPU units.", Some("256")),
            "AllowedValues",
            json!(["256", "512", "1024", "2048", "4096"]),
        ),
    );
    p.insert(
        "Memory".into(),
        with(
            string_param("Task memory, MiB (must fit the CPU).", Some("512")),
            "AllowedValues",
            json!(["512", "1024", "2048", "3072", "4096", "8192"]),
        ),
    );
    p.insert(
        "CpuArchitecture".into(),
        with(
            string_param("Architecture of the image.", Some("X86_64")),
            "AllowedValues",
            json!(["X86_64", "ARM64"]),
        ),
    );
    p.insert(
        "MinTasks".into(),
        number_param("Fewest tasks (replicas sharing the queue).", 1, 1, 100),
    );
    p.insert("MaxTasks".into(), number_param("Most tasks.", 4, 1, 100));
    p.insert(
        "ScaleOutQueueDepth".into(),
        number_param(
            "Add a task while more messages than this wait.",
            1000,
            1,
            1_000_000,
        ),
    );
    p.insert(
        "ScaleOutMessageAge".into(),
        number_param(
            "Add a task while the oldest message is older than this, seconds.",
            300,
            30,
            1_209_600,
        ),
    );
    p.insert(
        "ScaleInQueueDepth".into(),
        number_param(
            "Remove a task after 15 minutes with at most this many messages waiting.",
            10,
            0,
            1_000_000,
        ),
    );
    consumer_params(&mut p);

    let mut conditions = consumer_conditions();
    conditions.insert("CreateCluster".into(), equals(r("ClusterName"), json!("")));
    conditions.insert("ScrapeMetrics".into(), set("MetricsIngressCidr"));
    let cluster = iff("CreateCluster", r("Cluster"), r("ClusterName"));
    let queue_url = json!({
        "Fn::Sub": [
            "https://sqs.${QueueRegion}.${AWS::URLSuffix}/${QueueAccount}/${QueueName}",
            {
                "QueueRegion": { "Fn::Select": [3, { "Fn::Split": [":", r("QueueArn")] }] },
                "QueueAccount": { "Fn::Select": [4, { "Fn::Split": [":", r("QueueArn")] }] },
                "QueueName": { "Fn::Select": [5, { "Fn::Split": [":", r("QueueArn")] }] }
            }
        ]
    });
    let queue_name = json!({ "Fn::Select": [5, { "Fn::Split": [":", r("QueueArn")] }] });
    let (vars, allow_services) = consumer_env(&[
        ("PROCESSOR_QUEUE_URL", queue_url),
        ("PROCESSOR_METRICS_ADDR", json!("0.0.0.0:9090")),
    ]);
    let env_list = |vars: &[(String, Value)]| -> Value {
        Value::Array(
            vars.iter()
                .map(|(k, v)| json!({ "Name": k, "Value": v }))
                .collect(),
        )
    };
    let mut with_allow = vars.clone();
    with_allow.push(allow_services);
    let alarm = |description: &str,
                 metric: &str,
                 threshold: Value,
                 op: &str,
                 periods: u32,
                 action: &str| {
        json!({
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmDescription": description,
                "Namespace": "AWS/SQS",
                "MetricName": metric,
                "Dimensions": [{ "Name": "QueueName", "Value": queue_name.clone() }],
                "Statistic": "Maximum",
                "Period": 60,
                "EvaluationPeriods": periods,
                "Threshold": threshold,
                "ComparisonOperator": op,
                "TreatMissingData": "notBreaching",
                "AlarmActions": [r(action)]
            }
        })
    };
    let resources = json!({
        "Cluster": {
            "Type": "AWS::ECS::Cluster",
            "Condition": "CreateCluster",
            "Properties": { "ClusterSettings": [{ "Name": "containerInsights", "Value": "enabled" }] }
        },
        "LogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": { "LogGroupName": sub("/ecs/${ServiceName}"), "RetentionInDays": r("LogRetentionInDays") }
        },
        "ExecutionRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Description": "Starts the cloudcoreo-events processor tasks: pull the image, write the logs",
                "AssumeRolePolicyDocument": role_trust("ecs-tasks.amazonaws.com"),
                "Policies": [{
                    "PolicyName": "start-processor-tasks",
                    "PolicyDocument": {
                        "Version": policy::VERSION,
                        "Statement": [
                            allow("PullImage", json!(["ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]), json!("*")),
                            allow("WriteLogs", json!(["logs:CreateLogStream", "logs:PutLogEvents"]), att("LogGroup", "Arn"))
                        ]
                    }
                }]
            }
        },
        "TaskRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Description": "The cloudcoreo-events processor tasks: consume the central queue, write to the sinks",
                "AssumeRolePolicyDocument": role_trust("ecs-tasks.amazonaws.com"),
                "Policies": [{
                    "PolicyName": "processor",
                    "PolicyDocument": { "Version": policy::VERSION, "Statement": consumer_statements(&RUN_QUEUE_ACTIONS) }
                }]
            }
        },
        "SecurityGroup": {
            "Type": "AWS::EC2::SecurityGroup",
            "Properties": {
                "GroupDescription": "cloudcoreo-events processor tasks: outbound to SQS and the sinks, metrics scraping inbound",
                "VpcId": r("VpcId"),
                "SecurityGroupEgress": [{ "IpProtocol": "-1", "CidrIp": "0.0.0.0/0", "Description": "SQS, the sinks, the image registry" }],
                "SecurityGroupIngress": iff(
                    "ScrapeMetrics",
                    json!([{ "IpProtocol": "tcp", "FromPort": 9090, "ToPort": 9090, "CidrIp": r("MetricsIngressCidr"), "Description": "Prometheus /metrics, /healthz, /readyz" }]),
                    no_value()
                )
            }
        },
        "TaskDefinition": {
            "Type": "AWS::ECS::TaskDefinition",
            "Properties": {
                "Family": r("ServiceName"),
                "RequiresCompatibilities": ["FARGATE"],
                "NetworkMode": "awsvpc",
                "Cpu": r("Cpu"),
                "Memory": r("Memory"),
                "RuntimePlatform": { "CpuArchitecture": r("CpuArchitecture"), "OperatingSystemFamily": "LINUX" },
                "ExecutionRoleArn": att("ExecutionRole", "Arn"),
                "TaskRoleArn": att("TaskRole", "Arn"),
                "ContainerDefinitions": [{
                    "Name": "processor",
                    "Image": r("Image"),
                    "Essential": true,
                    // The image runs as 65532 and writes nothing but a `file:` sink.
                    "ReadonlyRootFilesystem": true,
                    "PortMappings": [{ "ContainerPort": 9090, "Protocol": "tcp", "Name": "metrics" }],
                    "Environment": iff("HasAllowServices", env_list(&with_allow), env_list(&vars)),
                    // Past the consumer's 30 s shutdown grace: it dispatches what it holds.
                    "StopTimeout": 45,
                    "LogConfiguration": {
                        "LogDriver": "awslogs",
                        "Options": {
                            "awslogs-group": r("LogGroup"),
                            "awslogs-region": r("AWS::Region"),
                            "awslogs-stream-prefix": "processor"
                        }
                    }
                }]
            }
        },
        "Service": {
            "Type": "AWS::ECS::Service",
            "Properties": {
                "ServiceName": r("ServiceName"),
                "Cluster": cluster.clone(),
                "LaunchType": "FARGATE",
                "TaskDefinition": r("TaskDefinition"),
                "DesiredCount": r("MinTasks"),
                "DeploymentConfiguration": {
                    "MinimumHealthyPercent": 100,
                    "MaximumPercent": 200,
                    "DeploymentCircuitBreaker": { "Enable": true, "Rollback": true }
                },
                "NetworkConfiguration": {
                    "AwsvpcConfiguration": {
                        "AssignPublicIp": r("AssignPublicIp"),
                        "Subnets": r("SubnetIds"),
                        "SecurityGroups": [att("SecurityGroup", "GroupId")]
                    }
                },
                "PropagateTags": "SERVICE"
            }
        },
        "ScalableTarget": {
            "Type": "AWS::ApplicationAutoScaling::ScalableTarget",
            "Properties": {
                "ServiceNamespace": "ecs",
                "ScalableDimension": "ecs:service:DesiredCount",
                "ResourceId": { "Fn::Join": ["/", ["service", cluster, att("Service", "Name")]] },
                "MinCapacity": r("MinTasks"),
                "MaxCapacity": r("MaxTasks")
            }
        },
        "ScaleOutPolicy": {
            "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
            "Properties": {
                "PolicyName": sub("${ServiceName}-scale-out"),
                "PolicyType": "StepScaling",
                "ScalingTargetId": r("ScalableTarget"),
                "StepScalingPolicyConfiguration": {
                    "AdjustmentType": "ChangeInCapacity",
                    "Cooldown": 120,
                    "MetricAggregationType": "Maximum",
                    "StepAdjustments": [{ "MetricIntervalLowerBound": 0, "ScalingAdjustment": 1 }]
                }
            }
        },
        "ScaleInPolicy": {
            "Type": "AWS::ApplicationAutoScaling::ScalingPolicy",
            "Properties": {
                "PolicyName": sub("${ServiceName}-scale-in"),
                "PolicyType": "StepScaling",
                "ScalingTargetId": r("ScalableTarget"),
                "StepScalingPolicyConfiguration": {
                    "AdjustmentType": "ChangeInCapacity",
                    "Cooldown": 300,
                    "MetricAggregationType": "Maximum",
                    "StepAdjustments": [{ "MetricIntervalUpperBound": 0, "ScalingAdjustment": -1 }]
                }
            }
        },
        "QueueDepthHighAlarm": alarm(
            "cloudcoreo-events: messages are piling up; add a processor task",
            "ApproximateNumberOfMessagesVisible", r("ScaleOutQueueDepth"), "GreaterThanThreshold", 2, "ScaleOutPolicy"
        ),
        "OldestMessageAgeHighAlarm": alarm(
            "cloudcoreo-events: messages wait too long; add a processor task",
            "ApproximateAgeOfOldestMessage", r("ScaleOutMessageAge"), "GreaterThanThreshold", 2, "ScaleOutPolicy"
        ),
        "QueueDepthLowAlarm": alarm(
            "cloudcoreo-events: the queue is nearly empty; remove a processor task",
            "ApproximateNumberOfMessagesVisible", r("ScaleInQueueDepth"), "LessThanOrEqualToThreshold", 15, "ScaleInPolicy"
        )
    });
    let outputs = json!({
        "ServiceArn": output("ARN of the ECS service.", r("Service")),
        "TaskRoleArn": output("ARN of the tasks' role.", att("TaskRole", "Arn")),
        "LogGroupName": output("Log group of the tasks (JSON lines).", r("LogGroup"))
    });
    template(
        "cloudcoreo-events: the processor as an ECS Fargate service reading the central queue, scaling on its depth and the age of its oldest message.",
        p,
        Value::Object(conditions),
        resources,
        outputs,
    )
}

#[cfg(test)]
mod tests;
