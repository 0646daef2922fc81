//! `stdout`: NDJSON on standard output.

use processor_core::RescanRequest;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;

use crate::{fail_all, ndjson, Sink, SinkError};

/// Writes each request as one JSON line on standard output (or any writer), and
/// flushes before acknowledging. The lines of one call are written in one piece,
/// calls are serialised. A write error fails every request of the call, as transient.
pub struct StdoutSink {
    out: Mutex<Box<dyn AsyncWrite + Send + Unpin>>,
}

impl std::fmt::Debug for StdoutSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdoutSink").finish_non_exhaustive()
    }
}

impl Default for StdoutSink {
    fn default() -> Self {
        Self::new()
    }
}

impl StdoutSink {
    /// A sink on the process's standard output.
    pub fn new() -> Self {
        Self::with_writer(tokio::io::stdout())
    }

    /// A sink on any writer (tests, pipes); it still reports itself as `stdout`.
    pub fn with_writer(writer: impl AsyncWrite + Send + Unpin + 'static) -> Self {
        StdoutSink {
            out: Mutex::new(Box::new(writer)),
        }
    }
}

#[async_trait::async_trait]
impl Sink for StdoutSink {
    fn kind(&self) -> &'static str {
        "stdout"
    }

    fn name(&self) -> &str {
        "stdout"
    }

    async fn deliver(&self, requests: &[RescanRequest]) -> Vec<Result<(), SinkError>> {
        if requests.is_empty() {
            return Vec::new();
        }
        let buf = match ndjson(requests) {
            Ok(buf) => buf,
            Err(e) => {
                let err = SinkError::permanent(self.name(), format!("cannot encode: {e}"));
                return fail_all(requests.len(), &err);
            }
        };
        let mut out = self.out.lock().await;
        let written = async {
            out.write_all(&buf).await?;
            out.flush().await
        }
        .await;
        match written {
            Ok(()) => {
                tracing::debug!(sink.kind = "stdout", requests = requests.len(), "delivered");
                vec![Ok(()); requests.len()]
            }
            Err(e) => {
                tracing::warn!(sink.kind = "stdout", requests = requests.len(), error = %e, "write failed");
                let err = SinkError::transient(self.name(), format!("write failed: {e}"));
                fail_all(requests.len(), &err)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex as StdMutex};
    use std::task::{Context, Poll};

    use super::*;
    use crate::test_support::request;
    use crate::ErrorKind;

    /// A writer into a buffer the test keeps a handle on.
    #[derive(Clone, Default)]
    struct Shared(Arc<StdMutex<Vec<u8>>>);

    impl AsyncWrite for Shared {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A writer whose every write fails, like a closed pipe.
    struct Broken;

    impl AsyncWrite for Broken {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Err(io::Error::from(io::ErrorKind::BrokenPipe)))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn writes_exactly_the_ndjson_of_the_requests() {
        let buf = Shared::default();
        let sink = StdoutSink::with_writer(buf.clone());
        let first = vec![request("i-1", &["e1"]), request("i-2", &["e2", "e3"])];
        let second = vec![request("i-3", &["e4"])];
        assert_eq!(sink.deliver(&first).await, vec![Ok(()), Ok(())]);
        assert_eq!(sink.deliver(&second).await, vec![Ok(())]);
        assert_eq!(sink.deliver(&[]).await, vec![]);

        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let mut expected = String::new();
        for r in first.iter().chain(&second) {
            expected.push_str(&serde_json::to_string(r).unwrap());
            expected.push('\n');
        }
        assert_eq!(text, expected);
        let back: Vec<RescanRequest> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(back, [first, second].concat());
        assert_eq!(sink.kind(), "stdout");
        assert_eq!(sink.name(), "stdout");
    }

    #[tokio::test]
    async fn a_write_error_fails_every_request_as_transient() {
        let sink = StdoutSink::with_writer(Broken);
        let results = sink
            .deliver(&[request("i-1", &["e1"]), request("i-2", &["e2"])])
            .await;
        assert_eq!(results.len(), 2);
        for r in results {
            let e = r.unwrap_err();
            assert_eq!(e.kind, ErrorKind::Transient);
            assert_eq!(e.sink, "stdout");
        }
    }
}
