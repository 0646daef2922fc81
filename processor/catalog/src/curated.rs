//! Curated handlers: events whose resources the generic rules cannot find, written by
//! hand from the AWS documentation of the events. Each has a fixture test in
//! `tests/overrides.rs`. Simpler corrections (a different key, a delete flag, another
//! event source) live in `gen/overrides.json` and are compiled into the catalog.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use processor_core::resolve::push_unique;
use processor_core::{Action, Event, Target};

use crate::catalog::{Catalog, Key, ResourceType, Service};
use crate::fields::Fields;
use crate::resolve::{any_type_target, target, Ctx};
use crate::template::Var;

/// EC2 resource-id prefixes and the IAM resource type they name (longest first where
/// one prefix extends another). Source: the EC2 API reference's id formats.
pub const EC2_ID_PREFIXES: &[(&str, &str)] = &[
    ("tgw-attach-", "transit-gateway-attachment"),
    ("tgw-rtb-", "transit-gateway-route-table"),
    ("tgw-mcast-domain-", "transit-gateway-multicast-domain"),
    ("tgw-", "transit-gateway"),
    ("eipalloc-", "elastic-ip"),
    ("eigw-", "egress-only-internet-gateway"),
    ("igw-", "internet-gateway"),
    ("subnet-", "subnet"),
    ("vpce-svc-", "vpc-endpoint-service"),
    ("vpce-", "vpc-endpoint"),
    ("vpc-", "vpc"),
    ("vol-", "volume"),
    ("snap-", "snapshot"),
    ("ami-", "image"),
    ("sgr-", "security-group-rule"),
    ("sg-", "security-group"),
    ("rtb-", "route-table"),
    ("nat-", "natgateway"),
    ("eni-", "network-interface"),
    ("acl-", "network-acl"),
    ("dopt-", "dhcp-options"),
    ("lt-", "launch-template"),
    ("pcx-", "vpc-peering-connection"),
    ("cgw-", "customer-gateway"),
    ("vgw-", "vpn-gateway"),
    ("vpn-", "vpn-connection"),
    ("fl-", "vpc-flow-log"),
    ("sir-", "spot-instances-request"),
    ("sfr-", "spot-fleet-request"),
    ("fleet-", "fleet"),
    ("cr-", "capacity-reservation"),
    ("crf-", "capacity-reservation-fleet"),
    ("pl-", "prefix-list"),
    ("h-", "dedicated-host"),
    ("i-", "instance"),
    ("cvpn-endpoint-", "client-vpn-endpoint"),
    ("cagw-", "carrier-gateway"),
    ("ipam-pool-", "ipam-pool"),
    ("ipam-scope-", "ipam-scope"),
    ("ipam-", "ipam"),
    ("tmf-", "traffic-mirror-filter"),
    ("tms-", "traffic-mirror-session"),
    ("tmt-", "traffic-mirror-target"),
    ("eic-", "instance-connect-endpoint"),
];

/// The EC2 resource type an id names (`i-0abc` -> `instance`).
pub fn ec2_type_for_id(id: &str) -> Option<&'static str> {
    EC2_ID_PREFIXES
        .iter()
        .find(|(p, _)| id.starts_with(p) && id.len() > p.len())
        .map(|(_, t)| *t)
}

/// Whether `value` can be the id of a resource of type `ty`: an EC2-style id must
/// carry its own type's prefix (`vol-` is no instance), and SSM's `managed-instance`
/// is for hybrid nodes (`mi-`), EC2 instances being `ec2:instance`.
pub fn plausible(ty: &ResourceType, value: &str) -> bool {
    if &*ty.qualified == "ssm:managed-instance" {
        return value.starts_with("mi-");
    }
    if &*ty.qualified == "kms:key" && value.starts_with("alias/") {
        return false;
    }
    if ty.template.service() == "ec2" {
        if let Some(kind) = ec2_type_for_id(value) {
            return kind == &*ty.name;
        }
        // A type with a known id prefix takes only ids with that prefix (`mi-` is no
        // EC2 instance).
        if EC2_ID_PREFIXES.iter().any(|(_, t)| *t == &*ty.name) {
            return false;
        }
    }
    true
}

/// A record value as the ARN writes it, where the two differ: WAFv2's `Scope` is
/// `REGIONAL` or `CLOUDFRONT` in the request and `regional` or `global` in the ARN.
pub fn normalise<'v>(ty: &ResourceType, var: &Var, value: &'v str) -> &'v str {
    if ty.template.service() == "wafv2" && &*var.name == "Scope" {
        if value.eq_ignore_ascii_case("REGIONAL") {
            return "regional";
        }
        if value.eq_ignore_ascii_case("CLOUDFRONT") {
            return "global";
        }
    }
    value
}

