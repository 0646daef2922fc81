//! One interface for the three things a command works on (the central queue, one
//! account-region, the scanner role), and the one function that turns a command and a
//! component into a report [`Row`].
//!
//! Each component reads itself back ([`Component::observe`]), diffs what it read
//! against what it should be ([`Component::diff`], [`Component::teardown`]) and applies
//! the result ([`Component::apply`]). [`row`] does the rest the same way for all of
//! them: which of those steps a command runs, the row's outcome, its changes, and a
//! failure kept to the row with the changes done before it. What really differs stays
//! with the component as hooks: its row's extra fields ([`Component::row`]), notes
//! ([`Component::notes`]) and status checks ([`Component::status`]).

use std::future::Future;

use crate::config::Config;
use crate::error::Error;
use crate::plan::{Aspect, ChangeKind, Resource, ResourceChange};
use crate::report::{Row, RowOutcome, RowScope};
use crate::run::Command;

/// Something a command reads back, diffs and changes, reported as one [`Row`].
pub trait Component {
    /// The state as read back.
    type Observed;
    /// What [`Component::diff`] and [`Component::teardown`] decide and
    /// [`Component::apply`] carries out: at least the changes, in order.
    type Plan: AsRef<[ResourceChange]>;

    /// Account of the row.
    fn account(&self) -> &str;
    /// Region of the row, or `global`.
    fn region(&self) -> &str;
    /// What the row is about.
    fn scope(&self) -> RowScope;

    /// Reads the current state.
    fn observe(&self) -> impl Future<Output = Result<Self::Observed, Error>> + Send;

    /// What brings `observed` to what should be (setup, plan, status). Resources that
    /// exist without our tags are an error unless `adopt` (see [`adopt`]).
    fn diff(&self, observed: &Self::Observed, adopt: bool) -> Result<Self::Plan, Error>;

    /// What teardown removes or narrows, with notes about what it leaves alone.
    fn teardown(
        &self,
        observed: &Self::Observed,
        adopt: bool,
    ) -> Result<(Self::Plan, Vec<String>), Error>;

