//! The processor's configuration: every field a flag with a `PROCESSOR_*` environment
//! fallback, its default written once (the core's constants).
//!
//! [`PipelineArgs`] is shared by every way the processor runs (`replay`, `run`, the
//! Lambda), [`DeliveryArgs`] (sinks, subscription confirmations) by `run` and the
//! Lambda; [`RunArgs`] adds what the queue consumer needs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use processor_core::pipeline::{
    DEFAULT_MAX_EVENTS_PER_REQUEST, DEFAULT_MAX_HELD_REQUESTS, DEFAULT_MAX_HOLD_SECS,
    DEFAULT_MAX_IN_FLIGHT_MESSAGES, DEFAULT_MAX_TARGETS_PER_EVENT, DEFAULT_WINDOW_SECS,
};
use processor_core::services::SEED_SERVICES;
use processor_core::{FilterConfig, ProcessorConfig};
use processor_sinks::{Sink, SinkError, SinkOptions, SinkSpec};

use crate::subscribe::Confirmer;

/// Settings of the core pipeline.
#[derive(Debug, Clone, Args)]
pub struct PipelineArgs {
    /// Coalescing window in seconds of event time; 0 emits one request per event and
    /// resource.
    #[arg(long, env = "PROCESSOR_WINDOW", default_value_t = DEFAULT_WINDOW_SECS)]
    pub window: u32,

    /// Longest wall-clock hold of a request in seconds: it is dispatched then even if
    /// its window is still open (`run` only; replay runs on event time).
    #[arg(long, env = "PROCESSOR_MAX_HOLD", default_value_t = DEFAULT_MAX_HOLD_SECS)]
    pub max_hold: u32,

    /// Accepted CloudTrail `eventType`s (comma-separated).
    #[arg(
        long,
        env = "PROCESSOR_EVENT_TYPES",
        value_delimiter = ',',
        default_value = "AwsApiCall"
    )]
    pub event_types: Vec<String>,

    /// Keep data events (`eventCategory: Data`).
    #[arg(long, env = "PROCESSOR_INCLUDE_DATA_EVENTS")]
    pub include_data_events: bool,

    /// Services to keep (`ec2`, `s3`, globs like `elastic*`, or `seed`); empty keeps all.
    #[arg(long, env = "PROCESSOR_ALLOW_SERVICES", value_delimiter = ',')]
    pub allow_services: Vec<String>,

    /// Services to drop.
    #[arg(long, env = "PROCESSOR_DENY_SERVICES", value_delimiter = ',')]
    pub deny_services: Vec<String>,

    /// Event names to keep (`RunInstances`, `Put*`, `s3:Put*`); empty keeps all.
    #[arg(long, env = "PROCESSOR_ALLOW_EVENTS", value_delimiter = ',')]
    pub allow_events: Vec<String>,

    /// Event names to drop.
    #[arg(long, env = "PROCESSOR_DENY_EVENTS", value_delimiter = ',')]
    pub deny_events: Vec<String>,

    /// Accounts to keep; empty keeps all.
    #[arg(long, env = "PROCESSOR_ALLOW_ACCOUNTS", value_delimiter = ',')]
    pub allow_accounts: Vec<String>,

    /// How many recent event ids to remember to drop duplicate deliveries (0: off).
    #[arg(long, env = "PROCESSOR_DEDUP_CAPACITY", default_value_t = 100_000)]
    pub dedup_capacity: usize,

    /// Most events listed in one rescan request.
    #[arg(long, env = "PROCESSOR_MAX_EVENTS_PER_REQUEST", default_value_t = DEFAULT_MAX_EVENTS_PER_REQUEST)]
    pub max_events_per_request: usize,

    /// Most resources named for one event; past it the event becomes one
    /// service-scope request (a `RunInstances` of thousands of instances).
    #[arg(long, env = "PROCESSOR_MAX_TARGETS_PER_EVENT", default_value_t = DEFAULT_MAX_TARGETS_PER_EVENT)]
    pub max_targets_per_event: usize,

    /// Most requests held for coalescing; past it the oldest are dispatched early and
    /// receiving pauses.
    #[arg(long, env = "PROCESSOR_MAX_HELD_REQUESTS", default_value_t = DEFAULT_MAX_HELD_REQUESTS)]
    pub max_held_requests: usize,

    /// Most queue messages in flight (received, not yet deleted); receiving pauses at
    /// the cap.
    #[arg(long, env = "PROCESSOR_MAX_IN_FLIGHT_MESSAGES", default_value_t = DEFAULT_MAX_IN_FLIGHT_MESSAGES)]
    pub max_in_flight_messages: usize,
}

