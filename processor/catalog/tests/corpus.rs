//! Coverage of the shared CloudTrail corpus.
//!
//! Reads `$CLOUDTRAIL_CORPUS/invictus-aws-dataset/records.ndjson` (the `cloudtrail`
//! data directory beside the project, e.g. `../shared/data/cloudtrail`); skipped when
//! the variable is unset. The corpus stays outside the repository.

use std::path::PathBuf;

use processor_catalog::{Catalog, Coverage};
use processor_core::event::parse_record;

#[test]
fn invictus_corpus_resolves_to_resources() {
    let Some(dir) = std::env::var_os("CLOUDTRAIL_CORPUS") else {
        println!("skipped: CLOUDTRAIL_CORPUS not set");
        return;
    };
    let path = PathBuf::from(dir).join("invictus-aws-dataset/records.ndjson");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let catalog = Catalog::embedded();
    let mut cov = Coverage::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let event = parse_record(line).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
        cov.add(catalog, &event);
    }
    println!(
        "{} records, {} successful mutating calls, {} resolved ({:.1}%), {} targets; by source {:?}",
        cov.events,
        cov.mutating,
        cov.resolved,
        cov.percent(),
        cov.targets,
        cov.by_source
    );
    for ((source, name, reason), n) in &cov.unresolved {
        println!("unresolved: {n} x {source} {name}: {reason}");
    }
    // The published figure: 434 of 435 (99.8%); the one left is a
    // `DisassociateRouteTable` of an association made before the capture.
    assert_eq!(cov.events, 2900);
    assert_eq!(cov.mutating, 435);
    assert_eq!(cov.resolved, 434, "coverage {:.1}%", cov.percent());
    assert_eq!(
        cov.unresolved
            .keys()
            .map(|(_, n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["DisassociateRouteTable"]
    );
}
