//! `sqs:QUEUE_URL`: one SQS message per request, sent with `SendMessageBatch`.
//!
//! ## Messages
//! The body is the request's JSON (the same object as one NDJSON line). Requests are
//! grouped, in order, into batches of at most [`MAX_BATCH_ENTRIES`] messages and
//! [`MAX_BATCH_BYTES`] bytes of bodies; a request whose body alone exceeds
//! [`MAX_BATCH_BYTES`] fails as [`ErrorKind::Permanent`] without being sent. The entry
//! id of a message is its index within its batch (`"0"` to `"9"`).
//!
//! ## Outcomes
//! A message in the response's `Successful` list is accepted. One in its `Failed`
//! list fails as [`ErrorKind::Permanent`] when SQS says the sender is at fault
//! (`SenderFault`), else as [`ErrorKind::Transient`]. When the whole call fails, every
//! message of the batch fails: as permanent for errors that cannot go away by
//! themselves (queue missing, access denied, invalid address or security, malformed
//! batch, KMS key not found, unusable or access denied), else as transient (throttling,
//! timeouts, network, 5xx, anything unknown). The SDK configuration's own retries
//! apply before that.
//!
//! ## Standard queues
//! `DelaySeconds` is the number of seconds from now until the request's `not_before`,
//! clamped to `0..=900` ([`delay_seconds`]); it is set only when positive, so a queue's
//! default delay still applies to requests that are already due.
//!
//! ## FIFO queues (URL ending in `.fifo`)
//! FIFO queues refuse per-message delays, so `not_before` is left to the reader. The
//! ids are derived from the request alone, so consumer replicas that coalesced the
//! same events send the same ids:
//! - **`MessageGroupId`** ([`message_group_id`]): the request's *resource key*, so
//!   requests for one resource stay in order while different resources are read in
//!   parallel. The key is the ARN for `scope: resource` (or
//!   `resource|ACCOUNT|REGION|RESOURCE_TYPE|RESOURCE_ID` when the ARN is missing), and
//!   `service|ACCOUNT|REGION|SERVICE` for `scope: service`. A key longer than 128
//!   characters, or with a character outside printable ASCII (the alphanumerics and
//!   punctuation SQS allows), is replaced by `sha256:` and the lowercase hex SHA-256 of
//!   the key (71 characters).
//! - **`MessageDeduplicationId`** ([`deduplication_id`]): the lowercase hex SHA-256
//!   (64 characters) of the resource key, the action (`update`/`delete`) and the
//!   request's event ids sorted, each followed by a newline. Two sends of the same
//!   rescan within SQS's 5-minute deduplication window deliver one message.
//!
//! Batches to a FIFO queue are sent one at a time, to keep the order within a group.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchError;
use aws_sdk_sqs::types::{BatchResultErrorEntry, SendMessageBatchRequestEntry};
use futures::stream::{self, StreamExt};
use processor_core::{Action, RescanRequest, Scope};
use sha2::{Digest, Sha256};

use crate::batch::{self, EntryFailure};
use crate::spec::redact_url;
use crate::{ErrorKind, Sink, SinkError, SinkOptions};

/// Most messages in one `SendMessageBatch`.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// Most bytes of message bodies in one `SendMessageBatch` (256 KiB), and so the
/// largest body sent.
pub const MAX_BATCH_BYTES: usize = 262_144;
/// Longest per-message delay SQS accepts, in seconds (15 minutes).
pub const MAX_DELAY_SECONDS: i64 = 900;
/// Longest `MessageGroupId` SQS accepts.
pub const MAX_GROUP_ID_LEN: usize = 128;

/// Sends each request as one message to an SQS queue.
#[derive(Debug)]
pub struct SqsSink {
    name: String,
    queue_url: String,
    client: aws_sdk_sqs::Client,
    fifo: bool,
    max_in_flight: usize,
}

impl SqsSink {
    /// A sink on the queue at `queue_url`, with a client from `aws` (endpoint,
    /// credentials, region, HTTP client, retries and timeouts all come from there).
    pub fn new(queue_url: &str, aws: &aws_config::SdkConfig, options: &SinkOptions) -> SqsSink {
        SqsSink {
            name: format!("sqs:{}", redact_url(queue_url)),
            queue_url: queue_url.to_string(),
            client: aws_sdk_sqs::Client::new(aws),
            fifo: is_fifo_queue(queue_url),
            max_in_flight: options.max_in_flight.max(1),
        }
    }

