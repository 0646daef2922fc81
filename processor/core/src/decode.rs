//! Recognising and unwrapping every delivery shape.
//!
//! A body is parsed once into a flat envelope that knows the top-level fields of all
//! shapes, then classified:
//!
//! | shape | recognised by | becomes |
//! |---|---|---|
//! | SNS `Notification` | `Type` + `Message` | `Message` decoded again |
//! | SNS `SubscriptionConfirmation` / `UnsubscribeConfirmation` | `Type` | [`Decoded::Subscription`] |
//! | EventBridge event (raw delivery, or a rule targeting SQS) | `detail-type` + `detail` | the `detail` record |
//! | bare CloudTrail record | `eventName` + `eventTime` + `eventVersion`/`eventID` | [`Decoded::Event`] |
//! | CloudTrail log file / Lambda SQS event | `Records` | each element decoded again |
//! | SQS `ReceiveMessage` response | `Messages` | each element decoded again |
//! | SQS message (Lambda `body`, `ReceiveMessage` `Body`) | `body` / `Body` | the body decoded again |
//!
//! Only JSON objects are accepted at every layer. S3 event notifications and
//! CloudTrail's log-delivery notifications are named in their error: the processor
//! never fetches what a message points to.
//!
//! Results go to a sink, one per record, so one bad record in a log file never hides
//! the good ones. Nesting is bounded ([`MAX_DEPTH`]); nothing panics on any input.

use std::borrow::Cow;

use serde_json::value::RawValue;

use crate::event::{Envelope, Event, RecordDefect};

/// Largest body accepted by [`decode`] (SQS allows 1 MiB; replayed log files are
/// decoded with [`decode_with_limit`] and a larger limit).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How many envelopes may wrap one another (SQS record > SNS > EventBridge > record is 3).
pub const MAX_DEPTH: u8 = 6;

/// The EventBridge `detail-type` values that carry CloudTrail records.
pub const CLOUDTRAIL_DETAIL_TYPES: &[&str] = &[
    "AWS API Call via CloudTrail",
    "AWS Console Sign In via CloudTrail",
    "AWS Service Event via CloudTrail",
    "AWS Console Action via CloudTrail",
    "AWS Insight via CloudTrail",
];

/// An SNS subscription lifecycle message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionKind {
    /// `SubscriptionConfirmation`: the subscription awaits confirmation.
    Confirmation,
    /// `UnsubscribeConfirmation`: the subscription was removed.
    Unsubscribe,
}

/// One successfully decoded unit of a body.
///
/// Handed by value to the sink, never stored in bulk: boxing the large variant would
/// cost an allocation per event on the hot path for no gain.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Decoded<'a> {
    /// A CloudTrail record.
    Event(Event<'a>),
    /// An SNS subscription message; its `SubscribeURL` is never read or fetched.
    Subscription {
        /// Which one.
        kind: SubscriptionKind,
        /// The topic it concerns.
        topic_arn: Option<Cow<'a, str>>,
        /// The confirmation token (for the SNS `ConfirmSubscription` API; never logged).
        token: Option<SubscriptionToken>,
    },
}

/// An SNS subscription token: confirms a subscription through the API. Its `Debug`
/// form hides it, so it never reaches a log.
#[derive(Clone, PartialEq, Eq)]
pub struct SubscriptionToken(pub String);

impl std::fmt::Debug for SubscriptionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SubscriptionToken(<redacted>)")
    }
}

