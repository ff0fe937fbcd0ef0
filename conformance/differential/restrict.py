"""Discovery and OpenAPI documents cut down to the kinds this project serves.

kube-apiserver serves dozens of kinds; comparing its whole discovery or OpenAPI with ours would only say that.
Both answers are restricted to our kinds (taken from `apiserver.kinds`), so a kind or subresource we serve
and it does not, or a schema that differs, still shows.
"""

from __future__ import annotations

import re
from typing import Any

from apiserver.kinds import KINDS

REF = re.compile(r"#/components/schemas/([^\"']+)")


def group_version(kind_group: str, version: str) -> str:
    return f"{kind_group}/{version}" if kind_group else version


PLURALS: dict[str, set[str]] = {}
for _kind in KINDS:
    PLURALS.setdefault(group_version(_kind.group, _kind.version), set()).add(_kind.plural)
GROUPS = {k.group for k in KINDS}
SCHEMA_ROOTS = {f"io.k8s.api.{k.group.split('.')[0] if k.group else 'core'}.{k.version}.{k.kind}{suffix}"
                for k in KINDS for suffix in ("", "List")}


def restrict(path: str, body: Any) -> Any:
    """`body` keeping only the parts about our kinds, when it is a discovery or OpenAPI document."""
    if not isinstance(body, dict):
        return body
    kind = body.get("kind")
    path = path.split("?")[0].rstrip("/")
    if kind == "APIGroupList":
        return {**body, "groups": [g for g in body.get("groups", ()) if g.get("name") in GROUPS]}
    if kind == "APIVersions":
        return {k: v for k, v in body.items() if k != "serverAddressByClientCIDRs"}
    if kind == "APIResourceList":
        ours = PLURALS.get(body.get("groupVersion", ""), set())
        return {**body, "resources": [r for r in body.get("resources", ()) if r.get("name", "").split("/")[0] in ours]}
    if kind == "APIGroupDiscoveryList":
        return {**body, "items": [discovery_group(g) for g in body.get("items", ())
                                  if (g.get("metadata") or {}).get("name", "") in GROUPS]}
    if path == "/openapi/v3" and isinstance(body.get("paths"), dict):
        return {"paths": {name: strip_hash(entry) for name, entry in body["paths"].items()
                          if openapi_group_version(name) in PLURALS}}
    if path.startswith("/openapi/v3/") and isinstance(body.get("components"), dict):
        return openapi_document(path.removeprefix("/openapi/v3/"), body)
    return body


def discovery_group(group: dict[str, Any]) -> dict[str, Any]:
    name = (group.get("metadata") or {}).get("name", "")
    versions = []
    for version in group.get("versions") or ():
        ours = PLURALS.get(group_version(name, version.get("version", "")), set())
        versions.append({**version, "resources": [r for r in version.get("resources") or ()
                                                  if r.get("resource") in ours]})
    return {**group, "versions": [v for v in versions if v["resources"]]}


def openapi_group_version(name: str) -> str:
    """`api/v1` → `v1`, `apis/discovery.k8s.io/v1` → `discovery.k8s.io/v1`."""
    return name.removeprefix("apis/").removeprefix("api/")


def strip_hash(entry: Any) -> Any:
    if isinstance(entry, dict) and isinstance(entry.get("serverRelativeURL"), str):
        return {**entry, "serverRelativeURL": entry["serverRelativeURL"].split("?")[0]}
    return entry


def openapi_document(name: str, body: dict[str, Any]) -> dict[str, Any]:
    """Paths of our resources, and the schemas of our kinds with everything they reference."""
    ours = PLURALS.get(openapi_group_version(name), set())
    paths = {p: v for p, v in (body.get("paths") or {}).items() if path_resource(p) in ours}
    schemas = body["components"].get("schemas") or {}
    keep: set[str] = set()
    todo = [s for s in SCHEMA_ROOTS if s in schemas]
    while todo:
        schema = todo.pop()
        if schema in keep:
            continue
        keep.add(schema)
        todo.extend(REF.findall(repr(schemas.get(schema))))
    return {"paths": paths, "components": {"schemas": {s: schemas[s] for s in sorted(keep) if s in schemas}}}


def path_resource(path: str) -> str:
    """The resource an OpenAPI path is about: `/api/v1/namespaces/{namespace}/pods/{name}` → `pods`."""
    parts = [p for p in path.split("/") if p]
    parts = parts[2:] if parts[:1] == ["api"] else parts[3:]
    if parts[:1] == ["watch"]:
        parts = parts[1:]
    if parts[:2] == ["namespaces", "{namespace}"]:
        parts = parts[2:]
    return parts[0] if parts else ""


def restrict_protobuf(tree: Any) -> Any:
    """A protobuf discovery document's field tree (`conformance.differential.protobuf`) cut down as `restrict`
    cuts its JSON form: groups by name, resources by plural, APIVersions without its server addresses."""
    envelope = tree.get("k8s") if isinstance(tree, dict) else None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("2"), dict):
        return tree
    kind, raw = (envelope.get("1") or {}).get("2"), envelope["2"]
    if kind == "APIGroupList":
        raw = keep(raw, 1, lambda g: g.get("1") in GROUPS)
    elif kind == "APIVersions":
        raw = keep(raw, 2, lambda _: False)
    elif kind == "APIResourceList":
        ours = PLURALS.get(str(raw.get("1", "")), set())
        raw = keep(raw, 2, lambda r: str(r.get("1", "")).split("/")[0] in ours)
    elif kind == "APIGroupDiscoveryList":
        raw = keep(raw, 2, lambda g: (g.get("1") or {}).get("1", "") in GROUPS)
        raw = edit(raw, 2, discovery_group_fields)
    return {**tree, "k8s": {**envelope, "2": raw}}


def field_items(message: dict[str, Any], number: int) -> list[Any]:
    return [v for k, v in message.items() if k.split("[")[0] == str(number)]


def rebuild(message: dict[str, Any], number: int, items: list[Any]) -> dict[str, Any]:
    """`message` with the field `number` holding `items` (keys renumbered), where it was."""
    result: dict[str, Any] = {}
    for key, value in message.items():
        if key.split("[")[0] != str(number):
            result[key] = value
        elif str(number) not in result and f"{number}[0]" not in result:
            for index, item in enumerate(items):
                result[str(number) if len(items) == 1 else f"{number}[{index}]"] = item
    return result


def keep(message: dict[str, Any], number: int, wanted: Any) -> dict[str, Any]:
    return rebuild(message, number, [v for v in field_items(message, number) if isinstance(v, dict) and wanted(v)])


def edit(message: dict[str, Any], number: int, change: Any) -> dict[str, Any]:
    return rebuild(message, number, [change(v) for v in field_items(message, number)])


def discovery_group_fields(group: dict[str, Any]) -> dict[str, Any]:
    """An APIGroupDiscovery's versions with only our resources, versions left empty dropped."""
    name = (group.get("1") or {}).get("1", "")
    versions = []
    for version in field_items(group, 2):
        ours = PLURALS.get(group_version(name, version.get("1", "")), set())
        version = keep(version, 2, lambda r, ours=ours: r.get("1") in ours)
        if field_items(version, 2):
            versions.append(version)
    return rebuild(group, 2, versions)
