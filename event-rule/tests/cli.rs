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
