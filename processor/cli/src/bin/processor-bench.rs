//! `processor-bench`: throughput and memory of the core pipeline against the floor of
//! a naive generic parse of the same input.
//!
//! 1. Builds SQS bodies from a CloudTrail corpus (one record per line), each record
//!    wrapped as the EventBridge event CloudTrail emits and then as the SNS
//!    notification SNS delivers to SQS, amplified to `--messages` bodies with
//!    distinct event, EventBridge and SNS ids (copy k of a record is shifted k hours
//!    later), one body per line of a file.
//! 2. (a) streams the file through the full pipeline (decode, filter, resolve with the
//!    chosen resolver, coalesce, serialise requests), single-threaded, and reads the
//!    process's peak RSS right after;
//! 3. (b) streams it again, parsing each body and its SNS `Message` into
//!    `serde_json::Value` and doing nothing else.
//!
//! Each pass runs `--rounds` times; the best round is reported.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Parser;
use processor_core::wrap::sns_delivery;
use processor_core::{Processor, ProcessorConfig, Resolver};

/// Benchmarks the pipeline against a generic JSON parse of its input.
#[derive(Debug, Parser)]
struct Args {
    /// CloudTrail records, one per line (default: the shared invictus corpus under
    /// `$CLOUDTRAIL_CORPUS`).
    #[arg(long, env = "BENCH_RECORDS")]
    records: Option<PathBuf>,
    /// How many SQS bodies to build.
    #[arg(long, default_value_t = 1_000_000)]
    messages: usize,
    /// Where to write the bodies (reused when it already holds `--messages` lines
    /// built from the same records).
    #[arg(long, default_value = "/tmp/processor-bench-bodies.ndjson")]
    file: PathBuf,
    /// Rounds of each pass.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Only build the bodies file (input of the queue benchmark,
    /// `processor-consumer`'s `queue_bench` example), then stop.
    #[arg(long)]
    build_only: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let records_path = match &args.records {
        Some(p) => p.clone(),
        None => match std::env::var_os("CLOUDTRAIL_CORPUS") {
            Some(dir) => PathBuf::from(dir).join("invictus-aws-dataset/records.ndjson"),
            None => {
                bail!("set --records or CLOUDTRAIL_CORPUS (the shared cloudtrail data directory)")
            }
        },
    };
    let resolver: Arc<dyn Resolver> = Arc::new(processor_catalog::CatalogResolver::new());
    let t = Instant::now();
    let bytes = build_bodies(&records_path, &args.file, args.messages)?;
    eprintln!(
        "bodies: {} messages, {:.1} MiB in {} (built in {:.1}s)",
        args.messages,
        bytes as f64 / 1048576.0,
        args.file.display(),
        t.elapsed().as_secs_f64()
    );

    if args.build_only {
        return Ok(());
    }
    let mut best_a = f64::MAX;
    let mut summary = String::new();
    for _ in 0..args.rounds {
        let (secs, s) = pass_pipeline(&args.file, resolver.clone())?;
        best_a = best_a.min(secs);
        summary = s;
    }
    let peak_rss = peak_rss_kib();
    let mut best_b = f64::MAX;
    for _ in 0..args.rounds {
        best_b = best_b.min(pass_value(&args.file)?);
    }
    let n = args.messages as f64;
    println!("messages:                  {}", args.messages);
    println!("resolver:                  catalog");
    println!(
        "(a) pipeline:              {:>10.0} msg/s  ({:.2}s)",
        n / best_a,
        best_a
    );
    println!(
        "(b) serde_json::Value:     {:>10.0} msg/s  ({:.2}s)",
        n / best_b,
        best_b
    );
    println!("(a)/(b):                   {:>10.2}x", best_b / best_a);
    match peak_rss {
        Some(kib) => println!(
            "peak RSS after (a):        {:>10.1} MiB",
            kib as f64 / 1024.0
        ),
        None => println!("peak RSS after (a):        unavailable"),
    }
    println!("pipeline summary:          {summary}");
    Ok(())
}

