"""The garbage collector and the namespace controller, in the server by default: real sockets, memory and etcd."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import pytest

from apiserver.config import Config
from apiserver.testing import RunningServer, run_server
from tests.test_kind_registry import declare

T = TypeVar("T")

MERGE = "application/merge-patch+json"
SLICES = "/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"
SERVICES = "/api/v1/namespaces/{ns}/services"
PODS = "/api/v1/namespaces/{ns}/pods"
HOLD = "example.com/hold"


@pytest.fixture
async def http(apiserver: RunningServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(apiserver.url, timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


async def call(http: aiohttp.ClientSession, method: str, path: str, body: Any = None,
               content_type: str = "application/json", **query: str) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body)
    async with http.request(method, path, data=data, params=query, headers={"Content-Type": content_type}) as response:
        return response.status, await response.json()


async def ok(http: aiohttp.ClientSession, method: str, path: str, body: Any = None, **kw: Any) -> Any:
    status, answer = await call(http, method, path, body, **kw)
    assert status < 300, answer
    return answer


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = 15.0) -> T:
    """`check`'s first truthy answer, polled until `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def gone(http: aiohttp.ClientSession, path: str) -> bool:
    status, _ = await call(http, "GET", path)
    return status == 404


def owner_ref(obj: dict[str, Any], block: bool | None = None) -> dict[str, Any]:
    ref = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
           "uid": obj["metadata"]["uid"]}
    if block is not None:
        ref["blockOwnerDeletion"] = block
    return ref


def slice_body(name: str, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": name, **meta},
            "addressType": "IPv4", "endpoints": [], "ports": []}


def service_body(name: str, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, **meta}, "spec": {"ports": [{"port": 80}]}}


def pod_body(name: str, node: str = "", **meta: Any) -> dict[str, Any]:
    """A pod; one on a node is deleted gracefully (it would wait for a kubelet), an unscheduled one at once."""
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **meta}, "spec": spec}


# Garbage collection


async def test_background_deletion_cascades_across_kinds(http: aiohttp.ClientSession) -> None:
    """Service → EndpointSlice → Pod: deleting the Service removes the chain; an unrelated slice stays."""
    ns = "default"
    service = await ok(http, "POST", SERVICES.format(ns=ns), service_body("web"))
    owned = await ok(http, "POST", SLICES.format(ns=ns), slice_body("web-1", ownerReferences=[owner_ref(service)]))
    await ok(http, "POST", PODS.format(ns=ns), pod_body("web-p", ownerReferences=[owner_ref(owned)]))
    await ok(http, "POST", SLICES.format(ns=ns), slice_body("other"))
    await ok(http, "DELETE", SERVICES.format(ns=ns) + "/web")
    await eventually(lambda: gone(http, SLICES.format(ns=ns) + "/web-1"))
    await eventually(lambda: gone(http, PODS.format(ns=ns) + "/web-p"))
    assert not await gone(http, SLICES.format(ns=ns) + "/other")


async def test_dependent_of_a_missing_owner_is_collected(http: aiohttp.ClientSession) -> None:
    ghost = {"apiVersion": "v1", "kind": "Service", "name": "ghost", "uid": "00000000-0000-0000-0000-000000000001"}
    await ok(http, "POST", SLICES.format(ns="default"), slice_body("orphaned", ownerReferences=[ghost]))
    await eventually(lambda: gone(http, SLICES.format(ns="default") + "/orphaned"))


async def test_a_dependent_with_a_live_owner_only_loses_the_reference_to_the_gone_one(
        http: aiohttp.ClientSession) -> None:
    a = await ok(http, "POST", SERVICES.format(ns="default"), service_body("a"))
    b = await ok(http, "POST", SERVICES.format(ns="default"), service_body("b"))
    path = SLICES.format(ns="default") + "/shared"
    await ok(http, "POST", SLICES.format(ns="default"), slice_body("shared", ownerReferences=[owner_ref(a),
                                                                                             owner_ref(b)]))
    await ok(http, "DELETE", SERVICES.format(ns="default") + "/a")

    async def refs() -> list[str] | None:
        obj = await ok(http, "GET", path)
        names = [r["name"] for r in obj["metadata"].get("ownerReferences", [])]
        return names if names == ["b"] else None

    assert await eventually(refs) == ["b"]


