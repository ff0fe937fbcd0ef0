"""Fault injection (apiserver/faults.py): real clients survive each fault with a cache equal to a fresh list.

Clients: the official client's `watch.Watch` in a list-then-watch loop, its `kubernetes.informer.SharedInformer`,
`kubernetes_asyncio`'s watch in the same loop, and this project's own controllers. Each mirror of the
EndpointSlices counts its list and watch requests and the errors it saw, so the tests check what each client
did (re-watched, relisted, retried) as well as where it ended; waits are bounded, nothing is timed.
"""

from __future__ import annotations

import asyncio
import functools
import http.client
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import aiohttp
import kubernetes_asyncio
import orjson
import pytest
import urllib3
from kubernetes import client, informer, watch
from kubernetes.client.exceptions import ApiException

from apiserver.config import Config
from apiserver.controllers import ControllerManager
from apiserver.testing import RunningServer, run_server

NS = "default"
RESOURCE = "endpointslices"
CONVERGE_SECONDS = 20.0
BROKEN = "broken"  # an error that is not a Status: the connection ended mid-stream

Snapshot = dict[str, str]  # namespace/name → resourceVersion


@pytest.fixture
def apiserver_config() -> Config:
    return Config(compaction_interval=0, enable_fault_injection=True)


def slice_body(name: str, ip: str = "10.0.0.1") -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": name},
            "addressType": "IPv4", "endpoints": [{"addresses": [ip]}], "ports": [{"name": "http", "port": 80}]}


def key_of(obj: dict[str, Any]) -> str:
    return f"{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"


def counted(func: Callable[..., Any], calls: Counter[str]) -> Callable[..., Any]:
    """`func` (a generated list method) counting its list and watch requests; the docstring stays for Watch."""

    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        calls["watch" if kwargs.get("watch") else "list"] += 1
        return func(*args, **kwargs)

    return call


def status_of(err: BaseException) -> int | str:
    return err.status if isinstance(err, ApiException | kubernetes_asyncio.client.ApiException) else BROKEN


class Cluster:
    """Test-side writes and fresh lists through the official client."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.api_client = server.api_client()
        self.discovery = client.DiscoveryV1Api(self.api_client)
        self.core = client.CoreV1Api(self.api_client)
        self.serial = 0

    def writes(self) -> None:
        """A round of changes: three creates, an update of the newest older slice, a delete of the oldest."""
        existing = sorted(self.fresh(), key=lambda k: int(k.rsplit("-", 1)[1]))
        for _ in range(3):
            self.serial += 1
            self.discovery.create_namespaced_endpoint_slice(NS, slice_body(f"s-{self.serial}"))
        if len(existing) >= 2:
            self.discovery.patch_namespaced_endpoint_slice(existing[-1].split("/")[1], NS,
                                                           {"metadata": {"labels": {"round": str(self.serial)}}})
            self.discovery.delete_namespaced_endpoint_slice(existing[0].split("/")[1], NS)

    def other_write(self) -> int:
        """A write of another resource, seen by the slices' watch cache (a consistent list waits for it): the cache
        moves past its clients' last resourceVersion. Returns its resourceVersion."""
        self.serial += 1
        service = self.core.create_namespaced_service(NS, {"metadata": {"name": f"svc-{self.serial}"},
                                                           "spec": {"ports": [{"port": 80}]}})
        self.fresh()
        return int(service.metadata.resource_version)

    def fresh(self) -> Snapshot:
        listed = self.discovery.list_endpoint_slice_for_all_namespaces()
        return {f"{o.metadata.namespace}/{o.metadata.name}": o.metadata.resource_version for o in listed.items}

    def cached(self) -> Snapshot:
        """The slices in the server's watch cache (resourceVersion=0: never waits for a paused cache)."""
        listed = self.discovery.list_endpoint_slice_for_all_namespaces(resource_version="0")
        return {f"{o.metadata.namespace}/{o.metadata.name}": o.metadata.resource_version for o in listed.items}


