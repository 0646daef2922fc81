//! One region of one account: read the topic, rule, target and subscription back, and
//! apply the changes [`crate::plan`] decided, in order, recording each one done.

use std::collections::BTreeMap;

use aws_sdk_eventbridge::types::{RuleState as EbRuleState, Tag as EbTag, Target};
use aws_sdk_sns::types::Tag as SnsTag;
use tracing::{debug, info, warn};

use crate::aws::{self, AccountCtx};
use crate::component::{checks_for, Component};
use crate::config::Config;
use crate::discover::Coverage;
use crate::error::{AwsErrorKind, Error};
use crate::plan::{
    self, Aspect, ChangeKind, RegionDesired, RegionObserved, Resource, ResourceChange, RuleState,
    SubscriptionState, TopicState,
};
use crate::report::{Row, RowOutcome, RowScope};

/// Description put on the rule.
pub const RULE_DESCRIPTION: &str =
    "CloudTrail API calls to the cloudcoreo event stream (managed by event-rule)";

/// Id of the topic among the rule's targets.
pub fn target_id(cfg: &Config) -> String {
    target_id_for(&cfg.topic_name)
}

/// Id of the topic named `topic_name` among the rule's targets (the templates pass
/// `${TopicName}` and wrap the result in `Fn::Sub`).
pub fn target_id_for(topic_name: &str) -> String {
    format!("{topic_name}-topic")
}

/// What `account`'s `region` should hold.
pub fn desired(
    cfg: &Config,
    account: &str,
    region: &str,
    home_account: &str,
    pattern: &str,
) -> RegionDesired {
    let topic_arn = aws::topic_arn(region, account, &cfg.topic_name);
    let rule_arn = aws::rule_arn(region, account, &cfg.rule_name);
    let queue_arn = aws::queue_arn(&cfg.home_region, home_account, &cfg.queue_name);
    let home_root = format!("arn:{}:iam::{home_account}:root", aws::partition(region));
    let cross = (account != home_account).then_some((home_root.as_str(), queue_arn.as_str()));
    RegionDesired {
        topic_policy: crate::policy::topic_policy(&topic_arn, &rule_arn, account, cross),
        replace_foreign: cfg.replace_foreign_statements,
        topic_arn,
        topic_kms: cfg.topic_kms_key.clone(),
        rule_name: cfg.rule_name.clone(),
        rule_arn,
        pattern: pattern.to_string(),
        description: RULE_DESCRIPTION.to_string(),
        target_id: target_id(cfg),
        queue_arn,
        tags: cfg.tags(),
    }
}

/// Clients for one region of one account, plus the home account's SNS client in the
/// same region (the queue's owner subscribes, so a cross-account subscription is
/// confirmed at once).
pub struct RegionClients<'a> {
    ctx: &'a AccountCtx,
    region: &'a str,
    sns: aws_sdk_sns::Client,
    events: aws_sdk_eventbridge::Client,
    home_sns: Option<aws_sdk_sns::Client>,
    home_account: Option<&'a str>,
}

impl<'a> RegionClients<'a> {
    /// Builds the clients; `home` is `None` when `ctx` is the home account.
    pub fn new(ctx: &'a AccountCtx, home: Option<&'a AccountCtx>, region: &'a str) -> Self {
        let sdk = ctx.in_region(region);
        RegionClients {
            ctx,
            region,
            sns: aws_sdk_sns::Client::new(&sdk),
            events: aws_sdk_eventbridge::Client::new(&sdk),
            home_sns: home.map(|h| aws_sdk_sns::Client::new(&h.in_region(region))),
            home_account: home.map(|h| h.account.as_str()),
        }
    }

    fn subscriber(&self) -> &aws_sdk_sns::Client {
        self.home_sns.as_ref().unwrap_or(&self.sns)
    }

