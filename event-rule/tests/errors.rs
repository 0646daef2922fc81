//! AWS failures against a scripted HTTP server: throttling retried with backoff (moto
//! never throttles) and access denied in the JSON protocol, naming action and resource.
//! Access denied under moto's own IAM enforcement is in `moto.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use event_rule::aws::{self, AccountCtx, SdkOptions};
use event_rule::error::{AwsErrorKind, Error};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves `responses` in turn (the last one repeats), one per request; returns the
/// endpoint and the request counter.
async fn scripted(responses: Vec<(u16, &'static str, &'static str)>) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (responses, counter) = (responses.clone(), counter.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    // Read one request: headers, then Content-Length bytes of body.
                    let Some(end) = find(&buf, b"\r\n\r\n") else {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if buf.len() < end + 4 + len {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    }
                    buf.drain(..end + 4 + len);
                    let i = counter.fetch_add(1, Ordering::SeqCst);
                    let (status, ctype, body) = responses[i.min(responses.len() - 1)];
                    let extra = if ctype.contains("json") && status >= 400 {
                        "x-amzn-ErrorType: AccessDeniedException\r\n"
                    } else {
                        ""
                    };
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if s.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), count)
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

async fn sdk(endpoint: &str, attempts: u32) -> aws_config::SdkConfig {
    aws::load_sdk_config(&SdkOptions {
        region: "us-west-2".into(),
        max_attempts: attempts,
        endpoint_url: Some(endpoint.into()),
        static_credentials: Some(("testing".into(), "testing".into())),
    })
    .await
}

const THROTTLED: &str = r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r</RequestId></ErrorResponse>"#;
const IDENTITY: &str = r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/t</Arn><UserId>AIDA</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>"#;

#[tokio::test]
async fn throttling_is_retried_with_backoff() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let (endpoint, count) = scripted(vec![
            (400, "text/xml", THROTTLED),
            (400, "text/xml", THROTTLED),
            (200, "text/xml", IDENTITY),
        ])
        .await;
        let started = Instant::now();
        let id = aws::identity(&sdk(&endpoint, 8).await)
            .await
            .expect("succeeds after retries");
        assert_eq!(id.account, "123456789012");
        assert_eq!(
            count.load(Ordering::SeqCst),
            3,
            "two throttled attempts, then success"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(50),
            "backed off between attempts"
        );

        // Throttled on every attempt: a clear, retryable error after max attempts.
        let (endpoint, count) = scripted(vec![(400, "text/xml", THROTTLED)]).await;
        let err = aws::identity(&sdk(&endpoint, 3).await).await.unwrap_err();
        assert_eq!(count.load(Ordering::SeqCst), 3);
        assert!(err.is_retryable());
        let text = err.to_string();
        assert!(
            text.starts_with(
                "throttled (gave up after retrying with backoff): sts:GetCallerIdentity"
            ),
            "{text}"
        );
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn access_denied_names_the_action_and_resource() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let body = r#"{"__type":"AccessDeniedException","message":"User: arn:aws:iam::123456789012:user/t is not authorized to perform: cloudtrail:DescribeTrails"}"#;
        let (endpoint, count) = scripted(vec![(400, "application/x-amz-json-1.1", body)]).await;
        let ctx = AccountCtx { account: "123456789012".into(), sdk: sdk(&endpoint, 5).await };
        let err = event_rule::discover::trail_coverage(&ctx, "eu-west-1", false).await.unwrap_err();
        assert_eq!(count.load(Ordering::SeqCst), 1, "access denied is not retried");
        let Error::Aws(e) = &err else { panic!("{err:?}") };
        assert_eq!(e.kind, AwsErrorKind::AccessDenied);
        assert_eq!(e.action, "cloudtrail:DescribeTrails");
        assert_eq!((e.account.as_str(), e.region.as_str()), ("123456789012", "eu-west-1"));
        let text = err.to_string();
        assert!(text.starts_with("access denied: cloudtrail:DescribeTrails on trails (account 123456789012, region eu-west-1)"), "{text}");
        assert!(!err.is_retryable());
    })
    .await
    .expect("timed out");
}

