//! The CloudTrail record as the rest of the pipeline sees it.
//!
//! [`Event`] borrows every string from the buffer it was decoded from, so a record
//! costs no allocation until it is kept. `requestParameters`, `responseElements`
//! and `resources` stay raw JSON ([`RawValue`]) and are parsed only by the resolver,
//! only for events that survive the filter.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::services::short_service;
use crate::time::parse_rfc3339;

/// The parts of `userIdentity` the processor uses. Credentials (`accessKeyId`,
/// session tokens) are never read, so they can never be logged or forwarded.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity<'a> {
    /// `IAMUser`, `AssumedRole`, `Root`, `AWSService`, ...
    #[serde(rename = "type", borrow, default)]
    pub kind: Option<Cow<'a, str>>,
    /// The caller's ARN, when it has one.
    #[serde(borrow, default)]
    pub arn: Option<Cow<'a, str>>,
    /// The caller's account.
    #[serde(borrow, default)]
    pub account_id: Option<Cow<'a, str>>,
    /// Principal id (`AIDA...`, `AROA...:session`).
    #[serde(borrow, default)]
    pub principal_id: Option<Cow<'a, str>>,
    /// The AWS service that made the call on the user's behalf.
    #[serde(borrow, default)]
    pub invoked_by: Option<Cow<'a, str>>,
}

/// One validated CloudTrail record, borrowing from its message.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    /// `eventID`: unique per record, the key for duplicate detection.
    pub event_id: Cow<'a, str>,
    /// `eventTime` as written.
    pub event_time: Cow<'a, str>,
    /// `eventTime` as Unix seconds.
    pub time: i64,
    /// `eventSource`, e.g. `ec2.amazonaws.com`.
    pub event_source: Cow<'a, str>,
    /// `eventName`, the API operation, e.g. `RunInstances`.
    pub event_name: Cow<'a, str>,
    /// `eventType`: `AwsApiCall`, `AwsServiceEvent`, `AwsConsoleSignIn`, ...
    pub event_type: Option<Cow<'a, str>>,
    /// `eventCategory`: `Management`, `Data`, `Insight`.
    pub event_category: Option<Cow<'a, str>>,
    /// `awsRegion`.
    pub region: Cow<'a, str>,
    /// The account whose resources changed: `recipientAccountId`, else the caller's.
    pub account: Cow<'a, str>,
    /// `readOnly`, when the record has it.
    pub read_only: Option<bool>,
    /// `errorCode`, present when the call failed.
    pub error_code: Option<Cow<'a, str>>,
    /// `userIdentity`.
    pub user_identity: UserIdentity<'a>,
    /// `requestParameters`, unparsed (`None` when absent or `null`).
    pub request_parameters: Option<&'a RawValue>,
    /// `responseElements`, unparsed (`None` when absent or `null`).
    pub response_elements: Option<&'a RawValue>,
    /// `resources` (`[{"ARN":..,"type":..,"accountId":..}]`), unparsed.
    pub resources: Option<&'a RawValue>,
    /// `serviceEventDetails` of `AwsServiceEvent` records, unparsed.
    pub service_event_details: Option<&'a RawValue>,
}

impl<'a> Event<'a> {
    /// The short service name: `ec2` for `ec2.amazonaws.com`.
    pub fn service(&self) -> &str {
        short_service(&self.event_source)
    }

    /// Who made the call, for the rescan request: the caller's ARN, else the invoking
    /// service, else the principal id.
    pub fn principal(&self) -> Option<&str> {
        let u = &self.user_identity;
        u.arn
            .as_deref()
            .or(u.invoked_by.as_deref())
            .or(u.principal_id.as_deref())
    }

    /// Parses `requestParameters` into a JSON value (`Value::Null` when absent).
    pub fn request_json(&self) -> serde_json::Value {
        parse_raw(self.request_parameters)
    }

    /// Parses `responseElements` into a JSON value (`Value::Null` when absent).
    pub fn response_json(&self) -> serde_json::Value {
        parse_raw(self.response_elements)
    }

    /// Entries of the record's `resources` field that carry an ARN.
    pub fn resource_entries(&self) -> Vec<ResourceEntry<'a>> {
        self.resources
            .and_then(|r| serde_json::from_str::<Vec<ResourceEntry<'a>>>(r.get()).ok())
            .unwrap_or_default()
    }
}

