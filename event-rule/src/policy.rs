//! Policy documents: the queue policy, the topic policy, the scanner role's trust
//! policy, and the minimal IAM policy the tool itself needs for each command. Also the
//! comparison that tells whether a policy read back from AWS matches the desired one.

use std::collections::BTreeSet;

use processor_core::arn::Arn;

use serde_json::{json, Value};

/// IAM policy language version.
pub const VERSION: &str = "2012-10-17";
/// Sid of the queue policy statement this tool owns; other statements are kept.
pub const QUEUE_SID: &str = "CloudcoreoEventTopics";
/// Sid of the topic policy statement letting EventBridge publish.
pub const PUBLISH_SID: &str = "AllowEventBridgeRulePublish";
/// Sid of the topic policy statement letting the central queue's account subscribe.
pub const SUBSCRIBE_SID: &str = "AllowCentralQueueSubscribe";
/// Sid of the topic policy statement letting the central queue's account list the
/// topic's subscriptions.
pub const LIST_SUBSCRIPTIONS_SID: &str = "AllowCentralQueueListSubscriptions";
/// The Sids of the statements this tool writes in a queue policy: every other
/// statement there is foreign.
pub const QUEUE_SIDS: &[&str] = &[QUEUE_SID];
/// Sid of the statement SNS puts in the policy of a topic created without one
/// (every principal of the owning account may manage and publish).
pub const SNS_DEFAULT_SID: &str = "__default_statement_ID";
/// The Sids of the statements this tool manages in a topic policy: its own, and SNS's
/// default statement, which it replaces with its narrower ones (a topic adopted with
/// `--adopt` has it). Every other statement there is foreign.
pub const TOPIC_SIDS: &[&str] = &[
    PUBLISH_SID,
    SUBSCRIBE_SID,
    LIST_SUBSCRIPTIONS_SID,
    SNS_DEFAULT_SID,
];
/// SQS's limit on a queue policy, in bytes.
pub const MAX_QUEUE_POLICY_BYTES: usize = 8192;
/// The AWS managed policy attached to the scanner role.
pub const SECURITY_AUDIT: &str = "policy/SecurityAudit";

/// Normalises a policy or pattern for comparison: object keys unordered, lists sorted,
/// one-element lists equal to their element, numbers and booleans equal to their text.
pub fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), normalize(v))).collect())
        }
        Value::Array(a) => {
            let mut items: Vec<Value> = a.iter().map(normalize).collect();
            items.sort_by_key(|v| v.to_string());
            items.dedup();
            if items.len() == 1 {
                items.pop().unwrap_or(Value::Null)
            } else {
                Value::Array(items)
            }
        }
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        other => other.clone(),
    }
}

/// Parses a policy as AWS returns it: plain JSON, or URL-encoded JSON (IAM).
pub fn parse(text: &str) -> Option<Value> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    serde_json::from_str(text)
        .ok()
        .or_else(|| serde_json::from_str(&percent_decode(text)).ok())
}

