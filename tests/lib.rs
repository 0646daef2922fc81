//! # integration-tests
//!
//! Tests that cross crate boundaries or need data from outside the repository:
//! - `corpus_replay.rs`: the whole shared CloudTrail corpus through the pipeline,
//!   delivered as SQS receives it, with exact counts.
//! - `e2e_chain.rs`: `event-rule setup` wires EventBridge -> SNS -> SQS on LocalStack,
//!   CloudTrail-shaped events put on the bus arrive on the queue, and `processor run`
//!   turns them into the exact rescan requests at a file and an HTTP sink.
//! - `consumer_faults.rs`: `processor run` killed repeatedly, a sink refusing for a
//!   while, undecodable messages, SIGTERM under load: nothing lost.
//!
//! This library holds what they share: where the corpus is ([`corpus_dir`]), how to
//! skip loudly when it is not there, and the [`harness`] for the tests that start local
//! AWS endpoints (LocalStack, moto) and the project's binaries. Those tests read
//! `LOCALSTACK_PYTHON` and `MOTO_SERVER_BIN` (`tests/run.sh` installs both and sets
//! them); without them they print that they skip, or fail when `CI` is set.
#![deny(missing_docs)]

pub mod harness;

use std::path::PathBuf;

/// The environment variable naming the shared corpus directory
/// (`../shared/data/cloudtrail` beside the clone; `.ci/run` sets it).
pub const CORPUS_ENV: &str = "CLOUDTRAIL_CORPUS";

/// The corpus directory, or `None` after printing why the calling test skips.
pub fn corpus_dir(test: &str) -> Option<PathBuf> {
    match std::env::var_os(CORPUS_ENV) {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            assert!(
                dir.is_dir(),
                "{CORPUS_ENV}={} is not a directory",
                dir.display()
            );
            Some(dir)
        }
        _ => {
            eprintln!("skipped: {test}: {CORPUS_ENV} not set");
            None
        }
    }
}

/// The invictus corpus records, one compact CloudTrail record per line.
pub fn invictus_records(test: &str) -> Option<Vec<String>> {
    let path = corpus_dir(test)?.join("invictus-aws-dataset/records.ndjson");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    Some(
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect(),
    )
}