    fn home_call(&self) -> crate::error::Call<'_> {
        crate::error::Call {
            account: self.home_account.unwrap_or(&self.ctx.account),
            region: self.region,
        }
    }

    /// Reads everything of ours in the region (topic side and rule side at once).
    pub async fn observe(&self, d: &RegionDesired) -> Result<RegionObserved, Error> {
        let ((topic, subscriptions), rule) =
            tokio::try_join!(self.observe_topic(d), self.observe_rule(d))?;
        Ok(RegionObserved {
            topic,
            rule,
            subscriptions,
        })
    }

    async fn observe_topic(
        &self,
        d: &RegionDesired,
    ) -> Result<(Option<TopicState>, Vec<SubscriptionState>), Error> {
        let call = self.ctx.call(self.region);
        let topic = match self
            .sns
            .get_topic_attributes()
            .topic_arn(&d.topic_arn)
            .send()
            .await
        {
            Ok(out) => {
                let attrs = out.attributes().cloned().unwrap_or_default();
                let tags = self
                    .sns
                    .list_tags_for_resource()
                    .resource_arn(&d.topic_arn)
                    .send()
                    .await
                    .map_err(|e| call.err("sns:ListTagsForResource", &d.topic_arn, e))?
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect();
                TopicState {
                    policy: attrs.get("Policy").cloned(),
                    kms: attrs
                        .get("KmsMasterKeyId")
                        .filter(|k| !k.is_empty())
                        .cloned(),
                    tags,
                }
            }
            Err(e) => {
                let e = call.err("sns:GetTopicAttributes", &d.topic_arn, e);
                return if e.kind == AwsErrorKind::NotFound {
                    Ok((None, Vec::new()))
                } else {
                    Err(e.into())
                };
            }
        };
        let mut subscriptions = self
            .subscriptions(&self.sns, d, false)
            .await
            .map_err(|e| Error::from(call.err("sns:ListSubscriptionsByTopic", &d.topic_arn, e)))?;
        if subscriptions.is_empty() {
            if let Some(home) = &self.home_sns {
                // The queue's owner made it; some endpoints list it only there.
                match self.subscriptions(home, d, true).await {
                    Ok(s) => subscriptions = s,
                    Err(e) => debug!(
                        error = %self.home_call().err("sns:ListSubscriptionsByTopic", &d.topic_arn, e),
                        "could not list subscriptions as the queue's owner"
                    ),
                }
            }
        }
        for sub in subscriptions.iter_mut().filter(|s| !s.pending) {
            self.read_subscription(sub).await?;
        }
        Ok((Some(topic), subscriptions))
    }

    /// The client that reads and changes `sub`: the one that found it; for a
    /// subscription the queue's owner made, the topic owner's when that one is denied.
    fn subscription_clients(
        &self,
        sub: &SubscriptionState,
    ) -> Vec<(&aws_sdk_sns::Client, crate::error::Call<'_>)> {
        let own = (&self.sns, self.ctx.call(self.region));
        match &self.home_sns {
            Some(home) if sub.via_home => vec![(home, self.home_call()), own],
            Some(home) => vec![own, (home, self.home_call())],
            None => vec![own],
        }
    }

    /// Reads the subscription's filter policy and raw delivery
    /// (`sns:GetSubscriptionAttributes`).
    async fn read_subscription(&self, sub: &mut SubscriptionState) -> Result<(), Error> {
        let mut last = None;
        for (client, call) in self.subscription_clients(sub) {
            match client
                .get_subscription_attributes()
                .subscription_arn(&sub.arn)
                .send()
                .await
            {
                Ok(out) => {
                    let attrs = out.attributes();
                    let attr = |k: &str| attrs.and_then(|a| a.get(k)).map(String::as_str);
                    sub.filter_policy = crate::plan::filter_policy(attr("FilterPolicy"));
                    sub.raw_delivery = attr("RawMessageDelivery")
                        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
                    return Ok(());
                }
                Err(e) => {
                    let e = call.err("sns:GetSubscriptionAttributes", &sub.arn, e);
                    match e.kind {
                        // Gone since it was listed: nothing to read.
                        AwsErrorKind::NotFound => return Ok(()),
                        AwsErrorKind::AccessDenied => last = Some(e),
                        _ => return Err(e.into()),
                    }
                }
            }
        }
        Err(last.map_or_else(
            || Error::NotAttempted("no client for the subscription".into()),
            Error::from,
        ))
    }

    /// Removes the subscription's filter policy and turns raw delivery off
    /// (`sns:SetSubscriptionAttributes`).
    async fn repair_subscription(&self, sub: &SubscriptionState) -> Result<(), Error> {
        let mut fixes = Vec::new();
        if sub.filter_policy.is_some() {
            // "{}" is how SNS takes a filter policy off.
            fixes.push(("FilterPolicy", "{}"));
        }
        if sub.raw_delivery {
            fixes.push(("RawMessageDelivery", "false"));
        }
        for (name, value) in fixes {
            let mut last = None;
            for (client, call) in self.subscription_clients(sub) {
                match client
                    .set_subscription_attributes()
                    .subscription_arn(&sub.arn)
                    .attribute_name(name)
                    .attribute_value(value)
                    .send()
                    .await
                {
                    Ok(_) => {
                        last = None;
                        break;
                    }
                    Err(e) => {
                        let e = call.err("sns:SetSubscriptionAttributes", &sub.arn, e);
                        if e.kind != AwsErrorKind::AccessDenied {
                            return Err(e.into());
                        }
                        last = Some(e);
                    }
                }
            }
            if let Some(e) = last {
                return Err(e.into());
            }
        }
        Ok(())
    }

    async fn observe_rule(&self, d: &RegionDesired) -> Result<Option<RuleState>, Error> {
        let call = self.ctx.call(self.region);
        let rule = match self.events.describe_rule().name(&d.rule_name).send().await {
            Ok(rule) => rule,
            Err(e) => {
                let e = call.err("events:DescribeRule", &d.rule_arn, e);
                return if e.kind == AwsErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(e.into())
                };
            }
        };
        let tags = self
            .events
            .list_tags_for_resource()
            .resource_arn(&d.rule_arn)
            .send()
            .await
            .map_err(|e| call.err("events:ListTagsForResource", &d.rule_arn, e))?
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        let mut targets = Vec::new();
        let mut rewritten = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .events
                .list_targets_by_rule()
                .rule(&d.rule_name)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| call.err("events:ListTargetsByRule", &d.rule_arn, e))?;
            for t in out.targets() {
                targets.push((t.id().to_string(), t.arn().to_string()));
                if t.input().is_some()
                    || t.input_path().is_some()
                    || t.input_transformer().is_some()
                {
                    rewritten.push(t.id().to_string());
                }
            }
            token = out.next_token().map(String::from);
            if token.is_none() {
                break;
            }
        }
        Ok(Some(RuleState {
            pattern: rule.event_pattern().map(String::from),
            state: rule.state().map(|s| s.as_str().to_string()),
            description: rule.description().map(String::from),
            tags,
            targets,
            rewritten,
        }))
    }

    async fn subscriptions(
        &self,
        client: &aws_sdk_sns::Client,
        d: &RegionDesired,
        via_home: bool,
    ) -> Result<
        Vec<SubscriptionState>,
        aws_sdk_sns::error::SdkError<
            aws_sdk_sns::operation::list_subscriptions_by_topic::ListSubscriptionsByTopicError,
        >,
    > {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = client
                .list_subscriptions_by_topic()
                .topic_arn(&d.topic_arn)
                .set_next_token(token)
                .send()
                .await?;
            for s in page.subscriptions() {
                if s.protocol() == Some("sqs") && s.endpoint() == Some(d.queue_arn.as_str()) {
                    let arn = s
                        .subscription_arn()
                        .unwrap_or("PendingConfirmation")
                        .to_string();
                    out.push(SubscriptionState {
                        pending: arn == "PendingConfirmation",
                        arn,
                        via_home,
                        filter_policy: None,
                        raw_delivery: false,
                    });
                }
            }
            token = page.next_token().map(String::from);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    /// Applies `changes` in order; every change done is pushed to `done`, so a failure
    /// half-way is reported with what was already made.
    pub async fn apply(
        &self,
        d: &RegionDesired,
        o: &RegionObserved,
        changes: &[ResourceChange],
        done: &mut Vec<ResourceChange>,
    ) -> Result<(), Error> {
        let call = self.ctx.call(self.region);
        let mut rule_defined = false;
        for c in changes {
            match (c.resource, c.action, c.aspect) {
                (Resource::Topic, ChangeKind::Create, _) => {
                    let mut req = self
                        .sns
                        .create_topic()
                        .name(topic_name(&d.topic_arn))
                        .attributes("Policy", d.topic_policy.to_string())
                        .set_tags(Some(sns_tags(&d.tags)));
                    if let Some(k) = &d.topic_kms {
                        req = req.attributes("KmsMasterKeyId", k);
                    }
                    let out = req
                        .send()
                        .await
                        .map_err(|e| call.err("sns:CreateTopic", &d.topic_arn, e))?;
                    if out.topic_arn() != Some(d.topic_arn.as_str()) {
                        return Err(Error::InvalidArgument(format!(
                            "SNS returned topic {:?}, expected {}: check the region and account",
                            out.topic_arn(),
                            d.topic_arn
                        )));
                    }
                }
                (Resource::Topic, ChangeKind::Update, Aspect::Tags) => {
                    self.sns
                        .tag_resource()
                        .resource_arn(&d.topic_arn)
                        .set_tags(Some(sns_tags(&d.tags)))
                        .send()
                        .await
                        .map_err(|e| call.err("sns:TagResource", &d.topic_arn, e))?;
                }
                (Resource::Topic, ChangeKind::Update, aspect) => {
                    let (name, value) = if aspect == Aspect::Encryption {
                        ("KmsMasterKeyId", d.topic_kms.clone().unwrap_or_default())
                    } else {
                        let existing = o.topic.as_ref().and_then(|t| t.policy.as_deref());
                        ("Policy", d.topic_policy_for(existing).to_string())
                    };
                    self.sns
                        .set_topic_attributes()
                        .topic_arn(&d.topic_arn)
                        .attribute_name(name)
                        .attribute_value(value)
                        .send()
                        .await
                        .map_err(|e| call.err("sns:SetTopicAttributes", &d.topic_arn, e))?;
                }
                (Resource::Rule, ChangeKind::Update, Aspect::Tags) => {
                    self.events
                        .tag_resource()
                        .resource_arn(&d.rule_arn)
                        .set_tags(Some(eb_tags(&d.tags)))
                        .send()
                        .await
                        .map_err(|e| call.err("events:TagResource", &d.rule_arn, e))?;
                }
                (Resource::Rule, ChangeKind::Create | ChangeKind::Update, _) => {
                    if !rule_defined {
                        let mut req = self
                            .events
                            .put_rule()
                            .name(&d.rule_name)
                            .event_pattern(&d.pattern)
                            .state(EbRuleState::Enabled)
                            .description(&d.description);
                        if c.action == ChangeKind::Create {
                            req = req.set_tags(Some(eb_tags(&d.tags)));
                        }
                        req.send()
                            .await
                            .map_err(|e| call.err("events:PutRule", &d.rule_arn, e))?;
                        rule_defined = true;
                    }
                }
                (Resource::Target, ChangeKind::Create | ChangeKind::Update, _) => {
                    let target = Target::builder()
                        .id(&d.target_id)
                        .arn(&d.topic_arn)
                        .build()
                        .map_err(|e| Error::InvalidArgument(format!("target: {e}")))?;
                    let out = self
                        .events
                        .put_targets()
                        .rule(&d.rule_name)
                        .targets(target)
                        .send()
                        .await
                        .map_err(|e| call.err("events:PutTargets", &d.rule_arn, e))?;
                    if let Some(f) = out.failed_entries().first() {
                        return Err(entry_error(
                            self,
                            "events:PutTargets",
                            &d.rule_arn,
                            f.error_code(),
                            f.error_message(),
                        ));
                    }
                }
                (Resource::Subscription, ChangeKind::Create, _) => {
                    let who = if self.home_sns.is_some() {
                        self.home_call()
                    } else {
                        call.clone()
                    };
                    let out = self
                        .subscriber()
                        .subscribe()
                        .topic_arn(&d.topic_arn)
                        .protocol("sqs")
                        .endpoint(&d.queue_arn)
                        .return_subscription_arn(true)
                        .send()
                        .await
                        .map_err(|e| who.err("sns:Subscribe", &d.topic_arn, e))?;
                    debug!(
                        subscription = out.subscription_arn().unwrap_or_default(),
                        "subscribed"
                    );
                }
                (Resource::Subscription, ChangeKind::Update, _) => {
                    for sub in o.subscriptions.iter().filter(|s| s.drifted()) {
                        self.repair_subscription(sub).await?;
                    }
                }
                (Resource::Target, ChangeKind::Delete, _) => {
                    let out = self
                        .events
                        .remove_targets()
                        .rule(&d.rule_name)
                        .ids(&d.target_id)
                        .send()
                        .await
                        .map_err(|e| call.err("events:RemoveTargets", &d.rule_arn, e))?;
                    if let Some(f) = out.failed_entries().first() {
                        return Err(entry_error(
                            self,
                            "events:RemoveTargets",
                            &d.rule_arn,
                            f.error_code(),
                            f.error_message(),
                        ));
                    }
                }
                (Resource::Rule, ChangeKind::Delete, _) => {
                    if let Err(e) = self.events.delete_rule().name(&d.rule_name).send().await {
                        let e = call.err("events:DeleteRule", &d.rule_arn, e);
                        if e.kind != AwsErrorKind::NotFound {
                            return Err(e.into());
                        }
                    }
                }
                (Resource::Subscription, ChangeKind::Delete, _) => {
                    for s in o.subscriptions.iter().filter(|s| !s.pending) {
                        let client = if s.via_home {
                            self.subscriber()
                        } else {
                            &self.sns
                        };
                        if let Err(e) = client.unsubscribe().subscription_arn(&s.arn).send().await {
                            let e = call.err("sns:Unsubscribe", &s.arn, e);
                            if e.kind != AwsErrorKind::NotFound {
                                return Err(e.into());
                            }
                        }
                    }
                }
                (Resource::Topic, ChangeKind::Delete, _) => {
                    self.sns
                        .delete_topic()
                        .topic_arn(&d.topic_arn)
                        .send()
                        .await
                        .map_err(|e| call.err("sns:DeleteTopic", &d.topic_arn, e))?;
                }
                (r, a, _) => {
                    return Err(Error::InvalidArgument(format!(
                        "no regional step for {a:?} {r}"
                    )));
                }
            }
            info!(account = %self.ctx.account, region = self.region, change = %c, "applied");
            done.push(*c);
        }
        Ok(())
    }
}

