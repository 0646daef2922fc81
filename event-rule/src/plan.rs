//! Desired and observed state, and the pure diff between them. Setup applies the diff,
//! plan prints it, status reports it as drift; none of this module does I/O, so every
//! decision is unit-tested here.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::error::Error;
use crate::policy;

/// A resource this tool manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resource {
    /// The central queue's dead-letter queue.
    DeadLetterQueue,
    /// The central queue.
    Queue,
    /// This tool's statement in the central queue's policy.
    QueuePolicy,
    /// The regional SNS topic.
    Topic,
    /// The regional EventBridge rule.
    Rule,
    /// The topic as the rule's target.
    Target,
    /// The topic's subscription to the central queue.
    Subscription,
    /// The read-only scanner role.
    ScannerRole,
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Resource::DeadLetterQueue => "dlq",
            Resource::Queue => "queue",
            Resource::QueuePolicy => "queue-policy",
            Resource::Topic => "topic",
            Resource::Rule => "rule",
            Resource::Target => "target",
            Resource::Subscription => "subscription",
            Resource::ScannerRole => "scanner-role",
        })
    }
}

/// What happens to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// It is missing and gets created.
    Create,
    /// It exists and one aspect gets changed.
    Update,
    /// It gets removed.
    Delete,
}

/// Which part of a resource a change concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Aspect {
    /// The whole resource.
    Whole,
    /// Its tags.
    Tags,
    /// Its resource policy (or trust policy).
    Policy,
    /// Its KMS key / server-side encryption.
    Encryption,
    /// Its definition: the rule's pattern, state and description; the queue's
    /// attributes.
    Definition,
    /// The managed policy attached to a role.
    Attachment,
}

/// One change to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ResourceChange {
    /// The resource.
    pub resource: Resource,
    /// What happens.
    pub action: ChangeKind,
    /// To which part.
    pub aspect: Aspect,
}

impl ResourceChange {
    const fn new(resource: Resource, action: ChangeKind, aspect: Aspect) -> Self {
        ResourceChange {
            resource,
            action,
            aspect,
        }
    }
    /// Creates the whole resource.
    pub const fn create(resource: Resource) -> Self {
        Self::new(resource, ChangeKind::Create, Aspect::Whole)
    }
    /// Updates one aspect.
    pub const fn update(resource: Resource, aspect: Aspect) -> Self {
        Self::new(resource, ChangeKind::Update, aspect)
    }
    /// Deletes the whole resource.
    pub const fn delete(resource: Resource) -> Self {
        Self::new(resource, ChangeKind::Delete, Aspect::Whole)
    }
}

impl fmt::Display for ResourceChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = match self.action {
            ChangeKind::Create => "create",
            ChangeKind::Update => "update",
            ChangeKind::Delete => "delete",
        };
        let aspect = match self.aspect {
            Aspect::Whole => return write!(f, "{action} {}", self.resource),
            Aspect::Tags => "tags",
            Aspect::Policy => "policy",
            Aspect::Encryption => "encryption",
            Aspect::Definition => "definition",
            Aspect::Attachment => "attachment",
        };
        write!(f, "{action} {} {aspect}", self.resource)
    }
}

/// Whether `actual` carries every tag in `wanted`.
pub fn has_tags(actual: &BTreeMap<String, String>, wanted: &BTreeMap<String, String>) -> bool {
    wanted.iter().all(|(k, v)| actual.get(k) == Some(v))
}

// ---------------------------------------------------------------- region

/// What one region of one account should hold.
#[derive(Debug, Clone)]
pub struct RegionDesired {
    /// Topic ARN.
    pub topic_arn: String,
    /// This tool's topic policy document (its statements only; see
    /// [`RegionDesired::topic_policy_for`]).
    pub topic_policy: Value,
    /// Drop the statements of an existing topic policy that this tool did not write
    /// instead of keeping them.
    pub replace_foreign: bool,
    /// KMS key for the topic, if encryption is wanted.
    pub topic_kms: Option<String>,
    /// Rule name.
    pub rule_name: String,
    /// Rule ARN.
    pub rule_arn: String,
    /// Event pattern.
    pub pattern: String,
    /// Rule description.
    pub description: String,
    /// Id of the rule's target.
    pub target_id: String,
    /// Central queue ARN.
    pub queue_arn: String,
    /// Tags on topic and rule.
    pub tags: BTreeMap<String, String>,
}

impl RegionDesired {
    /// The topic policy to write over `existing` (as read back): this tool's
    /// statements, with the foreign ones of `existing` kept unless `replace_foreign`.
    pub fn topic_policy_for(&self, existing: Option<&str>) -> Value {
        policy::with_foreign(
            &self.topic_policy,
            existing,
            policy::TOPIC_SIDS,
            self.replace_foreign,
        )
    }
}

/// The topic as read back.
#[derive(Debug, Clone, Default)]
pub struct TopicState {
    /// `Policy` attribute.
    pub policy: Option<String>,
    /// `KmsMasterKeyId` attribute.
    pub kms: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// The rule as read back.
#[derive(Debug, Clone, Default)]
pub struct RuleState {
    /// Event pattern.
    pub pattern: Option<String>,
    /// `ENABLED` or `DISABLED`.
    pub state: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Targets, `(id, arn)`.
    pub targets: Vec<(String, String)>,
    /// Ids of targets whose input is rewritten (`Input`, `InputPath` or
    /// `InputTransformer` set): the topic would no longer get the events as they are.
    pub rewritten: Vec<String>,
}

/// The subscription of the topic to the central queue, as read back.
#[derive(Debug, Clone)]
pub struct SubscriptionState {
    /// Subscription ARN, or `PendingConfirmation`.
    pub arn: String,
    /// Whether it awaits confirmation.
    pub pending: bool,
    /// Whether it was found with the home account's credentials.
    pub via_home: bool,
    /// Its filter policy (`FilterPolicy`), when one is set: the queue would get only
    /// the events matching it.
    pub filter_policy: Option<String>,
    /// Whether raw message delivery is on: the queue would get the bare event instead
    /// of the SNS envelope the processor reads.
    pub raw_delivery: bool,
}

impl SubscriptionState {
    /// A confirmed subscription that filters or delivers raw: drift to repair.
    pub fn drifted(&self) -> bool {
        !self.pending && (self.filter_policy.is_some() || self.raw_delivery)
    }
}

/// The `FilterPolicy` attribute as a filter: `None` when absent, empty or `{}` (how
/// SNS records a removed policy).
pub fn filter_policy(attribute: Option<&str>) -> Option<String> {
    let v = attribute?.trim();
    let empty = v.is_empty()
        || serde_json::from_str::<Value>(v)
            .ok()
            .is_some_and(|j| j.as_object().is_some_and(|o| o.is_empty()));
    (!empty).then(|| v.to_string())
}

/// One region of one account as read back.
#[derive(Debug, Clone, Default)]
pub struct RegionObserved {
    /// The topic, if it exists.
    pub topic: Option<TopicState>,
    /// The rule, if it exists.
    pub rule: Option<RuleState>,
    /// Subscriptions of the topic to the central queue.
    pub subscriptions: Vec<SubscriptionState>,
}

impl RegionObserved {
    /// Whether nothing of ours is there.
    pub fn is_empty(&self) -> bool {
        self.topic.is_none() && self.rule.is_none() && self.subscriptions.is_empty()
    }