async def test_orphan_deletion_keeps_dependents_without_the_reference(http: aiohttp.ClientSession) -> None:
    owner = await ok(http, "POST", SERVICES.format(ns="default"), service_body("parent"))
    path = SLICES.format(ns="default") + "/child"
    await ok(http, "POST", SLICES.format(ns="default"), slice_body("child", ownerReferences=[owner_ref(owner)]))
    marked = await ok(http, "DELETE", SERVICES.format(ns="default") + "/parent", propagationPolicy="Orphan")
    assert marked["metadata"]["finalizers"] == ["orphan"]
    await eventually(lambda: gone(http, SERVICES.format(ns="default") + "/parent"))
    child = await ok(http, "GET", path)
    assert "ownerReferences" not in child["metadata"]


async def test_foreground_deletion_waits_for_blocking_dependents(http: aiohttp.ClientSession) -> None:
    owner = await ok(http, "POST", SERVICES.format(ns="default"), service_body("fg"))
    held = SLICES.format(ns="default") + "/held"
    await ok(http, "POST", SLICES.format(ns="default"),
             slice_body("held", finalizers=[HOLD], ownerReferences=[owner_ref(owner, block=True)]))
    await ok(http, "POST", SLICES.format(ns="default"), slice_body("free", ownerReferences=[owner_ref(owner)]))
    marked = await ok(http, "DELETE", SERVICES.format(ns="default") + "/fg", propagationPolicy="Foreground")
    assert marked["metadata"]["finalizers"] == ["foregroundDeletion"]

    async def dependent_marked() -> bool:
        obj = await ok(http, "GET", held)
        return bool(obj["metadata"].get("deletionTimestamp"))

    await eventually(dependent_marked)
    await eventually(lambda: gone(http, SLICES.format(ns="default") + "/free"))
    assert not await gone(http, SERVICES.format(ns="default") + "/fg")  # blocked by `held`
    await ok(http, "PATCH", held, {"metadata": {"finalizers": None}}, content_type=MERGE)
    await eventually(lambda: gone(http, held))
    await eventually(lambda: gone(http, SERVICES.format(ns="default") + "/fg"))


async def test_foreground_deletion_cascades_in_the_foreground_through_dependents_with_dependents(
        http: aiohttp.ClientSession) -> None:
    """A → B → C, all blocking: B, which has a dependent, is deleted in the foreground too; C goes first, then B,
    then A; a watch sees them go in that order."""
    slices = SLICES.format(ns="default")
    a = await ok(http, "POST", SERVICES.format(ns="default"), service_body("a-fg"))
    b = await ok(http, "POST", slices, slice_body("b-fg", ownerReferences=[owner_ref(a, block=True)]))
    await ok(http, "POST", PODS.format(ns="default"), pod_body("c-fg", ownerReferences=[owner_ref(b, block=True)]))
    marked = await ok(http, "DELETE", SERVICES.format(ns="default") + "/a-fg", propagationPolicy="Foreground")
    rv = marked["metadata"]["resourceVersion"]
    await eventually(lambda: gone(http, SERVICES.format(ns="default") + "/a-fg"))
    assert await gone(http, slices + "/b-fg") and await gone(http, PODS.format(ns="default") + "/c-fg")
    order: list[str] = []
    async with http.get("/api/v1/pods", params={"watch": "true", "resourceVersion": rv, "timeoutSeconds": "1"}) as w:
        order += [json.loads(line)["object"]["metadata"]["name"] async for line in w.content
                  if json.loads(line)["type"] == "DELETED"]
    async with http.get("/apis/discovery.k8s.io/v1/endpointslices",
                        params={"watch": "true", "resourceVersion": rv, "timeoutSeconds": "1"}) as w:
        events = [json.loads(line) async for line in w.content]
    b_marked = next(e for e in events if e["type"] == "MODIFIED")["object"]["metadata"]
    assert b_marked["finalizers"] == ["foregroundDeletion"] and order == ["c-fg"]


