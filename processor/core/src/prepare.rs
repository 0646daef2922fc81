//! The stateless half of the pipeline: decode, filter and resolve one body.
//!
//! [`Preparer`] is `Sync` and holds no per-message state, so consumers run it on every
//! core at once; what it returns ([`Prepared`]) owns its data and goes to the one
//! [`crate::engine::Engine`] that decides duplicates, coalesces and keeps the ledger.
//! Work per body is linear in its size: past `max_targets_per_event` resources, an
//! event becomes one service-scope change instead of thousands of resource changes.

use std::borrow::Cow;
use std::sync::Arc;

use crate::coalesce::{Change, ResourceKey};
use crate::decode::{self, DecodeError, Decoded, SubscriptionKind, SubscriptionToken};
use crate::event::Event;
use crate::filter::{fnv1a, Filter};
use crate::pipeline::{MessageOutcome, ProcessorConfig};
use crate::rescan::{Action, EventRef};
use crate::resolve::{Resolver, Target};
use crate::stats::Stats;

/// How many errors one [`MessageOutcome::Invalid`] keeps.
const MAX_ERRORS_KEPT: usize = 8;

/// One kept event and the changes it makes.
#[derive(Debug, Clone)]
pub struct KeptEvent {
    /// 64-bit hash of its `eventID` (the duplicate key).
    pub id: u64,
    /// One change per resource it touched (one service-scope change when none could
    /// be named, or more than the cap).
    pub changes: Vec<Change>,
}

/// One body, decoded, filtered and resolved; owns its data.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// What the body was.
    pub outcome: MessageOutcome,
    /// The events the filter kept (duplicates are the engine's to find).
    pub events: Vec<KeptEvent>,
    /// The counts of this body (messages, events, kept, drops, invalid parts).
    pub stats: Stats,
}

/// Decodes, filters and resolves bodies; shareable across threads.
pub struct Preparer {
    filter: Filter,
    resolver: Arc<dyn Resolver>,
    config: ProcessorConfig,
}

