#!/usr/bin/env python3
"""Speed and size of the processor-lambda binary (standard library only).

Runs the binary under a minimal Lambda runtime API emulator of its own on 127.0.0.1
(runtime and extensions API, as much as lambda_runtime uses) and measures:

- init: from spawning the process to its first `GET /runtime/invocation/next`
  (cold start: settings, logging, graceful-shutdown extension, AWS configuration,
  sinks, resource catalog), best and median of --cold-starts processes;
- handler: from the end of sending the batch (the `next` response) to the arrival of
  the function's response; best and median of --invocations invocations in one
  process. It includes parsing the 6 MB event and writing the response; the sink is
  `stdout` into /dev/null, so sink I/O is next to nothing;
- peak RSS: the process's VmHWM after the invocations;
- `processor replay` of the same event file, minus `processor replay` of an empty
  file (process start and catalog load), for comparison.

The batch: CloudTrail records of the shared corpus (or generated ones), each wrapped
as the EventBridge event and the SNS notification SQS receives, with distinct ids, in
one SQS event of at most --payload bytes (Lambda's 6 MB invocation payload limit).

Usage: lambda_bench.py --binary target/lambda/processor-lambda/bootstrap
                       [--processor target/release/processor] [--corpus FILE]
"""

import argparse
import http.server
import json
import os
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

PAYLOAD_LIMIT = 6 * 1024 * 1024
TOPIC = "arn:aws:sns:us-east-1:123456789012:cloudcoreo-events"


def generated_records():
    n = 0
    while True:
        n += 1
        yield {
            "eventVersion": "1.08", "eventID": "", "eventTime": "2023-07-10T11:42:36Z",
            "eventSource": "s3.amazonaws.com", "eventName": "PutBucketPolicy",
            "awsRegion": "us-east-1", "recipientAccountId": "123456789012",
            "eventType": "AwsApiCall", "readOnly": False,
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/Alice"},
            "requestParameters": {"bucketName": f"bucket-{n}", "policy": "x" * 1200},
            "resources": [{"ARN": f"arn:aws:s3:::bucket-{n}", "type": "AWS::S3::Bucket"}],
        }


def corpus_records(path):
    with open(path) as f:
        recs = [json.loads(l) for l in f if l.strip()]
    while True:
        yield from (dict(r) for r in recs)


def sns_body(record, n):
    service = record["eventSource"].split(".")[0]
    event = {
        "version": "0", "id": f"{n:08x}-0000-4000-8000-eb0000000000",
        "detail-type": "AWS API Call via CloudTrail", "source": f"aws.{service}",
        "account": record.get("recipientAccountId", ""), "time": record["eventTime"],
        "region": record["awsRegion"], "resources": [], "detail": record,
    }
    return json.dumps({
        "Type": "Notification", "MessageId": f"{n:08x}-0000-4000-8000-5e5000000000",
        "TopicArn": TOPIC, "Message": json.dumps(event, separators=(",", ":")),
        "Timestamp": "2023-07-10T11:42:40.000Z", "SignatureVersion": "1",
        "Signature": "EXAMPLE", "SigningCertURL": "https://sns.us-east-1.amazonaws.com/x.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
    }, separators=(",", ":"))


def build_event(records, limit):
    out, size, n = [], len('{"Records":[]}'), 0
    for rec in records:
        n += 1
        rec["eventID"] = f"{n:08x}-bench-4000-8000-{uuid.uuid4().hex[:12]}"
        item = {
            "messageId": str(uuid.uuid4()), "receiptHandle": "AQEB" + "h" * 160,
            "body": sns_body(rec, n),
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1688989357000",
                           "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1688989357001"},
            "messageAttributes": {}, "md5OfBody": "0" * 32, "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:cloudcoreo-events-queue",
            "awsRegion": "us-east-1",
        }
        text = json.dumps(item, separators=(",", ":"))
        if size + len(text) + 1 > limit:
            break
        out.append(text)
        size += len(text) + 1
    return '{"Records":[' + ",".join(out) + "]}", len(out)


class Emulator:
    """The runtime API: hands out one event per `next`, records the timings."""

    def __init__(self, event: bytes, invocations: int):
        self.event = event
        self.remaining = invocations
        self.lock = threading.Condition()
        self.first_next = None
        self.sent_at = {}
        self.durations = []
        self.responses = []
        emu = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle(self):
                # Killed functions drop their connections (the extension's long poll).
                try:
                    super().handle()
                except (ConnectionResetError, BrokenPipeError):
                    pass

            def body(self):
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def reply(self, code, body=b"", headers=()):
                self.send_response(code)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()

            def do_POST(self):
                data = self.body()
                if self.path.endswith("/extension/register"):
                    self.reply(200, b'{"functionName":"bench","functionVersion":"1","handler":"bootstrap"}',
                               [("Lambda-Extension-Identifier", "ext-1"), ("Content-Type", "application/json")])
                elif "/invocation/" in self.path and self.path.endswith("/response"):
                    now = time.perf_counter()
                    rid = self.path.split("/")[-2]
                    with emu.lock:
                        emu.durations.append(now - emu.sent_at[rid])
                        emu.responses.append(data)
                        emu.lock.notify_all()
                    self.reply(202, b"{}")
                else:
                    self.reply(202, b"{}")

            def do_GET(self):
                if self.path.endswith("/extension/event/next"):
                    with emu.lock:
                        emu.lock.wait_for(lambda: False, timeout=3600)
                    return
                if not self.path.endswith("/runtime/invocation/next"):
                    self.reply(404)
                    return
                with emu.lock:
                    if emu.first_next is None:
                        emu.first_next = time.perf_counter()
                        emu.lock.notify_all()
                    emu.lock.wait_for(lambda: emu.remaining > 0 and len(emu.durations) == len(emu.sent_at))
                    emu.remaining -= 1
                rid = str(uuid.uuid4())
                deadline = int(time.time() * 1000) + 900_000
                self.send_response(200)
                for k, v in [("Lambda-Runtime-Aws-Request-Id", rid),
                             ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                             ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench"),
                             ("Content-Type", "application/json"),
                             ("Content-Length", str(len(emu.event)))]:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(emu.event)
                self.wfile.flush()
                with emu.lock:
                    emu.sent_at[rid] = time.perf_counter()

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def release(self, n):
        with self.lock:
            self.remaining += n
            self.lock.notify_all()


