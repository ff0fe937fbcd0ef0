"""Which resource a request names: kind, namespace, name, subresource, and the verb it means."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from apiserver import errors
from apiserver.kind_registry import KindRegistry
from apiserver.kinds.base import Kind
from apiserver.options import parse_bool


@dataclass(frozen=True)
class Target:
    kind: Kind
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    legacy_watch: bool = False

    @property
    def scope(self) -> str:
        """The metrics `scope` label: resource, namespace or cluster."""
        if self.name:
            return "resource"
        return "namespace" if self.namespace else "cluster"


def resolve(kinds: KindRegistry, api_version: str, tail: str) -> Target:
    """Parse the path after `/api/v1/` or `/apis/<group>/<version>/`; 404 if it names nothing served."""
    by_path = kinds.by_path
    parts = [p for p in tail.split("/") if p]
    legacy_watch = bool(parts) and parts[0] == "watch"
    if legacy_watch:
        parts = parts[1:]
    namespace = ""
    if len(parts) >= 3 and parts[0] == "namespaces" and (api_version, parts[2]) in by_path:
        namespace, parts = parts[1], parts[2:]
    if not parts or (api_version, parts[0]) not in by_path:
        raise errors.not_found_path()
    kind = by_path[(api_version, parts[0])]
    if namespace and not kind.namespaced:
        raise errors.not_found_path()
    name = parts[1] if len(parts) > 1 else ""
    subresource = parts[2] if len(parts) > 2 else ""
    if subresource and (kind.subresource(subresource) is None or legacy_watch):
        raise errors.not_found_path()
    if len(parts) > 3 and subresource != "proxy":  # only a proxy takes a path (`pods/p/proxy/<path>`)
        raise errors.not_found_path()
    if name and kind.namespaced and not namespace:
        raise errors.not_found_path()
    return Target(kind, namespace, name, subresource, legacy_watch)


def verb_of(request: web.Request, target: Target) -> str:
    """The Kubernetes verb (get, list, watch, create, update, patch, delete, deletecollection)."""
    method = request.method
    sub = target.kind.subresource(target.subresource) if target.subresource else None
    if sub is not None:
        verb = SUBRESOURCE_VERBS.get(method, "")
        if sub.name == "proxy" and method in ("HEAD", "OPTIONS"):  # a proxy forwards these too
            verb = "get"
        if verb not in sub.verbs:
            raise errors.method_not_allowed()
        return verb
    is_watch = target.legacy_watch or bool(parse_bool(request.query.get("watch")))
    if method == "GET":
        if is_watch:
            return "watch"
        return "get" if target.name else "list"
    # Writes to a namespaced kind's collection across all namespaces have no route (create and deletecollection
    # are served per namespace only), nor have verbs the kind does not list (namespaces: deletecollection).
    if target.legacy_watch or (target.kind.namespaced and not target.namespace and not target.name):
        raise errors.method_not_allowed()
    verb = WRITES.get((method, bool(target.name)), "")
    if verb not in target.kind.verbs:
        raise errors.method_not_allowed()
    return verb


SUBRESOURCE_VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
WRITES = {("POST", False): "create", ("PUT", True): "update", ("PATCH", True): "patch", ("DELETE", True): "delete",
          ("DELETE", False): "deletecollection"}
