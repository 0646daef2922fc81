//! `processor run` under faults, against queues of its own on a LocalStack of each
//! test's own: killed again and again, a sink refusing for a while, undecodable
//! messages, SIGTERM under load. The promise tested: a message is deleted only once
//! every request its events contributed to was accepted by every sink, so no event is
//! ever lost; undecodable messages go to the dead-letter queue through the queue's
//! redrive and hold nothing up.
//!
//! The tests run one at a time (they measure one LocalStack and one consumer each on a
//! 2-core machine). Each message is one CloudTrail record on a resource of its own,
//! wrapped as SNS delivers it, so every event id must appear in the output.

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use integration_tests::harness::consumer::{Consumer, REGION};
use integration_tests::harness::localstack::{LocalStack, ACCOUNT};
use integration_tests::harness::output::{read_file_sink, Tally};
use integration_tests::harness::records::{self, now_secs};
use integration_tests::harness::sink::HttpSink;
use integration_tests::harness::sqs::{self, QueuePair};
use integration_tests::harness::{report, with_limit};

/// One test at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The queues' visibility timeout, short so that a killed consumer's messages come back
/// soon.
const VISIBILITY: &str = "5";
fn visibility() -> u32 {
    VISIBILITY.parse().expect("a number of seconds")
}

/// Idle time after which a draining run exits: longer than the visibility timeout, so
/// that messages a killed run held are back before it gives up.
const IDLE_EXIT: &str = "8";

/// `n` bodies (one SNS-delivered CloudTrail record each, on distinct resources) and
/// their event ids. Event times spread over the last two minutes.
fn bulk(tag: u16, n: u64) -> (Vec<String>, Vec<String>) {
    let t0 = now_secs() - 120;
    let mut bodies = Vec::with_capacity(n as usize);
    let mut ids = Vec::with_capacity(n as usize);
    for i in 0..n {
        let (record, _arn) = records::numbered_call(ACCOUNT, REGION, tag, i, t0 + (i % 90) as i64);
        ids.push(record["eventID"].as_str().expect("eventID").to_string());
        bodies.push(records::sns_body(
            &record,
            (u64::from(tag) << 32) | i,
            ACCOUNT,
            REGION,
        ));
    }
    (bodies, ids)
}

/// The options every run gets: short visibility timeout and long poll, a short hold.
fn run_args<'a>(sinks: &'a [String], extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--pollers",
        "4",
        "--visibility-timeout",
        VISIBILITY,
        "--wait-time-seconds",
        "1",
        "--max-hold",
        "1",
    ];
    for s in sinks {
        args.push("--sink");
        args.push(s);
    }
    args.extend_from_slice(extra);
    args
}

fn file_sink(path: &Path) -> String {
    format!("file:{}", path.display())
}

/// Sends `bodies` and checks they are all on the queue; reports the rate.
async fn enqueue(sqs: &aws_sdk_sqs::Client, q: &QueuePair, bodies: &[String]) {
    let t = Instant::now();
    sqs::send_all(sqs, &q.url, bodies, 4).await;
    let secs = t.elapsed().as_secs_f64();
    report(&format!(
        "sent {} messages in {secs:.1} s ({:.0} msg/s)",
        bodies.len(),
        bodies.len() as f64 / secs
    ));
    let c = sqs::counts(sqs, &q.url).await;
    assert_eq!(
        c.total(),
        bodies.len() as u64,
        "all sent messages queued: {c:?}"
    );
}

