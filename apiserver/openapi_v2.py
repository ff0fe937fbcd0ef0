"""The OpenAPI v2 document (`/openapi/v2`), derived from the kind definitions as the v3 documents are.

kubectl 1.27 and 1.28 read it for client-side validation, `explain`, `diff`, `edit` and client-side
apply (the patch extensions that shape strategic merge patches). One document covers every group-version.
Definitions are rendered from the same schema trees as the v3 components, in v2's dialect: plain `$ref`s
into `#/definitions/`, Time and IntOrString as their own definitions, no defaults (kube-apiserver 1.32
publishes none in v2). Paths are the v3 operations rewritten for v2 (a body parameter, `consumes` and
`produces`, a response schema), and repeated parameters are shared under `#/parameters/` as kube-openapi's
builder names them (`<name>-<hash of the parameter>`).
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterable
from functools import cache

import orjson

from apiserver import openapi
from apiserver.discovery import version_info
from apiserver.kind_registry import KindRegistry
from apiserver.kinds.meta import DELETE_OPTIONS, PATCH, STATUS, WATCH_EVENT
from apiserver.kinds.upstream import definition, description
from apiserver.schema import (
    JSON,
    Array,
    Boolean,
    Free,
    Integer,
    IntOrString,
    Map,
    MicroTime,
    Object,
    Quantity,
    Schema,
    String,
    Time,
)

REF_PREFIX = "#/definitions/"
TIME = "io.k8s.apimachinery.pkg.apis.meta.v1.Time"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
MICRO_TIME = "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"


@cache
def named_scalars() -> dict[type[Schema], tuple[str, JSON]]:
    """The scalar types kube-apiserver publishes as definitions of their own, with the v2 schema of each."""
    return {
        Time: (TIME, {"description": description(TIME), "type": "string", "format": "date-time"}),
        MicroTime: (MICRO_TIME, {"description": description(MICRO_TIME), "type": "string", "format": "date-time"}),
        IntOrString: (INT_OR_STRING, {"description": description(INT_OR_STRING), "type": "string",
                                      "format": "int-or-string"}),
        Quantity: (QUANTITY, {"description": description(QUANTITY), "type": "string"}),
    }


UNSHARED_PARAMETERS = frozenset({"name", "dryRun", "fieldValidation"})
FNV_OFFSET, FNV_PRIME = 0xCBF29CE484222325, 0x100000001B3
SECURITY_DEFINITIONS = {
    "BearerToken": {"description": "Bearer Token authentication", "type": "apiKey", "name": "authorization",
                    "in": "header"},
}


class Definitions:
    """`definitions` of the document, filled by walking schema trees (as `openapi.Components` for v3)."""

    def __init__(self) -> None:
        self.schemas: dict[str, JSON] = {}
        self._rendered: dict[str, dict[str, Schema]] = {}  # the properties each definition was rendered from

    def ref(self, node: Object) -> JSON:
        """Register `node` (and everything under it) and return a `$ref` to it (rendered once per properties, as
        `openapi.Components` does)."""
        if self._rendered.get(node.ref) is node.properties:
            return {"$ref": REF_PREFIX + node.ref}
        self._rendered[node.ref] = node.properties
        return self._named(node.ref, self._object(node))

    def _named(self, name: str, definition: JSON) -> JSON:
        existing = self.schemas.setdefault(name, definition)
        if existing != definition:
            raise ValueError(f"two different schemas are named {name}")
        return {"$ref": REF_PREFIX + name}

    def field(self, node: Schema) -> JSON:
        """The schema of a property, list item or map value: a referenced object is a `$ref`, beside the property's
        own description (upstream's `about`) when it has one."""
        if isinstance(node, Object) and node.ref:
            ref = {**self.ref(node), "description": v2_description(node.about)} if node.about else self.ref(node)
            return {**ref, "x-kubernetes-patch-strategy": node.patch_strategy} if node.patch_strategy else ref
        out: JSON = {"description": v2_description(node.description)} if node.description else {}
        scalars = named_scalars()
        if type(node) in scalars:
            name, definition = scalars[type(node)]
            return {**out, **self._named(name, definition)}
        return {**out, **self._inline(node)}

    def _inline(self, node: Schema) -> JSON:
        if isinstance(node, Object):
            return self._object(node)
        if isinstance(node, Array):
            out: JSON = {"type": "array", "items": self.field(_undescribed(node.items))}
            if node.map_keys:
                out["x-kubernetes-list-map-keys"] = list(node.map_keys)
            if node.list_type:
                out["x-kubernetes-list-type"] = node.list_type
            if node.merge_key:
                out["x-kubernetes-patch-merge-key"] = node.merge_key
            if node.patch_strategy:
                out["x-kubernetes-patch-strategy"] = node.patch_strategy
            return out
        if isinstance(node, Map):
            return {"type": "object", "additionalProperties": self.field(_undescribed(node.values))}
        if isinstance(node, String):
            out = {"type": "string", "format": node.format} if node.format else {"type": "string"}
            return {**out, "enum": list(node.enum)} if node.enum else out
        if isinstance(node, Integer):
            return {"type": "integer", "format": node.format}
        if isinstance(node, Boolean):
            return {"type": "boolean"}
        if isinstance(node, Free):
            return {}  # no type: any value (kubectl's validation reads it as "arbitrary")
        raise TypeError(f"no OpenAPI v2 form for {type(node).__name__}")

    def _object(self, node: Object) -> JSON:
        out: JSON = {"description": v2_description(node.description)} if node.description else {}
        out["type"] = "object"
        if node.required:
            out["required"] = list(node.required)
        if node.properties:
            out["properties"] = {name: self.field(child) for name, child in sorted(node.properties.items())}
        if node.atomic:
            out["x-kubernetes-map-type"] = "atomic"
        return out


def v2_description(text: str) -> str:
    """A description as v2 words it: without the list of enum values v3 appends."""
    return text.split("\n\nPossible enum values:", 1)[0]


def _undescribed(node: Schema) -> Schema:
    """List items and map values carry no description of their own (the list or map has it)."""
    return node if isinstance(node, Object) or not node.description else dataclasses.replace(node, description="")


# Operations: the v3 ones rewritten for v2.


def _parameter(v3: JSON) -> JSON:
    """A v3 parameter (`schema: {type, uniqueItems}`) in v2's form, fields in kube-openapi's order."""
    out: JSON = {"uniqueItems": True, "type": v3["schema"]["type"], "description": v3["description"],
                 "name": v3["name"], "in": v3["in"]}
    if v3.get("required"):
        out["required"] = True
    return out


def _schema_ref(content: JSON) -> JSON:
    """The one schema a v3 `content` map gives every media type, as a v2 reference (or a plain schema: the
    `type: string` of a connect operation or a log)."""
    (schema,) = {orjson.dumps(media["schema"]) for media in content.values()}
    ref = orjson.loads(schema).get("$ref")
    return {"$ref": REF_PREFIX + ref.removeprefix(openapi.REF_PREFIX)} if ref else dict(orjson.loads(schema))


def _produces(content: JSON) -> list[str]:
    """Media types in kube-apiserver's order: whole objects first, then the watch streams."""
    return sorted(content, key=lambda media: ";stream=watch" in media)


def _operation(v3: JSON) -> JSON:
    body = v3.get("requestBody")
    parameters = [_parameter(p) for p in v3.get("parameters", ())]
    if body is not None:
        body_param: JSON = {"name": "body", "in": "body"}
        if body.get("required"):
            body_param["required"] = True
        parameters.insert(0, {**body_param, "schema": _schema_ref(body["content"])})
    responses: JSON = {}
    for code, response in v3["responses"].items():
        responses[code] = {"description": response["description"]}
        if "content" in response:
            responses[code]["schema"] = _schema_ref(response["content"])
    op: JSON = {
        "description": v3["description"],
        "consumes": list(body["content"]) if body is not None else ["*/*"],
        "produces": _produces(v3["responses"]["200"]["content"]),
        "schemes": ["https"],
        "tags": v3["tags"],
        "operationId": v3["operationId"],
    }
    if parameters:
        op["parameters"] = parameters
    op["responses"] = responses
    return {**op, **{key: value for key, value in v3.items() if key.startswith("x-")}}


def _path_item(v3: JSON) -> JSON:
    item = {method: _operation(op) for method, op in v3.items() if method != "parameters"}
    return {**item, "parameters": [_parameter(p) for p in v3["parameters"]]}


def _go_json(value: JSON) -> bytes:
    """Compact JSON with Go's HTML escaping, the bytes kube-openapi hashes."""
    data = orjson.dumps(value)
    for char, escaped in ((b"<", b"\\u003c"), (b">", b"\\u003e"), (b"&", b"\\u0026")):
        data = data.replace(char, escaped)
    return data


def _parameter_hash(param: JSON) -> str:
    """kube-openapi's suffix of a shared parameter: the first 6 bytes of the FNV-1 64 hash of its JSON, base64url."""
    value = FNV_OFFSET
    for byte in _go_json(param):
        value = ((value * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF) ^ byte
    return base64.urlsafe_b64encode(value.to_bytes(8, "big")[:6]).decode()


def _shared(param: JSON) -> bool:
    """Whether kube-openapi shares a parameter: not `name`, `dryRun` and `fieldValidation` (kubectl up to 1.27
    looks for the last two in each operation), nor a body holding the kind's own schema."""
    if param["name"] in UNSHARED_PARAMETERS:
        return False
    return param["in"] != "body" or str(param["schema"]["$ref"]).startswith(REF_PREFIX + "io.k8s.apimachinery")


def _share_parameters(paths: dict[str, JSON]) -> dict[str, JSON]:
    """Replace each shareable parameter with a `$ref` into the returned `parameters` section."""
    shared: dict[str, JSON] = {}

    def share(params: Iterable[JSON]) -> list[JSON]:
        out = []
        for param in params:
            if _shared(param):
                name = f"{param['name']}-{_parameter_hash(param)}"
                shared[name] = param
                param = {"$ref": "#/parameters/" + name}
            out.append(param)
        return out

    for item in paths.values():
        for key, value in item.items():
            if key == "parameters":
                item[key] = share(value)
            elif "parameters" in value:
                value["parameters"] = share(value["parameters"])
    return dict(sorted(shared.items()))


def openapi_v2(served: KindRegistry) -> JSON:
    """The OpenAPI v2 document of every kind this server serves."""
    definitions = Definitions()
    paths: dict[str, JSON] = {}
    group_versions_served: list[tuple[str, str]] = []
    by_gv = served.group_versions()
    for name in openapi.openapi_group_versions(served):
        v3 = openapi.openapi_v3(served, name)
        kinds = by_gv[name.removeprefix("apis/").removeprefix("api/")]
        group_versions_served.append((kinds[0].group, kinds[0].version))
        for kind in kinds:
            named = ((kind.schema, kind.kind), (openapi.list_schema(kind), kind.list_kind))
            for node, _ in named:
                definitions.ref(node)
            if kind.openapi is not None:
                definitions.schemas[kind.schema.ref] = openapi.published(kind.openapi, "#/definitions/")
            for node, kind_name in named:
                gvk = [openapi.gvk(kind.group, kind.version, kind_name)]
                definitions.schemas[node.ref]["x-kubernetes-group-version-kind"] = gvk
        # the resources' paths (not the group-version's own, which has no parameters: v2 does not list it here)
        paths.update({path: _path_item(item) for path, item in v3["paths"].items() if "parameters" in item})
        for ref in v3["components"]["schemas"]:  # the bodies of subresources: Binding, Eviction
            if ref not in definitions.schemas and ref.startswith("io.k8s.api."):
                definitions.ref(definition(ref))

    definitions.ref(PATCH)
    # Status belongs to core/v1; DeleteOptions and WatchEvent are registered in every group-version.
    for meta, gvs in ((STATUS, [("", "v1")]), (DELETE_OPTIONS, group_versions_served),
                      (WATCH_EVENT, group_versions_served)):
        definitions.ref(meta)
        kind_name = meta.ref.rsplit(".", 1)[1]
        definitions.schemas[meta.ref]["x-kubernetes-group-version-kind"] = [
            openapi.gvk(g, v, kind_name) for g, v in sorted(gvs)
        ]

    paths = dict(sorted(paths.items()))
    parameters = _share_parameters(paths)
    version = version_info()
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": f"{version['major']}.{version['minor']}"},
        "paths": paths,
        "definitions": dict(sorted(definitions.schemas.items())),
        "parameters": parameters,
        "securityDefinitions": SECURITY_DEFINITIONS,
        "security": [{"BearerToken": []}],
    }