impl PipelineArgs {
    /// The core configuration these flags describe (`seed` in `--allow-services`
    /// expands to the classic service list).
    pub fn to_config(&self, max_body_bytes: usize) -> ProcessorConfig {
        let mut allow_services = Vec::new();
        for s in &self.allow_services {
            if s == "seed" {
                allow_services.extend(SEED_SERVICES.iter().map(|s| s.to_string()));
            } else {
                allow_services.push(s.clone());
            }
        }
        ProcessorConfig {
            filter: FilterConfig {
                event_types: self.event_types.clone(),
                include_data_events: self.include_data_events,
                allow_services,
                deny_services: self.deny_services.clone(),
                allow_events: self.allow_events.clone(),
                deny_events: self.deny_events.clone(),
                allow_accounts: self.allow_accounts.clone(),
                dedup_capacity: self.dedup_capacity,
            },
            window_secs: self.window,
            max_hold_secs: self.max_hold,
            max_events_per_request: self.max_events_per_request,
            max_targets_per_event: self.max_targets_per_event,
            max_held_requests: self.max_held_requests,
            max_in_flight_messages: self.max_in_flight_messages,
            max_body_bytes,
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (containers, Lambda, log pipelines).
    Json,
    /// Human-readable lines.
    Text,
}

/// Where to serve `/metrics` and `/healthz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsAddr {
    /// Serve on this address.
    On(SocketAddr),
    /// Do not serve.
    Off,
}

impl std::str::FromStr for MetricsAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(MetricsAddr::Off);
        }
        s.parse()
            .map(MetricsAddr::On)
            .map_err(|e| format!("`{s}` is neither `off` nor an address like 0.0.0.0:9090: {e}"))
    }
}

/// Where requests go, and what becomes of SNS subscription confirmations: the same
/// for `processor run` and the Lambda.
#[derive(Debug, Clone, Args)]
pub struct DeliveryArgs {
    /// Where rescan requests go (repeatable, or comma-separated in the variable):
    /// `stdout`, `file:PATH`, `http(s)://URL`, `sqs:QUEUE_URL`, `sns:TOPIC_ARN`,
    /// `eventbridge:BUS`. A message (a Lambda record) is let go only when every sink
    /// accepted every request it contributed to.
    #[arg(
        long = "sink",
        env = "PROCESSOR_SINKS",
        value_delimiter = ',',
        required = true
    )]
    pub sinks: Vec<SinkSpec>,

    /// Confirm SNS subscriptions of member accounts' topics to the queue through the
    /// SNS `ConfirmSubscription` API (never by fetching the message's URL), only for
    /// topics of accounts in `--allow-accounts`; the message is let go once the
    /// confirmation succeeded. Off: such messages go to the dead-letter queue.
    #[arg(long, env = "PROCESSOR_CONFIRM_SUBSCRIPTIONS")]
    pub confirm_subscriptions: bool,
}

impl DeliveryArgs {
    /// The sinks, with clients made from `aws`, and the confirmer of subscriptions of
    /// `allow_accounts`' topics when confirmations are on.
    pub async fn build(
        &self,
        aws: &aws_config::SdkConfig,
        allow_accounts: &[String],
    ) -> Result<(Vec<Arc<dyn Sink>>, Option<Confirmer>), SinkError> {
        let options = SinkOptions::default();
        let mut sinks: Vec<Arc<dyn Sink>> = Vec::with_capacity(self.sinks.len());
        for spec in &self.sinks {
            sinks.push(processor_sinks::build(spec, Some(aws), &options).await?);
        }
        let confirmer = self
            .confirm_subscriptions
            .then(|| Confirmer::new(aws.clone(), allow_accounts.to_vec()));
        Ok((sinks, confirmer))
    }
}

