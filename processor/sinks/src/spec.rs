//! The `--sink` value: which sink, and where.

use std::path::PathBuf;
use std::str::FromStr;

use reqwest::Url;

use crate::SinkError;
use processor_core::arn::Arn;

/// What [`SinkError::sink`] says for a `--sink` value that does not parse.
const SPEC_LABEL: &str = "--sink";

/// The accepted forms, quoted by every parse error.
const FORMS: &str = "expected one of: `stdout`, `file:PATH`, `http://URL` or `https://URL`, \
                     `sqs:QUEUE_URL` (a queue URL starting with http:// or https://), \
                     `sns:TOPIC_ARN`, `eventbridge:BUS_NAME_OR_ARN`";

/// A parsed `--sink` value.
///
/// | form | sink |
/// |---|---|
/// | `stdout` | NDJSON on standard output |
/// | `file:PATH` | NDJSON appended to `PATH` |
/// | `http://...`, `https://...` | JSON arrays POSTed to the URL |
/// | `sqs:QUEUE_URL` | messages sent to the queue (`QUEUE_URL` starts with `http(s)://`) |
/// | `sns:TOPIC_ARN` | messages published to the topic (`arn:PARTITION:sns:REGION:ACCOUNT:NAME`) |
/// | `eventbridge:BUS` | events put on the bus, given by name (`default`, `rescans`) or ARN (`arn:PARTITION:events:REGION:ACCOUNT:event-bus/NAME`) |
///
/// `Display` gives the form back with any URL redacted (no userinfo, query or fragment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkSpec {
    /// Standard output.
    Stdout,
    /// A file, appended to.
    File(PathBuf),
    /// An HTTP endpoint: the full URL, `http://` or `https://`.
    Http(String),
    /// An SQS queue: its URL.
    Sqs(String),
    /// An SNS topic: its ARN.
    Sns(String),
    /// An EventBridge event bus: its name or ARN.
    EventBridge(String),
}

impl FromStr for SinkSpec {
    type Err = SinkError;

    /// Parses `stdout`, `file:PATH`, `http(s)://URL`, `sqs:QUEUE_URL`, `sns:TOPIC_ARN`
    /// or `eventbridge:BUS_NAME_OR_ARN`. Errors are
    /// [`crate::ErrorKind::Permanent`] and never repeat a URL (it may hold secrets).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let err = |msg: String| SinkError::permanent(SPEC_LABEL, msg);
        if s == "stdout" {
            return Ok(SinkSpec::Stdout);
        }
        if let Some(path) = s.strip_prefix("file:") {
            if path.is_empty() {
                return Err(err(format!("`file:` needs a path; {FORMS}")));
            }
            return Ok(SinkSpec::File(PathBuf::from(path)));
        }
        if has_http_scheme(s) {
            check_url(s, false).map_err(|why| err(format!("invalid HTTP sink URL: {why}")))?;
            return Ok(SinkSpec::Http(s.to_string()));
        }
        if let Some(url) = s.strip_prefix("sqs:") {
            if !has_http_scheme(url) {
                return Err(err(format!(
                    "`sqs:` must be followed by the queue URL (http:// or https://); {FORMS}"
                )));
            }
            check_url(url, true).map_err(|why| err(format!("invalid SQS queue URL: {why}")))?;
            return Ok(SinkSpec::Sqs(url.to_string()));
        }
        if let Some(arn) = s.strip_prefix("sns:") {
            check_topic_arn(arn).map_err(|why| err(format!("invalid SNS topic ARN: {why}")))?;
            return Ok(SinkSpec::Sns(arn.to_string()));
        }
        if let Some(bus) = s.strip_prefix("eventbridge:") {
            check_event_bus(bus)
                .map_err(|why| err(format!("invalid EventBridge event bus: {why}")))?;
            return Ok(SinkSpec::EventBridge(bus.to_string()));
        }
        let shown = match s.split_once(':') {
            // Only what comes before the first colon: the rest may be a secret.
            Some((prefix, _)) => format!("{prefix}:..."),
            None => s.to_string(),
        };
        Err(err(format!("unrecognised sink `{shown}`; {FORMS}")))
    }
}

impl std::fmt::Display for SinkSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SinkSpec::Stdout => f.write_str("stdout"),
            SinkSpec::File(path) => write!(f, "file:{}", path.display()),
            SinkSpec::Http(url) => f.write_str(&redact_url(url)),
            SinkSpec::Sqs(url) => write!(f, "sqs:{}", redact_url(url)),
            SinkSpec::Sns(arn) => write!(f, "sns:{arn}"),
            SinkSpec::EventBridge(bus) => write!(f, "eventbridge:{bus}"),
        }
    }
}

/// Whether `s` starts with `http://` or `https://`, in any case.
fn has_http_scheme(s: &str) -> bool {
    let starts = |p: &str| s.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p));
    starts("http://") || starts("https://")
}

/// Checks that `s` is an absolute http(s) URL with a host (and, for a queue, a path).
fn check_url(s: &str, needs_path: bool) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the scheme must be http or https".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("no host".into());
    }
    if needs_path && url.path().trim_matches('/').is_empty() {
        return Err(
            "no queue path (expected https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)".into(),
        );
    }
    Ok(url)
}

