"""The kinds a CustomResourceDefinition serves: one per served version, stored under `/registry/<group>/<plural>`.

Each version's kind decodes with its structural schema's nodes (unknown fields pruned), defaults and validates with
its `openAPIV3Schema` and `x-kubernetes-validations`, has the status and scale subresources it declares and prints
its `additionalPrinterColumns` (Age when it declares none), as upstream's customresource strategy and table
convertor do.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from apiserver.apiextensions import cel, structural
from apiserver.apiextensions.definition import versions
from apiserver.kinds.base import STATUS, Column, Kind, Obj, Strategy, Subresource
from apiserver.kinds.columns import AGE, NAME, since
from apiserver.kinds.meta import OBJECT_META
from apiserver.kinds.pod import POD
from apiserver.schema import Object
from apiserver.validation.field import ErrorList, ErrorType, GoSyntax, go_json, invalid
from apiserver.validation.objectmeta import validate_object_meta, validate_object_meta_update

JSON = dict[str, Any]
VERBS = ("delete", "deletecollection", "get", "list", "patch", "create", "update", "watch")  # in upstream's order
SCALE = Subresource("scale", ("get", "patch", "update"), kind="Scale", group="autoscaling", version="v1")


@dataclass(frozen=True)
class ScalePaths:
    """A version's scale subresource: where the replicas are in spec and status, and the label selector."""

    spec_replicas: str
    status_replicas: str
    label_selector: str = ""


class CustomResourceStrategy(Strategy):
    """Upstream's customresource strategy for one version: status reset on create and kept by main-resource
    updates when the status subresource is on, generation moved by changes outside metadata (and status)."""

    tracks_generation = True

    def __init__(self, kind_name: str, api_version: str, namespaced: bool, schema: JSON, status: bool,
                 scale: ScalePaths | None) -> None:
        self.kind_name = kind_name
        self.namespaced = namespaced
        self.api_version = api_version
        self.schema = schema
        self.status_subresource = status
        self.scale = scale
        self.rules = cel.has_rules(schema)

    def default(self, obj: Obj) -> None:
        structural.prune_nulls(obj, self.schema)
        structural.default(obj, self.schema)

    def prepare_for_create(self, obj: Obj) -> None:
        if self.status_subresource:
            obj.pop("status", None)

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        if self.status_subresource:
            obj.pop("status", None)
            if "status" in old:
                obj["status"] = old["status"]

    def generation_changed(self, obj: Obj, old: Obj) -> bool:
        skipped = ("metadata", "status") if self.status_subresource else ("metadata",)
        return any(obj.get(k) != old.get(k) for k in set(obj) | set(old) if k not in skipped)

    def validate(self, obj: Obj) -> ErrorList:
        errs = validate_object_meta(obj["metadata"], self.namespaced, core_finalizers=False)
        errs.extend(self._validate(obj, None))
        return errs

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        errs = validate_object_meta_update(obj["metadata"], old["metadata"], core_finalizers=False)
        errs.extend(self._validate(obj, old))
        return errs

    def _validate(self, obj: Obj, old: Obj | None) -> ErrorList:
        """The schema, the scale's replicas, then the CEL rules (upstream's customResourceValidator and strategy)."""
        errs = ErrorList()
        if obj.get("kind") != self.kind_name:
            errs.append(invalid("kind", obj.get("kind"), f"must be {self.kind_name}"))
        if obj.get("apiVersion") != self.api_version:
            errs.append(invalid("apiVersion", obj.get("apiVersion"), f"must be {self.api_version}"))
        errs.extend(structural.validate(obj, self.schema))
        errs.extend(structural.validate_embedded(obj, self.schema))
        if self.scale is not None:
            errs.extend(_replicas(obj, self.scale.spec_replicas))
            errs.extend(_replicas(obj, self.scale.status_replicas))
        if self.rules:
            if any(e.type in BLOCKING for e in errs):
                errs.append(invalid("<nil>", GoSyntax('"null"'), "some validation rules were not checked because the "
                                    "object was invalid; correct the existing errors to complete validation"))
            else:
                errs.extend(cel.validate_object(obj, old, self.schema))
        return errs


# errors after which the CEL rules are not evaluated (upstream's hasBlockingErr)
BLOCKING = (ErrorType.NOT_SUPPORTED, ErrorType.REQUIRED, ErrorType.TOO_LONG, ErrorType.TOO_MANY, ErrorType.TYPE_INVALID)
GO_TYPES = {str: "string", bool: "bool", float: "float64", dict: "map[string]interface {}", list: "[]interface {}"}


