//! `http(s)://URL`: requests POSTed as JSON arrays.
//!
//! Each [`crate::Sink::deliver`] call is cut into chunks of at most
//! [`SinkOptions::http_max_batch`] requests; each chunk is one `POST` of a JSON array
//! (`content-type: application/json`), and its outcome applies to all of its requests:
//!
//! | response | outcome |
//! |---|---|
//! | 2xx | accepted |
//! | 5xx, 429, timeout, connection error | retried, then [`ErrorKind::Transient`] |
//! | other 4xx, 3xx (redirects are not followed) | [`ErrorKind::Permanent`] at once |
//!
//! Retries use exponential backoff with full jitter (the delay before retry `n` is
//! drawn uniformly from zero to `min(http_initial_backoff * 2^(n-1), http_max_backoff)`),
//! up to [`SinkOptions::http_max_attempts`] attempts in all. A 429's `Retry-After`
//! (in seconds) is a floor for the next delay; one longer than
//! [`SinkOptions::http_max_backoff`] ends the retries at once.
//!
//! Userinfo in the URL is sent as HTTP basic authentication. Neither it nor the query
//! string is ever logged or put in an error: the sink's name is the redacted URL.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use futures::stream::{self, StreamExt};
use processor_core::RescanRequest;
use reqwest::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{StatusCode, Url};

use crate::spec::redact_url;
use crate::{error_chain as chain, fail_all, ErrorKind, Sink, SinkError, SinkOptions};

/// POSTs requests as JSON arrays to one URL.
pub struct HttpSink {
    name: String,
    url: Url,
    client: reqwest::Client,
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_batch: usize,
    max_in_flight: usize,
}

impl std::fmt::Debug for HttpSink {
    // By hand: the URL may hold credentials or a token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSink")
            .field("name", &self.name)
            .field("max_attempts", &self.max_attempts)
            .field("max_batch", &self.max_batch)
            .finish_non_exhaustive()
    }
}

/// The outcome of one failed attempt.
#[derive(Debug)]
struct AttemptError {
    kind: ErrorKind,
    /// Whether another attempt may succeed.
    retryable: bool,
    /// The server's `Retry-After`, in seconds, on a 429.
    retry_after: Option<Duration>,
    message: String,
}

impl HttpSink {
    /// A sink POSTing to `url` (`http://` or `https://`), with `options`' timeout,
    /// retries and chunk size.
    pub fn new(url: &str, options: &SinkOptions) -> Result<HttpSink, SinkError> {
        options.validate()?;
        let name = redact_url(url);
        let parsed = Url::parse(url)
            .map_err(|e| SinkError::permanent(&name, format!("invalid URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(SinkError::permanent(
                &name,
                "the URL must be http:// or https://",
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(options.http_timeout)
            // A 301/302 would turn the POST into a GET that "succeeds": never follow.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("processor-sinks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                SinkError::permanent(
                    &name,
                    format!("cannot build the HTTP client: {}", chain(&e.without_url())),
                )
            })?;
        Ok(HttpSink {
            name,
            url: parsed,
            client,
            max_attempts: options.http_max_attempts,
            initial_backoff: options.http_initial_backoff,
            max_backoff: options.http_max_backoff,
            max_batch: options.http_max_batch,
            max_in_flight: options.max_in_flight,
        })
    }

