//! Every delivery shape the decoder recognises, and every error it names.

mod common;

use common::*;
use processor_core::decode::{
    decode, decode_bytes, decode_with_limit, DecodeError, Decoded, MAX_BODY_BYTES,
};
use processor_core::SubscriptionKind;

/// Decodes `body`, returning (event names, subscription kinds, error kinds).
fn run(body: &str) -> (Vec<String>, Vec<SubscriptionKind>, Vec<DecodeError>) {
    let mut names = Vec::new();
    let mut subs = Vec::new();
    let mut errs = Vec::new();
    decode(body, &mut |item| match item {
        Ok(Decoded::Event(e)) => names.push(e.event_name.to_string()),
        Ok(Decoded::Subscription { kind, .. }) => subs.push(kind),
        Err(e) => errs.push(e),
    });
    (names, subs, errs)
}

fn kinds(errs: &[DecodeError]) -> Vec<&'static str> {
    errs.iter().map(DecodeError::kind).collect()
}

#[test]
fn bare_record() {
    let (names, subs, errs) = run(&record("ec2-run-instances"));
    assert_eq!(names, ["RunInstances"]);
    assert!(subs.is_empty() && errs.is_empty());
}

#[test]
fn raw_eventbridge_event() {
    let (names, _, errs) = run(&eventbridge(&record("s3-put-bucket-policy")));
    assert_eq!(names, ["PutBucketPolicy"]);
    assert!(errs.is_empty());
}

#[test]
fn sns_notification_one_line_and_as_sns_writes_it() {
    for multiline in [false, true] {
        let body = sns(&record("iam-create-role"), multiline);
        assert_eq!(body.contains('\n'), multiline);
        let (names, _, errs) = run(&body);
        assert_eq!(names, ["CreateRole"], "multiline={multiline}");
        assert!(errs.is_empty());
    }
}

#[test]
fn event_fields_survive_both_envelopes() {
    let body = sns(&record("ec2-run-instances"), true);
    let mut seen = 0;
    decode(&body, &mut |item| {
        let Ok(Decoded::Event(e)) = item else {
            panic!("{item:?}")
        };
        seen += 1;
        assert_eq!(e.event_id, "a1b2c3d4-0001-4000-8000-000000000001");
        assert_eq!(e.event_source, "ec2.amazonaws.com");
        assert_eq!(e.service(), "ec2");
        assert_eq!(e.region, "us-east-1");
        assert_eq!(e.account, "123456789012");
        assert_eq!(e.time, 1_688_989_356);
        assert_eq!(e.read_only, Some(false));
        assert_eq!(e.principal(), Some("arn:aws:iam::123456789012:user/Alice"));
        let resp = e.response_json();
        assert_eq!(
            resp["instancesSet"]["items"][1]["instanceId"],
            "i-0abc1234567890aaa"
        );
    });
    assert_eq!(seen, 1);
}

#[test]
fn subscription_messages_are_recognised_not_errors() {
    for (t, kind) in [
        ("SubscriptionConfirmation", SubscriptionKind::Confirmation),
        ("UnsubscribeConfirmation", SubscriptionKind::Unsubscribe),
    ] {
        let body = format!(
            r#"{{"Type":"{t}","MessageId":"165545c9","Token":"2336412f37","TopicArn":"arn:aws:sns:us-east-1:123456789012:cloudcoreo-events","Message":"You have chosen to subscribe.","SubscribeURL":"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription","Timestamp":"2023-07-10T11:40:00.000Z"}}"#
        );
        let mut topic = None;
        let mut n = 0;
        decode(&body, &mut |item| match item {
            Ok(Decoded::Subscription {
                kind: k, topic_arn, ..
            }) => {
                n += 1;
                assert_eq!(k, kind);
                topic = topic_arn.map(|t| t.into_owned());
            }
            other => panic!("{other:?}"),
        });
        assert_eq!(n, 1);
        assert_eq!(
            topic.as_deref(),
            Some("arn:aws:sns:us-east-1:123456789012:cloudcoreo-events")
        );
    }
}

