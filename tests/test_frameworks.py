"""Controller frameworks over a custom resource defined by a CustomResourceDefinition, on the `apiserver` fixture
(memory and etcd): kr8s, lightkube and the official client's informer-style list-then-watch (CustomObjectsApi and
the dynamic client)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from apiserver.testing import RunningServer

NS = "default"
WAIT = 10.0  # seconds a watch may take to show the events asked for
GROUP, VERSION, PLURAL = "example.com", "v1", "widgets"

pytestmark = pytest.mark.apiserver_crds("manifests/crds/widgets.yaml")


def widget(name: str, replicas: int = 1, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Widget", "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": replicas, **spec}}


# --- kr8s --------------------------------------------------------------------------------------------


async def test_kr8s_custom_resource(apiserver: RunningServer) -> None:
    kr8s = pytest.importorskip("kr8s")
    from kr8s.asyncio.objects import new_class

    Widget = new_class("Widget", f"{GROUP}/{VERSION}", namespaced=True, scalable=True)
    api = await kr8s.asyncio.api(kubeconfig=str(apiserver.kubeconfig))
    assert await api.lookup_kind("widgets.example.com") == ("widget.example.com/v1", "widgets", True)

    first = await Widget(widget("one"), api=api)
    await first.create()
    assert (first.spec.color, first.spec.maxReplicas) == ("red", 10)  # defaulted from the schema
    listed = [w async for w in api.async_get("widgets.example.com", namespace=NS)]
    assert [w.name for w in listed] == ["one"]
    since = max(int(w.metadata.resourceVersion) for w in listed)  # an informer's list, then its watch

    seen: list[tuple[str, str, Any]] = []

    async def watch() -> None:
        async for event, obj in api.async_watch("widgets.example.com", namespace=NS, since=str(since)):
            seen.append((event, obj.name, obj.raw))
            if event == "DELETED":
                return

    watching = asyncio.create_task(watch())
    second = await Widget(widget("two", color="blue"), api=api)
    await second.create()
    await second.scale(3)  # the scale subresource
    await second.patch({"status": {"replicas": 3, "conditions": [{"type": "Ready", "status": "True"}]}},
                       subresource="status", type="merge")
    await second.refresh()
    assert second.spec.replicas == 3 and second.status.replicas == 3 and second.metadata.generation == 2
    with pytest.raises(kr8s.ServerError) as refused:  # CEL: replicas <= maxReplicas
        await second.patch({"spec": {"replicas": 11}}, type="merge")
    assert refused.value.response.status_code == 422
    assert "replicas may not exceed maxReplicas" in refused.value.status["message"]
    await second.delete()
    await asyncio.wait_for(watching, WAIT)
    assert [(e, n) for e, n, _ in seen] == [("ADDED", "two"), ("MODIFIED", "two"), ("MODIFIED", "two"),
                                            ("DELETED", "two")]
    assert seen[2][2]["status"]["replicas"] == 3
    await first.delete()


# --- lightkube ---------------------------------------------------------------------------------------


async def test_lightkube_custom_resource(apiserver: RunningServer) -> None:
    lightkube = pytest.importorskip("lightkube")
    from lightkube.generic_resource import async_load_in_cluster_generic_resources, get_generic_resource
    from lightkube.types import PatchType

    client = lightkube.AsyncClient(config=lightkube.KubeConfig.from_file(str(apiserver.kubeconfig)))
    try:
        await async_load_in_cluster_generic_resources(client)  # lists the CustomResourceDefinitions
        Widget = get_generic_resource(f"{GROUP}/{VERSION}", "Widget")
        assert Widget is not None
        created = await client.create(Widget(widget("one")))
        assert created.spec["maxReplicas"] == 10 and created.metadata.uid
        listing = client.list(Widget, namespace=NS)
        assert [w.metadata.name async for w in listing] == ["one"]
        since = listing.resourceVersion  # an informer's list, then its watch

        seen: list[tuple[str, str]] = []

        async def watch() -> None:
            async for event, obj in client.watch(Widget, namespace=NS, resource_version=since):
                seen.append((event, obj.metadata.name))
                if event == "DELETED":
                    return

        watching = asyncio.create_task(watch())
        applied = await client.apply(Widget(widget("two", 2, tags=["a", "b"])), field_manager="operator", force=True)
        assert applied.spec["tags"] == ["a", "b"] and {m.manager for m in applied.metadata.managedFields} == {
            "operator"}
        await client.patch(Widget.Status, "two", {"status": {"replicas": 2}}, namespace=NS,
                           patch_type=PatchType.MERGE)
        scale = await client.get(Widget.Scale, "two", namespace=NS)
        assert (scale.spec.replicas, scale.status.replicas) == (2, 2)
        await client.delete(Widget, "two", namespace=NS)
        await asyncio.wait_for(watching, WAIT)
        assert seen == [("ADDED", "two"), ("MODIFIED", "two"), ("DELETED", "two")]
        await client.delete(Widget, "one", namespace=NS)
    finally:
        await client.close()


# --- the official client ----------------------------------------------------------------------------


class Informer:
    """An informer as client-go's, over kubernetes.watch.Watch: list, then watch from the list's resourceVersion
    in a thread, keeping a cache by name and the last resourceVersion seen (bookmarks included)."""

    def __init__(self, list_call: Any, *args: Any) -> None:
        from kubernetes import watch

        listed = list_call(*args)
        self.cache: dict[str, dict[str, Any]] = {o["metadata"]["name"]: o for o in listed["items"]}
        self.resource_version = listed["metadata"]["resourceVersion"]
        self.events: list[tuple[str, str]] = []
        self.changed = threading.Condition()
        self.stopped = threading.Event()
        self._watch = watch.Watch()
        self._thread = threading.Thread(target=self._run, args=(list_call, args), daemon=True)
        self._thread.start()

    def _run(self, list_call: Any, args: tuple[Any, ...]) -> None:
        try:
            for event in self._watch.stream(list_call, *args, resource_version=self.resource_version,
                                            allow_watch_bookmarks=True, timeout_seconds=int(WAIT * 3)):
                self._apply(event["type"], event["object"])
        except Exception:
            if not self.stopped.is_set():  # else: the server went away under a stopped watch
                raise

    def _apply(self, kind: str, obj: dict[str, Any]) -> None:
        with self.changed:
            self.resource_version = obj["metadata"]["resourceVersion"]
            if kind != "BOOKMARK":
                self.events.append((kind, obj["metadata"]["name"]))
                if kind == "DELETED":
                    self.cache.pop(obj["metadata"]["name"], None)
                else:
                    self.cache[obj["metadata"]["name"]] = obj
            self.changed.notify_all()

    def wait_for(self, resource_version: str) -> None:
        """Until the cache has seen the write that returned `resource_version`."""
        with self.changed:
            assert self.changed.wait_for(lambda: int(self.resource_version) >= int(resource_version), WAIT), \
                f"not seen {resource_version} in {WAIT} s: {self.events}"

    def stop(self) -> None:
        self.stopped.set()
        self._watch.stop()


def test_official_client_informer_over_custom_objects(apiserver: RunningServer, kube_client: Any) -> None:
    pytest.importorskip("kubernetes")
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    api = client.CustomObjectsApi(kube_client)
    api.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, widget("before"))
    informer = Informer(api.list_namespaced_custom_object, GROUP, VERSION, NS, PLURAL)
    try:
        assert set(informer.cache) == {"before"}
        api.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, widget("two"))
        api.patch_namespaced_custom_object_scale(GROUP, VERSION, NS, PLURAL, "two", {"spec": {"replicas": 4}})
        status = api.patch_namespaced_custom_object_status(GROUP, VERSION, NS, PLURAL, "two",
                                                            {"status": {"replicas": 4}})
        informer.wait_for(status["metadata"]["resourceVersion"])
        assert informer.cache["two"]["spec"]["replicas"] == 4 and informer.cache["two"]["status"]["replicas"] == 4
        with pytest.raises(ApiException) as invalid:
            api.create_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, widget("three", -1))
        assert invalid.value.status == 422
        api.delete_namespaced_custom_object(GROUP, VERSION, NS, PLURAL, "before")
        last = api.list_namespaced_custom_object(GROUP, VERSION, NS, PLURAL)
        informer.wait_for(last["metadata"]["resourceVersion"])
        assert informer.cache == {o["metadata"]["name"]: o for o in last["items"]}  # the cache is a fresh list
        assert informer.events == [("ADDED", "two"), ("MODIFIED", "two"), ("MODIFIED", "two"), ("DELETED", "before")]
    finally:
        informer.stop()


def test_official_dynamic_client_over_custom_objects(apiserver: RunningServer, kube_client: Any,
                                                     tmp_path: Path) -> None:
    pytest.importorskip("kubernetes")
    from kubernetes.dynamic import DynamicClient

    dynamic = DynamicClient(kube_client, cache_file=str(tmp_path / "discovery.json"))
    widgets = dynamic.resources.get(api_version=f"{GROUP}/{VERSION}", kind="Widget")
    assert (widgets.name, widgets.namespaced, widgets.short_names) == ("widgets", True, ["wd"])
    assert {r.name for r in widgets.subresources.values()} == {"widgets/status", "widgets/scale"}
    widgets.create(body=widget("one"), namespace=NS)
    listed = widgets.get(namespace=NS)
    assert [w.metadata.name for w in listed.items] == ["one"]
    widgets.patch(body={"spec": {"color": "green"}}, name="one", namespace=NS,
                  content_type="application/merge-patch+json")
    widgets.delete(name="one", namespace=NS)
    seen = []
    for event in widgets.watch(namespace=NS, resource_version=listed.metadata.resourceVersion, timeout=5):
        seen.append((event["type"], event["object"].metadata.name, event["object"].spec.color))
        if event["type"] == "DELETED":
            break
    assert seen == [("MODIFIED", "one", "green"), ("DELETED", "one", "green")]
