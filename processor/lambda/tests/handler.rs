//! The handler over mixed batches, called directly with test sinks: the exact
//! `batchItemFailures` and what reached each sink.

use std::sync::{Arc, Mutex};

use aws_lambda_events::event::sqs::SqsEvent;
use processor_consumer::subscribe::Confirmer;
mod common;

use common::{record, sns, subscription_confirmation, write, TOPIC};
use processor_core::wrap::{eventbridge_event, lambda_sqs_event, sns_notification, WrapIds};
use processor_core::{ProcessorConfig, RescanRequest};
use processor_lambda::{Fate, Function};
use processor_sinks::{Sink, SinkError};

const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:cloudcoreo-events-queue";

/// A sink that refuses requests on the given ARNs and remembers what it was offered
/// and what it accepted.
#[derive(Debug, Default)]
struct TestSink {
    refuse: Vec<String>,
    refuse_all: bool,
    offered: Mutex<Vec<RescanRequest>>,
    accepted: Mutex<Vec<RescanRequest>>,
}

impl TestSink {
    fn refusing(arns: &[&str]) -> Arc<Self> {
        Arc::new(TestSink {
            refuse: arns.iter().map(|a| a.to_string()).collect(),
            ..TestSink::default()
        })
    }

    fn refusing_all() -> Arc<Self> {
        Arc::new(TestSink {
            refuse_all: true,
            ..TestSink::default()
        })
    }

    /// (ARN, event ids) of the accepted requests, sorted.
    fn accepted(&self) -> Vec<(String, Vec<String>)> {
        summarize(&self.accepted.lock().unwrap())
    }

    fn offered(&self) -> Vec<(String, Vec<String>)> {
        summarize(&self.offered.lock().unwrap())
    }
}

fn summarize(requests: &[RescanRequest]) -> Vec<(String, Vec<String>)> {
    let mut v: Vec<(String, Vec<String>)> = requests
        .iter()
        .map(|r| {
            (
                r.arn
                    .clone()
                    .unwrap_or_else(|| format!("service:{}", r.service)),
                r.events.iter().map(|e| e.event_id.clone()).collect(),
            )
        })
        .collect();
    v.sort();
    v
}

#[async_trait::async_trait]
impl Sink for TestSink {
    fn kind(&self) -> &'static str {
        "test"
    }

    fn name(&self) -> &str {
        "test"
    }

    async fn deliver(&self, requests: &[RescanRequest]) -> Vec<Result<(), SinkError>> {
        self.offered.lock().unwrap().extend_from_slice(requests);
        requests
            .iter()
            .map(|r| {
                let refused =
                    self.refuse_all || r.arn.as_ref().is_some_and(|a| self.refuse.contains(a));
                if refused {
                    Err(SinkError::permanent("test", "refused"))
                } else {
                    self.accepted.lock().unwrap().push(r.clone());
                    Ok(())
                }
            })
            .collect()
    }
}

fn event(bodies: &[(&str, String)]) -> SqsEvent {
    let pairs: Vec<(&str, &str)> = bodies.iter().map(|(id, b)| (*id, b.as_str())).collect();
    serde_json::from_str(&lambda_sqs_event(&pairs, QUEUE_ARN)).unwrap()
}

fn function(sinks: Vec<Arc<dyn Sink>>, confirmer: Option<Confirmer>) -> Function {
    Function::new(
        ProcessorConfig::default(),
        processor_lambda::resolver(),
        sinks,
        confirmer,
    )
}

