//! Orchestration: accounts and regions worked on concurrently with a bound, each
//! failure kept to its own row.
//!
//! 1. Check arguments, the pattern and credentials; find the caller's account; list
//!    target accounts. Failures here end the run with an [`Error`].
//! 2. Per account (bounded by `account_concurrency`): assume its role, list its
//!    regions, handle the scanner role (teardown looks for one even without the
//!    scanner flags), and check CloudTrail coverage per region.
//! 3. The central queue (setup, plan, status), so it exists and allows every topic
//!    before any topic subscribes.
//! 4. Per account and region (bounded by `concurrency` over all accounts): read, diff,
//!    and apply / print / report.
//! 5. Teardown only: narrow the queue policy, or delete the queues.
//!
//! The queue, each region and the scanner role are [`Component`]s; their rows come
//! from [`component::row`], the same for all three.

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_config::SdkConfig;
use futures::stream::{self, StreamExt};
use tokio::sync::Semaphore;
use tracing::{info, info_span, warn, Instrument};

use crate::aws::{self, AccountCtx, Identity};
use crate::component::{self, Component};
use crate::config::Config;
use crate::discover::{self, Coverage};
use crate::error::{AwsErrorKind, Error};
use crate::progress::Progress;
use crate::queue::CentralQueue;
use crate::region::AccountRegion;
use crate::report::{Report, Row, RowOutcome, RowScope};
use crate::scanner::ScannerRole;

/// A command that works on accounts and regions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Create or update everything.
    Setup,
    /// Show what setup would do; write nothing.
    Plan,
    /// Report drift and CloudTrail coverage.
    Status,
    /// Remove what setup made.
    Teardown {
        /// Delete the central queue and its dead-letter queue too.
        include_queue: bool,
    },
}

impl Command {
    fn name(self) -> &'static str {
        match self {
            Command::Setup => "setup",
            Command::Plan => "plan",
            Command::Status => "status",
            Command::Teardown { .. } => "teardown",
        }
    }
}

/// One target account after preparation.
struct Prep {
    ctx: Option<AccountCtx>,
    targets: Vec<(String, Option<Coverage>)>,
    rows: Vec<Row>,
    warnings: Vec<String>,
}

impl Prep {
    /// The account's preparation ended by `e`: its row says so, and nothing more is
    /// done in it.
    fn account_failed(mut self, account: &str, e: &Error) -> Prep {
        self.rows
            .push(Row::failed(account, "global", RowScope::Account, e, vec![]));
        self
    }
}