const EC2_UNAVAILABLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>r</RequestID></Response>"#;
const EC2_REGIONS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><regionInfo>
<item><regionName>us-east-1</regionName><regionEndpoint>ec2.us-east-1.amazonaws.com</regionEndpoint><optInStatus>opt-in-not-required</optInStatus></item>
<item><regionName>me-south-1</regionName><regionEndpoint>ec2.me-south-1.amazonaws.com</regionEndpoint><optInStatus>opted-in</optInStatus></item>
<item><regionName>af-south-1</regionName><regionEndpoint>ec2.af-south-1.amazonaws.com</regionEndpoint><optInStatus>not-opted-in</optInStatus></item>
</regionInfo></DescribeRegionsResponse>"#;
const EC2_DENIED: &str = r#"<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors><RequestID>r</RequestID></Response>"#;

/// EC2's DescribeRegions is one signed Query request (no generated EC2 crate): an
/// opted-in region is enabled, a not-opted-in one is not, so asking for it fails the
/// region; throttling is retried; access denied names the action.
#[tokio::test]
async fn regions_come_from_one_signed_describe_regions_request() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let (endpoint, count) = scripted(vec![
            (503, "text/xml", EC2_UNAVAILABLE),
            (200, "text/xml", EC2_REGIONS),
        ])
        .await;
        let ctx = AccountCtx {
            account: "123456789012".into(),
            sdk: sdk(&endpoint, 3).await,
        };
        let known = event_rule::discover::region_map(&ctx, "us-west-2")
            .await
            .expect("regions after a retry");
        assert_eq!(count.load(Ordering::SeqCst), 2, "throttled once, then answered");
        assert_eq!(
            known.into_iter().collect::<Vec<_>>(),
            vec![
                ("af-south-1".to_string(), false),
                ("me-south-1".to_string(), true),
                ("us-east-1".to_string(), true),
            ]
        );
        let known = event_rule::discover::region_map(&ctx, "us-west-2")
            .await
            .unwrap();
        let (ok, _) = event_rule::discover::pick_regions("123456789012", &[], Some(&known));
        assert_eq!(ok, vec!["me-south-1", "us-east-1"], "enabled regions by default");
        let asked = ["af-south-1".to_string(), "me-south-1".to_string()];
        let (ok, bad) = event_rule::discover::pick_regions("123456789012", &asked, Some(&known));
        assert_eq!(ok, vec!["me-south-1"]);
        assert!(matches!(&bad[0], (r, Error::RegionNotEnabled { .. }) if r == "af-south-1"));

        let (endpoint, count) = scripted(vec![(403, "text/xml", EC2_DENIED)]).await;
        let ctx = AccountCtx {
            account: "123456789012".into(),
            sdk: sdk(&endpoint, 5).await,
        };
        let err = event_rule::discover::region_map(&ctx, "us-west-2")
            .await
            .unwrap_err();
        assert_eq!(count.load(Ordering::SeqCst), 1, "access denied is not retried");
        let Error::Aws(e) = &err else { panic!("{err:?}") };
        assert_eq!(e.kind, AwsErrorKind::AccessDenied);
        assert_eq!(e.code, "UnauthorizedOperation");
        let text = err.to_string();
        assert!(
            text.starts_with("access denied: ec2:DescribeRegions on regions (account 123456789012, region us-west-2)"),
            "{text}"
        );
    })
    .await
    .expect("timed out");
}

const ASSUME_DENIED: &str = r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/t is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::222222222222:role/R</Message></Error><RequestId>r</RequestId></ErrorResponse>"#;

/// A role that cannot be assumed fails when the account is reached, as a typed error
/// naming the account, the role and sts:AssumeRole, not later at the first call made
/// with its (renewable) credentials.
#[tokio::test]
async fn a_role_that_cannot_be_assumed_fails_at_once_with_a_typed_error() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let (endpoint, count) = scripted(vec![(403, "text/xml", ASSUME_DENIED)]).await;
        let role = "arn:aws:iam::222222222222:role/R";
        let err = aws::assume_for(
            &sdk(&endpoint, 5).await,
            "222222222222",
            role,
            Duration::from_secs(900),
        )
        .await
        .unwrap_err();
        assert_eq!(
            count.load(Ordering::SeqCst),
            1,
            "access denied is not retried"
        );
        let Error::AssumeRole {
            account,
            role_arn,
            message,
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(
            (account.as_str(), role_arn.as_str()),
            ("222222222222", role)
        );
        assert!(
            message.starts_with(
                "sts:AssumeRole: AccessDenied: User: arn:aws:iam::123456789012:user/t"
            ),
            "{message}"
        );
    })
    .await
    .expect("timed out");
}
