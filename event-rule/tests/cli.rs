//! The CLI's errors and the `policy` command: clear messages, exit code 1, no panic, no
//! AWS endpoint needed.

use std::process::Command;

use serde_json::Value;

/// Runs `event-rule` with no credentials anywhere and a dead endpoint.
fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_event-rule"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent/event-rule-test")
        .env("AWS_CONFIG_FILE", "/nonexistent/event-rule-test")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/event-rule-test",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("RUST_LOG", "off")
        .output()
        .expect("run event-rule");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_clean_failure(code: i32, stderr: &str, needle: &str) {
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains(needle), "expected `{needle}` in: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("stack backtrace"), "{stderr}");
}

#[test]
fn missing_credentials_is_a_clear_error() {
    let (code, _, err) = run(&["setup"]);
    assert_clean_failure(code, &err, "error: no AWS credentials");
    let (code, _, err) = run(&["status", "--json"]);
    assert_clean_failure(code, &err, "no AWS credentials");
}

#[test]
fn invalid_arguments_are_refused_before_any_call() {
    let (code, _, err) = run(&["setup", "--accounts", "12345"]);
    assert_clean_failure(
        code,
        &err,
        "invalid argument: `12345` in --accounts is not a 12-digit account id",
    );
    let (code, _, err) = run(&["setup", "--regions", "mars"]);
    assert_clean_failure(code, &err, "`mars` in --regions is not a region name");
    let (code, _, err) = run(&["plan", "--scanner-external-id", "abc"]);
    assert_clean_failure(
        code,
        &err,
        "--scanner-external-id requires --scanner-principal",
    );
    // Usage errors exit 1 too: 2 is what `status` means by drift.
    let (code, _, err) = run(&["setup", "--services", "ec2,\"x\""]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("invalid service name"), "{err}");
    let (code, _, err) = run(&["status", "--max-receive-count", "0"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--max-receive-count"), "{err}");
    let (code, out, _) = run(&["status", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Usage"), "{out}");
}

#[test]
fn queue_attribute_flags_are_checked_before_any_call() {
    // A Lambda consumer needs six times its timeout; a shorter explicit visibility is
    // refused, naming both flags.
    let (code, _, err) = run(&[
        "setup",
        "--lambda-timeout",
        "100",
        "--visibility-timeout",
        "599",
    ]);
    assert_clean_failure(
        code,
        &err,
        "--visibility-timeout 599 is shorter than 6 times --lambda-timeout 100 (600 s)",
    );
    for (flag, value) in [
        ("--receive-wait-time", "21"),
        ("--message-retention", "59"),
        ("--visibility-timeout", "43201"),
        ("--lambda-timeout", "901"),
    ] {
        let (code, _, err) = run(&["status", flag, value]);
        assert_eq!(code, 1, "{flag} {value}: {err}");
        assert!(err.contains(flag), "{flag} {value}: {err}");
    }
    // The defaults are the documented constants, shown in the help.
    let (code, out, _) = run(&["setup", "--help"]);
    assert_eq!(code, 0);
    let visibility = event_rule::config::DEFAULT_VISIBILITY_TIMEOUT_SECS;
    assert!(out.contains(&format!("else {visibility}")), "{out}");
    for default in [
        event_rule::config::DEFAULT_RECEIVE_WAIT_SECS,
        event_rule::config::DEFAULT_MESSAGE_RETENTION_SECS,
    ] {
        assert!(out.contains(&format!("[default: {default}]")), "{out}");
    }
    assert!(out.contains("--strict") && out.contains("--replace-foreign-statements"));
}

#[test]
fn an_over_long_pattern_is_refused_before_any_call() {
    let services: Vec<String> = (0..120).map(|i| format!("someservice{i}")).collect();
    let (code, _, err) = run(&["setup", "--services", &services.join(",")]);
    assert_clean_failure(code, &err, "over EventBridge's limit of 2048");
    // The classic list fits.
    let (code, out, err) = run(&["policy", "setup", "--services", "seed"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("events:PutRule"));
}

#[test]
fn policy_prints_least_privilege_documents() {
    for cmd in ["setup", "plan", "status", "teardown"] {
        let (code, out, err) = run(&["policy", cmd]);
        assert_eq!(code, 0, "{err}");
        let doc: Value = serde_json::from_str(&out).expect("policy is JSON");
        assert_eq!(doc["Version"], "2012-10-17");
        let text = out.to_string();
        if cmd == "plan" || cmd == "status" {
            assert!(
                !text.contains("Create") && !text.contains("Delete") && !text.contains(":Put"),
                "{text}"
            );
        }
    }
    let (_, out, _) = run(&["policy", "setup", "--organization", "--role-name", "Member"]);
    assert!(
        out.contains("organizations:ListAccounts") && out.contains("role/Member"),
        "{out}"
    );
}

/// Actions the tool uses that the Service Authorization Reference gives no resource
/// type (and no condition key): IAM matches them only against `"*"`, so a statement
/// naming ARNs for them denies them in AWS, which no local endpoint shows.
const WITHOUT_RESOURCE_TYPE: &[&str] = &[
    "sns:Unsubscribe",
    "sns:GetSubscriptionAttributes",
    "sns:SetSubscriptionAttributes",
    "sts:GetCallerIdentity",
    "organizations:DescribeOrganization",
    "organizations:ListAccounts",
    "ec2:DescribeRegions",
    "cloudtrail:DescribeTrails",
];

#[test]
fn actions_without_a_resource_type_are_granted_on_star_only() {
    let mut seen = std::collections::BTreeSet::new();
    for cmd in ["setup", "plan", "status", "teardown"] {
        let (code, out, err) = run(&["policy", cmd, "--organization", "--role-name", "Member"]);
        assert_eq!(code, 0, "{err}");
        let doc: Value = serde_json::from_str(&out).expect("policy is JSON");
        for st in doc["Statement"].as_array().expect("statements") {
            let actions: Vec<&str> = match &st["Action"] {
                Value::String(a) => vec![a.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                other => panic!("Action {other}"),
            };
            for a in actions.iter().filter(|a| WITHOUT_RESOURCE_TYPE.contains(a)) {
                seen.insert(a.to_string());
                let star = st["Resource"] == "*" || st["Resource"] == serde_json::json!(["*"]);
                assert!(star, "{cmd}: {a} in {st}");
            }
        }
    }
    // The subscription actions are used (by setup, status and teardown).
    for a in [
        "sns:Unsubscribe",
        "sns:GetSubscriptionAttributes",
        "sns:SetSubscriptionAttributes",
    ] {
        assert!(seen.contains(a), "{a} is in no printed policy");
    }
}

#[test]
fn templates_are_written_and_checked_without_aws() {
    let dir = std::env::temp_dir().join(format!("event-rule-templates-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out_dir = dir.to_str().unwrap();
    // Nothing there yet: the check fails, naming what is missing.
    let (code, _, err) = run(&["templates", "--check", "--out", out_dir]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("out of date") && err.contains("central-queue.json"),
        "{err}"
    );
    let (code, out, err) = run(&["templates", "--out", out_dir]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 7, "{out}");
    for line in out.lines().filter(|l| l.ends_with(".json")) {
        let t: Value = serde_json::from_str(&std::fs::read_to_string(line).unwrap()).unwrap();
        assert_eq!(t["AWSTemplateFormatVersion"], "2010-09-09", "{line}");
    }
    let (code, _, err) = run(&["templates", "--check", "--out", out_dir]);
    assert_eq!(code, 0, "{err}");
    // A hand edit is found.
    let path = dir.join("scanner-role.json");
    let edited = std::fs::read_to_string(&path)
        .unwrap()
        .replace("SecurityAudit", "ReadOnlyAccess");
    std::fs::write(&path, edited).unwrap();
    let (code, _, err) = run(&["templates", "--check", "--out", out_dir]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("scanner-role.json") && !err.contains("central-queue"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn session_duration_and_progress_flags() {
    // STS's range: 900 s to 12 hours.
    let (code, _, err) = run(&["setup", "--session-duration", "60"]);
    assert_clean_failure(code, &err, "--session-duration");
    let (code, _, err) = run(&["setup", "--session-duration", "43201"]);
    assert_clean_failure(code, &err, "--session-duration");
    // Accepted: the run goes on to look for credentials.
    let (code, _, err) = run(&["setup", "--session-duration", "900", "--no-progress"]);
    assert_clean_failure(code, &err, "no AWS credentials");
}
