//! The run loop of `processor run`.
//!
//! - **Pollers** (`--pollers`): long-poll the queue ten messages at a time and prepare
//!   each body (decode, filter, resolve) where they run, so that work spreads over
//!   every core; they send each batch to the owner and pause while it is full.
//! - **The owner** (this task): the only holder of the [`Engine`]. It admits batches,
//!   releases what is due (window closed, max hold reached, or before the messages'
//!   visibility runs out), spawns a dispatch task per release, resolves their results,
//!   and turns settled messages into `DeleteMessageBatch` (accepted),
//!   `ChangeMessageVisibilityBatch` with exponential backoff (a sink refused), or
//!   nothing (undecodable: the queue's redrive takes it to the dead-letter queue). It
//!   extends the visibility of messages still in flight before it runs out.
//! - **Stopping**: on cancellation (SIGTERM/SIGINT) or once idle with
//!   `--exit-when-idle`, receiving stops, everything held is dispatched, what was
//!   accepted is deleted, and the loop returns, within `--shutdown-grace`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use processor_core::coalesce::Millis;
use processor_core::{
    DecodeError, Engine, MessageOutcome, Outgoing, Prepared, Preparer, Resolver, Settled, Stats,
    SubscriptionKind,
};
use processor_sinks::{Sink, SinkError};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::{ConfigError, MetricsAddr, RunArgs};
use crate::dispatch::dispatch;
use crate::queue::{Queue, Receipt, SQS_BATCH};
use crate::subscribe::Confirmer;
use crate::telemetry::{self, names, Health};

/// How long a receive under way may still finish once receiving stops.
const RECEIVE_GRACE: Duration = Duration::from_secs(3);

/// Most dispatch tasks at once; receiving pauses beyond it.
const MAX_DISPATCH_TASKS: usize = 64;

/// Released requests go out together once this many are waiting...
const DISPATCH_BATCH: usize = 500;

/// ...or once the oldest has waited this long (deletes likewise, in tens).
const BATCH_WAIT_MS: u64 = 20;

