//! # processor-sinks
//!
//! Where rescan requests ([`processor_core::RescanRequest`]) go once the processor has
//! produced them: standard output, an append-only file, an HTTP endpoint, an SQS
//! queue, an SNS topic or an EventBridge event bus. Every sink reports acceptance **per request**, so the consumer can delete a
//! queue message only once every request it contributed to was accepted by every sink
//! (at-least-once delivery end to end).
//!
//! ## Layout
//! - [`spec`]: [`SinkSpec`], the parsed `--sink` value (`stdout`, `file:PATH`,
//!   `http(s)://URL`, `sqs:QUEUE_URL`, `sns:TOPIC_ARN`, `eventbridge:BUS_NAME_OR_ARN`)
//!   and the redaction of URLs for logs.
//! - [`options`]: [`SinkOptions`], timeouts, retries and batch sizes shared by sinks.
//! - [`error`]: [`SinkError`] and its [`ErrorKind`] (transient or permanent).
//! - [`stdout`]: [`StdoutSink`], NDJSON on standard output, flushed before acknowledging.
//! - [`file`](mod@file): [`FileSink`], NDJSON appended to a file, `fsync`ed before acknowledging.
//! - [`http`]: [`HttpSink`], JSON arrays POSTed in chunks, with retries, exponential
//!   backoff and full jitter.
//! - [`sqs`]: [`SqsSink`], `SendMessageBatch` in batches of at most 10 messages and
//!   256 KiB, with per-message delays on standard queues and stable group and
//!   deduplication ids on FIFO queues (the ids are described in that module).
//! - [`sns`]: [`SnsSink`], `PublishBatch` in batches of at most 10 messages and
//!   256 KiB, FIFO topics getting the same group and deduplication ids as FIFO queues.
//! - [`eventbridge`]: [`EventBridgeSink`], `PutEvents` of at most 10 entries and
//!   256 KiB, source `cloudcoreo.processor`, detail type `Rescan Request`, the request
//!   as the detail.
//!
//! [`build`] turns a [`SinkSpec`] into an `Arc<dyn Sink>`; every sink implements the
//! [`Sink`] trait, whose [`Sink::deliver`] returns exactly one result per request, in
//! order.
//!
//! ## SQS message ids (FIFO queues)
//! - `MessageGroupId`: the resource key, i.e. the ARN for `scope: resource` (or
//!   `resource|ACCOUNT|REGION|RESOURCE_TYPE|RESOURCE_ID` without an ARN) and
//!   `service|ACCOUNT|REGION|SERVICE` for `scope: service`; when longer than 128
//!   characters or not all printable ASCII, `sha256:` + the key's hex SHA-256.
//! - `MessageDeduplicationId`: hex SHA-256 of the resource key, the action and the
//!   sorted event ids, each followed by `\n`, so replicas that coalesced the same
//!   events send one message within SQS's 5-minute deduplication window.
//! - Standard queues get `DelaySeconds` = seconds until `not_before`, clamped to
//!   `0..=900` (set only when positive); FIFO queues get no delay.
//!
//! ## Secrets
//! Sinks never log or report a URL's userinfo, query string or fragment: [`Sink::name`]
//! and every [`SinkError`] carry the redacted form (see [`spec::redact_url`]).
#![deny(missing_docs)]

mod batch;
pub mod error;
pub mod eventbridge;
pub mod file;
pub mod http;
pub mod options;
pub mod sns;
pub mod spec;
pub mod sqs;
pub mod stdout;

use std::sync::Arc;

use processor_core::RescanRequest;

pub use error::{ErrorKind, SinkError};
pub use eventbridge::EventBridgeSink;
pub use file::FileSink;
pub use http::HttpSink;
pub use options::SinkOptions;
pub use sns::SnsSink;
pub use spec::SinkSpec;
pub use sqs::SqsSink;
pub use stdout::StdoutSink;

/// A destination for rescan requests.
#[async_trait::async_trait]
pub trait Sink: Send + Sync + std::fmt::Debug {
    /// Short label for logs and metrics: `"stdout"`, `"file"`, `"http"`, `"sqs"`,
    /// `"sns"`, `"eventbridge"`.
    fn kind(&self) -> &'static str;

