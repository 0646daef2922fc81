//! `processor run` as a child process pointed at a LocalStack: started with the
//! environment of an AWS deployment (endpoint, region, credentials from the standard
//! variables), signalled (SIGTERM, SIGKILL), waited for with a limit. Its stderr and
//! stdout go to files in the test's directory, printed when the test fails.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::bins;
use super::localstack::LocalStack;
use super::{report, tail};

/// The region the consumer tests use.
pub const REGION: &str = "us-east-1";

/// A running (or finished) `processor run`.
pub struct Consumer {
    child: Child,
    status: Option<ExitStatus>,
    /// Its stderr (logs).
    pub log: PathBuf,
    label: String,
}

impl Consumer {
    /// Starts `processor run --queue-url QUEUE ARGS...` against `ls`, with metrics off
    /// and text logs unless `args` say otherwise; `label` names its log files in `dir`.
    /// Every `PROCESSOR_*` and `AWS_*` variable of the test's own environment is
    /// removed, so only the arguments and the LocalStack environment apply.
    pub fn start(
        ls: &LocalStack,
        dir: &Path,
        label: &str,
        queue_url: &str,
        args: &[&str],
    ) -> Consumer {
        Self::start_with_env(ls, dir, label, queue_url, args, &[])
    }

    /// [`Consumer::start`] with `env` set over LocalStack's (another
    /// `AWS_ENDPOINT_URL`, say).
    pub fn start_with_env(
        ls: &LocalStack,
        dir: &Path,
        label: &str,
        queue_url: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Consumer {
        let log = dir.join(format!("{label}.stderr.log"));
        let out = dir.join(format!("{label}.stdout.log"));
        let mut cmd = Command::new(bins::processor());
        cmd.arg("run").args(["--queue-url", queue_url]);
        if !args.contains(&"--metrics-addr") {
            cmd.args(["--metrics-addr", "off"]);
        }
        if !args.contains(&"--log-format") {
            cmd.args(["--log-format", "text"]);
        }
        cmd.args(args);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("PROCESSOR_") || k.starts_with("AWS_") {
                cmd.env_remove(&*k);
            }
        }
        cmd.envs(ls.env(REGION));
        cmd.envs(env.iter().copied());
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info");
        }
        cmd.stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).expect("consumer stdout file"))
            .stderr(std::fs::File::create(&log).expect("consumer log file"))
            .process_group(0);
        super::die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", bins::processor()));
        Consumer {
            child,
            status: None,
            log,
            label: label.to_string(),
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, sig: libc::c_int) {
        if self.status.is_none() {
            // SAFETY: kill(2) on our own child, which is not yet reaped (so its pid
            // cannot have been reused).
            unsafe {
                libc::kill(self.child.id() as libc::pid_t, sig);
            }
        }
    }

    /// Asks it to stop gracefully.
    pub fn sigterm(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Kills it at once and reaps it.
    pub fn kill(&mut self) -> ExitStatus {
        self.signal(libc::SIGKILL);
        self.wait_blocking()
    }

    fn wait_blocking(&mut self) -> ExitStatus {
        if let Some(s) = self.status {
            return s;
        }
        let s = self.child.wait().expect("wait for processor run");
        self.status = Some(s);
        s
    }

    /// Whether it has exited (and its status then).
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("poll processor run");
        }
        self.status
    }

    /// Waits for it to exit, at most `limit`; `None` if it is still running then.
    pub async fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.try_status() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits at most `limit` for it to exit and asserts it exited with status 0.
    pub async fn expect_success(&mut self, limit: Duration) {
        match self.wait(limit).await {
            Some(s) if s.success() => {}
            Some(s) => panic!(
                "processor run ({}) exited with {s}; log:\n{}",
                self.label,
                self.log_tail(40)
            ),
            None => panic!(
                "processor run ({}) still running after {limit:?}; log:\n{}",
                self.label,
                self.log_tail(40)
            ),
        }
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log, lines)
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let was_running = self.try_status().is_none();
        if was_running {
            self.kill();
        }
        // A consumer still running when dropped means the test stopped early (a
        // failure or its time limit): show what it was doing.
        if std::thread::panicking() || was_running {
            report(&format!(
                "--- processor run ({}) log, last 40 lines:\n{}\n---",
                self.label,
                self.log_tail(40)
            ));
        }
    }
}
