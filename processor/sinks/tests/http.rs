//! The HTTP sink against an in-process HTTP server on 127.0.0.1.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use processor_core::{Action, EventRef, RescanRequest, Scope};
use processor_sinks::{build, ErrorKind, Sink, SinkError, SinkOptions, SinkSpec};
use serde_json::Value;

/// What the server answers to one request.
#[derive(Clone, Copy)]
enum Reply {
    Status(u16),
    TooManyRequests {
        retry_after: u64,
    },
    /// Never answers (well, after a minute).
    Hang,
}

/// One request the server received.
#[derive(Debug, Clone)]
struct Hit {
    content_type: Option<String>,
    authorization: Option<String>,
    path_and_query: String,
    body: Value,
}

type Responder = dyn Fn(usize, &Value) -> Reply + Send + Sync;

struct Inner {
    hits: Mutex<Vec<Hit>>,
    respond: Box<Responder>,
}

struct Server {
    base: String,
    inner: Arc<Inner>,
}

impl Server {
    /// Starts a server on 127.0.0.1:0 answering request `n` (0-based) with
    /// `respond(n, body)`.
    async fn start(respond: impl Fn(usize, &Value) -> Reply + Send + Sync + 'static) -> Server {
        let inner = Arc::new(Inner {
            hits: Mutex::new(Vec::new()),
            respond: Box::new(respond),
        });
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Server {
            base: format!("http://{addr}"),
            inner,
        }
    }

    fn hits(&self) -> Vec<Hit> {
        self.inner.hits.lock().unwrap().clone()
    }
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_string())
    };
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let n = {
        let mut hits = inner.hits.lock().unwrap();
        hits.push(Hit {
            content_type: header("content-type"),
            authorization: header("authorization"),
            path_and_query: uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default(),
            body: body.clone(),
        });
        hits.len() - 1
    };
    match (inner.respond)(n, &body) {
        Reply::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Reply::TooManyRequests { retry_after } => {
            let mut h = HeaderMap::new();
            h.insert("retry-after", HeaderValue::from(retry_after));
            (StatusCode::TOO_MANY_REQUESTS, h).into_response()
        }
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            StatusCode::OK.into_response()
        }
    }
}

fn request(id: &str) -> RescanRequest {
    RescanRequest {
        account: "123456789012".into(),
        region: "us-east-1".into(),
        service: "ec2".into(),
        resource_type: Some("ec2:instance".into()),
        resource_id: Some(id.into()),
        arn: Some(format!("arn:aws:ec2:us-east-1:123456789012:instance/{id}")),
        scope: Scope::Resource,
        action: Action::Update,
        not_before: "2023-07-10T11:43:36Z".into(),
        events: vec![EventRef {
            event_id: format!("event-{id}"),
            event_name: "RunInstances".into(),
            event_time: "2023-07-10T11:42:36Z".into(),
            principal: None,
        }],
    }
}

fn requests(ids: &[&str]) -> Vec<RescanRequest> {
    ids.iter().map(|id| request(id)).collect()
}

/// Fast retries for tests.
fn options() -> SinkOptions {
    SinkOptions {
        http_timeout: Duration::from_secs(5),
        http_max_attempts: 5,
        http_initial_backoff: Duration::from_millis(1),
        http_max_backoff: Duration::from_millis(20),
        ..SinkOptions::default()
    }
}

async fn http_sink(url: &str, options: &SinkOptions) -> Arc<dyn Sink> {
    let spec: SinkSpec = url.parse().unwrap();
    assert_eq!(spec, SinkSpec::Http(url.to_string()));
    build(&spec, None, options).await.unwrap()
}

fn errors(results: &[Result<(), SinkError>]) -> Vec<SinkError> {
    results.iter().map(|r| r.clone().unwrap_err()).collect()
}

