//! The whole shared corpus through the pipeline, delivered as SNS notifications of
//! EventBridge events (as the queue receives them), with the catalog resolver.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use integration_tests::invictus_records;
use processor_core::wrap::sns_delivery;
use processor_core::{Processor, ProcessorConfig, RescanRequest, Scope};
use serde_json::Value;

fn wrap(i: usize, record: &str) -> String {
    sns_delivery(
        record,
        i as u64,
        "arn:aws:sns:us-east-1:123837392027:cloudcoreo-events",
        "2023-07-10T12:00:00.000Z",
        i.is_multiple_of(2),
    )
    .unwrap()
}

/// The filter's rules written out again, naively, over `serde_json::Value`.
fn expected_reason(v: &Value) -> Option<&'static str> {
    if v["readOnly"] == Value::Bool(true) {
        return Some("read_only");
    }
    if v.get("errorCode").is_some_and(|c| !c.is_null()) {
        return Some("failed");
    }
    if v["eventType"] != "AwsApiCall" {
        return Some("event_type");
    }
    if v["eventCategory"] == "Data" {
        return Some("data_event");
    }
    None
}

fn replay(window: u32, bodies: &[String]) -> (Processor, Vec<RescanRequest>) {
    let config = ProcessorConfig {
        window_secs: window,
        ..ProcessorConfig::default()
    };
    let mut p = Processor::new(config, Arc::new(processor_catalog::CatalogResolver::new()));
    let mut out = Vec::new();
    for b in bodies {
        let outcome = p.process_message(b, &mut out);
        assert!(outcome.is_decoded(), "{outcome:?}");
    }
    p.flush(&mut out);
    (p, out)
}

#[test]
fn whole_corpus_exact_counts_and_every_kept_event_has_a_request() {
    let Some(records) = invictus_records("corpus_replay") else {
        return;
    };
    let bodies: Vec<String> = records
        .iter()
        .enumerate()
        .map(|(i, r)| wrap(i, r))
        .collect();

    // Independent expectation.
    let mut want: BTreeMap<&str, u64> = BTreeMap::new();
    let mut kept_ids = HashSet::new();
    for r in &records {
        let v: Value = serde_json::from_str(r).unwrap();
        match expected_reason(&v) {
            Some(reason) => *want.entry(reason).or_default() += 1,
            None => {
                kept_ids.insert(v["eventID"].as_str().unwrap().to_string());
            }
        }
    }

    let (p, out) = replay(0, &bodies);
    let s = p.stats();
    assert_eq!(s.messages, 2900);
    assert_eq!(s.events, 2900);
    assert_eq!(s.invalid, 0);
    // The corpus's documented figures, and the naive count, agree with the pipeline.
    assert_eq!(s.kept, 435);
    assert_eq!(kept_ids.len(), 435);
    let got: BTreeMap<&str, u64> = s.dropped.iter().map(|(k, v)| (*k, *v)).collect();
    assert_eq!(got, want);
    assert_eq!(
        got,
        BTreeMap::from([("event_type", 45), ("failed", 94), ("read_only", 2326)])
    );

    // Every kept event yields at least one request; nothing else does.
    let mut covered = HashSet::new();
    for r in &out {
        assert_eq!(r.events.len(), 1, "--window 0: one event per request");
        covered.insert(r.events[0].event_id.clone());
        match r.scope {
            Scope::Resource => assert!(r.arn.as_deref().is_some_and(|a| a.starts_with("arn:aws:"))),
            Scope::Service => assert!(r.arn.is_none() && r.resource_type.is_none()),
        }
        assert_eq!(r.account, "123837392027");
    }
    assert_eq!(covered, kept_ids);
    assert_eq!(s.rescans.resource + s.rescans.service, out.len() as u64);

    // Coalescing merges, never loses: the same events appear, in fewer requests.
    let (_, merged) = replay(60, &bodies);
    assert!(merged.len() < out.len());
    let merged_ids: HashSet<String> = merged
        .iter()
        .flat_map(|r| r.events.iter().map(|e| e.event_id.clone()))
        .collect();
    assert_eq!(merged_ids, kept_ids);
}

#[test]
fn redelivered_corpus_is_dropped_as_duplicates() {
    let Some(records) = invictus_records("redelivered_corpus") else {
        return;
    };
    let mut bodies: Vec<String> = records
        .iter()
        .enumerate()
        .map(|(i, r)| wrap(i, r))
        .collect();
    // SQS redelivers: the same events again, in new SNS messages.
    let again: Vec<String> = records
        .iter()
        .enumerate()
        .map(|(i, r)| wrap(i + 10_000, r))
        .collect();
    bodies.extend(again);
    let (p, _) = replay(60, &bodies);
    assert_eq!(p.stats().kept, 435);
    assert_eq!(p.stats().dropped.get("duplicate"), Some(&435));
}
