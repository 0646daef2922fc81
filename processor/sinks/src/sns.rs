//! `sns:TOPIC_ARN`: one SNS message per request, published with `PublishBatch`.
//!
//! ## Messages
//! The message is the request's JSON (the same object as one NDJSON line), without a
//! subject or attributes; a subscriber with raw message delivery receives exactly that
//! text. Requests are grouped, in order, into batches of at most
//! [`MAX_BATCH_ENTRIES`] messages and [`MAX_BATCH_BYTES`] bytes of messages (SNS's
//! limit on a batch's total payload); a request whose message alone exceeds
//! [`MAX_BATCH_BYTES`] fails as [`ErrorKind::Permanent`] without being sent. The entry
//! id of a message is its index within its batch (`"0"` to `"9"`).
//!
//! ## Region
//! The client is the consumer's SDK configuration with the region set to the topic
//! ARN's, so a topic in another region than the queue is published to where it lives.
//!
//! ## Outcomes
//! A message in the response's `Successful` list is accepted. One in its `Failed`
//! list fails as [`ErrorKind::Permanent`] when SNS says the sender is at fault
//! (`SenderFault`), else as [`ErrorKind::Transient`]. When the whole call fails, every
//! message of the batch fails: as permanent for errors that cannot go away by
//! themselves (topic not found, authorization error, invalid parameters or security,
//! malformed batch, KMS key access denied, disabled, not found or in an invalid
//! state), else as transient (throttling, KMS throttling, internal errors, timeouts,
//! network, anything unknown). The SDK configuration's own retries apply before that.
//!
//! ## FIFO topics (ARN ending in `.fifo`)
//! Each message gets the same `MessageGroupId` and `MessageDeduplicationId` the `sqs:`
//! sink gives a FIFO queue ([`crate::sqs::message_group_id`],
//! [`crate::sqs::deduplication_id`]: one definition for both), so requests for one
//! resource stay in order and replicas that coalesced the same events publish one
//! message within SNS's 5-minute deduplication window. Batches to a FIFO topic are
//! published one at a time, to keep the order within a group.

use aws_sdk_sns::error::SdkError;
use aws_sdk_sns::operation::publish_batch::PublishBatchError;
use aws_sdk_sns::types::{BatchResultErrorEntry, PublishBatchRequestEntry};
use futures::stream::{self, StreamExt};
use processor_core::RescanRequest;

use crate::batch::{self, EntryFailure, ACCESS_DENIED_CODES};
use crate::sqs::{deduplication_id, message_group_id};
use crate::{ErrorKind, Sink, SinkError, SinkOptions};
use processor_core::arn::Arn;

/// Most messages in one `PublishBatch`.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// Most bytes of messages in one `PublishBatch` (256 KiB), and so the largest message
/// sent.
pub const MAX_BATCH_BYTES: usize = 262_144;

/// Publishes each request as one message to an SNS topic.
#[derive(Debug)]
pub struct SnsSink {
    name: String,
    topic_arn: String,
    client: aws_sdk_sns::Client,
    fifo: bool,
    max_in_flight: usize,
}

impl SnsSink {
    /// A sink on the topic `topic_arn`, with a client from `aws` (endpoint,
    /// credentials, HTTP client, retries and timeouts from there; the region from the
    /// ARN when it names one).
    pub fn new(topic_arn: &str, aws: &aws_config::SdkConfig, options: &SinkOptions) -> SnsSink {
        let mut config = aws_sdk_sns::config::Builder::from(aws);
        if let Some(region) = Arn::parse(topic_arn)
            .map(|a| a.region)
            .filter(|r| !r.is_empty())
        {
            config = config.region(aws_sdk_sns::config::Region::new(region.to_string()));
        }
        SnsSink {
            name: format!("sns:{topic_arn}"),
            topic_arn: topic_arn.to_string(),
            client: aws_sdk_sns::Client::from_conf(config.build()),
            fifo: is_fifo_topic(topic_arn),
            max_in_flight: options.max_in_flight.max(1),
        }
    }

    /// Whether the topic is a FIFO topic (its ARN ends in `.fifo`).
    pub fn is_fifo(&self) -> bool {
        self.fifo
    }

    /// The entry for `request`, entry id `id`, message `message`.
    fn entry(
        &self,
        id: usize,
        request: &RescanRequest,
        message: String,
    ) -> Result<PublishBatchRequestEntry, SinkError> {
        let mut entry = PublishBatchRequestEntry::builder()
            .id(id.to_string())
            .message(message);
        if self.fifo {
            entry = entry
                .message_group_id(message_group_id(request))
                .message_deduplication_id(deduplication_id(request));
        }
        entry
            .build()
            .map_err(|e| SinkError::permanent(&self.name, format!("cannot build the message: {e}")))
    }

