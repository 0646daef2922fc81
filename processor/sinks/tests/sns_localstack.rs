//! The SNS sink against LocalStack: a topic subscribed by an SQS queue (raw message
//! delivery) shows exactly what was published; a FIFO topic gets the group and
//! deduplication ids; a deleted topic fails every request. Runs only when
//! `LOCALSTACK_ENDPOINT` is set; otherwise it prints that it skips.

mod common;

use std::collections::BTreeSet;

use common::{queue, receive, request, requests_with_one_oversized, sdk_config, unique};
use processor_core::RescanRequest;
use processor_sinks::sqs::message_group_id;
use processor_sinks::{build, ErrorKind, SinkOptions, SinkSpec};

/// A topic (FIFO when `name` ends in `.fifo`) whose messages arrive raw on a new queue
/// of the same kind; returns (topic ARN, queue URL).
async fn topic_with_queue(
    sns: &aws_sdk_sns::Client,
    sqs: &aws_sdk_sqs::Client,
    name: &str,
) -> (String, String) {
    let mut create = sns.create_topic().name(name);
    if name.ends_with(".fifo") {
        create = create.attributes("FifoTopic", "true");
    }
    let topic = create
        .send()
        .await
        .expect("create topic")
        .topic_arn()
        .expect("topic ARN")
        .to_string();
    let (queue_url, queue_arn) = queue(sqs, name).await;
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .expect("subscribe");
    (topic, queue_url)
}

fn json_set<'a>(requests: impl IntoIterator<Item = &'a RescanRequest>) -> BTreeSet<String> {
    requests
        .into_iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect()
}

#[tokio::test]
async fn publishes_to_standard_and_fifo_topics_and_reports_failures() {
    let Some(endpoint) = common::endpoint("sns_localstack") else {
        return;
    };
    let aws = sdk_config(&endpoint).await;
    let sns = aws_sdk_sns::Client::new(&aws);
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let options = SinkOptions::default();

    // Standard topic: 23 requests (three of about 200 KiB, so batches split on size)
    // and one over 256 KiB, refused without being sent.
    let (topic, queue_url) = topic_with_queue(&sns, &sqs, &unique("sinks-sns")).await;
    let spec: SinkSpec = format!("sns:{topic}").parse().expect("spec");
    let sink = build(&spec, Some(&aws), &options).await.expect("build");
    assert_eq!(sink.kind(), "sns");
    assert_eq!(sink.name(), format!("sns:{topic}"));
    let sent = requests_with_one_oversized(23, 5);
    let results = sink.deliver(&sent).await;
    assert_eq!(results.len(), 24);
    for (i, r) in results.iter().enumerate() {
        if i == 5 {
            let e = r.clone().unwrap_err();
            assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
            assert!(e.message.contains("exceeds the SNS limit"), "{e}");
        } else {
            assert_eq!(r, &Ok(()), "request {i}");
        }
    }
    let want = json_set(
        sent.iter()
            .enumerate()
            .filter(|(i, _)| *i != 5)
            .map(|(_, r)| r),
    );
    let got: BTreeSet<String> = receive(&sqs, &queue_url, 23)
        .await
        .into_iter()
        .map(|(body, _)| body)
        .collect();
    assert_eq!(got.len(), 23);
    assert_eq!(got, want);

    // FIFO topic: a repeated request is published once, the group ids are the
    // resources' keys (the FIFO queue sink's ids).
    let (fifo_topic, fifo_queue) =
        topic_with_queue(&sns, &sqs, &format!("{}.fifo", unique("sinks-sns"))).await;
    let fifo = build(&SinkSpec::Sns(fifo_topic.clone()), Some(&aws), &options)
        .await
        .expect("build fifo");
    let a = request("i-a");
    let b = request("i-b");
    let results = fifo.deliver(&[a.clone(), b.clone(), a.clone()]).await;
    assert_eq!(results, vec![Ok(()), Ok(()), Ok(())]);
    let mut got = receive(&sqs, &fifo_queue, 3).await;
    got.sort();
    let mut want = vec![
        (
            serde_json::to_string(&a).unwrap(),
            Some(message_group_id(&a)),
        ),
        (
            serde_json::to_string(&b).unwrap(),
            Some(message_group_id(&b)),
        ),
    ];
    want.sort();
    assert_eq!(got, want);

    // Injected failure: the topic is deleted; every request fails as permanent
    // (NotFound), and nothing arrives.
    sns.delete_topic()
        .topic_arn(&topic)
        .send()
        .await
        .expect("delete topic");
    let results = sink.deliver(&[request("i-1"), request("i-2")]).await;
    assert_eq!(results.len(), 2);
    for r in results {
        let e = r.unwrap_err();
        eprintln!("after deletion: {e} ({:?})", e.kind);
        assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
        assert!(e.message.starts_with("PublishBatch: NotFound"), "{e}");
        assert_eq!(e.sink, format!("sns:{topic}"));
    }
    assert!(receive(&sqs, &queue_url, 1).await.is_empty());

    for url in [&queue_url, &fifo_queue] {
        sqs.delete_queue()
            .queue_url(url)
            .send()
            .await
            .expect("delete queue");
    }
    sns.delete_topic()
        .topic_arn(&fifo_topic)
        .send()
        .await
        .expect("delete FIFO topic");
}
