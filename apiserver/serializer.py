"""Request bodies read as kube-apiserver's JSON and YAML serializers read them, with their error texts.

A create or update body goes through the codec: JSON (or YAML converted to JSON, first document
only), then its apiVersion/kind found (`couldn't get version/kind; json parse error: …`), then the
kind looked up in the scheme and converted to the one the URL names. Upstream's `transformDecodeError`
prefixes a failure with `the object provided is unrecognized (must be of type <Kind>): … (<summary>)`
when no kind was read, else with `<Kind> in version "<v>" cannot be handled as a <Kind>: `. Strict
decoding also reports duplicate fields (`duplicate field "metadata.labels.a"` in JSON, `line 5: key
"a" already set in map` in YAML) beside the unknown ones.
"""

from __future__ import annotations

import json
import re
from typing import Any, Self

import orjson
import yaml  # type: ignore[import-untyped]

from apiserver.decoding import MAX_DEPTH, decode, go_json_kind, too_deep
from apiserver.gojson import quote_char, syntax_error
from apiserver.kinds.base import Kind, Obj
from apiserver.schema import Array, Map, Object, Schema

FIND_KIND_TYPE = 'struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }'

# Kinds kube-apiserver's scheme knows besides ours, by group-version (its served resources, and the
# EndpointSlice of discovery.k8s.io/v1beta1): a body of one of these is "converted" and refused
# with `unknown conversion`, any other with `no kind "X" is registered`.
REGISTERED: dict[str, frozenset[str]] = {gv: frozenset(kinds.split()) for gv, kinds in {
    "v1": "Binding ComponentStatus ConfigMap Endpoints Event LimitRange Namespace Node PersistentVolume "
          "PersistentVolumeClaim Pod PodTemplate ReplicationController ResourceQuota Secret Service ServiceAccount",
    "apps/v1": "ControllerRevision DaemonSet Deployment ReplicaSet StatefulSet",
    "batch/v1": "CronJob Job",
    "coordination.k8s.io/v1": "Lease",
    "discovery.k8s.io/v1": "EndpointSlice",
    "discovery.k8s.io/v1beta1": "EndpointSlice",
    "events.k8s.io/v1": "Event",
    "networking.k8s.io/v1": "Ingress IngressClass NetworkPolicy",
    "policy/v1": "PodDisruptionBudget",
    "rbac.authorization.k8s.io/v1": "ClusterRole ClusterRoleBinding Role RoleBinding",
}.items()}


class JSONCompatibleLoader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):  # type: ignore[misc]
    """YAML as Kubernetes reads it: timestamps stay strings, as they do when YAML is converted to JSON."""


JSONCompatibleLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

# More digits than any finite float64 has: go-yaml can read such an integer neither as an int nor as a
# float, so it stays a string (and Python's int() would refuse it past 4300 digits anyway).
_MAX_NUMBER_DIGITS = 400


def _construct_int(loader: JSONCompatibleLoader, node: yaml.ScalarNode) -> Any:
    if len(node.value) > _MAX_NUMBER_DIGITS:
        return node.value
    return loader.construct_yaml_int(node)


JSONCompatibleLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


class GoNumber(float):
    """A JSON integer too long for Python's int(): a float out of every integer range, shown as its text
    (`json: cannot unmarshal number 99…9 into Go struct field … of type int32`)."""

    text: str

    def __new__(cls, text: str) -> Self:
        number = super().__new__(cls, float(text))
        number.text = text
        return number

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__


def _parse_int(text: str) -> int | GoNumber:
    return GoNumber(text) if len(text) > _MAX_NUMBER_DIGITS else int(text)


