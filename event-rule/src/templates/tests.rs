//! The templates against the tool: a small evaluator of CloudFormation's intrinsic
//! functions resolves a template for given parameters, and what it would deploy is
//! compared with what `event-rule setup` computes for the same names (the deployed
//! comparison runs on LocalStack in `tests/cloudformation.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{json, Map, Value};

use super::*;
use crate::config::Config;
use crate::{aws, queue};

const MEMBER: &str = "222222222222";
const HOME: &str = "111111111111";
const REGION: &str = "eu-west-1";

/// A template resolved for one set of parameters.
struct Eval<'a> {
    template: &'a Value,
    params: BTreeMap<String, Value>,
    /// What `Ref` of a resource gives.
    refs: BTreeMap<String, Value>,
    conditions: BTreeMap<String, bool>,
}

impl<'a> Eval<'a> {
    fn new(template: &'a Value, region: &str, account: &str, given: &[(&str, Value)]) -> Self {
        let mut params = BTreeMap::new();
        for (name, p) in template["Parameters"].as_object().expect("parameters") {
            let default = p.get("Default").cloned();
            let list = p["Type"] == "CommaDelimitedList";
            let v = given
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .or(default);
            let v = match (v, list) {
                (Some(Value::String(s)), true) => json!(s.split(',').collect::<Vec<_>>()),
                (Some(v), _) => v,
                (None, _) => panic!("parameter {name} has no value"),
            };
            params.insert(name.clone(), v);
        }
        params.insert("AWS::Region".into(), json!(region));
        params.insert("AWS::AccountId".into(), json!(account));
        params.insert("AWS::Partition".into(), json!(aws::partition(region)));
        params.insert("AWS::URLSuffix".into(), json!("amazonaws.com"));
        let mut e = Eval {
            template,
            params,
            refs: BTreeMap::new(),
            conditions: BTreeMap::new(),
        };
        let empty = Map::new();
        let conds = template["Conditions"].as_object().unwrap_or(&empty);
        for name in conds.keys() {
            let v = e.condition(name);
            e.conditions.insert(name.clone(), v);
        }
        e
    }

    fn condition(&self, name: &str) -> bool {
        if let Some(v) = self.conditions.get(name) {
            return *v;
        }
        let c = &self.template["Conditions"][name];
        self.truth(c)
    }

    fn truth(&self, c: &Value) -> bool {
        let (f, args) = c
            .as_object()
            .and_then(|m| m.iter().next())
            .expect("a condition function");
        match f.as_str() {
            "Fn::Equals" => self.eval(&args[0]) == self.eval(&args[1]),
            "Fn::Not" => !self.truth(&args[0]),
            "Fn::Or" => args.as_array().unwrap().iter().any(|a| self.truth(a)),
            "Fn::And" => args.as_array().unwrap().iter().all(|a| self.truth(a)),
            "Condition" => self.condition(args.as_str().unwrap()),
            other => panic!("condition function {other}"),
        }
    }

    fn lookup(&self, name: &str) -> Value {
        if let Some((res, attr)) = name.split_once('.') {
            return self.get_att(res, attr);
        }
        self.params
            .get(name)
            .or_else(|| self.refs.get(name))
            .cloned()
            .unwrap_or_else(|| panic!("nothing named {name}"))
    }

    fn get_att(&self, res: &str, attr: &str) -> Value {
        self.refs
            .get(&format!("{res}.{attr}"))
            .cloned()
            .unwrap_or_else(|| panic!("no attribute {res}.{attr} given"))
    }

    fn substitute(&self, text: &str, vars: &Map<String, Value>) -> Value {
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let end = rest[i..].find('}').expect("closing brace") + i;
            let name = &rest[i + 2..end];
            let v = vars
                .get(name)
                .map(|v| self.eval(v))
                .unwrap_or_else(|| self.lookup(name));
            out.push_str(
                v.as_str()
                    .unwrap_or_else(|| panic!("{name} is not a string")),
            );
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        json!(out)
    }

