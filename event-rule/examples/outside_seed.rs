//! How many successful, mutating CloudTrail calls come from services outside the
//! classic `--services seed` list (the list shared with the processor).
//!
//! ```text
//! cargo run -q -p event-rule --example outside_seed -- ../shared/data/cloudtrail/invictus-aws-dataset/records.ndjson
//! ```
//!
//! Input: NDJSON, one CloudTrail record per line. A record counts when it is an API
//! call (`eventType` `AwsApiCall`), `readOnly` is `false`, and it has no `errorCode`.

use std::collections::BTreeMap;
use std::io::BufRead;

use processor_core::services::{short_service, SEED_SERVICES};
use serde_json::Value;

fn main() -> anyhow::Result<()> {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(!paths.is_empty(), "usage: outside_seed RECORDS.ndjson...");
    let (mut total, mut outside) = (0usize, BTreeMap::<String, usize>::new());
    for path in &paths {
        let file = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
        for line in std::io::BufReader::new(file).lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let r: Value = serde_json::from_str(&line)?;
            if r["eventType"] != "AwsApiCall"
                || r["readOnly"] != Value::Bool(false)
                || !r["errorCode"].is_null()
            {
                continue;
            }
            total += 1;
            let service = short_service(r["eventSource"].as_str().unwrap_or_default());
            if !SEED_SERVICES.contains(&service) {
                *outside.entry(service.to_string()).or_default() += 1;
            }
        }
    }
    let n: usize = outside.values().sum();
    let pct = if total == 0 {
        0.0
    } else {
        100.0 * n as f64 / total as f64
    };
    println!("{n} of {total} successful mutating calls ({pct:.1}%) come from services outside the classic {} (--services seed)", SEED_SERVICES.len());
    let mut by: Vec<_> = outside.into_iter().collect();
    by.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (s, c) in by {
        println!("  {s}: {c}");
    }
    Ok(())
}