class Mirror:
    """A client's local copy of the EndpointSlices, with what it took to keep it."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.errors: list[int | str] = []
        self._lock = threading.Lock()
        self._cache: Snapshot = {}

    def snapshot(self) -> Snapshot:
        with self._lock:
            return dict(self._cache)

    def replace(self, items: Snapshot) -> None:
        with self._lock:
            self._cache = dict(items)

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        with self._lock:
            if event_type in ("ADDED", "MODIFIED"):
                self._cache[key_of(obj)] = obj["metadata"]["resourceVersion"]
            elif event_type == "DELETED":
                self._cache.pop(key_of(obj), None)

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError


async def join_reader(server: RunningServer, thread: threading.Thread) -> None:
    """Wait for a client thread told to stop. `Watch.stop()` misses a watch the thread starts just after it, and
    that Watch re-watches whenever its stream ends: such a watch is ended from the server's side, with a 500 for
    the re-watch, which the client raises and its loop stops on."""
    server.faults.fail("watch", RESOURCE, 500)
    deadline = time.monotonic() + CONVERGE_SECONDS
    while thread.is_alive():
        assert time.monotonic() < deadline, f"{thread.name} did not stop"
        server.faults.close_watches(RESOURCE)
        await asyncio.to_thread(thread.join, 0.05)
    server.faults.reset()


class WatchMirror(Mirror):
    """The official `watch.Watch` as a controller drives it: list, watch (the client re-watches from the last
    resourceVersion by itself when a stream ends), relist after 410, watch again after any other error."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__()
        self.server = cluster.server
        self.list = counted(cluster.discovery.list_endpoint_slice_for_all_namespaces, self.calls)
        self._stopped = threading.Event()
        self._watch: watch.Watch | None = None
        self._thread = threading.Thread(target=self._run, name="watch-mirror", daemon=True)

    def _run(self) -> None:
        rv: str | None = None
        while not self._stopped.is_set():
            try:
                if rv is None:
                    listed = self.list()
                    self.replace({f"{o.metadata.namespace}/{o.metadata.name}": o.metadata.resource_version
                                  for o in listed.items})
                    rv = listed.metadata.resource_version
                with self._lock:  # stop() stops the Watch it sees; none starts after it
                    if self._stopped.is_set():
                        return
                    self._watch = watch.Watch()
                for event in self._watch.stream(self.list, resource_version=rv, allow_watch_bookmarks=True):
                    obj = event["raw_object"]
                    rv = obj["metadata"]["resourceVersion"]
                    self.apply(event["type"], obj)
            except ApiException as err:
                self.errors.append(err.status)
                if err.status == 410:
                    rv = None
            except urllib3.exceptions.HTTPError:
                self.errors.append(BROKEN)

    async def start(self) -> None:
        self._thread.start()

    async def stop(self) -> None:
        with self._lock:
            self._stopped.set()
            if self._watch is not None:
                self._watch.stop()
        await join_reader(self.server, self._thread)


