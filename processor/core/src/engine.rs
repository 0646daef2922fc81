//! The engine: the message ledger, duplicate suppression and the coalescer, with one
//! owner.
//!
//! Every shell drives it the same way: [`crate::prepare::Preparer`] turns a body into a
//! [`Prepared`] message (on any thread, in parallel), [`Engine::admit`] takes it in
//! with the caller's token for the message (a receipt handle, an SQS message id, `()`),
//! [`Engine::release`] / [`Engine::flush`] hand out the requests that are due as
//! [`Outgoing`] values, the caller delivers them to every sink and reports each back
//! with [`Engine::resolve`], and [`Engine::take_settled`] yields the messages whose
//! fate is decided.
//!
//! ## The contract, as types
//! - A message becomes [`Settled::Delete`] only when every request its events
//!   contributed to was resolved as accepted, or when it contributed to none. Only the
//!   engine can make the [`Deletable`] inside it, so a consumer cannot delete what the
//!   ledger has not cleared.
//! - An [`Outgoing`] request is `#[must_use]` and can be given back only through
//!   [`Engine::resolve`]; dropping one leaves its messages undecided (they come back
//!   through the queue's visibility timeout), never deleted.
//!
//! ## Duplicates: new, in flight, done
//! Each kept event's `eventID` is in one of three states. *New*: its changes go to the
//! coalescer. *In flight* (its requests are held or being dispatched): a second
//! delivery, in the same message or another, adds nothing to rescan but joins the
//! original's fate: its message is settled with the original's outcome. *Done* (its
//! requests were accepted; a bounded FIFO of the last `dedup_capacity` ids): a second
//! delivery is dropped and does not hold its message back. A request that was not
//! accepted sends its events back to *new*, so the redelivery is processed again.
//!
//! ## Bounded memory
//! [`Engine::is_full`] tells the caller to stop receiving (back-pressure) while the
//! held requests or the messages in flight are at their caps; held requests beyond
//! their cap are released early rather than kept.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::coalesce::{Coalescer, Millis, Released};
use crate::pipeline::{MessageOutcome, ProcessorConfig};
use crate::prepare::Prepared;
use crate::rescan::RescanRequest;
use crate::stats::Stats;

/// The engine's handle of an admitted message.
pub type MessageKey = u64;

/// A released request on its way to the sinks. Give it back with [`Engine::resolve`].
#[derive(Debug)]
#[must_use = "resolve every outgoing request, or its messages are never deleted"]
pub struct Outgoing {
    request: RescanRequest,
    provenance: Vec<u64>,
}

impl Outgoing {
    /// The request to deliver.
    pub fn request(&self) -> &RescanRequest {
        &self.request
    }

    /// How many distinct events are behind it (all of them, even past the cap of
    /// events the request lists).
    pub fn event_count(&self) -> usize {
        self.provenance.len()
    }
}

/// A message the ledger cleared for deletion. Only [`Engine`] makes one.
#[derive(Debug, PartialEq, Eq)]
pub struct Deletable<T>(T);

impl<T> Deletable<T> {
    /// The caller's token of the message.
    pub fn token(&self) -> &T {
        &self.0
    }

    /// Takes the token out (to build the delete call).
    pub fn into_token(self) -> T {
        self.0
    }
}

/// What became of a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Settled<T> {
    /// Every request its events contributed to was accepted by every sink, or it
    /// contributed to none: delete it.
    Delete(Deletable<T>),
    /// A request behind it was not accepted: make it visible again (with backoff) so it
    /// is processed again.
    Retry(T),
    /// It could not be entirely decoded, or it is an SNS subscription message nobody
    /// handled: never delete it; the queue's redrive takes it to the dead-letter queue.
    Leave(T),
}

impl<T> Settled<T> {
    /// The caller's token, whatever the outcome.
    pub fn token(&self) -> &T {
        match self {
            Settled::Delete(d) => d.token(),
            Settled::Retry(t) | Settled::Leave(t) => t,
        }
    }
}

#[derive(Debug)]
struct MessageEntry<T> {
    token: T,
    /// Events of this message whose fate is not decided yet.
    outstanding: u32,
    /// A request behind it was not accepted.
    failed: bool,
    /// Undecodable in part: never deleted.
    leave: bool,
}

#[derive(Debug, Default)]
struct EventEntry {
    /// Requests this event contributed to that are not resolved yet.
    outstanding: u32,
    /// One of them was not accepted.
    failed: bool,
    /// Messages waiting on this event (the original and joined duplicates).
    messages: Vec<MessageKey>,
}

