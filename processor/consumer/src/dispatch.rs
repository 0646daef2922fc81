//! Delivering released requests to every sink, concurrently, and reporting per request
//! whether all of them accepted it.

use std::sync::Arc;

use futures::future::join_all;
use processor_core::{Outgoing, RescanRequest};
use processor_sinks::Sink;
use tracing::warn;

use crate::telemetry::names;

/// Delivers `outgoing` to every sink; each request comes back paired with `true` when
/// every sink accepted it.
pub async fn dispatch(sinks: &[Arc<dyn Sink>], outgoing: Vec<Outgoing>) -> Vec<(Outgoing, bool)> {
    if outgoing.is_empty() {
        return Vec::new();
    }
    let requests: Vec<RescanRequest> = outgoing.iter().map(|o| o.request().clone()).collect();
    let results = join_all(sinks.iter().map(|s| s.deliver(&requests))).await;
    let mut accepted = vec![true; outgoing.len()];
    for (sink, per_request) in sinks.iter().zip(results) {
        let mut ok = 0u64;
        let mut first_error = None;
        for (i, acc) in accepted.iter_mut().enumerate() {
            match per_request.get(i) {
                Some(Ok(())) => ok += 1,
                Some(Err(e)) => {
                    *acc = false;
                    metrics::counter!(names::SINK_ERRORS, "sink" => sink.kind(), "kind" => e.kind.as_str())
                        .increment(1);
                    first_error.get_or_insert_with(|| e.to_string());
                }
                // A sink that answered for fewer requests did not accept the rest.
                None => *acc = false,
            }
        }
        metrics::counter!(names::SINK_REQUESTS, "sink" => sink.kind(), "result" => "accepted")
            .increment(ok);
        let refused = requests.len() as u64 - ok;
        if refused > 0 {
            metrics::counter!(names::SINK_REQUESTS, "sink" => sink.kind(), "result" => "refused")
                .increment(refused);
            warn!(
                sink = sink.name(),
                refused,
                error = first_error.as_deref().unwrap_or("no answer"),
                "sink did not accept every request; their messages will be retried"
            );
        }
    }
    outgoing.into_iter().zip(accepted).collect()
}
