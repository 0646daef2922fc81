//! Merging repeated changes to one resource into one request.
//!
//! Windows run on event time, so a replay gives the same output every time. A
//! resource's window opens with its first event and lasts `window` seconds; later
//! events for the same resource inside it merge into the held request, an event past it
//! closes the request and opens a new one. The newest event decides the action, so a
//! delete wins over the updates before it and an update after a delete (the resource
//! was re-created) wins over the delete.
//!
//! A held request is released by whichever comes first:
//! - **event time**: the highest event time seen has passed its window by
//!   [`LATENESS_SECS`], so events that arrive a few minutes out of order (CloudTrail
//!   delivers them so) still merge;
//! - **wall clock**: its deadline, given by the caller with each change (the engine
//!   passes the earlier of "first seen + max hold" and the visibility deadline of the
//!   messages behind it), has passed ([`Coalescer::release_due`]);
//! - **room**: more than the cap of held requests ([`Coalescer::release_oldest`]);
//! - **the end**: [`Coalescer::flush`] releases everything.
//!
//! Every change carries the key of the event it came from ([`Change::origin`]); a
//! released request lists the keys of every event merged into it
//! ([`Released::provenance`]), even past the cap of events it lists, so the engine
//! knows which messages wait on it.
//!
//! IAM ARNs carry a path (`role/service-role/x`) that most events do not name, so IAM
//! resources are keyed without it, and the longest ARN seen (the one with the path) is
//! the one reported.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use crate::rescan::{Action, EventRef, RescanRequest, Scope};
use crate::time::format_rfc3339;

/// How far behind the newest event time an event may arrive and still merge.
pub const LATENESS_SECS: i64 = 300;

/// Wall-clock time in milliseconds since an origin the caller chooses (monotonic).
pub type Millis = u64;

/// A deadline that never comes (replay runs on event time alone).
pub const NEVER: Millis = Millis::MAX;

/// One resource (or service) change to merge.
#[derive(Debug, Clone)]
pub struct Change {
    /// Account that owns the resource.
    pub account: String,
    /// Region of the event.
    pub region: String,
    /// Short service name.
    pub service: String,
    /// What changed; `None` for a service-scope change.
    pub target: Option<ResourceKey>,
    /// Update or delete.
    pub action: Action,
    /// Event time, Unix seconds.
    pub time: i64,
    /// Settle delay in seconds.
    pub settle: u32,
    /// The event.
    pub event: EventRef,
    /// The engine's key of the event this change came from.
    pub origin: u64,
}

/// The resource a change targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceKey {
    /// ARN.
    pub arn: String,
    /// `service:type`.
    pub resource_type: String,
    /// Identifier.
    pub resource_id: String,
}

/// A request the coalescer let go, with the events behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    /// The request.
    pub request: RescanRequest,
    /// Keys ([`Change::origin`]) of every event merged into it, each once.
    pub provenance: Vec<u64>,
}

#[derive(Debug)]
struct Pending {
    request: RescanRequest,
    seq: u64,
    window_start: i64,
    window_end: i64,
    last_time: i64,
    not_before: i64,
    times: Vec<i64>,
    provenance: Vec<u64>,
    deadline: Millis,
}

/// Merges changes per resource within an event-time window.
#[derive(Debug)]
pub struct Coalescer {
    window: i64,
    max_events: usize,
    pending: HashMap<String, Pending>,
    /// Event-time window ends.
    deadlines: BinaryHeap<Reverse<(i64, u64, String)>>,
    /// Wall-clock deadlines (lazily pruned: an entry is live while it matches).
    wall: BinaryHeap<Reverse<(Millis, u64, String)>>,
    seq: u64,
    watermark: i64,
}

impl Coalescer {
    /// `window` seconds per resource (0: one request per event and resource); at most
    /// `max_events` events are listed in one request (the first to arrive are kept).
    pub fn new(window: u32, max_events: usize) -> Self {
        Coalescer {
            window: i64::from(window),
            max_events: max_events.max(1),
            pending: HashMap::new(),
            deadlines: BinaryHeap::new(),
            wall: BinaryHeap::new(),
            seq: 0,
            watermark: i64::MIN,
        }
    }

    /// How many requests are held.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The earliest wall-clock deadline of a held request.
    pub fn next_deadline(&mut self) -> Option<Millis> {
        self.prune_wall();
        self.wall.peek().map(|Reverse((d, _, _))| *d)
    }

