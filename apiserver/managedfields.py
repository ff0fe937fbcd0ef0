"""Field ownership (`metadata.managedFields`) in the model of sigs.k8s.io/structured-merge-diff.

A field set is a set of paths; a path is a tuple of serialized path elements, exactly the keys of
`fieldsV1`: `f:<field>` (object field or map key), `k:<json>` (map-list item by its keys),
`v:<json>` (set-list item) and `i:<n>` (index; only read, never produced). What is a path follows
the schema: scalars, atomic lists and atomic structs are single leaves; set/map-list items and map
entries are members themselves and may have children (`"."` in fieldsV1); objects only hold their
fields. `null` counts as unset when comparing objects (as in Go, where nil and omitted serialize
alike).

`update_managed_fields` records an Update-operation write; server-side apply is `apiserver.patch.apply`.
Both work on plain JSON dicts and keep an unchanged managedFields list byte-identical.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import orjson

from apiserver.gojson import syntax_error
from apiserver.schema import JSON, Array, Boolean, Integer, IntOrString, Map, Object, Schema, String

PathElement = str
Path = tuple[PathElement, ...]
FieldSet = frozenset[Path]

EMPTY: FieldSet = frozenset()

# Metadata the server owns: ignored in applied configurations and never recorded as owned.
SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
# Fields that identify the object: merged like any other but, as upstream's stripMeta, never recorded.
_UNRECORDED = frozenset({("f:apiVersion",), ("f:kind",), ("f:metadata",), ("f:metadata", "f:name"),
                         ("f:metadata", "f:namespace")})
_UNRECORDED_TREES = frozenset(("f:metadata", f"f:{name}") for name in SERVER_METADATA)

FIELD_MANAGER_MAX_LENGTH = 128


class FieldSetError(ValueError):
    """An object that cannot be described by its schema (e.g. a map-list item without a key)."""


# ---------------------------------------------------------------------------------------------
# Path elements


def _json(value: Any) -> str:
    """Compact JSON with sorted keys, as SMD serializes key and value path elements."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _value_order(value: Any) -> tuple[Any, ...]:
    """SMD's total order of values: numbers, strings, booleans, lists, maps, null."""
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, (int, float)):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, list):
        return (3, tuple(_value_order(v) for v in value))
    if isinstance(value, dict):
        return (4, tuple((k, _value_order(value[k])) for k in sorted(value)))
    return (5,)


def _element_order(pe: PathElement) -> tuple[Any, ...]:
    """Sort key of a path element: fields (by name), then keys, values, indexes (SMD's Compare)."""
    kind, body = pe[0], pe[2:]
    if kind == "f":
        return (0, body)
    if kind == "k":
        fields = json.loads(body)
        return (1, tuple((k, _value_order(fields[k])) for k in sorted(fields)))
    if kind == "v":
        return (2, _value_order(json.loads(body)))
    return (3, int(body))


def _go_quote(value: Any) -> str:
    """Go's value.ToString: strings quoted, other scalars as Go prints them."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return _json(value)


def element_string(pe: PathElement) -> str:
    """SMD's human form of one element: `.name`, `[port=80,protocol="TCP"]`, `[=value]`, `[3]`."""
    kind, body = pe[0], pe[2:]
    if kind == "f":
        return "." + body
    if kind == "k":
        fields = json.loads(body)
        return "[" + ",".join(f"{k}={_go_quote(fields[k])}" for k in sorted(fields)) + "]"
    if kind == "v":
        return f"[={_go_quote(json.loads(body))}]"
    return f"[{body}]"


def path_string(path: Path) -> str:
    """A path as upstream prints it in conflicts, e.g. `.spec.ports[port=80,protocol="TCP"].name`."""
    return "".join(element_string(pe) for pe in path)


