//! The tool's own IAM: the least-privilege identity policy each command needs
//! (`event-rule policy COMMAND`), built from the same names and partition as the
//! resources it acts on. The resource policies the tool writes (topic, queue, scanner
//! trust) are [`crate::policy`]'s.

use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::policy::{SECURITY_AUDIT, VERSION};

/// A command whose IAM needs `event-rule policy` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ToolCommand {
    /// `event-rule setup`.
    Setup,
    /// `event-rule plan`.
    Plan,
    /// `event-rule status`.
    Status,
    /// `event-rule teardown`.
    Teardown,
}

fn statement(sid: &str, actions: &[&str], resources: Vec<String>) -> Value {
    let mut m = Map::new();
    m.insert("Sid".into(), json!(sid));
    m.insert("Effect".into(), json!("Allow"));
    m.insert("Action".into(), json!(actions));
    m.insert("Resource".into(), json!(resources));
    Value::Object(m)
}

/// The minimal identity policy for running `cmd` with `cfg`, for the caller in the
/// home account. Member accounts reached with `--organization` or `--accounts` need the
/// same statements in the role assumed there, less `sts:AssumeRole` and Organizations.
pub fn tool_policy(cmd: ToolCommand, cfg: &Config) -> Value {
    use ToolCommand::*;
    let p = crate::aws::partition(&cfg.home_region);
    let home = &cfg.home_region;
    let queues = vec![
        format!("arn:{p}:sqs:{home}:*:{}", cfg.queue_name),
        format!("arn:{p}:sqs:{home}:*:{}", cfg.dlq_name()),
    ];
    let topic = vec![format!("arn:{p}:sns:*:*:{}", cfg.topic_name)];
    let rule = vec![format!("arn:{p}:events:*:*:rule/{}", cfg.rule_name)];
    let scanner = vec![format!("arn:{p}:iam::*:role/{}", cfg.scanner_role_name)];
    let all = || vec!["*".to_string()];

    let mut s = vec![statement(
        "Discover",
        &[
            "sts:GetCallerIdentity",
            "ec2:DescribeRegions",
            "cloudtrail:DescribeTrails",
            "cloudtrail:GetTrailStatus",
        ],
        all(),
    )];
    if cfg.organization {
        s.push(statement(
            "ListOrganizationAccounts",
            &[
                "organizations:ListAccounts",
                "organizations:DescribeOrganization",
            ],
            all(),
        ));
    }
    if cfg.organization || !cfg.accounts.is_empty() {
        let mut roles = vec![format!("arn:{p}:iam::*:role/{}", cfg.role_name)];
        roles.extend(
            cfg.account_roles
                .iter()
                .map(|(a, _)| cfg.role_arn_for(a, p)),
        );
        s.push(statement("AssumeMemberRole", &["sts:AssumeRole"], roles));
    }
    let (sqs, sns, events, iam): (&[&str], &[&str], &[&str], &[&str]) = match cmd {
        Setup => (
            &[
                "sqs:GetQueueUrl",
                "sqs:GetQueueAttributes",
                "sqs:ListQueueTags",
                "sqs:CreateQueue",
                "sqs:SetQueueAttributes",
                "sqs:TagQueue",
            ],
            &[
                "sns:GetTopicAttributes",
                "sns:ListTagsForResource",
                "sns:ListSubscriptionsByTopic",
                "sns:CreateTopic",
                "sns:SetTopicAttributes",
                "sns:TagResource",
            ],
            &[
                "events:DescribeRule",
                "events:ListTagsForResource",
                "events:ListTargetsByRule",
                "events:PutRule",
                "events:TagResource",
            ],
            &[
                "iam:GetRole",
                "iam:ListAttachedRolePolicies",
                "iam:ListRolePolicies",
                "iam:CreateRole",
                "iam:UpdateAssumeRolePolicy",
                "iam:TagRole",
                "iam:DetachRolePolicy",
                "iam:DeleteRolePolicy",
            ],
        ),
        Plan | Status => (
            &[
                "sqs:GetQueueUrl",
                "sqs:GetQueueAttributes",
                "sqs:ListQueueTags",
            ],
            &[
                "sns:GetTopicAttributes",
                "sns:ListTagsForResource",
                "sns:ListSubscriptionsByTopic",
            ],
            &[
                "events:DescribeRule",
                "events:ListTagsForResource",
                "events:ListTargetsByRule",
            ],
            &[
                "iam:GetRole",
                "iam:ListAttachedRolePolicies",
                "iam:ListRolePolicies",
            ],
        ),
        Teardown => (
            &[
                "sqs:GetQueueUrl",
                "sqs:GetQueueAttributes",
                "sqs:ListQueueTags",
                "sqs:SetQueueAttributes",
                "sqs:DeleteQueue",
            ],
            &[
                "sns:GetTopicAttributes",
                "sns:ListTagsForResource",
                "sns:ListSubscriptionsByTopic",
                "sns:DeleteTopic",
            ],
            &[
                "events:DescribeRule",
                "events:ListTagsForResource",
                "events:ListTargetsByRule",
                "events:RemoveTargets",
                "events:DeleteRule",
            ],
            &[
                "iam:GetRole",
                "iam:ListAttachedRolePolicies",
                "iam:ListRolePolicies",
                "iam:DetachRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:DeleteRole",
            ],
        ),
    };
    s.push(statement("CentralQueue", sqs, queues));
    s.push(statement("RegionalTopic", sns, topic.clone()));
    s.push(statement("RegionalRule", events, rule.clone()));
    // The subscription's filter policy and raw delivery are drift (setup repairs them);
    // teardown removes the subscription. The Service Authorization Reference gives
    // these SNS actions no resource type and no condition key, so IAM matches them
    // only against "*": a topic ARN here would deny them.
    match cmd {
        Setup => s.push(statement(
            "SubscriptionAttributes",
            &[
                "sns:GetSubscriptionAttributes",
                "sns:SetSubscriptionAttributes",
            ],
            all(),
        )),
        Plan | Status => s.push(statement(
            "SubscriptionAttributes",
            &["sns:GetSubscriptionAttributes"],
            all(),
        )),
        Teardown => s.push(statement("Unsubscribe", &["sns:Unsubscribe"], all())),
    }
    // Setup's actions that could send the stream elsewhere or widen the scanner role
    // are held to what setup does with them: subscribe only the central queue, target
    // only our topic, attach only SecurityAudit.
    if cmd == Setup {
        s.push(with_condition(
            statement("SubscribeCentralQueue", &["sns:Subscribe"], topic),
            json!({
                "StringEquals": { "sns:Protocol": "sqs" },
                "StringLike": { "sns:Endpoint": format!("arn:{p}:sqs:{home}:*:{}", cfg.queue_name) }
            }),
        ));
        s.push(with_condition(
            statement("TargetOurTopic", &["events:PutTargets"], rule),
            json!({ "ArnLike": { "events:TargetArn": format!("arn:{p}:sns:*:*:{}", cfg.topic_name) } }),
        ));
    }
    // Teardown looks for a scanner role an earlier setup made even without the flags.
    if cfg.scanner_enabled() || cmd == Teardown {
        s.push(statement("ScannerRole", iam, scanner.clone()));
        if cmd == Setup {
            s.push(with_condition(
                statement("AttachSecurityAuditOnly", &["iam:AttachRolePolicy"], scanner),
                json!({ "ArnEquals": { "iam:PolicyARN": format!("arn:{p}:iam::aws:{SECURITY_AUDIT}") } }),
            ));
        }
    }
    json!({ "Version": VERSION, "Statement": s })
}