/// Whether the policy text read from AWS means the same as `desired`.
pub fn same(actual: Option<&str>, desired: &Value) -> bool {
    actual
        .and_then(parse)
        .is_some_and(|a| normalize(&a) == normalize(desired))
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `Id` of the topic policy.
pub const TOPIC_POLICY_ID: &str = "cloudcoreo-events-topic-policy";

// The statement builders below take JSON values, not strings: the tool passes the
// ARNs it computed, the CloudFormation templates (`crate::templates`) pass intrinsic
// functions (`{"Fn::Sub": ...}`, `{"Ref": ...}`), so both deploy one definition.

/// The topic policy's statement letting only EventBridge publish, and only for
/// `rule` in `account`.
pub fn publish_statement(topic: Value, rule: Value, account: Value) -> Value {
    json!({
        "Sid": PUBLISH_SID,
        "Effect": "Allow",
        "Principal": { "Service": "events.amazonaws.com" },
        "Action": "sns:Publish",
        "Resource": topic,
        "Condition": {
            "ArnEquals": { "aws:SourceArn": rule },
            "StringEquals": { "aws:SourceAccount": account }
        }
    })
}

/// The topic policy's statements letting the central queue's account (`home_root`)
/// subscribe `queue` (and nothing else) and list the topic's subscriptions, when the
/// queue lives in another account.
pub fn subscribe_statements(topic: Value, home_root: Value, queue: Value) -> [Value; 2] {
    [
        json!({
            "Sid": SUBSCRIBE_SID,
            "Effect": "Allow",
            "Principal": { "AWS": home_root.clone() },
            "Action": "sns:Subscribe",
            "Resource": topic.clone(),
            "Condition": {
                "StringEquals": { "sns:Protocol": "sqs", "sns:Endpoint": queue }
            }
        }),
        json!({
            "Sid": LIST_SUBSCRIPTIONS_SID,
            "Effect": "Allow",
            "Principal": { "AWS": home_root },
            "Action": "sns:ListSubscriptionsByTopic",
            "Resource": topic
        }),
    ]
}

/// A topic policy document holding `statements`.
pub fn topic_policy_document(statements: Vec<Value>) -> Value {
    json!({ "Version": VERSION, "Id": TOPIC_POLICY_ID, "Statement": statements })
}

/// The topic policy: only EventBridge may publish, and only for our rule in the
/// topic's own account. When the central queue lives in another account, that account
/// may also subscribe its queue (and list the topic's subscriptions), so the
/// subscription is confirmed at once.
pub fn topic_policy(
    topic_arn: &str,
    rule_arn: &str,
    account: &str,
    cross_account_queue: Option<(&str, &str)>,
) -> Value {
    let mut statements = vec![publish_statement(
        json!(topic_arn),
        json!(rule_arn),
        json!(account),
    )];
    if let Some((home_root, queue_arn)) = cross_account_queue {
        statements.extend(subscribe_statements(
            json!(topic_arn),
            json!(home_root),
            json!(queue_arn),
        ));
    }
    topic_policy_document(statements)
}

/// This tool's statement in the central queue's policy: only `sns.amazonaws.com`
/// may send, only from a topic matching `sources` (`ArnLike aws:SourceArn`), and only
/// when the topic's owner passes `owner_condition`: `("aws:SourceAccount", accounts)`
/// for listed topics, `("aws:SourceOrgID", organization)` for every account of an
/// organization.
pub fn queue_statement(queue: Value, sources: Value, owner_condition: (&str, Value)) -> Value {
    let (key, owners) = owner_condition;
    json!({
        "Sid": QUEUE_SID,
        "Effect": "Allow",
        "Principal": { "Service": "sns.amazonaws.com" },
        "Action": "sqs:SendMessage",
        "Resource": queue,
        "Condition": {
            "ArnLike": { "aws:SourceArn": sources },
            "StringEquals": { key: owners }
        }
    })
}

/// The topics named `topic_name` in any region of any account, as an `ArnLike`
/// pattern; the organization condition narrows it to one organization's accounts.
pub fn organization_topics(partition: &str, topic_name: &str) -> String {
    format!("arn:{partition}:sns:*:*:{topic_name}")
}

/// The queue policy admitting the topics matching `topics` of every account of
/// `organization` (`aws:SourceOrgID`); the statements of `existing` other than this
/// tool's are kept.
pub fn queue_policy_for_organization(
    queue_arn: &str,
    existing: Option<&str>,
    topics: &str,
    organization: &str,
) -> Value {
    let mut statements = foreign_statements(existing, QUEUE_SIDS);
    statements.push(queue_statement(
        json!(queue_arn),
        json!(topics),
        ("aws:SourceOrgID", json!(organization)),
    ));
    queue_policy_document(statements)
}

/// The organization whose accounts' topics this tool's statement in an existing queue
/// policy admits (`aws:SourceOrgID`), if it is the organization-wide statement.
pub fn queue_policy_organization(policy: Option<&str>) -> Option<String> {
    let v = policy.and_then(parse)?;
    let statements = statements(&v);
    statements
        .iter()
        .filter(|s| s["Sid"] == QUEUE_SID)
        .filter_map(|s| s["Condition"].as_object())
        .flat_map(|c| c.values())
        .find_map(|op| match &op["aws:SourceOrgID"] {
            Value::String(o) => Some(o.clone()),
            Value::Array(a) => a.first().and_then(Value::as_str).map(String::from),
            _ => None,
        })
}

/// The statements of a policy document: its `Statement` list, or the one statement
/// when `Statement` is an object.
fn statements(doc: &Value) -> Vec<Value> {
    match &doc["Statement"] {
        Value::Array(a) => a.clone(),
        s @ Value::Object(_) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// Whether a statement is one this tool writes: its `Sid` is one of `own_sids`.
fn is_own(statement: &Value, own_sids: &[&str]) -> bool {
    statement["Sid"]
        .as_str()
        .is_some_and(|sid| own_sids.contains(&sid))
}

/// The statements of the policy text `existing` (as read back from AWS) that this tool
/// did not write: those whose `Sid` is not one of `own_sids` ([`QUEUE_SIDS`],
/// [`TOPIC_SIDS`]), a statement without `Sid` included.
pub fn foreign_statements(existing: Option<&str>, own_sids: &[&str]) -> Vec<Value> {
    let mut out = existing
        .and_then(parse)
        .map_or_else(Vec::new, |v| statements(&v));
    out.retain(|s| !is_own(s, own_sids));
    out
}

/// `own`, a policy document of this tool's statements, with the foreign statements of
/// `existing` (see [`foreign_statements`]) put first, unless `replace_foreign`: what
/// setup writes so that statements others added survive it.
pub fn with_foreign(
    own: &Value,
    existing: Option<&str>,
    own_sids: &[&str],
    replace_foreign: bool,
) -> Value {
    if replace_foreign {
        return own.clone();
    }
    let mut merged = foreign_statements(existing, own_sids);
    if merged.is_empty() {
        return own.clone();
    }
    merged.extend(statements(own));
    let mut doc = own.clone();
    doc["Statement"] = Value::Array(merged);
    doc
}

/// A short description of a statement for a report: its `Sid` (or `no Sid`), effect,
/// actions and principals, and whether it has conditions, e.g.
/// `"Public": Allow sqs:SendMessage to *`.
pub fn describe_statement(statement: &Value) -> String {
    let list = |v: &Value| -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), String::from))
                .collect::<Vec<_>>()
                .join(","),
            Value::Null => "?".into(),
            other => other.to_string(),
        }
    };
    let sid = match statement["Sid"].as_str().filter(|s| !s.is_empty()) {
        Some(sid) => format!("{sid:?}"),
        None => "(no Sid)".into(),
    };
    // `{"AWS": [...], "Service": ...}` or `"*"`: the principals, whatever their kind.
    let principals = |v: &Value| match v {
        Value::Object(m) => m.values().map(list).collect::<Vec<_>>().join(","),
        other => list(other),
    };
    let principal = if statement["Principal"].is_null() && !statement["NotPrincipal"].is_null() {
        format!("all but {}", principals(&statement["NotPrincipal"]))
    } else {
        principals(&statement["Principal"])
    };
    let actions = if statement["Action"].is_null() && !statement["NotAction"].is_null() {
        format!("all but {}", list(&statement["NotAction"]))
    } else {
        list(&statement["Action"])
    };
    let effect = statement["Effect"].as_str().unwrap_or("?");
    let conditional = if statement["Condition"].is_object() {
        " (with conditions)"
    } else {
        ""
    };
    format!("{sid}: {effect} {actions} to {principal}{conditional}")
}