    /// Whether the queue is a FIFO queue (its URL ends in `.fifo`).
    pub fn is_fifo(&self) -> bool {
        self.fifo
    }

    /// The message for `request`, entry id `id`, body `body`.
    fn entry(
        &self,
        id: usize,
        request: &RescanRequest,
        body: String,
        now: i64,
    ) -> Result<SendMessageBatchRequestEntry, SinkError> {
        let mut entry = SendMessageBatchRequestEntry::builder()
            .id(id.to_string())
            .message_body(body);
        if self.fifo {
            entry = entry
                .message_group_id(message_group_id(request))
                .message_deduplication_id(deduplication_id(request));
        } else if let Some(delay) = delay_seconds(&request.not_before, now) {
            entry = entry.delay_seconds(delay);
        }
        entry
            .build()
            .map_err(|e| SinkError::permanent(&self.name, format!("cannot build the message: {e}")))
    }

    /// Sends one batch of `(index into requests, body)` pairs; returns the outcome of
    /// each index.
    async fn send_batch(
        &self,
        batch: Vec<(usize, String)>,
        requests: &[RescanRequest],
        now: i64,
    ) -> Vec<(usize, Result<(), SinkError>)> {
        let indices: Vec<usize> = batch.iter().map(|(i, _)| *i).collect();
        let mut entries = Vec::with_capacity(batch.len());
        for (id, (i, body)) in batch.into_iter().enumerate() {
            match self.entry(id, &requests[i], body, now) {
                Ok(e) => entries.push(e),
                Err(e) => return indices.into_iter().map(|i| (i, Err(e.clone()))).collect(),
            }
        }
        let sent = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await;
        let outcome = match sent {
            Ok(out) => {
                let ids: Vec<&str> = out.successful().iter().map(|s| s.id()).collect();
                Ok(map_response(&self.name, indices.len(), &ids, out.failed()))
            }
            Err(e) => Err((
                classify_call_error(&e),
                batch::call_error_message("SendMessageBatch", &e),
            )),
        };
        batch::settle_call("sqs", &self.name, "SendMessageBatch", indices, outcome)
    }
}

#[async_trait::async_trait]
impl Sink for SqsSink {
    fn kind(&self) -> &'static str {
        "sqs"
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&self, requests: &[RescanRequest]) -> Vec<Result<(), SinkError>> {
        let now = unix_now();
        let mut results: Vec<Result<(), SinkError>> = vec![Ok(()); requests.len()];
        let mut bodies: Vec<Option<String>> = vec![None; requests.len()];
        let mut sizes = Vec::with_capacity(requests.len());
        for (i, request) in requests.iter().enumerate() {
            match serde_json::to_string(request) {
                Ok(body) if body.len() > MAX_BATCH_BYTES => {
                    results[i] = Err(SinkError::permanent(
                        &self.name,
                        format!(
                            "message body of {} bytes exceeds the SQS limit of {MAX_BATCH_BYTES}",
                            body.len()
                        ),
                    ));
                }
                Ok(body) => {
                    sizes.push((i, body.len()));
                    bodies[i] = Some(body);
                }
                Err(e) => {
                    results[i] = Err(SinkError::permanent(
                        &self.name,
                        format!("cannot encode: {e}"),
                    ));
                }
            }
        }
        let batches: Vec<Vec<(usize, String)>> = plan_batches(&sizes)
            .into_iter()
            .map(|batch| {
                batch
                    .into_iter()
                    .map(|i| (i, bodies[i].take().unwrap_or_default()))
                    .collect()
            })
            .collect();
        let in_flight = if self.fifo { 1 } else { self.max_in_flight };
        let outcomes: Vec<Vec<(usize, Result<(), SinkError>)>> = stream::iter(batches)
            .map(|batch| self.send_batch(batch, requests, now))
            .buffered(in_flight)
            .collect()
            .await;
        for (i, r) in outcomes.into_iter().flatten() {
            results[i] = r;
        }
        results
    }
}

/// Whether `queue_url` names a FIFO queue (its path ends in `.fifo`).
pub fn is_fifo_queue(queue_url: &str) -> bool {
    let path = queue_url.split(['?', '#']).next().unwrap_or_default();
    path.trim_end_matches('/').ends_with(".fifo")
}

