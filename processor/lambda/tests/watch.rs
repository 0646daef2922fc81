//! The real `processor-lambda` binary behind `cargo lambda watch`'s runtime API
//! emulator (`--only-lambda-apis`: the test starts the binary cargo built for it, so
//! nothing is compiled again with another feature set), invoked as Lambda invokes it.
//!
//! - `invoked_through_cargo_lambda`: `cargo lambda invoke` with SQS events; the
//!   response and what reached an HTTP sink on 127.0.0.1; JSON logs with the request
//!   id; SIGTERM runs the graceful-shutdown hook.
//! - `event_source_mapping_over_a_localstack_queue`: the test plays the event source
//!   mapping over a LocalStack queue with a dead-letter queue (`maxReceiveCount` 1; receive in batches,
//!   invoke, delete only what `batchItemFailures` does not name) over 5,100 messages,
//!   100 of them malformed: every good event's rescan reaches the sink queue, the
//!   malformed ones the dead-letter queue.
//! - `deploy_dry_run`: `cargo lambda deploy --dry` with the README's flags.
//!
//! They read `CARGO_LAMBDA_BIN` (the `cargo-lambda` executable) and, for LocalStack,
//! `LOCALSTACK_PYTHON`; without them they say so and skip (under `CI`, they fail).

mod common;

use std::collections::{BTreeSet, HashSet};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use common::{read, sns, subscription_confirmation, write, TOPIC};
use integration_tests::harness::localstack::LocalStack;
use integration_tests::harness::sink::HttpSink;
use integration_tests::harness::{self, die_with_parent, free_port, report, skip, tail};
use serde_json::{json, Value};
use tempfile::TempDir;

const CARGO_LAMBDA_ENV: &str = "CARGO_LAMBDA_BIN";
const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:000000000000:events";

fn cargo_lambda(test: &str) -> Option<PathBuf> {
    match std::env::var_os(CARGO_LAMBDA_ENV) {
        Some(p) if !p.is_empty() => {
            let p = PathBuf::from(p);
            assert!(
                p.exists(),
                "{CARGO_LAMBDA_ENV}={} does not exist",
                p.display()
            );
            Some(p)
        }
        _ => {
            skip(
                test,
                &format!("{CARGO_LAMBDA_ENV} not set (cargo-lambda is not installed)"),
            );
            None
        }
    }
}

/// `cargo lambda watch --only-lambda-apis` and the function binary talking to it.
struct Emulator {
    watch: Child,
    function: Child,
    cargo_lambda: PathBuf,
    dir: TempDir,
    port: u16,
}

fn kill(child: &mut Child) {
    let pid = child.id() as libc::pid_t;
    // SAFETY: kill(2) on the process group of a child this test started.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
    let _ = child.wait();
}

