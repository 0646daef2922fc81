//! Finding identifier values in `requestParameters` / `responseElements`.
//!
//! CloudTrail writes most services' members in lowerCamelCase, EC2 in its own XML-ish
//! shapes (`instancesSet.items[].instanceId`, `{"content": "fl-1"}`, `{"item": ...}`),
//! some newer EC2 calls inside a `{"CreateNatGatewayRequest": {...}}` wrapper. Rather
//! than fixed paths, a key is searched breadth first, case-insensitively, and the values
//! at the shallowest depth where it occurs are taken (arrays do not add depth), so
//! `instancesSet.items[].instanceId` yields every instance of a `RunInstances`.

use serde_json::Value;

use crate::catalog::Key;

/// Deepest object level searched.
const MAX_DEPTH: usize = 6;

/// The record's request and response, parsed once per resolved event.
#[derive(Debug, Default)]
pub struct Fields {
    /// `requestParameters` (wrapper object removed), or `Null`.
    pub request: Value,
    /// `responseElements` (wrapper object removed), or `Null`.
    pub response: Value,
}

impl Fields {
    /// Parses the raw JSON texts; invalid or absent parts become `Null`.
    pub fn parse(request: Option<&str>, response: Option<&str>) -> Self {
        let parse = |s: Option<&str>| {
            s.and_then(|t| serde_json::from_str::<Value>(t).ok())
                .map(unwrap_wrapper)
                .unwrap_or(Value::Null)
        };
        Fields {
            request: parse(request),
            response: parse(response),
        }
    }

    /// Values of the first key (in order) found in the request, else the response.
    pub fn first_values<'v>(&'v self, keys: &[Key], out: &mut Vec<&'v str>) {
        for key in keys {
            for root in [&self.request, &self.response] {
                collect(root, key, out);
                if !out.is_empty() {
                    return;
                }
            }
        }
    }

    /// Values of one key: the request's, else the response's.
    pub fn values_of<'v>(&'v self, key: &Key, out: &mut Vec<&'v str>) {
        collect(&self.request, key, out);
        if out.is_empty() {
            collect(&self.response, key, out);
        }
    }

    /// Values of every key, request and response, in key order.
    pub fn all_values<'v>(&'v self, keys: &[Key], out: &mut Vec<&'v str>) {
        for key in keys {
            for root in [&self.request, &self.response] {
                collect(root, key, out);
            }
        }
    }

    /// A top-level string field of the request (case-insensitive).
    pub fn request_top(&self, name: &str) -> Option<&str> {
        top(&self.request, name)
    }

    /// A top-level string field of the response (case-insensitive).
    pub fn response_top(&self, name: &str) -> Option<&str> {
        top(&self.response, name)
    }
}

fn top<'v>(v: &'v Value, name: &str) -> Option<&'v str> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

/// `{"CreateNatGatewayRequest": {...}}` -> `{...}`.
fn unwrap_wrapper(v: Value) -> Value {
    match v {
        Value::Object(m) if m.len() == 1 => {
            let wrapped = m
                .keys()
                .next()
                .is_some_and(|k| k.ends_with("Request") || k.ends_with("Response"));
            if wrapped && m.values().next().is_some_and(Value::is_object) {
                m.into_iter()
                    .next()
                    .map(|(_, inner)| inner)
                    .unwrap_or(Value::Null)
            } else {
                Value::Object(m)
            }
        }
        other => other,
    }
}

/// Appends the string values of `key` at the shallowest depth where it occurs; a
/// dotted key (`pipeline.name`) is a path from the top instead.
pub fn collect<'v>(root: &'v Value, key: &Key, out: &mut Vec<&'v str>) {
    if key.name.contains('.') {
        let mut level: Vec<&Value> = vec![root];
        for part in key.name.split('.') {
            let mut next = Vec::new();
            for v in level {
                member(v, part, &mut next);
            }
            level = next;
        }
        for v in level {
            strings(v, out, 0);
        }
        return;
    }
    let mut level: Vec<&Value> = vec![root];
    let mut next: Vec<&Value> = Vec::new();
    for depth in 0..=MAX_DEPTH {
        let before = out.len();
        for v in level.drain(..) {
            push_objects(v, key, out, &mut next);
        }
        if out.len() > before || next.is_empty() || depth >= key.max_depth as usize {
            return;
        }
        std::mem::swap(&mut level, &mut next);
    }
}

