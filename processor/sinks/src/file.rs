//! `file:PATH`: NDJSON appended to a file.

use std::path::{Path, PathBuf};

use processor_core::RescanRequest;
use tokio::fs::{File, OpenOptions};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use crate::{fail_all, ndjson, Sink, SinkError};

/// Appends each request as one JSON line to a file opened once (append + create), and
/// acknowledges only after the lines are flushed and `sync_data`ed.
///
/// Calls are serialised. When a write or sync fails, every request of the call fails
/// as transient, and the file is truncated back to its length before the call (best
/// effort) so that no half-written line is left for the next call to append to.
#[derive(Debug)]
pub struct FileSink {
    name: String,
    path: PathBuf,
    file: Mutex<File>,
}

impl FileSink {
    /// Opens (or creates) `path` for appending. A path that cannot be opened is a
    /// permanent error (bad configuration).
    pub async fn open(path: &Path) -> Result<FileSink, SinkError> {
        let name = format!("file:{}", path.display());
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .await
            .map_err(|e| SinkError::permanent(&name, format!("cannot open for appending: {e}")))?;
        Ok(FileSink {
            name,
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// The file appended to.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Appends `buf` and makes it durable.
async fn append(file: &mut File, buf: &[u8]) -> std::io::Result<()> {
    file.write_all(buf).await?;
    file.flush().await?;
    file.sync_data().await
}

#[async_trait::async_trait]
impl Sink for FileSink {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn name(&self) -> &str {
        &self.name
    }

    async fn deliver(&self, requests: &[RescanRequest]) -> Vec<Result<(), SinkError>> {
        if requests.is_empty() {
            return Vec::new();
        }
        let buf = match ndjson(requests) {
            Ok(buf) => buf,
            Err(e) => {
                let err = SinkError::permanent(&self.name, format!("cannot encode: {e}"));
                return fail_all(requests.len(), &err);
            }
        };
        let mut file = self.file.lock().await;
        // Only regular files can be truncated back after a failure (not /dev/full,
        // FIFOs...); `None` when the length is unknown.
        let before = match file.metadata().await {
            Ok(m) if m.is_file() => Some(m.len()),
            _ => None,
        };
        match append(&mut file, &buf).await {
            Ok(()) => {
                tracing::debug!(sink.kind = "file", sink.name = %self.name, requests = requests.len(), "delivered");
                vec![Ok(()); requests.len()]
            }
            Err(e) => {
                tracing::warn!(sink.kind = "file", sink.name = %self.name, requests = requests.len(), error = %e, "append failed");
                if let Some(len) = before {
                    if let Err(te) = file.set_len(len).await {
                        tracing::warn!(sink.kind = "file", sink.name = %self.name, error = %te, "could not truncate back after a failed append");
                    }
                }
                let err = SinkError::transient(&self.name, format!("append failed: {e}"));
                fail_all(requests.len(), &err)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::request;
    use crate::ErrorKind;

    fn expected(requests: &[RescanRequest]) -> String {
        requests
            .iter()
            .map(|r| serde_json::to_string(r).unwrap() + "\n")
            .collect()
    }

    #[tokio::test]
    async fn appends_exactly_the_ndjson_across_calls_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        std::fs::write(&path, "existing line\n").unwrap();

        let first = vec![request("i-1", &["e1"]), request("i-2", &["e2", "e3"])];
        let second = vec![request("i-3", &["e4"])];
        let sink = FileSink::open(&path).await.unwrap();
        assert_eq!(sink.kind(), "file");
        assert_eq!(sink.name(), format!("file:{}", path.display()));
        assert_eq!(sink.deliver(&first).await, vec![Ok(()), Ok(())]);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("existing line\n{}", expected(&first))
        );
        assert_eq!(sink.deliver(&second).await, vec![Ok(())]);
        drop(sink);

        // A new sink on the same path appends too.
        let third = vec![request("i-4", &["e5"])];
        let sink = FileSink::open(&path).await.unwrap();
        assert_eq!(sink.deliver(&third).await, vec![Ok(())]);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!(
                "existing line\n{}{}{}",
                expected(&first),
                expected(&second),
                expected(&third)
            )
        );
    }

    #[tokio::test]
    async fn a_failing_write_fails_every_request() {
        // Writes to /dev/full fail with ENOSPC, as on a full disk.
        let Ok(sink) = FileSink::open(Path::new("/dev/full")).await else {
            eprintln!("skipping: /dev/full cannot be opened on this system");
            return;
        };
        let results = sink
            .deliver(&[request("i-1", &["e1"]), request("i-2", &["e2"])])
            .await;
        assert_eq!(results.len(), 2);
        for r in results {
            let e = r.unwrap_err();
            assert_eq!(e.kind, ErrorKind::Transient);
            assert_eq!(e.sink, "file:/dev/full");
        }
    }

    #[tokio::test]
    async fn an_unopenable_path_is_a_permanent_error() {
        let dir = tempfile::tempdir().unwrap();
        for path in [
            dir.path().join("missing-dir/out.ndjson"),
            dir.path().to_path_buf(),
        ] {
            let e = FileSink::open(&path).await.unwrap_err();
            assert_eq!(e.kind, ErrorKind::Permanent, "{}", path.display());
            assert_eq!(e.sink, format!("file:{}", path.display()));
        }
    }
}