fn with_condition(mut statement: Value, condition: Value) -> Value {
    statement["Condition"] = condition;
    statement
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_policies_are_least_privilege() {
        let cfg = Config::default();
        let plan = tool_policy(ToolCommand::Plan, &cfg).to_string();
        for write in ["Create", "Put", "Set", "Delete", "Subscribe", "Tag"] {
            assert!(
                !plan.contains(&format!(":{write}")),
                "plan must not write: {write}"
            );
        }
        let setup = tool_policy(ToolCommand::Setup, &cfg);
        let text = setup.to_string();
        assert!(
            text.contains("events:PutRule")
                && text.contains("arn:aws:events:*:*:rule/cloudcoreo-events")
        );
        assert!(
            !text.contains("sts:AssumeRole\""),
            "no AssumeRole for the current account alone"
        );
        assert!(!text.contains("iam:"), "no IAM without a scanner role");
        assert!(!text.contains("Delete"));
        let teardown = tool_policy(ToolCommand::Teardown, &cfg).to_string();
        assert!(teardown.contains("events:DeleteRule") && !teardown.contains("sns:CreateTopic"));
        // The actions that could send the stream elsewhere carry conditions.
        let conditioned = |doc: &Value, action: &str| -> Value {
            let st = doc["Statement"].as_array().unwrap();
            let with: Vec<&Value> = st
                .iter()
                .filter(|s| s["Action"].as_array().unwrap().iter().any(|a| a == action))
                .collect();
            assert_eq!(with.len(), 1, "{action} in one statement");
            with[0]["Condition"].clone()
        };
        assert_eq!(
            conditioned(&setup, "sns:Subscribe"),
            json!({"StringEquals": {"sns:Protocol": "sqs"},
                   "StringLike": {"sns:Endpoint": "arn:aws:sqs:us-west-2:*:cloudcoreo-events-queue"}})
        );
        assert_eq!(
            conditioned(&setup, "events:PutTargets"),
            json!({"ArnLike": {"events:TargetArn": "arn:aws:sns:*:*:cloudcoreo-events"}})
        );
        let scanning = Config {
            scanner_principal: Some("arn:aws:iam::999999999999:root".into()),
            scanner_external_id: Some("x".into()),
            ..Config::default()
        };
        let with_scanner = tool_policy(ToolCommand::Setup, &scanning);
        assert_eq!(
            conditioned(&with_scanner, "iam:AttachRolePolicy"),
            json!({"ArnEquals": {"iam:PolicyARN": "arn:aws:iam::aws:policy/SecurityAudit"}})
        );
        // Teardown may remove a scanner role made earlier, without the scanner flags.
        assert!(
            teardown.contains("iam:DeleteRole")
                && teardown.contains("arn:aws:iam::*:role/cloudcoreo-scanner")
                && !teardown.contains("iam:CreateRole")
        );
        let org = Config {
            organization: true,
            ..Config::default()
        };
        let text = tool_policy(ToolCommand::Setup, &org).to_string();
        assert!(text.contains("organizations:ListAccounts"));
        assert!(text.contains("arn:aws:iam::*:role/OrganizationAccountAccessRole"));
    }
}
