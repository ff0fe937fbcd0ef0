"""A CRD version's structural schema (its `openAPIV3Schema`, plain JSON) applied to custom resources.

- `nodes`: the schema as the server's schema nodes (`apiserver.schema`), which the write path decodes with: objects
  with properties prune the fields they do not know (warned, or refused under fieldValidation=Strict, as upstream's
  pruning), maps, lists with their `x-kubernetes-list-type` and map keys (server-side apply), and `Free` wherever
  any value is kept (scalars, which `validate` checks instead, `x-kubernetes-preserve-unknown-fields`,
  `x-kubernetes-int-or-string`);
- `default`: structural defaulting (a property's `default` when it is absent; items and map values too);
- `validate`: the OpenAPI checks kube-openapi's validator makes, worded as apiextensions-apiserver reports them
  (types and formats, required, enum, pattern, bounds, lengths, item and property counts, list-type uniqueness).
"""

from __future__ import annotations

import base64
import copy
import datetime
import ipaddress
import math
import re
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from typing import Any

from apiserver.kinds.meta import OBJECT_META
from apiserver.schema import Array, Free, ListType, Map, Object, Schema, String, numbered
from apiserver.validation.names import is_dns1035_label
from apiserver.validation.field import (
    ErrorList,
    FieldError,
    GoSyntax,
    duplicate,
    go_json,
    go_quote,
    invalid,
    not_supported,
    required,
    too_long,
    too_many,
    type_invalid,
)

JSON = dict[str, Any]
META_FIELDS = ("apiVersion", "kind", "metadata")
EMBEDDED_META = replace(OBJECT_META, defaulter=None, always=())  # pruned to ObjectMeta, no zero values as Go writes


def nodes(schema: JSON, ref: str) -> Object:
    """The root node of a custom resource of `schema`: apiVersion, kind and ObjectMeta besides its own properties."""
    root = _node(schema)
    properties = dict(root.properties) if isinstance(root, Object) else {}
    properties.update({"apiVersion": String(), "kind": String(), "metadata": numbered(OBJECT_META, 1)})
    return Object(ref=ref, description=schema.get("description", ""), properties=properties,
                  required=tuple(schema.get("required", ())))


def _node(schema: JSON) -> Schema:
    description = schema.get("description", "")
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    kind = schema.get("type")
    if schema.get("x-kubernetes-embedded-resource"):  # its metadata is pruned whatever it keeps besides
        properties = {name: _node(child) for name, child in (schema.get("properties") or {}).items()}
        properties.update({"apiVersion": String(), "kind": String(), "metadata": EMBEDDED_META})
        return Object(description, properties=properties, keep_unknown=preserve)
    if preserve and kind == "object" and schema.get("properties"):
        return Object(description, properties={name: _node(child) for name, child in schema["properties"].items()},
                      keep_unknown=True)
    if preserve or schema.get("x-kubernetes-int-or-string"):
        return Free(description)
    if kind == "object":
        if schema.get("properties"):
            return Object(description, properties={name: _node(child) for name, child in schema["properties"].items()},
                          required=tuple(schema.get("required", ())),
                          atomic=schema.get("x-kubernetes-map-type") == "atomic")
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            return Map(description, values=_node(additional), atomic=schema.get("x-kubernetes-map-type") == "atomic")
        if additional is True:
            return Map(description, values=Free())
        return Object(description)
    if kind == "array":
        items = schema.get("items")
        declared = schema.get("x-kubernetes-list-type")
        list_type: ListType = "set" if declared == "set" else "map" if declared == "map" else "atomic"
        return Array(description, items=_node(items) if isinstance(items, dict) else Free(), list_type=list_type,
                     map_keys=tuple(schema.get("x-kubernetes-list-map-keys", ())))
    return Free(description)


# Defaulting


def default(value: Any, schema: JSON) -> None:
    """Fill the `default` of absent properties, in place, through objects, list items and map values (upstream's
    structural defaulting; a default is itself defaulted below)."""
    if isinstance(value, dict):
        for name, child in (schema.get("properties") or {}).items():
            if name not in value and "default" in child:
                value[name] = copy.deepcopy(child["default"])
            if name in value:
                default(value[name], child)
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            for key in value:
                default(value[key], additional)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            default(item, schema["items"])


def prune_nulls(value: Any, schema: JSON) -> None:
    """Drop `null` values of properties that are not nullable and have a default (upstream's PruneNonNullableNullsWithoutDefaults,
    run before defaulting, so such a null is defaulted)."""
    if isinstance(value, dict):
        for name, child in (schema.get("properties") or {}).items():
            if name in value:
                if value[name] is None and not child.get("nullable") and "default" in child:
                    del value[name]
                else:
                    prune_nulls(value[name], child)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            prune_nulls(item, schema["items"])


# Validation


def validate(obj: JSON, schema: JSON) -> ErrorList:
    """The errors of a custom resource against its version's schema (apiVersion, kind and metadata are not
    checked here: ObjectMeta validation does)."""
    errs = ErrorList()
    body = {key: value for key, value in obj.items() if key not in META_FIELDS}
    _validate(body, schema, "", errs, root=True)
    return errs


