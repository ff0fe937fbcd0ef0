"""The EndpointSlice and Endpoints controllers against a real server: packing, updates, placeholder, cleanup, limits."""

from __future__ import annotations

import asyncio
import math
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest

from apiserver.config import Config
from apiserver.controllers import ControllerManager
from apiserver.testing import RunningServer

Obj = dict[str, Any]
NS = "default"
SLICES = f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices"
Start = Callable[..., Awaitable[ControllerManager]]


class Api:
    """Test-side writes and reads over HTTP; every write returns the object the server answered."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url, self.session = url, session
        self.last_rv = 0

    async def request(self, method: str, path: str, body: Obj | None = None,
                      content_type: str = "application/json") -> Obj:
        async with self.session.request(method, self.url + path, data=orjson.dumps(body) if body else None,
                                        headers={"Content-Type": content_type}) as response:
            result: Obj = orjson.loads(await response.read())
            assert response.status < 300, result
            if method != "GET":
                self.last_rv = max(self.last_rv, int(result.get("metadata", {}).get("resourceVersion") or 0))
            return result

    async def service(self, name: str, selector: dict[str, str] | None, **spec: Any) -> Obj:
        body = {"metadata": {"name": name, "labels": {"team": "net"}},
                "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}], **spec}}
        if selector is not None:
            body["spec"]["selector"] = selector
        return await self.request("POST", f"/api/v1/namespaces/{NS}/services", body)

    async def pod(self, name: str, app: str, index: int, ready: bool = True) -> Obj:
        await self.request("POST", f"/api/v1/namespaces/{NS}/pods", {
            "metadata": {"name": name, "labels": {"app": app}},
            "spec": {"nodeName": f"node-{index % 3}", "containers": [{"name": "c", "image": "nginx"}]}})
        return await self.set_ready(name, ready, f"10.1.{index // 250}.{index % 250 + 1}")

    async def set_ready(self, name: str, ready: bool, ip: str | None = None) -> Obj:
        status: Obj = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
        if ip:
            status |= {"podIP": ip, "podIPs": [{"ip": ip}]}
        return await self.request("PATCH", f"/api/v1/namespaces/{NS}/pods/{name}/status", {"status": status},
                                  "application/merge-patch+json")

    async def pods(self, app: str, count: int, start: int = 0) -> None:
        limit = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            async with limit:
                await self.pod(f"{app}-{i}", app, i)

        await asyncio.gather(*(one(i) for i in range(start, start + count)))

    async def slices(self, service: str) -> list[Obj]:
        found = await self.request("GET", f"{SLICES}?labelSelector=kubernetes.io/service-name={service}")
        return sorted(found["items"], key=lambda s: s["metadata"]["name"])


@pytest.fixture
async def api(apiserver: RunningServer) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(apiserver.url, session)


@pytest.fixture
async def start(apiserver: RunningServer) -> AsyncIterator[Start]:
    managers: list[ControllerManager] = []

    async def start(*controllers: str, **options: Any) -> ControllerManager:
        manager = ControllerManager(apiserver.url, controllers, **options)
        await manager.start(timeout=10)
        managers.append(manager)
        return manager

    yield start
    for manager in managers:
        await manager.stop()


def sizes(slices: list[Obj]) -> list[int]:
    return sorted(len(s.get("endpoints") or ()) for s in slices)


@pytest.mark.parametrize("pods,per_slice", [(25, 10), (7, 100), (10, 1)])
async def test_service_with_pods_gets_packed_slices(api: Api, start: Start, pods: int, per_slice: int) -> None:
    manager = await start("endpointslice", max_endpoints_per_slice=per_slice)
    await api.pods("web", pods)
    service = await api.service("web", {"app": "web"})
    await manager.wait_idle(api.last_rv, timeout=20)
    slices = await api.slices("web")
    assert len(slices) == math.ceil(pods / per_slice)
    assert sum(sizes(slices)) == pods and max(sizes(slices)) <= per_slice
    assert manager.counts()["endpointslice"]["create"] == len(slices)
    for slice_ in slices:
        meta = slice_["metadata"]
        assert meta["name"].startswith("web-") and meta["generateName"] == "web-"
        assert meta["labels"] == {"team": "net", "kubernetes.io/service-name": "web",
                                  "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
        assert meta["ownerReferences"] == [{"apiVersion": "v1", "kind": "Service", "name": "web",
                                            "uid": service["metadata"]["uid"], "controller": True,
                                            "blockOwnerDeletion": True}]
        assert slice_["addressType"] == "IPv4"
        assert slice_["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
        for endpoint in slice_["endpoints"]:
            assert endpoint["conditions"] == {"ready": True, "serving": True, "terminating": False}
            assert endpoint["targetRef"]["kind"] == "Pod" and endpoint["targetRef"]["name"].startswith("web-")
            assert endpoint["nodeName"].startswith("node-")


async def test_pod_turning_not_ready_updates_one_slice_once(api: Api, start: Start) -> None:
    manager = await start("endpointslice", max_endpoints_per_slice=10)
    await api.service("web", {"app": "web"})
    await api.pods("web", 30)
    await manager.wait_idle(api.last_rv, timeout=20)
    before = {s["metadata"]["name"]: s for s in await api.slices("web")}
    manager.reset_counts()
    await api.set_ready("web-7", False)
    await manager.wait_idle(api.last_rv, timeout=20)
    assert manager.counts()["endpointslice"] | {"failures": {}} == {
        "create": 0, "update": 1, "delete": 0, "patch": 0, "total": 1, "failed": 0, "failures": {}, "last_error": ""}
    after = {s["metadata"]["name"]: s for s in await api.slices("web")}
    assert after.keys() == before.keys()
    changed = [n for n in after if after[n]["metadata"]["resourceVersion"] != before[n]["metadata"]["resourceVersion"]]
    assert len(changed) == 1
    endpoint = next(e for e in after[changed[0]]["endpoints"] if e["targetRef"]["name"] == "web-7")
    assert endpoint["conditions"] == {"ready": False, "serving": False, "terminating": False}


async def test_pod_change_syncs_only_the_services_selecting_it(api: Api, start: Start,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    manager = await start("endpointslice", "endpoints")
    await api.service("a", {"app": "a"})
    await api.service("b", {"app": "b"})
    await api.pods("a", 3)
    await api.pods("b", 3, start=3)
    await manager.wait_idle(api.last_rv, timeout=20)
    pods = manager.informers["pods"]
    assert sorted(pods.by_index("labels", (NS, "app", "a"))) == [f"{NS}/a-0", f"{NS}/a-1", f"{NS}/a-2"]
    synced: list[str] = []
    for controller in manager.controllers.values():
        def spy(key: str, sync: Callable[[str], Awaitable[None]] = controller.sync) -> Awaitable[None]:
            synced.append(key)
            return sync(key)

        monkeypatch.setattr(controller, "sync", spy)
    await api.set_ready("a-1", False)
    await manager.wait_idle(api.last_rv, timeout=20)
    assert set(synced) == {f"{NS}/a"}  # Service b is not looked at


async def test_pods_added_and_removed_repack_as_upstream(api: Api, start: Start) -> None:
    manager = await start("endpointslice", max_endpoints_per_slice=10)
    await api.pods("web", 25)
    await api.service("web", {"app": "web"})  # one sync packs all 25
    await manager.wait_idle(api.last_rv, timeout=20)
    assert sizes(await api.slices("web")) == [5, 10, 10]
    # three more fit into the slice that ends closest to full: one update, in place
    manager.reset_counts()
    await api.pods("web", 3, start=25)
    await manager.wait_idle(api.last_rv, timeout=20)
    assert sizes(await api.slices("web")) == [8, 10, 10]
    assert manager.counts()["endpointslice"]["create"] == 0
    # removing two from a full slice updates that slice only, no repacking
    manager.reset_counts()
    full = next(s for s in await api.slices("web") if len(s["endpoints"]) == 10)
    for endpoint in full["endpoints"][:2]:  # at once: without a kubelet a graceful deletion never ends
        pod = endpoint["targetRef"]["name"]
        await api.request("DELETE", f"/api/v1/namespaces/{NS}/pods/{pod}?gracePeriodSeconds=0")
    await manager.wait_idle(api.last_rv, timeout=20)
    assert sizes(await api.slices("web")) == [8, 8, 10]
    counts = manager.counts()["endpointslice"]
    # each deletion is a MODIFIED (marked, terminating) then a DELETED: up to two updates per pod
    assert (counts["create"], counts["delete"]) == (0, 0) and 1 <= counts["update"] <= 4


async def test_fill_closest_to_full_and_create_when_none_fits(api: Api, start: Start) -> None:
    manager = await start("endpointslice", max_endpoints_per_slice=10)
    await api.pods("web", 16)
    await api.service("web", {"app": "web"})
    await manager.wait_idle(api.last_rv, timeout=20)
    assert sizes(await api.slices("web")) == [6, 10]
    manager.reset_counts()
    # with the Service's sync paused, add 12 at once: one new slice of 10, and 2 into the 6 (closest to full)
    manager.controllers["endpointslice"].services.handlers.clear()
    manager.controllers["endpointslice"].pods.handlers.clear()
    await api.pods("web", 12, start=16)
    await manager.wait_idle(api.last_rv, timeout=20)  # the informer has all 28 pods, nothing synced yet
    manager.controllers["endpointslice"].queue.add(f"{NS}/web")
    await manager.wait_idle(api.last_rv, timeout=20)
    assert sizes(await api.slices("web")) == [8, 10, 10]
    counts = manager.counts()["endpointslice"]
    assert (counts["create"], counts["update"], counts["delete"]) == (1, 1, 0)


async def test_placeholder_slice_then_updated_in_place(api: Api, start: Start) -> None:
    manager = await start("endpointslice")
    await api.service("empty", {"app": "nothing"})
    await manager.wait_idle(api.last_rv, timeout=20)
    [placeholder] = await api.slices("empty")
    assert not placeholder.get("endpoints") and not placeholder.get("ports")
    assert placeholder["metadata"]["labels"]["kubernetes.io/service-name"] == "empty"
    manager.reset_counts()
    await api.pod("lonely", "nothing", 1)
    await manager.wait_idle(api.last_rv, timeout=20)
    [slice_] = await api.slices("empty")
    assert slice_["metadata"]["name"] == placeholder["metadata"]["name"]
    assert len(slice_["endpoints"]) == 1 and slice_["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert manager.counts()["endpointslice"]["create"] == 0
    # back to no endpoints: the same slice becomes the placeholder again
    await api.request("DELETE", f"/api/v1/namespaces/{NS}/pods/lonely?gracePeriodSeconds=0")  # no kubelet to wait for
    await manager.wait_idle(api.last_rv, timeout=20)
    [again] = await api.slices("empty")
    assert again["metadata"]["name"] == placeholder["metadata"]["name"] and not again.get("endpoints")


async def test_service_without_selector_gets_nothing(api: Api, start: Start) -> None:
    manager = await start("endpointslice", "endpoints")
    await api.service("manual", None)
    await manager.wait_idle(api.last_rv, timeout=20)
    assert await api.slices("manual") == []
    assert manager.counts()["endpointslice"]["total"] == manager.counts()["endpoints"]["total"] == 0


async def test_service_deletion_removes_slices_and_endpoints(api: Api, start: Start) -> None:
    manager = await start("endpointslice", "endpoints", max_endpoints_per_slice=5)
    await api.service("web", {"app": "web"})
    await api.pods("web", 12)
    await manager.wait_idle(api.last_rv, timeout=20)
    assert len(await api.slices("web")) == 3
    manager.reset_counts()
    await api.request("DELETE", f"/api/v1/namespaces/{NS}/services/web")
    await manager.wait_idle(api.last_rv, timeout=20)
    assert await api.slices("web") == []
    async with api.session.get(f"{api.url}/api/v1/namespaces/{NS}/endpoints/web") as response:
        assert response.status == 404
    # the slices (owned by the Service) go with the server's garbage collector; Endpoints (unowned) with the
    # controller, as upstream's
    assert manager.counts()["endpointslice"]["delete"] == 0 and manager.counts()["endpoints"]["delete"] == 1


async def test_foreground_deletion_of_a_service_waits_for_its_slices(api: Api, start: Start) -> None:
    manager = await start("endpointslice", max_endpoints_per_slice=5)
    await api.service("web", {"app": "web"})
    await api.pods("web", 12)
    await manager.wait_idle(api.last_rv, timeout=20)
    manager.reset_counts()
    marked = await api.request("DELETE", f"/api/v1/namespaces/{NS}/services/web",
                               {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"})
    assert marked["metadata"]["finalizers"] == ["foregroundDeletion"]
    for _ in range(200):  # the collector deletes the blocking slices, then the Service
        async with api.session.get(f"{api.url}/api/v1/namespaces/{NS}/services/web") as response:
            if response.status == 404:
                break
        await asyncio.sleep(0.05)
    assert response.status == 404
    await manager.wait_idle(api.last_rv, timeout=20)
    assert await api.slices("web") == []
    assert manager.counts()["endpointslice"]["total"] == 0  # no slice recreated for a Service being deleted


@pytest.mark.parametrize("apiserver_config", [Config(compaction_interval=0, garbage_collector=False)])
async def test_without_garbage_collector_slices_outlive_their_service(api: Api, start: Start) -> None:
    """As upstream's controller on a cluster without kube-controller-manager's collector (envtest)."""
    manager = await start("endpointslice", "endpoints")
    await api.service("web", {"app": "web"})
    await api.pods("web", 3)
    await manager.wait_idle(api.last_rv, timeout=20)
    await api.request("DELETE", f"/api/v1/namespaces/{NS}/services/web")
    await manager.wait_idle(api.last_rv, timeout=20)
    assert sizes(await api.slices("web")) == [3]
    async with api.session.get(f"{api.url}/api/v1/namespaces/{NS}/endpoints/web") as response:
        assert response.status == 404


async def test_controller_started_late_cleans_up_and_catches_up(api: Api, start: Start) -> None:
    await api.service("web", {"app": "web"})
    await api.pods("web", 4)
    manager = await start("endpointslice", "endpoints")
    await manager.wait_idle(api.last_rv, timeout=20)
    assert sizes(await api.slices("web")) == [4]
    await manager.stop()
    await api.request("DELETE", f"/api/v1/namespaces/{NS}/services/web")
    again = await start("endpointslice")
    await again.wait_idle(api.last_rv, timeout=20)
    assert await api.slices("web") == []


async def test_endpoints_subsets(api: Api, start: Start) -> None:
    manager = await start("endpoints")
    await api.service("web", {"app": "web"})
    await api.pods("web", 5)
    await api.set_ready("web-3", False)
    await manager.wait_idle(api.last_rv, timeout=20)
    endpoints = await api.request("GET", f"/api/v1/namespaces/{NS}/endpoints/web")
    assert endpoints["metadata"]["labels"] == {"team": "net"}
    [subset] = endpoints["subsets"]
    assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert sorted(a["targetRef"]["name"] for a in subset["addresses"]) == ["web-0", "web-1", "web-2", "web-4"]
    assert [a["targetRef"]["name"] for a in subset["notReadyAddresses"]] == ["web-3"]
    assert subset["addresses"][0]["nodeName"].startswith("node-")
    assert "annotations" not in endpoints["metadata"] or not endpoints["metadata"]["annotations"]
    manager.reset_counts()
    await api.set_ready("web-3", True)
    await manager.wait_idle(api.last_rv, timeout=20)
    assert manager.counts()["endpoints"]["update"] == 1 and manager.counts()["endpoints"]["total"] == 1


async def test_endpoints_truncated_at_1000(api: Api, start: Start) -> None:
    await api.pods("big", 1003)
    for i in range(3):
        await api.set_ready(f"big-{i}", False)
    manager = await start("endpoints")
    await api.service("big", {"app": "big"})
    await manager.wait_idle(api.last_rv, timeout=60)
    endpoints = await api.request("GET", f"/api/v1/namespaces/{NS}/endpoints/big")
    assert endpoints["metadata"]["annotations"]["endpoints.kubernetes.io/over-capacity"] == "truncated"
    [subset] = endpoints["subsets"]
    assert len(subset["addresses"]) == 1000 and "notReadyAddresses" not in subset  # ready addresses first
    counts = manager.counts()["endpoints"]
    assert counts["create"] == 1 and counts["failed"] == 0


class SmallStorage:
    """A server whose storage refuses values over 40 KiB, so an Endpoints object of 600 addresses is too large
    (~90 KiB in JSON, ~57 KiB in protobuf, as etcd stores it) and an EndpointSlice of 100 endpoints is not."""

    @pytest.fixture
    def apiserver_config(self) -> Config:
        return Config(compaction_interval=0, max_request_bytes=40 * 1024)


class TestSizeLimit(SmallStorage):
    async def test_untruncated_endpoints_fail_cleanly_past_the_limit(self, api: Api, start: Start) -> None:
        await api.pods("big", 600)
        manager = await start("endpoints", "endpointslice", truncate_endpoints=False, max_retries=1)
        await api.service("big", {"app": "big"})
        await manager.wait_idle(api.last_rv, timeout=30)
        counts = manager.counts()
        assert counts["endpoints"]["create"] == 2 and counts["endpoints"]["failed"] == 2  # first try and one retry
        assert "etcdserver: request is too large" in counts["endpoints"]["last_error"]
        assert counts["endpointslice"]["create"] == 6 and counts["endpointslice"]["failed"] == 0
        # the controllers keep working: another Service still gets its objects
        await api.pods("small", 2)
        await api.service("small", {"app": "small"})
        await manager.wait_idle(api.last_rv, timeout=30)
        endpoints = await api.request("GET", f"/api/v1/namespaces/{NS}/endpoints/small")
        assert len(endpoints["subsets"][0]["addresses"]) == 2


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    """Poll `check` until it holds; fail after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


