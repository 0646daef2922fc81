//! `queue_bench`: `processor run` draining a real queue, against the floor of a bare
//! receive-and-delete loop on the same SDK with the same number of pollers.
//!
//! ```sh
//! CLOUDTRAIL_CORPUS=../shared/data/cloudtrail cargo run --release -p processor --bin processor-bench -- --messages 100000 --file /tmp/queue-bench.ndjson --build-only
//! cargo build --release -p processor
//! AWS_ENDPOINT_URL=http://127.0.0.1:4566 AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
//!   cargo run --release -p processor-consumer --example queue_bench -- --bodies /tmp/queue-bench.ndjson
//! ```
//!
//! It creates two queues, fills both with the first `--messages` bodies of the file
//! (SNS-wrapped CloudTrail records, one per line), drains the first with the bare
//! loop and the second with `processor run --exit-when-idle`, and reports messages
//! per second of both (until the queue is empty), their ratio, the consumer's CPU
//! time per message (user + system, from `wait4`; the bare loop's from `getrusage`)
//! and its peak RSS (`VmHWM`, read while it runs).

use std::io::BufRead;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, QueueAttributeName, SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;
use clap::Parser;

#[derive(Debug, Parser)]
struct Args {
    /// Bodies, one per line (`processor-bench --build-only` writes them).
    #[arg(long)]
    bodies: PathBuf,
    /// How many messages per queue.
    #[arg(long, default_value_t = 100_000)]
    messages: usize,
    /// Pollers of both consumers.
    #[arg(long, default_value_t = 4)]
    pollers: usize,
    /// Long-poll wait of both consumers, seconds.
    #[arg(long, default_value_t = 1)]
    wait: u32,
    /// The processor binary.
    #[arg(long, default_value = "target/release/processor")]
    processor: PathBuf,
    /// Sink of the consumer.
    #[arg(long, default_value = "file:/tmp/queue-bench-requests.ndjson")]
    sink: String,
    /// More arguments for `processor run` (repeatable), e.g. `--consumer-arg=--max-hold=5`.
    #[arg(long = "consumer-arg", allow_hyphen_values = true)]
    consumer_args: Vec<String>,
}

async fn create_queue(client: &Client, name: &str) -> anyhow::Result<String> {
    let url = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::VisibilityTimeout, "120")
        .send()
        .await?
        .queue_url
        .context("no queue url")?;
    // LocalStack answers with a host name that may not resolve offline: address the
    // endpoint we were given, keep the path.
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    let path = url.splitn(4, '/').nth(3).unwrap_or_default();
    Ok(format!("{}/{path}", endpoint.trim_end_matches('/')))
}

