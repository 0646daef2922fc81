//! The optional read-only scanner role: `SecurityAudit` attached, trusted only by one
//! principal presenting the external id.

use aws_sdk_iam::types::Tag;
use serde_json::Value;
use tracing::info;

use crate::aws::AccountCtx;
use crate::component::{checks_for, Component};
use crate::config::Config;
use crate::error::{AwsErrorKind, Error};
use crate::plan::{self, Aspect, ChangeKind, Resource, ResourceChange, RoleState};
use crate::policy;
use crate::report::{Row, RowScope};

/// Description put on the role.
pub const ROLE_DESCRIPTION: &str = "Read-only scanner role (SecurityAudit), managed by event-rule";

/// The scanner role in one account.
pub struct ScannerRole<'a> {
    ctx: &'a AccountCtx,
    cfg: &'a Config,
    client: aws_sdk_iam::Client,
    /// ARN of the role.
    pub arn: String,
    /// ARN of the SecurityAudit managed policy.
    pub policy_arn: String,
}

impl<'a> ScannerRole<'a> {
    /// Builds the client for `ctx`'s account.
    pub fn new(ctx: &'a AccountCtx, cfg: &'a Config, partition: &str) -> Self {
        ScannerRole {
            ctx,
            cfg,
            client: aws_sdk_iam::Client::new(&ctx.sdk),
            arn: format!(
                "arn:{partition}:iam::{}:role/{}",
                ctx.account, cfg.scanner_role_name
            ),
            policy_arn: format!("arn:{partition}:iam::aws:{}", policy::SECURITY_AUDIT),
        }
    }

    /// The trust policy wanted.
    pub fn trust(&self) -> Value {
        policy::scanner_trust(
            self.cfg.scanner_principal.as_deref().unwrap_or_default(),
            self.cfg.scanner_external_id.as_deref().unwrap_or_default(),
        )
    }

    fn tags(&self) -> Vec<Tag> {
        self.cfg
            .tags()
            .iter()
            .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
            .collect()
    }

    async fn attach(&self) -> Result<(), Error> {
        self.client
            .attach_role_policy()
            .role_name(&self.cfg.scanner_role_name)
            .policy_arn(&self.policy_arn)
            .send()
            .await
            .map_err(|e| {
                self.ctx
                    .call("global")
                    .err("iam:AttachRolePolicy", &self.arn, e)
            })?;
        Ok(())
    }

    /// Names of the role's inline policies (every page).
    async fn inline_policies(&self) -> Result<Vec<String>, Error> {
        let mut names = Vec::new();
        let mut pages = self
            .client
            .list_role_policies()
            .role_name(&self.cfg.scanner_role_name)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                self.ctx
                    .call("global")
                    .err("iam:ListRolePolicies", &self.arn, e)
            })?;
            names.extend(page.policy_names().iter().cloned());
        }
        Ok(names)
    }

    /// Leaves SecurityAudit as the role's only permissions: attaches it, detaches
    /// every other managed policy, deletes every inline policy.
    async fn only_security_audit(&self) -> Result<(), Error> {
        self.strip(true).await?;
        self.attach().await
    }

    /// Detaches managed policies (all, or all but SecurityAudit) and deletes inline
    /// policies.
    async fn strip(&self, keep_audit: bool) -> Result<(), Error> {
        let call = self.ctx.call("global");
        let name = &self.cfg.scanner_role_name;
        let attached = self
            .client
            .list_attached_role_policies()
            .role_name(name)
            .send()
            .await
            .map_err(|e| call.err("iam:ListAttachedRolePolicies", &self.arn, e))?;
        for arn in attached
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn())
            .filter(|a| !(keep_audit && *a == self.policy_arn))
        {
            self.client
                .detach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| call.err("iam:DetachRolePolicy", &self.arn, e))?;
        }
        for policy in self.inline_policies().await? {
            self.client
                .delete_role_policy()
                .role_name(name)
                .policy_name(&policy)
                .send()
                .await
                .map_err(|e| call.err("iam:DeleteRolePolicy", &self.arn, e))?;
        }
        Ok(())
    }

    async fn delete(&self) -> Result<(), Error> {
        let call = self.ctx.call("global");
        let name = &self.cfg.scanner_role_name;
        // IAM deletes only a role with no policies left.
        self.strip(false).await?;
        if let Err(e) = self.client.delete_role().role_name(name).send().await {
            let e = call.err("iam:DeleteRole", &self.arn, e);
            if e.kind != AwsErrorKind::NotFound {
                return Err(e.into());
            }
        }
        Ok(())
    }
}