class InformerMirror(Mirror):
    """`kubernetes.informer.SharedInformer` (its own thread, cache and reconnect logic)."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__()
        self.server = cluster.server
        self.informer = informer.SharedInformer(
            counted(cluster.discovery.list_endpoint_slice_for_all_namespaces, self.calls))
        self.informer.add_event_handler(informer.ERROR, lambda err: self.errors.append(status_of(err)))

    def snapshot(self) -> Snapshot:
        return {f"{o.metadata.namespace}/{o.metadata.name}": o.metadata.resource_version
                for o in self.informer.cache.list()}

    async def start(self) -> None:
        self.informer.start()

    async def stop(self) -> None:
        stopping = threading.Thread(target=self.informer.stop, name="informer-stop")
        stopping.start()
        await join_reader(self.server, stopping)


class AsyncMirror(Mirror):
    """`kubernetes_asyncio`'s Watch in the test's loop, driven as WatchMirror drives the official one."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__()
        configuration = kubernetes_asyncio.client.Configuration()
        configuration.host = cluster.server.url
        self.api_client = kubernetes_asyncio.client.ApiClient(configuration)
        discovery = kubernetes_asyncio.client.DiscoveryV1Api(self.api_client)
        self.list = counted(discovery.list_endpoint_slice_for_all_namespaces, self.calls)
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        rv: str | None = None
        while True:
            try:
                if rv is None:
                    listed = await self.list()
                    self.replace({f"{o.metadata.namespace}/{o.metadata.name}": o.metadata.resource_version
                                  for o in listed.items})
                    rv = listed.metadata.resource_version
                async with kubernetes_asyncio.watch.Watch() as stream:
                    async for event in stream.stream(self.list, resource_version=rv, allow_watch_bookmarks=True):
                        obj = event["raw_object"]
                        rv = obj["metadata"]["resourceVersion"]
                        self.apply(event["type"], obj)
            except kubernetes_asyncio.client.ApiException as err:
                self.errors.append(err.status)
                if err.status == 410:
                    rv = None
            except aiohttp.ClientError:
                self.errors.append(BROKEN)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.api_client.close()


MIRRORS: dict[str, Callable[[Cluster], Mirror]] = {
    "watch": WatchMirror, "informer": InformerMirror, "asyncio": AsyncMirror}


async def converge(mirror: Mirror, cluster: Cluster, timeout: float = CONVERGE_SECONDS) -> Snapshot:
    """Wait until the mirror equals a fresh list (bounded); return that list."""
    deadline = time.monotonic() + timeout
    while True:
        want = cluster.fresh()
        if mirror.snapshot() == want or time.monotonic() > deadline:
            assert mirror.snapshot() == want
            return want
        await asyncio.sleep(0.05)


@pytest.fixture
def cluster(apiserver: RunningServer) -> Iterator[Cluster]:
    cluster = Cluster(apiserver)
    yield cluster
    cluster.api_client.close()


@pytest.fixture(params=list(MIRRORS))
async def mirror(request: pytest.FixtureRequest, cluster: Cluster) -> AsyncIterator[Mirror]:
    cluster.writes()
    mirror = MIRRORS[request.param](cluster)
    await mirror.start()
    try:
        await converge(mirror, cluster)
        await wait_watching(cluster.server)
        yield mirror
    finally:
        await mirror.stop()


def watch_count(server: RunningServer) -> int:
    with urllib.request.urlopen(f"{server.url}/debug/watches", timeout=10) as response:
        return sum(1 for w in orjson.loads(response.read())["open"] if w["resource"] == RESOURCE)


def watch_ids(server: RunningServer, count: int) -> list[int]:
    """The ids of the open watches, once there are `count` (bounded wait)."""
    deadline = time.monotonic() + CONVERGE_SECONDS
    while True:
        with urllib.request.urlopen(f"{server.url}/debug/watches", timeout=10) as response:
            ids = sorted(w["id"] for w in orjson.loads(response.read())["open"])
        if len(ids) >= count:
            return ids
        assert time.monotonic() < deadline, f"{len(ids)} watches open, not {count}"
        time.sleep(0.02)


async def wait_watching(server: RunningServer, count: int = 1) -> None:
    """Wait (bounded) until `count` watches of the slices are open: the client is back in a watch."""
    deadline = time.monotonic() + CONVERGE_SECONDS
    while watch_count(server) < count:
        assert time.monotonic() < deadline, "the client did not watch again"
        await asyncio.sleep(0.02)


async def test_close_watches_clients_rewatch_without_relisting(apiserver: RunningServer, cluster: Cluster,
                                                               mirror: Mirror) -> None:
    lists, watches = mirror.calls["list"], mirror.calls["watch"]
    assert apiserver.faults.close_watches(RESOURCE) == 1
    cluster.writes()
    await converge(mirror, cluster)
    assert mirror.calls["list"] == lists and mirror.calls["watch"] == watches + 1
    assert mirror.errors == []


