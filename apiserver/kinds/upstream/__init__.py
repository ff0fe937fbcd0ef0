"""Schema nodes built from upstream's API definitions, the data `python -m conformance.schemagen` writes here.

Each `<group>_<version>.json` holds every type a served kind reaches, field by field as the Go types and
kube-apiserver's OpenAPI documents give them: JSON name, protobuf number, Go pointer-ness, whether Go always
serialises it, and the OpenAPI description, default, format and list/map/patch markers. `definition(name)`
builds a type's Object node, and those of everything under it, on first use. What upstream adds in Go code
(`SetDefaults_<Type>`) is behaviour: a kind's module registers it with `behave` before the type is built.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from apiserver.kinds.quantity import MILLI, canonical
from apiserver.schema import (
    Array,
    Boolean,
    Bytes,
    FieldsV1,
    Free,
    Integer,
    IntOrString,
    Map,
    MicroTime,
    Object,
    Quantity,
    RawExtension,
    S,
    Schema,
    String,
    Time,
)

JSON = dict[str, Any]
CORE = "io.k8s.api.core.v1."
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
# The data file holding the types of each package, by the prefix of their OpenAPI names.
FILES = {CORE: "core_v1", "io.k8s.api.discovery.v1.": "discovery_v1", "io.k8s.api.apps.v1.": "apps_v1",
         "io.k8s.api.coordination.v1.": "coordination_v1", "io.k8s.api.events.v1.": "events_v1",
         "io.k8s.api.policy.v1.": "policy_v1", "io.k8s.api.rbac.v1.": "rbac_v1",
         "io.k8s.api.authorization.v1.": "authorization_v1", "io.k8s.api.autoscaling.v1.": "autoscaling_v1",
         "io.k8s.api.authentication.v1.": "authentication_v1",
         "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.": "apiextensions_v1",
         "io.k8s.apimachinery.": "meta_v1"}


@dataclass(frozen=True)
class Behaviour:
    """What a type does beyond its fields: the defaulter upstream's `SetDefaults_<Type>` is."""

    defaulter: Callable[[dict[str, Any]], None] | None = None


_BEHAVIOURS: dict[str, Behaviour] = {}
_BUILT: dict[str, Object] = {}


def behave(behaviours: Mapping[str, Behaviour]) -> None:
    """Register the behaviour of types by name; a type already built or already given one is an error."""
    for name, behaviour in behaviours.items():
        if name in _BUILT or name in _BEHAVIOURS:
            raise ValueError(f"{name} is built already or has a behaviour")
        _BEHAVIOURS[name] = behaviour


@cache
def _types(file: str) -> JSON:
    data: JSON = orjson.loads((Path(__file__).parent / f"{file}.json").read_bytes())
    return data


def _data(name: str) -> JSON:
    prefix = next((p for p in FILES if name.startswith(p)), None)
    if prefix is None or name not in (types := _types(FILES[prefix])):
        raise KeyError(f"no upstream definition of {name}")
    found: JSON = types[name]
    return found


def description(name: str) -> str:
    """Upstream's description of type `name` (also of the scalar types: Time, Quantity, IntOrString…)."""
    return str(_data(name).get("description", ""))


def subresource_paths(prefix: str) -> dict[str, JSON]:
    """Upstream's OpenAPI v3 path items under `prefix` (`/api/v1/namespaces/{namespace}/pods/{name}/log`, with its
    `/{path}` form for proxies): the subresources that are no read or write of the kind itself."""
    return {name: item for name, item in _types("paths").items() if name == prefix or name == prefix + "/{path}"}


def scalar_schema(name: str) -> JSON:
    """Upstream's OpenAPI v3 component of a scalar type (Time, Quantity, IntOrString, FieldsV1, RawExtension)."""
    schema: JSON = _data(name)["openapi"]
    return schema


def definition(name: str) -> Object:
    """The Object node of upstream type `name` (`io.k8s.api.core.v1.Pod`), built once."""
    node = _BUILT.get(name)
    if node is None:
        behaviour = _BEHAVIOURS.get(name, Behaviour())
        node = _BUILT[name] = _build(name, _data(name), behaviour)
    return node


