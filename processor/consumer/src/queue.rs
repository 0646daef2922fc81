//! The SQS side of the consumer: long-poll receive, batched deletes and visibility
//! changes (ten entries a call, per-entry failures reported), and [`Receipt`], the
//! token the engine keeps for each message in flight.

use std::time::Duration;

use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageSystemAttributeName,
};
use aws_sdk_sqs::Client;
use processor_core::coalesce::Millis;

/// Most entries SQS takes in one batch call.
pub const SQS_BATCH: usize = 10;

/// Longest visibility timeout SQS accepts, seconds.
pub const MAX_VISIBILITY_SECS: u64 = 43_200;

/// One received message, as the engine holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// SQS message id (for logs).
    pub message_id: String,
    /// The handle of this receive (needed to delete it or change its visibility).
    pub receipt_handle: String,
    /// `ApproximateReceiveCount`: 1 on the first receive.
    pub receive_count: u32,
    /// `SentTimestamp`, Unix milliseconds, when SQS reported it.
    pub sent_at_unix_ms: Option<u64>,
    /// When its visibility runs out, on the consumer's clock.
    pub visible_until: Millis,
}

/// A received message: its receipt and body.
#[derive(Debug, Clone)]
pub struct Received {
    /// The token.
    pub receipt: Receipt,
    /// The body (`None` when SQS sent none).
    pub body: Option<String>,
}

/// Why a queue call failed.
#[derive(Debug, thiserror::Error)]
#[error("{operation} on {queue}: {message}")]
pub struct QueueError {
    /// The SQS operation.
    pub operation: &'static str,
    /// The queue URL.
    pub queue: String,
    /// What went wrong (the SDK's error with its sources).
    pub message: String,
}

/// The region of an SQS queue URL (`https://sqs.us-east-1.amazonaws.com/...`).
pub fn region_from_url(url: &str) -> Option<String> {
    let host = url.split("://").nth(1)?.split('/').next()?;
    let mut parts = host.split('.');
    if parts.next()? != "sqs" {
        return None;
    }
    let region = parts.next()?;
    (!region.is_empty() && region.contains('-')).then(|| region.to_string())
}

fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// The central queue.
#[derive(Debug, Clone)]
pub struct Queue {
    client: Client,
    url: String,
}

impl Queue {
    /// The queue at `url`, reached with `client`.
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Queue {
            client,
            url: url.into(),
        }
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn err(&self, operation: &'static str, e: &(dyn std::error::Error + 'static)) -> QueueError {
        QueueError {
            operation,
            queue: self.url.clone(),
            message: error_text(e),
        }
    }

    /// Long-polls up to ten messages, hidden for `visibility`; `now` is the consumer's
    /// clock at the call, to date their visibility.
    pub async fn receive(
        &self,
        wait: Duration,
        visibility: Duration,
        now: Millis,
    ) -> Result<Vec<Received>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(SQS_BATCH as i32)
            .wait_time_seconds(wait.as_secs() as i32)
            .visibility_timeout(visibility.as_secs() as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|e| self.err("ReceiveMessage", &e))?;
        let visible_until = now.saturating_add(visibility.as_millis() as Millis);
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let attr = |name: MessageSystemAttributeName| {
                    m.attributes
                        .as_ref()
                        .and_then(|a| a.get(&name))
                        .and_then(|v| v.parse::<u64>().ok())
                };
                let receive_count =
                    attr(MessageSystemAttributeName::ApproximateReceiveCount).unwrap_or(1) as u32;
                let sent_at_unix_ms = attr(MessageSystemAttributeName::SentTimestamp);
                Some(Received {
                    receipt: Receipt {
                        message_id: m.message_id.clone().unwrap_or_default(),
                        receipt_handle: m.receipt_handle.clone()?,
                        receive_count,
                        sent_at_unix_ms,
                        visible_until,
                    },
                    body: m.body,
                })
            })
            .collect())
    }

    /// Deletes messages, ten per call; returns the ids of the messages whose delete
    /// failed (they will be received again and found done).
    pub async fn delete(&self, receipts: &[Receipt]) -> Vec<(String, String)> {
        let mut failed = Vec::new();
        for chunk in receipts.chunks(SQS_BATCH) {
            let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&r.receipt_handle)
                        .build()
                        .ok()
                })
                .collect();
            match self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(out) => {
                    for f in out.failed {
                        let id =
                            f.id.parse::<usize>()
                                .ok()
                                .and_then(|i| chunk.get(i))
                                .map(|r| r.message_id.clone())
                                .unwrap_or(f.id);
                        failed.push((id, format!("{}: {}", f.code, f.message.unwrap_or_default())));
                    }
                }
                Err(e) => {
                    let msg = self.err("DeleteMessageBatch", &e).to_string();
                    failed.extend(chunk.iter().map(|r| (r.message_id.clone(), msg.clone())));
                }
            }
        }
        failed
    }

    /// Sets the visibility of each message to its paired timeout (seconds from now),
    /// ten per call; returns the ids whose change failed.
    pub async fn change_visibility(&self, changes: &[(Receipt, u64)]) -> Vec<(String, String)> {
        let mut failed = Vec::new();
        for chunk in changes.chunks(SQS_BATCH) {
            let entries: Vec<ChangeMessageVisibilityBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, (r, secs))| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&r.receipt_handle)
                        .visibility_timeout((*secs).min(MAX_VISIBILITY_SECS) as i32)
                        .build()
                        .ok()
                })
                .collect();
            match self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(out) => {
                    for f in out.failed {
                        let id =
                            f.id.parse::<usize>()
                                .ok()
                                .and_then(|i| chunk.get(i))
                                .map(|(r, _)| r.message_id.clone())
                                .unwrap_or(f.id);
                        failed.push((id, format!("{}: {}", f.code, f.message.unwrap_or_default())));
                    }
                }
                Err(e) => {
                    let msg = self.err("ChangeMessageVisibilityBatch", &e).to_string();
                    failed.extend(
                        chunk
                            .iter()
                            .map(|(r, _)| (r.message_id.clone(), msg.clone())),
                    );
                }
            }
        }
        failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_of_queue_urls() {
        assert_eq!(
            region_from_url("https://sqs.eu-west-1.amazonaws.com/123456789012/q").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            region_from_url("http://127.0.0.1:4566/000000000000/q"),
            None
        );
        assert_eq!(region_from_url("not a url"), None);
    }
}
