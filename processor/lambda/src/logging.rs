//! Logs as Lambda expects them: JSON lines when the function's log format is JSON
//! (`AWS_LAMBDA_LOG_FORMAT`), the level from the function's application log level
//! (`AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `info`), on standard error (standard
//! output stays for a `stdout` sink), and the request id on every line of an
//! invocation (the span [`invocation_span`] opens: `requestId` in text,
//! `"span":{"requestId":...}` in JSON).
//!
//! Lines are buffered in memory and written out in one go: at the end of each
//! invocation (before its response is sent, so they are not attributed to the next),
//! once the buffer passes [`FLUSH_AT`] bytes, and by the graceful-shutdown hook.

use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};

use processor_consumer::LogFormat;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

/// The buffer is written out once it holds this many bytes.
pub const FLUSH_AT: usize = 64 * 1024;

/// How logs are written, from the function's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// Text or JSON lines.
    pub format: LogFormat,
    /// `tracing` filter directives: a level, and `target=level` pairs (`info`,
    /// `warn,processor_lambda=debug`). Not `RUST_LOG`'s span and field filters: the
    /// function's filter needs no regular expressions, which keeps the binary small.
    pub directives: String,
}

impl LogSettings {
    /// The settings `lookup` (an environment) gives: `AWS_LAMBDA_LOG_FORMAT` (`JSON` or
    /// `Text`), else `fallback_format`; `AWS_LAMBDA_LOG_LEVEL` (`TRACE` ... `ERROR`,
    /// `FATAL` counted as `ERROR`), else `RUST_LOG`, else `info`.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        fallback_format: LogFormat,
    ) -> Self {
        let set = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let format = match set("AWS_LAMBDA_LOG_FORMAT") {
            Some(f) if f.trim().eq_ignore_ascii_case("json") => LogFormat::Json,
            Some(_) => LogFormat::Text,
            None => fallback_format,
        };
        let lambda_level = set("AWS_LAMBDA_LOG_LEVEL").and_then(|l| {
            match l.trim().to_ascii_lowercase().as_str() {
                "trace" => Some("trace"),
                "debug" => Some("debug"),
                "info" => Some("info"),
                "warn" | "warning" => Some("warn"),
                "error" | "fatal" => Some("error"),
                _ => None,
            }
        });
        let directives = match (lambda_level, set("RUST_LOG")) {
            (Some(level), _) => level.to_string(),
            (None, Some(rust_log)) => rust_log,
            (None, None) => "info".to_string(),
        };
        LogSettings { format, directives }
    }

    /// [`LogSettings::from_lookup`] over the process environment.
    pub fn from_env(fallback_format: LogFormat) -> Self {
        Self::from_lookup(|name| std::env::var(name).ok(), fallback_format)
    }
}

/// Log lines waiting to be written to standard error. Cloning shares the buffer.
#[derive(Debug, Clone)]
pub struct LogBuffer {
    lines: Arc<Mutex<Vec<u8>>>,
    flush_at: usize,
}

impl Default for LogBuffer {
    fn default() -> Self {
        Self::with_flush_at(FLUSH_AT)
    }
}

