//! `processor catalog`: inspect the resource catalog and measure its coverage.
//!
//! - `stats`: catalog size (`N pairs`, `M services`, ...);
//! - `lookup SOURCE EVENT`: what the catalog does with one event (versioned names such
//!   as `UpdateFunctionCode20150331v2` included);
//! - `list SERVICE`: every entry of one service;
//! - `coverage FILE...`: the share of successful mutating calls in captured events that
//!   resolve to well-formed ARNs matching the record's account and region.

use std::io::Write;
use std::ops::ControlFlow;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Subcommand};
use processor_catalog::catalog::Key;
use processor_catalog::{Catalog, Coverage, Entry, Service};
use processor_core::decode::{decode_with_limit, Decoded};

use crate::input::{self, Unit};

/// Largest JSON text accepted from a coverage input (whole CloudTrail log files).
const MAX_TEXT_BYTES: usize = 256 * 1024 * 1024;

/// Arguments of `processor catalog`.
#[derive(Debug, Args)]
pub struct CatalogArgs {
    #[command(subcommand)]
    command: CatalogCommand,
}

#[derive(Debug, Subcommand)]
enum CatalogCommand {
    /// Print the catalog's size: mapped (eventSource, eventName) pairs and services.
    Stats {
        /// Print a JSON object instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Show what the catalog does with one event.
    Lookup {
        /// Event source (`ec2.amazonaws.com`) or service name (`ec2`, `cloudwatch`).
        source: String,
        /// Event name, as CloudTrail writes it (`RunInstances`).
        event_name: String,
    },
    /// List every entry of one service.
    List {
        /// Event source or service name.
        service: String,
    },
    /// Measure coverage over captured events (CloudTrail log files, NDJSON of records
    /// or of any delivery shape; `.gz` and `-` for standard input accepted).
    Coverage {
        /// Input files.
        #[arg(required = true)]
        files: Vec<String>,
        /// Fail (exit status 1) when coverage is below this percentage.
        #[arg(long)]
        min: Option<f64>,
    },
    /// The placeholder audit: where several record fields could fill one ARN
    /// placeholder, the fields chosen, those set aside, and why (tab-separated).
    Audit {
        /// Only this IAM service prefix (`rds`).
        prefix: Option<String>,
    },
    /// Precision and recall on labelled files (NDJSON of `{"record": {...},
    /// "expected_arns": [...]}`), per service and overall.
    Precision {
        /// Labelled files.
        #[arg(required = true)]
        files: Vec<String>,
    },
}

/// Runs `processor catalog`.
pub fn run(args: CatalogArgs) -> anyhow::Result<()> {
    match run_inner(args) {
        // `processor catalog list ec2 | head` is not an error.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(())
        }
        other => other,
    }
}

fn run_inner(args: CatalogArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let catalog = Catalog::embedded();
    let load = started.elapsed();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.command {
        CatalogCommand::Audit { prefix } => {
            writeln!(
                out,
                "prefix\tevent\tresource type\tplaceholder\tchosen\tset aside\twhy"
            )?;
            let mut n = 0usize;
            for r in processor_catalog::audit::rows() {
                if prefix.as_deref().is_some_and(|p| p != r.prefix) {
                    continue;
                }
                n += 1;
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    r.prefix, r.event, r.resource_type, r.placeholder, r.chosen, r.set_aside, r.why
                )?;
            }
            eprintln!("{n} audited placeholders");
        }
        CatalogCommand::Precision { files } => {
            let mut p = processor_catalog::Precision::default();
            for f in &files {
                let text = std::fs::read_to_string(f).with_context(|| format!("reading {f}"))?;
                p.add_file(catalog, &text).with_context(|| f.to_string())?;
            }
            write!(out, "{}", p.table())?;
        }
        CatalogCommand::Stats { json } => {
            let s = catalog.stats();
            if json {
                writeln!(out, "{}", serde_json::to_string(&s)?)?;
            } else {
                writeln!(out, "{} pairs", s.pairs)?;
                writeln!(out, "{} services", s.services)?;
                writeln!(out, "{} pairs with a resource type", s.pairs_with_resource)?;
                writeln!(out, "{} resource types", s.resource_types)?;
                writeln!(out, "{} event-source aliases", s.source_aliases)?;
                writeln!(out, "loaded in {:.1} ms", load.as_secs_f64() * 1000.0)?;
            }
        }
        CatalogCommand::Lookup { source, event_name } => {
            let (svc, name, entry) = catalog
                .find(&source, &event_name)
                .with_context(|| format!("{source} {event_name}: not in the catalog"))?;
            writeln!(
                out,
                "{} {} (IAM prefix {})",
                svc.event_source, name, svc.prefix
            )?;
            describe(&mut out, catalog, svc, entry, "  ")?;
        }
        CatalogCommand::List { service } => {
            let svc = catalog
                .service(&service)
                .with_context(|| format!("{service}: no such service in the catalog"))?;
            let mut names: Vec<(&str, &Entry)> =
                svc.entries.iter().map(|(k, v)| (&**k, v)).collect();
            names.sort_unstable_by_key(|(k, _)| *k);
            writeln!(
                out,
                "{} (IAM prefix {}): {} entries",
                svc.event_source,
                svc.prefix,
                names.len()
            )?;
            for (name, entry) in names {
                writeln!(out, "{name}\t{}", summary(svc, entry))?;
            }
        }
        CatalogCommand::Coverage { files, min } => {
            let cov = coverage(catalog, &files)?;
            writeln!(
                out,
                "{} events, {} successful mutating calls",
                cov.events, cov.mutating
            )?;
            writeln!(
                out,
                "{} resolved to resources ({:.1}%), {} targets",
                cov.resolved,
                cov.percent(),
                cov.targets
            )?;
            for (source, n) in &cov.by_source {
                writeln!(out, "  via {source}: {n}")?;
            }
            if !cov.unresolved.is_empty() {
                writeln!(out, "unresolved:")?;
                for ((source, name, reason), n) in &cov.unresolved {
                    writeln!(out, "  {n}\t{source} {name}: {reason}")?;
                }
            }
            if let Some(min) = min {
                if cov.percent() < min {
                    anyhow::bail!("coverage {:.1}% is below {min}%", cov.percent());
                }
            }
        }
    }
    Ok(())
}

