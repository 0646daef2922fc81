//! From an event to the resources it touched.
//!
//! The [`Resolver`] trait is the seam between the pipeline and resource knowledge.
//! The catalog of AWS write actions (crate `processor-catalog`) implements it; with the
//! `test-support` feature this module also has `BasicResolver` (the record's own
//! `resources` field plus a few hand-written rules for the services of the bundled
//! sample), for tests that need a resolver without the catalog.

use crate::event::Event;
use crate::rescan::Action;

/// One resource an event changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The resource ARN, well formed (`arn:partition:service:region:account:...`).
    pub arn: String,
    /// IAM Service Authorization Reference type, `service-prefix:resource-type`.
    pub resource_type: String,
    /// The resource's own identifier (instance id, bucket name, role name, ...).
    pub resource_id: String,
    /// Whether the event deleted the resource.
    pub action: Action,
}

/// Maps events to the resources they changed.
///
/// Implementations must be cheap per call (no linear scans over all rules, no regex
/// compilation) and must never panic on odd input: an event they cannot pin down
/// yields no targets, and the pipeline then emits a `service`-scope request.
pub trait Resolver: Send + Sync {
    /// Appends every resource `event` changed to `out` (possibly none).
    fn resolve(&self, event: &Event<'_>, out: &mut Vec<Target>);

    /// Seconds to wait after the event before the resource is read, so a scanner does
    /// not see stale state.
    fn settle_delay(&self, event: &Event<'_>) -> u32 {
        crate::settle::settle_delay(event.service(), &event.event_name)
    }
}

/// A shared reference resolves like what it points to (a `&'static` catalog can be
/// handed around as `Arc<dyn Resolver>`).
impl<R: Resolver + ?Sized> Resolver for &R {
    fn resolve(&self, event: &Event<'_>, out: &mut Vec<Target>) {
        (**self).resolve(event, out)
    }

    fn settle_delay(&self, event: &Event<'_>) -> u32 {
        (**self).settle_delay(event)
    }
}

/// `AWS::S3::Bucket` -> `s3:bucket`; `AWS::EC2::SecurityGroup` -> `ec2:security-group`.
pub fn resource_type_from_cfn(cfn: &str) -> Option<String> {
    let mut parts = cfn.split("::");
    if parts.next()? != "AWS" {
        return None;
    }
    let service = parts.next()?.to_ascii_lowercase();
    let kind = parts.next()?;
    if parts.next().is_some() || service.is_empty() || kind.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(service.len() + kind.len() + 4);
    out.push_str(&service);
    out.push(':');
    let bytes = kind.as_bytes();
    for (i, &c) in bytes.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower = i > 0 && !bytes[i - 1].is_ascii_uppercase();
            let next_lower = bytes.get(i + 1).is_some_and(u8::is_ascii_lowercase);
            if i > 0 && (prev_lower || (next_lower && bytes[i - 1].is_ascii_uppercase())) {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase() as char);
        } else {
            out.push(c as char);
        }
    }
    Some(out)
}

/// The parts of an ARN (see [`crate::arn::Arn`]).
pub type ArnParts<'a> = crate::arn::Arn<'a>;

pub use crate::arn::partition_for_region;

/// The ARN of one concrete resource, split ([`crate::arn::Arn::parse_resource`]).
pub fn parse_arn(arn: &str) -> Option<ArnParts<'_>> {
    crate::arn::Arn::parse_resource(arn)
}

/// The last path segment of an ARN's resource part: `instance/i-1` -> `i-1`,
/// `function:f` -> `f`, a bare bucket name stays as it is.
pub fn resource_id_from_arn(arn: &str) -> Option<&str> {
    parse_arn(arn)?.resource_id()
}

/// Resolves events from their own `resources` field and a few rules for the services
/// of the bundled sample. Events it does not know yield no targets.
///
/// For tests only (feature `test-support`): it knows five services, and a processor
/// meant to name resources uses the catalog (`processor_catalog::CatalogResolver`).
#[cfg(any(test, feature = "test-support"))]
#[derive(Debug, Default, Clone, Copy)]
pub struct BasicResolver;

#[cfg(any(test, feature = "test-support"))]
impl Resolver for BasicResolver {
    fn resolve(&self, event: &Event<'_>, out: &mut Vec<Target>) {
        let start = out.len();
        crate::rules::resolve_sample(event, out);
        if out.len() == start {
            from_resources_field(event, out);
        }
    }
}

