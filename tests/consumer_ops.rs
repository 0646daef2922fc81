//! What an operator relies on around `processor run`, against LocalStack:
//! - SNS subscription confirmations are confirmed through the SNS API for allowed
//!   accounts only (never by fetching the URL in the message), and deleted only then;
//!   a refused one goes to the dead-letter queue;
//! - `/healthz` turns unhealthy while the SQS endpoint is away, the consumer keeps
//!   retrying instead of exiting, and it recovers when the endpoint comes back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::harness::consumer::{Consumer, REGION};
use integration_tests::harness::localstack::{LocalStack, ACCOUNT};
use integration_tests::harness::output::read_file_sink;
use integration_tests::harness::records::{self, now_secs};
use integration_tests::harness::sink::HttpSink;
use integration_tests::harness::sqs;
use integration_tests::harness::{free_port, http_get, with_limit};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// One test at a time (each starts a LocalStack of its own on a 2-core machine).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn eventually<F: FnMut() -> bool>(limit: Duration, mut check: F) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    check()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_confirmed_through_the_api_for_allowed_accounts_only() {
    let _one = SERIAL.lock().await;
    let test = "consumer_ops::subscriptions";
    let Some(ls) = LocalStack::start(test) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    with_limit(test, Duration::from_secs(180), async {
        let sdk = ls.sdk(REGION).await;
        let sns = aws_sdk_sns::Client::new(&sdk);
        let sqs_client = ls.sqs(REGION).await;
        // A member account's topic whose subscription waits for confirmation: an HTTP
        // endpoint subscription gets a real token (SQS subscriptions confirm themselves
        // on LocalStack), which the endpoint receives.
        let topic = sns
            .create_topic()
            .name("cloudcoreo-events")
            .send()
            .await
            .expect("create topic")
            .topic_arn
            .expect("topic arn");
        let endpoint = HttpSink::start("/sns");
        sns.subscribe()
            .topic_arn(&topic)
            .protocol("http")
            .endpoint(&endpoint.url)
            .send()
            .await
            .expect("subscribe");
        let mut confirmation = None;
        eventually(Duration::from_secs(20), || {
            confirmation = endpoint
                .malformed()
                .into_iter()
                .find(|b| b.contains("SubscriptionConfirmation"));
            confirmation.is_some()
        })
        .await;
        let confirmation = confirmation.expect("LocalStack sent a SubscriptionConfirmation");
        let subscription = sns
            .list_subscriptions_by_topic()
            .topic_arn(&topic)
            .send()
            .await
            .expect("list subscriptions")
            .subscriptions
            .unwrap_or_default()
            .into_iter()
            .find_map(|s| s.subscription_arn)
            .expect("the HTTP subscription");
        let pending = || async {
            sns.get_subscription_attributes()
                .subscription_arn(&subscription)
                .send()
                .await
                .expect("subscription attributes")
                .attributes
                .and_then(|a| a.get("PendingConfirmation").cloned())
        };
        assert_eq!(
            pending().await.as_deref(),
            Some("true"),
            "the subscription waits"
        );

        // The same confirmation from an account that is not allowed.
        let foreign: serde_json::Value = {
            let mut v: serde_json::Value =
                serde_json::from_str(&confirmation).expect("confirmation is JSON");
            v["TopicArn"] = "arn:aws:sns:us-east-1:111111111111:cloudcoreo-events".into();
            v["MessageId"] = "11111111-2222-4333-8444-555555555555".into();
            v
        };
        let q = sqs::queue_with_dlq(&sqs_client, "subscriptions", 2, 2).await;
        sqs::send_all(
            &sqs_client,
            &q.url,
            &[confirmation.clone(), foreign.to_string()],
            1,
        )
        .await;

        let out = dir.path().join("requests.ndjson");
        let sink = format!("file:{}", out.display());
        let mut consumer = Consumer::start(
            &ls,
            dir.path(),
            "subscriptions",
            &q.url,
            &[
                "--sink",
                &sink,
                "--confirm-subscriptions",
                "--allow-accounts",
                ACCOUNT,
                "--wait-time-seconds",
                "1",
                "--visibility-timeout",
                "2",
                "--max-hold",
                "1",
                "--exit-when-idle",
                "6",
            ],
        );
        consumer.expect_success(Duration::from_secs(90)).await;
        let log = std::fs::read_to_string(&consumer.log).unwrap_or_default();
        assert!(log.contains("subscription confirmed"), "{log}");
        assert!(
            log.contains("111111111111 is not in --allow-accounts"),
            "{log}"
        );
        assert!(!log.contains("Token"), "the token is never logged:\n{log}");

        assert_eq!(
            pending().await.as_deref(),
            Some("false"),
            "confirmed through the API"
        );
        assert_eq!(sqs::counts(&sqs_client, &q.url).await.total(), 0);
        let dead = sqs::drain(&sqs_client, &q.dlq_url, 1, Duration::from_secs(20)).await;
        assert_eq!(
            dead.len(),
            1,
            "only the refused confirmation is dead-lettered"
        );
        assert!(dead[0].body.contains("111111111111"), "{}", dead[0].body);
        assert!(read_file_sink(&out).requests.is_empty());
    })
    .await;
}