    /// The statements of the topic policy this tool did not write, described (see
    /// [`policy::describe_statement`]).
    pub fn foreign_statements(&self) -> Vec<String> {
        let existing = self.topic.as_ref().and_then(|t| t.policy.as_deref());
        policy::foreign_statements(existing, policy::TOPIC_SIDS)
            .iter()
            .map(policy::describe_statement)
            .collect()
    }
}

/// The state of a policy's foreign statements for a report: `ok` when there are none,
/// else how many and which.
pub fn foreign_check(described: &[String]) -> String {
    match described.len() {
        0 => "ok".into(),
        1 => format!("1 foreign statement: {}", described[0]),
        n => format!("{n} foreign statements: {}", described.join("; ")),
    }
}

fn unmanaged(resource: &str, tags: &BTreeMap<String, String>) -> Error {
    let tag = tags
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    Error::Unmanaged {
        resource: resource.to_string(),
        tag,
    }
}

/// The changes that bring `o` to `d`, in the order they must be applied. A topic or rule
/// that exists without our tags is an error unless `adopt`.
pub fn diff_region(
    d: &RegionDesired,
    o: &RegionObserved,
    adopt: bool,
) -> Result<Vec<ResourceChange>, Error> {
    let mut out = Vec::new();
    match &o.topic {
        None => out.push(ResourceChange::create(Resource::Topic)),
        Some(t) => {
            if !has_tags(&t.tags, &d.tags) {
                if !adopt {
                    return Err(unmanaged(&d.topic_arn, &d.tags));
                }
                out.push(ResourceChange::update(Resource::Topic, Aspect::Tags));
            }
            let wanted = d.topic_policy_for(t.policy.as_deref());
            if !policy::same(t.policy.as_deref(), &wanted) {
                out.push(ResourceChange::update(Resource::Topic, Aspect::Policy));
            }
            if d.topic_kms.is_some() && t.kms != d.topic_kms {
                out.push(ResourceChange::update(Resource::Topic, Aspect::Encryption));
            }
        }
    }
    match &o.rule {
        None => {
            out.push(ResourceChange::create(Resource::Rule));
            out.push(ResourceChange::create(Resource::Target));
        }
        Some(r) => {
            if !has_tags(&r.tags, &d.tags) {
                if !adopt {
                    return Err(unmanaged(&d.rule_arn, &d.tags));
                }
                out.push(ResourceChange::update(Resource::Rule, Aspect::Tags));
            }
            let pattern_ok = r
                .pattern
                .as_deref()
                .is_some_and(|p| crate::pattern::same(p, &d.pattern));
            if !pattern_ok
                || r.state.as_deref() != Some("ENABLED")
                || r.description.as_deref() != Some(d.description.as_str())
            {
                out.push(ResourceChange::update(Resource::Rule, Aspect::Definition));
            }
            match r.targets.iter().find(|(id, _)| id == &d.target_id) {
                None => out.push(ResourceChange::create(Resource::Target)),
                Some((id, arn)) if arn != &d.topic_arn || r.rewritten.contains(id) => {
                    out.push(ResourceChange::update(Resource::Target, Aspect::Definition))
                }
                Some(_) => {}
            }
        }
    }
    if o.subscriptions.is_empty() {
        out.push(ResourceChange::create(Resource::Subscription));
    } else if o.subscriptions.iter().any(SubscriptionState::drifted) {
        out.push(ResourceChange::update(
            Resource::Subscription,
            Aspect::Definition,
        ));
    }
    Ok(out)
}

/// What teardown removes in a region: only what carries our tags, and the
/// subscriptions of our topic to our queue.
pub fn teardown_region(
    d: &RegionDesired,
    o: &RegionObserved,
) -> (Vec<ResourceChange>, Vec<String>) {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    if let Some(r) = &o.rule {
        if has_tags(&r.tags, &d.tags) {
            if r.targets.iter().any(|(id, _)| id == &d.target_id) {
                out.push(ResourceChange::delete(Resource::Target));
            }
            out.push(ResourceChange::delete(Resource::Rule));
        } else {
            notes.push(format!(
                "left rule {} alone: not tagged by event-rule",
                d.rule_arn
            ));
        }
    }
    match &o.topic {
        Some(t) if has_tags(&t.tags, &d.tags) => {
            if !o.subscriptions.is_empty() {
                out.push(ResourceChange::delete(Resource::Subscription));
            }
            out.push(ResourceChange::delete(Resource::Topic));
        }
        Some(_) => notes.push(format!(
            "left topic {} alone: not tagged by event-rule",
            d.topic_arn
        )),
        None => {
            if !o.subscriptions.is_empty() {
                out.push(ResourceChange::delete(Resource::Subscription));
            }
        }
    }
    (out, notes)
}

// ---------------------------------------------------------------- queue

/// What the central queue and its dead-letter queue should be.
#[derive(Debug, Clone)]
pub struct QueueDesired {
    /// Queue ARN.
    pub queue_arn: String,
    /// Dead-letter queue ARN.
    pub dlq_arn: String,
    /// KMS key for SSE; `None` means SQS-managed SSE.
    pub kms: Option<String>,
    /// Receives before a message moves to the dead-letter queue.
    pub max_receive_count: u32,
    /// The queue's visibility timeout, seconds.
    pub visibility_timeout: u32,
    /// The queue's long-poll wait for receives that set none, seconds.
    pub receive_wait: u32,
    /// How long the queue keeps a message, seconds.
    pub retention: u32,
    /// Drop the statements of the queue policy this tool did not write instead of
    /// keeping them.
    pub replace_foreign: bool,
    /// `(organization id, topic ARN pattern)`: the queue policy admits the topics of
    /// the organization's accounts instead of listing them.
    pub organization: Option<(String, String)>,
    /// Tags on both queues.
    pub tags: BTreeMap<String, String>,
}

/// Seconds the dead-letter queue keeps messages: the maximum, 14 days.
pub const DLQ_RETENTION_SECONDS: u32 = crate::config::MESSAGE_RETENTION_RANGE.1;

impl QueueDesired {
    fn sse_attrs(&self) -> Vec<(&'static str, String)> {
        match &self.kms {
            Some(k) => vec![("KmsMasterKeyId", k.clone())],
            None => vec![("SqsManagedSseEnabled", "true".into())],
        }
    }