    /// Adds a change that must be released by `deadline` (wall clock); requests whose
    /// window closed are appended to `out`. True when the change's origin became part
    /// of a request it was not part of yet (the engine counts the requests each event
    /// waits on).
    pub fn add(&mut self, change: Change, deadline: Millis, out: &mut Vec<Released>) -> bool {
        let key = match &change.target {
            Some(t) => resource_key(&t.arn),
            None => format!(
                "service|{}|{}|{}",
                change.account, change.region, change.service
            ),
        };
        let time = change.time;
        let mut joined = true;
        match self.pending.get_mut(&key) {
            // Within `window` of the request's first event, either side (late events).
            Some(p) if time < p.window_end && time > p.window_start.saturating_sub(self.window) => {
                joined = merge(p, change, self.max_events);
                if deadline < p.deadline {
                    p.deadline = deadline;
                    self.wall.push(Reverse((deadline, p.seq, key)));
                }
            }
            Some(_) => {
                if let Some(p) = self.pending.remove(&key) {
                    out.push(finish(p));
                }
                self.open(key, change, deadline);
            }
            None => self.open(key, change, deadline),
        }
        if time > self.watermark {
            self.watermark = time;
        }
        self.release(out);
        joined
    }

    fn open(&mut self, key: String, c: Change, deadline: Millis) {
        self.seq += 1;
        let window_end = c.time.saturating_add(self.window);
        let not_before = c.time.saturating_add(i64::from(c.settle));
        let (scope, resource_type, resource_id, arn) = match c.target {
            Some(t) => (
                Scope::Resource,
                Some(t.resource_type),
                Some(t.resource_id),
                Some(t.arn),
            ),
            None => (Scope::Service, None, None, None),
        };
        let request = RescanRequest {
            account: c.account,
            region: c.region,
            service: c.service,
            resource_type,
            resource_id,
            arn,
            scope,
            action: c.action,
            not_before: String::new(),
            events: vec![c.event],
        };
        self.deadlines
            .push(Reverse((window_end, self.seq, key.clone())));
        if deadline != NEVER {
            self.wall.push(Reverse((deadline, self.seq, key.clone())));
        }
        self.pending.insert(
            key,
            Pending {
                request,
                seq: self.seq,
                window_start: c.time,
                window_end,
                last_time: c.time,
                not_before,
                times: vec![c.time],
                provenance: vec![c.origin],
                deadline,
            },
        );
    }

    /// Releases every request whose window ended at or before the watermark.
    fn release(&mut self, out: &mut Vec<Released>) {
        while let Some(Reverse((end, seq, _))) = self.deadlines.peek() {
            if end.saturating_add(LATENESS_SECS) > self.watermark {
                break;
            }
            let (end, seq) = (*end, *seq);
            let Some(Reverse((_, _, key))) = self.deadlines.pop() else {
                break;
            };
            if self
                .pending
                .get(&key)
                .is_some_and(|p| p.seq == seq && p.window_end == end)
            {
                if let Some(p) = self.pending.remove(&key) {
                    out.push(finish(p));
                }
            }
        }
    }

    /// Drops wall-clock entries that no longer match a held request.
    fn prune_wall(&mut self) {
        while let Some(Reverse((d, seq, key))) = self.wall.peek() {
            let live = self
                .pending
                .get(key)
                .is_some_and(|p| p.seq == *seq && p.deadline == *d);
            if live {
                break;
            }
            self.wall.pop();
        }
    }

    /// Releases every request whose wall-clock deadline is at or before `now`.
    pub fn release_due(&mut self, now: Millis, out: &mut Vec<Released>) {
        loop {
            self.prune_wall();
            match self.wall.peek() {
                Some(Reverse((d, _, _))) if *d <= now => {}
                _ => break,
            }
            if let Some(Reverse((_, _, key))) = self.wall.pop() {
                if let Some(p) = self.pending.remove(&key) {
                    out.push(finish(p));
                }
            }
        }
    }

    /// Releases held requests, earliest deadline (then oldest) first, until at most
    /// `keep` remain.
    pub fn release_oldest(&mut self, keep: usize, out: &mut Vec<Released>) {
        if self.pending.len() <= keep {
            return;
        }
        let mut all: Vec<(Millis, u64, String)> = self
            .pending
            .iter()
            .map(|(k, p)| (p.deadline, p.seq, k.clone()))
            .collect();
        all.sort_unstable();
        let excess = self.pending.len() - keep;
        for (_, _, key) in all.into_iter().take(excess) {
            if let Some(p) = self.pending.remove(&key) {
                out.push(finish(p));
            }
        }
    }