def _key_element(item: Any, node: Array) -> PathElement:
    """The `k:` element of a map-list item; a missing key takes its schema default as upstream does."""
    if not isinstance(item, dict):
        raise FieldSetError(f"associative list with keys has an element that is not a map: {_json(item)}")
    props = node.items.properties if isinstance(node.items, Object) else {}
    fields: dict[str, Any] = {}
    for key in node.map_keys:
        if key in item and item[key] is not None:
            fields[key] = item[key]
            continue
        default = getattr(props.get(key), "default", None)
        if default is None:
            raise FieldSetError(f'associative list with keys has an element that omits key field "{key}" '
                                "(and doesn't have default value)")
        fields[key] = default
    return "k:" + _json(fields)


def item_element(item: Any, node: Array) -> PathElement:
    """The path element of an item of a set or map list."""
    if node.list_type == "map":
        return _key_element(item, node)
    return "v:" + _json(item)


def _canonical_element(key: str) -> PathElement | None:
    """A fieldsV1 key re-serialized canonically, or None for element types we do not know."""
    kind = key[:2]
    if kind == "f:" or kind == "i:":
        return key
    if kind == "k:":
        fields = _element_json(key)
        if not isinstance(fields, dict):
            raise FieldSetError(f"invalid key path element {key!r}")
        return "k:" + _json(fields)
    if kind == "v:":
        return "v:" + _json(_element_json(key))
    return None


def _element_json(key: str) -> Any:
    """The JSON of a `k:` or `v:` element; nesting past `decoding.MAX_DEPTH` is invalid before json.loads recurses."""
    error = syntax_error(key[2:].encode("utf-8", "surrogateescape"))
    if error and "exceeded max depth" in error:
        raise FieldSetError(f"invalid path element {key!r}: {error}")
    return json.loads(key[2:])


# ---------------------------------------------------------------------------------------------
# Field sets from objects


def granular(node: Schema | None) -> bool:
    """Whether a node is owned piece by piece: non-atomic objects and maps, set and map lists."""
    if isinstance(node, (Object, Map)):
        return not node.atomic
    if isinstance(node, Array):
        return node.list_type != "atomic"
    return False


def _is_leaf(node: Schema | None, value: Any) -> bool:
    """Whether `value` is owned as one unit: not granular, or not of the JSON type its node expects."""
    if not granular(node):
        return True
    return value is not None and not isinstance(value, list if isinstance(node, Array) else dict)


def child_schema(node: Schema | None, key: str) -> Schema | None:
    """The node of field or map key `key` below `node` (None when unknown)."""
    if isinstance(node, Object):
        return node.properties.get(key)
    if isinstance(node, Map):
        return node.values
    return None


def _collect(value: Any, node: Schema | None, path: Path, out: set[Path]) -> None:
    """SMD's ToFieldSet below `path`: leaves; map entries, null and `{}` fields; list items (a duplicated
    item as itself only, without its fields)."""
    if _is_leaf(node, value):
        out.add(path)
        return
    if value is None:
        return
    assert node is not None
    if isinstance(value, dict):
        for key, child in value.items():
            child_path = path + ("f:" + key,)
            _collect(child, child_schema(node, key), child_path, out)
            if child is None or child == {} or not isinstance(node, Object) or key not in node.properties:
                out.add(child_path)
        return
    assert isinstance(node, Array)
    seen: set[PathElement] = set()
    duplicates: set[PathElement] = set()
    for item in value:
        pe = item_element(item, node)
        (duplicates if pe in seen else seen).add(pe)
    for item in value:
        pe = item_element(item, node)
        if pe not in duplicates:
            _collect(item, node.items, path + (pe,), out)
        out.add(path + (pe,))


def _recorded(fs: Iterable[Path]) -> FieldSet:
    """`fs` without the fields the server manages (upstream's stripMeta, applied to whole subtrees)."""
    return frozenset(p for p in fs if p not in _UNRECORDED and p[:2] not in _UNRECORDED_TREES)


def field_set(obj: JSON, schema: Object) -> FieldSet:
    """The paths `obj` sets (SMD's ToFieldSet), without server-managed metadata."""
    out: set[Path] = set()
    _collect(obj, schema, (), out)
    out.discard(())
    return _recorded(out)


