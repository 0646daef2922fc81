//! A deterministic simulation of the at-least-once consumer: an in-process queue with
//! visibility timeouts, redelivery, duplicate messages and reordering; sinks that
//! refuse requests; consumers that crash (losing everything in memory) and restart.
//!
//! Over many seeds: no event is lost, no message is deleted before every request its
//! events contributed to was accepted, memory stays within the caps, and changes to
//! one resource that arrive in different receive batches merge.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use processor_core::coalesce::Millis;
use processor_core::{
    BasicResolver, Engine, FilterConfig, Outgoing, Preparer, ProcessorConfig, Settled,
};
use proptest::prelude::*;

/// xorshift64*: a small deterministic generator for the simulation's choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A CloudTrail record changing bucket `b{resource}` (named by its `resources` field).
fn record(event: u64, resource: u64, time: i64) -> String {
    let t = processor_core::time::format_rfc3339(time);
    format!(
        r#"{{"eventVersion":"1.08","eventID":"ev-{event}","eventTime":"{t}","eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","awsRegion":"us-east-1","recipientAccountId":"123456789012","eventType":"AwsApiCall","readOnly":false,"userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/sim"}},"resources":[{{"ARN":"arn:aws:s3:::b{resource}","type":"AWS::S3::Bucket"}}]}}"#
    )
}

fn sns(record: &str, n: u64) -> String {
    processor_core::wrap::sns_delivery(
        record,
        n,
        "arn:aws:sns:us-east-1:123456789012:cloudcoreo-events",
        "2024-01-01T00:00:00.000Z",
        false,
    )
    .unwrap()
}

#[derive(Debug, Clone)]
struct QueueMessage {
    body: String,
    /// The event ids it carries (none for a malformed body).
    events: Vec<String>,
    visible_at: Millis,
    receipt: u64,
    receives: u32,
}

/// SQS as far as the consumer can tell: visibility, receipts, redrive.
#[derive(Default)]
struct Queue {
    messages: HashMap<u64, QueueMessage>,
    dead: Vec<QueueMessage>,
    next_receipt: u64,
    max_receives: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    message: u64,
    receipt: u64,
    visible_until: Millis,
}

impl Queue {
    fn receive(&mut self, now: Millis, visibility: Millis, rng: &mut Rng) -> Vec<(Token, String)> {
        let mut ids: Vec<u64> = self
            .messages
            .iter()
            .filter(|(_, m)| m.visible_at <= now)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        // Reordering: SQS standard queues hand out messages in no fixed order.
        for i in (1..ids.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            ids.swap(i, j);
        }
        let mut out = Vec::new();
        for id in ids.into_iter().take(10) {
            let m = self.messages.get_mut(&id).unwrap();
            if m.receives >= self.max_receives {
                if let Some(m) = self.messages.remove(&id) {
                    self.dead.push(m);
                }
                continue;
            }
            m.receives += 1;
            self.next_receipt += 1;
            m.receipt = self.next_receipt;
            m.visible_at = now + visibility;
            out.push((
                Token {
                    message: id,
                    receipt: m.receipt,
                    visible_until: m.visible_at,
                },
                m.body.clone(),
            ));
        }
        out
    }

    /// Deletes with a receipt; an old receipt deletes nothing (as in SQS).
    fn delete(&mut self, token: &Token) -> Option<QueueMessage> {
        match self.messages.get(&token.message) {
            Some(m) if m.receipt == token.receipt => self.messages.remove(&token.message),
            _ => None,
        }
    }

    fn change_visibility(&mut self, token: &Token, at: Millis) -> bool {
        match self.messages.get_mut(&token.message) {
            Some(m) if m.receipt == token.receipt => {
                m.visible_at = at;
                true
            }
            _ => false,
        }
    }
}

struct Params {
    events: u64,
    resources: u64,
    duplicate_percent: u64,
    malformed: u64,
    refuse_percent: u64,
    crash_per_mille: u64,
    consumers: usize,
}

struct Outcome {
    lost: Vec<String>,
    dead_good: usize,
    dead_malformed: usize,
    max_held: usize,
    max_in_flight: usize,
    requests_accepted: usize,
    merged_across_batches: usize,
    steps: u64,
}

const VISIBILITY: Millis = 30_000;
const STEP: Millis = 1_000;

fn config() -> ProcessorConfig {
    ProcessorConfig {
        filter: FilterConfig::default(),
        window_secs: 30,
        max_hold_secs: 5,
        max_held_requests: 40,
        max_in_flight_messages: 60,
        ..ProcessorConfig::default()
    }
}

