//! The EventBridge event pattern: built from the shared service lists, checked against
//! EventBridge's length quota before any call, and compared by meaning, not by bytes.

use processor_core::services::ServiceSet;
use serde_json::{json, Value};

use crate::error::Error;

/// EventBridge's maximum event pattern length, in characters.
pub const MAX_PATTERN_LEN: usize = 2048;

/// The `detail-type` CloudTrail management events carry on EventBridge.
pub const DETAIL_TYPE: &str = "AWS API Call via CloudTrail";

/// The event pattern as JSON: CloudTrail's management events, restricted to
/// `event_sources` when given. The value is a list of `eventSource`s for the tool, or a
/// CloudFormation expression that yields one for the templates (`crate::templates`).
pub fn document(event_sources: Option<Value>) -> Value {
    let mut pattern = json!({ "detail-type": [DETAIL_TYPE] });
    if let Some(sources) = event_sources {
        pattern["detail"] = json!({ "eventSource": sources });
    }
    pattern
}

/// The `eventSource` list for `services`, sorted and without repeats; `None` for
/// [`ServiceSet::All`], which leaves the filter out.
pub fn event_sources(services: &ServiceSet) -> Result<Option<Vec<String>>, Error> {
    let Some(mut sources) = services.event_sources() else {
        return Ok(None);
    };
    if sources.is_empty() {
        return Err(Error::InvalidArgument("the service list is empty".into()));
    }
    sources.sort();
    sources.dedup();
    Ok(Some(sources))
}

/// Builds the rule's event pattern for `services` and checks it fits EventBridge's
/// quota. [`ServiceSet::All`] leaves the `eventSource` filter out, so every service
/// matches and the pattern stays short however many services AWS adds.
pub fn build(services: &ServiceSet) -> Result<String, Error> {
    let text = document(event_sources(services)?.map(|s| json!(s))).to_string();
    validate(&text)?;
    Ok(text)
}

/// Checks a pattern against EventBridge's length quota.
pub fn validate(pattern: &str) -> Result<(), Error> {
    let len = pattern.chars().count();
    if len > MAX_PATTERN_LEN {
        return Err(Error::PatternTooLong {
            len,
            limit: MAX_PATTERN_LEN,
        });
    }
    Ok(())
}

/// Whether two patterns match the same events: equal as JSON, ignoring key order,
/// whitespace and the order of values in a list.
pub fn same(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) {
        (Ok(a), Ok(b)) => crate::policy::normalize(&a) == crate::policy::normalize(&b),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use processor_core::services::SEED_SERVICES;

    #[test]
    fn all_has_no_event_source_filter() {
        let p = build(&ServiceSet::All).unwrap();
        assert_eq!(p, r#"{"detail-type":["AWS API Call via CloudTrail"]}"#);
    }

    #[test]
    fn seed_lists_every_classic_source() {
        let p: Value = serde_json::from_str(&build(&ServiceSet::Seed).unwrap()).unwrap();
        assert_eq!(p["detail-type"], json!(["AWS API Call via CloudTrail"]));
        let sources = p["detail"]["eventSource"].as_array().unwrap();
        assert_eq!(sources.len(), SEED_SERVICES.len());
        for s in SEED_SERVICES {
            assert!(
                sources.contains(&json!(format!("{s}.amazonaws.com"))),
                "{s}"
            );
        }
        assert_eq!(p.as_object().unwrap().len(), 2);
    }

    #[test]
    fn explicit_list_is_sorted_and_deduplicated() {
        let set = ServiceSet::parse("ssm,ec2,secretsmanager,ec2.amazonaws.com").unwrap();
        assert_eq!(
            build(&set).unwrap(),
            r#"{"detail":{"eventSource":["ec2.amazonaws.com","secretsmanager.amazonaws.com","ssm.amazonaws.com"]},"detail-type":["AWS API Call via CloudTrail"]}"#
        );
    }

    #[test]
    fn quota_is_enforced_before_any_call() {
        // 150 made-up services of 10 letters: ~ 150 * 27 characters, far over 2,048.
        let many: Vec<String> = (0..150).map(|i| format!("service{i:03}")).collect();
        let err = build(&ServiceSet::List(many)).unwrap_err();
        assert!(matches!(err, Error::PatternTooLong { limit: 2048, len } if len > 2048));
        assert!(err.to_string().contains("--services all"));

        // Right at the limit passes, one over fails.
        let exact = "x".repeat(MAX_PATTERN_LEN);
        assert!(validate(&exact).is_ok());
        assert!(validate(&format!("{exact}y")).is_err());
    }

    #[test]
    fn comparison_ignores_order_and_spacing() {
        let a = r#"{"detail-type":["AWS API Call via CloudTrail"],"detail":{"eventSource":["a.amazonaws.com","b.amazonaws.com"]}}"#;
        let b = r#"{ "detail": { "eventSource": ["b.amazonaws.com", "a.amazonaws.com"] },
                     "detail-type": ["AWS API Call via CloudTrail"] }"#;
        assert!(same(a, b));
        assert!(!same(
            a,
            r#"{"detail-type":["AWS API Call via CloudTrail"]}"#
        ));
    }
}
