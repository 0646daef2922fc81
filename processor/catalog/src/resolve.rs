//! Resolution: from one CloudTrail event to the resources it changed.
//!
//! Order: a curated handler ([`crate::curated`]) if one exists for the event; else the
//! generated entry (for each target type: a full ARN found under the type's ARN keys,
//! else the ARN built from the template with each placeholder's first key that the
//! record holds); else the record's own `resources` field; else nothing (the pipeline
//! then emits a service-scope request).

use processor_core::resolve::{
    from_resources_field, partition_for_region, push_unique, resource_id_from_arn, Resolver,
};
use processor_core::{Action, Event, Target};

use crate::catalog::{Catalog, Entry, Key, ResourceType, Service};
use crate::curated::Associations;
use crate::fields::Fields;
use crate::template::Var;

/// Where the targets of one resolution came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// A curated handler.
    Curated,
    /// The generated catalog entry.
    Catalog,
    /// The record's own `resources` field.
    ResourcesField,
    /// Nothing: the caller falls back to a service-scope request.
    None,
}

/// Why an event resolved to no resource (for coverage reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Miss {
    /// The event source is not in the catalog.
    UnknownService,
    /// The service is known, the event name is not.
    UnknownEvent,
    /// The catalog knows the event but no resource type for it (account-level call).
    NoResourceType,
    /// The record lacks the fields that identify the resource.
    FieldsMissing,
}

impl std::fmt::Display for Miss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Miss::UnknownService => "event source not in catalog",
            Miss::UnknownEvent => "event name not in catalog",
            Miss::NoResourceType => "catalog has no resource type for this call",
            Miss::FieldsMissing => "record lacks the identifying fields",
        })
    }
}

/// The outcome of [`Catalog::resolve_detailed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Where the targets came from.
    pub source: Source,
    /// Why the catalog itself found nothing (set even when the `resources` field
    /// then supplied targets).
    pub miss: Option<Miss>,
}

/// Event facts every target needs.
pub(crate) struct Ctx<'e> {
    pub partition: &'static str,
    pub region: &'e str,
    pub account: &'e str,
}

impl<'e> Ctx<'e> {
    pub(crate) fn of(event: &'e Event<'_>) -> Self {
        Ctx {
            partition: partition_for_region(&event.region),
            region: &event.region,
            account: &event.account,
        }
    }
}

/// The catalog as a [`Resolver`], with its own memory of the EC2 associations it saw
/// being made (so a later `DisassociateRouteTable`, which names only the association,
/// resolves). Each processor, and each test, builds its own.
#[derive(Debug, Clone)]
pub struct CatalogResolver<'c> {
    catalog: &'c Catalog,
    memory: Associations,
}

impl CatalogResolver<'static> {
    /// A resolver over the embedded catalog, remembering nothing yet.
    pub fn new() -> Self {
        CatalogResolver::with_catalog(Catalog::embedded())
    }
}

impl Default for CatalogResolver<'static> {
    fn default() -> Self {
        CatalogResolver::new()
    }
}

impl<'c> CatalogResolver<'c> {
    /// A resolver over `catalog`, remembering nothing yet.
    pub fn with_catalog(catalog: &'c Catalog) -> Self {
        CatalogResolver {
            catalog,
            memory: Associations::default(),
        }
    }

    /// The catalog it reads.
    pub fn catalog(&self) -> &'c Catalog {
        self.catalog
    }

    /// What it remembers of associations made.
    pub fn associations(&self) -> &Associations {
        &self.memory
    }

    /// Resolves `event` into `out` and says how, remembering associations made.
    pub fn resolve_detailed(&self, event: &Event<'_>, out: &mut Vec<Target>) -> Outcome {
        self.catalog.resolve_with(Some(&self.memory), event, out)
    }
}

impl Resolver for CatalogResolver<'_> {
    fn resolve(&self, event: &Event<'_>, out: &mut Vec<Target>) {
        self.resolve_detailed(event, out);
    }
}

