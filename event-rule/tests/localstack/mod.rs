//! A LocalStack of the test's own for `tests/cloudformation.rs`: host mode (no Docker),
//! from the Python `tests/run.sh` installs it into (`LOCALSTACK_PYTHON`), on a free
//! 127.0.0.1 port, its files under a fresh temporary directory, its process group
//! killed on drop (its log printed when the test failed).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{Region, SdkConfig};

/// The environment variable naming LocalStack's Python (set by `tests/run.sh`).
pub const PYTHON_ENV: &str = "LOCALSTACK_PYTHON";
/// The account LocalStack gives access key `test`; another 12-digit access key id acts
/// in that account.
pub const ACCOUNT: &str = "000000000000";

/// Whether a missing tool fails the test instead of skipping it.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// Says that `test` skips (straight to stderr, past the capture), or fails under CI.
pub fn skip(test: &str, why: &str) {
    assert!(
        !in_ci(),
        "{test}: {why}; CI is set, so this test must run (tests/run.sh installs it)"
    );
    let _ = writeln!(std::io::stderr(), "skipped: {test}: {why}");
}

/// A running LocalStack.
pub struct LocalStack {
    child: Child,
    dir: PathBuf,
    log: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("no free port")
        .port()
}

/// `GET path` on a local endpoint: status and body, `None` when nothing answers.
pub fn http_get(endpoint: &str, path: &str) -> Option<(u16, String)> {
    let host = endpoint.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
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

impl LocalStack {
    /// Starts LocalStack with `services`, or returns `None` (after saying why) when
    /// `LOCALSTACK_PYTHON` is not set.
    pub fn start(test: &str, services: &str) -> Option<LocalStack> {
        let python = match std::env::var_os(PYTHON_ENV) {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => {
                skip(
                    test,
                    &format!("{PYTHON_ENV} not set (LocalStack is not installed)"),
                );
                return None;
            }
        };
        let mut last = String::new();
        for _ in 0..3 {
            match LocalStack::try_start(&python, services) {
                Ok(ls) => return Some(ls),
                Err(e) => last = e,
            }
        }
        panic!("{test}: LocalStack did not start: {last}");
    }

    fn try_start(python: &PathBuf, services: &str) -> Result<LocalStack, String> {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "event-rule-localstack-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let log = dir.join("localstack.log");
        let out = std::fs::File::create(&log).map_err(|e| format!("log: {e}"))?;
        let err = out.try_clone().map_err(|e| format!("log: {e}"))?;
        let listen = format!("127.0.0.1:{port}");
        let child = Command::new(python)
            .args(["-m", "localstack.runtime.main"])
            .current_dir(&dir)
            .env("GATEWAY_LISTEN", &listen)
            // Queue URLs then name this endpoint, which resolves offline.
            .env("LOCALSTACK_HOST", &listen)
            .env("SQS_ENDPOINT_STRATEGY", "off")
            .env("LOCALSTACK_VOLUME_DIR", dir.join("volume"))
            .env("FILESYSTEM_ROOT", dir.join("fs"))
            .env("OVERRIDE_IN_DOCKER", "0")
            .env("SERVICES", services)
            .env("DNS_ADDRESS", "0")
            .env("SKIP_SSL_CERT_DOWNLOAD", "1")
            .env("DISABLE_EVENTS", "1")
            .env("PYTHONUNBUFFERED", "1")
            .env_remove("DEBUG")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
        let mut ls = LocalStack {
            child,
            dir,
            log,
            endpoint: format!("http://{listen}"),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(Some(status)) = ls.child.try_wait() {
                return Err(format!("exited with {status}:\n{}", ls.log_tail(30)));
            }
            let ready = http_get(&ls.endpoint, "/_localstack/health")
                .is_some_and(|(s, _)| s == 200)
                && std::fs::read_to_string(&ls.log).is_ok_and(|l| l.contains("Ready."));
            if ready {
                return Ok(ls);
            }
            if Instant::now() > deadline {
                return Err(format!("not ready after 120 s:\n{}", ls.log_tail(30)));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SDK configuration acting in `account` (a 12-digit access key id) in `region`.
    pub async fn sdk(&self, account: &str, region: &str) -> SdkConfig {
        let key = if account == ACCOUNT { "test" } else { account };
        crate::common::sdk_as(&self.endpoint, key, "test")
            .await
            .to_builder()
            .region(Region::new(region.to_string()))
            .build()
    }

    /// The environment of a program acting in the default account against this
    /// LocalStack.
    pub fn env(&self, region: &str) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", region.into()),
            ("AWS_DEFAULT_REGION", region.into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_CONFIG_FILE", "/nonexistent/event-rule-test".into()),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/event-rule-test".into(),
            ),
        ]
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        // The whole process group LocalStack leads.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let _ = writeln!(
                std::io::stderr(),
                "--- LocalStack log ({}), last 60 lines:\n{}\n---",
                self.endpoint,
                self.log_tail(60)
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
