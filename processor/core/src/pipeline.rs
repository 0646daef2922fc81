//! The core loop: message in, rescan requests out.
//!
//! [`Processor`] owns the filter, the coalescer and the counters, and borrows resource
//! knowledge through a shared [`Resolver`]. Every shell (replay, Lambda, container)
//! drives it the same way: [`Processor::process_message`] for each body, then
//! [`Processor::flush`] to release what the coalescer holds, dispatch, and
//! [`Processor::commit`] (or [`Processor::abort`] when dispatch failed).
//!
//! At-least-once: a request may stay in the coalescer after `process_message` returns,
//! so a consumer that deletes messages must flush and dispatch before it deletes any
//! and before it commits. [`Processor::process_batch`] does the flush for it.

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::coalesce::{Change, Coalescer, ResourceKey};
use crate::decode::{self, DecodeError, Decoded, SubscriptionKind};
use crate::event::Event;
use crate::filter::{Filter, FilterConfig};
use crate::rescan::{Action, EventRef, RescanRequest};
use crate::resolve::{Resolver, Target};
use crate::stats::Stats;

/// Settings of the core pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessorConfig {
    /// What to keep.
    pub filter: FilterConfig,
    /// Coalescing window in seconds of event time (0: one request per event and resource).
    pub window_secs: u32,
    /// Most events listed in one request.
    pub max_events_per_request: usize,
    /// Largest message body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        ProcessorConfig {
            filter: FilterConfig::default(),
            window_secs: 60,
            max_events_per_request: 100,
            max_body_bytes: decode::MAX_BODY_BYTES,
        }
    }
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageOutcome {
    /// Every record in it was decoded (and kept or dropped).
    Processed {
        /// Records decoded.
        events: u32,
        /// Records kept.
        kept: u32,
    },
    /// An SNS subscription message: nothing to rescan; the consumer may confirm it.
    Subscription {
        /// Which one.
        kind: SubscriptionKind,
        /// The topic.
        topic_arn: Option<String>,
    },
    /// At least one part could not be decoded: leave the message on the queue for
    /// retry and the dead-letter queue. The decodable records were processed.
    Invalid {
        /// What was wrong (the first few errors).
        errors: Vec<DecodeError>,
        /// Records decoded despite the errors.
        events: u32,
    },
}

impl MessageOutcome {
    /// Whether the message may be deleted once its rescans are dispatched.
    pub fn is_done(&self) -> bool {
        !matches!(self, MessageOutcome::Invalid { .. })
    }
}

/// The result of [`Processor::process_batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchResult<'m> {
    /// Every request of the batch, coalesced within it; dispatch these, then call
    /// [`Processor::commit`] (or [`Processor::abort`] when dispatch failed).
    pub requests: Vec<RescanRequest>,
    /// Each message's id and outcome, in input order.
    pub outcomes: Vec<(&'m str, MessageOutcome)>,
}

impl<'m> BatchResult<'m> {
    /// Ids of the messages that may be deleted once `requests` are dispatched.
    pub fn done_ids(&self) -> impl Iterator<Item = &'m str> + '_ {
        self.outcomes
            .iter()
            .filter(|(_, o)| o.is_done())
            .map(|(id, _)| *id)
    }

    /// Ids of the messages to leave on the queue (retry, then the dead-letter queue):
    /// a Lambda reports them as `batchItemFailures`.
    pub fn failed_ids(&self) -> impl Iterator<Item = &'m str> + '_ {
        self.outcomes
            .iter()
            .filter(|(_, o)| !o.is_done())
            .map(|(id, _)| *id)
    }
}

/// The pipeline.
pub struct Processor {
    filter: Filter,
    resolver: Arc<dyn Resolver>,
    coalescer: Coalescer,
    stats: Stats,
    config: ProcessorConfig,
    targets: Vec<Target>,
}

impl std::fmt::Debug for Processor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processor")
            .field("config", &self.config)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// How many errors one [`MessageOutcome::Invalid`] keeps.
const MAX_ERRORS_KEPT: usize = 8;

impl Processor {
    /// A processor with `config`, resolving resources with `resolver`.
    pub fn new(config: ProcessorConfig, resolver: Arc<dyn Resolver>) -> Self {
        Processor {
            filter: Filter::new(config.filter.clone()),
            coalescer: Coalescer::new(config.window_secs, config.max_events_per_request),
            resolver,
            stats: Stats::default(),
            config,
            targets: Vec::with_capacity(8),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The configuration in force.
    pub fn config(&self) -> &ProcessorConfig {
        &self.config
    }

    /// Requests held by the coalescer.
    pub fn pending(&self) -> usize {
        self.coalescer.pending()
    }

    /// Processes a batch of `(message id, body)` pairs and releases every request the
    /// batch produced, so a consumer can dispatch them all before deleting any message
    /// (at-least-once). One bad message never blocks the others: it is only marked
    /// failed in the outcomes.
    pub fn process_batch<'m>(
        &mut self,
        messages: impl IntoIterator<Item = (&'m str, &'m str)>,
    ) -> BatchResult<'m> {
        let mut requests = Vec::new();
        let outcomes = messages
            .into_iter()
            .map(|(id, body)| (id, self.process_message(body, &mut requests)))
            .collect();
        self.flush(&mut requests);
        BatchResult { requests, outcomes }
    }

