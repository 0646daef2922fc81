//! `eventbridge:BUS_NAME_OR_ARN`: one EventBridge event per request, put with
//! `PutEvents`.
//!
//! ## Events
//! Every event has the source [`SOURCE`] (`cloudcoreo.processor`), the detail type
//! [`DETAIL_TYPE`] (`Rescan Request`) and the request's JSON as its detail, so a rule
//! selects rescans with `{"source": ["cloudcoreo.processor"], "detail-type":
//! ["Rescan Request"]}` and can match any field of the request under `detail`
//! (`{"detail": {"service": ["ec2"]}}`). No time is set: EventBridge stamps the call's.
//!
//! ## Sizes
//! An entry's size is counted as EventBridge documents it: the UTF-8 bytes of its
//! source, detail type and detail (no time or resources are sent). Requests are
//! grouped, in order, into calls of at most [`MAX_BATCH_ENTRIES`] entries and
//! [`MAX_BATCH_BYTES`] bytes (256 KiB); an entry larger than that alone fails as
//! [`ErrorKind::Permanent`] without being sent.
//!
//! ## Region
//! A bus given by ARN is reached in the ARN's region; a bus given by name in the
//! consumer's SDK region (the queue's, unless `AWS_REGION` says otherwise).
//!
//! ## Outcomes
//! `PutEvents` answers with one result per entry, in order. An entry with an event id
//! is accepted; one with an error code fails as [`ErrorKind::Transient`] for the codes
//! EventBridge documents as retryable (`InternalFailure`, `ThrottlingException`) and
//! for codes it does not document, and as [`ErrorKind::Permanent`] for the
//! non-retryable ones (`AccessDeniedException`, `InvalidAccountIdException`,
//! `InvalidArgument`, `MalformedDetail`, `RedactionFailure`,
//! `NotAuthorizedForSourceException`, `NotAuthorizedForDetailTypeException`) and a
//! missing bus (`ResourceNotFoundException`). An entry without any result is not
//! assumed accepted (transient). When the whole call fails, every entry fails: as
//! permanent for access denied, validation errors and a missing bus, else as transient.

use aws_sdk_eventbridge::error::SdkError;
use aws_sdk_eventbridge::operation::put_events::PutEventsError;
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, PutEventsResultEntry};
use futures::stream::{self, StreamExt};
use processor_core::RescanRequest;

use crate::batch::{self, code_and_message};
use crate::{ErrorKind, Sink, SinkError, SinkOptions};
use processor_core::arn::Arn;

/// The source of every event.
pub const SOURCE: &str = "cloudcoreo.processor";
/// The detail type of every event.
pub const DETAIL_TYPE: &str = "Rescan Request";
/// Most entries in one `PutEvents`.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// Most bytes of entries in one `PutEvents` (256 KiB), and so the largest entry sent.
pub const MAX_BATCH_BYTES: usize = 262_144;

/// Per-entry error codes EventBridge documents as not retryable, and a missing bus.
const PERMANENT_ENTRY_CODES: [&str; 8] = [
    "AccessDeniedException",
    "InvalidAccountIdException",
    "InvalidArgument",
    "MalformedDetail",
    "RedactionFailure",
    "NotAuthorizedForSourceException",
    "NotAuthorizedForDetailTypeException",
    "ResourceNotFoundException",
];

/// Whole-call error codes that cannot go away by themselves (besides access denied).
const PERMANENT_CALL_CODES: [&str; 2] = ["ValidationException", "ResourceNotFoundException"];

/// The size EventBridge counts for an entry whose detail is `detail_len` bytes.
pub fn entry_size(detail_len: usize) -> usize {
    SOURCE.len() + DETAIL_TYPE.len() + detail_len
}

/// Puts each request as one event on an EventBridge bus.
#[derive(Debug)]
pub struct EventBridgeSink {
    name: String,
    bus: String,
    client: aws_sdk_eventbridge::Client,
    max_in_flight: usize,
}

impl EventBridgeSink {
    /// A sink on the bus `bus` (a name or an ARN), with a client from `aws` (endpoint,
    /// credentials, HTTP client, retries and timeouts from there; the region from the
    /// ARN when one is given).
    pub fn new(bus: &str, aws: &aws_config::SdkConfig, options: &SinkOptions) -> EventBridgeSink {
        let mut config = aws_sdk_eventbridge::config::Builder::from(aws);
        if let Some(region) = Arn::parse(bus).map(|a| a.region).filter(|r| !r.is_empty()) {
            config = config.region(aws_sdk_eventbridge::config::Region::new(region.to_string()));
        }
        EventBridgeSink {
            name: format!("eventbridge:{bus}"),
            bus: bus.to_string(),
            client: aws_sdk_eventbridge::Client::from_conf(config.build()),
            max_in_flight: options.max_in_flight.max(1),
        }
    }

