"""Discovery, `/version` and OpenAPI v3 as kubectl 1.27-1.33 reads them (kubectl.md §0, §2.1-§2.3).

The handlers run on a bare application holding only these routes; the last tests point real kubectl
binaries at it.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from apiserver.discovery import negotiate_discovery
from apiserver.handlers.discovery import setup
from apiserver.kind_registry import KindRegistry
from apiserver.kinds import KINDS
from apiserver.openapi import openapi_v3
from apiserver.state import SERVED_KINDS

ACCEPT_V2 = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
)  # kubectl 1.30 and later
ACCEPT_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"  # 1.27-1.29
ACCEPT_LEGACY = "application/json, */*"  # legacy /api/v1 and /apis/<group>/<version>
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v={};as=APIGroupDiscoveryList"
KUBECTL_DIR = Path("/usr/lib/google-cloud-sdk/bin")
Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    app = web.Application()
    app[SERVED_KINDS] = KindRegistry()
    setup(app)
    test_server = TestServer(app, host="127.0.0.1")
    async with test_server:
        yield test_server


@pytest.fixture
async def client(server: TestServer) -> AsyncIterator[Client]:
    async with TestClient(server) as test_client:
        yield test_client


async def get_json(client: Client, path: str, accept: str = "application/json") -> Any:
    resp = await client.get(path, headers={"Accept": accept})
    assert resp.status == 200, path
    return await resp.json(content_type=None)


def gvk(kind: Any) -> dict[str, str]:
    return {"group": kind.group, "version": kind.version, "kind": kind.kind}


def doc_name(api_version: str) -> str:
    return f"apis/{api_version}" if "/" in api_version else f"api/{api_version}"


# /version


async def test_version_reports_a_semver_1_32(client: Client) -> None:
    info = await get_json(client, "/version", ACCEPT_LEGACY)
    assert (info["major"], info["minor"]) == ("1", "32")
    assert info["gitVersion"].startswith("v1.32.")
    assert all(part.isdigit() for part in info["gitVersion"][1:].split("."))


# Discovery


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (ACCEPT_V2, ("v2", "json")),
        (ACCEPT_V2BETA1, ("v2beta1", "json")),
        (ACCEPT_LEGACY, ("legacy", "json")),
        ("application/json", ("legacy", "json")),
        ("", ("legacy", "json")),
        ("application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", ("v2", "protobuf")),
        ("application/vnd.kubernetes.protobuf", ("legacy", "protobuf")),
        ("application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList,application/json", ("legacy", "json")),
        ("application/json,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", ("legacy", "json")),
    ],
)
def test_negotiation_walks_accept_clauses_in_order(accept: str, expected: tuple[str, str]) -> None:
    assert negotiate_discovery(accept) == expected


@pytest.mark.parametrize(("accept", "version"), [(ACCEPT_V2, "v2"), (ACCEPT_V2BETA1, "v2beta1")])
@pytest.mark.parametrize("path", ["/api", "/apis"])
async def test_aggregated_discovery_echoes_its_content_type(client: Client, path: str, accept: str, version: str) -> None:
    resp = await client.get(path, headers={"Accept": accept})
    assert resp.status == 200
    assert resp.headers["Content-Type"] == AGGREGATED.format(version)
    body = await resp.json(content_type=None)
    assert body["kind"] == "APIGroupDiscoveryList"
    assert body["apiVersion"] == f"apidiscovery.k8s.io/{version}"


@pytest.mark.parametrize("path", ["/api", "/apis"])
async def test_legacy_discovery_is_plain_json(client: Client, path: str) -> None:
    resp = await client.get(path, headers={"Accept": ACCEPT_LEGACY})
    assert resp.headers["Content-Type"] == "application/json"
    body = await resp.json()
    assert body["kind"] == ("APIVersions" if path == "/api" else "APIGroupList")


async def test_legacy_api_versions_and_groups(client: Client) -> None:
    api = await get_json(client, "/api")
    assert api["versions"] == ["v1"]
    assert api["serverAddressByClientCIDRs"][0]["clientCIDR"] == "0.0.0.0/0"
    groups = (await get_json(client, "/apis"))["groups"]
    assert [g["name"] for g in groups] == ["apps", "events.k8s.io", "rbac.authorization.k8s.io", "apiextensions.k8s.io",
                                           "coordination.k8s.io", "discovery.k8s.io"]
    group = await get_json(client, "/apis/discovery.k8s.io")
    assert group["kind"] == "APIGroup"
    assert group["preferredVersion"] == {"groupVersion": "discovery.k8s.io/v1", "version": "v1"}


async def test_aggregated_items_have_what_client_go_requires(client: Client) -> None:
    core = await get_json(client, "/api", ACCEPT_V2)
    assert len(core["items"]) == 1
    assert not core["items"][0]["metadata"].get("name")
    assert core["items"][0]["versions"][0]["version"] == "v1"
    groups = await get_json(client, "/apis", ACCEPT_V2)
    assert [item["metadata"]["name"] for item in groups["items"]] == [
        "apps", "events.k8s.io", "rbac.authorization.k8s.io", "apiextensions.k8s.io", "coordination.k8s.io",
        "discovery.k8s.io"]
    for item in core["items"] + groups["items"]:
        for version in item["versions"]:
            assert version["freshness"] == "Current"
            for resource in version["resources"]:
                assert resource["responseKind"]["kind"]
                assert resource["scope"] in ("Namespaced", "Cluster")
                assert resource["verbs"]
                for sub in resource.get("subresources", ()):
                    assert sub["responseKind"]["kind"]


def split_aggregated(body: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """What client-go's SplitGroupsAndResources makes of an aggregated list: legacy resources per group-version."""
    result: dict[str, list[dict[str, Any]]] = {}
    for item in body["items"]:
        group = item["metadata"].get("name", "")
        for version in item["versions"]:
            resources = result.setdefault(f"{group}/{version['version']}" if group else version["version"], [])
            for r in version["resources"]:
                namespaced = r["scope"] == "Namespaced"
                resources.append(
                    {"name": r["resource"], "namespaced": namespaced, "kind": r["responseKind"]["kind"],
                     "verbs": r["verbs"], "shortNames": r.get("shortNames", []), "categories": r.get("categories", [])}
                )
                for sub in r.get("subresources", ()):
                    resources.append(
                        {"name": f"{r['resource']}/{sub['subresource']}", "namespaced": namespaced,
                         "kind": sub["responseKind"]["kind"], "verbs": sub["verbs"], "shortNames": [], "categories": []}
                    )
    return result