/// Whether `s` is a 12-digit account id.
fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `s` looks like a region (`us-east-1`, `cn-north-1`, `us-gov-west-1`).
fn is_region(s: &str) -> bool {
    !s.is_empty()
        && s.contains('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Checks an SNS topic ARN: `arn:PARTITION:sns:REGION:ACCOUNT:NAME`, the name 1 to 256
/// letters, digits, `-` and `_` (a FIFO topic's name ending in `.fifo`).
fn check_topic_arn(s: &str) -> Result<(), String> {
    const SHAPE: &str = "expected arn:aws:sns:REGION:ACCOUNT:NAME";
    let arn = Arn::parse(s).ok_or_else(|| format!("not an ARN; {SHAPE}"))?;
    if arn.service != "sns" {
        return Err(format!("service `{}` is not sns; {SHAPE}", arn.service));
    }
    if !is_region(arn.region) {
        return Err(format!("no valid region; {SHAPE}"));
    }
    if !is_account_id(arn.account) {
        return Err(format!("the account must be 12 digits; {SHAPE}"));
    }
    let name = arn.resource.strip_suffix(".fifo").unwrap_or(arn.resource);
    let name_ok = !name.is_empty()
        && arn.resource.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !name_ok {
        return Err("the topic name must be 1 to 256 letters, digits, `-` or `_` (`.fifo` at the end of a FIFO topic)".into());
    }
    Ok(())
}

/// Whether `s` is a valid event bus name: 1 to 256 letters, digits, `.`, `-`, `_` or
/// `/` (partner buses: `aws.partner/...`).
fn is_bus_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'/'))
}

/// Checks an event bus: a name, or `arn:PARTITION:events:REGION:ACCOUNT:event-bus/NAME`.
fn check_event_bus(s: &str) -> Result<(), String> {
    const SHAPE: &str = "expected a bus name or arn:aws:events:REGION:ACCOUNT:event-bus/NAME";
    if !s.starts_with("arn:") {
        return if is_bus_name(s) {
            Ok(())
        } else {
            Err(format!(
                "a bus name is 1 to 256 letters, digits, `.`, `-`, `_` or `/`; {SHAPE}"
            ))
        };
    }
    let arn = Arn::parse(s).ok_or_else(|| format!("not an ARN; {SHAPE}"))?;
    if arn.service != "events" {
        return Err(format!("service `{}` is not events; {SHAPE}", arn.service));
    }
    if !is_region(arn.region) {
        return Err(format!("no valid region; {SHAPE}"));
    }
    if !is_account_id(arn.account) {
        return Err(format!("the account must be 12 digits; {SHAPE}"));
    }
    match arn.resource.strip_prefix("event-bus/") {
        Some(name) if is_bus_name(name) => Ok(()),
        _ => Err(format!("the resource must be event-bus/NAME; {SHAPE}")),
    }
}