/// Runs the curated handler for `event`, if there is one. Returns whether a handler
/// exists (its targets, possibly none, are in `out`).
pub(crate) fn resolve(
    catalog: &Catalog,
    memory: Option<&Associations>,
    svc: &Service,
    event: &Event<'_>,
    fields: &Fields,
    out: &mut Vec<Target>,
) -> bool {
    let name: &str = &event.event_name;
    match (&*svc.prefix, name) {
        // Tags name their resources by bare id, of any EC2 type.
        ("ec2", "CreateTags" | "DeleteTags") => {
            ec2_ids(
                svc,
                event,
                fields,
                &["resourceid", "resourcesset", "resources"],
                out,
            );
            true
        }
        // The association id is all a disassociation names: recall what it joined.
        ("ec2", "DisassociateRouteTable" | "DisassociateAddress") => {
            if let (Some(id), Some(memory)) = (fields.request_top("associationId"), memory) {
                memory.recall(id, out);
            }
            if name == "DisassociateAddress" {
                // EC2-Classic style calls name the address itself.
                resolve_generic(catalog, svc, event, fields, out);
            }
            true
        }
        // Remember associations as they are made, then resolve the call as usual.
        ("ec2", "AssociateRouteTable" | "ReplaceRouteTableAssociation" | "AssociateAddress") => {
            resolve_generic(catalog, svc, event, fields, out);
            let new_id = fields
                .response_top("newAssociationId")
                .or_else(|| fields.response_top("associationId"));
            if let (Some(id), Some(memory)) = (new_id, memory) {
                let arns = out
                    .iter()
                    .map(|t| {
                        (
                            t.arn.clone(),
                            t.resource_type.clone(),
                            t.resource_id.clone(),
                        )
                    })
                    .collect();
                memory.remember(id, arns);
            }
            true
        }
        // Stack sets are named `name:uuid` in one field, which the template splits.
        ("cloudformation", _) if name.contains("StackSet") => {
            let id = fields
                .response_top("stackSetId")
                .or_else(|| fields.request_top("stackSetId"))
                .or_else(|| fields.request_top("stackSetName"))
                .filter(|v| v.contains(':') && !v.starts_with("arn:"));
            let Some(id) = id else { return false };
            let Some(ty) = svc.type_named("stackset") else {
                return false;
            };
            let ctx = Ctx::of(event);
            let arn = format!(
                "arn:{}:cloudformation:{}:{}:stackset/{id}",
                ctx.partition, ctx.region, ctx.account
            );
            let action = if name.starts_with("Delete") && name.ends_with("StackSet") {
                Action::Delete
            } else {
                Action::Update
            };
            push_unique(out, target(ty, arn, id.to_string(), action));
            true
        }
        _ => false,
    }
}

fn resolve_generic(
    catalog: &Catalog,
    svc: &Service,
    event: &Event<'_>,
    fields: &Fields,
    out: &mut Vec<Target>,
) {
    if let Some((_, entry)) = catalog.lookup(svc, &event.event_name) {
        catalog.resolve_entry(svc, entry, &Ctx::of(event), fields, out);
    }
}

/// Most recent associations remembered by [`Associations`].
pub const ASSOCIATION_MEMORY: usize = 8192;

/// What recently made associations joined (`rtbassoc-1` -> route table and subnet), so
/// that a later disassociation, which names only the association, can be resolved.
/// Bounded (oldest forgotten first) and best effort: an association made before the
/// process started, or seen by another instance, resolves to nothing (service scope).
///
/// Owned by one [`crate::CatalogResolver`] (or one coverage run); a clone is a copy of
/// what was remembered, which then evolves on its own.
#[derive(Debug, Default)]
pub struct Associations {
    inner: Mutex<AssocInner>,
}

type Remembered = Vec<(String, String, String)>;

#[derive(Debug, Default)]
struct AssocInner {
    map: HashMap<String, Remembered>,
    order: VecDeque<String>,
}

impl Clone for AssocInner {
    fn clone(&self) -> Self {
        AssocInner {
            map: self.map.clone(),
            order: self.order.clone(),
        }
    }
}

impl Clone for Associations {
    fn clone(&self) -> Self {
        let inner = match self.inner.lock() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        Associations {
            inner: Mutex::new(inner),
        }
    }
}

impl Associations {
    /// Records what association `id` joined (`(arn, resource_type, resource_id)`).
    pub fn remember(&self, id: &str, targets: Remembered) {
        if targets.is_empty() {
            return;
        }
        let Ok(mut g) = self.inner.lock() else { return };
        if g.map.insert(id.to_string(), targets).is_none() {
            g.order.push_back(id.to_string());
            while g.order.len() > ASSOCIATION_MEMORY {
                if let Some(old) = g.order.pop_front() {
                    g.map.remove(&old);
                }
            }
        }
    }

    /// How many associations are remembered.
    pub fn len(&self) -> usize {
        self.inner.lock().map_or(0, |g| g.map.len())
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pushes the resources association `id` joined, as updates.
    pub fn recall(&self, id: &str, out: &mut Vec<Target>) {
        let Ok(g) = self.inner.lock() else { return };
        for (arn, resource_type, resource_id) in g.map.get(id).into_iter().flatten() {
            push_unique(
                out,
                Target {
                    arn: arn.clone(),
                    resource_type: resource_type.clone(),
                    resource_id: resource_id.clone(),
                    action: Action::Update,
                },
            );
        }
    }
}

/// Targets for bare EC2 ids (or ARNs) found under `keys`, typed by id prefix.
fn ec2_ids(
    svc: &Service,
    event: &Event<'_>,
    fields: &Fields,
    keys: &[&str],
    out: &mut Vec<Target>,
) {
    let ctx = Ctx::of(event);
    let keys: Vec<Key> = keys.iter().map(|k| Key::anywhere(k)).collect();
    let mut ids = Vec::new();
    fields.first_values(&keys, &mut ids);
    for id in ids {
        if id.starts_with("arn:") {
            if let Some(t) = any_type_target(svc, id, Action::Update) {
                push_unique(out, t);
            }
            continue;
        }
        let Some(ty) = ec2_type_for_id(id).and_then(|t| svc.type_named(t)) else {
            continue;
        };
        let region = if ty.template.has_region() {
            ctx.region
        } else {
            ""
        };
        if let Some(arn) = ty.template.fill(ctx.partition, region, ctx.account, &[id]) {
            push_unique(out, target(ty, arn, id.to_string(), Action::Update));
        }
    }
}
