//! `processor`: the CloudTrail event-stream processor's command line.
//!
//! - `processor run --queue-url URL --sink SINK...`: consume the central queue
//!   (at-least-once; see the `processor-consumer` crate).
//! - `processor replay FILE...`: run the core over captured events.
//! - `processor catalog ...`: inspect the resource catalog.
//! - `processor wrap FILE...`: wrap bare records in the shapes AWS delivers.
//! - `processor policy run --queue-url URL --sink SINK...`: the least-privilege IAM
//!   policy of `processor run`.
//! - `processor policy lambda --queue-url URL --sink SINK...`: the execution role's
//!   policy of the `processor-lambda` function.

mod catalog_cmd;
mod input;
mod replay;
mod wrap_cmd;

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use processor_catalog::CatalogResolver;
use processor_core::Resolver;

use processor_consumer::{LogFormat, RunArgs};
use tokio_util::sync::CancellationToken;

/// Turns CloudTrail events into targeted rescan requests.
#[derive(Debug, Parser)]
#[command(name = "processor", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Consume the central SQS queue: rescan requests to every sink, each message
    /// deleted only after every sink accepted every request it contributed to.
    Run(Box<RunArgs>),
    /// Replay captured events: rescan requests as NDJSON on stdout, a summary on stderr.
    Replay(replay::ReplayArgs),
    /// Inspect the resource catalog.
    Catalog(catalog_cmd::CatalogArgs),
    /// Wrap bare CloudTrail records as EventBridge events or SNS notifications.
    Wrap(wrap_cmd::WrapArgs),
    /// Print the least-privilege IAM policy a command needs (`policy run`: the queue
    /// consumer, for its queue and sinks; `policy lambda`: the Lambda function's
    /// execution role).
    Policy(processor_consumer::policy::PolicyArgs),
}

/// The catalog (parsed once) with this process's own memory of EC2 associations.
fn build_resolver() -> Arc<dyn Resolver> {
    Arc::new(CatalogResolver::new())
}

/// Cancels `stop` on SIGTERM or SIGINT.
async fn stop_on_signal(stop: CancellationToken) {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => tracing::info!("SIGTERM: draining"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: draining"),
    }
    stop.cancel();
}

fn run_consumer(args: RunArgs) -> anyhow::Result<()> {
    let resolver = build_resolver();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let stop = CancellationToken::new();
        tokio::spawn(stop_on_signal(stop.clone()));
        processor_consumer::run(args, resolver, stop).await
    })?;
    // Dispatch tasks that outlived the grace period are abandoned, not awaited.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Run(args) => processor_consumer::logging::init(args.log_format, "info"),
        _ => processor_consumer::logging::init(LogFormat::Text, "warn"),
    }
    let result = match cli.command {
        Command::Run(args) => run_consumer(*args),
        Command::Replay(args) => replay::run(args, build_resolver()),
        Command::Catalog(args) => catalog_cmd::run(args),
        Command::Wrap(args) => wrap_cmd::run(args),
        Command::Policy(args) => processor_consumer::policy::render(&args)
            .map(|text| println!("{text}"))
            .map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