/// A queue policy document holding `statements`.
pub fn queue_policy_document(statements: Vec<Value>) -> Value {
    json!({ "Version": VERSION, "Statement": statements })
}

/// The ARNs allowed by this tool's statement in an existing queue policy. Only entries
/// naming one account count: the organization-wide pattern (`sns:*:*:TOPIC`, see
/// [`queue_policy_for_organization`]) is no list of topics, and leaving organization
/// mode rebuilds the list from the topics set up.
pub fn queue_policy_sources(policy: Option<&str>) -> BTreeSet<String> {
    let Some(v) = policy.and_then(parse) else {
        return BTreeSet::new();
    };
    let statements = statements(&v);
    let mut out = BTreeSet::new();
    let one_account =
        |arn: &str| processor_core::arn::Arn::parse(arn).is_some_and(|a| a.has_concrete_account());
    for s in statements.iter().filter(|s| s["Sid"] == QUEUE_SID) {
        if let Some(cond) = s["Condition"].as_object() {
            for op in cond.values() {
                match &op["aws:SourceArn"] {
                    Value::String(a) if one_account(a) => {
                        out.insert(a.clone());
                    }
                    Value::Array(a) => out.extend(
                        a.iter()
                            .filter_map(Value::as_str)
                            .filter(|a| one_account(a))
                            .map(String::from),
                    ),
                    _ => {}
                }
            }
        }
    }
    out
}

/// Whether an `ArnLike` pattern (with `*` and `?`) matches an ARN.
pub fn arn_like(pattern: &str, arn: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
            Some((b'?', rest)) => !s.is_empty() && go(rest, &s[1..]),
            Some((c, rest)) => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    go(pattern.as_bytes(), arn.as_bytes())
}

