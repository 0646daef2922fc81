//! The central queue and its dead-letter queue in the home account and region: read
//! back, and apply the changes [`crate::plan::diff_queue`] (or teardown) decided; as a
//! [`Component`], [`CentralQueue`].

use std::collections::{BTreeSet, HashMap};

use aws_sdk_sqs::types::QueueAttributeName;
use tracing::info;

use crate::aws::{self, AccountCtx};
use crate::component::{checks_for, Component};
use crate::config::Config;
use crate::error::{AwsErrorKind, Error};
use crate::plan::{
    self, ChangeKind, QueueDesired, QueueObserved, QueuePlan, QueueState, Resource, ResourceChange,
    Sources,
};
use crate::policy;
use crate::report::{Row, RowOutcome, RowScope};

/// What the queues should be.
pub fn desired(cfg: &Config, home_account: &str) -> QueueDesired {
    QueueDesired {
        queue_arn: aws::queue_arn(&cfg.home_region, home_account, &cfg.queue_name),
        dlq_arn: aws::queue_arn(&cfg.home_region, home_account, &cfg.dlq_name()),
        kms: cfg.queue_kms_key.clone(),
        max_receive_count: cfg.max_receive_count,
        visibility_timeout: cfg.visibility_timeout(),
        receive_wait: cfg.receive_wait_time,
        retention: cfg.message_retention,
        replace_foreign: cfg.replace_foreign_statements,
        organization: cfg.queue_org_id.clone().map(|org| {
            let partition = aws::partition(&cfg.home_region);
            (org, policy::organization_topics(partition, &cfg.topic_name))
        }),
        tags: cfg.tags(),
    }
}

/// The home account's SQS client in the home region, with the queue names.
pub struct Queues<'a> {
    ctx: &'a AccountCtx,
    region: &'a str,
    client: aws_sdk_sqs::Client,
    queue_name: &'a str,
    dlq_name: String,
}

impl<'a> Queues<'a> {
    /// Builds the client.
    pub fn new(ctx: &'a AccountCtx, cfg: &'a Config) -> Self {
        Queues {
            ctx,
            region: &cfg.home_region,
            client: aws_sdk_sqs::Client::new(&ctx.in_region(&cfg.home_region)),
            queue_name: &cfg.queue_name,
            dlq_name: cfg.dlq_name(),
        }
    }

