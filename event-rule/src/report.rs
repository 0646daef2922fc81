//! The result of a command: one row per account and region (plus the queue, account and
//! scanner-role rows), rendered as a table or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::discover::Coverage;
use crate::error::Error;
use crate::plan::{ChangeKind, ResourceChange};

/// How a row ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RowOutcome {
    /// Something was (or, for `plan`, would be) created.
    Created,
    /// Something was (would be) changed, nothing created.
    Updated,
    /// Nothing to do.
    Unchanged,
    /// Something was removed (`teardown`).
    Deleted,
    /// Everything exists and matches (`status`).
    InSync,
    /// Something is missing or differs (`status`).
    Drift,
    /// Not worked on (no CloudTrail trail covers the region).
    Skipped,
    /// Failed; see the error.
    Failed,
}

impl RowOutcome {
    /// The outcome of a `setup` or `plan` with these changes.
    pub fn of_changes(changes: &[ResourceChange]) -> Self {
        if changes.iter().any(|c| c.action == ChangeKind::Create) {
            RowOutcome::Created
        } else if changes.is_empty() {
            RowOutcome::Unchanged
        } else {
            RowOutcome::Updated
        }
    }

    /// The outcome of a `teardown` with these changes.
    pub fn of_deletions(changes: &[ResourceChange]) -> Self {
        if changes.is_empty() {
            RowOutcome::Unchanged
        } else {
            RowOutcome::Deleted
        }
    }

    fn label(self) -> &'static str {
        match self {
            RowOutcome::Created => "created",
            RowOutcome::Updated => "updated",
            RowOutcome::Unchanged => "unchanged",
            RowOutcome::Deleted => "deleted",
            RowOutcome::InSync => "in-sync",
            RowOutcome::Drift => "drift",
            RowOutcome::Skipped => "skipped",
            RowOutcome::Failed => "failed",
        }
    }
}

/// What a row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RowScope {
    /// The account as a whole (role, region list).
    Account,
    /// The central queue in the home account and region.
    Queue,
    /// The scanner role (global).
    ScannerRole,
    /// One region: topic, rule, target, subscription.
    Region,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Account id.
    pub account: String,
    /// Region, or `global`.
    pub region: String,
    /// What the row is about.
    pub scope: RowScope,
    /// How it ended.
    pub outcome: RowOutcome,
    /// Changes made (setup, teardown; done before a failure too) or planned (plan),
    /// or needed to repair drift (status).
    pub changes: Vec<ResourceChange>,
    /// CloudTrail coverage of the region, where checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trail: Option<Coverage>,
    /// `status`: each resource's state (`ok`, `missing`, `differs: ...`, ...).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, String>,
    /// The error, when failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whether retrying later may help, when failed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub retryable: bool,
    /// Anything else worth knowing (skip reasons, resources left alone).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Row {
    /// A row with nothing in it yet.
    pub fn new(account: &str, region: &str, scope: RowScope, outcome: RowOutcome) -> Self {
        Row {
            account: account.to_string(),
            region: region.to_string(),
            scope,
            outcome,
            changes: Vec::new(),
            trail: None,
            checks: BTreeMap::new(),
            error: None,
            retryable: false,
            notes: Vec::new(),
        }
    }

    /// A failed row, keeping the changes done before the failure.
    pub fn failed(
        account: &str,
        region: &str,
        scope: RowScope,
        err: &Error,
        done: Vec<ResourceChange>,
    ) -> Self {
        let mut r = Row::new(account, region, scope, RowOutcome::Failed);
        r.error = Some(err.to_string());
        r.retryable = err.is_retryable();
        r.changes = done;
        r
    }
}

/// The result of one command.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `setup`, `plan`, `status` or `teardown`.
    pub command: String,
    /// Rows, sorted by account, scope and region.
    pub rows: Vec<Row>,
    /// Warnings for the whole run (us-east-1 left out, ...).
    pub warnings: Vec<String>,
}

impl Report {
    /// Whether any row failed.
    pub fn has_failures(&self) -> bool {
        self.rows.iter().any(|r| r.outcome == RowOutcome::Failed)
    }

    /// Whether `status` found drift.
    pub fn has_drift(&self) -> bool {
        self.rows.iter().any(|r| r.outcome == RowOutcome::Drift)
    }

    /// Number of rows with each outcome.
    pub fn counts(&self) -> BTreeMap<RowOutcome, usize> {
        let mut m = BTreeMap::new();
        for r in &self.rows {
            *m.entry(r.outcome).or_insert(0) += 1;
        }
        m
    }