def reset_filter(fs: FieldSet, reset: FieldSet) -> FieldSet:
    """`fs` without the paths under a strategy's reset fields (upstream's ExcludeFilter: RecursiveDifference)."""
    if not reset:
        return fs
    return frozenset(p for p in fs if not any(p[: len(r)] == r for r in reset))


# ---------------------------------------------------------------------------------------------
# Objects as Go serialises them


def _zero(node: Schema | None) -> Any:
    """The zero value Go serialises for an always-present field: `{}` filled for structs, scalars' zeros, else null."""
    if isinstance(node, Object):
        return go_form({}, node)
    if isinstance(node, String):
        return ""
    if isinstance(node, (Integer, IntOrString)):
        return 0
    if isinstance(node, Boolean):
        return False
    return None


def _go_fields(value: JSON, node: Object) -> JSON:
    """One level of `go_form`: the object's own fields as Go serialises them, the values below left as they are."""
    out: JSON = {}
    for key, child in value.items():
        child_node = node.properties.get(key)
        if key in node.always:
            out[key] = _zero(child_node) if child is None else child
        elif child is None or (child == [] or child == {}) and isinstance(child_node, (Array, Map)):
            continue
        else:
            out[key] = child
    for key in node.always:
        if key not in out:
            out[key] = _zero(node.properties.get(key))
    return out


def go_form(value: Any, node: Schema | None) -> Any:
    """`value` as kube-apiserver sees it after decoding into its Go type: empty optional fields (null, `[]`, `{}` of
    lists and maps) dropped, fields Go always serialises (`Object.always`) present, absent ones as their zero value.
    Scalars are taken as pointers (an optional `""`, `0` or `false` stays). A copy; the input is not changed."""
    if isinstance(value, dict):
        if isinstance(node, Object):
            return {key: go_form(child, node.properties.get(key)) for key, child in _go_fields(value, node).items()}
        if isinstance(node, Map):
            return {key: go_form(child, node.values) for key, child in value.items()}
        return value
    if isinstance(value, list) and isinstance(node, Array):
        return [go_form(item, node.items) for item in value]
    return value


