"""Simulated nodes: N kube-proxy-like watchers over real HTTP, many per process.

    python -m loadtest.nodes --url http://127.0.0.1:8080 --mode slices --nodes 500 [--encoding protobuf]
                             [--seconds 600] [--control]

Each node does what kube-proxy's informer does (reference §12): it lists EndpointSlices in all
namespaces with kube-proxy's label selector (`limit=500&resourceVersion=0`), then watches from the
list's resourceVersion with `allowWatchBookmarks=true` and a `timeoutSeconds`; `--mode endpoints` does
the same on core/v1 Endpoints (the legacy kube-proxy). `--encoding protobuf` asks for protobuf as
kube-proxy does (client-go's `Accept: application/vnd.kubernetes.protobuf, */*`), `json` for JSON, `mix`
alternates. Each watch is a `loadtest.watchers.WatchConnection` that also tells BOOKMARKs apart (from a
JSON event's first bytes, or a protobuf frame's WatchEvent type; objects are never decoded), so reports
carry events (BOOKMARKs excluded), bookmarks and payload bytes (all of them, as the server meters them),
in total and per encoding (`json_events`, `protobuf_bytes`, …).

`--control` speaks the `loadtest.watchers` protocol: a JSON line once every node is up, then one JSON
line per `snapshot` or `mark` command on stdin; `stop`, end of input or `--seconds` end it.
`NodeFleet` drives several such processes from an asyncio program and sums their reports.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
import uvloop

from apiserver.protobuf import envelope
from loadtest.control import ProcessGroup
from loadtest.watchers import (
    ACCEPT,
    CONNECT_CONCURRENCY,
    CONNECT_TIMEOUT,
    ENCODINGS,
    HEAD_BYTES,
    WatchConnection,
    WatcherPool,
    _commands,
    _emit,
    connection_encoding,
    event_type,
)

KUBE_PROXY_SELECTOR = "!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name"
RESOURCES = {"slices": "/apis/discovery.k8s.io/v1/endpointslices", "endpoints": "/api/v1/endpoints"}
USER_AGENT = "kube-proxy/v1.32.4 (linux/amd64) loadtest-nodes"
PER_ENCODING = ("connected", "events", "bookmarks", "bytes", "bookmark_bytes")
ENCODING_KEYS = tuple(f"{encoding}_{count}" for encoding in ACCEPT for count in PER_ENCODING)
SUMMED = ("connections", "connected", "connect_errors", "closed_early", "events", "bookmarks", "bytes",
          "bookmark_bytes", "list_items", "list_bytes", *ENCODING_KEYS)
ANSWER_TIMEOUT = CONNECT_TIMEOUT + 30.0


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit (children inherit it); the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        soft = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


def list_path(mode: str) -> str:
    """kube-proxy's initial list, served from the watch cache."""
    return f"{RESOURCES[mode]}?labelSelector={quote(KUBE_PROXY_SELECTOR, safe='')}&limit=500&resourceVersion=0"


def watch_path(mode: str, rv: str, timeout: int) -> str:
    """kube-proxy's watch from the list's resourceVersion (query keys sorted, as client-go sends them)."""
    return (f"{RESOURCES[mode]}?allowWatchBookmarks=true&labelSelector={quote(KUBE_PROXY_SELECTOR, safe='')}"
            f"&resourceVersion={rv}&timeoutSeconds={timeout}&watch=true")


class NodeWatch(WatchConnection):
    """One node's watch: counts BOOKMARK events and their bytes apart from the rest."""

    typed = True

    def __init__(self, request: bytes) -> None:
        super().__init__(request, None)
        self.bookmarks = 0
        self.bookmark_bytes = 0
        self.marked_bookmarks = 0
        self.line_head = bytearray()  # JSON: the current event's first bytes, enough to see its type
        self.line_bytes = 0

    def _payload(self, data: bytes, start: int, end: int) -> None:
        super()._payload(data, start, end)  # a protobuf stream's frames come to _event from there
        if self.protobuf:
            return
        pos = start
        while pos < end:
            newline = data.find(b"\n", pos, end)
            stop = end if newline < 0 else newline + 1
            missing = HEAD_BYTES - len(self.line_head)
            if missing > 0:
                self.line_head += data[pos:min(stop, pos + missing)]
            self.line_bytes += stop - pos
            if newline < 0:
                return
            self._event(bytes(self.line_head), self.line_bytes)
            self.line_head.clear()
            self.line_bytes = 0
            pos = stop

    def _event(self, head: bytes, size: int) -> None:
        if event_type(head, self.protobuf) == "BOOKMARK":
            self.bookmarks += 1
            self.bookmark_bytes += size

    def changes(self) -> int:
        """Events other than BOOKMARKs since the last mark."""
        return (self.events - self.marked) - (self.bookmarks - self.marked_bookmarks)


