//! The in-memory catalog: services, resource types and entries, parsed once from the
//! generated text (`data/catalog.tsv`, format described in `gen/generate.py`).
//!
//! Lookups are two hash probes: `eventSource` to service, then `eventName` to entry.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::error::CatalogError;
use crate::template::Template;

/// The generated catalog text, embedded at build time.
pub const CATALOG_TSV: &str = include_str!("../data/catalog.tsv");

/// Format version this code reads.
pub const FORMAT_VERSION: u32 = 1;

/// One record field name to search for, down to `max_depth` object levels below the
/// top of `requestParameters` / `responseElements`; a dotted name (`pipeline.name`) is
/// a path from the top. The name `*` is the wildcard marker: the placeholder becomes
/// `*` when no earlier key is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// Field name, lower case (matched case-insensitively).
    pub name: Box<str>,
    /// Deepest object level searched (0 = top level only).
    pub max_depth: u8,
}

impl Key {
    /// A key searched at any depth.
    pub fn anywhere(name: &str) -> Self {
        Key {
            name: name.into(),
            max_depth: u8::MAX,
        }
    }

    /// Parses `name`, `^name` (top level only) or `~name` (at most one level down).
    pub fn parse(s: &str) -> Self {
        if let Some(rest) = s.strip_prefix('^') {
            Key {
                name: rest.into(),
                max_depth: 0,
            }
        } else if let Some(rest) = s.strip_prefix('~') {
            Key {
                name: rest.into(),
                max_depth: 1,
            }
        } else {
            Key::anywhere(s)
        }
    }

    /// Whether this is the wildcard marker.
    pub fn is_wildcard(&self) -> bool {
        &*self.name == "*"
    }
}

/// A resource type of a service, with its compiled ARN template.
#[derive(Debug, Clone)]
pub struct ResourceType {
    /// Type name in the IAM reference (`instance`).
    pub name: Box<str>,
    /// `service:type` as used in rescan requests (`ec2:instance`); the service is the
    /// ARN's, so SSM's `instance` type is `ec2:instance`.
    pub qualified: Box<str>,
    /// The ARN template.
    pub template: Template,
}

/// How to find one resource of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    /// Index into the service's resource types.
    pub type_index: u16,
    /// The call deletes this resource.
    pub delete: bool,
    /// Key list whose values may be the resource's full ARN.
    pub arn_keys: Option<u32>,
    /// One key list per record-filled placeholder of the template, in order.
    pub keys: Box<[u32]>,
    /// The call is about a child of this resource that has no type in the reference
    /// (an EFS mount target): its type name (`mount-target`) and the keys of its id.
    pub child: Option<(Box<str>, u32)>,
}

/// What the catalog knows about one `(eventSource, eventName)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    /// Resources the call changes.
    pub targets: Box<[TargetSpec]>,
    /// Keys whose values may be the whole ARN of the changed resource, of any type
    /// (tagging calls' `resourceArn`, a creating call's `jobArn`).
    pub any_arn: Option<u32>,
    /// The call deletes the resource named under [`Entry::any_arn`].
    pub any_arn_delete: bool,
}

impl Entry {
    /// Whether the catalog can name a resource for this entry at all.
    pub fn has_targets(&self) -> bool {
        !self.targets.is_empty() || self.any_arn.is_some()
    }
}

/// One IAM service prefix with its event source.
#[derive(Debug, Clone)]
pub struct Service {
    /// IAM service prefix (`ec2`, `cloudwatch`).
    pub prefix: Box<str>,
    /// CloudTrail `eventSource` (`monitoring.amazonaws.com` for `cloudwatch`).
    pub event_source: Box<str>,
    /// Other event sources CloudTrail uses for this service.
    pub aliases: Box<[Box<str>]>,
    /// Resource types, indexed by [`TargetSpec::type_index`].
    pub types: Box<[ResourceType]>,
    /// Entries by event name.
    pub entries: HashMap<Box<str>, Entry>,
}

impl Service {
    /// A resource type by its IAM name (`instance`).
    pub fn type_named(&self, name: &str) -> Option<&ResourceType> {
        self.types.iter().find(|t| &*t.name == name)
    }
}

/// Size of the catalog, for `processor catalog stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CatalogStats {
    /// Mapped `(eventSource, eventName)` pairs (one event source per service).
    pub pairs: usize,
    /// Pairs for which the catalog names at least one resource type.
    pub pairs_with_resource: usize,
    /// Services (IAM prefixes with their own event source).
    pub services: usize,
    /// Resource types with ARN templates.
    pub resource_types: usize,
    /// Additional event-source aliases.
    pub source_aliases: usize,
}

