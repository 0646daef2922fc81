//! Why a sink did not accept a request.

/// Why a sink did not accept a request (or could not be built).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{sink}: {message}")]
pub struct SinkError {
    /// The sink's name, without secrets (see [`crate::Sink::name`]).
    pub sink: String,
    /// Whether retrying later may help.
    pub kind: ErrorKind,
    /// What went wrong, without secrets.
    pub message: String,
}

/// Whether a failure is worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Worth retrying later (5xx, 429, timeout, throttling, network, I/O).
    Transient,
    /// Will never succeed as is (4xx other than 429, too large, bad configuration).
    Permanent,
}

impl ErrorKind {
    /// `"transient"` or `"permanent"`, for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Transient => "transient",
            ErrorKind::Permanent => "permanent",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl SinkError {
    /// A new error of `kind` from the sink named `sink`.
    pub fn new(sink: impl Into<String>, kind: ErrorKind, message: impl Into<String>) -> Self {
        SinkError {
            sink: sink.into(),
            kind,
            message: message.into(),
        }
    }

    /// A [`ErrorKind::Transient`] error.
    pub fn transient(sink: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(sink, ErrorKind::Transient, message)
    }

    /// A [`ErrorKind::Permanent`] error.
    pub fn permanent(sink: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(sink, ErrorKind::Permanent, message)
    }

    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        self.kind == ErrorKind::Transient
    }
}
