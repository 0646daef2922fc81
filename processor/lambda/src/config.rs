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
use processor_consumer::{LogFormat, PipelineArgs};
use processor_sinks::SinkSpec;

/// Settings of `processor-lambda`, each from its `PROCESSOR_*` variable (flags work
/// too, for local runs).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "processor-lambda",
    version,
    about = "The processor as an AWS Lambda function (SQS event source, partial batch failures)."
)]
pub struct LambdaArgs {
    /// Where rescan requests go (repeatable, or comma-separated in the variable):
    /// `stdout`, `file:PATH`, `http(s)://URL`, `sqs:QUEUE_URL`, `sns:TOPIC_ARN`,
    /// `eventbridge:BUS`. A record is reported as done only when every sink accepted
    /// every request it contributed to.
    #[arg(
        long = "sink",
        env = "PROCESSOR_SINKS",
        value_delimiter = ',',
        required = true
    )]
    pub sinks: Vec<SinkSpec>,

    /// Confirm SNS subscriptions of the `PROCESSOR_ALLOW_ACCOUNTS` accounts' topics
    /// through the SNS API (never through the URL in the message); off, such records
    /// are reported as failures and reach the dead-letter queue.
    #[arg(long, env = "PROCESSOR_CONFIRM_SUBSCRIPTIONS")]
    pub confirm_subscriptions: bool,

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
            args.sinks,
            vec![
                SinkSpec::Stdout,
                SinkSpec::Http("http://127.0.0.1:9/x".into())
            ]
        );
        assert_eq!(args.pipeline.window, 5);
        assert_eq!(args.pipeline.allow_accounts, vec!["111122223333"]);
        assert!(args.confirm_subscriptions);
        // Without a sink the function cannot start.
        assert!(LambdaArgs::try_parse_from(["processor-lambda"]).is_err());
    }
}
