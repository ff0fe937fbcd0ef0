"""Field-selected watches are indexed by the value their selector pins (reference §6.6, upstream's triggers).

Node watchers (`fieldSelector=spec.nodeName=node-N`, the kubelet's watch) over real sockets: each
pod event is offered only to the groups pinned to its node now or before it, plus the unindexed
groups, which `apiserver_watch_cache_dispatch_filters_total` counts; and every watcher still gets
exactly its events, including an update that moves a pod away from its node (DELETED for that node).
"""

from __future__ import annotations

import asyncio
from typing import Any

from apiserver.cacher.hub import GroupKey, group_key
from apiserver.codec import decode, encode
from apiserver.kinds.endpointslice import ENDPOINTSLICE
from apiserver.kinds.namespace import NAMESPACE
from apiserver.kinds.pod import POD
from apiserver.selectors import FieldSelector
from apiserver.state import REGISTRIES
from apiserver.testing import RunningServer
from tests.test_hub import Api, RawWatch, close_all, run, until

NS = "default"
PODS = f"/api/v1/namespaces/{NS}/pods"
NODES = 40


def pod_body(name: str, node: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}}


def selector(kind: Any, text: str) -> FieldSelector:
    return FieldSelector.parse(text, ["metadata.name", "metadata.namespace", *kind.extra_field_selectors])


def test_the_trigger_is_the_first_pinned_field_the_kind_declares() -> None:
    def trigger(kind: Any, text: str) -> tuple[str, str] | None:
        return group_key(kind, NS, "", "", selector(kind, text) if text else None).trigger

    assert trigger(POD, "spec.nodeName=node-17") == ("spec.nodeName", "node-17")
    assert trigger(POD, "status.phase=Running,spec.nodeName=node-17") == ("spec.nodeName", "node-17")
    assert trigger(POD, "metadata.name=web,spec.nodeName=node-17") == ("metadata.name", "web")
    assert trigger(POD, "spec.nodeName!=node-17,status.phase=Running") == ("status.phase", "Running")
    assert trigger(POD, "spec.nodeName=") == ("spec.nodeName", "")  # pods not yet scheduled
    assert trigger(POD, "spec.nodeName!=node-17") is None
    assert trigger(POD, "") is None
    assert trigger(NAMESPACE, "status.phase=Active") == ("status.phase", "Active")
    assert trigger(ENDPOINTSLICE, "metadata.namespace=default") == ("metadata.namespace", "default")
    key = group_key(POD, NS, "", "app=web", selector(POD, "spec.nodeName=a"))
    assert key == GroupKey(NS, "", "app=web", "spec.nodeName=a", ("spec.nodeName", "a"))


async def move(server: RunningServer, name: str, node: str) -> None:
    """Change a pod's node in storage (the API forbids it; another writer of etcd does not)."""
    registry = server.app[REGISTRIES]["pods"]

    async def update() -> None:
        _, kv = await registry.storage.get(registry.key(NS, name))
        assert kv is not None
        obj = decode(kv)
        obj["spec"]["nodeName"] = node
        await registry.storage.update(kv.key, encode(obj), kv.mod_revision)

    assert server.loop is not None
    await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(update(), server.loop))


def seen(watch: RawWatch) -> list[tuple[str, str, str]]:
    return [(e["type"], e["object"]["metadata"]["name"], e["object"]["spec"]["nodeName"]) for e in watch.events]


def test_node_watchers_are_offered_only_their_pods_events(apiserver: RunningServer) -> None:
    cacher = apiserver.app[REGISTRIES]["pods"].cacher
    meters = cacher.meters

    async def body(api: Api) -> None:
        start = (await api.call("GET", PODS))["metadata"]["resourceVersion"]
        nodes = await asyncio.gather(*(RawWatch(f"kubelet-{i}").open(
            apiserver, PODS, {"fieldSelector": f"spec.nodeName=node-{i}", "resourceVersion": start})
            for i in range(NODES)))
        labelled = await RawWatch("labels").open(apiserver, PODS, {"labelSelector": "app=web", "resourceVersion": start})
        running = await RawWatch("running-on-3").open(apiserver, PODS, {
            "fieldSelector": "status.phase=Running,spec.nodeName=node-3", "resourceVersion": start})
        watches = [*nodes, labelled, running]
        await until(lambda: len(cacher.hub) == NODES + 2, "every watcher registered")
        assert len(cacher.hub.unindexed) == 1 and len(cacher.hub.indexed["spec.nodeName"]) == NODES
        before = meters.filters_evaluated

        await api.call("POST", PODS, pod_body("a", "node-3"))         # offered to labels, node-3, running-on-3
        await api.call("POST", PODS, pod_body("b", "node-5"))         # labels, node-5
        await api.call("PATCH", f"{PODS}/a/status", {"status": {"phase": "Running"}},
                       "application/merge-patch+json")                # labels, node-3, running-on-3
        await move(apiserver, "b", "node-7")                          # labels, node-7, node-5 (before)
        await api.call("DELETE", f"{PODS}/a?gracePeriodSeconds=0")    # marked, then deleted: twice these three
        await until(lambda: len(labelled.events) == 6, "the unindexed watcher's six events")
        assert meters.filters_evaluated - before == 3 + 2 + 3 + 3 + 3 + 3  # without the index: 6 × 42

        await until(lambda: all(len(w.events) >= n for w, n in ((nodes[3], 4), (nodes[5], 2), (nodes[7], 1),
                                                                 (running, 3))), "the node watchers' events")
        assert seen(nodes[3]) == [("ADDED", "a", "node-3"), ("MODIFIED", "a", "node-3"), ("MODIFIED", "a", "node-3"),
                                  ("DELETED", "a", "node-3")]
        # moved away: node-5 sees the pod's previous state deleted at the move's revision, node-7 sees it added
        assert seen(nodes[5]) == [("ADDED", "b", "node-5"), ("DELETED", "b", "node-5")]
        assert seen(nodes[7]) == [("ADDED", "b", "node-7")]
        assert nodes[5].events[1]["object"]["metadata"]["resourceVersion"] == \
            nodes[7].events[0]["object"]["metadata"]["resourceVersion"]
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in running.events] == [
            ("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
        assert all(not w.events for i, w in enumerate(nodes) if i not in (3, 5, 7))
        assert [e["type"] for e in labelled.events] == ["ADDED", "ADDED", "MODIFIED", "MODIFIED", "MODIFIED",
                                                         "DELETED"]

        await close_all(watches)
        await until(lambda: len(cacher.hub) == 0, "every watcher gone")
        assert not cacher.hub.groups and not cacher.hub.unindexed and not cacher.hub.indexed

    run(apiserver, body)
