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