    /// Human name without secrets (`"http://127.0.0.1:8080/x"` with any userinfo and
    /// query stripped, `"file:/tmp/x"`).
    fn name(&self) -> &str;

    /// Delivers `requests`; returns exactly one result per request, in the same order.
    /// `Ok` means accepted.
    async fn deliver(&self, requests: &[RescanRequest]) -> Vec<Result<(), SinkError>>;
}

/// Builds the sink `spec` names.
///
/// `aws` is the loaded AWS SDK configuration, required by `sqs:`, `sns:` and
/// `eventbridge:` sinks (the consumer's own, so `AWS_ENDPOINT_URL`, its HTTP client,
/// retries and credentials apply). A file
/// sink opens its file here, so a path that cannot be opened fails at start-up.
/// Errors are [`ErrorKind::Permanent`]: bad options, a missing AWS configuration, an
/// unopenable file or an unusable URL.
pub async fn build(
    spec: &SinkSpec,
    aws: Option<&aws_config::SdkConfig>,
    options: &SinkOptions,
) -> Result<Arc<dyn Sink>, SinkError> {
    options.validate()?;
    let sink: Arc<dyn Sink> = match spec {
        SinkSpec::Stdout => Arc::new(StdoutSink::new()),
        SinkSpec::File(path) => Arc::new(FileSink::open(path).await?),
        SinkSpec::Http(url) => Arc::new(HttpSink::new(url, options)?),
        SinkSpec::Sqs(queue_url) => {
            Arc::new(SqsSink::new(queue_url, need_aws(spec, aws)?, options))
        }
        SinkSpec::Sns(topic_arn) => {
            Arc::new(SnsSink::new(topic_arn, need_aws(spec, aws)?, options))
        }
        SinkSpec::EventBridge(bus) => {
            Arc::new(EventBridgeSink::new(bus, need_aws(spec, aws)?, options))
        }
    };
    tracing::info!(
        sink.kind = sink.kind(),
        sink.name = sink.name(),
        "sink ready"
    );
    Ok(sink)
}

/// The AWS configuration an AWS sink needs, or a permanent error naming the sink.
fn need_aws<'a>(
    spec: &SinkSpec,
    aws: Option<&'a aws_config::SdkConfig>,
) -> Result<&'a aws_config::SdkConfig, SinkError> {
    aws.ok_or_else(|| {
        let kind = spec.to_string();
        let kind = kind.split(':').next().unwrap_or_default().to_string();
        SinkError::permanent(
            spec.to_string(),
            format!("an {kind} sink needs the AWS SDK configuration"),
        )
    })
}

/// Encodes `requests` as NDJSON: one compact JSON object per line, each line ending
/// with `\n`.
pub(crate) fn ndjson(requests: &[RescanRequest]) -> Result<Vec<u8>, serde_json::Error> {
    let mut buf = Vec::with_capacity(requests.len() * 512);
    for request in requests {
        serde_json::to_writer(&mut buf, request)?;
        buf.push(b'\n');
    }
    Ok(buf)
}

/// An error and its sources, `: `-separated (a source already at the end of the text
/// is not repeated).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !s.ends_with(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = inner.source();
    }
    s
}

/// The same error for every request of a call.
pub(crate) fn fail_all(n: usize, error: &SinkError) -> Vec<Result<(), SinkError>> {
    vec![Err(error.clone()); n]
}

#[cfg(test)]
pub(crate) mod test_support {
    use processor_core::{Action, EventRef, RescanRequest, Scope};

    /// A resource-scoped request on instance `id`, with the given event ids.
    pub fn request(id: &str, events: &[&str]) -> RescanRequest {
        RescanRequest {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            service: "ec2".into(),
            resource_type: Some("ec2:instance".into()),
            resource_id: Some(id.into()),
            arn: Some(format!("arn:aws:ec2:us-east-1:123456789012:instance/{id}")),
            scope: Scope::Resource,
            action: Action::Update,
            not_before: "2023-07-10T11:43:36Z".into(),
            events: events
                .iter()
                .map(|e| EventRef {
                    event_id: (*e).into(),
                    event_name: "RunInstances".into(),
                    event_time: "2023-07-10T11:42:36Z".into(),
                    principal: Some("arn:aws:iam::123456789012:user/Alice".into()),
                })
                .collect(),
        }
    }
}
