"""Schema walkers run on every write body: unknown fields, wrong types, defaults.

kube-apiserver decodes a body into its Go type with sigs.k8s.io/json. That decoder drops unknown
fields (reporting them as strict errors with a path such as `spec.ports[0].foo`), fails on the first
value of the wrong JSON type with an `UnmarshalTypeError`, and the scheme's defaulters then fill
unset fields. These functions reproduce the three steps on plain JSON dicts from a kind's schema.
"""

from __future__ import annotations

import json
from typing import Any

from apiserver.schema import Array, Boolean, Free, Integer, IntOrString, Map, Object, Schema, String, Time

# sigs.k8s.io/json keeps at most this many strict errors per body.
MAX_STRICT_ERRORS = 100

_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


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
            if child is None:
                del value[key]
                found.append(f"unknown field {json.dumps(child_path, ensure_ascii=False)}")
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
    """
    return _check(obj, schema, kind_name, [])


def _check(value: Any, node: Schema, struct: str, fields: list[str]) -> str | None:
    if value is None or isinstance(node, Free):
        return None
    if isinstance(node, Object):
        if not isinstance(value, dict):
            return _mismatch(go_json_kind(value), _go_type(node), struct, fields)
        name = node.ref.rsplit(".", 1)[-1] if node.ref and fields else struct
        for key, item in value.items():
            child = node.properties.get(key)
            error = _check(item, child, name, [*fields, key]) if child is not None else None
            if error:
                return error
        return None
    if isinstance(node, Map) and isinstance(value, dict):
        items, child = list(value.values()), node.values
    elif isinstance(node, Array) and isinstance(value, list):
        items, child = value, node.items
    elif isinstance(node, (Map, Array)):
        return _mismatch(go_json_kind(value), _go_type(node), struct, fields)
    else:
        return _check_scalar(value, node, struct, fields)
    for item in items:
        error = _check(item, child, struct, fields)
        if error:
            return error
    return None


def _check_scalar(value: Any, node: Schema, struct: str, fields: list[str]) -> str | None:
    kind = go_json_kind(value)
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
    """Fill the `default` of String/Integer/Boolean fields that are absent or null, in place.

    Only objects present in the body get defaults (absent objects are not created), through nested
    objects, list items and map values: an EndpointPort without `protocol` gets "TCP".
    """
    _default(obj, schema)


def _default(value: Any, node: Schema) -> None:
    if isinstance(node, Object) and isinstance(value, dict):
        for name, child in node.properties.items():
            current = value.get(name)
            if current is not None:
                _default(current, child)
            elif isinstance(child, (String, Integer, Boolean)) and child.default is not None:
                value[name] = child.default
    elif isinstance(node, Array) and isinstance(value, list):
        for item in value:
            _default(item, node.items)
    elif isinstance(node, Map) and isinstance(value, dict):
        for item in value.values():
            _default(item, node.values)