impl Catalog {
    /// Resolves `event` into `out` and says how, without memory: a disassociation that
    /// names only its association id resolves to nothing here (use a
    /// [`CatalogResolver`], which remembers associations as they are made).
    pub fn resolve_detailed(&self, event: &Event<'_>, out: &mut Vec<Target>) -> Outcome {
        self.resolve_with(None, event, out)
    }

    /// Resolves `event` with an optional association memory.
    pub fn resolve_with(
        &self,
        memory: Option<&Associations>,
        event: &Event<'_>,
        out: &mut Vec<Target>,
    ) -> Outcome {
        let start = out.len();
        let miss;
        match self.service_for_source(&event.event_source) {
            None => miss = Some(Miss::UnknownService),
            Some(svc) => {
                let fields = Fields::parse(
                    event.request_parameters.map(|r| r.get()),
                    event.response_elements.map(|r| r.get()),
                );
                if crate::curated::resolve(self, memory, svc, event, &fields, out) {
                    if out.len() > start {
                        return Outcome {
                            source: Source::Curated,
                            miss: None,
                        };
                    }
                    miss = Some(Miss::FieldsMissing);
                } else {
                    match self.lookup(svc, &event.event_name) {
                        None => miss = Some(Miss::UnknownEvent),
                        Some((_, entry)) if !entry.has_targets() => {
                            miss = Some(Miss::NoResourceType)
                        }
                        Some((_, entry)) => {
                            self.resolve_entry(svc, entry, &Ctx::of(event), &fields, out);
                            if out.len() > start {
                                return Outcome {
                                    source: Source::Catalog,
                                    miss: None,
                                };
                            }
                            miss = Some(Miss::FieldsMissing);
                        }
                    }
                }
            }
        }
        from_resources_field(event, out);
        let source = if out.len() > start {
            Source::ResourcesField
        } else {
            Source::None
        };
        Outcome { source, miss }
    }

    /// Resolves one generated entry against the record's fields.
    ///
    /// Whole ARNs in the record come first and decide: a target built from a template
    /// is dropped when a given ARN names the same id under another type (Comprehend's
    /// `CreateEndpoint` fills both endpoint templates from `endpointName`; its response's
    /// `endpointArn` says which), or the same resource more exactly
    /// (`job-definition/sleep30:1` over `job-definition/sleep30`).
    pub(crate) fn resolve_entry(
        &self,
        svc: &Service,
        entry: &Entry,
        ctx: &Ctx<'_>,
        fields: &Fields,
        out: &mut Vec<Target>,
    ) {
        let mut values: Vec<&str> = Vec::new();
        let mut given: Vec<Target> = Vec::new();
        let mut pending = Vec::with_capacity(entry.targets.len());
        for spec in entry.targets.iter() {
            let Some(ty) = svc.types.get(spec.type_index as usize) else {
                continue;
            };
            let action = if spec.delete {
                Action::Delete
            } else {
                Action::Update
            };
            // 1. A full ARN of this type under one of its ARN keys.
            if let Some(id) = spec.arn_keys {
                values.clear();
                fields.all_values(self.keys(id), &mut values);
                if push_arns(ty, &values, action, &mut given) {
                    continue;
                }
            }
            pending.push((ty, spec, action));
        }
        if let Some(id) = entry.any_arn {
            values.clear();
            fields.all_values(self.keys(id), &mut values);
            let action = if entry.any_arn_delete {
                Action::Delete
            } else {
                Action::Update
            };
            for v in &values {
                if let Some(t) = self.arn_target(svc, v, action) {
                    push_unique(&mut given, t);
                }
            }
        }
        // 2. The template filled from the record.
        let mut built = Vec::new();
        for (ty, spec, action) in pending {
            let from = built.len();
            self.fill_target(ty, &spec.keys, action, ctx, fields, &mut built);
            if let Some((child, keys)) = &spec.child {
                name_child(ty, child, self.keys(*keys), fields, &mut built[from..]);
            }
        }
        built.retain(|b| {
            !given.iter().any(|g| {
                (g.resource_id == b.resource_id && g.resource_type != b.resource_type)
                    || (g.arn.len() > b.arn.len()
                        && g.arn.starts_with(&b.arn)
                        && g.arn.as_bytes()[b.arn.len()] == b':')
            })
        });
        for t in given.into_iter().chain(built) {
            push_unique(out, t);
        }
    }