    /// The entry for one request whose JSON is `detail`.
    fn entry(&self, detail: String) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(DETAIL_TYPE)
            .detail(detail)
            .build()
    }

    /// Puts one batch of `(index into requests, detail)` pairs; returns the outcome of
    /// each index.
    async fn put_batch(&self, batch: Vec<(usize, String)>) -> Vec<(usize, Result<(), SinkError>)> {
        let indices: Vec<usize> = batch.iter().map(|(i, _)| *i).collect();
        let entries: Vec<PutEventsRequestEntry> =
            batch.into_iter().map(|(_, d)| self.entry(d)).collect();
        let sent = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await;
        let outcome = match sent {
            Ok(out) => Ok(map_response(&self.name, indices.len(), out.entries())),
            Err(e) => Err((
                classify_call_error(&e),
                batch::call_error_message("PutEvents", &e),
            )),
        };
        batch::settle_call("eventbridge", &self.name, "PutEvents", indices, outcome)
    }
}

#[async_trait::async_trait]
impl Sink for EventBridgeSink {
    fn kind(&self) -> &'static str {
        "eventbridge"
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&self, requests: &[RescanRequest]) -> Vec<Result<(), SinkError>> {
        let mut results: Vec<Result<(), SinkError>> = vec![Ok(()); requests.len()];
        let mut details: Vec<Option<String>> = vec![None; requests.len()];
        let mut sizes = Vec::with_capacity(requests.len());
        for (i, request) in requests.iter().enumerate() {
            match serde_json::to_string(request) {
                Ok(detail) if entry_size(detail.len()) > MAX_BATCH_BYTES => {
                    results[i] = Err(SinkError::permanent(
                        &self.name,
                        format!(
                            "event of {} bytes exceeds the EventBridge limit of {MAX_BATCH_BYTES}",
                            entry_size(detail.len())
                        ),
                    ));
                }
                Ok(detail) => {
                    sizes.push((i, entry_size(detail.len())));
                    details[i] = Some(detail);
                }
                Err(e) => {
                    results[i] = Err(SinkError::permanent(
                        &self.name,
                        format!("cannot encode: {e}"),
                    ));
                }
            }
        }
        let batches: Vec<Vec<(usize, String)>> =
            batch::plan(&sizes, MAX_BATCH_ENTRIES, MAX_BATCH_BYTES)
                .into_iter()
                .map(|b| {
                    b.into_iter()
                        .map(|i| (i, details[i].take().unwrap_or_default()))
                        .collect()
                })
                .collect();
        let outcomes: Vec<Vec<(usize, Result<(), SinkError>)>> = stream::iter(batches)
            .map(|b| self.put_batch(b))
            .buffered(self.max_in_flight)
            .collect()
            .await;
        for (i, r) in outcomes.into_iter().flatten() {
            results[i] = r;
        }
        results
    }
}

/// Maps `PutEvents` result entries (in request order) back to the `n` entries sent.
fn map_response(
    sink: &str,
    n: usize,
    entries: &[PutEventsResultEntry],
) -> Vec<Result<(), SinkError>> {
    (0..n)
        .map(|i| match entries.get(i) {
            Some(e) => match (e.error_code(), e.event_id()) {
                (Some(code), _) => {
                    let kind = if PERMANENT_ENTRY_CODES.contains(&code) {
                        ErrorKind::Permanent
                    } else {
                        ErrorKind::Transient
                    };
                    Err(SinkError::new(
                        sink,
                        kind,
                        code_and_message(code, e.error_message()),
                    ))
                }
                (None, Some(_)) => Ok(()),
                (None, None) => Err(SinkError::transient(
                    sink,
                    "PutEvents gave neither an event id nor an error for this entry",
                )),
            },
            None => Err(SinkError::transient(
                sink,
                "PutEvents gave no result for this entry",
            )),
        })
        .collect()
}

