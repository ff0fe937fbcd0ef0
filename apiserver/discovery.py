"""Discovery documents and `/version`, derived from the kind definitions.

Two discovery formats are served from the same kinds:

- legacy: `/api` (APIVersions), `/apis` (APIGroupList), `/apis/<group>` (APIGroup) and one
  APIResourceList per group-version, where each subresource is its own `pods/status` entry;
- aggregated (`apidiscovery.k8s.io` v2 and v2beta1): `/api` and `/apis` each return an
  APIGroupDiscoveryList carrying every version and resource at once, so kubectl needs two requests
  instead of four.

Which one `/api` and `/apis` answer is decided by `negotiate_discovery`; client-go parses the body by
the `g`/`v`/`as` parameters echoed in Content-Type, so the answer and the header must agree.
Everything here is a pure function of the served kinds (`apiserver.kind_registry.KindRegistry`).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Literal

from apiserver.kind_registry import KindRegistry
from apiserver.kinds.base import Kind
from apiserver.protobuf.envelope import MEDIA_TYPE as PROTOBUF
from apiserver.schema import JSON

GIT_VERSION = "v1.32.13"
"""The Kubernetes release this server emulates. kubectl parses it as semver and warns on a skew > 1 minor."""



def release() -> tuple[int, int]:
    """(major, minor) of GIT_VERSION: the release whose behaviour is served (e.g. which deprecations apply)."""
    major, minor = GIT_VERSION.lstrip("v").split(".")[:2]
    return int(major), int(minor)


def deprecation_warning(kind: Kind) -> str:
    """The kind's deprecation warning if the release served has deprecated it, else ""."""
    return kind.deprecation if kind.deprecation and release() >= kind.deprecated_in else ""


DiscoveryFormat = Literal["v2", "v2beta1", "legacy"]
DiscoveryEncoding = Literal["json", "protobuf"]

AGGREGATED_GROUP = "apidiscovery.k8s.io"
AGGREGATED_KIND = "APIGroupDiscoveryList"


