"""The soak's client processes: one writer, and watcher processes of three behaviours.

    python -m loadtest.soakclients writer --url URL --rate 20 --record writes.jsonl --log writer.log --control
    python -m loadtest.soakclients watchers --url URL --healthy 8 --slow 4 --stuck 100 \\
        --sessions sessions-0.jsonl --log watchers-0.log --control

Both print one JSON line when started, then answer `snapshot` on stdin with a JSON line of their
counters; `stop` (or end of input) stops them, prints a final line and exits. Logs go to `--log`.

The writer is the only client that writes, one request at a time: creates, updates, patches (merge,
strategic, JSON and apply) and deletes of namespaces, services, pods, endpoints and EndpointSlices.
Every successful write is a line of `--record`: resource, namespace, name, event type and the
resourceVersion from the response. A DELETE answered with the object (pods, services) carries the
deletion's revision (a pod's is preceded by its marking, a MODIFIED recorded with `lo`); one answered with a
Status carries none, nor does a namespace's (its answer is the Terminating object; the namespace controller
then writes its conditions and removes it, which the writer waits for), so such a delete is recorded with `lo`, the last revision the writer had seen before it: its event falls
after `lo` and before the next write's revision (soakverify fills that in). A write without an answer is recorded as `ambiguous`.

Watchers (each one a loop of sessions that come and go):
- healthy: list (`limit=1`: storage's current revision), watch the resource from that revision with
  bookmarks and a random timeoutSeconds, read everything, re-watch from the last revision seen when
  the server ends the stream, as client-go does, and close the connection at the end of the
  session's random life. Each session (or part of one, up to a 410) is a line of `--sessions`.
- slow: watch from resourceVersion 0 (initial events) with normal buffers; read 1 KiB a second.
- stuck: a raw socket with a 4 KiB receive buffer that sends the request and never reads; at the end
  of its life it drains what is there to learn whether the server closed it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import random
import socket
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO
from urllib.parse import urlsplit

import aiohttp
import orjson
import uvloop

from loadtest.slices import endpoint_slice

log = logging.getLogger("soak")

GONE_POLLS, GONE_POLL_SECONDS = 500, 0.02  # how long the writer waits for a deleted namespace to go
NAMESPACES = ("soak-a", "soak-b")  # hold every namespaced object; never deleted
RESOURCES = {  # resource: (collection path with {ns}, kind, apiVersion, weight of writes)
    "namespaces": ("/api/v1/namespaces", "Namespace", "v1", 1),
    "services": ("/api/v1/namespaces/{ns}/services", "Service", "v1", 1),
    "pods": ("/api/v1/namespaces/{ns}/pods", "Pod", "v1", 3),
    "endpoints": ("/api/v1/namespaces/{ns}/endpoints", "Endpoints", "v1", 2),
    "endpointslices": ("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices", "EndpointSlice",
                       "discovery.k8s.io/v1", 3),
}
POOL_MIN, POOL_MAX = 3, 12  # live objects per resource the writer keeps between
PATCH_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json",
               "application/json-patch+json", "application/apply-patch+yaml")
EVENT_CODES = {"ADDED": "A", "MODIFIED": "M", "DELETED": "D"}
REQUEST_TIMEOUT = 30.0
EARLY_END_SLACK = 2.0  # a stream that ends this much before its timeoutSeconds ended early
STUCK_RCVBUF = 4096


def collection(resource: str, namespace: str) -> str:
    path = RESOURCES[resource][0]
    return path.format(ns=namespace) if namespace else path.replace("/namespaces/{ns}", "")


def body(resource: str, namespace: str, name: str, generation: int) -> dict[str, Any]:
    """A valid object of `resource`; `generation` changes its labels and (for slices, endpoints) its content."""
    _, kind, api_version, _ = RESOURCES[resource]
    if resource == "endpointslices":
        obj = endpoint_slice(name, 1 + generation % 100, namespace, service=name, generation=generation)
    else:
        obj = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}}
        if namespace:
            obj["metadata"]["namespace"] = namespace
        if resource == "services":
            obj["spec"] = {"selector": {"app": name}, "ports": [{"name": "http", "port": 80 + generation % 100}]}
        elif resource == "pods":
            obj["spec"] = {"containers": [{"name": "app", "image": f"nginx:1.{generation % 30}"}]}
        elif resource == "endpoints":
            addresses = [{"ip": f"10.1.{i // 250}.{1 + i % 250}"} for i in range(1 + generation % 20)]
            obj["subsets"] = [{"addresses": addresses,
                               "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]
    obj["metadata"].setdefault("labels", {})["soak/generation"] = str(generation)
    return obj


def updated(current: dict[str, Any], generation: int) -> dict[str, Any]:
    """`current` (as last returned) with new labels and content: what a read-modify-write client PUTs."""
    resource = next(r for r, spec in RESOURCES.items() if spec[1] == current["kind"])
    meta = current["metadata"]
    fresh = body(resource, meta.get("namespace", ""), meta["name"], generation)
    obj = {**current, "metadata": {**meta, "labels": {**meta.get("labels", {}), **fresh["metadata"]["labels"]}}}
    if resource == "pods":  # a pod's spec is immutable but for images
        obj["spec"] = {**current["spec"], "containers": [{**current["spec"]["containers"][0],
                                                          "image": fresh["spec"]["containers"][0]["image"]}]}
    elif resource == "services":
        obj["spec"] = {**current["spec"], "ports": fresh["spec"]["ports"]}
    else:
        obj.update({k: v for k, v in fresh.items() if k in ("subsets", "endpoints")})
    return obj


class Writer:
    """Sequential writes at a steady rate; every success recorded for the watchers' verification."""

    def __init__(self, url: str, rate: float, record: TextIO, seed: int) -> None:
        self.url = url
        self.rate = rate
        self.record = record
        self.random = random.Random(seed)
        self.live: dict[str, dict[tuple[str, str], dict[str, Any]]] = {r: {} for r in RESOURCES}
        self.names = itertools.count()
        self.generation = itertools.count(1)
        self.last_rv = 0
        self.counts: dict[str, int] = {"writes": 0, "ambiguous": 0, "failed": 0}
        self.failures: list[str] = []
        self.session: aiohttp.ClientSession | None = None

    async def run(self, stop: asyncio.Event) -> None:
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
        async with aiohttp.ClientSession(self.url, timeout=timeout) as self.session:
            for namespace in NAMESPACES:
                await self.write("create", "namespaces", "", namespace)
            loop = asyncio.get_running_loop()
            next_at = loop.time()
            while not stop.is_set():
                await self.step()
                next_at = max(next_at + 1 / self.rate, loop.time() - 1.0)  # no burst after a stall
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(0.0, next_at - loop.time()))
            await self.anchor()

    async def step(self) -> None:
        weights = [RESOURCES[r][3] for r in RESOURCES]
        resource = self.random.choices(list(RESOURCES), weights)[0]
        live = self.live[resource]
        if len(live) < POOL_MIN:
            verb = "create"
        elif len(live) >= POOL_MAX:
            verb = "delete"
        else:
            verb = self.random.choices(["create", "update", "patch", "delete"], [2, 3, 3, 2])[0]
        if verb == "create":
            namespace = "" if resource == "namespaces" else self.random.choice(NAMESPACES)
            prefix = "soak-churn" if resource == "namespaces" else resource[:-1]
            await self.write("create", resource, namespace, f"{prefix}-{next(self.names)}")
        else:
            namespace, name = self.random.choice(sorted(live))
            await self.write(verb, resource, namespace, name)

    async def write(self, verb: str, resource: str, namespace: str, name: str) -> None:
        """One request; the result recorded (or counted as failed or ambiguous)."""
        assert self.session is not None
        generation = next(self.generation)
        base = collection(resource, namespace) if resource != "namespaces" else RESOURCES["namespaces"][0]
        item = f"{base}/{name}"
        headers = {}
        params: dict[str, str] = {}
        if verb == "create":
            request = self.session.post(base, json=body(resource, namespace, name, generation))
        elif verb == "update":
            request = self.session.put(item, json=updated(self.live[resource][namespace, name], generation))
        elif verb == "patch":
            content_type = PATCH_TYPES[generation % len(PATCH_TYPES)]
            patch = self._patch(content_type, resource, namespace, name, generation)
            headers["Content-Type"] = content_type
            if content_type == PATCH_TYPES[3]:
                params = {"fieldManager": "soak", "force": "true"}
            request = self.session.patch(item, data=orjson.dumps(patch), headers=headers, params=params)
        else:
            request = self.session.delete(item)
        lo = self.last_rv
        try:
            async with request as response:
                answer = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as err:
            self._ambiguous(resource, namespace, name, lo, f"{verb} {item}: {type(err).__name__} {err}")
            return
        if status >= 500:
            self._ambiguous(resource, namespace, name, lo, f"{verb} {item}: {status} {answer[:300]!r}")
            return
        if status >= 300:
            self.counts["failed"] += 1
            self._failure(f"{verb} {item}: {status} {answer[:300]!r}")
            return
        self.counts["writes"] += 1
        obj = orjson.loads(answer)
        if verb == "delete":
            del self.live[resource][namespace, name]
            if resource == "namespaces":  # marked Terminating; the namespace controller's writes; removed
                self._emit({"r": resource, "ns": namespace, "n": name, "t": "M", "lo": lo})
                self._emit({"r": resource, "ns": namespace, "n": name, "t": "m", "lo": lo})
                self._emit({"r": resource, "ns": namespace, "n": name, "t": "D", "lo": lo})
                await self._until_gone(item)  # so they all fall before the next write's revision
                return
            elif obj.get("kind") != "Status":  # the deleted object, at the deletion's revision
                rv = int(obj["metadata"]["resourceVersion"])
                if resource == "pods":  # first marked (deletionTimestamp, grace period 0 when on no node)
                    self._emit({"r": resource, "ns": namespace, "n": name, "t": "M", "lo": lo})
                self._emit({"r": resource, "ns": namespace, "n": name, "t": "D", "rv": rv})
                self.last_rv = max(self.last_rv, rv)
                return
            self._emit({"r": resource, "ns": namespace, "n": name, "t": "D", "lo": lo})
            return
        rv = int(obj["metadata"]["resourceVersion"])
        self._emit({"r": resource, "ns": namespace, "n": name, "t": "A" if verb == "create" else "M", "rv": rv})
        self.last_rv = max(self.last_rv, rv)
        if resource != "namespaces" or name not in NAMESPACES:
            self.live[resource][namespace, name] = obj

    async def _until_gone(self, item: str) -> None:
        """Wait (bounded) until `item` answers 404: the server's controller removes a deleted namespace."""
        assert self.session is not None
        for _ in range(GONE_POLLS):
            async with self.session.get(item) as response:
                if response.status == 404:
                    return
            await asyncio.sleep(GONE_POLL_SECONDS)
        self._failure(f"{item} still there {GONE_POLLS * GONE_POLL_SECONDS:.0f} s after its deletion")

    def _patch(self, content_type: str, resource: str, namespace: str, name: str, generation: int) -> Any:
        label = {"soak/generation": str(generation)}
        if content_type == "application/json-patch+json":
            return [{"op": "add", "path": "/metadata/labels/soak~1generation", "value": str(generation)}]
        if content_type == "application/apply-patch+yaml":  # JSON is YAML
            meta: dict[str, Any] = {"name": name, "labels": {"soak/applied": str(generation)}}
            if namespace:
                meta["namespace"] = namespace
            return {"apiVersion": RESOURCES[resource][2], "kind": RESOURCES[resource][1], "metadata": meta}
        return {"metadata": {"labels": label}}

    def _ambiguous(self, resource: str, namespace: str, name: str, lo: int, message: str) -> None:
        self.counts["ambiguous"] += 1
        self._failure(message)
        self._emit({"r": resource, "ns": namespace, "n": name, "t": "?", "lo": lo})

    def _failure(self, message: str) -> None:
        log.warning("write failed: %s", message)
        if len(self.failures) < 10:
            self.failures.append(message)

    def _emit(self, entry: dict[str, Any]) -> None:
        self.record.write(orjson.dumps(entry).decode() + "\n")

    async def anchor(self) -> None:
        """Record storage's current revision, the upper bound of the last deletes' revisions."""
        assert self.session is not None
        async with self.session.get(RESOURCES["namespaces"][0], params={"limit": "1"}) as response:
            rv = int((await response.json())["metadata"]["resourceVersion"])
        self._emit({"anchor": rv})
        self.record.flush()

    def snapshot(self) -> dict[str, Any]:
        return {**self.counts, "write_failures": list(self.failures), "last_rv": self.last_rv}