/// The queue policy: keeps every statement of `existing` except this tool's, which
/// allows `sns.amazonaws.com` to send only from the listed topic ARNs. Returns `None`
/// when nothing is left (the policy should be removed).
///
/// When the per-topic list would push the policy over SQS's 8 KiB limit, the topics of
/// each account are folded into one `arn:PARTITION:sns:*:ACCOUNT:TOPIC` entry: still
/// only that topic name, only in accounts this tool set up. When even that is too
/// large, the error says so before any call.
pub fn queue_policy(
    queue_arn: &str,
    existing: Option<&str>,
    sources: &BTreeSet<String>,
) -> Result<Option<Value>, crate::error::Error> {
    let mut statements = foreign_statements(existing, QUEUE_SIDS);
    let ours = |sources: &BTreeSet<String>| {
        // The accounts owning the topics: the same set the ARNs name, stated again as
        // `aws:SourceAccount` so the statement holds even if an ARN entry is folded.
        let accounts: BTreeSet<&str> = sources
            .iter()
            .filter_map(|arn| Arn::parse(arn).map(|a| a.account).filter(|a| !a.is_empty()))
            .collect();
        queue_statement(
            json!(queue_arn),
            json!(sources.iter().collect::<Vec<_>>()),
            (
                "aws:SourceAccount",
                json!(accounts.into_iter().collect::<Vec<_>>()),
            ),
        )
    };
    if !sources.is_empty() {
        statements.push(ours(sources));
    }
    if statements.is_empty() {
        return Ok(None);
    }
    let full = queue_policy_document(statements.clone());
    if full.to_string().len() <= MAX_QUEUE_POLICY_BYTES {
        return Ok(Some(full));
    }
    let folded: BTreeSet<String> = sources
        .iter()
        .map(|arn| match Arn::parse(arn) {
            Some(a) => Arn { region: "*", ..a }.to_string(),
            None => arn.clone(),
        })
        .collect();
    statements.pop();
    statements.push(ours(&folded));
    let folded_doc = queue_policy_document(statements);
    let bytes = folded_doc.to_string().len();
    if bytes > MAX_QUEUE_POLICY_BYTES {
        let accounts: BTreeSet<&str> = folded
            .iter()
            .filter_map(|a| Arn::parse(a).map(|a| a.account))
            .collect();
        return Err(crate::error::Error::QueuePolicyTooLarge {
            accounts: accounts.len(),
            bytes,
            limit: MAX_QUEUE_POLICY_BYTES,
        });
    }
    Ok(Some(folded_doc))
}