async def test_expire_then_close_clients_get_410_and_relist(apiserver: RunningServer, cluster: Cluster,
                                                            mirror: Mirror) -> None:
    lists = mirror.calls["list"]
    revision = cluster.other_write()
    assert apiserver.faults.expire(RESOURCE) == {RESOURCE: revision}  # the window starts at the cache's revision
    cluster.writes()  # the open watch goes on: expiry alone ends nothing
    await converge(mirror, cluster)
    assert mirror.errors == [] and mirror.calls["list"] == lists
    cluster.other_write()
    apiserver.faults.expire(RESOURCE)
    apiserver.faults.close_watches(RESOURCE)
    cluster.writes()
    await converge(mirror, cluster)
    assert mirror.errors == [410]
    assert mirror.calls["list"] == lists + 1


async def test_compact_clients_keep_watching(apiserver: RunningServer, cluster: Cluster, mirror: Mirror) -> None:
    lists = mirror.calls["list"]
    cluster.writes()
    revision = apiserver.faults.compact()
    assert revision >= max(int(rv) for rv in cluster.fresh().values())
    assert apiserver.faults.compact() == revision  # nothing written since: a no-op
    cluster.writes()
    await converge(mirror, cluster)
    assert mirror.errors == [] and mirror.calls["list"] == lists


async def test_pause_holds_events_until_resume(apiserver: RunningServer, cluster: Cluster, mirror: Mirror) -> None:
    before = await converge(mirror, cluster)
    assert apiserver.faults.pause(RESOURCE, 300) == [RESOURCE]
    cluster.writes()
    assert cluster.cached() == before  # the cache stands still
    assert apiserver.faults.armed()["paused"] == [RESOURCE]
    await asyncio.sleep(0.2)
    assert mirror.snapshot() == before  # and its watchers get nothing
    assert apiserver.faults.resume(RESOURCE) == 5  # 3 creates, an update, a delete
    after = await converge(mirror, cluster)
    assert after != before and mirror.errors == [] and mirror.calls["list"] == 1


async def test_drop_watch_breaks_the_stream_client_rewatches(apiserver: RunningServer, cluster: Cluster,
                                                             mirror: Mirror) -> None:
    watches = mirror.calls["watch"]
    apiserver.faults.drop_watch(resource=RESOURCE)
    cluster.writes()
    await converge(mirror, cluster)
    assert mirror.errors == [BROKEN]
    assert mirror.calls["list"] == 1 and mirror.calls["watch"] == watches + 1


# What each client does with a 429/503 carrying Retry-After: the official client's urllib3 retries it by itself
# (after the Retry-After second), kubernetes_asyncio hands it to the caller.
RETRIED_BY_URLLIB3 = {"watch", "informer"}


@pytest.mark.parametrize("code", [429, 500, 503])
async def test_failed_watches_clients_retry(apiserver: RunningServer, cluster: Cluster, mirror: Mirror,
                                            request: pytest.FixtureRequest, code: int) -> None:
    apiserver.faults.fail("watch", RESOURCE, code, count=2)
    apiserver.faults.close_watches(RESOURCE)
    cluster.writes()
    await converge(mirror, cluster)
    kind = request.node.callspec.params["mirror"]
    assert mirror.errors == ([] if code != 500 and kind in RETRIED_BY_URLLIB3 else [code, code])
    assert apiserver.faults.armed()["failures"] == []  # both failures answered
    assert mirror.calls["list"] == 1