async fn fill(client: &Client, url: &str, bodies: Arc<Vec<String>>) -> anyhow::Result<()> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (client, url, bodies, next) = (
            client.clone(),
            url.to_string(),
            bodies.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let start = next.fetch_add(10, Ordering::Relaxed);
                if start >= bodies.len() {
                    return anyhow::Ok(());
                }
                let entries: Vec<_> = bodies[start..(start + 10).min(bodies.len())]
                    .iter()
                    .enumerate()
                    .map(|(i, b)| {
                        SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(b)
                            .build()
                    })
                    .collect::<Result<_, _>>()?;
                let out = client
                    .send_message_batch()
                    .queue_url(&url)
                    .set_entries(Some(entries))
                    .send()
                    .await?;
                if !out.failed.is_empty() {
                    bail!("send failed: {:?}", out.failed);
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

async fn depth(client: &Client, url: &str) -> anyhow::Result<u64> {
    let a = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await?
        .attributes
        .unwrap_or_default();
    let n = |k: QueueAttributeName| a.get(&k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Ok(n(QueueAttributeName::ApproximateNumberOfMessages)
        + n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
}

/// The floor: receive ten, delete ten, on `pollers` tasks, until `total` are deleted.
async fn bare_loop(
    client: &Client,
    url: &str,
    pollers: usize,
    wait: u32,
    total: usize,
) -> anyhow::Result<f64> {
    let deleted = Arc::new(AtomicUsize::new(0));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..pollers {
        let (client, url, deleted) = (client.clone(), url.to_string(), deleted.clone());
        tasks.push(tokio::spawn(async move {
            while deleted.load(Ordering::Relaxed) < total {
                let msgs = client
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(wait as i32)
                    .send()
                    .await?
                    .messages
                    .unwrap_or_default();
                if msgs.is_empty() {
                    continue;
                }
                let entries: Vec<_> = msgs
                    .iter()
                    .enumerate()
                    .map(|(i, m)| {
                        DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(m.receipt_handle().unwrap_or_default())
                            .build()
                    })
                    .collect::<Result<_, _>>()?;
                let out = client
                    .delete_message_batch()
                    .queue_url(&url)
                    .set_entries(Some(entries))
                    .send()
                    .await?;
                deleted.fetch_add(out.successful.len(), Ordering::Relaxed);
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Runs the consumer; returns (seconds until the queue was empty, user+sys seconds,
/// peak RSS KiB, exit status).
async fn consumer(args: &Args, url: &str, client: &Client) -> anyhow::Result<(f64, f64, u64, i32)> {
    let t = Instant::now();
    let child = Command::new(&args.processor)
        .args([
            "run",
            "--queue-url",
            url,
            "--sink",
            &args.sink,
            "--metrics-addr",
            "off",
        ])
        .args(["--pollers", &args.pollers.to_string()])
        .args([
            "--wait-time-seconds",
            &args.wait.to_string(),
            "--exit-when-idle",
            "3",
        ])
        .args(&args.consumer_args)
        .env("RUST_LOG", "warn")
        .spawn()
        .with_context(|| format!("starting {}", args.processor.display()))?;
    let pid = child.id() as libc::pid_t;
    let mut empty_at = None;
    let waiter = tokio::task::spawn_blocking(move || {
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our child; status and usage point to live locals.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        (r, status, usage)
    });
    // Peak RSS from the child's own `VmHWM` (`wait4`'s `ru_maxrss` would count the
    // parent's pages the child had between fork and exec).
    let mut hwm_kib = 0u64;
    while !waiter.is_finished() {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            if let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                hwm_kib = hwm_kib.max(kib);
            }
        }
        if empty_at.is_none() && depth(client, url).await? == 0 {
            empty_at = Some(t.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (r, status, usage) = waiter.await?;
    if r != pid {
        bail!("wait4 failed");
    }
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    let cpu = secs(usage.ru_utime) + secs(usage.ru_stime);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    let wall = empty_at.unwrap_or_else(|| t.elapsed().as_secs_f64());
    Ok((wall, cpu, hwm_kib, code))
}

/// User + system CPU seconds of this process so far.
fn self_cpu() -> f64 {
    // SAFETY: an all-zero rusage is valid for getrusage to fill.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a live local.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let file =
        std::fs::File::open(&args.bodies).with_context(|| format!("{}", args.bodies.display()))?;
    let bodies: Vec<String> = std::io::BufReader::new(file)
        .lines()
        .take(args.messages)
        .collect::<Result<_, _>>()?;
    if bodies.len() < args.messages {
        bail!(
            "{} holds only {} bodies",
            args.bodies.display(),
            bodies.len()
        );
    }
    let bodies = Arc::new(bodies);
    let sdk = processor_consumer::load_aws_config(None).await;
    let client = Client::new(&sdk);
    let tag = std::process::id();
    let floor_url = create_queue(&client, &format!("bench-floor-{tag}")).await?;
    let run_url = create_queue(&client, &format!("bench-run-{tag}")).await?;
    let t = Instant::now();
    fill(&client, &floor_url, bodies.clone()).await?;
    fill(&client, &run_url, bodies.clone()).await?;
    eprintln!(
        "filled 2 x {} messages in {:.1}s",
        args.messages,
        t.elapsed().as_secs_f64()
    );

    let cpu_before = self_cpu();
    let floor = bare_loop(&client, &floor_url, args.pollers, args.wait, args.messages).await?;
    let floor_cpu = self_cpu() - cpu_before;
    let (wall, cpu, rss_kib, code) = consumer(&args, &run_url, &client).await?;
    let left = depth(&client, &run_url).await?;
    let n = args.messages as f64;
    println!("messages per queue:          {}", args.messages);
    println!("pollers:                     {}", args.pollers);
    println!(
        "bare receive+delete loop:    {:>8.0} msg/s ({floor:.1}s)",
        n / floor
    );
    println!(
        "processor run:               {:>8.0} msg/s ({wall:.1}s until empty)",
        n / wall
    );
    println!("run / bare:                  {:>8.2}x", floor / wall);
    println!(
        "consumer CPU per message:    {:>8.1} µs (user+sys {cpu:.2}s)",
        cpu / n * 1e6
    );
    println!(
        "bare loop CPU per message:   {:>8.1} µs (user+sys {floor_cpu:.2}s)",
        floor_cpu / n * 1e6
    );
    println!(
        "consumer peak RSS:           {:>8.1} MiB",
        rss_kib as f64 / 1024.0
    );
    println!("consumer exit code:          {code}; messages left on its queue: {left}");
    for url in [&floor_url, &run_url] {
        let _ = client.delete_queue().queue_url(url).send().await;
    }
    Ok(())
}