#[tokio::test]
async fn a_2xx_accepts_all_and_the_server_gets_exactly_the_json_array() {
    for code in [200, 202, 204] {
        let server = Server::start(move |_, _| Reply::Status(code)).await;
        let sink = http_sink(&format!("{}/rescans", server.base), &options()).await;
        assert_eq!(sink.kind(), "http");
        assert_eq!(sink.name(), format!("{}/rescans", server.base));
        let sent = requests(&["i-1", "i-2", "i-3"]);
        assert_eq!(sink.deliver(&sent).await, vec![Ok(()), Ok(()), Ok(())]);

        let hits = server.hits();
        assert_eq!(hits.len(), 1, "{code}");
        assert_eq!(hits[0].body, serde_json::to_value(&sent).unwrap());
        assert_eq!(hits[0].content_type.as_deref(), Some("application/json"));
        assert_eq!(hits[0].path_and_query, "/rescans");
        assert_eq!(hits[0].authorization, None);
    }
}

#[tokio::test]
async fn nothing_to_deliver_sends_nothing() {
    let server = Server::start(|_, _| Reply::Status(200)).await;
    let sink = http_sink(&server.base, &options()).await;
    assert!(sink.deliver(&[]).await.is_empty());
    assert!(server.hits().is_empty());
}

#[tokio::test]
async fn a_5xx_is_retried_until_accepted() {
    let server = Server::start(|n, _| Reply::Status(if n < 2 { 500 } else { 200 })).await;
    let sink = http_sink(&server.base, &options()).await;
    let sent = requests(&["i-1", "i-2"]);
    assert_eq!(sink.deliver(&sent).await, vec![Ok(()), Ok(())]);
    let hits = server.hits();
    assert_eq!(hits.len(), 3);
    let expected = serde_json::to_value(&sent).unwrap();
    assert!(hits.iter().all(|h| h.body == expected));
}

#[tokio::test]
async fn a_persistent_5xx_is_transient_after_max_attempts() {
    let server = Server::start(|_, _| Reply::Status(503)).await;
    let opts = SinkOptions {
        http_max_attempts: 3,
        ..options()
    };
    let sink = http_sink(&server.base, &opts).await;
    let results = sink.deliver(&requests(&["i-1", "i-2"])).await;
    for e in errors(&results) {
        assert_eq!(e.kind, ErrorKind::Transient);
        assert!(e.message.contains("503"), "{e}");
        assert!(e.message.contains("3 attempts"), "{e}");
    }
    assert_eq!(server.hits().len(), 3);
}

#[tokio::test]
async fn a_4xx_is_permanent_at_once() {
    for code in [400, 401, 403, 404, 413, 422] {
        let server = Server::start(move |_, _| Reply::Status(code)).await;
        let sink = http_sink(&server.base, &options()).await;
        let results = sink.deliver(&requests(&["i-1", "i-2"])).await;
        assert_eq!(results.len(), 2);
        for e in errors(&results) {
            assert_eq!(e.kind, ErrorKind::Permanent, "{code}");
            assert!(e.message.contains(&code.to_string()), "{e}");
        }
        assert_eq!(server.hits().len(), 1, "{code}");
    }
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let server = Server::start(|_, _| Reply::Status(302)).await;
    let sink = http_sink(&server.base, &options()).await;
    let results = sink.deliver(&requests(&["i-1"])).await;
    assert_eq!(errors(&results)[0].kind, ErrorKind::Permanent);
    assert_eq!(server.hits().len(), 1);
}

#[tokio::test]
async fn a_429_is_retried() {
    let server = Server::start(|n, _| {
        if n == 0 {
            Reply::TooManyRequests { retry_after: 0 }
        } else {
            Reply::Status(200)
        }
    })
    .await;
    let sink = http_sink(&server.base, &options()).await;
    assert_eq!(sink.deliver(&requests(&["i-1"])).await, vec![Ok(())]);
    assert_eq!(server.hits().len(), 2);

    // Without Retry-After, and always: transient once the attempts are used up.
    let server = Server::start(|_, _| Reply::Status(429)).await;
    let sink = http_sink(&server.base, &options()).await;
    let results = sink.deliver(&requests(&["i-1"])).await;
    assert_eq!(errors(&results)[0].kind, ErrorKind::Transient);
    assert_eq!(server.hits().len(), 5);
}

#[tokio::test]
async fn a_retry_after_beyond_the_max_backoff_ends_the_retries() {
    let server = Server::start(|_, _| Reply::TooManyRequests { retry_after: 3600 }).await;
    let sink = http_sink(&server.base, &options()).await;
    let results = sink.deliver(&requests(&["i-1"])).await;
    let e = &errors(&results)[0];
    assert_eq!(e.kind, ErrorKind::Transient);
    assert!(e.message.contains("Retry-After 3600"), "{e}");
    assert_eq!(server.hits().len(), 1);
}

