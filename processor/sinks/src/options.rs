//! Options shared by sinks.

use std::time::Duration;

use crate::SinkError;

/// Options shared by sinks. Every default is set once, in [`Default`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkOptions {
    /// HTTP: time allowed for one attempt (connect, send, response headers).
    /// Default 10 s.
    pub http_timeout: Duration,
    /// HTTP: attempts per chunk, the first included, before giving up with a
    /// transient error. Must be at least 1. Default 5.
    pub http_max_attempts: u32,
    /// HTTP: upper bound of the first retry's delay; each later bound doubles, up to
    /// `http_max_backoff`, and the actual delay is drawn uniformly below the bound
    /// (full jitter). Default 200 ms.
    pub http_initial_backoff: Duration,
    /// HTTP: largest delay between two attempts. A `Retry-After` longer than this ends
    /// the retries at once (the request fails as transient and is retried later by
    /// the queue). Default 5 s.
    pub http_max_backoff: Duration,
    /// HTTP: requests per POST. Must be at least 1. Default 500.
    pub http_max_batch: usize,
    /// HTTP and SQS: calls (POSTs or `SendMessageBatch`) in flight at once within one
    /// [`crate::Sink::deliver`]. FIFO queues always use 1, to keep the order. Must be
    /// at least 1. Default 4.
    pub max_in_flight: usize,
}

impl Default for SinkOptions {
    fn default() -> Self {
        SinkOptions {
            http_timeout: Duration::from_secs(10),
            http_max_attempts: 5,
            http_initial_backoff: Duration::from_millis(200),
            http_max_backoff: Duration::from_secs(5),
            http_max_batch: 500,
            max_in_flight: 4,
        }
    }
}

impl SinkOptions {
    /// Refuses values no sink can work with (zero attempts, batches, concurrency or
    /// timeout), as a [`crate::ErrorKind::Permanent`] error.
    pub fn validate(&self) -> Result<(), SinkError> {
        let bad = |what: &str| Err(SinkError::permanent("sink options", what.to_string()));
        if self.http_timeout.is_zero() {
            return bad("http_timeout must be greater than zero");
        }
        if self.http_max_attempts == 0 {
            return bad("http_max_attempts must be at least 1");
        }
        if self.http_max_batch == 0 {
            return bad("http_max_batch must be at least 1");
        }
        if self.max_in_flight == 0 {
            return bad("max_in_flight must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_zeroes_are_refused() {
        let d = SinkOptions::default();
        assert_eq!(d.http_timeout, Duration::from_secs(10));
        assert_eq!(d.http_max_attempts, 5);
        assert_eq!(d.http_initial_backoff, Duration::from_millis(200));
        assert_eq!(d.http_max_backoff, Duration::from_secs(5));
        assert_eq!(d.http_max_batch, 500);
        assert!(d.validate().is_ok());
        for o in [
            SinkOptions {
                http_max_attempts: 0,
                ..d.clone()
            },
            SinkOptions {
                http_max_batch: 0,
                ..d.clone()
            },
            SinkOptions {
                max_in_flight: 0,
                ..d.clone()
            },
            SinkOptions {
                http_timeout: Duration::ZERO,
                ..d.clone()
            },
        ] {
            let e = o.validate().unwrap_err();
            assert_eq!(e.kind, crate::ErrorKind::Permanent);
        }
    }
}