fn parse_raw(raw: Option<&RawValue>) -> serde_json::Value {
    raw.and_then(|r| serde_json::from_str(r.get()).ok())
        .unwrap_or(serde_json::Value::Null)
}

/// One entry of a CloudTrail record's `resources` list.
#[derive(Debug, Clone, Deserialize)]
pub struct ResourceEntry<'a> {
    /// The resource ARN (`ARN`; a few services write `arn`).
    #[serde(alias = "arn", rename = "ARN", borrow, default)]
    pub arn: Option<Cow<'a, str>>,
    /// CloudFormation-style type, e.g. `AWS::S3::Bucket`.
    #[serde(rename = "type", borrow, default)]
    pub kind: Option<Cow<'a, str>>,
    /// Owning account.
    #[serde(rename = "accountId", borrow, default)]
    pub account_id: Option<Cow<'a, str>>,
}

/// Why a record could not be turned into an [`Event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordDefect {
    /// A required field is absent.
    Missing(&'static str),
    /// `eventTime` is not a timestamp (RFC 3339, or a SIEM export form: see `time`).
    BadTime,
}

impl std::fmt::Display for RecordDefect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordDefect::Missing(field) => write!(f, "missing required field `{field}`"),
            RecordDefect::BadTime => f.write_str("`eventTime` is not a timestamp"),
        }
    }
}

/// Every top-level field of every shape the decoder understands, in one flat struct so
/// a body is parsed in a single pass whatever its shape (see `decode`). Unknown
/// fields are skipped without being materialised.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Envelope<'a> {
    // --- SNS notification / confirmation ---
    #[serde(rename = "Type", borrow, default)]
    pub sns_type: Option<Cow<'a, str>>,
    #[serde(rename = "Message", borrow, default)]
    pub sns_message: Option<Cow<'a, str>>,
    #[serde(rename = "TopicArn", borrow, default)]
    pub topic_arn: Option<Cow<'a, str>>,
    #[serde(rename = "Token", borrow, default)]
    pub sns_token: Option<Cow<'a, str>>,

    // --- EventBridge event ---
    #[serde(rename = "detail-type", borrow, default)]
    pub detail_type: Option<Cow<'a, str>>,
    #[serde(default)]
    pub detail: Option<Box<Envelope<'a>>>,

    // --- CloudTrail record ---
    #[serde(rename = "eventVersion", borrow, default)]
    pub event_version: Option<Cow<'a, str>>,
    #[serde(rename = "userIdentity", borrow, default)]
    pub user_identity: Option<UserIdentity<'a>>,
    #[serde(rename = "eventTime", borrow, default)]
    pub event_time: Option<Cow<'a, str>>,
    #[serde(rename = "eventSource", borrow, default)]
    pub event_source: Option<Cow<'a, str>>,
    #[serde(rename = "eventName", borrow, default)]
    pub event_name: Option<Cow<'a, str>>,
    #[serde(rename = "awsRegion", borrow, default)]
    pub aws_region: Option<Cow<'a, str>>,
    #[serde(rename = "requestParameters", borrow, default)]
    pub request_parameters: Option<&'a RawValue>,
    #[serde(rename = "responseElements", borrow, default)]
    pub response_elements: Option<&'a RawValue>,
    #[serde(rename = "eventID", borrow, default)]
    pub event_id: Option<Cow<'a, str>>,
    #[serde(rename = "readOnly", default)]
    pub read_only: Option<bool>,
    #[serde(rename = "errorCode", borrow, default)]
    pub error_code: Option<Cow<'a, str>>,
    #[serde(rename = "eventType", borrow, default)]
    pub event_type: Option<Cow<'a, str>>,
    #[serde(rename = "eventCategory", borrow, default)]
    pub event_category: Option<Cow<'a, str>>,
    #[serde(rename = "recipientAccountId", borrow, default)]
    pub recipient_account_id: Option<Cow<'a, str>>,
    /// CloudTrail's `[{ARN,type,accountId}]`, or EventBridge's `[arn, ...]`.
    #[serde(borrow, default)]
    pub resources: Option<&'a RawValue>,
    #[serde(rename = "serviceEventDetails", borrow, default)]
    pub service_event_details: Option<&'a RawValue>,

    // --- containers: log files, Lambda SQS events, ReceiveMessage responses ---
    #[serde(rename = "Records", borrow, default)]
    pub records: Option<Vec<&'a RawValue>>,
    #[serde(rename = "Messages", borrow, default)]
    pub messages: Option<Vec<&'a RawValue>>,
    /// Lambda SQS record body.
    #[serde(borrow, default)]
    pub body: Option<Cow<'a, str>>,
    /// `ReceiveMessage` message body.
    #[serde(rename = "Body", borrow, default)]
    pub sqs_body: Option<Cow<'a, str>>,
    /// S3 event notifications carry this; used only to name the shape in errors.
    #[serde(default)]
    pub s3: Option<&'a RawValue>,
    /// CloudTrail's log-delivery notification (`{"s3Bucket":..,"s3ObjectKey":[..]}`).
    #[serde(rename = "s3Bucket", default)]
    pub s3_bucket: Option<&'a RawValue>,
}