    /// Releases every held request, oldest window first (end of a batch or replay).
    pub fn flush(&mut self, out: &mut Vec<Released>) {
        let mut all: Vec<Pending> = self.pending.drain().map(|(_, p)| p).collect();
        all.sort_by_key(|p| p.seq);
        out.extend(all.into_iter().map(finish));
        self.deadlines.clear();
        self.wall.clear();
        // A record dated far in the future must not keep later windows from merging.
        self.watermark = i64::MIN;
    }
}

/// The coalescing key of a resource: its ARN, without the path for IAM resources.
fn resource_key(arn: &str) -> String {
    if let Some(p) = crate::resolve::parse_arn(arn) {
        if p.service == "iam" {
            if let (Some((kind, _)), Some(name)) =
                (p.resource.split_once('/'), p.resource.rsplit('/').next())
            {
                return format!("arn:{}:iam::{}:{kind}/{name}", p.partition, p.account);
            }
        }
    }
    arn.to_string()
}

/// Merges `c` into `p`; true when `c.origin` was not yet part of `p`.
fn merge(p: &mut Pending, c: Change, max_events: usize) -> bool {
    if let (Some(new), Some(old)) = (&c.target, p.request.arn.as_mut()) {
        if new.arn.len() > old.len() {
            old.clone_from(&new.arn);
        }
    }
    if c.time > p.last_time || (c.time == p.last_time && c.action == Action::Delete) {
        p.request.action = c.action;
    }
    p.last_time = p.last_time.max(c.time);
    p.not_before = p.not_before.max(c.time.saturating_add(i64::from(c.settle)));
    // One event's changes arrive together, so a repeat is always the last one.
    let joined = p.provenance.last() != Some(&c.origin);
    if joined {
        p.provenance.push(c.origin);
    }
    if p.request.events.len() < max_events
        && !p
            .request
            .events
            .iter()
            .any(|e| e.event_id == c.event.event_id)
    {
        p.request.events.push(c.event);
        p.times.push(c.time);
    }
    joined
}

