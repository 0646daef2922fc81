//! CloudTrail records as the AWS documentation describes them (`userIdentity`,
//! `eventSource`, `requestParameters`, ...), numbered so that thousands of them touch
//! distinct resources with distinct event ids, and their delivered shapes.

use serde_json::{json, Value};

/// The caller in every record.
pub const PRINCIPAL: &str = "arn:aws:iam::ACCOUNT:user/Alice";

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// RFC 3339 (seconds, `Z`) of `secs` since the epoch.
pub fn rfc3339(secs: i64) -> String {
    processor_core::time::format_rfc3339(secs)
}

/// A UUID-shaped event id, distinct for every `(tag, n)`.
pub fn event_id(tag: u16, n: u64) -> String {
    format!(
        "{tag:04x}{:04x}-{:04x}-4000-8000-{:012x}",
        n >> 48,
        (n >> 32) & 0xffff,
        n & 0xffff_ffff
    )
}

/// The principal ARN in `account`.
pub fn principal(account: &str) -> String {
    PRINCIPAL.replace("ACCOUNT", account)
}

/// A successful management API call.
#[allow(clippy::too_many_arguments)]
pub fn api_call(
    account: &str,
    region: &str,
    source: &str,
    name: &str,
    event_id: &str,
    time: i64,
    request: Value,
    response: Value,
) -> Value {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAJ45Q7YFFAREXAMPLE",
            "arn": principal(account),
            "accountId": account,
            "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
            "userName": "Alice"
        },
        "eventTime": rfc3339(time),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "192.0.2.10",
        "userAgent": "aws-cli/2.13.5",
        "requestParameters": request,
        "responseElements": response,
        "requestID": format!("req-{event_id}"),
        "eventID": event_id,
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": account,
        "eventCategory": "Management"
    })
}

/// EC2 `CreateTags` on one instance.
pub fn ec2_create_tags(account: &str, region: &str, id: &str, time: i64, instance: &str) -> Value {
    api_call(
        account,
        region,
        "ec2.amazonaws.com",
        "CreateTags",
        id,
        time,
        json!({"resourcesSet": {"items": [{"resourceId": instance}]},
               "tagSet": {"items": [{"key": "team", "value": "payments"}]}}),
        json!({"requestId": format!("resp-{id}"), "_return": true}),
    )
}

/// EC2 `TerminateInstances` of one instance.
pub fn ec2_terminate_instances(
    account: &str,
    region: &str,
    id: &str,
    time: i64,
    instance: &str,
) -> Value {
    api_call(
        account,
        region,
        "ec2.amazonaws.com",
        "TerminateInstances",
        id,
        time,
        json!({"instancesSet": {"items": [{"instanceId": instance}]}}),
        json!({"requestId": format!("resp-{id}"), "instancesSet": {"items": [{
            "instanceId": instance,
            "currentState": {"code": 32, "name": "shutting-down"},
            "previousState": {"code": 16, "name": "running"}}]}}),
    )
}

/// EC2 `DescribeInstances`: read-only.
pub fn ec2_describe_instances(account: &str, region: &str, id: &str, time: i64) -> Value {
    let mut r = api_call(
        account,
        region,
        "ec2.amazonaws.com",
        "DescribeInstances",
        id,
        time,
        json!({"instancesSet": {}, "filterSet": {}}),
        Value::Null,
    );
    r["readOnly"] = Value::Bool(true);
    r
}

/// S3 `PutBucketPolicy`.
pub fn s3_put_bucket_policy(
    account: &str,
    region: &str,
    id: &str,
    time: i64,
    bucket: &str,
) -> Value {
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
        "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/*")}]});
    api_call(
        account,
        region,
        "s3.amazonaws.com",
        "PutBucketPolicy",
        id,
        time,
        json!({"bucketName": bucket, "Host": format!("{bucket}.s3.{region}.amazonaws.com"),
               "policy": "", "bucketPolicy": policy}),
        Value::Null,
    )
}

/// S3 `PutBucketTagging`.
pub fn s3_put_bucket_tagging(
    account: &str,
    region: &str,
    id: &str,
    time: i64,
    bucket: &str,
) -> Value {
    api_call(
        account,
        region,
        "s3.amazonaws.com",
        "PutBucketTagging",
        id,
        time,
        json!({"bucketName": bucket, "Host": format!("{bucket}.s3.{region}.amazonaws.com"),
               "tagging": ""}),
        Value::Null,
    )
}

/// S3 `DeleteBucket`.
pub fn s3_delete_bucket(account: &str, region: &str, id: &str, time: i64, bucket: &str) -> Value {
    api_call(
        account,
        region,
        "s3.amazonaws.com",
        "DeleteBucket",
        id,
        time,
        json!({"bucketName": bucket, "Host": format!("{bucket}.s3.{region}.amazonaws.com")}),
        Value::Null,
    )
}