def _replicas(obj: Obj, path: str) -> ErrorList:
    """unstructured.NestedInt64 at a scale path: absent is fine, else a non-negative int32."""
    value: Any = obj
    for key in path.strip(".").split("."):
        if not isinstance(value, dict) or key not in value:
            return ErrorList()
        value = value[key]
    if not isinstance(value, int) or isinstance(value, bool):
        shown = "<nil>" if value is None else _printed(value)
        kind = "<nil>" if value is None else GO_TYPES.get(type(value), type(value).__name__)
        return ErrorList([invalid(path, 0, f"{path} accessor error: {shown} is of the type {kind}, expected int64")])
    if value < 0:
        return ErrorList([invalid(path, value, "should be a non-negative integer")])
    if value > 2**31 - 1:
        return ErrorList([invalid(path, value, f"should be less than or equal to {2**31 - 1}")])
    return ErrorList()


def openapi_name(group: str, version: str, kind: str) -> str:
    """The OpenAPI name of a custom resource's schema: the group reversed, then version and kind
    (`com.example.v1.Widget`)."""
    return ".".join([*reversed(group.split(".")), version, kind])


def kinds(crd: Obj) -> list[Kind]:
    """The kinds of a CRD's served versions, in discovery order (`version_priority`)."""
    spec = crd["spec"]
    group, names = spec["group"], spec["names"]
    plural = names["plural"]
    served = sorted((v for v in versions(crd) if v.get("served")), key=lambda v: version_priority(v["name"]))
    out = []
    for version in served:
        name = version["name"]
        schema = (version.get("schema") or {}).get("openAPIV3Schema") or {"type": "object"}
        subresources = version.get("subresources") or {}
        scale = subresources.get("scale")
        scale_paths = ScalePaths(scale["specReplicasPath"], scale["statusReplicasPath"],
                                 scale.get("labelSelectorPath") or "") if scale else None
        api_version = f"{group}/{name}"
        namespaced = spec["scope"] == "Namespaced"
        strategy = CustomResourceStrategy(names["kind"], api_version, namespaced, schema, "status" in subresources,
                                          scale_paths)
        warning = version.get("deprecationWarning") or f"{api_version} {names['kind']} is deprecated" \
            if version.get("deprecated") else ""
        out.append(Kind(
            group=group, version=name, kind=names["kind"], plural=plural, singular=names.get("singular") or "",
            namespaced=namespaced,
            schema=structural.nodes(schema, openapi_name(group, name, names["kind"])),
            etcd_prefix=f"/registry/{group}/{plural}", strategy=strategy, description=schema.get("description", ""),
            short_names=tuple(names.get("shortNames") or ()), categories=tuple(names.get("categories") or ()),
            subresources=tuple(sub for sub, on in ((STATUS, "status" in subresources), (SCALE, scale is not None))
                               if on),
            columns=columns(version.get("additionalPrinterColumns") or ()),
            deprecation=warning,
            unstructured=True,
            verbs=VERBS,
            extra_field_selectors={field["jsonPath"].lstrip("."): _selectable(field["jsonPath"])
                                   for field in version.get("selectableFields") or ()},
            openapi=published_schema(schema, version.get("selectableFields") or ()),
        ))
    return out


def published_schema(schema: JSON, selectable: list[JSON] | tuple[JSON, ...] = ()) -> JSON:
    """The OpenAPI v3 schema published for a version (upstream's CRD OpenAPI builder): its own, with apiVersion, kind
    and metadata described as on every kind, int-or-string values as `anyOf` integer or string, embedded resources
    with their type and object metadata, and the selectable fields."""
    out = _published(copy.deepcopy(schema))
    out.setdefault("type", "object")
    meta = POD.schema.properties
    metadata = meta["metadata"]
    properties = {"apiVersion": {"description": meta["apiVersion"].description, "type": "string"},
                  "kind": {"description": meta["kind"].description, "type": "string"},
                  "metadata": {"allOf": [{"$ref": "#/components/schemas/" + OBJECT_META.ref}],
                               "description": metadata.about if isinstance(metadata, Object) else ""}}
    out["properties"] = {**properties, **{k: v for k, v in (out.get("properties") or {}).items()
                                          if k not in properties}}
    out["x-kubernetes-selectable-fields"] = [{"fieldPath": field["jsonPath"].lstrip(".")} for field in selectable]
    return out


EMBEDDED_PROPERTIES = {
    "apiVersion": {"description": "apiVersion defines the versioned schema of this representation of an object. More "
                   "info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
                   "type": "string"},
    "kind": {"description": "kind is a string value representing the type of this object. In CamelCase. More info: "
             "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
             "type": "string"},
    "metadata": {"allOf": [{"$ref": "#/components/schemas/" + OBJECT_META.ref}],
                 "description": "Standard object's metadata. More info: "
                 "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"},
}


