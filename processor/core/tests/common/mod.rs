//! Fixtures shared by the core's tests: the hand-written records of `tests/fixtures`.
#![allow(dead_code)]

use std::path::PathBuf;

use processor_core::wrap::{eventbridge_event, sns_notification, WrapIds};

/// `tests/fixtures` at the workspace root.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// A hand-written record, compact.
pub fn record(name: &str) -> String {
    let path = fixtures().join("records").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v.to_string()
}

/// A record with fields replaced (`null` removes the field).
pub fn record_with(name: &str, changes: &[(&str, serde_json::Value)]) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&record(name)).unwrap();
    let obj = v.as_object_mut().unwrap();
    for (k, val) in changes {
        if val.is_null() {
            obj.remove(*k);
        } else {
            obj.insert((*k).to_string(), val.clone());
        }
    }
    v.to_string()
}

/// The record as the EventBridge event CloudTrail emits.
pub fn eventbridge(record: &str) -> String {
    eventbridge_event(record, "6a7e8feb-b491-4cf7-a9f1-bf3703467718").unwrap()
}

/// The EventBridge event as SNS delivers it to SQS.
pub fn sns(record: &str, multiline: bool) -> String {
    let ids = WrapIds {
        event_bridge_id: "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        sns_message_id: "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        topic_arn: "arn:aws:sns:us-east-1:123456789012:cloudcoreo-events",
        sns_timestamp: "2023-07-10T11:42:37.123Z",
    };
    sns_notification(&eventbridge(record), &ids, multiline)
}
