"""RequestInfo: what a request asks to do, read from its method, path and query alone, before any routing (as
upstream's RequestInfoFactory), so that every request is authorized the same way, served or not."""

from __future__ import annotations

from collections.abc import Mapping

from apiserver.authentication.user import UserInfo
from apiserver.authorization.authorizer import Attributes

VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
SPECIAL_VERBS = ("proxy", "watch")  # a path segment, before the resource (deprecated upstream, still served)
NAMESPACE_SUBRESOURCES = ("status", "finalize")


def attributes(user: UserInfo, method: str, path: str, query: Mapping[str, str]) -> Attributes:
    parts = [p for p in path.strip("/").split("/") if p]
    non_resource = Attributes(user, method.lower(), path)
    if len(parts) < 3 or parts[0] not in ("api", "apis"):
        return non_resource
    prefix, parts = parts[0], parts[1:]
    group = ""
    if prefix == "apis":
        if len(parts) < 3:
            return non_resource  # discovery of a group or group version
        group, parts = parts[0], parts[1:]
    version, parts = parts[0], parts[1:]
    if parts[0] in SPECIAL_VERBS:
        if len(parts) < 2:
            return non_resource  # upstream: "unable to determine kind and namespace from url"
        verb, parts = parts[0], parts[1:]
    else:
        verb = VERBS.get(method, "")
    namespace = ""
    if parts[0] == "namespaces" and len(parts) > 1:
        namespace = parts[1]
        if len(parts) > 2 and parts[2] not in NAMESPACE_SUBRESOURCES:
            parts = parts[2:]  # a resource in the namespace, not the namespace itself
    resource = parts[0]
    name = parts[1] if len(parts) > 1 else ""
    subresource = parts[2] if len(parts) > 2 and verb != "proxy" else ""
    if not name and verb == "get":
        verb = "watch" if query.get("watch", "") in ("1", "true") else "list"
        name = _name_from_field_selector(query.get("fieldSelector", ""))
    if not name and verb == "delete":
        verb = "deletecollection"
    return Attributes(user, verb, path, True, group, version, namespace, resource, subresource, name)


def _name_from_field_selector(selector: str) -> str:
    """The name a `metadata.name=` (or `==`) field selector picks, as upstream narrows a list to it."""
    for term in selector.split(","):
        key, op, value = term.partition("==") if "==" in term else term.partition("=")
        if op and key.strip() == "metadata.name" and not key.endswith("!"):
            return value.strip()
    return ""
