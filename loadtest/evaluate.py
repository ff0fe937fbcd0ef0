"""The founding talk's evaluation, measured: a Service of P pods watched by N simulated kube-proxies.

    python -m loadtest.evaluate [--pods 20] [--nodes 5] [--apis endpoints,slices] [--slice-sizes 100,1]
                                [--encodings json,protobuf]
                                [--scenarios service-creation,single-endpoint-update,rolling-update,service-deletion]
                                [--node-procs 8] [--writers 16] [--etcd] [--server-args '...']
                                [--out results/evaluate] [--no-plots]

For every P in --pods, N in --nodes and API (`endpoints`, or `slices` with B endpoints per slice for
every B in --slice-sizes) it starts a fresh server with the matching controller, N node watchers per
encoding in --encodings (`loadtest.nodes` processes, kube-proxy's list and watch; `protobuf` is what
kube-proxy really asks for, `json` what kubectl and most scripts get; both: 2N watchers, half of each, on
the same server and workload), creates P ready pods, then runs the scenarios in this order on the same
Service:

- service-creation: the Service is created; its controller writes the Endpoints or the slices;
- single-endpoint-update: one pod turns not ready;
- rolling-update: every pod is replaced, one at a time: a new ready pod is created, the controller's
  write is awaited, the old pod is deleted and that write awaited (so 2 endpoint changes per pod);
- service-deletion: the Service is deleted, and its Endpoints (by the endpoints controller) or slices (by the
  server's garbage collector, as kube-controller-manager's collector deletes them) with it.

Each scenario waits until an observer watch of the Service's objects shows the expected endpoints
(or none), then until the node watchers have received what the server sent them, and measures, per
encoding (one result each): mutating calls on the resource (the server's `apiserver_request_total`, by
code, plus the objects its in-process garbage collector deleted, seen deleted by the observer with no DELETE
request to match, as `writes_collected`: kube-controller-manager's collector sends those as requests), object size (as served in that encoding: max and mean over the Service's objects), watch events per
node (BOOKMARKs excluded), total events and bytes sent to the N nodes of that encoding (the server's
per-watch meters in `/debug/watches`, checked against the nodes' own counts) and wall time. A write the store refuses
(`--max-request-bytes`, like etcd: `etcdserver: request is too large`) makes the scenario a failed
result, not a crash. `--etcd` runs each point's server on a throwaway etcd (`storage.etcd_process`,
etcd's own 1.5 MiB limit) instead of the embedded store. `loadtest.report` prints the seed's tables
beside the measurements and writes CSV, JSON and plots.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
import orjson
import uvloop

from apiserver.protobuf import envelope
from loadtest.fanout import READY_TIMEOUT, Server
from loadtest.fanout import Settings as ServerSettings
from loadtest.nodes import USER_AGENT, NodeFleet, raise_fd_limit
from storage.etcd_process import EtcdProcess

SCENARIOS = ("service-creation", "single-endpoint-update", "rolling-update", "service-deletion")
MUTATING = ("POST", "PUT", "PATCH", "DELETE", "DELETECOLLECTION")
NAMESPACE = "default"
SERVICE = "web"
POLL_SECONDS = 0.05
HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
ENCODINGS = ("json", "protobuf")
MEDIA_TYPES = {"application/json": "json", envelope.MEDIA_TYPE: "protobuf"}  # /debug/watches' encoding → ours
Obj = dict[str, Any]
Progress = Callable[[int], None]


@dataclass
class Settings:
    """One evaluation's knobs (the command line, or a test's small values)."""

    scenarios: tuple[str, ...] = SCENARIOS
    node_procs: int = 2
    watch_timeout: int = 3600
    converge_timeout: float = 60.0  # per scenario step: the controllers' writes to show up
    drain_timeout: float = 60.0  # per scenario: the node watchers to receive what was sent
    settle_seconds: float = 0.3  # no new mutating call for this long ends a scenario's writes
    writers: int = 16  # concurrent requests while creating pods
    etcd: bool = False  # each point's server on a throwaway etcd instead of the embedded store
    encodings: tuple[str, ...] = ENCODINGS  # N node watchers of each
    truncate_endpoints: bool = False
    server_args: list[str] = field(default_factory=list)
    progress: bool = True


@dataclass
class Point:
    """One run: the API under test and the sizes."""

    api: str  # "endpoints" or "slices"
    pods: int
    nodes: int
    slice_size: int = 0  # B, for slices

    @property
    def label(self) -> str:
        return "endpoints" if self.api == "endpoints" else f"slices_b{self.slice_size}"

    @property
    def resource(self) -> str:
        return "endpoints" if self.api == "endpoints" else "endpointslices"


def controller_args(point: Point, settings: Settings) -> list[str]:
    """`python -m apiserver.controllers` flags for the one controller that writes the API under test."""
    if point.api == "endpoints":
        return ["--controllers", "endpoints", *([] if settings.truncate_endpoints else ["--no-endpoints-truncation"])]
    return ["--controllers", "endpointslice", "--max-endpoints-per-slice", str(point.slice_size)]


class Controllers:
    """`python -m apiserver.controllers` against the server, as kube-controller-manager runs beside it."""

    def __init__(self, url: str, args: list[str]) -> None:
        self.log = tempfile.NamedTemporaryFile(prefix="controllers-", suffix=".log")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen([sys.executable, "-m", "apiserver.controllers", "--server", url,
                                         "--report-interval", "0", *args],
                                        stdout=subprocess.DEVNULL, stderr=self.log)

    def _text(self) -> str:
        with open(self.log.name, errors="replace") as f:
            return f.read()

    async def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Until every informer has listed (the process logs "running against")."""
        deadline = time.monotonic() + timeout
        while "running against" not in self._text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"controllers did not start: {self._text()[-2000:]}")
            await asyncio.sleep(POLL_SECONDS)

    def stop(self) -> dict[str, Any]:
        """Interrupt the process; the mutating calls it counts, per controller, from its last log line."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        lines = [line for line in self._text().splitlines() if " calls {" in line]
        self.log.close()
        counts: dict[str, Any] = orjson.loads(lines[-1].split(" calls ", 1)[1]) if lines else {}
        return counts


def pod_ip(index: int) -> str:
    return f"10.{64 + (index >> 16) % 64}.{(index >> 8) & 255}.{index & 255}"


class Observer:
    """A watch on the Service's Endpoints or slices: which pods they list as ready, and object sizes."""

    def __init__(self, session: aiohttp.ClientSession, url: str, resource: str,
                 encodings: tuple[str, ...] = ("json",)) -> None:
        self.session = session
        self.url = url
        self.resource = resource
        self.encodings = encodings
        self.objects: dict[str, dict[str, bool]] = {}  # object name → pod name → ready
        self.sizes: dict[str, dict[str, int]] = {e: {} for e in encodings}  # encoding → object name → bytes served
        self.listed = 0  # endpoints over every object, kept as objects change (a cheap first check)
        self.deleted = 0  # objects seen deleted
        self.changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def _path(self) -> str:
        if self.resource == "endpoints":
            return f"/api/v1/namespaces/{NAMESPACE}/endpoints?fieldSelector=metadata.name%3D{SERVICE}"
        return (f"/apis/discovery.k8s.io/v1/namespaces/{NAMESPACE}/endpointslices"
                f"?labelSelector=kubernetes.io%2Fservice-name%3D{SERVICE}")

    async def start(self) -> None:
        """List, then watch from the list in the background."""
        async with self.session.get(self.url + self._path(), headers=HEADERS) as response:
            listed = orjson.loads(await response.read())
        kind = listed["kind"].removesuffix("List")
        for item in listed["items"]:
            self._store({"kind": kind, "apiVersion": listed["apiVersion"], **item})
        self.task = asyncio.create_task(self._watch(listed["metadata"]["resourceVersion"]))

    async def _watch(self, rv: str) -> None:
        url = f"{self.url}{self._path()}&watch=true&resourceVersion={rv}&timeoutSeconds=86400"
        async with self.session.get(url, headers=HEADERS, timeout=aiohttp.ClientTimeout(total=None)) as response:
            buffer = b""
            async for chunk in response.content.iter_any():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    event = orjson.loads(line)
                    if event["type"] == "DELETED":
                        self.deleted += 1
                        self.listed -= len(self.objects.pop(event["object"]["metadata"]["name"], {}))
                        for sizes in self.sizes.values():
                            sizes.pop(event["object"]["metadata"]["name"], None)
                    elif event["type"] in ("ADDED", "MODIFIED"):
                        self._store(event["object"])
                if lines:
                    self.changed.set()

    def _store(self, obj: Obj) -> None:
        name = obj["metadata"]["name"]
        for encoding, sizes in self.sizes.items():
            sizes[name] = len(envelope.encode(obj) if encoding == "protobuf" else orjson.dumps(obj))
        pods: dict[str, bool] = {}
        if self.resource == "endpoints":
            for subset in obj.get("subsets") or []:
                for key, ready in (("addresses", True), ("notReadyAddresses", False)):
                    for address in subset.get(key) or []:
                        pods[(address.get("targetRef") or {}).get("name", address["ip"])] = ready
        else:
            for endpoint in obj.get("endpoints") or []:
                pods[(endpoint.get("targetRef") or {}).get("name", "")] = bool(endpoint["conditions"].get("ready"))
        self.listed += len(pods) - len(self.objects.get(name, {}))
        self.objects[name] = pods

    def matches(self, desired: dict[str, bool] | None) -> bool:
        """The objects list exactly the desired pods (None: no object at all)."""
        if desired is None:
            return not self.objects
        if self.listed != len(desired):
            return False
        merged: dict[str, bool] = {}
        for pods in self.objects.values():
            merged.update(pods)
        return merged == desired

    async def wait_for(self, desired: dict[str, bool] | None, timeout: float) -> bool:
        """Until the objects match `desired`; False after `timeout` seconds without."""
        deadline = time.monotonic() + timeout
        while not self.matches(desired):
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                return self.matches(desired)
        return True

    def size_stats(self) -> dict[str, dict[str, float | None]]:
        """Per encoding: how many objects, their largest and mean size, and their bytes per endpoint listed."""
        endpoints = sum(len(pods) for pods in self.objects.values())
        stats: dict[str, dict[str, float | None]] = {}
        for encoding, by_name in self.sizes.items():
            sizes = list(by_name.values())
            stats[encoding] = {"objects": len(sizes), "object_size_max": max(sizes, default=0),
                               "object_size_mean": sum(sizes) / len(sizes) if sizes else 0.0,
                               "bytes_per_endpoint": sum(sizes) / endpoints if endpoints else None}
        return stats

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