async def test_foreground_deletion_of_a_blocking_cycle_completes(http: aiohttp.ClientSession) -> None:
    """A and B own each other with blockOwnerDeletion: B's references are unblocked (upstream's cycle breaking)."""
    services = SERVICES.format(ns="default")
    a = await ok(http, "POST", services, service_body("cycle-a"))
    b = await ok(http, "POST", SLICES.format(ns="default"), slice_body("cycle-b", ownerReferences=[owner_ref(a, True)]))
    await ok(http, "PATCH", services + "/cycle-a", {"metadata": {"ownerReferences": [owner_ref(b, True)]}},
             content_type=MERGE)
    await ok(http, "DELETE", services + "/cycle-a", propagationPolicy="Foreground")
    await eventually(lambda: gone(http, services + "/cycle-a"))
    await eventually(lambda: gone(http, SLICES.format(ns="default") + "/cycle-b"))


async def test_namespace_deleted_with_orphan_propagation_goes(http: aiohttp.ClientSession) -> None:
    await ok(http, "POST", "/api/v1/namespaces", {"metadata": {"name": "orphaning"}})
    await ok(http, "POST", SLICES.format(ns="orphaning"), slice_body("s"))
    marked = await ok(http, "DELETE", "/api/v1/namespaces/orphaning", propagationPolicy="Orphan")
    assert marked["metadata"]["finalizers"] == ["orphan"]
    await eventually(lambda: gone(http, "/api/v1/namespaces/orphaning"))


async def test_foreground_deletion_without_dependents_completes(http: aiohttp.ClientSession) -> None:
    await ok(http, "POST", SLICES.format(ns="default"), slice_body("lonely"))
    await ok(http, "DELETE", SLICES.format(ns="default") + "/lonely", propagationPolicy="Foreground")
    await eventually(lambda: gone(http, SLICES.format(ns="default") + "/lonely"))


# Namespace lifecycle


async def test_namespace_deletion_empties_it_and_honours_finalizers(http: aiohttp.ClientSession) -> None:
    await ok(http, "POST", "/api/v1/namespaces", {"metadata": {"name": "doomed"}})
    await ok(http, "POST", SERVICES.format(ns="doomed"), service_body("svc"))
    await ok(http, "POST", PODS.format(ns="doomed"), pod_body("pod", node="node-1"))  # no kubelet: no grace
    await ok(http, "POST", SLICES.format(ns="doomed"), slice_body("kept", finalizers=[HOLD]))
    answer = await ok(http, "DELETE", "/api/v1/namespaces/doomed")
    assert answer["status"]["phase"] == "Terminating" and answer["metadata"]["deletionTimestamp"]
    status, refused = await call(http, "POST", SERVICES.format(ns="doomed"), service_body("late"))
    assert status == 403 and refused["details"]["causes"][0]["reason"] == "NamespaceTerminating"

    async def held() -> dict[str, Any] | None:
        namespace = await ok(http, "GET", "/api/v1/namespaces/doomed")
        conditions = {c["type"]: c for c in namespace["status"].get("conditions", [])}
        remaining = conditions.get("NamespaceContentRemaining", {})
        return conditions if remaining.get("status") == "True" else None

    conditions = await eventually(held)
    assert conditions["NamespaceContentRemaining"]["message"] == \
        "Some resources are remaining: endpointslices.discovery.k8s.io has 1 resource instances"
    assert conditions["NamespaceFinalizersRemaining"] == {
        **conditions["NamespaceFinalizersRemaining"], "status": "True", "reason": "SomeFinalizersRemain",
        "message": f"Some content in the namespace has finalizers remaining: {HOLD} in 1 resource instances"}
    assert conditions["NamespaceDeletionContentFailure"]["status"] == "False"
    assert [c for c in conditions] == ["NamespaceDeletionDiscoveryFailure", "NamespaceDeletionGroupVersionParsingFailure",
                                       "NamespaceDeletionContentFailure", "NamespaceContentRemaining",
                                       "NamespaceFinalizersRemaining"]
    assert await gone(http, SERVICES.format(ns="doomed") + "/svc") and await gone(http, PODS.format(ns="doomed") + "/pod")
    await ok(http, "PATCH", SLICES.format(ns="doomed") + "/kept", {"metadata": {"finalizers": None}},
             content_type=MERGE)
    await eventually(lambda: gone(http, "/api/v1/namespaces/doomed"))
    await ok(http, "POST", "/api/v1/namespaces", {"metadata": {"name": "doomed"}})  # the name is free again


