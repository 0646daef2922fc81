//! CloudTrail records and their deliveries, shared by the integration tests.
#![allow(dead_code)]

use processor_core::wrap::sns_delivery;

/// The topic the notifications come from.
pub const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:cloudcoreo-events";

/// A CloudTrail record of an S3 bucket call; `extra` adds fields (`,"readOnly":true`).
pub fn record(event_id: &str, name: &str, bucket: &str, extra: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","eventID":"{event_id}","eventTime":"2023-07-10T11:42:36Z","eventSource":"s3.amazonaws.com","eventName":"{name}","awsRegion":"us-east-1","recipientAccountId":"123456789012","eventType":"AwsApiCall","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::123456789012:user/Alice"}},"requestParameters":{{"bucketName":"{bucket}"}},"resources":[{{"ARN":"arn:aws:s3:::{bucket}","type":"AWS::S3::Bucket"}}]{extra}}}"#
    )
}

/// A `PutBucketPolicy` on `bucket`.
pub fn write(event_id: &str, bucket: &str) -> String {
    record(event_id, "PutBucketPolicy", bucket, r#","readOnly":false"#)
}

/// A read-only call on `bucket`.
pub fn read(event_id: &str, bucket: &str) -> String {
    record(event_id, "GetBucketPolicy", bucket, r#","readOnly":true"#)
}

/// `record` as SNS delivers it to the queue (the `n`th notification).
pub fn sns(record: &str, n: u64) -> String {
    sns_delivery(record, n, TOPIC, "2023-07-10T11:42:40.000Z", false).expect("wrap")
}

/// An SNS subscription confirmation from `topic`.
pub fn subscription_confirmation(topic: &str) -> String {
    subscription_message(
        "SubscriptionConfirmation",
        topic,
        "2336412f37fb687f5d51e6e2425c464de12884",
    )
}

/// An SNS subscription message of type `kind` (`SubscriptionConfirmation`,
/// `UnsubscribeConfirmation`) from `topic` carrying `token`.
pub fn subscription_message(kind: &str, topic: &str, token: &str) -> String {
    format!(
        r#"{{"Type":"{kind}","MessageId":"165545c9-2a5c-472c-8df2-7ff2be2b3b1b","Token":"{token}","TopicArn":"{topic}","Message":"You have chosen to subscribe to the topic {topic}.","SubscribeURL":"https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic}&Token={token}","Timestamp":"2023-07-10T11:40:00.000Z","SignatureVersion":"1","Signature":"EXAMPLE","SigningCertURL":"https://sns.us-east-1.amazonaws.com/x.pem"}}"#
    )
}
