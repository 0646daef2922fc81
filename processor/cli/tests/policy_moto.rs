//! `processor policy run` against moto enforcing IAM: a user holding exactly the
//! printed actions runs `processor run` over a few messages, which are processed and
//! deleted; a user without `sqs:DeleteMessage` processes them too, but its deletes
//! are refused with an error naming the action, and the messages stay on the queue.
//!
//! Needs `MOTO_SERVER_BIN` (`tests/run.sh` sets it); without it the test prints that it
//! skips.
//!
//! Two things moto does differently from AWS, and what the test does about them:
//! - moto names the action of a batch call after the call (`sqs:DeleteMessageBatch`,
//!   `sqs:ChangeMessageVisibilityBatch`), where AWS authorizes it by the single-message
//!   action the policy grants (`sqs:DeleteMessage`, ...): the test grants moto's batch
//!   name alongside each printed action, and removes both together. (moto checks SQS
//!   calls against the queue's ARN, so the printed resources are kept as they are.)
//! - moto answers a refused call in XML even when it was made in the JSON protocol,
//!   which the SDK cannot read (it reports `unexpected token '<'`, no code). The
//!   consumer reaches moto through [`json_error_proxy`], which passes everything
//!   through unchanged except such bodies, re-encoded as the JSON error AWS sends
//!   (the same code and message).

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::Credentials;
use aws_sdk_sqs::types::QueueAttributeName;
use processor_core::time::format_rfc3339;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const REGION: &str = "us-east-1";
/// The account moto puts everything in.
const ACCOUNT: &str = "123456789012";
const QUEUE: &str = "cloudcoreo-events-queue";

/// A moto server on a free 127.0.0.1 port, killed on drop.
struct Moto {
    child: Child,
    endpoint: String,
    log: std::path::PathBuf,
}

impl Moto {
    /// Starts `$MOTO_SERVER_BIN` with IAM enforced after `free_calls` requests.
    fn start(free_calls: u32, dir: &Path) -> Option<Moto> {
        let Some(bin) = std::env::var_os("MOTO_SERVER_BIN").filter(|b| !b.is_empty()) else {
            eprintln!("skipped: policy_moto: MOTO_SERVER_BIN not set (moto is not installed)");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let log = dir.join("moto.log");
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", free_calls.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("moto log"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin:?}: {e}"));
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(moto)
    }

    fn addr(&self) -> SocketAddr {
        self.endpoint
            .trim_start_matches("http://")
            .parse()
            .expect("moto address")
    }

    async fn sdk(&self, key: &str, secret: &str) -> SdkConfig {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .endpoint_url(&self.endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(key, secret, None, None, "static"))
            .load()
            .await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            eprintln!("--- moto log, last lines:");
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

/// Reads one HTTP/1.1 message head (start line and headers) and its
/// `Content-Length` body; `None` at end of stream. A message without a length is read
/// to the end of the stream.
async fn read_message<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
) -> Option<(String, Vec<(String, String)>, Vec<u8>)> {
    let mut start = String::new();
    if reader.read_line(&mut start).await.ok()? == 0 {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok());
    let mut body = Vec::new();
    match length {
        Some(n) => {
            body.resize(n, 0);
            reader.read_exact(&mut body).await.ok()?;
        }
        None if start.starts_with("HTTP/") => {
            reader.read_to_end(&mut body).await.ok()?;
        }
        None => {}
    }
    Some((start.trim_end().to_string(), headers, body))
}

/// The text between `<tag>` and `</tag>`.
fn xml_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let from = xml.find(&open)? + open.len();
    let to = xml[from..].find(&format!("</{tag}>"))? + from;
    Some(&xml[from..to])
}