def validate_embedded(value: Any, schema: JSON, path: str = "") -> ErrorList:
    """The objects of `x-kubernetes-embedded-resource` nodes: apiVersion and kind required, a parseable group-version
    and a DNS-1035 kind (upstream's objectmeta validation of embedded resources)."""
    errs = ErrorList()
    _embedded(value, schema, path, errs)
    return errs


def _embedded(value: Any, schema: JSON, path: str, errs: ErrorList) -> None:
    if isinstance(value, dict):
        if schema.get("x-kubernetes-embedded-resource"):
            for key in ("apiVersion", "kind"):
                if key not in value:
                    errs.append(required(_child(path, key), "must not be empty"))
            for key in ("apiVersion", "kind"):
                if key in value:
                    errs.extend(_type_meta(key, value[key], _child(path, key)))
        properties = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for name, item in value.items():
            child = properties.get(name) or (additional if isinstance(additional, dict) else None)
            if child is not None:
                _embedded(item, child, _child(path, name), errs)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            _embedded(item, schema["items"], f"{path}[{index}]", errs)


def _type_meta(key: str, value: Any, path: str) -> ErrorList:
    if not isinstance(value, str):
        return ErrorList([invalid(path, value, "must be a string")])
    if not value:
        return ErrorList([invalid(path, value, "must not be empty")])
    if key == "apiVersion" and value.count("/") > 1:
        return ErrorList([invalid(path, value, f"unexpected GroupVersion string: {value}")])
    if key == "kind" and (found := is_dns1035_label(value.lower())):
        return ErrorList([invalid(path, value, "may have mixed case, but should otherwise match: " + ",".join(found))])
    return ErrorList()


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _go_number(value: Any) -> str:
    """A number as Go's %v prints a float64."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def _type_error(path: str, wanted: str, value: Any) -> FieldError:
    actual = _json_type(value)
    return type_invalid(path, actual, f"{path} in body must be of type {wanted}: {_quote(actual)}")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _validate(value: Any, schema: JSON, path: str, errs: ErrorList, root: bool = False) -> None:
    if value is None:
        if not schema.get("nullable") and schema.get("type") and not root:
            errs.append(_type_error(path, schema["type"], value))
        return
    if schema.get("x-kubernetes-int-or-string"):
        if _json_type(value) not in ("integer", "string"):
            errs.append(_type_error(path, "integer,string", value))
            return
    else:
        wanted = schema.get("type")
        actual = _json_type(value)
        if wanted and not (actual == wanted or (wanted == "number" and actual == "integer")):
            errs.append(_type_error(path or ".", wanted, value))
            return
    if isinstance(value, str):
        _validate_string(value, schema, path, errs)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        _validate_number(value, schema, path, errs)
    if "enum" in schema and value not in schema["enum"]:
        shown = [v if isinstance(v, str) else go_json(v) for v in schema["enum"]]
        errs.append(not_supported(path, value, shown, sort=False))
    if isinstance(value, dict):
        _validate_object(value, schema, path, errs)
    elif isinstance(value, list):
        _validate_array(value, schema, path, errs)
    for keyword in ("allOf", "anyOf", "oneOf", "not"):
        if keyword in schema:
            _validate_junctor(value, schema, keyword, path, errs)


def _validate_string(value: str, schema: JSON, path: str, errs: ErrorList) -> None:
    """kube-openapi's string checks, of which only the first failing counts (maxLength, minLength, pattern), then
    the format's."""
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errs.append(too_long(path, value, schema["maxLength"]))
    elif "minLength" in schema and len(value) < schema["minLength"]:
        errs.append(invalid(path, value, f"{path} in body should be at least {schema['minLength']} chars long"))
    elif "pattern" in schema and _pattern(schema["pattern"]).search(value) is None:
        errs.append(invalid(path, value, f"{path} in body should match '{schema['pattern']}'"))
    check = FORMATS.get(schema.get("format", ""))
    if check is not None and not check(value):
        errs.append(invalid(path, value, f"{path} in body must be of type {schema['format']}: {_quote(value)}"))