/// Seconds from `now` (Unix seconds) until `not_before` (RFC 3339), clamped to
/// `0..=900`; `None` when that is zero or `not_before` does not parse.
pub fn delay_seconds(not_before: &str, now: i64) -> Option<i32> {
    let at = processor_core::time::parse_rfc3339(not_before)?;
    let delay = at.saturating_sub(now).clamp(0, MAX_DELAY_SECONDS);
    // Within 0..=900, so it fits.
    (delay > 0).then_some(delay as i32)
}

/// The stable key of the resource a request is about (see the module documentation).
pub fn resource_key(request: &RescanRequest) -> String {
    match (request.scope, &request.arn) {
        (Scope::Resource, Some(arn)) => arn.clone(),
        (Scope::Resource, None) => format!(
            "resource|{}|{}|{}|{}",
            request.account,
            request.region,
            request.resource_type.as_deref().unwrap_or_default(),
            request.resource_id.as_deref().unwrap_or_default()
        ),
        (Scope::Service, _) => format!(
            "service|{}|{}|{}",
            request.account, request.region, request.service
        ),
    }
}

/// The FIFO `MessageGroupId` of a request: its resource key, or `sha256:` and the
/// key's hex digest when the key is too long or holds characters SQS refuses.
pub fn message_group_id(request: &RescanRequest) -> String {
    let key = resource_key(request);
    if !key.is_empty() && key.len() <= MAX_GROUP_ID_LEN && key.bytes().all(|b| b.is_ascii_graphic())
    {
        key
    } else {
        format!("sha256:{}", sha256_hex(key.as_bytes()))
    }
}

/// The FIFO `MessageDeduplicationId` of a request: the hex SHA-256 of its resource
/// key, action and sorted event ids.
pub fn deduplication_id(request: &RescanRequest) -> String {
    let mut ids: Vec<&str> = request.events.iter().map(|e| e.event_id.as_str()).collect();
    ids.sort_unstable();
    let action = match request.action {
        Action::Update => "update",
        Action::Delete => "delete",
    };
    let mut text = resource_key(request);
    text.push('\n');
    text.push_str(action);
    text.push('\n');
    for id in ids {
        text.push_str(id);
        text.push('\n');
    }
    sha256_hex(text.as_bytes())
}

