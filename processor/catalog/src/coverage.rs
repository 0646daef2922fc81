//! Coverage of a corpus: how many successful mutating API calls resolve to a resource
//! whose ARN is well formed and whose account and region match the record.
//!
//! Used by `processor catalog coverage` and the corpus test; the measure is the one the
//! catalog is judged by.

use std::collections::BTreeMap;

use processor_core::resolve::parse_arn;
use processor_core::{Event, Target};

use crate::catalog::Catalog;
use crate::curated::Associations;
use crate::resolve::{Miss, Source};

/// Prefixes of event names that read rather than write, for records without `readOnly`.
const READ_PREFIXES: &[&str] = &[
    "Get", "Describe", "List", "Head", "Lookup", "Search", "Query", "Scan", "BatchGet",
];

/// Whether `event` is a successful, mutating API call: `eventType` `AwsApiCall` (or
/// absent), no `errorCode`, and `readOnly: false` (or, without `readOnly`, a name that
/// does not read like a read).
pub fn is_mutating_call(event: &Event<'_>) -> bool {
    event
        .event_type
        .as_deref()
        .is_none_or(|t| t == "AwsApiCall")
        && event.error_code.is_none()
        && match event.read_only {
            Some(ro) => !ro,
            None => !READ_PREFIXES
                .iter()
                .any(|p| event.event_name.starts_with(p)),
        }
}

/// Why a target does not pass the coverage check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Defect {
    /// Not `arn:partition:service:region:account:resource`.
    MalformedArn,
    /// The ARN's account is neither the record's nor legitimately empty.
    AccountMismatch,
    /// The ARN's region is neither the record's nor legitimately empty.
    RegionMismatch,
}

impl std::fmt::Display for Defect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Defect::MalformedArn => "malformed ARN",
            Defect::AccountMismatch => "ARN account differs from the record",
            Defect::RegionMismatch => "ARN region differs from the record",
        })
    }
}

/// Checks a target against its record. An empty account or region is accepted only
/// where the resource type's ARN has none (S3 buckets, IAM, EC2 images, ...).
pub fn check_target(catalog: &Catalog, event: &Event<'_>, t: &Target) -> Result<(), Defect> {
    let parts = parse_arn(&t.arn).ok_or(Defect::MalformedArn)?;
    let ty = catalog.service(parts.service).and_then(|svc| {
        let name = t.resource_type.split_once(':').map_or("", |(_, n)| n);
        svc.type_named(name)
            .filter(|ty| ty.template.matches(&t.arn))
    });
    let (may_lack_account, may_lack_region) = match ty {
        Some(ty) => (!ty.template.has_account(), !ty.template.has_region()),
        None => (
            parts.service == "s3",
            matches!(
                parts.service,
                "s3" | "iam" | "cloudfront" | "route53" | "waf" | "organizations"
            ),
        ),
    };
    if parts.account != event.account && !(parts.account.is_empty() && may_lack_account) {
        // AWS-managed IAM policies (`arn:aws:iam::aws:policy/...`) belong to no account.
        if parts.account != "aws" {
            return Err(Defect::AccountMismatch);
        }
    }
    if parts.region != event.region && !(parts.region.is_empty() && may_lack_region) {
        return Err(Defect::RegionMismatch);
    }
    Ok(())
}

/// Counters over a corpus.
#[derive(Debug, Default, Clone)]
pub struct Coverage {
    /// Records seen.
    pub events: usize,
    /// Successful mutating API calls among them (the denominator).
    pub mutating: usize,
    /// Mutating calls with at least one target, all of which pass [`check_target`].
    pub resolved: usize,
    /// Resolved calls by where their targets came from.
    pub by_source: BTreeMap<&'static str, usize>,
    /// Targets emitted for mutating calls.
    pub targets: usize,
    /// Mutating calls not resolved, by `(eventSource, eventName, reason)`.
    pub unresolved: BTreeMap<(String, String, String), usize>,
    /// Associations seen being made in this run (as one processor would remember).
    memory: Associations,
}

impl Coverage {
    /// Resolves `event` (if it is a mutating call) and counts the outcome.
    pub fn add(&mut self, catalog: &Catalog, event: &Event<'_>) {
        self.events += 1;
        if !is_mutating_call(event) {
            return;
        }
        self.mutating += 1;
        let mut out = Vec::new();
        let outcome = catalog.resolve_with(Some(&self.memory), event, &mut out);
        self.targets += out.len();
        let reason = if out.is_empty() {
            Some(outcome.miss.unwrap_or(Miss::FieldsMissing).to_string())
        } else {
            out.iter().find_map(|t| {
                check_target(catalog, event, t)
                    .err()
                    .map(|d| format!("{d}: {}", t.arn))
            })
        };
        match reason {
            None => {
                self.resolved += 1;
                let src = match outcome.source {
                    Source::Curated => "curated",
                    Source::Catalog => "catalog",
                    Source::ResourcesField => "resources field",
                    Source::None => "none",
                };
                *self.by_source.entry(src).or_default() += 1;
            }
            Some(r) => {
                *self
                    .unresolved
                    .entry((
                        event.event_source.to_string(),
                        event.event_name.to_string(),
                        r,
                    ))
                    .or_default() += 1;
            }
        }
    }

    /// Resolved share of mutating calls, in percent (100 when there are none).
    pub fn percent(&self) -> f64 {
        if self.mutating == 0 {
            100.0
        } else {
            self.resolved as f64 * 100.0 / self.mutating as f64
        }
    }
}
