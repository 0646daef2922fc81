//! Precision and recall of the catalog against a labelled set: records, each with the
//! ARNs of the resources it changes, written by hand from the AWS documentation
//! (`tests/labelled/*.ndjson`).
//!
//! One line per record: `{"record": {...}, "expected_arns": ["arn:...", ...]}`. The
//! record needs only `eventSource`, `eventName`, `requestParameters` and
//! `responseElements`; the other CloudTrail fields default to a successful call in
//! `us-east-1` by account `123456789012` at `2024-01-01T00:00:00Z`. Lines of one file are
//! resolved in order by one [`CatalogResolver`] (as one processor would, so an
//! association made on one line is known to a later line). Blank lines and lines
//! starting with `//` are skipped.
//!
//! - precision: named ARNs that are expected, over all named ARNs;
//! - recall: expected ARNs that are named, over all expected ARNs.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::{Map, Value};
use thiserror::Error;

use processor_core::event::parse_record;

use crate::catalog::Catalog;
use crate::resolve::CatalogResolver;

/// Why a labelled line could not be read.
#[derive(Debug, Error)]
pub enum LabelledError {
    /// The line is not `{"record": {...}, "expected_arns": [...]}`.
    #[error("line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        reason: String,
    },
}

#[derive(Debug, Deserialize)]
struct Labelled {
    record: Map<String, Value>,
    expected_arns: Vec<String>,
}

/// Counts for one service (or the total).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Records.
    pub records: usize,
    /// Named ARNs that are expected.
    pub true_positives: usize,
    /// Named ARNs that are not expected (wrong resources).
    pub false_positives: usize,
    /// Expected ARNs not named.
    pub false_negatives: usize,
}

impl Counts {
    /// Named ARNs that are right, in percent (100 when nothing was named).
    pub fn precision(&self) -> f64 {
        let named = self.true_positives + self.false_positives;
        if named == 0 {
            100.0
        } else {
            self.true_positives as f64 * 100.0 / named as f64
        }
    }

    /// Right ARNs that are named, in percent (100 when nothing was expected).
    pub fn recall(&self) -> f64 {
        let expected = self.true_positives + self.false_negatives;
        if expected == 0 {
            100.0
        } else {
            self.true_positives as f64 * 100.0 / expected as f64
        }
    }

    fn add(&mut self, o: &Counts) {
        self.records += o.records;
        self.true_positives += o.true_positives;
        self.false_positives += o.false_positives;
        self.false_negatives += o.false_negatives;
    }
}

/// One record whose named ARNs differ from the expected ones.
#[derive(Debug, Clone)]
pub struct Mismatch {
    /// 1-based line.
    pub line: usize,
    /// `service EventName`.
    pub event: String,
    /// Named but not expected.
    pub wrong: Vec<String>,
    /// Expected but not named.
    pub missed: Vec<String>,
}

/// The measure over one or more labelled files.
#[derive(Debug, Default, Clone)]
pub struct Precision {
    /// Counts by service (the event source's short name).
    pub by_service: BTreeMap<String, Counts>,
    /// Records that did not match exactly.
    pub mismatches: Vec<Mismatch>,
}

impl Precision {
    /// Resolves every line of `text` (one labelled file) with a fresh resolver over
    /// `catalog` and counts.
    pub fn add_file(&mut self, catalog: &Catalog, text: &str) -> Result<(), LabelledError> {
        let resolver = CatalogResolver::with_catalog(catalog);
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let raw = raw.trim();
            if raw.is_empty() || raw.starts_with("//") {
                continue;
            }
            let bad = |reason: String| LabelledError::Line { line, reason };
            let item: Labelled = serde_json::from_str(raw).map_err(|e| bad(e.to_string()))?;
            let record = Value::Object(complete(item.record));
            let text = record.to_string();
            let event = parse_record(&text).map_err(bad)?;
            let mut out = Vec::new();
            resolver.resolve_detailed(&event, &mut out);
            let named: BTreeSet<&str> = out.iter().map(|t| t.arn.as_str()).collect();
            let expected: BTreeSet<&str> = item.expected_arns.iter().map(String::as_str).collect();
            let wrong: Vec<String> = named.difference(&expected).map(|s| s.to_string()).collect();
            let missed: Vec<String> = expected.difference(&named).map(|s| s.to_string()).collect();
            let c = self
                .by_service
                .entry(event.service().to_string())
                .or_default();
            c.records += 1;
            c.true_positives += named.intersection(&expected).count();
            c.false_positives += wrong.len();
            c.false_negatives += missed.len();
            if !wrong.is_empty() || !missed.is_empty() {
                self.mismatches.push(Mismatch {
                    line,
                    event: format!("{} {}", event.service(), event.event_name),
                    wrong,
                    missed,
                });
            }
        }
        Ok(())
    }

    /// All services together.
    pub fn total(&self) -> Counts {
        let mut t = Counts::default();
        for c in self.by_service.values() {
            t.add(c);
        }
        t
    }

    /// The table `processor catalog precision` prints: one row per service, then the
    /// total, then each mismatch.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<28} {:>7} {:>6} {:>6} {:>6} {:>9} {:>7}",
            "service", "records", "right", "wrong", "missed", "precision", "recall"
        );
        let row = |s: &mut String, name: &str, c: &Counts| {
            let _ = writeln!(
                s,
                "{:<28} {:>7} {:>6} {:>6} {:>6} {:>8.1}% {:>6.1}%",
                name,
                c.records,
                c.true_positives,
                c.false_positives,
                c.false_negatives,
                c.precision(),
                c.recall()
            );
        };
        for (svc, c) in &self.by_service {
            row(&mut s, svc, c);
        }
        row(&mut s, "TOTAL", &self.total());
        let _ = writeln!(s, "{} services", self.by_service.len());
        for m in &self.mismatches {
            let _ = writeln!(
                s,
                "line {}: {}: wrong {:?} missed {:?}",
                m.line, m.event, m.wrong, m.missed
            );
        }
        s
    }
}

/// Fills the CloudTrail fields a labelled record may leave out.
fn complete(mut r: Map<String, Value>) -> Map<String, Value> {
    let defaults = [
        ("eventVersion", Value::from("1.08")),
        ("eventTime", Value::from("2024-01-01T00:00:00Z")),
        ("awsRegion", Value::from("us-east-1")),
        ("recipientAccountId", Value::from("123456789012")),
        ("eventType", Value::from("AwsApiCall")),
        ("readOnly", Value::from(false)),
        ("requestParameters", Value::Null),
        ("responseElements", Value::Null),
        (
            "userIdentity",
            serde_json::json!({"type":"IAMUser","accountId":"123456789012",
                "arn":"arn:aws:iam::123456789012:user/Alice"}),
        ),
    ];
    for (k, v) in defaults {
        r.entry(k).or_insert(v);
    }
    if !r.contains_key("eventID") {
        let n = r.len();
        r.insert("eventID".into(), Value::from(format!("labelled-{n}")));
    }
    r
}