async def test_failed_relist_clients_retry(apiserver: RunningServer, cluster: Cluster, mirror: Mirror,
                                           request: pytest.FixtureRequest) -> None:
    lists = mirror.calls["list"]
    cluster.other_write()
    apiserver.faults.expire(RESOURCE)
    apiserver.faults.fail("list", RESOURCE, 503, count=2)  # the test lists nothing until the client had both
    apiserver.faults.close_watches(RESOURCE)
    kind = request.node.callspec.params["mirror"]
    deadline = time.monotonic() + CONVERGE_SECONDS
    while apiserver.faults.armed()["failures"] and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert apiserver.faults.armed()["failures"] == []
    cluster.writes()  # seen by the relist or the watch after it
    await converge(mirror, cluster)
    if kind in RETRIED_BY_URLLIB3:
        assert mirror.errors == [410] and mirror.calls["list"] == lists + 1  # one call, retried inside urllib3
    else:
        assert mirror.errors == [410, 503, 503] and mirror.calls["list"] == lists + 3


async def test_paged_list_after_compact_gets_410_and_restarts(apiserver: RunningServer, cluster: Cluster) -> None:
    """A pager's continue token from before a compaction is 410 Expired; the client lists again from the start."""
    for _ in range(3):
        cluster.writes()
    want = cluster.fresh()
    pages: list[Snapshot] = []
    token: str | None = None
    restarts = 0
    while True:
        try:
            page = cluster.discovery.list_endpoint_slice_for_all_namespaces(limit=2, _continue=token)
        except ApiException as err:
            assert err.status == 410 and orjson.loads(err.body)["reason"] == "Expired"
            pages, token, restarts = [], None, restarts + 1
            continue
        pages.append({f"{o.metadata.namespace}/{o.metadata.name}": o.metadata.resource_version for o in page.items})
        token = page.metadata._continue
        if not token:
            break
        if len(pages) == 1 and not restarts:
            cluster.other_write()  # the token's revision is now behind the store's
            apiserver.faults.compact()
    assert restarts == 1
    assert {k: v for page in pages for k, v in page.items()} == want


# The project's own controllers


POD_IPS = "10.1.0.{}"


class Workload:
    """Pods of one Service written over HTTP, with the IPs the Service's slices must end up with."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url, self.session = url, session
        self.last_rv = 0
        self.pods = 0

    async def request(self, method: str, path: str, body: dict[str, Any] | None = None,
                      content_type: str = "application/json") -> dict[str, Any]:
        async with self.session.request(method, self.url + path, data=orjson.dumps(body) if body else None,
                                        headers={"Content-Type": content_type}) as response:
            result: dict[str, Any] = orjson.loads(await response.read())
            assert response.status < 300, result
            if method != "GET":
                self.last_rv = max(self.last_rv, int(result["metadata"]["resourceVersion"]))
            return result

    async def add_pods(self, count: int) -> None:
        for _ in range(count):
            self.pods += 1
            name, ip = f"web-{self.pods}", POD_IPS.format(self.pods)
            await self.request("POST", f"/api/v1/namespaces/{NS}/pods", {
                "metadata": {"name": name, "labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
            await self.request("PATCH", f"/api/v1/namespaces/{NS}/pods/{name}/status", {"status": {
                "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                "conditions": [{"type": "Ready", "status": "True"}]}}, "application/merge-patch+json")

    async def service(self) -> None:
        await self.request("POST", f"/api/v1/namespaces/{NS}/services", {
            "metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})

    async def slice_ips(self) -> set[str]:
        slices = await self.request(
            "GET", f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices?labelSelector=kubernetes.io/service-name=web")
        return {a for s in slices["items"] for e in s.get("endpoints") or () for a in e["addresses"]}

    async def fresh(self, path: str) -> Snapshot:
        listed = await self.request("GET", path)
        return {key_of(o).lstrip("/"): o["metadata"]["resourceVersion"] for o in listed["items"]}


async def converged(manager: ControllerManager, workload: Workload) -> None:
    """Every informer's cache equals a fresh list and the Service's slices hold exactly its Pods' IPs."""
    await manager.wait_idle(workload.last_rv, timeout=CONVERGE_SECONDS)
    for informer_ in manager.informers.values():
        cached = {key: obj["metadata"]["resourceVersion"] for key, obj in informer_.cache.items()}
        assert cached == await workload.fresh(informer_.path), informer_.path
    assert await workload.slice_ips() == {POD_IPS.format(i) for i in range(1, workload.pods + 1)}