#[tokio::test]
async fn a_server_that_never_answers_is_transient() {
    let server = Server::start(|_, _| Reply::Hang).await;
    let opts = SinkOptions {
        http_timeout: Duration::from_millis(300),
        http_max_attempts: 2,
        ..options()
    };
    let sink = http_sink(&server.base, &opts).await;
    let results = sink.deliver(&requests(&["i-1", "i-2"])).await;
    for e in errors(&results) {
        assert_eq!(e.kind, ErrorKind::Transient);
        assert!(e.message.contains("timed out"), "{e}");
    }
    assert_eq!(server.hits().len(), 2);
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    // A port that was just free: nothing listens on it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let opts = SinkOptions {
        http_max_attempts: 2,
        ..options()
    };
    let sink = http_sink(
        &format!("http://bob:hunter2@127.0.0.1:{port}/x?key=s3cret"),
        &opts,
    )
    .await;
    let results = sink.deliver(&requests(&["i-1"])).await;
    let e = &errors(&results)[0];
    assert_eq!(e.kind, ErrorKind::Transient);
    let text = e.to_string();
    assert!(
        !text.contains("hunter2") && !text.contains("s3cret"),
        "{text}"
    );
    assert!(
        text.starts_with(&format!("http://127.0.0.1:{port}/x: ")),
        "{text}"
    );
}

#[tokio::test]
async fn requests_are_chunked_and_each_chunk_answers_for_its_requests() {
    // Refuses any chunk holding i-bad.
    let server = Server::start(|_, body| {
        let bad = body
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["resource_id"] == "i-bad");
        Reply::Status(if bad { 400 } else { 200 })
    })
    .await;
    let opts = SinkOptions {
        http_max_batch: 2,
        ..options()
    };
    let sink = http_sink(&server.base, &opts).await;
    let sent = requests(&["i-1", "i-2", "i-bad", "i-3", "i-4"]);
    let results = sink.deliver(&sent).await;
    assert_eq!(results.len(), 5);
    assert_eq!(results[0], Ok(()));
    assert_eq!(results[1], Ok(()));
    assert_eq!(results[2].clone().unwrap_err().kind, ErrorKind::Permanent);
    assert_eq!(results[3].clone().unwrap_err().kind, ErrorKind::Permanent);
    assert_eq!(results[4], Ok(()));

    // Three POSTs (2 + 2 + 1), together exactly the requests, each chunk in order.
    let mut bodies: Vec<Value> = server.hits().into_iter().map(|h| h.body).collect();
    bodies.sort_by_key(|b| b[0]["resource_id"].as_str().unwrap().to_string());
    let expected: Vec<Value> = sent
        .chunks(2)
        .map(|c| serde_json::to_value(c).unwrap())
        .collect();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort_by_key(|b| b[0]["resource_id"].as_str().unwrap().to_string());
    assert_eq!(bodies, expected_sorted);
}

#[tokio::test]
async fn userinfo_becomes_basic_auth_and_never_shows() {
    let server = Server::start(|_, _| Reply::Status(400)).await;
    let port = server.base.rsplit(':').next().unwrap().to_string();
    let url = format!("http://alice:hunter2@127.0.0.1:{port}/hook?token=s3cret");
    let sink = http_sink(&url, &options()).await;
    assert_eq!(sink.name(), format!("http://127.0.0.1:{port}/hook"));
    assert!(!format!("{sink:?}").contains("hunter2"));

    let results = sink.deliver(&requests(&["i-1"])).await;
    let text = errors(&results)[0].to_string();
    assert!(
        !text.contains("hunter2") && !text.contains("s3cret"),
        "{text}"
    );

    let hits = server.hits();
    assert_eq!(hits.len(), 1);
    // base64("alice:hunter2")
    assert_eq!(
        hits[0].authorization.as_deref(),
        Some("Basic YWxpY2U6aHVudGVyMg==")
    );
    assert_eq!(hits[0].path_and_query, "/hook?token=s3cret");
}
