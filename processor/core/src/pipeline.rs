//! The pipeline's settings and outcomes, and [`Processor`]: the engine driven in one
//! thread with a delivery that cannot fail once a request is in the caller's hands.
//!
//! Consumers that delete queue messages use [`crate::prepare::Preparer`] and
//! [`crate::engine::Engine`] directly (the ledger decides what may be deleted).
//! [`Processor`] is the same code for callers that delete nothing: `processor replay`
//! writes every request it is handed, the benchmarks and tests collect them.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::coalesce::NEVER;
use crate::decode::{self, DecodeError, SubscriptionKind, SubscriptionToken};
use crate::engine::{Engine, Outgoing};
use crate::filter::FilterConfig;
use crate::prepare::Preparer;
use crate::rescan::RescanRequest;
use crate::resolve::Resolver;
use crate::stats::Stats;

/// Default coalescing window, seconds of event time.
pub const DEFAULT_WINDOW_SECS: u32 = 30;
/// Default longest wall-clock hold of a request before it is dispatched, seconds.
pub const DEFAULT_MAX_HOLD_SECS: u32 = 60;
/// Default cap of events listed in one request.
pub const DEFAULT_MAX_EVENTS_PER_REQUEST: usize = 100;
/// Default cap of resources named for one event before it becomes a service rescan.
pub const DEFAULT_MAX_TARGETS_PER_EVENT: usize = 1000;
/// Default cap of requests held by the coalescer.
pub const DEFAULT_MAX_HELD_REQUESTS: usize = 50_000;
/// Default cap of messages in flight (admitted, not yet settled).
pub const DEFAULT_MAX_IN_FLIGHT_MESSAGES: usize = 20_000;

/// Settings of the core pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessorConfig {
    /// What to keep.
    pub filter: FilterConfig,
    /// Coalescing window in seconds of event time (0: one request per event and resource).
    pub window_secs: u32,
    /// Longest wall-clock hold of a request, seconds: released then even if its
    /// window is open.
    pub max_hold_secs: u32,
    /// Most events listed in one request.
    pub max_events_per_request: usize,
    /// Most resources named for one event; past it the event is one service rescan.
    pub max_targets_per_event: usize,
    /// Most requests held at once; past it the oldest are released early.
    pub max_held_requests: usize,
    /// Most messages in flight before a consumer stops receiving.
    pub max_in_flight_messages: usize,
    /// Largest message body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        ProcessorConfig {
            filter: FilterConfig::default(),
            window_secs: DEFAULT_WINDOW_SECS,
            max_hold_secs: DEFAULT_MAX_HOLD_SECS,
            max_events_per_request: DEFAULT_MAX_EVENTS_PER_REQUEST,
            max_targets_per_event: DEFAULT_MAX_TARGETS_PER_EVENT,
            max_held_requests: DEFAULT_MAX_HELD_REQUESTS,
            max_in_flight_messages: DEFAULT_MAX_IN_FLIGHT_MESSAGES,
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
        /// Records kept (after the engine: not counting duplicates).
        kept: u32,
    },
    /// An SNS subscription message: nothing to rescan; the consumer may confirm it.
    /// Left on the queue unless the consumer handles it.
    Subscription {
        /// Which one.
        kind: SubscriptionKind,
        /// The topic.
        topic_arn: Option<String>,
        /// Its token, for `ConfirmSubscription`.
        token: Option<SubscriptionToken>,
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
    /// Whether every part of it was understood (not [`MessageOutcome::Invalid`]).
    pub fn is_decoded(&self) -> bool {
        !matches!(self, MessageOutcome::Invalid { .. })
    }
}

/// The engine in one thread, for callers that delete nothing: every request released
/// is handed to the caller and counted as accepted.
#[derive(Debug)]
pub struct Processor {
    preparer: Preparer,
    engine: Engine<()>,
    outgoing: Vec<Outgoing>,
}

impl Processor {
    /// A processor with `config`, resolving resources with `resolver`.
    pub fn new(config: ProcessorConfig, resolver: Arc<dyn Resolver>) -> Self {
        Processor {
            engine: Engine::new(&config),
            preparer: Preparer::new(config, resolver),
            outgoing: Vec::new(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> &Stats {
        self.engine.stats()
    }

    /// The configuration in force.
    pub fn config(&self) -> &ProcessorConfig {
        self.preparer.config()
    }

    /// Requests held by the coalescer.
    pub fn pending(&self) -> usize {
        self.engine.held()
    }

    /// Processes one message body; requests whose window closed are appended to `out`.
    pub fn process_message(&mut self, body: &str, out: &mut Vec<RescanRequest>) -> MessageOutcome {
        let limit = self.preparer.config().max_body_bytes;
        self.process_with_limit(body, limit, out)
    }

    /// [`Processor::process_message`] with another size limit (whole log files in replay).
    pub fn process_with_limit(
        &mut self,
        body: &str,
        limit: usize,
        out: &mut Vec<RescanRequest>,
    ) -> MessageOutcome {
        let prepared = self.preparer.prepare_with_limit(body, limit);
        let outcome = self.engine.admit(prepared, (), 0, NEVER);
        self.engine.release(0, &mut self.outgoing);
        self.deliver(out);
        outcome
    }

    /// Counts a unit the caller found undecodable before it reached the decoder.
    pub fn count_invalid(&mut self, error: &DecodeError) {
        let prepared = self.preparer.invalid(error.clone());
        let _ = self.engine.admit(prepared, (), 0, NEVER);
        self.engine.take_settled();
    }

    /// Releases every request held into `out`.
    pub fn flush(&mut self, out: &mut Vec<RescanRequest>) {
        self.engine.flush(&mut self.outgoing);
        self.deliver(out);
    }

    fn deliver(&mut self, out: &mut Vec<RescanRequest>) {
        for o in self.outgoing.drain(..) {
            out.push(o.request().clone());
            self.engine.resolve(o, true);
        }
        // Nothing here is deleted: the settled messages only leave the ledger.
        self.engine.take_settled();
    }
}
