"""AWS-side steps of tests/container.sh's chain test (boto3, from moto's virtualenv).

Subcommands:
  trail      --endpoint MOTO                      a logging multi-region trail in us-east-1
  put        --endpoint LS --set main|one --tag T  CloudTrail-shaped events on the default bus
  wait-depth --endpoint LS --queue-url U --count N --timeout S
                                                  until N messages are visible on the queue
  depth      --endpoint LS --queue-url U          prints "VISIBLE IN_FLIGHT"
  check      --file F --set main|one --tag T      the requests in F are exactly the expected
  wait-lines --file F --count N --timeout S       until F holds N lines

Every failure exits non-zero with the reason on stderr.
"""

import argparse
import json
import sys
import time
import uuid

import boto3

REGION = "us-east-1"
ACCOUNT = "000000000000"  # LocalStack's account for the test credentials
PRINCIPAL = f"arn:aws:iam::{ACCOUNT}:user/Alice"


def client(service, endpoint):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def event_id(tag, n):
    """A UUID-shaped event id, distinct per tag and number."""
    return str(uuid.UUID(int=(int(tag, 16) << 96) | n))


def record(tag, n, t, source, name, request, response=None):
    return {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLEPRINCIPAL",
            "arn": PRINCIPAL,
            "accountId": ACCOUNT,
            "userName": "Alice",
        },
        "eventTime": rfc3339(t),
        "eventSource": source,
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": "192.0.2.10",
        "userAgent": "container-test",
        "requestParameters": request,
        "responseElements": response,
        "eventID": event_id(tag, n),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }


def instance(tag, n):
    return f"i-0{tag}{n:012x}"


def create_tags(tag, n, t, inst):
    return record(
        tag, n, t, "ec2.amazonaws.com", "CreateTags",
        {"resourcesSet": {"items": [{"resourceId": inst}]},
         "tagSet": {"items": [{"key": "team", "value": "payments"}]}},
        {"_return": True},
    )


def calls(which, tag, t0):
    """The records of a set, and the requests they must give: ARN -> (service,
    resource id, action, [(event id, event name)])."""
    if which == "one":
        inst = instance(tag, 1)
        recs = [create_tags(tag, 1, t0, inst)]
        want = {
            f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{inst}":
                ("ec2", inst, "update", [(event_id(tag, 1), "CreateTags")]),
        }
        return recs, want
    tagged, gone, bucket = instance(tag, 1), instance(tag, 2), f"container-test-{tag}"
    describe = record(tag, 5, t0 + 4, "ec2.amazonaws.com", "DescribeInstances",
                      {"instancesSet": {}, "filterSet": {}})
    describe["readOnly"] = True
    denied = record(tag, 6, t0 + 5, "iam.amazonaws.com", "CreateRole",
                    {"roleName": "existing", "path": "/",
                     "assumeRolePolicyDocument": "{}"})
    denied["errorCode"] = "EntityAlreadyExists"
    denied["errorMessage"] = "Role with name existing already exists."
    recs = [
        create_tags(tag, 1, t0, tagged),
        record(tag, 2, t0 + 1, "ec2.amazonaws.com", "TerminateInstances",
               {"instancesSet": {"items": [{"instanceId": gone}]}},
               {"instancesSet": {"items": [{"instanceId": gone,
                                            "currentState": {"code": 32, "name": "shutting-down"},
                                            "previousState": {"code": 16, "name": "running"}}]}}),
        record(tag, 3, t0 + 2, "s3.amazonaws.com", "PutBucketPolicy",
               {"bucketName": bucket, "Host": f"{bucket}.s3.{REGION}.amazonaws.com",
                "policy": ""}),
        create_tags(tag, 4, t0 + 3, tagged),
        describe,
        denied,
    ]
    want = {
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{tagged}":
            ("ec2", tagged, "update", [(event_id(tag, 1), "CreateTags"),
                                       (event_id(tag, 4), "CreateTags")]),
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{gone}":
            ("ec2", gone, "delete", [(event_id(tag, 2), "TerminateInstances")]),
        f"arn:aws:s3:::{bucket}":
            ("s3", bucket, "update", [(event_id(tag, 3), "PutBucketPolicy")]),
    }
    return recs, want


def fail(message):
    print(f"chain.py: {message}", file=sys.stderr)
    sys.exit(1)


