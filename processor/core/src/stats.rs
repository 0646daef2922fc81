//! Counters for every outcome of the pipeline, serialisable as the replay summary.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::filter::DropReason;
use crate::rescan::Scope;

/// What the pipeline did, by outcome.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Messages (queue bodies, replay lines or documents) read.
    pub messages: u64,
    /// CloudTrail records decoded.
    pub events: u64,
    /// Records that passed the filter.
    pub kept: u64,
    /// Dropped records by reason.
    pub dropped: BTreeMap<&'static str, u64>,
    /// Rescan requests emitted, by scope.
    pub rescans: RescanCounts,
    /// Undecodable messages or records.
    pub invalid: u64,
    /// Undecodable units by error kind.
    pub invalid_by_kind: BTreeMap<&'static str, u64>,
    /// SNS subscription confirmations and unsubscribe confirmations seen.
    pub subscription_messages: u64,
    /// Kept events that named more resources than the cap and became one service
    /// rescan.
    pub capped_events: u64,
}

/// Rescan requests by scope.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RescanCounts {
    /// `scope: resource`.
    pub resource: u64,
    /// `scope: service`.
    pub service: u64,
}

impl Stats {
    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &Stats) {
        self.messages += other.messages;
        self.events += other.events;
        self.kept += other.kept;
        for (k, v) in &other.dropped {
            *self.dropped.entry(k).or_default() += v;
        }
        self.rescans.resource += other.rescans.resource;
        self.rescans.service += other.rescans.service;
        self.invalid += other.invalid;
        for (k, v) in &other.invalid_by_kind {
            *self.invalid_by_kind.entry(k).or_default() += v;
        }
        self.subscription_messages += other.subscription_messages;
        self.capped_events += other.capped_events;
    }

    /// Counts a drop.
    pub fn drop(&mut self, reason: DropReason) {
        *self.dropped.entry(reason.as_str()).or_default() += 1;
    }

    /// Dropped records in all.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }

    /// Counts an undecodable unit.
    pub fn invalid(&mut self, kind: &'static str) {
        self.invalid += 1;
        *self.invalid_by_kind.entry(kind).or_default() += 1;
    }

    /// Counts an emitted request.
    pub fn rescan(&mut self, scope: Scope) {
        match scope {
            Scope::Resource => self.rescans.resource += 1,
            Scope::Service => self.rescans.service += 1,
        }
    }
}