class DecodeError(Exception):
    """A body the codec refused: `message` is the whole Status message (a 400 unless said otherwise)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def summarize(body: bytes, limit: int = 30) -> str:
    """upstream's summarizeData: a JSON object's text, anything else in hex, cut at `limit` bytes."""
    if not body:
        return "<empty>"
    head = body[:limit]
    shown = head.decode("utf-8", "replace") if body[:1] == b"{" else head.hex()
    return shown + " ..." if len(body) > limit else shown


def unrecognized(kind: Kind, error: str, body: bytes) -> DecodeError:
    return DecodeError(f"the object provided is unrecognized (must be of type {kind.kind}): {error} ({summarize(body)})")


def cannot_handle(kind: Kind, body_kind: str, body_version: str, error: str) -> DecodeError:
    return DecodeError(f'{body_kind} in version "{body_version}" cannot be handled as a {kind.kind}: {error}')


def parse_json(body: bytes) -> Any:
    """A JSON body as Go's json.Unmarshal reads it; `DecodeError` with Go's syntax error text."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    else:  # nesting: only a body with more brackets than the limit can go past it
        bracket = too_deep(value) if body.count(b"{") + body.count(b"[") > MAX_DEPTH else None
        if bracket is not None:
            raise DecodeError(f"invalid character {quote_char(ord(bracket))} exceeded max depth")
        return value
    error = syntax_error(body)
    if error is None:  # valid for Go, refused by orjson (bad UTF-8, a huge number): Python's parser is laxer
        try:
            return json.loads(body.decode("utf-8", "replace"), parse_int=_parse_int)
        except ValueError as err:
            error = str(err)
    raise DecodeError(error)


def parse_yaml(body: bytes) -> Any:
    """The first YAML document of `body` (sigs.k8s.io/yaml ignores the rest); `DecodeError` with go-yaml's text."""
    check_yaml_shape(body)
    loader = JSONCompatibleLoader(body)
    try:
        node = loader.get_node() if loader.check_node() else None
        return _string_keys(loader.construct_document(node)) if node is not None else None
    except yaml.MarkedYAMLError as err:
        raise DecodeError(go_yaml_error(err)) from None
    except yaml.YAMLError as err:
        raise DecodeError(f"yaml: {err}") from None
    finally:
        loader.dispose()


# Aliases may not expand the document past the largest body a request may send (upstream's 3 MiB).
MAX_EXPANDED_BYTES = 3 * 1024 * 1024
_EXCESSIVE = "yaml: document contains excessive aliasing"


def _alias_ratio(decoded: int) -> float:
    """go-yaml's allowedAliasRatio: 99 % of the nodes decoded may come from aliases up to 400,000 of them,
    falling linearly to 10 % at 4,000,000."""
    if decoded <= 400_000:
        return 0.99
    if decoded >= 4_000_000:
        return 0.10
    return 0.99 - 0.89 * (decoded - 400_000) / 3_600_000


class _Aliasing:
    """go-yaml's counters while decoding: every node decoded (an alias's target once per alias), and those
    decoded through an alias. Its decoder fails as soon as both pass their floor and the share of aliased
    nodes passes `_alias_ratio`; within one alias's expansion the share only grows, so checking after it suffices."""

    def __init__(self) -> None:
        self.decoded = 0
        self.aliased = 0

    def add(self, decoded: int, aliased: int = 0) -> None:
        self.decoded += decoded
        self.aliased += aliased
        if self.aliased > 100 and self.decoded > 1000 and self.aliased / self.decoded > _alias_ratio(self.decoded):
            raise DecodeError(_EXCESSIVE)