def spawn(binary, port, sink_out, logs=subprocess.DEVNULL):
    env = {
        "PATH": os.environ.get("PATH", ""), "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_LAMBDA_LOG_LEVEL": "INFO",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "PROCESSOR_SINKS": "stdout",
    }
    return subprocess.Popen([binary], env=env, stdout=sink_out, stderr=logs)


def ready_line(log_text):
    """The function's `ready` line: its own init time, main() to ready, and parts."""
    for line in log_text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("message") == "ready":
            return entry
    return None


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--processor", help="the processor binary, for the replay comparison")
    ap.add_argument("--corpus", default=os.path.join(os.environ.get("CLOUDTRAIL_CORPUS", ""),
                                                      "invictus-aws-dataset/records.ndjson"))
    ap.add_argument("--payload", type=int, default=PAYLOAD_LIMIT)
    ap.add_argument("--cold-starts", type=int, default=20)
    ap.add_argument("--invocations", type=int, default=20)
    a = ap.parse_args()

    records = corpus_records(a.corpus) if os.path.isfile(a.corpus) else generated_records()
    source = a.corpus if os.path.isfile(a.corpus) else "generated S3 records"
    event, count = build_event(records, a.payload)
    event_bytes = event.encode()
    tmp = tempfile.mkdtemp(prefix="lambda-bench-")
    event_file = os.path.join(tmp, "event.json")
    with open(event_file, "wb") as f:
        f.write(event_bytes)
    print(f"batch: {count} records, {len(event_bytes):,} bytes ({source})")

    with open(os.devnull, "wb") as devnull:
        inits, in_process, resolver = [], [], []
        for _ in range(a.cold_starts):
            emu = Emulator(event_bytes, 0)
            t0 = time.perf_counter()
            p = spawn(a.binary, emu.port, devnull, subprocess.PIPE)
            with emu.lock:
                emu.lock.wait_for(lambda: emu.first_next is not None, timeout=30)
            if emu.first_next is None:
                p.kill()
                sys.exit("the function never asked for an event")
            inits.append(emu.first_next - t0)
            p.kill()
            _, err = p.communicate()
            ready = ready_line(err.decode(errors="replace"))
            if ready is not None:
                in_process.append(ready["init_ms"] / 1e3)
                if "resolver_ms" in ready:
                    resolver.append(ready["resolver_ms"] / 1e3)
            emu.server.shutdown()

        emu = Emulator(event_bytes, 0)
        p = spawn(a.binary, emu.port, devnull)
        before = None
        for i in range(a.invocations):
            emu.release(1)
            with emu.lock:
                emu.lock.wait_for(lambda: len(emu.durations) == i + 1, timeout=120)
            if i == 0:
                before = vm_hwm_kib(p.pid)
        hwm = vm_hwm_kib(p.pid)
        p.kill()
        p.wait()
        emu.server.shutdown()
    handler = emu.durations
    resp = json.loads(emu.responses[-1])
    failures = len(resp.get("batchItemFailures", []))

    size = os.path.getsize(a.binary)
    stripped = os.path.join(tmp, "stripped")
    subprocess.run(["strip", "-o", stripped, a.binary], check=False)
    ssize = os.path.getsize(stripped) if os.path.exists(stripped) else size

    ms = lambda s: f"{s * 1e3:.1f} ms"
    print(f"binary: {size / 1e6:.1f} MB, stripped {ssize / 1e6:.2f} MB ({ssize:,} bytes)")
    print(f"init (spawn to first next), {len(inits)} cold starts: best {ms(min(inits))}, median {ms(statistics.median(inits))}")
    if in_process:
        print(f"  of which main() to ready (the function's own init_ms): best {ms(min(in_process))}, median {ms(statistics.median(in_process))}")
    if resolver:
        print(f"  of which the resource catalog: median {ms(statistics.median(resolver))}")
    print(f"handler, {len(handler)} invocations of the batch: best {ms(min(handler))}, median {ms(statistics.median(handler))}, first {ms(handler[0])}; {failures} failures")
    print(f"peak RSS (VmHWM): {hwm / 1024:.1f} MiB (after the first invocation {before / 1024:.1f} MiB)")

    if a.processor:
        empty = os.path.join(tmp, "empty.ndjson")
        open(empty, "w").close()

        def replay(path, runs=10):
            ts = []
            for _ in range(runs):
                t0 = time.perf_counter()
                subprocess.run([a.processor, "replay", path], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, check=True)
                ts.append(time.perf_counter() - t0)
            return min(ts), statistics.median(ts)

        full, full_med = replay(event_file)
        base, base_med = replay(empty)
        print(f"processor replay of the same event file: best {ms(full)} (median {ms(full_med)}); "
              f"of an empty file {ms(base)} (median {ms(base_med)}); difference {ms(full - base)}")


if __name__ == "__main__":
    main()