    async fn read(&self, name: &str) -> Result<Option<QueueState>, Error> {
        let call = self.ctx.call(self.region);
        let url = match self.client.get_queue_url().queue_name(name).send().await {
            Ok(out) => out.queue_url().unwrap_or_default().to_string(),
            Err(e) => {
                let e = call.err("sqs:GetQueueUrl", name, e);
                return if e.kind == AwsErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(e.into())
                };
            }
        };
        let attrs = self
            .client
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .map_err(|e| call.err("sqs:GetQueueAttributes", name, e))?;
        let attributes: HashMap<String, String> = attrs
            .attributes()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let tags = self
            .client
            .list_queue_tags()
            .queue_url(&url)
            .send()
            .await
            .map_err(|e| call.err("sqs:ListQueueTags", name, e))?
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        Ok(Some(QueueState {
            url,
            attributes,
            tags,
        }))
    }

    /// Reads both queues.
    pub async fn observe(&self) -> Result<QueueObserved, Error> {
        Ok(QueueObserved {
            dlq: self.read(&self.dlq_name).await?,
            queue: self.read(self.queue_name).await?,
        })
    }

    async fn set_attrs(
        &self,
        url: &str,
        name: &str,
        attrs: Vec<(&'static str, String)>,
    ) -> Result<(), Error> {
        self.client
            .set_queue_attributes()
            .queue_url(url)
            .set_attributes(Some(
                attrs
                    .into_iter()
                    .map(|(k, v)| (QueueAttributeName::from(k), v))
                    .collect(),
            ))
            .send()
            .await
            .map_err(|e| {
                self.ctx
                    .call(self.region)
                    .err("sqs:SetQueueAttributes", name, e)
            })?;
        Ok(())
    }

    async fn create(
        &self,
        name: &str,
        attrs: Vec<(&'static str, String)>,
        d: &QueueDesired,
    ) -> Result<String, Error> {
        let out = self
            .client
            .create_queue()
            .queue_name(name)
            .set_attributes(Some(
                attrs
                    .into_iter()
                    .map(|(k, v)| (QueueAttributeName::from(k), v))
                    .collect(),
            ))
            .set_tags(Some(d.tags.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| self.ctx.call(self.region).err("sqs:CreateQueue", name, e))?;
        Ok(out.queue_url().unwrap_or_default().to_string())
    }

    /// Applies `plan` in order, pushing each change done to `done`. Deleting a queue
    /// that is already gone counts as done.
    pub async fn apply(
        &self,
        d: &QueueDesired,
        o: &QueueObserved,
        plan: &QueuePlan,
        done: &mut Vec<ResourceChange>,
    ) -> Result<(), Error> {
        let call = self.ctx.call(self.region);
        let mut dlq_url = o.dlq.as_ref().map(|q| q.url.clone());
        let mut queue_url = o.queue.as_ref().map(|q| q.url.clone());
        for c in &plan.changes {
            match (c.resource, c.action, c.aspect) {
                (Resource::DeadLetterQueue, ChangeKind::Create, _) => {
                    dlq_url = Some(self.create(&self.dlq_name, d.dlq_attributes(), d).await?);
                }
                (Resource::Queue, ChangeKind::Create, _) => {
                    queue_url = Some(
                        self.create(self.queue_name, d.queue_attributes(), d)
                            .await?,
                    );
                }
                (
                    res @ (Resource::DeadLetterQueue | Resource::Queue),
                    ChangeKind::Update,
                    aspect,
                ) => {
                    let (url, name, attrs) = if res == Resource::Queue {
                        (queue_url.as_deref(), self.queue_name, d.queue_attributes())
                    } else {
                        (
                            dlq_url.as_deref(),
                            self.dlq_name.as_str(),
                            d.dlq_attributes(),
                        )
                    };
                    let url = url.unwrap_or_default();
                    if aspect == crate::plan::Aspect::Tags {
                        self.client
                            .tag_queue()
                            .queue_url(url)
                            .set_tags(Some(d.tags.clone().into_iter().collect()))
                            .send()
                            .await
                            .map_err(|e| call.err("sqs:TagQueue", name, e))?;
                    } else {
                        let mut set: Vec<(&'static str, String)> =
                            if aspect == crate::plan::Aspect::Encryption {
                                d.sse_update_attrs()
                            } else {
                                attrs
                                    .into_iter()
                                    .filter(|(k, _)| {
                                        !matches!(*k, "SqsManagedSseEnabled" | "KmsMasterKeyId")
                                    })
                                    .collect()
                            };
                        // SQS keeps the policy across SetQueueAttributes; moto drops a
                        // policy not sent again. Sending the planned one (the policy
                        // step, if any, writes the same) keeps the queue open to the
                        // topics either way.
                        if let (Resource::Queue, Some(p)) = (res, &plan.policy) {
                            set.push(("Policy", p.to_string()));
                        }
                        self.set_attrs(url, name, set).await?;
                    }
                }
                (res @ (Resource::DeadLetterQueue | Resource::Queue), ChangeKind::Delete, _) => {
                    let (url, name) = if res == Resource::Queue {
                        (queue_url.as_deref(), self.queue_name)
                    } else {
                        (dlq_url.as_deref(), self.dlq_name.as_str())
                    };
                    let url = url.unwrap_or_default();
                    if let Err(e) = self.client.delete_queue().queue_url(url).send().await {
                        let e = call.err("sqs:DeleteQueue", name, e);
                        if e.kind != AwsErrorKind::NotFound {
                            return Err(e.into());
                        }
                    }
                    info!(account = %self.ctx.account, region = self.region, queue = name, "deleted queue");
                    done.push(*c);
                    continue;
                }
                (Resource::QueuePolicy, _, _) => {
                    let text = plan
                        .policy
                        .as_ref()
                        .map(|p| p.to_string())
                        .unwrap_or_default();
                    self.set_attrs(
                        queue_url.as_deref().unwrap_or_default(),
                        self.queue_name,
                        vec![("Policy", text)],
                    )
                    .await?;
                }
                (r, a, _) => {
                    return Err(Error::InvalidArgument(format!(
                        "no queue step for {a:?} {r}"
                    )))
                }
            }
            info!(account = %self.ctx.account, region = self.region, change = %c, "applied");
            done.push(*c);
        }
        Ok(())
    }
}

impl AsRef<[ResourceChange]> for QueuePlan {
    fn as_ref(&self) -> &[ResourceChange] {
        &self.changes
    }
}

/// The central queue as a [`Component`]: the queues, what they should be, and how the
/// topics its policy allows change.
pub struct CentralQueue<'a> {
    queues: Queues<'a>,
    desired: QueueDesired,
    sources: Sources<'a>,
    include_queue: bool,
    strict: bool,
}

impl<'a> CentralQueue<'a> {
    /// The queue for setup, plan and status: its policy allows `topics` too.
    pub fn new(home: &'a AccountCtx, cfg: &'a Config, topics: &'a BTreeSet<String>) -> Self {
        CentralQueue {
            queues: Queues::new(home, cfg),
            desired: desired(cfg, &home.account),
            sources: Sources::Add(topics),
            include_queue: false,
            strict: cfg.strict,
        }
    }

    /// The queue for teardown: its policy stops allowing the `removed` topics (see
    /// [`Sources::Remove`] for `whole_accounts`), or, with `include_queue`, both queues
    /// are deleted.
    pub fn leaving(
        home: &'a AccountCtx,
        cfg: &'a Config,
        removed: &'a BTreeSet<String>,
        whole_accounts: &'a BTreeSet<String>,
        include_queue: bool,
    ) -> Self {
        CentralQueue {
            queues: Queues::new(home, cfg),
            // Narrowing the policy keeps the statements others added, whatever the flags.
            desired: QueueDesired {
                replace_foreign: false,
                ..desired(cfg, &home.account)
            },
            sources: Sources::Remove(removed, whole_accounts),
            include_queue,
            strict: cfg.strict,
        }
    }
}

impl Component for CentralQueue<'_> {
    type Observed = QueueObserved;
    type Plan = QueuePlan;

    fn account(&self) -> &str {
        &self.queues.ctx.account
    }

    fn region(&self) -> &str {
        self.queues.region
    }

    fn scope(&self) -> RowScope {
        RowScope::Queue
    }

    async fn observe(&self) -> Result<QueueObserved, Error> {
        self.queues.observe().await
    }

    fn diff(&self, o: &QueueObserved, adopt: bool) -> Result<QueuePlan, Error> {
        plan::diff_queue(&self.desired, o, &self.sources, adopt)
    }

    /// With `include_queue`, both queues if they carry our tags; otherwise the queue
    /// is kept and only its policy stops allowing the removed topics.
    fn teardown(&self, o: &QueueObserved, adopt: bool) -> Result<(QueuePlan, Vec<String>), Error> {
        let mut keep = QueuePlan {
            changes: Vec::new(),
            policy: None,
        };
        if self.include_queue {
            let mut notes = Vec::new();
            for (res, name, q) in [
                (Resource::Queue, self.queues.queue_name, &o.queue),
                (
                    Resource::DeadLetterQueue,
                    self.queues.dlq_name.as_str(),
                    &o.dlq,
                ),
            ] {
                let Some(q) = q else { continue };
                if plan::has_tags(&q.tags, &self.desired.tags) {
                    keep.changes.push(ResourceChange::delete(res));
                } else {
                    notes.push(format!("left queue {name} alone: not tagged by event-rule"));
                }
            }
            return Ok((keep, notes));
        }
        if o.queue.is_none() {
            return Ok((keep, Vec::new()));
        }
        let mut narrow = self.diff(o, adopt)?;
        narrow
            .changes
            .retain(|c| c.resource == Resource::QueuePolicy);
        Ok((
            narrow,
            vec!["queue kept (use --include-queue to delete it)".to_string()],
        ))
    }

    async fn apply(
        &self,
        o: &QueueObserved,
        plan: &QueuePlan,
        done: &mut Vec<ResourceChange>,
    ) -> Result<(), Error> {
        self.queues.apply(&self.desired, o, plan, done).await
    }

    fn notes(&self, o: &QueueObserved) -> Vec<String> {
        plan::queue_attribute_notes(&self.desired, o)
    }

    /// Statements others added to the queue policy are reported, and drift only with
    /// --strict (setup keeps them unless --replace-foreign-statements); the note names
    /// the organization the policy admits.
    fn status(&self, o: &QueueObserved, changes: &[ResourceChange], r: &mut Row) {
        for (name, res) in [
            ("dlq", Resource::DeadLetterQueue),
            ("queue", Resource::Queue),
            ("queue-policy", Resource::QueuePolicy),
        ] {
            r.checks.insert(name.into(), checks_for(changes, res));
        }
        let foreign = o.foreign_statements();
        r.checks
            .insert("queue-policy-foreign".into(), plan::foreign_check(&foreign));
        if self.strict && !foreign.is_empty() {
            r.outcome = RowOutcome::Drift;
        }
        // Which organization the queue admits, as read back from its policy.
        if let Some(org) = policy::queue_policy_organization(o.policy()) {
            r.notes.push(format!(
                "queue policy admits the topics of organization {org} (aws:SourceOrgID)"
            ));
        }
    }
}