/// A proxy on 127.0.0.1 to `upstream`, one upstream connection per request. Requests
/// and responses pass unchanged (so signatures still match), except an XML
/// `ErrorResponse` answering a JSON-protocol call (`X-Amz-Target`), which becomes the
/// JSON error AWS sends: `{"__type": CODE, "message": MESSAGE}`, with SQS's
/// `x-amzn-query-error: CODE;Sender` header. Returns its endpoint.
async fn json_error_proxy(upstream: SocketAddr) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind proxy");
    let addr = listener.local_addr().expect("proxy address");
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = client.into_split();
                let mut reader = BufReader::new(read);
                while let Some((start, headers, body)) = read_message(&mut reader).await {
                    let json_call = headers
                        .iter()
                        .any(|(k, _)| k.eq_ignore_ascii_case("x-amz-target"));
                    let mut request = format!("{start}\r\n").into_bytes();
                    for (k, v) in &headers {
                        if !k.eq_ignore_ascii_case("connection") {
                            request.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
                        }
                    }
                    request.extend_from_slice(b"Connection: close\r\n\r\n");
                    request.extend_from_slice(&body);
                    let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    if up.write_all(&request).await.is_err() {
                        return;
                    }
                    let Some((status, mut rheaders, mut rbody)) =
                        read_message(&mut BufReader::new(&mut up)).await
                    else {
                        return;
                    };
                    let text = String::from_utf8_lossy(&rbody).into_owned();
                    if json_call && text.contains("<ErrorResponse>") {
                        let code = xml_text(&text, "Code")
                            .unwrap_or("InternalFailure")
                            .to_string();
                        let message = xml_text(&text, "Message").unwrap_or_default();
                        rbody = json!({"__type": code, "message": message})
                            .to_string()
                            .into_bytes();
                        rheaders.retain(|(k, _)| {
                            !k.eq_ignore_ascii_case("content-type")
                                && !k.eq_ignore_ascii_case("content-length")
                        });
                        rheaders.push(("Content-Type".into(), "application/x-amz-json-1.0".into()));
                        rheaders.push(("x-amzn-query-error".into(), format!("{code};Sender")));
                    }
                    let mut response = format!("{status}\r\n").into_bytes();
                    for (k, v) in &rheaders {
                        let skip = ["content-length", "connection", "transfer-encoding"];
                        if !skip.iter().any(|s| k.eq_ignore_ascii_case(s)) {
                            response.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
                        }
                    }
                    response.extend_from_slice(
                        format!("Content-Length: {}\r\n\r\n", rbody.len()).as_bytes(),
                    );
                    response.extend_from_slice(&rbody);
                    if write.write_all(&response).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

/// An IAM user holding exactly `policy`; returns its access key.
async fn user(iam: &aws_sdk_iam::Client, name: &str, policy: &Value) -> (String, String) {
    iam.create_user()
        .user_name(name)
        .send()
        .await
        .expect("create user");
    iam.put_user_policy()
        .user_name(name)
        .policy_name("processor-run")
        .policy_document(policy.to_string())
        .send()
        .await
        .expect("put user policy");
    let key = iam
        .create_access_key()
        .user_name(name)
        .send()
        .await
        .expect("create access key")
        .access_key
        .expect("access key");
    (
        key.access_key_id().to_string(),
        key.secret_access_key().to_string(),
    )
}

/// Runs the processor binary with `args` as the user `key`; (exit code, stdout,
/// stderr).
async fn processor(endpoint: &str, key: &(String, String), args: &[&str]) -> (i32, String, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_processor"));
    cmd.args(args);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("PROCESSOR_") || k.starts_with("AWS_") {
            cmd.env_remove(&*k);
        }
    }
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", &key.0)
        .env("AWS_SECRET_ACCESS_KEY", &key.1)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/policy-moto")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/policy-moto")
        .env("RUST_LOG", "info")
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("processor finished within 120 s")
        .expect("run processor");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A CloudTrail record of an instance's termination.
fn terminate(instance: &str, event_id: &str, time: i64) -> String {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{ACCOUNT}:user/Alice"),
                         "accountId": ACCOUNT, "userName": "Alice"},
        "eventTime": format_rfc3339(time),
        "eventSource": "ec2.amazonaws.com",
        "eventName": "TerminateInstances",
        "awsRegion": REGION,
        "requestParameters": {"instancesSet": {"items": [{"instanceId": instance}]}},
        "responseElements": {"instancesSet": {"items": [{"instanceId": instance,
            "currentState": {"code": 32, "name": "shutting-down"}}]}},
        "eventID": event_id,
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management"
    })
    .to_string()
}