fn coverage(catalog: &Catalog, files: &[String]) -> anyhow::Result<Coverage> {
    let mut cov = Coverage::default();
    for path in files {
        let mut bad = 0u64;
        let mut on_unit = |unit: Unit<'_>| {
            match unit {
                Unit::Text { text, .. } => {
                    decode_with_limit(text, MAX_TEXT_BYTES, &mut |item| match item {
                        Ok(Decoded::Event(event)) => cov.add(catalog, &event),
                        Ok(Decoded::Subscription { .. }) => {}
                        Err(_) => bad += 1,
                    })
                }
                Unit::NotUtf8 { .. } => bad += 1,
            }
            ControlFlow::Continue(())
        };
        input::for_each_unit(path, &mut on_unit).with_context(|| format!("reading {path}"))?;
        if bad > 0 {
            eprintln!(
                "{}: {bad} inputs could not be decoded",
                input::display_name(path)
            );
        }
    }
    Ok(cov)
}

fn summary(svc: &Service, entry: &Entry) -> String {
    let mut parts: Vec<String> = entry
        .targets
        .iter()
        .map(|t| {
            let ty = &svc.types[t.type_index as usize];
            if t.delete {
                format!("{} (delete)", ty.qualified)
            } else {
                ty.qualified.to_string()
            }
        })
        .collect();
    if entry.any_arn.is_some() {
        parts.push("any resource named by ARN".into());
    }
    if parts.is_empty() {
        "- (no resource type: service scope unless the record lists resources)".into()
    } else {
        parts.join(", ")
    }
}

fn describe(
    out: &mut impl Write,
    catalog: &Catalog,
    svc: &Service,
    entry: &Entry,
    indent: &str,
) -> std::io::Result<()> {
    if !entry.has_targets() {
        writeln!(out, "{indent}no resource type: the record's `resources` field, else a service-scope request")?;
    }
    for t in entry.targets.iter() {
        let ty = &svc.types[t.type_index as usize];
        let action = if t.delete { "delete" } else { "update" };
        writeln!(
            out,
            "{indent}{} ({action}): {}",
            ty.qualified,
            ty.template.as_str()
        )?;
        for (var, id) in ty.template.vars().zip(t.keys.iter()) {
            writeln!(
                out,
                "{indent}  ${{{}}} <- {}",
                var.name,
                keys(catalog.keys(*id))
            )?;
        }
        if let Some(id) = t.arn_keys {
            writeln!(out, "{indent}  whole ARN <- {}", keys(catalog.keys(id)))?;
        }
    }
    if let Some(id) = entry.any_arn {
        writeln!(
            out,
            "{indent}any {} resource by ARN <- {}",
            svc.prefix,
            keys(catalog.keys(id))
        )?;
    }
    Ok(())
}

fn keys(keys: &[Key]) -> String {
    keys.iter()
        .map(|k| match k.max_depth {
            0 => format!("{} (top level)", k.name),
            1 => format!("{} (near top)", k.name),
            _ => k.name.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" | ")
}