def version_info() -> JSON:
    """The `/version` body (version.Info); `minor` also picks the Cloud SDK dispatcher's kubectl build."""
    major, minor = GIT_VERSION.lstrip("v").split(".")[:2]
    return {
        "major": major,
        "minor": minor,
        "gitVersion": GIT_VERSION,
        "gitCommit": "0" * 40,
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.23.8",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def negotiate_discovery(accept: str) -> tuple[DiscoveryFormat, DiscoveryEncoding]:
    """Choose the discovery format and encoding from an Accept header, taking the first clause this server can
    answer.

    `application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList` answers v2 in JSON, the same with
    `v=v2beta1` answers v2beta1, and `application/vnd.kubernetes.protobuf` with those parameters the same in
    protobuf; a clause without parameters answers legacy. Clauses for other encodings or versions are skipped,
    so kubectl 1.27-1.29, which only lists v2beta1, never gets v2. An Accept header with nothing usable gets
    legacy, which every client understands (its own negotiation then picks the encoding).
    """
    for clause in accept.split(","):
        media, *raw_params = (part.strip() for part in clause.split(";"))
        params = dict(p.split("=", 1) for p in raw_params if "=" in p)
        params.pop("q", None)
        encoding: DiscoveryEncoding = "protobuf" if media.lower() == PROTOBUF else "json"
        if media.lower() not in ("application/json", "application/*", "*/*", PROTOBUF):
            continue
        if not params:
            return "legacy", encoding
        if params.get("g") == AGGREGATED_GROUP and params.get("as") == AGGREGATED_KIND:
            if params.get("v") == "v2":
                return "v2", encoding
            if params.get("v") == "v2beta1":
                return "v2beta1", encoding
    return "legacy", "json"


def aggregated_content_type(version: Literal["v2", "v2beta1"], encoding: DiscoveryEncoding = "json") -> str:
    """The Content-Type client-go needs to read the body as an aggregated discovery list."""
    media = PROTOBUF if encoding == "protobuf" else "application/json"
    return f"{media};g={AGGREGATED_GROUP};v={version};as={AGGREGATED_KIND}"


def storage_version_hash(kind: Kind) -> str:
    """An opaque per-kind hash (base64 of the first 8 bytes of sha256("group/version/kind")) of the kind as
    stored: a view shares the hash of the kind it shows."""
    stored = kind.view.of if kind.view is not None else kind
    digest = hashlib.sha256(f"{stored.group}/{stored.version}/{stored.kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def _version_for_discovery(group: str, version: str) -> JSON:
    return {"groupVersion": f"{group}/{version}", "version": version}


def api_versions(kinds: KindRegistry, server_address: str) -> JSON:
    """`/api` in the legacy format: the core group's versions."""
    return {
        "kind": "APIVersions",
        "versions": kinds.core_versions(),
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_group(kinds: KindRegistry, group: str) -> JSON:
    """`/apis/<group>` in the legacy format; KeyError for a group this server does not serve."""
    versions = [_version_for_discovery(group, v) for v in kinds.groups()[group]]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": versions,
        "preferredVersion": versions[0],
    }


def api_group_list(kinds: KindRegistry) -> JSON:
    """`/apis` in the legacy format: every named group."""
    groups = [{k: v for k, v in api_group(kinds, group).items() if k not in ("kind", "apiVersion")}
              for group in kinds.groups()]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_resource_list(kinds: KindRegistry, group_version: str) -> JSON:
    """`/api/v1` or `/apis/<group>/<version>`: one entry per resource and one per subresource.

    `group_version` is an apiVersion ("v1", "discovery.k8s.io/v1"); KeyError when it is not served.
    """
    resources: list[JSON] = []
    for kind in kinds.group_versions()[group_version]:
        resource: JSON = {
            "name": kind.plural,
            "singularName": kind.singular,
            "namespaced": kind.namespaced,
            "kind": kind.kind,
            "verbs": _verbs(kind),
        }
        if kind.short_names:
            resource["shortNames"] = list(kind.short_names)
        if kind.categories:
            resource["categories"] = list(kind.categories)
        resource["storageVersionHash"] = storage_version_hash(kind)
        resources.append(resource)
        for sub in kind.subresources:
            entry: JSON = {"name": f"{kind.plural}/{sub.name}", "singularName": "", "namespaced": kind.namespaced}
            if sub.group:
                entry.update(group=sub.group, version=sub.version)
            resources.append({**entry, "kind": sub.kind or kind.kind, "verbs": sorted(sub.verbs)})
    resources.sort(key=lambda r: str(r["name"]))
    if "/" not in group_version:  # the core group's list is written without apiVersion by kube-apiserver
        return {"kind": "APIResourceList", "groupVersion": group_version, "resources": resources}
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}


def _verbs(kind: Kind) -> list[str]:
    """A kind's verbs, sorted as kube-apiserver's installer sorts them (a custom resource's in its declared order, as
    apiextensions-apiserver lists them)."""
    return list(kind.verbs) if kind.unstructured else sorted(kind.verbs)


def _resource_discovery(kind: Kind) -> JSON:
    """One APIResourceDiscovery. responseKind.kind must be set or client-go drops the resource."""
    # a custom resource's names its group and version (apiextensions-apiserver's discovery), a built-in kind's not
    group, version = (kind.group, kind.version) if kind.unstructured else ("", "")
    response_kind = {"group": group, "version": version, "kind": kind.kind}
    resource: JSON = {
        "resource": kind.plural,
        "responseKind": response_kind,
        "scope": "Namespaced" if kind.namespaced else "Cluster",
        "singularResource": kind.singular,
        "verbs": _verbs(kind),
    }
    if kind.short_names:
        resource["shortNames"] = list(kind.short_names)
    if kind.categories:
        resource["categories"] = list(kind.categories)
    if kind.subresources:
        resource["subresources"] = [
            {"subresource": sub.name,
             "responseKind": {"group": sub.group or group, "version": sub.version or version,
                              "kind": sub.kind or kind.kind},
             "verbs": sorted(sub.verbs)}
            for sub in sorted(kind.subresources, key=lambda sub: sub.name)
        ]
    return resource


def _group_discovery(by_gv: dict[str, list[Kind]], group: str, versions: list[str]) -> JSON:
    """One APIGroupDiscovery; the first version is the preferred one."""
    version_docs = []
    for version in versions:
        served = by_gv[f"{group}/{version}" if group else version]
        resources = sorted((_resource_discovery(kind) for kind in served), key=lambda r: str(r["resource"]))
        version_docs.append({"version": version, "resources": resources, "freshness": "Current"})
    # metav1.ObjectMeta as 1.32 serialises it: a zero creationTimestamp is written as null
    metadata: JSON = {"name": group, "creationTimestamp": None} if group else {"creationTimestamp": None}
    return {"metadata": metadata, "versions": version_docs}


def aggregated_discovery(kinds: KindRegistry, version: Literal["v2", "v2beta1"], core: bool) -> JSON:
    """The APIGroupDiscoveryList for `/api` (`core=True`: one item, the unnamed core group) or `/apis`."""
    by_gv = kinds.group_versions()
    if core:
        items = [_group_discovery(by_gv, "", kinds.core_versions())]
    else:
        items = [_group_discovery(by_gv, group, versions) for group, versions in kinds.groups().items()]
    return {"kind": AGGREGATED_KIND, "apiVersion": f"{AGGREGATED_GROUP}/{version}", "metadata": {}, "items": items}