#[test]
fn cloudtrail_log_file() {
    let log = format!(
        r#"{{"Records":[{},{},{}]}}"#,
        record("ec2-run-instances"),
        record("iam-create-role"),
        record("kms-create-key")
    );
    let (names, _, errs) = run(&log);
    assert_eq!(names, ["RunInstances", "CreateRole", "CreateKey"]);
    assert!(errs.is_empty());
}

#[test]
fn one_bad_record_in_a_log_file_does_not_hide_the_others() {
    let bad = record_with(
        "iam-create-role",
        &[("eventTime", serde_json::json!("yesterday"))],
    );
    let log = format!(
        r#"{{"Records":[{},{},{}]}}"#,
        record("ec2-run-instances"),
        bad,
        record("kms-create-key")
    );
    let (names, _, errs) = run(&log);
    assert_eq!(names, ["RunInstances", "CreateKey"]);
    assert_eq!(kinds(&errs), ["invalid_record"]);
    assert!(errs[0].to_string().contains("a1b2c3d4-0005"), "{}", errs[0]);
}

#[test]
fn lambda_sqs_event_of_sns_bodies() {
    let a = sns(&record("ec2-run-instances"), true);
    let b = sns(&record("ssm-put-parameter"), false);
    let event = processor_core::wrap::lambda_sqs_event(
        &[("m1", a.as_str()), ("m2", b.as_str())],
        "arn:aws:sqs:us-west-2:123456789012:cloudcoreo-events-queue",
    );
    let (names, _, errs) = run(&event);
    assert_eq!(names, ["RunInstances", "PutParameter"]);
    assert!(errs.is_empty());
}

#[test]
fn receive_message_response() {
    let body = sns(&record("kms-create-key"), true);
    let resp = serde_json::json!({"Messages":[{"MessageId":"m1","ReceiptHandle":"AQEB","MD5OfBody":"x","Body":body}]}).to_string();
    let (names, _, errs) = run(&resp);
    assert_eq!(names, ["CreateKey"]);
    assert!(errs.is_empty());
}