async def test_aggregated_and_legacy_discovery_agree(client: Client) -> None:
    aggregated = split_aggregated(await get_json(client, "/api", ACCEPT_V2))
    aggregated.update(split_aggregated(await get_json(client, "/apis", ACCEPT_V2)))
    assert set(aggregated) == set(KindRegistry().group_versions())
    for api_version, resources in aggregated.items():
        path = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
        legacy = (await get_json(client, path, ACCEPT_LEGACY))["resources"]
        keys = ("name", "namespaced", "kind", "verbs", "shortNames", "categories")
        assert sorted(resources, key=lambda r: r["name"]) == [
            {k: r.get(k, []) for k in keys} for r in sorted(legacy, key=lambda r: r["name"])
        ]


async def test_resource_lists_carry_every_kind_and_status_subresource(client: Client) -> None:
    for api_version, kinds in KindRegistry().group_versions().items():
        body = await get_json(client, f"/{doc_name(api_version)}", ACCEPT_LEGACY)
        assert (body["kind"], body["groupVersion"]) == ("APIResourceList", api_version)
        by_name = {r["name"]: r for r in body["resources"]}
        for kind in kinds:
            resource = by_name[kind.plural]
            assert (resource["kind"], resource["singularName"], resource["namespaced"]) == (
                kind.kind, kind.singular, kind.namespaced
            )
            assert resource.get("shortNames", []) == list(kind.short_names)
            if kind.subresource("status"):
                assert by_name[f"{kind.plural}/status"]["verbs"] == ["get", "patch", "update"]
    pods = await get_json(client, "/api/v1")
    assert {"pods/status", "services/status", "namespaces/status"} <= {r["name"] for r in pods["resources"]}


async def test_discovery_details_as_kube_apiserver_writes_them(client: Client) -> None:
    """The core list has no apiVersion (named groups' lists do); namespaces have no deletecollection; aggregated
    items carry the zero creationTimestamp as null (1.32's ObjectMeta serialisation)."""
    core = await get_json(client, "/api/v1")
    assert list(core) == ["kind", "groupVersion", "resources"]
    assert (await get_json(client, "/apis/discovery.k8s.io/v1"))["apiVersion"] == "v1"
    namespaces = next(r for r in core["resources"] if r["name"] == "namespaces")
    assert namespaces["verbs"] == ["create", "delete", "get", "list", "patch", "update", "watch"]
    assert (await get_json(client, "/api", ACCEPT_V2))["items"][0]["metadata"] == {"creationTimestamp": None}
    assert (await get_json(client, "/apis", ACCEPT_V2))["items"][0]["metadata"] == {
        "name": "apps", "creationTimestamp": None}