class TestInProcess:
    """`--controllers endpointslice,endpoints`: the server runs the controllers against its own URL."""

    @pytest.fixture
    def apiserver_config(self) -> Config:
        return Config(compaction_interval=0, controllers=("endpointslice", "endpoints"), max_endpoints_per_slice=2)

    async def test_server_runs_its_controllers(self, api: Api) -> None:
        await api.service("web", {"app": "web"})
        await api.pods("web", 3)

        async def done() -> bool:
            endpoints = await api.request("GET", f"/api/v1/namespaces/{NS}/endpoints?fieldSelector=metadata.name=web")
            return sizes(await api.slices("web")) == [1, 2] and bool(endpoints["items"])

        await eventually(done)


async def test_controllers_as_their_own_process(api: Api, apiserver: RunningServer) -> None:
    # SIGINT ignored, as a shell's background job starts it: the ignored disposition is inherited through exec
    # (not a preexec_fn: Python code in a forked child of a process with gRPC's threads can crash in gRPC)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "apiserver.controllers", "--server", apiserver.url, "--controllers", "endpointslice",
            "--max-endpoints-per-slice", "3", stderr=asyncio.subprocess.PIPE)
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        await api.pods("web", 7)
        await api.service("web", {"app": "web"})

        async def done() -> bool:
            found = sizes(await api.slices("web"))
            return sum(found) == 7 and max(found) <= 3

        await eventually(done)
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), 10)
    # stopped by SIGINT all the same, its last line the calls it made
    last = stderr.decode().strip().splitlines()[-1]
    assert orjson.loads(last.split(" calls ", 1)[1])["endpointslice"]["create"] == 3
