"""Smoke tests of the asyncio Python clients: kr8s, lightkube and kubernetes_asyncio, each connected with the
kubeconfig the server writes, create, get, list, watch, patch and delete an EndpointSlice, a Service and a Pod."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from apiserver.testing import RunningServer

NS = "default"
WAIT = 10.0  # seconds a watch may take to show an event

SLICE: dict[str, Any] = {
    "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
    "metadata": {"name": "web-1", "namespace": NS, "labels": {"kubernetes.io/service-name": "web"}},
    "addressType": "IPv4",
    "endpoints": [{"addresses": ["10.0.0.7"], "conditions": {"ready": True}}],
    "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
}
SERVICE: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": NS},
    "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
}
POD: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-0", "namespace": NS, "labels": {"app": "web"}},
    "spec": {"containers": [{"name": "app", "image": "nginx"}]},
}


class Events:
    """A watch consumed by a task: (type, name) pairs, awaited until one shows up or WAIT runs out."""

    def __init__(self, stream: AsyncIterator[tuple[str, str]]) -> None:
        self.seen: list[tuple[str, str]] = []
        self._changed = asyncio.Condition()
        self._task = asyncio.create_task(self._consume(stream))

    async def _consume(self, stream: AsyncIterator[tuple[str, str]]) -> None:
        async for event in stream:
            async with self._changed:
                self.seen.append(event)
                self._changed.notify_all()

    async def wait_for(self, event: tuple[str, str]) -> None:
        async def until() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: event in self.seen)

        try:
            await asyncio.wait_for(until(), WAIT)
        except TimeoutError:
            raise AssertionError(f"no {event} within {WAIT} s; seen {self.seen}") from None

    async def close(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


async def watched(events: Events, change: Callable[[], Awaitable[Any]], name: str) -> None:
    """The watch showed `name` as ADDED; after `change` it shows it MODIFIED."""
    await events.wait_for(("ADDED", name))
    await change()
    await events.wait_for(("MODIFIED", name))


# --- kr8s --------------------------------------------------------------------------------------------


async def test_kr8s(apiserver: RunningServer, caplog: pytest.LogCaptureFixture) -> None:
    kr8s = pytest.importorskip("kr8s")
    from kr8s.asyncio.objects import Pod, Service, new_class

    endpoint_slice = new_class("EndpointSlice", "discovery.k8s.io/v1", namespaced=True)
    caplog.set_level(logging.INFO, logger="httpx")
    api = await kr8s.asyncio.api(kubeconfig=str(apiserver.kubeconfig))
    version = await api.version()
    assert (version["major"], version["minor"]) == ("1", "32")
    resources = {r["name"]: r for r in await api.api_resources()}
    assert resources["endpointslices"]["version"] == "discovery.k8s.io/v1" and resources["pods"]["namespaced"]
    # kr8s asks for /version/ and /apis/ (and /api/) with a trailing slash
    requested = {urlsplit(record.getMessage().split()[3]).path for record in caplog.records
                 if record.getMessage().startswith("HTTP Request: GET") and "200 OK" in record.getMessage()}
    assert {"/version/", "/apis/", "/api/"} <= requested, requested

    es = await endpoint_slice(SLICE, api=api)
    await es.create()
    service = await Service(SERVICE, api=api)
    await service.create()
    pod = await Pod(POD, api=api)
    await pod.create()
    assert service.spec.clusterIP and pod.status.phase == "Pending" and es.metadata.uid

    got = await Service.get("web", namespace=NS, api=api)
    assert got.spec.ports[0].targetPort == 8080
    for kind, names in (("endpointslices", ["web-1"]), ("services", ["kubernetes", "web"]), ("pods", ["web-0"])):
        assert sorted([obj.name async for obj in api.get(kind, namespace=NS)]) == names

    async def stream() -> AsyncIterator[tuple[str, str]]:
        async for event, obj in api.watch("endpointslices", namespace=NS):
            yield event, obj.name

    events = Events(stream())
    try:
        await watched(events, lambda: es.label({"watched": "yes"}), "web-1")
    finally:
        await events.close()

    await es.patch({"ports": [{"name": "http", "port": 9090, "protocol": "TCP"}]}, type="merge")
    await es.patch([{"op": "add", "path": "/metadata/labels/json", "value": "1"}], type="json")
    await service.patch({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}})  # a merge patch: replaces the list
    await pod.patch({"metadata": {"labels": {"tier": "fe"}}})
    await es.refresh()
    await service.refresh()
    await pod.refresh()
    assert es.labels == {"kubernetes.io/service-name": "web", "watched": "yes", "json": "1"}
    assert es.raw["ports"] == [{"name": "http", "port": 9090, "protocol": "TCP"}]
    assert service.raw["spec"]["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 9090}]
    assert pod.labels == {"app": "web", "tier": "fe"}

    for obj in (es, service, pod):
        await obj.delete()
        assert not await obj.exists()


# --- lightkube ---------------------------------------------------------------------------------------


async def test_lightkube(apiserver: RunningServer) -> None:
    lightkube = pytest.importorskip("lightkube")
    from lightkube.resources.core_v1 import Pod, Service
    from lightkube.resources.discovery_v1 import EndpointSlice
    from lightkube.types import PatchType

    client = lightkube.AsyncClient(config=lightkube.KubeConfig.from_file(str(apiserver.kubeconfig)))
    try:
        es = await client.create(EndpointSlice.from_dict(SLICE))
        service = await client.create(Service.from_dict(SERVICE))
        pod = await client.create(Pod.from_dict(POD))
        assert es.metadata.uid and service.spec.clusterIP and pod.status.phase == "Pending"
        assert es.endpoints[0].conditions.ready is True

        got = await client.get(Service, "web", namespace=NS)
        assert got.spec.ports[0].targetPort == 8080 and got.spec.ports[0].protocol == "TCP"
        assert [s.metadata.name async for s in client.list(EndpointSlice, namespace=NS)] == ["web-1"]
        assert sorted([s.metadata.name async for s in client.list(Service, namespace=NS)]) == ["kubernetes", "web"]
        assert [p.metadata.name async for p in client.list(Pod, namespace="*")] == ["web-0"]

        async def stream() -> AsyncIterator[tuple[str, str]]:
            async for event, obj in client.watch(EndpointSlice, namespace=NS):
                yield event, obj.metadata.name

        events = Events(stream())
        try:
            await watched(events, lambda: client.patch(EndpointSlice, "web-1", {"metadata": {"labels": {"s": "1"}}},
                                                       namespace=NS), "web-1")
        finally:
            await events.close()

        await client.patch(EndpointSlice, "web-1", {"metadata": {"labels": {"m": "1"}}}, namespace=NS,
                           patch_type=PatchType.MERGE)
        await client.patch(EndpointSlice, "web-1", [{"op": "add", "path": "/metadata/labels/j", "value": "1"}],
                           namespace=NS, patch_type=PatchType.JSON)
        applied = await client.apply(EndpointSlice.from_dict({**SLICE, "ports": [{"name": "http", "port": 9090}]}),
                                     field_manager="lightkube", force=True)
        assert applied.ports[0].port == 9090
        assert {m.manager for m in applied.metadata.managedFields} >= {"lightkube"}
        assert applied.metadata.labels == {"kubernetes.io/service-name": "web", "s": "1", "m": "1", "j": "1"}
        await client.patch(Service, "web", {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}, namespace=NS)
        assert (await client.get(Service, "web", namespace=NS)).spec.ports[0].targetPort == 9090
        await client.patch(Pod, "web-0", {"metadata": {"labels": {"tier": "fe"}}}, namespace=NS)
        assert (await client.get(Pod, "web-0", namespace=NS)).metadata.labels == {"app": "web", "tier": "fe"}

        for resource, name in ((EndpointSlice, "web-1"), (Service, "web"), (Pod, "web-0")):
            await client.delete(resource, name, namespace=NS)
            with pytest.raises(lightkube.ApiError) as gone:
                await client.get(resource, name, namespace=NS)
            assert gone.value.status.code == 404 and gone.value.status.reason == "NotFound"
    finally:
        await client.close()


# --- kubernetes_asyncio ------------------------------------------------------------------------------


async def test_kubernetes_asyncio(apiserver: RunningServer) -> None:
    pytest.importorskip("kubernetes_asyncio")
    from kubernetes_asyncio import client, config, watch
    from kubernetes_asyncio.client.exceptions import ApiException

    api_client = await config.new_client_from_config(config_file=str(apiserver.kubeconfig))
    async with api_client:
        discovery = client.DiscoveryV1Api(api_client)
        core = client.CoreV1Api(api_client)
        assert (await client.VersionApi(api_client).get_code()).git_version.startswith("v1.32.")

        es = await discovery.create_namespaced_endpoint_slice(NS, SLICE)
        service = await core.create_namespaced_service(NS, SERVICE)
        pod = await core.create_namespaced_pod(NS, POD)
        assert es.metadata.uid and service.spec.cluster_ip and pod.status.phase == "Pending"

        got = await discovery.read_namespaced_endpoint_slice("web-1", NS)
        assert got.endpoints[0].addresses == ["10.0.0.7"] and got.ports[0].port == 8080
        listed = await discovery.list_namespaced_endpoint_slice(NS)
        assert [s.metadata.name for s in listed.items] == ["web-1"]
        assert sorted(s.metadata.name for s in (await core.list_namespaced_service(NS)).items) == ["kubernetes", "web"]
        assert [p.metadata.name for p in (await core.list_pod_for_all_namespaces()).items] == ["web-0"]

        w = watch.Watch()

        async def stream() -> AsyncIterator[tuple[str, str]]:
            async for event in w.stream(discovery.list_namespaced_endpoint_slice, NS,
                                        resource_version=listed.metadata.resource_version, timeout_seconds=30):
                yield event["type"], event["object"].metadata.name

        events = Events(stream())
        try:
            await discovery.patch_namespaced_endpoint_slice("web-1", NS, {"metadata": {"labels": {"s": "1"}}})
            await events.wait_for(("MODIFIED", "web-1"))
            assert events.seen == [("MODIFIED", "web-1")]  # from the list's resourceVersion: no replay
        finally:
            w.stop()
            await events.close()
            await w.close()

        patched = await core.patch_namespaced_service("web", NS, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}})
        assert [(p.name, p.port, p.target_port) for p in patched.spec.ports] == [("http", 80, 9090)]
        patched = await core.patch_namespaced_pod("web-0", NS, {"metadata": {"labels": {"tier": "fe"}}})
        assert patched.metadata.labels == {"app": "web", "tier": "fe"}

        status = await discovery.delete_namespaced_endpoint_slice("web-1", NS)
        assert status.status == "Success" and status.details.name == "web-1"
        await core.delete_namespaced_service("web", NS)
        deleted = await core.delete_namespaced_pod("web-0", NS)
        assert deleted.metadata.name == "web-0"  # a Pod comes back whole (with its deletion set)
        for read in (lambda: discovery.read_namespaced_endpoint_slice("web-1", NS),
                     lambda: core.read_namespaced_service("web", NS), lambda: core.read_namespaced_pod("web-0", NS)):
            with pytest.raises(ApiException) as gone:
                await read()
            assert gone.value.status == 404