    /// Resolves a value; `Null` stands for `AWS::NoValue` and is dropped from lists
    /// and objects.
    fn eval(&self, v: &Value) -> Value {
        match v {
            Value::Object(m) if m.len() == 1 => {
                let (k, a) = m.iter().next().unwrap();
                match k.as_str() {
                    "Ref" if a == "AWS::NoValue" => Value::Null,
                    "Ref" => self.lookup(a.as_str().unwrap()),
                    "Fn::Sub" => match a {
                        Value::String(s) => self.substitute(s, &Map::new()),
                        Value::Array(x) => {
                            self.substitute(x[0].as_str().unwrap(), x[1].as_object().unwrap())
                        }
                        _ => panic!("Fn::Sub {a}"),
                    },
                    "Fn::If" => {
                        let branch = if self.condition(a[0].as_str().unwrap()) {
                            1
                        } else {
                            2
                        };
                        self.eval(&a[branch])
                    }
                    "Fn::Join" => {
                        let items = self.eval(&a[1]);
                        let parts: Vec<&str> = items
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|x| x.as_str().unwrap())
                            .collect();
                        json!(parts.join(a[0].as_str().unwrap()))
                    }
                    "Fn::Split" => {
                        let s = self.eval(&a[1]);
                        json!(s
                            .as_str()
                            .unwrap()
                            .split(a[0].as_str().unwrap())
                            .collect::<Vec<_>>())
                    }
                    "Fn::Select" => {
                        let list = self.eval(&a[1]);
                        list[a[0].as_u64().unwrap() as usize].clone()
                    }
                    "Fn::GetAtt" => self.get_att(a[0].as_str().unwrap(), a[1].as_str().unwrap()),
                    _ => {
                        let inner = self.eval(a);
                        let mut out = Map::new();
                        if !inner.is_null() {
                            out.insert(k.clone(), inner);
                        }
                        Value::Object(out)
                    }
                }
            }
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), self.eval(v)))
                    .filter(|(_, v)| !v.is_null())
                    .collect(),
            ),
            Value::Array(a) => Value::Array(
                a.iter()
                    .map(|x| self.eval(x))
                    .filter(|x| !x.is_null())
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// A resource's resolved properties, or `None` when its condition is false.
    fn resource(&self, name: &str) -> Option<Value> {
        let r = &self.template["Resources"][name];
        assert!(r.is_object(), "no resource {name}");
        if let Some(c) = r["Condition"].as_str() {
            if !self.condition(c) {
                return None;
            }
        }
        Some(self.eval(&r["Properties"]))
    }
}

fn tags_of(props: &Value) -> BTreeMap<String, String> {
    props["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["Key"].as_str().unwrap().into(),
                t["Value"].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn region_eval<'a>(t: &'a Value, account: &str, given: &[(&str, Value)]) -> Eval<'a> {
    let mut e = Eval::new(t, REGION, account, given);
    let topic = aws::topic_arn(REGION, account, DEFAULT_TOPIC_NAME);
    e.refs.insert("Topic".into(), json!(topic));
    e.refs
        .insert("TopicKey".into(), json!("key-created-by-the-stack"));
    e
}

/// The regional template resolves to exactly what the tool sets up for the same
/// account, region, queue and services.
#[test]
fn region_template_deploys_what_setup_creates() {
    let t = event_stream_region();
    for services in ["all", "seed", "ssm,ec2,secretsmanager"] {
        for (account, kms) in [(HOME, None), (MEMBER, None), (MEMBER, Some("alias/events"))] {
            let cfg = Config {
                services: ServiceSet::parse(services).unwrap(),
                topic_kms_key: kms.map(String::from),
                ..Config::default()
            };
            let pattern = pattern::build(&cfg.services).unwrap();
            let d = region::desired(&cfg, account, REGION, HOME, &pattern);
            let mut given = vec![
                ("QueueAccountId", json!(HOME)),
                ("Services", json!(services)),
            ];
            if let Some(k) = kms {
                given.push(("TopicKmsKey", json!(k)));
            }
            let e = region_eval(&t, account, &given);
            let at = format!("{services} {account} {kms:?}");

            let topic = e.resource("Topic").unwrap();
            assert_eq!(topic["TopicName"], DEFAULT_TOPIC_NAME, "{at}");
            assert_eq!(
                topic.get("KmsMasterKeyId").and_then(Value::as_str),
                d.topic_kms.as_deref(),
                "{at}"
            );
            assert_eq!(tags_of(&topic), d.tags, "{at}");

            let tp = e.resource("TopicPolicy").unwrap();
            assert_eq!(tp["Topics"], json!([d.topic_arn]), "{at}");
            assert_eq!(tp["PolicyDocument"], d.topic_policy, "{at}: topic policy");

            let rule = e.resource("Rule").unwrap();
            assert_eq!(rule["Name"], d.rule_name.as_str());
            assert_eq!(rule["Description"], d.description.as_str());
            assert_eq!(rule["State"], "ENABLED");
            assert!(
                pattern::same(&rule["EventPattern"].to_string(), &d.pattern),
                "{at}: {} vs {}",
                rule["EventPattern"],
                d.pattern
            );
            assert_eq!(
                rule["Targets"],
                json!([{ "Id": d.target_id, "Arn": d.topic_arn }]),
                "{at}"
            );
            assert_eq!(tags_of(&rule), d.tags, "{at}");

            if account == HOME {
                let s = e
                    .resource("Subscription")
                    .expect("same-account subscription");
                assert_eq!(
                    s,
                    json!({ "TopicArn": d.topic_arn, "Protocol": "sqs", "Endpoint": d.queue_arn })
                );
                assert!(e.resource("CrossAccountSubscription").is_none());
                assert!(e.resource("SubscriberFunction").is_none());
            } else {
                assert!(e.resource("Subscription").is_none(), "{at}");
                let mut e = e;
                e.refs.insert("SubscriberFunction.Arn".into(), json!("fn"));
                let s = e.resource("CrossAccountSubscription").unwrap();
                assert_eq!(s["TopicArn"], d.topic_arn.as_str());
                assert_eq!(s["QueueArn"], d.queue_arn.as_str());
                assert_eq!(
                    s["RoleArn"],
                    format!("arn:aws:iam::{HOME}:role/{DEFAULT_SUBSCRIBER_ROLE}")
                );
            }
        }
    }
}

