//! Reading rescan requests back: the NDJSON a `file:` sink appends, and tallies of the
//! event ids they carry (to find lost events and count duplicates).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::Value;

/// What a `file:` sink wrote.
#[derive(Debug, Default)]
pub struct FileOutput {
    /// Every request parsed, in file order.
    pub requests: Vec<Value>,
    /// Lines that were not a JSON object (a write cut short by SIGKILL, and the line
    /// appended after it).
    pub torn_lines: Vec<String>,
}

/// Reads the NDJSON file a `file:` sink appends to (empty when it does not exist yet).
/// An unfinished last line (no newline yet) is left for a later read.
pub fn read_file_sink(path: &Path) -> FileOutput {
    let Ok(bytes) = std::fs::read(path) else {
        return FileOutput::default();
    };
    let text = String::from_utf8_lossy(&bytes);
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    let mut out = FileOutput::default();
    for line in complete.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Value>(line) {
            Ok(v @ Value::Object(_)) => out.requests.push(v),
            _ => out.torn_lines.push(line.to_string()),
        }
    }
    out
}

/// The event ids of `requests`, with how many times each appears.
pub fn event_id_counts(requests: &[Value]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for r in requests {
        for e in r["events"].as_array().into_iter().flatten() {
            if let Some(id) = e["event_id"].as_str() {
                *counts.entry(id.to_string()).or_insert(0) += 1;
            }
        }
    }
    counts
}

/// Delivery figures of a run against the event ids that were sent.
#[derive(Debug)]
pub struct Tally {
    /// Sent ids that appear nowhere.
    pub missing: Vec<String>,
    /// Ids that appear but were not sent.
    pub unexpected: Vec<String>,
    /// Distinct sent ids that appear.
    pub delivered: usize,
    /// Appearances beyond the first, over all ids.
    pub duplicates: usize,
}

impl Tally {
    /// Compares what arrived with what was sent.
    pub fn of(sent: &[String], requests: &[Value]) -> Tally {
        let counts = event_id_counts(requests);
        let sent_set: HashSet<&str> = sent.iter().map(String::as_str).collect();
        let mut missing: Vec<String> = sent
            .iter()
            .filter(|id| !counts.contains_key(id.as_str()))
            .cloned()
            .collect();
        missing.sort();
        let mut unexpected: Vec<String> = counts
            .keys()
            .filter(|id| !sent_set.contains(id.as_str()))
            .cloned()
            .collect();
        unexpected.sort();
        Tally {
            missing,
            unexpected,
            delivered: counts
                .keys()
                .filter(|id| sent_set.contains(id.as_str()))
                .count(),
            duplicates: counts.values().map(|c| c - 1).sum(),
        }
    }

    /// Duplicate appearances per delivered event.
    pub fn duplicate_rate(&self) -> f64 {
        if self.delivered == 0 {
            0.0
        } else {
            self.duplicates as f64 / self.delivered as f64
        }
    }

    /// Fails the test, showing a few, when an event sent is missing or one never sent
    /// appears.
    pub fn assert_complete(&self, what: &str) {
        assert!(
            self.missing.is_empty(),
            "{what}: {} events lost, such as {:?}",
            self.missing.len(),
            &self.missing[..self.missing.len().min(5)]
        );
        assert!(
            self.unexpected.is_empty(),
            "{what}: {} events never sent appear, such as {:?}",
            self.unexpected.len(),
            &self.unexpected[..self.unexpected.len().min(5)]
        );
    }
}