    /// One POST of `body`.
    async fn attempt(&self, body: &[u8]) -> Result<(), AttemptError> {
        let response = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| {
                let e = e.without_url();
                let (kind, retryable) = if e.is_builder() {
                    (ErrorKind::Permanent, false)
                } else {
                    (ErrorKind::Transient, true)
                };
                let message = if e.is_timeout() {
                    "timed out".to_string()
                } else {
                    chain(&e)
                };
                AttemptError {
                    kind,
                    retryable,
                    retry_after: None,
                    message,
                }
            })?;
        let status = response.status();
        let Some((kind, retryable)) = classify(status) else {
            return Ok(());
        };
        let retry_after = if status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs)
        } else {
            None
        };
        let mut message = format!("HTTP {status}");
        if status.is_redirection() {
            message.push_str(" (redirects are not followed: use the final URL)");
        }
        if let Some(ra) = retry_after {
            message.push_str(&format!(" (Retry-After {} s)", ra.as_secs()));
        }
        Err(AttemptError {
            kind,
            retryable,
            retry_after,
            message,
        })
    }

    /// POSTs one chunk, retrying as the module documents.
    async fn post_chunk(&self, chunk: &[RescanRequest]) -> Result<(), SinkError> {
        let body = serde_json::to_vec(chunk)
            .map_err(|e| SinkError::permanent(&self.name, format!("cannot encode: {e}")))?;
        let attempts = AtomicU32::new(0);
        let backoff = ExponentialBuilder::default()
            .with_factor(2.0)
            .with_min_delay(self.initial_backoff)
            .with_max_delay(self.max_backoff)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize);
        let max_backoff = self.max_backoff;
        let result = (|| {
            attempts.fetch_add(1, Ordering::Relaxed);
            self.attempt(&body)
        })
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .when(|e: &AttemptError| e.retryable)
        .adjust(move |e: &AttemptError, bound: Option<Duration>| {
            // `bound` is None once the attempts are used up.
            let jittered = full_jitter(bound?);
            match e.retry_after {
                Some(ra) if ra > max_backoff => None,
                Some(ra) => Some(ra.max(jittered)),
                None => Some(jittered),
            }
        })
        .notify(|e: &AttemptError, delay: Duration| {
            tracing::warn!(
                sink.kind = "http",
                sink.name = %self.name,
                attempt = attempts.load(Ordering::Relaxed),
                requests = chunk.len(),
                error = %e.message,
                retry_in_ms = delay.as_millis() as u64,
                "POST failed, retrying"
            );
        })
        .await;
        let attempts = attempts.load(Ordering::Relaxed);
        match result {
            Ok(()) => {
                tracing::debug!(sink.kind = "http", sink.name = %self.name, requests = chunk.len(), attempts, "delivered");
                Ok(())
            }
            Err(e) => {
                tracing::warn!(
                    sink.kind = "http",
                    sink.name = %self.name,
                    requests = chunk.len(),
                    attempts,
                    error.kind = e.kind.as_str(),
                    error = %e.message,
                    "POST failed, giving up"
                );
                let plural = if attempts == 1 { "" } else { "s" };
                Err(SinkError::new(
                    &self.name,
                    e.kind,
                    format!("{} after {attempts} attempt{plural}", e.message),
                ))
            }
        }
    }
}

/// `None` for a success; otherwise the kind of failure and whether to retry.
fn classify(status: StatusCode) -> Option<(ErrorKind, bool)> {
    if status.is_success() {
        None
    } else if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        Some((ErrorKind::Transient, true))
    } else {
        Some((ErrorKind::Permanent, false))
    }
}

/// A delay drawn uniformly from `[0, bound]`.
fn full_jitter(bound: Duration) -> Duration {
    bound.mul_f64(fastrand::f64())
}

#[async_trait::async_trait]
impl Sink for HttpSink {
    fn kind(&self) -> &'static str {
        "http"
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&self, requests: &[RescanRequest]) -> Vec<Result<(), SinkError>> {
        // The futures are made up front (not in a stream adapter's closure) so that the
        // boxed future stays `Send` for every lifetime.
        let posts: Vec<_> = requests
            .chunks(self.max_batch)
            .map(|chunk| self.post_chunk(chunk))
            .collect();
        let outcomes: Vec<Result<(), SinkError>> = stream::iter(posts)
            .buffered(self.max_in_flight)
            .collect()
            .await;
        let lens = requests.chunks(self.max_batch).map(<[RescanRequest]>::len);
        let mut results = Vec::with_capacity(requests.len());
        for (len, outcome) in lens.zip(outcomes) {
            match outcome {
                Ok(()) => results.extend(std::iter::repeat_n(Ok(()), len)),
                Err(e) => results.extend(fail_all(len, &e)),
            }
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        for ok in [200, 201, 202, 204, 299] {
            assert_eq!(classify(StatusCode::from_u16(ok).unwrap()), None, "{ok}");
        }
        for retry in [429, 500, 502, 503, 504, 599] {
            assert_eq!(
                classify(StatusCode::from_u16(retry).unwrap()),
                Some((ErrorKind::Transient, true)),
                "{retry}"
            );
        }
        for fatal in [301, 302, 307, 400, 401, 403, 404, 405, 408, 413, 422] {
            assert_eq!(
                classify(StatusCode::from_u16(fatal).unwrap()),
                Some((ErrorKind::Permanent, false)),
                "{fatal}"
            );
        }
    }

    #[test]
    fn full_jitter_stays_within_the_bound() {
        let bound = Duration::from_millis(200);
        for _ in 0..1000 {
            assert!(full_jitter(bound) <= bound);
        }
        assert_eq!(full_jitter(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn debug_and_name_hide_credentials() {
        let sink = HttpSink::new(
            "https://alice:hunter2@example.com:8443/hook?token=s3cret#x",
            &SinkOptions::default(),
        )
        .unwrap();
        assert_eq!(sink.name(), "https://example.com:8443/hook");
        let debug = format!("{sink:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("s3cret"),
            "{debug}"
        );
    }
}
