//! The EventBridge sink against LocalStack: a bus with a rule (source and detail type
//! of rescans) targeting an SQS queue shows exactly the events put, by bus name and by
//! ARN, calls split to stay under 256 KiB, and an entry over the size limit is
//! reported without being sent. Runs only when
//! `LOCALSTACK_ENDPOINT` is set; otherwise it prints that it skips.

mod common;

use std::collections::BTreeSet;

use common::{queue, receive, request, requests_with_one_oversized, sdk_config, unique};
use processor_core::RescanRequest;
use processor_sinks::eventbridge::{DETAIL_TYPE, SOURCE};
use processor_sinks::{build, ErrorKind, SinkOptions, SinkSpec};
use serde_json::{json, Value};

const RULE: &str = "rescans-to-queue";

/// A bus with a rule sending every rescan event to a new queue; returns (bus ARN,
/// queue URL).
async fn bus_with_queue(
    eb: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
    name: &str,
) -> (String, String) {
    let bus_arn = eb
        .create_event_bus()
        .name(name)
        .send()
        .await
        .expect("create bus")
        .event_bus_arn()
        .expect("bus ARN")
        .to_string();
    let (queue_url, queue_arn) = queue(sqs, name).await;
    eb.put_rule()
        .name(RULE)
        .event_bus_name(name)
        .event_pattern(json!({"source": [SOURCE], "detail-type": [DETAIL_TYPE]}).to_string())
        .send()
        .await
        .expect("put rule");
    eb.put_targets()
        .rule(RULE)
        .event_bus_name(name)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(&queue_arn)
                .build()
                .expect("target"),
        )
        .send()
        .await
        .expect("put targets");
    (bus_arn, queue_url)
}

/// The details of the events that arrived (each checked to be a rescan event).
async fn details(sqs: &aws_sdk_sqs::Client, queue_url: &str, want: usize) -> BTreeSet<String> {
    receive(sqs, queue_url, want)
        .await
        .into_iter()
        .map(|(body, _)| {
            let event: Value = serde_json::from_str(&body).expect("the body is the event");
            assert_eq!(event["source"], SOURCE, "{body:.300}");
            assert_eq!(event["detail-type"], DETAIL_TYPE, "{body:.300}");
            let request: RescanRequest =
                serde_json::from_value(event["detail"].clone()).expect("the detail is a request");
            serde_json::to_string(&request).unwrap()
        })
        .collect()
}

#[tokio::test]
async fn puts_events_by_name_and_arn_and_reports_failures() {
    let Some(endpoint) = common::endpoint("eventbridge_localstack") else {
        return;
    };
    let aws = sdk_config(&endpoint).await;
    let eb = aws_sdk_eventbridge::Client::new(&aws);
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let options = SinkOptions::default();
    let name = unique("sinks-eb");
    let (bus_arn, queue_url) = bus_with_queue(&eb, &sqs, &name).await;

    // By name: 23 requests (three of about 180 KiB) and one over 256 KiB, refused
    // without being sent.
    let spec: SinkSpec = format!("eventbridge:{name}").parse().expect("spec");
    let sink = build(&spec, Some(&aws), &options).await.expect("build");
    assert_eq!(sink.kind(), "eventbridge");
    assert_eq!(sink.name(), format!("eventbridge:{name}"));
    let sent = requests_with_one_oversized(23, 5);
    let results = sink.deliver(&sent).await;
    assert_eq!(results.len(), 24);
    for (i, r) in results.iter().enumerate() {
        if i == 5 {
            let e = r.clone().unwrap_err();
            assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
            assert!(e.message.contains("exceeds the EventBridge limit"), "{e}");
        } else {
            assert_eq!(r, &Ok(()), "request {i}");
        }
    }
    let want: BTreeSet<String> = sent
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 5)
        .map(|(_, r)| serde_json::to_string(r).unwrap())
        .collect();
    let got = details(&sqs, &queue_url, 23).await;
    assert_eq!(got.len(), 23);
    assert_eq!(got, want);

    // By ARN.
    let by_arn = build(
        &SinkSpec::EventBridge(bus_arn.clone()),
        Some(&aws),
        &options,
    )
    .await
    .expect("build by ARN");
    let a = request("i-by-arn");
    assert_eq!(by_arn.deliver(std::slice::from_ref(&a)).await, vec![Ok(())]);
    let got = details(&sqs, &queue_url, 1).await;
    assert_eq!(got, BTreeSet::from([serde_json::to_string(&a).unwrap()]));

    // LocalStack accepts events for a bus that does not exist, refuses none of the
    // entries this sink builds and checks only each entry's size, not the call's: the
    // per-entry and whole-call failures and the split of calls on size are checked
    // against a scripted endpoint instead (`eventbridge_faults.rs`).
    eb.remove_targets()
        .rule(RULE)
        .event_bus_name(&name)
        .ids("queue")
        .send()
        .await
        .expect("remove targets");
    eb.delete_rule()
        .name(RULE)
        .event_bus_name(&name)
        .send()
        .await
        .expect("delete rule");
    eb.delete_event_bus()
        .name(&name)
        .send()
        .await
        .expect("delete bus");
    sqs.delete_queue()
        .queue_url(&queue_url)
        .send()
        .await
        .expect("delete queue");
}
