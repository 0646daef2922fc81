//! EC2 through its Query API, without the generated SDK crate: one SigV4-signed
//! form-encoded `POST` per call, retried like the SDK's calls (throttling, 5xx and
//! connection failures, with exponential backoff), and the XML answer read into a
//! small tree ([`XmlNode`]).
//!
//! The tool needs one EC2 action, `DescribeRegions`; the generated `aws-sdk-ec2`
//! crate was the largest of the workspace's build for it.

use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_http_client::{
    tls::{self, rustls_provider::CryptoMode},
    Connector,
};
use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorSettings};
use aws_smithy_runtime_api::client::identity::Identity;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use tracing::debug;

use crate::aws::AccountCtx;
use crate::error::{AwsError, AwsErrorKind};

/// The EC2 Query API version every request names.
pub const API_VERSION: &str = "2016-11-15";

/// One element of an XML document: its local name, its text (for a leaf), and its
/// child elements in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XmlNode {
    /// Local name (without a namespace prefix).
    pub name: String,
    /// Text content, entities decoded (empty for an element with children).
    pub text: String,
    /// Child elements.
    pub children: Vec<XmlNode>,
}

impl XmlNode {
    /// Parses a document and returns its root element.
    pub fn parse(doc: &str) -> Result<XmlNode, String> {
        let mut stack: Vec<XmlNode> = Vec::new();
        let mut root = None;
        for token in xmlparser::Tokenizer::from(doc) {
            match token.map_err(|e| e.to_string())? {
                xmlparser::Token::ElementStart { local, .. } => stack.push(XmlNode {
                    name: local.as_str().to_string(),
                    ..XmlNode::default()
                }),
                xmlparser::Token::ElementEnd { end, .. } => {
                    if matches!(end, xmlparser::ElementEnd::Open) {
                        continue;
                    }
                    let node = stack.pop().ok_or("unbalanced end tag")?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(node),
                        None => root = Some(node),
                    }
                }
                xmlparser::Token::Text { text } => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(&unescape(text.as_str())?);
                    }
                }
                xmlparser::Token::Cdata { text, .. } => {
                    if let Some(top) = stack.last_mut() {
                        top.text.push_str(text.as_str());
                    }
                }
                _ => {}
            }
        }
        let mut root = root.ok_or("no root element")?;
        root.trim();
        Ok(root)
    }

    fn trim(&mut self) {
        if self.children.is_empty() {
            // Leaves keep their text as sent (whitespace included).
            return;
        }
        self.text.clear();
        self.children.iter_mut().for_each(XmlNode::trim);
    }

    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&XmlNode> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the first child named `name`.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// The `<item>` elements of the child list named `list` (EC2's list shape).
    pub fn items<'a>(&'a self, list: &str) -> impl Iterator<Item = &'a XmlNode> {
        self.child(list)
            .map(|l| l.children.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|c| c.name == "item")
    }
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..]
            .find(';')
            .ok_or_else(|| format!("unterminated entity in {s:?}"))?;
        let entity = &rest[i + 1..i + end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            e => {
                let code = if let Some(hex) = e.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else {
                    e.strip_prefix('#').and_then(|d| d.parse().ok())
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("unknown entity &{e};"))?
            }
        };
        out.push(c);
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `application/x-www-form-urlencoded` encoding of one key or value (RFC 3986
/// unreserved characters kept, everything else percent-encoded).
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The request body of `action` with `params`.
pub fn request_body(action: &str, params: &[(&str, &str)]) -> String {
    let mut body = format!("Action={}&Version={API_VERSION}", form_encode(action));
    for (k, v) in params {
        body.push('&');
        body.push_str(&form_encode(k));
        body.push('=');
        body.push_str(&form_encode(v));
    }
    body
}

/// The EC2 endpoint of `region`: `AWS_ENDPOINT_URL_EC2`, else the configuration's
/// endpoint override (`AWS_ENDPOINT_URL`, or the tests' server), else the regional
/// endpoint of the region's partition.
pub fn endpoint(sdk: &SdkConfig, region: &str) -> String {
    if let Some(url) = std::env::var("AWS_ENDPOINT_URL_EC2")
        .ok()
        .filter(|u| !u.is_empty())
    {
        return url;
    }
    if let Some(url) = sdk.endpoint_url() {
        return url.to_string();
    }
    let suffix = match crate::aws::partition(region) {
        "aws-cn" => "amazonaws.com.cn",
        _ => "amazonaws.com",
    };
    let fips = if sdk.use_fips() == Some(true) {
        "-fips"
    } else {
        ""
    };
    if sdk.use_dual_stack() == Some(true) {
        format!("https://ec2{fips}.{region}.api.aws")
    } else {
        format!("https://ec2{fips}.{region}.{suffix}")
    }
}

/// Calls EC2's `action` in `region` with `ctx`'s credentials and returns the answer's
/// root element. `iam_action` and `resource` name the call in errors.
pub async fn query(
    ctx: &AccountCtx,
    region: &str,
    iam_action: &'static str,
    resource: &str,
    params: &[(&str, &str)],
) -> Result<XmlNode, AwsError> {
    let action = iam_action.strip_prefix("ec2:").unwrap_or(iam_action);
    let fail = |kind: AwsErrorKind, code: &str, message: String| AwsError {
        kind,
        action: iam_action,
        resource: resource.to_string(),
        account: ctx.account.clone(),
        region: region.to_string(),
        code: code.to_string(),
        message,
    };
    let sdk = &ctx.sdk;
    let provider = sdk.credentials_provider().ok_or_else(|| {
        fail(
            AwsErrorKind::InvalidCredentials,
            "NoCredentials",
            "no credentials provider configured".into(),
        )
    })?;
    let retry = sdk.retry_config();
    let attempts = retry.map_or(3, |r| r.max_attempts()).max(1);
    let mut backoff = retry.map_or(Duration::from_millis(200), |r| r.initial_backoff());
    let max_backoff = retry.map_or(Duration::from_secs(20), |r| r.max_backoff());
    let timeouts = sdk.timeout_config();
    let attempt_timeout = timeouts
        .and_then(|t| t.operation_attempt_timeout())
        .unwrap_or(Duration::from_secs(30));
    let connector = Connector::builder()
        .connector_settings(
            HttpConnectorSettings::builder()
                .connect_timeout(
                    timeouts
                        .and_then(|t| t.connect_timeout())
                        .unwrap_or(Duration::from_secs(5)),
                )
                .read_timeout(attempt_timeout)
                .build(),
        )
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build();
    let uri = endpoint(sdk, region);
    let body = request_body(action, params);
    let mut attempt = 1;
    loop {
        // Credentials are read for every attempt: a provider may refresh them.
        let creds = provider.provide_credentials().await.map_err(|e| {
            fail(
                AwsErrorKind::InvalidCredentials,
                "NoCredentials",
                crate::error::source_chain(&e),
            )
        })?;
        let request = signed(&uri, region, &body, creds.into())
            .map_err(|m| fail(AwsErrorKind::Other, "InvalidRequest", m))?;
        let result = tokio::time::timeout(attempt_timeout, async {
            let response = connector.call(request).await.map_err(|e| {
                let kind = if e.is_timeout() {
                    AwsErrorKind::Timeout
                } else {
                    AwsErrorKind::Network
                };
                (kind, crate::error::source_chain(&e))
            })?;
            let status = response.status().as_u16();
            let bytes = ByteStream::new(response.into_body())
                .collect()
                .await
                .map_err(|e| (AwsErrorKind::Network, crate::error::source_chain(&e)))?
                .into_bytes();
            Ok::<_, (AwsErrorKind, String)>((status, bytes))
        })
        .await
        .unwrap_or_else(|_| {
            Err((
                AwsErrorKind::Timeout,
                format!("no answer in {attempt_timeout:?}"),
            ))
        });
        let err = match result {
            Ok((status, bytes)) => {
                let text = String::from_utf8_lossy(&bytes);
                let doc = XmlNode::parse(&text);
                if (200..300).contains(&status) {
                    return doc.map_err(|m| {
                        fail(
                            AwsErrorKind::Other,
                            "InvalidResponse",
                            format!("unreadable answer: {m}"),
                        )
                    });
                }
                // <Response><Errors><Error><Code/><Message/></Error></Errors>...
                let error = doc.ok().and_then(|d| {
                    let e = d.child("Errors").and_then(|e| e.child("Error"))?;
                    Some((
                        e.child_text("Code")?.to_string(),
                        e.child_text("Message").unwrap_or_default().to_string(),
                    ))
                });
                let (code, message) =
                    error.unwrap_or_else(|| (format!("HTTP {status}"), text.trim().to_string()));
                let mut kind = AwsErrorKind::classify(&code);
                if kind == AwsErrorKind::Other && (status >= 500 || status == 429) {
                    // Unavailable, InternalError...: transient.
                    kind = AwsErrorKind::Network;
                }
                fail(kind, &code, message)
            }
            Err((kind, message)) => {
                let code = if kind == AwsErrorKind::Timeout {
                    "Timeout"
                } else {
                    "DispatchFailure"
                };
                fail(kind, code, message)
            }
        };
        if !err.kind.is_retryable() || attempt >= attempts {
            return Err(err);
        }
        debug!(action = iam_action, attempt, error = %err, "retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(max_backoff);
        attempt += 1;
    }
}

/// The signed request (SigV4 for service `ec2`).
fn signed(
    uri: &str,
    region: &str,
    body: &str,
    identity: Identity,
) -> Result<aws_smithy_runtime_api::http::Request, String> {
    const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("ec2")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let signable = SignableRequest::new(
        "POST",
        uri,
        [("content-type", CONTENT_TYPE)].into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let mut request = aws_smithy_runtime_api::http::Request::new(SdkBody::from(body.to_string()));
    request
        .set_method("POST")
        .map_err(|e| format!("method: {e}"))?;
    request
        .set_uri(uri)
        .map_err(|e| format!("endpoint {uri}: {e}"))?;
    request.headers_mut().insert("content-type", CONTENT_TYPE);
    request
        .headers_mut()
        .insert("content-length", body.len().to_string());
    for (name, value) in instructions.headers() {
        request
            .headers_mut()
            .insert(name.to_string(), value.to_string());
    }
    Ok(request)
}

/// EC2 `DescribeRegions` with `AllRegions`: every region known to the account, and
/// whether it is enabled (`opt-in-not-required` or `opted-in`; `not-opted-in` is not).
pub async fn describe_regions(
    ctx: &AccountCtx,
    region: &str,
) -> Result<std::collections::BTreeMap<String, bool>, AwsError> {
    let doc = query(
        ctx,
        region,
        "ec2:DescribeRegions",
        "regions",
        &[("AllRegions", "true")],
    )
    .await?;
    Ok(regions_of(&doc))
}

/// The regions of a `DescribeRegionsResponse` (name -> enabled).
pub fn regions_of(doc: &XmlNode) -> std::collections::BTreeMap<String, bool> {
    doc.items("regionInfo")
        .filter_map(|r| {
            let name = r.child_text("regionName")?.trim();
            let status = r.child_text("optInStatus").map(str::trim);
            (!name.is_empty()).then(|| (name.to_string(), status != Some("not-opted-in")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_read_with_their_opt_in_status() {
        let doc = XmlNode::parse(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>
  <regionInfo>
    <item><regionName>us-east-1</regionName><regionEndpoint>ec2.us-east-1.amazonaws.com</regionEndpoint><optInStatus>opt-in-not-required</optInStatus></item>
    <item><regionName>af-south-1</regionName><optInStatus>not-opted-in</optInStatus></item>
    <item><regionName>me-south-1</regionName><optInStatus>opted-in</optInStatus></item>
    <item><regionName>eu-west-1</regionName></item>
    <item><regionEndpoint>nameless</regionEndpoint></item>
  </regionInfo>
</DescribeRegionsResponse>"#,
        )
        .unwrap();
        assert_eq!(doc.name, "DescribeRegionsResponse");
        let regions = regions_of(&doc);
        assert_eq!(
            regions.into_iter().collect::<Vec<_>>(),
            vec![
                ("af-south-1".to_string(), false),
                ("eu-west-1".to_string(), true),
                ("me-south-1".to_string(), true),
                ("us-east-1".to_string(), true),
            ]
        );
    }

    #[test]
    fn xml_entities_cdata_and_empty_elements() {
        let doc =
            XmlNode::parse("<a><b>x &amp; &lt;y&gt; &#65;&#x42;</b><c/><d><![CDATA[<z>]]></d></a>")
                .unwrap();
        assert_eq!(doc.child_text("b"), Some("x & <y> AB"));
        assert_eq!(doc.child_text("c"), Some(""));
        assert_eq!(doc.child_text("d"), Some("<z>"));
        assert!(XmlNode::parse("<a><b></a>").is_err());
        assert!(XmlNode::parse("<a>&bogus;</a>").is_err());
    }

    #[test]
    fn bodies_are_form_encoded() {
        assert_eq!(
            request_body(
                "DescribeSecurityGroups",
                &[("Filter.1.Name", "vpc-id"), ("Filter.1.Value.1", "a b/c+")]
            ),
            "Action=DescribeSecurityGroups&Version=2016-11-15&Filter.1.Name=vpc-id&Filter.1.Value.1=a%20b%2Fc%2B"
        );
    }
}