fn simulate(seed: u64, p: &Params) -> Outcome {
    let mut rng = Rng(seed | 1);
    let mut queue = Queue {
        max_receives: 20,
        ..Queue::default()
    };
    // The stream: events on a few resources, close in time, some sent twice.
    let mut all_events = HashSet::new();
    let mut n = 0u64;
    let mut bodies = Vec::new();
    for e in 0..p.events {
        let resource = rng.below(p.resources);
        let time = 1_700_000_000 + (e as i64) * 2;
        let body = sns(&record(e, resource, time), e);
        all_events.insert(format!("ev-{e}"));
        let copies = if rng.chance(p.duplicate_percent) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            bodies.push((body.clone(), vec![format!("ev-{e}")]));
        }
    }
    for m in 0..p.malformed {
        bodies.push((
            format!("{{\"Type\":\"Notification\",\"Message\":\"{{broken {m}\"}}"),
            vec![],
        ));
    }
    for (body, events) in bodies {
        n += 1;
        queue.messages.insert(
            n,
            QueueMessage {
                body,
                events,
                visible_at: rng.below(20) * STEP,
                receipt: 0,
                receives: 0,
            },
        );
    }

    let cfg = config();
    let preparer = Preparer::new(cfg.clone(), Arc::new(BasicResolver));
    let mut consumers: Vec<Engine<Token>> = (0..p.consumers).map(|_| Engine::new(&cfg)).collect();
    let mut accepted: HashSet<String> = HashSet::new();
    let mut out = Outcome {
        lost: Vec::new(),
        dead_good: 0,
        dead_malformed: 0,
        max_held: 0,
        max_in_flight: 0,
        requests_accepted: 0,
        merged_across_batches: 0,
        steps: 0,
    };
    let mut now: Millis = 0;
    let mut batch_of_event: HashMap<String, u64> = HashMap::new();
    let mut batch_no = 0u64;
    for step in 0..5_000u64 {
        out.steps = step;
        if queue.messages.is_empty() && consumers.iter().all(|c| c.is_idle()) {
            break;
        }
        for engine in consumers.iter_mut() {
            if rng.below(1000) < p.crash_per_mille {
                // Crash: everything in memory is gone; the queue redelivers later.
                *engine = Engine::new(&cfg);
                continue;
            }
            if !engine.is_full() {
                batch_no += 1;
                for (token, body) in queue.receive(now, VISIBILITY, &mut rng) {
                    for e in &queue.messages[&token.message].events {
                        batch_of_event.insert(e.clone(), batch_no);
                    }
                    let release_by = token.visible_until - VISIBILITY / 3;
                    let _ = engine.admit(preparer.prepare(&body), token, now, release_by);
                }
            }
            out.max_held = out.max_held.max(engine.held());
            out.max_in_flight = out.max_in_flight.max(engine.in_flight());
            let mut outgoing: Vec<Outgoing> = Vec::new();
            engine.release(now, &mut outgoing);
            for o in outgoing {
                let ok = !rng.chance(p.refuse_percent);
                if ok {
                    out.requests_accepted += 1;
                    let batches: HashSet<u64> = o
                        .request()
                        .events
                        .iter()
                        .filter_map(|e| batch_of_event.get(&e.event_id).copied())
                        .collect();
                    if batches.len() > 1 {
                        out.merged_across_batches += 1;
                    }
                    for e in &o.request().events {
                        accepted.insert(e.event_id.clone());
                    }
                }
                engine.resolve(o, ok);
            }
            for settled in engine.take_settled() {
                match settled {
                    Settled::Delete(d) => {
                        let token = d.into_token();
                        if let Some(m) = queue.delete(&token) {
                            for e in &m.events {
                                assert!(
                                    accepted.contains(e),
                                    "seed {seed}: message {} deleted before {e} was accepted",
                                    token.message
                                );
                            }
                        }
                    }
                    Settled::Retry(token) => {
                        queue.change_visibility(&token, now + 2 * STEP);
                    }
                    Settled::Leave(_) => {}
                }
            }
            // Extend what would expire before it can be settled.
            for token in engine.in_flight_tokens_mut() {
                if token.visible_until <= now + VISIBILITY / 2
                    && queue.change_visibility(token, now + VISIBILITY)
                {
                    token.visible_until = now + VISIBILITY;
                }
            }
        }
        now += STEP;
    }
    out.dead_malformed = queue.dead.iter().filter(|m| m.events.is_empty()).count();
    out.dead_good = queue.dead.len() - out.dead_malformed;
    let mut lost: Vec<String> = all_events.difference(&accepted).cloned().collect();
    lost.sort();
    out.lost = lost;
    assert!(
        queue.messages.values().all(|m| m.events.is_empty()),
        "seed {seed}: good messages left on the queue after {} steps",
        out.steps
    );
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn nothing_is_lost_or_deleted_early(
        seed in any::<u64>(),
        events in 20u64..150,
        resources in 1u64..20,
        refuse_percent in 0u64..40,
        crash_per_mille in 0u64..30,
        consumers in 1usize..3,
    ) {
        let p = Params {
            events,
            resources,
            duplicate_percent: 15,
            malformed: 2,
            refuse_percent,
            crash_per_mille,
            consumers,
        };
        let o = simulate(seed, &p);
        prop_assert!(o.lost.is_empty(), "lost {:?}", o.lost);
        let cfg = config();
        // At most one receive batch (10) above the cap before receiving pauses.
        prop_assert!(o.max_in_flight <= cfg.max_in_flight_messages + 10);
        prop_assert!(o.max_held <= cfg.max_held_requests);
        prop_assert_eq!(o.dead_good, 0);
        prop_assert_eq!(o.dead_malformed, 2);
    }
}

#[test]
fn malformed_bodies_reach_the_dead_letter_queue_without_blocking() {
    let p = Params {
        events: 50,
        resources: 5,
        duplicate_percent: 0,
        malformed: 5,
        refuse_percent: 0,
        crash_per_mille: 0,
        consumers: 1,
    };
    let o = simulate(42, &p);
    assert!(o.lost.is_empty());
    assert_eq!(o.dead_good, 0);
    assert_eq!(o.dead_malformed, 5, "every malformed body was redriven");
}

#[test]
fn changes_from_different_receive_batches_merge() {
    let p = Params {
        events: 100,
        resources: 3,
        duplicate_percent: 0,
        malformed: 0,
        refuse_percent: 0,
        crash_per_mille: 0,
        consumers: 1,
    };
    let o = simulate(9, &p);
    assert!(o.lost.is_empty());
    assert!(
        o.merged_across_batches > 0,
        "no request merged events of two receive batches"
    );
    assert!(
        o.requests_accepted < 100,
        "100 events on 3 resources coalesced into fewer requests ({})",
        o.requests_accepted
    );
}