    /// Fills `ty`'s template: one value list per placeholder; several values (many
    /// instances) give several targets; values that are ARNs of the type are used as is.
    pub(crate) fn fill_target(
        &self,
        ty: &ResourceType,
        key_lists: &[u32],
        action: Action,
        ctx: &Ctx<'_>,
        fields: &Fields,
        out: &mut Vec<Target>,
    ) -> bool {
        let n = key_lists.len();
        if n == 0 {
            // A template without placeholders (an account-wide singleton).
            if let Some(arn) =
                ty.template
                    .fill(ctx.partition, region_for(ty, ctx), ctx.account, &[])
            {
                let id = resource_id_from_arn(&arn)
                    .unwrap_or(ctx.account)
                    .to_string();
                push_unique(out, target(ty, arn, id, action));
                return true;
            }
            return false;
        }
        let mut per_var: Vec<Vec<&str>> = Vec::with_capacity(n);
        let mut found = Vec::new();
        for (var, id) in ty.template.vars().zip(key_lists) {
            // The first key holding a value this placeholder accepts.
            let mut usable: Vec<&str> = Vec::new();
            for key in self.keys(*id) {
                if key.is_wildcard() {
                    usable.push("*");
                    break;
                }
                found.clear();
                fields.values_of(key, &mut found);
                usable.extend(found.iter().copied().filter(|v| accepts(ty, var, v)));
                if !usable.is_empty() {
                    break;
                }
            }
            if usable.is_empty() {
                return false;
            }
            per_var.push(usable);
        }
        let count = per_var.iter().map(Vec::len).max().unwrap_or(0);
        let path = ty
            .template
            .vars()
            .any(|v| v.with_path)
            .then(|| fields.request_top("path"))
            .flatten()
            .filter(|p| p.starts_with('/') && p.ends_with('/') && p.len() > 1);
        let mut any = false;
        let mut row: Vec<String> = Vec::with_capacity(n);
        for i in 0..count {
            row.clear();
            let mut given_arn = None;
            let mut id = "";
            for (var, vals) in ty.template.vars().zip(&per_var) {
                let raw = vals.get(i).or_else(|| vals.first()).copied().unwrap_or("");
                if raw.starts_with("arn:") {
                    given_arn = Some(raw);
                    break;
                }
                let v = crate::curated::normalise(ty, var, var.clean(raw));
                id = id_for(var, raw, v);
                let v = match (var.with_path, path) {
                    (true, Some(p)) if !v.contains('/') => format!("{}{v}", &p[1..]),
                    _ => v.to_string(),
                };
                row.push(v);
            }
            if let Some(arn) = given_arn {
                any |= push_arns(ty, &[arn], action, out);
                continue;
            }
            if row.len() != n {
                continue;
            }
            let refs: Vec<&str> = row.iter().map(String::as_str).collect();
            if let Some(arn) =
                ty.template
                    .fill(ctx.partition, region_for(ty, ctx), ctx.account, &refs)
            {
                push_unique(out, target(ty, arn, id.to_string(), action));
                any = true;
            }
        }
        any
    }
}

/// A call about a child the reference has no type for (an EFS mount target): the one
/// parent target built becomes the child's, `service:child-type` with the child's own
/// id and the parent's ARN. Without the child's id (or with several parents) the
/// parent stays as it is, which the call changed too.
fn name_child(ty: &ResourceType, child: &str, keys: &[Key], fields: &Fields, built: &mut [Target]) {
    let [parent] = built else {
        return;
    };
    let mut ids = Vec::new();
    fields.first_values(keys, &mut ids);
    if let [id] = ids[..] {
        parent.resource_type = format!("{}:{child}", ty.template.service());
        parent.resource_id = id.to_string();
    }
}