def check_yaml_shape(body: bytes) -> None:
    """Refuse, before anything is composed, the first YAML document of `body` when it nests deeper than
    `MAX_DEPTH` (libyaml's composer recurses in C: a deep enough document crashes the process; go-yaml
    stops at 10000), when its aliases amplify it as go-yaml refuses (`document contains excessive
    aliasing`), or expand it past `MAX_EXPANDED_BYTES` (go-yaml would decode that; kube-apiserver then
    answers with every copy, e.g. a 1 MB string aliased in 60 labels makes a 61 MB 422), or when an alias
    refers to a node that contains it. Syntax errors are left to the parser proper, which words them.

    One pass over libyaml's events, each open collection counting its nodes and scalar bytes so an anchor's
    expansion is known when an alias names it.
    """
    loader = JSONCompatibleLoader(body)
    open_: list[list[Any]] = []  # per open collection: [nodes, bytes, anchor]
    anchors: dict[str, tuple[int, int]] = {}  # anchor -> (nodes, bytes) of its node
    counts = _Aliasing()
    expanded = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.DocumentEndEvent):
                return
            if isinstance(event, yaml.DocumentStartEvent):
                counts.add(1)
            elif isinstance(event, yaml.AliasEvent):
                if any(frame[2] == event.anchor for frame in open_):
                    raise DecodeError(f"yaml: anchor '{event.anchor}' value contains itself")
                nodes, size = anchors.get(event.anchor, (0, 0))
                counts.add(1)
                counts.add(nodes, nodes)
                expanded += size
                if open_:
                    open_[-1][0] += 1 + nodes
                    open_[-1][1] += size
            elif isinstance(event, yaml.ScalarEvent):
                counts.add(1)
                expanded += len(event.value)
                if event.anchor:
                    anchors[event.anchor] = (1, len(event.value))
                if open_:
                    open_[-1][0] += 1
                    open_[-1][1] += len(event.value)
            elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                counts.add(1)
                open_.append([1, 0, event.anchor])
                if len(open_) > MAX_DEPTH:
                    raise DecodeError(f"yaml: line {event.start_mark.line + 1}: exceeded max depth of {MAX_DEPTH}")
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                nodes, size, anchor = open_.pop()
                if anchor:
                    anchors[anchor] = (nodes, size)
                if open_:
                    open_[-1][0] += nodes
                    open_[-1][1] += size
            if expanded > MAX_EXPANDED_BYTES:
                raise DecodeError(_EXCESSIVE)
    except yaml.YAMLError:
        return
    finally:
        loader.dispose()


def _string_keys(value: Any) -> Any:
    """Mapping keys as YAMLToJSON writes them: `1: a` has the key "1", `true: a` the key "true"."""
    if isinstance(value, dict):
        return {_key_text(key): _string_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_string_keys(item) for item in value]
    return value


