//! What the AWS batch sinks (SQS, SNS, EventBridge) share: grouping requests into
//! batches under an entry count and a byte budget, mapping a batch response back to
//! its entries, and describing and classifying a failed call.

use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};

use crate::{error_chain, ErrorKind, SinkError};

/// Groups `(index, size)` pairs, in order, into batches of at most `max_entries`
/// entries and `max_bytes` bytes. Every size must be at most `max_bytes` (callers
/// refuse larger entries before planning).
pub(crate) fn plan(
    sizes: &[(usize, usize)],
    max_entries: usize,
    max_bytes: usize,
) -> Vec<Vec<usize>> {
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut bytes = 0usize;
    for &(i, size) in sizes {
        if !current.is_empty() && (current.len() == max_entries || bytes + size > max_bytes) {
            batches.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push(i);
        bytes += size;
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// One refused entry of an SQS or SNS batch response (`BatchResultErrorEntry`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct EntryFailure<'a> {
    /// The entry id sent (its index within the batch).
    pub id: &'a str,
    /// The service's error code.
    pub code: &'a str,
    /// The service's message, if any.
    pub message: Option<&'a str>,
    /// Whether the service blames the sender (then retrying cannot help).
    pub sender_fault: bool,
}

/// Maps a batch response back to the `n` entries of the batch, whose ids are their
/// indices (`"0"`, `"1"`, ...). An entry listed as failed fails as
/// [`ErrorKind::Permanent`] when the sender is at fault, else as
/// [`ErrorKind::Transient`]; an entry the response does not mention is not assumed
/// accepted (transient).
pub(crate) fn map_id_response(
    sink: &str,
    operation: &str,
    n: usize,
    successful: &[&str],
    failed: &[EntryFailure<'_>],
) -> Vec<Result<(), SinkError>> {
    let mut results: Vec<Option<Result<(), SinkError>>> = vec![None; n];
    for id in successful {
        if let Some(slot) = id.parse::<usize>().ok().and_then(|i| results.get_mut(i)) {
            *slot = Some(Ok(()));
        }
    }
    for f in failed {
        if let Some(slot) = f.id.parse::<usize>().ok().and_then(|i| results.get_mut(i)) {
            let kind = if f.sender_fault {
                ErrorKind::Permanent
            } else {
                ErrorKind::Transient
            };
            *slot = Some(Err(SinkError::new(
                sink,
                kind,
                code_and_message(f.code, f.message),
            )));
        }
    }
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(SinkError::transient(
                    sink,
                    format!("{operation} gave no result for this entry"),
                ))
            })
        })
        .collect()
}

/// `CODE: message`, or `CODE` alone when there is no message.
pub(crate) fn code_and_message(code: &str, message: Option<&str>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!("{code}: {m}"),
        _ => code.to_string(),
    }
}

/// A short description of a failed call: `OPERATION: CODE: message` from the
/// service, or the chain of causes (never the raw response).
pub(crate) fn call_error_message<E, R>(operation: &str, error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error {
        SdkError::ServiceError(service) => {
            let err = service.err();
            match err.code() {
                Some(code) => format!("{operation}: {}", code_and_message(code, err.message())),
                None => format!("{operation}: {}", error_chain(err)),
            }
        }
        other => format!("{operation}: {}", error_chain(other)),
    }
}

/// Error codes that mean the caller may not act: never transient.
pub(crate) const ACCESS_DENIED_CODES: [&str; 3] = [
    "AccessDenied",
    "AccessDeniedException",
    "AuthorizationError",
];

/// Whether a failed call may succeed later, for services without typed errors worth
/// matching: a request that could not be built, or a service error whose code is in
/// `permanent` (or an access-denied code), is [`ErrorKind::Permanent`]; everything
/// else (throttling, timeouts, network, 5xx, unknown codes) is transient.
pub(crate) fn classify_by_code<E, R>(error: &SdkError<E, R>, permanent: &[&str]) -> ErrorKind
where
    E: ProvideErrorMetadata,
{
    match error {
        SdkError::ConstructionFailure(_) => ErrorKind::Permanent,
        SdkError::ServiceError(service) => match service.err().code() {
            Some(code) if permanent.contains(&code) || ACCESS_DENIED_CODES.contains(&code) => {
                ErrorKind::Permanent
            }
            _ => ErrorKind::Transient,
        },
        _ => ErrorKind::Transient,
    }
}

/// Pairs one batch call's outcome with the requests behind it (`indices`), logging it
/// once: per-entry results when the call went through, one error for all otherwise.
pub(crate) fn settle_call(
    kind: &'static str,
    name: &str,
    operation: &'static str,
    indices: Vec<usize>,
    outcome: Result<Vec<Result<(), SinkError>>, (ErrorKind, String)>,
) -> Vec<(usize, Result<(), SinkError>)> {
    match outcome {
        Ok(results) => {
            let failed = results.iter().filter(|r| r.is_err()).count();
            if let Some(first) = results.iter().find_map(|r| r.as_ref().err()) {
                tracing::warn!(sink.kind = kind, sink.name = %name, messages = indices.len(), failed, error = %first.message, "some messages were refused");
            } else {
                tracing::debug!(sink.kind = kind, sink.name = %name, messages = indices.len(), "delivered");
            }
            indices.into_iter().zip(results).collect()
        }
        Err((error_kind, message)) => {
            tracing::warn!(
                sink.kind = kind,
                sink.name = %name,
                messages = indices.len(),
                error.kind = error_kind.as_str(),
                error = %message,
                "{operation} failed"
            );
            let err = SinkError::new(name, error_kind, message);
            indices.into_iter().map(|i| (i, Err(err.clone()))).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_respect_both_limits_and_keep_order() {
        let sizes: Vec<(usize, usize)> = (0..25).map(|i| (i, 100)).collect();
        let batches = plan(&sizes, 10, 1000);
        // 10 entries of 100 bytes would be 1000: exactly the budget.
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![10, 10, 5]
        );
        let batches = plan(&sizes, 10, 999);
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![9, 9, 7]
        );
        assert_eq!(batches.concat(), (0..25).collect::<Vec<_>>());
        assert!(plan(&[], 10, 10).is_empty());
        // An entry of the whole budget goes alone.
        assert_eq!(
            plan(&[(0, 1), (1, 50), (2, 1)], 10, 50),
            vec![vec![0], vec![1], vec![2]]
        );
    }

    #[test]
    fn id_responses_map_back_and_silence_is_not_success() {
        let failed = [
            EntryFailure {
                id: "1",
                code: "InvalidParameter",
                message: Some("bad"),
                sender_fault: true,
            },
            EntryFailure {
                id: "2",
                code: "InternalError",
                message: None,
                sender_fault: false,
            },
            EntryFailure {
                id: "42",
                code: "Ignored",
                message: None,
                sender_fault: true,
            },
        ];
        let r = map_id_response("sns:t", "PublishBatch", 4, &["0"], &failed);
        assert_eq!(r[0], Ok(()));
        let e1 = r[1].clone().unwrap_err();
        assert_eq!(
            (e1.kind, e1.message.as_str(), e1.sink.as_str()),
            (ErrorKind::Permanent, "InvalidParameter: bad", "sns:t")
        );
        let e2 = r[2].clone().unwrap_err();
        assert_eq!(
            (e2.kind, e2.message.as_str()),
            (ErrorKind::Transient, "InternalError")
        );
        let e3 = r[3].clone().unwrap_err();
        assert_eq!(e3.kind, ErrorKind::Transient);
        assert!(e3.message.contains("PublishBatch gave no result"), "{e3}");
    }
}