class Segment:
    """What one healthy watcher saw of one resource from `start`, until it stopped or got a 410."""

    def __init__(self, resource: str, namespace: str, start: int) -> None:
        self.resource, self.namespace, self.start = resource, namespace, start
        self.end = start  # the last revision seen, event or bookmark
        self.events: list[tuple[int, str, str, str]] = []  # (rv, A/M/D, namespace, name)
        self.bookmarks = 0
        self.rewatches = 0
        self.early_ends: list[str] = []
        self.errors: list[str] = []

    def entry(self) -> dict[str, Any]:
        return {"r": self.resource, "ns": self.namespace, "start": self.start, "end": self.end,
                "events": self.events, "bookmarks": self.bookmarks, "rewatches": self.rewatches,
                "early_ends": self.early_ends, "errors": self.errors}


class Watchers:
    """Healthy, slow and stuck watchers, each slot a loop of sessions with random lives."""

    def __init__(self, url: str, sessions: TextIO, seed: int, life: tuple[float, float],
                 timeout: tuple[int, int]) -> None:
        self.url = url
        parts = urlsplit(url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.sessions = sessions
        self.random = random.Random(seed)
        self.life = life
        self.timeout = timeout
        self.counts: dict[str, int] = {
            "healthy_open": 0, "healthy_sessions": 0, "events": 0, "bookmarks": 0, "rewatches": 0, "expired": 0,
            "early_ends": 0, "watch_errors": 0, "slow_open": 0, "slow_sessions": 0, "slow_bytes": 0,
            "slow_ended_by_server": 0, "stuck_open": 0, "stuck_sessions": 0, "stuck_closed_by_server": 0,
            "stuck_open_at_close": 0, "client_errors": 0}
        self.errors: list[str] = []
        self.session: aiohttp.ClientSession | None = None

    def _pick(self) -> tuple[str, str]:
        resource = self.random.choice(list(RESOURCES))
        namespace = "" if resource == "namespaces" else self.random.choice(["", *NAMESPACES])
        return resource, namespace

    def _error(self, message: str) -> None:
        log.warning("%s", message)
        if len(self.errors) < 10:
            self.errors.append(message)

    async def run(self, stop: asyncio.Event, healthy: int, slow: int, stuck: int) -> None:
        timeout = aiohttp.ClientTimeout(total=None, connect=REQUEST_TIMEOUT, sock_connect=REQUEST_TIMEOUT)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(self.url, timeout=timeout, connector=connector,
                                         read_bufsize=1 << 20) as self.session:
            loops: list[Callable[[], Any]] = ([self.healthy] * healthy + [self.slow] * slow + [self.stuck] * stuck)
            tasks = [asyncio.create_task(self._slot(session, stop)) for session in loops]
            await stop.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self.sessions.flush()

    async def _slot(self, session: Callable[[], Any], stop: asyncio.Event) -> None:
        await asyncio.sleep(self.random.uniform(0, self.life[0]))  # spread the starts
        while not stop.is_set():
            try:
                await session()
            except Exception as err:  # noqa: BLE001 - a failed list or connection: counted, reported, go on
                self.counts["client_errors"] += 1
                self._error(f"{session.__name__}: {type(err).__name__}: {err}")
                await asyncio.sleep(1.0)

    async def healthy(self) -> None:
        """One healthy session: list, then watch and re-watch until its life is over."""
        assert self.session is not None
        resource, namespace = self._pick()
        base = collection(resource, namespace)
        async with self.session.get(base, params={"limit": "1"}) as response:
            segment = Segment(resource, namespace, int((await response.json())["metadata"]["resourceVersion"]))
        self.counts["healthy_open"] += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.random.uniform(*self.life)
        try:
            while loop.time() < deadline:
                seconds = self.random.randint(*self.timeout)
                params = {"watch": "1", "allowWatchBookmarks": "true", "resourceVersion": str(segment.end),
                          "timeoutSeconds": str(seconds)}
                opened = loop.time()
                try:
                    async with asyncio.timeout_at(deadline):
                        expired = await self._stream(base, params, segment)
                except TimeoutError:
                    break  # the session's life is over: the client goes away mid-stream
                if expired:
                    self.counts["expired"] += 1
                    self._write(segment)
                    async with self.session.get(base, params={"limit": "1"}) as response:
                        rv = int((await response.json())["metadata"]["resourceVersion"])
                    segment = Segment(resource, namespace, rv)
                    continue
                if loop.time() - opened < seconds - EARLY_END_SLACK:
                    self.counts["early_ends"] += 1
                    segment.early_ends.append(f"{resource} ns={namespace!r} after {loop.time() - opened:.1f} s "
                                              f"of timeoutSeconds={seconds}, at rv {segment.end}")
                segment.rewatches += 1
                self.counts["rewatches"] += 1
        finally:
            self.counts["healthy_open"] -= 1
            self.counts["healthy_sessions"] += 1
            self._write(segment)

    async def _stream(self, path: str, params: dict[str, str], segment: Segment) -> bool:
        """Read one watch stream into `segment`; True if it ended with a 410 (Expired)."""
        assert self.session is not None
        async with self.session.get(path, params=params) as response:
            if response.status != 200:
                message = f"watch {path} from {params['resourceVersion']}: {response.status}"
                segment.errors.append(message)
                self.counts["watch_errors"] += 1
                self._error(message)
                return response.status == 410
            async for line in response.content:
                event = orjson.loads(line)
                kind, obj = event["type"], event["object"]
                if kind == "ERROR":
                    segment.errors.append(f"ERROR {obj.get('code')}: {obj.get('message')}")
                    if obj.get("code") == 410:
                        return True
                    self.counts["watch_errors"] += 1
                    continue
                meta = obj["metadata"]
                rv = int(meta["resourceVersion"])
                if kind == "BOOKMARK":
                    segment.bookmarks += 1
                    self.counts["bookmarks"] += 1
                    if rv < segment.end:
                        segment.errors.append(f"bookmark at {rv} after revision {segment.end}")
                else:
                    segment.events.append((rv, EVENT_CODES.get(kind, kind), meta.get("namespace", ""), meta["name"]))
                    self.counts["events"] += 1
                segment.end = max(segment.end, rv)
        return False

    def _write(self, segment: Segment) -> None:
        self.sessions.write(orjson.dumps(segment.entry()).decode() + "\n")

    async def slow(self) -> None:
        """A watcher that reads 1 KiB a second for its life."""
        resource, namespace = self._pick()
        reader, writer = await asyncio.open_connection(*self.address, limit=16 << 10)
        self.counts["slow_open"] += 1
        try:
            writer.write(self._request(resource, namespace))
            deadline = asyncio.get_running_loop().time() + self.random.uniform(*self.life)
            while asyncio.get_running_loop().time() < deadline:
                try:
                    data = await reader.read(1024)
                except ConnectionResetError:  # terminated past its bound: the server resets the connection
                    data = b""
                if not data:
                    self.counts["slow_ended_by_server"] += 1
                    break
                self.counts["slow_bytes"] += len(data)
                await asyncio.sleep(1.0)
        finally:
            self.counts["slow_open"] -= 1
            self.counts["slow_sessions"] += 1
            writer.close()

    async def stuck(self) -> None:
        """A watcher that never reads; at the end of its life: did the server close it?"""
        loop = asyncio.get_running_loop()
        resource, namespace = self._pick()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, STUCK_RCVBUF)
        sock.setblocking(False)
        self.counts["stuck_open"] += 1
        try:
            await loop.sock_connect(sock, self.address)
            await loop.sock_sendall(sock, self._request(resource, namespace))
            await asyncio.sleep(self.random.uniform(*self.life))
            closed = _drained_to_end(sock)
            self.counts["stuck_closed_by_server" if closed else "stuck_open_at_close"] += 1
        finally:
            self.counts["stuck_open"] -= 1
            self.counts["stuck_sessions"] += 1
            sock.close()

    def _request(self, resource: str, namespace: str) -> bytes:
        path = collection(resource, namespace) + "?watch=1&resourceVersion=0"
        host, port = self.address
        return f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: soak\r\n\r\n".encode()

    def snapshot(self) -> dict[str, Any]:
        return {**self.counts, "watcher_errors": list(self.errors)}


