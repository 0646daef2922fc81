//! The processor's configuration: one struct, every field a flag with an environment
//! fallback, shared by every way the processor runs.

use clap::Args;
use processor_core::services::SEED_SERVICES;
use processor_core::{FilterConfig, ProcessorConfig};

/// Which resolver maps events to resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ResolverKind {
    /// The generated catalog of every AWS write action (falls back to `resources`).
    Catalog,
    /// Only the record's `resources` field and the sample services' rules.
    Basic,
}

/// Settings of the core pipeline.
#[derive(Debug, Clone, Args)]
pub struct PipelineArgs {
    /// Coalescing window in seconds of event time; 0 emits one request per event and
    /// resource.
    #[arg(long, env = "PROCESSOR_WINDOW", default_value_t = 60)]
    pub window: u32,

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
    #[arg(long, env = "PROCESSOR_MAX_EVENTS_PER_REQUEST", default_value_t = 100)]
    pub max_events_per_request: usize,

    /// Resource resolver.
    #[arg(long, env = "PROCESSOR_RESOLVER", value_enum, default_value_t = ResolverKind::Catalog)]
    pub resolver: ResolverKind,
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
            max_events_per_request: self.max_events_per_request,
            max_body_bytes,
        }
    }
}