    /// Publishes one batch of `(index into requests, message)` pairs; returns the
    /// outcome of each index.
    async fn publish_batch(
        &self,
        batch: Vec<(usize, String)>,
        requests: &[RescanRequest],
    ) -> Vec<(usize, Result<(), SinkError>)> {
        let indices: Vec<usize> = batch.iter().map(|(i, _)| *i).collect();
        let mut entries = Vec::with_capacity(batch.len());
        for (id, (i, message)) in batch.into_iter().enumerate() {
            match self.entry(id, &requests[i], message) {
                Ok(e) => entries.push(e),
                Err(e) => return indices.into_iter().map(|i| (i, Err(e.clone()))).collect(),
            }
        }
        let sent = self
            .client
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await;
        let outcome = match sent {
            Ok(out) => {
                let ids: Vec<&str> = out.successful().iter().filter_map(|s| s.id()).collect();
                Ok(map_response(&self.name, indices.len(), &ids, out.failed()))
            }
            Err(e) => Err((
                classify_call_error(&e),
                batch::call_error_message("PublishBatch", &e),
            )),
        };
        batch::settle_call("sns", &self.name, "PublishBatch", indices, outcome)
    }
}

#[async_trait::async_trait]
impl Sink for SnsSink {
    fn kind(&self) -> &'static str {
        "sns"
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&self, requests: &[RescanRequest]) -> Vec<Result<(), SinkError>> {
        let mut results: Vec<Result<(), SinkError>> = vec![Ok(()); requests.len()];
        let mut messages: Vec<Option<String>> = vec![None; requests.len()];
        let mut sizes = Vec::with_capacity(requests.len());
        for (i, request) in requests.iter().enumerate() {
            match serde_json::to_string(request) {
                Ok(message) if message.len() > MAX_BATCH_BYTES => {
                    results[i] = Err(SinkError::permanent(
                        &self.name,
                        format!(
                            "message of {} bytes exceeds the SNS limit of {MAX_BATCH_BYTES}",
                            message.len()
                        ),
                    ));
                }
                Ok(message) => {
                    sizes.push((i, message.len()));
                    messages[i] = Some(message);
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
                        .map(|i| (i, messages[i].take().unwrap_or_default()))
                        .collect()
                })
                .collect();
        let in_flight = if self.fifo { 1 } else { self.max_in_flight };
        let outcomes: Vec<Vec<(usize, Result<(), SinkError>)>> = stream::iter(batches)
            .map(|b| self.publish_batch(b, requests))
            .buffered(in_flight)
            .collect()
            .await;
        for (i, r) in outcomes.into_iter().flatten() {
            results[i] = r;
        }
        results
    }
}

/// Whether `topic_arn` names a FIFO topic (its name ends in `.fifo`).
pub fn is_fifo_topic(topic_arn: &str) -> bool {
    topic_arn.ends_with(".fifo")
}

/// Maps a `PublishBatch` response back to the `n` entries of the batch.
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
    batch::map_id_response(sink, "PublishBatch", n, successful, &failed)
}

