//! The placeholder audit written by the generator (`data/audit.tsv`): for every
//! `(service, event, resource type, placeholder)` where the API model offers more than
//! one record field that could fill the placeholder, the fields chosen, the fields set
//! aside, and why. The generator fails on a tie that no rule or override decides, so
//! every line here states a decision. `processor catalog audit` prints it.

/// The generated audit text, embedded at build time.
pub const AUDIT_TSV: &str = include_str!("../data/audit.tsv");

/// One audited placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditRow<'a> {
    /// IAM service prefix.
    pub prefix: &'a str,
    /// Event name.
    pub event: &'a str,
    /// Resource type (IAM name).
    pub resource_type: &'a str,
    /// Placeholder of the type's ARN template.
    pub placeholder: &'a str,
    /// Fields chosen, comma separated (normalised: lower case, no `_`, singular).
    pub chosen: &'a str,
    /// Fields set aside, comma separated, or `-`.
    pub set_aside: &'a str,
    /// The rule or override that decided.
    pub why: &'a str,
}

/// Every row of the embedded audit, in file order (sorted by prefix and event).
pub fn rows() -> impl Iterator<Item = AuditRow<'static>> {
    parse(AUDIT_TSV)
}

/// Rows of an audit text (comment lines skipped; malformed lines ignored).
pub fn parse(text: &str) -> impl Iterator<Item = AuditRow<'_>> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some(AuditRow {
                prefix: f.next()?,
                event: f.next()?,
                resource_type: f.next()?,
                placeholder: f.next()?,
                chosen: f.next()?,
                set_aside: f.next()?,
                why: f.next()?,
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_is_decided_and_the_rds_case_is_right() {
        let all: Vec<AuditRow<'_>> = rows().collect();
        assert!(all.len() > 100, "{} rows", all.len());
        assert!(all.iter().all(|r| !r.why.starts_with("UNRESOLVED")));
        // The example: the instance identifier, never the initial database name.
        let r = all
            .iter()
            .find(|r| r.prefix == "rds" && r.event == "CreateDBInstance" && r.resource_type == "db")
            .expect("audited");
        assert_eq!(r.chosen, "dbinstanceid");
        assert!(r.set_aside.split(',').any(|f| f == "dbname"), "{r:?}");
    }
}