/// Runs `cmd` with `cfg`, acting from the credentials in `base` (whose region is
/// ignored: calls go to the home region or the target regions).
pub async fn run(cfg: &Config, base: &SdkConfig, cmd: Command) -> Result<Report, Error> {
    cfg.validate()?;
    let pattern = crate::pattern::build(&cfg.services)?;
    let base = base
        .to_builder()
        .region(aws_config::Region::new(cfg.home_region.clone()))
        .build();
    aws::check_credentials(&base).await?;
    let home_id = aws::identity(&base).await?;
    let home = AccountCtx {
        account: home_id.account.clone(),
        sdk: base.clone(),
    };
    // --organization admits the organization's topics by aws:SourceOrgID (as
    // --queue-org-id does): one statement whatever the number of accounts.
    let with_org;
    let cfg = if cfg.organization && cfg.queue_org_id.is_none() {
        with_org = Config {
            queue_org_id: Some(discover::organization_id(&base, &home_id).await?),
            ..cfg.clone()
        };
        &with_org
    } else {
        cfg
    };
    let accounts = discover::accounts(cfg, &base, &home_id).await?;
    info!(command = cmd.name(), home_account = %home.account, accounts = accounts.len(), "starting");
    let progress = Progress::on_stderr(!cfg.no_progress);
    progress.start(accounts.len());

    let permits = Arc::new(Semaphore::new(cfg.concurrency as usize));
    let preps: Vec<Prep> = stream::iter(accounts.iter())
        .map(|a| {
            prepare(cfg, cmd, &base, &home, &home_id, a, permits.clone())
                .instrument(info_span!("account", account = %a))
        })
        .buffered(cfg.account_concurrency as usize)
        .inspect(|p| progress_of(&progress, p))
        .collect()
        .await;

    let mut report = Report {
        command: cmd.name().into(),
        rows: Vec::new(),
        warnings: Vec::new(),
    };
    let mut jobs = Vec::new();
    for p in preps {
        report.rows.extend(p.rows);
        report.warnings.extend(p.warnings);
        if let Some(ctx) = p.ctx {
            let ctx = Arc::new(ctx);
            jobs.extend(p.targets.into_iter().map(|(r, c)| (ctx.clone(), r, c)));
        }
    }

    // The central queue first: it must allow every topic before they subscribe.
    let topics: BTreeSet<String> = jobs
        .iter()
        .filter(|(_, _, c)| c.as_ref().is_some_and(Coverage::is_covered))
        .map(|(ctx, r, _)| aws::topic_arn(r, &ctx.account, &cfg.topic_name))
        .collect();
    let mut queue_error: Option<String> = None;
    if !matches!(cmd, Command::Teardown { .. }) {
        let queue = CentralQueue::new(&home, cfg, &topics);
        let row = component::row(&queue, cmd, cfg)
            .instrument(info_span!("queue", account = %home.account, region = %cfg.home_region))
            .await;
        if row.outcome == RowOutcome::Failed {
            progress.failed();
            queue_error = row.error.clone();
        }
        report.rows.push(row);
    }

    let region_rows: Vec<Row> = stream::iter(jobs)
        .map(|(ctx, region, coverage)| {
            let span = info_span!("region", account = %ctx.account, region = %region);
            let (home, pattern, queue_error) = (&home, &pattern, &queue_error);
            let permits = permits.clone();
            async move {
                let _permit = permits.acquire().await;
                one_region(
                    cfg,
                    cmd,
                    &ctx,
                    home,
                    &region,
                    coverage,
                    pattern,
                    queue_error.as_deref(),
                )
                .await
            }
            .instrument(span)
        })
        .buffer_unordered(cfg.concurrency as usize)
        .inspect(|row| progress.region_done(row.outcome == RowOutcome::Failed))
        .collect()
        .await;
    progress.finish();

    if let Command::Teardown { include_queue } = cmd {
        let removed: BTreeSet<String> = region_rows
            .iter()
            .filter(|r| r.outcome != RowOutcome::Failed)
            .map(|r| aws::topic_arn(&r.region, &r.account, &cfg.topic_name))
            .collect();
        // Accounts torn down in every region (no --regions list, nothing failed): the
        // queue policy's folded entries for them can go too.
        let failed: BTreeSet<&str> = report
            .rows
            .iter()
            .chain(&region_rows)
            .filter(|r| r.outcome == RowOutcome::Failed)
            .map(|r| r.account.as_str())
            .collect();
        let whole_accounts: BTreeSet<String> = region_rows
            .iter()
            .filter(|_| cfg.regions.is_empty())
            .map(|r| r.account.as_str())
            .filter(|a| !failed.contains(a))
            .map(String::from)
            .collect();
        let queue = CentralQueue::leaving(&home, cfg, &removed, &whole_accounts, include_queue);
        let row = component::row(&queue, cmd, cfg)
            .instrument(info_span!("queue", account = %home.account, region = %cfg.home_region))
            .await;
        report.rows.push(row);
    }
    report.rows.extend(region_rows);
    report.sort();
    info!(command = cmd.name(), failed = report.has_failures(), "done");
    Ok(report)
}

/// Counts a prepared account on the progress line.
fn progress_of(progress: &Progress, p: &Prep) {
    let finished = p
        .rows
        .iter()
        .filter(|r| r.scope == RowScope::Region)
        .count();
    let failures = p
        .rows
        .iter()
        .filter(|r| r.outcome == RowOutcome::Failed)
        .count();
    let pending = if p.ctx.is_some() { p.targets.len() } else { 0 };
    progress.account_done(finished, pending, failures);
}

