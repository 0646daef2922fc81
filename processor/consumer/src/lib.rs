//! # processor-consumer
//!
//! `processor run`: the long-running, at-least-once consumer of the central SQS queue,
//! built on the processor core's engine. The container image runs it; the Lambda
//! reuses its configuration and dispatch.
//!
//! ## How the modules fit
//! - [`config`]: [`PipelineArgs`] (shared with `replay` and the Lambda) and
//!   [`RunArgs`], every flag with a `PROCESSOR_*` environment fallback.
//! - [`queue`]: the SQS calls (long-poll receive, `DeleteMessageBatch`,
//!   `ChangeMessageVisibilityBatch`) and [`Receipt`], the engine's token of a message.
//! - [`subscribe`]: confirms SNS subscriptions of allowed accounts' topics through the
//!   API (`--confirm-subscriptions`), never through the URL in the message.
//! - [`dispatch`]: delivers released requests to every sink and reports, per request,
//!   whether all of them accepted it.
//! - [`consumer`]: the run loop. N pollers receive and prepare bodies in parallel
//!   (decode, filter, resolve on every core); one owner task holds the engine (ledger,
//!   duplicates, coalescer), hands requests to dispatch tasks, and turns settled
//!   messages into deletes, retries with backoff, or nothing (left for the
//!   dead-letter queue). Back-pressure: receiving pauses while the engine is full.
//! - [`telemetry`]: Prometheus `/metrics`, `/healthz` (receiving works) and `/readyz`
//!   (not draining), and the metric names.
//! - [`logging`]: `tracing` set-up, JSON or text.
//! - [`policy`]: `processor policy run`, the least-privilege IAM policy of the
//!   consumer for its queue and sinks, and `processor policy lambda`, that of the
//!   Lambda function's execution role.
//!
//! Shutdown: cancelling the token (SIGTERM/SIGINT in the binary) stops receiving,
//! dispatches everything held, deletes what was accepted and returns within the grace
//! period; what was not dispatched stays on the queue.
#![deny(missing_docs)]

pub mod config;
pub mod consumer;
pub mod dispatch;
pub mod logging;
pub mod policy;
pub mod queue;
pub mod subscribe;
pub mod telemetry;

pub use config::{DeliveryArgs, LogFormat, MetricsAddr, PipelineArgs, RunArgs};
pub use consumer::{run, RunError, RunSummary};
pub use queue::Receipt;

/// Loads the AWS SDK configuration every client of the consumer uses: hyper with
/// rustls (ring), the standard credential chain, `AWS_ENDPOINT_URL` honoured; the
/// region from the environment, else from the queue URL (`sqs.REGION.amazonaws.com`).
pub async fn load_aws_config(queue_url: Option<&str>) -> aws_config::SdkConfig {
    use aws_smithy_http_client::{
        tls::{self, rustls_provider::CryptoMode},
        Builder,
    };
    let http = Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http);
    let env_region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .ok()
        .filter(|r| !r.is_empty());
    if env_region.is_none() {
        if let Some(r) = queue_url.and_then(queue::region_from_url) {
            loader = loader.region(aws_config::Region::new(r));
        }
    }
    loader.load().await
}