/// Writes the amplified bodies unless the file already has them; returns its size.
fn build_bodies(records: &PathBuf, out: &PathBuf, messages: usize) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(records)
        .with_context(|| format!("reading {}", records.display()))?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        bail!("{} holds no records", records.display());
    }
    let stamp = out.with_extension("stamp");
    let want = format!("{} {} {}\n", records.display(), lines.len(), messages);
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
        if let Ok(meta) = std::fs::metadata(out) {
            return Ok(meta.len());
        }
    }
    let mut w = BufWriter::with_capacity(1 << 20, File::create(out)?);
    for i in 0..messages {
        let rec = lines[i % lines.len()];
        let copy = (i / lines.len()) as i64;
        let body = amplify(rec, i, copy)?;
        w.write_all(body.as_bytes())?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    drop(w);
    std::fs::write(&stamp, want)?;
    Ok(std::fs::metadata(out)?.len())
}

/// Copy `copy` of a record as an SNS body with distinct ids, `copy` hours later.
fn amplify(record: &str, i: usize, copy: i64) -> anyhow::Result<String> {
    let mut v: serde_json::Value = serde_json::from_str(record)?;
    let obj = v.as_object_mut().context("record is not an object")?;
    if let Some(id) = obj.get("eventID").and_then(|x| x.as_str()) {
        let rest = id.get(8..).unwrap_or("");
        obj.insert("eventID".into(), format!("{i:08x}{rest}").into());
    }
    if let Some(t) = obj.get("eventTime").and_then(|x| x.as_str()) {
        let secs = processor_core::time::parse_rfc3339(t).context("bad eventTime")?;
        obj.insert(
            "eventTime".into(),
            processor_core::time::format_rfc3339(secs + copy * 3600).into(),
        );
    }
    let record = serde_json::to_string(&v)?;
    Ok(sns_delivery(
        &record,
        i as u64,
        "arn:aws:sns:us-east-1:123837392027:cloudcoreo-events",
        "2023-07-10T11:42:37.123Z",
        false,
    )?)
}

fn for_each_line(path: &PathBuf, mut f: impl FnMut(&str)) -> anyhow::Result<()> {
    let mut r = BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut buf = Vec::with_capacity(1 << 14);
    loop {
        buf.clear();
        if r.read_until(b'\n', &mut buf)? == 0 {
            return Ok(());
        }
        let line = std::str::from_utf8(&buf).context("body is not UTF-8")?;
        f(line);
    }
}

fn pass_pipeline(path: &PathBuf, resolver: Arc<dyn Resolver>) -> anyhow::Result<(f64, String)> {
    let mut p = Processor::new(ProcessorConfig::default(), resolver);
    let mut out = Vec::new();
    let mut sink: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut requests = 0u64;
    let t = Instant::now();
    let mut write = |out: &mut Vec<processor_core::RescanRequest>| {
        for r in out.drain(..) {
            sink.clear();
            let _ = serde_json::to_writer(&mut sink, &r);
            requests += 1;
        }
    };
    for_each_line(path, |body| {
        p.process_message(body, &mut out);
        write(&mut out);
    })?;
    p.flush(&mut out);
    write(&mut out);
    let secs = t.elapsed().as_secs_f64();
    let s = p.stats();
    Ok((
        secs,
        format!(
            "events={} kept={} dropped={} invalid={} requests={} (resource={} service={})",
            s.events,
            s.kept,
            s.dropped_total(),
            s.invalid,
            requests,
            s.rescans.resource,
            s.rescans.service
        ),
    ))
}

fn pass_value(path: &PathBuf) -> anyhow::Result<f64> {
    let mut ok = 0u64;
    let t = Instant::now();
    for_each_line(path, |body| {
        if let Ok(outer) = serde_json::from_str::<serde_json::Value>(body) {
            if let Some(msg) = outer.get("Message").and_then(|m| m.as_str()) {
                if let Ok(inner) = serde_json::from_str::<serde_json::Value>(msg) {
                    ok += u64::from(inner.is_object());
                }
            }
        }
    })?;
    let secs = t.elapsed().as_secs_f64();
    std::hint::black_box(ok);
    Ok(secs)
}

/// `VmHWM` of this process, in KiB (Linux).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
