//! Where to run: target accounts (current, list, or the Organization), each account's
//! enabled regions, and whether CloudTrail covers a region.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use serde::Serialize;
use tracing::{debug, warn};

use crate::aws::{AccountCtx, Identity};
use crate::config::Config;
use crate::error::{AwsErrorKind, Call, Error};

/// The target account ids, in a stable order, the home account first when targeted.
pub async fn accounts(
    cfg: &Config,
    base: &SdkConfig,
    home: &Identity,
) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = if cfg.organization {
        let client = aws_sdk_organizations::Client::new(base);
        let mut pages = client.list_accounts().into_paginator().send();
        let mut ids = Vec::new();
        let call = Call {
            account: &home.account,
            region: "global",
        };
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| call.err("organizations:ListAccounts", "organization", e))?;
            for a in page.accounts() {
                let active = match (a.state(), a.status()) {
                    (Some(s), _) => s.as_str() == "ACTIVE",
                    (None, Some(s)) => s.as_str() == "ACTIVE",
                    (None, None) => true,
                };
                match a.id() {
                    Some(id) if active => ids.push(id.to_string()),
                    Some(id) => debug!(account = id, "skipping account that is not active"),
                    None => {}
                }
            }
        }
        ids.sort();
        ids
    } else if cfg.accounts.is_empty() {
        vec![home.account.clone()]
    } else {
        cfg.accounts.clone()
    };
    let mut seen = std::collections::HashSet::new();
    out.retain(|a| seen.insert(a.clone()));
    if let Some(i) = out.iter().position(|a| a == &home.account) {
        let h = out.remove(i);
        out.insert(0, h);
    }
    Ok(out)
}

/// The id (`o-...`) of the organization the caller's account belongs to
/// (`organizations:DescribeOrganization`): `--organization` admits its accounts' topics
/// to the central queue by `aws:SourceOrgID`.
pub async fn organization_id(base: &SdkConfig, home: &Identity) -> Result<String, Error> {
    let call = Call {
        account: &home.account,
        region: "global",
    };
    let out = aws_sdk_organizations::Client::new(base)
        .describe_organization()
        .send()
        .await
        .map_err(|e| call.err("organizations:DescribeOrganization", "organization", e))?;
    out.organization()
        .and_then(|o| o.id())
        .filter(|id| crate::config::is_organization_id(id))
        .map(String::from)
        .ok_or_else(|| {
            Error::InvalidArgument(
                "DescribeOrganization returned no organization id; pass --queue-org-id".into(),
            )
        })
}

/// Regions known to an account: name -> enabled (opted in or not needing opt-in).
pub async fn region_map(
    ctx: &AccountCtx,
    home_region: &str,
) -> Result<BTreeMap<String, bool>, Error> {
    Ok(crate::ec2::describe_regions(ctx, home_region).await?)
}

/// The regions to work on in one account, and the requested regions that cannot be
/// used (each with its error).
pub fn pick_regions(
    account: &str,
    requested: &[String],
    known: Option<&BTreeMap<String, bool>>,
) -> (Vec<String>, Vec<(String, Error)>) {
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    match (requested.is_empty(), known) {
        (true, Some(k)) => ok.extend(k.iter().filter(|(_, e)| **e).map(|(r, _)| r.clone())),
        (true, None) => {}
        (false, None) => ok.extend(requested.iter().cloned()),
        (false, Some(k)) => {
            for r in requested {
                match k.get(r) {
                    Some(true) => ok.push(r.clone()),
                    Some(false) => bad.push((
                        r.clone(),
                        Error::RegionNotEnabled {
                            account: account.into(),
                            region: r.clone(),
                        },
                    )),
                    None => bad.push((
                        r.clone(),
                        Error::UnknownRegion {
                            account: account.into(),
                            region: r.clone(),
                        },
                    )),
                }
            }
        }
    }
    ok.sort();
    ok.dedup();
    (ok, bad)
}

/// Whether CloudTrail delivers the region's management events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum Coverage {
    /// A logging trail covers the region.
    Covered {
        /// The trail's ARN.
        trail: String,
    },
    /// No logging multi-region trail, and no logging trail homed here.
    NotCovered {
        /// What was found instead.
        reason: String,
    },
}

impl Coverage {
    /// Whether a logging trail covers the region.
    pub fn is_covered(&self) -> bool {
        matches!(self, Coverage::Covered { .. })
    }
}