async fn prepare(
    cfg: &Config,
    cmd: Command,
    base: &SdkConfig,
    home: &AccountCtx,
    home_id: &Identity,
    account: &str,
    permits: Arc<Semaphore>,
) -> Prep {
    let mut prep = Prep {
        ctx: None,
        targets: Vec::new(),
        rows: Vec::new(),
        warnings: Vec::new(),
    };
    let ctx = if account == home.account {
        home.clone()
    } else {
        let role_arn = cfg.role_arn_for(account, &home_id.partition);
        let session = std::time::Duration::from_secs(cfg.session_duration.into());
        match aws::assume_for(base, account, &role_arn, session).await {
            Ok(c) => c,
            Err(e) => {
                warn!(account, error = %e, "account failed");
                return prep.account_failed(account, &e);
            }
        }
    };

    let known = match discover::region_map(&ctx, &cfg.home_region).await {
        Ok(k) => Some(k),
        Err(e) if !cfg.regions.is_empty() => {
            prep.warnings.push(format!(
                "account {account}: could not list regions ({e}); using --regions as given"
            ));
            None
        }
        Err(e) => {
            return prep.account_failed(account, &e);
        }
    };
    let (regions, bad) = discover::pick_regions(account, &cfg.regions, known.as_ref());
    for (r, e) in bad {
        prep.rows
            .push(Row::failed(account, &r, RowScope::Region, &e, vec![]));
    }

    if cfg.scanner_enabled() {
        let role = ScannerRole::new(&ctx, cfg, &home_id.partition);
        prep.rows.push(component::row(&role, cmd, cfg).await);
    } else if matches!(cmd, Command::Teardown { .. }) {
        // Teardown removes a scanner role an earlier setup made (found by name and
        // tags) without being given the scanner flags again; it says nothing when
        // there is none.
        if let Some(row) = unasked_scanner_teardown(cfg, cmd, &ctx, &home_id.partition).await {
            prep.rows.push(row);
        }
    }

    if matches!(cmd, Command::Teardown { .. }) {
        prep.targets = regions.into_iter().map(|r| (r, None)).collect();
    } else {
        // One lookup finds a multi-region trail, which covers every region; only
        // without one is each region asked for a trail homed there.
        let (multi, only_homed) = match discover::multi_region_trail(&ctx, &cfg.home_region).await {
            Ok(m) => (m, true),
            Err(e) => {
                warn!(account, error = %e, "could not look for a multi-region trail; checking each region");
                (None, false)
            }
        };
        let checks = regions.iter().map(|r| {
            let (ctx, permits, multi) = (&ctx, permits.clone(), &multi);
            async move {
                if let Some(m) = multi {
                    return (r.clone(), Ok(m.clone()));
                }
                let _permit = permits.acquire().await;
                (
                    r.clone(),
                    discover::trail_coverage(ctx, r, only_homed).await,
                )
            }
        });
        let mut covered = BTreeSet::new();
        for (r, cov) in futures::future::join_all(checks).await {
            match cov {
                Ok(c) if c.is_covered() || cmd == Command::Status => {
                    if c.is_covered() {
                        covered.insert(r.clone());
                    }
                    prep.targets.push((r, Some(c)));
                }
                Ok(c) => {
                    let mut row = if cfg.require_trail {
                        let e = Error::NoTrail {
                            account: account.into(),
                            region: r.clone(),
                        };
                        Row::failed(account, &r, RowScope::Region, &e, vec![])
                    } else {
                        warn!(account, region = %r, "no logging CloudTrail trail covers the region; skipping it");
                        Row::new(account, &r, RowScope::Region, RowOutcome::Skipped)
                    };
                    row.trail = Some(c);
                    prep.rows.push(row);
                }
                Err(e) => prep
                    .rows
                    .push(Row::failed(account, &r, RowScope::Region, &e, vec![])),
            }
        }
        if home_id.partition == "aws" && !covered.contains("us-east-1") {
            prep.warnings.push(format!(
                "account {account}: us-east-1 is not covered, so events of global services \
                 (IAM, CloudFront, Route 53, Organizations, ...), which CloudTrail delivers to \
                 EventBridge in us-east-1 only, will be missed"
            ));
        }
    }
    prep.ctx = Some(ctx);
    prep
}

/// Teardown of the scanner role when the scanner flags were not given: a row only when
/// there was something to say (a role deleted or left alone, or an error). Being
/// denied the look-up is a skip with a note, not a failure: the user never asked for
/// the role this time.
async fn unasked_scanner_teardown(
    cfg: &Config,
    cmd: Command,
    ctx: &AccountCtx,
    partition: &str,
) -> Option<Row> {
    let role = ScannerRole::new(ctx, cfg, partition);
    match role.observe().await {
        Ok(None) => None,
        Err(Error::Aws(e)) if e.kind == AwsErrorKind::AccessDenied => {
            let mut row = role.row(RowOutcome::Skipped);
            row.notes.push(format!(
                "could not look for a scanner role made by an earlier setup ({e}); grant \
                 the IAM actions of `event-rule policy teardown` and rerun if there is one"
            ));
            Some(row)
        }
        // Found (or another error): the full path reports it.
        observed => Some(component::row_from(&role, cmd, cfg, observed).await),
    }
}

#[allow(clippy::too_many_arguments)]
async fn one_region(
    cfg: &Config,
    cmd: Command,
    ctx: &AccountCtx,
    home: &AccountCtx,
    region: &str,
    coverage: Option<Coverage>,
    pattern: &str,
    queue_error: Option<&str>,
) -> Row {
    let region = AccountRegion::new(cfg, ctx, home, region, coverage, pattern);
    if let (Command::Setup, Some(q)) = (cmd, queue_error) {
        let e = Error::NotAttempted(format!("the central queue failed: {q}"));
        return region.failed(&e, vec![]);
    }
    component::row(&region, cmd, cfg).await
}