def _drained_to_end(sock: socket.socket, limit: int = 64 << 20) -> bool:
    """Read what is buffered without blocking: True if that ends in EOF or a reset (the server closed it)."""
    read = 0
    while read < limit:
        try:
            data = sock.recv(1 << 16)
        except BlockingIOError:
            return False
        except ConnectionError:
            return True
        if not data:
            return True
        read += len(data)
    return False


async def _control(snapshot: Callable[[], dict[str, Any]], stop: asyncio.Event) -> None:
    """Answer `snapshot` lines on stdin; `stop` or end of input sets `stop`."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    _emit({"ready": True, **snapshot()})
    while True:
        line = (await reader.readline()).strip()
        if line != b"snapshot":
            stop.set()
            return
        _emit(snapshot())


def _emit(report: dict[str, Any]) -> None:
    sys.stdout.buffer.write(orjson.dumps(report) + b"\n")
    sys.stdout.buffer.flush()


async def run(args: argparse.Namespace, out: TextIO) -> None:
    """Work until told to stop, recording into `out`; then print the final snapshot."""
    stop = asyncio.Event()
    worker: Writer | Watchers
    if args.role == "writer":
        worker = Writer(args.url, args.rate, out, args.seed)
        work = worker.run(stop)
    else:
        lives, timeouts = (args.min_life, args.max_life), (args.min_timeout, args.max_timeout)
        worker = Watchers(args.url, out, args.seed, lives, timeouts)
        work = worker.run(stop, args.healthy, args.slow, args.stuck)
    task = asyncio.create_task(work)
    control = asyncio.create_task(_control(worker.snapshot, stop))
    await asyncio.wait([task, control], return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    await task  # a crash of the work is raised here, and logged
    control.cancel()
    _emit(worker.snapshot())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("role", choices=["writer", "watchers"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--log", required=True, help="file for this process's log and tracebacks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--control", action="store_true", help="obey stdin commands (always on; for ProcessGroup)")
    parser.add_argument("--rate", type=float, default=20.0, help="writer: writes a second")
    parser.add_argument("--record", help="writer: where to append the record of writes")
    parser.add_argument("--sessions", help="watchers: where to append the healthy sessions")
    for flag in ("--healthy", "--slow", "--stuck"):
        parser.add_argument(flag, type=int, default=0, help="watchers: how many of this behaviour at a time")
    parser.add_argument("--min-life", type=float, default=20.0, help="watchers: shortest session, seconds")
    parser.add_argument("--max-life", type=float, default=180.0, help="watchers: longest session, seconds")
    parser.add_argument("--min-timeout", type=int, default=15, help="healthy: shortest timeoutSeconds")
    parser.add_argument("--max-timeout", type=int, default=60, help="healthy: longest timeoutSeconds")
    args = parser.parse_args()
    log_file = open(args.log, "a", buffering=1)  # noqa: SIM115 - the process's stderr until it exits
    os.dup2(log_file.fileno(), sys.stderr.fileno())
    logging.basicConfig(level=logging.INFO, stream=log_file, format="%(asctime)s %(levelname)s %(message)s")
    started = time.time()
    try:
        with open(args.record if args.role == "writer" else args.sessions, "a") as out:
            uvloop.run(run(args, out))
    finally:
        log.info("%s exits after %.0f s", args.role, time.time() - started)


if __name__ == "__main__":
    main()
