//! One invocation: an `SqsEvent` batch through the engine and the sinks, answered with
//! the records that must come back.
//!
//! Each record is prepared (decode, filter, resolve) and admitted to the engine with
//! its position in the batch as its token. Everything the batch holds is then
//! flushed, delivered to every sink at once ([`processor_consumer::dispatch()`]) and
//! resolved; the settled records that are not [`Settled::Delete`] (undecodable,
//! unhandled subscription messages, those behind a request a sink refused) and those
//! left unsettled (the dispatch ran into the deadline) are the `batchItemFailures`.
//! The function never fails the whole batch because of one record.
//!
//! The engine outlives an invocation only when it ends idle (everything resolved):
//! then its memory of done event ids drops a later redelivery of an accepted event
//! at once. Correctness does not depend on it; a cold instance, another concurrent
//! instance, or an invocation that panicked or ran out of time starts from a fresh
//! engine and simply processes such a redelivery again (at-least-once).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use processor_consumer::dispatch::dispatch;
use processor_consumer::subscribe::Confirmer;
use processor_core::coalesce::NEVER;
use processor_core::{
    DecodeError, Engine, MessageOutcome, Outgoing, Prepared, Preparer, ProcessorConfig, Resolver,
    Settled, SubscriptionKind,
};
use processor_sinks::Sink;
use tracing::{debug, error, info, warn};

/// Dispatch stops this long before the invocation's deadline (or at 4/5 of the time
/// left, when less than five times this is left), so the function can still answer
/// with a partial response instead of timing out and failing the whole batch.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(1);

/// What became of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Every request behind it was accepted by every sink (or it needed none).
    Done,
    /// Not entirely decodable: comes back, and reaches the dead-letter queue.
    Invalid,
    /// An SNS subscription or unsubscribe confirmation that was not confirmed here.
    Subscription,
    /// A request behind it was not accepted by some sink.
    Refused,
    /// Not decided before the deadline.
    Unsettled,
}

/// The counts of one invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchSummary {
    /// Records in the batch.
    pub records: usize,
    /// Records done (not in `batchItemFailures`).
    pub done: usize,
    /// Undecodable records.
    pub invalid: usize,
    /// Subscription messages reported as failures.
    pub subscriptions_left: usize,
    /// Subscriptions confirmed through the SNS API.
    pub subscriptions_confirmed: usize,
    /// Records behind a refused request.
    pub refused: usize,
    /// Records not settled before the deadline.
    pub unsettled: usize,
    /// Events dropped as duplicates (in flight or done).
    pub duplicates: u64,
    /// Rescan requests delivered to the sinks.
    pub requests: usize,
    /// Requests some sink did not accept.
    pub requests_refused: usize,
}

/// The answer to one invocation.
#[derive(Debug, Clone)]
pub struct Handled {
    /// What Lambda gets back: the records to return to the queue.
    pub response: SqsBatchResponse,
    /// The fate of each record, in the batch's order.
    pub fates: Vec<Fate>,
    /// The counts.
    pub summary: BatchSummary,
}

/// The function: configuration, sinks and resolver set up once per cold start.
pub struct Function {
    config: ProcessorConfig,
    preparer: Preparer,
    sinks: Vec<Arc<dyn Sink>>,
    confirmer: Option<Confirmer>,
    /// The engine of the last invocation that ended idle.
    engine: Mutex<Option<Engine<usize>>>,
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Function")
            .field("config", &self.config)
            .field("sinks", &self.sinks)
            .field("confirms_subscriptions", &self.confirmer.is_some())
            .finish_non_exhaustive()
    }
}

/// How long dispatch may take when `deadline` is the invocation's.
fn dispatch_budget(deadline: SystemTime, now: SystemTime) -> Duration {
    let left = deadline.duration_since(now).unwrap_or(Duration::ZERO);
    left.saturating_sub(DEADLINE_MARGIN.min(left / 5))
}

impl Function {
    /// A function with `config`, resolving resources with `resolver`, delivering to
    /// `sinks`, and confirming subscriptions with `confirmer` when given.
    pub fn new(
        config: ProcessorConfig,
        resolver: Arc<dyn Resolver>,
        sinks: Vec<Arc<dyn Sink>>,
        confirmer: Option<Confirmer>,
    ) -> Self {
        Function {
            preparer: Preparer::new(config.clone(), resolver),
            config,
            sinks,
            confirmer,
            engine: Mutex::new(None),
        }
    }

    /// The sinks requests go to.
    pub fn sinks(&self) -> &[Arc<dyn Sink>] {
        &self.sinks
    }

    /// Confirms `prepared` when it is a subscription confirmation and confirming is
    /// on; true when SNS confirmed it.
    async fn confirmed(&self, message_id: &str, prepared: &Prepared) -> bool {
        let MessageOutcome::Subscription {
            kind,
            topic_arn,
            token,
        } = &prepared.outcome
        else {
            return false;
        };
        let topic = topic_arn.as_deref().unwrap_or("?");
        let (SubscriptionKind::Confirmation, Some(confirmer)) = (kind, &self.confirmer) else {
            warn!(
                message_id,
                topic,
                ?kind,
                "SNS subscription message reported as a failure for the dead-letter queue (PROCESSOR_CONFIRM_SUBSCRIPTIONS is off, or it is not a confirmation)"
            );
            return false;
        };
        match confirmer
            .confirm(topic_arn.as_deref(), token.as_ref())
            .await
        {
            Ok(subscription) => {
                info!(message_id, topic, %subscription, "subscription confirmed");
                true
            }
            Err(e) => {
                warn!(message_id, topic, error = %e, "subscription not confirmed; reported as a failure for the dead-letter queue");
                false
            }
        }
    }