fn entry_error(
    rc: &RegionClients<'_>,
    action: &'static str,
    resource: &str,
    code: Option<&str>,
    message: Option<&str>,
) -> Error {
    let code = code.unwrap_or("FailedEntry").to_string();
    Error::from(crate::error::AwsError {
        kind: if code.contains("AccessDenied") {
            AwsErrorKind::AccessDenied
        } else {
            AwsErrorKind::Other
        },
        action,
        resource: resource.to_string(),
        account: rc.ctx.account.clone(),
        region: rc.region.to_string(),
        code,
        message: message.unwrap_or_default().to_string(),
    })
}

fn topic_name(arn: &str) -> &str {
    processor_core::arn::Arn::parse(arn).map_or(arn, |a| a.resource)
}

fn sns_tags(tags: &BTreeMap<String, String>) -> Vec<SnsTag> {
    tags.iter()
        .filter_map(|(k, v)| SnsTag::builder().key(k).value(v).build().ok())
        .collect()
}

fn eb_tags(tags: &BTreeMap<String, String>) -> Vec<EbTag> {
    tags.iter()
        .filter_map(|(k, v)| EbTag::builder().key(k).value(v).build().ok())
        .collect()
}

/// One account-region as a [`Component`]: its clients, what it should hold, and its
/// CloudTrail coverage (reported on its row).
pub struct AccountRegion<'a> {
    clients: RegionClients<'a>,
    desired: RegionDesired,
    coverage: Option<Coverage>,
    strict: bool,
}

