//! ARN templates of the IAM Service Authorization Reference, compiled once.
//!
//! `arn:${Partition}:ec2:${Region}:${Account}:instance/${InstanceId}` becomes a list of
//! [`Seg`]ments that can both be filled from an event ([`Template::fill`]) and matched
//! against an ARN found in a record ([`Template::matches`]), without regular expressions.

use crate::error::CatalogError;

/// One piece of a compiled template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// Literal text, copied as is.
    Lit(Box<str>),
    /// `${Partition}`: `aws`, `aws-cn`, ...
    Partition,
    /// `${Region}`.
    Region,
    /// `${Account}`.
    Account,
    /// Any other placeholder, filled from the record.
    Var(Var),
}

/// A placeholder filled from the record (`${InstanceId}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Var {
    /// Position among the template's variables.
    pub index: u8,
    /// The placeholder name as written in the reference (`RoleNameWithPath`).
    pub name: Box<str>,
    /// Whether the value may contain `/` (IAM paths, log group names, S3 keys).
    pub slash: bool,
    /// `...WithPath`: an IAM path (`/division/`) from the request goes before the name.
    pub with_path: bool,
    /// `...WithoutLeadingSlash`: a leading `/` of the value is dropped.
    pub strip_leading_slash: bool,
    /// The literal text right before this placeholder since the last `:` (e.g.
    /// `hostedzone/`): a value written as `/hostedzone/Z1` loses that prefix.
    pub lead: Box<str>,
    /// The template's last placeholder (the resource's own id).
    pub last: bool,
}

/// A compiled ARN template.
#[derive(Debug, Clone)]
pub struct Template {
    raw: Box<str>,
    segs: Box<[Seg]>,
    vars: u8,
    service: Box<str>,
    has_region: bool,
    has_account: bool,
    /// A literal `*` (`apps/*`): the type stands for "all of them", never one resource.
    has_star: bool,
}