    /// Decodes, filters and resolves one message body; requests whose coalescing
    /// window closed are appended to `out`.
    pub fn process_message(&mut self, body: &str, out: &mut Vec<RescanRequest>) -> MessageOutcome {
        self.process_with_limit(body, self.config.max_body_bytes, out)
    }

    /// [`Processor::process_message`] with another size limit (whole log files in replay).
    pub fn process_with_limit(
        &mut self,
        body: &str,
        limit: usize,
        out: &mut Vec<RescanRequest>,
    ) -> MessageOutcome {
        self.stats.messages += 1;
        let before = out.len();
        let mut events = 0u32;
        let mut kept = 0u32;
        let mut errors: Vec<DecodeError> = Vec::new();
        let mut error_count = 0usize;
        let mut subscription: Option<(SubscriptionKind, Option<String>)> = None;
        decode::decode_with_limit(body, limit, &mut |item| match item {
            Ok(Decoded::Event(ev)) => {
                events += 1;
                if self.process_event(&ev, out) {
                    kept += 1;
                }
            }
            Ok(Decoded::Subscription { kind, topic_arn }) => {
                self.stats.subscription_messages += 1;
                subscription = Some((kind, topic_arn.map(Cow::into_owned)));
            }
            Err(e) => {
                self.stats.invalid(e.kind());
                error_count += 1;
                if errors.len() < MAX_ERRORS_KEPT {
                    errors.push(e);
                }
            }
        });
        for r in &out[before..] {
            self.stats.rescan(r.scope);
        }
        if error_count > 0 {
            MessageOutcome::Invalid { errors, events }
        } else if let (Some((kind, topic_arn)), 0) = (subscription, events) {
            MessageOutcome::Subscription { kind, topic_arn }
        } else {
            MessageOutcome::Processed { events, kept }
        }
    }

    /// Filters and resolves one decoded event; true when it was kept.
    pub fn process_event(&mut self, ev: &Event<'_>, out: &mut Vec<RescanRequest>) -> bool {
        self.stats.events += 1;
        if let Some(reason) = self.filter.check(ev) {
            self.stats.drop(reason);
            return false;
        }
        self.stats.kept += 1;
        self.targets.clear();
        self.resolver.resolve(ev, &mut self.targets);
        let settle = self.resolver.settle_delay(ev);
        let event_ref = EventRef {
            event_id: ev.event_id.to_string(),
            event_name: ev.event_name.to_string(),
            event_time: ev.event_time.to_string(),
            principal: ev.principal().map(str::to_string),
        };
        let base = |target: Option<ResourceKey>, action: Action, event: EventRef| Change {
            account: ev.account.to_string(),
            region: ev.region.to_string(),
            service: ev.service().to_string(),
            target,
            action,
            time: ev.time,
            settle,
            event,
        };
        if self.targets.is_empty() {
            // Never drop a mutating event silently: rescan the service.
            self.coalescer
                .add(base(None, Action::Update, event_ref), out);
            return true;
        }
        for t in self.targets.drain(..) {
            let e = event_ref.clone();
            let key = ResourceKey {
                arn: t.arn,
                resource_type: t.resource_type,
                resource_id: t.resource_id,
            };
            self.coalescer.add(base(Some(key), t.action, e), out);
        }
        true
    }

    /// Counts a unit the caller found undecodable before it reached the decoder (a
    /// line that is not UTF-8, say).
    pub fn count_invalid(&mut self, error: &DecodeError) {
        self.stats.messages += 1;
        self.stats.invalid(error.kind());
    }

    /// Releases every request the coalescer holds.
    pub fn flush(&mut self, out: &mut Vec<RescanRequest>) {
        let before = out.len();
        self.coalescer.flush(out);
        for r in &out[before..] {
            self.stats.rescan(r.scope);
        }
    }

    /// The rescans of the events kept so far were dispatched: remember their ids. Call
    /// only after [`Processor::flush`] and a successful dispatch of what it released;
    /// ids of events still held by the coalescer would otherwise be remembered early.
    pub fn commit(&mut self) {
        self.filter.commit();
    }

    /// Dispatch failed: forget the ids of the events kept since the last commit.
    pub fn abort(&mut self) {
        self.filter.abort();
    }
}