    /// The attributes that switch an existing queue's encryption to the wanted kind.
    pub fn sse_update_attrs(&self) -> Vec<(&'static str, String)> {
        match &self.kms {
            Some(k) => vec![
                ("KmsMasterKeyId", k.clone()),
                ("SqsManagedSseEnabled", "false".into()),
            ],
            None => vec![("SqsManagedSseEnabled", "true".into())],
        }
    }

    /// Attributes of the dead-letter queue.
    pub fn dlq_attributes(&self) -> Vec<(&'static str, String)> {
        let mut v = self.sse_attrs();
        v.push(("MessageRetentionPeriod", DLQ_RETENTION_SECONDS.to_string()));
        v
    }

    /// Attributes of the queue (without its policy).
    pub fn queue_attributes(&self) -> Vec<(&'static str, String)> {
        let mut v = self.sse_attrs();
        v.push(("VisibilityTimeout", self.visibility_timeout.to_string()));
        v.push((
            "ReceiveMessageWaitTimeSeconds",
            self.receive_wait.to_string(),
        ));
        v.push(("MessageRetentionPeriod", self.retention.to_string()));
        v.push((
            "RedrivePolicy",
            serde_json::json!({
                "deadLetterTargetArn": self.dlq_arn,
                "maxReceiveCount": self.max_receive_count,
            })
            .to_string(),
        ));
        v
    }

