//! Filter reasons, resolution, coalescing and outcomes through the public pipeline.

mod common;

use std::sync::Arc;

use common::*;
use processor_core::{
    Action, BasicResolver, FilterConfig, MessageOutcome, Processor, ProcessorConfig, RescanRequest,
    Scope,
};
use serde_json::json;

fn processor(filter: FilterConfig, window: u32) -> Processor {
    Processor::new(
        ProcessorConfig {
            filter,
            window_secs: window,
            ..ProcessorConfig::default()
        },
        Arc::new(BasicResolver),
    )
}

/// Runs bodies through a fresh default processor and returns (requests, processor).
fn run_all(p: &mut Processor, bodies: &[String]) -> Vec<RescanRequest> {
    let mut out = Vec::new();
    for b in bodies {
        p.process_message(b, &mut out);
    }
    p.flush(&mut out);
    out
}

fn dropped(p: &Processor, reason: &str) -> u64 {
    p.stats().dropped.get(reason).copied().unwrap_or(0)
}

#[test]
fn each_drop_reason_is_counted_once() {
    let cases: Vec<(&str, String, FilterConfig)> = vec![
        (
            "read_only",
            record("ec2-describe-instances"),
            FilterConfig::default(),
        ),
        (
            "failed",
            record("s3-delete-bucket-denied"),
            FilterConfig::default(),
        ),
        (
            "event_type",
            record_with("kms-create-key", &[("eventType", json!("AwsServiceEvent"))]),
            FilterConfig::default(),
        ),
        (
            "data_event",
            record_with("kms-create-key", &[("eventCategory", json!("Data"))]),
            FilterConfig::default(),
        ),
        (
            "read_like_name",
            record_with(
                "kms-create-key",
                &[
                    ("readOnly", serde_json::Value::Null),
                    ("eventName", json!("DescribeKey")),
                ],
            ),
            FilterConfig::default(),
        ),
        (
            "account",
            record("kms-create-key"),
            FilterConfig {
                allow_accounts: vec!["111122223333".into()],
                ..FilterConfig::default()
            },
        ),
        (
            "service",
            record("kms-create-key"),
            FilterConfig {
                deny_services: vec!["kms.amazonaws.com".into()],
                ..FilterConfig::default()
            },
        ),
        (
            "service",
            record("kms-create-key"),
            FilterConfig {
                allow_services: vec!["ec2".into(), "s*".into()],
                ..FilterConfig::default()
            },
        ),
        (
            "event_name",
            record("kms-create-key"),
            FilterConfig {
                deny_events: vec!["Create*".into()],
                ..FilterConfig::default()
            },
        ),
        (
            "event_name",
            record("kms-create-key"),
            FilterConfig {
                deny_events: vec!["kms:CreateKey".into()],
                ..FilterConfig::default()
            },
        ),
        (
            "event_name",
            record("kms-create-key"),
            FilterConfig {
                allow_events: vec!["Put*".into(), "ec2:*".into()],
                ..FilterConfig::default()
            },
        ),
    ];
    for (reason, body, filter) in cases {
        let mut p = processor(filter, 60);
        let out = run_all(&mut p, &[sns(&body, false)]);
        assert!(out.is_empty(), "{reason}");
        assert_eq!(p.stats().dropped_total(), 1, "{reason}");
        assert_eq!(dropped(&p, reason), 1, "{reason}: {:?}", p.stats().dropped);
        assert_eq!(p.stats().kept, 0);
    }
}

#[test]
fn allow_lists_keep_what_they_name() {
    let f = FilterConfig {
        allow_services: vec!["k*".into()],
        allow_events: vec!["kms:Create*".into()],
        allow_accounts: vec!["123456789012".into()],
        ..FilterConfig::default()
    };
    let mut p = processor(f, 60);
    let out = run_all(&mut p, &[record("kms-create-key")]);
    assert_eq!(p.stats().kept, 1);
    assert_eq!(out.len(), 1);
}

#[test]
fn configured_event_types_and_data_events_are_kept() {
    let f = FilterConfig {
        event_types: vec!["AwsApiCall".into(), "AwsServiceEvent".into()],
        include_data_events: true,
        ..FilterConfig::default()
    };
    let mut p = processor(f, 60);
    let a = record_with("kms-create-key", &[("eventType", json!("AwsServiceEvent"))]);
    let b = record_with("ssm-put-parameter", &[("eventCategory", json!("Data"))]);
    run_all(&mut p, &[a, b]);
    assert_eq!(p.stats().kept, 2);
}

#[test]
fn a_missing_read_only_flag_with_a_write_name_is_kept() {
    let mut p = processor(FilterConfig::default(), 60);
    run_all(
        &mut p,
        &[record_with(
            "kms-create-key",
            &[("readOnly", serde_json::Value::Null)],
        )],
    );
    assert_eq!(p.stats().kept, 1);
}