impl Template {
    /// Compiles `arn:${Partition}:svc:${Region}:${Account}:type/${Id}`.
    pub fn parse(raw: &str) -> Result<Self, CatalogError> {
        let bad = |why: &str| CatalogError::Template {
            template: raw.to_string(),
            reason: why.to_string(),
        };
        let mut segs = Vec::new();
        let mut rest = raw;
        let mut vars = 0u8;
        let mut lit = String::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("${") {
                let end = after.find('}').ok_or_else(|| bad("unclosed `${`"))?;
                let name = &after[..end];
                rest = &after[end + 1..];
                if !lit.is_empty() {
                    segs.push(Seg::Lit(std::mem::take(&mut lit).into_boxed_str()));
                }
                segs.push(match name {
                    "Partition" => Seg::Partition,
                    "Region" => Seg::Region,
                    "Account" => Seg::Account,
                    _ => {
                        let lead = match segs.iter().rev().find_map(|s| match s {
                            Seg::Lit(l) => Some(l),
                            _ => None,
                        }) {
                            Some(l) => l.rsplit(':').next().unwrap_or("").into(),
                            None => "".into(),
                        };
                        let v = Var {
                            index: vars,
                            name: name.into(),
                            slash: name.contains("Path") || name.contains("Slash"),
                            with_path: name.ends_with("WithPath"),
                            strip_leading_slash: name.contains("WithoutLeadingSlash"),
                            lead,
                            last: false,
                        };
                        vars = vars
                            .checked_add(1)
                            .ok_or_else(|| bad("too many placeholders"))?;
                        Seg::Var(v)
                    }
                });
            } else {
                let next = rest.find("${").unwrap_or(rest.len());
                lit.push_str(&rest[..next]);
                rest = &rest[next..];
            }
        }
        if !lit.is_empty() {
            segs.push(Seg::Lit(lit.into_boxed_str()));
        }
        // The last placeholder may hold `/` (log groups, object keys, parameter names).
        if let Some(Seg::Var(v)) = segs.last_mut() {
            v.slash = true;
        }
        if let Some(v) = segs.iter_mut().rev().find_map(|s| match s {
            Seg::Var(v) => Some(v),
            _ => None,
        }) {
            v.last = true;
        }
        let service = raw
            .split(':')
            .nth(2)
            .ok_or_else(|| bad("fewer than 6 ARN parts"))?;
        if !raw.starts_with("arn:") || raw.split(':').count() < 6 {
            return Err(bad("not an ARN template"));
        }
        let has_star = segs
            .iter()
            .any(|s| matches!(s, Seg::Lit(l) if l.contains('*')));
        Ok(Template {
            has_star,
            raw: raw.into(),
            has_region: segs.contains(&Seg::Region),
            has_account: segs.contains(&Seg::Account),
            segs: segs.into_boxed_slice(),
            vars,
            service: service.into(),
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The ARN's service field (`ec2`, `s3`); a literal in every template.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Whether ARNs of this type carry a region (false for IAM, S3 buckets, ...).
    pub fn has_region(&self) -> bool {
        self.has_region
    }

    /// Whether ARNs of this type carry an account (false for S3 buckets, EC2 images).
    pub fn has_account(&self) -> bool {
        self.has_account
    }

    /// Number of record-filled placeholders.
    pub fn var_count(&self) -> usize {
        self.vars as usize
    }

    /// The record-filled placeholders, in order.
    pub fn vars(&self) -> impl Iterator<Item = &Var> {
        self.segs.iter().filter_map(|s| match s {
            Seg::Var(v) => Some(v),
            _ => None,
        })
    }

    /// Builds the ARN from the event's partition, region and account and one value per
    /// placeholder (already normalised by [`Var::clean`]). `None` if the result would
    /// not match the template (a value with a `:` where none may be, ...) or the
    /// template names all resources of its kind (`apps/*`).
    pub fn fill(
        &self,
        partition: &str,
        region: &str,
        account: &str,
        values: &[&str],
    ) -> Option<String> {
        if self.has_star {
            return None;
        }
        let mut out = String::with_capacity(self.raw.len() + 32);
        for seg in self.segs.iter() {
            match seg {
                Seg::Lit(l) => out.push_str(l),
                Seg::Partition => out.push_str(partition),
                Seg::Region => out.push_str(region),
                Seg::Account => out.push_str(account),
                Seg::Var(v) => {
                    let value = values.get(v.index as usize)?;
                    if !valid_value(v, value) {
                        return None;
                    }
                    out.push_str(value);
                }
            }
        }
        Some(out)
    }

    /// Whether `value` (already [`Var::clean`]ed) may fill `var`.
    pub fn accepts(&self, var: &Var, value: &str) -> bool {
        valid_value(var, value)
    }

    /// Whether `arn` is an ARN of this resource type. Partition, region and account are
    /// checked for shape only; placeholders match one or more characters other than `:`
    /// (and other than `/` unless the placeholder allows it).
    pub fn matches(&self, arn: &str) -> bool {
        self.capture(arn).is_some()
    }

    /// Like [`Template::matches`], returning the value of the last placeholder (the
    /// resource's own id) on success.
    pub fn capture<'a>(&self, arn: &'a str) -> Option<&'a str> {
        let mut last = None;
        match_segs(&self.segs, arn, &mut last).then_some(last.unwrap_or(""))
    }

    /// Literal characters in the template: more means more specific. A `*` counts
    /// below nothing, so `apps/${AppId}` beats `apps/*` for the same ARN.
    pub fn specificity(&self) -> usize {
        let lits: usize = self
            .segs
            .iter()
            .map(|s| match s {
                Seg::Lit(l) => l.len(),
                _ => 0,
            })
            .sum();
        if self.has_star {
            lits.saturating_sub(2)
        } else {
            lits
        }
    }
}

impl Var {
    /// Normalises a value read from the record for this placeholder: drops a leading
    /// `/` where the reference says so and a `/hostedzone/`-style prefix that repeats the
    /// template's own literal.
    ///
    /// A URL (an SQS queue URL) gives its last path segment. A value with a leading `/`
    /// that is not this template's prefix (`/change/C1` for a hosted zone) gives `""`,
    /// which no template accepts.
    pub fn clean<'v>(&self, value: &'v str) -> &'v str {
        let mut v = value.trim();
        if v.starts_with("https://") || v.starts_with("http://") {
            return v.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        }
        if !self.lead.is_empty() {
            if let Some(rest) = v.strip_prefix('/').unwrap_or(v).strip_prefix(&*self.lead) {
                v = rest;
            } else if v.starts_with('/') && !self.strip_leading_slash && !self.name.contains("Path")
            {
                return "";
            }
        }
        if self.strip_leading_slash {
            v = v.strip_prefix('/').unwrap_or(v);
        }
        v
    }
}