/// `url` without userinfo, query string or fragment, safe to log. An unparsable URL
/// gives `<invalid url>` rather than being echoed.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            // Both fail only for URLs that cannot have userinfo (no host), where there
            // is nothing to clear.
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "<invalid url>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn every_form_parses() {
        assert_eq!("stdout".parse::<SinkSpec>().unwrap(), SinkSpec::Stdout);
        assert_eq!(" stdout\n".parse::<SinkSpec>().unwrap(), SinkSpec::Stdout);
        assert_eq!(
            "file:/tmp/out.ndjson".parse::<SinkSpec>().unwrap(),
            SinkSpec::File(PathBuf::from("/tmp/out.ndjson"))
        );
        assert_eq!(
            "file:relative/x".parse::<SinkSpec>().unwrap(),
            SinkSpec::File(PathBuf::from("relative/x"))
        );
        assert_eq!(
            "http://127.0.0.1:8080/x".parse::<SinkSpec>().unwrap(),
            SinkSpec::Http("http://127.0.0.1:8080/x".into())
        );
        assert_eq!(
            "https://user:pw@example.com/hook?token=t"
                .parse::<SinkSpec>()
                .unwrap(),
            SinkSpec::Http("https://user:pw@example.com/hook?token=t".into())
        );
        assert_eq!(
            "HTTPS://example.com".parse::<SinkSpec>().unwrap(),
            SinkSpec::Http("HTTPS://example.com".into())
        );
        assert_eq!(
            "sqs:https://sqs.us-east-1.amazonaws.com/123456789012/rescans"
                .parse::<SinkSpec>()
                .unwrap(),
            SinkSpec::Sqs("https://sqs.us-east-1.amazonaws.com/123456789012/rescans".into())
        );
        assert_eq!(
            "sqs:http://localhost:4566/000000000000/q.fifo"
                .parse::<SinkSpec>()
                .unwrap(),
            SinkSpec::Sqs("http://localhost:4566/000000000000/q.fifo".into())
        );
    }

    #[test]
    fn errors_name_the_forms_and_hide_secrets() {
        for bad in [
            "",
            "stderr",
            "STDOUT",
            "file:",
            "ftp://user:hunter2@example.com/x",
            "sqs:",
            "sqs:rescans",
            "sqs:https://sqs.us-east-1.amazonaws.com",
            "sqs:https://sqs.us-east-1.amazonaws.com/",
            "http://",
            "http://user:hunter2@[::1/x",
        ] {
            let e = bad.parse::<SinkSpec>().unwrap_err();
            assert_eq!(e.kind, ErrorKind::Permanent, "{bad}");
            assert_eq!(e.sink, "--sink");
            assert!(!e.to_string().contains("hunter2"), "{bad}: {e}");
            if !bad.starts_with("http") && !bad.starts_with("sqs:http") {
                assert!(e.message.contains("file:PATH"), "{bad}: {e}");
                assert!(e.message.contains("sqs:QUEUE_URL"), "{bad}: {e}");
            }
        }
        let e = "ftp://user:hunter2@example.com/x"
            .parse::<SinkSpec>()
            .unwrap_err();
        assert!(e.message.contains("`ftp:...`"), "{e}");
    }

    #[test]
    fn sns_and_eventbridge_forms_parse_and_display_as_given() {
        let topic = "arn:aws:sns:eu-west-1:123456789012:rescans";
        let spec: SinkSpec = format!("sns:{topic}").parse().unwrap();
        assert_eq!(spec, SinkSpec::Sns(topic.into()));
        assert_eq!(spec.to_string(), format!("sns:{topic}"));
        let fifo = "arn:aws-cn:sns:cn-north-1:123456789012:rescans-1_a.fifo";
        assert_eq!(
            format!("sns:{fifo}").parse::<SinkSpec>().unwrap(),
            SinkSpec::Sns(fifo.into())
        );
        for bus in [
            "default",
            "rescans",
            "aws.partner/example.com/123/rescans",
            "arn:aws:events:us-east-1:123456789012:event-bus/rescans",
            "arn:aws-us-gov:events:us-gov-west-1:123456789012:event-bus/default",
        ] {
            let spec: SinkSpec = format!("eventbridge:{bus}").parse().unwrap();
            assert_eq!(spec, SinkSpec::EventBridge(bus.into()));
            assert_eq!(spec.to_string(), format!("eventbridge:{bus}"));
        }
    }

    #[test]
    fn malformed_topics_and_buses_are_refused_with_the_reason() {
        for (bad, why) in [
            ("sns:", "not an ARN"),
            ("sns:rescans", "not an ARN"),
            (
                "sns:arn:aws:sqs:eu-west-1:123456789012:rescans",
                "is not sns",
            ),
            ("sns:arn:aws:sns::123456789012:rescans", "region"),
            ("sns:arn:aws:sns:eu-west-1:1234:rescans", "12 digits"),
            ("sns:arn:aws:sns:eu-west-1:123456789012:a/b", "topic name"),
            ("sns:arn:aws:sns:eu-west-1:123456789012:.fifo", "topic name"),
            ("sns:arn:aws:sns:eu-west-1:123456789012", "not an ARN"),
            ("eventbridge:", "bus name"),
            ("eventbridge:has space", "bus name"),
            (
                "eventbridge:arn:aws:sns:us-east-1:123456789012:event-bus/x",
                "is not events",
            ),
            (
                "eventbridge:arn:aws:events:us-east-1:123456789012:rule/x",
                "event-bus/NAME",
            ),
            (
                "eventbridge:arn:aws:events:us-east-1:12345678901x:event-bus/x",
                "12 digits",
            ),
        ] {
            let e = bad.parse::<SinkSpec>().unwrap_err();
            assert_eq!(e.kind, ErrorKind::Permanent, "{bad}");
            assert!(e.message.contains(why), "{bad}: {e}");
        }
        let e = "kinesis:stream".parse::<SinkSpec>().unwrap_err();
        assert!(e.message.contains("sns:TOPIC_ARN"), "{e}");
        assert!(e.message.contains("eventbridge:BUS_NAME_OR_ARN"), "{e}");
    }

    #[test]
    fn display_redacts() {
        let spec: SinkSpec = "https://user:pw@example.com:8443/hook?token=t#frag"
            .parse()
            .unwrap();
        assert_eq!(spec.to_string(), "https://example.com:8443/hook");
        let spec: SinkSpec = "sqs:https://sqs.eu-west-1.amazonaws.com/1/q?X-Amz=1"
            .parse()
            .unwrap();
        assert_eq!(
            spec.to_string(),
            "sqs:https://sqs.eu-west-1.amazonaws.com/1/q"
        );
        assert_eq!(
            SinkSpec::File(PathBuf::from("/tmp/x")).to_string(),
            "file:/tmp/x"
        );
        assert_eq!(SinkSpec::Stdout.to_string(), "stdout");
        assert_eq!(redact_url("not a url"), "<invalid url>");
        assert_eq!(
            redact_url("http://u@127.0.0.1:8080/x"),
            "http://127.0.0.1:8080/x"
        );
    }
}
