//! The SQS sink against a real SQS API (LocalStack, or any compatible endpoint).
//! Runs only when `LOCALSTACK_ENDPOINT` (`http://127.0.0.1:PORT`) is set; otherwise
//! it prints that it skips.

mod common;

use std::collections::BTreeSet;

use aws_sdk_sqs::types::QueueAttributeName;
use processor_core::time::format_rfc3339;
use processor_core::{Action, EventRef, RescanRequest, Scope};
use processor_sinks::sqs::message_group_id;
use processor_sinks::{build, ErrorKind, SinkOptions, SinkSpec};

use common::{now, receive, sdk_config};

/// A request on instance `id` due at `not_before` (Unix seconds).
fn request(id: &str, not_before: i64) -> RescanRequest {
    RescanRequest {
        account: "123456789012".into(),
        region: "us-east-1".into(),
        service: "ec2".into(),
        resource_type: Some("ec2:instance".into()),
        resource_id: Some(id.into()),
        arn: Some(format!("arn:aws:ec2:us-east-1:123456789012:instance/{id}")),
        scope: Scope::Resource,
        action: Action::Update,
        not_before: format_rfc3339(not_before),
        events: vec![EventRef {
            event_id: format!("event-{id}"),
            event_name: "RunInstances".into(),
            event_time: format_rfc3339(not_before - 60),
            principal: None,
        }],
    }
}

#[tokio::test]
async fn sends_to_standard_and_fifo_queues_and_reports_failures() {
    let Ok(endpoint) = std::env::var("LOCALSTACK_ENDPOINT") else {
        eprintln!("skipping: LOCALSTACK_ENDPOINT is not set");
        return;
    };
    let aws = sdk_config(&endpoint).await;
    let client = aws_sdk_sqs::Client::new(&aws);
    let suffix = format!("{}-{}", std::process::id(), now());
    let options = SinkOptions::default();

    // Standard queue: 23 requests (three batches) plus one too large to send.
    let url = client
        .create_queue()
        .queue_name(format!("sinks-test-{suffix}"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let sink = build(&SinkSpec::Sqs(url.clone()), Some(&aws), &options)
        .await
        .unwrap();
    assert_eq!(sink.kind(), "sqs");
    let past = now() - 3600;
    let mut sent: Vec<RescanRequest> = (0..23).map(|i| request(&format!("i-{i}"), past)).collect();
    sent.insert(5, request(&"x".repeat(300 * 1024), past));
    let results = sink.deliver(&sent).await;
    assert_eq!(results.len(), 24);
    for (i, r) in results.iter().enumerate() {
        if i == 5 {
            assert_eq!(r.clone().unwrap_err().kind, ErrorKind::Permanent);
        } else {
            assert_eq!(r, &Ok(()), "request {i}");
        }
    }
    let expected: BTreeSet<String> = sent
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 5)
        .map(|(_, r)| serde_json::to_string(r).unwrap())
        .collect();
    let got: BTreeSet<String> = receive(&client, &url, 23)
        .await
        .into_iter()
        .map(|(body, _)| body)
        .collect();
    assert_eq!(got, expected);

    // FIFO queue: a repeated request is deduplicated, group ids are the ARNs.
    let fifo_url = client
        .create_queue()
        .queue_name(format!("sinks-test-{suffix}.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let fifo = build(&SinkSpec::Sqs(fifo_url.clone()), Some(&aws), &options)
        .await
        .unwrap();
    let later = now() + 600; // no DelaySeconds on FIFO: still receivable at once
    let a = request("i-a", later);
    let b = request("i-b", later);
    let results = fifo.deliver(&[a.clone(), b.clone(), a.clone()]).await;
    assert_eq!(results, vec![Ok(()), Ok(()), Ok(())]);
    let mut got = receive(&client, &fifo_url, 3).await;
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

    // A request due in ten minutes waits in the queue (DelaySeconds 600).
    let results = sink.deliver(&[request("i-late", now() + 600)]).await;
    assert_eq!(results, vec![Ok(())]);
    assert!(receive(&client, &url, 1).await.is_empty());
    let attrs = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap();
    let delayed = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessagesDelayed))
        .map(String::as_str);
    assert_eq!(delayed, Some("1"));

    // A deleted queue: every request fails, as permanent (QueueDoesNotExist).
    client.delete_queue().queue_url(&url).send().await.unwrap();
    let results = sink
        .deliver(&[request("i-1", past), request("i-2", past)])
        .await;
    assert_eq!(results.len(), 2);
    for r in results {
        let e = r.unwrap_err();
        eprintln!("after deletion: {e} ({:?})", e.kind);
        assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
        assert!(e.sink.starts_with("sqs:"));
    }
    client
        .delete_queue()
        .queue_url(&fifo_url)
        .send()
        .await
        .unwrap();
}
