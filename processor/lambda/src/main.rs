//! `processor-lambda`: the processor as an AWS Lambda function behind the central
//! queue's event source mapping (see the crate documentation and the README's
//! "Running as an AWS Lambda").
//!
//! Once per cold start: the settings from the `PROCESSOR_*` variables, logging, the
//! graceful-shutdown hook (an internal extension, so Lambda sends SIGTERM before it
//! shuts the environment down; the hook writes out buffered log lines), the AWS
//! configuration and clients, the sinks and the resource catalog. Then one batch per
//! invocation, answered with its `batchItemFailures`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use clap::Parser;
use lambda_runtime::{service_fn, LambdaEvent, Runtime};
use processor_lambda::logging::{self, LogBuffer, LogSettings};
use processor_lambda::{Function, LambdaArgs};
use tracing::{error, info, warn, Instrument};

/// Writes out buffered log lines when dropped, even while a panic unwinds.
struct FlushOnDrop(LogBuffer);

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        self.0.flush();
    }
}

async fn serve(args: LambdaArgs, logs: LogBuffer, started: Instant) -> anyhow::Result<()> {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        anyhow::bail!(
            "AWS_LAMBDA_RUNTIME_API is not set: this binary runs inside AWS Lambda or a runtime emulator (`cargo lambda watch`)"
        );
    }
    let hook_logs = logs.clone();
    let shutdown = tokio::spawn(lambda_runtime::spawn_graceful_shutdown_handler(
        move || async move {
            info!("shutting down");
            hook_logs.flush();
        },
    ));
    let ms = |since: Instant| since.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let resolver = processor_lambda::resolver();
    let resolver_ms = ms(t);
    let t = Instant::now();
    let sdk = processor_consumer::load_aws_config(None).await;
    let function = Arc::new(
        Function::from_args(&args, &sdk, resolver)
            .await
            .context("setting up the function")?,
    );
    let clients_ms = ms(t);
    if shutdown.await.is_err() {
        warn!("no graceful-shutdown hook (the extension could not be registered); buffered logs are written after each invocation only");
    }
    info!(
        init_ms = ms(started),
        resolver_ms,
        clients_ms,
        sinks = ?function.sinks().iter().map(|s| s.name().to_string()).collect::<Vec<_>>(),
        "ready"
    );
    logs.flush();

    let handler = service_fn(move |event: LambdaEvent<SqsEvent>| {
        let function = function.clone();
        let logs = logs.clone();
        async move {
            let _flush = FlushOnDrop(logs);
            let (batch, context) = event.into_parts();
            let span = logging::invocation_span(&context.request_id);
            let handled = function
                .handle(batch, Some(context.deadline()))
                .instrument(span)
                .await;
            Ok::<SqsBatchResponse, lambda_runtime::Error>(handled.response)
        }
    });
    Runtime::new(handler)
        .run()
        .await
        .map_err(|e| anyhow::anyhow!(e))
        .context("the runtime loop stopped")
}

fn main() -> ExitCode {
    let started = Instant::now();
    let args = LambdaArgs::parse();
    let logs = logging::init(&LogSettings::from_env(args.log_format));
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .and_then(|rt| rt.block_on(serve(args, logs.clone(), started)));
    let code = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!(error = format!("{e:#}"), "processor-lambda stopped");
            ExitCode::FAILURE
        }
    };
    logs.flush();
    code
}