    fn encryption_ok(&self, attrs: &HashMap<String, String>) -> bool {
        match &self.kms {
            Some(k) => attrs.get("KmsMasterKeyId") == Some(k),
            // Already encrypted with a customer key counts as encrypted.
            None => {
                attrs.get("SqsManagedSseEnabled").map(String::as_str) == Some("true")
                    || attrs.get("KmsMasterKeyId").is_some_and(|k| !k.is_empty())
            }
        }
    }
}

/// The attributes among `wanted` (encryption aside, which is its own change) that
/// `actual` lacks or holds another value of, as `(name, actual, wanted)`.
pub fn differing_attributes(
    actual: &HashMap<String, String>,
    wanted: &[(&'static str, String)],
) -> Vec<(&'static str, Option<String>, String)> {
    wanted
        .iter()
        .filter(|(k, v)| match *k {
            "SqsManagedSseEnabled" | "KmsMasterKeyId" => false,
            "RedrivePolicy" => !same_redrive(actual.get(*k), v),
            _ => actual.get(*k) != Some(v),
        })
        .map(|(k, v)| (*k, actual.get(*k).cloned(), v.clone()))
        .collect()
}

/// Notes naming each attribute of the queues that differs from `d`, with its value
/// and the wanted one (`status` and `plan` say what a definition change is about).
pub fn queue_attribute_notes(d: &QueueDesired, o: &QueueObserved) -> Vec<String> {
    let mut out = Vec::new();
    for (label, q, wanted) in [
        ("dead-letter queue", &o.dlq, d.dlq_attributes()),
        ("queue", &o.queue, d.queue_attributes()),
    ] {
        let Some(q) = q else { continue };
        for (name, actual, want) in differing_attributes(&q.attributes, &wanted) {
            let actual = actual.unwrap_or_else(|| "unset".into());
            out.push(format!("{label} {name} is {actual}, wanted {want}"));
        }
    }
    out
}

/// A queue as read back.
#[derive(Debug, Clone, Default)]
pub struct QueueState {
    /// Queue URL.
    pub url: String,
    /// All attributes.
    pub attributes: HashMap<String, String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// Both queues as read back.
#[derive(Debug, Clone, Default)]
pub struct QueueObserved {
    /// Dead-letter queue, if it exists.
    pub dlq: Option<QueueState>,
    /// Queue, if it exists.
    pub queue: Option<QueueState>,
}

impl QueueObserved {
    /// The queue's policy as read back.
    pub fn policy(&self) -> Option<&str> {
        self.queue
            .as_ref()
            .and_then(|q| q.attributes.get("Policy"))
            .map(String::as_str)
    }

    /// The statements of the queue policy this tool did not write, described (see
    /// [`policy::describe_statement`]).
    pub fn foreign_statements(&self) -> Vec<String> {
        policy::foreign_statements(self.policy(), policy::QUEUE_SIDS)
            .iter()
            .map(policy::describe_statement)
            .collect()
    }
}

/// The queue changes, and the policy to set (`None`: remove it).
#[derive(Debug, Clone, PartialEq)]
pub struct QueuePlan {
    /// Changes in the order they must be applied.
    pub changes: Vec<ResourceChange>,
    /// The policy the queue should end with.
    pub policy: Option<Value>,
}

/// How the topic ARNs allowed by the queue policy change.
#[derive(Debug, Clone)]
pub enum Sources<'a> {
    /// Setup: keep what is allowed and add these.
    Add(&'a BTreeSet<String>),
    /// Teardown: remove these topic ARNs; a folded `arn:P:sns:*:ACCOUNT:TOPIC` entry
    /// goes too when it matches one of them and its account is in the second set (the
    /// accounts whose every region was torn down), and stays otherwise.
    Remove(&'a BTreeSet<String>, &'a BTreeSet<String>),
}

/// The topic ARNs the queue policy should allow, from what it allows now.
pub fn policy_sources(current: &BTreeSet<String>, change: &Sources<'_>) -> BTreeSet<String> {
    match change {
        Sources::Add(add) => {
            let mut out = current.clone();
            for a in add.iter() {
                if !current.iter().any(|c| policy::arn_like(c, a)) {
                    out.insert(a.clone());
                }
            }
            out
        }
        Sources::Remove(remove, whole_accounts) => current
            .iter()
            .filter(|c| {
                if remove.contains(*c) {
                    return false;
                }
                let folded = c.contains('*') || c.contains('?');
                let account_gone = processor_core::arn::Arn::parse(c)
                    .is_some_and(|a| whole_accounts.contains(a.account));
                !(folded && account_gone && remove.iter().any(|r| policy::arn_like(c, r)))
            })
            .cloned()
            .collect(),
    }
}

/// The changes that bring the queues to `d`, allowing the topic ARNs `sources` changes.
pub fn diff_queue(
    d: &QueueDesired,
    o: &QueueObserved,
    sources: &Sources<'_>,
    adopt: bool,
) -> Result<QueuePlan, Error> {
    let mut changes = Vec::new();
    let check = |q: &QueueState,
                 arn: &str,
                 attrs: Vec<(&'static str, String)>,
                 changes: &mut Vec<ResourceChange>,
                 res: Resource| {
        if !has_tags(&q.tags, &d.tags) {
            if !adopt {
                return Err(unmanaged(arn, &d.tags));
            }
            changes.push(ResourceChange::update(res, Aspect::Tags));
        }
        // Encryption and the rest are separate changes, so fixing one never rewrites
        // the other (a customer key stays when only the redrive policy changed).
        if !d.encryption_ok(&q.attributes) {
            changes.push(ResourceChange::update(res, Aspect::Encryption));
        }
        if !differing_attributes(&q.attributes, &attrs).is_empty() {
            changes.push(ResourceChange::update(res, Aspect::Definition));
        }
        Ok(())
    };
    match &o.dlq {
        None => changes.push(ResourceChange::create(Resource::DeadLetterQueue)),
        Some(q) => check(
            q,
            &d.dlq_arn,
            d.dlq_attributes(),
            &mut changes,
            Resource::DeadLetterQueue,
        )?,
    }
    let existing_policy = o.policy();
    let current = policy::queue_policy_sources(existing_policy);
    let wanted = policy_sources(&current, sources);
    // The policy whose foreign statements are kept: none with `replace_foreign`.
    let kept = existing_policy.filter(|_| !d.replace_foreign);
    let new_policy = match &d.organization {
        Some((org, topics)) => Some(policy::queue_policy_for_organization(
            &d.queue_arn,
            kept,
            topics,
            org,
        )),
        None => policy::queue_policy(&d.queue_arn, kept, &wanted)?,
    };
    match &o.queue {
        None => {
            changes.push(ResourceChange::create(Resource::Queue));
            if new_policy.is_some() {
                changes.push(ResourceChange::create(Resource::QueuePolicy));
            }
        }
        Some(q) => {
            check(
                q,
                &d.queue_arn,
                d.queue_attributes(),
                &mut changes,
                Resource::Queue,
            )?;
            let policy_ok = match (
                &new_policy,
                existing_policy.filter(|p| !p.trim().is_empty()),
            ) {
                (None, None) => true,
                (Some(p), e) => policy::same(e, p),
                (None, Some(_)) => false,
            };
            if !policy_ok {
                changes.push(match (&new_policy, current.is_empty()) {
                    (None, _) => ResourceChange::delete(Resource::QueuePolicy),
                    (Some(_), true) => ResourceChange::create(Resource::QueuePolicy),
                    (Some(_), false) => {
                        ResourceChange::update(Resource::QueuePolicy, Aspect::Policy)
                    }
                });
            }
        }
    }
    Ok(QueuePlan {
        changes,
        policy: new_policy,
    })
}

fn same_redrive(actual: Option<&String>, desired: &str) -> bool {
    match (
        actual.and_then(|a| policy::parse(a)),
        policy::parse(desired),
    ) {
        (Some(a), Some(d)) => policy::normalize(&a) == policy::normalize(&d),
        _ => false,
    }
}

// ---------------------------------------------------------------- scanner role

/// The scanner role as read back.
#[derive(Debug, Clone, Default)]
pub struct RoleState {
    /// Trust policy (possibly URL-encoded).
    pub trust: Option<String>,
    /// ARNs of attached managed policies.
    pub attached: Vec<String>,
    /// Names of inline policies.
    pub inline: Vec<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// The changes that bring the scanner role to its trust policy and attachment.
pub fn diff_role(
    role_arn: &str,
    trust: &Value,
    managed_policy_arn: &str,
    tags: &BTreeMap<String, String>,
    o: Option<&RoleState>,
    adopt: bool,
) -> Result<Vec<ResourceChange>, Error> {
    let Some(r) = o else {
        return Ok(vec![ResourceChange::create(Resource::ScannerRole)]);
    };
    let mut out = Vec::new();
    if !has_tags(&r.tags, tags) {
        if !adopt {
            return Err(unmanaged(role_arn, tags));
        }
        out.push(ResourceChange::update(Resource::ScannerRole, Aspect::Tags));
    }
    if !policy::same(r.trust.as_deref(), trust) {
        out.push(ResourceChange::update(
            Resource::ScannerRole,
            Aspect::Policy,
        ));
    }
    // Read-only means SecurityAudit and nothing else: another managed policy or any
    // inline policy is drift, which setup removes.
    let only_audit = r.attached.iter().any(|a| a == managed_policy_arn)
        && r.attached.iter().all(|a| a == managed_policy_arn)
        && r.inline.is_empty();
    if !only_audit {
        out.push(ResourceChange::update(
            Resource::ScannerRole,
            Aspect::Attachment,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tags() -> BTreeMap<String, String> {
        BTreeMap::from([(
            "managed-by".to_string(),
            "cloudcoreo-event-rule".to_string(),
        )])
    }

    fn desired() -> RegionDesired {
        let topic_arn = "arn:aws:sns:eu-west-1:222222222222:cloudcoreo-events".to_string();
        let rule_arn = "arn:aws:events:eu-west-1:222222222222:rule/cloudcoreo-events".to_string();
        RegionDesired {
            topic_policy: policy::topic_policy(&topic_arn, &rule_arn, "222222222222", None),
            replace_foreign: false,
            topic_arn,
            topic_kms: None,
            rule_name: "cloudcoreo-events".into(),
            rule_arn,
            pattern: r#"{"detail-type":["AWS API Call via CloudTrail"]}"#.into(),
            description: "d".into(),
            target_id: "cloudcoreo-events-topic".into(),
            queue_arn: "arn:aws:sqs:us-west-2:111111111111:cloudcoreo-events-queue".into(),
            tags: tags(),
        }
    }

    fn in_sync(d: &RegionDesired) -> RegionObserved {
        RegionObserved {
            topic: Some(TopicState {
                policy: Some(d.topic_policy.to_string()),
                kms: None,
                tags: tags(),
            }),
            rule: Some(RuleState {
                pattern: Some(d.pattern.clone()),
                state: Some("ENABLED".into()),
                description: Some(d.description.clone()),
                tags: tags(),
                targets: vec![(d.target_id.clone(), d.topic_arn.clone())],
                rewritten: vec![],
            }),
            subscriptions: vec![SubscriptionState {
                arn: "arn:sub".into(),
                pending: false,
                via_home: false,
                filter_policy: None,
                raw_delivery: false,
            }],
        }
    }

    #[test]
    fn empty_region_creates_everything_in_order() {
        let d = desired();
        let c = diff_region(&d, &RegionObserved::default(), false).unwrap();
        assert_eq!(
            c,
            vec![
                ResourceChange::create(Resource::Topic),
                ResourceChange::create(Resource::Rule),
                ResourceChange::create(Resource::Target),
                ResourceChange::create(Resource::Subscription)
            ]
        );
    }

    #[test]
    fn in_sync_region_is_a_no_op() {
        let d = desired();
        assert!(diff_region(&d, &in_sync(&d), false).unwrap().is_empty());
    }

    #[test]
    fn a_filtering_or_raw_subscription_is_drift() {
        let d = desired();
        let repair = vec![ResourceChange::update(
            Resource::Subscription,
            Aspect::Definition,
        )];
        let mut o = in_sync(&d);
        o.subscriptions[0].filter_policy = filter_policy(Some(r#"{"eventName":["X"]}"#));
        assert_eq!(diff_region(&d, &o, false).unwrap(), repair);
        let mut o = in_sync(&d);
        o.subscriptions[0].raw_delivery = true;
        assert_eq!(diff_region(&d, &o, false).unwrap(), repair);
        // A removed filter policy reads back as "{}" or nothing.
        for removed in [None, Some(""), Some("{}"), Some(" { } ")] {
            assert_eq!(filter_policy(removed), None, "{removed:?}");
        }
        // Pending subscriptions cannot be read or changed yet.
        let mut o = in_sync(&d);
        o.subscriptions[0].raw_delivery = true;
        o.subscriptions[0].pending = true;
        assert!(diff_region(&d, &o, false).unwrap().is_empty());
    }

    #[test]
    fn changes_touch_only_what_differs() {
        let d = desired();
        let mut o = in_sync(&d);
        o.rule.as_mut().unwrap().pattern = Some(r#"{"detail-type":["Other"]}"#.into());
        assert_eq!(
            diff_region(&d, &o, false).unwrap(),
            vec![ResourceChange::update(Resource::Rule, Aspect::Definition)]
        );

        let mut o = in_sync(&d);
        o.rule.as_mut().unwrap().targets.clear();
        assert_eq!(
            diff_region(&d, &o, false).unwrap(),
            vec![ResourceChange::create(Resource::Target)]
        );

        let mut o = in_sync(&d);
        o.rule.as_mut().unwrap().targets[0].1 = "arn:aws:sns:eu-west-1:222222222222:other".into();
        assert_eq!(
            diff_region(&d, &o, false).unwrap(),
            vec![ResourceChange::update(Resource::Target, Aspect::Definition)]
        );

        // An input transformer on our target rewrites what reaches the topic.
        let mut o = in_sync(&d);
        o.rule.as_mut().unwrap().rewritten = vec![d.target_id.clone()];
        assert_eq!(
            diff_region(&d, &o, false).unwrap(),
            vec![ResourceChange::update(Resource::Target, Aspect::Definition)]
        );

        let mut o = in_sync(&d);
        o.topic.as_mut().unwrap().policy = Some(json!({"Statement": []}).to_string());
        o.subscriptions.clear();
        assert_eq!(
            diff_region(&d, &o, false).unwrap(),
            vec![
                ResourceChange::update(Resource::Topic, Aspect::Policy),
                ResourceChange::create(Resource::Subscription)
            ]
        );

        let mut o = in_sync(&d);
        o.rule.as_mut().unwrap().state = Some("DISABLED".into());
        assert_eq!(
            diff_region(&d, &o, false).unwrap(),
            vec![ResourceChange::update(Resource::Rule, Aspect::Definition)]
        );

        let d2 = RegionDesired {
            topic_kms: Some("alias/k".into()),
            ..desired()
        };
        assert_eq!(
            diff_region(&d2, &in_sync(&d), false).unwrap(),
            vec![ResourceChange::update(Resource::Topic, Aspect::Encryption)]
        );
    }

    #[test]
    fn unmanaged_resources_are_refused_unless_adopted() {
        let d = desired();
        let mut o = in_sync(&d);
        o.topic.as_mut().unwrap().tags.clear();
        let err = diff_region(&d, &o, false).unwrap_err();
        assert!(matches!(&err, Error::Unmanaged { resource, .. } if resource == &d.topic_arn));
        assert_eq!(
            diff_region(&d, &o, true).unwrap(),
            vec![ResourceChange::update(Resource::Topic, Aspect::Tags)]
        );
    }

    #[test]
    fn teardown_removes_only_tagged() {
        let d = desired();
        let (c, notes) = teardown_region(&d, &in_sync(&d));
        assert_eq!(
            c,
            vec![
                ResourceChange::delete(Resource::Target),
                ResourceChange::delete(Resource::Rule),
                ResourceChange::delete(Resource::Subscription),
                ResourceChange::delete(Resource::Topic)
            ]
        );
        assert!(notes.is_empty());
        let mut o = in_sync(&d);
        o.rule.as_mut().unwrap().tags.clear();
        let (c, notes) = teardown_region(&d, &o);
        assert_eq!(
            c,
            vec![
                ResourceChange::delete(Resource::Subscription),
                ResourceChange::delete(Resource::Topic)
            ]
        );
        assert_eq!(notes.len(), 1);
        assert!(teardown_region(&d, &RegionObserved::default()).0.is_empty());
    }

    fn qd() -> QueueDesired {
        QueueDesired {
            queue_arn: "arn:aws:sqs:us-west-2:111111111111:q".into(),
            dlq_arn: "arn:aws:sqs:us-west-2:111111111111:q-dlq".into(),
            kms: None,
            max_receive_count: 5,
            visibility_timeout: 360,
            receive_wait: 20,
            retention: 345_600,
            replace_foreign: false,
            organization: None,
            tags: tags(),
        }
    }

    fn q_in_sync(d: &QueueDesired, sources: &BTreeSet<String>) -> QueueObserved {
        let mut dlq = QueueState {
            url: "u1".into(),
            tags: tags(),
            ..Default::default()
        };
        for (k, v) in d.dlq_attributes() {
            dlq.attributes.insert(k.into(), v);
        }
        let mut q = QueueState {
            url: "u2".into(),
            tags: tags(),
            ..Default::default()
        };
        for (k, v) in d.queue_attributes() {
            q.attributes.insert(k.into(), v);
        }
        // SQS returns maxReceiveCount as a number or a string; both match.
        q.attributes.insert(
            "RedrivePolicy".into(),
            format!(
                r#"{{"maxReceiveCount":"5","deadLetterTargetArn":"{}"}}"#,
                d.dlq_arn
            ),
        );
        q.attributes.insert(
            "Policy".into(),
            policy::queue_policy(&d.queue_arn, None, sources)
                .unwrap()
                .unwrap()
                .to_string(),
        );
        QueueObserved {
            dlq: Some(dlq),
            queue: Some(q),
        }
    }

    #[test]
    fn organization_wide_queue_policy() {
        let topics: BTreeSet<String> = ["arn:aws:sns:eu-west-1:222222222222:t".to_string()].into();
        let listed = qd();
        let org = QueueDesired {
            organization: Some(("o-abcdefghij".into(), "arn:aws:sns:*:*:t".into())),
            ..qd()
        };
        // A listed policy switches to the organization's, and back.
        let o = q_in_sync(&listed, &topics);
        let plan = diff_queue(&org, &o, &Sources::Add(&topics), false).unwrap();
        assert_eq!(
            plan.changes,
            vec![ResourceChange::update(
                Resource::QueuePolicy,
                Aspect::Policy
            )]
        );
        let want = policy::queue_policy_for_organization(
            &org.queue_arn,
            None,
            "arn:aws:sns:*:*:t",
            "o-abcdefghij",
        );
        assert_eq!(plan.policy.as_ref(), Some(&want));
        let mut o_org = o.clone();
        if let Some(q) = o_org.queue.as_mut() {
            q.attributes.insert("Policy".into(), want.to_string());
        }
        assert!(diff_queue(&org, &o_org, &Sources::Add(&topics), false)
            .unwrap()
            .changes
            .is_empty());
        // Tearing regions down leaves the organization's statement to the others.
        let gone = BTreeSet::new();
        let plan = diff_queue(&org, &o_org, &Sources::Remove(&topics, &gone), true).unwrap();
        assert!(plan.changes.is_empty());
        // Back to a list: only the topics set up, no wildcard account kept.
        let plan = diff_queue(&listed, &o_org, &Sources::Add(&topics), false).unwrap();
        assert_eq!(
            plan.policy,
            policy::queue_policy(&listed.queue_arn, None, &topics).unwrap()
        );
    }

    #[test]
    fn teardown_drops_folded_entries_only_for_accounts_gone_everywhere() {
        let current: BTreeSet<String> = [
            "arn:aws:sns:*:111111111111:t",
            "arn:aws:sns:*:222222222222:t",
            "arn:aws:sns:eu-west-1:333333333333:t",
            "arn:aws:sns:us-east-1:333333333333:t",
        ]
        .map(String::from)
        .into();
        let removed: BTreeSet<String> = [
            "arn:aws:sns:eu-west-1:111111111111:t",
            "arn:aws:sns:eu-west-1:222222222222:t",
            "arn:aws:sns:eu-west-1:333333333333:t",
        ]
        .map(String::from)
        .into();
        // 111 was torn down in every region; 222 only in eu-west-1 (its other regions
        // still send through the folded entry).
        let whole: BTreeSet<String> = ["111111111111".to_string()].into();
        let left = policy_sources(&current, &Sources::Remove(&removed, &whole));
        let want: BTreeSet<String> = [
            "arn:aws:sns:*:222222222222:t",
            "arn:aws:sns:us-east-1:333333333333:t",
        ]
        .map(String::from)
        .into();
        assert_eq!(left, want);
        // Nothing torn down everywhere: folded entries all stay.
        let left = policy_sources(&current, &Sources::Remove(&removed, &BTreeSet::new()));
        assert_eq!(left.len(), 3);
        assert!(left.contains("arn:aws:sns:*:111111111111:t"));
    }

    #[test]
    fn queue_diff() {
        let d = qd();
        let s: BTreeSet<String> = ["arn:aws:sns:eu-west-1:1:t".to_string()].into();
        let plan = diff_queue(&d, &QueueObserved::default(), &Sources::Add(&s), false).unwrap();
        assert_eq!(
            plan.changes,
            vec![
                ResourceChange::create(Resource::DeadLetterQueue),
                ResourceChange::create(Resource::Queue),
                ResourceChange::create(Resource::QueuePolicy)
            ]
        );
        let o = q_in_sync(&d, &s);
        assert!(diff_queue(&d, &o, &Sources::Add(&s), false)
            .unwrap()
            .changes
            .is_empty());
        // A subset already allowed: nothing to do.
        assert!(diff_queue(&d, &o, &Sources::Add(&BTreeSet::new()), false)
            .unwrap()
            .changes
            .is_empty());
        // A new topic: only the policy changes, and the old one stays allowed.
        let s2: BTreeSet<String> = ["arn:aws:sns:us-east-1:1:t".to_string()].into();
        let plan = diff_queue(&d, &o, &Sources::Add(&s2), false).unwrap();
        assert_eq!(
            plan.changes,
            vec![ResourceChange::update(
                Resource::QueuePolicy,
                Aspect::Policy
            )]
        );
        let allowed = policy::queue_policy_sources(Some(&plan.policy.unwrap().to_string()));
        assert_eq!(allowed.len(), 2);
        // Teardown of the last topic removes the policy.
        let plan = diff_queue(&d, &o, &Sources::Remove(&s, &BTreeSet::new()), false).unwrap();
        assert_eq!(
            plan.changes,
            vec![ResourceChange::delete(Resource::QueuePolicy)]
        );
        assert!(plan.policy.is_none());
        // A changed redrive count or lost encryption updates the definition only.
        let d5 = QueueDesired {
            max_receive_count: 9,
            ..qd()
        };
        let plan = diff_queue(&d5, &o, &Sources::Add(&s), false).unwrap();
        assert_eq!(
            plan.changes,
            vec![ResourceChange::update(Resource::Queue, Aspect::Definition)]
        );
        let mut o2 = o.clone();
        o2.dlq
            .as_mut()
            .unwrap()
            .attributes
            .remove("SqsManagedSseEnabled");
        let plan = diff_queue(&d, &o2, &Sources::Add(&s), false).unwrap();
        assert_eq!(
            plan.changes,
            vec![ResourceChange::update(
                Resource::DeadLetterQueue,
                Aspect::Encryption
            )]
        );
        // A queue under a customer key, with no key configured now, and a new max
        // receive count: only the definition changes, the key stays.
        let mut o4 = o.clone();
        let qa = &mut o4.queue.as_mut().unwrap().attributes;
        qa.remove("SqsManagedSseEnabled");
        qa.insert("KmsMasterKeyId".into(), "alias/customer".into());
        let plan = diff_queue(&d5, &o4, &Sources::Add(&s), false).unwrap();
        assert_eq!(
            plan.changes,
            vec![ResourceChange::update(Resource::Queue, Aspect::Definition)]
        );
        assert_eq!(
            d.sse_update_attrs(),
            vec![("SqsManagedSseEnabled", "true".to_string())]
        );
        // Untagged queue.
        let mut o3 = o.clone();
        o3.queue.as_mut().unwrap().tags.clear();
        assert!(matches!(
            diff_queue(&d, &o3, &Sources::Add(&s), false),
            Err(Error::Unmanaged { .. })
        ));
    }

    #[test]
    fn role_diff() {
        let trust = policy::scanner_trust("arn:aws:iam::999999999999:root", "x-1");
        let pa = "arn:aws:iam::aws:policy/SecurityAudit";
        assert_eq!(
            diff_role("r", &trust, pa, &tags(), None, false).unwrap(),
            vec![ResourceChange::create(Resource::ScannerRole)]
        );
        let ok = RoleState {
            trust: Some(trust.to_string()),
            attached: vec![pa.into()],
            inline: vec![],
            tags: tags(),
        };
        assert!(diff_role("r", &trust, pa, &tags(), Some(&ok), false)
            .unwrap()
            .is_empty());
        // More than SecurityAudit is drift: another managed policy, or an inline one.
        let wider = RoleState {
            attached: vec![
                pa.into(),
                "arn:aws:iam::aws:policy/AdministratorAccess".into(),
            ],
            ..ok.clone()
        };
        let inline = RoleState {
            inline: vec!["extra".into()],
            ..ok.clone()
        };
        for r in [&wider, &inline] {
            assert_eq!(
                diff_role("r", &trust, pa, &tags(), Some(r), false).unwrap(),
                vec![ResourceChange::update(
                    Resource::ScannerRole,
                    Aspect::Attachment
                )]
            );
        }
        let other = policy::scanner_trust("arn:aws:iam::999999999999:root", "x-2");
        assert_eq!(
            diff_role("r", &other, pa, &tags(), Some(&ok), false).unwrap(),
            vec![ResourceChange::update(
                Resource::ScannerRole,
                Aspect::Policy
            )]
        );
    }

    const PUBLIC_SEND: &str = r#"{"Sid":"Public","Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Resource":"*"}"#;

    /// `o` with `statement` added to the queue policy.
    fn with_queue_statement(o: &QueueObserved, statement: &str) -> QueueObserved {
        let mut o = o.clone();
        let q = o.queue.as_mut().unwrap();
        let mut doc: Value = serde_json::from_str(&q.attributes["Policy"]).unwrap();
        doc["Statement"]
            .as_array_mut()
            .unwrap()
            .insert(0, serde_json::from_str(statement).unwrap());
        q.attributes.insert("Policy".into(), doc.to_string());
        o
    }

    #[test]
    fn queue_attributes_follow_the_consumers_and_differences_are_drift() {
        let d = qd();
        let s: BTreeSet<String> = ["arn:aws:sns:eu-west-1:1:t".to_string()].into();
        let attrs: HashMap<&str, String> = d.queue_attributes().into_iter().collect();
        assert_eq!(attrs["VisibilityTimeout"], "360");
        assert_eq!(attrs["ReceiveMessageWaitTimeSeconds"], "20");
        assert_eq!(attrs["MessageRetentionPeriod"], "345600");
        let o = q_in_sync(&d, &s);
        assert!(queue_attribute_notes(&d, &o).is_empty());
        // Each attribute changed on its own, or missing (a queue made by hand with SQS's
        // defaults): the queue's definition is updated, nothing else.
        for (name, value) in [
            ("VisibilityTimeout", Some("30")),
            ("ReceiveMessageWaitTimeSeconds", Some("0")),
            ("MessageRetentionPeriod", Some("60")),
            ("VisibilityTimeout", None),
        ] {
            let mut o2 = o.clone();
            let qa = &mut o2.queue.as_mut().unwrap().attributes;
            match value {
                Some(v) => qa.insert(name.into(), v.into()),
                None => qa.remove(name),
            };
            let plan = diff_queue(&d, &o2, &Sources::Add(&s), false).unwrap();
            assert_eq!(
                plan.changes,
                vec![ResourceChange::update(Resource::Queue, Aspect::Definition)],
                "{name}={value:?}"
            );
            let want = attrs[name].clone();
            let is = value.unwrap_or("unset");
            assert_eq!(
                queue_attribute_notes(&d, &o2),
                vec![format!("queue {name} is {is}, wanted {want}")]
            );
        }
        // The same attributes on the dead-letter queue are not ours to set.
        let mut o3 = o.clone();
        o3.dlq
            .as_mut()
            .unwrap()
            .attributes
            .insert("VisibilityTimeout".into(), "30".into());
        assert!(diff_queue(&d, &o3, &Sources::Add(&s), false)
            .unwrap()
            .changes
            .is_empty());
        // A wanted value differing from what is there, e.g. a longer visibility.
        let longer = QueueDesired {
            visibility_timeout: 5400,
            ..qd()
        };
        assert_eq!(
            diff_queue(&longer, &o, &Sources::Add(&s), false)
                .unwrap()
                .changes,
            vec![ResourceChange::update(Resource::Queue, Aspect::Definition)]
        );
    }

    #[test]
    fn foreign_queue_statements_are_kept_reported_and_replaced_only_when_asked() {
        let d = qd();
        let s: BTreeSet<String> = ["arn:aws:sns:eu-west-1:1:t".to_string()].into();
        let o = with_queue_statement(&q_in_sync(&d, &s), PUBLIC_SEND);
        assert_eq!(
            o.foreign_statements(),
            vec![r#""Public": Allow sqs:SendMessage to *"#.to_string()]
        );
        assert!(q_in_sync(&d, &s).foreign_statements().is_empty());
        // Setup keeps it: nothing to change, and a new topic keeps it too.
        assert!(diff_queue(&d, &o, &Sources::Add(&s), false)
            .unwrap()
            .changes
            .is_empty());
        let s2: BTreeSet<String> = ["arn:aws:sns:us-east-1:1:t".to_string()].into();
        let plan = diff_queue(&d, &o, &Sources::Add(&s2), false).unwrap();
        let kept = plan.policy.unwrap();
        assert!(kept["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .any(|st| st["Sid"] == "Public"));
        // Asked to replace foreign statements: the policy is updated without it.
        let replacing = QueueDesired {
            replace_foreign: true,
            ..qd()
        };
        let plan = diff_queue(&replacing, &o, &Sources::Add(&s), false).unwrap();
        assert_eq!(
            plan.changes,
            vec![ResourceChange::update(
                Resource::QueuePolicy,
                Aspect::Policy
            )]
        );
        assert_eq!(
            plan.policy,
            policy::queue_policy(&d.queue_arn, None, &s).unwrap()
        );
        // Organization-wide, likewise.
        let org = |replace_foreign| QueueDesired {
            organization: Some(("o-abcdefghij".into(), "arn:aws:sns:*:*:t".into())),
            replace_foreign,
            ..qd()
        };
        let count = |p: &QueuePlan| {
            p.policy.as_ref().unwrap()["Statement"]
                .as_array()
                .unwrap()
                .len()
        };
        assert_eq!(
            count(&diff_queue(&org(false), &o, &Sources::Add(&s), false).unwrap()),
            2
        );
        assert_eq!(
            count(&diff_queue(&org(true), &o, &Sources::Add(&s), false).unwrap()),
            1
        );
        // Teardown of the last topic leaves the foreign statement as the whole policy.
        let plan = diff_queue(&d, &o, &Sources::Remove(&s, &BTreeSet::new()), true).unwrap();
        assert_eq!(
            plan.changes,
            vec![ResourceChange::update(
                Resource::QueuePolicy,
                Aspect::Policy
            )]
        );
        let left = plan.policy.unwrap();
        assert_eq!(left["Statement"].as_array().unwrap().len(), 1);
        assert_eq!(left["Statement"][0]["Sid"], "Public");
    }

    #[test]
    fn foreign_topic_statements_are_kept_reported_and_replaced_only_when_asked() {
        let d = desired();
        let mut o = in_sync(&d);
        let mut doc = d.topic_policy.clone();
        doc["Statement"].as_array_mut().unwrap().push(json!({
            "Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam::999999999999:root"]},
            "Action": ["sns:Subscribe", "sns:Receive"],
            "Resource": d.topic_arn,
            "Condition": {"StringEquals": {"sns:Protocol": "https"}}
        }));
        o.topic.as_mut().unwrap().policy = Some(doc.to_string());
        assert_eq!(
            o.foreign_statements(),
            vec![
                "(no Sid): Allow sns:Subscribe,sns:Receive to arn:aws:iam::999999999999:root (with conditions)"
                    .to_string()
            ]
        );
        assert!(in_sync(&d).foreign_statements().is_empty());
        // Kept: in sync; the policy setup would write still holds it.
        assert!(diff_region(&d, &o, false).unwrap().is_empty());
        let existing = o.topic.as_ref().unwrap().policy.as_deref();
        assert!(policy::same(existing, &d.topic_policy_for(existing)));
        // Our own statement changed next to it: only ours is put back.
        let mut tampered = doc.clone();
        tampered["Statement"][0]["Principal"] = json!("*");
        let mut o2 = o.clone();
        o2.topic.as_mut().unwrap().policy = Some(tampered.to_string());
        assert_eq!(
            diff_region(&d, &o2, false).unwrap(),
            vec![ResourceChange::update(Resource::Topic, Aspect::Policy)]
        );
        assert!(policy::same(
            Some(&doc.to_string()),
            &d.topic_policy_for(Some(&tampered.to_string()))
        ));
        // Replacing: the policy differs, and is written back with ours alone.
        let replacing = RegionDesired {
            replace_foreign: true,
            ..desired()
        };
        assert_eq!(
            diff_region(&replacing, &o, false).unwrap(),
            vec![ResourceChange::update(Resource::Topic, Aspect::Policy)]
        );
        assert_eq!(replacing.topic_policy_for(existing), d.topic_policy);
    }

    #[test]
    fn foreign_checks_name_the_statements() {
        assert_eq!(foreign_check(&[]), "ok");
        assert_eq!(
            foreign_check(&["\"A\": Allow x to *".into()]),
            "1 foreign statement: \"A\": Allow x to *"
        );
        assert_eq!(
            foreign_check(&["a".into(), "b".into()]),
            "2 foreign statements: a; b"
        );
    }

    #[test]
    fn change_display() {
        assert_eq!(
            ResourceChange::create(Resource::Topic).to_string(),
            "create topic"
        );
        assert_eq!(
            ResourceChange::update(Resource::Rule, Aspect::Definition).to_string(),
            "update rule definition"
        );
    }
}