async def test_namespace_waits_for_its_other_spec_finalizers(http: aiohttp.ClientSession) -> None:
    await ok(http, "POST", "/api/v1/namespaces",
             {"metadata": {"name": "held-ns"}, "spec": {"finalizers": ["kubernetes", HOLD]}})
    await ok(http, "DELETE", "/api/v1/namespaces/held-ns")

    async def finalized() -> dict[str, Any] | None:
        namespace = await ok(http, "GET", "/api/v1/namespaces/held-ns")
        return namespace if namespace["spec"].get("finalizers") == [HOLD] else None

    namespace = await eventually(finalized)
    namespace["spec"]["finalizers"] = []
    await ok(http, "PUT", "/api/v1/namespaces/held-ns/finalize", namespace)
    assert await gone(http, "/api/v1/namespaces/held-ns")


async def test_switched_off_dependents_and_namespaces_stay() -> None:
    """envtest's behaviour: a kube-apiserver alone runs neither controller."""
    with run_server(Config(garbage_collector=False, namespace_controller=False)) as server:
        async with aiohttp.ClientSession(server.url) as http:
            owner = await ok(http, "POST", SERVICES.format(ns="default"), service_body("o"))
            await ok(http, "POST", SLICES.format(ns="default"), slice_body("d", ownerReferences=[owner_ref(owner)]))
            await ok(http, "POST", "/api/v1/namespaces", {"metadata": {"name": "stays"}})
            await ok(http, "DELETE", SERVICES.format(ns="default") + "/o")
            await ok(http, "DELETE", "/api/v1/namespaces/stays")
            await asyncio.sleep(0.5)
            assert not await gone(http, SLICES.format(ns="default") + "/d")
            namespace = await ok(http, "GET", "/api/v1/namespaces/stays")
            assert namespace["status"]["phase"] == "Terminating" and "conditions" not in namespace["status"]