/// `us-east-1:1a234b56-...`: ids that AWS prefixes with their region (Cognito identity
/// pools and identities).
fn region_prefixed(value: &str) -> bool {
    let Some((region, rest)) = value.split_once(':') else {
        return false;
    };
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()))
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
        && !rest.is_empty()
        && !rest.contains(':')
}

fn valid_value(v: &Var, value: &str) -> bool {
    value == "*"
        || (!value.is_empty()
            && (!value.contains(':') || (v.last && region_prefixed(value)))
            && (v.slash || !value.contains('/'))
            && !value.bytes().any(|b| b.is_ascii_whitespace() || b == b'"'))
}

fn match_segs<'a>(segs: &[Seg], s: &'a str, last: &mut Option<&'a str>) -> bool {
    let Some((first, rest)) = segs.split_first() else {
        return s.is_empty();
    };
    match first {
        // A template ending in a literal `*` (`rep:*`, the reference's form where it
        // names no placeholder) matches one resource id there: `rep:ABC123`.
        Seg::Lit(l) if rest.is_empty() && l.ends_with('*') => {
            match s.strip_prefix(&l[..l.len() - 1]) {
                Some(id)
                    if !id.is_empty()
                        && !id.contains(['*', ':'])
                        && !id.bytes().any(|b| b.is_ascii_whitespace()) =>
                {
                    *last = Some(id);
                    true
                }
                _ => false,
            }
        }
        Seg::Lit(l) => s
            .strip_prefix(&**l)
            .is_some_and(|r| match_segs(rest, r, last)),
        Seg::Partition => {
            let end = s.find(':').unwrap_or(s.len());
            let p = &s[..end];
            p.starts_with("aws")
                && p.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
                && match_segs(rest, &s[end..], last)
        }
        Seg::Region => {
            let end = s.find(':').unwrap_or(s.len());
            s[..end]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && match_segs(rest, &s[end..], last)
        }
        Seg::Account => {
            let end = s.find(':').unwrap_or(s.len());
            let a = &s[..end];
            (a.is_empty() || a == "aws" || (a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit())))
                && match_segs(rest, &s[end..], last)
        }
        Seg::Var(v) => {
            // Longest first, then shorter: templates are tiny, so backtracking is cheap.
            let stop = |c: char| c == ':' || (!v.slash && c == '/');
            let limit = if v.last && rest.is_empty() && region_prefixed(s) {
                s.len()
            } else {
                s.find(stop).unwrap_or(s.len())
            };
            for end in (1..=limit).rev() {
                if !s.is_char_boundary(end) {
                    continue;
                }
                if match_segs(rest, &s[end..], last) {
                    if !rest.iter().any(|x| matches!(x, Seg::Var(_))) {
                        *last = Some(&s[..end]);
                    }
                    return true;
                }
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_and_match() {
        let t = Template::parse("arn:${Partition}:ec2:${Region}:${Account}:instance/${InstanceId}")
            .unwrap();
        assert_eq!(t.service(), "ec2");
        assert!(t.has_region() && t.has_account());
        let arn = t
            .fill("aws", "us-east-1", "123456789012", &["i-1"])
            .unwrap();
        assert_eq!(arn, "arn:aws:ec2:us-east-1:123456789012:instance/i-1");
        assert_eq!(t.capture(&arn), Some("i-1"));
        assert!(!t.matches("arn:aws:ec2:us-east-1:123456789012:volume/vol-1"));
        assert!(t
            .fill("aws", "us-east-1", "123456789012", &["a:b"])
            .is_none());
    }

    #[test]
    fn global_and_paths() {
        let t =
            Template::parse("arn:${Partition}:iam::${Account}:role/${RoleNameWithPath}").unwrap();
        assert!(!t.has_region());
        assert!(t.matches("arn:aws:iam::123456789012:role/a/b/c"));
        let b = Template::parse("arn:${Partition}:s3:::${BucketName}").unwrap();
        assert!(!b.has_account());
        assert_eq!(b.capture("arn:aws:s3:::my-bucket"), Some("my-bucket"));
        let f = Template::parse(
            "arn:${Partition}:lambda:${Region}:${Account}:function:${FunctionName}",
        )
        .unwrap();
        assert!(f.matches("arn:aws:lambda:us-east-1:123456789012:function:f"));
        assert!(!f.matches("arn:aws:lambda:us-east-1:123456789012:function:f:1"));
    }

    #[test]
    fn star_templates_are_never_filled() {
        let t = Template::parse("arn:${Partition}:mobiletargeting:${Region}:${Account}:apps/*")
            .unwrap();
        assert!(t.fill("aws", "us-east-1", "123456789012", &[]).is_none());
    }

    #[test]
    fn region_prefixed_ids() {
        let t = Template::parse(
            "arn:${Partition}:cognito-identity:${Region}:${Account}:identitypool/${IdentityPoolId}",
        )
        .unwrap();
        let id = "us-east-1:1a234b56-7890-1cd2-3e4f-5a6b7c8d9e0f";
        let arn = t.fill("aws", "us-east-1", "123456789012", &[id]).unwrap();
        assert_eq!(t.capture(&arn), Some(id));
        assert!(t
            .fill("aws", "us-east-1", "123456789012", &["a:b"])
            .is_none());
        let f = Template::parse(
            "arn:${Partition}:lambda:${Region}:${Account}:function:${FunctionName}",
        )
        .unwrap();
        assert!(f
            .fill("aws", "us-east-1", "123456789012", &["f:PROD"])
            .is_none());
    }

    #[test]
    fn star_templates_match_one_id() {
        let t = Template::parse("arn:${Partition}:dms:${Region}:${Account}:rep:*").unwrap();
        assert_eq!(
            t.capture("arn:aws:dms:us-east-1:123456789012:rep:ABCDEFGHIJ"),
            Some("ABCDEFGHIJ")
        );
        assert!(!t.matches("arn:aws:dms:us-east-1:123456789012:rep:"));
        assert!(!t.matches("arn:aws:dms:us-east-1:123456789012:rep:*"));
        assert!(!t.matches("arn:aws:dms:us-east-1:123456789012:task:ABC"));
        let v = Template::parse("arn:${Partition}:x:${Region}:${Account}:apps/${AppId}").unwrap();
        let s = Template::parse("arn:${Partition}:x:${Region}:${Account}:apps/*").unwrap();
        assert!(v.specificity() > s.specificity());
    }

    #[test]
    fn multi_var_capture_is_last() {
        let t = Template::parse(
            "arn:${Partition}:ecs:${Region}:${Account}:service/${ClusterName}/${ServiceName}",
        )
        .unwrap();
        assert_eq!(
            t.capture("arn:aws:ecs:eu-west-1:123456789012:service/c1/s1"),
            Some("s1")
        );
    }

    #[test]
    fn clean_values() {
        let t = Template::parse("arn:${Partition}:route53:::hostedzone/${Id}").unwrap();
        let v = t.vars().next().unwrap();
        assert_eq!(v.clean("/hostedzone/Z1"), "Z1");
        assert_eq!(v.clean("Z1"), "Z1");
        assert_eq!(v.clean("/change/C1"), "");
        let q = Template::parse("arn:${Partition}:sqs:${Region}:${Account}:${QueueName}").unwrap();
        assert_eq!(
            q.vars()
                .next()
                .unwrap()
                .clean("https://sqs.us-east-1.amazonaws.com/123456789012/q1"),
            "q1"
        );
        let a =
            Template::parse("arn:${Partition}:kms:${Region}:${Account}:alias/${Alias}").unwrap();
        assert_eq!(a.vars().next().unwrap().clean("alias/my"), "my");
        let p = Template::parse("arn:${Partition}:ssm:${Region}:${Account}:parameter/${ParameterNameWithoutLeadingSlash}").unwrap();
        assert_eq!(p.vars().next().unwrap().clean("/a/b"), "a/b");
    }
}
