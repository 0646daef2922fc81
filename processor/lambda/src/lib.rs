//! # processor-lambda
//!
//! The processor as an AWS Lambda function: the central queue's event source mapping
//! invokes it with batches of SQS records, and it answers with the records that must
//! come back (`batchItemFailures`, with the mapping's `ReportBatchItemFailures`).
//!
//! ## How the modules fit
//! - [`config`]: [`LambdaArgs`], the `PROCESSOR_*` variables of `processor run` that
//!   apply to the function (sinks, pipeline, subscription confirmation).
//! - [`handler`]: [`Function`], set up once per cold start, and
//!   [`Function::handle`], one batch through the engine
//!   ([`processor_core::Engine`]) and the sinks. A record is reported as a failure
//!   when it is undecodable, an SNS subscription message not confirmed here, behind a
//!   request some sink did not accept, or undecided at the deadline; never the whole
//!   batch for one record. Duplicates follow the engine's rules, as in `run`.
//! - [`logging`]: `tracing` as Lambda wants it (JSON or text from the function's log
//!   format, its log level, the request id on every line), buffered and flushed at
//!   the end of each invocation and by the graceful-shutdown hook.
//!
//! The binary (`src/main.rs`) reads the settings, loads the AWS configuration, the
//! sinks and the resource catalog once, and serves invocations through
//! `lambda_runtime`. Tests call [`Function::handle`] directly with their own sinks.
#![deny(missing_docs)]

pub mod config;
pub mod handler;
pub mod logging;

use std::sync::Arc;

use processor_catalog::CatalogResolver;
use processor_core::Resolver;
use processor_sinks::SinkError;

pub use config::LambdaArgs;
pub use handler::{BatchSummary, Fate, Function, Handled};

/// Why the function could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A sink that could not be built (bad options, an unopenable file).
    #[error("sink: {0}")]
    Sink(#[from] SinkError),
}

/// The function's resolver: the embedded catalog (parsed once per process) with a
/// memory of its own for EC2 associations, which lives as long as the execution
/// environment.
pub fn resolver() -> Arc<dyn Resolver> {
    Arc::new(CatalogResolver::new())
}

impl Function {
    /// The function `args` describe, with the AWS configuration `sdk` (its clients are
    /// made here, once) and `resolver`.
    pub async fn from_args(
        args: &LambdaArgs,
        sdk: &aws_config::SdkConfig,
        resolver: Arc<dyn Resolver>,
    ) -> Result<Function, InitError> {
        let (sinks, confirmer) = args
            .delivery
            .build(sdk, &args.pipeline.allow_accounts)
            .await?;
        let config = args
            .pipeline
            .to_config(processor_core::decode::MAX_BODY_BYTES);
        Ok(Function::new(config, resolver, sinks, confirmer))
    }
}