@lru_cache(maxsize=1024)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _validate_number(value: float, schema: JSON, path: str, errs: ErrorList) -> None:
    """kube-openapi's number checks, each reported: multipleOf, maximum, minimum."""
    factor = schema.get("multipleOf")
    if factor and not math.isclose(value / factor, round(value / factor)):
        errs.append(invalid(path, value, f"{path} in body should be a multiple of {_go_number(factor)}"))
    if "maximum" in schema:
        limit = schema["maximum"]
        if value > limit or (schema.get("exclusiveMaximum") and value == limit):
            word = "less than" if schema.get("exclusiveMaximum") else "less than or equal to"
            errs.append(invalid(path, value, f"{path} in body should be {word} {_go_number(limit)}"))
    if "minimum" in schema:
        limit = schema["minimum"]
        if value < limit or (schema.get("exclusiveMinimum") and value == limit):
            word = "greater than" if schema.get("exclusiveMinimum") else "greater than or equal to"
            errs.append(invalid(path, value, f"{path} in body should be {word} {_go_number(limit)}"))


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _validate_object(value: JSON, schema: JSON, path: str, errs: ErrorList) -> None:
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        errs.append(too_many(path, len(value), schema["maxProperties"]))
    if "minProperties" in schema and len(value) < schema["minProperties"]:
        errs.append(invalid(path, len(value),
                            f"{path} in body should have at least {schema['minProperties']} properties"))
    for name in schema.get("required") or ():
        if name not in value:
            errs.append(required(_child(path, name)))
    properties = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    for name, item in value.items():
        child = properties.get(name)
        if child is not None:
            _validate(item, child, _child(path, name), errs)
        elif isinstance(additional, dict):
            _validate(item, additional, _child(path, name), errs)


def _validate_array(value: list[Any], schema: JSON, path: str, errs: ErrorList) -> None:
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errs.append(too_many(path, len(value), schema["maxItems"]))
    if "minItems" in schema and len(value) < schema["minItems"]:
        errs.append(invalid(path, len(value), f"{path} in body should have at least {schema['minItems']} items"))
    items = schema.get("items")
    if isinstance(items, dict):
        for index, item in enumerate(value):
            _validate(item, items, f"{path}[{index}]", errs)
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set":
        seen: list[Any] = []
        for index, item in enumerate(value):
            if item in seen:
                errs.append(duplicate(f"{path}[{index}]", item))
            else:
                seen.append(item)
    elif list_type == "map":
        keys = schema.get("x-kubernetes-list-map-keys") or ()
        seen_keys: list[tuple[Any, ...]] = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                continue
            key = tuple(item.get(k) for k in keys)
            if key in seen_keys:
                errs.append(duplicate(f"{path}[{index}]", _go_map({k: item[k] for k in sorted(keys) if k in item})))
            else:
                seen_keys.append(key)


def _go_map(keys: JSON) -> GoSyntax:
    """A list-map key as %#v prints the map[string]interface{} upstream reports."""
    def value(item: Any) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, (int, float)):
            return _go_number(item)
        return go_quote(str(item))
    return GoSyntax("map[string]interface {}{" + ", ".join(f"{go_quote(k)}:{value(v)}" for k, v in keys.items())
                    + "}")


def _validate_junctor(value: Any, schema: JSON, keyword: str, path: str, errs: ErrorList) -> None:
    """allOf, anyOf, oneOf and not: value validations only (structural schemas forbid types under them)."""
    if keyword == "not":
        found = ErrorList()
        _validate(value, schema["not"], path, found)
        if not found:
            errs.append(invalid(path, value, f"{path} in body must not validate the schema (not)"))
        return
    results = []
    for branch in schema[keyword]:
        found = ErrorList()
        _validate(value, branch, path, found)
        results.append(found)
    if keyword == "allOf":
        for found in results:
            errs.extend(found)
    elif keyword == "anyOf" and all(results):
        errs.append(invalid(path, value, f"{path} in body must validate at least one schema (anyOf)"))
        for found in results:
            errs.extend(found)
    elif keyword == "oneOf" and sum(1 for found in results if not found) != 1:
        errs.append(invalid(path, value, f"{path} in body must validate one and only one schema (oneOf)"))


# Formats (kube-openapi's strfmt registry as apiextensions-apiserver restricts it)


def _parses(parse: Callable[[str], Any]) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        try:
            parse(value)
        except ValueError:
            return False
        return True
    return check


def _date_time(value: str) -> bool:
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", value)) and \
        _parses(lambda v: datetime.datetime.fromisoformat(v.replace("z", "Z").replace("Z", "+00:00")))(value)


def _byte(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except (ValueError, TypeError):
        return False
    return True


def _uuid(value: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}", value))


def _hostname(value: str) -> bool:
    return len(value) <= 255 and all(re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?", label)
                                     for label in value.rstrip(".").split("."))


FORMATS: dict[str, Callable[[str], bool]] = {
    "date-time": _date_time,
    "datetime": _date_time,
    "date": _parses(datetime.date.fromisoformat),
    "byte": _byte,
    "uuid": _uuid,
    "uuid3": _uuid,
    "uuid4": _uuid,
    "uuid5": _uuid,
    "ipv4": _parses(ipaddress.IPv4Address),
    "ipv6": _parses(ipaddress.IPv6Address),
    "cidr": _parses(lambda v: ipaddress.ip_network(v, strict=False)),
    "email": lambda v: bool(re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", v)),
    "hostname": _hostname,
    "mac": lambda v: bool(re.fullmatch(r"([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}", v)),
    "uri": lambda v: bool(re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", v)),
    "duration": lambda v: bool(re.fullmatch(r"(\d+(\.\d+)?(ns|us|µs|ms|s|m|h|d|w))+", v)),
}
