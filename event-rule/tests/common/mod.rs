//! Test harness: a moto server of the test's own (fresh state, killed on drop), SDK
//! configuration pointed at it, and fixtures (CloudTrail trails in any account).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use event_rule::aws::{self, AccountCtx, SdkOptions};

/// The account moto gives the static test credentials.
pub const HOME: &str = "123456789012";
/// Region of the central queue in the tests.
pub const HOME_REGION: &str = "us-west-2";
/// Every test's time limit.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(240);

/// A moto server on a free local port, killed when dropped.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl Moto {
    /// Starts `$MOTO_SERVER_BIN`; `None` (after printing why) when it is not set.
    pub fn start(test: &str) -> Option<Moto> {
        Moto::start_with_env(test, &[])
    }

    /// [`Moto::start`] with extra environment for the server (such as
    /// `INITIAL_NO_AUTH_ACTION_COUNT`, which turns on moto's IAM enforcement).
    pub fn start_with_env(test: &str, env: &[(&str, &str)]) -> Option<Moto> {
        let Some(bin) = std::env::var_os("MOTO_SERVER_BIN") else {
            // Straight to stderr, past the test harness's capture, so the skip is seen.
            let _ = writeln!(
                std::io::stderr(),
                "skipped: MOTO_SERVER_BIN not set ({test})"
            );
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("no free port")
            .port();
        let log = std::env::temp_dir().join(format!("event-rule-moto-{port}.log"));
        let log = std::fs::File::create(&log).expect("moto log file");
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin:?}: {e}"));
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if http(&moto.endpoint, "GET", "/moto-api/", None).is_some() {
                return Some(moto);
            }
            assert!(
                Instant::now() < deadline,
                "moto did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// CPU time the server process has used so far (user + system, every thread), from
    /// `/proc`; `None` where that cannot be read. moto runs its Python under one lock,
    /// so the CPU it spends on a run bounds that run's wall time from below.
    pub fn cpu_time(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // Fields after the parenthesised command name; utime and stime are 14 and 15.
        let rest = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        // The kernel reports these in USER_HZ, 100 per second on Linux.
        Some(Duration::from_millis(ticks * 10))
    }

    /// The base SDK configuration: static test credentials, moto's endpoint.
    pub async fn sdk(&self) -> SdkConfig {
        sdk_at(&self.endpoint).await
    }

    /// A context acting in `account` (through the default member role).
    pub async fn account(&self, account: &str) -> AccountCtx {
        let base = self.sdk().await;
        if account == HOME {
            return AccountCtx {
                account: HOME.into(),
                sdk: base,
            };
        }
        let role = format!("arn:aws:iam::{account}:role/OrganizationAccountAccessRole");
        aws::assume(&base, account, &role)
            .await
            .expect("assume role in moto")
    }

    /// Creates a logging trail in `account`, homed in `region`.
    pub async fn trail(&self, account: &str, region: &str, multi_region: bool) {
        let bucket = format!("trail-{account}-{region}");
        let status = http(&self.endpoint, "PUT", &format!("/{bucket}"), Some(account))
            .expect("create bucket");
        assert!(status < 300, "create bucket: HTTP {status}");
        let ctx = self.account(account).await;
        let ct = aws_sdk_cloudtrail::Client::new(&ctx.in_region(region));
        let name = format!("trail-{region}");
        ct.create_trail()
            .name(&name)
            .s3_bucket_name(&bucket)
            .is_multi_region_trail(multi_region)
            .send()
            .await
            .expect("create trail");
        ct.start_logging()
            .name(&name)
            .send()
            .await
            .expect("start logging");
    }

    /// Environment for running the CLI against this server.
    pub fn cli_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", HOME_REGION.into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("RUST_LOG", "warn".into()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SDK configuration with static test credentials for `endpoint`.
pub async fn sdk_at(endpoint: &str) -> SdkConfig {
    sdk_as(endpoint, "testing", "testing").await
}

/// SDK configuration for `endpoint` with the given access key.
pub async fn sdk_as(endpoint: &str, key_id: &str, secret: &str) -> SdkConfig {
    aws::load_sdk_config(&SdkOptions {
        region: HOME_REGION.into(),
        max_attempts: 3,
        endpoint_url: Some(endpoint.to_string()),
        static_credentials: Some((key_id.into(), secret.into())),
    })
    .await
}

/// A TCP proxy to `target` that holds each request for `delay` before passing it on,
/// to give a local server the round-trip time of a real AWS endpoint. Returns its
/// endpoint; it lives as long as the runtime.
pub async fn latency_proxy(target: &str, delay: Duration) -> String {
    proxy(target, delay, None).await
}

/// What a [`recording_proxy`] passed on to the server: the bytes sent on each
/// connection, one entry per connection.
#[derive(Clone, Default)]
pub struct RequestLog(Arc<Mutex<Vec<Vec<u8>>>>);

impl RequestLog {
    /// How many times `needle` was sent (a request parameter such as
    /// `Action=AssumeRole`), over every connection.
    pub fn count(&self, needle: &str) -> usize {
        let needle = needle.as_bytes();
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|sent| sent.windows(needle.len()).filter(|w| *w == needle).count())
            .sum()
    }

    /// The distinct texts sent between `start` and the next `end` byte, such as the
    /// access keys of signed requests (`Credential=`, up to `/`).
    pub fn values(&self, start: &str, end: u8) -> std::collections::BTreeSet<String> {
        let start = start.as_bytes();
        let mut out = std::collections::BTreeSet::new();
        for sent in self.0.lock().unwrap().iter() {
            let mut rest = &sent[..];
            while let Some(i) = rest.windows(start.len()).position(|w| w == start) {
                rest = &rest[i + start.len()..];
                let len = rest.iter().position(|b| *b == end).unwrap_or(rest.len());
                out.insert(String::from_utf8_lossy(&rest[..len]).into_owned());
            }
        }
        out
    }
}

/// [`latency_proxy`] that also records what the client sends.
pub async fn recording_proxy(target: &str, delay: Duration) -> (String, RequestLog) {
    let log = RequestLog::default();
    (proxy(target, delay, Some(log.clone())).await, log)
}

async fn proxy(target: &str, delay: Duration, log: Option<RequestLog>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind proxy");
    let addr = listener.local_addr().expect("proxy address");
    let target = target.trim_start_matches("http://").to_string();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let target = target.clone();
            let log = log.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(&target).await else {
                    return;
                };
                let slot = log.as_ref().map(|log| {
                    let mut all = log.0.lock().unwrap();
                    all.push(Vec::new());
                    all.len() - 1
                });
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                });
                let mut buf = vec![0u8; 64 * 1024];
                let mut last = Instant::now() - delay;
                loop {
                    let n = match cr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if let (Some(log), Some(slot)) = (&log, slot) {
                        log.0.lock().unwrap()[slot].extend_from_slice(&buf[..n]);
                    }
                    // A chunk after a pause starts a new request: hold it.
                    if !delay.is_zero() && last.elapsed() > Duration::from_millis(5) {
                        tokio::time::sleep(delay).await;
                    }
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    last = Instant::now();
                }
            });
        }
    });
    format!("http://{addr}")
}

/// A minimal HTTP/1.1 request; returns the status code. `account` sets moto's
/// `x-moto-account-id` header (to make an S3 bucket in another account).
pub fn http(endpoint: &str, method: &str, path: &str, account: Option<&str>) -> Option<u16> {
    let host = endpoint.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let extra = account
        .map(|a| format!("x-moto-account-id: {a}\r\n"))
        .unwrap_or_default();
    let req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_whitespace().nth(1)?.parse().ok()
}

/// Runs the `event-rule` binary with `args` against `moto`; returns (exit code,
/// stdout, stderr).
pub async fn cli(moto: &Moto, args: &[&str]) -> (i32, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_event-rule"));
    cmd.args(args)
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/nonexistent/event-rule-test")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/event-rule-test",
        );
    for (k, v) in moto.cli_env() {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("run event-rule");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