/// What was wrong with a body or one of the records inside it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The body is larger than the limit.
    #[error("body of {size} bytes exceeds the {limit}-byte limit")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The body is empty or only white space.
    #[error("empty body")]
    Empty,
    /// Not valid UTF-8 (only from [`decode_bytes`]).
    #[error("body is not valid UTF-8 (first bad byte at offset {offset})")]
    InvalidUtf8 {
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
    /// Not JSON, truncated JSON, or a field of the wrong JSON type.
    #[error("invalid JSON in {context} at line {line} column {column}: {message}")]
    Json {
        /// Which layer failed (`body`, `SNS Message`, `EventBridge detail`, ...).
        context: &'static str,
        /// serde_json's description.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// Valid JSON, but no known shape.
    #[error("unrecognised message shape: {0}")]
    UnknownShape(String),
    /// An SNS message whose `Type` is not one SNS sends.
    #[error("unknown SNS message type `{0}`")]
    UnknownSnsType(String),
    /// An EventBridge event that does not carry a CloudTrail record.
    #[error("EventBridge event of detail-type `{0}` does not carry a CloudTrail record")]
    NotCloudTrail(String),
    /// A CloudTrail record without a required field, or with a bad timestamp.
    #[error("invalid CloudTrail record (eventID {event_id}): {defect}")]
    Record {
        /// The record's `eventID`, or `?` when it has none.
        event_id: String,
        /// What is wrong.
        defect: RecordDefectKind,
    },
    /// Envelopes nested deeper than [`MAX_DEPTH`].
    #[error("envelopes nested more than {MAX_DEPTH} deep")]
    TooDeep,
}

/// [`RecordDefect`] in an owned, comparable form for [`DecodeError::Record`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordDefectKind {
    /// A required field is absent.
    #[error("missing required field `{0}`")]
    Missing(&'static str),
    /// `eventTime` is not an RFC 3339 timestamp.
    #[error("`eventTime` is not an RFC 3339 timestamp")]
    BadTime,
}

impl From<RecordDefect> for RecordDefectKind {
    fn from(d: RecordDefect) -> Self {
        match d {
            RecordDefect::Missing(f) => RecordDefectKind::Missing(f),
            RecordDefect::BadTime => RecordDefectKind::BadTime,
        }
    }
}

impl DecodeError {
    /// A short, stable name for counting errors by kind.
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::TooLarge { .. } => "too_large",
            DecodeError::Empty => "empty",
            DecodeError::InvalidUtf8 { .. } => "invalid_utf8",
            DecodeError::Json { .. } => "invalid_json",
            DecodeError::UnknownShape(_) => "unknown_shape",
            DecodeError::UnknownSnsType(_) => "unknown_sns_type",
            DecodeError::NotCloudTrail(_) => "not_cloudtrail",
            DecodeError::Record { .. } => "invalid_record",
            DecodeError::TooDeep => "too_deep",
        }
    }

    fn json(context: &'static str, e: &serde_json::Error) -> Self {
        DecodeError::Json {
            context,
            // serde quotes offending values: keep the message bounded and content-light.
            message: truncate(&e.to_string()),
            line: e.line(),
            column: e.column(),
        }
    }
}

