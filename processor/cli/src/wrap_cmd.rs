//! `processor wrap`: turns bare CloudTrail records into the shapes AWS delivers them
//! in (EventBridge event, SNS notification to SQS), one per line, to build test
//! inputs and fixtures.

use std::io::{self, BufWriter, Write};
use std::ops::ControlFlow;

use anyhow::Context;
use clap::{Args, ValueEnum};
use processor_core::wrap::{eventbridge_event, numbered_ids, sns_delivery};
use serde_json::value::RawValue;

use crate::input::{self, Unit};

/// The delivery shape to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shape {
    /// The EventBridge event (raw delivery, or a rule targeting SQS directly).
    Eventbridge,
    /// The SNS notification an SQS queue receives from the `cloudcoreo-events` topic.
    Sns,
    /// The record itself, compact, one per line.
    Record,
}

/// Arguments of `processor wrap`.
#[derive(Debug, Args)]
pub struct WrapArgs {
    /// The shape to produce.
    #[arg(long, value_enum, default_value_t = Shape::Sns)]
    pub shape: Shape,
    /// Topic ARN written into SNS notifications.
    #[arg(
        long,
        default_value = "arn:aws:sns:us-east-1:123456789012:cloudcoreo-events"
    )]
    pub topic_arn: String,
    /// Files of CloudTrail records (one per line, or log files `{"Records":[...]}`).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
}

#[derive(serde::Deserialize)]
struct MaybeLog<'a> {
    #[serde(rename = "Records", borrow, default)]
    records: Option<Vec<&'a RawValue>>,
}

/// Runs `processor wrap`.
pub fn run(args: WrapArgs) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut n = 0u64;
    let mut result: anyhow::Result<()> = Ok(());
    for path in &args.files {
        let name = input::display_name(path).to_string();
        input::for_each_unit(path, &mut |unit| {
            let Unit::Text { line, text } = unit else {
                result = Err(anyhow::anyhow!("{name}: a line is not UTF-8"));
                return ControlFlow::Break(());
            };
            let records: Vec<&str> = match serde_json::from_str::<MaybeLog<'_>>(text) {
                Ok(MaybeLog { records: Some(r) }) => r.iter().map(|r| r.get()).collect(),
                Ok(_) => vec![text],
                Err(e) => {
                    result = Err(anyhow::anyhow!("{name}:{line}: {e}"));
                    return ControlFlow::Break(());
                }
            };
            for rec in records {
                n += 1;
                result =
                    wrap_one(rec, n, &args, &mut out).with_context(|| format!("{name}:{line}"));
                if result.is_err() {
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        })
        .with_context(|| format!("reading {name}"))?;
        if result.is_err() {
            break;
        }
    }
    match result.and_then(|()| out.flush().map_err(anyhow::Error::from)) {
        // The reader left (`| head`): end quietly, as other filters do.
        Err(e) if is_broken_pipe(&e) => Ok(()),
        other => other,
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn wrap_one(record: &str, n: u64, args: &WrapArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let compact: Box<RawValue> = serde_json::from_str::<serde_json::Value>(record)
        .and_then(|v| serde_json::value::to_raw_value(&v))?;
    let line = match args.shape {
        Shape::Record => compact.get().to_string(),
        Shape::Eventbridge => eventbridge_event(compact.get(), &numbered_ids(n).0)?,
        Shape::Sns => {
            let t = serde_json::from_str::<serde_json::Value>(compact.get())?
                .get("eventTime")
                .and_then(|v| v.as_str())
                .map(|s| s.replace('Z', ".000Z"))
                .unwrap_or_default();
            sns_delivery(compact.get(), n, &args.topic_arn, &t, false)?
        }
    };
    writeln!(out, "{line}")?;
    Ok(())
}
