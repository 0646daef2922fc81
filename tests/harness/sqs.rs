//! Queues for the consumer tests: a queue with a dead-letter queue, sending many bodies
//! fast (batches of 10, several at once, failed entries resent), counting what a queue
//! holds, and draining one.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{
    MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;

/// A queue and its dead-letter queue.
#[derive(Debug, Clone)]
pub struct QueuePair {
    /// The queue's URL.
    pub url: String,
    /// The dead-letter queue's URL.
    pub dlq_url: String,
}

/// Creates `NAME-dlq` and `NAME`, whose redrive policy moves a message to the former
/// after `max_receive` receives; `NAME` has the given visibility timeout.
pub async fn queue_with_dlq(
    sqs: &Client,
    name: &str,
    visibility_secs: u32,
    max_receive: u32,
) -> QueuePair {
    let dlq_url = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .expect("create dead-letter queue")
        .queue_url
        .expect("dead-letter queue URL");
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("dead-letter queue ARN")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("QueueArn attribute");
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": max_receive.to_string(),
    })
    .to_string();
    let url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_secs.to_string(),
        )
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue URL");
    QueuePair { url, dlq_url }
}

/// Sends every body to `url` with `SendMessageBatch` (10 a call, `concurrency` calls
/// at once); entries a call reports failed are sent again (at most 5 rounds).
pub async fn send_all(sqs: &Client, url: &str, bodies: &[String], concurrency: usize) {
    let chunks: Vec<Vec<String>> = bodies.chunks(10).map(|c| c.to_vec()).collect();
    let queue = std::sync::Arc::new(tokio::sync::Mutex::new(chunks.into_iter()));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let queue = queue.clone();
        let sqs = sqs.clone();
        let url = url.to_string();
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(chunk) = queue.lock().await.next() else {
                    return;
                };
                send_batch(&sqs, &url, chunk).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("sender task");
    }
}

async fn send_batch(sqs: &Client, url: &str, bodies: Vec<String>) {
    let mut pending: Vec<(String, String)> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, b)| (i.to_string(), b))
        .collect();
    for _ in 0..5 {
        let entries: Vec<SendMessageBatchRequestEntry> = pending
            .iter()
            .map(|(id, body)| {
                SendMessageBatchRequestEntry::builder()
                    .id(id)
                    .message_body(body)
                    .build()
                    .expect("batch entry")
            })
            .collect();
        let out = sqs
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .expect("SendMessageBatch");
        let failed: Vec<String> = out.failed.iter().map(|f| f.id.clone()).collect();
        if failed.is_empty() {
            return;
        }
        pending.retain(|(id, _)| failed.contains(id));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "SendMessageBatch: {} entries still failing after 5 rounds",
        pending.len()
    );
}

/// What a queue holds: visible, in flight (received, not deleted, not yet visible
/// again) and delayed messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// `ApproximateNumberOfMessages`.
    pub visible: u64,
    /// `ApproximateNumberOfMessagesNotVisible`.
    pub in_flight: u64,
    /// `ApproximateNumberOfMessagesDelayed`.
    pub delayed: u64,
}

impl Counts {
    /// Every message the queue still holds.
    pub fn total(&self) -> u64 {
        self.visible + self.in_flight + self.delayed
    }
}

/// The queue's counts.
pub async fn counts(sqs: &Client, url: &str) -> Counts {
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .expect("GetQueueAttributes")
        .attributes
        .unwrap_or_default();
    let get = |k: QueueAttributeName| -> u64 {
        attrs
            .get(&k)
            .map(|v| v.parse().expect("a count"))
            .unwrap_or(0)
    };
    Counts {
        visible: get(QueueAttributeName::ApproximateNumberOfMessages),
        in_flight: get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        delayed: get(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
    }
}

/// The queue's counts, read up to 10 times 100 ms apart until their total is `want`;
/// the last read otherwise. While a consumer receives, LocalStack counts the messages a
/// receive in progress has taken but not yet returned neither as visible nor as in
/// flight, so a single read can come out short although nothing was deleted. A deleted
/// message never comes back: one read of `want` shows that none was.
pub async fn counts_reaching(sqs: &Client, url: &str, want: u64) -> Counts {
    let mut c = counts(sqs, url).await;
    for _ in 0..9 {
        if c.total() == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        c = counts(sqs, url).await;
    }
    c
}

/// Waits until the queue shows at least `n` visible messages; the counts seen last.
pub async fn wait_visible(sqs: &Client, url: &str, n: u64, limit: Duration) -> Counts {
    let deadline = Instant::now() + limit;
    loop {
        let c = counts(sqs, url).await;
        if c.visible >= n || Instant::now() >= deadline {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A message read back: its body and how many times it had been received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The body.
    pub body: String,
    /// `ApproximateReceiveCount` (this receive included).
    pub receive_count: u32,
}

/// Receives and deletes messages until `expected` were read or `limit` passed; what
/// was read (possibly more than `expected`).
pub async fn drain(sqs: &Client, url: &str, expected: usize, limit: Duration) -> Vec<Received> {
    let deadline = Instant::now() + limit;
    let mut got: HashMap<String, Received> = HashMap::new();
    while got.len() < expected && Instant::now() < deadline {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(30)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .expect("ReceiveMessage");
        for m in out.messages.unwrap_or_default() {
            let count = m
                .attributes
                .as_ref()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let (Some(id), Some(handle)) = (m.message_id.clone(), m.receipt_handle.clone()) else {
                continue;
            };
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(handle)
                .send()
                .await
                .expect("DeleteMessage");
            got.insert(
                id,
                Received {
                    body: m.body.unwrap_or_default(),
                    receive_count: count,
                },
            );
        }
    }
    got.into_values().collect()
}