/// Whether a failed `PutEvents` call may succeed if retried later.
fn classify_call_error<R>(error: &SdkError<PutEventsError, R>) -> ErrorKind {
    batch::classify_by_code(error, &PERMANENT_CALL_CODES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_eventbridge::types::error::InternalException;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use crate::test_support::request;

    async fn sink(bus: &str) -> EventBridgeSink {
        let aws = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            .build();
        EventBridgeSink::new(bus, &aws, &SinkOptions::default())
    }

    #[tokio::test]
    async fn entries_carry_source_detail_type_bus_and_the_request() {
        let s = sink("rescans").await;
        assert_eq!(s.kind(), "eventbridge");
        assert_eq!(s.name(), "eventbridge:rescans");
        assert_eq!(
            s.client.config().region().map(|r| r.as_ref()),
            Some("eu-west-1")
        );
        let r = request("i-1", &["e1"]);
        let detail = serde_json::to_string(&r).unwrap();
        let e = s.entry(detail.clone());
        assert_eq!(e.source(), Some("cloudcoreo.processor"));
        assert_eq!(e.detail_type(), Some("Rescan Request"));
        assert_eq!(e.event_bus_name(), Some("rescans"));
        assert_eq!(e.detail(), Some(detail.as_str()));
        assert!(e.time().is_none());
        assert!(e.resources().is_empty());

        let by_arn = sink("arn:aws:events:ca-central-1:123456789012:event-bus/rescans").await;
        assert_eq!(
            by_arn.client.config().region().map(|r| r.as_ref()),
            Some("ca-central-1")
        );
    }

    #[test]
    fn entry_size_counts_source_detail_type_and_detail() {
        // "cloudcoreo.processor" (20) + "Rescan Request" (14).
        assert_eq!(entry_size(0), 34);
        assert_eq!(entry_size(100), 134);
    }

    #[tokio::test]
    async fn an_entry_over_the_limit_fails_permanently_before_any_call() {
        let s = sink("rescans").await;
        // Just over: the detail alone fits 256 KiB but not with source and type.
        let mut r = request("i", &["e1"]);
        let base = serde_json::to_string(&r).unwrap().len();
        let pad = MAX_BATCH_BYTES - base - entry_size(0) + 1;
        r.resource_id = Some(format!("i{}", "x".repeat(pad)));
        let len = serde_json::to_string(&r).unwrap().len();
        assert_eq!(entry_size(len), MAX_BATCH_BYTES + 1);
        let results = s.deliver(&[r]).await;
        let e = results[0].clone().unwrap_err();
        assert_eq!(e.kind, ErrorKind::Permanent);
        assert!(e.message.contains("exceeds the EventBridge limit"), "{e}");
    }

    #[test]
    fn batches_split_at_ten_entries_and_256_kib() {
        let sizes: Vec<(usize, usize)> = (0..12).map(|i| (i, entry_size(30_000))).collect();
        let plan = batch::plan(&sizes, MAX_BATCH_ENTRIES, MAX_BATCH_BYTES);
        // 30,034 bytes each: eight fit in 262,144, the ninth does not.
        assert_eq!(plan, vec![(0..8).collect::<Vec<_>>(), (8..12).collect()]);
        let small: Vec<(usize, usize)> = (0..21).map(|i| (i, entry_size(500))).collect();
        let plan = batch::plan(&small, MAX_BATCH_ENTRIES, MAX_BATCH_BYTES);
        assert_eq!(
            plan.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![10, 10, 1]
        );
    }

    fn ok(id: &str) -> PutEventsResultEntry {
        PutEventsResultEntry::builder().event_id(id).build()
    }

    fn failed(code: &str) -> PutEventsResultEntry {
        PutEventsResultEntry::builder()
            .error_code(code)
            .error_message("because")
            .build()
    }

    #[test]
    fn per_entry_results_map_in_order() {
        let entries = [
            ok("ev-0"),
            failed("ThrottlingException"),
            failed("MalformedDetail"),
            failed("InternalFailure"),
            failed("SomethingNew"),
            PutEventsResultEntry::builder().build(),
            failed("NotAuthorizedForSourceException"),
        ];
        let r = map_response("eventbridge:b", 8, &entries);
        assert_eq!(r[0], Ok(()));
        let kinds: Vec<ErrorKind> = r[1..]
            .iter()
            .map(|r| r.as_ref().unwrap_err().kind)
            .collect();
        use ErrorKind::{Permanent as P, Transient as T};
        assert_eq!(kinds, vec![T, P, T, T, T, P, T]);
        assert_eq!(
            r[2].as_ref().unwrap_err().message,
            "MalformedDetail: because"
        );
        assert_eq!(r[2].as_ref().unwrap_err().sink, "eventbridge:b");
        assert!(r[7].as_ref().unwrap_err().message.contains("no result"));
    }

    fn service_error(err: PutEventsError) -> SdkError<PutEventsError, Response> {
        SdkError::service_error(
            err,
            Response::new(StatusCode::try_from(400).unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn call_errors_are_classified_and_described() {
        let generic = |code: &str| {
            service_error(PutEventsError::generic(
                ErrorMetadata::builder()
                    .code(code)
                    .message("no way")
                    .build(),
            ))
        };
        for (code, kind) in [
            ("AccessDeniedException", ErrorKind::Permanent),
            ("ResourceNotFoundException", ErrorKind::Permanent),
            ("ValidationException", ErrorKind::Permanent),
            ("ThrottlingException", ErrorKind::Transient),
            ("ServiceUnavailable", ErrorKind::Transient),
        ] {
            let e = generic(code);
            assert_eq!(classify_call_error(&e), kind, "{code}");
            assert_eq!(
                batch::call_error_message("PutEvents", &e),
                format!("PutEvents: {code}: no way")
            );
        }
        let internal = service_error(PutEventsError::InternalException(
            InternalException::builder().build(),
        ));
        assert_eq!(classify_call_error(&internal), ErrorKind::Transient);
    }
}