/// The ids of events whose requests were accepted, the last `capacity` of them.
#[derive(Debug, Default)]
struct DoneSet {
    capacity: usize,
    set: HashSet<u64>,
    order: VecDeque<u64>,
}

impl DoneSet {
    fn insert(&mut self, id: u64) {
        if self.capacity == 0 || !self.set.insert(id) {
            return;
        }
        self.order.push_back(id);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }
}

/// Caps and timing of the engine, taken from [`ProcessorConfig`].
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_hold_ms: Millis,
    max_held: usize,
    max_messages: usize,
    dedup: bool,
}

/// The ledger, duplicate suppression and coalescer of one consumer.
#[derive(Debug)]
pub struct Engine<T> {
    coalescer: Coalescer,
    limits: Limits,
    messages: HashMap<MessageKey, MessageEntry<T>>,
    events: HashMap<u64, EventEntry>,
    done: DoneSet,
    released: Vec<Released>,
    settled: Vec<Settled<T>>,
    next_message: MessageKey,
    next_synthetic: u64,
    dispatching: usize,
    stats: Stats,
}

impl<T> Engine<T> {
    /// An engine with the windows, caps and duplicate memory of `config`.
    pub fn new(config: &ProcessorConfig) -> Self {
        Engine {
            coalescer: Coalescer::new(config.window_secs, config.max_events_per_request),
            limits: Limits {
                max_hold_ms: u64::from(config.max_hold_secs) * 1000,
                max_held: config.max_held_requests.max(1),
                max_messages: config.max_in_flight_messages.max(1),
                dedup: config.filter.dedup_capacity > 0,
            },
            messages: HashMap::new(),
            events: HashMap::new(),
            done: DoneSet {
                capacity: config.filter.dedup_capacity,
                ..DoneSet::default()
            },
            released: Vec::new(),
            settled: Vec::new(),
            next_message: 0,
            next_synthetic: 0,
            dispatching: 0,
            stats: Stats::default(),
        }
    }

    /// The counters so far (every message admitted, every request released).
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Requests held by the coalescer.
    pub fn held(&self) -> usize {
        self.coalescer.pending()
    }

    /// Messages admitted and not yet settled.
    pub fn in_flight(&self) -> usize {
        self.messages.len()
    }

    /// Requests handed out and not yet resolved.
    pub fn dispatching(&self) -> usize {
        self.dispatching
    }

    /// Nothing held, in flight or being dispatched.
    pub fn is_idle(&self) -> bool {
        self.messages.is_empty()
            && self.coalescer.pending() == 0
            && self.released.is_empty()
            && self.dispatching == 0
    }

    /// At a cap: stop receiving until requests are released and messages settled.
    pub fn is_full(&self) -> bool {
        self.messages.len() >= self.limits.max_messages
            || self.coalescer.pending() >= self.limits.max_held
    }

    /// The earliest wall-clock time at which a held request falls due.
    pub fn next_deadline(&mut self) -> Option<Millis> {
        if !self.released.is_empty() {
            return Some(0);
        }
        self.coalescer.next_deadline()
    }

