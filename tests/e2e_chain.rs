//! The whole stream on LocalStack: `event-rule setup` wires the EventBridge rule, the
//! SNS topic and the central queue (its CloudTrail check answered by a moto server
//! holding a logging trail); CloudTrail-shaped events put on the default bus arrive on
//! the queue as SNS notifications; `processor run` turns them into exactly the expected
//! rescan requests, at a file sink and an HTTP sink alike, and leaves the queue empty.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use integration_tests::harness::consumer::Consumer;
use integration_tests::harness::localstack::{LocalStack, ACCOUNT};
use integration_tests::harness::moto::Moto;
use integration_tests::harness::output::read_file_sink;
use integration_tests::harness::records::{self, event_id, now_secs};
use integration_tests::harness::sink::HttpSink;
use integration_tests::harness::{bins, sqs, with_limit};
use serde_json::Value;

const REGION: &str = "us-east-1";
const QUEUE: &str = "cloudcoreo-events-queue";
const TOPIC: &str = "cloudcoreo-events";
const TEST_LIMIT: Duration = Duration::from_secs(300);
/// Tag of this file's event ids.
const TAG: u16 = 0xe2e0;

/// The wired chain: the central queue and its dead-letter queue.
struct Chain {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    dlq_url: String,
}

/// Runs the `event-rule` binary against LocalStack, its CloudTrail calls against moto;
/// (exit code, stdout, stderr).
async fn event_rule(ls: &LocalStack, moto: &Moto, args: &[&str]) -> (i32, String, String) {
    let mut cmd = tokio::process::Command::new(bins::event_rule());
    cmd.args(args);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("EVENT_RULE_") || k.starts_with("AWS_") {
            cmd.env_remove(&*k);
        }
    }
    cmd.envs(ls.env(REGION))
        .env("AWS_ENDPOINT_URL_CLOUDTRAIL", &moto.endpoint)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(180), cmd.output())
        .await
        .expect("event-rule did not finish within 180 s")
        .expect("run event-rule");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `event-rule setup` in us-east-1 (home region too), then `status` in sync.
async fn wire(ls: &LocalStack, moto: &Moto) -> Chain {
    moto.logging_trail(REGION).await;
    let scope = ["--regions", REGION, "--home-region", REGION];
    let mut setup = vec!["setup", "--require-trail"];
    setup.extend(scope);
    let (code, out, err) = event_rule(ls, moto, &setup).await;
    assert_eq!(
        code, 0,
        "event-rule setup failed\nstdout:\n{out}\nstderr:\n{err}"
    );
    let mut status = vec!["status"];
    status.extend(scope);
    let (code, out, err) = event_rule(ls, moto, &status).await;
    assert_eq!(
        code, 0,
        "event-rule status after setup is not in sync\nstdout:\n{out}\nstderr:\n{err}"
    );

    let sqs = ls.sqs(REGION).await;
    let queue_url = sqs
        .get_queue_url()
        .queue_name(QUEUE)
        .send()
        .await
        .expect("the central queue exists")
        .queue_url
        .expect("queue URL");
    let dlq_url = sqs
        .get_queue_url()
        .queue_name(format!("{QUEUE}-dlq"))
        .send()
        .await
        .expect("the dead-letter queue exists")
        .queue_url
        .expect("dead-letter queue URL");
    assert_eq!(sqs::counts(&sqs, &queue_url).await.total(), 0);
    Chain {
        sqs,
        queue_url,
        dlq_url,
    }
}