@pytest.mark.parametrize("fault", ["close", "expire", "drop", "fail"])
async def test_controllers_recover(apiserver: RunningServer, fault: str) -> None:
    async with aiohttp.ClientSession() as session:
        workload = Workload(apiserver.url, session)
        await workload.service()
        await workload.add_pods(3)
        manager = ControllerManager(apiserver.url, ("endpointslice",))
        await manager.start(timeout=CONVERGE_SECONDS)
        try:
            await converged(manager, workload)
            informers = manager.informers
            relists = {resource: i.relists for resource, i in informers.items()}
            if fault == "close":
                assert apiserver.faults.close_watches() == len(informers)
            elif fault == "expire":  # an informer behind the cache's revision gets 410 and relists
                starts = apiserver.faults.expire()
                relists = {r: n + (informers[r].last_rv < starts[r]) for r, n in relists.items()}
                assert relists["services"] == informers["services"].relists + 1  # written before the Pods
                apiserver.faults.close_watches()
            elif fault == "drop":
                apiserver.faults.drop_watch(resource="pods")
            else:
                apiserver.faults.fail("watch", "pods", 429, count=2)
                apiserver.faults.close_watches("pods")
            await workload.add_pods(3)
            await converged(manager, workload)
            assert {resource: i.relists for resource, i in informers.items()} == relists
            assert apiserver.faults.armed() == {"failures": [], "paused": []}
        finally:
            await manager.stop()


async def test_controllers_wait_out_a_paused_cache(apiserver: RunningServer) -> None:
    async with aiohttp.ClientSession() as session:
        workload = Workload(apiserver.url, session)
        await workload.service()
        await workload.add_pods(2)
        manager = ControllerManager(apiserver.url, ("endpointslice",))
        await manager.start(timeout=CONVERGE_SECONDS)
        try:
            await converged(manager, workload)
            apiserver.faults.pause("pods", 300)
            await workload.add_pods(2)
            await asyncio.sleep(0.2)
            assert len(manager.informers["pods"].cache) == 2  # the controller sees no new Pod
            assert apiserver.faults.resume("pods") == 4  # two creates, two status updates
            await converged(manager, workload)
        finally:
            await manager.stop()


# The HTTP endpoint