class Workload:
    """The Service and its pods, written over HTTP; `desired` is what its controller should publish."""

    def __init__(self, session: aiohttp.ClientSession, url: str, settings: Settings) -> None:
        self.session = session
        self.url = url
        self.settings = settings
        self.pods: list[str] = []  # current pod names, by slot
        self.ready: dict[str, bool] = {}
        self.created = 0

    async def _call(self, method: str, path: str, body: Obj | None = None) -> Obj:
        data = orjson.dumps(body) if body is not None else None
        async with self.session.request(method, self.url + path, data=data, headers=HEADERS) as response:
            answer: Obj = orjson.loads(await response.read())
            if response.status >= 300:
                raise RuntimeError(f"{method} {path}: {response.status} {answer.get('message')}")
            return answer

    async def create_pod(self) -> str:
        """A ready pod of the Service, on one of 5,000 nodes (create, then the kubelet's status write)."""
        index = self.created
        self.created += 1
        name = f"{SERVICE}-{index}"
        path = f"/api/v1/namespaces/{NAMESPACE}/pods"
        pod = await self._call("POST", path, {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": SERVICE}},
            "spec": {"nodeName": f"node-{index % 5000}",
                     "containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 8080}]}]}})
        pod["status"] = {"phase": "Running", "podIP": pod_ip(index), "podIPs": [{"ip": pod_ip(index)}],
                         "conditions": [{"type": "Ready", "status": "True"}]}
        await self._call("PUT", f"{path}/{name}/status", pod)
        self.ready[name] = True
        return name

    async def create_pods(self, count: int, progress: Progress) -> None:
        gate = asyncio.Semaphore(self.settings.writers)

        async def one() -> None:
            async with gate:
                self.pods.append(await self.create_pod())
            progress(1)

        await asyncio.gather(*(one() for _ in range(count)))

    async def set_ready(self, name: str, ready: bool) -> None:
        path = f"/api/v1/namespaces/{NAMESPACE}/pods/{name}/status"
        pod = await self._call("GET", path)
        pod["status"]["conditions"] = [{"type": "Ready", "status": "True" if ready else "False"}]
        await self._call("PUT", path, pod)
        self.ready[name] = ready

    async def delete_pod(self, name: str) -> None:
        await self._call("DELETE", f"/api/v1/namespaces/{NAMESPACE}/pods/{name}?gracePeriodSeconds=0")
        del self.ready[name]

    async def create_service(self) -> None:
        await self._call("POST", f"/api/v1/namespaces/{NAMESPACE}/services", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": SERVICE},
            "spec": {"selector": {"app": SERVICE}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}})

    async def delete_service(self) -> None:
        await self._call("DELETE", f"/api/v1/namespaces/{NAMESPACE}/services/{SERVICE}")


def parse_requests(text: str, resource: str, verbs: tuple[str, ...] = MUTATING) -> dict[str, int]:
    """Requests with `verbs` (default: the mutating ones, not dry run) on `resource` so far, by HTTP code."""
    codes: dict[str, int] = {}
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{") or f'resource="{resource}"' not in line:
            continue
        labels = dict(part.split("=", 1) for part in line[line.index("{") + 1:line.rindex("}")].split(","))
        if labels.get("verb", "").strip('"') in verbs and labels.get("dry_run") == '""' and \
                labels.get("subresource") == '""':
            code = labels["code"].strip('"')
            codes[code] = codes.get(code, 0) + int(float(line.rsplit(" ", 1)[1]))
    return codes


class Meters:
    """What the server says: mutating calls on the resource, and its meters of the node watchers' watches."""

    def __init__(self, session: aiohttp.ClientSession, url: str, resource: str) -> None:
        self.session = session
        self.url = url
        self.resource = resource

    async def requests(self) -> dict[str, int]:
        async with self.session.get(f"{self.url}/metrics") as response:
            return parse_requests(await response.text(), self.resource)

    async def deletes(self) -> int:
        """DELETE requests on the resource that succeeded."""
        async with self.session.get(f"{self.url}/metrics") as response:
            codes = parse_requests(await response.text(), self.resource, ("DELETE",))
        return sum(n for code, n in codes.items() if code.startswith("2"))

    async def node_watches(self) -> dict[str, int]:
        """Events and bytes the server sent on the node watchers' open watches, and how many are open: in total
        and per encoding (`json_bytes`, `protobuf_events`, …)."""
        async with self.session.get(f"{self.url}/debug/watches") as response:
            body = await response.json()
        mine = [w for w in body["open"] if w["resource"] == self.resource and w["userAgent"] == USER_AGENT]
        counts = {"open": len(mine), "events": sum(w["events"] for w in mine), "bytes": sum(w["bytes"] for w in mine)}
        for encoding in ENCODINGS:
            counts[f"{encoding}_events"] = counts[f"{encoding}_bytes"] = 0
        for w in mine:
            encoding = MEDIA_TYPES[w.get("encoding", "application/json")]
            counts[f"{encoding}_events"] += w["events"]
            counts[f"{encoding}_bytes"] += w["bytes"]
        return counts


async def settle(meters: Meters, settings: Settings, deadline: float) -> dict[str, int]:
    """Wait until no mutating call arrived for `settle_seconds` (or the deadline); the counts then."""
    codes = await meters.requests()
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < settings.settle_seconds and time.monotonic() < deadline:
        await asyncio.sleep(POLL_SECONDS)
        now = await meters.requests()
        if now != codes:
            codes, quiet_since = now, time.monotonic()
    return codes


async def drain(fleet: NodeFleet, meters: Meters, before: dict[str, int], timeout: float
                ) -> tuple[dict[str, Any], dict[str, int], bool]:
    """Until the nodes of each encoding counted every byte the server sent them (or `timeout`): their
    snapshot, the server's meters, and whether they agree."""
    deadline = time.monotonic() + timeout
    while True:
        server = await meters.node_watches()
        nodes = await fleet.command("snapshot")
        agree = all(nodes[key] - before[key] == server[key] - before["server_" + key]
                    for key in ("bytes", *(f"{encoding}_bytes" for encoding in ENCODINGS)))
        if agree or time.monotonic() > deadline:
            return nodes, server, agree
        await asyncio.sleep(POLL_SECONDS)


class Run:
    """One point: a server with its controller, the nodes, the observer and the workload."""

    def __init__(self, point: Point, settings: Settings, session: aiohttp.ClientSession, server: Server,
                 fleet: NodeFleet) -> None:
        self.point = point
        self.settings = settings
        self.workload = Workload(session, server.url, settings)
        self.meters = Meters(session, server.url, point.resource)
        self.observer = Observer(session, server.url, point.resource, settings.encodings)
        self.fleet = fleet
        self.writes = 0  # mutating calls on the resource over every scenario run
        self.failed = ""  # set once the controller could not publish the Service: later scenarios skip

    async def converge(self, desired: dict[str, bool] | None) -> bool:
        return await self.observer.wait_for(desired, self.settings.converge_timeout)

    async def service_creation(self, progress: Progress) -> bool:
        await self.workload.create_service()
        progress(1)
        return await self.converge(dict(self.workload.ready))

    async def single_endpoint_update(self, progress: Progress) -> bool:
        await self.workload.set_ready(self.workload.pods[0], False)
        progress(1)
        return await self.converge(dict(self.workload.ready))

    async def rolling_update(self, progress: Progress) -> bool:
        for slot, old in enumerate(self.workload.pods):
            self.workload.pods[slot] = await self.workload.create_pod()
            if not await self.converge(dict(self.workload.ready)):
                return False
            await self.workload.delete_pod(old)
            if not await self.converge(dict(self.workload.ready)):
                return False
            progress(1)
        return True

    async def service_deletion(self, progress: Progress) -> bool:
        await self.workload.delete_service()
        progress(1)
        return await self.converge(None)

    async def scenario(self, name: str, progress: Progress) -> list[dict[str, Any]]:
        """Run one scenario and measure it: one result per encoding."""
        actions: dict[str, Callable[[Progress], Awaitable[bool]]] = {
            "service-creation": self.service_creation, "single-endpoint-update": self.single_endpoint_update,
            "rolling-update": self.rolling_update, "service-deletion": self.service_deletion}
        sizes_before = self.observer.size_stats()
        codes0 = await self.meters.requests()
        deletes0, deleted0 = await self.meters.deletes(), self.observer.deleted
        server0 = await self.meters.node_watches()
        nodes0 = await self.fleet.command("mark")
        start = time.monotonic()
        converged = await actions[name](progress)
        before: dict[str, int] = {}
        for key in ("bytes", *(f"{encoding}_bytes" for encoding in ENCODINGS)):
            before[key], before["server_" + key] = nodes0[key], server0[key]
        codes1 = await self.meters.requests()
        for _ in range(3):  # writes after the drain (the controller was not done) mean another drain
            nodes1, server1, agree = await drain(self.fleet, self.meters, before, self.settings.drain_timeout)
            wall = time.monotonic() - start
            drained_codes = codes1
            codes1 = await settle(self.meters, self.settings, time.monotonic() + self.settings.drain_timeout)
            if codes1 == drained_codes:
                break
        calls = {code: codes1.get(code, 0) - codes0.get(code, 0) for code in codes1}
        refused = sum(n for code, n in calls.items() if not code.startswith("2"))
        self.writes += sum(calls.values())
        # objects no request deleted: the server's garbage collector's deletes (kube-controller-manager's requests)
        collected = max(0, self.observer.deleted - deleted0 - (await self.meters.deletes() - deletes0))
        status = "ok"
        if not converged:
            status = "failed: " + (f"{refused} writes refused" if refused else "the controller did not converge in time")
            self.failed = status
        common: dict[str, Any] = {
            "scenario": name, "api": self.point.label, "pods": self.point.pods, "nodes": self.point.nodes,
            "slice_size": self.point.slice_size or None, "status": status,
            "writes": sum(calls.values()) + collected, "writes_ok": sum(calls.values()) - refused + collected,
            "writes_refused": refused, "writes_collected": collected, "write_codes": {code: n for code, n in calls.items() if n},
            "events_per_watcher_min": nodes1["min_events"], "events_per_watcher_max": nodes1["max_events"],
            "nodes_closed_early": nodes1["closed_early"], "bytes_agree": agree, "wall_seconds": wall,
        }
        sizes = sizes_before if name == "service-deletion" else self.observer.size_stats()
        results = []
        for e in self.settings.encodings:
            events = grown(nodes0, nodes1, f"{e}_events")
            metered = grown(server0, server1, f"{e}_bytes")
            result = {
                **common, "encoding": e, **sizes[e],
                "events_per_watcher": events / nodes1[f"{e}_connected"] if nodes1[f"{e}_connected"] else 0.0,
                "total_watch_events": events,
                "total_bytes": metered - grown(nodes0, nodes1, f"{e}_bookmark_bytes"),
                "bytes_metered": metered,
                "bytes_counted": grown(nodes0, nodes1, f"{e}_bytes"),
                "events_metered": grown(server0, server1, f"{e}_events") - grown(nodes0, nodes1, f"{e}_bookmarks"),
                "bookmarks": grown(nodes0, nodes1, f"{e}_bookmarks"),
                "nodes_connected": nodes1[f"{e}_connected"],
                "watchers_per_object": events / common["writes_ok"] if common["writes_ok"] else 0.0,
            }
            results.append(result)
        return results


def grown(before: dict[str, Any], after: dict[str, Any], key: str) -> int:
    return int(after[key] - before[key])


def skipped(point: Point, name: str, reason: str, encodings: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"scenario": name, "api": point.label, "pods": point.pods, "nodes": point.nodes, "encoding": encoding,
             "slice_size": point.slice_size or None, "status": f"skipped: {reason}"} for encoding in encodings]


async def run_point(point: Point, settings: Settings, bar: Any = None) -> list[dict[str, Any]]:
    """Fresh server, controller and nodes; P pods; the scenarios in order. One result per scenario, each
    also carrying the controller's own count of its calls over the whole run."""
    etcd = EtcdProcess().start() if settings.etcd else None
    storage = ["--storage", "etcd", "--etcd-servers", etcd.client_url] if etcd is not None else []
    server = Server("ours", ServerSettings(server_args=["--bookmark-interval", "60", *storage,
                                                        *settings.server_args]))
    controllers = Controllers(server.url, controller_args(point, settings))
    fleet = NodeFleet()
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=settings.writers + 4))
    run: Run | None = None
    results: list[dict[str, Any]] = []
    try:
        await server.wait_ready(session)
        await controllers.wait_ready()
        lifetime = 3600.0 + point.pods * 2.0
        encoding = settings.encodings[0] if len(settings.encodings) == 1 else "mix"
        nodes = point.nodes * len(settings.encodings)
        ready = await fleet.start(server.url, "endpoints" if point.api == "endpoints" else "slices", nodes,
                                  settings.node_procs, settings.watch_timeout, lifetime, encoding)
        if ready["connected"] != nodes:
            raise RuntimeError(f"{ready['connected']} of {nodes} nodes watching: {ready['connect_error_examples']}")
        run = Run(point, settings, session, server, fleet)
        await run.observer.start()

        def advance(n: int) -> None:
            if bar is not None:
                bar.update(n)

        await run.workload.create_pods(point.pods, advance)
        for name in SCENARIOS:
            if name not in settings.scenarios and name != "service-creation":
                continue
            if run.failed and name != "service-deletion":
                results += skipped(point, name, run.failed, settings.encodings)
                continue
            measured = await run.scenario(name, advance)
            if name in settings.scenarios:
                results += measured
    finally:
        if run is not None:
            await run.observer.stop()
        await fleet.stop()
        await session.close()
        counts = controllers.stop()
        server.stop()
        if etcd is not None:
            etcd.close()
    own: dict[str, Any] = next(iter(counts.values()), {})
    for result in results:
        if "refused" in result["status"] and own.get("last_error"):
            result["status"] += f", last: {own['last_error']}"
        result["controller_calls_run"] = own.get("total")
        result["server_calls_run"] = run.writes if run is not None else None
        result["controller_last_error"] = own.get("last_error", "")
    return results