/// Why `run` could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A setting that cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A sink that could not be built.
    #[error("sink: {0}")]
    Sink(#[from] SinkError),
    /// The metrics server could not bind.
    #[error("serving metrics on {addr}: {source}")]
    Metrics {
        /// The address.
        addr: std::net::SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    /// The engine's counters.
    pub stats: Stats,
    /// Messages deleted.
    pub deleted: u64,
    /// Messages returned to the queue after a sink refused a request behind them.
    pub retried: u64,
    /// Messages left for the dead-letter queue (undecodable, unhandled subscription).
    pub left: u64,
    /// Deletes SQS refused.
    pub delete_failures: u64,
    /// Messages still in flight when the grace period ran out.
    pub abandoned: u64,
}

/// The consumer's clock: milliseconds since start.
#[derive(Debug, Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn now(&self) -> Millis {
        self.0.elapsed().as_millis() as Millis
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One receive's messages, prepared; `true` marks a subscription confirmed here.
struct Batch {
    items: Vec<(Receipt, Prepared, bool)>,
}

/// Settings the pollers share.
struct PollerCtx {
    queue: Queue,
    preparer: Arc<Preparer>,
    tx: mpsc::Sender<Batch>,
    receiving: CancellationToken,
    full: Arc<AtomicBool>,
    health: Arc<Health>,
    wait: Duration,
    visibility: Duration,
    clock: Clock,
    confirmer: Option<Confirmer>,
}

/// Confirms a subscription message when asked to; true when it was confirmed.
async fn confirm(ctx: &PollerCtx, receipt: &Receipt, prepared: &Prepared) -> bool {
    let MessageOutcome::Subscription {
        kind: SubscriptionKind::Confirmation,
        topic_arn,
        token,
    } = &prepared.outcome
    else {
        return false;
    };
    let Some(confirmer) = &ctx.confirmer else {
        warn!(message_id = %receipt.message_id, topic = topic_arn.as_deref().unwrap_or("?"), "SNS subscription confirmation left for the dead-letter queue (--confirm-subscriptions is off)");
        return false;
    };
    match confirmer
        .confirm(topic_arn.as_deref(), token.as_ref())
        .await
    {
        Ok(subscription) => {
            metrics::counter!(names::SUBSCRIPTIONS, "result" => "confirmed").increment(1);
            info!(message_id = %receipt.message_id, topic = topic_arn.as_deref().unwrap_or("?"), %subscription, "subscription confirmed");
            true
        }
        Err(e) => {
            metrics::counter!(names::SUBSCRIPTIONS, "result" => "refused").increment(1);
            warn!(message_id = %receipt.message_id, topic = topic_arn.as_deref().unwrap_or("?"), error = %e, "subscription not confirmed; left for the dead-letter queue");
            false
        }
    }
}

async fn poll(id: usize, ctx: Arc<PollerCtx>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if ctx.receiving.is_cancelled() {
            break;
        }
        if ctx.full.load(Ordering::Relaxed) {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(20)) => continue,
                _ = ctx.receiving.cancelled() => break,
            }
        }
        let now = ctx.clock.now();
        // A receive under way when receiving stops may already hold messages: give
        // it a moment to return them (they are then dispatched and deleted) rather
        // than drop them into their visibility timeout.
        let received = tokio::select! {
            r = ctx.queue.receive(ctx.wait, ctx.visibility, now) => r,
            _ = async {
                ctx.receiving.cancelled().await;
                tokio::time::sleep(RECEIVE_GRACE).await;
            } => break,
        };
        let messages = match received {
            Ok(m) => {
                ctx.health.receive_ok();
                backoff = Duration::from_millis(100);
                m
            }
            Err(e) => {
                ctx.health.receive_failed();
                metrics::counter!(names::RECEIVE_ERRORS).increment(1);
                let jittered = backoff.mul_f64(0.5 + fastrand::f64() * 0.5);
                warn!(poller = id, error = %e, retry_in_ms = jittered.as_millis() as u64, "receive failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(jittered) => {}
                    _ = ctx.receiving.cancelled() => break,
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        metrics::counter!(names::RECEIVED).increment(messages.len() as u64);
        let mut items = Vec::with_capacity(messages.len());
        for m in messages {
            let prepared = match &m.body {
                Some(b) => ctx.preparer.prepare(b),
                None => ctx.preparer.invalid(DecodeError::Empty),
            };
            if let MessageOutcome::Invalid { errors, .. } = &prepared.outcome {
                warn!(
                    message_id = %m.receipt.message_id,
                    receive_count = m.receipt.receive_count,
                    error = %errors.first().map(ToString::to_string).unwrap_or_default(),
                    "undecodable message: not deleted, left for the dead-letter queue"
                );
            }
            let confirmed = confirm(&ctx, &m.receipt, &prepared).await;
            items.push((m.receipt, prepared, confirmed));
        }
        if ctx.tx.send(Batch { items }).await.is_err() {
            break;
        }
    }
    debug!(poller = id, "poller stopped");
}

/// Pushes the engine's counters to the metrics registry (the change since `last`).
fn export_stats(now: &Stats, last: &mut Stats) {
    metrics::counter!(names::EVENTS).increment(now.events - last.events);
    for (reason, n) in &now.dropped {
        let before = last.dropped.get(reason).copied().unwrap_or(0);
        if *n > before {
            metrics::counter!(names::DROPPED, "reason" => *reason).increment(n - before);
        }
    }
    metrics::counter!(names::RESCANS, "scope" => "resource")
        .increment(now.rescans.resource - last.rescans.resource);
    metrics::counter!(names::RESCANS, "scope" => "service")
        .increment(now.rescans.service - last.rescans.service);
    *last = now.clone();
}

/// Seconds before a message whose dispatch failed is received again.
fn retry_delay(base_secs: u32, receive_count: u32) -> u64 {
    let exp = receive_count.saturating_sub(1).min(16);
    let d = u64::from(base_secs.max(1))
        .saturating_mul(1u64 << exp)
        .min(900);
    d + fastrand::u64(0..=d / 4)
}

/// Consumes the queue until `stop` is cancelled (or, with `--exit-when-idle`, until it
/// is idle), then drains within the grace period.
pub async fn run(
    args: RunArgs,
    resolver: Arc<dyn Resolver>,
    stop: CancellationToken,
) -> Result<RunSummary, RunError> {
    args.validate()?;
    let aws = crate::load_aws_config(Some(&args.queue_url)).await;
    let queue = Queue::new(aws_sdk_sqs::Client::new(&aws), &args.queue_url);
    let (sinks, confirmer) = args
        .delivery
        .build(&aws, &args.pipeline.allow_accounts)
        .await?;
    let sinks: Arc<[Arc<dyn Sink>]> = sinks.into();
    let health = Arc::new(Health::new(args.unhealthy_after));
    let server_stop = CancellationToken::new();
    let _server_guard = server_stop.clone().drop_guard();
    telemetry::spawn_upkeep(server_stop.clone());
    if let MetricsAddr::On(addr) = args.metrics_addr {
        let bound = telemetry::serve(addr, health.clone(), server_stop.clone())
            .await
            .map_err(|source| RunError::Metrics { addr, source })?;
        info!(addr = %bound, "serving /metrics, /healthz and /readyz");
    }

    let config = args
        .pipeline
        .to_config(processor_core::decode::MAX_BODY_BYTES);
    let preparer = Arc::new(Preparer::new(config.clone(), resolver));
    let clock = Clock(Instant::now());
    let visibility = args.visibility();
    let visibility_ms = visibility.as_millis() as Millis;
    let (tx, mut rx) = mpsc::channel::<Batch>(args.pollers * 2);
    let receiving = CancellationToken::new();
    let full = Arc::new(AtomicBool::new(false));
    let ctx = Arc::new(PollerCtx {
        queue: queue.clone(),
        preparer,
        tx,
        receiving: receiving.clone(),
        full: full.clone(),
        health: health.clone(),
        wait: Duration::from_secs(u64::from(args.wait_time_seconds)),
        visibility,
        clock,
        confirmer,
    });
    for id in 0..args.pollers {
        tokio::spawn(poll(id, ctx.clone()));
    }
    drop(ctx);
    info!(
        queue = %args.queue_url,
        pollers = args.pollers,
        sinks = ?sinks.iter().map(|s| s.name().to_string()).collect::<Vec<_>>(),
        window_secs = config.window_secs,
        max_hold_secs = config.max_hold_secs,
        visibility_secs = args.visibility_timeout,
        "consuming"
    );

    let mut engine: Engine<Receipt> = Engine::new(&config);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Vec<(Outgoing, bool)>>();
    let mut dispatching = 0usize;
    let mut ops: JoinSet<()> = JoinSet::new();
    let mut summary = RunSummary::default();
    let mut exported = Stats::default();
    let mut last_export = Instant::now();
    let mut last_nonempty = Instant::now();
    let mut stopping = false;
    let mut grace_end: Option<Instant> = None;
    let mut pollers_done = false;
    let mut next_extend: Millis = 0;
    let idle_after = args
        .exit_when_idle
        .map(|s| Duration::from_secs(u64::from(s)));
    let grace = Duration::from_secs(u64::from(args.shutdown_grace));
    let drain_quiet =
        Duration::from_secs(u64::from(args.wait_time_seconds)) + Duration::from_millis(500);
    // Requests and deletes wait a moment to go out in fuller calls.
    let mut to_dispatch: Vec<Outgoing> = Vec::new();
    let mut to_dispatch_since = Instant::now();
    let mut to_delete: Vec<Receipt> = Vec::new();
    let mut to_delete_since = Instant::now();

    loop {
        let now = clock.now();
        let wake = engine
            .next_deadline()
            .map(|d| d.saturating_sub(now))
            .unwrap_or(250)
            .clamp(
                1,
                if to_dispatch.is_empty() && to_delete.is_empty() {
                    250
                } else {
                    BATCH_WAIT_MS
                },
            );
        tokio::select! {
            batch = rx.recv(), if !pollers_done => match batch {
                Some(batch) => {
                    if !batch.items.is_empty() {
                        last_nonempty = Instant::now();
                    }
                    let now = clock.now();
                    for (receipt, prepared, confirmed) in batch.items {
                        let (prepared, receipt) = if confirmed {
                            match engine.settle_handled_subscription(prepared, receipt) {
                                Ok(()) => continue,
                                Err(back) => *back,
                            }
                        } else {
                            (prepared, receipt)
                        };
                        let release_by = receipt.visible_until.saturating_sub(visibility_ms / 4);
                        let _ = engine.admit(prepared, receipt, now, release_by);
                    }
                }
                None => pollers_done = true,
            },
            Some(results) = done_rx.recv() => {
                dispatching -= 1;
                for (o, accepted) in results {
                    engine.resolve(o, accepted);
                }
            }
            Some(_) = ops.join_next(), if !ops.is_empty() => {}
            _ = tokio::time::sleep(Duration::from_millis(wake)) => {}
            _ = stop.cancelled(), if !stopping => {
                stopping = true;
            }
        }
        if stopping && grace_end.is_none() {
            grace_end = Some(Instant::now() + grace);
            health.set_draining();
            receiving.cancel();
            info!(
                held = engine.held(),
                in_flight = engine.in_flight(),
                "stopping: receiving stopped, dispatching what is held"
            );
        }
        let now = clock.now();
        let mut out = Vec::new();
        // Drain mode: once a whole long-poll came back empty, nothing on the queue is
        // left to merge with; dispatch what is held instead of waiting out the hold.
        let drained = idle_after.is_some() && last_nonempty.elapsed() > drain_quiet;
        if stopping || drained {
            engine.flush(&mut out);
        } else {
            engine.release(now, &mut out);
        }
        if to_dispatch.is_empty() {
            to_dispatch_since = Instant::now();
        }
        to_dispatch.append(&mut out);
        let hurry = stopping || drained;
        if !to_dispatch.is_empty()
            && (hurry
                || to_dispatch.len() >= DISPATCH_BATCH
                || to_dispatch_since.elapsed() >= Duration::from_millis(BATCH_WAIT_MS))
        {
            dispatching += 1;
            let batch = std::mem::take(&mut to_dispatch);
            let sinks = sinks.clone();
            let done_tx = done_tx.clone();
            tokio::spawn(async move {
                let results = dispatch(&sinks, batch).await;
                let _ = done_tx.send(results);
            });
        }
        if to_delete.is_empty() {
            to_delete_since = Instant::now();
        }
        settle(
            engine.take_settled(),
            &queue,
            &mut ops,
            args.retry_backoff,
            &mut summary,
            &mut to_delete,
        );
        let flush_all = hurry
            || engine.in_flight() == 0
            || to_delete_since.elapsed() >= Duration::from_millis(BATCH_WAIT_MS);
        let n = if flush_all {
            to_delete.len()
        } else {
            to_delete.len() / SQS_BATCH * SQS_BATCH
        };
        if n > 0 {
            let batch: Vec<Receipt> = to_delete.drain(..n).collect();
            to_delete_since = Instant::now();
            let q = queue.clone();
            ops.spawn(async move {
                let failed = q.delete(&batch).await;
                metrics::counter!(names::DELETED).increment((batch.len() - failed.len()) as u64);
                for (id, error) in &failed {
                    metrics::counter!(names::QUEUE_ERRORS, "operation" => "delete").increment(1);
                    warn!(message_id = %id, %error, "delete failed: the message will come back and be found done");
                }
            });
        }
        if now >= next_extend {
            next_extend = now + 1000;
            extend(&mut engine, &queue, &mut ops, now, visibility_ms);
        }
        full.store(
            engine.is_full() || dispatching >= MAX_DISPATCH_TASKS,
            Ordering::Relaxed,
        );
        if last_export.elapsed() >= Duration::from_secs(1) {
            last_export = Instant::now();
            export_stats(engine.stats(), &mut exported);
            metrics::gauge!(names::HELD).set(engine.held() as f64);
            metrics::gauge!(names::IN_FLIGHT).set(engine.in_flight() as f64);
        }
        let quiet = engine.is_idle()
            && dispatching == 0
            && ops.is_empty()
            && to_dispatch.is_empty()
            && to_delete.is_empty();
        if let Some(idle) = idle_after {
            if !stopping && quiet && last_nonempty.elapsed() >= idle {
                info!(idle_secs = idle.as_secs(), "queue idle: exiting");
                stopping = true;
                continue;
            }
        }
        if stopping && quiet && pollers_done {
            break;
        }
        if grace_end.is_some_and(|end| Instant::now() >= end) {
            summary.abandoned = engine.in_flight() as u64;
            warn!(
                in_flight = engine.in_flight(),
                dispatching, "grace period over: what was not deleted returns to the queue"
            );
            break;
        }
    }
    export_stats(engine.stats(), &mut exported);
    summary.stats = engine.stats().clone();
    info!(
        messages = summary.stats.messages,
        events = summary.stats.events,
        kept = summary.stats.kept,
        rescans_resource = summary.stats.rescans.resource,
        rescans_service = summary.stats.rescans.service,
        invalid = summary.stats.invalid,
        deleted = summary.deleted,
        retried = summary.retried,
        left = summary.left,
        "stopped"
    );
    Ok(summary)
}

/// Turns settled messages into queue calls.
fn settle(
    settled: Vec<Settled<Receipt>>,
    queue: &Queue,
    ops: &mut JoinSet<()>,
    retry_backoff: u32,
    summary: &mut RunSummary,
    deletes: &mut Vec<Receipt>,
) {
    if settled.is_empty() {
        return;
    }
    let now_unix = unix_ms();
    let before = deletes.len();
    let mut retries = Vec::new();
    for s in settled {
        match s {
            Settled::Delete(d) => {
                let r = d.into_token();
                if let Some(sent) = r.sent_at_unix_ms {
                    metrics::histogram!(names::LATENCY)
                        .record(now_unix.saturating_sub(sent) as f64 / 1000.0);
                }
                deletes.push(r);
            }
            Settled::Retry(r) => {
                let secs = retry_delay(retry_backoff, r.receive_count);
                debug!(message_id = %r.message_id, retry_in_secs = secs, "dispatch failed: message returns later");
                retries.push((r, secs));
            }
            Settled::Leave(r) => {
                summary.left += 1;
                metrics::counter!(names::INVALID).increment(1);
                debug!(message_id = %r.message_id, "left for the dead-letter queue");
            }
        }
    }
    summary.deleted += (deletes.len() - before) as u64;
    summary.retried += retries.len() as u64;
    if !retries.is_empty() {
        metrics::counter!(names::FAILED).increment(retries.len() as u64);
        let q = queue.clone();
        ops.spawn(async move {
            for (id, error) in q.change_visibility(&retries).await {
                metrics::counter!(names::QUEUE_ERRORS, "operation" => "change_visibility")
                    .increment(1);
                warn!(message_id = %id, %error, "could not delay the retry; it comes back when its visibility runs out");
            }
        });
    }
}

/// Extends the visibility of messages still in flight that would otherwise become
/// visible within a third of the timeout.
fn extend(
    engine: &mut Engine<Receipt>,
    queue: &Queue,
    ops: &mut JoinSet<()>,
    now: Millis,
    visibility_ms: Millis,
) {
    let mut changes = Vec::new();
    for r in engine.in_flight_tokens_mut() {
        if r.visible_until <= now + visibility_ms / 3 {
            r.visible_until = now + visibility_ms;
            changes.push((r.clone(), visibility_ms / 1000));
        }
    }
    if changes.is_empty() {
        return;
    }
    debug!(messages = changes.len(), "extending visibility");
    let q = queue.clone();
    ops.spawn(async move {
        for (id, error) in q.change_visibility(&changes).await {
            metrics::counter!(names::QUEUE_ERRORS, "operation" => "change_visibility").increment(1);
            warn!(message_id = %id, %error, "could not extend visibility");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_grow_and_are_capped() {
        let first = retry_delay(5, 1);
        assert!((5..=6).contains(&first), "{first}");
        let third = retry_delay(5, 3);
        assert!((20..=25).contains(&third), "{third}");
        let late = retry_delay(5, 40);
        assert!((900..=1125).contains(&late), "{late}");
    }
}
