//! The one definition of which AWS services are watched.
//!
//! `event-rule` builds its EventBridge pattern from these lists and the processor's
//! filter uses the same names, so the two halves of the product cannot disagree.
//! Names are the short event-source names: `ec2` for `ec2.amazonaws.com`.

/// The classic 21-service list that existing event-stream consumers expect
/// (`--services seed`).
pub const SEED_SERVICES: &[&str] = &[
    "acm",
    "autoscaling",
    "cloudformation",
    "cloudfront",
    "cloudhsm",
    "cloudtrail",
    "directconnect",
    "dynamodb",
    "ec2",
    "elasticache",
    "elasticloadbalancing",
    "es",
    "iam",
    "kms",
    "rds",
    "redshift",
    "route53",
    "s3",
    "ses",
    "sqs",
    "waf",
];

/// Suffix CloudTrail puts after the service name in `eventSource`.
pub const EVENT_SOURCE_SUFFIX: &str = ".amazonaws.com";

/// Which services a deployment watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceSet {
    /// Every service: no `eventSource` filter at all.
    All,
    /// The classic list, [`SEED_SERVICES`].
    Seed,
    /// An explicit list of short service names.
    List(Vec<String>),
}

impl ServiceSet {
    /// Parses `all`, `seed`, or a comma-separated list (`ec2,s3,iam` or full
    /// `ec2.amazonaws.com` sources).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "all" => Ok(ServiceSet::All),
            "seed" => Ok(ServiceSet::Seed),
            "" => Err("empty service list: use `all`, `seed` or a comma-separated list".into()),
            list => {
                let mut out = Vec::new();
                for item in list.split(',') {
                    let name = short_service(item.trim());
                    if name.is_empty()
                        || !name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                    {
                        return Err(format!("invalid service name `{}`", item.trim()));
                    }
                    if !out.iter().any(|s: &String| s == name) {
                        out.push(name.to_string());
                    }
                }
                Ok(ServiceSet::List(out))
            }
        }
    }

    /// The short names this set lists, or `None` for [`ServiceSet::All`].
    pub fn names(&self) -> Option<Vec<&str>> {
        match self {
            ServiceSet::All => None,
            ServiceSet::Seed => Some(SEED_SERVICES.to_vec()),
            ServiceSet::List(v) => Some(v.iter().map(String::as_str).collect()),
        }
    }

    /// The `eventSource` values (`ec2.amazonaws.com`) this set lists, or `None` for all.
    pub fn event_sources(&self) -> Option<Vec<String>> {
        self.names()
            .map(|v| v.into_iter().map(event_source_for).collect())
    }

    /// Whether the set includes the short service name.
    pub fn contains(&self, service: &str) -> bool {
        match self {
            ServiceSet::All => true,
            ServiceSet::Seed => SEED_SERVICES.contains(&service),
            ServiceSet::List(v) => v.iter().any(|s| s == service),
        }
    }
}

/// `ec2.amazonaws.com` -> `ec2`; a short name is returned unchanged.
pub fn short_service(event_source: &str) -> &str {
    event_source
        .strip_suffix(EVENT_SOURCE_SUFFIX)
        .unwrap_or(event_source)
}

/// `ec2` -> `ec2.amazonaws.com`.
pub fn event_source_for(service: &str) -> String {
    format!("{service}{EVENT_SOURCE_SUFFIX}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_sets() {
        assert_eq!(ServiceSet::parse("all").unwrap(), ServiceSet::All);
        assert_eq!(
            ServiceSet::parse("seed").unwrap().names().unwrap().len(),
            21
        );
        let l = ServiceSet::parse("ec2, s3.amazonaws.com,ec2").unwrap();
        assert_eq!(l, ServiceSet::List(vec!["ec2".into(), "s3".into()]));
        assert_eq!(
            l.event_sources().unwrap(),
            vec!["ec2.amazonaws.com", "s3.amazonaws.com"]
        );
        assert!(ServiceSet::parse("ec2,\"x\"").is_err());
        assert!(ServiceSet::parse("").is_err());
    }

    #[test]
    fn seed_is_sorted_and_unique() {
        let mut v = SEED_SERVICES.to_vec();
        v.sort();
        v.dedup();
        assert_eq!(v, SEED_SERVICES);
    }
}