async def test_namespace_goes_whatever_clients_write_meanwhile(http: aiohttp.ClientSession) -> None:
    """Clients keep patching the namespace's objects and the namespace itself, and try to create in it, while it
    is deleted: they get 200, 404 or 403 (never a conflict), and the namespace goes."""
    await ok(http, "POST", "/api/v1/namespaces", {"metadata": {"name": "busy"}})
    slices = SLICES.format(ns="busy")
    for i in range(10):
        await ok(http, "POST", slices, slice_body(f"s{i}"))
    answers: list[int] = []
    stop = asyncio.Event()

    async def writer(i: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            status, _ = await call(http, "PATCH", f"{slices}/s{i}", {"metadata": {"labels": {"n": str(n)}}},
                                   content_type=MERGE)
            answers.append(status)
            status, _ = await call(http, "PATCH", "/api/v1/namespaces/busy",
                                   {"metadata": {"annotations": {f"w{i}": str(n)}}}, content_type=MERGE)
            answers.append(status)
            status, _ = await call(http, "POST", slices, slice_body(f"late-{i}-{n}"))
            answers.append(status)

    writers = [asyncio.create_task(writer(i)) for i in range(4)]
    await asyncio.sleep(0.05)
    await ok(http, "DELETE", "/api/v1/namespaces/busy")
    await eventually(lambda: gone(http, "/api/v1/namespaces/busy"))
    stop.set()
    await asyncio.gather(*writers)
    assert set(answers) <= {200, 201, 403, 404}, sorted(set(answers))


async def test_custom_kinds_cascade_and_go_with_their_namespace() -> None:
    """A test's own kind served from the start and kinds served later (as a CustomResourceDefinition's) are
    collected and emptied out of namespaces like the built-in ones."""
    widget, gizmo = declare("Widget", "widgets"), declare("Gizmo", "gizmos")
    gadget = declare("Gadget", "gadgets", group="gadgets.example.com", namespaced=False)
    with run_server(kinds=[widget]) as server:
        server.add_kind(gizmo)
        server.add_kind(gadget)
        async with aiohttp.ClientSession(server.url) as http:
            widgets, gizmos = "/apis/example.com/v1/namespaces/{ns}/widgets", "/apis/example.com/v1/namespaces/{ns}/gizmos"
            service = await ok(http, "POST", SERVICES.format(ns="default"), service_body("owner"))
            owned = await ok(http, "POST", widgets.format(ns="default"), {
                "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {
                    "name": "w", "ownerReferences": [owner_ref(service)]}, "spec": {"size": 1}})
            await ok(http, "POST", gizmos.format(ns="default"), {
                "apiVersion": "example.com/v1", "kind": "Gizmo", "metadata": {
                    "name": "g", "ownerReferences": [owner_ref(owned)]}})
            namespace = await ok(http, "POST", "/api/v1/namespaces", {"metadata": {"name": "custom"}})
            await ok(http, "POST", "/apis/gadgets.example.com/v1/gadgets", {
                "apiVersion": "gadgets.example.com/v1", "kind": "Gadget", "metadata": {
                    "name": "gad", "ownerReferences": [owner_ref(namespace)]}})
            await ok(http, "POST", gizmos.format(ns="custom"), {"apiVersion": "example.com/v1", "kind": "Gizmo",
                                                                 "metadata": {"name": "inside"}})
            await ok(http, "DELETE", SERVICES.format(ns="default") + "/owner")
            await ok(http, "DELETE", "/api/v1/namespaces/custom")
            await eventually(lambda: gone(http, widgets.format(ns="default") + "/w"))
            await eventually(lambda: gone(http, gizmos.format(ns="default") + "/g"))
            await eventually(lambda: gone(http, "/api/v1/namespaces/custom"))
            await eventually(lambda: gone(http, "/apis/gadgets.example.com/v1/gadgets/gad"))
            assert await gone(http, gizmos.format(ns="custom") + "/inside")


def test_kubectl_cascading_deletes(kubectl: Any, apiserver: RunningServer) -> None:
    """`kubectl delete --cascade=foreground|orphan` waits for the owner to go, as on a cluster."""
    async def setup() -> None:
        async with aiohttp.ClientSession(apiserver.url) as http:
            for name in ("fg", "keep"):
                owner = await ok(http, "POST", SERVICES.format(ns="default"), service_body(name))
                await ok(http, "POST", SLICES.format(ns="default"), slice_body(f"{name}-child", ownerReferences=[
                    owner_ref(owner, block=True)]))

    asyncio.run(setup())
    assert kubectl("delete", "service", "fg", "--cascade=foreground").stdout.strip() == 'service "fg" deleted'
    assert kubectl("get", "endpointslice", "fg-child", check=False).returncode == 1
    assert kubectl("delete", "service", "keep", "--cascade=orphan").stdout.strip() == 'service "keep" deleted'
    kept = json.loads(kubectl("get", "endpointslice", "keep-child", "-o", "json").stdout)
    assert "ownerReferences" not in kept["metadata"]