/// The values of member `name` (case-insensitive) of `v`, or of each object in `v`.
fn member<'v>(v: &'v Value, name: &str, out: &mut Vec<&'v Value>) {
    match v {
        Value::Object(m) => out.extend(
            m.iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, x)| x),
        ),
        Value::Array(a) => a.iter().for_each(|x| member(x, name, out)),
        _ => {}
    }
}

/// For one value at `depth`: if it is an object holding `key`, take the key's strings;
/// queue its children for the next level. Arrays are flattened at the same depth.
fn push_objects<'v>(v: &'v Value, key: &Key, out: &mut Vec<&'v str>, next: &mut Vec<&'v Value>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                if k.eq_ignore_ascii_case(&key.name) {
                    strings(child, out, 0);
                } else if child.is_object() || child.is_array() {
                    next.push(child);
                }
            }
        }
        Value::Array(a) => {
            for item in a {
                push_objects(item, key, out, next);
            }
        }
        _ => {}
    }
}

/// The strings a field holds: a string, an array of strings, or EC2's wrappers
/// (`{"content": "x"}`, `{"item": ...}`, `{"items": [...]}`).
fn strings<'v>(v: &'v Value, out: &mut Vec<&'v str>, nesting: u8) {
    if nesting > 3 {
        return;
    }
    match v {
        // Repeats are checked while the list is short; long lists (thousands of ids in
        // one call) keep them, and targets are de-duplicated once at the end.
        Value::String(s) if !s.is_empty() && (out.len() >= 64 || !out.contains(&s.as_str())) => {
            out.push(s)
        }
        Value::Array(a) => a.iter().for_each(|x| strings(x, out, nesting + 1)),
        Value::Object(m) => {
            for (k, x) in m {
                if matches!(
                    k.as_str(),
                    "content" | "item" | "items" | "member" | "value"
                ) {
                    strings(x, out, nesting + 1);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: &str) -> Key {
        Key::anywhere(n)
    }

    #[test]
    fn shallowest_and_arrays() {
        let f = Fields::parse(
            None,
            Some(
                r#"{"instancesSet":{"items":[{"instanceId":"i-1","networkInterfaceSet":{"items":[{"attachment":{"instanceId":"x"}}]}},{"instanceId":"i-2"}]}}"#,
            ),
        );
        let mut out = Vec::new();
        f.first_values(&[key("instanceid")], &mut out);
        assert_eq!(out, ["i-1", "i-2"]);
    }

    #[test]
    fn wrappers_and_content() {
        let f = Fields::parse(
            Some(r#"{"DeleteFlowLogsRequest":{"FlowLogId":{"tag":1,"content":"fl-1"}}}"#),
            Some(r#"{"CreateFlowLogsResponse":{"flowLogIdSet":{"item":"fl-2"}}}"#),
        );
        let mut out = Vec::new();
        f.first_values(&[key("flowlogid")], &mut out);
        assert_eq!(out, ["fl-1"]);
        out.clear();
        f.first_values(&[key("flowlogidset")], &mut out);
        assert_eq!(out, ["fl-2"]);
    }

    #[test]
    fn dotted_paths() {
        let f = Fields::parse(
            Some(r#"{"pipeline":{"name":"release","stages":[{"name":"Source"}]}}"#),
            None,
        );
        let mut out = Vec::new();
        f.first_values(&[key("pipeline.name")], &mut out);
        assert_eq!(out, ["release"]);
        out.clear();
        f.first_values(&[key("pipeline.stages.name")], &mut out);
        assert_eq!(out, ["Source"]);
        out.clear();
        f.first_values(&[key("stage.name")], &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn top_only() {
        let f = Fields::parse(Some(r#"{"a":{"name":"deep"}}"#), None);
        let mut out = Vec::new();
        f.first_values(&[Key::parse("^name")], &mut out);
        assert!(out.is_empty());
        f.first_values(&[key("name")], &mut out);
        assert_eq!(out, ["deep"]);
        assert_eq!(
            Fields::parse(Some(r#"{"Path":"/x/"}"#), None).request_top("path"),
            Some("/x/")
        );
    }
}