/// Sends one termination per instance; returns the ARNs the requests must name.
async fn send(sqs: &aws_sdk_sqs::Client, url: &str, tag: &str, instances: &[&str]) -> Vec<String> {
    let now = now_secs();
    for (i, instance) in instances.iter().enumerate() {
        sqs.send_message()
            .queue_url(url)
            .message_body(terminate(instance, &format!("{tag}-{i}"), now - 60))
            .send()
            .await
            .expect("send message");
    }
    let mut arns: Vec<String> = instances
        .iter()
        .map(|i| format!("arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{i}"))
        .collect();
    arns.sort();
    arns
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// (visible, in flight) messages of the queue.
async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> (u64, u64) {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("queue attributes");
    let get = |name: QueueAttributeName| -> u64 {
        out.attributes()
            .and_then(|a| a.get(&name))
            .and_then(|v| v.parse().ok())
            .unwrap_or(u64::MAX)
    };
    (
        get(QueueAttributeName::ApproximateNumberOfMessages),
        get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

/// The sorted ARNs of the requests in an NDJSON file (checking each is a delete).
fn requested(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut arns: Vec<String> = text
        .lines()
        .map(|l| {
            let r: Value = serde_json::from_str(l).expect("a request per line");
            assert_eq!(r["action"], "delete", "{l}");
            r["arn"].as_str().expect("arn").to_string()
        })
        .collect();
    arns.sort();
    arns
}

/// moto's names for the batch calls authorized by `action` on AWS.
fn moto_batch_alias(action: &str) -> Option<&'static str> {
    match action {
        "sqs:DeleteMessage" => Some("sqs:DeleteMessageBatch"),
        "sqs:ChangeMessageVisibility" => Some("sqs:ChangeMessageVisibilityBatch"),
        "sqs:SendMessage" => Some("sqs:SendMessageBatch"),
        _ => None,
    }
}

/// The printed policy as moto can enforce it: batch aliases added, `without` (and its
/// alias) removed.
fn for_moto(printed: &Value, without: Option<&str>) -> Value {
    let mut p = printed.clone();
    for st in p["Statement"].as_array_mut().expect("statements") {
        let mut actions: Vec<String> = Vec::new();
        for a in st["Action"].as_array().expect("actions") {
            let a = a.as_str().expect("action");
            if Some(a) == without {
                continue;
            }
            actions.push(a.to_string());
            actions.extend(moto_batch_alias(a).map(str::to_string));
        }
        st["Action"] = json!(actions);
    }
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printed_policy_suffices_and_without_delete_the_error_names_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The first three calls, unauthenticated, make an administrator; everything after
    // them is checked against the caller's policies.
    let Some(moto) = Moto::start(3, dir.path()) else {
        return;
    };
    let root = moto.sdk("testing", "testing").await;
    let admin = user(
        &aws_sdk_iam::Client::new(&root),
        "admin",
        &json!({"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
    )
    .await;
    let admin_sdk = moto.sdk(&admin.0, &admin.1).await;
    let sqs = aws_sdk_sqs::Client::new(&admin_sdk);
    let iam = aws_sdk_iam::Client::new(&admin_sdk);
    // A queue for each user: moto may still hand a message to a long poll whose
    // client has gone, so a second run on the same queue could lose one to the first.
    let mut urls = Vec::new();
    for name in [QUEUE, "cloudcoreo-events-queue-b"] {
        urls.push(
            sqs.create_queue()
                .queue_name(name)
                .send()
                .await
                .expect("create queue")
                .queue_url
                .expect("queue URL"),
        );
    }
    let (url, url_b) = (&urls[0], &urls[1]);
    let out_file = dir.path().join("requests.ndjson");
    let file_sink = format!("file:{}", out_file.display());
    let policy_for = |url: &str| {
        let args = ["policy", "run", "--queue-url", url, "--sink", &file_sink];
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let endpoint = moto.endpoint.clone();
        let admin = admin.clone();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (code, stdout, stderr) = processor(&endpoint, &admin, &args).await;
            assert_eq!(code, 0, "policy run failed: {stderr}");
            serde_json::from_str::<Value>(&stdout).expect("the policy is JSON")
        }
    };

    // The policy as printed, for this queue and a file sink: exactly the consumer's
    // actions on exactly this queue.
    let printed = policy_for(url).await;
    assert_eq!(
        printed,
        json!({"Version": "2012-10-17", "Statement": [{
            "Sid": "ConsumeQueue", "Effect": "Allow",
            "Action": ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage"],
            "Resource": [format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUE}")]}]})
    );
    let printed_b = policy_for(url_b).await;

    let full = user(&iam, "consumer", &for_moto(&printed, None)).await;
    let short = user(
        &iam,
        "no-delete",
        &for_moto(&printed_b, Some("sqs:DeleteMessage")),
    )
    .await;
    // Enforcement is on, by action and by queue: the short user may not delete, the
    // full user may not receive from the other queue.
    let probe = aws_sdk_sqs::Client::new(&moto.sdk(&short.0, &short.1).await)
        .delete_message()
        .queue_url(url_b)
        .receipt_handle("nothing")
        .send()
        .await;
    assert!(probe.is_err(), "moto is not enforcing IAM");
    let probe = aws_sdk_sqs::Client::new(&moto.sdk(&full.0, &full.1).await)
        .receive_message()
        .queue_url(url_b)
        .send()
        .await;
    assert!(
        probe.is_err(),
        "moto does not scope SQS permissions to the queue"
    );

    let proxy = json_error_proxy(moto.addr()).await;
    let run = |url: &str| -> Vec<String> {
        [
            "run",
            "--queue-url",
            url,
            "--sink",
            &file_sink,
            "--exit-when-idle",
            "2",
            "--wait-time-seconds",
            "1",
            "--metrics-addr",
            "off",
            "--max-hold",
            "1",
            "--pollers",
            "1",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    };

    // With the printed policy: processed, delivered and deleted.
    let want = send(
        &sqs,
        url,
        "full",
        &[
            "i-0f00000000000aa01",
            "i-0f00000000000aa02",
            "i-0f00000000000aa03",
        ],
    )
    .await;
    let args = run(url);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, stderr) = processor(&proxy, &full, &args).await;
    assert_eq!(code, 0, "processor run failed:\n{stderr}");
    assert_eq!(requested(&out_file), want, "stderr:\n{stderr}");
    assert_eq!(
        depth(&sqs, url).await,
        (0, 0),
        "the queue ends empty:\n{stderr}"
    );
    assert!(!stderr.contains("AccessDenied"), "{stderr}");

    // Without sqs:DeleteMessage: still processed and delivered, but every delete is
    // refused, the error naming the action, and the messages stay (in flight until
    // their visibility runs out).
    std::fs::remove_file(&out_file).expect("remove the sink file");
    let want = send(
        &sqs,
        url_b,
        "short",
        &["i-0f00000000000bb01", "i-0f00000000000bb02"],
    )
    .await;
    let args = run(url_b);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, stderr) = processor(&proxy, &short, &args).await;
    assert_eq!(code, 0, "processor run failed:\n{stderr}");
    assert_eq!(requested(&out_file), want, "stderr:\n{stderr}");
    let refusals: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("delete failed"))
        .collect();
    assert_eq!(
        refusals.len(),
        2,
        "one delete failure per message:\n{stderr}"
    );
    for line in &refusals {
        assert!(
            line.contains("AccessDenied") && line.contains("sqs:DeleteMessage"),
            "the delete failure names neither AccessDenied nor the action: {line}"
        );
    }
    eprintln!("the consumer's delete failure, as logged:\n{}", refusals[0]);
    assert_eq!(
        depth(&sqs, url_b).await,
        (0, 2),
        "the messages stay:\n{stderr}"
    );
}