/// Names the tool lets users change are parameters of the templates, and change the
/// same things.
#[test]
fn region_template_follows_custom_names() {
    let t = event_stream_region();
    let cfg = Config {
        topic_name: "audit-events".into(),
        rule_name: "audit.rule".into(),
        queue_name: "audit-queue".into(),
        home_region: "eu-central-1".into(),
        tag_key: "owner".into(),
        tag_value: "secops".into(),
        ..Config::default()
    };
    let pattern = pattern::build(&cfg.services).unwrap();
    let d = region::desired(&cfg, MEMBER, REGION, HOME, &pattern);
    let mut e = Eval::new(
        &t,
        REGION,
        MEMBER,
        &[
            ("QueueAccountId", json!(HOME)),
            ("QueueRegion", json!("eu-central-1")),
            ("QueueName", json!("audit-queue")),
            ("TopicName", json!("audit-events")),
            ("RuleName", json!("audit.rule")),
            ("TagKey", json!("owner")),
            ("TagValue", json!("secops")),
        ],
    );
    e.refs.insert("Topic".into(), json!(d.topic_arn));
    assert_eq!(
        e.resource("TopicPolicy").unwrap()["PolicyDocument"],
        d.topic_policy
    );
    let rule = e.resource("Rule").unwrap();
    assert_eq!(rule["Targets"][0]["Id"], d.target_id.as_str());
    assert_eq!(tags_of(&rule), d.tags);
    e.refs.insert("SubscriberFunction.Arn".into(), json!("fn"));
    assert_eq!(
        e.resource("CrossAccountSubscription").unwrap()["QueueArn"],
        d.queue_arn.as_str()
    );
}