    /// Rows for `account` and `region` (tests, scripts).
    pub fn row(&self, account: &str, region: &str, scope: RowScope) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.account == account && r.region == region && r.scope == scope)
    }

    pub(crate) fn sort(&mut self) {
        self.rows.sort_by(|a, b| {
            (&a.account, a.scope, &a.region).cmp(&(&b.account, b.scope, &b.region))
        });
    }

    /// The report as an aligned text table with a summary line.
    pub fn table(&self) -> String {
        let header = ["ACCOUNT", "REGION", "SCOPE", "OUTCOME", "DETAIL"];
        let lines: Vec<[String; 5]> = self
            .rows
            .iter()
            .map(|r| {
                let scope = match r.scope {
                    RowScope::Account => "account",
                    RowScope::Queue => "queue",
                    RowScope::ScannerRole => "scanner-role",
                    RowScope::Region => "region",
                };
                [
                    r.account.clone(),
                    r.region.clone(),
                    scope.to_string(),
                    r.outcome.label().to_string(),
                    detail(r),
                ]
            })
            .collect();
        let mut width = header.map(str::len);
        for l in &lines {
            for (w, c) in width.iter_mut().zip(l.iter()).take(4) {
                *w = (*w).max(c.len());
            }
        }
        let mut out = String::new();
        let mut line = |cells: [&str; 5]| {
            let _ = writeln!(
                out,
                "{:w0$}  {:w1$}  {:w2$}  {:w3$}  {}",
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                cells[4],
                w0 = width[0],
                w1 = width[1],
                w2 = width[2],
                w3 = width[3]
            );
        };
        line(header);
        for l in &lines {
            line([&l[0], &l[1], &l[2], &l[3], &l[4]]);
        }
        let counts = self.counts();
        let summary: Vec<String> = counts
            .iter()
            .map(|(o, n)| format!("{n} {}", o.label()))
            .collect();
        let _ = writeln!(out, "{}: {}", self.command, summary.join(", "));
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        out
    }
}

fn detail(r: &Row) -> String {
    let mut parts = Vec::new();
    if !r.checks.is_empty() {
        let bad: Vec<String> = r
            .checks
            .iter()
            .filter(|(_, v)| v.as_str() != "ok")
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        if !bad.is_empty() {
            parts.push(bad.join("; "));
        }
    } else if !r.changes.is_empty() {
        let changes: Vec<String> = r.changes.iter().map(|c| c.to_string()).collect();
        if r.outcome == RowOutcome::Failed {
            parts.push(format!("done before failing: {}", changes.join(", ")));
        } else {
            parts.push(changes.join(", "));
        }
    }
    if let Some(e) = &r.error {
        parts.push(e.clone());
    }
    if let Some(Coverage::NotCovered { reason }) = &r.trail {
        parts.push(format!("no CloudTrail coverage: {reason}"));
    }
    parts.extend(r.notes.iter().cloned());
    parts.join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Aspect, Resource};

    #[test]
    fn outcomes() {
        assert_eq!(RowOutcome::of_changes(&[]), RowOutcome::Unchanged);
        assert_eq!(
            RowOutcome::of_changes(&[
                ResourceChange::update(Resource::Rule, Aspect::Definition),
                ResourceChange::create(Resource::Target)
            ]),
            RowOutcome::Created
        );
        assert_eq!(
            RowOutcome::of_changes(&[ResourceChange::update(Resource::Rule, Aspect::Definition)]),
            RowOutcome::Updated
        );
        assert_eq!(
            RowOutcome::of_deletions(&[ResourceChange::delete(Resource::Topic)]),
            RowOutcome::Deleted
        );
    }

    #[test]
    fn table_and_json() {
        let mut rep = Report {
            command: "setup".into(),
            rows: vec![],
            warnings: vec!["w".into()],
        };
        let mut r = Row::new(
            "111111111111",
            "eu-west-1",
            RowScope::Region,
            RowOutcome::Created,
        );
        r.changes.push(ResourceChange::create(Resource::Topic));
        rep.rows.push(r);
        rep.rows.push(Row::failed(
            "222222222222",
            "global",
            RowScope::Account,
            &Error::AssumeRole {
                account: "222222222222".into(),
                role_arn: "arn:r".into(),
                message: "denied".into(),
            },
            vec![],
        ));
        let t = rep.table();
        assert!(t.contains("create topic"));
        assert!(t.contains("could not assume role arn:r in account 222222222222"));
        assert!(t.contains("setup: 1 created, 1 failed"));
        assert!(t.contains("warning: w"));
        assert!(rep.has_failures());
        let j = serde_json::to_value(&rep).unwrap();
        assert_eq!(
            j["rows"][0]["changes"][0],
            serde_json::json!({"resource": "topic", "action": "create", "aspect": "whole"})
        );
        assert_eq!(j["rows"][1]["outcome"], "failed");
    }
}