def _key_text(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    return "null" if key is None else repr(key)


def go_yaml_error(err: yaml.MarkedYAMLError) -> str:
    """go-yaml's `yaml: line N: <problem>`: the 0-based line of the problem (1-based for scanner errors)."""
    line = 0
    if err.problem_mark is not None and err.problem_mark.line:
        line = err.problem_mark.line + (1 if isinstance(err, yaml.scanner.ScannerError) else 0)
    elif err.context_mark is not None:
        line = err.context_mark.line
    where = f"line {line}: " if line else ""
    return f"yaml: {where}{err.problem or 'unknown problem parsing YAML content'}"


def yaml_duplicates(body: bytes) -> list[str]:
    """go-yaml's strict errors for keys repeated in a mapping of the first document: `line 5: key "a" already set in map`."""
    loader = JSONCompatibleLoader(body)
    try:
        node = loader.get_node() if loader.check_node() else None
    except yaml.YAMLError:
        return []
    finally:
        loader.dispose()
    found: list[str] = []
    stack = [node] if node is not None else []
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        found.append(f"line {key.start_mark.line + 1}: key {json.dumps(key.value)} already set in map")
                    seen.add(key.value)
                stack.append(value)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
    return sorted(found, key=lambda text: int(text.split(":")[0][5:]))


def check_gvk(kind: Kind, obj: Any, body: bytes) -> tuple[str, str]:
    """The body's apiVersion and kind (defaulted from `kind`), or `DecodeError` as the codec words it."""
    if not isinstance(obj, dict):
        what = go_json_kind(obj)
        raise unrecognized(kind, f"couldn't get version/kind; json parse error: json: cannot unmarshal {what} into "
                                 f"Go value of type {FIND_KIND_TYPE}", body)
    for field in ("apiVersion", "kind"):
        if obj.get(field) is not None and not isinstance(obj[field], str):
            raise unrecognized(kind, f"couldn't get version/kind; json parse error: json: cannot unmarshal "
                                     f"{go_json_kind(obj[field])} into Go struct field .{field} of type string", body)
    api_version = obj.get("apiVersion") or kind.api_version
    body_kind = obj.get("kind") or kind.kind
    error = gvk_error(kind, api_version, body_kind)
    if error:
        raise cannot_handle(kind, body_kind, api_version.rpartition("/")[2], error)
    if api_version != kind.api_version:  # another version of the kind: a create or update must send ours
        raise DecodeError(f"the API version in the data ({api_version}) does not match the expected API version "
                          f"({kind.api_version})")
    return api_version, body_kind


def gvk_error(kind: Kind, api_version: str, body_kind: str) -> str | None:
    """The scheme's error for an object of `api_version`/`body_kind` read as a `kind`, None if it converts:
    an unknown kind is not registered, a known one has no conversion (another version of `kind` converts)."""
    if (api_version, body_kind) == (kind.api_version, kind.kind):
        return None
    group, _, version = api_version.rpartition("/")
    if body_kind not in REGISTERED.get(api_version, ()):
        return f'no kind "{body_kind}" is registered for version "{api_version}" in scheme "pkg/runtime/scheme.go:100"'
    if body_kind == kind.kind and group == kind.group:
        return None
    internal = kind.group.split(".")[0] if kind.group else "core"
    return f"converting ({version}.{body_kind}) to ({internal}.{kind.kind}): unknown conversion"


_SPACED_KEY = re.compile(rb'"[ \t\r\n]+:')


def may_repeat_keys(body: bytes, obj: Any) -> bool:
    """False when the JSON `body`, parsed into `obj`, surely repeats no key in an object.

    Re-encoding `obj` compactly shows the keys left once duplicates collapsed: a body that is that
    encoding (clients sending compact JSON) lost none; otherwise a body with as many `":` as it
    lost none, unless a key is spaced from its colon (then `":` undercounts the body's keys). A
    false alarm only costs the exact check.
    """
    try:
        dumped = orjson.dumps(obj)
    except TypeError:  # a GoNumber: the exact check can count
        return True
    if dumped == body:
        return False
    return body.count(b'":') != dumped.count(b'":') or _SPACED_KEY.search(body) is not None


def strict_errors(body: bytes, schema: Object | None) -> list[str]:
    """sigs.k8s.io/json's strict errors for a JSON object body, in document order: duplicate and unknown fields."""
    found: list[str] = []
    document = json.loads(body.decode("utf-8", "replace"), object_pairs_hook=_Pairs, parse_int=_parse_int)
    _strict(document, schema, "", found)
    return found


class _Pairs(list):  # type: ignore[type-arg]
    """An object's key/value pairs as written, duplicates kept."""


def _strict(value: Any, node: Schema | None, path: str, found: list[str]) -> None:
    """Unknown fields are those an Object node lacks; with no node (a patch, a free value) only duplicates count."""
    if isinstance(value, _Pairs):
        seen: set[str] = set()
        for key, item in value:
            child_path = f"{path}.{key}" if path else key
            child: Schema | None = None
            if isinstance(node, Object):
                child = node.properties.get(key)
                if child is None:
                    found.append(f"unknown field {json.dumps(child_path, ensure_ascii=False)}")
                    continue
            elif isinstance(node, Map):
                child = node.values
            if key in seen:
                found.append(f"duplicate field {json.dumps(child_path, ensure_ascii=False)}")
            seen.add(key)
            _strict(item, child, child_path, found)
    elif isinstance(value, list):
        items = node.items if isinstance(node, Array) else None
        for index, item in enumerate(value):
            _strict(item, items, f"{path}[{index}]", found)


YAML_TYPES = ("application/yaml", "text/yaml", "application/apply-patch+yaml")


def decode_object(kind: Kind, body: bytes, media: str, validation: str) -> tuple[Obj, list[str]]:
    """A create or update body as the codec decodes it: `(object, strict errors)`.

    The object is type-checked, pruned of unknown fields and defaulted (`decoding.decode`); the strict
    errors (duplicate and unknown fields, in upstream's order) are for the caller to refuse or warn
    about per fieldValidation ("Ignore": none are looked for). Raises `DecodeError` (400).
    """
    is_yaml = media in YAML_TYPES
    try:
        obj = parse_yaml(body) if is_yaml else parse_json(body)
    except DecodeError as err:
        raise unrecognized(kind, err.message if is_yaml else f"couldn't get version/kind; json parse error: "
                                                             f"{err.message}", body) from None
    if obj is None:
        obj = {}
    check_gvk(kind, obj, body)
    repeats = validation != "Ignore" and not is_yaml and may_repeat_keys(body, obj)
    mismatch, unknown = decode(obj, kind.schema, kind.kind)
    if mismatch:
        raise cannot_handle(kind, kind.kind, kind.version, mismatch)
    if validation == "Ignore":
        return obj, []
    if repeats:
        return obj, strict_errors(body, kind.schema)
    duplicates = yaml_duplicates(body) if is_yaml else []
    if duplicates and validation == "Strict":
        return obj, ["yaml: unmarshal errors:\n  " + "\n  ".join(duplicates), *unknown]
    return obj, duplicates + unknown


MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def decode_patch(media: str, body: bytes, validation: str) -> tuple[Any, list[str]]:
    """A patch body as upstream's patchers read it: `(patch, strict errors of the patch itself)`.

    With fieldValidation Strict or Warn the JSON patches are first decoded strictly (duplicate
    fields become strict errors, a body of the wrong shape is `error decoding patch: …`); an apply
    configuration is YAML, whose duplicate keys fail a Strict apply. Raises `DecodeError` (400).
    """
    strict = validation in ("Strict", "Warn")
    if media == APPLY_PATCH:
        try:
            config = parse_yaml(body)
        except DecodeError as err:
            raise DecodeError(f"error decoding YAML: error converting YAML to JSON: {err.message}") from None
        duplicates = yaml_duplicates(body) if validation == "Strict" else []
        if duplicates:
            raise DecodeError("error strict decoding YAML: error converting YAML to JSON: yaml: unmarshal errors:\n  "
                              + "\n  ".join(duplicates))
        return config, []
    prefix = "" if media == STRATEGIC_PATCH else "error decoding patch: "
    try:
        patch = parse_json(body)
    except DecodeError as err:
        raise DecodeError(prefix + err.message) from None
    if media == JSON_PATCH:
        if strict:
            if not isinstance(patch, list):
                raise DecodeError(f"{prefix}json: cannot unmarshal {go_json_kind(patch)} into Go value of type "
                                  "[]handlers.jsonPatchOp")
            for op in patch:
                if not isinstance(op, dict):
                    raise DecodeError(f"{prefix}json: cannot unmarshal {go_json_kind(op)} into Go value of type "
                                      "handlers.jsonPatchOp")
        return patch, []
    if not isinstance(patch, dict) and (strict or media == STRATEGIC_PATCH):
        what = go_json_kind(patch)
        raise DecodeError(f"{prefix}json: cannot unmarshal {what} into Go value of type map[string]interface {{}}")
    if strict and may_repeat_keys(body, patch):
        return patch, strict_errors(body, None)
    return patch, []


def typed_patch_errors(config: Obj, schema: Object) -> list[str]:
    """structured-merge-diff's complaints about an apply configuration's unknown fields, sorted by path
    (`.spec.containers[name="c"].zz: field not declared in schema`); atomic structs are not looked into."""
    found: list[str] = []
    _typed(config, schema, "", found)
    return sorted(found)


def _typed(value: Any, node: Schema | None, path: str, found: list[str]) -> None:
    if isinstance(node, Object) and isinstance(value, dict) and not node.atomic:
        for key, item in value.items():
            child = node.properties.get(key)
            if child is None:
                found.append(f"{path}.{key}: field not declared in schema")
            else:
                _typed(item, child, f"{path}.{key}", found)
    elif isinstance(node, Map) and isinstance(value, dict):
        for key, item in value.items():
            _typed(item, node.values, f"{path}.{key}", found)
    elif isinstance(node, Array) and isinstance(value, list):
        for index, item in enumerate(value):
            where = f"[{index}]"
            if node.list_type == "map" and isinstance(item, dict):
                where = "[" + ",".join(f"{key}={json.dumps(item.get(key))}" for key in node.map_keys) + "]"
            _typed(item, node.items, path + where, found)
