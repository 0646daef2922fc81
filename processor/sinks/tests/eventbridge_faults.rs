//! The EventBridge sink against a scripted PutEvents endpoint on 127.0.0.1: per-entry
//! failures come back to the right requests with the right kind, a refused call fails
//! every request of it, a response short of entries is not taken as acceptance, and
//! calls hold at most 10 entries and 256 KiB.

use std::sync::{Arc, Mutex};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_sqs::config::Credentials;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use processor_core::{Action, EventRef, RescanRequest, Scope};
use processor_sinks::{build, ErrorKind, SinkOptions, SinkSpec};
use serde_json::{json, Value};

/// One PutEvents call the server received: its target header and body.
type Call = (String, Value);

#[derive(Default)]
struct Script {
    calls: Mutex<Vec<Call>>,
}

/// What a call gets depends on its first request's resource id: `b...`: entry 1
/// throttled, entry 2 malformed, the others accepted; `c...`: access denied for the
/// whole call; `d...`: one result fewer than entries sent; anything else: all
/// accepted.
async fn handle(State(script): State<Arc<Script>>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let n = body["Entries"].as_array().map_or(0, Vec::len);
    let first: Value = body["Entries"][0]["Detail"]
        .as_str()
        .and_then(|d| serde_json::from_str(d).ok())
        .unwrap_or(Value::Null);
    let marker = first["resource_id"]
        .as_str()
        .and_then(|id| id.chars().next())
        .unwrap_or('-');
    script.calls.lock().unwrap().push((target, body));
    let json = |status: StatusCode, v: Value| {
        (
            status,
            [("content-type", "application/x-amz-json-1.1")],
            v.to_string(),
        )
            .into_response()
    };
    let all_but = |missing: usize| {
        let entries: Vec<Value> = (0..n.saturating_sub(missing))
            .map(|i| json!({"EventId": format!("ev-{i}")}))
            .collect();
        json(
            StatusCode::OK,
            json!({"FailedEntryCount": 0, "Entries": entries}),
        )
    };
    match marker {
        'b' => {
            let entries: Vec<Value> = (0..n)
                .map(|i| match i {
                    1 => json!({"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}),
                    2 => json!({"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}),
                    _ => json!({"EventId": format!("ev-{i}")}),
                })
                .collect();
            json(
                StatusCode::OK,
                json!({"FailedEntryCount": 2, "Entries": entries}),
            )
        }
        'c' => json(
            StatusCode::BAD_REQUEST,
            json!({"__type": "AccessDeniedException", "message": "User: arn:aws:iam::123456789012:user/x is not authorized to perform: events:PutEvents"}),
        ),
        'd' => all_but(1),
        _ => all_but(0),
    }
}

fn request(id: &str) -> RescanRequest {
    RescanRequest {
        account: "123456789012".into(),
        region: "eu-west-1".into(),
        service: "s3".into(),
        resource_type: Some("s3:bucket".into()),
        resource_id: Some(id.into()),
        arn: Some(format!("arn:aws:s3:::{id}")),
        scope: Scope::Resource,
        action: Action::Update,
        not_before: "2023-07-10T11:43:06Z".into(),
        events: vec![EventRef {
            event_id: format!("event-{id}"),
            event_name: "PutBucketPolicy".into(),
            event_time: "2023-07-10T11:42:36Z".into(),
            principal: None,
        }],
    }
}

#[tokio::test]
async fn per_entry_and_whole_call_failures_reach_the_right_requests() {
    let script = Arc::new(Script::default());
    let app = Router::new()
        .fallback(handle)
        .with_state(Arc::clone(&script));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let aws = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .endpoint_url(format!("http://{addr}"))
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .load()
        .await;
    let sink = build(
        &SinkSpec::EventBridge("rescans".into()),
        Some(&aws),
        &SinkOptions::default(),
    )
    .await
    .unwrap();

    // Four requests, the second throttled (transient), the third malformed
    // (permanent).
    let four: Vec<RescanRequest> = (0..4).map(|i| request(&format!("b{i}"))).collect();
    let results = sink.deliver(&four).await;
    assert_eq!(results[0], Ok(()));
    assert_eq!(results[3], Ok(()));
    let throttled = results[1].clone().unwrap_err();
    assert_eq!(throttled.kind, ErrorKind::Transient);
    assert_eq!(throttled.message, "ThrottlingException: slow down");
    assert_eq!(throttled.sink, "eventbridge:rescans");
    let malformed = results[2].clone().unwrap_err();
    assert_eq!(malformed.kind, ErrorKind::Permanent);
    assert_eq!(malformed.message, "MalformedDetail: Detail is malformed.");

    // Access denied for the call: both requests fail as permanent, the error
    // naming the code and the action.
    let results = sink.deliver(&[request("c0"), request("c1")]).await;
    for r in &results {
        let e = r.clone().unwrap_err();
        assert_eq!(e.kind, ErrorKind::Permanent, "{e}");
        assert!(
            e.message.starts_with("PutEvents: AccessDeniedException: ")
                && e.message.contains("events:PutEvents"),
            "{e}"
        );
    }

    // Three sent, two results: the last request is not taken as accepted.
    let results = sink
        .deliver(&[request("d0"), request("d1"), request("d2")])
        .await;
    assert_eq!(results[0], Ok(()));
    assert_eq!(results[1], Ok(()));
    let e = results[2].clone().unwrap_err();
    assert_eq!(e.kind, ErrorKind::Transient);

    // What was sent: the PutEvents target, the bus, source, detail type and each
    // request as the detail, in order.
    let calls = std::mem::take(&mut *script.calls.lock().unwrap());
    assert_eq!(
        calls.len(),
        3,
        "no retries of per-entry or access-denied failures"
    );
    let (target, body) = &calls[0];
    assert_eq!(target, "AWSEvents.PutEvents");
    let entries = body["Entries"].as_array().unwrap();
    assert_eq!(entries.len(), 4);
    for (entry, r) in entries.iter().zip(&four) {
        assert_eq!(entry["EventBusName"], "rescans");
        assert_eq!(entry["Source"], "cloudcoreo.processor");
        assert_eq!(entry["DetailType"], "Rescan Request");
        let detail: RescanRequest =
            serde_json::from_str(entry["Detail"].as_str().unwrap()).unwrap();
        assert_eq!(&detail, r);
    }

    // 23 requests, three of about 180 KiB: all accepted, in calls of at most 10
    // entries and 256 KiB (source + detail type + detail), in order.
    let many: Vec<RescanRequest> = (0..23)
        .map(|i| {
            let pad = if i % 8 == 3 {
                "p".repeat(60 * 1024)
            } else {
                String::new()
            };
            request(&format!("e{i}{pad}"))
        })
        .collect();
    let results = sink.deliver(&many).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let calls = std::mem::take(&mut *script.calls.lock().unwrap());
    // Calls run concurrently and may arrive in any order: each holds a run of
    // consecutive requests; sorted by their first, they give back every request once.
    let mut runs: Vec<Vec<RescanRequest>> = Vec::new();
    for (_, body) in &calls {
        let entries = body["Entries"].as_array().unwrap();
        assert!(entries.len() <= 10, "{} entries in a call", entries.len());
        let bytes: usize = entries
            .iter()
            .map(|e| {
                ["Source", "DetailType", "Detail"]
                    .iter()
                    .map(|k| e[k].as_str().unwrap().len())
                    .sum::<usize>()
            })
            .sum();
        assert!(bytes <= 262_144, "a call of {bytes} bytes");
        runs.push(
            entries
                .iter()
                .map(|e| serde_json::from_str(e["Detail"].as_str().unwrap()).unwrap())
                .collect(),
        );
    }
    let index = |r: &RescanRequest| many.iter().position(|m| m == r).expect("a request sent");
    runs.sort_by_key(|run| index(&run[0]));
    // Ten, then nine (the tenth would be the second of 180 KiB), then the last four.
    assert_eq!(
        runs.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![10, 9, 4]
    );
    assert_eq!(runs.concat(), many);
}