/// Whether a failed `PublishBatch` call may succeed if retried later.
fn classify_call_error<R>(error: &SdkError<PublishBatchError, R>) -> ErrorKind {
    use aws_sdk_sns::error::ProvideErrorMetadata;
    match error {
        SdkError::ConstructionFailure(_) => ErrorKind::Permanent,
        SdkError::ServiceError(service) => match service.err() {
            PublishBatchError::NotFoundException(_)
            | PublishBatchError::AuthorizationErrorException(_)
            | PublishBatchError::InvalidParameterException(_)
            | PublishBatchError::InvalidParameterValueException(_)
            | PublishBatchError::InvalidSecurityException(_)
            | PublishBatchError::ValidationException(_)
            | PublishBatchError::BatchEntryIdsNotDistinctException(_)
            | PublishBatchError::BatchRequestTooLongException(_)
            | PublishBatchError::EmptyBatchRequestException(_)
            | PublishBatchError::InvalidBatchEntryIdException(_)
            | PublishBatchError::TooManyEntriesInBatchRequestException(_)
            | PublishBatchError::EndpointDisabledException(_)
            | PublishBatchError::PlatformApplicationDisabledException(_)
            | PublishBatchError::KmsAccessDeniedException(_)
            | PublishBatchError::KmsDisabledException(_)
            | PublishBatchError::KmsInvalidStateException(_)
            | PublishBatchError::KmsNotFoundException(_)
            | PublishBatchError::KmsOptInRequired(_) => ErrorKind::Permanent,
            other => match other.code() {
                Some(code) if ACCESS_DENIED_CODES.contains(&code) => ErrorKind::Permanent,
                _ => ErrorKind::Transient,
            },
        },
        _ => ErrorKind::Transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sns::operation::publish_batch::PublishBatchOutput;
    use aws_sdk_sns::types::error::{InternalErrorException, NotFoundException};
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    use crate::test_support::request;

    #[test]
    fn fifo_topics_are_recognised_by_their_arn() {
        assert!(is_fifo_topic(
            "arn:aws:sns:us-east-1:123456789012:rescans.fifo"
        ));
        assert!(!is_fifo_topic("arn:aws:sns:us-east-1:123456789012:rescans"));
        assert!(!is_fifo_topic("arn:aws:sns:us-east-1:123456789012:fifo"));
    }

    async fn sink(arn: &str) -> SnsSink {
        let aws = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            .build();
        SnsSink::new(arn, &aws, &SinkOptions::default())
    }

    #[tokio::test]
    async fn the_client_uses_the_topic_region_and_fifo_entries_carry_the_sqs_ids() {
        let s = sink("arn:aws:sns:ap-south-1:123456789012:rescans.fifo").await;
        assert_eq!(
            s.client.config().region().map(|r| r.as_ref()),
            Some("ap-south-1")
        );
        assert!(s.is_fifo());
        assert_eq!(
            s.name(),
            "sns:arn:aws:sns:ap-south-1:123456789012:rescans.fifo"
        );
        let r = request("i-1", &["e1", "e2"]);
        let e = s.entry(3, &r, "{}".into()).unwrap();
        assert_eq!(e.id(), "3");
        assert_eq!(e.message(), "{}");
        assert_eq!(e.message_group_id(), Some(message_group_id(&r).as_str()));
        assert_eq!(
            e.message_deduplication_id(),
            Some(deduplication_id(&r).as_str())
        );

        let standard = sink("arn:aws:sns:eu-west-1:123456789012:rescans").await;
        assert!(!standard.is_fifo());
        let e = standard.entry(0, &r, "{}".into()).unwrap();
        assert_eq!(e.message_group_id(), None);
        assert_eq!(e.message_deduplication_id(), None);
    }

    #[tokio::test]
    async fn oversized_messages_fail_permanently_before_any_call() {
        // No endpoint would answer: only requests refused before sending are checked.
        let s = sink("arn:aws:sns:eu-west-1:123456789012:rescans").await;
        let big = request(&"x".repeat(MAX_BATCH_BYTES), &["e1"]);
        let results = s.deliver(&[big]).await;
        let e = results[0].clone().unwrap_err();
        assert_eq!(e.kind, ErrorKind::Permanent);
        assert!(e.message.contains("exceeds the SNS limit"), "{e}");
    }

    fn failure(id: &str, sender_fault: bool) -> BatchResultErrorEntry {
        BatchResultErrorEntry::builder()
            .id(id)
            .code(if sender_fault {
                "InvalidParameter"
            } else {
                "InternalError"
            })
            .message("because")
            .sender_fault(sender_fault)
            .build()
            .unwrap()
    }

    #[test]
    fn responses_map_back_to_their_entries() {
        let r = map_response(
            "sns:t",
            4,
            &["3", "0"],
            &[failure("2", true), failure("1", false)],
        );
        assert_eq!(r[0], Ok(()));
        assert_eq!(r[3], Ok(()));
        let e1 = r[1].clone().unwrap_err();
        assert_eq!(e1.kind, ErrorKind::Transient);
        assert_eq!(e1.message, "InternalError: because");
        let e2 = r[2].clone().unwrap_err();
        assert_eq!(e2.kind, ErrorKind::Permanent);
        assert_eq!(e2.message, "InvalidParameter: because");
        // An output without the entries says nothing about them.
        let out = PublishBatchOutput::builder().build();
        let r = map_response("sns:t", 2, &[], out.failed());
        assert!(r.iter().all(|r| r.as_ref().unwrap_err().is_transient()));
    }

    fn service_error(err: PublishBatchError) -> SdkError<PublishBatchError, Response> {
        SdkError::service_error(
            err,
            Response::new(StatusCode::try_from(400).unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn call_errors_are_classified() {
        let missing = service_error(PublishBatchError::NotFoundException(
            NotFoundException::builder()
                .message("Topic does not exist")
                .build(),
        ));
        assert_eq!(classify_call_error(&missing), ErrorKind::Permanent);
        let internal = service_error(PublishBatchError::InternalErrorException(
            InternalErrorException::builder().build(),
        ));
        assert_eq!(classify_call_error(&internal), ErrorKind::Transient);
        let timeout: SdkError<PublishBatchError, Response> =
            SdkError::timeout_error("slow".to_string());
        assert_eq!(classify_call_error(&timeout), ErrorKind::Transient);
    }
}