fn failures(handled: &processor_lambda::Handled) -> Vec<String> {
    handled
        .response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

fn arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn a_mixed_batch_names_exactly_the_records_that_must_come_back() {
    let sink = TestSink::refusing(&[&arn("bucket-refused")]);
    let f = function(vec![sink.clone()], None);
    let good = write("e-good", "bucket-a");
    let refused = write("e-refused", "bucket-refused");
    // Truncated: the SNS envelope is whole, the EventBridge event inside it is cut.
    let eb = eventbridge_event(&write("e-truncated", "bucket-t"), "eb-t").unwrap();
    let truncated = sns_notification(
        &eb[..eb.len() / 2],
        &WrapIds {
            event_bridge_id: "eb-t",
            sns_message_id: "sns-t",
            topic_arn: TOPIC,
            sns_timestamp: "2023-07-10T11:42:40.000Z",
        },
        false,
    );
    let batch = event(&[
        ("m-good", sns(&good, 1)),
        (
            "m-eventbridge",
            eventbridge_event(&write("e-eb", "bucket-b"), "eb-2").unwrap(),
        ),
        (
            "m-read-only",
            sns(
                &record(
                    "e-read",
                    "GetBucketPolicy",
                    "bucket-a",
                    r#","readOnly":true"#,
                ),
                3,
            ),
        ),
        (
            "m-failed",
            sns(
                &record(
                    "e-failed",
                    "PutBucketPolicy",
                    "bucket-a",
                    r#","readOnly":false,"errorCode":"AccessDenied""#,
                ),
                4,
            ),
        ),
        (
            "m-malformed",
            "{\"Type\":\"Notification\",\"Message\":".into(),
        ),
        ("m-truncated", truncated),
        ("m-subscription", subscription_confirmation(TOPIC)),
        // The same event as m-good, delivered again while it is in flight.
        ("m-duplicate", sns(&good, 9)),
        ("m-refused", sns(&refused, 10)),
        ("m-refused-duplicate", sns(&refused, 11)),
        // Another change to bucket-a within the window: merged with e-good.
        ("m-merged", write("e-merged", "bucket-a")),
    ]);
    let handled = f.handle(batch, None).await;
    assert_eq!(
        failures(&handled),
        [
            "m-malformed",
            "m-truncated",
            "m-subscription",
            "m-refused",
            "m-refused-duplicate"
        ]
    );
    assert_eq!(
        handled.fates,
        [
            Fate::Done,
            Fate::Done,
            Fate::Done,
            Fate::Done,
            Fate::Invalid,
            Fate::Invalid,
            Fate::Subscription,
            Fate::Done,
            Fate::Refused,
            Fate::Refused,
            Fate::Done,
        ]
    );
    assert_eq!(
        sink.accepted(),
        [
            (arn("bucket-a"), ids(&["e-good", "e-merged"])),
            (arn("bucket-b"), ids(&["e-eb"])),
        ]
    );
    // One request per resource: the duplicates added none.
    assert_eq!(
        sink.offered(),
        [
            (arn("bucket-a"), ids(&["e-good", "e-merged"])),
            (arn("bucket-b"), ids(&["e-eb"])),
            (arn("bucket-refused"), ids(&["e-refused"])),
        ]
    );
    let s = &handled.summary;
    assert_eq!(
        (
            s.records,
            s.done,
            s.invalid,
            s.subscriptions_left,
            s.refused
        ),
        (11, 6, 2, 1, 2)
    );
    assert_eq!((s.requests, s.requests_refused, s.duplicates), (3, 1, 2));
}

#[tokio::test]
async fn a_record_is_done_only_when_every_sink_accepted() {
    let accepting = TestSink::refusing(&[]);
    let refusing = TestSink::refusing(&[&arn("bucket-b")]);
    let f = function(vec![accepting.clone(), refusing.clone()], None);
    let handled = f
        .handle(
            event(&[
                ("m-a", sns(&write("e-a", "bucket-a"), 1)),
                ("m-b", sns(&write("e-b", "bucket-b"), 2)),
            ]),
            None,
        )
        .await;
    assert_eq!(failures(&handled), ["m-b"]);
    // The first sink took both; the record still comes back for the second.
    assert_eq!(
        accepting.accepted(),
        [
            (arn("bucket-a"), ids(&["e-a"])),
            (arn("bucket-b"), ids(&["e-b"]))
        ]
    );
    assert_eq!(refusing.accepted(), [(arn("bucket-a"), ids(&["e-a"]))]);
}

#[tokio::test]
async fn across_batches_done_events_are_dropped_and_refused_ones_processed_again() {
    let sink = TestSink::refusing(&[&arn("bucket-b")]);
    let f = function(vec![sink.clone()], None);
    let a = sns(&write("e-a", "bucket-a"), 1);
    let b = sns(&write("e-b", "bucket-b"), 2);
    let first = f
        .handle(event(&[("m-a", a.clone()), ("m-b", b.clone())]), None)
        .await;
    assert_eq!(failures(&first), ["m-b"]);

    // The queue redelivers both (a lost delete, and the retry). e-a is done: dropped
    // and its record done without a request; e-b was refused: processed again.
    let second = f
        .handle(event(&[("m-a-again", a), ("m-b-again", b)]), None)
        .await;
    assert_eq!(failures(&second), ["m-b-again"]);
    assert_eq!(second.summary.duplicates, 1);
    assert_eq!(
        sink.offered(),
        [
            (arn("bucket-a"), ids(&["e-a"])),
            (arn("bucket-b"), ids(&["e-b"])),
            (arn("bucket-b"), ids(&["e-b"])),
        ]
    );
}

#[tokio::test]
async fn a_fresh_instance_processes_a_redelivery_again() {
    // Nothing is carried between instances: a second function (another instance, a
    // cold start) delivers the event again, as at-least-once allows.
    let batch = || event(&[("m-a", sns(&write("e-a", "bucket-a"), 1))]);
    let sink = TestSink::refusing(&[]);
    for _ in 0..2 {
        let f = function(vec![sink.clone()], None);
        assert!(failures(&f.handle(batch(), None).await).is_empty());
    }
    assert_eq!(sink.accepted().len(), 2);
}

#[tokio::test]
async fn a_sink_refusing_everything_returns_every_record_with_a_change() {
    let sink = TestSink::refusing_all();
    let f = function(vec![sink.clone()], None);
    let handled = f
        .handle(
            event(&[
                ("m-a", sns(&write("e-a", "bucket-a"), 1)),
                (
                    "m-read",
                    sns(
                        &record("e-r", "GetBucketAcl", "bucket-a", r#","readOnly":true"#),
                        2,
                    ),
                ),
                ("m-c", write("e-c", "bucket-c")),
            ]),
            None,
        )
        .await;
    assert_eq!(failures(&handled), ["m-a", "m-c"]);
    assert!(sink.accepted().is_empty());
}

#[tokio::test]
async fn subscription_confirmations_of_accounts_not_allowed_come_back() {
    // Confirming is on, but only for 111111111111: the topic's account is not allowed,
    // so no API call is made and the record comes back for the dead-letter queue.
    let sdk = aws_config::SdkConfig::builder().build();
    let confirmer = Confirmer::new(sdk, vec!["111111111111".into()]);
    let sink = TestSink::refusing(&[]);
    let f = function(vec![sink.clone()], Some(confirmer));
    let handled = f
        .handle(
            event(&[
                ("m-sub", subscription_confirmation(TOPIC)),
                ("m-a", sns(&write("e-a", "bucket-a"), 1)),
            ]),
            None,
        )
        .await;
    assert_eq!(failures(&handled), ["m-sub"]);
    assert_eq!(handled.summary.subscriptions_confirmed, 0);
    assert_eq!(sink.accepted().len(), 1);
}

#[tokio::test]
async fn an_empty_batch_and_a_record_without_a_body() {
    let sink = TestSink::refusing(&[]);
    let f = function(vec![sink.clone()], None);
    let handled = f.handle(event(&[]), None).await;
    assert!(failures(&handled).is_empty());
    let mut batch = event(&[("m-empty", String::new())]);
    batch.records[0].body = None;
    let handled = f.handle(batch, None).await;
    assert_eq!(failures(&handled), ["m-empty"]);
    assert!(sink.offered().is_empty());
}

#[tokio::test]
async fn a_dispatch_past_the_deadline_returns_its_records_not_the_batch() {
    /// Never answers its first delivery; accepts the later ones.
    #[derive(Debug, Default)]
    struct StuckOnce {
        calls: Mutex<u32>,
        accepted: Mutex<Vec<RescanRequest>>,
    }
    #[async_trait::async_trait]
    impl Sink for StuckOnce {
        fn kind(&self) -> &'static str {
            "stuck"
        }
        fn name(&self) -> &str {
            "stuck"
        }
        async fn deliver(&self, requests: &[RescanRequest]) -> Vec<Result<(), SinkError>> {
            let first = {
                let mut calls = self.calls.lock().unwrap();
                *calls += 1;
                *calls == 1
            };
            if first {
                std::future::pending::<()>().await;
            }
            self.accepted.lock().unwrap().extend_from_slice(requests);
            vec![Ok(()); requests.len()]
        }
    }
    let sink = Arc::new(StuckOnce::default());
    let f = function(vec![sink.clone()], None);
    let deadline = std::time::SystemTime::now() + std::time::Duration::from_millis(300);
    let handled = f
        .handle(
            event(&[
                ("m-a", sns(&write("e-a", "bucket-a"), 1)),
                (
                    "m-read",
                    sns(
                        &record("e-r", "GetBucketAcl", "bucket-a", r#","readOnly":true"#),
                        2,
                    ),
                ),
            ]),
            Some(deadline),
        )
        .await;
    assert_eq!(failures(&handled), ["m-a"]);
    assert_eq!(handled.fates, [Fate::Unsettled, Fate::Done]);
    assert_eq!(handled.summary.unsettled, 1);

    // The abandoned request does not leave e-a "in flight" for ever: the next
    // invocation starts from a fresh engine, and the redelivery is processed.
    let again = f
        .handle(event(&[("m-a", sns(&write("e-a", "bucket-a"), 1))]), None)
        .await;
    assert!(failures(&again).is_empty());
    assert_eq!(again.summary.duplicates, 0);
    assert_eq!(
        summarize(&sink.accepted.lock().unwrap()),
        [(arn("bucket-a"), ids(&["e-a"]))]
    );
}