/// A TCP forwarder that can be taken away and brought back on the same port.
struct Proxy {
    port: u16,
    upstream: String,
    tasks: Option<JoinSet<()>>,
}

impl Proxy {
    fn new(upstream: &str) -> Proxy {
        Proxy {
            port: free_port(),
            upstream: upstream.trim_start_matches("http://").to_string(),
            tasks: None,
        }
    }

    async fn up(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("bind proxy");
        let upstream = self.upstream.clone();
        let mut tasks = JoinSet::new();
        let conns = Arc::new(tokio::sync::Mutex::new(JoinSet::new()));
        let held = conns.clone();
        tasks.spawn(async move {
            let _held = held;
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let upstream = upstream.clone();
                conns.lock().await.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        self.tasks = Some(tasks);
    }

    /// Stops listening and cuts every forwarded connection.
    fn down(&mut self) {
        // Dropping the set aborts the acceptor, which drops the set of connections.
        self.tasks = None;
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_the_endpoint_and_the_consumer_outlives_an_outage() {
    let _one = SERIAL.lock().await;
    let test = "consumer_ops::health";
    let Some(ls) = LocalStack::start(test) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    with_limit(test, Duration::from_secs(180), async {
        let sqs_client = ls.sqs(REGION).await;
        let q = sqs::queue_with_dlq(&sqs_client, "health", 5, 10).await;
        let mut proxy = Proxy::new(&ls.endpoint);
        proxy.up().await;
        let metrics_port = free_port();
        let metrics = format!("127.0.0.1:{metrics_port}");
        let metrics_url = format!("http://{metrics}");
        let out = dir.path().join("requests.ndjson");
        let sink = format!("file:{}", out.display());
        let proxy_endpoint = proxy.endpoint();
        // Queue URL through the proxy: the consumer never talks to LocalStack directly.
        let path = q.url.splitn(4, '/').nth(3).expect("queue path").to_string();
        let queue_url = format!("{proxy_endpoint}/{path}");
        let mut consumer = Consumer::start_with_env(
            &ls,
            dir.path(),
            "health",
            &queue_url,
            &[
                "--sink",
                &sink,
                "--metrics-addr",
                &metrics,
                "--unhealthy-after",
                "2",
                "--wait-time-seconds",
                "1",
                "--max-hold",
                "1",
                "--pollers",
                "2",
            ],
            &[("AWS_ENDPOINT_URL", &proxy_endpoint)],
        );
        let status = |path: &str| http_get(&metrics_url, path).map(|(s, _)| s);
        assert!(
            eventually(Duration::from_secs(20), || status("/healthz") == Some(200)).await,
            "healthy once receiving works: {}",
            consumer.log_tail(20)
        );
        assert_eq!(status("/readyz"), Some(200));

        proxy.down();
        assert!(
            eventually(Duration::from_secs(30), || status("/healthz") == Some(503)).await,
            "unhealthy while SQS is away: {}",
            consumer.log_tail(20)
        );
        assert!(
            consumer.try_status().is_none(),
            "it keeps retrying, not exiting"
        );

        proxy.up().await;
        assert!(
            eventually(Duration::from_secs(40), || status("/healthz") == Some(200)).await,
            "healthy again once SQS is back: {}",
            consumer.log_tail(20)
        );
        let (record, _) = records::numbered_call(ACCOUNT, REGION, 0x4ea1, 1, now_secs() - 30);
        let id = record["eventID"].as_str().expect("eventID").to_string();
        sqs::send_all(
            &sqs_client,
            &q.url,
            &[records::sns_body(&record, 1, ACCOUNT, REGION)],
            1,
        )
        .await;
        assert!(
            eventually(Duration::from_secs(30), || {
                read_file_sink(&out)
                    .requests
                    .iter()
                    .any(|r| r.to_string().contains(&id))
            })
            .await,
            "a message sent after the outage is processed: {}",
            consumer.log_tail(30)
        );
        let metrics_page = http_get(&metrics_url, "/metrics")
            .map(|(_, b)| b)
            .unwrap_or_default();
        assert!(
            metrics_page.contains("processor_receive_errors_total"),
            "receive errors are counted:\n{metrics_page}"
        );
        consumer.sigterm();
        let exit = consumer
            .wait(Duration::from_secs(30))
            .await
            .expect("exits after SIGTERM");
        assert!(exit.success(), "{exit:?}");
    })
    .await;
}
