//! `processor`: the CloudTrail event-stream processor's command line.
//!
//! - `processor replay FILE...`: run the core over captured events.
//! - `processor catalog ...`: inspect the resource catalog.
//! - `processor wrap FILE...`: wrap bare records in the shapes AWS delivers.

mod catalog_cmd;
mod config;
mod input;
mod replay;
mod wrap_cmd;

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use processor_core::{BasicResolver, Resolver};

use crate::config::ResolverKind;

/// Turns CloudTrail events into targeted rescan requests.
#[derive(Debug, Parser)]
#[command(name = "processor", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay captured events: rescan requests as NDJSON on stdout, a summary on stderr.
    Replay(replay::ReplayArgs),
    /// Inspect the resource catalog.
    Catalog(catalog_cmd::CatalogArgs),
    /// Wrap bare CloudTrail records as EventBridge events or SNS notifications.
    Wrap(wrap_cmd::WrapArgs),
}

fn build_resolver(kind: ResolverKind) -> anyhow::Result<Arc<dyn Resolver>> {
    Ok(match kind {
        ResolverKind::Catalog => Arc::new(processor_catalog::Catalog::embedded()),
        ResolverKind::Basic => Arc::new(BasicResolver),
    })
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Replay(args) => {
            build_resolver(args.pipeline.resolver).and_then(|r| replay::run(args, r))
        }
        Command::Catalog(args) => catalog_cmd::run(args),
        Command::Wrap(args) => wrap_cmd::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
