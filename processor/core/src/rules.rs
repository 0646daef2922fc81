//! Hand-written resource rules for the services of the bundled sample
//! (`tests/fixtures/sample.ndjson`): EC2 instances and security groups, S3 buckets,
//! IAM roles and users, Lambda functions and SSM parameters.
//!
//! A stop-gap that keeps the core useful on its own; the generated catalog
//! (`processor-catalog`) covers every service through the same [`crate::Resolver`] seam.

#[cfg(any(test, feature = "test-support"))]
use {
    crate::arn::Arn,
    crate::event::Event,
    crate::rescan::Action,
    crate::resolve::{parse_arn, partition_for_region, push_unique, Target},
    serde_json::Value,
};

/// Appends targets for events of the sample's services that these rules know.
#[cfg(any(test, feature = "test-support"))]
pub(crate) fn resolve_sample(ev: &Event<'_>, out: &mut Vec<Target>) {
    let service = ev.service();
    if !matches!(service, "ec2" | "s3" | "iam" | "lambda" | "ssm") {
        return;
    }
    let req = ev.request_json();
    let resp = ev.response_json();
    let name = ev.event_name.as_ref();
    let deletes = is_delete_name(name);
    let partition = partition_for_region(&ev.region);
    let (region, account) = (ev.region.as_ref(), ev.account.as_ref());
    let mut push = |arn: String, kind: &str, id: &str, delete: bool| {
        if parse_arn(&arn).is_some() {
            push_unique(
                out,
                Target {
                    arn,
                    resource_type: kind.to_string(),
                    resource_id: id.to_string(),
                    action: if delete {
                        Action::Delete
                    } else {
                        Action::Update
                    },
                },
            );
        }
    };
    match service {
        "ec2" => {
            for src in [&resp, &req] {
                for id in set_items(src, "instancesSet", "instanceId") {
                    let arn = format!("arn:{partition}:ec2:{region}:{account}:instance/{id}");
                    push(arn, "ec2:instance", id, name == "TerminateInstances");
                }
            }
            for src in [&req, &resp] {
                if let Some(id) = src.get("groupId").and_then(Value::as_str) {
                    let arn = format!("arn:{partition}:ec2:{region}:{account}:security-group/{id}");
                    push(arn, "ec2:security-group", id, name == "DeleteSecurityGroup");
                }
            }
        }
        "s3" => {
            if let Some(bucket) = req.get("bucketName").and_then(Value::as_str) {
                let arn = format!("arn:{partition}:s3:::{bucket}");
                push(arn, "s3:bucket", bucket, name == "DeleteBucket");
            }
        }
        "iam" => {
            for (field, kind, noun) in [
                ("roleName", "iam:role", "Role"),
                ("userName", "iam:user", "User"),
            ] {
                let Some(n) = req.get(field).and_then(Value::as_str) else {
                    continue;
                };
                // CreateRole/CreateUser answer with the full ARN, path included.
                let returned = resp
                    .get(&field[..4])
                    .and_then(|r| r.get("arn"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let arn = returned.unwrap_or_else(|| {
                    format!("arn:{partition}:iam::{account}:{}/{n}", &kind[4..])
                });
                push(arn, kind, n, deletes && delete_noun(name) == Some(noun));
            }
        }
        "lambda" => {
            if let Some(f) = req.get("functionName").and_then(Value::as_str) {
                let given = Arn::parse_resource(f).and_then(|a| {
                    // `function:NAME[:QUALIFIER]`: the function, not the version.
                    let mut res = a.resource.splitn(3, ':');
                    res.next().filter(|kind| *kind == "function")?;
                    let name = res.next().filter(|n| !n.is_empty())?;
                    let function = Arn {
                        resource: &a.resource[..9 + name.len()],
                        ..a
                    };
                    Some((function.to_string(), name))
                });
                let (arn, id) = if let Some(given) = given {
                    given
                } else {
                    (
                        format!("arn:{partition}:lambda:{region}:{account}:function:{f}"),
                        f,
                    )
                };
                push(
                    arn,
                    "lambda:function",
                    id,
                    name.starts_with("DeleteFunction"),
                );
            }
        }
        "ssm" => {
            if let Some(p) = req.get("name").and_then(Value::as_str) {
                let sep = if p.starts_with('/') { "" } else { "/" };
                let arn = format!("arn:{partition}:ssm:{region}:{account}:parameter{sep}{p}");
                push(arn, "ssm:parameter", p, name == "DeleteParameter");
            }
        }
        _ => {}
    }
}

/// Ids in CloudTrail's EC2 list shape: `{"instancesSet": {"items": [{"instanceId": ..}]}}`.
#[cfg(any(test, feature = "test-support"))]
fn set_items<'v>(v: &'v Value, set: &str, field: &str) -> impl Iterator<Item = &'v str> {
    let field = field.to_string();
    v.get(set)
        .and_then(|s| s.get("items"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(move |item| item.get(field.as_str()).and_then(Value::as_str))
}

/// Whether an event name reads as deleting its resource (`DeleteBucket`,
/// `TerminateInstances`, `DeregisterImage`, ...).
pub fn is_delete_name(name: &str) -> bool {
    delete_noun(name).is_some()
}

/// The noun a deleting event name is about: `DeleteBucket` -> `Bucket`,
/// `TerminateInstances` -> `Instance`.
pub fn delete_noun(name: &str) -> Option<&str> {
    let rest = [
        "Delete",
        "Terminate",
        "Deregister",
        "Release",
        "Remove",
        "Destroy",
    ]
    .iter()
    .find_map(|v| name.strip_prefix(v))?;
    let rest = rest.strip_suffix('s').unwrap_or(rest);
    (!rest.is_empty() && rest.as_bytes()[0].is_ascii_uppercase()).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_nouns() {
        assert_eq!(delete_noun("DeleteBucket"), Some("Bucket"));
        assert_eq!(delete_noun("TerminateInstances"), Some("Instance"));
        assert_eq!(delete_noun("PutBucketPolicy"), None);
        assert_eq!(delete_noun("Delete"), None);
        assert_eq!(delete_noun("Deleted"), None);
    }
}
