//! A moto server of the test's own (`MOTO_SERVER_BIN`, installed by `tests/run.sh`), on a
//! free 127.0.0.1 port, killed on drop. The LocalStack build used here has no
//! CloudTrail, so `event-rule`'s trail check is pointed at moto
//! (`AWS_ENDPOINT_URL_CLOUDTRAIL`), which holds a logging multi-region trail.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{free_port, http_get, http_request, sdk_config, skip, tail};

/// The environment variable naming moto's server executable.
pub const BIN_ENV: &str = "MOTO_SERVER_BIN";

/// A running moto server.
pub struct Moto {
    child: Child,
    _dir: TempDir,
    log: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl Moto {
    /// Starts `$MOTO_SERVER_BIN`; `None` (after saying why) when it is not set, a
    /// failure under CI.
    pub fn start(test: &str) -> Option<Moto> {
        let bin = match std::env::var_os(BIN_ENV) {
            Some(b) if !b.is_empty() => PathBuf::from(b),
            _ => {
                skip(test, &format!("{BIN_ENV} not set (moto is not installed)"));
                return None;
            }
        };
        let mut last_err = String::new();
        for _ in 0..3 {
            match Moto::try_start(&bin) {
                Ok(m) => return Some(m),
                Err(e) => last_err = e,
            }
        }
        panic!("{test}: moto did not start: {last_err}");
    }

    fn try_start(bin: &PathBuf) -> Result<Moto, String> {
        let dir = tempfile::Builder::new()
            .prefix("moto-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let port = free_port();
        let log = dir.path().join("moto.log");
        let err = std::fs::File::create(&log).map_err(|e| format!("log file: {e}"))?;
        let mut cmd = Command::new(bin);
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .process_group(0);
        super::die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
        let mut moto = Moto {
            child,
            _dir: dir,
            log,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                return Err(format!(
                    "exited with {status}; log:\n{}",
                    tail(&moto.log, 30)
                ));
            }
            if http_get(&moto.endpoint, "/moto-api/").is_some() {
                return Ok(moto);
            }
            if Instant::now() > deadline {
                return Err(format!("not answering on port {port} after 60 s"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Creates a logging, multi-region trail homed in `region` (with its bucket), in
    /// the account moto gives the test credentials.
    pub async fn logging_trail(&self, region: &str) {
        let bucket = format!("trail-bucket-{region}");
        let (status, body) = http_request(&self.endpoint, "PUT", &format!("/{bucket}"), &[])
            .expect("moto: create bucket");
        assert!(status < 300, "moto: create bucket: HTTP {status} {body}");
        let ct = aws_sdk_cloudtrail::Client::new(&sdk_config(&self.endpoint, region).await);
        let name = "org-trail";
        ct.create_trail()
            .name(name)
            .s3_bucket_name(&bucket)
            .is_multi_region_trail(true)
            .send()
            .await
            .expect("moto: create trail");
        ct.start_logging()
            .name(name)
            .send()
            .await
            .expect("moto: start logging");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on the process group this server leads.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
        let _ = self.child.wait();
        if std::thread::panicking() {
            super::report(&format!(
                "--- moto log ({}), last 30 lines:\n{}\n---",
                self.endpoint,
                tail(&self.log, 30)
            ));
        }
    }
}