fn finish(mut p: Pending) -> Released {
    p.request.not_before = format_rfc3339(p.not_before);
    if p.times.windows(2).any(|w| w[0] > w[1]) {
        let mut paired: Vec<(i64, EventRef)> = p.times.into_iter().zip(p.request.events).collect();
        paired.sort_by_key(|(t, _)| *t);
        p.request.events = paired.into_iter().map(|(_, e)| e).collect();
    }
    Released {
        request: p.request,
        provenance: p.provenance,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(arn: &str, id: &str, time: i64, action: Action) -> Change {
        Change {
            account: "123456789012".into(),
            region: "us-east-1".into(),
            service: "s3".into(),
            target: Some(ResourceKey {
                arn: arn.into(),
                resource_type: "s3:bucket".into(),
                resource_id: "b".into(),
            }),
            action,
            time,
            settle: 10,
            event: EventRef {
                event_id: id.into(),
                event_name: "PutBucketPolicy".into(),
                event_time: format_rfc3339(time),
                principal: None,
            },
            origin: id.bytes().map(u64::from).sum(),
        }
    }

    #[test]
    fn merges_within_window_and_delete_wins() {
        let mut c = Coalescer::new(60, 100);
        let mut out = Vec::new();
        c.add(
            change("arn:aws:s3:::b", "1", 1000, Action::Update),
            NEVER,
            &mut out,
        );
        c.add(
            change("arn:aws:s3:::b", "2", 1030, Action::Delete),
            NEVER,
            &mut out,
        );
        assert!(out.is_empty());
        c.add(
            change("arn:aws:s3:::other", "3", 1061, Action::Update),
            NEVER,
            &mut out,
        );
        assert!(out.is_empty(), "still within the lateness allowance");
        c.add(
            change(
                "arn:aws:s3:::other2",
                "4",
                1060 + LATENESS_SECS,
                Action::Update,
            ),
            NEVER,
            &mut out,
        );
        assert_eq!(out.len(), 1, "the first window closed when time passed it");
        assert_eq!(out[0].request.action, Action::Delete);
        assert_eq!(out[0].request.events.len(), 2);
        assert_eq!(out[0].request.not_before, format_rfc3339(1040));
        c.flush(&mut out);
        assert_eq!(out.len(), 3);
        assert_eq!(c.pending(), 0);
    }

    #[test]
    fn update_after_delete_wins() {
        let mut c = Coalescer::new(60, 100);
        let mut out = Vec::new();
        c.add(
            change("arn:aws:s3:::b", "1", 1000, Action::Delete),
            NEVER,
            &mut out,
        );
        c.add(
            change("arn:aws:s3:::b", "2", 1010, Action::Update),
            NEVER,
            &mut out,
        );
        c.flush(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].request.action, Action::Update);
    }

    #[test]
    fn late_events_still_merge() {
        let mut c = Coalescer::new(60, 100);
        let mut out = Vec::new();
        c.add(
            change("arn:aws:s3:::x", "new", 1200, Action::Update),
            NEVER,
            &mut out,
        );
        c.add(
            change("arn:aws:s3:::b", "1", 1000, Action::Update),
            NEVER,
            &mut out,
        );
        c.add(
            change("arn:aws:s3:::b", "2", 1030, Action::Delete),
            NEVER,
            &mut out,
        );
        c.flush(&mut out);
        let b: Vec<_> = out
            .iter()
            .filter(|r| r.request.arn.as_deref() == Some("arn:aws:s3:::b"))
            .collect();
        assert_eq!(b.len(), 1, "events 200 s late still merge");
        assert_eq!(b[0].request.action, Action::Delete);
    }

    #[test]
    fn far_late_events_and_the_future_do_not_block_anything() {
        let mut c = Coalescer::new(60, 100);
        let mut out = Vec::new();
        c.add(
            change("arn:aws:s3:::future", "f", 4_000_000_000, Action::Update),
            NEVER,
            &mut out,
        );
        c.add(
            change("arn:aws:s3:::b", "1", 1000, Action::Update),
            NEVER,
            &mut out,
        );
        assert_eq!(
            out.len(),
            1,
            "far older than the watermark: released at once"
        );
        c.flush(&mut out);
        out.clear();
        c.add(
            change("arn:aws:s3:::b", "2", 1000, Action::Update),
            NEVER,
            &mut out,
        );
        c.add(
            change("arn:aws:s3:::b", "3", 1010, Action::Update),
            NEVER,
            &mut out,
        );
        assert!(
            out.is_empty(),
            "flush reset the watermark: merging works again"
        );
        c.flush(&mut out);
        assert_eq!(out[0].request.events.len(), 2);
    }

    #[test]
    fn iam_paths_do_not_split_a_resource() {
        let mut c = Coalescer::new(60, 100);
        let mut out = Vec::new();
        let mut with_path = change(
            "arn:aws:iam::123456789012:role/service-role/app",
            "1",
            1000,
            Action::Update,
        );
        with_path.service = "iam".into();
        let mut without = change(
            "arn:aws:iam::123456789012:role/app",
            "2",
            1010,
            Action::Delete,
        );
        without.service = "iam".into();
        c.add(without, NEVER, &mut out);
        c.add(with_path, NEVER, &mut out);
        c.add(
            change(
                "arn:aws:iam::123456789012:role/other",
                "3",
                1010,
                Action::Update,
            ),
            NEVER,
            &mut out,
        );
        c.flush(&mut out);
        assert_eq!(out.len(), 2, "{out:#?}");
        assert_eq!(
            out[0].request.arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/service-role/app")
        );
        assert_eq!(out[0].request.action, Action::Delete);
    }

    #[test]
    fn window_zero_never_merges_even_out_of_order() {
        let mut c = Coalescer::new(0, 100);
        let mut out = Vec::new();
        c.add(
            change("arn:aws:s3:::b", "1", 1000, Action::Update),
            NEVER,
            &mut out,
        );
        c.add(
            change("arn:aws:s3:::b", "2", 990, Action::Update),
            NEVER,
            &mut out,
        );
        c.flush(&mut out);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn window_zero_is_one_request_per_event() {
        let mut c = Coalescer::new(0, 100);
        let mut out = Vec::new();
        for i in 0..3 {
            c.add(
                change("arn:aws:s3:::b", &i.to_string(), 1000, Action::Update),
                NEVER,
                &mut out,
            );
        }
        c.flush(&mut out);
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|r| r.request.events.len() == 1));
    }

    #[test]
    fn out_of_order_events_are_sorted_and_capped() {
        let mut c = Coalescer::new(600, 2);
        let mut out = Vec::new();
        c.add(
            change("arn:aws:s3:::b", "late", 1100, Action::Update),
            NEVER,
            &mut out,
        );
        c.add(
            change("arn:aws:s3:::b", "early", 1050, Action::Update),
            NEVER,
            &mut out,
        );
        c.add(
            change("arn:aws:s3:::b", "capped", 1060, Action::Update),
            NEVER,
            &mut out,
        );
        c.flush(&mut out);
        let ids: Vec<_> = out[0]
            .request
            .events
            .iter()
            .map(|e| e.event_id.as_str())
            .collect();
        assert_eq!(ids, ["early", "late"]);
    }
}