/// Settings of `processor run`, the SQS consumer.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// URL of the central queue (`https://sqs.REGION.amazonaws.com/ACCOUNT/cloudcoreo-events-queue`).
    #[arg(long, env = "PROCESSOR_QUEUE_URL")]
    pub queue_url: String,

    /// Sinks and subscription confirmations.
    #[command(flatten)]
    pub delivery: DeliveryArgs,

    /// Concurrent long-polling receivers.
    #[arg(long, env = "PROCESSOR_POLLERS", default_value_t = 4)]
    pub pollers: usize,

    /// Visibility timeout asked for each receive, seconds; requests are dispatched, or
    /// their messages' visibility extended, before it runs out.
    #[arg(long, env = "PROCESSOR_VISIBILITY_TIMEOUT", default_value_t = 120)]
    pub visibility_timeout: u32,

    /// Long-poll wait of each receive, seconds (0 to 20).
    #[arg(long, env = "PROCESSOR_WAIT_TIME_SECONDS", default_value_t = 20)]
    pub wait_time_seconds: u32,

    /// Exit 0 once receives returned nothing for this many seconds and nothing is
    /// held or in flight (drain mode, for jobs and tests). In this mode what is held
    /// is dispatched as soon as a whole long-poll comes back empty.
    #[arg(long, env = "PROCESSOR_EXIT_WHEN_IDLE", value_name = "SECS")]
    pub exit_when_idle: Option<u32>,

    /// On SIGTERM or SIGINT: stop receiving, dispatch what is held, delete what was
    /// dispatched, and exit 0 within this many seconds.
    #[arg(long, env = "PROCESSOR_SHUTDOWN_GRACE", default_value_t = 30)]
    pub shutdown_grace: u32,

    /// Address of `/metrics` (Prometheus), `/healthz` and `/readyz`; `off` disables.
    #[arg(long, env = "PROCESSOR_METRICS_ADDR", default_value = "0.0.0.0:9090")]
    pub metrics_addr: MetricsAddr,

    /// `/healthz` turns unhealthy once receiving has failed for this many seconds.
    #[arg(long, env = "PROCESSOR_UNHEALTHY_AFTER", default_value_t = 120)]
    pub unhealthy_after: u32,

    /// First delay before a message whose dispatch failed is received again, seconds;
    /// doubled on each further receive, capped at 900.
    #[arg(long, env = "PROCESSOR_RETRY_BACKOFF", default_value_t = 5)]
    pub retry_backoff: u32,

    /// Log line format.
    #[arg(long, env = "PROCESSOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Pipeline settings.
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

/// A setting of [`RunArgs`] that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A value outside what SQS or the consumer accepts.
    #[error("{0}")]
    Invalid(String),
}

impl RunArgs {
    /// Checks the settings against each other and SQS's limits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.pollers == 0 {
            return bad("--pollers must be at least 1".into());
        }
        if self.wait_time_seconds > 20 {
            return bad("--wait-time-seconds must be 0 to 20 (SQS's limit)".into());
        }
        if !(2..=43_200).contains(&self.visibility_timeout) {
            return bad("--visibility-timeout must be 2 to 43200 seconds".into());
        }
        if self.pipeline.max_hold >= self.visibility_timeout {
            return bad(format!(
                "--max-hold ({} s) must be shorter than --visibility-timeout ({} s): requests are dispatched before their messages become visible again",
                self.pipeline.max_hold, self.visibility_timeout
            ));
        }
        Ok(())
    }

    /// The visibility timeout.
    pub fn visibility(&self) -> Duration {
        Duration::from_secs(u64::from(self.visibility_timeout))
    }
}
