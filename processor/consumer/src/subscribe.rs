//! Confirming SNS subscriptions of member accounts' topics to the central queue.
//!
//! When a topic in another account subscribes the queue, SQS receives an SNS
//! `SubscriptionConfirmation`. The consumer confirms it with the SNS
//! `ConfirmSubscription` API (the token, in the topic's region, with the queue owner's
//! credentials) and only for topics of allowed accounts. The `SubscribeURL` in the
//! message is never fetched: a URL that arrives inside a message is not trusted.

use aws_config::{Region, SdkConfig};
use processor_core::resolve::parse_arn;
use processor_core::SubscriptionToken;

/// Why a confirmation was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfirmError {
    /// The message names no usable topic ARN or token.
    #[error("the confirmation carries no usable topic ARN or token")]
    Malformed,
    /// The topic's account is not allowed.
    #[error("topic account {0} is not in --allow-accounts")]
    NotAllowed(String),
    /// SNS refused or could not be reached.
    #[error("ConfirmSubscription failed: {0}")]
    Api(String),
}

/// Confirms subscriptions for allowed accounts.
#[derive(Debug, Clone)]
pub struct Confirmer {
    sdk: SdkConfig,
    allowed_accounts: Vec<String>,
}

impl Confirmer {
    /// Confirms only for topics of `allowed_accounts` (none allowed when empty).
    pub fn new(sdk: SdkConfig, allowed_accounts: Vec<String>) -> Self {
        Confirmer {
            sdk,
            allowed_accounts,
        }
    }

    /// Checks the topic's account, then confirms in the topic's region; returns the
    /// subscription ARN SNS reports.
    pub async fn confirm(
        &self,
        topic_arn: Option<&str>,
        token: Option<&SubscriptionToken>,
    ) -> Result<String, ConfirmError> {
        let (Some(topic), Some(token)) = (topic_arn, token) else {
            return Err(ConfirmError::Malformed);
        };
        let arn = parse_arn(topic).ok_or(ConfirmError::Malformed)?;
        if arn.service != "sns" || arn.region.is_empty() || token.0.is_empty() {
            return Err(ConfirmError::Malformed);
        }
        if !self.allowed_accounts.iter().any(|a| a == arn.account) {
            return Err(ConfirmError::NotAllowed(arn.account.to_string()));
        }
        let config = aws_sdk_sns::config::Builder::from(&self.sdk)
            .region(Region::new(arn.region.to_string()))
            .build();
        let client = aws_sdk_sns::Client::from_conf(config);
        let out = client
            .confirm_subscription()
            .topic_arn(topic)
            .token(&token.0)
            .authenticate_on_unsubscribe("true")
            .send()
            .await
            .map_err(|e| {
                let mut s = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(inner) = src {
                    s.push_str(": ");
                    s.push_str(&inner.to_string());
                    src = inner.source();
                }
                ConfirmError::Api(s)
            })?;
        Ok(out.subscription_arn.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn confirmer(allowed: &[&str]) -> Confirmer {
        let sdk = SdkConfig::builder().build();
        Confirmer::new(sdk, allowed.iter().map(|s| s.to_string()).collect())
    }

    #[tokio::test]
    async fn only_allowed_accounts_and_whole_messages() {
        let token = SubscriptionToken("t".into());
        let c = confirmer(&["111111111111"]);
        assert_eq!(
            c.confirm(
                Some("arn:aws:sns:us-east-1:222222222222:cloudcoreo-events"),
                Some(&token)
            )
            .await,
            Err(ConfirmError::NotAllowed("222222222222".into()))
        );
        assert_eq!(
            c.confirm(None, Some(&token)).await,
            Err(ConfirmError::Malformed)
        );
        assert_eq!(
            c.confirm(Some("arn:aws:sqs:us-east-1:111111111111:q"), Some(&token))
                .await,
            Err(ConfirmError::Malformed)
        );
        assert_eq!(
            confirmer(&[])
                .confirm(Some("arn:aws:sns:us-east-1:111111111111:t"), Some(&token))
                .await,
            Err(ConfirmError::NotAllowed("111111111111".into())),
            "no allow-list: nothing is confirmed"
        );
    }
}