impl<'a> AccountRegion<'a> {
    /// `region` of `ctx`'s account, sending to the central queue of `home`.
    pub fn new(
        cfg: &Config,
        ctx: &'a AccountCtx,
        home: &'a AccountCtx,
        region: &'a str,
        coverage: Option<Coverage>,
        pattern: &str,
    ) -> Self {
        let cross = (ctx.account != home.account).then_some(home);
        AccountRegion {
            clients: RegionClients::new(ctx, cross, region),
            desired: desired(cfg, &ctx.account, region, &home.account, pattern),
            coverage,
            strict: cfg.strict,
        }
    }
}

impl Component for AccountRegion<'_> {
    type Observed = RegionObserved;
    type Plan = Vec<ResourceChange>;

    fn account(&self) -> &str {
        &self.clients.ctx.account
    }

    fn region(&self) -> &str {
        self.clients.region
    }

    fn scope(&self) -> RowScope {
        RowScope::Region
    }

    async fn observe(&self) -> Result<RegionObserved, Error> {
        self.clients.observe(&self.desired).await
    }

    fn diff(&self, o: &RegionObserved, adopt: bool) -> Result<Vec<ResourceChange>, Error> {
        plan::diff_region(&self.desired, o, adopt)
    }

    fn teardown(
        &self,
        o: &RegionObserved,
        _adopt: bool,
    ) -> Result<(Vec<ResourceChange>, Vec<String>), Error> {
        let (changes, left) = plan::teardown_region(&self.desired, o);
        let mut notes = Vec::new();
        if o.subscriptions.iter().any(|s| s.pending) {
            notes.push(
                "a subscription pending confirmation cannot be removed; it expires by itself"
                    .into(),
            );
        }
        notes.extend(left);
        Ok((changes, notes))
    }

    async fn apply(
        &self,
        o: &RegionObserved,
        changes: &Vec<ResourceChange>,
        done: &mut Vec<ResourceChange>,
    ) -> Result<(), Error> {
        self.clients.apply(&self.desired, o, changes, done).await
    }

    /// Every row of the region carries its CloudTrail coverage.
    fn row(&self, outcome: RowOutcome) -> Row {
        let mut r = Row::new(self.account(), self.region(), RowScope::Region, outcome);
        r.trail = self.coverage.clone();
        r
    }

    fn failed(&self, err: &Error, done: Vec<ResourceChange>) -> Row {
        warn!(account = self.account(), region = self.region(), error = %err, "region failed");
        let mut r = Row::failed(self.account(), self.region(), RowScope::Region, err, done);
        r.trail = self.coverage.clone();
        r
    }

    /// A region no trail covers is skipped (reported, not drift); statements others
    /// added to the topic policy are drift only with --strict; a subscription only
    /// pending confirmation is drift.
    fn status(&self, o: &RegionObserved, changes: &[ResourceChange], r: &mut Row) {
        if !self.coverage.as_ref().is_some_and(Coverage::is_covered) {
            r.outcome = RowOutcome::Skipped;
        }
        r.checks.insert("topic".into(), {
            let topic_only: Vec<ResourceChange> = changes
                .iter()
                .filter(|c| c.aspect != Aspect::Policy)
                .copied()
                .collect();
            checks_for(&topic_only, Resource::Topic)
        });
        r.checks.insert(
            "topic-policy".into(),
            if o.topic.is_none() {
                "missing".into()
            } else if changes.contains(&ResourceChange::update(Resource::Topic, Aspect::Policy)) {
                "differs".into()
            } else {
                "ok".into()
            },
        );
        let foreign = o.foreign_statements();
        r.checks
            .insert("topic-policy-foreign".into(), plan::foreign_check(&foreign));
        if self.strict && !foreign.is_empty() {
            r.outcome = RowOutcome::Drift;
        }
        r.checks
            .insert("rule".into(), checks_for(changes, Resource::Rule));
        r.checks
            .insert("target".into(), checks_for(changes, Resource::Target));
        let sub = checks_for(changes, Resource::Subscription);
        let pending = !o.subscriptions.is_empty() && o.subscriptions.iter().all(|s| s.pending);
        r.checks.insert(
            "subscription".into(),
            if pending {
                "pending confirmation".into()
            } else {
                sub
            },
        );
        if pending && r.outcome == RowOutcome::InSync {
            r.outcome = RowOutcome::Drift;
        }
    }
}