/// Targets from the record's `resources` field (`[{ARN, type, accountId}]`).
pub fn from_resources_field(event: &Event<'_>, out: &mut Vec<Target>) {
    let action = if crate::rules::is_delete_name(&event.event_name) {
        Action::Delete
    } else {
        Action::Update
    };
    for entry in event.resource_entries() {
        let Some(arn) = entry.arn.as_deref() else {
            continue;
        };
        let Some(id) = resource_id_from_arn(arn) else {
            continue;
        };
        let resource_type = entry
            .kind
            .as_deref()
            .and_then(resource_type_from_cfn)
            .unwrap_or_else(|| format!("{}:resource", parse_arn(arn).map_or("", |p| p.service)));
        // A delete call deletes the resource its name is about; other entries of the
        // same record (e.g. the bucket of a deleted object) are only updated.
        let entry_action = match (&action, entry.kind.as_deref()) {
            (Action::Delete, Some(kind)) if delete_targets_kind(&event.event_name, kind) => {
                Action::Delete
            }
            _ => Action::Update,
        };
        push_unique(
            out,
            Target {
                arn: arn.to_string(),
                resource_type,
                resource_id: id.to_string(),
                action: entry_action,
            },
        );
    }
}

/// `DeleteBucket` deletes an `AWS::S3::Bucket`; `DeleteBucketPolicy` does not.
fn delete_targets_kind(event_name: &str, cfn_kind: &str) -> bool {
    let noun = cfn_kind.rsplit("::").next().unwrap_or(cfn_kind);
    crate::rules::delete_noun(event_name).is_some_and(|n| n == noun)
}

/// Up to this many targets, [`push_unique`] checks for a repeat as it goes; past it,
/// it appends and [`dedup_targets`] removes repeats in one pass (linear work for
/// calls that name thousands of resources).
const LINEAR_CHECK_MAX: usize = 64;

/// Pushes `t` unless the same ARN is already in `out` (a delete wins). Past a few
/// dozen targets it appends without checking: call [`dedup_targets`] at the end.
pub fn push_unique(out: &mut Vec<Target>, t: Target) {
    if out.len() >= LINEAR_CHECK_MAX {
        out.push(t);
        return;
    }
    if let Some(existing) = out.iter_mut().find(|e| e.arn == t.arn) {
        if t.action == Action::Delete {
            existing.action = Action::Delete;
        }
    } else {
        out.push(t);
    }
}

/// Removes repeated ARNs, keeping the first place of each and letting a delete win;
/// linear in the number of targets.
pub fn dedup_targets(out: &mut Vec<Target>) {
    if out.len() <= LINEAR_CHECK_MAX {
        return;
    }
    let mut first: std::collections::HashMap<String, usize> =
        std::collections::HashMap::with_capacity(out.len());
    let mut kept: Vec<Target> = Vec::with_capacity(out.len());
    for t in out.drain(..) {
        match first.get(&t.arn) {
            Some(&i) => {
                if t.action == Action::Delete {
                    kept[i].action = Action::Delete;
                }
            }
            None => {
                first.insert(t.arn.clone(), kept.len());
                kept.push(t);
            }
        }
    }
    *out = kept;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cfn_types() {
        assert_eq!(
            resource_type_from_cfn("AWS::S3::Bucket").unwrap(),
            "s3:bucket"
        );
        assert_eq!(
            resource_type_from_cfn("AWS::EC2::SecurityGroup").unwrap(),
            "ec2:security-group"
        );
        assert_eq!(
            resource_type_from_cfn("AWS::IAM::Role").unwrap(),
            "iam:role"
        );
        assert_eq!(resource_type_from_cfn("AWS::KMS::Key").unwrap(), "kms:key");
        assert_eq!(resource_type_from_cfn("AWS::EC2::VPC").unwrap(), "ec2:vpc");
        assert_eq!(
            resource_type_from_cfn("AWS::RDS::DBInstance").unwrap(),
            "rds:db-instance"
        );
        assert_eq!(resource_type_from_cfn("Custom::X"), None);
        assert_eq!(resource_type_from_cfn("AWS::S3"), None);
    }

    #[test]
    fn arn_helpers_use_the_arn_module() {
        assert_eq!(
            resource_id_from_arn("arn:aws:lambda:us-east-1:123456789012:function:f"),
            Some("f")
        );
        assert!(parse_arn("arn:aws:ec2:us-east-1:1234:instance/i-1").is_none());
        assert!(parse_arn("i-1").is_none());
    }
}