    /// Carries out `plan` in order, pushing each change done to `done`, so a failure
    /// half-way is reported with what was already made.
    fn apply(
        &self,
        observed: &Self::Observed,
        plan: &Self::Plan,
        done: &mut Vec<ResourceChange>,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// An empty row of this component with `outcome`.
    fn row(&self, outcome: RowOutcome) -> Row {
        Row::new(self.account(), self.region(), self.scope(), outcome)
    }

    /// A failed row of this component, keeping the changes done before the failure.
    fn failed(&self, err: &Error, done: Vec<ResourceChange>) -> Row {
        Row::failed(self.account(), self.region(), self.scope(), err, done)
    }

    /// Notes for `plan` and `status` about what was read back.
    fn notes(&self, _observed: &Self::Observed) -> Vec<String> {
        Vec::new()
    }

    /// Fills in the `status` row: its checks, and any outcome beyond "drift when
    /// `changes` would repair something". `changes` are the repairs [`Component::diff`]
    /// found; the row already has them as notes and outcome.
    fn status(&self, observed: &Self::Observed, changes: &[ResourceChange], row: &mut Row);
}

/// Whether `cmd` takes over resources of ours that lack our tags (`--adopt`), the one
/// place this is decided: setup and plan as configured; status always (missing tags
/// are drift to report, not an error); teardown always (it only narrows the queue
/// policy and removes what carries our tags).
pub fn adopt(cmd: Command, cfg: &Config) -> bool {
    match cmd {
        Command::Setup | Command::Plan => cfg.adopt,
        Command::Status | Command::Teardown { .. } => true,
    }
}

/// The row of `component` for `cmd`: reads it back, then [`row_from`].
pub async fn row<C: Component>(component: &C, cmd: Command, cfg: &Config) -> Row {
    let observed = component.observe().await;
    row_from(component, cmd, cfg, observed).await
}

/// The row of `component` for `cmd`, from the state as read back:
/// - setup: diff and apply; the changes done;
/// - plan: diff; the changes that would be made, with notes;
/// - status: diff; in sync or drift, with the changes that would repair it, notes and
///   checks;
/// - teardown: the teardown diff, applied; the changes done and notes.
///
/// Any error fails the row, with the changes done before it.
pub async fn row_from<C: Component>(
    component: &C,
    cmd: Command,
    cfg: &Config,
    observed: Result<C::Observed, Error>,
) -> Row {
    let mut done = Vec::new();
    match build(component, cmd, adopt(cmd, cfg), observed, &mut done).await {
        Ok(row) => row,
        Err(e) => component.failed(&e, done),
    }
}

async fn build<C: Component>(
    c: &C,
    cmd: Command,
    adopt: bool,
    observed: Result<C::Observed, Error>,
    done: &mut Vec<ResourceChange>,
) -> Result<Row, Error> {
    let observed = observed?;
    let row = match cmd {
        Command::Setup => {
            let plan = c.diff(&observed, adopt)?;
            c.apply(&observed, &plan, done).await?;
            let mut r = c.row(RowOutcome::of_changes(done));
            r.changes = std::mem::take(done);
            r
        }
        Command::Plan => {
            let changes = c.diff(&observed, adopt)?.as_ref().to_vec();
            let mut r = c.row(RowOutcome::of_changes(&changes));
            r.changes = changes;
            r.notes = c.notes(&observed);
            r
        }
        Command::Status => {
            let changes = c.diff(&observed, adopt)?.as_ref().to_vec();
            let mut r = c.row(if changes.is_empty() {
                RowOutcome::InSync
            } else {
                RowOutcome::Drift
            });
            r.notes = c.notes(&observed);
            c.status(&observed, &changes, &mut r);
            r.changes = changes;
            r
        }
        Command::Teardown { .. } => {
            let (plan, notes) = c.teardown(&observed, adopt)?;
            c.apply(&observed, &plan, done).await?;
            let mut r = c.row(teardown_outcome(done));
            r.changes = std::mem::take(done);
            r.notes = notes;
            r
        }
    };
    Ok(row)
}

/// The outcome of a teardown that made `done`: deleted when anything was deleted,
/// otherwise as for setup (the queue policy narrowed is an update).
fn teardown_outcome(done: &[ResourceChange]) -> RowOutcome {
    if done.iter().any(|c| c.action == ChangeKind::Delete) {
        RowOutcome::Deleted
    } else {
        RowOutcome::of_changes(done)
    }
}

/// The status of one resource, from the changes that would repair it.
pub fn checks_for(changes: &[ResourceChange], res: Resource) -> String {
    let mine: Vec<&ResourceChange> = changes.iter().filter(|c| c.resource == res).collect();
    if mine.is_empty() {
        return "ok".into();
    }
    if mine.iter().any(|c| c.action == ChangeKind::Create) {
        return "missing".into();
    }
    if mine.iter().any(|c| c.action == ChangeKind::Delete) {
        return "should not exist".into();
    }
    let aspects: Vec<&str> = mine
        .iter()
        .map(|c| match c.aspect {
            Aspect::Tags => "not tagged by event-rule",
            Aspect::Policy => "policy",
            Aspect::Encryption => "encryption",
            Aspect::Definition => "definition",
            Aspect::Attachment => "permissions other than SecurityAudit alone",
            Aspect::Whole => "resource",
        })
        .collect();
    format!("differs: {}", aspects.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adopt_is_forced_for_status_and_teardown_only() {
        let mut cfg = Config::default();
        for adopting in [false, true] {
            cfg.adopt = adopting;
            assert_eq!(adopt(Command::Setup, &cfg), adopting);
            assert_eq!(adopt(Command::Plan, &cfg), adopting);
            assert!(adopt(Command::Status, &cfg));
            for include_queue in [false, true] {
                assert!(adopt(Command::Teardown { include_queue }, &cfg));
            }
        }
    }

    #[test]
    fn teardown_outcome_is_deleted_only_when_something_was() {
        assert_eq!(teardown_outcome(&[]), RowOutcome::Unchanged);
        let del = ResourceChange::delete(Resource::Topic);
        assert_eq!(teardown_outcome(&[del]), RowOutcome::Deleted);
        let narrowed = ResourceChange::update(Resource::QueuePolicy, Aspect::Policy);
        assert_eq!(teardown_outcome(&[narrowed]), RowOutcome::Updated);
        // Only deletions (regions, the scanner role): as `of_deletions`.
        assert_eq!(
            teardown_outcome(&[del, del]),
            RowOutcome::of_deletions(&[del])
        );
    }
}