def _published(node: JSON) -> JSON:
    if node.get("x-kubernetes-int-or-string") and "anyOf" not in node:
        node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("x-kubernetes-embedded-resource"):
        node["properties"] = {**EMBEDDED_PROPERTIES, **(node.get("properties") or {})}
        node["required"] = [*(k for k in ("kind", "apiVersion") if k not in (node.get("required") or ())),
                            *(node.get("required") or ())]
    for child in (node.get("properties") or {}).values():
        _published(child)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            _published(node[key])
    return node


_KUBE_VERSION = re.compile(r"v(\d+)(?:(alpha|beta)(\d+))?")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Upstream's kube-aware version order: GA before beta before alpha, higher numbers first, then any other
    version alphabetically (v2, v1, v11beta2, v10beta3, v3beta1, v12alpha1, v11alpha2, foo1, foo10)."""
    match = _KUBE_VERSION.fullmatch(version)
    if match is None:
        return 3, 0, 0, version
    major, stage, minor = int(match.group(1)), match.group(2), int(match.group(3) or 0)
    return {None: 0, "beta": 1, "alpha": 2}[stage], -major, -minor, ""


def _selectable(path: str) -> Any:
    """The value a field selector compares for a selectable field: a string, boolean or integer as text, "" when
    absent."""
    steps = parse_path(path)

    def value(obj: Obj) -> str:
        found = find(obj, steps)
        if not found or found[0] is None:
            return ""
        return _printed(found[0])

    return value


# Table columns


AGE_DATE = Column(name="Age", type="date", description=AGE.description,
                  cell=lambda obj: _date(obj["metadata"].get("creationTimestamp")))


def columns(definitions: list[JSON] | tuple[JSON, ...]) -> tuple[Column, ...]:
    """Name, then each `additionalPrinterColumns` entry (or Age), as upstream's table convertor."""
    if not definitions:
        return NAME, AGE_DATE
    out = [NAME]
    for definition in definitions:
        path = definition["jsonPath"]
        out.append(Column(name=definition["name"], type=definition["type"], format=definition.get("format", ""),
                          description=definition.get("description") or
                          f"Custom resource definition column (in JSONPath format): {path}",
                          priority=definition.get("priority", 0), cell=_cell(definition["type"], path)))
    return tuple(out)


def _cell(kind: str, path: str) -> Any:
    steps = parse_path(path)

    def cell(obj: Obj) -> Any:
        found = find(obj, steps)
        if not found:
            return None
        value = found[0]
        if kind == "string":
            return value if isinstance(value, str) else _printed(value)
        return _typed(kind, value)

    return cell


def _printed(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return go_json(value)
    return str(value)


def _typed(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "integer" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "date" and isinstance(value, str):
        return _date(value)
    return None


def _date(stamp: Any) -> str | None:
    if not isinstance(stamp, str):
        return None
    try:
        return since(stamp)
    except ValueError:
        return "<invalid>"


# JSONPath, as the simple paths printer columns use: fields, indexes, wildcards and equality filters

Step = tuple[str, Any]
_TOKEN = re.compile(r"\.([A-Za-z0-9_-]+)|\[(\d+|\*)\]|\['([^']*)'\]|\[\?\(@\.([A-Za-z0-9_.-]+)\s*==\s*[\"']([^\"']*)"
                    r"[\"']\)\]|\.\*")


def parse_path(path: str) -> list[Step]:
    """The steps of a JSONPath such as `.status.conditions[?(@.type=="Ready")].status` (ValueError if unsupported)."""
    text = path.strip().removeprefix("{").removesuffix("}").removeprefix("$")
    steps: list[Step] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ValueError(f"unsupported JSONPath {path!r}")
        field, index, quoted, key, wanted = match.groups()
        if field is not None or quoted is not None:
            steps.append(("field", field if field is not None else quoted))
        elif index is not None:
            steps.append(("all", None) if index == "*" else ("index", int(index)))
        elif key is not None:
            steps.append(("filter", (key.split("."), wanted)))
        else:
            steps.append(("all", None))
        position = match.end()
    return steps


def find(value: Any, steps: list[Step]) -> list[Any]:
    """Every value the steps reach (missing keys reach nothing)."""
    current = [value]
    for kind, argument in steps:
        following: list[Any] = []
        for item in current:
            if kind == "field" and isinstance(item, dict) and argument in item:
                following.append(item[argument])
            elif kind == "index" and isinstance(item, list) and -len(item) <= argument < len(item):
                following.append(item[argument])
            elif kind == "all":
                following.extend(item if isinstance(item, list) else item.values() if isinstance(item, dict) else ())
            elif kind == "filter" and isinstance(item, list):
                keys, wanted = argument
                following.extend(element for element in item if _lookup(element, keys) == wanted)
        current = following
    return current


def _lookup(value: Any, keys: list[str]) -> Any:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value