def cmd_trail(a):
    s3 = client("s3", a.endpoint)
    s3.create_bucket(Bucket="container-test-trail")
    ct = client("cloudtrail", a.endpoint)
    ct.create_trail(Name="container-test", S3BucketName="container-test-trail",
                    IsMultiRegionTrail=True)
    ct.start_logging(Name="container-test")


def cmd_put(a):
    recs, _ = calls(a.set, a.tag, a.at)
    eb = client("events", a.endpoint)
    entries = [{
        "Source": "aws." + r["eventSource"].split(".")[0],
        "DetailType": "AWS API Call via CloudTrail",
        "Detail": json.dumps(r),
    } for r in recs]
    out = eb.put_events(Entries=entries)
    if out["FailedEntryCount"]:
        fail(f"PutEvents refused entries: {out['Entries']}")
    print(len(entries))


def depth(a):
    sqs = client("sqs", a.endpoint)
    attrs = sqs.get_queue_attributes(
        QueueUrl=a.queue_url,
        AttributeNames=["ApproximateNumberOfMessages",
                        "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return (int(attrs["ApproximateNumberOfMessages"]),
            int(attrs["ApproximateNumberOfMessagesNotVisible"]))


def cmd_depth(a):
    print(*depth(a))


def cmd_wait_depth(a):
    deadline = time.time() + a.timeout
    while True:
        visible, _ = depth(a)
        if visible == a.count:
            return
        if visible > a.count:
            fail(f"{visible} messages on the queue, more than the {a.count} expected")
        if time.time() > deadline:
            fail(f"{visible} of {a.count} messages on the queue after {a.timeout} s")
        time.sleep(0.2)


def read_lines(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [l for l in f.read().splitlines() if l.strip()]
    except FileNotFoundError:
        return []


def cmd_wait_lines(a):
    deadline = time.time() + a.timeout
    while len(read_lines(a.file)) < a.count:
        if time.time() > deadline:
            fail(f"{len(read_lines(a.file))} of {a.count} lines in {a.file} after {a.timeout} s")
        time.sleep(0.2)


def cmd_check(a):
    _, want = calls(a.set, a.tag, 0)
    got = {}
    for line in read_lines(a.file):
        r = json.loads(line)
        if r.get("arn") in got:
            fail(f"two requests for {r.get('arn')}")
        got[r.get("arn")] = r
    if sorted(got) != sorted(want):
        fail(f"requests for {sorted(got)}, expected {sorted(want)}")
    for arn, (service, resource_id, action, events) in want.items():
        r = got[arn]
        expect = {"account": ACCOUNT, "region": REGION, "scope": "resource",
                  "service": service, "resource_id": resource_id, "action": action}
        for k, v in expect.items():
            if r.get(k) != v:
                fail(f"{arn}: {k} is {r.get(k)!r}, expected {v!r}")
        got_events = [(e["event_id"], e["event_name"]) for e in r["events"]]
        if got_events != events:
            fail(f"{arn}: events {got_events}, expected {events}")
        if any(e.get("principal") != PRINCIPAL for e in r["events"]):
            fail(f"{arn}: principal is not {PRINCIPAL}")
        if r["not_before"] <= r["events"][-1]["event_time"]:
            fail(f"{arn}: not_before {r['not_before']} is not after the newest event")
    print(f"{len(got)} requests as expected")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("trail")
    s.add_argument("--endpoint", required=True)
    s = sub.add_parser("put")
    s.add_argument("--endpoint", required=True)
    s.add_argument("--set", choices=["main", "one"], required=True)
    s.add_argument("--tag", required=True)
    s.add_argument("--at", type=int, default=int(time.time()) - 60)
    for name in ("depth", "wait-depth"):
        s = sub.add_parser(name)
        s.add_argument("--endpoint", required=True)
        s.add_argument("--queue-url", required=True)
        if name == "wait-depth":
            s.add_argument("--count", type=int, required=True)
            s.add_argument("--timeout", type=float, default=60)
    s = sub.add_parser("check")
    s.add_argument("--file", required=True)
    s.add_argument("--set", choices=["main", "one"], required=True)
    s.add_argument("--tag", required=True)
    s = sub.add_parser("wait-lines")
    s.add_argument("--file", required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--timeout", type=float, default=60)
    a = p.parse_args()
    {"trail": cmd_trail, "put": cmd_put, "depth": cmd_depth, "wait-depth": cmd_wait_depth,
     "check": cmd_check, "wait-lines": cmd_wait_lines}[a.cmd](a)


if __name__ == "__main__":
    main()