/// Looks for a logging trail covering `region`: a multi-region trail (wherever its
/// home) or a trail homed in `region`. With `only_homed`, multi-region trails are
/// ignored (they were already looked for, see [`multi_region_trail`]).
pub async fn trail_coverage(
    ctx: &AccountCtx,
    region: &str,
    only_homed: bool,
) -> Result<Coverage, Error> {
    let sdk = ctx.in_region(region);
    let client = aws_sdk_cloudtrail::Client::new(&sdk);
    let call = ctx.call(region);
    let out = client
        .describe_trails()
        .include_shadow_trails(true)
        .send()
        .await
        .map_err(|e| call.err("cloudtrail:DescribeTrails", "trails", e))?;
    let mut not_logging = Vec::new();
    for t in out.trail_list() {
        let multi = t.is_multi_region_trail().unwrap_or(false);
        let homed = t.home_region() == Some(region);
        if !(homed || multi && !only_homed) {
            continue;
        }
        let Some(arn) = t.trail_arn().or(t.name()) else {
            continue;
        };
        match client.get_trail_status().name(arn).send().await {
            Ok(s) if s.is_logging() == Some(true) => {
                return Ok(Coverage::Covered {
                    trail: arn.to_string(),
                });
            }
            Ok(_) => not_logging.push(arn.to_string()),
            Err(e) => {
                let e = call.err("cloudtrail:GetTrailStatus", arn, e);
                // A member account may not read its organization trail's status;
                // that trail logs for the whole organization unless stopped.
                if t.is_organization_trail() == Some(true) && e.kind == AwsErrorKind::AccessDenied {
                    warn!(account = %ctx.account, region, trail = arn, "cannot read organization trail status; assuming it logs");
                    return Ok(Coverage::Covered {
                        trail: arn.to_string(),
                    });
                }
                return Err(e.into());
            }
        }
    }
    Ok(Coverage::NotCovered {
        reason: if not_logging.is_empty() {
            "no logging multi-region trail, and no logging trail homed in the region".into()
        } else {
            format!("trail(s) not logging: {}", not_logging.join(", "))
        },
    })
}

/// A logging multi-region trail of the account, looked up once from `probe_region`
/// (every region lists the account's multi-region trails): when there is one, it
/// covers every region and no per-region lookup is needed.
pub async fn multi_region_trail(
    ctx: &AccountCtx,
    probe_region: &str,
) -> Result<Option<Coverage>, Error> {
    let sdk = ctx.in_region(probe_region);
    let client = aws_sdk_cloudtrail::Client::new(&sdk);
    let call = ctx.call(probe_region);
    let out = client
        .describe_trails()
        .include_shadow_trails(true)
        .send()
        .await
        .map_err(|e| call.err("cloudtrail:DescribeTrails", "trails", e))?;
    for t in out
        .trail_list()
        .iter()
        .filter(|t| t.is_multi_region_trail() == Some(true))
    {
        let Some(arn) = t.trail_arn().or(t.name()) else {
            continue;
        };
        match client.get_trail_status().name(arn).send().await {
            Ok(s) if s.is_logging() == Some(true) => {
                return Ok(Some(Coverage::Covered {
                    trail: arn.to_string(),
                }))
            }
            Ok(_) => {}
            Err(e) => {
                let e = call.err("cloudtrail:GetTrailStatus", arn, e);
                if t.is_organization_trail() == Some(true) && e.kind == AwsErrorKind::AccessDenied {
                    warn!(account = %ctx.account, trail = arn, "cannot read organization trail status; assuming it logs");
                    return Ok(Some(Coverage::Covered {
                        trail: arn.to_string(),
                    }));
                }
                return Err(e.into());
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_picking() {
        let known = BTreeMap::from([
            ("us-east-1".to_string(), true),
            ("eu-west-1".to_string(), true),
            ("af-south-1".to_string(), false),
        ]);
        let (ok, bad) = pick_regions("1", &[], Some(&known));
        assert_eq!(ok, vec!["eu-west-1", "us-east-1"]);
        assert!(bad.is_empty());
        let req: Vec<String> = ["us-east-1", "af-south-1", "xx-nowhere-1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (ok, bad) = pick_regions("1", &req, Some(&known));
        assert_eq!(ok, vec!["us-east-1"]);
        assert!(matches!(bad[0].1, Error::RegionNotEnabled { .. }));
        assert!(matches!(bad[1].1, Error::UnknownRegion { .. }));
        let (ok, _) = pick_regions("1", &req, None);
        assert_eq!(ok.len(), 3);
    }
}