#[test]
fn errors_are_typed() {
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "empty"),
        ("   \n".into(), "empty"),
        ("not json".into(), "invalid_json"),
        ("{\"Type\":\"Notification\",\"Message\":\"{\\\"detail-type".into(), "invalid_json"),
        (sns(&record("iam-create-role"), false)[..300].to_string(), "invalid_json"),
        ("[1,2,3]".into(), "unknown_shape"),
        ("[\"Notification\",\"{}\"]".into(), "unknown_shape"),
        ("[\"SubscriptionConfirmation\",\"x\"]".into(), "unknown_shape"),
        ("42".into(), "unknown_shape"),
        ("null".into(), "unknown_shape"),
        ("nul".into(), "invalid_json"),
        ("{\"Type\":\"Notification\",\"TopicArn\":\"t\",\"Message\":\"[1]\"}".into(), "unknown_shape"),
        ("{}".into(), "unknown_shape"),
        ("{\"hello\":\"world\"}".into(), "unknown_shape"),
        ("{\"Type\":\"Notification\",\"TopicArn\":\"arn:aws:sns:us-east-1:1:t\"}".into(), "unknown_shape"),
        ("{\"Type\":\"Surprise\",\"Message\":\"x\",\"TopicArn\":\"t\"}".into(), "unknown_sns_type"),
        ("{\"detail-type\":\"EC2 Instance State-change Notification\",\"detail\":{}}".into(), "not_cloudtrail"),
        ("{\"detail-type\":\"AWS API Call via CloudTrail\"}".into(), "unknown_shape"),
        ("{\"detail-type\":\"AWS API Call via CloudTrail\",\"detail\":{\"a\":1}}".into(), "unknown_shape"),
        ("{\"Records\":[{\"eventVersion\":\"1.08\",\"eventName\":\"X\",\"eventTime\":\"2023-07-10T11:42:36Z\"}]}".into(), "invalid_record"),
        ("{\"Records\":[{\"eventSource\":\"aws:s3\",\"s3\":{\"bucket\":{}}}]}".into(), "unknown_shape"),
        // A real S3 event notification record looks CloudTrail-like: it is still named.
        ("{\"Records\":[{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\",\"awsRegion\":\"us-east-1\",\"eventTime\":\"2023-07-10T11:45:00.000Z\",\"eventName\":\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"b\"},\"object\":{\"key\":\"AWSLogs/x.json.gz\"}}}]}".into(), "unknown_shape"),
        ("{\"s3Bucket\":\"trail-bucket\",\"s3ObjectKey\":[\"AWSLogs/123456789012/CloudTrail/us-east-1/2023/07/10/x.json.gz\"]}".into(), "unknown_shape"),
        ("{\"eventVersion\":\"1.08\",\"eventName\":1}".into(), "invalid_json"),
        (record_with("kms-create-key", &[("readOnly", serde_json::json!("false"))]), "invalid_json"),
        (record_with("kms-create-key", &[("eventID", serde_json::Value::Null)]), "invalid_record"),
        (record_with("kms-create-key", &[("awsRegion", serde_json::Value::Null)]), "invalid_record"),
        (record_with("kms-create-key", &[("eventSource", serde_json::Value::Null)]), "invalid_record"),
    ];
    for (body, want) in cases {
        let (names, _, errs) = run(&body);
        assert!(names.is_empty(), "{body}");
        assert_eq!(kinds(&errs), [want], "{body:.200}");
        assert!(!errs[0].to_string().is_empty());
    }
}

#[test]
fn json_errors_name_layer_and_position() {
    let mut body = sns(&record("iam-create-role"), false);
    // Break the inner document only: the SNS layer still parses.
    body = body.replace("\\\"detail\\\":{", "\\\"detail\\\":{{");
    let (_, _, errs) = run(&body);
    match &errs[..] {
        [DecodeError::Json {
            context,
            line,
            column,
            ..
        }] => {
            assert_eq!(*context, "SNS Message");
            assert_eq!(*line, 1);
            assert!(*column > 1);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn size_limit() {
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(10 * 1024 * 1024));
    let (_, _, errs) = run(&big);
    assert_eq!(
        errs,
        [DecodeError::TooLarge {
            size: big.len(),
            limit: MAX_BODY_BYTES
        }]
    );
    let mut n = 0;
    decode_with_limit(&big, usize::MAX, &mut |r| {
        n += 1;
        assert_eq!(r.unwrap_err().kind(), "unknown_shape");
    });
    assert_eq!(n, 1);
}

#[test]
fn invalid_utf8() {
    let mut bytes = record("kms-create-key").into_bytes();
    bytes[20] = 0xff;
    let mut errs = Vec::new();
    decode_bytes(&bytes, &mut |r| errs.push(r.unwrap_err()));
    assert_eq!(errs, [DecodeError::InvalidUtf8 { offset: 20 }]);
}

#[test]
fn nesting_is_bounded() {
    let mut body = record("kms-create-key");
    for i in 0..10 {
        body = serde_json::json!({"Type":"Notification","TopicArn":"t","MessageId":i.to_string(),"Message":body}).to_string();
    }
    let (names, _, errs) = run(&body);
    assert!(names.is_empty());
    assert_eq!(kinds(&errs), ["too_deep"]);
}

#[test]
fn error_messages_stay_short_whatever_the_input() {
    let body = format!(
        "{{\"detail-type\":\"{}\",\"detail\":{{}}}}",
        "x".repeat(100_000)
    );
    let (_, _, errs) = run(&body);
    assert!(errs[0].to_string().len() < 300);
}
