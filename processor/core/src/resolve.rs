//! From an event to the resources it touched.
//!
//! The [`Resolver`] trait is the seam between the pipeline and resource knowledge.
//! This module ships [`BasicResolver`]: the record's own `resources` field plus a few
//! hand-written rules for the services of the bundled sample. The full catalog of AWS
//! write actions (crate `processor-catalog`) implements the same trait.

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

/// The parts of an ARN: `arn:partition:service:region:account:resource`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArnParts<'a> {
    /// `aws`, `aws-cn`, `aws-us-gov`, ...
    pub partition: &'a str,
    /// Service prefix (`ec2`, `s3`).
    pub service: &'a str,
    /// Region, empty for global resources.
    pub region: &'a str,
    /// Account, empty for S3 buckets and a few others.
    pub account: &'a str,
    /// Everything after the fifth colon.
    pub resource: &'a str,
}

/// Splits an ARN; `None` unless it has the six parts and non-empty partition, service
/// and resource.
pub fn parse_arn(arn: &str) -> Option<ArnParts<'_>> {
    let mut it = arn.splitn(6, ':');
    if it.next()? != "arn" {
        return None;
    }
    let parts = ArnParts {
        partition: it.next()?,
        service: it.next()?,
        region: it.next()?,
        account: it.next()?,
        resource: it.next()?,
    };
    let ok = !parts.partition.is_empty()
        && !parts.service.is_empty()
        && !parts.resource.is_empty()
        && (parts.account.is_empty()
            || (parts.account.len() == 12 && parts.account.bytes().all(|b| b.is_ascii_digit()))
            || parts.account == "aws");
    ok.then_some(parts)
}

/// The last path segment of an ARN's resource part: `instance/i-1` -> `i-1`,
/// `function:f` -> `f`, a bare bucket name stays as it is.
pub fn resource_id_from_arn(arn: &str) -> Option<&str> {
    let res = parse_arn(arn)?.resource;
    let id = res.rsplit(['/', ':']).next().unwrap_or(res);
    (!id.is_empty()).then_some(id)
}

/// The ARN partition for a region: `aws-cn` for China, `aws-us-gov` for GovCloud,
/// `aws-iso*` for the isolated regions, else `aws`.
pub fn partition_for_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else {
        "aws"
    }
}

/// Resolves events from their own `resources` field and a few rules for the services
/// of the bundled sample. Events it does not know yield no targets.
#[derive(Debug, Default, Clone, Copy)]
pub struct BasicResolver;

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
    fn arns() {
        let p = parse_arn("arn:aws:ec2:us-east-1:123456789012:instance/i-1").unwrap();
        assert_eq!(
            (p.service, p.region, p.account, p.resource),
            ("ec2", "us-east-1", "123456789012", "instance/i-1")
        );
        assert_eq!(
            resource_id_from_arn("arn:aws:s3:::my-bucket"),
            Some("my-bucket")
        );
        assert_eq!(
            resource_id_from_arn("arn:aws:lambda:us-east-1:123456789012:function:f"),
            Some("f")
        );
        assert!(parse_arn("arn:aws:ec2:us-east-1:1234:instance/i-1").is_none());
        assert!(parse_arn("arn:aws:ec2").is_none());
        assert!(parse_arn("i-1").is_none());
        assert_eq!(partition_for_region("cn-north-1"), "aws-cn");
        assert_eq!(partition_for_region("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition_for_region("eu-west-1"), "aws");
    }
}
