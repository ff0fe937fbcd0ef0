"""Schema walkers run on every write body: unknown fields, wrong types, defaults.

kube-apiserver decodes a body into its Go type with sigs.k8s.io/json. That decoder drops unknown
fields (reporting them as strict errors with a path such as `spec.ports[0].foo`), fails on the first
value of the wrong JSON type with an `UnmarshalTypeError`, and the scheme's defaulters then fill
unset fields. These functions reproduce the three steps on plain JSON dicts from a kind's schema.

`decode` is what the write path calls: one pass with walkers compiled once per schema node that
checks types and fills defaults, handing any body with a wrong type or an unknown field to the
three exact walkers (`check_types`, `prune_unknown`, `apply_defaults`), which word the errors.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from apiserver.kinds.quantity import parse_error
from apiserver.schema import Array, Boolean, Free, Integer, IntOrString, Map, Object, Quantity, Schema, String, Time
from apiserver.validation.field import go_quote

# sigs.k8s.io/json keeps at most this many strict errors per body.
MAX_STRICT_ERRORS = 100

# How deep a body may nest. Go's JSON scanner and go-yaml stop at 10000; every walker here (merge,
# strategic merge, apply, managedFields, defaulting) recurses one Python frame or more per level and
# orjson encodes at most 254 levels, so bodies are refused well before that. Kubernetes objects nest
# about 15 levels deep, their managedFields about as much.
MAX_DEPTH = 100

_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def decode(obj: dict[str, Any], schema: Object, kind_name: str) -> tuple[str | None, list[str]]:
    """Check types, prune unknown fields and apply defaults, in place: `(mismatch, unknown)`.

    `mismatch` is what `check_types` returns; when it is set nothing was pruned, the object may be
    partly defaulted and must be discarded. Otherwise `unknown` is what `prune_unknown` returns and
    the object is pruned and defaulted exactly as by `prune_unknown` then `apply_defaults`.
    """
    try:
        _object_walker(schema)(obj)
        return None, []
    except _Unusual:
        pass
    # Defaults already filled are correctly typed known fields: they change none of the results below.
    mismatch = check_types(obj, schema, kind_name)
    if mismatch:
        return mismatch, []
    unknown = prune_unknown(obj, schema)
    apply_defaults(obj, schema)
    return None, unknown


def prune_unknown(obj: dict[str, Any], schema: Object) -> list[str]:
    """Remove the fields `schema` does not know, in place, and describe them as upstream does.

    Returns one `unknown field "<path>"` per removed field, in document order (at most
    `MAX_STRICT_ERRORS`), where the path joins field names and map keys with "." and adds "[i]"
    for list items, e.g. `unknown field "endpoints[0].bogus"`. With fieldValidation=Strict the
    server answers 400 `strict decoding error: ` + ", ".join(result); with Warn it sends each as a
    Warning header. Values under `Free` nodes and values of the wrong type are left alone.
    """
    found: list[str] = []
    _prune(obj, schema, "", found)
    return found[:MAX_STRICT_ERRORS]


def _prune(value: Any, node: Schema, path: str, found: list[str]) -> None:
    if isinstance(node, Object) and isinstance(value, dict):
        for key in list(value):
            child = node.properties.get(key)
            child_path = f"{path}.{key}" if path else key
            if child is None and node.keep_unknown:
                continue
            if child is None:
                del value[key]
                found.append(f"unknown field {go_quote(child_path)}")  # %q, as upstream's strict decoder
            else:
                _prune(value[key], child, child_path, found)
    elif isinstance(node, Map) and isinstance(value, dict):
        for key, item in value.items():
            _prune(item, node.values, f"{path}.{key}" if path else key, found)
    elif isinstance(node, Array) and isinstance(value, list):
        for index, item in enumerate(value):
            _prune(item, node.items, f"{path}[{index}]", found)


def check_types(obj: dict[str, Any], schema: Object, kind_name: str) -> str | None:
    """The first value (in document order) whose JSON type does not fit its schema node, or None.

    The message has the shape of Go's `UnmarshalTypeError`, e.g. `json: cannot unmarshal string into
    Go struct field EndpointPort.ports.port of type int32`: the innermost struct (`kind_name` at the
    top, then the name from each node's `ref`), the field names from the top (list indices and map
    keys omitted) and the Go type. kube-apiserver answers it with 400, prefixed on create and update
    by `<Kind> in version "<version>" cannot be handled as a <Kind>: `. `null` is accepted anywhere;
    unknown fields are not looked at (they are `prune_unknown`'s concern).

    A quantity that does not parse is ParseQuantity's error (`quantities must match the regular expression…`),
    and it wins over a type error found before it: Go stops at it, where it only notes a type error and goes on.
    """
    found: list[str] = []
    try:
        _check(obj, schema, kind_name, [], found)
    except _BadQuantity as err:
        return str(err)
    return found[0] if found else None


class _BadQuantity(Exception):
    """A quantity Go cannot parse: its UnmarshalJSON fails, which ends the decoding."""


def _check(value: Any, node: Schema, struct: str, fields: list[str], found: list[str]) -> None:
    """Add each type error to `found` (Go notes the first and goes on past the value); raise a bad quantity."""
    if value is None or isinstance(node, Free):
        return
    if isinstance(node, Object):
        if not isinstance(value, dict):
            found.append(_mismatch(go_json_kind(value), _go_type(node), struct, fields))
            return
        name = node.ref.rsplit(".", 1)[-1] if node.ref and fields else struct
        for key, item in value.items():
            child = node.properties.get(key)
            if child is not None:
                _check(item, child, name, [*fields, key], found)
        return
    if isinstance(node, Map) and isinstance(value, dict):
        items, child = list(value.values()), node.values
    elif isinstance(node, Array) and isinstance(value, list):
        items, child = value, node.items
    elif isinstance(node, (Map, Array)):
        found.append(_mismatch(go_json_kind(value), _go_type(node), struct, fields))
        return
    else:
        error = _check_scalar(value, node, struct, fields)
        if error:
            found.append(error)
        return
    for item in items:
        _check(item, child, struct, fields, found)


def _check_scalar(value: Any, node: Schema, struct: str, fields: list[str]) -> str | None:
    kind = go_json_kind(value)
    if isinstance(node, Quantity):
        error = _quantity_error(value)
        if error:
            raise _BadQuantity(error)
        return None
    if isinstance(node, (String, Time)):
        return None if kind == "string" else _mismatch(kind, "string", struct, fields)
    if isinstance(node, Boolean):
        return None if kind == "bool" else _mismatch(kind, "bool", struct, fields)
    if isinstance(node, IntOrString) and kind == "string":
        return None
    if isinstance(node, (Integer, IntOrString)):
        go_type = node.format if isinstance(node, Integer) else "int32"
        if kind != "number":
            return _mismatch(kind, go_type, struct, fields)
        low, high = _INT_RANGES[go_type]
        if isinstance(value, float) or not low <= value <= high:
            return _mismatch(f"number {value}", go_type, struct, fields)
    return None


def _mismatch(kind: str, go_type: str, struct: str, fields: list[str]) -> str:
    return f"json: cannot unmarshal {kind} into Go struct field {struct}.{'.'.join(fields)} of type {go_type}"


def _go_type(node: Schema) -> str:
    """The Go type a node stands for, as reflect prints it (`[]v1.EndpointPort`, `map[string]string`)."""
    if isinstance(node, Array):
        return "[]" + _go_type(node.items)
    if isinstance(node, Map):
        return "map[string]" + _go_type(node.values)
    if isinstance(node, Object):
        return ".".join(node.ref.split(".")[-2:]) if node.ref else "struct {}"
    if isinstance(node, Integer):
        return node.format
    names: dict[type, str] = {String: "string", Boolean: "bool", Time: "v1.Time", IntOrString: "intstr.IntOrString"}
    return names.get(type(node), "interface {}")


def too_deep(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """The bracket (`{` or `[`) opening the first object or array, in document order, nested deeper than
    `max_depth`, or None. Level by level and iterative, so it can measure what the recursive walkers must
    not be given (about 1 ms for an EndpointSlice of 1000 endpoints)."""
    level = [value] if type(value) is dict or type(value) is list else []
    depth = 0
    while level:
        depth += 1
        if depth > max_depth:
            return "{" if type(level[0]) is dict else "["
        below: list[Any] = []
        for container in level:
            below += [child for child in (container.values() if type(container) is dict else container)
                      if type(child) is dict or type(child) is list]
        level = below
    return None


def go_json_kind(value: Any) -> str:
    """How Go's json package names a JSON value in its errors: object, array, string, number, bool, null."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if value is None:
        return "null"
    return "number"


def apply_defaults(obj: dict[str, Any], schema: Object) -> None:
    """Fill the `default` of fields that are absent or null and run the `defaulter`s, in place.

    Only objects present in the body or defaulted to `{}` get defaults (other absent objects are not
    created), through nested objects, list items and map values: an EndpointPort without `protocol`
    gets "TCP". An object's `defaulter` runs after the defaults of its fields.
    """
    _default(obj, schema)


def _default(value: Any, node: Schema) -> None:
    if isinstance(node, Object) and isinstance(value, dict):
        for name, child in node.properties.items():
            current = value.get(name)
            if current is None and isinstance(child, Object) and child.default is not None:
                current = value[name] = copy.deepcopy(child.default)
            if current is not None:
                _default(current, child)
            elif isinstance(child, (String, Integer, Boolean)) and child.default is not None:
                value[name] = child.default
        if node.defaulter is not None:
            node.defaulter(value)
    elif isinstance(node, Array) and isinstance(value, list):
        for item in value:
            _default(item, node.items)
    elif isinstance(node, Map) and isinstance(value, dict):
        for item in value.values():
            _default(item, node.values)


# ---------------------------------------------------------------------------------------------
# Compiled walkers: the fast path of `decode`

Walker = Callable[[Any], None]
# How a parent checks one child: the exact Python types it may have (null always included) and
# the walker to run on a non-null value, if any.
_Slot = tuple["frozenset[type] | _Anything", "Walker | None"]


class _Unusual(Exception):
    """A value of the wrong type or an unknown field: left to the exact walkers, which describe it."""


class _Anything:
    """The accepted types of a `Free` node."""

    def __contains__(self, _item: object) -> bool:
        return True


_NULL = type(None)
_SLOTS: dict[int, tuple[Schema, _Slot]] = {}


def _slot(node: Schema) -> _Slot:
    """The compiled check of `node`, built once per node (cached by identity, the node kept alive)."""
    cached = _SLOTS.get(id(node))
    if cached is None:
        cached = _SLOTS[id(node)] = (node, _SLOT_BUILDERS.get(type(node), _scalar_slot)(node))
    return cached[1]


def _object_walker(node: Object) -> Walker:
    walker = _slot(node)[1]
    assert walker is not None
    return walker


def _object_slot(node: Object) -> _Slot:
    slots = {name: _slot(child) for name, child in node.properties.items()}
    defaults = tuple((name, child.default) for name, child in node.properties.items()
                     if isinstance(child, (String, Integer, Boolean)) and child.default is not None)
    object_defaults = tuple((name, child.default, slots[name][1]) for name, child in node.properties.items()
                            if isinstance(child, Object) and child.default is not None)
    defaulter = node.defaulter
    keep_unknown = node.keep_unknown

    def walk(value: dict[str, Any]) -> None:
        for key, item in value.items():
            slot = slots.get(key)
            if slot is None:
                if keep_unknown:
                    continue
                raise _Unusual
            accepted, child = slot
            if type(item) not in accepted:
                raise _Unusual
            if child is not None and item is not None:
                child(item)

    def walk_and_default(value: dict[str, Any]) -> None:
        walk(value)
        for name, default in defaults:
            if value.get(name) is None:
                value[name] = default
        for name, empty, child in object_defaults:
            if value.get(name) is None:
                value[name] = copy.deepcopy(empty)
                if child is not None:
                    child(value[name])
        if defaulter is not None:
            defaulter(value)

    return frozenset((dict, _NULL)), walk_and_default if defaults or object_defaults or defaulter else walk


def _items_walker(accepted: frozenset[type] | _Anything, walker: Walker | None) -> Walker:
    """A walker for the items of a list, or (given `dict.values`' result) the values of a map."""
    if walker is None:
        def walk(items: Any) -> None:
            for item in items:
                if type(item) not in accepted:
                    raise _Unusual
    else:
        def walk(items: Any) -> None:
            for item in items:
                if type(item) not in accepted:
                    raise _Unusual
                if item is not None:
                    walker(item)
    return walk


def _array_slot(node: Array) -> _Slot:
    return frozenset((list, _NULL)), _items_walker(*_slot(node.items))


def _map_slot(node: Map) -> _Slot:
    walk_values = _items_walker(*_slot(node.values))

    def walk(value: dict[str, Any]) -> None:
        walk_values(value.values())

    return frozenset((dict, _NULL)), walk


def _integer_slot(node: Integer | IntOrString) -> _Slot:
    low, high = _INT_RANGES[node.format if isinstance(node, Integer) else "int32"]

    def walk(value: Any) -> None:
        if type(value) is int and not low <= value <= high:
            raise _Unusual

    return frozenset((int, str, _NULL) if isinstance(node, IntOrString) else (int, _NULL)), walk


def _quantity_error(value: Any) -> str | None:
    """Go's error for a JSON value decoded as a Quantity: its text (a string's without the quotes) must parse."""
    text = value if isinstance(value, str) else json.dumps(value)
    return parse_error(text)


def _quantity_slot(_node: Quantity) -> _Slot:
    def walk(value: Any) -> None:
        if _quantity_error(value):
            raise _Unusual

    return _Anything(), walk


def _scalar_slot(node: Schema) -> _Slot:
    """Strings, timestamps and booleans; any other node (`Free`) accepts everything."""
    if isinstance(node, (String, Time)):
        return frozenset((str, _NULL)), None
    if isinstance(node, Boolean):
        return frozenset((bool, _NULL)), None
    return _Anything(), None


_SLOT_BUILDERS: dict[type, Callable[[Any], _Slot]] = {
    Object: _object_slot,
    Array: _array_slot,
    Map: _map_slot,
    Integer: _integer_slot,
    IntOrString: _integer_slot,
    Quantity: _quantity_slot,
}
