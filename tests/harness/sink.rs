//! An HTTP endpoint standing in for a rescan service: it records every JSON array of
//! rescan requests POSTed to it and answers 200, or, while switched to failing, answers
//! 500 and records nothing but the refusal. It runs on a thread of its own on
//! 127.0.0.1 and stops when dropped.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use serde_json::Value;

#[derive(Default)]
struct Shared {
    failing: AtomicBool,
    refused: AtomicUsize,
    accepted_posts: AtomicUsize,
    requests: Mutex<Vec<Value>>,
    /// Bodies that were not a JSON array, or requests that were not POSTs to the path.
    malformed: Mutex<Vec<String>>,
    path: String,
}

/// A running HTTP sink.
pub struct HttpSink {
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// The URL to give `processor run --sink`: `http://127.0.0.1:PORT/PATH`.
    pub url: String,
}

impl HttpSink {
    /// Starts a sink accepting POSTs on `path` (such as `/rescan`).
    pub fn start(path: &str) -> HttpSink {
        let shared = Arc::new(Shared {
            path: path.to_string(),
            ..Shared::default()
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind http sink");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("sink address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = shared.clone();
        let thread = std::thread::Builder::new()
            .name("http-sink".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("sink runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    let app = axum::Router::new().fallback(receive).with_state(state);
                    tokio::select! {
                        r = axum::serve(listener, app) => r.expect("http sink server"),
                        _ = stopped => {}
                    }
                });
            })
            .expect("sink thread");
        HttpSink {
            shared,
            stop: Some(stop),
            thread: Some(thread),
            url: format!("http://{addr}{path}"),
        }
    }

    /// While `true`, every POST is answered 500 and not recorded.
    pub fn set_failing(&self, failing: bool) {
        self.shared.failing.store(failing, Ordering::SeqCst);
    }

    /// POSTs answered 500 so far.
    pub fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// POSTs accepted so far.
    pub fn accepted_posts(&self) -> usize {
        self.shared.accepted_posts.load(Ordering::SeqCst)
    }

    /// Every rescan request accepted so far, in arrival order.
    pub fn requests(&self) -> Vec<Value> {
        self.shared.requests.lock().expect("sink lock").clone()
    }

    /// Requests that were not a POST of a JSON array to the sink's path (each answered
    /// 400 or 404).
    pub fn malformed(&self) -> Vec<String> {
        self.shared.malformed.lock().expect("sink lock").clone()
    }
}

async fn receive(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    body: Bytes,
) -> StatusCode {
    if method != Method::POST || uri.path() != s.path {
        s.malformed
            .lock()
            .expect("sink lock")
            .push(format!("{method} {uri}"));
        return StatusCode::NOT_FOUND;
    }
    if s.failing.load(Ordering::SeqCst) {
        s.refused.fetch_add(1, Ordering::SeqCst);
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(items)) => {
            s.requests.lock().expect("sink lock").extend(items);
            s.accepted_posts.fetch_add(1, Ordering::SeqCst);
            StatusCode::OK
        }
        _ => {
            s.malformed
                .lock()
                .expect("sink lock")
                .push(String::from_utf8_lossy(&body).into_owned());
            StatusCode::BAD_REQUEST
        }
    }
}

impl Drop for HttpSink {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