impl std::fmt::Debug for Preparer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Preparer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Preparer {
    /// A preparer with `config`, resolving resources with `resolver`.
    pub fn new(config: ProcessorConfig, resolver: Arc<dyn Resolver>) -> Self {
        Preparer {
            filter: Filter::new(config.filter.clone()),
            resolver,
            config,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &ProcessorConfig {
        &self.config
    }

    /// Prepares one queue message body (at most `max_body_bytes`).
    pub fn prepare(&self, body: &str) -> Prepared {
        self.prepare_with_limit(body, self.config.max_body_bytes)
    }

    /// [`Preparer::prepare`] with another size limit (whole log files in replay).
    pub fn prepare_with_limit(&self, body: &str, limit: usize) -> Prepared {
        let mut stats = Stats {
            messages: 1,
            ..Stats::default()
        };
        let mut kept_events = Vec::new();
        let mut events = 0u32;
        let mut errors: Vec<DecodeError> = Vec::new();
        let mut error_count = 0usize;
        let mut subscription: Option<(
            SubscriptionKind,
            Option<String>,
            Option<SubscriptionToken>,
        )> = None;
        let mut targets = Vec::new();
        decode::decode_with_limit(body, limit, &mut |item| match item {
            Ok(Decoded::Event(ev)) => {
                events += 1;
                if let Some(k) = self.prepare_event(&ev, &mut stats, &mut targets) {
                    kept_events.push(k);
                }
            }
            Ok(Decoded::Subscription {
                kind,
                topic_arn,
                token,
            }) => {
                stats.subscription_messages += 1;
                subscription = Some((kind, topic_arn.map(Cow::into_owned), token));
            }
            Err(e) => {
                stats.invalid(e.kind());
                error_count += 1;
                if errors.len() < MAX_ERRORS_KEPT {
                    errors.push(e);
                }
            }
        });
        let outcome = if error_count > 0 {
            MessageOutcome::Invalid { errors, events }
        } else if let (Some((kind, topic_arn, token)), 0) = (subscription, events) {
            MessageOutcome::Subscription {
                kind,
                topic_arn,
                token,
            }
        } else {
            MessageOutcome::Processed {
                events,
                kept: kept_events.len() as u32,
            }
        };
        Prepared {
            outcome,
            events: kept_events,
            stats,
        }
    }

    /// A unit the caller found undecodable before it reached the decoder (a line that
    /// is not UTF-8, say).
    pub fn invalid(&self, error: DecodeError) -> Prepared {
        let mut stats = Stats {
            messages: 1,
            ..Stats::default()
        };
        stats.invalid(error.kind());
        Prepared {
            outcome: MessageOutcome::Invalid {
                errors: vec![error],
                events: 0,
            },
            events: Vec::new(),
            stats,
        }
    }

    /// Filters and resolves one decoded event.
    fn prepare_event(
        &self,
        ev: &Event<'_>,
        stats: &mut Stats,
        targets: &mut Vec<Target>,
    ) -> Option<KeptEvent> {
        stats.events += 1;
        if let Some(reason) = self.filter.check(ev) {
            stats.drop(reason);
            return None;
        }
        stats.kept += 1;
        targets.clear();
        self.resolver.resolve(ev, targets);
        crate::resolve::dedup_targets(targets);
        if targets.len() > self.config.max_targets_per_event {
            // Thousands of resources in one call: rescan the service instead.
            stats.capped_events += 1;
            targets.clear();
        }
        let settle = self.resolver.settle_delay(ev);
        let event_ref = EventRef {
            event_id: ev.event_id.to_string(),
            event_name: ev.event_name.to_string(),
            event_time: crate::time::format_rfc3339(ev.time),
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
            origin: 0,
        };
        let changes = if targets.is_empty() {
            // Never drop a mutating event silently: rescan the service.
            vec![base(None, Action::Update, event_ref)]
        } else {
            targets
                .drain(..)
                .map(|t| {
                    let key = ResourceKey {
                        arn: t.arn,
                        resource_type: t.resource_type,
                        resource_id: t.resource_id,
                    };
                    base(Some(key), t.action, event_ref.clone())
                })
                .collect()
        };
        Some(KeptEvent {
            id: fnv1a(ev.event_id.as_bytes()),
            changes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rescan::Scope;
    use crate::resolve::BasicResolver;

    /// A record whose `resources` field names `n` buckets, each twice.
    fn many(n: usize) -> String {
        let entries: Vec<String> = (0..n)
            .chain(0..n)
            .map(|i| format!(r#"{{"ARN":"arn:aws:s3:::b{i}","type":"AWS::S3::Bucket"}}"#))
            .collect();
        format!(
            r#"{{"eventVersion":"1.08","eventID":"big","eventTime":"2024-01-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","awsRegion":"us-east-1","recipientAccountId":"123456789012","readOnly":false,"resources":[{}]}}"#,
            entries.join(",")
        )
    }

    fn preparer(cap: usize) -> Preparer {
        Preparer::new(
            ProcessorConfig {
                max_targets_per_event: cap,
                ..ProcessorConfig::default()
            },
            Arc::new(BasicResolver),
        )
    }

    #[test]
    fn repeated_resources_are_named_once_however_many() {
        let p = preparer(1000).prepare(&many(500));
        assert_eq!(p.events.len(), 1);
        let changes = &p.events[0].changes;
        assert_eq!(changes.len(), 500);
        let distinct: std::collections::HashSet<_> = changes
            .iter()
            .map(|c| c.target.as_ref().map(|t| t.arn.clone()))
            .collect();
        assert_eq!(distinct.len(), 500);
        assert_eq!(p.stats.capped_events, 0);
    }

    #[test]
    fn past_the_cap_an_event_is_one_service_rescan() {
        let p = preparer(100).prepare(&many(101));
        let changes = &p.events[0].changes;
        assert_eq!(changes.len(), 1);
        assert!(changes[0].target.is_none());
        assert_eq!(p.stats.capped_events, 1);
        let mut e = crate::engine::Engine::new(&ProcessorConfig::default());
        let _ = e.admit(p, (), 0, crate::coalesce::NEVER);
        let mut out = Vec::new();
        e.flush(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].request().scope, Scope::Service);
        for o in out {
            e.resolve(o, true);
        }
    }
}
