//! What each kind of consumer does with the central queue, as IAM actions: one list
//! per consumer, read by `processor policy` and by `event-rule`'s CloudFormation
//! templates, so the printed policies and the deployed roles cannot drift apart.
//! Sorted, as the policies print them.

/// `processor run`: receives, deletes what the sinks accepted, and extends or shortens
/// the visibility of what it holds or must retry (the batch calls need the same
/// actions). It never reads the queue's attributes.
pub const RUN_QUEUE_ACTIONS: [&str; 3] = [
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:ReceiveMessage",
];

/// The Lambda function's execution role, used by its SQS event source mapping: it
/// receives, deletes what the function did not report as failed, and reads the queue's
/// attributes; a failure comes back when its visibility runs out.
pub const LAMBDA_QUEUE_ACTIONS: [&str; 3] = [
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
];
