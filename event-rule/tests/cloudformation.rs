//! The CloudFormation templates under `infra/` deployed to LocalStack's CloudFormation
//! (host mode), against `event-rule` on the same endpoint:
//! - what `central-queue`, `event-stream-region` (two regions) and `scanner-role`
//!   deploy is read back and equals, field by field, what `event-rule setup` creates
//!   with the same names once the stacks are gone; `event-rule status` finds the
//!   stack-deployed resources in sync (also with the organization-wide queue policy);
//!   an event put on each region's bus reaches the queue through the stacks;
//! - the cross-account subscription: the regional stack's function, run against
//!   LocalStack with a member account's credentials, subscribes the queue as the
//!   queue's owner through the central stack's role, and `event-rule status` finds the
//!   member region in sync;
//! - the processor templates and the KMS variants: what LocalStack's free build can
//!   create is deployed and read back; what it cannot is named.
//!
//! LocalStack comes from `LOCALSTACK_PYTHON`, CloudTrail (absent from LocalStack's free
//! build) from moto (`MOTO_SERVER_BIN`); both are set by `tests/run.sh`. Without them
//! the tests say so and pass, or fail when `CI` is set.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};
use common::Moto;
use event_rule::policy::{normalize, parse};
use event_rule::templates;
use integration_tests::harness::localstack::{LocalStack, ACCOUNT};
use integration_tests::harness::skip;
use serde_json::{json, Value};

/// The central queue's region.
const HOME_REGION: &str = "us-west-2";
/// The regions the stream is deployed to.
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
/// A member account (cross-account test).
const MEMBER: &str = "111111111111";
const SCANNER: &str = "arn:aws:iam::999999999999:root";
const EXTERNAL_ID: &str = "cloudformation-test-external-id";
const ORG: &str = "o-exampleorg1";
const SERVICES: &str = "sqs,sns,events,sts,iam,cloudformation,logs,cloudwatch";
const LIMIT: Duration = Duration::from_secs(900);

/// One LocalStack at a time: they share two cores with builds.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn template(name: &str) -> Value {
    templates::all()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| t)
        .unwrap_or_else(|| panic!("no template {name}"))
}

fn topic_arn(account: &str, region: &str) -> String {
    format!("arn:aws:sns:{region}:{account}:cloudcoreo-events")
}

fn queue_arn() -> String {
    format!("arn:aws:sqs:{HOME_REGION}:{ACCOUNT}:cloudcoreo-events-queue")
}

// ------------------------------------------------------------------ stacks

struct Stacks {
    ls_endpoint: String,
    account: String,
}

impl Stacks {
    async fn client(&self, ls: &LocalStack, region: &str) -> aws_sdk_cloudformation::Client {
        assert_eq!(ls.endpoint, self.ls_endpoint);
        aws_sdk_cloudformation::Client::new(&ls.sdk_as(&self.account, region).await)
    }