def steps(point: Point, settings: Settings) -> int:
    """Progress units of one point: pods created, then one per scenario step."""
    return point.pods + sum({"rolling-update": point.pods}.get(name, 1) for name in settings.scenarios)


def points(pods: list[int], nodes: list[int], apis: list[str], slice_sizes: list[int]) -> list[Point]:
    result = []
    for p in pods:
        for n in nodes:
            for api in apis:
                if api == "endpoints":
                    result.append(Point("endpoints", p, n))
                else:
                    result += [Point("slices", p, n, b) for b in slice_sizes]
    return result


async def evaluate(todo: list[Point], settings: Settings) -> list[dict[str, Any]]:
    """Every point in turn, with one progress bar over all of them."""
    from tqdm import tqdm  # type: ignore[import-untyped]

    results = []
    with tqdm(total=sum(steps(p, settings) for p in todo), disable=not settings.progress, unit="step",
              dynamic_ncols=True) as bar:
        for point in todo:
            bar.set_description(f"{point.label} P={point.pods} N={point.nodes}")
            results += await run_point(point, settings, bar)
    return results


def main() -> None:
    from loadtest import report

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", default="20", help="P values, comma-separated (the seed: 20000)")
    parser.add_argument("--nodes", default="5", help="N values, comma-separated (the seed: 5000)")
    parser.add_argument("--apis", default="endpoints,slices", help="endpoints and/or slices")
    parser.add_argument("--slice-sizes", default="100,1", help="B values for slices, comma-separated")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="which of " + ", ".join(SCENARIOS))
    parser.add_argument("--encodings", default=",".join(ENCODINGS),
                        help="N node watchers of each: json and/or protobuf (kube-proxy's)")
    parser.add_argument("--node-procs", type=int, default=max(1, min(8, (os.cpu_count() or 2))),
                        help="node watcher processes")
    parser.add_argument("--writers", type=int, default=16, help="concurrent requests while creating pods")
    parser.add_argument("--etcd", action="store_true", help="run each server on a throwaway etcd (needs etcd)")
    parser.add_argument("--converge-timeout", type=float, default=60.0, help="seconds a step may take")
    parser.add_argument("--drain-timeout", type=float, default=120.0, help="seconds for watchers to catch up")
    parser.add_argument("--truncate-endpoints", action="store_true",
                        help="let the Endpoints controller truncate at 1000 addresses as upstream does")
    parser.add_argument("--server-args", default="", help="extra server flags, e.g. '--max-request-bytes 1572864'")
    parser.add_argument("--out", default="results/evaluate", help="directory for evaluate.csv, .json and plots")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    scenarios = tuple(s for s in args.scenarios.split(",") if s)
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    encodings = tuple(e for e in ENCODINGS if e in args.encodings.split(","))
    if not encodings or set(args.encodings.split(",")) - set(ENCODINGS):
        parser.error(f"--encodings: json and/or protobuf, not {args.encodings}")
    settings = Settings(scenarios=scenarios, node_procs=args.node_procs, converge_timeout=args.converge_timeout,
                        drain_timeout=args.drain_timeout, writers=args.writers, etcd=args.etcd, encodings=encodings,
                        truncate_endpoints=args.truncate_endpoints,
                        server_args=shlex.split(args.server_args), progress=not args.no_progress)
    todo = points([int(p) for p in args.pods.split(",")], [int(n) for n in args.nodes.split(",")],
                  args.apis.split(","), [int(b) for b in args.slice_sizes.split(",")])
    raise_fd_limit()  # N node watches: the server and the node processes inherit it
    started = time.monotonic()
    results = uvloop.run(evaluate(todo, settings))
    report.print_tables(results)
    written = report.write(results, args.out, {"args": vars(args), "settings": asdict(settings),
                                               "seconds": time.monotonic() - started}, plots=not args.no_plots)
    print("\nwritten: " + ", ".join(written))


if __name__ == "__main__":
    main()
