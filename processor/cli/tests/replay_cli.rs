//! `processor replay` as a user runs it: every input form, the summary, invalid lines.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use processor_core::RescanRequest;
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("processor-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn record(name: &str) -> String {
    let text =
        std::fs::read_to_string(fixtures().join("records").join(format!("{name}.json"))).unwrap();
    serde_json::from_str::<Value>(&text).unwrap().to_string()
}

fn processor(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_processor"));
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.env_remove("PROCESSOR_WINDOW");
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn requests(out: &Output) -> Vec<RescanRequest> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Runs `processor replay --stats-json TMP ARGS...`: the output and the summary.
fn replay_with_stats(stats_name: &str, args: &[&str]) -> (Output, Value) {
    let stats_path = tmp(stats_name);
    let mut all = vec!["replay", "--stats-json", stats_path.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = processor(&all, None);
    let summary = if out.status.success() {
        stats(&stats_path)
    } else {
        Value::Null
    };
    (out, summary)
}

fn stats(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn replays_the_bundled_sample() {
    let sample = fixtures().join("sample.ndjson");
    let (out, s) = replay_with_stats("sample-stats.json", &[sample.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reqs = requests(&out);
    assert_eq!(
        reqs.len(),
        9,
        "CreateRole and AttachRolePolicy merge: one role"
    );
    let arns: Vec<&str> = reqs.iter().filter_map(|r| r.arn.as_deref()).collect();
    for want in [
        "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc1234567890def",
        "arn:aws:s3:::amzn-s3-demo-bucket",
        "arn:aws:iam::123456789012:role/service-role/app-reader",
        "arn:aws:lambda:us-east-1:123456789012:function:my-function",
        "arn:aws:ssm:us-east-1:123456789012:parameter/app/db/password",
        "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:ec2:us-east-1:123456789012:security-group/sg-0123456789abcdef0",
    ] {
        assert!(arns.contains(&want), "{want} missing from {arns:?}");
    }
    assert_eq!(s["messages"], 13);
    assert_eq!(s["events"], 12);
    assert_eq!(s["kept"], 9);
    assert_eq!(
        s["dropped"],
        serde_json::json!({"duplicate": 1, "failed": 1, "read_only": 1})
    );
    assert_eq!(s["subscription_messages"], 1);
    assert_eq!(s["invalid"], 0);
    assert_eq!(s["rescans"]["resource"], 9);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("kept=9"), "{stderr}");
}

#[test]
fn invalid_lines_are_reported_with_their_numbers_and_do_not_stop_the_run() {
    let path = tmp("mixed.ndjson");
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, "{}", record("kms-create-key")).unwrap();
    writeln!(f, "{{\"Type\":\"Notification\",\"Message\":\"{{trunc").unwrap();
    writeln!(f).unwrap();
    writeln!(f, "{}", record("ssm-put-parameter")).unwrap();
    f.write_all(b"{\"eventName\":\"\xff\xfe\"}\n").unwrap();
    writeln!(f, "{{\"detail-type\":\"Scheduled Event\",\"detail\":{{}}}}").unwrap();
    drop(f);
    let (out, s) = replay_with_stats("mixed-stats.json", &[path.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(requests(&out).len(), 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let name = path.to_str().unwrap();
    assert!(
        stderr.contains(&format!("{name}:2: invalid JSON")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{name}:5: body is not valid UTF-8")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{name}:6: EventBridge event of detail-type `Scheduled Event`"
        )),
        "{stderr}"
    );
    assert_eq!(s["invalid"], 3);
    assert_eq!(
        s["invalid_by_kind"],
        serde_json::json!({"invalid_json": 1, "invalid_utf8": 1, "not_cloudtrail": 1})
    );
    let lines: Vec<u64> = s["invalid_inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [2, 5, 6]);
}

#[test]
fn gzipped_pretty_printed_log_file_and_stdin() {
    let log = serde_json::json!({"Records": [
        serde_json::from_str::<Value>(&record("ec2-run-instances")).unwrap(),
        serde_json::from_str::<Value>(&record("ec2-terminate-instances")).unwrap(),
        serde_json::from_str::<Value>(&record("ec2-describe-instances")).unwrap(),
    ]});
    let pretty = serde_json::to_string_pretty(&log).unwrap();
    let path = tmp("123456789012_CloudTrail_us-east-1_20230710T1145Z_abc.json.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(pretty.as_bytes()).unwrap();
    gz.finish().unwrap();

    let out = processor(&["replay", "--window", "0", path.to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reqs = requests(&out);
    assert_eq!(reqs.len(), 3, "two instances launched, one terminated");
    assert_eq!(
        reqs.iter()
            .filter(|r| r.action == processor_core::Action::Delete)
            .count(),
        1
    );

    let from_stdin = processor(&["replay", "--window", "0", "-"], Some(pretty.as_bytes()));
    assert!(from_stdin.status.success());
    assert_eq!(requests(&from_stdin), reqs, "the same document from stdin");
}

#[test]
fn captured_queue_messages() {
    let body = processor_core::wrap::sns_notification(
        &processor_core::wrap::eventbridge_event(&record("kms-create-key"), "eb-1").unwrap(),
        &processor_core::wrap::WrapIds {
            event_bridge_id: "eb-1",
            sns_message_id: "sns-1",
            topic_arn: "arn:aws:sns:eu-west-1:123456789012:cloudcoreo-events",
            sns_timestamp: "2023-07-10T11:48:01.000Z",
        },
        true,
    );
    let lambda = processor_core::wrap::lambda_sqs_event(
        &[("m-1", &body)],
        "arn:aws:sqs:us-west-2:123456789012:cloudcoreo-events-queue",
    );
    let receive = serde_json::json!({"Messages": [{"MessageId": "m-2", "ReceiptHandle": "AQEB", "Body": body}]}).to_string();
    let a = tmp("lambda-event.json");
    let b = tmp("receive-message.json");
    std::fs::write(&a, lambda).unwrap();
    std::fs::write(&b, receive).unwrap();
    let out = processor(&["replay", a.to_str().unwrap(), b.to_str().unwrap()], None);
    assert!(out.status.success());
    let reqs = requests(&out);
    assert_eq!(reqs.len(), 1, "the second delivery is a duplicate");
    assert_eq!(reqs[0].resource_type.as_deref(), Some("kms:key"));
}

#[test]
fn unreadable_input_fails_clearly() {
    let out = processor(&["replay", "/nonexistent/events.ndjson"], None);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/events.ndjson: cannot read"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
}

#[test]
fn filter_flags_and_environment_fallbacks() {
    let sample = fixtures().join("sample.ndjson");
    let out = processor(
        &[
            "replay",
            "--allow-services",
            "ec2",
            sample.to_str().unwrap(),
        ],
        None,
    );
    assert!(requests(&out).iter().all(|r| r.service == "ec2"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_processor"));
    let out = cmd
        .args(["replay", sample.to_str().unwrap()])
        .env("PROCESSOR_DENY_EVENTS", "RunInstances,iam:*")
        .output()
        .unwrap();
    let reqs = requests(&out);
    assert!(!reqs.is_empty());
    assert!(reqs
        .iter()
        .all(|r| r.service != "iam" && r.events.iter().all(|e| e.event_name != "RunInstances")));
}

#[test]
fn gzip_on_stdin_and_a_byte_order_mark() {
    let ndjson = format!(
        "\u{feff}{}\n{}\n",
        record("kms-create-key"),
        record("ssm-put-parameter")
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(ndjson.as_bytes()).unwrap();
    let bytes = gz.finish().unwrap();
    let out = processor(&["replay", "-"], Some(&bytes));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(requests(&out).len(), 2);
    let out = processor(&["replay", "-"], Some(ndjson.as_bytes()));
    assert_eq!(requests(&out).len(), 2, "BOM stripped");
}

#[test]
fn a_bad_first_line_does_not_change_the_mode_or_the_numbering() {
    for (first, kind) in [
        ("garbage, not JSON", "invalid JSON"),
        ("{\"Records\":[{\"eventVersion\":", "invalid JSON"),
    ] {
        let path = tmp(&format!("bad-first-{}.ndjson", first.len()));
        let text = format!(
            "{first}\n{}\n\n{}\n{{oops\n",
            record("kms-create-key"),
            record("ssm-put-parameter")
        );
        std::fs::write(&path, text).unwrap();
        let (out, s) = replay_with_stats(
            &format!("bad-first-{}.json", first.len()),
            &[path.to_str().unwrap()],
        );
        assert!(out.status.success());
        assert_eq!(requests(&out).len(), 2, "{first}");
        let lines: Vec<u64> = s["invalid_inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["line"].as_u64().unwrap())
            .collect();
        assert_eq!(lines, [1, 5], "{first}: {s}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("{}:1: {kind}", path.to_str().unwrap())),
            "{stderr}"
        );
    }
}

/// `processor replay - | head -1` over an endless input: once standard output is
/// closed the replay stops reading, says so with its summary, and exits 0.
#[test]
fn replay_stops_reading_when_stdout_closes() {
    use std::io::{BufRead, BufReader};
    let template: Value = serde_json::from_str(&record("ssm-put-parameter")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_processor"))
        .args(["replay", "--window", "0", "-"])
        .env_remove("PROCESSOR_WINDOW")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Distinct parameters, one second apart, until the replay is gone.
    let writer = std::thread::spawn(move || {
        let mut sent = 0u64;
        loop {
            let mut r = template.clone();
            r["eventID"] = Value::from(format!("00000000-0000-4000-8000-{sent:012}"));
            r["requestParameters"]["name"] = Value::from(format!("/app/p{sent}"));
            let t = sent % 86_400;
            r["eventTime"] = Value::from(format!(
                "2023-07-10T{:02}:{:02}:{:02}Z",
                t / 3600,
                (t / 60) % 60,
                t % 60
            ));
            if writeln!(stdin, "{r}").is_err() {
                return sent;
            }
            sent += 1;
            if sent > 50_000_000 {
                return sent;
            }
        }
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let req: RescanRequest = serde_json::from_str(&first).unwrap();
    assert_eq!(
        req.arn.as_deref(),
        Some("arn:aws:ssm:us-east-1:123456789012:parameter/app/p0")
    );
    drop(stdout);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "replay kept reading after its output closed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let sent = writer.join().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{status:?}: {err}");
    assert!(err.contains("stopped early"), "{err}");
    assert!(
        err.contains("replay: messages="),
        "the summary is printed: {err}"
    );
    assert!(sent < 50_000_000, "the writer saw the replay go");
}

/// `processor wrap FILE | head -1`: a closed output ends the run quietly with 0.
#[test]
fn wrap_ends_quietly_when_stdout_closes() {
    use std::io::{BufRead, BufReader, Read};
    let path = tmp("wrap-many.ndjson");
    let line = record("ssm-put-parameter") + "\n";
    std::fs::write(&path, line.repeat(200_000)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_processor"))
        .args(["wrap", "--shape", "sns", path.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.contains("\"Notification\""), "{first}");
    drop(stdout);
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{status:?}: {err}");
    assert!(err.is_empty(), "{err}");
}
