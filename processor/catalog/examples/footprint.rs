//! Measures the catalog's load time, memory and per-event cost:
//! `cargo run --release -p processor-catalog --example footprint [records.ndjson]`.
//!
//! Memory is the growth of the process's resident set (`VmRSS`, Linux) across parsing
//! the embedded catalog; lookups are timed over every catalog pair; resolution over
//! the successful mutating calls of the given NDJSON file of CloudTrail records,
//! through a [`CatalogResolver`] as the binaries use it.

use std::hint::black_box;
use std::time::Instant;

use processor_catalog::{is_mutating_call, Catalog, CatalogResolver};
use processor_core::event::parse_record;

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let before = rss_kib();
    let t = Instant::now();
    let catalog = Catalog::embedded();
    let load = t.elapsed();
    let after = rss_kib();
    println!("load: {:.1} ms", load.as_secs_f64() * 1e3);
    if let (Some(b), Some(a)) = (before, after) {
        println!(
            "memory: {:.1} MiB resident growth ({} KiB -> {} KiB)",
            (a - b) as f64 / 1024.0,
            b,
            a
        );
    }
    // Lookups: every pair, by event source and event name.
    let pairs: Vec<(String, String)> = catalog
        .services()
        .iter()
        .flat_map(|s| {
            s.entries
                .keys()
                .map(move |n| (s.event_source.to_string(), n.to_string()))
        })
        .collect();
    let rounds = 20;
    let t = Instant::now();
    let mut hits = 0usize;
    for _ in 0..rounds {
        for (src, name) in &pairs {
            if let Some(svc) = catalog.service_for_source(black_box(src)) {
                hits += usize::from(catalog.lookup(svc, black_box(name)).is_some());
            }
        }
    }
    let per = t.elapsed().as_nanos() as f64 / (rounds * pairs.len()) as f64;
    println!(
        "lookup: {per:.0} ns per (eventSource, eventName) over {} pairs ({hits} hits)",
        pairs.len()
    );
    let versioned = Instant::now();
    for _ in 0..100_000 {
        let svc = catalog
            .service_for_source("lambda.amazonaws.com")
            .expect("lambda");
        black_box(catalog.lookup(svc, black_box("UpdateFunctionCode20150331v2")));
    }
    println!(
        "lookup of a versioned name: {:.0} ns",
        versioned.elapsed().as_nanos() as f64 / 100_000.0
    );
    if let Some(path) = std::env::args().nth(1) {
        let text = std::fs::read_to_string(&path).expect("readable records file");
        let events: Vec<_> = text
            .lines()
            .filter_map(|l| parse_record(l).ok())
            .filter(is_mutating_call)
            .collect();
        // As the binaries resolve: a resolver with its own association memory.
        let resolver = CatalogResolver::with_catalog(catalog);
        let rounds = 50;
        let mut out = Vec::new();
        let t = Instant::now();
        for _ in 0..rounds {
            for e in &events {
                out.clear();
                resolver.resolve_detailed(e, &mut out);
                black_box(&out);
            }
        }
        let per = t.elapsed().as_nanos() as f64 / (rounds * events.len()) as f64 / 1000.0;
        println!("resolve: {per:.1} us per mutating event ({} events, parse of request/response included)", events.len());
    }
}
