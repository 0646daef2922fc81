//! A LocalStack of the test's own: host mode (no Docker), started from the Python that
//! `tests/run.sh` installs it into (`LOCALSTACK_PYTHON`), on a free 127.0.0.1 port,
//! with all its files in a temporary directory; the whole process group is killed on
//! drop, and its log is printed when the test fails.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use tempfile::TempDir;

use super::{free_port, http_get, report, sdk_config, sdk_config_as, skip, tail};

/// The environment variable naming LocalStack's Python (set by `tests/run.sh`).
pub const PYTHON_ENV: &str = "LOCALSTACK_PYTHON";
/// The account LocalStack gives the test credentials.
pub const ACCOUNT: &str = "000000000000";
/// The services [`LocalStack::start`] starts.
pub const SERVICES: &str = "sqs,sns,events,sts,iam,cloudformation";
/// Services that must report themselves ready before a test begins.
const MUST_BE_UP: [&str; 3] = ["sqs", "sns", "events"];
/// How long LocalStack may take to become ready (about 2 s on an idle machine; the
/// tests share 2 cores with builds).
const READY_LIMIT: Duration = Duration::from_secs(120);

/// A running LocalStack.
pub struct LocalStack {
    child: Child,
    _dir: TempDir,
    log: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl LocalStack {
    /// Starts LocalStack with [`SERVICES`], or returns `None` (after saying why) when
    /// `LOCALSTACK_PYTHON` is not set; under CI that is a failure instead.
    pub fn start(test: &str) -> Option<LocalStack> {
        LocalStack::start_with(test, SERVICES)
    }

    /// [`LocalStack::start`] with `services` (comma-separated) instead.
    pub fn start_with(test: &str, services: &str) -> Option<LocalStack> {
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
        assert!(
            python.exists(),
            "{PYTHON_ENV}={} does not exist",
            python.display()
        );
        // A port taken between choosing it and LocalStack binding it: try another.
        let mut last_err = String::new();
        for _ in 0..3 {
            match LocalStack::try_start(&python, services) {
                Ok(ls) => return Some(ls),
                Err(e) => last_err = e,
            }
        }
        panic!("{test}: LocalStack did not start: {last_err}");
    }

    fn try_start(python: &Path, services: &str) -> Result<LocalStack, String> {
        let dir = tempfile::Builder::new()
            .prefix("localstack-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let port = free_port();
        let log = dir.path().join("localstack.log");
        let out = std::fs::File::create(&log).map_err(|e| format!("log file: {e}"))?;
        let err = out.try_clone().map_err(|e| format!("log file: {e}"))?;
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(python);
        cmd.args(["-m", "localstack.runtime.main"])
            .current_dir(dir.path())
            .env("GATEWAY_LISTEN", &listen)
            // Queue URLs then name this very endpoint (resolvable offline).
            .env("LOCALSTACK_HOST", &listen)
            .env("SQS_ENDPOINT_STRATEGY", "off")
            .env("LOCALSTACK_VOLUME_DIR", dir.path().join("volume"))
            // Host mode, every file under the temporary directory.
            .env("OVERRIDE_IN_DOCKER", "0")
            .env("FILESYSTEM_ROOT", dir.path().join("fs"))
            .env("SERVICES", services)
            // Services load on first use (loading all up front takes seconds more).
            .env("EAGER_SERVICE_LOADING", "0")
            // One INFO line per request costs LocalStack's one interpreter lock
            // dearly under load; warnings and errors still show.
            .env("LS_LOG", "warn")
            // No network: no DNS server, certificate download or analytics.
            .env("DNS_ADDRESS", "0")
            .env("SKIP_SSL_CERT_DOWNLOAD", "1")
            .env("DISABLE_EVENTS", "1")
            .env("SQS_DISABLE_CLOUDWATCH_METRICS", "1")
            .env("PYTHONUNBUFFERED", "1")
            .env_remove("DEBUG")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Its own process group, so dropping it kills every process it started.
            .process_group(0);
        super::die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
        let mut ls = LocalStack {
            child,
            _dir: dir,
            log,
            endpoint: format!("http://{listen}"),
        };
        let started = Instant::now();
        let deadline = started + READY_LIMIT;
        loop {
            if let Ok(Some(status)) = ls.child.try_wait() {
                return Err(format!(
                    "exited with {status} on port {port}; log:\n{}",
                    tail(&ls.log, 40)
                ));
            }
            if ls.is_ready() {
                report(&format!(
                    "LocalStack ready on port {port} in {:.1} s",
                    started.elapsed().as_secs_f64()
                ));
                return Ok(ls);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "not ready on port {port} after {READY_LIMIT:?}; log:\n{}",
                    tail(&ls.log, 40)
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn is_ready(&self) -> bool {
        let Some((200, body)) = http_get(&self.endpoint, "/_localstack/health") else {
            return false;
        };
        let Ok(health) = serde_json::from_str::<serde_json::Value>(&body) else {
            return false;
        };
        let up = MUST_BE_UP.iter().all(|s| {
            matches!(
                health["services"][s].as_str(),
                Some("available" | "running")
            )
        });
        up && std::fs::read_to_string(&self.log).is_ok_and(|l| l.contains("Ready."))
    }

    /// SDK configuration for this LocalStack in `region`.
    pub async fn sdk(&self, region: &str) -> SdkConfig {
        sdk_config(&self.endpoint, region).await
    }

    /// SDK configuration acting in `account` in `region`: [`ACCOUNT`] with the test
    /// credentials, any other account by its id as the access key id.
    pub async fn sdk_as(&self, account: &str, region: &str) -> SdkConfig {
        let key = if account == ACCOUNT { "test" } else { account };
        sdk_config_as(&self.endpoint, key, region).await
    }

    /// An SQS client in `region`.
    pub async fn sqs(&self, region: &str) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk(region).await)
    }

    /// The environment pointing an AWS SDK program at this LocalStack: endpoint,
    /// region, static credentials, no profile files and no instance metadata.
    pub fn env(&self, region: &str) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_REGION", region),
            ("AWS_DEFAULT_REGION", region),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_CONFIG_FILE", "/nonexistent/integration-tests"),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/integration-tests",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// The log so far (its last `lines` lines).
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on the process group this LocalStack leads; no memory involved.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
        let _ = self.child.wait();
        if std::thread::panicking() {
            super::report(&format!(
                "--- LocalStack log ({}), last 60 lines:\n{}\n---",
                self.endpoint,
                self.log_tail(60)
            ));
        }
    }
}
