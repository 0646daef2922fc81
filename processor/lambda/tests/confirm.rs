//! SNS subscription confirmations through the SNS API, against a stand-in SNS
//! endpoint on 127.0.0.1: confirmed ones are done; refused ones, other accounts' and
//! unsubscribe confirmations come back.

mod common;

use std::sync::{Arc, Mutex};

use aws_lambda_events::event::sqs::SqsEvent;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use common::{read, sns, subscription_message};
use processor_consumer::subscribe::Confirmer;
use processor_core::wrap::lambda_sqs_event;
use processor_core::ProcessorConfig;
use processor_lambda::Function;

const ACCOUNT: &str = "123456789012";

/// Answers `ConfirmSubscription` (SNS's query protocol) for the token `good-token`,
/// refuses any other; remembers every request body.
async fn sns_endpoint(
    State(seen): State<Arc<Mutex<Vec<String>>>>,
    body: Bytes,
) -> (StatusCode, String) {
    let body = String::from_utf8_lossy(&body).into_owned();
    seen.lock().unwrap().push(body.clone());
    if body.contains("Token=good-token") {
        (
            StatusCode::OK,
            format!(
                r#"<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><ConfirmSubscriptionResult><SubscriptionArn>arn:aws:sns:us-east-1:{ACCOUNT}:cloudcoreo-events:0f1e2d3c</SubscriptionArn></ConfirmSubscriptionResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></ConfirmSubscriptionResponse>"#
            ),
        )
    } else {
        (
            StatusCode::BAD_REQUEST,
            r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>InvalidParameter</Code><Message>Invalid token</Message></Error><RequestId>r-2</RequestId></ErrorResponse>"#.to_string(),
        )
    }
}

#[tokio::test]
async fn confirmed_through_the_api_only_for_allowed_accounts() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .fallback(sns_endpoint)
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let sdk = integration_tests::harness::sdk_config(&endpoint, "us-east-1").await;
    let confirmer = Confirmer::new(sdk, vec![ACCOUNT.to_string()]);
    let f = Function::new(
        ProcessorConfig::default(),
        processor_lambda::resolver(),
        Vec::new(),
        Some(confirmer),
    );
    let topic = format!("arn:aws:sns:us-east-1:{ACCOUNT}:cloudcoreo-events");
    let other = "arn:aws:sns:us-east-1:999999999999:cloudcoreo-events";
    let bodies = [
        (
            "m-confirmed",
            subscription_message("SubscriptionConfirmation", &topic, "good-token"),
        ),
        (
            "m-refused",
            subscription_message("SubscriptionConfirmation", &topic, "stale-token"),
        ),
        (
            "m-other-account",
            subscription_message("SubscriptionConfirmation", other, "good-token"),
        ),
        (
            "m-unsubscribe",
            subscription_message("UnsubscribeConfirmation", &topic, "good-token"),
        ),
        // A read-only call: done without a sink.
        ("m-read", sns(&read("e-read", "bucket-a"), 1)),
    ];
    let pairs: Vec<(&str, &str)> = bodies.iter().map(|(i, b)| (*i, b.as_str())).collect();
    let batch: SqsEvent = serde_json::from_str(&lambda_sqs_event(
        &pairs,
        "arn:aws:sqs:us-east-1:123456789012:q",
    ))
    .unwrap();
    let handled = f.handle(batch, None).await;
    let failures: Vec<&str> = handled
        .response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failures, ["m-refused", "m-other-account", "m-unsubscribe"]);
    assert_eq!(handled.summary.subscriptions_confirmed, 1);
    assert_eq!(handled.summary.subscriptions_left, 3);

    // Two API calls (the allowed account's confirmations), none for the rest; the
    // token goes to the API, never to the message's SubscribeURL.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for (body, token) in seen.iter().zip(["good-token", "stale-token"]) {
        assert!(body.contains("Action=ConfirmSubscription"), "{body}");
        assert!(body.contains(&format!("Token={token}")), "{body}");
        assert!(
            body.contains(
                "TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A123456789012%3Acloudcoreo-events"
            ),
            "{body}"
        );
        assert!(body.contains("AuthenticateOnUnsubscribe=true"), "{body}");
    }
}