/// The resource catalog: immutable, built once ([`Catalog::embedded`]) and shared.
/// What a processor learns while it runs (which association joined what) lives in its
/// own [`crate::CatalogResolver`], never here.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub(crate) services: Vec<Service>,
    by_source: HashMap<Box<str>, u16>,
    by_prefix: HashMap<Box<str>, u16>,
    pub(crate) keylists: Vec<Box<[Key]>>,
}

impl Catalog {
    /// The embedded, generated catalog, parsed on first use and shared afterwards.
    pub fn embedded() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| {
            // The embedded text is validated by this crate's tests.
            Catalog::parse(CATALOG_TSV).expect("embedded catalog is valid")
        })
    }

    /// Parses catalog text (the format written by `gen/generate.py`).
    pub fn parse(text: &str) -> Result<Self, CatalogError> {
        let mut cat = Catalog {
            services: Vec::new(),
            by_source: HashMap::new(),
            by_prefix: HashMap::new(),
            keylists: Vec::new(),
        };
        let mut types: Vec<ResourceType> = Vec::new();
        let mut version_seen = false;
        for (i, line) in text.lines().enumerate() {
            let lineno = i + 1;
            let err = |reason: String| CatalogError::Line {
                line: lineno,
                reason,
            };
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut f = line.split('\t');
            let tag = f.next().unwrap_or("");
            let mut field = |what: &str| f.next().ok_or_else(|| err(format!("missing {what}")));
            match tag {
                "V" => {
                    let v = field("version")?;
                    if v != FORMAT_VERSION.to_string() {
                        return Err(CatalogError::Version {
                            found: v.to_string(),
                            expected: FORMAT_VERSION,
                        });
                    }
                    version_seen = true;
                }
                "K" => {
                    let id: usize = field("key list id")?
                        .parse()
                        .map_err(|_| err("bad key list id".into()))?;
                    if id != cat.keylists.len() {
                        return Err(err(format!("key list {id} out of order")));
                    }
                    let keys = field("keys")?.split(',').map(Key::parse).collect();
                    cat.keylists.push(keys);
                }
                "S" => {
                    cat.finish_service(&mut types);
                    let prefix = field("prefix")?;
                    let source = field("event source")?;
                    let aliases = field("aliases")?;
                    let aliases: Box<[Box<str>]> = if aliases == "-" {
                        Box::new([])
                    } else {
                        aliases.split(',').map(Box::from).collect()
                    };
                    let idx = u16::try_from(cat.services.len())
                        .map_err(|_| err("too many services".into()))?;
                    cat.by_source.insert(source.into(), idx);
                    for a in aliases.iter() {
                        cat.by_source.entry(a.clone()).or_insert(idx);
                    }
                    cat.by_prefix.insert(prefix.into(), idx);
                    cat.services.push(Service {
                        prefix: prefix.into(),
                        event_source: source.into(),
                        aliases,
                        types: Box::new([]),
                        entries: HashMap::new(),
                    });
                }
                "R" => {
                    let name = field("type name")?;
                    let template = Template::parse(field("template")?)?;
                    let qualified = format!("{}:{}", template.service(), name).into_boxed_str();
                    types.push(ResourceType {
                        name: name.into(),
                        qualified,
                        template,
                    });
                }
                "E" => {
                    let name = field("event name")?;
                    let spec = field("spec")?;
                    let entry = parse_spec(spec, types.len(), cat.keylists.len()).map_err(err)?;
                    let svc = cat
                        .services
                        .last_mut()
                        .ok_or_else(|| err("entry before any service".into()))?;
                    svc.entries.insert(name.into(), entry);
                }
                other => return Err(err(format!("unknown record `{other}`"))),
            }
        }
        cat.finish_service(&mut types);
        if !version_seen {
            return Err(CatalogError::Line {
                line: 0,
                reason: "no version record".into(),
            });
        }
        // Check every entry's placeholders against its type's template now, so
        // resolution never has to.
        for svc in &cat.services {
            for (name, e) in &svc.entries {
                for t in e.targets.iter() {
                    let ty = &svc.types[t.type_index as usize];
                    if ty.template.var_count() != t.keys.len() {
                        return Err(CatalogError::Line {
                            line: 0,
                            reason: format!(
                                "{} {name}: {} key lists for {} placeholders of {}",
                                svc.prefix,
                                t.keys.len(),
                                ty.template.var_count(),
                                ty.template.as_str()
                            ),
                        });
                    }
                }
            }
        }
        Ok(cat)
    }

    fn finish_service(&mut self, types: &mut Vec<ResourceType>) {
        if let Some(svc) = self.services.last_mut() {
            svc.types = std::mem::take(types).into_boxed_slice();
            svc.entries.shrink_to_fit();
        }
    }

    /// The service for an `eventSource` (`ec2.amazonaws.com`), or for an IAM prefix or
    /// short service name (`ec2`, `cloudwatch`, `monitoring`).
    pub fn service(&self, source_or_prefix: &str) -> Option<&Service> {
        let idx = self
            .by_source
            .get(source_or_prefix)
            .or_else(|| self.by_prefix.get(source_or_prefix))
            .or_else(|| {
                let short = source_or_prefix.strip_suffix(".amazonaws.com")?;
                self.by_prefix.get(short)
            })
            .or_else(|| {
                let full = format!("{source_or_prefix}.amazonaws.com");
                self.by_source.get(full.as_str())
            })?;
        self.services.get(*idx as usize)
    }

    /// The service for an exact `eventSource`: one hash probe, no allocation.
    pub fn service_for_source(&self, event_source: &str) -> Option<&Service> {
        let idx = self.by_source.get(event_source)?;
        self.services.get(*idx as usize)
    }

    /// Looks up an event. Versioned CloudTrail names (`UpdateFunctionCode20150331v2`,
    /// `CreateDistribution2020_05_31`) fall back to the operation name.
    pub fn lookup<'c>(
        &'c self,
        service: &'c Service,
        event_name: &str,
    ) -> Option<(&'c str, &'c Entry)> {
        if let Some((k, e)) = service.entries.get_key_value(event_name) {
            return Some((k, e));
        }
        let base = strip_version_suffix(event_name)?;
        service.entries.get_key_value(base).map(|(k, e)| (&**k, e))
    }

    /// Looks up an event by event source (or service name) and event name.
    pub fn find(
        &self,
        source_or_prefix: &str,
        event_name: &str,
    ) -> Option<(&Service, &str, &Entry)> {
        let svc = self.service(source_or_prefix)?;
        let (name, entry) = self.lookup(svc, event_name)?;
        Some((svc, name, entry))
    }

    /// Every service, in prefix order.
    pub fn services(&self) -> &[Service] {
        &self.services
    }

    /// A key list by id.
    pub fn keys(&self, id: u32) -> &[Key] {
        self.keylists.get(id as usize).map_or(&[], |k| k)
    }

    /// Counts for `processor catalog stats`.
    pub fn stats(&self) -> CatalogStats {
        let mut s = CatalogStats {
            pairs: 0,
            pairs_with_resource: 0,
            services: self.services.len(),
            resource_types: 0,
            source_aliases: 0,
        };
        for svc in &self.services {
            s.pairs += svc.entries.len();
            s.pairs_with_resource += svc.entries.values().filter(|e| e.has_targets()).count();
            s.resource_types += svc.types.len();
            s.source_aliases += svc.aliases.len();
        }
        s
    }
}