# The core group's subresources as kube-apiserver v1.32 lists them: (name, kind, group/version if other, verbs).
SUBRESOURCES = [
    ("namespaces/finalize", "Namespace", "", ["update"]),
    ("namespaces/status", "Namespace", "", ["get", "patch", "update"]),
    ("nodes/proxy", "NodeProxyOptions", "", ["create", "delete", "get", "patch", "update"]),
    ("nodes/status", "Node", "", ["get", "patch", "update"]),
    ("pods/attach", "PodAttachOptions", "", ["create", "get"]),
    ("pods/binding", "Binding", "", ["create"]),
    ("pods/ephemeralcontainers", "Pod", "", ["get", "patch", "update"]),
    ("pods/eviction", "Eviction", "policy/v1", ["create"]),
    ("pods/exec", "PodExecOptions", "", ["create", "get"]),
    ("pods/log", "Pod", "", ["get"]),
    ("pods/portforward", "PodPortForwardOptions", "", ["create", "get"]),
    ("pods/proxy", "PodProxyOptions", "", ["create", "delete", "get", "patch", "update"]),
    ("pods/status", "Pod", "", ["get", "patch", "update"]),
    ("serviceaccounts/token", "TokenRequest", "authentication.k8s.io/v1", ["create"]),
    ("services/proxy", "ServiceProxyOptions", "", ["create", "delete", "get", "patch", "update"]),
    ("services/status", "Service", "", ["get", "patch", "update"]),
]


async def test_subresources_listed_as_kube_apiserver_lists_them(client: Client) -> None:
    """Every subresource of the kinds served, with its kind (policy/v1 Eviction's group and version included) and
    verbs, in the legacy list and in aggregated discovery alike."""
    legacy = [r for r in (await get_json(client, "/api/v1"))["resources"] if "/" in r["name"]]
    expected = []
    for name, kind, group_version, verbs in SUBRESOURCES:
        entry: dict[str, Any] = {"name": name, "singularName": "",
                                 "namespaced": not name.startswith(("namespaces", "nodes"))}
        if group_version:
            entry["group"], entry["version"] = group_version.split("/")
        expected.append({**entry, "kind": kind, "verbs": verbs})
    assert legacy == expected
    resources = (await get_json(client, "/api", ACCEPT_V2))["items"][0]["versions"][0]["resources"]
    aggregated = [(f"{r['resource']}/{sub['subresource']}", sub["responseKind"], sub["verbs"])
                  for r in resources for sub in r.get("subresources", ())]
    assert aggregated == [
        (name, {"group": group_version.split("/")[0], "version": group_version.split("/")[-1], "kind": kind}
         if group_version else {"group": "", "version": "", "kind": kind}, verbs)
        for name, kind, group_version, verbs in SUBRESOURCES]


async def test_openapi_paths_of_subresources_that_read_and_write_their_parent(client: Client) -> None:
    """ephemeralcontainers and finalize are described as upstream; a path of one operation lists its query
    parameters on the path."""
    paths = (await get_json(client, "/openapi/v3/api/v1"))["paths"]
    ephemeral = paths["/api/v1/namespaces/{namespace}/pods/{name}/ephemeralcontainers"]
    assert [ephemeral[m]["operationId"] for m in ("get", "put", "patch")] == [
        "readCoreV1NamespacedPodEphemeralcontainers", "replaceCoreV1NamespacedPodEphemeralcontainers",
        "patchCoreV1NamespacedPodEphemeralcontainers"]
    finalize = paths["/api/v1/namespaces/{name}/finalize"]
    assert set(finalize) == {"put", "parameters"} and "parameters" not in finalize["put"]
    assert finalize["put"]["description"] == "replace finalize of the specified Namespace"
    assert [p["name"] for p in finalize["parameters"]] == ["dryRun", "fieldManager", "fieldValidation", "name",
                                                           "pretty"]
    log = paths["/api/v1/namespaces/{namespace}/pods/{name}/log"]["get"]  # upstream's: a stream, not the object
    assert (log["operationId"], log["responses"]["200"]["content"]["text/plain"]) == (
        "readCoreV1NamespacedPodLog", {"schema": {"type": "string"}})


