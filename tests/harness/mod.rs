//! Test harness for the tests that run the project's binaries against local AWS
//! endpoints: LocalStack and moto servers of a test's own ([`localstack`], [`moto`]), an
//! in-process HTTP sink ([`sink`]), the built binaries and a `processor run` child
//! process ([`bins`], [`consumer`]), queue helpers ([`sqs`]), CloudTrail records and
//! their delivery shapes ([`records`]), and reading rescan requests back ([`output`]).
//!
//! Every server listens on 127.0.0.1 only, on a free port, and every wait is bounded.

pub mod bins;
pub mod consumer;
pub mod localstack;
pub mod moto;
pub mod output;
pub mod records;
pub mod sink;
pub mod sqs;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use aws_config::{retry::RetryConfig, timeout::TimeoutConfig, BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

/// Whether the tests run in CI (`CI` set to anything but empty, `0` or `false`), where
/// a missing local endpoint is a failure, not a skip.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
        .unwrap_or(false)
}

/// Says that `test` skips because of `why`, straight to stderr past the test
/// harness's capture so it is seen; under CI it fails the test instead.
pub fn skip(test: &str, why: &str) {
    if in_ci() {
        panic!("{test}: {why}; CI is set, so this test must run (tests/run.sh installs it)");
    }
    let _ = writeln!(std::io::stderr(), "skipped: {test}: {why}");
}

/// Prints a line straight to stderr, past the test harness's capture (figures the
/// tests report, such as duplicate rates).
pub fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("no free local port")
        .port()
}

/// A minimal HTTP/1.1 request to `endpoint` (`http://127.0.0.1:PORT`): the status code
/// and body, or `None` when the server does not answer within 10 s.
pub fn http_get(endpoint: &str, path: &str) -> Option<(u16, String)> {
    http_request(endpoint, "GET", path, &[])
}

/// [`http_get`] with any method and extra headers, and no body.
pub fn http_request(
    endpoint: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Option<(u16, String)> {
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let addr: std::net::SocketAddr = host.parse().ok()?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(10))).ok()?;
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// SDK configuration for a local endpoint: static test credentials, `region`, a few
/// retries, bounded timeouts, rustls with ring (as the project's binaries use).
pub async fn sdk_config(endpoint: &str, region: &str) -> SdkConfig {
    sdk_config_as(endpoint, "test", region).await
}

/// [`sdk_config`] with access key id `key_id` (LocalStack and moto act in the account
/// a 12-digit key id names).
pub async fn sdk_config_as(endpoint: &str, key_id: &str, region: &str) -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .region(Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(key_id, "test", None, None, "static"))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(5)
                .with_initial_backoff(Duration::from_millis(100)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(30))
                .operation_timeout(Duration::from_secs(90))
                .build(),
        )
        .load()
        .await
}

/// Makes a child started by `cmd` get SIGKILL when the thread that starts it ends, so
/// that servers and consumers never outlive a test process killed from outside (its
/// drops then never run). Start such children from the test's own thread (the body of
/// a `#[tokio::test]` runs there), not from a pool thread that may end sooner.
pub fn die_with_parent(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only makes one
    // async-signal-safe system call.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The last `lines` lines of a log file (for failure messages).
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs `body` with a time limit; past it the test fails (and the servers' and
/// consumers' logs are printed as they are dropped).
pub async fn with_limit<F: std::future::Future>(test: &str, limit: Duration, body: F) -> F::Output {
    match tokio::time::timeout(limit, body).await {
        Ok(v) => v,
        Err(_) => panic!("{test}: did not finish within {limit:?}"),
    }
}