fn sha256_hex(data: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(data);
    let mut s = String::with_capacity(digest.len() * 2);
    for b in digest.iter() {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Groups `(index, body size)` pairs, in order, into batches of at most
/// [`MAX_BATCH_ENTRIES`] entries and [`MAX_BATCH_BYTES`] bytes. Every size must be at
/// most [`MAX_BATCH_BYTES`].
pub(crate) fn plan_batches(sizes: &[(usize, usize)]) -> Vec<Vec<usize>> {
    batch::plan(sizes, MAX_BATCH_ENTRIES, MAX_BATCH_BYTES)
}

/// Maps a `SendMessageBatch` response back to the `n` entries of the batch (entry id
/// = index in the batch).
fn map_response(
    sink: &str,
    n: usize,
    successful: &[&str],
    failed: &[BatchResultErrorEntry],
) -> Vec<Result<(), SinkError>> {
    let failed: Vec<EntryFailure<'_>> = failed
        .iter()
        .map(|f| EntryFailure {
            id: f.id(),
            code: f.code(),
            message: f.message(),
            sender_fault: f.sender_fault(),
        })
        .collect();
    batch::map_id_response(sink, "SendMessageBatch", n, successful, &failed)
}

/// Whether a failed `SendMessageBatch` call may succeed if retried later.
fn classify_call_error<R>(error: &SdkError<SendMessageBatchError, R>) -> ErrorKind {
    match error {
        SdkError::ConstructionFailure(_) => ErrorKind::Permanent,
        SdkError::ServiceError(service) => match service.err() {
            SendMessageBatchError::QueueDoesNotExist(_)
            | SendMessageBatchError::InvalidAddress(_)
            | SendMessageBatchError::InvalidSecurity(_)
            | SendMessageBatchError::UnsupportedOperation(_)
            | SendMessageBatchError::BatchRequestTooLong(_)
            | SendMessageBatchError::TooManyEntriesInBatchRequest(_)
            | SendMessageBatchError::BatchEntryIdsNotDistinct(_)
            | SendMessageBatchError::EmptyBatchRequest(_)
            | SendMessageBatchError::InvalidBatchEntryId(_)
            | SendMessageBatchError::KmsAccessDenied(_)
            | SendMessageBatchError::KmsInvalidKeyUsage(_)
            | SendMessageBatchError::KmsNotFound(_)
            | SendMessageBatchError::KmsOptInRequired(_) => ErrorKind::Permanent,
            other => match other.code() {
                Some(
                    "AccessDenied"
                    | "AccessDeniedException"
                    | "AWS.SimpleQueueService.NonExistentQueue",
                ) => ErrorKind::Permanent,
                _ => ErrorKind::Transient,
            },
        },
        _ => ErrorKind::Transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::request;
    use processor_core::time::parse_rfc3339;

    #[test]
    fn batches_hold_at_most_ten_entries() {
        let sizes: Vec<(usize, usize)> = (0..25).map(|i| (i, 100)).collect();
        let batches = plan_batches(&sizes);
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![10, 10, 5]
        );
        assert_eq!(batches.concat(), (0..25).collect::<Vec<_>>());
        assert!(plan_batches(&[]).is_empty());
    }

    #[test]
    fn batches_hold_at_most_256_kib() {
        // 100 KiB each: two fit (200 KiB), a third would not.
        let sizes: Vec<(usize, usize)> = (0..5).map(|i| (i, 100 * 1024)).collect();
        assert_eq!(plan_batches(&sizes), vec![vec![0, 1], vec![2, 3], vec![4]]);
        // Exactly the limit fits; one byte more does not.
        let exact = [(0, MAX_BATCH_BYTES - 10), (1, 10), (2, 1)];
        assert_eq!(plan_batches(&exact), vec![vec![0, 1], vec![2]]);
        let over = [(0, MAX_BATCH_BYTES - 10), (1, 11)];
        assert_eq!(plan_batches(&over), vec![vec![0], vec![1]]);
        // A body of the full limit goes alone; indices are kept, gaps and all.
        let sparse = [(3, 10), (7, MAX_BATCH_BYTES), (9, 10)];
        assert_eq!(plan_batches(&sparse), vec![vec![3], vec![7], vec![9]]);
        // Every batch respects both limits on a mixed input.
        let mixed: Vec<(usize, usize)> = (0..200).map(|i| (i, (i * 7919) % 90_000 + 1)).collect();
        let batches = plan_batches(&mixed);
        assert_eq!(batches.concat(), (0..200).collect::<Vec<_>>());
        for b in &batches {
            assert!(b.len() <= MAX_BATCH_ENTRIES);
            assert!(b.iter().map(|&i| mixed[i].1).sum::<usize>() <= MAX_BATCH_BYTES);
        }
    }

    #[test]
    fn delay_is_the_time_left_clamped_to_fifteen_minutes() {
        let now = parse_rfc3339("2023-07-10T11:42:36Z").unwrap();
        assert_eq!(delay_seconds("2023-07-10T11:43:36Z", now), Some(60));
        assert_eq!(delay_seconds("2023-07-10T11:42:37Z", now), Some(1));
        assert_eq!(delay_seconds("2023-07-10T11:42:36Z", now), None);
        assert_eq!(delay_seconds("2023-07-10T11:00:00Z", now), None);
        assert_eq!(delay_seconds("2023-07-10T11:57:36Z", now), Some(900));
        assert_eq!(delay_seconds("2023-07-10T13:00:00Z", now), Some(900));
        assert_eq!(delay_seconds("2023-07-10T12:42:36+01:00", now), None);
        assert_eq!(delay_seconds("not a time", now), None);
    }

    #[test]
    fn fifo_queues_are_recognised_by_their_url() {
        assert!(is_fifo_queue(
            "https://sqs.us-east-1.amazonaws.com/1/q.fifo"
        ));
        assert!(is_fifo_queue("http://localhost:4566/000000000000/q.fifo/"));
        assert!(!is_fifo_queue("https://sqs.us-east-1.amazonaws.com/1/q"));
        assert!(!is_fifo_queue("https://sqs.us-east-1.amazonaws.com/1/fifo"));
    }

    fn service_request(account: &str, service: &str) -> RescanRequest {
        let mut r = request("x", &["e1"]);
        r.scope = Scope::Service;
        r.arn = None;
        r.resource_id = None;
        r.resource_type = None;
        r.account = account.into();
        r.service = service.into();
        r
    }

    fn allowed_group_id(id: &str) -> bool {
        !id.is_empty() && id.len() <= MAX_GROUP_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic())
    }

    #[test]
    fn group_ids_are_stable_per_resource_and_within_limits() {
        let a = request("i-1", &["e1"]);
        let a_later = request("i-1", &["e7", "e8"]);
        let b = request("i-2", &["e1"]);
        assert_eq!(
            message_group_id(&a),
            "arn:aws:ec2:us-east-1:123456789012:instance/i-1"
        );
        assert_eq!(message_group_id(&a), message_group_id(&a_later));
        assert_ne!(message_group_id(&a), message_group_id(&b));

        let s = service_request("123456789012", "ec2");
        assert_eq!(message_group_id(&s), "service|123456789012|us-east-1|ec2");
        assert_ne!(
            message_group_id(&s),
            message_group_id(&service_request("123456789012", "s3"))
        );

        // Too long or with characters SQS refuses: hashed, stable, distinct.
        let long_id = "x".repeat(200);
        let long = request(&long_id, &["e1"]);
        let long2 = request(&format!("{long_id}y"), &["e1"]);
        let spaced = request("has space", &["e1"]);
        for r in [&a, &b, &s, &long, &long2, &spaced] {
            let id = message_group_id(r);
            assert!(allowed_group_id(&id), "{id}");
        }
        assert!(message_group_id(&long).starts_with("sha256:"));
        assert_eq!(message_group_id(&long).len(), 7 + 64);
        assert_eq!(message_group_id(&long), message_group_id(&long.clone()));
        assert_ne!(message_group_id(&long), message_group_id(&long2));
        assert!(message_group_id(&spaced).starts_with("sha256:"));
        // A resource request without an ARN still gets a per-resource key.
        let mut no_arn = request("i-3", &["e1"]);
        no_arn.arn = None;
        assert_eq!(
            message_group_id(&no_arn),
            "resource|123456789012|us-east-1|ec2:instance|i-3"
        );
    }

    #[test]
    fn dedup_ids_depend_on_resource_action_and_the_set_of_events() {
        let a = request("i-1", &["e1", "e2"]);
        let id = deduplication_id(&a);
        assert_eq!(id.len(), 64);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        // Known value: SHA-256 of the documented text.
        assert_eq!(
            id,
            sha256_hex(b"arn:aws:ec2:us-east-1:123456789012:instance/i-1\nupdate\ne1\ne2\n")
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // Same input, same id; event order does not matter; other fields do not count.
        assert_eq!(id, deduplication_id(&a.clone()));
        let mut reordered = request("i-1", &["e2", "e1"]);
        reordered.not_before = "2030-01-01T00:00:00Z".into();
        assert_eq!(id, deduplication_id(&reordered));
        // Different resource, action or events: different ids.
        assert_ne!(id, deduplication_id(&request("i-2", &["e1", "e2"])));
        assert_ne!(id, deduplication_id(&request("i-1", &["e1"])));
        assert_ne!(id, deduplication_id(&request("i-1", &["e1", "e2", "e3"])));
        let mut deleted = a.clone();
        deleted.action = Action::Delete;
        assert_ne!(id, deduplication_id(&deleted));
        assert_ne!(
            deduplication_id(&service_request("1", "ec2")),
            deduplication_id(&service_request("2", "ec2"))
        );
    }

    fn failure(id: &str, sender_fault: bool) -> BatchResultErrorEntry {
        BatchResultErrorEntry::builder()
            .id(id)
            .sender_fault(sender_fault)
            .code(if sender_fault {
                "InvalidParameterValue"
            } else {
                "InternalError"
            })
            .message("because")
            .build()
            .unwrap()
    }

    #[test]
    fn responses_map_back_to_their_entries() {
        let results = map_response(
            "sqs:q",
            4,
            &["0", "3"],
            &[failure("1", true), failure("2", false)],
        );
        assert_eq!(results[0], Ok(()));
        let e1 = results[1].clone().unwrap_err();
        assert_eq!(e1.kind, ErrorKind::Permanent);
        assert_eq!(e1.message, "InvalidParameterValue: because");
        assert_eq!(e1.sink, "sqs:q");
        assert_eq!(results[2].clone().unwrap_err().kind, ErrorKind::Transient);
        assert_eq!(results[3], Ok(()));

        // An entry the response does not mention is not assumed accepted.
        let results = map_response("sqs:q", 3, &["0", "7", "x"], &[]);
        assert_eq!(results[0], Ok(()));
        assert_eq!(results[1].clone().unwrap_err().kind, ErrorKind::Transient);
        assert_eq!(results[2].clone().unwrap_err().kind, ErrorKind::Transient);
    }
}
