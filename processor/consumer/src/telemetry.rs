//! What an operator watches: Prometheus metrics on `/metrics`, liveness on `/healthz`
//! (unhealthy once receiving has failed for longer than the configured time) and
//! readiness on `/readyz` (false while draining), served by axum.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;

/// Metric names, one place.
pub mod names {
    /// Messages received from the queue.
    pub const RECEIVED: &str = "processor_messages_received_total";
    /// Messages deleted after every request they contributed to was accepted.
    pub const DELETED: &str = "processor_messages_deleted_total";
    /// Messages returned to the queue because a sink refused a request behind them.
    pub const FAILED: &str = "processor_messages_failed_total";
    /// Messages that could not be decoded (left for the dead-letter queue).
    pub const INVALID: &str = "processor_messages_invalid_total";
    /// Deletes or visibility changes SQS refused.
    pub const QUEUE_ERRORS: &str = "processor_queue_errors_total";
    /// Events dropped, by `reason`.
    pub const DROPPED: &str = "processor_events_dropped_total";
    /// Events decoded.
    pub const EVENTS: &str = "processor_events_total";
    /// Rescan requests released, by `scope`.
    pub const RESCANS: &str = "processor_rescans_total";
    /// Requests per sink, by `sink` and `result` (`accepted`, `refused`).
    pub const SINK_REQUESTS: &str = "processor_sink_requests_total";
    /// Sink errors, by `sink` and `kind` (`transient`, `permanent`).
    pub const SINK_ERRORS: &str = "processor_sink_errors_total";
    /// Requests held for coalescing.
    pub const HELD: &str = "processor_held_requests";
    /// Messages in flight (received, not settled).
    pub const IN_FLIGHT: &str = "processor_in_flight_messages";
    /// Seconds from a message's arrival on the queue to the dispatch of its requests.
    pub const LATENCY: &str = "processor_queue_to_dispatch_seconds";
    /// SNS subscription confirmations, by `result` (`confirmed`, `refused`).
    pub const SUBSCRIPTIONS: &str = "processor_subscription_confirmations_total";
    /// Failed receives.
    pub const RECEIVE_ERRORS: &str = "processor_receive_errors_total";
}

/// The consumer's health, shared by pollers and the HTTP server.
#[derive(Debug)]
pub struct Health {
    start: Instant,
    /// Milliseconds since start of the first failed receive of the current failing
    /// streak; `u64::MAX` when the last receive worked.
    failing_since: AtomicU64,
    unhealthy_after_ms: u64,
    draining: AtomicBool,
}

impl Health {
    /// Healthy until receiving has failed for `unhealthy_after_secs`.
    pub fn new(unhealthy_after_secs: u32) -> Self {
        Health {
            start: Instant::now(),
            failing_since: AtomicU64::new(u64::MAX),
            unhealthy_after_ms: u64::from(unhealthy_after_secs) * 1000,
            draining: AtomicBool::new(false),
        }
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// A receive worked.
    pub fn receive_ok(&self) {
        self.failing_since.store(u64::MAX, Ordering::Relaxed);
    }

    /// A receive failed.
    pub fn receive_failed(&self) {
        let now = self.now_ms();
        let _ = self.failing_since.compare_exchange(
            u64::MAX,
            now,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// Whether receiving works, or has failed for less than the allowed time.
    pub fn is_healthy(&self) -> bool {
        let since = self.failing_since.load(Ordering::Relaxed);
        since == u64::MAX || self.now_ms().saturating_sub(since) < self.unhealthy_after_ms
    }

    /// The consumer stopped receiving (shutdown): not ready for traffic.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether it is draining.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

/// Installs the Prometheus recorder (once per process) and returns its handle.
pub fn install_recorder() -> Option<PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<Option<PrometheusHandle>> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(&[
                    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
                ])
                .ok()?
                .install_recorder()
                .ok()
        })
        .clone()
}

/// Drains the recorder's histogram samples into their buckets every few seconds until
/// `stop`: without it (nobody scraping `/metrics`, or `--metrics-addr off`) samples
/// pile up in memory.
pub fn spawn_upkeep(stop: CancellationToken) {
    let Some(handle) = install_recorder() else {
        return;
    };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = tick.tick() => handle.run_upkeep(),
                _ = stop.cancelled() => break,
            }
        }
    });
}

#[derive(Clone)]
struct AppState {
    health: Arc<Health>,
    prometheus: Option<PrometheusHandle>,
}

async fn metrics_page(State(s): State<AppState>) -> (StatusCode, String) {
    match &s.prometheus {
        Some(h) => (StatusCode::OK, h.render()),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "no metrics recorder\n".into(),
        ),
    }
}

async fn healthz(State(s): State<AppState>) -> (StatusCode, &'static str) {
    if s.health.is_healthy() {
        (StatusCode::OK, "ok\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "receiving from SQS has been failing\n",
        )
    }
}

async fn readyz(State(s): State<AppState>) -> (StatusCode, &'static str) {
    if s.health.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n")
    } else if s.health.is_healthy() {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "receiving from SQS has been failing\n",
        )
    }
}

/// Binds `addr` and serves until `stop` is cancelled; returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    health: Arc<Health>,
    stop: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let state = AppState {
        health,
        prometheus: install_recorder(),
    };
    let app = Router::new()
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
    });
    Ok(bound)
}
