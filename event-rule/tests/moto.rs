//! Integration tests against moto's server: each test starts its own server (fresh
//! state) and skips, passing, when `MOTO_SERVER_BIN` is not set.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use common::{cli, Moto, HOME, HOME_REGION, TEST_TIMEOUT};
use event_rule::aws::{self, AccountCtx};
use event_rule::iam::ToolCommand;
use event_rule::plan::{Aspect, Resource, ResourceChange};
use event_rule::policy::normalize;
use event_rule::{Command, Config, Report, RowOutcome, RowScope};
use processor_core::services::{ServiceSet, SEED_SERVICES};
use serde_json::{json, Value};

const B: &str = "222222222222";
const C: &str = "333333333333";
const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];

fn config(accounts: &[&str], regions: &[&str]) -> Config {
    Config {
        home_region: HOME_REGION.into(),
        accounts: accounts.iter().map(|s| s.to_string()).collect(),
        regions: regions.iter().map(|s| s.to_string()).collect(),
        max_attempts: 3,
        ..Config::default()
    }
}

async fn run(moto: &Moto, cfg: &Config, cmd: Command) -> Report {
    event_rule::run(cfg, &moto.sdk().await, cmd)
        .await
        .expect("run")
}

fn region_rows(rep: &Report) -> Vec<&event_rule::Row> {
    rep.rows
        .iter()
        .filter(|r| r.scope == RowScope::Region)
        .collect()
}

macro_rules! timed {
    ($body:expr) => {
        tokio::time::timeout(TEST_TIMEOUT, $body)
            .await
            .expect("test timed out")
    };
}

fn tags_map<'a>(it: impl Iterator<Item = (&'a str, &'a str)>) -> BTreeMap<String, String> {
    it.map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn expected_tags() -> BTreeMap<String, String> {
    BTreeMap::from([(
        "managed-by".to_string(),
        "cloudcoreo-event-rule".to_string(),
    )])
}

/// Asserts through the AWS API that `account`/`region` holds exactly what setup
/// specifies.
async fn assert_region_exact(moto: &Moto, account: &str, region: &str, services: &ServiceSet) {
    let ctx = moto.account(account).await;
    let home = moto.account(HOME).await;
    let sdk = ctx.in_region(region);
    let sns = aws_sdk_sns::Client::new(&sdk);
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let topic = aws::topic_arn(region, account, "cloudcoreo-events");
    let rule = aws::rule_arn(region, account, "cloudcoreo-events");
    let queue = aws::queue_arn(HOME_REGION, HOME, "cloudcoreo-events-queue");
    let at = format!("{account}/{region}");

    // Topic, tags and policy (parsed, with conditions).
    let attrs = sns
        .get_topic_attributes()
        .topic_arn(&topic)
        .send()
        .await
        .expect("topic exists");
    let attrs = attrs.attributes().expect("attributes");
    let tags = sns
        .list_tags_for_resource()
        .resource_arn(&topic)
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags_map(tags.tags().iter().map(|t| (t.key(), t.value()))),
        expected_tags(),
        "{at}"
    );
    let policy: Value = serde_json::from_str(&attrs["Policy"]).expect("topic policy is JSON");
    let st = policy["Statement"].as_array().expect("statements");
    assert_eq!(
        st[0],
        json!({
            "Sid": "AllowEventBridgeRulePublish",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": topic,
            "Condition": {
                "ArnEquals": {"aws:SourceArn": rule},
                "StringEquals": {"aws:SourceAccount": account}
            }
        }),
        "{at}"
    );
    if account == HOME {
        assert_eq!(st.len(), 1, "{at}: only EventBridge may publish");
    } else {
        assert_eq!(st.len(), 3, "{at}");
        assert_eq!(
            st[1]["Principal"],
            json!({"AWS": format!("arn:aws:iam::{HOME}:root")})
        );
        assert_eq!(st[1]["Action"], "sns:Subscribe");
        assert_eq!(
            st[1]["Condition"],
            json!({"StringEquals": {"sns:Protocol": "sqs", "sns:Endpoint": queue}})
        );
        assert_eq!(st[2]["Action"], "sns:ListSubscriptionsByTopic");
    }
    for s in st {
        assert_ne!(s["Principal"], json!("*"), "{at}: wildcard principal");
        assert_ne!(
            s["Principal"]["AWS"],
            json!("*"),
            "{at}: wildcard principal"
        );
        if s["Action"] == "sns:Publish" {
            assert_eq!(s["Principal"], json!({"Service": "events.amazonaws.com"}));
        }
    }

    // Rule: pattern, state, tags.
    let r = events
        .describe_rule()
        .name("cloudcoreo-events")
        .send()
        .await
        .expect("rule exists");
    assert_eq!(r.arn(), Some(rule.as_str()));
    assert_eq!(r.state().map(|s| s.as_str()), Some("ENABLED"));
    let pattern: Value = serde_json::from_str(r.event_pattern().unwrap()).unwrap();
    let mut want = json!({"detail-type": ["AWS API Call via CloudTrail"]});
    if let Some(mut sources) = services.event_sources() {
        sources.sort();
        want["detail"] = json!({"eventSource": sources});
    }
    assert_eq!(pattern, want, "{at}: pattern");
    let tags = events
        .list_tags_for_resource()
        .resource_arn(&rule)
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags_map(tags.tags().iter().map(|t| (t.key(), t.value()))),
        expected_tags(),
        "{at}"
    );

    // Exactly one target: the topic.
    let t = events
        .list_targets_by_rule()
        .rule("cloudcoreo-events")
        .send()
        .await
        .unwrap();
    let targets: Vec<(&str, &str)> = t.targets().iter().map(|t| (t.id(), t.arn())).collect();
    assert_eq!(
        targets,
        vec![("cloudcoreo-events-topic", topic.as_str())],
        "{at}"
    );

    // Exactly one subscription of the topic to the central queue, confirmed. The queue's
    // owner subscribes; moto lists a subscription only in the subscriber's account.
    let subscriber = if account == HOME {
        sns.clone()
    } else {
        aws_sdk_sns::Client::new(&home.in_region(region))
    };
    let subs = subscriber
        .list_subscriptions_by_topic()
        .topic_arn(&topic)
        .send()
        .await
        .unwrap();
    let subs: Vec<_> = subs.subscriptions().iter().collect();
    assert_eq!(subs.len(), 1, "{at}: subscriptions {subs:?}");
    assert_eq!(subs[0].protocol(), Some("sqs"));
    assert_eq!(subs[0].endpoint(), Some(queue.as_str()));
    assert_ne!(subs[0].subscription_arn(), Some("PendingConfirmation"));
}

/// Asserts the central queue and dead-letter queue, and that the queue policy allows
/// exactly `topics`.
async fn assert_queue_exact(moto: &Moto, topics: &BTreeSet<String>) {
    let home = moto.account(HOME).await;
    let sqs = aws_sdk_sqs::Client::new(&home.in_region(HOME_REGION));
    let url = |name: &'static str| {
        let sqs = sqs.clone();
        async move {
            sqs.get_queue_url()
                .queue_name(name)
                .send()
                .await
                .expect("queue exists")
                .queue_url()
                .unwrap()
                .to_string()
        }
    };
    let (q, dlq) = (
        url("cloudcoreo-events-queue").await,
        url("cloudcoreo-events-queue-dlq").await,
    );
    let attrs = |u: String| {
        let sqs = sqs.clone();
        async move {
            let out = sqs
                .get_queue_attributes()
                .queue_url(u)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
                .send()
                .await
                .unwrap();
            out.attributes()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                .collect::<BTreeMap<String, String>>()
        }
    };
    let qa = attrs(q.clone()).await;
    let da = attrs(dlq.clone()).await;
    assert_eq!(qa["SqsManagedSseEnabled"], "true");
    assert_eq!(da["SqsManagedSseEnabled"], "true");
    assert_eq!(da["MessageRetentionPeriod"], "1209600");
    let redrive: Value = serde_json::from_str(&qa["RedrivePolicy"]).unwrap();
    assert_eq!(
        redrive["deadLetterTargetArn"],
        aws::queue_arn(HOME_REGION, HOME, "cloudcoreo-events-queue-dlq")
    );
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        "5"
    );
    for u in [&q, &dlq] {
        let t = sqs.list_queue_tags().queue_url(u).send().await.unwrap();
        let t: BTreeMap<String, String> =
            t.tags().cloned().unwrap_or_default().into_iter().collect();
        assert_eq!(t, expected_tags());
    }
    let policy: Value = serde_json::from_str(&qa["Policy"]).unwrap();
    let st = policy["Statement"].as_array().unwrap();
    assert_eq!(st.len(), 1);
    let queue_arn = aws::queue_arn(HOME_REGION, HOME, "cloudcoreo-events-queue");
    assert_eq!(st[0]["Effect"], "Allow");
    assert_eq!(st[0]["Principal"], json!({"Service": "sns.amazonaws.com"}));
    assert_eq!(st[0]["Action"], "sqs:SendMessage");
    assert_eq!(st[0]["Resource"], queue_arn);
    let allowed: BTreeSet<String> = st[0]["Condition"]["ArnLike"]["aws:SourceArn"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(&allowed, topics);
    let accounts: BTreeSet<String> = topics
        .iter()
        .map(|t| t.split(':').nth(4).unwrap().to_string())
        .collect();
    assert_eq!(
        normalize(&st[0]["Condition"]["StringEquals"]["aws:SourceAccount"]),
        normalize(&json!(accounts))
    );
}