impl<'a> Envelope<'a> {
    /// Whether this looks like a CloudTrail record (has its identifying fields).
    pub fn is_cloudtrail_record(&self) -> bool {
        self.event_name.is_some()
            && self.event_time.is_some()
            && (self.event_version.is_some() || self.event_id.is_some())
    }

    /// Turns the CloudTrail fields into a validated [`Event`].
    pub fn into_event(self) -> Result<Event<'a>, RecordDefect> {
        let event_time = self.event_time.ok_or(RecordDefect::Missing("eventTime"))?;
        let time = parse_rfc3339(&event_time).ok_or(RecordDefect::BadTime)?;
        let user_identity = self.user_identity.unwrap_or_default();
        let account = match self.recipient_account_id {
            Some(a) => a,
            None => user_identity
                .account_id
                .clone()
                .ok_or(RecordDefect::Missing("recipientAccountId"))?,
        };
        Ok(Event {
            event_id: self.event_id.ok_or(RecordDefect::Missing("eventID"))?,
            event_time,
            time,
            event_source: self
                .event_source
                .ok_or(RecordDefect::Missing("eventSource"))?,
            event_name: self.event_name.ok_or(RecordDefect::Missing("eventName"))?,
            event_type: self.event_type,
            event_category: self.event_category,
            region: self.aws_region.ok_or(RecordDefect::Missing("awsRegion"))?,
            account,
            read_only: self.read_only,
            error_code: self.error_code,
            user_identity,
            request_parameters: self.request_parameters,
            response_elements: self.response_elements,
            resources: self.resources,
            service_event_details: self.service_event_details,
        })
    }
}

/// Parses one bare CloudTrail record (for tests and tools that hold a single record).
pub fn parse_record(json: &str) -> Result<Event<'_>, String> {
    let env: Envelope<'_> = serde_json::from_str(json).map_err(|e| e.to_string())?;
    env.into_event().map_err(|d| d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(time: &str) -> String {
        format!(
            r#"{{"eventVersion":"1.08","eventID":"e1","eventTime":"{time}","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","awsRegion":"us-east-1","recipientAccountId":"123456789012"}}"#
        )
    }

    #[test]
    fn siem_exported_times_are_read_as_utc() {
        for t in [
            "2022-09-29 22:25:17",
            "2022-09-29 22:25:17.123",
            "2022-09-29T22:25:17.123456Z",
            "2022-09-30T00:25:17+02:00",
        ] {
            let text = record(t);
            let e = parse_record(&text).unwrap_or_else(|e| panic!("{t}: {e}"));
            assert_eq!(e.time, 1_664_490_317, "{t}");
            assert_eq!(crate::time::format_rfc3339(e.time), "2022-09-29T22:25:17Z");
        }
    }

    #[test]
    fn what_is_not_a_time_is_rejected() {
        for t in [
            "yesterday",
            "2022-09-29",
            "1664490317",
            "2022-09-29 22:25:17 PST",
        ] {
            let text = record(t);
            assert_eq!(
                parse_record(&text).unwrap_err(),
                "`eventTime` is not a timestamp",
                "{t}"
            );
        }
    }
}