    /// Tokens of the messages in flight, to extend their visibility.
    pub fn in_flight_tokens_mut(&mut self) -> impl Iterator<Item = &mut T> + '_ {
        self.messages.values_mut().map(|m| &mut m.token)
    }

    /// Takes in a prepared message received at `now`. Its changes are held until
    /// `now + max_hold` at the latest, and never past `release_by` (the caller's
    /// deadline: before the message's visibility timeout runs out). Returns the
    /// message's outcome, `kept` counting only events that were not duplicates.
    pub fn admit(
        &mut self,
        prepared: Prepared,
        token: T,
        now: Millis,
        release_by: Millis,
    ) -> MessageOutcome {
        let Prepared {
            mut outcome,
            events,
            stats,
        } = prepared;
        self.stats.merge(&stats);
        let key = self.next_message;
        self.next_message += 1;
        let leave = !matches!(outcome, MessageOutcome::Processed { .. });
        let mut entry = MessageEntry {
            token,
            outstanding: 0,
            failed: false,
            leave,
        };
        let deadline = now.saturating_add(self.limits.max_hold_ms).min(release_by);
        let mut new_events = 0u32;
        for ev in events {
            let id = if self.limits.dedup {
                ev.id
            } else {
                self.next_synthetic += 1;
                self.next_synthetic
            };
            if self.done.set.contains(&id) {
                self.stats.drop(crate::DropReason::Duplicate);
                self.stats.kept -= 1;
                continue;
            }
            if let Some(e) = self.events.get_mut(&id) {
                // In flight: join the original's fate.
                self.stats.drop(crate::DropReason::Duplicate);
                self.stats.kept -= 1;
                if e.messages.last() != Some(&key) {
                    e.messages.push(key);
                    entry.outstanding += 1;
                }
                continue;
            }
            new_events += 1;
            entry.outstanding += 1;
            let mut e = EventEntry {
                messages: vec![key],
                ..EventEntry::default()
            };
            for mut change in ev.changes {
                change.origin = id;
                if self.coalescer.add(change, deadline, &mut self.released) {
                    e.outstanding += 1;
                }
            }
            self.events.insert(id, e);
        }
        if let MessageOutcome::Processed { kept, .. } = &mut outcome {
            *kept = new_events.min(*kept);
        }
        if entry.outstanding == 0 {
            self.settle(entry);
        } else {
            self.messages.insert(key, entry);
        }
        if self.coalescer.pending() > self.limits.max_held {
            self.coalescer
                .release_oldest(self.limits.max_held, &mut self.released);
        }
        outcome
    }

    /// Settles an SNS subscription message the caller handled (confirmed through the
    /// SNS API) as [`Settled::Delete`]. Anything else is handed back untouched, to be
    /// admitted as usual.
    pub fn settle_handled_subscription(
        &mut self,
        prepared: Prepared,
        token: T,
    ) -> Result<(), Box<(Prepared, T)>> {
        if !matches!(prepared.outcome, MessageOutcome::Subscription { .. }) {
            return Err(Box::new((prepared, token)));
        }
        self.stats.merge(&prepared.stats);
        self.settled.push(Settled::Delete(Deletable(token)));
        Ok(())
    }

    /// Hands out the requests that are due at `now`: windows closed by event time,
    /// wall-clock deadlines passed, and any over the cap of held requests.
    ///
    /// At the cap of messages in flight, half of the held requests (earliest deadline
    /// first) go out early as well: their messages can then settle, and receiving
    /// resumes, instead of waiting for the hold to run out.
    pub fn release(&mut self, now: Millis, out: &mut Vec<Outgoing>) {
        self.coalescer.release_due(now, &mut self.released);
        if self.messages.len() >= self.limits.max_messages {
            let keep = self.coalescer.pending() / 2;
            self.coalescer.release_oldest(keep, &mut self.released);
        }
        self.hand_out(out);
    }

    /// Hands out every held request (end of a batch, shutdown, end of a replay).
    pub fn flush(&mut self, out: &mut Vec<Outgoing>) {
        self.coalescer.flush(&mut self.released);
        self.hand_out(out);
    }

    fn hand_out(&mut self, out: &mut Vec<Outgoing>) {
        for r in self.released.drain(..) {
            self.stats.rescan(r.request.scope);
            self.dispatching += 1;
            out.push(Outgoing {
                request: r.request,
                provenance: r.provenance,
            });
        }
    }

    /// Reports whether every sink accepted `request`. Messages whose every request is
    /// now resolved become available from [`Engine::take_settled`].
    pub fn resolve(&mut self, request: Outgoing, accepted: bool) {
        self.dispatching = self.dispatching.saturating_sub(1);
        for id in request.provenance {
            let finished = match self.events.get_mut(&id) {
                Some(e) => {
                    e.outstanding = e.outstanding.saturating_sub(1);
                    e.failed |= !accepted;
                    e.outstanding == 0
                }
                None => false,
            };
            if !finished {
                continue;
            }
            let Some(e) = self.events.remove(&id) else {
                continue;
            };
            if !e.failed && self.limits.dedup {
                self.done.insert(id);
            }
            for m in e.messages {
                let ready = match self.messages.get_mut(&m) {
                    Some(msg) => {
                        msg.outstanding = msg.outstanding.saturating_sub(1);
                        msg.failed |= e.failed;
                        msg.outstanding == 0
                    }
                    None => false,
                };
                if ready {
                    if let Some(msg) = self.messages.remove(&m) {
                        self.settle(msg);
                    }
                }
            }
        }
    }

    fn settle(&mut self, m: MessageEntry<T>) {
        self.settled.push(if m.leave {
            Settled::Leave(m.token)
        } else if m.failed {
            Settled::Retry(m.token)
        } else {
            Settled::Delete(Deletable(m.token))
        });
    }

    /// The messages whose fate was decided since the last call.
    pub fn take_settled(&mut self) -> Vec<Settled<T>> {
        std::mem::take(&mut self.settled)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::prepare::Preparer;
    use crate::resolve::BasicResolver;

    fn body(event: &str, bucket: &str, time: i64) -> String {
        let t = crate::time::format_rfc3339(time);
        format!(
            r#"{{"eventVersion":"1.08","eventID":"{event}","eventTime":"{t}","eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","awsRegion":"us-east-1","recipientAccountId":"123456789012","readOnly":false,"resources":[{{"ARN":"arn:aws:s3:::{bucket}","type":"AWS::S3::Bucket"}}]}}"#
        )
    }

    fn setup(config: ProcessorConfig) -> (Preparer, Engine<&'static str>) {
        let engine = Engine::new(&config);
        (Preparer::new(config, Arc::new(BasicResolver)), engine)
    }

    fn admit(
        p: &Preparer,
        e: &mut Engine<&'static str>,
        b: &str,
        token: &'static str,
        now: Millis,
    ) {
        let _ = e.admit(p.prepare(b), token, now, Millis::MAX);
    }

    fn settle_all(
        e: &mut Engine<&'static str>,
        accept: impl Fn(&RescanRequest) -> bool,
    ) -> Vec<Settled<&'static str>> {
        let mut out = Vec::new();
        e.flush(&mut out);
        for o in out {
            let ok = accept(o.request());
            e.resolve(o, ok);
        }
        let mut s = e.take_settled();
        s.sort_by_key(|s| *s.token());
        s
    }

    fn kinds(s: &[Settled<&'static str>]) -> Vec<(&'static str, &'static str)> {
        s.iter()
            .map(|s| match s {
                Settled::Delete(d) => (*d.token(), "delete"),
                Settled::Retry(t) => (*t, "retry"),
                Settled::Leave(t) => (*t, "leave"),
            })
            .collect()
    }

    #[test]
    fn deleted_only_after_acceptance_and_retried_otherwise() {
        let (p, mut e) = setup(ProcessorConfig::default());
        admit(&p, &mut e, &body("e1", "a", 1000), "m1", 0);
        admit(&p, &mut e, &body("e2", "b", 1000), "m2", 0);
        assert!(e.take_settled().is_empty(), "nothing settles while held");
        let s = settle_all(&mut e, |r| r.arn.as_deref() != Some("arn:aws:s3:::a"));
        assert_eq!(kinds(&s), [("m1", "retry"), ("m2", "delete")]);
        // The refused event is new again: its redelivery is processed, not a duplicate.
        admit(&p, &mut e, &body("e1", "a", 1000), "m1-again", 0);
        assert_eq!(e.held(), 1);
        assert_eq!(e.stats().dropped.get("duplicate"), None);
        let s = settle_all(&mut e, |_| true);
        assert_eq!(kinds(&s), [("m1-again", "delete")]);
        assert!(e.is_idle());
    }

    #[test]
    fn a_duplicate_in_flight_joins_the_original_fate() {
        for accept in [true, false] {
            let (p, mut e) = setup(ProcessorConfig::default());
            admit(&p, &mut e, &body("e1", "a", 1000), "m1", 0);
            admit(&p, &mut e, &body("e1", "a", 1000), "m2", 0);
            assert_eq!(e.held(), 1);
            assert!(
                e.take_settled().is_empty(),
                "the duplicate waits for the original"
            );
            let s = settle_all(&mut e, |_| accept);
            let want = if accept { "delete" } else { "retry" };
            assert_eq!(kinds(&s), [("m1", want), ("m2", want)]);
        }
    }

    #[test]
    fn a_duplicate_of_a_done_event_is_deleted_at_once() {
        let (p, mut e) = setup(ProcessorConfig::default());
        admit(&p, &mut e, &body("e1", "a", 1000), "m1", 0);
        settle_all(&mut e, |_| true);
        admit(&p, &mut e, &body("e1", "a", 1000), "m2", 0);
        assert_eq!(e.held(), 0);
        assert_eq!(kinds(&e.take_settled()), [("m2", "delete")]);
        assert_eq!(e.stats().dropped.get("duplicate"), Some(&1));
    }

    #[test]
    fn undecodable_and_subscription_messages_are_left() {
        let (p, mut e) = setup(ProcessorConfig::default());
        admit(&p, &mut e, "{oops", "bad", 0);
        admit(
            &p,
            &mut e,
            r#"{"Type":"SubscriptionConfirmation","MessageId":"x","Token":"t","TopicArn":"arn:aws:sns:us-east-1:123456789012:t","Message":"m","SubscribeURL":"https://example.invalid/","Timestamp":"2024-01-01T00:00:00.000Z"}"#,
            "sub",
            0,
        );
        let mut s = e.take_settled();
        s.sort_by_key(|s| *s.token());
        assert_eq!(kinds(&s), [("bad", "leave"), ("sub", "leave")]);
    }

    #[test]
    fn held_until_max_hold_or_the_callers_deadline() {
        let config = ProcessorConfig {
            max_hold_secs: 60,
            ..ProcessorConfig::default()
        };
        let (p, mut e) = setup(config);
        let _ = e.admit(p.prepare(&body("e1", "a", 1000)), "m1", 1_000, Millis::MAX);
        let _ = e.admit(p.prepare(&body("e2", "b", 1000)), "m2", 1_000, 20_000);
        let mut out = Vec::new();
        e.release(19_999, &mut out);
        assert!(out.is_empty());
        e.release(20_000, &mut out);
        assert_eq!(out.len(), 1, "the visibility deadline came first for b");
        assert_eq!(out[0].request().arn.as_deref(), Some("arn:aws:s3:::b"));
        e.release(60_999, &mut out);
        assert_eq!(out.len(), 1);
        e.release(61_000, &mut out);
        assert_eq!(out.len(), 2, "a held for max hold, then released");
        for o in out {
            e.resolve(o, true);
        }
        assert_eq!(e.take_settled().len(), 2);
    }

    #[test]
    fn changes_from_separate_batches_merge_and_settle_together() {
        let (p, mut e) = setup(ProcessorConfig::default());
        admit(&p, &mut e, &body("e1", "a", 1000), "m1", 0);
        let mut out = Vec::new();
        e.release(1_000, &mut out);
        assert!(out.is_empty());
        admit(&p, &mut e, &body("e2", "a", 1010), "m2", 2_000);
        e.flush(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].request().events.len(), 2);
        assert_eq!(out[0].event_count(), 2);
        for o in out {
            e.resolve(o, true);
        }
        let mut s = e.take_settled();
        s.sort_by_key(|s| *s.token());
        assert_eq!(kinds(&s), [("m1", "delete"), ("m2", "delete")]);
    }

    #[test]
    fn caps_pause_receiving_and_release_early() {
        let config = ProcessorConfig {
            max_held_requests: 3,
            max_in_flight_messages: 5,
            ..ProcessorConfig::default()
        };
        let (p, mut e) = setup(config);
        for (i, token) in ["m0", "m1", "m2", "m3"].into_iter().enumerate() {
            admit(
                &p,
                &mut e,
                &body(&format!("e{i}"), &format!("b{i}"), 1000),
                token,
                0,
            );
        }
        assert_eq!(e.held(), 3, "the oldest was released past the cap");
        assert!(e.is_full());
        let mut out = Vec::new();
        e.release(0, &mut out);
        assert_eq!(out.len(), 1);
        for o in out {
            e.resolve(o, true);
        }
        assert_eq!(kinds(&e.take_settled()), [("m0", "delete")]);
    }

    #[test]
    fn at_the_message_cap_held_requests_go_out_early() {
        let config = ProcessorConfig {
            max_in_flight_messages: 4,
            ..ProcessorConfig::default()
        };
        let (p, mut e) = setup(config);
        for (i, token) in ["m0", "m1", "m2", "m3"].into_iter().enumerate() {
            admit(
                &p,
                &mut e,
                &body(&format!("e{i}"), &format!("b{i}"), 1000),
                token,
                0,
            );
        }
        assert!(e.is_full());
        let mut out = Vec::new();
        e.release(0, &mut out);
        assert_eq!(
            out.len(),
            2,
            "half of the held requests, long before max hold"
        );
        for o in out {
            e.resolve(o, true);
        }
        assert_eq!(e.take_settled().len(), 2);
        assert!(!e.is_full(), "receiving can resume");
    }

    #[test]
    fn one_event_naming_many_resources_waits_for_all_of_them() {
        let (p, mut e) = setup(ProcessorConfig::default());
        let b = r#"{"eventVersion":"1.08","eventID":"multi","eventTime":"2024-01-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","awsRegion":"us-east-1","recipientAccountId":"123456789012","readOnly":false,"resources":[{"ARN":"arn:aws:s3:::x","type":"AWS::S3::Bucket"},{"ARN":"arn:aws:s3:::y","type":"AWS::S3::Bucket"}]}"#;
        admit(&p, &mut e, b, "m", 0);
        let mut out = Vec::new();
        e.flush(&mut out);
        assert_eq!(out.len(), 2);
        let mut it = out.into_iter();
        let first = it.next().unwrap();
        e.resolve(first, true);
        assert!(e.take_settled().is_empty(), "one of two requests accepted");
        e.resolve(it.next().unwrap(), true);
        assert_eq!(kinds(&e.take_settled()), [("m", "delete")]);
    }
}