@pytest.mark.parametrize("path", ["/api", "/apis", "/api/v1", "/apis/discovery.k8s.io", "/apis/discovery.k8s.io/v1",
                                  "/version"])
async def test_discovery_with_a_trailing_slash(client: Client, path: str) -> None:
    """kube-apiserver answers `/api/` as `/api` (kr8s asks so), and every discovery path likewise."""
    assert await get_json(client, path + "/") == await get_json(client, path)


@pytest.mark.parametrize("path", ["/api", "/apis", "/api/v1", "/apis/discovery.k8s.io/v1"])
@pytest.mark.parametrize("accept", ["application/yaml", "application/json;q=0.5, application/yaml"])
async def test_legacy_discovery_in_yaml(client: Client, path: str, accept: str) -> None:
    resp = await client.get(path, headers={"Accept": accept})
    assert resp.status == 200 and resp.headers["Content-Type"] == "application/yaml"
    assert yaml.safe_load(await resp.read()) == await get_json(client, path)


# OpenAPI v3


async def test_index_lists_every_group_version_with_the_document_hash(client: Client) -> None:
    resp = await client.get("/openapi/v3")
    index = await resp.json(content_type=None)
    assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"  # as kube-openapi serves the index
    assert resp.headers["ETag"].startswith('"')
    assert set(index["paths"]) == {doc_name(api_version) for api_version in KindRegistry().group_versions()}
    for name, entry in index["paths"].items():
        url = entry["serverRelativeURL"]
        assert url.startswith(f"/openapi/v3/{name}?hash=")
        doc = await client.get(url)
        assert doc.status == 200
        digest = hashlib.sha512(await doc.read()).hexdigest().upper()
        assert url.endswith(f"?hash={digest}")
        assert doc.headers["ETag"] == f'"{digest}"'


async def test_index_revalidates_with_304(client: Client) -> None:
    etag = (await client.get("/openapi/v3")).headers["ETag"]
    resp = await client.get("/openapi/v3", headers={"If-None-Match": etag})
    assert resp.status == 304