impl Emulator {
    /// Starts the emulator on a free port, then the function with `env`.
    fn start(cargo_lambda: &Path, env: &[(String, String)]) -> Emulator {
        // Logs outside the project: watch rebuilds on changes under it.
        let dir = tempfile::Builder::new()
            .prefix("processor-lambda-")
            .tempdir()
            .expect("temp dir");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("watch.log")).expect("watch log");
        let mut cmd = Command::new(cargo_lambda);
        cmd.args(["lambda", "watch", "--only-lambda-apis", "--invoke-address"])
            .arg("127.0.0.1")
            .arg("--invoke-port")
            .arg(port.to_string())
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .process_group(0);
        die_with_parent(&mut cmd);
        let watch = cmd.spawn().expect("start cargo lambda watch");
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch not listening; log:\n{}",
                tail(&dir.path().join("watch.log"), 30)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = std::fs::File::create(dir.path().join("function.log")).expect("function log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_processor-lambda"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt"),
            )
            // The name `--only-lambda-apis` serves.
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .process_group(0);
        die_with_parent(&mut cmd);
        let function = cmd.spawn().expect("start processor-lambda");
        Emulator {
            watch,
            function,
            cargo_lambda: cargo_lambda.to_path_buf(),
            dir,
            port,
        }
    }

    fn function_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("function.log")).unwrap_or_default()
    }

    /// `cargo lambda invoke` with `event` as the data file; the response.
    fn invoke_cli(&self, event: &Value) -> Value {
        let file = self.dir.path().join("event.json");
        std::fs::write(&file, event.to_string()).expect("event file");
        let out = Command::new(&self.cargo_lambda)
            .args(["lambda", "invoke", "--invoke-address", "127.0.0.1"])
            .arg("--invoke-port")
            .arg(self.port.to_string())
            .arg("--data-file")
            .arg(&file)
            .output()
            .expect("cargo lambda invoke");
        assert!(
            out.status.success(),
            "cargo lambda invoke: {}\nfunction log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.function_log()
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "response is not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// The same call the Lambda service makes; the response.
    async fn invoke_http(&self, client: &reqwest::Client, event: &Value) -> Value {
        let url = format!(
            "http://127.0.0.1:{}/2015-03-31/functions/_/invocations",
            self.port
        );
        let resp = client.post(url).json(event).send().await.expect("invoke");
        assert!(resp.status().is_success(), "invoke: {}", resp.status());
        resp.json().await.expect("response JSON")
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        kill(&mut self.function);
        kill(&mut self.watch);
        if std::thread::panicking() {
            eprintln!(
                "function log:\n{}",
                tail(&self.dir.path().join("function.log"), 60)
            );
        }
    }
}

/// An SQS event as the event source mapping sends it.
fn sqs_event(records: &[(String, String, u32)]) -> Value {
    let records: Vec<Value> = records
        .iter()
        .map(|(id, body, count)| {
            json!({
                "messageId": id,
                "receiptHandle": format!("handle-{id}"),
                "body": body,
                "attributes": {"ApproximateReceiveCount": count.to_string(), "SentTimestamp": "1688989357000"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": QUEUE_ARN,
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    json!({ "Records": records })
}

fn failures(response: &Value) -> Vec<String> {
    response["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("no batchItemFailures in {response}"))
        .iter()
        .map(|f| {
            f["itemIdentifier"]
                .as_str()
                .expect("itemIdentifier")
                .to_string()
        })
        .collect()
}

/// (ARN, event ids) of rescan requests, sorted.
fn requests(values: &[Value]) -> Vec<(String, Vec<String>)> {
    let mut v: Vec<(String, Vec<String>)> = values
        .iter()
        .map(|r| {
            (
                r["arn"].as_str().unwrap_or("").to_string(),
                r["events"]
                    .as_array()
                    .map(|e| {
                        e.iter()
                            .map(|e| e["event_id"].as_str().unwrap_or("").to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v
}

fn batch(items: &[(&str, String)]) -> Value {
    sqs_event(
        &items
            .iter()
            .map(|(id, b)| (id.to_string(), b.clone(), 1))
            .collect::<Vec<_>>(),
    )
}

#[test]
fn invoked_through_cargo_lambda() {
    let test = "invoked_through_cargo_lambda";
    let Some(cl) = cargo_lambda(test) else {
        return;
    };
    let sink = HttpSink::start("/rescan");
    let env: Vec<(String, String)> = [
        ("PROCESSOR_SINKS", sink.url.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut emu = Emulator::start(&cl, &env);

    let good = write("e-good", "bucket-a");
    let first = emu.invoke_cli(&batch(&[
        ("m-good", sns(&good, 1)),
        ("m-other", sns(&write("e-other", "bucket-b"), 2)),
        ("m-read", sns(&read("e-read", "bucket-a"), 3)),
        ("m-malformed", "{\"Type\":\"Notification\",\"Mess".into()),
        ("m-subscription", subscription_confirmation(TOPIC)),
        ("m-duplicate", sns(&good, 4)),
    ]));
    assert_eq!(failures(&first), ["m-malformed", "m-subscription"]);
    let arn = |b: &str| format!("arn:aws:s3:::{b}");
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        requests(&sink.requests()),
        [
            (arn("bucket-a"), ids(&["e-good"])),
            (arn("bucket-b"), ids(&["e-other"]))
        ]
    );

    // The sink now refuses (500, retried, then given up): the new event's record comes
    // back; the read-only one and the redelivered done one do not.
    sink.set_failing(true);
    let second = emu.invoke_cli(&batch(&[
        ("m-new", sns(&write("e-new", "bucket-c"), 5)),
        ("m-read-again", sns(&read("e-read-2", "bucket-c"), 6)),
        ("m-good-again", sns(&good, 7)),
    ]));
    assert_eq!(failures(&second), ["m-new"]);
    assert!(sink.refused() > 0);
    assert_eq!(sink.requests().len(), 2, "nothing more was accepted");

    // JSON lines; every line of an invocation names its request id.
    let log = emu.function_log();
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let handled: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "batch handled")
        .collect();
    assert_eq!(handled.len(), 2, "log:\n{log}");
    assert_eq!(handled[0]["failures"], 2);
    let request_ids: HashSet<&str> = handled
        .iter()
        .map(|l| l["span"]["requestId"].as_str().expect("requestId"))
        .collect();
    assert_eq!(request_ids.len(), 2);
    let warned = lines
        .iter()
        .find(|l| l["message_id"] == "m-malformed")
        .expect("the malformed record is logged");
    assert_eq!(warned["level"], "WARN");
    assert!(warned["span"]["requestId"].is_string());

    // SIGTERM: the graceful-shutdown hook writes out what is buffered, exit 0.
    // SAFETY: kill(2) on the function process this test started.
    unsafe {
        libc::kill(emu.function.id() as libc::pid_t, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = emu.function.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    let log = emu.function_log();
    assert!(
        log.lines().any(|l| l.contains("\"shutting down\"")),
        "log:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_source_mapping_over_a_localstack_queue() {
    let test = "event_source_mapping_over_a_localstack_queue";
    let Some(cl) = cargo_lambda(test) else {
        return;
    };
    let Some(ls) = LocalStack::start(test) else {
        return;
    };
    let sqs = ls.sqs("us-east-1").await;
    // Failures become visible again after 5 s (well past an invocation and its
    // deletes); a second receive moves them to the dead-letter queue.
    let queues = harness::sqs::queue_with_dlq(&sqs, "events", 5, 1).await;
    let rescans = sqs
        .create_queue()
        .queue_name("rescans")
        .send()
        .await
        .expect("create rescans queue")
        .queue_url
        .expect("queue URL");

    const GOOD: usize = 5_000;
    let mut bodies = Vec::new();
    let mut good_ids = BTreeSet::new();
    let mut malformed = BTreeSet::new();
    for i in 0..GOOD {
        if i % 50 == 25 {
            let bad = format!("{{\"Type\":\"Notification\",\"MessageId\":\"bad-{i}\",\"Message\":\"{{\\\"truncated");
            malformed.insert(bad.clone());
            bodies.push(bad);
        }
        let id = format!("00000000-0000-4000-8000-{i:012}");
        bodies.push(sns(&write(&id, &format!("bucket-{i}")), i as u64));
        good_ids.insert(id);
    }
    assert_eq!(malformed.len(), 100);
    let t = Instant::now();
    harness::sqs::send_all(&sqs, &queues.url, &bodies, 4).await;
    report(&format!(
        "{test}: {} messages sent in {:.1} s",
        bodies.len(),
        t.elapsed().as_secs_f64()
    ));

    let mut env = ls.env("us-east-1");
    env.push(("PROCESSOR_SINKS".into(), format!("sqs:{rescans}")));
    let emu = Emulator::start(&cl, &env);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .expect("http client");

    // The event source mapping: batches of up to 100 (receives of 10 until full or
    // empty), one invocation at a time, deletes of what did not fail.
    const BATCH: usize = 100;
    let started = Instant::now();
    let limit = started + Duration::from_secs(600);
    let (mut invocations, mut deleted, mut reported) = (0usize, 0usize, 0usize);
    loop {
        assert!(Instant::now() < limit, "the queue did not drain in time");
        let mut records: Vec<(String, String, u32)> = Vec::new();
        let mut handles = std::collections::HashMap::new();
        while records.len() < BATCH {
            let out = sqs
                .receive_message()
                .queue_url(&queues.url)
                .max_number_of_messages(10)
                .wait_time_seconds(if records.is_empty() { 1 } else { 0 })
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send()
                .await
                .expect("ReceiveMessage");
            let msgs = out.messages.unwrap_or_default();
            if msgs.is_empty() {
                break;
            }
            for m in msgs {
                let id = m.message_id.clone().expect("message id");
                let count = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                handles.insert(id.clone(), m.receipt_handle.clone().expect("handle"));
                records.push((id, m.body.unwrap_or_default(), count));
            }
        }
        if records.is_empty() {
            if harness::sqs::counts(&sqs, &queues.url).await.total() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            continue;
        }
        let response = emu.invoke_http(&client, &sqs_event(&records)).await;
        invocations += 1;
        let failed: HashSet<String> = failures(&response).into_iter().collect();
        reported += failed.len();
        let done: Vec<&String> = handles.keys().filter(|id| !failed.contains(*id)).collect();
        for chunk in done.chunks(10) {
            let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(&handles[*id])
                        .build()
                        .expect("entry")
                })
                .collect();
            let out = sqs
                .delete_message_batch()
                .queue_url(&queues.url)
                .set_entries(Some(entries))
                .send()
                .await
                .expect("DeleteMessageBatch");
            assert!(out.failed.is_empty(), "deletes failed: {:?}", out.failed);
            deleted += chunk.len();
        }
    }
    let elapsed = started.elapsed();
    report(&format!(
        "{test}: {} messages through {invocations} invocations in {:.1} s ({:.0} msg/s); {deleted} deleted, {reported} reported as failures",
        bodies.len(),
        elapsed.as_secs_f64(),
        bodies.len() as f64 / elapsed.as_secs_f64()
    ));
    assert_eq!(deleted, GOOD, "exactly the good messages were deleted");
    assert_eq!(
        reported,
        malformed.len(),
        "each malformed one failed once, then left for the DLQ"
    );

    let dead = harness::sqs::drain(
        &sqs,
        &queues.dlq_url,
        malformed.len(),
        Duration::from_secs(60),
    )
    .await;
    let dead: BTreeSet<String> = dead.into_iter().map(|r| r.body).collect();
    assert_eq!(dead, malformed);

    let got = harness::sqs::drain(&sqs, &rescans, GOOD, Duration::from_secs(240)).await;
    let mut seen = BTreeSet::new();
    for r in &got {
        let req: Value = serde_json::from_str(&r.body).expect("a rescan request");
        for e in req["events"].as_array().expect("events") {
            seen.insert(e["event_id"].as_str().expect("event_id").to_string());
        }
    }
    assert_eq!(got.len(), GOOD, "one request per bucket");
    assert_eq!(seen, good_ids, "every good event's rescan arrived");
    assert!(!emu.function_log().contains("panicked"));
}

#[test]
fn deploy_dry_run() {
    let test = "deploy_dry_run";
    let Some(cl) = cargo_lambda(test) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    // The README's flags; the binary cargo built for the tests stands in for the
    // release one (the package is what is checked, not the code).
    let binary = dir.path().join("bootstrap");
    std::fs::copy(env!("CARGO_BIN_EXE_processor-lambda"), &binary).expect("copy binary");
    let sink = "sqs:https://sqs.us-west-2.amazonaws.com/111122223333/rescans";
    let role = "arn:aws:iam::111122223333:role/processor-lambda";
    let out = Command::new(&cl)
        .args([
            "lambda",
            "deploy",
            "processor-lambda",
            "--dry",
            "--output-format",
            "json",
        ])
        .arg("--binary-path")
        .arg(&binary)
        .args(["--region", "us-west-2", "--iam-role", role])
        .args(["--memory", "128", "--timeout", "60"])
        .args(["--env-var", &format!("PROCESSOR_SINKS={sink}")])
        .args(["--env-var", "PROCESSOR_WINDOW=30"])
        .args([
            "--manifest-path",
            concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
        ])
        .current_dir(dir.path())
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("cargo lambda deploy --dry");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    // A progress line may come first.
    let plan: Value = serde_json::from_str(&stdout[stdout.find('{').expect("JSON")..])
        .unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(plan["kind"], "function");
    assert_eq!(plan["name"], "processor-lambda");
    assert_eq!(plan["arch"], "x86_64");
    assert_eq!(plan["files"], json!(["bootstrap"]));
    assert_eq!(plan["sdk_config"]["region"], "us-west-2");
    let config = &plan["config"];
    assert_eq!(config["memory"], 128);
    assert_eq!(config["timeout"], 60);
    assert_eq!(config["role"], role);
    assert_eq!(config["runtime"], "provided.al2023");
    assert_eq!(
        config["env_var"],
        json!([format!("PROCESSOR_SINKS={sink}"), "PROCESSOR_WINDOW=30"])
    );
    // The package it would upload holds the binary as `bootstrap`.
    let zip = PathBuf::from(plan["path"].as_str().expect("path"));
    let bytes = std::fs::read(&zip).expect("the zip it made");
    assert!(bytes.starts_with(b"PK"), "a zip file");
    assert!(
        bytes.windows(b"bootstrap".len()).any(|w| w == b"bootstrap"),
        "bootstrap in the zip"
    );
}