/// Whether `value` from the record can fill `var` of `ty`: an ARN of the type, or an
/// id that cleans to a valid, plausible placeholder value.
fn accepts(ty: &ResourceType, var: &Var, value: &str) -> bool {
    if value.starts_with("arn:") {
        return ty.template.matches(value);
    }
    let v = crate::curated::normalise(ty, var, var.clean(value));
    ty.template.accepts(var, v) && crate::curated::plausible(ty, v)
}

/// The resource id for a placeholder value: the name without its IAM path, a
/// parameter name with its leading slash, else the cleaned value.
fn id_for<'v>(var: &Var, raw: &'v str, cleaned: &'v str) -> &'v str {
    if var.with_path {
        cleaned.rsplit('/').next().unwrap_or(cleaned)
    } else if var.strip_leading_slash && raw.trim().starts_with('/') {
        raw.trim()
    } else {
        cleaned
    }
}

/// The resource id from the last placeholder captured out of a given ARN.
fn captured_id<'a>(ty: &ResourceType, captured: &'a str) -> &'a str {
    match ty.template.vars().last() {
        Some(v) if v.with_path => captured.rsplit('/').next().unwrap_or(captured),
        _ => captured,
    }
}

fn region_for<'a>(ty: &ResourceType, ctx: &Ctx<'a>) -> &'a str {
    if ty.template.has_region() {
        ctx.region
    } else {
        ""
    }
}

pub(crate) fn target(
    ty: &ResourceType,
    arn: String,
    resource_id: String,
    action: Action,
) -> Target {
    Target {
        arn,
        resource_type: ty.qualified.to_string(),
        resource_id,
        action,
    }
}

/// Pushes each value that is an ARN of type `ty`; true if any was.
fn push_arns(ty: &ResourceType, values: &[&str], action: Action, out: &mut Vec<Target>) -> bool {
    let mut any = false;
    for v in values {
        if let Some(id) = ty.template.capture(v) {
            let id = captured_id(ty, id);
            push_unique(out, target(ty, v.to_string(), id.to_string(), action));
            any = true;
        }
    }
    any
}

impl Catalog {
    /// A target for a whole ARN the record gives: typed by the ARN templates of `svc`,
    /// else of the service the ARN names (`AssociateWebACL`'s load balancer), else, for
    /// an ARN of `svc` itself that no template describes (Security Hub's
    /// `action/custom/NAME`), typed `service:kind` from the ARN's resource word.
    pub(crate) fn arn_target(&self, svc: &Service, arn: &str, action: Action) -> Option<Target> {
        if let Some(t) = any_type_target(svc, arn, action) {
            return Some(t);
        }
        let parts = processor_core::arn::Arn::parse_resource(arn)?;
        if let Some(other) = self.service(parts.service) {
            if !std::ptr::eq(other, svc) {
                return any_type_target(other, arn, action);
            }
        }
        let own_service = svc
            .types
            .first()
            .map_or(&*svc.prefix, |t| t.template.service());
        if parts.service != own_service {
            return None;
        }
        let kind = parts.resource_kind()?;
        let id = parts.resource_id()?;
        Some(Target {
            arn: arn.to_string(),
            resource_type: format!("{}:{kind}", parts.service),
            resource_id: id.to_string(),
            action,
        })
    }
}

/// A target for an ARN of any type of the service (the most specific template wins).
pub(crate) fn any_type_target(svc: &Service, arn: &str, action: Action) -> Option<Target> {
    let ty = svc
        .types
        .iter()
        .filter(|t| t.template.matches(arn))
        .max_by_key(|t| t.template.specificity())?;
    let id = captured_id(ty, ty.template.capture(arn)?);
    Some(target(ty, arn.to_string(), id.to_string(), action))
}

/// The catalog alone resolves without memory (see [`Catalog::resolve_detailed`]);
/// prefer a [`CatalogResolver`] per processor.
impl Resolver for Catalog {
    fn resolve(&self, event: &Event<'_>, out: &mut Vec<Target>) {
        self.resolve_detailed(event, out);
    }
}