def post(server: RunningServer, action: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else orjson.dumps(body if body is not None else {})
    request = urllib.request.Request(f"{server.url}/debug/faults/{action}", data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, orjson.loads(err.read())


def open_watch(server: RunningServer, query: str = "") -> Any:
    url = f"{server.url}/apis/discovery.k8s.io/v1/endpointslices?watch=true{query}"
    return urllib.request.urlopen(url, timeout=10)


def test_endpoint_is_off_by_default() -> None:
    """Off, the path is served by nothing: the plain 404 of any unknown path outside the API."""
    with run_server(Config(compaction_interval=0)) as server:
        request = urllib.request.Request(f"{server.url}/debug/faults/close-watches", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=10)
        assert (err.value.code, err.value.read()) == (404, b"404 page not found\n")
        server.faults.close_watches()  # the Python API is there all the same


@pytest.mark.parametrize("apiserver_storage", ["memory://"])
def test_endpoint_actions(apiserver: RunningServer, cluster: Cluster) -> None:
    cluster.writes()
    old_rv = min(cluster.fresh().values())
    now = cluster.discovery.list_endpoint_slice_for_all_namespaces().metadata.resource_version
    first = open_watch(apiserver, f"&resourceVersion={now}")
    second = open_watch(apiserver, f"&resourceVersion={now}&labelSelector=app=web")
    try:
        ids = watch_ids(apiserver, 2)
        assert post(apiserver, "drop-watch", {"id": ids[0]}) == (200, {"dropped": ids[0]})
        with pytest.raises(http.client.IncompleteRead):
            first.read()  # the connection ended without the last chunk
        assert post(apiserver, "close-watches", {"resource": RESOURCE}) == (200, {"closed": 1})
        assert second.read() == b""  # a clean end: the client re-watches
    finally:
        first.close()
        second.close()
    cluster.other_write()
    status, body = post(apiserver, "expire", {"resource": RESOURCE})
    assert status == 200 and body["resourceVersions"][RESOURCE] > int(old_rv)
    with open_watch(apiserver, f"&resourceVersion={old_rv}") as stream:
        event = orjson.loads(stream.readline())
        assert event["type"] == "ERROR" and event["object"]["code"] == 410
    status, body = post(apiserver, "compact")
    assert status == 200 and body["revision"] > 0
    assert post(apiserver, "pause", {"resource": "pods", "seconds": 30}) == (200, {"paused": ["pods"]})
    assert post(apiserver, "fail", {"verb": "list", "resource": "services", "code": 429, "count": 2,
                                    "retryAfterSeconds": 3}) == (200, {"verb": "list", "resource": "services",
                                                                       "code": 429, "count": 2, "retryAfterSeconds": 3})
    with urllib.request.urlopen(f"{apiserver.url}/debug/faults") as response:
        assert orjson.loads(response.read()) == {
            "failures": [{"verb": "list", "resource": "services", "code": 429, "count": 2, "retryAfterSeconds": 3}],
            "paused": ["pods"]}
    for _ in range(2):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{apiserver.url}/api/v1/namespaces/default/services", timeout=10)
        assert refused.value.code == 429 and refused.value.headers["Retry-After"] == "3"
        assert orjson.loads(refused.value.read()) == {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Too many requests, please try again later.", "reason": "TooManyRequests",
            "details": {"retryAfterSeconds": 3}, "code": 429}
    urllib.request.urlopen(f"{apiserver.url}/api/v1/namespaces/default/services", timeout=10).close()  # the third
    assert post(apiserver, "resume", {"resource": "pods"}) == (200, {"applied": 0})
    post(apiserver, "fail", {"code": 500})
    request = urllib.request.Request(f"{apiserver.url}/debug/faults", method="DELETE")
    with urllib.request.urlopen(request) as response:
        assert orjson.loads(response.read()) == {"failures": [], "paused": []}


@pytest.mark.parametrize("apiserver_storage", ["memory://"])
@pytest.mark.parametrize("action,body,code,reason", [
    ("close-watches", {"resource": "widgets"}, 404, "NotFound"),
    ("close-watches", {"resources": "pods"}, 400, "BadRequest"),
    ("pause", {"resource": "pods"}, 400, "BadRequest"),
    ("pause", {"resource": "pods", "seconds": 0}, 400, "BadRequest"),
    ("pause", {"resource": "pods", "seconds": "5"}, 400, "BadRequest"),
    ("drop-watch", {"id": 12345}, 404, "NotFound"),
    ("drop-watch", {"id": True}, 400, "BadRequest"),
    ("fail", {"verb": "list"}, 400, "BadRequest"),
    ("fail", {"verb": "lists", "code": 500}, 400, "BadRequest"),
    ("fail", {"code": 404}, 400, "BadRequest"),
    ("fail", {"code": 500, "count": 0}, 400, "BadRequest"),
    ("fail", [], 400, "BadRequest"),
    ("reboot", {}, 404, "NotFound"),
])
def test_endpoint_rejects_bad_input(apiserver: RunningServer, action: str, body: Any, code: int,
                                    reason: str) -> None:
    status, answer = post(apiserver, action, body)
    assert status == code and answer["kind"] == "Status" and answer["reason"] == reason, answer
    status, answer = post(apiserver, "compact", raw=b"{not json")
    assert status == 400 and answer["reason"] == "BadRequest"
    assert apiserver.faults.armed() == {"failures": [], "paused": []}