impl Component for ScannerRole<'_> {
    type Observed = Option<RoleState>;
    type Plan = Vec<ResourceChange>;

    fn account(&self) -> &str {
        &self.ctx.account
    }

    fn region(&self) -> &str {
        "global"
    }

    fn scope(&self) -> RowScope {
        RowScope::ScannerRole
    }

    /// Reads the role back (`None`: there is none).
    async fn observe(&self) -> Result<Option<RoleState>, Error> {
        let call = self.ctx.call("global");
        let name = &self.cfg.scanner_role_name;
        let role = match self.client.get_role().role_name(name).send().await {
            Ok(out) => out
                .role
                .ok_or_else(|| Error::InvalidArgument("IAM returned no role".into()))?,
            Err(e) => {
                let e = call.err("iam:GetRole", &self.arn, e);
                return if e.kind == AwsErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(e.into())
                };
            }
        };
        let attached = self
            .client
            .list_attached_role_policies()
            .role_name(name)
            .send()
            .await
            .map_err(|e| call.err("iam:ListAttachedRolePolicies", &self.arn, e))?
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(String::from))
            .collect();
        let inline = self.inline_policies().await?;
        Ok(Some(RoleState {
            trust: role.assume_role_policy_document().map(String::from),
            attached,
            inline,
            tags: role
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
        }))
    }

    /// The changes that bring the role to its trust policy and attachment.
    fn diff(&self, o: &Option<RoleState>, adopt: bool) -> Result<Vec<ResourceChange>, Error> {
        plan::diff_role(
            &self.arn,
            &self.trust(),
            &self.policy_arn,
            &self.cfg.tags(),
            o.as_ref(),
            adopt,
        )
    }

    /// The role, if it carries our tags.
    fn teardown(
        &self,
        o: &Option<RoleState>,
        _adopt: bool,
    ) -> Result<(Vec<ResourceChange>, Vec<String>), Error> {
        Ok(match o {
            Some(r) if plan::has_tags(&r.tags, &self.cfg.tags()) => {
                (vec![ResourceChange::delete(Resource::ScannerRole)], vec![])
            }
            Some(_) => (
                vec![],
                vec![format!(
                    "left role {} alone: not tagged by event-rule",
                    self.arn
                )],
            ),
            None => (vec![], vec![]),
        })
    }

    async fn apply(
        &self,
        _observed: &Option<RoleState>,
        changes: &Vec<ResourceChange>,
        done: &mut Vec<ResourceChange>,
    ) -> Result<(), Error> {
        let call = self.ctx.call("global");
        let name = &self.cfg.scanner_role_name;
        for c in changes {
            match (c.action, c.aspect) {
                (ChangeKind::Create, _) => {
                    self.client
                        .create_role()
                        .role_name(name)
                        .assume_role_policy_document(self.trust().to_string())
                        .description(ROLE_DESCRIPTION)
                        .set_tags(Some(self.tags()))
                        .send()
                        .await
                        .map_err(|e| call.err("iam:CreateRole", &self.arn, e))?;
                    // The role exists from here on: report it even if attaching fails.
                    info!(account = %self.ctx.account, change = %c, "applied");
                    done.push(*c);
                    self.attach().await?;
                    continue;
                }
                (ChangeKind::Update, Aspect::Tags) => {
                    self.client
                        .tag_role()
                        .role_name(name)
                        .set_tags(Some(self.tags()))
                        .send()
                        .await
                        .map_err(|e| call.err("iam:TagRole", &self.arn, e))?;
                }
                (ChangeKind::Update, Aspect::Policy) => {
                    self.client
                        .update_assume_role_policy()
                        .role_name(name)
                        .policy_document(self.trust().to_string())
                        .send()
                        .await
                        .map_err(|e| call.err("iam:UpdateAssumeRolePolicy", &self.arn, e))?;
                }
                (ChangeKind::Update, _) => self.only_security_audit().await?,
                (ChangeKind::Delete, _) => self.delete().await?,
            }
            info!(account = %self.ctx.account, change = %c, "applied");
            done.push(*c);
        }
        Ok(())
    }

    fn status(&self, _observed: &Option<RoleState>, changes: &[ResourceChange], row: &mut Row) {
        row.checks.insert(
            "scanner-role".into(),
            checks_for(changes, Resource::ScannerRole),
        );
    }
}