/// Polls `check` every 200 ms until it holds or `limit` passes; whether it held.
async fn wait_until<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Event ids sent that the file sink has written so far.
fn delivered_to_file(path: &Path, ids: &[String]) -> usize {
    Tally::of(ids, &read_file_sink(path).requests).delivered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_event_is_lost_when_the_consumer_is_killed_again_and_again() {
    const MESSAGES: u64 = 20_000;
    const KILLS: usize = 6;
    let _one_at_a_time = SERIAL.lock().await;
    let test = "consumer_faults::no_event_is_lost_when_killed";
    let Some(ls) = LocalStack::start(test) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    with_limit(test, Duration::from_secs(360), async {
        let sqs = ls.sqs(REGION).await;
        // A message is received at most KILLS + a few times here: a redrive after 10
        // receives would only come from a consumer that never deletes.
        let q = sqs::queue_with_dlq(&sqs, "loss", visibility(), 10).await;
        let (bodies, ids) = bulk(0x1055, MESSAGES);
        enqueue(&sqs, &q, &bodies).await;

        let out = dir.path().join("requests.ndjson");
        let sinks = [file_sink(&out)];
        let started = Instant::now();
        for k in 0..KILLS {
            let label = format!("killed-{k}");
            let args = run_args(&sinks, &[]);
            let mut run = Consumer::start(&ls, dir.path(), &label, &q.url, &args);
            let at = Duration::from_millis(fastrand::u64(500..5_000));
            tokio::time::sleep(at).await;
            if let Some(status) = run.try_status() {
                let log = run.log_tail(30);
                panic!("processor run exited by itself ({status}); log:\n{log}");
            }
            run.kill();
            let c = sqs::counts(&sqs, &q.url).await;
            report(&format!(
                "SIGKILL {} after {:.1} s: {} of {MESSAGES} events delivered, queue {c:?}",
                k + 1,
                at.as_secs_f64(),
                delivered_to_file(&out, &ids),
            ));
        }
        // What the killed runs held comes back after the visibility timeout; a run
        // that exits when idle drains the rest.
        for attempt in 0..3 {
            let mut run = Consumer::start(
                &ls,
                dir.path(),
                &format!("drain-{attempt}"),
                &q.url,
                &run_args(&sinks, &["--exit-when-idle", IDLE_EXIT]),
            );
            run.expect_success(Duration::from_secs(180)).await;
            if sqs::counts(&sqs, &q.url).await.total() == 0 {
                break;
            }
        }
        let elapsed = started.elapsed();

        let left = sqs::counts(&sqs, &q.url).await;
        assert_eq!(left.total(), 0, "the queue ends empty: {left:?}");
        let dead = sqs::counts(&sqs, &q.dlq_url).await;
        assert_eq!(dead.total(), 0, "nothing dead-lettered: {dead:?}");
        let written = read_file_sink(&out);
        let tally = Tally::of(&ids, &written.requests);
        report(&format!(
            "{MESSAGES} messages, {KILLS} SIGKILLs, {:.1} s from first start: {} delivered, {} lost, \
             {} duplicate appearances (duplicate rate {:.2}%), {} torn lines",
            elapsed.as_secs_f64(),
            tally.delivered,
            tally.missing.len(),
            tally.duplicates,
            100.0 * tally.duplicate_rate(),
            written.torn_lines.len(),
        ));
        tally.assert_complete(&format!("file sink after {KILLS} SIGKILLs"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_deleted_while_a_sink_refuses_and_all_arrives_after() {
    const MESSAGES: u64 = 1_000;
    const OUTAGE: Duration = Duration::from_secs(10);
    let _one_at_a_time = SERIAL.lock().await;
    let test = "consumer_faults::sink_outage";
    let Some(ls) = LocalStack::start(test) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let http = HttpSink::start("/rescan");
    http.set_failing(true);
    with_limit(test, Duration::from_secs(300), async {
        let sqs = ls.sqs(REGION).await;
        // Retries during the outage receive messages again and again: a redrive
        // would hide them from the test, so it is out of reach here.
        let q = sqs::queue_with_dlq(&sqs, "outage", visibility(), 100).await;
        let (bodies, ids) = bulk(0x0a7e, MESSAGES);
        enqueue(&sqs, &q, &bodies).await;

        let out = dir.path().join("requests.ndjson");
        // The file sink accepts all along; the HTTP sink refuses: nothing may go.
        let sinks = [file_sink(&out), http.url.clone()];
        let mut run = Consumer::start(&ls, dir.path(), "run", &q.url, &run_args(&sinks, &[]));
        assert!(
            wait_until(Duration::from_secs(60), || async { http.refused() > 0 }).await,
            "processor run never posted to the HTTP sink; log:\n{}",
            run.log_tail(30)
        );
        let outage_end = Instant::now() + OUTAGE;
        let mut samples = 0;
        while Instant::now() < outage_end {
            let c = sqs::counts_reaching(&sqs, &q.url, MESSAGES).await;
            assert_eq!(
                c.total(),
                MESSAGES,
                "a message was deleted while the HTTP sink refused: {c:?}"
            );
            assert!(run.try_status().is_none(), "processor run exited during the outage");
            samples += 1;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let refused = http.refused();
        http.set_failing(false);
        report(&format!(
            "outage: {refused} POSTs refused over {OUTAGE:?}, queue held all {MESSAGES} messages in {samples} samples"
        ));

        let recovered = Instant::now();
        let done = wait_until(Duration::from_secs(150), || async {
            Tally::of(&ids, &http.requests()).missing.is_empty()
                && sqs::counts(&sqs, &q.url).await.total() == 0
        })
        .await;
        let tally = Tally::of(&ids, &http.requests());
        report(&format!(
            "after recovery: {} of {MESSAGES} events at the HTTP sink in {:.1} s, duplicate rate {:.2}%",
            tally.delivered,
            recovered.elapsed().as_secs_f64(),
            100.0 * tally.duplicate_rate()
        ));
        tally.assert_complete("HTTP sink after the outage");
        assert!(done, "the queue did not empty after recovery");
        Tally::of(&ids, &read_file_sink(&out).requests).assert_complete("file sink");
        assert!(http.malformed().is_empty(), "{:?}", http.malformed());
        run.sigterm();
        run.expect_success(Duration::from_secs(40)).await;
        // Read with no receive under way, the counts are exact.
        let left = sqs::counts(&sqs, &q.url).await;
        assert_eq!(left.total(), 0, "the queue ends empty: {left:?}");
        let dead = sqs::counts(&sqs, &q.dlq_url).await;
        assert_eq!(dead.total(), 0, "nothing dead-lettered: {dead:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_go_to_the_dlq_and_block_nothing() {
    const GOOD: u64 = 400;
    const MAX_RECEIVE: u32 = 3;
    let _one_at_a_time = SERIAL.lock().await;
    let test = "consumer_faults::poison";
    let Some(ls) = LocalStack::start(test) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    with_limit(test, Duration::from_secs(300), async {
        let sqs = ls.sqs(REGION).await;
        let q = sqs::queue_with_dlq(&sqs, "poison", visibility(), MAX_RECEIVE).await;
        let (good, ids) = bulk(0x9015, GOOD);
        let mut poison = records::poison_bodies("first");
        poison.extend(records::poison_bodies("second"));
        // One poison body every 33 good ones: most send batches of 10 hold both.
        let mut bodies = Vec::new();
        let mut bad = poison.iter();
        for (i, b) in good.iter().enumerate() {
            if i % 33 == 5 {
                if let Some(p) = bad.next() {
                    bodies.push(p.clone());
                }
            }
            bodies.push(b.clone());
        }
        bodies.extend(bad.cloned());
        enqueue(&sqs, &q, &bodies).await;

        let out = dir.path().join("requests.ndjson");
        let sinks = [file_sink(&out)];
        let mut run = Consumer::start(&ls, dir.path(), "run", &q.url, &run_args(&sinks, &[]));
        let t = Instant::now();
        let settled = wait_until(Duration::from_secs(150), || async {
            sqs::counts(&sqs, &q.url).await.total() == 0
                && sqs::counts(&sqs, &q.dlq_url).await.total() == poison.len() as u64
        })
        .await;
        report(&format!(
            "{GOOD} good and {} poison messages: queue settled after {:.1} s",
            poison.len(),
            t.elapsed().as_secs_f64()
        ));
        run.sigterm();
        run.expect_success(Duration::from_secs(40)).await;

        Tally::of(&ids, &read_file_sink(&out).requests).assert_complete("file sink");
        let left = sqs::counts(&sqs, &q.url).await;
        assert!(
            settled,
            "the queue did not settle: main {left:?}, dlq {:?}",
            sqs::counts(&sqs, &q.dlq_url).await
        );
        assert_eq!(left.total(), 0, "good messages were deleted: {left:?}");
        // The dead-letter queue holds the poison, all of it, and nothing else: no good
        // message was held back with a bad one, and no bad one was deleted.
        let dead = sqs::drain(&sqs, &q.dlq_url, poison.len(), Duration::from_secs(30)).await;
        let mut dead_bodies: Vec<&str> = dead.iter().map(|m| m.body.as_str()).collect();
        dead_bodies.sort();
        let mut want: Vec<&str> = poison.iter().map(String::as_str).collect();
        want.sort();
        assert_eq!(
            dead_bodies, want,
            "the dead-letter queue holds exactly the poison"
        );
        for m in &dead {
            assert!(
                m.receive_count >= MAX_RECEIVE,
                "dead-lettered after {} receives, before the {MAX_RECEIVE} configured: {}",
                m.receive_count,
                m.body
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_exits_cleanly_and_a_second_run_loses_nothing() {
    const MESSAGES: u64 = 6_000;
    const GRACE: u64 = 10;
    let _one_at_a_time = SERIAL.lock().await;
    let test = "consumer_faults::sigterm_under_load";
    let Some(ls) = LocalStack::start(test) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let http = HttpSink::start("/rescan");
    with_limit(test, Duration::from_secs(300), async {
        let sqs = ls.sqs(REGION).await;
        let q = sqs::queue_with_dlq(&sqs, "sigterm", visibility(), 100).await;
        let (bodies, ids) = bulk(0x5167, MESSAGES);
        enqueue(&sqs, &q, &bodies).await;

        let out = dir.path().join("requests.ndjson");
        let sinks = [file_sink(&out), http.url.clone()];
        let grace = GRACE.to_string();
        let mut first = Consumer::start(
            &ls,
            dir.path(),
            "first",
            &q.url,
            &run_args(&sinks, &["--shutdown-grace", &grace]),
        );
        // Under load: a sixth of the events out, most still to come.
        assert!(
            wait_until(Duration::from_secs(120), || async {
                delivered_to_file(&out, &ids) >= (MESSAGES / 6) as usize
            })
            .await,
            "processor run delivered too little; log:\n{}",
            first.log_tail(30)
        );
        first.sigterm();
        let signalled = Instant::now();
        let limit = Duration::from_secs(GRACE + 3);
        match first.wait(limit).await {
            Some(s) => assert!(s.success(), "SIGTERM: exit {s}; log:\n{}", first.log_tail(30)),
            None => panic!(
                "SIGTERM: still running after the {GRACE} s grace period; log:\n{}",
                first.log_tail(30)
            ),
        }
        let exited_after = signalled.elapsed();
        // What the first run deleted, both sinks had accepted.
        let left = sqs::counts(&sqs, &q.url).await;
        let deleted = MESSAGES - left.total();
        let at_file = delivered_to_file(&out, &ids);
        let at_http = Tally::of(&ids, &http.requests()).delivered;
        report(&format!(
            "SIGTERM: exit 0 after {:.1} s; {deleted} messages deleted, {at_file} events at the file sink, \
             {at_http} at the HTTP sink, queue {left:?}",
            exited_after.as_secs_f64()
        ));
        assert!(deleted > 0, "the first run deleted nothing");
        assert!(
            at_file as u64 >= deleted && at_http as u64 >= deleted,
            "deleted {deleted} messages but the sinks hold {at_file} (file) and {at_http} (http) of their events"
        );

        for attempt in 0..3 {
            let mut run = Consumer::start(
                &ls,
                dir.path(),
                &format!("second-{attempt}"),
                &q.url,
                &run_args(&sinks, &["--exit-when-idle", IDLE_EXIT]),
            );
            run.expect_success(Duration::from_secs(120)).await;
            if sqs::counts(&sqs, &q.url).await.total() == 0 {
                break;
            }
        }
        let left = sqs::counts(&sqs, &q.url).await;
        assert_eq!(left.total(), 0, "the queue ends empty: {left:?}");
        let written = read_file_sink(&out);
        let file_tally = Tally::of(&ids, &written.requests);
        let http_tally = Tally::of(&ids, &http.requests());
        report(&format!(
            "after the second run: duplicate rate {:.2}% (file), {:.2}% (http)",
            100.0 * file_tally.duplicate_rate(),
            100.0 * http_tally.duplicate_rate()
        ));
        file_tally.assert_complete("file sink");
        http_tally.assert_complete("HTTP sink");
        assert!(written.torn_lines.is_empty(), "{:?}", written.torn_lines);
        let dead = sqs::counts(&sqs, &q.dlq_url).await;
        assert_eq!(dead.total(), 0, "nothing dead-lettered: {dead:?}");
    })
    .await;
}