/// The region (of the account `sdk` acts in) holds no topic and no rule at all.
async fn assert_no_topic_or_rule(sdk: &aws_config::SdkConfig) {
    let topics = aws_sdk_sns::Client::new(sdk)
        .list_topics()
        .send()
        .await
        .unwrap();
    assert!(topics.topics().is_empty(), "{:?}", topics.topics());
    let rules = aws_sdk_eventbridge::Client::new(sdk)
        .list_rules()
        .send()
        .await
        .unwrap();
    assert!(rules.rules().is_empty(), "{:?}", rules.rules());
}

fn all_topics(accounts: &[&str], regions: &[&str]) -> BTreeSet<String> {
    accounts
        .iter()
        .flat_map(|a| {
            regions
                .iter()
                .map(move |r| aws::topic_arn(r, a, "cloudcoreo-events"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_three_regions_two_accounts_is_exactly_as_specified() {
    let Some(moto) = Moto::start("setup_three_regions_two_accounts_is_exactly_as_specified") else {
        return;
    };
    timed!(async {
        moto.trail(HOME, "us-east-1", true).await;
        moto.trail(B, "eu-west-1", true).await;
        let mut cfg = config(&[HOME, B], &REGIONS);
        cfg.services = ServiceSet::Seed;
        // plan first: it predicts every creation and writes nothing.
        let plan = run(&moto, &cfg, Command::Plan).await;
        assert!(
            plan.rows.iter().all(|r| r.outcome == RowOutcome::Created),
            "{}",
            plan.table()
        );
        let home = moto.account(HOME).await;
        let sqs = aws_sdk_sqs::Client::new(&home.in_region(HOME_REGION));
        assert!(
            sqs.list_queues()
                .send()
                .await
                .unwrap()
                .queue_urls()
                .is_empty(),
            "plan wrote a queue"
        );
        for r in REGIONS {
            assert_no_topic_or_rule(&home.in_region(r)).await;
        }
        let rep = run(&moto, &cfg, Command::Setup).await;
        println!("{}", rep.table());
        assert!(!rep.has_failures());
        let regions = region_rows(&rep);
        assert_eq!(regions.len(), 6);
        for r in &regions {
            assert_eq!(r.outcome, RowOutcome::Created, "{r:?}");
            assert_eq!(
                r.changes,
                vec![
                    ResourceChange::create(Resource::Topic),
                    ResourceChange::create(Resource::Rule),
                    ResourceChange::create(Resource::Target),
                    ResourceChange::create(Resource::Subscription)
                ]
            );
        }
        assert_eq!(
            rep.row(HOME, HOME_REGION, RowScope::Queue).unwrap().outcome,
            RowOutcome::Created
        );
        assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);
        for a in [HOME, B] {
            for r in REGIONS {
                assert_region_exact(&moto, a, r, &ServiceSet::Seed).await;
            }
        }
        assert_queue_exact(&moto, &all_topics(&[HOME, B], &REGIONS)).await;
        assert_eq!(SEED_SERVICES.len(), 21);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_setup_is_a_no_op_and_a_change_updates_only_what_differs() {
    let Some(moto) = Moto::start("second_setup_is_a_no_op_and_a_change_updates_only_what_differs")
    else {
        return;
    };
    timed!(async {
        moto.trail(HOME, "us-east-1", true).await;
        moto.trail(B, "us-east-1", true).await;
        let cfg = config(&[HOME, B], &REGIONS);
        let first = run(&moto, &cfg, Command::Setup).await;
        assert!(!first.has_failures(), "{}", first.table());

        let second = run(&moto, &cfg, Command::Setup).await;
        println!("{}", second.table());
        for r in &second.rows {
            assert_eq!(r.outcome, RowOutcome::Unchanged, "{r:?}");
            assert!(r.changes.is_empty());
        }

        // plan shows nothing to do either.
        let plan = run(&moto, &cfg, Command::Plan).await;
        assert!(plan.rows.iter().all(|r| r.outcome == RowOutcome::Unchanged));

        // A different service list changes only each rule's definition.
        let changed = Config {
            services: ServiceSet::parse("ec2,ssm,secretsmanager").unwrap(),
            ..cfg.clone()
        };
        let plan = run(&moto, &changed, Command::Plan).await;
        let third = run(&moto, &changed, Command::Setup).await;
        println!("{}", third.table());
        assert_eq!(
            third
                .row(HOME, HOME_REGION, RowScope::Queue)
                .unwrap()
                .outcome,
            RowOutcome::Unchanged
        );
        for (p, r) in region_rows(&plan).into_iter().zip(region_rows(&third)) {
            assert_eq!(r.outcome, RowOutcome::Updated);
            assert_eq!(
                r.changes,
                vec![ResourceChange::update(Resource::Rule, Aspect::Definition)]
            );
            assert_eq!(p.changes, r.changes, "plan predicted setup");
        }
        for a in [HOME, B] {
            for r in REGIONS {
                assert_region_exact(&moto, a, r, &changed.services).await;
            }
        }
        // And a drifted topic policy is put back alone.
        let ctx = moto.account(B).await;
        aws_sdk_sns::Client::new(&ctx.in_region("eu-west-1"))
            .set_topic_attributes()
            .topic_arn(aws::topic_arn("eu-west-1", B, "cloudcoreo-events"))
            .attribute_name("Policy")
            .attribute_value(json!({"Version": "2012-10-17", "Statement": []}).to_string())
            .send()
            .await
            .unwrap();
        let fourth = run(&moto, &changed, Command::Setup).await;
        let row = fourth.row(B, "eu-west-1", RowScope::Region).unwrap();
        assert_eq!(
            row.changes,
            vec![ResourceChange::update(Resource::Topic, Aspect::Policy)]
        );
        assert_eq!(
            fourth
                .rows
                .iter()
                .filter(|r| r.outcome == RowOutcome::Unchanged)
                .count(),
            fourth.rows.len() - 1
        );
        assert_region_exact(&moto, B, "eu-west-1", &changed.services).await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_finds_a_deleted_target_as_drift() {
    let Some(moto) = Moto::start("status_finds_a_deleted_target_as_drift") else {
        return;
    };
    timed!(async {
        moto.trail(HOME, "us-east-1", true).await;
        let regions = "us-east-1,eu-west-1,ap-southeast-2";
        let (code, out, err) = cli(&moto, &["setup", "--regions", regions]).await;
        assert_eq!(code, 0, "{out}\n{err}");
        let (code, out, _) = cli(&moto, &["status", "--regions", regions, "--json"]).await;
        assert_eq!(code, 0, "in sync: {out}");

        let ctx: AccountCtx = moto.account(HOME).await;
        aws_sdk_eventbridge::Client::new(&ctx.in_region("eu-west-1"))
            .remove_targets()
            .rule("cloudcoreo-events")
            .ids("cloudcoreo-events-topic")
            .send()
            .await
            .unwrap();

        let (code, out, err) = cli(&moto, &["status", "--regions", regions, "--json"]).await;
        assert_eq!(code, 2, "drift exits 2: {out}\n{err}");
        let rep: Value = serde_json::from_str(&out).expect("status --json is JSON");
        let rows = rep["rows"].as_array().unwrap();
        let eu = rows
            .iter()
            .find(|r| r["region"] == "eu-west-1" && r["scope"] == "region")
            .unwrap();
        assert_eq!(eu["outcome"], "drift");
        assert_eq!(eu["checks"]["target"], "missing");
        for k in ["topic", "topic-policy", "rule", "subscription"] {
            assert_eq!(eu["checks"][k], "ok", "{k}");
        }
        assert_eq!(eu["trail"]["state"], "covered");
        for r in rows.iter().filter(|r| r["region"] != "eu-west-1") {
            assert_eq!(r["outcome"], "in-sync", "{r}");
        }
        // The text table says the same.
        let (code, table, _) = cli(&moto, &["status", "--regions", regions]).await;
        assert_eq!(code, 2);
        assert!(
            table.lines().any(|l| l.contains("eu-west-1")
                && l.contains("drift")
                && l.contains("target: missing")),
            "{table}"
        );
        // setup repairs exactly that.
        let (code, out, _) = cli(&moto, &["setup", "--regions", regions]).await;
        assert_eq!(code, 0);
        assert!(
            out.lines()
                .any(|l| l.contains("eu-west-1") && l.contains("create target")),
            "{out}"
        );

        // A target whose input is rewritten is drift too, and setup puts it back plain.
        let events = aws_sdk_eventbridge::Client::new(&ctx.in_region("us-east-1"));
        let topic = aws::topic_arn("us-east-1", HOME, "cloudcoreo-events");
        events
            .put_targets()
            .rule("cloudcoreo-events")
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("cloudcoreo-events-topic")
                    .arn(&topic)
                    .input(r#"{"nothing":"here"}"#)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let (code, out, _) = cli(&moto, &["status", "--regions", regions, "--json"]).await;
        assert_eq!(code, 2, "{out}");
        let rep: Value = serde_json::from_str(&out).unwrap();
        let us = rep["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["region"] == "us-east-1" && r["scope"] == "region")
            .unwrap()
            .clone();
        assert_eq!(us["outcome"], "drift", "{us}");
        assert_ne!(us["checks"]["target"], "ok", "{us}");
        let (code, out, _) = cli(&moto, &["setup", "--regions", regions]).await;
        assert_eq!(code, 0, "{out}");
        let targets = events
            .list_targets_by_rule()
            .rule("cloudcoreo-events")
            .send()
            .await
            .unwrap();
        assert_eq!(targets.targets().len(), 1);
        assert_eq!(targets.targets()[0].input(), None, "{targets:?}");
        let (code, out, _) = cli(&moto, &["status", "--regions", regions]).await;
        assert_eq!(code, 0, "in sync again: {out}");
    });
}

/// A logging trail in us-east-1 of HOME and B, then a successful `setup` of both
/// there; returns the arguments that name those accounts and that region.
async fn set_up_home_and_b(moto: &Moto) -> Vec<String> {
    for a in [HOME, B] {
        moto.trail(a, "us-east-1", true).await;
    }
    let args: Vec<String> = [
        "--accounts",
        &format!("{HOME},{B}"),
        "--regions",
        "us-east-1",
    ]
    .map(String::from)
    .to_vec();
    let setup: Vec<&str> = std::iter::once("setup")
        .chain(args.iter().map(String::as_str))
        .collect();
    let (code, out, err) = cli(moto, &setup).await;
    assert_eq!(code, 0, "{out}\n{err}");
    args
}

/// The attributes of the subscriptions of `account`'s topic in `region`:
/// `(FilterPolicy, RawMessageDelivery)` each.
async fn subscription_attributes(
    moto: &Moto,
    account: &str,
    region: &str,
) -> Vec<(String, Option<String>, Option<String>)> {
    let topic = aws::topic_arn(region, account, "cloudcoreo-events");
    let mut sns = None;
    let mut subs = None;
    // moto lists a cross-account subscription only to the queue's owner who made it.
    for who in [account, HOME] {
        let client = aws_sdk_sns::Client::new(&moto.account(who).await.in_region(region));
        let list = client
            .list_subscriptions_by_topic()
            .topic_arn(&topic)
            .send()
            .await
            .unwrap();
        if !list.subscriptions().is_empty() || who == HOME {
            (sns, subs) = (Some(client), Some(list));
            break;
        }
    }
    let (sns, subs) = (sns.unwrap(), subs.unwrap());
    let mut out = Vec::new();
    for s in subs.subscriptions() {
        let arn = s.subscription_arn().unwrap().to_string();
        let attrs = sns
            .get_subscription_attributes()
            .subscription_arn(&arn)
            .send()
            .await
            .unwrap();
        let get = |k: &str| attrs.attributes().and_then(|a| a.get(k)).cloned();
        out.push((arn, get("FilterPolicy"), get("RawMessageDelivery")));
    }
    out
}

/// A filter policy on our subscription, or raw delivery switched on, changes what the
/// queue gets: status reports it as drift and setup takes both off, in the home
/// account and in a member whose subscription the queue's owner made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filtering_or_raw_subscription_is_drift_and_setup_repairs_it() {
    let Some(moto) = Moto::start("a_filtering_or_raw_subscription_is_drift_and_setup_repairs_it")
    else {
        return;
    };
    timed!(async {
        let args = set_up_home_and_b(&moto).await;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out, _) = cli(&moto, &[&["status", "--json"][..], &args].concat()).await;
        assert_eq!(code, 0, "in sync: {out}");

        // A filter policy on the member's subscription, raw delivery on the home one's.
        for (account, name, value) in [
            (B, "FilterPolicy", r#"{"eventName":["CreateBucket"]}"#),
            (HOME, "RawMessageDelivery", "true"),
        ] {
            let subs = subscription_attributes(&moto, account, "us-east-1").await;
            assert_eq!(subs.len(), 1, "{subs:?}");
            // Set by the subscription's owner: the queue's account.
            let ctx = moto.account(HOME).await;
            aws_sdk_sns::Client::new(&ctx.in_region("us-east-1"))
                .set_subscription_attributes()
                .subscription_arn(&subs[0].0)
                .attribute_name(name)
                .attribute_value(value)
                .send()
                .await
                .unwrap();
        }

        let (code, out, err) = cli(&moto, &[&["status", "--json"][..], &args].concat()).await;
        assert_eq!(code, 2, "drift exits 2: {out}\n{err}");
        let rep: Value = serde_json::from_str(&out).unwrap();
        for account in [HOME, B] {
            let row = rep["rows"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["account"] == account && r["scope"] == "region")
                .unwrap();
            assert_eq!(row["outcome"], "drift", "{row}");
            assert_eq!(
                row["checks"]["subscription"], "differs: definition",
                "{row}"
            );
            for k in ["topic", "topic-policy", "rule", "target"] {
                assert_eq!(row["checks"][k], "ok", "{k}: {row}");
            }
        }

        let (code, out, err) = cli(&moto, &[&["setup"][..], &args].concat()).await;
        assert_eq!(code, 0, "{out}\n{err}");
        assert_eq!(
            out.lines()
                .filter(|l| l.contains("update subscription definition"))
                .count(),
            2,
            "{out}"
        );
        for account in [HOME, B] {
            let subs = subscription_attributes(&moto, account, "us-east-1").await;
            assert_eq!(subs.len(), 1, "{subs:?}");
            let (_, filter, raw) = &subs[0];
            assert!(
                event_rule::plan::filter_policy(filter.as_deref()).is_none(),
                "{account}: filter policy left: {filter:?}"
            );
            assert!(
                raw.as_deref().is_none_or(|r| r == "false"),
                "{account}: raw delivery left: {raw:?}"
            );
        }
        let (code, out, _) = cli(&moto, &[&["status"][..], &args].concat()).await;
        assert_eq!(code, 0, "in sync again: {out}");
    });
}

/// The managed policies attached to the scanner role.
async fn attached_policies(iam: &aws_sdk_iam::Client) -> Vec<String> {
    iam.list_attached_role_policies()
        .role_name("cloudcoreo-scanner")
        .send()
        .await
        .unwrap()
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(String::from))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_leaves_nothing_and_is_idempotent() {
    let Some(moto) = Moto::start("teardown_leaves_nothing_and_is_idempotent") else {
        return;
    };
    timed!(async {
        moto.trail(HOME, "us-east-1", true).await;
        moto.trail(B, "us-east-1", true).await;
        let common = [
            "--accounts",
            "123456789012,222222222222",
            "--regions",
            "us-east-1,eu-west-1,ap-southeast-2",
        ];
        let args = |cmd: &'static str, extra: &[&'static str]| {
            let mut v = vec![cmd];
            v.extend(common);
            v.extend(extra);
            v
        };
        let scanner = [
            "--scanner-principal",
            "arn:aws:iam::999999999999:root",
            "--scanner-external-id",
            "ext-1234",
        ];
        let (code, out, err) = cli(&moto, &args("setup", &scanner)).await;
        assert_eq!(code, 0, "{out}\n{err}");
        // The scanner role: trust only the principal, with the external id; SecurityAudit.
        for a in [HOME, B] {
            let iam = aws_sdk_iam::Client::new(&moto.account(a).await.sdk);
            let role = iam
                .get_role()
                .role_name("cloudcoreo-scanner")
                .send()
                .await
                .unwrap()
                .role
                .unwrap();
            let trust =
                event_rule::policy::parse(role.assume_role_policy_document().unwrap()).unwrap();
            assert_eq!(
                trust,
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"sts:ExternalId": "ext-1234"}}}]})
            );
            assert_eq!(
                attached_policies(&iam).await,
                vec!["arn:aws:iam::aws:policy/SecurityAudit"]
            );
        }

        // A wider scanner role is drift: an extra managed policy, an inline policy.
        let iam = aws_sdk_iam::Client::new(&moto.account(HOME).await.sdk);
        iam.attach_role_policy()
            .role_name("cloudcoreo-scanner")
            .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
            .send()
            .await
            .unwrap();
        iam.put_role_policy()
            .role_name("cloudcoreo-scanner")
            .policy_name("extra")
            .policy_document(
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                    "Action": "s3:*", "Resource": "*"}]})
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        let (code, out, _) = cli(&moto, &args("status", &scanner)).await;
        assert_eq!(code, 2, "{out}");
        assert!(
            out.lines().any(|l| l.contains("123456789012")
                && l.contains("scanner-role")
                && l.contains("drift")),
            "{out}"
        );
        // Setup narrows it back to SecurityAudit alone.
        let (code, out, err) = cli(&moto, &args("setup", &scanner)).await;
        assert_eq!(code, 0, "{out}\n{err}");
        assert_eq!(
            attached_policies(&iam).await,
            vec!["arn:aws:iam::aws:policy/SecurityAudit"]
        );
        let inline = iam
            .list_role_policies()
            .role_name("cloudcoreo-scanner")
            .send()
            .await
            .unwrap();
        assert!(inline.policy_names().is_empty(), "{inline:?}");
        let (code, out, _) = cli(&moto, &args("status", &scanner)).await;
        assert_eq!(code, 0, "in sync again: {out}");
        // Teardown removes a role holding an inline policy too (IAM deletes only a
        // role with no policies left).
        iam.put_role_policy()
            .role_name("cloudcoreo-scanner")
            .policy_name("extra")
            .policy_document(
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                    "Action": "s3:GetObject", "Resource": "*"}]})
                .to_string(),
            )
            .send()
            .await
            .unwrap();

        // Something that is not ours stays.
        let home = moto.account(HOME).await;
        let foreign = aws_sdk_sns::Client::new(&home.in_region("eu-west-1"));
        foreign
            .create_topic()
            .name("someone-elses")
            .send()
            .await
            .unwrap();

        // Teardown without the scanner flags still finds the role setup made.
        let (code, out, err) = cli(&moto, &args("teardown", &["--include-queue"])).await;
        println!("{out}");
        assert_eq!(code, 0, "{out}\n{err}");
        assert!(out.contains("deleted"));
        let role_rows = out
            .lines()
            .filter(|l| l.contains("scanner-role") && l.contains("deleted"))
            .count();
        assert_eq!(role_rows, 2, "{out}");

        for a in [HOME, B] {
            let ctx = moto.account(a).await;
            for r in REGIONS {
                let sdk = ctx.in_region(r);
                let topics = aws_sdk_sns::Client::new(&sdk)
                    .list_topics()
                    .send()
                    .await
                    .unwrap();
                let ours: Vec<_> = topics
                    .topics()
                    .iter()
                    .filter_map(|t| t.topic_arn())
                    .filter(|t| t.ends_with(":cloudcoreo-events"))
                    .collect();
                assert!(ours.is_empty(), "{a}/{r}: {ours:?}");
                let rules = aws_sdk_eventbridge::Client::new(&sdk)
                    .list_rules()
                    .send()
                    .await
                    .unwrap();
                assert!(rules.rules().is_empty(), "{a}/{r}: {:?}", rules.rules());
                let subs = aws_sdk_sns::Client::new(&sdk)
                    .list_subscriptions()
                    .send()
                    .await
                    .unwrap();
                assert!(
                    subs.subscriptions().is_empty(),
                    "{a}/{r}: {:?}",
                    subs.subscriptions()
                );
            }
            let iam = aws_sdk_iam::Client::new(&ctx.sdk);
            assert!(
                iam.get_role()
                    .role_name("cloudcoreo-scanner")
                    .send()
                    .await
                    .is_err(),
                "{a}: role left"
            );
        }
        let sqs = aws_sdk_sqs::Client::new(&home.in_region(HOME_REGION));
        let queues = sqs.list_queues().send().await.unwrap();
        assert!(queues.queue_urls().is_empty(), "{:?}", queues.queue_urls());
        let left = foreign.list_topics().send().await.unwrap();
        assert_eq!(left.topics().len(), 1, "the foreign topic stays");

        // Rerun: nothing to do, still success.
        let (code, out, _) = cli(&moto, &args("teardown", &["--include-queue"])).await;
        assert_eq!(code, 0);
        assert!(!out.contains("deleted"), "{out}");
        assert!(out.contains("unchanged"));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_without_include_queue_keeps_the_queue_and_narrows_its_policy() {
    let Some(moto) =
        Moto::start("teardown_without_include_queue_keeps_the_queue_and_narrows_its_policy")
    else {
        return;
    };
    timed!(async {
        moto.trail(HOME, "us-east-1", true).await;
        let rep = run(&moto, &config(&[], &REGIONS), Command::Setup).await;
        assert!(!rep.has_failures());
        let rep = run(
            &moto,
            &config(&[], &["eu-west-1"]),
            Command::Teardown {
                include_queue: false,
            },
        )
        .await;
        println!("{}", rep.table());
        assert_eq!(
            rep.row(HOME, "eu-west-1", RowScope::Region)
                .unwrap()
                .outcome,
            RowOutcome::Deleted
        );
        assert_eq!(
            rep.row(HOME, HOME_REGION, RowScope::Queue).unwrap().changes,
            vec![ResourceChange::update(
                Resource::QueuePolicy,
                Aspect::Policy
            )]
        );
        assert_queue_exact(
            &moto,
            &all_topics(&[HOME], &["us-east-1", "ap-southeast-2"]),
        )
        .await;
        for r in ["us-east-1", "ap-southeast-2"] {
            assert_region_exact(&moto, HOME, r, &ServiceSet::All).await;
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_without_cloudtrail_is_skipped() {
    let Some(moto) = Moto::start("a_region_without_cloudtrail_is_skipped") else {
        return;
    };
    timed!(async {
        // One single-region trail, homed in eu-west-1: us-east-1 has no coverage.
        moto.trail(HOME, "eu-west-1", false).await;
        let cfg = config(&[], &["us-east-1", "eu-west-1"]);
        let rep = run(&moto, &cfg, Command::Setup).await;
        println!("{}", rep.table());
        assert!(!rep.has_failures());
        let skipped = rep.row(HOME, "us-east-1", RowScope::Region).unwrap();
        assert_eq!(skipped.outcome, RowOutcome::Skipped);
        assert!(skipped.changes.is_empty());
        assert_eq!(
            rep.row(HOME, "eu-west-1", RowScope::Region)
                .unwrap()
                .outcome,
            RowOutcome::Created
        );
        assert!(
            rep.warnings
                .iter()
                .any(|w| w.contains("us-east-1") && w.contains("global services")),
            "{:?}",
            rep.warnings
        );
        let ctx = moto.account(HOME).await;
        assert_no_topic_or_rule(&ctx.in_region("us-east-1")).await;
        assert_queue_exact(&moto, &all_topics(&[HOME], &["eu-west-1"])).await;

        // A stopped trail does not count either; --require-trail turns the skip into a failure.
        let (code, out, _) = cli(
            &moto,
            &[
                "setup",
                "--regions",
                "us-east-1,eu-west-1",
                "--require-trail",
            ],
        )
        .await;
        assert_eq!(code, 1, "{out}");
        assert!(
            out.lines().any(|l| l.contains("us-east-1")
                && l.contains("failed")
                && l.contains("no logging CloudTrail trail")),
            "{out}"
        );
        aws_sdk_cloudtrail::Client::new(&ctx.in_region("eu-west-1"))
            .stop_logging()
            .name("trail-eu-west-1")
            .send()
            .await
            .unwrap();
        let rep = run(&moto, &cfg, Command::Setup).await;
        assert!(
            region_rows(&rep)
                .iter()
                .all(|r| r.outcome == RowOutcome::Skipped),
            "{}",
            rep.table()
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_account_does_not_stop_the_rest() {
    let Some(moto) = Moto::start("a_failing_account_does_not_stop_the_rest") else {
        return;
    };
    timed!(async {
        for a in [HOME, B, C] {
            moto.trail(a, "us-east-1", true).await;
        }
        // Account B already has a topic of that name that event-rule did not make.
        let b = moto.account(B).await;
        for r in REGIONS {
            aws_sdk_sns::Client::new(&b.in_region(r))
                .create_topic()
                .name("cloudcoreo-events")
                .send()
                .await
                .unwrap();
        }
        let (code, out, err) = cli(
            &moto,
            &[
                "setup",
                "--accounts",
                &format!("{HOME},{B},{C}"),
                "--regions",
                &REGIONS.join(","),
                "--json",
            ],
        )
        .await;
        assert_eq!(code, 1, "a failure exits 1: {out}\n{err}");
        let rep: Value = serde_json::from_str(&out).unwrap();
        let rows = rep["rows"].as_array().unwrap();
        for r in rows.iter().filter(|r| r["scope"] == "region") {
            if r["account"] == B {
                assert_eq!(r["outcome"], "failed", "{r}");
                let e = r["error"].as_str().unwrap();
                assert!(
                    e.contains("exists but is not tagged") && e.contains("--adopt"),
                    "{e}"
                );
            } else {
                assert_eq!(r["outcome"], "created", "{r}");
            }
        }
        for a in [HOME, C] {
            for r in REGIONS {
                assert_region_exact(&moto, a, r, &ServiceSet::All).await;
            }
        }
        // --adopt takes the topics over.
        let (code, out, err) = cli(
            &moto,
            &[
                "setup",
                "--accounts",
                &format!("{HOME},{B},{C}"),
                "--regions",
                &REGIONS.join(","),
                "--adopt",
            ],
        )
        .await;
        assert_eq!(code, 0, "{out}\n{err}");
        for r in REGIONS {
            assert_region_exact(&moto, B, r, &ServiceSet::All).await;
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_accounts_are_reached_through_their_role() {
    let Some(moto) = Moto::start("organization_accounts_are_reached_through_their_role") else {
        return;
    };
    timed!(async {
        let home = moto.account(HOME).await;
        let org = aws_sdk_organizations::Client::new(&home.sdk);
        org.create_organization().send().await.unwrap();
        let mut members = Vec::new();
        for i in 0..2 {
            let out = org
                .create_account()
                .account_name(format!("member{i}"))
                .email(format!("m{i}@example.com"))
                .send()
                .await
                .unwrap();
            members.push(
                out.create_account_status()
                    .unwrap()
                    .account_id()
                    .unwrap()
                    .to_string(),
            );
        }
        for a in members.iter().map(String::as_str).chain([HOME]) {
            moto.trail(a, "us-east-1", true).await;
        }
        let cfg = Config {
            organization: true,
            ..config(&[], &["us-east-1"])
        };
        let rep = run(&moto, &cfg, Command::Setup).await;
        println!("{}", rep.table());
        assert!(!rep.has_failures());
        let accounts: BTreeSet<&str> = region_rows(&rep)
            .iter()
            .map(|r| r.account.as_str())
            .collect();
        let mut want: BTreeSet<&str> = members.iter().map(String::as_str).collect();
        want.insert(HOME);
        assert_eq!(accounts, want);
        for a in &want {
            assert_region_exact(&moto, a, "us-east-1", &ServiceSet::All).await;
        }
        // --organization admits the organization's topics by aws:SourceOrgID, and
        // status reads the organization back from the queue policy.
        let org_id = org
            .describe_organization()
            .send()
            .await
            .unwrap()
            .organization()
            .unwrap()
            .id()
            .unwrap()
            .to_string();
        let rep = run(&moto, &cfg, Command::Status).await;
        assert!(!rep.has_failures() && !rep.has_drift(), "{}", rep.table());
        let queue_row = rep
            .rows
            .iter()
            .find(|r| r.scope == RowScope::Queue)
            .unwrap();
        assert!(
            queue_row.notes.iter().any(|n| n.contains(&org_id)),
            "{:?}",
            queue_row.notes
        );
    });
}

/// The enabled regions come from EC2's DescribeRegions as one signed Query request
/// (no generated EC2 crate); moto answers it for the home account and for a member
/// reached through its role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enabled_regions_are_read_from_describe_regions() {
    let Some(moto) = Moto::start("enabled_regions_are_read_from_describe_regions") else {
        return;
    };
    timed!(async {
        for account in [HOME, B] {
            let ctx = moto.account(account).await;
            let known = event_rule::discover::region_map(&ctx, HOME_REGION)
                .await
                .expect("DescribeRegions");
            for r in ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"] {
                assert_eq!(known.get(r), Some(&true), "{account}: {r} in {known:?}");
            }
            assert!(known.len() >= 16, "{known:?}");
            let raw =
                event_rule::ec2::query(&ctx, "eu-west-1", "ec2:DescribeRegions", "regions", &[])
                    .await
                    .expect("DescribeRegions in eu-west-1");
            assert!(raw.items("regionInfo").count() >= 16);
        }
    });
}

/// `--organization` over 1,000 accounts: the queue policy admits the organization's
/// topics by `aws:SourceOrgID` (from DescribeOrganization), so it stays one statement
/// far under SQS's size limit, where listing the accounts could not; status reads the
/// organization back from the policy.
///
/// About 50 s on two shared cores, nearly all of it moto's CPU (some 40 ms per account
/// for AssumeRole, DescribeRegions and the trail look-ups; creating the 999 accounts
/// takes 6 s without the managed policies and AMIs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_of_1000_accounts_is_admitted_by_its_id() {
    use futures::StreamExt;
    // Without AWS's managed policies and AMIs, which moto would otherwise load into
    // each new account's IAM (over a second per CreateAccount) and EC2 (80 ms at its
    // first DescribeRegions); this test needs neither.
    let Some(moto) = Moto::start_with_env(
        "organization_of_1000_accounts_is_admitted_by_its_id",
        &[
            ("MOTO_IAM_LOAD_MANAGED_POLICIES", "false"),
            ("MOTO_EC2_LOAD_DEFAULT_AMIS", "false"),
        ],
    ) else {
        return;
    };
    timed!(async {
        let home = moto.account(HOME).await;
        let org = aws_sdk_organizations::Client::new(&home.sdk);
        let org_id = org
            .create_organization()
            .send()
            .await
            .unwrap()
            .organization()
            .unwrap()
            .id()
            .unwrap()
            .to_string();
        let members: Vec<String> = futures::stream::iter(0..999)
            .map(|i| {
                let org = org.clone();
                async move {
                    let out = org
                        .create_account()
                        .account_name(format!("member{i}"))
                        .email(format!("m{i}@example.com"))
                        .send()
                        .await
                        .unwrap();
                    let status = out.create_account_status().unwrap();
                    status.account_id().unwrap().to_string()
                }
            })
            .buffer_unordered(8)
            .collect()
            .await;
        assert_eq!(members.len(), 999);
        // A trail in the home account and two members: their region is set up, the
        // other accounts' is skipped (no trail), as in any organization.
        for a in [HOME, members[0].as_str(), members[1].as_str()] {
            moto.trail(a, "us-east-1", true).await;
        }
        let cfg = Config {
            organization: true,
            account_concurrency: 16,
            ..config(&[], &["us-east-1"])
        };
        let rep = run(&moto, &cfg, Command::Setup).await;
        assert!(!rep.has_failures(), "{}", rep.table());
        let accounts: BTreeSet<&str> = rep.rows.iter().map(|r| r.account.as_str()).collect();
        assert_eq!(accounts.len(), 1000);
        let set_up: BTreeSet<&str> = region_rows(&rep)
            .iter()
            .filter(|r| r.outcome != RowOutcome::Skipped)
            .map(|r| r.account.as_str())
            .collect();
        assert_eq!(set_up, BTreeSet::from([HOME, &members[0], &members[1]]));

        // One statement for the organization, read back from SQS.
        let (_, attrs) = queue_attributes(&moto, "cloudcoreo-events-queue").await;
        let text = attrs["Policy"].clone();
        assert!(
            text.len() < event_rule::policy::MAX_QUEUE_POLICY_BYTES,
            "{} bytes",
            text.len()
        );
        let doc: Value = serde_json::from_str(&text).unwrap();
        let st = doc["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 1, "{doc}");
        assert_eq!(
            st[0]["Condition"]["StringEquals"]["aws:SourceOrgID"], org_id,
            "{doc}"
        );
        assert_eq!(
            st[0]["Condition"]["ArnLike"]["aws:SourceArn"],
            "arn:aws:sns:*:*:cloudcoreo-events"
        );
        assert_eq!(
            event_rule::policy::queue_policy_organization(Some(&text)).as_deref(),
            Some(org_id.as_str())
        );
        // Listing the 1,000 accounts' topics instead would not fit, even folded.
        let listed: BTreeSet<String> = members
            .iter()
            .map(String::as_str)
            .chain([HOME])
            .map(|a| aws::topic_arn("us-east-1", a, "cloudcoreo-events"))
            .collect();
        let queue = aws::queue_arn(HOME_REGION, HOME, "cloudcoreo-events-queue");
        assert!(matches!(
            event_rule::policy::queue_policy(&queue, None, &listed),
            Err(event_rule::Error::QueuePolicyTooLarge { accounts: 1000, .. })
        ));

        // Status reads the organization back and finds the queue and the three set-up
        // accounts in sync. (Over the three, with the organization's id: status over
        // every account would double the test's time, all of it moto's.)
        let three = Config {
            queue_org_id: Some(org_id.clone()),
            ..config(&[HOME, &members[0], &members[1]], &["us-east-1"])
        };
        let rep = run(&moto, &three, Command::Status).await;
        let queue_row = rep
            .rows
            .iter()
            .find(|r| r.scope == RowScope::Queue)
            .unwrap();
        assert_eq!(queue_row.outcome, RowOutcome::InSync, "{}", rep.table());
        assert!(
            queue_row.notes.iter().any(|n| n.contains(&org_id)),
            "{:?}",
            queue_row.notes
        );
        let rows = region_rows(&rep);
        assert_eq!(rows.len(), 3, "{}", rep.table());
        for r in rows {
            assert_eq!(r.outcome, RowOutcome::InSync, "{}", rep.table());
        }
    });
}

/// The central queue's attributes as read back, and its URL.
async fn queue_attributes(moto: &Moto, name: &str) -> (String, BTreeMap<String, String>) {
    let home = moto.account(HOME).await;
    let sqs = aws_sdk_sqs::Client::new(&home.in_region(HOME_REGION));
    let url = sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .expect("queue exists")
        .queue_url()
        .unwrap()
        .to_string();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.clone()))
        .collect();
    (url, attrs)
}

/// The central queue's SQS client in the home region.
async fn home_sqs(moto: &Moto) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&moto.account(HOME).await.in_region(HOME_REGION))
}

/// The queue row of a `status --json` or `plan --json` report.
fn queue_row(out: &str) -> Value {
    let rep: Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"));
    rep["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["scope"] == "queue")
        .cloned()
        .unwrap_or_else(|| panic!("no queue row: {out}"))
}

/// The queue's visibility timeout, receive wait, retention and redrive count are set
/// by setup (defaults written once in `config`), honoured by SQS (moto) on receives,
/// reported by status and plan when they differ, and repaired by setup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_attributes_are_set_reported_as_drift_and_repaired() {
    use event_rule::config::{
        DEFAULT_MAX_RECEIVE_COUNT, DEFAULT_MESSAGE_RETENTION_SECS, DEFAULT_RECEIVE_WAIT_SECS,
        DEFAULT_VISIBILITY_TIMEOUT_SECS,
    };
    let Some(moto) = Moto::start("queue_attributes_are_set_reported_as_drift_and_repaired") else {
        return;
    };
    timed!(async {
        moto.trail(HOME, "us-east-1", true).await;
        let base = ["--regions", "us-east-1"];
        let (code, out, err) = cli(&moto, &[&["setup"][..], &base].concat()).await;
        assert_eq!(code, 0, "{out}\n{err}");
        let (_, a) = queue_attributes(&moto, "cloudcoreo-events-queue").await;
        assert_eq!(
            a["VisibilityTimeout"],
            DEFAULT_VISIBILITY_TIMEOUT_SECS.to_string()
        );
        assert_eq!(
            a["ReceiveMessageWaitTimeSeconds"],
            DEFAULT_RECEIVE_WAIT_SECS.to_string()
        );
        assert_eq!(
            a["MessageRetentionPeriod"],
            DEFAULT_MESSAGE_RETENTION_SECS.to_string()
        );
        let redrive: Value = serde_json::from_str(&a["RedrivePolicy"]).unwrap();
        assert_eq!(
            redrive["maxReceiveCount"].to_string().trim_matches('"'),
            DEFAULT_MAX_RECEIVE_COUNT.to_string()
        );

        // Other values: status reports each difference, plan shows one definition
        // update of the queue, setup applies it.
        let short = [
            &base[..],
            &[
                "--visibility-timeout",
                "2",
                "--receive-wait-time",
                "1",
                "--message-retention",
                "600",
                "--max-receive-count",
                "2",
            ],
        ]
        .concat();
        let (code, out, err) = cli(&moto, &[&["status", "--json"][..], &short].concat()).await;
        assert_eq!(code, 2, "drift exits 2: {out}\n{err}");
        let row = queue_row(&out);
        assert_eq!(row["outcome"], "drift", "{row}");
        assert_eq!(row["checks"]["queue"], "differs: definition", "{row}");
        assert_eq!(row["checks"]["dlq"], "ok", "{row}");
        let notes: Vec<&str> = row["notes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for want in [
            "queue VisibilityTimeout is 360, wanted 2",
            "queue ReceiveMessageWaitTimeSeconds is 20, wanted 1",
            "queue MessageRetentionPeriod is 345600, wanted 600",
        ] {
            assert!(notes.contains(&want), "{want}: {notes:?}");
        }
        assert!(
            notes.iter().any(|n| n.starts_with("queue RedrivePolicy")),
            "{notes:?}"
        );
        let (code, out, err) = cli(&moto, &[&["plan", "--json"][..], &short].concat()).await;
        assert_eq!(code, 0, "{out}\n{err}");
        assert_eq!(
            queue_row(&out)["changes"],
            json!([{"resource": "queue", "action": "update", "aspect": "definition"}])
        );
        // --lambda-timeout derives the visibility timeout: six times it; given with a
        // shorter --visibility-timeout, it is refused before any call.
        let (code, out, err) = cli(
            &moto,
            &[&["plan", "--json", "--lambda-timeout", "1"][..], &base].concat(),
        )
        .await;
        assert_eq!(code, 0, "{out}\n{err}");
        let row = queue_row(&out);
        assert!(
            row["notes"]
                .to_string()
                .contains("queue VisibilityTimeout is 360, wanted 6"),
            "{row}"
        );
        let (code, _, err) = cli(
            &moto,
            &[&["plan", "--lambda-timeout", "1"][..], &short].concat(),
        )
        .await;
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains("--visibility-timeout 2 is shorter than 6 times --lambda-timeout 1"),
            "{err}"
        );
        let (code, out, err) = cli(&moto, &[&["setup"][..], &short].concat()).await;
        assert_eq!(code, 0, "{out}\n{err}");
        assert!(out.contains("update queue definition"), "{out}");
        let (url, a) = queue_attributes(&moto, "cloudcoreo-events-queue").await;
        assert_eq!(a["VisibilityTimeout"], "2");
        assert_eq!(a["ReceiveMessageWaitTimeSeconds"], "1");
        assert_eq!(a["MessageRetentionPeriod"], "600");
        let (code, out, _) = cli(&moto, &[&["status"][..], &short].concat()).await;
        assert_eq!(code, 0, "in sync: {out}");

        // SQS (moto) honours them on receives that set nothing: the wait, the
        // visibility, and the move to the dead-letter queue on the third receive.
        // (Retention is at least 60 s; its expiry is not waited for here.)
        let sqs = home_sqs(&moto).await;
        sqs.send_message()
            .queue_url(&url)
            .message_body("m")
            .send()
            .await
            .unwrap();
        let receive = |url: String| {
            let sqs = sqs.clone();
            async move {
                let t = Instant::now();
                let n = sqs
                    .receive_message()
                    .queue_url(url)
                    .send()
                    .await
                    .unwrap()
                    .messages()
                    .len();
                (n, t.elapsed())
            }
        };
        assert_eq!(receive(url.clone()).await.0, 1, "first receive");
        let (n, waited) = receive(url.clone()).await;
        assert_eq!(n, 0, "hidden for the visibility timeout");
        assert!(waited.as_millis() >= 900, "long-polled 1 s: {waited:?}");
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        assert_eq!(receive(url.clone()).await.0, 1, "visible again after 2 s");
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        assert_eq!(receive(url.clone()).await.0, 0, "moved after 2 receives");
        let (dlq, _) = queue_attributes(&moto, "cloudcoreo-events-queue-dlq").await;
        let moved = sqs
            .receive_message()
            .queue_url(dlq)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        assert_eq!(moved.messages().len(), 1, "in the dead-letter queue");

        // Changed behind the tool's back: drift, then repaired. (moto drops a policy
        // that SetQueueAttributes does not repeat; SQS does not, so it is repeated.)
        let (_, a) = queue_attributes(&moto, "cloudcoreo-events-queue").await;
        sqs.set_queue_attributes()
            .queue_url(&url)
            .attributes(aws_sdk_sqs::types::QueueAttributeName::Policy, &a["Policy"])
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                "30",
            )
            .send()
            .await
            .unwrap();
        let (code, out, _) = cli(&moto, &[&["status"][..], &short].concat()).await;
        assert_eq!(code, 2, "{out}");
        assert!(
            out.contains("queue VisibilityTimeout is 30, wanted 2"),
            "{out}"
        );
        let (code, out, err) = cli(&moto, &[&["setup"][..], &short].concat()).await;
        assert_eq!(code, 0, "{out}\n{err}");
        assert_eq!(
            queue_attributes(&moto, "cloudcoreo-events-queue").await.1["VisibilityTimeout"],
            "2"
        );
    });
}

/// Sets a policy attribute (`Policy`) of `account`'s topic in us-east-1.
async fn set_topic_policy(moto: &Moto, account: &str, policy: &Value) {
    let ctx = moto.account(account).await;
    aws_sdk_sns::Client::new(&ctx.in_region("us-east-1"))
        .set_topic_attributes()
        .topic_arn(aws::topic_arn("us-east-1", account, "cloudcoreo-events"))
        .attribute_name("Policy")
        .attribute_value(policy.to_string())
        .send()
        .await
        .unwrap();
}

/// `account`'s topic policy in us-east-1.
async fn topic_policy(moto: &Moto, account: &str) -> Value {
    let ctx = moto.account(account).await;
    let attrs = aws_sdk_sns::Client::new(&ctx.in_region("us-east-1"))
        .get_topic_attributes()
        .topic_arn(aws::topic_arn("us-east-1", account, "cloudcoreo-events"))
        .send()
        .await
        .unwrap();
    serde_json::from_str(&attrs.attributes().unwrap()["Policy"]).unwrap()
}

/// The Sids of a policy's statements (`-` for none).
fn sids(policy: &Value) -> BTreeSet<String> {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Sid"].as_str().unwrap_or("-").to_string())
        .collect()
}

/// Statements the tool did not write, in the queue policy and a topic policy: status
/// names them (drift only with --strict), setup keeps them while repairing its own,
/// teardown keeps them when it narrows the queue policy, and setup
/// --replace-foreign-statements removes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_policy_statements_are_reported_kept_and_replaced_on_request() {
    let Some(moto) =
        Moto::start("foreign_policy_statements_are_reported_kept_and_replaced_on_request")
    else {
        return;
    };
    timed!(async {
        let args = set_up_home_and_b(&moto).await;
        let args: Vec<&str> = args.iter().map(String::as_str).collect();

        // Anyone may send to the queue; another account may subscribe to B's topic
        // (no Sid), and our own publish statement there is widened.
        let queue_arn = aws::queue_arn(HOME_REGION, HOME, "cloudcoreo-events-queue");
        let public = json!({
            "Sid": "PublicSend",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "sqs:SendMessage",
            "Resource": queue_arn
        });
        let add_to_queue_policy = |statement: Value| async {
            let (url, a) = queue_attributes(&moto, "cloudcoreo-events-queue").await;
            let mut p: Value = serde_json::from_str(&a["Policy"]).unwrap();
            p["Statement"].as_array_mut().unwrap().push(statement);
            home_sqs(&moto)
                .await
                .set_queue_attributes()
                .queue_url(url)
                .attributes(
                    aws_sdk_sqs::types::QueueAttributeName::Policy,
                    p.to_string(),
                )
                .send()
                .await
                .unwrap();
        };
        add_to_queue_policy(public.clone()).await;
        let topic_b = aws::topic_arn("us-east-1", B, "cloudcoreo-events");
        let subscribe = json!({
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
            "Action": "sns:Subscribe",
            "Resource": topic_b
        });
        let ours_b = topic_policy(&moto, B).await;
        let mut tampered = ours_b.clone();
        tampered["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"] =
            json!("999999999999");
        tampered["Statement"]
            .as_array_mut()
            .unwrap()
            .push(subscribe.clone());
        set_topic_policy(&moto, B, &tampered).await;

        // Reported, not drift by themselves; our widened statement is.
        let (code, out, err) = cli(&moto, &[&["status", "--json"][..], &args].concat()).await;
        assert_eq!(code, 2, "our statement differs: {out}\n{err}");
        let rep: Value = serde_json::from_str(&out).unwrap();
        let row = |scope: &str, account: &str| -> Value {
            rep["rows"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["scope"] == scope && r["account"] == account)
                .cloned()
                .unwrap()
        };
        let q = row("queue", HOME);
        assert_eq!(q["outcome"], "in-sync", "{q}");
        assert_eq!(
            q["checks"]["queue-policy-foreign"],
            "1 foreign statement: \"PublicSend\": Allow sqs:SendMessage to *",
            "{q}"
        );
        assert_eq!(q["checks"]["queue-policy"], "ok", "{q}");
        let rb = row("region", B);
        assert_eq!(rb["outcome"], "drift", "{rb}");
        assert_eq!(rb["checks"]["topic-policy"], "differs", "{rb}");
        assert_eq!(
            rb["checks"]["topic-policy-foreign"],
            "1 foreign statement: (no Sid): Allow sns:Subscribe to arn:aws:iam::999999999999:root",
            "{rb}"
        );
        let rh = row("region", HOME);
        assert_eq!(rh["checks"]["topic-policy-foreign"], "ok", "{rh}");
        assert_eq!(rh["outcome"], "in-sync", "{rh}");

        // Setup repairs our statement and keeps theirs, in both policies.
        let (code, out, err) = cli(&moto, &[&["setup"][..], &args].concat()).await;
        assert_eq!(code, 0, "{out}\n{err}");
        assert!(
            !out.contains("queue-policy"),
            "queue policy untouched: {out}"
        );
        assert_eq!(out.matches("update topic policy").count(), 1, "{out}");
        let now_b = topic_policy(&moto, B).await;
        let mut want_b = ours_b.clone();
        want_b["Statement"]
            .as_array_mut()
            .unwrap()
            .insert(0, subscribe.clone());
        assert_eq!(normalize(&now_b), normalize(&want_b), "{now_b}");
        let (_, a) = queue_attributes(&moto, "cloudcoreo-events-queue").await;
        let qp: Value = serde_json::from_str(&a["Policy"]).unwrap();
        assert_eq!(
            sids(&qp),
            BTreeSet::from([
                "PublicSend".to_string(),
                "CloudcoreoEventTopics".to_string()
            ])
        );

        // Only with --strict are foreign statements drift.
        let (code, out, _) = cli(&moto, &[&["status"][..], &args].concat()).await;
        assert_eq!(code, 0, "{out}");
        assert!(
            out.contains("queue-policy-foreign: 1 foreign statement"),
            "{out}"
        );
        let (code, out, _) = cli(
            &moto,
            &[&["status", "--strict", "--json"][..], &args].concat(),
        )
        .await;
        assert_eq!(code, 2, "{out}");
        let rep: Value = serde_json::from_str(&out).unwrap();
        let drifted: BTreeSet<(String, String)> = rep["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["outcome"] == "drift")
            .map(|r| {
                (
                    r["scope"].as_str().unwrap().into(),
                    r["account"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            drifted,
            BTreeSet::from([("queue".into(), HOME.into()), ("region".into(), B.into())]),
            "{out}"
        );

        // Teardown of the regions narrows the queue policy to theirs alone.
        let (code, out, err) = cli(&moto, &[&["teardown"][..], &args].concat()).await;
        assert_eq!(code, 0, "{out}\n{err}");
        let (_, a) = queue_attributes(&moto, "cloudcoreo-events-queue").await;
        let qp: Value = serde_json::from_str(&a["Policy"]).unwrap();
        assert_eq!(
            normalize(&qp["Statement"]),
            normalize(&json!([public])),
            "{qp}"
        );

        // Set up again (theirs kept), then replace foreign statements on request.
        let (code, out, err) = cli(&moto, &[&["setup"][..], &args].concat()).await;
        assert_eq!(code, 0, "{out}\n{err}");
        let (_, a) = queue_attributes(&moto, "cloudcoreo-events-queue").await;
        let qp: Value = serde_json::from_str(&a["Policy"]).unwrap();
        assert_eq!(sids(&qp).len(), 2, "{qp}");
        let mut with_foreign = topic_policy(&moto, B).await;
        with_foreign["Statement"]
            .as_array_mut()
            .unwrap()
            .push(subscribe.clone());
        set_topic_policy(&moto, B, &with_foreign).await;
        let replace = [&["--replace-foreign-statements"][..], &args].concat();
        let (code, out, _) = cli(&moto, &[&["plan"][..], &replace].concat()).await;
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("update queue-policy policy"), "{out}");
        assert!(out.contains("update topic policy"), "{out}");
        let (code, out, err) = cli(&moto, &[&["setup"][..], &replace].concat()).await;
        assert_eq!(code, 0, "{out}\n{err}");
        let (_, a) = queue_attributes(&moto, "cloudcoreo-events-queue").await;
        let qp: Value = serde_json::from_str(&a["Policy"]).unwrap();
        assert_eq!(
            sids(&qp),
            BTreeSet::from(["CloudcoreoEventTopics".to_string()])
        );
        assert_eq!(normalize(&topic_policy(&moto, B).await), normalize(&ours_b));
        let (code, out, _) = cli(&moto, &[&["status", "--strict"][..], &args].concat()).await;
        assert_eq!(code, 0, "nothing foreign left: {out}");
    });
}
/// An IAM user in moto (IAM enforcement on) holding exactly `policy`; returns its key.
async fn iam_user(moto: &Moto, name: &str, policy: &Value) -> (String, String) {
    let iam = aws_sdk_iam::Client::new(&moto.sdk().await);
    iam.create_user().user_name(name).send().await.unwrap();
    iam.put_user_policy()
        .user_name(name)
        .policy_name("event-rule")
        .policy_document(policy.to_string())
        .send()
        .await
        .unwrap();
    let key = iam
        .create_access_key()
        .user_name(name)
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    (
        key.access_key_id().to_string(),
        key.secret_access_key().to_string(),
    )
}

/// With moto enforcing IAM: the actions `event-rule policy setup` prints are enough
/// for setup, and without one of its actions setup fails in every region with an error
/// naming that action and the resource, the queue it did make reported as created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printed_policy_suffices_and_a_missing_action_is_named() {
    // Unauthenticated calls allowed before enforcement starts: the trail (bucket,
    // CreateTrail, StartLogging) and two users (three calls each).
    let Some(moto) = Moto::start_with_env(
        "printed_policy_suffices_and_a_missing_action_is_named",
        &[("INITIAL_NO_AUTH_ACTION_COUNT", "9")],
    ) else {
        return;
    };
    timed!(async {
        moto.trail(HOME, "us-east-1", true).await;
        let regions = ["us-east-1", "eu-west-1"];
        let cfg = config(&[], &regions);
        // moto authorizes every request against the resource `*`, so statements
        // scoped to our ARNs would deny everything there: the test keeps the printed
        // actions and widens each statement's resources to `*`.
        let mut full = event_rule::iam::tool_policy(ToolCommand::Setup, &cfg);
        for st in full["Statement"].as_array_mut().unwrap() {
            st["Resource"] = json!("*");
        }
        let mut short = full.clone();
        for st in short["Statement"].as_array_mut().unwrap() {
            if let Some(actions) = st["Action"].as_array_mut() {
                actions.retain(|a| a != "sns:CreateTopic");
            }
        }
        assert_ne!(full, short, "the printed policy names sns:CreateTopic");
        let (full_id, full_secret) = iam_user(&moto, "full", &full).await;
        let (short_id, short_secret) = iam_user(&moto, "short", &short).await;

        // Enforcement is on: the short user may not create a topic.
        let denied = aws_sdk_sns::Client::new(
            &common::sdk_as(&moto.endpoint, &short_id, &short_secret).await,
        )
        .create_topic()
        .name("probe")
        .send()
        .await;
        assert!(denied.is_err(), "moto is not enforcing IAM");

        let short_sdk = common::sdk_as(&moto.endpoint, &short_id, &short_secret).await;
        let rep = event_rule::run(&cfg, &short_sdk, Command::Setup)
            .await
            .expect("run");
        assert!(rep.has_failures());
        let queue = rep
            .rows
            .iter()
            .find(|r| r.scope == RowScope::Queue)
            .expect("queue row");
        assert_eq!(queue.outcome, RowOutcome::Created, "{}", rep.table());
        let rows = region_rows(&rep);
        assert_eq!(rows.len(), regions.len());
        for r in rows {
            assert_eq!(r.outcome, RowOutcome::Failed, "{}", rep.table());
            let err = r.error.as_deref().unwrap_or_default();
            let topic = aws::topic_arn(&r.region, HOME, "cloudcoreo-events");
            assert!(
                err.contains("sns:CreateTopic") && err.contains(&topic),
                "error names neither action nor resource: {err}"
            );
            assert!(!r.retryable, "access denied is not retryable");
        }

        // The full policy: setup completes, and status (whose reads the setup policy
        // holds too) finds every region in sync.
        let full_sdk = common::sdk_as(&moto.endpoint, &full_id, &full_secret).await;
        let rep = event_rule::run(&cfg, &full_sdk, Command::Setup)
            .await
            .expect("run");
        assert!(!rep.has_failures(), "{}", rep.table());
        assert!(region_rows(&rep)
            .iter()
            .all(|r| r.outcome == RowOutcome::Created));
        let rep = event_rule::run(&cfg, &full_sdk, Command::Status)
            .await
            .expect("run");
        assert!(!rep.has_failures(), "{}", rep.table());
        assert!(
            region_rows(&rep)
                .iter()
                .all(|r| r.outcome == RowOutcome::InSync),
            "{}",
            rep.table()
        );
    });
}

/// The 17 regions of the timing tests.
const R17: [&str; 17] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "sa-east-1",
];

/// Setup over 17 regions against setup over one, each on a fresh server: straight to
/// moto, through a proxy adding 50 ms per request (a real endpoint's round trip), and
/// one region at a time for comparison. Run with
/// `cargo test -p event-rule --release --test moto -- --ignored --nocapture timing_17`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing measurement; run explicitly"]
async fn timing_17_regions_vs_1() {
    let delay = std::time::Duration::from_millis(50);
    for (label, latency, concurrency) in [
        ("moto", None, 32),
        ("moto + 50 ms per request", Some(delay), 32),
        ("moto, one region at a time", None, 1),
    ] {
        let mut times = Vec::new();
        for regions in [&R17[..1], &R17[..]] {
            let Some(moto) = Moto::start("timing_17_regions_vs_1") else {
                return;
            };
            moto.trail(HOME, "us-east-1", true).await;
            let endpoint = match latency {
                Some(d) => common::latency_proxy(&moto.endpoint, d).await,
                None => moto.endpoint.clone(),
            };
            let sdk = common::sdk_at(&endpoint).await;
            let cfg = Config {
                concurrency,
                ..config(&[], regions)
            };
            // Warm moto's lazily built per-region backends (EC2's takes seconds) with a
            // read-only run, so the time measured is event-rule's, not moto's start-up.
            event_rule::run(&cfg, &sdk, Command::Status)
                .await
                .expect("status");
            let cpu0 = moto.cpu_time();
            let t = Instant::now();
            let rep = event_rule::run(&cfg, &sdk, Command::Setup)
                .await
                .expect("setup");
            let took = t.elapsed();
            let cpu = cpu0.zip(moto.cpu_time()).map(|(a, b)| b.saturating_sub(a));
            assert!(!rep.has_failures(), "{}", rep.table());
            assert_eq!(region_rows(&rep).len(), regions.len());
            println!(
                "{label}: setup over {:2} region(s): {:>7.1} ms (moto's CPU: {})",
                regions.len(),
                took.as_secs_f64() * 1e3,
                cpu.map_or("unknown".into(), |c| format!("{} ms", c.as_millis()))
            );
            times.push(took);
        }
        println!(
            "{label}: ratio 17/1 = {:.2}",
            times[1].as_secs_f64() / times[0].as_secs_f64()
        );
    }
}

/// Assumed-role credentials are renewed before they expire, so a run may outlast a
/// session. A run assumes each member's role once, for `--session-duration`; then,
/// with 20-second sessions (moto accepts what STS, at 900 s minimum, would refuse) and
/// calls spread over 14 s, the role is assumed again once, half a session before the
/// first one ends, and not for every call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assumed_role_credentials_are_renewed_before_they_expire() {
    use std::time::Duration;
    let Some(moto) = Moto::start("assumed_role_credentials_are_renewed_before_they_expire") else {
        return;
    };
    timed!(async {
        let (endpoint, sent) = common::recording_proxy(&moto.endpoint, Duration::ZERO).await;
        let base = common::sdk_at(&endpoint).await;
        let cfg = Config {
            session_duration: 1800,
            ..config(&[HOME, B], &["us-east-1", "eu-west-1"])
        };
        let rep = event_rule::run(&cfg, &base, Command::Plan)
            .await
            .expect("plan");
        assert!(!rep.has_failures(), "{}", rep.table());
        assert_eq!(
            sent.count("Action=AssumeRole"),
            1,
            "one AssumeRole for B's every call"
        );
        assert_eq!(sent.count("DurationSeconds=1800"), 1);

        let role = format!("arn:aws:iam::{B}:role/OrganizationAccountAccessRole");
        let ctx = aws::assume_for(&base, B, &role, Duration::from_secs(20))
            .await
            .expect("assume");
        let start = Instant::now();
        let mut calls = 0;
        while start.elapsed() < Duration::from_secs(14) {
            for r in ["us-east-1", "eu-west-1"] {
                aws_sdk_sns::Client::new(&ctx.in_region(r))
                    .list_topics()
                    .send()
                    .await
                    .expect("a call in B");
                calls += 1;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let assumed = sent.count("DurationSeconds=20");
        // Renewed 10 s into the first session; the second is renewed at 20 s.
        assert_eq!(
            assumed, 2,
            "{assumed} AssumeRole calls for {calls} calls in B"
        );
        assert!(calls >= 20, "{calls}");
        // The calls were signed with the first session's key, then the renewed one's
        // (besides the base credentials' `testing`).
        let mut keys = sent.values("Credential=", b'/');
        assert!(keys.remove("testing"), "{keys:?}");
        assert_eq!(
            keys.len(),
            3,
            "B's keys in the run, then in two sessions: {keys:?}"
        );
    });
}

/// Setup of 200 accounts x 17 regions (3,400 account-regions) against setup of one
/// account's 17 regions, each on a fresh server behind the proxy adding 50 ms per
/// request, with the default concurrency. Run with
/// `cargo test -p event-rule --release --test moto -- --ignored --nocapture timing_200`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing measurement; run explicitly"]
async fn timing_200_accounts_x_17_regions() {
    let accounts: Vec<String> = std::iter::once(HOME.to_string())
        .chain((1..200).map(|i| format!("{:012}", 200_000_000_000u64 + i)))
        .collect();
    let delay = std::time::Duration::from_millis(50);
    let mut times = Vec::new();
    for n in [1, accounts.len()] {
        // moto's IAM managed policies and EC2 AMIs, loaded per account, are not used.
        let Some(moto) = Moto::start_with_env(
            "timing_200_accounts_x_17_regions",
            &[
                ("MOTO_IAM_LOAD_MANAGED_POLICIES", "false"),
                ("MOTO_EC2_LOAD_DEFAULT_AMIS", "false"),
            ],
        ) else {
            return;
        };
        let targets: Vec<&str> = accounts[..n].iter().map(String::as_str).collect();
        for a in &targets {
            moto.trail(a, "us-east-1", true).await;
        }
        let endpoint = common::latency_proxy(&moto.endpoint, delay).await;
        let sdk = common::sdk_at(&endpoint).await;
        // The queue admits the organization's topics: listing 200 accounts' would not
        // fit in its policy.
        let cfg = Config {
            queue_org_id: Some("o-timing0000".into()),
            ..config(&targets, &R17)
        };
        // Warm moto's lazily built per-account, per-region backends first (see
        // `timing_17_regions_vs_1`).
        let t = Instant::now();
        event_rule::run(&cfg, &sdk, Command::Status)
            .await
            .expect("status");
        let warm = t.elapsed();
        let cpu0 = moto.cpu_time();
        let t = Instant::now();
        let rep = event_rule::run(&cfg, &sdk, Command::Setup)
            .await
            .expect("setup");
        let took = t.elapsed();
        let cpu = cpu0.zip(moto.cpu_time()).map(|(a, b)| b.saturating_sub(a));
        assert!(!rep.has_failures(), "{}", rep.table());
        assert_eq!(region_rows(&rep).len(), n * R17.len());
        println!(
            "moto + {} ms per request: setup of {n:3} account(s) x 17 regions: {:>8.1} ms \
             (moto's CPU: {}; warm-up status: {:.1} s)",
            delay.as_millis(),
            took.as_secs_f64() * 1e3,
            cpu.map_or("unknown".into(), |c| format!("{} ms", c.as_millis())),
            warm.as_secs_f64()
        );
        times.push(took);
    }
    println!(
        "ratio 200x17 / 1x17 = {:.2}",
        times[1].as_secs_f64() / times[0].as_secs_f64()
    );
}
