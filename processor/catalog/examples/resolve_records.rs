//! Prints, for each successful mutating call in an NDJSON file of bare CloudTrail
//! records, the targets the catalog resolves:
//! `cargo run -p processor-catalog --example resolve_records -- records.ndjson`.

use processor_catalog::{is_mutating_call, CatalogResolver};
use processor_core::event::parse_record;

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: resolve_records FILE");
    let text = std::fs::read_to_string(&path).expect("readable file");
    let resolver = CatalogResolver::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(event) = parse_record(line) else {
            continue;
        };
        if !is_mutating_call(&event) {
            continue;
        }
        let mut out = Vec::new();
        let outcome = resolver.resolve_detailed(&event, &mut out);
        let targets: Vec<String> = out
            .iter()
            .map(|t| {
                format!(
                    "{} {} {} {:?}",
                    t.resource_type, t.arn, t.resource_id, t.action
                )
            })
            .collect();
        println!(
            "{} {} {:?} {:?} {:?}",
            event.service(),
            event.event_name,
            outcome.source,
            outcome.miss,
            targets
        );
    }
}