impl LogBuffer {
    /// A buffer written out once it holds `flush_at` bytes.
    pub fn with_flush_at(flush_at: usize) -> Self {
        LogBuffer {
            lines: Arc::default(),
            flush_at,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        // A panic while a line was being appended leaves whole lines before it.
        self.lines.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes out everything buffered. A failing standard error loses the lines (there
    /// is nowhere else to report that).
    pub fn flush(&self) {
        let pending = std::mem::take(&mut *self.lock());
        if !pending.is_empty() {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(&pending);
            let _ = err.flush();
        }
    }

    /// Bytes waiting.
    pub fn pending(&self) -> usize {
        self.lock().len()
    }

    /// A copy of what is waiting (tests read log lines with it).
    pub fn snapshot(&self) -> Vec<u8> {
        self.lock().clone()
    }
}

/// Appends to a [`LogBuffer`]; one per formatted event.
#[derive(Debug)]
pub struct BufferWriter(LogBuffer);

impl Write for BufferWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let full = {
            let mut lines = self.0.lock();
            lines.extend_from_slice(buf);
            lines.len() >= self.0.flush_at
        };
        if full {
            self.0.flush();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogBuffer {
    type Writer = BufferWriter;

    fn make_writer(&'a self) -> Self::Writer {
        BufferWriter(self.clone())
    }
}

/// The filter `directives` describe; `info` when they do not parse.
pub fn filter(directives: &str) -> Targets {
    directives
        .parse()
        .unwrap_or_else(|_| Targets::new().with_default(LevelFilter::INFO))
}

/// Builds the subscriber `settings` describe, writing into `buffer`.
pub fn subscriber(
    settings: &LogSettings,
    buffer: LogBuffer,
) -> Box<dyn tracing::Subscriber + Send + Sync> {
    let registry = tracing_subscriber::registry().with(filter(&settings.directives));
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(buffer)
        .with_ansi(false);
    match settings.format {
        LogFormat::Json => Box::new(
            registry.with(
                layer
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            ),
        ),
        // CloudWatch stamps every line with its time already.
        LogFormat::Text => Box::new(registry.with(layer.without_time())),
    }
}

/// Installs the global subscriber; returns the buffer to flush. A second call leaves
/// the first subscriber in place.
pub fn init(settings: &LogSettings) -> LogBuffer {
    let buffer = LogBuffer::default();
    let _ = tracing::subscriber::set_global_default(subscriber(settings, buffer.clone()));
    buffer
}

/// The span every line of one invocation is logged in. It is at ERROR level so that
/// it is enabled whatever the level, and the request id is never filtered out.
pub fn invocation_span(request_id: &str) -> tracing::Span {
    tracing::error_span!("invocation", requestId = %request_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)], fallback: LogFormat) -> LogSettings {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        LogSettings::from_lookup(
            |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            fallback,
        )
    }

    #[test]
    fn the_functions_settings_win() {
        let s = settings(
            &[
                ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
                ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
                ("RUST_LOG", "debug"),
            ],
            LogFormat::Text,
        );
        assert_eq!(s.format, LogFormat::Json);
        assert_eq!(s.directives, "warn");
        let s = settings(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")], LogFormat::Json);
        assert_eq!(
            (s.format, s.directives.as_str()),
            (LogFormat::Json, "error")
        );
        let s = settings(
            &[
                ("AWS_LAMBDA_LOG_FORMAT", "Text"),
                ("RUST_LOG", "processor_lambda=debug"),
            ],
            LogFormat::Json,
        );
        assert_eq!(
            (s.format, s.directives.as_str()),
            (LogFormat::Text, "processor_lambda=debug")
        );
        let s = settings(&[], LogFormat::Text);
        assert_eq!((s.format, s.directives.as_str()), (LogFormat::Text, "info"));
    }

    #[test]
    fn directives_filter_by_target() {
        let f = filter("warn,processor_lambda=debug");
        let enabled = |target: &str, level| f.would_enable(target, &level);
        assert!(enabled("processor_lambda::handler", tracing::Level::DEBUG));
        assert!(!enabled("processor_sinks", tracing::Level::INFO));
        assert!(enabled("processor_sinks", tracing::Level::WARN));
        let f = filter("not a = filter =");
        assert!(f.would_enable("x", &tracing::Level::INFO));
        assert!(!f.would_enable("x", &tracing::Level::DEBUG));
    }

    fn lines_of(format: LogFormat, directives: &str) -> Vec<String> {
        let buffer = LogBuffer::default();
        let sub = subscriber(
            &LogSettings {
                format,
                directives: directives.into(),
            },
            buffer.clone(),
        );
        tracing::subscriber::with_default(sub, || {
            tracing::warn!("outside");
            let _entered = invocation_span("req-1234").entered();
            tracing::info!(records = 3, "inside");
            tracing::warn!(message_id = "m-1", "left for the dead-letter queue");
        });
        String::from_utf8(buffer.snapshot())
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn json_lines_carry_the_request_id_at_any_level() {
        let lines = lines_of(LogFormat::Json, "warn");
        assert_eq!(lines.len(), 2, "{lines:?}");
        let outside: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(outside["level"], "WARN");
        assert!(outside.get("span").is_none());
        let inside: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(inside["message"], "left for the dead-letter queue");
        assert_eq!(inside["message_id"], "m-1");
        assert_eq!(inside["span"]["requestId"], "req-1234");
        assert!(inside["timestamp"].is_string());
        let lines = lines_of(LogFormat::Json, "info");
        assert_eq!(lines.len(), 3);
        let info: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(
            (info["records"].as_u64(), &info["span"]["requestId"]),
            (Some(3), &serde_json::json!("req-1234"))
        );
    }

    #[test]
    fn text_lines_carry_the_request_id() {
        let lines = lines_of(LogFormat::Text, "info");
        assert_eq!(lines.len(), 3);
        assert!(!lines[0].contains("requestId"), "{}", lines[0]);
        for l in &lines[1..] {
            assert!(l.contains("invocation{requestId=req-1234}"), "{l}");
        }
    }

    #[test]
    fn a_full_buffer_is_written_out() {
        let buffer = LogBuffer::with_flush_at(8);
        let mut w = buffer.make_writer();
        w.write_all(b"(test)").unwrap();
        assert_eq!(buffer.pending(), 6);
        w.write_all(b"\n\n").unwrap();
        assert_eq!(buffer.pending(), 0, "written to standard error");
    }
}
