//! `processor replay`: the core over captured events, rescan requests as NDJSON on
//! standard output, a summary on standard error (and optionally as JSON in a file).

use std::io::{self, BufWriter, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use processor_core::{MessageOutcome, Processor, RescanRequest, Resolver, Stats};
use serde::Serialize;

use crate::input::{self, Unit};
use processor_consumer::PipelineArgs;

/// Largest single JSON text replay accepts (a whole CloudTrail log file).
const REPLAY_MAX_TEXT: usize = 512 * 1024 * 1024;

/// How many invalid inputs the JSON summary lists (all are counted and printed).
const MAX_LISTED_INVALID: usize = 1000;

/// Arguments of `processor replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Write the summary as a JSON object to this file too.
    #[arg(long, value_name = "PATH")]
    pub stats_json: Option<PathBuf>,

    /// Pipeline settings.
    #[command(flatten)]
    pub pipeline: PipelineArgs,

    /// Input files (NDJSON, CloudTrail log files, `.json.gz`, captured queue
    /// messages); `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
}

/// One input that could not be decoded.
#[derive(Debug, Serialize)]
struct InvalidInput {
    file: String,
    line: u64,
    error: String,
}

/// The replay summary.
#[derive(Debug, Serialize)]
struct Summary<'a> {
    #[serde(flatten)]
    stats: &'a Stats,
    invalid_inputs: &'a [InvalidInput],
    unreadable_files: &'a [String],
}

/// Runs the replay; the process fails only when no file could be read at all or
/// standard output broke.
pub fn run(args: ReplayArgs, resolver: Arc<dyn Resolver>) -> anyhow::Result<()> {
    let config = args.pipeline.to_config(REPLAY_MAX_TEXT);
    let mut processor = Processor::new(config, resolver);
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut requests: Vec<RescanRequest> = Vec::new();
    let mut invalid: Vec<InvalidInput> = Vec::new();
    let mut unreadable: Vec<String> = Vec::new();
    let mut write_error: Option<io::Error> = None;

    for path in &args.files {
        let name = input::display_name(path).to_string();
        let mut on_unit = |unit: Unit<'_>| {
            if write_error.is_some() {
                return ControlFlow::Break(());
            }
            let (line, outcome) = match unit {
                Unit::Text { line, text } => (
                    line,
                    processor.process_with_limit(text, REPLAY_MAX_TEXT, &mut requests),
                ),
                Unit::NotUtf8 { line, offset } => {
                    let err = processor_core::DecodeError::InvalidUtf8 { offset };
                    processor.count_invalid(&err);
                    (
                        line,
                        MessageOutcome::Invalid {
                            errors: vec![err],
                            events: 0,
                        },
                    )
                }
            };
            if let MessageOutcome::Invalid { errors, .. } = &outcome {
                for e in errors {
                    eprintln!("{name}:{line}: {e}");
                    if invalid.len() < MAX_LISTED_INVALID {
                        invalid.push(InvalidInput {
                            file: name.clone(),
                            line,
                            error: e.to_string(),
                        });
                    }
                }
            }
            if let Err(e) = write_requests(&mut out, &mut requests) {
                // Nothing more can be written: stop reading.
                write_error = Some(e);
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        };
        if let Err(e) = input::for_each_unit(path, &mut on_unit) {
            eprintln!("{name}: cannot read: {e}");
            unreadable.push(format!("{name}: {e}"));
        }
        if write_error.is_some() {
            break;
        }
    }
    if write_error.is_none() {
        processor.flush(&mut requests);
        if let Err(e) = write_requests(&mut out, &mut requests).and_then(|()| out.flush()) {
            write_error = Some(e);
        }
    }
    let stats = processor.stats();
    if let Some(e) = write_error {
        // The reader left (`| head`): say how far the replay got, then end quietly,
        // as other filters do. Any other write failure is an error.
        if e.kind() == io::ErrorKind::BrokenPipe {
            eprintln!("replay: standard output closed; stopped early");
            print_summary(stats, &unreadable);
            return Ok(());
        }
        return Err(e).context("writing rescan requests to standard output");
    }

    print_summary(stats, &unreadable);
    if let Some(path) = &args.stats_json {
        let summary = Summary {
            stats,
            invalid_inputs: &invalid,
            unreadable_files: &unreadable,
        };
        let json = serde_json::to_string_pretty(&summary)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("writing the summary to {}", path.display()))?;
    }
    if !unreadable.is_empty() && unreadable.len() == args.files.len() {
        anyhow::bail!(
            "none of the {} input file(s) could be read",
            args.files.len()
        );
    }
    Ok(())
}

fn write_requests(out: &mut impl Write, requests: &mut Vec<RescanRequest>) -> io::Result<()> {
    for r in requests.drain(..) {
        serde_json::to_writer(&mut *out, &r)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

fn print_summary(s: &Stats, unreadable: &[String]) {
    let dropped: Vec<String> = s.dropped.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let invalid: Vec<String> = s
        .invalid_by_kind
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    eprintln!(
        "replay: messages={} events={} kept={} dropped={} ({}) rescans: resource={} service={} invalid={}{}{} subscription_messages={}{}",
        s.messages,
        s.events,
        s.kept,
        s.dropped_total(),
        dropped.join(" "),
        s.rescans.resource,
        s.rescans.service,
        s.invalid,
        if invalid.is_empty() { "" } else { " " },
        if invalid.is_empty() { String::new() } else { format!("({})", invalid.join(" ")) },
        s.subscription_messages,
        if unreadable.is_empty() { String::new() } else { format!(" unreadable_files={}", unreadable.len()) },
    );
}
