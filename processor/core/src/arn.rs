//! Amazon Resource Names: the one place ARNs are split, and partitions derived.
//!
//! `arn:partition:service:region:account-id:resource` (six colon-separated fields; the
//! resource field may itself hold `:` and `/`). Two readings:
//!
//! - [`Arn::parse`]: the shape only (six fields, the `arn` prefix, a partition and a
//!   service). Policy documents and configuration may hold wildcards (`*`, `?`) or empty
//!   fields; this accepts them.
//! - [`Arn::parse_resource`]: the ARN of one concrete resource, as a rescan request may
//!   carry it: non-empty resource, and an account that is empty (S3 buckets, ...), the
//!   literal `aws` (AWS-managed IAM policies) or twelve digits.

use std::fmt;

/// The six fields of an ARN, borrowed from the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Arn<'a> {
    /// `aws`, `aws-cn`, `aws-us-gov`, ...
    pub partition: &'a str,
    /// Service prefix (`ec2`, `s3`).
    pub service: &'a str,
    /// Region; empty for global resources.
    pub region: &'a str,
    /// Account; empty for S3 buckets and a few others.
    pub account: &'a str,
    /// Everything after the fifth colon (`instance/i-1`, `function:f:1`).
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Splits `s` into its six fields; `None` unless it starts with `arn:`, has six
    /// fields and a non-empty partition and service. Fields are not checked further.
    pub fn parse(s: &'a str) -> Option<Self> {
        let mut it = s.splitn(6, ':');
        if it.next()? != "arn" {
            return None;
        }
        let arn = Arn {
            partition: it.next()?,
            service: it.next()?,
            region: it.next()?,
            account: it.next()?,
            resource: it.next()?,
        };
        (!arn.partition.is_empty() && !arn.service.is_empty()).then_some(arn)
    }

    /// Like [`Arn::parse`], for the ARN of one concrete resource: the resource field is
    /// non-empty and the account is empty, `aws` or twelve digits.
    pub fn parse_resource(s: &'a str) -> Option<Self> {
        let arn = Self::parse(s)?;
        let account_ok = arn.account.is_empty()
            || arn.account == "aws"
            || (arn.account.len() == 12 && arn.account.bytes().all(|b| b.is_ascii_digit()));
        (account_ok && !arn.resource.is_empty()).then_some(arn)
    }

    /// The last segment of the resource field: `instance/i-1` -> `i-1`, `function:f`
    /// -> `f`; a bare bucket name is itself. `None` when that segment is empty.
    pub fn resource_id(&self) -> Option<&'a str> {
        let id = self
            .resource
            .rsplit(['/', ':'])
            .next()
            .unwrap_or(self.resource);
        (!id.is_empty()).then_some(id)
    }

    /// The resource field's leading type word when it has one: `instance/i-1` ->
    /// `instance`, `function:f` -> `function`; `None` for a bare name (`my-bucket`).
    pub fn resource_kind(&self) -> Option<&'a str> {
        let end = self.resource.find(['/', ':'])?;
        (end > 0).then(|| &self.resource[..end])
    }

    /// Whether the account field names exactly one account (no wildcard, not empty).
    pub fn has_concrete_account(&self) -> bool {
        !self.account.is_empty() && !self.account.contains(['*', '?'])
    }
}

impl fmt::Display for Arn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:{}:{}:{}:{}",
            self.partition, self.service, self.region, self.account, self.resource
        )
    }
}

/// The ARN partition of a region: `aws-cn` for China, `aws-us-gov` for GovCloud,
/// `aws-iso-b` / `aws-iso` for the isolated regions, `aws-eusc` for the European
/// Sovereign Cloud, else `aws`.
pub fn partition_for_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-isof-") {
        "aws-iso-f"
    } else if region.starts_with("eu-isoe-") {
        "aws-iso-e"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else if region.starts_with("eusc-") {
        "aws-eusc"
    } else {
        "aws"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        let a = Arn::parse("arn:aws:ec2:us-east-1:123456789012:instance/i-1").unwrap();
        assert_eq!(
            (a.partition, a.service, a.region, a.account, a.resource),
            ("aws", "ec2", "us-east-1", "123456789012", "instance/i-1")
        );
        assert_eq!(a.resource_id(), Some("i-1"));
        assert_eq!(a.resource_kind(), Some("instance"));
        assert_eq!(
            a.to_string(),
            "arn:aws:ec2:us-east-1:123456789012:instance/i-1"
        );
        let f = Arn::parse("arn:aws:lambda:us-east-1:123456789012:function:f:PROD").unwrap();
        assert_eq!(f.resource, "function:f:PROD");
        assert_eq!(f.resource_id(), Some("PROD"));
        let b = Arn::parse_resource("arn:aws:s3:::my-bucket").unwrap();
        assert_eq!(
            (b.resource_id(), b.resource_kind()),
            (Some("my-bucket"), None)
        );
    }

    #[test]
    fn shape_versus_resource() {
        // Policies hold wildcards: the shape reading accepts them, the resource one not.
        let w = Arn::parse("arn:aws:sns:*:*:topic").unwrap();
        assert!(!w.has_concrete_account());
        assert!(Arn::parse_resource("arn:aws:sns:*:*:topic").is_none());
        assert!(Arn::parse_resource("arn:aws:ec2:us-east-1:1234:instance/i-1").is_none());
        assert!(Arn::parse_resource("arn:aws:iam::aws:policy/ReadOnlyAccess").is_some());
        assert!(Arn::parse_resource("arn:aws:s3:::").is_none());
        for bad in [
            "",
            "arn",
            "arn:aws:ec2",
            "i-1",
            "arn::ec2:r:a:x",
            "urn:aws:s3:::b",
        ] {
            assert!(Arn::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn partitions() {
        assert_eq!(partition_for_region("cn-north-1"), "aws-cn");
        assert_eq!(partition_for_region("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition_for_region("us-iso-east-1"), "aws-iso");
        assert_eq!(partition_for_region("us-isob-east-1"), "aws-iso-b");
        assert_eq!(partition_for_region("eu-west-1"), "aws");
    }
}