/// The queues and the queue policy resolve to what the tool sets up for the same
/// topics; the organization-wide form admits the topic name by organization.
#[test]
fn central_queue_template_deploys_what_setup_creates() {
    let t = central_queue();
    let cfg = Config::default();
    let d = queue::desired(&cfg, HOME);
    let topics: BTreeSet<String> = [
        aws::topic_arn("us-east-1", HOME, DEFAULT_TOPIC_NAME),
        aws::topic_arn(REGION, MEMBER, DEFAULT_TOPIC_NAME),
        aws::topic_arn("us-east-1", MEMBER, DEFAULT_TOPIC_NAME),
    ]
    .into();
    let accounts: BTreeSet<&str> = topics
        .iter()
        .filter_map(|a| processor_core::arn::Arn::parse(a).map(|a| a.account))
        .collect();
    let join = |it: Vec<&str>| it.join(",");
    let given = [
        (
            "TopicArns",
            json!(join(topics.iter().map(String::as_str).collect())),
        ),
        (
            "TopicAccountIds",
            json!(join(accounts.into_iter().collect())),
        ),
    ];
    let mut e = Eval::new(&t, DEFAULT_HOME_REGION, HOME, &given);
    e.refs.insert("Queue".into(), json!("https://queue-url"));
    e.refs.insert("Queue.Arn".into(), json!(d.queue_arn));
    e.refs
        .insert("DeadLetterQueue.Arn".into(), json!(d.dlq_arn));

    let policy = e.resource("QueuePolicy").unwrap();
    let want = policy::queue_policy(&d.queue_arn, None, &topics)
        .unwrap()
        .unwrap();
    assert_eq!(policy["PolicyDocument"], want);
    assert_eq!(policy["Queues"], json!(["https://queue-url"]));

    // Every attribute the tool sets, with the values it sets (compared the way its
    // status does: encryption apart, the redrive policy by meaning).
    let check = |props: &Value, attrs: Vec<(&'static str, String)>, name: &str| {
        for (k, v) in attrs {
            match k {
                "SqsManagedSseEnabled" => assert_eq!(props[k], json!(true), "{name}"),
                "RedrivePolicy" => assert_eq!(
                    policy::normalize(&props[k]),
                    policy::normalize(&policy::parse(&v).unwrap()),
                    "{name}"
                ),
                _ => assert_eq!(props[k].to_string().trim_matches('"'), v, "{name} {k}"),
            }
        }
        assert_eq!(tags_of(props), d.tags, "{name}");
    };
    let dlq = e.resource("DeadLetterQueue").unwrap();
    assert_eq!(dlq["QueueName"], cfg.dlq_name().as_str());
    check(&dlq, d.dlq_attributes(), "dlq");
    let q = e.resource("Queue").unwrap();
    assert_eq!(q["QueueName"], cfg.queue_name.as_str());
    check(&q, d.queue_attributes(), "queue");
    // The subscriber role is trusted by the listed accounts' subscriber functions only.
    let role = e.resource("SubscriberRole").unwrap();
    let trust = &role["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(trust["Principal"]["AWS"], json!([HOME, MEMBER]));
    assert_eq!(
        trust["Condition"]["ArnLike"]["aws:PrincipalArn"],
        format!("arn:aws:iam::*:role/{DEFAULT_SUBSCRIBER_ROLE}-*")
    );

    // A customer key replaces SQS-managed encryption on both queues, as in the tool.
    let e = {
        let mut e = Eval::new(
            &t,
            DEFAULT_HOME_REGION,
            HOME,
            &[("QueueKmsKey", json!("alias/q"))],
        );
        e.refs
            .insert("DeadLetterQueue.Arn".into(), json!(d.dlq_arn));
        e
    };
    for name in ["Queue", "DeadLetterQueue"] {
        let props = e.resource(name).unwrap();
        assert_eq!(props["KmsMasterKeyId"], "alias/q");
        assert!(props.get("SqsManagedSseEnabled").is_none());
    }
    assert!(e.resource("QueuePolicy").is_none(), "no topics, no policy");

    // Organization-wide: the topic name in any account of the organization.
    let mut e = Eval::new(
        &t,
        DEFAULT_HOME_REGION,
        HOME,
        &[("OrganizationId", json!("o-abcdefghij"))],
    );
    e.refs.insert("Queue".into(), json!("https://queue-url"));
    e.refs.insert("Queue.Arn".into(), json!(d.queue_arn));
    let doc = &e.resource("QueuePolicy").unwrap()["PolicyDocument"];
    assert_eq!(
        doc,
        &policy::queue_policy_for_organization(
            &d.queue_arn,
            None,
            "arn:aws:sns:*:*:cloudcoreo-events",
            "o-abcdefghij"
        )
    );
    let org = Config {
        queue_org_id: Some("o-abcdefghij".into()),
        ..Config::default()
    };
    let od = queue::desired(&org, HOME);
    let (org_id, topics) = od.organization.as_ref().unwrap();
    assert_eq!(
        doc,
        &policy::queue_policy_for_organization(&d.queue_arn, None, topics, org_id)
    );
    // The tool reads no topic list out of it (see `queue_policy_sources`).
    assert!(policy::queue_policy_sources(Some(&doc.to_string())).is_empty());
}

/// The scanner role: the tool's trust policy and SecurityAudit alone.
#[test]
fn scanner_role_template_is_the_tools_role() {
    let t = scanner_role();
    let principal = "arn:aws:iam::999999999999:role/scanner";
    let e = Eval::new(
        &t,
        "us-east-1",
        MEMBER,
        &[
            ("ScannerPrincipal", json!(principal)),
            ("ExternalId", json!("ext-123")),
        ],
    );
    let role = e.resource("ScannerRole").unwrap();
    assert_eq!(role["RoleName"], DEFAULT_SCANNER_ROLE);
    assert_eq!(
        role["AssumeRolePolicyDocument"],
        policy::scanner_trust(principal, "ext-123")
    );
    assert_eq!(
        role["ManagedPolicyArns"],
        json!(["arn:aws:iam::aws:policy/SecurityAudit"])
    );
    assert_eq!(tags_of(&role), Config::default().tags());
}

/// The StackSet deploys exactly the regional and scanner templates, passing every
/// regional parameter through.
#[test]
fn stackset_embeds_the_regional_template() {
    let t = event_stream_stackset();
    let props = &t["Resources"]["EventStreamStackSet"]["Properties"];
    let body: Value = serde_json::from_str(props["TemplateBody"].as_str().unwrap()).unwrap();
    assert_eq!(body, event_stream_region());
    let passed: BTreeSet<&str> = props["Parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ParameterKey"].as_str().unwrap())
        .collect();
    let region_params = event_stream_region();
    let wanted: BTreeSet<&str> = region_params["Parameters"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(passed, wanted);
    assert_eq!(props["PermissionModel"], "SERVICE_MANAGED");
    assert_eq!(props["AutoDeployment"]["Enabled"], true);
    let scanner = &t["Resources"]["ScannerRoleStackSet"]["Properties"];
    let body: Value = serde_json::from_str(scanner["TemplateBody"].as_str().unwrap()).unwrap();
    assert_eq!(body, scanner_role());
    // CloudFormation's limit on a template body passed inline.
    assert!(render(&t).len() < 51_200, "{} bytes", render(&t).len());
}

/// The processors' roles hold the consumer's actions on the queue, and the sinks'
/// actions only on the sinks given.
#[test]
fn processor_roles_are_least_privilege() {
    let queue = "arn:aws:sqs:us-west-2:111111111111:cloudcoreo-events-queue";
    for (t, role, queue_actions) in [
        (
            processor_lambda(),
            "Role",
            json!([
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:ReceiveMessage"
            ]),
        ),
        (
            processor_service(),
            "TaskRole",
            json!([
                "sqs:ChangeMessageVisibility",
                "sqs:DeleteMessage",
                "sqs:ReceiveMessage"
            ]),
        ),
    ] {
        let base = [
            ("QueueArn", json!(queue)),
            (
                "Sinks",
                json!("sqs:https://sqs.us-west-2.amazonaws.com/111111111111/rescans"),
            ),
            ("CodeS3Bucket", json!("b")),
            ("CodeS3Key", json!("k")),
            ("Image", json!("img")),
            ("VpcId", json!("vpc-1")),
            ("SubnetIds", json!(["subnet-1"])),
        ];
        let mut e = Eval::new(&t, "us-west-2", HOME, &base);
        e.refs.insert("LogGroup.Arn".into(), json!("arn:log-group"));
        let statements = |e: &Eval| -> Vec<Value> {
            e.resource(role).unwrap()["Policies"][0]["PolicyDocument"]["Statement"]
                .as_array()
                .unwrap()
                .clone()
        };
        let st = statements(&e);
        let consume = st.iter().find(|s| s["Sid"] == "ConsumeQueue").unwrap();
        assert_eq!(consume["Resource"], queue);
        // The event source mapping reads the queue's attributes; `processor run` never
        // does, but changes visibility.
        assert_eq!(consume["Action"], queue_actions, "{role}");
        assert!(
            !st.iter().any(|s| s["Sid"] == "SendToSinkQueues"),
            "no sink ARNs, no sink rights"
        );
        assert!(!st.iter().any(|s| s["Resource"] == "*"));

        let sink = "arn:aws:sqs:us-west-2:111111111111:rescans";
        let key = "arn:aws:kms:us-west-2:111111111111:key/k";
        let mut given = base.to_vec();
        given.push(("SinkQueueArns", json!(sink)));
        given.push(("QueueKmsKeyArn", json!(key)));
        let mut e = Eval::new(&t, "us-west-2", HOME, &given);
        e.refs.insert("LogGroup.Arn".into(), json!("arn:log-group"));
        let st = statements(&e);
        let send = st.iter().find(|s| s["Sid"] == "SendToSinkQueues").unwrap();
        assert_eq!(send["Resource"], json!([sink]));
        assert_eq!(send["Action"], "sqs:SendMessage");
        let decrypt = st
            .iter()
            .find(|s| s["Sid"] == "DecryptQueueMessages")
            .unwrap();
        assert_eq!(decrypt["Resource"], key);
        assert_eq!(
            decrypt["Condition"]["StringEquals"]["kms:ViaService"],
            "sqs.us-west-2.amazonaws.com"
        );
    }
}

/// The service's tasks accept nothing inbound but the metrics port, and that only
/// from the range given.
#[test]
fn service_opens_only_the_metrics_port() {
    let t = processor_service();
    let base = [
        ("QueueArn", json!("arn:aws:sqs:us-west-2:111111111111:q")),
        ("Sinks", json!("stdout")),
        ("Image", json!("img")),
        ("VpcId", json!("vpc-1")),
        ("SubnetIds", json!(["subnet-1"])),
    ];
    let e = Eval::new(&t, "us-west-2", HOME, &base);
    assert!(e
        .resource("SecurityGroup")
        .unwrap()
        .get("SecurityGroupIngress")
        .is_none());
    let mut given = base.to_vec();
    given.push(("MetricsIngressCidr", json!("10.1.0.0/16")));
    let e = Eval::new(&t, "us-west-2", HOME, &given);
    let sg = e.resource("SecurityGroup").unwrap();
    let ingress = sg["SecurityGroupIngress"].as_array().unwrap();
    assert_eq!(ingress.len(), 1);
    assert_eq!(
        (
            &ingress[0]["FromPort"],
            &ingress[0]["ToPort"],
            &ingress[0]["CidrIp"]
        ),
        (&json!(9090), &json!(9090), &json!("10.1.0.0/16"))
    );
    let mut e = e;
    e.refs.insert("LogGroup".into(), json!("/ecs/x"));
    e.refs.insert("ExecutionRole.Arn".into(), json!("arn:exec"));
    e.refs.insert("TaskRole.Arn".into(), json!("arn:task"));
    let task = e.resource("TaskDefinition").unwrap();
    let container = &task["ContainerDefinitions"][0];
    assert_eq!(container["PortMappings"][0]["ContainerPort"], 9090);
    let env: BTreeMap<&str, &str> = container["Environment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["Name"].as_str().unwrap(), v["Value"].as_str().unwrap()))
        .collect();
    assert_eq!(
        env["PROCESSOR_QUEUE_URL"],
        "https://sqs.us-west-2.amazonaws.com/111111111111/q"
    );
    assert_eq!(env["PROCESSOR_SINKS"], "stdout");
    assert_eq!(env["PROCESSOR_METRICS_ADDR"], "0.0.0.0:9090");
    assert!(!env.contains_key("PROCESSOR_ALLOW_SERVICES"));
}

/// The Lambda's event source mapping reports partial batch failures.
#[test]
fn lambda_reports_batch_item_failures() {
    let t = processor_lambda();
    let esm = &t["Resources"]["QueueEventSource"]["Properties"];
    assert_eq!(
        esm["FunctionResponseTypes"],
        json!(["ReportBatchItemFailures"])
    );
    let f = &t["Resources"]["Function"]["Properties"];
    assert_eq!(f["Runtime"], "provided.al2023");
    assert_eq!(f["Handler"], "bootstrap");
}

#[test]
fn rendering_round_trips_and_is_stable() {
    for (name, t) in all() {
        let text = render(&t);
        let back: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(back, t, "{name}");
        assert!(text
            .starts_with("{\n  \"AWSTemplateFormatVersion\": \"2010-09-09\",\n  \"Description\""));
        assert_eq!(render(&back), text, "{name}");
    }
}

/// The committed `infra/*.json` are what this module renders: after changing the
/// tool's policies, pattern or names, run `cargo run -p event-rule -- templates --out
/// infra` and commit the result.
#[test]
fn committed_templates_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra");
    let stale = stale(&dir);
    assert!(
        stale.is_empty(),
        "out of date: {stale:?}; regenerate with `cargo run -p event-rule -- templates --out infra`"
    );
    let reference = std::fs::read_to_string(dir.join("reference.md")).unwrap();
    for (name, t) in all() {
        assert!(reference.contains(&format!("## `{name}.json`")), "{name}");
        for p in t["Parameters"].as_object().unwrap().keys() {
            assert!(reference.contains(&format!("| `{p}` |")), "{name}: {p}");
        }
    }
}
