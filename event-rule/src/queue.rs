//! The central queue and its dead-letter queue in the home account and region: read
//! back, and apply the changes [`crate::plan::diff_queue`] decided.

use std::collections::HashMap;

use aws_sdk_sqs::types::QueueAttributeName;
use tracing::info;

use crate::aws::{self, AccountCtx};
use crate::config::Config;
use crate::error::{AwsErrorKind, Error};
use crate::plan::{
    ChangeKind, QueueDesired, QueueObserved, QueuePlan, QueueState, Resource, ResourceChange,
};
use crate::policy;

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

    /// Applies `plan` in order, pushing each change done to `done`.
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

    /// Deletes both queues if they carry our tags; returns the changes done and notes
    /// about what was left alone.
    pub async fn delete(
        &self,
        d: &QueueDesired,
        o: &QueueObserved,
        done: &mut Vec<ResourceChange>,
    ) -> Result<Vec<String>, Error> {
        let call = self.ctx.call(self.region);
        let mut notes = Vec::new();
        for (res, name, q) in [
            (Resource::Queue, self.queue_name, &o.queue),
            (Resource::DeadLetterQueue, self.dlq_name.as_str(), &o.dlq),
        ] {
            let Some(q) = q else { continue };
            if !crate::plan::has_tags(&q.tags, &d.tags) {
                notes.push(format!("left queue {name} alone: not tagged by event-rule"));
                continue;
            }
            if let Err(e) = self.client.delete_queue().queue_url(&q.url).send().await {
                let e = call.err("sqs:DeleteQueue", name, e);
                if e.kind != AwsErrorKind::NotFound {
                    return Err(e.into());
                }
            }
            info!(account = %self.ctx.account, region = self.region, queue = name, "deleted queue");
            done.push(ResourceChange::delete(res));
        }
        Ok(notes)
    }
}