    /// Processes one batch. `deadline` is the invocation's (none in tests): dispatch
    /// is cut short before it, and what it did not settle comes back.
    ///
    /// A deadline already past when the invocation starts cannot be Lambda's and is
    /// ignored (`cargo lambda watch` 1.9 sends its timeout, 600,000 ms, as the
    /// deadline).
    pub async fn handle(&self, event: SqsEvent, deadline: Option<SystemTime>) -> Handled {
        let deadline = deadline.filter(|d| *d > SystemTime::now());
        let records = event.records;
        let mut engine = self
            .engine
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_else(|| Engine::new(&self.config));
        let duplicates_before = engine.stats().dropped.get("duplicate").copied();
        let mut summary = BatchSummary {
            records: records.len(),
            ..BatchSummary::default()
        };
        // Undecided until the engine settles a record.
        let mut fates = vec![Fate::Unsettled; records.len()];
        let mut left_as = vec![Fate::Invalid; records.len()];

        for (i, record) in records.iter().enumerate() {
            let message_id = record.message_id.as_deref().unwrap_or("");
            let prepared = match record.body.as_deref() {
                Some(body) => self.preparer.prepare(body),
                None => self.preparer.invalid(DecodeError::Empty),
            };
            match &prepared.outcome {
                MessageOutcome::Invalid { errors, .. } => {
                    warn!(
                        message_id,
                        receive_count = record
                            .attributes
                            .get("ApproximateReceiveCount")
                            .map(String::as_str)
                            .unwrap_or("?"),
                        error = %errors.first().map(ToString::to_string).unwrap_or_default(),
                        "undecodable record: reported as a failure, for the dead-letter queue"
                    );
                }
                MessageOutcome::Subscription { .. } => {
                    left_as[i] = Fate::Subscription;
                    if self.confirmed(message_id, &prepared).await {
                        summary.subscriptions_confirmed += 1;
                        if let Err(back) = engine.settle_handled_subscription(prepared, i) {
                            let (prepared, i) = *back;
                            let _ = engine.admit(prepared, i, 0, NEVER);
                        }
                        continue;
                    }
                }
                MessageOutcome::Processed { .. } => {}
            }
            let _ = engine.admit(prepared, i, 0, NEVER);
        }

        let mut outgoing: Vec<Outgoing> = Vec::new();
        engine.flush(&mut outgoing);
        summary.requests = outgoing.len();
        if !outgoing.is_empty() {
            let delivery = dispatch(&self.sinks, outgoing);
            let results = match deadline {
                None => Some(delivery.await),
                Some(d) => {
                    let budget = dispatch_budget(d, SystemTime::now());
                    tokio::time::timeout(budget, delivery).await.ok()
                }
            };
            match results {
                Some(results) => {
                    for (o, accepted) in results {
                        summary.requests_refused += usize::from(!accepted);
                        engine.resolve(o, accepted);
                    }
                }
                // The requests were dropped with the dispatch: their records stay
                // unsettled and come back.
                None => error!(
                    requests = summary.requests,
                    "dispatch did not finish before the deadline; its records are reported as failures"
                ),
            }
        }
        for settled in engine.take_settled() {
            match settled {
                Settled::Delete(d) => fates[*d.token()] = Fate::Done,
                Settled::Retry(i) => fates[i] = Fate::Refused,
                Settled::Leave(i) => fates[i] = left_as[i],
            }
        }

        let mut response = SqsBatchResponse::default();
        for (record, fate) in records.iter().zip(&fates) {
            match fate {
                Fate::Done => summary.done += 1,
                Fate::Invalid => summary.invalid += 1,
                Fate::Subscription => summary.subscriptions_left += 1,
                Fate::Refused => summary.refused += 1,
                Fate::Unsettled => summary.unsettled += 1,
            }
            if *fate != Fate::Done {
                if record.message_id.is_none() {
                    // An empty identifier makes Lambda return the whole batch: better
                    // than losing this record.
                    error!("a record without messageId must come back; the whole batch will");
                }
                response.add_failure(record.message_id.clone().unwrap_or_default());
            }
        }
        summary.duplicates = engine
            .stats()
            .dropped
            .get("duplicate")
            .copied()
            .unwrap_or(0)
            - duplicates_before.unwrap_or(0);

        if engine.is_idle() {
            *self.engine.lock().unwrap_or_else(|p| p.into_inner()) = Some(engine);
        } else {
            debug!("engine not idle after the batch: the next invocation starts afresh");
        }
        info!(
            records = summary.records,
            done = summary.done,
            failures = response.batch_item_failures.len(),
            invalid = summary.invalid,
            refused = summary.refused,
            unsettled = summary.unsettled,
            subscriptions_left = summary.subscriptions_left,
            subscriptions_confirmed = summary.subscriptions_confirmed,
            duplicates = summary.duplicates,
            requests = summary.requests,
            requests_refused = summary.requests_refused,
            "batch handled"
        );
        Handled {
            response,
            fates,
            summary,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_stops_before_the_deadline() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let s = Duration::from_secs;
        assert_eq!(dispatch_budget(now + s(30), now), s(29));
        assert_eq!(dispatch_budget(now + s(5), now), s(4));
        assert_eq!(
            dispatch_budget(now + Duration::from_millis(2_000), now),
            Duration::from_millis(1_600)
        );
        assert_eq!(dispatch_budget(now, now), Duration::ZERO);
        assert_eq!(dispatch_budget(now - s(1), now), Duration::ZERO);
    }
}
