//! Arbitrary and mutated bodies never panic the decoder or the pipeline: every input
//! ends as events, subscription messages or typed errors.

mod common;

use std::sync::Arc;

use common::*;
use processor_core::decode::{decode, Decoded};
use processor_core::{BasicResolver, Processor, ProcessorConfig};
use proptest::prelude::*;

fn seeds() -> Vec<String> {
    let mut v = Vec::new();
    for name in [
        "ec2-run-instances",
        "iam-create-role",
        "s3-put-bucket-policy",
        "ssm-put-parameter",
    ] {
        let r = record(name);
        v.push(sns(&r, true));
        v.push(eventbridge(&r));
        v.push(r);
    }
    v
}

fn check(body: &str) {
    let mut units = 0;
    decode(body, &mut |item| {
        units += 1;
        match item {
            Err(e) => {
                assert!(!e.to_string().is_empty());
                assert!(!e.kind().is_empty());
            }
            // A decoded event always has a parseable time and the required fields.
            Ok(Decoded::Event(e)) => {
                assert_eq!(
                    processor_core::time::parse_rfc3339(&e.event_time),
                    Some(e.time)
                );
            }
            Ok(Decoded::Subscription { .. }) => {}
        }
    });
    assert!(units >= 1 || body.contains("\"Records\"") || body.contains("\"Messages\""));
    let mut p = Processor::new(ProcessorConfig::default(), Arc::new(BasicResolver));
    let mut out = Vec::new();
    p.process_message(body, &mut out);
    p.flush(&mut out);
    for r in &out {
        assert!(serde_json::to_string(r).is_ok());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings(s in ".{0,400}") {
        check(&s);
    }

    #[test]
    fn arbitrary_json_like(s in r#"[\{\}\[\]":,0-9a-zA-Z \\n-]{0,300}"#) {
        check(&s);
    }

    #[test]
    fn truncated_seeds(seed in 0usize..12, cut in 0usize..4000) {
        let body = &seeds()[seed];
        let mut end = cut.min(body.len());
        while !body.is_char_boundary(end) { end -= 1; }
        check(&body[..end]);
    }

    #[test]
    fn mutated_seeds(seed in 0usize..12, edits in prop::collection::vec((0usize..4000, any::<char>()), 1..8)) {
        let mut chars: Vec<char> = seeds()[seed].chars().collect();
        for (pos, c) in edits {
            let i = pos % chars.len();
            chars[i] = c;
        }
        let body: String = chars.into_iter().collect();
        check(&body);
    }

    #[test]
    fn spliced_field_values(seed in 0usize..12, value in prop_oneof![
        Just("null".to_string()), Just("[]".to_string()), Just("{}".to_string()),
        Just("\"\"".to_string()), Just("1e999".to_string()), Just("-0".to_string()),
        Just("\"\\ud800\"".to_string()), Just("true".to_string()),
    ], field in prop_oneof![
        Just("eventTime"), Just("eventName"), Just("eventID"), Just("readOnly"), Just("requestParameters"),
        Just("responseElements"), Just("resources"), Just("userIdentity"), Just("awsRegion"),
        Just("recipientAccountId"), Just("instancesSet"), Just("bucketName"), Just("roleName"),
    ]) {
        let needle = format!("\"{field}\":");
        let body = &seeds()[seed];
        if let Some(pos) = body.find(&needle) {
            let start = pos + needle.len();
            // Replace the value up to the next comma (roughly) with the odd value.
            let end = body[start..].find([',', '}']).map_or(body.len(), |e| start + e);
            let spliced = format!("{}{}{}", &body[..start], value, &body[end..]);
            check(&spliced);
        }
    }
}
