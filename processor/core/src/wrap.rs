//! Building delivery shapes the way AWS does, for fixtures, tests and benchmarks:
//! a CloudTrail record wrapped as an EventBridge event, and an EventBridge event
//! wrapped as the SNS notification SNS delivers to an SQS queue.
//!
//! Field names and order follow the EventBridge event-structure reference and the SNS
//! notification JSON format. SNS writes its body with `"Key" : value` pairs on
//! separate lines; [`sns_notification`] can write that layout or the same on one line
//! (white space between JSON tokens carries no meaning, and one line suits NDJSON).

use serde_json::value::RawValue;

/// The identifying values of one wrapping.
#[derive(Debug, Clone)]
pub struct WrapIds<'a> {
    /// EventBridge event id (a UUID).
    pub event_bridge_id: &'a str,
    /// SNS message id (a UUID).
    pub sns_message_id: &'a str,
    /// Topic the notification came from.
    pub topic_arn: &'a str,
    /// SNS publish time, RFC 3339 with milliseconds.
    pub sns_timestamp: &'a str,
}

/// Wraps a CloudTrail record (compact JSON) in the EventBridge event that CloudTrail
/// delivers for it: `detail-type` by `eventType`, `source` `aws.<service>`.
pub fn eventbridge_event(record: &str, event_bridge_id: &str) -> Result<String, serde_json::Error> {
    #[derive(serde::Deserialize)]
    struct Head<'a> {
        #[serde(rename = "eventSource", borrow)]
        event_source: std::borrow::Cow<'a, str>,
        #[serde(rename = "eventTime", borrow)]
        event_time: std::borrow::Cow<'a, str>,
        #[serde(rename = "awsRegion", borrow)]
        aws_region: std::borrow::Cow<'a, str>,
        #[serde(rename = "recipientAccountId", borrow, default)]
        recipient_account_id: Option<std::borrow::Cow<'a, str>>,
        #[serde(rename = "eventType", borrow, default)]
        event_type: Option<std::borrow::Cow<'a, str>>,
    }
    let head: Head<'_> = serde_json::from_str(record)?;
    let detail: &RawValue = serde_json::from_str(record)?;
    let detail_type = match head.event_type.as_deref() {
        Some("AwsConsoleSignIn") => "AWS Console Sign In via CloudTrail",
        Some("AwsServiceEvent") => "AWS Service Event via CloudTrail",
        _ => "AWS API Call via CloudTrail",
    };
    let service = crate::services::short_service(&head.event_source);
    let mut s = String::with_capacity(record.len() + 256);
    s.push_str("{\"version\":\"0\",\"id\":");
    s.push_str(&serde_json::to_string(event_bridge_id)?);
    s.push_str(",\"detail-type\":");
    s.push_str(&serde_json::to_string(detail_type)?);
    s.push_str(",\"source\":");
    s.push_str(&serde_json::to_string(&format!("aws.{service}"))?);
    s.push_str(",\"account\":");
    s.push_str(&serde_json::to_string(
        head.recipient_account_id.as_deref().unwrap_or(""),
    )?);
    s.push_str(",\"time\":");
    s.push_str(&serde_json::to_string(&head.event_time)?);
    s.push_str(",\"region\":");
    s.push_str(&serde_json::to_string(&head.aws_region)?);
    s.push_str(",\"resources\":[],\"detail\":");
    s.push_str(detail.get());
    s.push('}');
    Ok(s)
}

/// Distinct, UUID-shaped EventBridge and SNS ids for the `n`th wrapped record.
pub fn numbered_ids(n: u64) -> (String, String) {
    (
        format!("{n:08x}-0000-4000-8000-eb0000000000"),
        format!("{n:08x}-0000-4000-8000-5e5000000000"),
    )
}

/// The `n`th record as an SQS queue receives it from SNS: [`eventbridge_event`] inside
/// [`sns_notification`], with [`numbered_ids`].
pub fn sns_delivery(
    record: &str,
    n: u64,
    topic_arn: &str,
    sns_timestamp: &str,
    multiline: bool,
) -> Result<String, serde_json::Error> {
    let (eb_id, sns_id) = numbered_ids(n);
    let event = eventbridge_event(record, &eb_id)?;
    let ids = WrapIds {
        event_bridge_id: &eb_id,
        sns_message_id: &sns_id,
        topic_arn,
        sns_timestamp,
    };
    Ok(sns_notification(&event, &ids, multiline))
}

/// Wraps `message` (an EventBridge event) in the SNS notification body an SQS queue
/// receives. `multiline` writes SNS's own layout.
pub fn sns_notification(message: &str, ids: &WrapIds<'_>, multiline: bool) -> String {
    let q = |v: &str| serde_json::to_string(v).unwrap_or_else(|_| "\"\"".into());
    let region = region_of(ids.topic_arn);
    let fields: [(&str, String); 9] = [
        ("Type", q("Notification")),
        ("MessageId", q(ids.sns_message_id)),
        ("TopicArn", q(ids.topic_arn)),
        ("Message", q(message)),
        ("Timestamp", q(ids.sns_timestamp)),
        ("SignatureVersion", q("1")),
        // A fixed placeholder: nothing in this project verifies SNS signatures by
        // fetching certificates named in messages.
        ("Signature", q("EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=")),
        ("SigningCertURL", q(&format!("https://sns.{region}.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem"))),
        ("UnsubscribeURL", q(&format!("https://sns.{region}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={}:00000000-0000-0000-0000-000000000000", ids.topic_arn))),
    ];
    let mut s = String::with_capacity(message.len() * 5 / 4 + 700);
    s.push('{');
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(if multiline { "\n  \"" } else { "\"" });
        s.push_str(k);
        s.push_str("\" : ");
        s.push_str(v);
    }
    s.push_str(if multiline { "\n}" } else { "}" });
    s
}

/// A Lambda SQS event (`{"Records":[{"messageId",..,"body",..}]}`) holding `bodies`.
pub fn lambda_sqs_event(bodies: &[(&str, &str)], queue_arn: &str) -> String {
    let records: Vec<serde_json::Value> = bodies
        .iter()
        .map(|(id, body)| {
            serde_json::json!({
                "messageId": id,
                "receiptHandle": format!("AQEB{id}"),
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1688989357000"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region_of(queue_arn),
            })
        })
        .collect();
    serde_json::json!({ "Records": records }).to_string()
}

/// The region of `arn`, or `us-east-1` for what is not an ARN with a region.
fn region_of(arn: &str) -> &str {
    crate::arn::Arn::parse(arn)
        .map(|a| a.region)
        .filter(|r| !r.is_empty())
        .unwrap_or("us-east-1")
}