    /// Creates (or updates) stack `name` from `body` and waits for it; returns its
    /// outputs. Fails with the stack's failure events.
    async fn deploy(
        &self,
        ls: &LocalStack,
        region: &str,
        name: &str,
        body: &Value,
        params: &[(&str, &str)],
        update: bool,
    ) -> BTreeMap<String, String> {
        let cf = self.client(ls, region).await;
        let params: Vec<Parameter> = params
            .iter()
            .map(|(k, v)| {
                Parameter::builder()
                    .parameter_key(*k)
                    .parameter_value(*v)
                    .build()
            })
            .collect();
        let body = templates::render(body);
        assert!(
            body.len() <= 51_200,
            "{name}: template over CloudFormation's inline limit"
        );
        if update {
            cf.update_stack()
                .stack_name(name)
                .template_body(body)
                .set_parameters(Some(params))
                .capabilities(Capability::CapabilityNamedIam)
                .send()
                .await
                .unwrap_or_else(|e| panic!("update {name}: {e:?}"));
        } else {
            cf.create_stack()
                .stack_name(name)
                .template_body(body)
                .set_parameters(Some(params))
                .capabilities(Capability::CapabilityNamedIam)
                .send()
                .await
                .unwrap_or_else(|e| panic!("create {name}: {e:?}"));
        }
        let want = if update {
            StackStatus::UpdateComplete
        } else {
            StackStatus::CreateComplete
        };
        let stack = self.wait(&cf, name).await;
        if stack.stack_status() != Some(&want) {
            let events = cf
                .describe_stack_events()
                .stack_name(name)
                .send()
                .await
                .map(|o| {
                    o.stack_events()
                        .iter()
                        .filter(|e| {
                            e.resource_status()
                                .is_some_and(|s| s.as_str().contains("FAILED"))
                        })
                        .map(|e| {
                            format!(
                                "{} {:?}: {}",
                                e.logical_resource_id().unwrap_or_default(),
                                e.resource_status(),
                                e.resource_status_reason().unwrap_or_default()
                            )
                        })
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            panic!(
                "{name}: {:?} ({}), failed resources: {events:#?}",
                stack.stack_status(),
                stack.stack_status_reason().unwrap_or_default()
            );
        }
        // LocalStack's free build "creates" a resource type it has no provider for
        // (ECS, Application Auto Scaling) by skipping it, with the physical id
        // `unknown`: such a stack would prove nothing, so it fails here.
        let resources = cf
            .describe_stack_resources()
            .stack_name(name)
            .send()
            .await
            .expect("stack resources");
        let skipped: Vec<String> = resources
            .stack_resources()
            .iter()
            .filter(|r| matches!(r.physical_resource_id(), None | Some("" | "unknown")))
            .map(|r| {
                format!(
                    "{} ({})",
                    r.logical_resource_id().unwrap_or_default(),
                    r.resource_type().unwrap_or_default()
                )
            })
            .collect();
        assert!(skipped.is_empty(), "{name}: LocalStack skipped {skipped:?}");
        stack
            .outputs()
            .iter()
            .map(|o| {
                (
                    o.output_key().unwrap_or_default().to_string(),
                    o.output_value().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    async fn wait(
        &self,
        cf: &aws_sdk_cloudformation::Client,
        name: &str,
    ) -> aws_sdk_cloudformation::types::Stack {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let out = cf.describe_stacks().stack_name(name).send().await;
            if let Ok(out) = out {
                if let Some(s) = out.stacks().first() {
                    let status = s.stack_status().map(|s| s.as_str()).unwrap_or_default();
                    if !status.ends_with("IN_PROGRESS") {
                        return s.clone();
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "{name}: still in progress after 300 s"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn delete(&self, ls: &LocalStack, region: &str, name: &str) {
        let cf = self.client(ls, region).await;
        cf.delete_stack()
            .stack_name(name)
            .send()
            .await
            .expect("delete stack");
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let gone = match cf.describe_stacks().stack_name(name).send().await {
                Err(_) => true,
                Ok(o) => o
                    .stacks()
                    .first()
                    .is_none_or(|s| s.stack_status() == Some(&StackStatus::DeleteComplete)),
            };
            if gone {
                return;
            }
            assert!(Instant::now() < deadline, "{name}: not deleted after 300 s");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// A copy of `t` without the resources of `types`, the resources and outputs that
/// refer to them (transitively), for LocalStack's free build. Returns what was taken
/// out, to report.
fn without_types(t: &Value, types: &[&str]) -> (Value, Vec<String>) {
    fn refers(v: &Value, names: &BTreeSet<String>) -> bool {
        match v {
            Value::Object(m) => m.iter().any(|(k, x)| {
                let named = match (k.as_str(), x) {
                    ("Ref", Value::String(n)) => names.contains(n),
                    ("Fn::GetAtt", Value::Array(a)) => a
                        .first()
                        .and_then(Value::as_str)
                        .is_some_and(|n| names.contains(n)),
                    ("DependsOn", Value::String(n)) => names.contains(n),
                    ("DependsOn", Value::Array(a)) => a
                        .iter()
                        .filter_map(Value::as_str)
                        .any(|n| names.contains(n)),
                    ("Fn::Sub", _) => {
                        let text = x.as_str().or_else(|| x[0].as_str()).unwrap_or_default();
                        names.iter().any(|n| {
                            text.contains(&format!("${{{n}}}"))
                                || text.contains(&format!("${{{n}."))
                        })
                    }
                    _ => false,
                };
                named || refers(x, names)
            }),
            Value::Array(a) => a.iter().any(|x| refers(x, names)),
            _ => false,
        }
    }
    let mut t = t.clone();
    let resources = t["Resources"].as_object().cloned().unwrap_or_default();
    let mut removed: BTreeSet<String> = resources
        .iter()
        .filter(|(_, r)| types.iter().any(|ty| r["Type"] == *ty))
        .map(|(n, _)| n.clone())
        .collect();
    loop {
        let more: Vec<String> = resources
            .iter()
            .filter(|(n, r)| !removed.contains(*n) && refers(r, &removed))
            .map(|(n, _)| n.clone())
            .collect();
        if more.is_empty() {
            break;
        }
        removed.extend(more);
    }
    let report = removed
        .iter()
        .map(|n| {
            format!(
                "{n} ({})",
                resources[n]["Type"].as_str().unwrap_or_default()
            )
        })
        .collect();
    let kept = t["Resources"].as_object_mut().expect("resources");
    kept.retain(|n, _| !removed.contains(n));
    if let Some(outputs) = t["Outputs"].as_object_mut() {
        outputs.retain(|_, o| !refers(o, &removed));
    }
    (t, report)
}

// ------------------------------------------------------------------ event-rule

/// Runs `event-rule` against LocalStack, its CloudTrail calls against moto; returns
/// the exit code and the JSON report.
async fn event_rule(ls: &LocalStack, moto: &Moto, args: &[&str]) -> (i32, Value, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_event-rule"));
    for (k, _) in std::env::vars() {
        if k.starts_with("EVENT_RULE_") || k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args)
        .args(["--home-region", HOME_REGION, "--json"])
        .envs(ls.env(HOME_REGION))
        .env("AWS_ENDPOINT_URL_CLOUDTRAIL", &moto.endpoint)
        .env("RUST_LOG", "warn");
    let out = tokio::time::timeout(Duration::from_secs(180), cmd.output())
        .await
        .expect("event-rule did not finish within 180 s")
        .expect("run event-rule");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("event-rule {args:?}: no JSON report ({e})\nstdout:\n{stdout}\nstderr:\n{stderr}")
    });
    (out.status.code().unwrap_or(-1), report, stderr)
}

/// The report's rows as `(scope, account, region) -> outcome`.
fn outcomes(report: &Value) -> BTreeMap<(String, String, String), String> {
    report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                (
                    r["scope"].as_str().unwrap().to_string(),
                    r["account"].as_str().unwrap().to_string(),
                    r["region"].as_str().unwrap().to_string(),
                ),
                r["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn assert_all(report: &Value, outcome: &str, rows: usize, what: &str) {
    let got = outcomes(report);
    assert_eq!(got.len(), rows, "{what}: {report:#}");
    assert!(
        got.values().all(|o| o == outcome),
        "{what}: every row should be {outcome}: {report:#}"
    );
}

// ------------------------------------------------------------------ reading back

fn managed(tags: &BTreeMap<String, String>) -> bool {
    tags.get("managed-by").map(String::as_str) == Some("cloudcoreo-event-rule")
}

fn parsed(text: Option<&String>) -> Value {
    text.and_then(|t| parse(t))
        .map(|v| normalize(&v))
        .unwrap_or(Value::Null)
}

/// Everything `event-rule setup` specifies, as deployed in `account` (queue, the
/// regions' topic, policy, rule, target and subscription, the scanner role), in a
/// form to compare.
async fn snapshot(ls: &LocalStack, account: &str, regions: &[&str], scanner: bool) -> Value {
    let home = ls.sdk_as(ACCOUNT, HOME_REGION).await;
    let sqs = aws_sdk_sqs::Client::new(&home);
    let mut queues = serde_json::Map::new();
    for name in ["cloudcoreo-events-queue", "cloudcoreo-events-queue-dlq"] {
        let url = format!("{}/{ACCOUNT}/{name}", ls.endpoint);
        let attrs: BTreeMap<String, String> = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"))
            .attributes()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let tags: BTreeMap<String, String> = sqs
            .list_queue_tags()
            .queue_url(&url)
            .send()
            .await
            .expect("queue tags")
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        queues.insert(
            name.into(),
            json!({
                "SqsManagedSseEnabled": attrs.get("SqsManagedSseEnabled"),
                "KmsMasterKeyId": attrs.get("KmsMasterKeyId"),
                "MessageRetentionPeriod": if name.ends_with("-dlq") { attrs.get("MessageRetentionPeriod") } else { None },
                "RedrivePolicy": parsed(attrs.get("RedrivePolicy")),
                "Policy": parsed(attrs.get("Policy")),
                "managed": managed(&tags),
            }),
        );
    }
    let mut out = json!({ "queues": queues, "regions": {} });
    for region in regions {
        let sdk = ls.sdk_as(account, region).await;
        let sns = aws_sdk_sns::Client::new(&sdk);
        let events = aws_sdk_eventbridge::Client::new(&sdk);
        let topic = topic_arn(account, region);
        let attrs = sns
            .get_topic_attributes()
            .topic_arn(&topic)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{topic}: {e:?}"));
        let attrs: BTreeMap<String, String> = attrs
            .attributes()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let topic_tags: BTreeMap<String, String> = sns
            .list_tags_for_resource()
            .resource_arn(&topic)
            .send()
            .await
            .expect("topic tags")
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        let rule = events
            .describe_rule()
            .name("cloudcoreo-events")
            .send()
            .await
            .expect("rule");
        let rule_tags: BTreeMap<String, String> = events
            .list_tags_for_resource()
            .resource_arn(rule.arn().unwrap_or_default())
            .send()
            .await
            .expect("rule tags")
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        let targets: Vec<Value> = events
            .list_targets_by_rule()
            .rule("cloudcoreo-events")
            .send()
            .await
            .expect("targets")
            .targets()
            .iter()
            .map(|t| json!([t.id(), t.arn(), t.input(), t.input_path()]))
            .collect();
        // The queue's owner sees the subscription wherever the topic is.
        let home_sns = aws_sdk_sns::Client::new(&ls.sdk_as(ACCOUNT, region).await);
        let subs = home_sns
            .list_subscriptions_by_topic()
            .topic_arn(&topic)
            .send()
            .await
            .expect("subscriptions");
        let mut subscriptions = Vec::new();
        for s in subs.subscriptions() {
            // LocalStack keeps a subscription with its topic: ask the topic's account.
            let a = sns
                .get_subscription_attributes()
                .subscription_arn(s.subscription_arn().unwrap_or_default())
                .send()
                .await
                .expect("subscription attributes");
            let a = a.attributes().cloned().unwrap_or_default();
            subscriptions.push(json!({
                "Protocol": s.protocol(),
                "Endpoint": s.endpoint(),
                "Owner": s.owner(),
                "RawMessageDelivery": a.get("RawMessageDelivery"),
                "PendingConfirmation": a.get("PendingConfirmation"),
                "FilterPolicy": a.get("FilterPolicy"),
            }));
        }
        out["regions"][*region] = json!({
            "topic": {
                "Policy": parsed(attrs.get("Policy")),
                "KmsMasterKeyId": attrs.get("KmsMasterKeyId").filter(|k| !k.is_empty()),
                "managed": managed(&topic_tags),
            },
            "rule": {
                "EventPattern": normalize(&serde_json::from_str::<Value>(rule.event_pattern().unwrap_or("null")).unwrap()),
                "Description": rule.description(),
                "State": rule.state().map(|s| s.as_str()),
                "EventBusName": rule.event_bus_name(),
                "managed": managed(&rule_tags),
            },
            "targets": targets,
            "subscriptions": subscriptions,
        });
    }
    if scanner {
        let iam = aws_sdk_iam::Client::new(&ls.sdk_as(account, "us-east-1").await);
        let role = iam
            .get_role()
            .role_name("cloudcoreo-scanner")
            .send()
            .await
            .expect("scanner role");
        let role = role.role().expect("role");
        let attached: Vec<String> = iam
            .list_attached_role_policies()
            .role_name("cloudcoreo-scanner")
            .send()
            .await
            .expect("attached")
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(String::from))
            .collect();
        let inline = iam
            .list_role_policies()
            .role_name("cloudcoreo-scanner")
            .send()
            .await
            .expect("inline")
            .policy_names()
            .to_vec();
        let tags: BTreeMap<String, String> = role
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        out["scanner"] = json!({
            "trust": parsed(role.assume_role_policy_document().map(String::from).as_ref()),
            "attached": attached,
            "inline": inline,
            "managed": managed(&tags),
        });
    }
    out
}

/// LocalStack's CloudFormation drops `Tags` of `AWS::Events::Rule` (its rule resource
/// provider has no tag handling); AWS applies them. Tags the deployed rules so the
/// rest can be compared, and says so.
async fn tag_rules_localstack_drops(ls: &LocalStack, account: &str, regions: &[&str]) {
    for region in regions {
        let events = aws_sdk_eventbridge::Client::new(&ls.sdk_as(account, region).await);
        let arn = format!("arn:aws:events:{region}:{account}:rule/cloudcoreo-events");
        let tags = events
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .expect("rule tags");
        if tags.tags().is_empty() {
            let _ = writeln!(
                std::io::stderr(),
                "note: LocalStack's CloudFormation dropped the rule's Tags in {account}/{region}; tagging it through the API"
            );
            events
                .tag_resource()
                .resource_arn(&arn)
                .tags(
                    aws_sdk_eventbridge::types::Tag::builder()
                        .key("managed-by")
                        .value("cloudcoreo-event-rule")
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .expect("tag rule");
        }
    }
}

// ------------------------------------------------------------------ delivery

/// Puts a CloudTrail-shaped event on `account`'s default bus in each region and waits
/// until each arrives on the central queue as the region's topic's notification.
async fn events_reach_the_queue(ls: &LocalStack, account: &str, regions: &[&str], tag: &str) {
    let mut wanted = BTreeMap::new();
    for region in regions {
        let id = format!("{tag}-{region}-0000-4000-8000-000000000001");
        let record = json!({
            "eventVersion": "1.08",
            "eventTime": "2026-11-30T10:00:00Z",
            "eventSource": "ec2.amazonaws.com",
            "eventName": "CreateTags",
            "awsRegion": region,
            "eventID": id,
            "eventType": "AwsApiCall",
            "readOnly": false,
            "recipientAccountId": account,
            "requestParameters": { "resourcesSet": { "items": [{ "resourceId": "i-0abc1234567890def" }] } }
        });
        let events = aws_sdk_eventbridge::Client::new(&ls.sdk_as(account, region).await);
        let out = events
            .put_events()
            .entries(
                aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .source("aws.ec2")
                    .detail_type("AWS API Call via CloudTrail")
                    .detail(record.to_string())
                    .build(),
            )
            .send()
            .await
            .expect("put events");
        assert_eq!(out.failed_entry_count(), 0, "{region}: {out:?}");
        wanted.insert(id, topic_arn(account, region));
    }
    let sqs = aws_sdk_sqs::Client::new(&ls.sdk_as(ACCOUNT, HOME_REGION).await);
    let url = format!("{}/{ACCOUNT}/cloudcoreo-events-queue", ls.endpoint);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !wanted.is_empty() {
        assert!(
            Instant::now() < deadline,
            "never reached the queue: {wanted:?}"
        );
        let out = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(2)
            .send()
            .await
            .expect("receive");
        for m in out.messages() {
            let body: Value =
                serde_json::from_str(m.body().unwrap_or_default()).expect("JSON body");
            assert_eq!(body["Type"], "Notification", "{body}");
            let inner: Value =
                serde_json::from_str(body["Message"].as_str().unwrap()).expect("event");
            assert_eq!(inner["detail-type"], "AWS API Call via CloudTrail");
            if let Some(id) = inner["detail"]["eventID"].as_str() {
                if let Some(topic) = wanted.remove(id) {
                    assert_eq!(
                        body["TopicArn"],
                        topic.as_str(),
                        "delivered by the region's topic"
                    );
                }
            }
            sqs.delete_message()
                .queue_url(&url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
}

fn start(test: &str, services: &str) -> Option<(LocalStack, Moto)> {
    let ls = LocalStack::start_with(test, services)?;
    let moto = match std::env::var_os("MOTO_SERVER_BIN") {
        Some(_) => Moto::start(test)?,
        None => {
            skip(
                test,
                "MOTO_SERVER_BIN not set (moto holds the CloudTrail trail)",
            );
            return None;
        }
    };
    Some((ls, moto))
}

// ------------------------------------------------------------------ tests

/// The templates deploy what `event-rule setup` creates, `event-rule status` finds
/// them in sync, and events flow through them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_deploy_what_setup_creates() {
    let _one = SERIAL.lock().await;
    let Some((ls, moto)) = start("templates_deploy_what_setup_creates", SERVICES) else {
        return;
    };
    tokio::time::timeout(LIMIT, async {
        moto.trail(common::HOME, HOME_REGION, true).await;
        let stacks = Stacks {
            ls_endpoint: ls.endpoint.clone(),
            account: ACCOUNT.into(),
        };
        let topics: Vec<String> = REGIONS.iter().map(|r| topic_arn(ACCOUNT, r)).collect();
        let mut sorted = topics.clone();
        sorted.sort();
        let topic_list = sorted.join(",");
        let regions = REGIONS.join(",");
        let scanner_flags = [
            "--scanner-principal",
            SCANNER,
            "--scanner-external-id",
            EXTERNAL_ID,
        ];
        let status_args: Vec<&str> = [
            &["status", "--regions", regions.as_str()][..],
            &scanner_flags[..],
        ]
        .concat();

        // The organization-wide queue first: status with --queue-org-id is in sync.
        stacks
            .deploy(
                &ls,
                HOME_REGION,
                "central-queue",
                &template("central-queue"),
                &[("OrganizationId", ORG)],
                false,
            )
            .await;
        for region in REGIONS {
            let out = stacks
                .deploy(
                    &ls,
                    region,
                    "event-stream",
                    &template("event-stream-region"),
                    &[("QueueAccountId", ACCOUNT)],
                    false,
                )
                .await;
            assert_eq!(out["TopicArn"], topic_arn(ACCOUNT, region));
        }
        stacks
            .deploy(
                &ls,
                "us-east-1",
                "scanner-role",
                &template("scanner-role"),
                &[("ScannerPrincipal", SCANNER), ("ExternalId", EXTERNAL_ID)],
                false,
            )
            .await;
        tag_rules_localstack_drops(&ls, ACCOUNT, &REGIONS).await;

        let org_args: Vec<&str> = [&status_args[..], &["--queue-org-id", ORG][..]].concat();
        let (code, report, err) = event_rule(&ls, &moto, &org_args).await;
        assert_eq!(code, 0, "status (organization-wide queue) {report:#} {err}");
        assert_all(&report, "in-sync", 4, "status, organization-wide queue");
        // Without the flag the tool wants the listed form: only the queue differs.
        let (code, report, _) = event_rule(&ls, &moto, &status_args).await;
        assert_eq!(code, 2, "{report:#}");
        let drift: Vec<_> = outcomes(&report)
            .into_iter()
            .filter(|(_, o)| o != "in-sync")
            .collect();
        assert_eq!(
            drift,
            vec![(
                ("queue".into(), ACCOUNT.into(), HOME_REGION.into()),
                "drift".into()
            )]
        );

        // The listed form, through a stack update.
        stacks
            .deploy(
                &ls,
                HOME_REGION,
                "central-queue",
                &template("central-queue"),
                &[("TopicArns", &topic_list), ("TopicAccountIds", ACCOUNT)],
                true,
            )
            .await;
        let (code, report, err) = event_rule(&ls, &moto, &status_args).await;
        assert_eq!(
            code, 0,
            "status of the stack-deployed stream: {report:#} {err}"
        );
        assert_all(&report, "in-sync", 4, "status of the stack-deployed stream");

        let deployed = snapshot(&ls, ACCOUNT, &REGIONS, true).await;
        events_reach_the_queue(&ls, ACCOUNT, &REGIONS, "a1b2c3d4").await;

        // Remove the stacks; setup makes the same things again.
        for region in REGIONS {
            stacks.delete(&ls, region, "event-stream").await;
        }
        stacks.delete(&ls, "us-east-1", "scanner-role").await;
        stacks.delete(&ls, HOME_REGION, "central-queue").await;
        let events = aws_sdk_eventbridge::Client::new(&ls.sdk_as(ACCOUNT, REGIONS[0]).await);
        assert!(
            events
                .describe_rule()
                .name("cloudcoreo-events")
                .send()
                .await
                .is_err(),
            "stack deleted its rule"
        );

        let setup_args: Vec<&str> = [
            &["setup", "--regions", regions.as_str()][..],
            &scanner_flags[..],
        ]
        .concat();
        let (code, report, err) = event_rule(&ls, &moto, &setup_args).await;
        assert_eq!(code, 0, "setup: {report:#} {err}");
        assert_all(&report, "created", 4, "setup after the stacks");
        let created = snapshot(&ls, ACCOUNT, &REGIONS, true).await;
        assert_eq!(
            deployed, created,
            "the stacks deployed\n{deployed:#}\nevent-rule setup created\n{created:#}"
        );
        // Spot checks, so the equality is not between two empty reads.
        let east = &deployed["regions"]["us-east-1"];
        assert_eq!(
            east["rule"]["EventPattern"],
            json!({"detail-type": "AWS API Call via CloudTrail"})
        );
        assert_eq!(
            east["targets"],
            json!([[
                "cloudcoreo-events-topic",
                topic_arn(ACCOUNT, "us-east-1"),
                null,
                null
            ]])
        );
        assert_eq!(east["subscriptions"].as_array().unwrap().len(), 1);
        assert_eq!(east["subscriptions"][0]["Endpoint"], queue_arn());
        assert_eq!(east["topic"]["managed"], true);
        assert_eq!(
            deployed["scanner"]["attached"],
            json!(["arn:aws:iam::aws:policy/SecurityAudit"])
        );
        assert_eq!(
            deployed["queues"]["cloudcoreo-events-queue"]["Policy"]["Statement"]["Condition"]
                ["ArnLike"]["aws:SourceArn"],
            json!(sorted)
        );
        events_reach_the_queue(&ls, ACCOUNT, &REGIONS, "e5f6a7b8").await;
    })
    .await
    .expect("test timed out");
}

/// Serves one HTTP request on 127.0.0.1 and returns its body: CloudFormation's
/// response URL, for the custom resource function.
fn response_url() -> (String, std::thread::JoinHandle<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/response", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("the function answered");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = s.read(&mut chunk).expect("read");
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                if body.len() >= len {
                    assert!(head.starts_with("PUT "), "{head}");
                    let _ = s.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    return serde_json::from_str(&body[..len]).expect("JSON response");
                }
            }
            if n == 0 {
                panic!("connection closed early");
            }
        }
    });
    (url, handle)
}

/// Runs the regional template's custom resource function (its code taken from the
/// template) with `account`'s credentials against LocalStack; returns what it sent
/// back to CloudFormation.
async fn run_function(
    ls: &LocalStack,
    account: &str,
    region: &str,
    kind: &str,
    props: Value,
    physical: Option<&str>,
) -> Value {
    let python = std::env::var("LOCALSTACK_PYTHON").expect("LOCALSTACK_PYTHON");
    let body = template("event-stream-region");
    let code = body["Resources"]["SubscriberFunction"]["Properties"]["Code"]["ZipFile"]
        .as_str()
        .expect("inline code")
        .to_string();
    let dir = std::env::temp_dir().join(format!(
        "event-rule-subscriber-{}-{kind}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.py"), code).unwrap();
    let (url, answer) = response_url();
    let mut event = json!({
        "RequestType": kind,
        "ResponseURL": url,
        "StackId": format!("arn:aws:cloudformation:{region}:{account}:stack/event-stream/1"),
        "RequestId": "req-1",
        "LogicalResourceId": "CrossAccountSubscription",
        "ResourceType": "Custom::CentralQueueSubscription",
        "ResourceProperties": props,
    });
    if let Some(p) = physical {
        event["PhysicalResourceId"] = json!(p);
    }
    let out = tokio::process::Command::new(python)
        .args([
            "-c",
            "import index, json, sys; index.handler(json.loads(sys.argv[1]), None)",
            &event.to_string(),
        ])
        .current_dir(&dir)
        .env("AWS_ENDPOINT_URL", &ls.endpoint)
        .env("AWS_ACCESS_KEY_ID", account)
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", region)
        .env("AWS_CONFIG_FILE", "/nonexistent/event-rule-test")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/event-rule-test",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .await
        .expect("run the function");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "function: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    tokio::task::spawn_blocking(move || answer.join().expect("response"))
        .await
        .unwrap()
}

/// A member account's region with the queue in the home account: the member's stack
/// (less the function LocalStack cannot run) and the function itself subscribe the
/// queue as its owner; `event-rule status` over the member account finds it in sync,
/// and events cross the accounts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_account_region_subscribes_as_the_queue_owner() {
    let _one = SERIAL.lock().await;
    let Some((ls, moto)) = start(
        "cross_account_region_subscribes_as_the_queue_owner",
        SERVICES,
    ) else {
        return;
    };
    tokio::time::timeout(LIMIT, async {
        moto.trail(common::HOME, HOME_REGION, true).await;
        let region = "us-east-1";
        let home = Stacks { ls_endpoint: ls.endpoint.clone(), account: ACCOUNT.into() };
        let member = Stacks { ls_endpoint: ls.endpoint.clone(), account: MEMBER.into() };
        let topic = topic_arn(MEMBER, region);
        let out = home
            .deploy(
                &ls,
                HOME_REGION,
                "central-queue",
                &template("central-queue"),
                &[("TopicArns", &topic), ("TopicAccountIds", MEMBER)],
                false,
            )
            .await;
        let role = out["SubscriberRoleArn"].clone();
        assert_eq!(role, format!("arn:aws:iam::{ACCOUNT}:role/cloudcoreo-events-subscriber"));

        let (regional, removed) = without_types(&template("event-stream-region"), &["AWS::Lambda::Function"]);
        let _ = writeln!(
            std::io::stderr(),
            "note: LocalStack's free build cannot create AWS::Lambda::Function offline (it downloads a runtime); left out: {removed:?}"
        );
        assert_eq!(
            removed,
            vec![
                "CrossAccountSubscription (Custom::CentralQueueSubscription)".to_string(),
                "SubscriberFunction (AWS::Lambda::Function)".to_string()
            ]
        );
        member
            .deploy(&ls, region, "event-stream", &regional, &[("QueueAccountId", ACCOUNT)], false)
            .await;
        tag_rules_localstack_drops(&ls, MEMBER, &[region]).await;
        // The member stack's function role may assume the central role.
        let iam = aws_sdk_iam::Client::new(&ls.sdk_as(MEMBER, region).await);
        let policy = iam
            .get_role_policy()
            .role_name(format!("cloudcoreo-events-subscriber-{region}"))
            .policy_name("subscribe-as-queue-owner")
            .send()
            .await
            .expect("function role policy");
        let doc = parse(policy.policy_document()).unwrap();
        assert_eq!(doc["Statement"][0]["Action"], "sts:AssumeRole");
        assert_eq!(doc["Statement"][0]["Resource"], role.as_str());

        // What the custom resource does on create: subscribe as the queue's owner.
        let props = json!({ "TopicArn": topic, "QueueArn": queue_arn(), "RoleArn": role });
        let created = run_function(&ls, MEMBER, region, "Create", props.clone(), None).await;
        assert_eq!(created["Status"], "SUCCESS", "{created}");
        let subscription = created["PhysicalResourceId"].as_str().unwrap().to_string();
        assert!(subscription.starts_with(&format!("{topic}:")), "{created}");
        assert_eq!(created["Data"]["SubscriptionArn"], subscription.as_str());
        let seen = snapshot(&ls, MEMBER, &[region], false).await;
        let subs = &seen["regions"][region]["subscriptions"];
        assert_eq!(subs.as_array().unwrap().len(), 1, "{seen:#}");
        assert_eq!(subs[0]["Endpoint"], queue_arn());
        assert_eq!(subs[0]["Owner"], ACCOUNT, "subscribed by the queue's owner");
        // An update that changes nothing keeps the same subscription.
        let again = run_function(&ls, MEMBER, region, "Update", props.clone(), Some(&subscription)).await;
        assert_eq!(again["PhysicalResourceId"], subscription.as_str());

        // The tool, reaching the member account, finds the region as it would make it.
        let (code, report, err) = event_rule(
            &ls,
            &moto,
            &["status", "--accounts", MEMBER, "--regions", region],
        )
        .await;
        assert_eq!(code, 0, "status over the member account: {report:#} {err}");
        assert_all(&report, "in-sync", 2, "status over the member account");
        events_reach_the_queue(&ls, MEMBER, &[region], "c0ffee00").await;

        // A create that cannot subscribe fails the stack; a delete never blocks it.
        let bad = json!({
            "TopicArn": topic_arn(MEMBER, region).replace("cloudcoreo-events", "no-such-topic"),
            "QueueArn": queue_arn(),
            "RoleArn": role
        });
        let failed = run_function(&ls, MEMBER, region, "Create", bad.clone(), None).await;
        assert_eq!(failed["Status"], "FAILED", "{failed}");
        assert!(!failed["Reason"].as_str().unwrap_or_default().is_empty());
        let deleted = run_function(&ls, MEMBER, region, "Delete", bad, Some("arn:aws:sns:x")).await;
        assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
        // The real delete unsubscribes.
        let deleted = run_function(&ls, MEMBER, region, "Delete", props, Some(&subscription)).await;
        assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
        let seen = snapshot(&ls, MEMBER, &[region], false).await;
        assert_eq!(seen["regions"][region]["subscriptions"], json!([]), "{seen:#}");
    })
    .await
    .expect("test timed out");
}

/// The processor templates and the KMS variants: what LocalStack's free build can
/// create is deployed and read back; the rest is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processor_templates_and_encryption_deploy_what_localstack_can() {
    let _one = SERIAL.lock().await;
    let services = "sqs,sns,events,sts,iam,cloudformation,logs,cloudwatch,kms,ec2";
    let Some((ls, moto)) = start(
        "processor_templates_and_encryption_deploy_what_localstack_can",
        services,
    ) else {
        return;
    };
    tokio::time::timeout(LIMIT, async {
        moto.trail(common::HOME, HOME_REGION, true).await;
        let stacks = Stacks {
            ls_endpoint: ls.endpoint.clone(),
            account: ACCOUNT.into(),
        };
        let region = "us-east-1";

        // Encrypted: a key for the queues, one for the topic, each with its policy.
        let queue_out = stacks
            .deploy(
                &ls,
                HOME_REGION,
                "central-queue",
                &template("central-queue"),
                &[
                    ("QueueKmsKey", "create"),
                    ("TopicArns", &topic_arn(ACCOUNT, region)),
                    ("TopicAccountIds", ACCOUNT),
                ],
                false,
            )
            .await;
        let queue_key = queue_out["QueueKmsKeyArn"].clone();
        let region_out = stacks
            .deploy(
                &ls,
                region,
                "event-stream",
                &template("event-stream-region"),
                &[("QueueAccountId", ACCOUNT), ("TopicKmsKey", "create")],
                false,
            )
            .await;
        let topic_key = region_out["TopicKmsKeyId"].clone();
        tag_rules_localstack_drops(&ls, ACCOUNT, &[region]).await;
        let kms = aws_sdk_kms::Client::new(&ls.sdk_as(ACCOUNT, region).await);
        let key_policy = kms
            .get_key_policy()
            .key_id(&topic_key)
            .policy_name("default")
            .send()
            .await
            .expect("topic key policy");
        let key_policy = parse(key_policy.policy().unwrap_or_default()).unwrap();
        let events_statement = &key_policy["Statement"][1];
        assert_eq!(
            events_statement["Principal"]["Service"],
            "events.amazonaws.com"
        );
        // `sns.REGION.${AWS::URLSuffix}`: LocalStack gives its own host as the suffix.
        let via = events_statement["Condition"]["StringEquals"]["kms:ViaService"]
            .as_str()
            .unwrap_or_default();
        assert!(via.starts_with(&format!("sns.{region}.")), "{key_policy:#}");
        let snap = snapshot(&ls, ACCOUNT, &[region], false).await;
        assert_eq!(
            snap["regions"][region]["topic"]["KmsMasterKeyId"],
            topic_key.as_str()
        );
        assert_eq!(
            snap["queues"]["cloudcoreo-events-queue"]["KmsMasterKeyId"],
            queue_key.as_str()
        );
        assert_eq!(
            snap["queues"]["cloudcoreo-events-queue-dlq"]["KmsMasterKeyId"],
            queue_key.as_str()
        );
        let (code, report, err) = event_rule(
            &ls,
            &moto,
            &[
                "status",
                "--regions",
                region,
                "--queue-kms-key",
                &queue_key,
                "--topic-kms-key",
                &topic_key,
            ],
        )
        .await;
        assert_eq!(code, 0, "status of the encrypted stream: {report:#} {err}");
        assert_all(&report, "in-sync", 2, "status of the encrypted stream");

        // The Lambda: everything but the function and its event source mapping.
        let sink = format!("arn:aws:sqs:{HOME_REGION}:{ACCOUNT}:rescans");
        let consumer = [
            ("QueueArn", queue_arn()),
            ("QueueKmsKeyArn", queue_key.clone()),
            ("Sinks", format!("sqs:{}/{ACCOUNT}/rescans", ls.endpoint)),
            ("SinkQueueArns", sink.clone()),
        ];
        let (lambda, removed) = without_types(
            &template("processor-lambda"),
            &["AWS::Lambda::Function", "AWS::Lambda::EventSourceMapping"],
        );
        let _ = writeln!(
            std::io::stderr(),
            "note: processor-lambda on LocalStack without: {removed:?}"
        );
        assert_eq!(
            removed,
            vec![
                "Function (AWS::Lambda::Function)".to_string(),
                "QueueEventSource (AWS::Lambda::EventSourceMapping)".to_string()
            ]
        );
        let mut params: Vec<(&str, &str)> =
            consumer.iter().map(|(k, v)| (*k, v.as_str())).collect();
        params.extend([
            ("CodeS3Bucket", "code-bucket"),
            ("CodeS3Key", "processor-lambda.zip"),
        ]);
        let out = stacks
            .deploy(
                &ls,
                HOME_REGION,
                "processor-lambda",
                &lambda,
                &params,
                false,
            )
            .await;
        check_consumer_role(&ls, &out["RoleArn"], &sink, &queue_key, true).await;

        // The service: everything but ECS and Application Auto Scaling.
        // EC2 through the library's Query client (the tool has no generated EC2 crate).
        let ec2 = event_rule::aws::AccountCtx {
            account: ACCOUNT.to_string(),
            sdk: ls.sdk_as(ACCOUNT, HOME_REGION).await,
        };
        let subnets =
            event_rule::ec2::query(&ec2, HOME_REGION, "ec2:DescribeSubnets", "subnets", &[])
                .await
                .expect("subnets");
        let subnet = subnets.items("subnetSet").next().expect("a default subnet");
        let (vpc, subnet) = (
            subnet.child_text("vpcId").unwrap().to_string(),
            subnet.child_text("subnetId").unwrap().to_string(),
        );
        let (service, removed) = without_types(
            &template("processor-service"),
            &[
                "AWS::ECS::Cluster",
                "AWS::ECS::TaskDefinition",
                "AWS::ECS::Service",
                "AWS::ApplicationAutoScaling::ScalableTarget",
                "AWS::ApplicationAutoScaling::ScalingPolicy",
            ],
        );
        let _ = writeln!(
            std::io::stderr(),
            "note: processor-service on LocalStack without: {removed:?}"
        );
        let mut params: Vec<(&str, &str)> =
            consumer.iter().map(|(k, v)| (*k, v.as_str())).collect();
        params.extend([
            ("Image", "example.invalid/processor:latest"),
            ("VpcId", vpc.as_str()),
            ("SubnetIds", subnet.as_str()),
            ("MetricsIngressCidr", "10.0.0.0/8"),
        ]);
        let out = stacks
            .deploy(
                &ls,
                HOME_REGION,
                "processor-service",
                &service,
                &params,
                false,
            )
            .await;
        check_consumer_role(&ls, &out["TaskRoleArn"], &sink, &queue_key, false).await;
        // The tasks' security group exists in the VPC. Its inbound rule (9090 from
        // MetricsIngressCidr, checked in the templates' unit tests) is not applied:
        // LocalStack's security group provider ignores SecurityGroupIngress.
        let groups = event_rule::ec2::query(
            &ec2,
            HOME_REGION,
            "ec2:DescribeSecurityGroups",
            "security groups",
            &[("Filter.1.Name", "vpc-id"), ("Filter.1.Value.1", &vpc)],
        )
        .await
        .expect("security groups");
        let ours = groups
            .items("securityGroupInfo")
            .find(|g| {
                g.child_text("groupDescription")
                    .is_some_and(|d| d.starts_with("cloudcoreo-events processor"))
            })
            .expect("the tasks' security group");
        if ours.items("ipPermissions").next().is_none() {
            let _ = writeln!(
                std::io::stderr(),
                "note: LocalStack did not apply the security group's SecurityGroupIngress"
            );
        } else {
            let port = |p: &event_rule::ec2::XmlNode, name: &str| {
                p.child_text(name)
                    .and_then(|v| v.trim().parse::<i32>().ok())
            };
            let ingress: Vec<(Option<i32>, Option<i32>)> = ours
                .items("ipPermissions")
                .map(|p| (port(p, "fromPort"), port(p, "toPort")))
                .collect();
            assert_eq!(ingress, vec![(Some(9090), Some(9090))]);
        }
    })
    .await
    .expect("test timed out");
}

/// A processor role as deployed: consume the queue, decrypt it through SQS, send to
/// the sink queue; nothing on `*`.
async fn check_consumer_role(ls: &LocalStack, role_arn: &str, sink: &str, key: &str, logs: bool) {
    let iam = aws_sdk_iam::Client::new(&ls.sdk_as(ACCOUNT, HOME_REGION).await);
    let name = role_arn.rsplit('/').next().unwrap();
    let doc = iam
        .get_role_policy()
        .role_name(name)
        .policy_name("processor")
        .send()
        .await
        .expect("role policy");
    let doc = parse(doc.policy_document()).unwrap();
    let statements: BTreeMap<String, Value> = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["Sid"].as_str().unwrap().to_string(), s.clone()))
        .collect();
    let mut sids: Vec<&str> = vec!["ConsumeQueue", "DecryptQueueMessages", "SendToSinkQueues"];
    if logs {
        sids.push("WriteOwnLogs");
    }
    sids.sort();
    assert_eq!(
        statements.keys().map(String::as_str).collect::<Vec<_>>(),
        sids,
        "{doc:#}"
    );
    assert_eq!(statements["ConsumeQueue"]["Resource"], queue_arn());
    assert_eq!(statements["DecryptQueueMessages"]["Resource"], key);
    assert_eq!(
        normalize(&statements["SendToSinkQueues"]["Resource"]),
        json!(sink)
    );
    assert!(statements.values().all(|s| s["Resource"] != "*"), "{doc:#}");
}