/// What one resource's rescan request must say.
#[derive(Debug)]
struct Expected {
    service: &'static str,
    resource_id: &'static str,
    action: &'static str,
    /// `(event id, event name)`, oldest first.
    events: Vec<(String, &'static str)>,
}

const INSTANCE_TAGGED: &str = "i-0e2e0000000000a01";
const INSTANCE_GONE: &str = "i-0e2e0000000000b02";
const POLICY_BUCKET: &str = "e2e-policy-bucket";
const OLD_BUCKET: &str = "e2e-old-bucket";
const ROLE: &str = "e2e-reader";
const ROLE_PATH: &str = "/service-role/";

/// The calls put on the bus: six mutating calls on five resources (two tag the same
/// instance and merge), one read-only call and one failed call (neither gives a
/// request). Event times a minute ago, a few seconds apart.
fn calls(t0: i64) -> Vec<Value> {
    let a = ACCOUNT;
    vec![
        records::ec2_create_tags(a, REGION, &event_id(TAG, 1), t0, INSTANCE_TAGGED),
        records::s3_put_bucket_policy(a, REGION, &event_id(TAG, 2), t0 + 1, POLICY_BUCKET),
        records::ec2_terminate_instances(a, REGION, &event_id(TAG, 3), t0 + 2, INSTANCE_GONE),
        records::s3_delete_bucket(a, REGION, &event_id(TAG, 4), t0 + 3, OLD_BUCKET),
        records::iam_create_role(a, &event_id(TAG, 5), t0 + 4, ROLE, ROLE_PATH),
        records::ec2_create_tags(a, REGION, &event_id(TAG, 6), t0 + 5, INSTANCE_TAGGED),
        records::ec2_describe_instances(a, REGION, &event_id(TAG, 7), t0 + 6),
        records::failed(
            records::iam_create_role(a, &event_id(TAG, 8), t0 + 7, "e2e-existing", "/"),
            "EntityAlreadyExists",
            "Role with name e2e-existing already exists.",
        ),
    ]
}

/// The requests, by ARN (ARN formats from the AWS documentation: EC2 instance, S3
/// bucket, IAM role with its path).
fn expected() -> BTreeMap<String, Expected> {
    let a = ACCOUNT;
    BTreeMap::from([
        (
            format!("arn:aws:ec2:{REGION}:{a}:instance/{INSTANCE_TAGGED}"),
            Expected {
                service: "ec2",
                resource_id: INSTANCE_TAGGED,
                action: "update",
                events: vec![
                    (event_id(TAG, 1), "CreateTags"),
                    (event_id(TAG, 6), "CreateTags"),
                ],
            },
        ),
        (
            format!("arn:aws:ec2:{REGION}:{a}:instance/{INSTANCE_GONE}"),
            Expected {
                service: "ec2",
                resource_id: INSTANCE_GONE,
                action: "delete",
                events: vec![(event_id(TAG, 3), "TerminateInstances")],
            },
        ),
        (
            format!("arn:aws:s3:::{POLICY_BUCKET}"),
            Expected {
                service: "s3",
                resource_id: POLICY_BUCKET,
                action: "update",
                events: vec![(event_id(TAG, 2), "PutBucketPolicy")],
            },
        ),
        (
            format!("arn:aws:s3:::{OLD_BUCKET}"),
            Expected {
                service: "s3",
                resource_id: OLD_BUCKET,
                action: "delete",
                events: vec![(event_id(TAG, 4), "DeleteBucket")],
            },
        ),
        (
            format!("arn:aws:iam::{a}:role{ROLE_PATH}{ROLE}"),
            Expected {
                service: "iam",
                resource_id: ROLE,
                action: "update",
                events: vec![(event_id(TAG, 5), "CreateRole")],
            },
        ),
    ])
}

/// Asserts that `requests` are exactly the expected ones: one per resource, with
/// account, region, scope, action and the merged events.
fn assert_exact(what: &str, requests: &[Value]) {
    let want = expected();
    let mut by_arn: BTreeMap<String, &Value> = BTreeMap::new();
    for r in requests {
        let arn = r["arn"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: a request without an ARN: {r}"))
            .to_string();
        assert!(
            by_arn.insert(arn.clone(), r).is_none(),
            "{what}: two requests for {arn}:\n{requests:#?}"
        );
    }
    assert_eq!(
        by_arn.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}: not the expected resources:\n{requests:#?}"
    );
    for (arn, w) in &want {
        let r = by_arn[arn];
        assert_eq!(r["account"], ACCOUNT, "{what}: {arn}: account");
        assert_eq!(r["region"], REGION, "{what}: {arn}: region");
        assert_eq!(r["scope"], "resource", "{what}: {arn}: scope");
        assert_eq!(r["action"], w.action, "{what}: {arn}: action");
        assert_eq!(r["service"], w.service, "{what}: {arn}: service");
        assert_eq!(
            r["resource_id"], w.resource_id,
            "{what}: {arn}: resource_id"
        );
        let events: Vec<(String, String)> = r["events"]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: {arn}: no events"))
            .iter()
            .map(|e| {
                assert_eq!(
                    e["principal"],
                    records::principal(ACCOUNT),
                    "{what}: {arn}: principal"
                );
                (
                    e["event_id"].as_str().unwrap_or_default().to_string(),
                    e["event_name"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let want_events: Vec<(String, String)> = w
            .events
            .iter()
            .map(|(id, name)| (id.clone(), name.to_string()))
            .collect();
        assert_eq!(events, want_events, "{what}: {arn}: events");
        // A scanner must not read before the newest event (plus its settle delay).
        let newest = r["events"]
            .as_array()
            .and_then(|e| e.last())
            .and_then(|e| e["event_time"].as_str())
            .and_then(processor_core::time::parse_rfc3339)
            .expect("event_time");
        let not_before = r["not_before"]
            .as_str()
            .and_then(processor_core::time::parse_rfc3339)
            .unwrap_or_else(|| panic!("{what}: {arn}: not_before"));
        assert!(
            not_before > newest,
            "{what}: {arn}: not_before {not_before} <= {newest}"
        );
    }
}

/// Puts the records on the default bus as CloudTrail delivers them: source
/// `aws.<service>`, detail type `AWS API Call via CloudTrail`, the record as detail.
async fn put_on_bus(ls: &LocalStack, recs: &[Value]) {
    let eb = aws_sdk_eventbridge::Client::new(&ls.sdk(REGION).await);
    let entries: Vec<PutEventsRequestEntry> = recs
        .iter()
        .map(|r| {
            let source = r["eventSource"].as_str().expect("eventSource");
            let service = processor_core::services::short_service(source);
            let time = r["eventTime"]
                .as_str()
                .and_then(processor_core::time::parse_rfc3339)
                .expect("eventTime");
            PutEventsRequestEntry::builder()
                .source(format!("aws.{service}"))
                .detail_type("AWS API Call via CloudTrail")
                .detail(r.to_string())
                .time(DateTime::from_secs(time))
                .build()
        })
        .collect();
    for chunk in entries.chunks(10) {
        let out = eb
            .put_events()
            .set_entries(Some(chunk.to_vec()))
            .send()
            .await
            .expect("PutEvents");
        assert_eq!(out.failed_entry_count, 0, "PutEvents: {:?}", out.entries);
    }
}

/// Wires the chain, puts the calls on the bus and waits until all of them are on the
/// queue (the rule matches every API call; the processor is what drops some).
async fn chain_with_events(ls: &LocalStack, moto: &Moto) -> (Chain, Vec<Value>) {
    let chain = wire(ls, moto).await;
    let recs = calls(now_secs() - 60);
    put_on_bus(ls, &recs).await;
    let c = sqs::wait_visible(
        &chain.sqs,
        &chain.queue_url,
        recs.len() as u64,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(
        c.total(),
        recs.len() as u64,
        "the queue should hold one message per event put on the bus: {c:?}"
    );
    (chain, recs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_on_the_bus_arrive_on_the_queue_as_sns_notifications() {
    let test = "e2e_chain::events_on_the_bus_arrive_on_the_queue";
    let Some(ls) = LocalStack::start(test) else {
        return;
    };
    let Some(moto) = Moto::start(test) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    with_limit(test, TEST_LIMIT, async {
        let (chain, recs) = chain_with_events(&ls, &moto).await;
        let sent: HashMap<String, &Value> = recs
            .iter()
            .map(|r| (r["eventID"].as_str().unwrap().to_string(), r))
            .collect();

        let got = sqs::drain(
            &chain.sqs,
            &chain.queue_url,
            recs.len(),
            Duration::from_secs(60),
        )
        .await;
        assert_eq!(got.len(), recs.len(), "messages received back");
        let topic_arn = format!("arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC}");
        let mut seen = Vec::new();
        for (i, m) in got.iter().enumerate() {
            let sns: Value = serde_json::from_str(&m.body).expect("the body is JSON");
            assert_eq!(sns["Type"], "Notification", "{}", m.body);
            assert_eq!(sns["TopicArn"], topic_arn.as_str(), "{}", m.body);
            let event: Value = serde_json::from_str(sns["Message"].as_str().expect("Message"))
                .expect("the SNS message is the EventBridge event");
            assert_eq!(event["detail-type"], "AWS API Call via CloudTrail");
            assert_eq!(event["account"], ACCOUNT);
            assert_eq!(event["region"], REGION);
            let id = event["detail"]["eventID"].as_str().expect("detail.eventID");
            let record = sent
                .get(id)
                .unwrap_or_else(|| panic!("an event never put: {id}"));
            assert_eq!(&event["detail"], *record, "the record arrives unchanged");
            let service =
                processor_core::services::short_service(record["eventSource"].as_str().unwrap());
            assert_eq!(event["source"], format!("aws.{service}"));
            seen.push(id.to_string());
            // Each body as it arrived, one file each, for the replay below.
            std::fs::write(dir.path().join(format!("body-{i}.json")), &m.body).expect("write body");
        }
        seen.sort();
        let mut want: Vec<String> = sent.keys().cloned().collect();
        want.sort();
        assert_eq!(seen, want, "every event put arrives once");

        // What the queue received gives the expected requests through the processor's
        // own pipeline (`processor replay`), before any consumer is involved.
        let files: Vec<std::path::PathBuf> = (0..got.len())
            .map(|i| dir.path().join(format!("body-{i}.json")))
            .collect();
        let requests = replay(&files).await;
        assert_exact("processor replay of the queued bodies", &requests);
    })
    .await;
}

/// `processor replay FILES...`: the requests it prints.
async fn replay(files: &[impl AsRef<Path>]) -> Vec<Value> {
    let mut cmd = tokio::process::Command::new(bins::processor());
    cmd.arg("replay")
        .args(files.iter().map(|f| f.as_ref().as_os_str()))
        .kill_on_drop(true);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PROCESSOR_") {
            cmd.env_remove(k);
        }
    }
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("processor replay within 60 s")
        .expect("run processor replay");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "processor replay failed: {stderr}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("replay output {l}: {e}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processor_run_turns_the_chain_into_exact_requests_at_both_sinks() {
    let test = "e2e_chain::processor_run_turns_the_chain_into_exact_requests";
    let Some(ls) = LocalStack::start(test) else {
        return;
    };
    let Some(moto) = Moto::start(test) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let http = HttpSink::start("/rescan");
    with_limit(test, TEST_LIMIT, async {
        let (chain, _) = chain_with_events(&ls, &moto).await;
        let file = dir.path().join("requests.ndjson");
        let file_sink = format!("file:{}", file.display());
        let mut run = Consumer::start(
            &ls,
            dir.path(),
            "run",
            &chain.queue_url,
            &[
                "--exit-when-idle",
                "5",
                "--wait-time-seconds",
                "1",
                "--max-hold",
                "2",
                "--sink",
                &file_sink,
                "--sink",
                &http.url,
            ],
        );
        run.expect_success(Duration::from_secs(120)).await;

        let written = read_file_sink(&file);
        assert!(written.torn_lines.is_empty(), "{:?}", written.torn_lines);
        assert_exact("file sink", &written.requests);
        let posted = http.requests();
        assert!(http.malformed().is_empty(), "{:?}", http.malformed());
        assert_exact("http sink", &posted);
        // Both sinks received the very same requests.
        let by_arn = |v: &[Value]| -> BTreeMap<String, Value> {
            v.iter()
                .map(|r| (r["arn"].as_str().unwrap().to_string(), r.clone()))
                .collect()
        };
        assert_eq!(by_arn(&written.requests), by_arn(&posted));

        let left = sqs::counts(&chain.sqs, &chain.queue_url).await;
        assert_eq!(left.total(), 0, "the queue ends empty: {left:?}");
        let dead = sqs::counts(&chain.sqs, &chain.dlq_url).await;
        assert_eq!(dead.total(), 0, "nothing dead-lettered: {dead:?}");
    })
    .await;
}
