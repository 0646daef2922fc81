//! Dropping what changes nothing, with a counted reason for each drop.
//!
//! Checks run in a fixed order, so every dropped event is counted under exactly one
//! reason (the first that applies): `read_only`, `failed`, `event_type`, `data_event`,
//! `read_like_name`, `account`, `service`, `event_name`, `duplicate`.
//! Name lists accept exact names and `*` globs, compiled once into matchers.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::event::Event;

/// Why an event was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// `readOnly: true`.
    ReadOnly,
    /// The call failed (`errorCode` present).
    Failed,
    /// `eventType` not in the accepted list (default: only `AwsApiCall`).
    EventType,
    /// `eventCategory: Data` while data events are disabled.
    DataEvent,
    /// No `readOnly` field and the name reads like a read (`Get*`, `Describe*`, ...).
    ReadLikeName,
    /// Account outside the allow-list.
    Account,
    /// Service denied, or outside the allow-list.
    Service,
    /// Event name denied, or outside the allow-list.
    EventName,
    /// An `eventID` already seen (SQS delivers at least once).
    Duplicate,
}

impl DropReason {
    /// Every reason, in check order.
    pub const ALL: [DropReason; 9] = [
        DropReason::ReadOnly,
        DropReason::Failed,
        DropReason::EventType,
        DropReason::DataEvent,
        DropReason::ReadLikeName,
        DropReason::Account,
        DropReason::Service,
        DropReason::EventName,
        DropReason::Duplicate,
    ];

    /// The snake_case name used in stats and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::ReadOnly => "read_only",
            DropReason::Failed => "failed",
            DropReason::EventType => "event_type",
            DropReason::DataEvent => "data_event",
            DropReason::ReadLikeName => "read_like_name",
            DropReason::Account => "account",
            DropReason::Service => "service",
            DropReason::EventName => "event_name",
            DropReason::Duplicate => "duplicate",
        }
    }
}

/// Prefixes of event names that read without changing anything.
pub const READ_LIKE_PREFIXES: &[&str] = &[
    "Get", "Describe", "List", "Head", "Lookup", "Search", "Query", "Scan", "BatchGet", "Check",
    "Validate", "Preview", "Estimate", "Simulate", "Test", "View", "Poll", "Select", "Download",
    "Verify", "Discover",
];

/// What the filter keeps. Every list takes exact names or `*` globs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilterConfig {
    /// Accepted `eventType` values (default: `AwsApiCall`).
    pub event_types: Vec<String>,
    /// Keep data events (`eventCategory: Data`, e.g. S3 object and Lambda invoke calls).
    pub include_data_events: bool,
    /// Services to keep (short names such as `ec2`); empty keeps all.
    pub allow_services: Vec<String>,
    /// Services to drop.
    pub deny_services: Vec<String>,
    /// Event names to keep (`RunInstances`, `Put*`, or `ec2:RunInstances`); empty keeps all.
    pub allow_events: Vec<String>,
    /// Event names to drop.
    pub deny_events: Vec<String>,
    /// Accounts to keep; empty keeps all.
    pub allow_accounts: Vec<String>,
    /// How many recent `eventID`s to remember for duplicate detection (0 disables it).
    pub dedup_capacity: usize,
}

impl Default for FilterConfig {
    fn default() -> Self {
        FilterConfig {
            event_types: vec!["AwsApiCall".into()],
            include_data_events: false,
            allow_services: Vec::new(),
            deny_services: Vec::new(),
            allow_events: Vec::new(),
            deny_events: Vec::new(),
            allow_accounts: Vec::new(),
            dedup_capacity: 100_000,
        }
    }
}

/// A compiled `*` glob.
#[derive(Debug, Clone)]
struct Glob {
    /// Literal pieces between stars.
    parts: Vec<String>,
    starts_with_star: bool,
    ends_with_star: bool,
}

impl Glob {
    fn new(pattern: &str) -> Self {
        Glob {
            parts: pattern
                .split('*')
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect(),
            starts_with_star: pattern.starts_with('*'),
            ends_with_star: pattern.ends_with('*'),
        }
    }

    fn matches(&self, s: &str) -> bool {
        if self.parts.is_empty() {
            return self.starts_with_star || s.is_empty();
        }
        let mut rest = s;
        let last = self.parts.len() - 1;
        for (i, part) in self.parts.iter().enumerate() {
            if i == 0 && !self.starts_with_star {
                match rest.strip_prefix(part.as_str()) {
                    Some(r) => rest = r,
                    None => return false,
                }
                if i == last && !self.ends_with_star {
                    return rest.is_empty();
                }
                continue;
            }
            if i == last && !self.ends_with_star {
                return rest.len() >= part.len() && rest.ends_with(part.as_str());
            }
            match rest.find(part.as_str()) {
                Some(pos) => rest = &rest[pos + part.len()..],
                None => return false,
            }
        }
        true
    }
}

/// Exact names in a hash set, globs tried in turn.
#[derive(Debug, Clone, Default)]
struct NameSet {
    exact: HashSet<String>,
    globs: Vec<Glob>,
}

impl NameSet {
    fn new<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Self {
        let mut set = NameSet::default();
        for p in patterns {
            if p.contains('*') {
                set.globs.push(Glob::new(p));
            } else {
                set.exact.insert(p.to_string());
            }
        }
        set
    }

    fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.globs.is_empty()
    }

    fn matches(&self, s: &str) -> bool {
        self.exact.contains(s) || self.globs.iter().any(|g| g.matches(s))
    }
}

/// Event-name patterns: plain (`Put*`) or qualified by service (`s3:Put*`).
#[derive(Debug, Clone, Default)]
struct EventNameSet {
    any_service: NameSet,
    qualified: NameSet,
}

impl EventNameSet {
    fn new(patterns: &[String]) -> Self {
        let (q, plain): (Vec<&str>, Vec<&str>) = patterns
            .iter()
            .map(String::as_str)
            .partition(|p| p.contains(':'));
        EventNameSet {
            any_service: NameSet::new(plain),
            qualified: NameSet::new(q),
        }
    }

    fn is_empty(&self) -> bool {
        self.any_service.is_empty() && self.qualified.is_empty()
    }

    fn matches(&self, service: &str, name: &str) -> bool {
        if self.any_service.matches(name) {
            return true;
        }
        if self.qualified.is_empty() {
            return false;
        }
        let mut key = String::with_capacity(service.len() + name.len() + 1);
        key.push_str(service);
        key.push(':');
        key.push_str(name);
        self.qualified.matches(&key)
    }
}

/// 64-bit FNV-1a: stable, fast, good enough to tell event ids apart.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The compiled filter.
#[derive(Debug)]
pub struct Filter {
    config: FilterConfig,
    event_types: NameSet,
    allow_services: NameSet,
    deny_services: NameSet,
    allow_events: EventNameSet,
    deny_events: EventNameSet,
    allow_accounts: NameSet,
}

impl Filter {
    /// Compiles the lists of `config`.
    pub fn new(config: FilterConfig) -> Self {
        let short = |v: &[String]| -> NameSet {
            NameSet::new(v.iter().map(|s| crate::services::short_service(s)))
        };
        Filter {
            event_types: NameSet::new(config.event_types.iter().map(String::as_str)),
            allow_services: short(&config.allow_services),
            deny_services: short(&config.deny_services),
            allow_events: EventNameSet::new(&config.allow_events),
            deny_events: EventNameSet::new(&config.deny_events),
            allow_accounts: NameSet::new(config.allow_accounts.iter().map(String::as_str)),
            config,
        }
    }

    /// The configuration this filter was built from.
    pub fn config(&self) -> &FilterConfig {
        &self.config
    }

    /// `None` to keep the event, else the first reason to drop it. Duplicates are the
    /// engine's to find ([`crate::engine`]): they depend on what is in flight.
    pub fn check(&self, ev: &Event<'_>) -> Option<DropReason> {
        if ev.read_only == Some(true) {
            return Some(DropReason::ReadOnly);
        }
        if ev.error_code.as_deref().is_some_and(|c| !c.is_empty()) {
            return Some(DropReason::Failed);
        }
        let event_type = ev.event_type.as_deref().unwrap_or("AwsApiCall");
        if !self.event_types.matches(event_type) {
            return Some(DropReason::EventType);
        }
        if !self.config.include_data_events && ev.event_category.as_deref() == Some("Data") {
            return Some(DropReason::DataEvent);
        }
        if ev.read_only.is_none() && is_read_like(&ev.event_name) {
            return Some(DropReason::ReadLikeName);
        }
        if !self.allow_accounts.is_empty() && !self.allow_accounts.matches(&ev.account) {
            return Some(DropReason::Account);
        }
        let service = ev.service();
        if self.deny_services.matches(service)
            || (!self.allow_services.is_empty() && !self.allow_services.matches(service))
        {
            return Some(DropReason::Service);
        }
        if self.deny_events.matches(service, &ev.event_name)
            || (!self.allow_events.is_empty()
                && !self.allow_events.matches(service, &ev.event_name))
        {
            return Some(DropReason::EventName);
        }
        None
    }
}

/// Whether an event name reads like a read: a read-like prefix followed by an upper-case
/// letter or the end (`GetObject`, `List`; not `Getaway`).
pub fn is_read_like(name: &str) -> bool {
    READ_LIKE_PREFIXES.iter().any(|p| {
        name.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.as_bytes()[0].is_ascii_uppercase())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let cases = [
            ("Put*", "PutObject", true),
            ("Put*", "Put", true),
            ("Put*", "GetPut", false),
            ("*Policy", "PutBucketPolicy", true),
            ("*Policy", "PolicyX", false),
            ("*Bucket*", "PutBucketPolicy", true),
            ("A*B*C", "AxxBxxC", true),
            ("A*B*C", "AxxBxx", false),
            ("A*A", "A", false),
            ("A*A", "AA", true),
            ("*", "", true),
            ("*", "x", true),
        ];
        for (p, s, want) in cases {
            assert_eq!(Glob::new(p).matches(s), want, "{p} vs {s}");
        }
    }

    #[test]
    fn read_like() {
        assert!(is_read_like("GetObject"));
        assert!(is_read_like("DescribeInstances"));
        assert!(is_read_like("List"));
        assert!(!is_read_like("Getaway"));
        assert!(!is_read_like("PutObject"));
    }
}