def go_equal(a: Any, b: Any, node: Schema | None) -> bool:
    """Whether `go_form(a, node) == go_form(b, node)`, level by level and only where the JSON differs (so an
    unchanged or plainly changed list of a hundred endpoints costs one comparison, not two copies)."""
    if json_equal(a, b):
        return True
    if isinstance(a, list) and isinstance(b, list) and isinstance(node, Array):
        return len(a) == len(b) and all(go_equal(x, y, node.items) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        if isinstance(node, Object):
            a, b = _go_fields(a, node), _go_fields(b, node)
            return a.keys() == b.keys() and all(go_equal(v, b[k], node.properties.get(k)) for k, v in a.items())
        if isinstance(node, Map):
            return a.keys() == b.keys() and all(go_equal(v, b[k], node.values) for k, v in a.items())
    return False


@dataclass(frozen=True)
class Comparison:
    """What changed from an old object to a new one, as field sets (SMD's typed Comparison)."""

    added: FieldSet
    modified: FieldSet
    removed: FieldSet

    @property
    def changed(self) -> FieldSet:
        return self.added | self.modified

    def is_same(self) -> bool:
        return not (self.added or self.modified or self.removed)

    def without(self, reset: FieldSet) -> Comparison:
        """The comparison without the strategy's reset fields (SMD's FilterFields)."""
        if not reset:
            return self
        return Comparison(reset_filter(self.added, reset), reset_filter(self.modified, reset),
                          reset_filter(self.removed, reset))


def json_equal(a: Any, b: Any) -> bool:
    """Deep JSON equality that, unlike `==`, tells booleans from numbers.

    Equal JSON values are `==`, so `!=` settles most pairs of containers at C speed. For `==` ones,
    equal compact JSON texts mean equal types too, unless a `null` in them stands for a NaN
    (which `==` matches only by identity); anything else takes the exact walk.
    """
    if type(a) in _CONTAINERS and type(b) in _CONTAINERS:
        if a != b:
            return False
        try:
            text = orjson.dumps(a, option=_EXACT_TYPES)
            if b"null" not in text and text == orjson.dumps(b, option=_EXACT_TYPES):
                return True
        except orjson.JSONEncodeError:
            pass
    return _json_equal(a, b)


_CONTAINERS = (dict, list)
# Types orjson would otherwise write as JSON without telling them apart from plain values: these raise instead.
_EXACT_TYPES = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def _json_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def keyed_items(value: Any, node: Array) -> dict[PathElement, Any]:
    """A granular list's items by path element; the first of duplicates wins."""
    out: dict[PathElement, Any] = {}
    for item in value or ():
        if item is not None:
            out.setdefault(item_element(item, node), item)
    return out


def _grouped(value: Any, node: Array) -> dict[PathElement, list[Any]]:
    """A granular list's items grouped by path element, in first-seen order."""
    out: dict[PathElement, list[Any]] = {}
    for item in value or ():
        out.setdefault(item_element(item, node), []).append(item)
    return out


class _Absent:
    """A field that is not there at all, unlike one that is `null` (SMD's nil Value)."""


ABSENT: Any = _Absent()


def _empty(value: Any) -> bool:
    return value is ABSENT or value is None or (isinstance(value, (dict, list)) and not value)


class _Comparer:
    """SMD's compareWalker: `ABSENT` is a missing field, `None` a present null. With `go`, objects are taken
    as Go serialises them (`go_form`), one level at a time as the walk reaches them."""

    def __init__(self, go: bool) -> None:
        self.go = go
        self.added: set[Path] = set()
        self.modified: set[Path] = set()
        self.removed: set[Path] = set()

    def leaf(self, old: Any, new: Any, node: Schema | None, path: Path) -> None:
        if old is ABSENT:
            self.added.add(path)
        elif new is ABSENT:
            self.removed.add(path)
        elif not (go_equal(old, new, node) if self.go else json_equal(old, new)):
            self.modified.add(path)

    def compare(self, old: Any, new: Any, node: Schema | None, path: Path) -> None:
        if self.go and isinstance(node, Object) and not node.atomic:
            old = _go_fields(old, node) if isinstance(old, dict) else old
            new = _go_fields(new, node) if isinstance(new, dict) else new
        value = new if new is not ABSENT else old
        if _is_leaf(node, value) or (old is not ABSENT and _is_leaf(node, old)) or (_empty(old) and _empty(new)):
            # scalars, atomic nodes, and empty or null containers, so that `[]` and null stay distinct
            self.leaf(old, new, node, path)
            return
        assert node is not None
        if isinstance(node, Array):
            self.items(old, new, node, path)
        else:
            old_map = old if isinstance(old, dict) else {}
            new_map = new if isinstance(new, dict) else {}
            for key in old_map.keys() | new_map.keys():
                self.compare(old_map.get(key, ABSENT), new_map.get(key, ABSENT), child_schema(node, key),
                             path + ("f:" + key,))
        if path:
            if old is ABSENT:
                self.added.add(path)
            elif new is ABSENT:
                self.removed.add(path)

    def items(self, old: Any, new: Any, node: Array, path: Path) -> None:
        old_items, new_items = _grouped(old if isinstance(old, list) else (), node), \
            _grouped(new if isinstance(new, list) else (), node)
        for pe in old_items.keys() | new_items.keys():
            lhs, rhs = old_items.get(pe, []), new_items.get(pe, [])
            item_path = path + (pe,)
            if len(lhs) <= 1 and len(rhs) <= 1:
                self.compare(lhs[0] if lhs else ABSENT, rhs[0] if rhs else ABSENT, node.items, item_path)
            elif len(lhs) >= 2 and len(rhs) >= 2:
                if not json_equal(lhs, rhs):
                    self.modified.add(item_path)
            elif len(lhs) >= 2:
                if rhs:
                    self.compare(ABSENT, rhs[0], node.items, item_path)
                self.removed.add(item_path)
            else:
                if lhs:
                    self.compare(lhs[0], ABSENT, node.items, item_path)
                self.added.add(item_path)


def compare(old: JSON, new: JSON, schema: Object, go: bool = False) -> Comparison:
    """The fields added, modified and removed from `old` to `new` (SMD's Compare), without server-managed
    metadata; with `go`, of the objects as Go serialises them (`go_form`), else as they are."""
    comparer = _Comparer(go)
    comparer.compare(old, new, schema, ())
    return Comparison(_recorded(comparer.added), _recorded(comparer.modified), _recorded(comparer.removed))


# ---------------------------------------------------------------------------------------------
# fieldsV1


def _tree(fs: Iterable[Path]) -> dict[PathElement, Any]:
    """Nested dicts of path elements; `"."` marks a prefix that is itself a member."""
    root: dict[PathElement, Any] = {}
    for path in fs:
        node = root
        for pe in path:
            node = node.setdefault(pe, {})
        node["."] = {}
    return root


def _emit(node: dict[PathElement, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    children = sorted((k for k in node if k != "."), key=_element_order)
    if "." in node and children:
        out["."] = {}
    for pe in children:
        out[pe] = _emit(node[pe])
    return out


def to_fields_v1(fs: Iterable[Path]) -> dict[str, Any]:
    """Encode a field set as fieldsV1: elements in SMD order, `"."` first where a member has children."""
    return _emit(_tree(fs))


def from_fields_v1(fields: Any) -> FieldSet:
    """Decode fieldsV1; unknown element types are dropped, as upstream does."""
    if not isinstance(fields, dict):
        raise FieldSetError("fieldsV1 must be a JSON object")
    out: set[Path] = set()
    _decode_fields(fields, (), out)
    return frozenset(out)


def _decode_fields(node: dict[str, Any], path: Path, out: set[Path]) -> None:
    """Add the paths of fieldsV1 `node` (at `path`) to `out`. A module function, not a closure: a recursive
    closure is a reference cycle, garbage the collector must find on every request."""
    for key, child in node.items():
        if key == ".":
            if path:
                out.add(path)
            continue
        try:
            pe = _canonical_element(key)
        except json.JSONDecodeError as exc:
            raise FieldSetError(f"invalid path element {key!r}: {exc}") from exc
        if pe is None:
            continue
        if not isinstance(child, dict):
            raise FieldSetError(f"fieldsV1 value at {key!r} must be a JSON object")
        if child:
            _decode_fields(child, path + (pe,), out)
        else:
            out.add(path + (pe,))


def iterate(fs: Iterable[Path]) -> Iterator[Path]:
    """Paths in SMD's Set.Iterate order: at each level the members first, then the children's subtrees."""
    members = set(fs)
    return _iterate(_tree(members), (), members)


def _iterate(node: dict[PathElement, Any], path: Path, members: set[Path]) -> Iterator[Path]:
    keys = sorted((k for k in node if k != "."), key=_element_order)
    for pe in keys:
        if path + (pe,) in members:
            yield path + (pe,)
    for pe in keys:
        yield from _iterate(node[pe], path + (pe,), members)


# ---------------------------------------------------------------------------------------------
# managedFields entries


@dataclass(frozen=True)
class Entry:
    """One managedFields entry; `raw` is the dict it was read from, reused while nothing changes."""

    manager: str
    operation: str
    api_version: str
    time: str | None
    subresource: str
    fields: FieldSet
    raw: JSON | None = None

    @cached_property
    def identity(self) -> str:
        """Upstream's manager identifier: the entry as JSON without time and fields (and apiVersion for Apply)."""
        ident: dict[str, str] = {}
        for key, value in (("manager", self.manager), ("operation", self.operation),
                           ("apiVersion", "" if self.operation == "Apply" else self.api_version),
                           ("subresource", self.subresource)):
            if value:
                ident[key] = value
        text = json.dumps(ident, separators=(",", ":"), ensure_ascii=False)
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")

    def with_fields(self, fields: FieldSet) -> Entry:
        return self if fields == self.fields else replace(self, fields=fields, raw=None)

    def encode(self) -> JSON:
        if self.raw is not None:
            return self.raw
        out: JSON = {"manager": self.manager, "operation": self.operation, "apiVersion": self.api_version}
        if self.time is not None:
            out["time"] = self.time
        out["fieldsType"] = "FieldsV1"
        out["fieldsV1"] = to_fields_v1(self.fields)
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def decode_entries(entries: Any) -> list[Entry]:
    """Parse a managedFields list; raises FieldSetError on anything upstream would refuse to decode."""
    if not isinstance(entries, list):
        raise FieldSetError("managedFields must be a list")
    out: list[Entry] = []
    seen: set[str] = set()
    for i, raw in enumerate(entries):
        if not isinstance(raw, dict):
            raise FieldSetError(f"managed fields entry {i} is not an object")
        operation = raw.get("operation")
        if operation not in ("Apply", "Update"):
            raise FieldSetError("operation must be `Apply` or `Update`")
        if not raw.get("apiVersion"):
            raise FieldSetError("apiVersion must not be empty")
        if raw.get("fieldsType") != "FieldsV1":
            raise FieldSetError(f"invalid fieldsType {raw.get('fieldsType')!r} in managed fields entry {i}")
        entry = Entry(
            manager=str(raw.get("manager", "")),
            operation=operation,
            api_version=str(raw["apiVersion"]),
            time=raw.get("time"),
            subresource=str(raw.get("subresource", "")),
            fields=_recorded(from_fields_v1(raw.get("fieldsV1", {}))),
            raw=raw,
        )
        if entry.identity in seen:
            raise FieldSetError(f"duplicate managed fields entry for {entry.identity}")
        seen.add(entry.identity)
        out.append(entry)
    return out


def _order(entry: Entry) -> tuple[str, str, str, str, str]:
    """Upstream's encoding order: Apply before Update, then by time, manager, apiVersion, subresource."""
    return (entry.operation, entry.time or "", entry.manager, entry.api_version, entry.subresource)


def finish_entries(meta: JSON, original: Any, before: list[Entry], after: list[Entry]) -> None:
    """Store `after` as `meta["managedFields"]`; when no entry changed, put back `original` untouched."""
    kept = [e for e in after if e.fields]
    if len(kept) == len(before) and all(e.raw is not None for e in kept):
        if original is None:
            meta.pop("managedFields", None)
        else:
            meta["managedFields"] = original
    elif kept:
        meta["managedFields"] = [e.encode() for e in sorted(kept, key=_order)]
    else:
        meta.pop("managedFields", None)


def strip_server_fields(obj: JSON) -> JSON:
    """A shallow copy of `obj` whose metadata lacks the server-managed fields."""
    out = dict(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        out["metadata"] = {k: v for k, v in meta.items() if k not in SERVER_METADATA}
    return out


def manager_name(field_manager: str | None, user_agent: str | None) -> str:
    """The `?fieldManager=`, else the User-Agent before its first `/`, printable chars, ≤128 bytes."""
    if field_manager:
        return field_manager
    out: list[str] = []
    size = 0
    for ch in (user_agent or "").split("/", 1)[0]:
        if not ch.isprintable():
            continue
        width = len(ch.encode())
        if size + width > FIELD_MANAGER_MAX_LENGTH:
            break
        out.append(ch)
        size += width
    return "".join(out)


def _is_reset(entries: Any) -> bool:
    """`managedFields: []` or `[{}]` in a write asks to reset ownership (upstream isResetManagedFields)."""
    return isinstance(entries, list) and (entries == [] or entries == [{}])


def base_entries(new_meta: JSON, old_meta: JSON, subresource: str = "") -> tuple[Any, list[Entry]]:
    """The managedFields a write starts from, raw and decoded (upstream decodeLiveOrNew).

    A write may set managedFields itself (`[]` or `[{}]` resets them), except through a subresource;
    when it sets none, or ones that do not decode, those of the stored object count. Stored ones that
    do not decode count as none.
    """
    requested = None if subresource else new_meta.get("managedFields")
    if _is_reset(requested):
        return None, []
    if requested:
        try:
            decoded = decode_entries(requested)
        except FieldSetError:
            decoded = []
        if decoded:
            return requested, decoded
    stored = old_meta.get("managedFields")
    try:
        return stored, decode_entries(stored or [])
    except FieldSetError:
        return None, []


def record_update(before: list[Entry], diff: Comparison, manager: Entry, now: str) -> list[Entry]:
    """The entries after an Update-operation write by `manager` (upstream's managedFieldsUpdater over SMD's
    Updater.Update): what the write added or changed becomes the manager's and leaves every other entry, what it
    removed leaves every entry, and the manager's time becomes `now` only if it took fields."""
    after: list[Entry] = []
    previous: Entry | None = None
    for entry in before:
        trimmed = entry.with_fields(entry.fields - diff.changed - diff.removed)
        if entry.identity == manager.identity:
            previous = trimmed
        else:
            after.append(trimmed)
    if diff.changed:
        after.append(replace(manager, time=now, fields=(previous.fields if previous else EMPTY) | diff.changed))
    elif previous is not None:
        after.append(previous)
    return after


MAX_UPDATE_MANAGERS = 10
ANCIENT_CHANGES = "ancient-changes"


def cap_update_managers(entries: list[Entry]) -> list[Entry]:
    """At most 10 Update entries (upstream's capManagersManager): past that the oldest are merged, per
    apiVersion, into an `ancient-changes` entry, which takes the time of the last update merged into it."""
    if sum(e.operation == "Update" for e in entries) <= MAX_UPDATE_MANAGERS:
        return entries
    updaters = sorted((e for e in entries if e.operation == "Update"), key=lambda e: (e.time or "", e.identity))
    out = {e.identity: e for e in entries}
    first: dict[str, Entry] = {}
    length = len(updaters)
    for entry in updaters:
        if length <= MAX_UPDATE_MANAGERS:
            break
        if entry.api_version not in first:
            first[entry.api_version] = entry
            continue
        bucket = Entry(ANCIENT_CHANGES, "Update", entry.api_version, None, "", EMPTY)
        oldest = out.pop(bucket.identity, None) or out.pop(first[entry.api_version].identity)
        del out[entry.identity]
        out[bucket.identity] = replace(bucket, time=entry.time, fields=oldest.fields | entry.fields)
        length -= 1
    return list(out.values())


def update_managed_fields(new: JSON, old: JSON | None, manager: str, api_version: str, schema: Object, now: str,
                          subresource: str = "", reset: FieldSet = EMPTY) -> None:
    """Record a create/update/patch made with operation Update in `new["metadata"]["managedFields"]`.

    `new` is the decoded, defaulted request and `old` the stored object (None on create, which counts
    as the kind's zero object), both taken as Go serialises them. `reset` are the strategy's reset
    fields (status on the main resource, spec on /status), which nobody gains or loses here. An
    update of an object that has no managedFields leaves it untracked (upstream's skipNonApplied);
    one that changes nothing leaves the list exactly as it was. If the object does not fit its
    schema the list is dropped, as upstream's UpdateNoErrors does.
    """
    meta = new.setdefault("metadata", {})
    old_meta = (old or {}).get("metadata") or {}
    original, before = base_entries(meta, old_meta, subresource)
    if not before and old_meta.get("uid"):
        meta.pop("managedFields", None)
        return
    try:
        diff = compare(strip_server_fields(old or {}), strip_server_fields(new), schema, go=True).without(reset)
    except FieldSetError:
        meta.pop("managedFields", None)
        return
    me = Entry(manager, "Update", api_version, None, subresource, EMPTY)
    finish_entries(meta, original, before, cap_update_managers(record_update(before, diff, me, now)))