/// The scanner role's trust policy: only `principal`, and only with the external id.
/// Values as for [`publish_statement`]: strings or CloudFormation intrinsics.
pub fn scanner_trust(principal: impl Into<Value>, external_id: impl Into<Value>) -> Value {
    json!({
        "Version": VERSION,
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "AWS": principal.into() },
            "Action": "sts:AssumeRole",
            "Condition": { "StringEquals": { "sts:ExternalId": external_id.into() } }
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOPIC: &str = "arn:aws:sns:eu-west-1:222222222222:cloudcoreo-events";
    const RULE: &str = "arn:aws:events:eu-west-1:222222222222:rule/cloudcoreo-events";
    const QUEUE: &str = "arn:aws:sqs:us-west-2:111111111111:cloudcoreo-events-queue";

    #[test]
    fn topic_policy_lets_only_our_rule_publish() {
        let p = topic_policy(TOPIC, RULE, "222222222222", None);
        let st = p["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 1);
        assert_eq!(
            st[0]["Principal"],
            json!({"Service": "events.amazonaws.com"})
        );
        assert_eq!(st[0]["Action"], "sns:Publish");
        assert_eq!(st[0]["Resource"], TOPIC);
        assert_eq!(st[0]["Condition"]["ArnEquals"]["aws:SourceArn"], RULE);
        assert_eq!(
            st[0]["Condition"]["StringEquals"]["aws:SourceAccount"],
            "222222222222"
        );
        assert!(!p.to_string().contains("\"*\""), "no wildcard principal");
    }

    #[test]
    fn topic_policy_cross_account_subscription() {
        let p = topic_policy(
            TOPIC,
            RULE,
            "222222222222",
            Some(("arn:aws:iam::111111111111:root", QUEUE)),
        );
        let st = p["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 3);
        assert_eq!(st[1]["Action"], "sns:Subscribe");
        assert_eq!(st[1]["Condition"]["StringEquals"]["sns:Endpoint"], QUEUE);
        assert_eq!(st[1]["Condition"]["StringEquals"]["sns:Protocol"], "sqs");
        assert!(st
            .iter()
            .all(|s| s["Action"] != "sns:Publish"
                || s["Principal"]["Service"] == "events.amazonaws.com"));
    }

    #[test]
    fn comparison_is_semantic() {
        let desired = topic_policy(TOPIC, RULE, "222222222222", None);
        // AWS may return a one-element Action as a list and reorder keys.
        let returned = format!(
            r#"{{"Statement":[{{"Condition":{{"StringEquals":{{"aws:SourceAccount":"222222222222"}},"ArnEquals":{{"aws:SourceArn":["{RULE}"]}}}},"Resource":"{TOPIC}","Action":["sns:Publish"],"Principal":{{"Service":"events.amazonaws.com"}},"Effect":"Allow","Sid":"AllowEventBridgeRulePublish"}}],"Id":"cloudcoreo-events-topic-policy","Version":"2012-10-17"}}"#
        );
        assert!(same(Some(&returned), &desired));
        let other = returned.replace("222222222222\"}", "333333333333\"}");
        assert!(!same(Some(&other), &desired));
        assert!(!same(None, &desired));
        assert!(!same(Some("not json"), &desired));
        // IAM returns documents URL-encoded.
        let trust = scanner_trust("arn:aws:iam::999999999999:root", "ext-1");
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22AWS%22%3A%22arn%3Aaws%3Aiam%3A%3A999999999999%3Aroot%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%2C%22Condition%22%3A%7B%22StringEquals%22%3A%7B%22sts%3AExternalId%22%3A%22ext-1%22%7D%7D%7D%5D%7D";
        assert!(same(Some(encoded), &trust));
    }

    #[test]
    fn queue_policy_allows_only_listed_topics_and_keeps_foreign_statements() {
        let existing = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Other","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sqs:ReceiveMessage","Resource":"x"}]}"#;
        let sources: BTreeSet<String> =
            [TOPIC.to_string(), TOPIC.replace("eu-west-1", "us-east-1")].into();
        let p = queue_policy(QUEUE, Some(existing), &sources)
            .unwrap()
            .unwrap();
        let st = p["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 2);
        assert_eq!(st[0]["Sid"], "Other");
        assert_eq!(st[1]["Principal"], json!({"Service": "sns.amazonaws.com"}));
        assert_eq!(st[1]["Action"], "sqs:SendMessage");
        assert_eq!(st[1]["Resource"], QUEUE);
        assert_eq!(
            st[1]["Condition"]["StringEquals"]["aws:SourceAccount"],
            json!(["222222222222"])
        );
        assert_eq!(queue_policy_sources(Some(&p.to_string())), sources);
        // Nothing left: remove the policy.
        assert!(queue_policy(QUEUE, Some(&p.to_string()), &BTreeSet::new())
            .unwrap()
            .is_some());
        assert!(queue_policy(QUEUE, None, &BTreeSet::new())
            .unwrap()
            .is_none());
    }

    #[test]
    fn foreign_statements_are_found_by_sid() {
        let ours = topic_policy(
            TOPIC,
            RULE,
            "222222222222",
            Some(("arn:aws:iam::111111111111:root", QUEUE)),
        );
        let text = ours.to_string();
        assert!(foreign_statements(Some(&text), TOPIC_SIDS).is_empty());
        // The queue's Sid is no topic statement, nor the other way round.
        assert_eq!(foreign_statements(Some(&text), QUEUE_SIDS).len(), 3);
        // A statement without Sid, one with another Sid, and a single-object
        // `Statement` (as IAM allows) are all foreign.
        let public = json!({"Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "sns:Publish", "Resource": TOPIC});
        let nameless = json!({"Effect": "Deny", "NotPrincipal": {"AWS": ["arn:aws:iam::1:root", "arn:aws:iam::2:root"]}, "NotAction": "sns:Publish", "Resource": TOPIC});
        let mut doc = ours.clone();
        let st = doc["Statement"].as_array_mut().unwrap();
        st.push(public.clone());
        st.push(nameless.clone());
        let found = foreign_statements(Some(&doc.to_string()), TOPIC_SIDS);
        assert_eq!(found, vec![public.clone(), nameless.clone()]);
        assert_eq!(
            describe_statement(&public),
            r#""Public": Allow sns:Publish to *"#
        );
        assert_eq!(
            describe_statement(&nameless),
            "(no Sid): Deny all but sns:Publish to all but arn:aws:iam::1:root,arn:aws:iam::2:root"
        );
        let single = json!({"Version": VERSION, "Statement": public}).to_string();
        assert_eq!(foreign_statements(Some(&single), QUEUE_SIDS), vec![public]);
        assert!(foreign_statements(None, QUEUE_SIDS).is_empty());
        assert!(foreign_statements(Some("not json"), QUEUE_SIDS).is_empty());
    }

    #[test]
    fn with_foreign_keeps_others_statements_and_replaces_ours() {
        let ours = topic_policy(TOPIC, RULE, "222222222222", None);
        let other = json!({"Sid": "Audit", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "sns:GetTopicAttributes", "Resource": TOPIC});
        // An old version of our statement next to someone else's.
        let mut stale = publish_statement(json!(TOPIC), json!("arn:old"), json!("222222222222"));
        stale["Principal"] = json!("*");
        let existing = json!({"Version": VERSION, "Statement": [stale, other]}).to_string();
        let merged = with_foreign(&ours, Some(&existing), TOPIC_SIDS, false);
        assert_eq!(merged["Id"], TOPIC_POLICY_ID);
        let st = merged["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 2);
        assert_eq!(st[0], other);
        assert_eq!(st[1], ours["Statement"][0]);
        // SNS's default statement is replaced, not kept.
        let default = json!({"Sid": SNS_DEFAULT_SID, "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["SNS:Publish", "SNS:Subscribe"], "Resource": TOPIC, "Condition": {"StringEquals": {"AWS:SourceOwner": "222222222222"}}});
        let created = json!({"Version": VERSION, "Statement": [default]}).to_string();
        assert!(foreign_statements(Some(&created), TOPIC_SIDS).is_empty());
        assert_eq!(with_foreign(&ours, Some(&created), TOPIC_SIDS, false), ours);
        // Replacing, or nothing foreign there: exactly ours.
        assert_eq!(with_foreign(&ours, Some(&existing), TOPIC_SIDS, true), ours);
        assert_eq!(
            with_foreign(&ours, Some(&ours.to_string()), TOPIC_SIDS, false),
            ours
        );
        assert_eq!(with_foreign(&ours, None, TOPIC_SIDS, false), ours);
    }

    #[test]
    fn queue_policy_folds_when_too_large() {
        let mut sources = BTreeSet::new();
        for a in 0..40 {
            for r in [
                "us-east-1",
                "us-east-2",
                "us-west-1",
                "us-west-2",
                "eu-west-1",
            ] {
                sources.insert(format!(
                    "arn:aws:sns:{r}:{:012}:cloudcoreo-events",
                    100000000000u64 + a
                ));
            }
        }
        let p = queue_policy(QUEUE, None, &sources).unwrap().unwrap();
        assert!(p.to_string().len() <= MAX_QUEUE_POLICY_BYTES);
        let kept = queue_policy_sources(Some(&p.to_string()));
        assert_eq!(kept.len(), 40);
        let accounts = p["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(accounts, 40);
        assert!(sources.iter().all(|s| kept.iter().any(|k| arn_like(k, s))));
        assert!(!kept
            .iter()
            .any(|k| arn_like(k, "arn:aws:sns:us-east-1:999999999999:cloudcoreo-events")));
    }

    #[test]
    fn queue_policy_too_large_even_folded_is_a_clear_error() {
        let sources: BTreeSet<String> = (0..400u64)
            .map(|a| {
                format!(
                    "arn:aws:sns:us-east-1:{:012}:cloudcoreo-events",
                    100000000000 + a
                )
            })
            .collect();
        let err = queue_policy(QUEUE, None, &sources).unwrap_err();
        assert!(
            matches!(
                err,
                crate::error::Error::QueuePolicyTooLarge { accounts: 400, .. }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("400 accounts"), "{err}");
    }

    #[test]
    fn arn_like_globs() {
        assert!(arn_like("arn:aws:sns:*:1:t", "arn:aws:sns:eu-west-1:1:t"));
        assert!(!arn_like("arn:aws:sns:*:1:t", "arn:aws:sns:eu-west-1:2:t"));
        assert!(arn_like("a?c", "abc"));
        assert!(arn_like(TOPIC, TOPIC));
    }
}