#[test]
fn duplicate_deliveries_are_dropped() {
    let body = sns(&record("kms-create-key"), false);
    let mut p = processor(FilterConfig::default(), 60);
    let mut out = Vec::new();
    p.process_message(&body, &mut out);
    p.process_message(&body, &mut out);
    assert_eq!(dropped(&p, "duplicate"), 1, "a duplicate of a held event");
    p.flush(&mut out);
    p.process_message(&body, &mut out);
    assert_eq!(dropped(&p, "duplicate"), 2, "a duplicate of a done event");
    p.flush(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(p.stats().kept, 1);
}

#[test]
fn sample_resolution_and_actions() {
    let mut p = processor(FilterConfig::default(), 0);
    let out = run_all(
        &mut p,
        &[
            record("ec2-run-instances"),
            record("ec2-terminate-instances"),
            record("s3-put-bucket-policy"),
            record("iam-create-role"),
        ],
    );
    // Per resource, requests come in event order: aaa's update before its delete.
    let aaa: Vec<Action> = out
        .iter()
        .filter(|r| r.arn.as_deref().is_some_and(|a| a.ends_with("aaa")))
        .map(|r| r.action)
        .collect();
    assert_eq!(aaa, [Action::Update, Action::Delete]);
    let mut arns: Vec<(&str, bool)> = out
        .iter()
        .map(|r| (r.arn.as_deref().unwrap(), r.action == Action::Delete))
        .collect();
    arns.sort();
    assert_eq!(
        arns,
        [
            (
                "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc1234567890aaa",
                false
            ),
            (
                "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc1234567890aaa",
                true
            ),
            (
                "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc1234567890def",
                false
            ),
            (
                "arn:aws:iam::123456789012:role/service-role/app-reader",
                false
            ),
            ("arn:aws:s3:::amzn-s3-demo-bucket", false),
        ]
    );
    let run = out
        .iter()
        .find(|r| r.arn.as_deref().is_some_and(|a| a.ends_with("def")))
        .unwrap();
    assert_eq!(run.resource_type.as_deref(), Some("ec2:instance"));
    assert_eq!(run.resource_id.as_deref(), Some("i-0abc1234567890def"));
    assert_eq!(run.scope, Scope::Resource);
    assert_eq!(run.service, "ec2");
    assert_eq!(
        run.not_before, "2023-07-10T11:43:36Z",
        "RunInstances settles 60 s"
    );
    assert_eq!(run.events[0].event_name, "RunInstances");
    assert_eq!(
        run.events[0].principal.as_deref(),
        Some("arn:aws:iam::123456789012:user/Alice")
    );
}

#[test]
fn unknown_mutations_become_service_scope_requests() {
    let mut p = processor(FilterConfig::default(), 60);
    let rec = record_with(
        "kms-create-key",
        &[
            ("eventSource", json!("newservice.amazonaws.com")),
            ("eventName", json!("CreateWidget")),
        ],
    );
    let out = run_all(&mut p, &[rec]);
    assert_eq!(out.len(), 1);
    let r = &out[0];
    assert_eq!(r.scope, Scope::Service);
    assert_eq!(
        (
            r.arn.as_ref(),
            r.resource_type.as_ref(),
            r.resource_id.as_ref()
        ),
        (None, None, None)
    );
    assert_eq!(r.service, "newservice");
    assert_eq!(p.stats().rescans.service, 1);
}

#[test]
fn coalescing_merges_a_resource_and_delete_wins() {
    // PutBucketPolicy at 11:43:02, then DeleteBucket (successful) 20 s later.
    let put = record("s3-put-bucket-policy");
    let del = record_with(
        "s3-delete-bucket-denied",
        &[
            ("errorCode", serde_json::Value::Null),
            ("errorMessage", serde_json::Value::Null),
            ("eventTime", json!("2023-07-10T11:43:22Z")),
        ],
    );
    let mut p = processor(FilterConfig::default(), 60);
    let out = run_all(&mut p, &[put.clone(), del.clone()]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].action, Action::Delete);
    let names: Vec<_> = out[0]
        .events
        .iter()
        .map(|e| e.event_name.as_str())
        .collect();
    assert_eq!(names, ["PutBucketPolicy", "DeleteBucket"]);
    assert_eq!(out[0].not_before, "2023-07-10T11:43:37Z");

    let mut p = processor(FilterConfig::default(), 0);
    assert_eq!(
        run_all(&mut p, &[put, del]).len(),
        2,
        "--window 0: one request per event"
    );
}

#[test]
fn outcomes() {
    let mut p = processor(FilterConfig::default(), 60);
    let mut out = Vec::new();
    assert_eq!(
        p.process_message(&sns(&record("kms-create-key"), true), &mut out),
        MessageOutcome::Processed { events: 1, kept: 1 }
    );
    assert_eq!(
        p.process_message(&record("ec2-describe-instances"), &mut out),
        MessageOutcome::Processed { events: 1, kept: 0 }
    );
    let o = p.process_message("{oops", &mut out);
    assert!(!o.is_decoded());
    let log = format!(
        r#"{{"Records":[{},{{"eventVersion":"1.08","eventName":"X","eventTime":"2023-07-10T11:42:36Z"}}]}}"#,
        record("ssm-put-parameter")
    );
    match p.process_message(&log, &mut out) {
        MessageOutcome::Invalid { errors, events } => {
            assert_eq!(events, 1, "the good record was still processed");
            assert_eq!(errors.len(), 1);
        }
        other => panic!("{other:?}"),
    }
    let s = p.stats();
    assert_eq!((s.messages, s.events, s.kept, s.invalid), (4, 2 + 1, 2, 2));
}

#[test]
fn global_resources_merge_across_regions() {
    let a = record("iam-attach-role-policy");
    let b = record_with(
        "iam-attach-role-policy",
        &[
            ("awsRegion", json!("eu-west-1")),
            ("eventID", json!("x-2")),
            ("eventTime", json!("2023-07-10T11:44:15Z")),
        ],
    );
    let mut p = processor(FilterConfig::default(), 60);
    let out = run_all(&mut p, &[a, b]);
    assert_eq!(out.len(), 1, "one IAM role, one rescan");
    assert_eq!(
        out[0].arn.as_deref(),
        Some("arn:aws:iam::123456789012:role/app-reader")
    );
    assert_eq!(out[0].events.len(), 2);
}
