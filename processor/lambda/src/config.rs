//! The function's settings: the environment variables of `processor run`
//! (`PROCESSOR_*`), read once per cold start.
//!
//! The Lambda reads only what applies to it: the sinks, the subscription confirmation
//! switch and the pipeline settings ([`PipelineArgs`], shared with `run` and
//! `replay`). The queue is the event source mapping's, and its visibility, receiving
//! and retries are the mapping's too, so `PROCESSOR_QUEUE_URL`, `PROCESSOR_POLLERS`,
//! `PROCESSOR_VISIBILITY_TIMEOUT` and the like are ignored. `PROCESSOR_WINDOW` still
//! merges changes within one batch; `PROCESSOR_MAX_HOLD` has no effect, as every
//! batch is dispatched before the invocation returns.

use clap::Parser;
use processor_consumer::{DeliveryArgs, LogFormat, PipelineArgs};

/// Settings of `processor-lambda`, each from its `PROCESSOR_*` variable (flags work
/// too, for local runs).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "processor-lambda",
    version,
    about = "The processor as an AWS Lambda function (SQS event source, partial batch failures)."
)]
pub struct LambdaArgs {
    /// Sinks and subscription confirmations, as for `processor run`.
    #[command(flatten)]
    pub delivery: DeliveryArgs,

    /// Log format when the function's own setting (`AWS_LAMBDA_LOG_FORMAT`) is absent.
    #[arg(long, env = "PROCESSOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Pipeline settings.
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use processor_sinks::SinkSpec;

    #[test]
    fn the_run_variables_configure_the_function() {
        let args = LambdaArgs::try_parse_from([
            "processor-lambda",
            "--sink",
            "stdout,http://127.0.0.1:9/x",
            "--window",
            "5",
            "--allow-accounts",
            "111122223333",
            "--confirm-subscriptions",
        ])
        .unwrap();
        assert_eq!(
            args.delivery.sinks,
            vec![
                SinkSpec::Stdout,
                SinkSpec::Http("http://127.0.0.1:9/x".into())
            ]
        );
        assert_eq!(args.pipeline.window, 5);
        assert_eq!(args.pipeline.allow_accounts, vec!["111122223333"]);
        assert!(args.delivery.confirm_subscriptions);
        // Without a sink the function cannot start.
        assert!(LambdaArgs::try_parse_from(["processor-lambda"]).is_err());
    }
}