def _build(name: str, data: JSON, behaviour: Behaviour) -> Object:
    properties: dict[str, Schema] = {}
    always: list[str] = []
    names = {field["name"] for field in data["fields"]}
    for field in data["fields"]:
        node = _value(field["schema"])
        use: dict[str, Any] = {"proto": field.get("proto", 0), "pointer": field.get("pointer", False)}
        if isinstance(node, Object):
            use["about"] = field["schema"].get("description", "")
            use["patch_strategy"] = field["schema"].get("patch_strategy", "")
            if field["name"] == "metadata" and use["proto"] == 1 and "apiVersion" in names:
                use["defaulter"] = None  # a resource's own metadata: the registry fills it
            if field.get("always"):
                use["default"] = {}  # a Go struct value: `{}` at least, as Go writes it
        properties[field["name"]] = _used(node, use)
        if field.get("always"):
            always.append(field["name"])
    embedded = []
    for inline in data.get("inline", ()):
        struct = definition(inline["ref"])
        embedded.append(_used(struct, {"proto": inline["proto"], "pointer": False}))
        properties.update({key: _used(child, {"proto": 0}) for key, child in struct.properties.items()})
    zeros = {field["name"]: GO_ZEROS[field["schema"]["kind"]] for field in data["fields"]
             if field.get("always") and field["schema"]["kind"] in GO_ZEROS}
    quantities = tuple(field["name"] for field in data["fields"] if field["schema"]["kind"] == "quantity")
    lists = tuple(field["name"] for field in data["fields"]  # ResourceLists
                  if field["schema"].get("values", {}).get("kind") == "quantity")
    return Object(
        ref=name,
        description=data.get("description", ""),
        properties=properties,
        required=tuple(data.get("required", ())),
        atomic=data.get("map_type") == "atomic",
        always=tuple(always),
        defaulter=_as_go_writes(zeros, quantities, lists, behaviour.defaulter) if zeros or quantities or lists
        else behaviour.defaulter,
        embedded=tuple(embedded),
        unions=tuple(data.get("unions", ())),
    )


def _used(node: S, changes: dict[str, Any]) -> S:
    """`node` as one property uses it: a copy with the attributes of the use (its number, pointer-ness, the
    parent's words on it). `dataclasses.replace` would run every field's __init__ again, several times slower."""
    used = copy.copy(node)
    for name, value in changes.items():
        object.__setattr__(used, name, value)
    return used


# What Go writes for an unset value of the types that marshal themselves and are never left out (a zero Time is
# null, a zero Quantity "0"): the decoded object holds it, as kube-apiserver's JSON shows it.
GO_ZEROS: dict[str, Any] = {"time": None, "microtime": None, "quantity": "0"}


def _as_go_writes(zeros: dict[str, Any], quantities: tuple[str, ...], lists: tuple[str, ...],
                  defaulter: Callable[[dict[str, Any]], None] | None) -> Callable[[dict[str, Any]], None]:
    """A type's defaulter preceded by what Go's decoding does to its values: unset times and quantities it always
    writes are their zero, and quantities are in canonical form (`0.5` is `500m`), a ResourceList's rounded up to
    the milli (SetDefaults_ResourceList, which every kind with one runs)."""
    def default(obj: dict[str, Any]) -> None:
        for key, zero in zeros.items():
            obj.setdefault(key, zero)
        for key in quantities:
            if obj.get(key) is not None:
                obj[key] = canonical(obj[key]) or obj[key]
        for key in lists:
            if isinstance(found := obj.get(key), dict):
                obj[key] = {name: canonical(value, MILLI) or value for name, value in found.items()}
        if defaulter is not None:
            defaulter(obj)
    return default


def _value(schema: JSON) -> Schema:
    """The node of one value, from its Go kind and its OpenAPI markers."""
    kind, description = schema["kind"], schema.get("description", "")
    builder = _SCALARS.get(kind)
    if builder is not None:
        return builder(schema, description)
    if kind == "struct":
        return definition(schema["ref"])
    if kind == "slice":
        return Array(description, items=_value(schema["items"]), list_type=schema.get("list_type", ""),
                     map_keys=tuple(schema.get("map_keys", ())), merge_key=schema.get("merge_key", ""),
                     patch_strategy=schema.get("patch_strategy", ""))
    if kind == "map":
        return Map(description, values=_value(schema["values"]), atomic=schema.get("map_type") == "atomic")
    return Free(description)  # an interface value: any JSON


_SCALARS: dict[str, Callable[[JSON, str], Schema]] = {
    "string": lambda s, d: String(d, default=s.get("default"), enum=tuple(s.get("enum", ())),
                                  format=s.get("format", "")),
    "bytes": lambda s, d: Bytes(d, format="byte"),
    "int32": lambda s, d: Integer(d, format="int32", default=s.get("default")),
    "int64": lambda s, d: Integer(d, format="int64", default=s.get("default")),
    "bool": lambda s, d: Boolean(d, default=s.get("default")),
    "time": lambda s, d: Time(d),
    "microtime": lambda s, d: MicroTime(d),
    "intorstring": lambda s, d: IntOrString(d),
    "quantity": lambda s, d: Quantity(d),
    "fieldsv1": lambda s, d: FieldsV1(d),
    "raw": lambda s, d: RawExtension(d),
}