fn parse_spec(spec: &str, ntypes: usize, nkeys: usize) -> Result<Entry, String> {
    let mut entry = Entry::default();
    if spec == "-" {
        return Ok(entry);
    }
    let key_id = |s: &str| -> Result<u32, String> {
        let id: u32 = s.parse().map_err(|_| format!("bad key list id `{s}`"))?;
        if (id as usize) < nkeys {
            Ok(id)
        } else {
            Err(format!("unknown key list {id}"))
        }
    };
    let mut targets = Vec::new();
    for part in spec.split(';') {
        if let Some(any) = part.strip_prefix('@') {
            let (delete, any) = match any.strip_prefix('d') {
                Some(rest) => (true, rest),
                None => (false, any),
            };
            entry.any_arn = Some(key_id(any)?);
            entry.any_arn_delete = delete;
            continue;
        }
        let (head, lists) = part
            .split_once(':')
            .ok_or_else(|| format!("bad target `{part}`"))?;
        let digits = head
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(head.len());
        let type_index: u16 = head[..digits]
            .parse()
            .map_err(|_| format!("bad type index in `{part}`"))?;
        if type_index as usize >= ntypes {
            return Err(format!("type index {type_index} out of range"));
        }
        let mut flags = &head[digits..];
        let delete = flags.starts_with('d');
        if delete {
            flags = &flags[1..];
        }
        let (flags, child) = match flags.split_once('c') {
            Some((before, c)) => {
                let (name, id) = c
                    .split_once('=')
                    .ok_or_else(|| format!("bad child in `{part}`"))?;
                if name.is_empty()
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                {
                    return Err(format!("bad child type in `{part}`"));
                }
                (before, Some((Box::from(name), key_id(id)?)))
            }
            None => (flags, None),
        };
        let arn_keys = match flags.strip_prefix('a') {
            Some(id) => Some(key_id(id)?),
            None if flags.is_empty() => None,
            None => return Err(format!("bad flags in `{part}`")),
        };
        let keys = if lists.is_empty() {
            Box::new([]) as Box<[u32]>
        } else {
            lists.split(',').map(key_id).collect::<Result<_, _>>()?
        };
        targets.push(TargetSpec {
            type_index,
            delete,
            arn_keys,
            keys,
            child,
        });
    }
    entry.targets = targets.into_boxed_slice();
    Ok(entry)
}