/// IAM `CreateRole` (a global service: CloudTrail records it in us-east-1).
pub fn iam_create_role(account: &str, id: &str, time: i64, name: &str, path: &str) -> Value {
    api_call(
        account,
        "us-east-1",
        "iam.amazonaws.com",
        "CreateRole",
        id,
        time,
        json!({"roleName": name, "path": path,
               "assumeRolePolicyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"Service\":\"ec2.amazonaws.com\"},\"Action\":\"sts:AssumeRole\"}]}"}),
        json!({"role": {"path": path, "roleName": name, "roleId": "AROAJ52OTH4H7LEXAMPLE",
               "arn": format!("arn:aws:iam::{account}:role{path}{name}"),
               "createDate": "Jul 10, 2023 11:44:00 AM"}}),
    )
}

/// SQS `SetQueueAttributes`.
pub fn sqs_set_queue_attributes(
    account: &str,
    region: &str,
    id: &str,
    time: i64,
    queue: &str,
) -> Value {
    api_call(
        account,
        region,
        "sqs.amazonaws.com",
        "SetQueueAttributes",
        id,
        time,
        json!({"queueUrl": format!("https://sqs.{region}.amazonaws.com/{account}/{queue}"),
               "attributes": {"VisibilityTimeout": "60"}}),
        Value::Null,
    )
}

/// The same call, failed: `errorCode` and `errorMessage` set, no response.
pub fn failed(mut record: Value, code: &str, message: &str) -> Value {
    record["errorCode"] = json!(code);
    record["errorMessage"] = json!(message);
    record["responseElements"] = Value::Null;
    record
}

/// One mutating call on the `n`th of many distinct resources, cycling through EC2,
/// S3 and SQS; with the ARN of the resource it changes.
pub fn numbered_call(account: &str, region: &str, tag: u16, n: u64, time: i64) -> (Value, String) {
    let id = event_id(tag, n);
    match n % 3 {
        0 => {
            let instance = format!("i-{tag:04x}{n:013x}");
            (
                ec2_create_tags(account, region, &id, time, &instance),
                format!("arn:aws:ec2:{region}:{account}:instance/{instance}"),
            )
        }
        1 => {
            let bucket = format!("bucket-{tag:04x}-{n:08}");
            (
                s3_put_bucket_tagging(account, region, &id, time, &bucket),
                format!("arn:aws:s3:::{bucket}"),
            )
        }
        _ => {
            let queue = format!("queue-{tag:04x}-{n:08}");
            (
                sqs_set_queue_attributes(account, region, &id, time, &queue),
                format!("arn:aws:sqs:{region}:{account}:{queue}"),
            )
        }
    }
}

/// The body an SQS queue subscribed to the `cloudcoreo-events` topic receives for
/// `record`: the EventBridge event CloudTrail emits, in an SNS notification (SNS's
/// own multi-line layout), with ids numbered `n`.
pub fn sns_body(record: &Value, n: u64, account: &str, region: &str) -> String {
    let topic = format!("arn:aws:sns:{region}:{account}:cloudcoreo-events");
    let timestamp = format!("{}.000Z", rfc3339(now_secs()).trim_end_matches('Z'));
    processor_core::wrap::sns_delivery(&record.to_string(), n, &topic, &timestamp, true)
        .expect("wrap record")
}

/// Bodies that no layer can decode, each for a different reason: not JSON, truncated
/// JSON, JSON of no known shape, an SNS notification whose message is not an event,
/// an EventBridge event whose detail is not a CloudTrail record, too deep a nesting.
pub fn poison_bodies(tag: &str) -> Vec<String> {
    let deep = format!(
        "{{\"tag\": \"{tag}\", \"deep\": {}{}}}",
        "[".repeat(400),
        "]".repeat(400)
    );
    vec![
        format!("this is not json ({tag})"),
        format!("{{\"Type\" : \"Notification\", \"MessageId\" : \"{tag}\", \"Message\" : \"{{\\\"version\\\""),
        format!("{{\"hello\": \"world\", \"tag\": \"{tag}\"}}"),
        json!({"Type": "Notification", "MessageId": format!("{tag}-1"),
               "TopicArn": "arn:aws:sns:us-east-1:000000000000:cloudcoreo-events",
               "Message": format!("plain text, not an event ({tag})"),
               "Timestamp": "2026-01-01T00:00:00.000Z"})
        .to_string(),
        json!({"version": "0", "id": format!("{tag}-2"), "detail-type": "AWS API Call via CloudTrail",
               "source": "aws.ec2", "account": "000000000000", "time": "2026-01-01T00:00:00Z",
               "region": "us-east-1", "resources": [], "detail": {"note": tag}})
        .to_string(),
        deep,
    ]
}