async def test_hashed_document_is_immutable_for_a_year(client: Client) -> None:
    url = (await get_json(client, "/openapi/v3"))["paths"]["apis/discovery.k8s.io/v1"]["serverRelativeURL"]
    resp = await client.get(url, headers={"Accept": "application/json"})
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["Cache-Control"] == "public, immutable"
    assert resp.headers["Vary"] == "Accept"
    expires = parsedate_to_datetime(resp.headers["Expires"])
    assert expires - datetime.now(UTC) > timedelta(days=364)
    again = await client.get(url, headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status == 304


async def test_stale_hash_redirects_to_the_current_url(client: Client) -> None:
    url = (await get_json(client, "/openapi/v3"))["paths"]["api/v1"]["serverRelativeURL"]
    resp = await client.get("/openapi/v3/api/v1?hash=0123ABCD", allow_redirects=False)
    assert resp.status == 301
    assert resp.headers["Location"] == url


async def test_unhashed_document_must_be_revalidated(client: Client) -> None:
    resp = await client.get("/openapi/v3/api/v1")
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-cache, private"
    again = await client.get("/openapi/v3/api/v1", headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status == 304


@pytest.mark.parametrize("path", ["/openapi/v3/apis/batch/v1", "/openapi/v3/", "/openapi/v3/api/v2?hash=X"])
async def test_unknown_group_version_is_an_empty_404(client: Client, path: str) -> None:
    resp = await client.get(path)
    assert resp.status == 404
    assert "Content-Type" not in resp.headers and await resp.read() == b""


def all_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from all_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from all_refs(value)


@pytest.mark.parametrize("api_version", list(KindRegistry().group_versions()))
async def test_every_kind_passes_kubectls_validation_probe(client: Client, api_version: str) -> None:
    doc = await get_json(client, f"/openapi/v3/{doc_name(api_version)}")
    assert doc["openapi"] == "3.0.0"
    schemas = doc["components"]["schemas"]
    for ref in all_refs(doc):
        assert ref.removeprefix("#/components/schemas/") in schemas, f"{ref} does not resolve in the document"
    for kind in KindRegistry().group_versions()[api_version]:
        # kubectl stops at the first PATCH it finds for the gvk (map order), so every one needs fieldValidation.
        patches = [p["patch"] for p in doc["paths"].values() if p.get("patch", {}).get(
            "x-kubernetes-group-version-kind") == gvk(kind)]
        assert patches, kind.kind
        for patch in patches:
            assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
            assert set(patch["requestBody"]["content"]) == {
                "application/apply-patch+yaml",
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/strategic-merge-patch+json",
            }
        assert schemas[kind.schema.ref]["x-kubernetes-group-version-kind"] == [gvk(kind)]
        assert schemas[kind.schema.ref + "List"]["x-kubernetes-group-version-kind"] == [
            {**gvk(kind), "kind": kind.list_kind}
        ]


def test_operations_are_named_and_tagged_as_upstream() -> None:
    slices = openapi_v3(KindRegistry(), "apis/discovery.k8s.io/v1")["paths"]
    collection = slices["/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"]
    assert collection["get"]["operationId"] == "listDiscoveryV1NamespacedEndpointSlice"
    assert collection["post"]["operationId"] == "createDiscoveryV1NamespacedEndpointSlice"
    assert collection["delete"]["operationId"] == "deleteDiscoveryV1CollectionNamespacedEndpointSlice"
    assert collection["delete"]["x-kubernetes-action"] == "deletecollection"
    everywhere = slices["/apis/discovery.k8s.io/v1/endpointslices"]["get"]
    assert everywhere["operationId"] == "listDiscoveryV1EndpointSliceForAllNamespaces"
    watch = slices["/apis/discovery.k8s.io/v1/watch/namespaces/{namespace}/endpointslices/{name}"]["get"]
    assert (watch["operationId"], watch["x-kubernetes-action"]) == ("watchDiscoveryV1NamespacedEndpointSlice", "watch")
    patch = slices["/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices/{name}"]["patch"]
    assert "force" in {p["name"] for p in patch["parameters"]}
    assert patch["requestBody"]["content"]["application/merge-patch+json"]["schema"] == {
        "$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
    }
    core = openapi_v3(KindRegistry(), "api/v1")["paths"]
    assert core["/api/v1/namespaces/{namespace}/services/{name}"]["patch"]["operationId"] == (
        "patchCoreV1NamespacedService"
    )
    assert core["/api/v1/namespaces"]["get"]["operationId"] == "listCoreV1Namespace"
    assert core["/api/v1/watch/namespaces/{name}"]["get"]["operationId"] == "watchCoreV1Namespace"
    assert core["/api/v1/namespaces/{namespace}/pods/{name}/status"]["get"]["operationId"] == (
        "readCoreV1NamespacedPodStatus"
    )
    assert "/api/v1/namespaces/{namespace}/endpoints/{name}/status" not in core
    list_params = {p["name"] for p in collection["get"]["parameters"]}
    assert {"labelSelector", "fieldSelector", "limit", "continue", "resourceVersion", "resourceVersionMatch",
            "sendInitialEvents", "allowWatchBookmarks", "timeoutSeconds", "watch"} <= list_params


def test_operations_described_as_upstream() -> None:
    """The installer's wording: no article before plural-looking kinds, the deleted object for Pods and Services,
    and upstream's parameter texts (PATCH's fieldManager says more)."""
    core = openapi_v3(KindRegistry(), "api/v1")["paths"]
    assert core["/api/v1/namespaces/{namespace}/endpoints"]["post"]["description"] == "create Endpoints"
    assert core["/api/v1/namespaces"]["post"]["description"] == "create a Namespace"
    pod = core["/api/v1/namespaces/{namespace}/pods/{name}"]
    assert pod["delete"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/io.k8s.api.core.v1.Pod"
    }
    namespace = core["/api/v1/namespaces/{name}"]["delete"]["responses"]["200"]["content"]["application/json"]
    assert namespace["schema"]["$ref"].endswith(".Status")
    managers = {op: next(p["description"] for p in pod[op]["parameters"] if p["name"] == "fieldManager")
                for op in ("put", "patch")}
    assert managers["put"].endswith("as defined by https://golang.org/pkg/unicode/#IsPrint.")
    assert managers["patch"].endswith("but optional for non-apply patch types (JsonPatch, MergePatch, "
                                      "StrategicMergePatch).")
    deletes = {p["name"] for p in pod["delete"]["parameters"]}
    assert "ignoreStoreReadErrorWithClusterBreakingPotential" in deletes


def test_schemas_carry_list_and_patch_semantics() -> None:
    schemas = openapi_v3(KindRegistry(), "apis/discovery.k8s.io/v1")["components"]["schemas"]
    meta = "io.k8s.apimachinery.pkg.apis.meta.v1."
    slice_ = schemas["io.k8s.api.discovery.v1.EndpointSlice"]
    assert slice_["required"] == ["addressType", "endpoints"]
    metadata = slice_["properties"]["metadata"]
    assert (metadata["allOf"], metadata["default"]) == ([{"$ref": f"#/components/schemas/{meta}ObjectMeta"}], {})
    assert metadata["description"].startswith("Standard object's metadata.")
    assert slice_["properties"]["ports"]["x-kubernetes-list-type"] == "atomic"
    assert "Possible enum values" in slice_["properties"]["addressType"]["description"]  # upstream has no enum
    assert schemas["io.k8s.api.discovery.v1.EndpointPort"]["x-kubernetes-map-type"] == "atomic"
    assert "default" not in schemas["io.k8s.api.discovery.v1.EndpointPort"]["properties"]["protocol"]  # SetDefaults
    owners = schemas[meta + "ObjectMeta"]["properties"]["ownerReferences"]
    assert owners["x-kubernetes-list-type"] == "map"
    assert owners["x-kubernetes-list-map-keys"] == ["uid"]
    assert (owners["x-kubernetes-patch-merge-key"], owners["x-kubernetes-patch-strategy"]) == ("uid", "merge")
    created = schemas[meta + "ObjectMeta"]["properties"]["creationTimestamp"]  # a named type, as upstream's
    assert created["allOf"] == [{"$ref": f"#/components/schemas/{meta}Time"}] and created["description"]
    assert schemas[meta + "Time"]["format"] == "date-time"
    for name in ("Status", "StatusDetails", "StatusCause", "ListMeta", "DeleteOptions", "Preconditions", "Patch",
                 "WatchEvent"):
        assert meta + name in schemas
    core = openapi_v3(KindRegistry(), "api/v1")["components"]["schemas"]
    int_or_string = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
    assert core["io.k8s.api.core.v1.ServicePort"]["properties"]["targetPort"]["allOf"] == [
        {"$ref": f"#/components/schemas/{int_or_string}"}]
    assert core[int_or_string]["format"] == "int-or-string"


# Real kubectl against the handlers


def kubectl_path(version: str) -> Path:
    binary = KUBECTL_DIR / f"kubectl.{version}"
    if not os.access(binary, os.X_OK):
        pytest.skip(f"{binary} is not installed")
    return binary


async def run_kubectl(binary: Path, server: TestServer, tmp_path: Path, *args: str) -> str:
    """Run kubectl with a fresh cache (the discovery cache is keyed by host:port) and no kubeconfig."""
    env = {**os.environ, "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "no-kubeconfig")}
    proc = await asyncio.create_subprocess_exec(
        str(binary), "--cache-dir", str(tmp_path / "cache"), "--server", f"http://127.0.0.1:{server.port}", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, stderr.decode()
    return stdout.decode()


async def test_kubectl_explain_endpoint_conditions(server: TestServer, tmp_path: Path) -> None:
    out = await run_kubectl(kubectl_path("1.32"), server, tmp_path, "explain", "endpointslices.endpoints.conditions")
    assert "KIND:       EndpointSlice" in out
    assert "conditions contains information about the current status of the endpoint" in out
    for field in ("ready\t<boolean>", "serving\t<boolean>", "terminating\t<boolean>"):
        assert field in out


async def test_kubectl_explain_service_ports(server: TestServer, tmp_path: Path) -> None:
    out = await run_kubectl(kubectl_path("1.32"), server, tmp_path, "explain", "services.spec.ports")
    assert "ports <[]ServicePort>" in out
    assert "port\t<integer> -required-" in out
    assert "enum: SCTP, TCP, UDP" in out
    assert "targetPort" in out


@pytest.mark.parametrize("version", ["1.27", "1.28", "1.29", "1.30", "1.31", "1.32", "1.33"])
async def test_kubectl_finds_every_resource_through_negotiated_discovery(
    server: TestServer, tmp_path: Path, version: str
) -> None:
    out = await run_kubectl(kubectl_path(version), server, tmp_path, "api-resources", "--no-headers")
    rows = {line.split()[0]: line.split() for line in out.splitlines()}
    assert set(rows) == {kind.plural for kind in KINDS}
    assert rows["endpointslices"][1:] == ["discovery.k8s.io/v1", "true", "EndpointSlice"]
    assert rows["services"][1:] == ["svc", "v1", "true", "Service"]