/// `UpdateFunctionCode20150331v2` -> `UpdateFunctionCode`; `CreateDistribution2020_05_31`
/// -> `CreateDistribution`; `None` when the name has no such suffix.
pub fn strip_version_suffix(name: &str) -> Option<&str> {
    let b = name.as_bytes();
    let mut end = b.len();
    // optional `v<digits>`
    let mut j = end;
    while j > 0 && b[j - 1].is_ascii_digit() {
        j -= 1;
    }
    if j < end && j > 0 && b[j - 1] == b'v' {
        end = j - 1;
    }
    let mut k = end;
    let mut digits = 0;
    while k > 0 && (b[k - 1].is_ascii_digit() || b[k - 1] == b'_') {
        digits += usize::from(b[k - 1].is_ascii_digit());
        k -= 1;
    }
    (digits >= 8 && k > 0 && b[k - 1].is_ascii_alphabetic()).then(|| &name[..k])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_suffixes() {
        assert_eq!(
            strip_version_suffix("UpdateFunctionCode20150331v2"),
            Some("UpdateFunctionCode")
        );
        assert_eq!(
            strip_version_suffix("CreateFunction20150331"),
            Some("CreateFunction")
        );
        assert_eq!(
            strip_version_suffix("CreateDistribution2020_05_31"),
            Some("CreateDistribution")
        );
        assert_eq!(strip_version_suffix("CreateVpc"), None);
        assert_eq!(strip_version_suffix("PutObject2"), None);
        assert_eq!(strip_version_suffix("20150331"), None);
    }

    #[test]
    fn parse_minimal() {
        let text = "V\t1\nK\t0\tinstanceid\nK\t1\tmounttargetid\nS\tec2\tec2.amazonaws.com\t-\nR\tinstance\tarn:${Partition}:ec2:${Region}:${Account}:instance/${InstanceId}\nE\tRunInstances\t0:0\nE\tTerminateInstances\t0d:0\nE\tCreateVpc\t-\nE\tCreateMountTarget\t0a0cmount-target=1:0\n";
        let c = Catalog::parse(text).unwrap();
        let (svc, _, e) = c.find("ec2.amazonaws.com", "TerminateInstances").unwrap();
        assert_eq!(&*svc.prefix, "ec2");
        assert!(e.targets[0].delete);
        assert!(!c.find("ec2", "CreateVpc").unwrap().2.has_targets());
        let child = &c.find("ec2", "CreateMountTarget").unwrap().2.targets[0];
        assert_eq!(child.arn_keys, Some(0));
        assert_eq!(child.child, Some(("mount-target".into(), 1)));
        assert_eq!(c.stats().pairs, 4);
    }

    #[test]
    fn parse_errors() {
        assert!(matches!(
            Catalog::parse("V\t2\n"),
            Err(CatalogError::Version { .. })
        ));
        let e = Catalog::parse("V\t1\nS\tx\tx.amazonaws.com\t-\nE\tA\t5:0\n").unwrap_err();
        assert!(matches!(e, CatalogError::Line { line: 3, .. }), "{e}");
        assert!(Catalog::parse("V\t1\nQ\n").is_err());
    }
}