class NodePool(WatcherPool):
    """`nodes` simulated kube-proxies: a list, then a watch each, opened with bounded concurrency, in `encoding`
    (json, protobuf, or mix: every other node protobuf)."""

    def __init__(self, url: str, mode: str, nodes: int, watch_timeout: int, encoding: str = "json") -> None:
        super().__init__(url, RESOURCES[mode], nodes, 0, encoding=encoding)
        self.url = url
        self.mode = mode
        self.watch_timeout = watch_timeout
        self.list_items = 0
        self.list_bytes = 0
        self.nodes: list[NodeWatch] = []

    def _request(self, path: str, encoding: str) -> bytes:
        return (f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAccept: {ACCEPT[encoding]}\r\n"
                f"User-Agent: {USER_AGENT}\r\n\r\n").encode()

    async def connect(self) -> None:
        """List, then watch, for every node, within CONNECT_TIMEOUT."""
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        connector = aiohttp.TCPConnector(limit=CONNECT_CONCURRENCY)
        async with aiohttp.ClientSession(connector=connector, headers={"User-Agent": USER_AGENT}) as session:

            async def start_node(index: int) -> None:
                encoding = connection_encoding(self.encoding, index)
                async with gate:
                    try:
                        async with session.get(f"{self.url}{list_path(self.mode)}",
                                               headers={"Accept": ACCEPT[encoding]}) as response:
                            body = await response.read()
                            protobuf = "protobuf" in response.content_type
                        if response.status != 200:
                            self.connect_errors.append(f"list: status {response.status}")
                            return
                        listed = envelope.decode(body) if protobuf else orjson.loads(body)
                        self.list_items += len(listed.get("items") or [])
                        self.list_bytes += len(body)
                        path = watch_path(self.mode, listed["metadata"]["resourceVersion"], self.watch_timeout)
                        request = self._request(path, encoding)
                        _, node = await loop.create_connection(lambda: NodeWatch(request), self.host, self.port)
                        await node.ready
                    except (OSError, aiohttp.ClientError) as err:
                        self.connect_errors.append(f"{type(err).__name__}: {err}")
                        return
                if node.error:
                    self.connect_errors.append(node.error)
                else:
                    self.nodes.append(node)
                    self.connections.append(node)

            tasks = [asyncio.ensure_future(start_node(i)) for i in range(self.count)]
            _, pending = await asyncio.wait(tasks, timeout=CONNECT_TIMEOUT)
            for task in pending:
                task.cancel()
            self.connect_errors += ["connect timed out"] * len(pending)

    def snapshot(self, mark: bool = False) -> dict[str, Any]:
        """Counts so far; `min_events`/`max_events` are per node, BOOKMARKs excluded, since the last mark."""
        per_node = [node.changes() for node in self.nodes] or [0]
        report: dict[str, Any] = {
            "connections": self.count,
            "connected": len(self.nodes),
            "connect_errors": len(self.connect_errors),
            "connect_error_examples": sorted(set(self.connect_errors))[:3],
            "closed_early": sum(node.ended for node in self.nodes),
            "events": sum(node.events - node.bookmarks for node in self.nodes),
            "bookmarks": sum(node.bookmarks for node in self.nodes),
            "bytes": sum(node.bytes for node in self.nodes),
            "bookmark_bytes": sum(node.bookmark_bytes for node in self.nodes),
            "min_events": min(per_node),
            "max_events": max(per_node),
            "list_items": self.list_items,
            "list_bytes": self.list_bytes,
            **dict.fromkeys(ENCODING_KEYS, 0),
        }
        for node in self.nodes:
            counts = (1, node.events - node.bookmarks, node.bookmarks, node.bytes, node.bookmark_bytes)
            for key, count in zip(PER_ENCODING, counts):
                report[f"{node.encoding}_{key}"] += count
        if mark:
            for node in self.nodes:
                node.marked, node.marked_bookmarks = node.events, node.bookmarks
        return report


async def run(url: str, mode: str, nodes: int, watch_timeout: int, seconds: float, control: bool,
              encoding: str = "json") -> dict[str, Any]:
    """Start every node, then run for `seconds` (or under stdin control); return the final report."""
    pool = NodePool(url, mode, nodes, watch_timeout, encoding)
    await pool.connect()
    try:
        if control:
            _emit({"ready": True, **pool.snapshot()})
            return await _commands(pool, seconds)
        await asyncio.sleep(seconds)
        return pool.snapshot()
    finally:
        pool.close()


class NodeFleet(ProcessGroup):
    """`loadtest.nodes --control` processes sharing N nodes; their reports summed."""

    summed = SUMMED

    def __init__(self) -> None:
        super().__init__(ANSWER_TIMEOUT)

    async def start(self, url: str, mode: str, nodes: int, procs: int, watch_timeout: int,
                    lifetime: float, encoding: str = "json") -> dict[str, Any]:
        """Start the processes and wait until every node has listed and is watching (`mix`: `nodes` is even
        and shared out in pairs, so that each process, alternating, has as many nodes of each encoding)."""
        pair = 2 if encoding == "mix" else 1
        return await self.spawn("loadtest.nodes", nodes // pair, procs, lambda share: [
            "--url", url, "--mode", mode, "--nodes", str(share * pair), "--watch-timeout", str(watch_timeout),
            "--seconds", str(lifetime), "--encoding", encoding])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="server base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--mode", choices=sorted(RESOURCES), default="slices",
                        help="watch EndpointSlices (kube-proxy today) or Endpoints (legacy)")
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--watch-timeout", type=int, default=450, help="timeoutSeconds of each watch "
                        "(kube-proxy: 300 to 599)")
    parser.add_argument("--encoding", choices=ENCODINGS, default="json",
                        help="what the nodes ask for: json, protobuf (kube-proxy's), or mix (every other node)")
    parser.add_argument("--seconds", type=float, default=10.0, help="run time; the hard limit under --control")
    parser.add_argument("--control", action="store_true", help="report when ready, then obey stdin commands")
    args = parser.parse_args()
    raise_fd_limit()
    _emit(uvloop.run(run(args.url, args.mode, args.nodes, args.watch_timeout, args.seconds, args.control,
                         args.encoding)))


if __name__ == "__main__":
    main()
