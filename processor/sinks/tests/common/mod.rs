//! What the LocalStack sink tests share: the endpoint (`LOCALSTACK_ENDPOINT`, set by
//! `tests/run.sh`; without it the tests print that they skip), SDK configuration,
//! requests, and reading back what arrived on an SQS queue.
#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::Credentials;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use processor_core::time::format_rfc3339;
use processor_core::{Action, EventRef, RescanRequest, Scope};

/// The region the tests work in.
pub const REGION: &str = "us-east-1";
/// The account LocalStack gives the test credentials.
pub const ACCOUNT: &str = "000000000000";

/// LocalStack's endpoint, or `None` after printing that `test` skips.
pub fn endpoint(test: &str) -> Option<String> {
    match std::env::var("LOCALSTACK_ENDPOINT") {
        Ok(e) if !e.is_empty() => Some(e),
        _ => {
            eprintln!("skipping {test}: LOCALSTACK_ENDPOINT is not set");
            None
        }
    }
}

/// SDK configuration for `endpoint`: static test credentials, rustls with ring.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .load()
        .await
}

/// Unix seconds now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A name no other test run uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), now())
}

/// A resource-scoped request on instance `id`, one event, due in the past.
pub fn request(id: &str) -> RescanRequest {
    let t = now() - 3600;
    RescanRequest {
        account: "123456789012".into(),
        region: REGION.into(),
        service: "ec2".into(),
        resource_type: Some("ec2:instance".into()),
        resource_id: Some(id.into()),
        arn: Some(format!("arn:aws:ec2:{REGION}:123456789012:instance/{id}")),
        scope: Scope::Resource,
        action: Action::Update,
        not_before: format_rfc3339(t),
        events: vec![EventRef {
            event_id: format!("event-{id}"),
            event_name: "CreateTags".into(),
            event_time: format_rfc3339(t - 60),
            principal: None,
        }],
    }
}

/// `n` requests, three of them about 180 KiB (so that batches split on size, not
/// count),
/// and at `oversized` one over 256 KiB.
pub fn requests_with_one_oversized(n: usize, oversized: usize) -> Vec<RescanRequest> {
    let mut v: Vec<RescanRequest> = (0..n)
        .map(|i| {
            if i % 8 == 3 {
                request(&format!("i-{i}-{}", "p".repeat(60 * 1024)))
            } else {
                request(&format!("i-{i}"))
            }
        })
        .collect();
    v.insert(oversized, request(&"x".repeat(300 * 1024)));
    v
}

/// Creates a queue (FIFO when the name ends in `.fifo`); returns its URL and ARN.
pub async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    let mut create = sqs.create_queue().queue_name(name);
    if name.ends_with(".fifo") {
        create = create.attributes(QueueAttributeName::FifoQueue, "true");
    }
    let url = create
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("queue URL")
        .to_string();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes");
    let arn = attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .expect("queue ARN")
        .clone();
    (url, arn)
}

/// Receives (and deletes) until `want` messages arrived or five polls in a row came
/// back empty; returns `(body, MessageGroupId)` pairs.
pub async fn receive(
    client: &aws_sdk_sqs::Client,
    url: &str,
    want: usize,
) -> Vec<(String, Option<String>)> {
    let mut got = Vec::new();
    let mut empty_polls = 0;
    while got.len() < want && empty_polls < 5 {
        let out = client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive");
        let messages = out.messages();
        if messages.is_empty() {
            empty_polls += 1;
        }
        for m in messages {
            let group = m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                .cloned();
            got.push((m.body().unwrap_or_default().to_string(), group));
            client
                .delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().expect("receipt handle"))
                .send()
                .await
                .expect("delete");
        }
    }
    got
}