/// Decodes a queue message body given as bytes: checks UTF-8 first.
pub fn decode_bytes(body: &[u8], sink: &mut dyn FnMut(Result<Decoded<'_>, DecodeError>)) {
    match std::str::from_utf8(body) {
        Ok(text) => decode(text, sink),
        Err(e) => sink(Err(DecodeError::InvalidUtf8 {
            offset: e.valid_up_to(),
        })),
    }
}

/// Decodes a queue message body of at most [`MAX_BODY_BYTES`], calling `sink` once per
/// record, subscription message or error found in it.
pub fn decode(body: &str, sink: &mut dyn FnMut(Result<Decoded<'_>, DecodeError>)) {
    decode_with_limit(body, MAX_BODY_BYTES, sink)
}

/// [`decode`] with another size limit (replay of whole log files).
pub fn decode_with_limit(
    body: &str,
    limit: usize,
    sink: &mut dyn FnMut(Result<Decoded<'_>, DecodeError>),
) {
    if body.len() > limit {
        return sink(Err(DecodeError::TooLarge {
            size: body.len(),
            limit,
        }));
    }
    decode_text(body, "body", 0, sink)
}

fn decode_text(
    text: &str,
    context: &'static str,
    depth: u8,
    sink: &mut dyn FnMut(Result<Decoded<'_>, DecodeError>),
) {
    if depth > MAX_DEPTH {
        return sink(Err(DecodeError::TooDeep));
    }
    let trimmed = text.trim_ascii_start();
    match trimmed.as_bytes().first() {
        None => return sink(Err(DecodeError::Empty)),
        Some(b'{') => {}
        // serde would fill a struct from an array by position: accept objects only.
        Some(b'[') => {
            return sink(Err(DecodeError::UnknownShape(
                "a JSON array where an object was expected".into(),
            )))
        }
        Some(_) => {
            return match serde_json::from_str::<serde::de::IgnoredAny>(text) {
                Ok(_) => sink(Err(DecodeError::UnknownShape(
                    "a JSON scalar where an object was expected".into(),
                ))),
                Err(e) => sink(Err(DecodeError::json(context, &e))),
            }
        }
    }
    match serde_json::from_str::<Envelope<'_>>(text) {
        Ok(env) => decode_envelope(env, depth, sink),
        Err(e) => sink(Err(DecodeError::json(context, &e))),
    }
}

fn decode_envelope(
    env: Envelope<'_>,
    depth: u8,
    sink: &mut dyn FnMut(Result<Decoded<'_>, DecodeError>),
) {
    // SNS first: its `Type` is unambiguous.
    if let Some(kind) = env.sns_type.as_deref() {
        if env.sns_message.is_some() || env.topic_arn.is_some() {
            return match kind {
                "Notification" => match env.sns_message {
                    Some(m) => decode_text(&m, "SNS Message", depth + 1, sink),
                    None => sink(Err(DecodeError::UnknownShape(
                        "SNS Notification without a Message".into(),
                    ))),
                },
                "SubscriptionConfirmation" | "UnsubscribeConfirmation" => {
                    sink(Ok(Decoded::Subscription {
                        kind: if kind == "SubscriptionConfirmation" {
                            SubscriptionKind::Confirmation
                        } else {
                            SubscriptionKind::Unsubscribe
                        },
                        topic_arn: env.topic_arn,
                        token: env.sns_token.map(|t| SubscriptionToken(t.into_owned())),
                    }))
                }
                other => sink(Err(DecodeError::UnknownSnsType(truncate(other)))),
            };
        }
    }
    if let Some(detail_type) = env.detail_type.as_deref() {
        if !CLOUDTRAIL_DETAIL_TYPES.contains(&detail_type) {
            return sink(Err(DecodeError::NotCloudTrail(truncate(detail_type))));
        }
        return match env.detail {
            Some(detail) if detail.is_cloudtrail_record() => emit_record(*detail, sink),
            Some(_) => sink(Err(DecodeError::UnknownShape(
                "EventBridge detail is not a CloudTrail record".into(),
            ))),
            None => sink(Err(DecodeError::UnknownShape(
                "EventBridge event without detail".into(),
            ))),
        };
    }
    // A Lambda SQS record also has `eventSource` ("aws:sqs"): check bodies first.
    if let Some(body) = env.body.as_deref().or(env.sqs_body.as_deref()) {
        return decode_text(body, "SQS message body", depth + 1, sink);
    }
    // S3 event notifications have `eventVersion`, `eventName` and `eventTime` too.
    if env.s3.is_some() || env.event_source.as_deref() == Some("aws:s3") {
        return sink(Err(DecodeError::UnknownShape(describe(&env))));
    }
    if env.is_cloudtrail_record() {
        return emit_record(env, sink);
    }
    if let Some(items) = env.records.as_deref().or(env.messages.as_deref()) {
        return decode_items(items, depth, sink);
    }
    sink(Err(DecodeError::UnknownShape(describe(&env))))
}

fn decode_items(
    items: &[&RawValue],
    depth: u8,
    sink: &mut dyn FnMut(Result<Decoded<'_>, DecodeError>),
) {
    for item in items {
        decode_text(item.get(), "container element", depth + 1, sink);
    }
}

fn emit_record<'a>(env: Envelope<'a>, sink: &mut dyn FnMut(Result<Decoded<'a>, DecodeError>)) {
    let event_id = env.event_id.as_deref().unwrap_or("?").to_string();
    match env.into_event() {
        Ok(ev) => sink(Ok(Decoded::Event(ev))),
        Err(defect) => sink(Err(DecodeError::Record {
            event_id: truncate(&event_id),
            defect: defect.into(),
        })),
    }
}

/// Names the shape of an unrecognised envelope for the error message.
fn describe(env: &Envelope<'_>) -> String {
    if env.s3.is_some() || env.event_source.as_deref() == Some("aws:s3") {
        return "S3 event notification (log files are read by `processor replay`, not fetched)"
            .into();
    }
    if env.s3_bucket.is_some() {
        return "CloudTrail log-delivery notification (log files are read by `processor replay`, not fetched)"
            .into();
    }
    if env.sns_type.is_some() {
        return "object with `Type` but no SNS `Message` or `TopicArn`".into();
    }
    if env.event_name.is_some() || env.event_source.is_some() {
        return "CloudTrail-like object without `eventTime` or `eventVersion`/`eventID`".into();
    }
    "JSON value with none of the known envelope fields".into()
}

/// Keeps error messages bounded whatever the input.
fn truncate(s: &str) -> String {
    const MAX: usize = 120;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}
