"""Stuck watchers: do watch clients that never read cost the healthy ones events, memory or latency?

    python -m loadtest.stuck [--stuck 5000] [--healthy 10] [--puts 3000] [--endpoints 100] [--rcvbuf 4096]
                             [--server-args '...'] [--json out.json]

Starts the server as a subprocess and creates one EndpointSlice of B endpoints; measures the server's RSS
with no watchers; opens --healthy watches that read everything (a `loadtest.watchers` process) and --stuck
raw sockets from another process (this module with `--hold`) that send a watch request and never read
(receive buffer --rcvbuf, set before connect); then one client PUTs the slice --puts times, one at a time,
while GETs of the slice (every 50 ms) and the server's RSS and the kernel's TCP memory (every 0.25 s) are
sampled. The same run with no watchers first gives the RSS to compare with. It prints both and the
acceptance lines: healthy watchers received every event, every stuck watcher was closed once past its
bound (by the server's count and by each socket's TCP state), the server's peak RSS within 100 MB of its
peak with no watchers, every GET under 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import socket
import sys
import time
from collections import Counter
from typing import Any

import aiohttp
import orjson
import uvloop

from loadtest.control import ProcessGroup
from loadtest.fanout import BASE, Clients, Server, Settings, rss_bytes
from loadtest.slices import endpoint_slice
from loadtest.watchers import SENT_ANNOTATION, percentile_ms

NAME = "stuck"
SAMPLE_SECONDS = 0.25
GET_EVERY = 0.05
STALL_SECONDS = 10.0
RSS_MARGIN = 100e6
GET_BOUND_MS = 50.0
TCP_STATES = {1: "established", 7: "close", 8: "close_wait", 9: "last_ack", 11: "closing"}
HOLD_CONCURRENCY = 100


def tcp_memory() -> tuple[int, int]:
    """Kernel TCP buffer memory in use and its hard limit (tcp_mem[2]), in bytes."""
    with open("/proc/net/sockstat") as f:
        fields = next(line for line in f if line.startswith("TCP:")).split()
    with open("/proc/sys/net/ipv4/tcp_mem") as f:
        limit = int(f.read().split()[2])
    page = os.sysconf("SC_PAGESIZE")
    return int(fields[fields.index("mem") + 1]) * page, limit * page


async def hold(url: str, path: str, connections: int, rcvbuf: int) -> None:
    """--hold: open the sockets, send each a watch request, never read; answer `states` on stdin."""
    loop = asyncio.get_running_loop()
    host, port = url.removeprefix("http://").split(":")
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: loadtest-stuck\r\n\r\n").encode()
    sockets: list[socket.socket] = []
    errors: list[str] = []
    gate = asyncio.Semaphore(HOLD_CONCURRENCY)

    async def open_one() -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: it sets the window
        sock.setblocking(False)
        async with gate:
            try:
                await loop.sock_connect(sock, (host, int(port)))
                await loop.sock_sendall(sock, request)
            except OSError as err:
                errors.append(f"{type(err).__name__}: {err}")
                sock.close()
                return
        sockets.append(sock)

    await asyncio.gather(*(open_one() for _ in range(connections)))
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    report: dict[str, Any] = {"connections": connections, "connected": len(sockets), "connect_errors": len(errors),
                              "connect_error_examples": sorted(set(errors))[:3], "closed_early": 0, "events": 0,
                              "bytes": 0, "min_events": 0, "max_events": 0}
    while True:
        states = Counter(TCP_STATES.get(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0], "other")
                         for s in sockets)
        sys.stdout.buffer.write(orjson.dumps({**report, "states": states}) + b"\n")
        sys.stdout.buffer.flush()
        if (await reader.readline()).strip() != b"states":
            break
    for sock in sockets:
        sock.close()


class Stuck(ProcessGroup):
    """The `--hold` processes; `states` counts their sockets by TCP state."""

    def __init__(self) -> None:
        super().__init__(120.0)

    async def start(self, url: str, path: str, connections: int, rcvbuf: int, procs: int) -> dict[str, Any]:
        return await self.spawn("loadtest.stuck", connections, procs, lambda share: [
            "--hold", "--url", url, "--path", path, "--stuck", str(share), "--rcvbuf", str(rcvbuf)])

    def sum(self, reports: list[dict[str, Any]]) -> dict[str, Any]:
        total = super().sum(reports)
        total["states"] = dict(sum((Counter(r["states"]) for r in reports), Counter()))
        return total


class Samples:
    """GET latencies, server RSS and kernel TCP memory, sampled while the writer runs."""

    def __init__(self) -> None:
        self.get_ms: list[float] = []
        self.get_failures = 0
        self.rss: list[int] = []
        self.tcp_mem: list[int] = []

    async def gets(self, session: aiohttp.ClientSession, url: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                async with session.get(url) as response:
                    await response.read()
                    ok = response.status == 200
            except aiohttp.ClientError:
                ok = False
            if ok:
                self.get_ms.append((time.perf_counter() - started) * 1e3)
            else:
                self.get_failures += 1
            await asyncio.sleep(GET_EVERY)

    async def memory(self, pid: int, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.rss.append(rss_bytes(pid))
            self.tcp_mem.append(tcp_memory()[0])
            await asyncio.sleep(SAMPLE_SECONDS)


async def write(session: aiohttp.ClientSession, url: str, obj: dict[str, Any], puts: int) -> int:
    """PUT `obj` `puts` times, one at a time; the number that succeeded."""
    annotations = obj["metadata"].setdefault("annotations", {})
    written = 0
    for seq in range(1, puts + 1):
        annotations["loadtest/seq"] = str(seq)
        annotations[SENT_ANNOTATION] = repr(time.time())
        async with session.put(url, data=orjson.dumps(obj), headers={"Content-Type": "application/json"}) as response:
            await response.read()
            written += response.status == 200
    return written


async def watch_counts(session: aiohttp.ClientSession, server: Server) -> dict[str, Any]:
    async with session.get(f"{server.url}/debug/watches") as response:
        body = await response.json()
    return {"open": len(body["open"]), **body["closed"]}


async def run(args: argparse.Namespace, stuck_count: int, healthy_count: int) -> dict[str, Any]:
    """One server: create the slice, open the watches, PUT it --puts times while sampling; what was seen."""
    settings = Settings(client_procs=1, sample_every=1, server_args=shlex.split(args.server_args))
    server = Server("ours", settings)
    healthy, stuck = Clients(), Stuck()
    ready = held = {"connected": 0}
    snap: dict[str, Any] = {"events": 0, "min_events": 0, "closed_early": 0, "latency_hist": {}}
    states: dict[str, int] = {}
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=8)) as session:
            await server.wait_ready(session)
            obj = endpoint_slice(NAME, args.endpoints)
            async with session.post(f"{server.url}{BASE}", data=orjson.dumps(obj),
                                    headers={"Content-Type": "application/json"}) as response:
                created = await response.json()
                if response.status != 201:
                    raise RuntimeError(f"create failed: {response.status} {created}")
            await asyncio.sleep(1.0)
            rss0 = rss_bytes(server.process.pid)
            path = f"{BASE}?watch=true&resourceVersion={created['metadata']['resourceVersion']}"
            if healthy_count:
                ready = await healthy.start(server, path, healthy_count, settings, lifetime=3600)
            if stuck_count:
                held = await stuck.start(server.url, path, stuck_count, args.rcvbuf, args.hold_procs)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while (counts := await watch_counts(session, server))["open"] < ready["connected"] + held["connected"]:
                if loop.time() > deadline:
                    raise RuntimeError(f"only {counts['open']} watches open on the server")
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)
            rss_watching = rss_bytes(server.process.pid)
            print(f"# {ready['connected']} healthy and {held['connected']} stuck watches open; server RSS "
                  f"{rss0 / 1e6:.0f} MB before, {rss_watching / 1e6:.0f} MB now", file=sys.stderr, flush=True)
            samples, stop = Samples(), asyncio.Event()
            target = f"{server.url}{BASE}/{NAME}"
            samplers = [asyncio.create_task(samples.gets(session, target, stop)),
                        asyncio.create_task(samples.memory(server.process.pid, stop))]
            started = time.perf_counter()
            written = await write(session, target, obj, args.puts)
            write_seconds = time.perf_counter() - started
            if healthy_count:
                snap = await healthy.command("snapshot")
                last, last_change = snap["events"], time.perf_counter()
                while (snap["events"] < written * ready["connected"]
                       and time.perf_counter() - last_change < STALL_SECONDS):
                    await asyncio.sleep(0.2)
                    snap = await healthy.command("snapshot")
                    if snap["events"] > last:
                        last, last_change = snap["events"], time.perf_counter()
            await asyncio.sleep(1.0)  # let the server close the last stuck watchers
            stop.set()
            await asyncio.gather(*samplers)
            debug = await watch_counts(session, server)
            if stuck_count:
                states = (await stuck.command("states"))["states"]
            rss_end = rss_bytes(server.process.pid)
    finally:
        await healthy.stop()
        await stuck.stop()
        server.stop()
    return {
        "stuck": held["connected"], "healthy": ready["connected"], "written": written,
        "write_seconds": write_seconds,
        "healthy_min_events": snap["min_events"], "healthy_ended": snap["closed_early"],
        "healthy_p99_ms": percentile_ms(snap["latency_hist"], 0.99),
        "debug_watches": debug, "stuck_tcp_states": states,
        "rss_before_mb": rss0 / 1e6, "rss_watching_mb": rss_watching / 1e6,
        "rss_peak_mb": max(samples.rss, default=0) / 1e6, "rss_end_mb": rss_end / 1e6,
        "tcp_mem_peak_mb": max(samples.tcp_mem, default=0) / 1e6, "tcp_mem_limit_mb": tcp_memory()[1] / 1e6,
        "gets": len(samples.get_ms), "get_failures": samples.get_failures,
        "get_p50_ms": percentile(samples.get_ms, 0.5), "get_p99_ms": percentile(samples.get_ms, 0.99),
        "get_max_ms": max(samples.get_ms, default=0.0),
    }


def percentile(values: list[float], q: float) -> float:
    return sorted(values)[int(q * (len(values) - 1))] if values else 0.0


def acceptance(r: dict[str, Any], baseline: dict[str, Any]) -> list[tuple[str, bool]]:
    states, debug = r["stuck_tcp_states"], r["debug_watches"]
    return [
        ((f"healthy watchers received every event: min {r['healthy_min_events']} of {r['written']}, "
         f"{r['healthy_ended']} streams ended"), r["healthy_min_events"] == r["written"] and not r["healthy_ended"]),
        ((f"every stuck watcher closed past its bound: {debug['terminated']} of {r['stuck']} terminated, "
         f"{debug['open']} watches open, stuck sockets by TCP state {states}"),
         debug["terminated"] == r["stuck"] and debug["open"] == r["healthy"] and not states.get("established")),
        ((f"server RSS within 100 MB of no watchers: peak {r['rss_peak_mb']:.0f} MB, "
         f"{baseline['rss_peak_mb']:.0f} MB with no watchers"),
         r["rss_peak_mb"] - baseline["rss_peak_mb"] < RSS_MARGIN / 1e6),
        ((f"GET latency under 50 ms: {r['gets']} GETs, p50 {r['get_p50_ms']:.1f}, p99 {r['get_p99_ms']:.1f}, "
         f"max {r['get_max_ms']:.1f} ms, {r['get_failures']} failed "
         f"(no watchers: p99 {baseline['get_p99_ms']:.1f}, max {baseline['get_max_ms']:.1f} ms)"),
         r["get_max_ms"] < GET_BOUND_MS and not r["get_failures"]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stuck", type=int, default=5000, help="watch connections that never read")
    parser.add_argument("--healthy", type=int, default=10, help="watch connections that read everything")
    parser.add_argument("--puts", type=int, default=3000, help="PUTs of the slice")
    parser.add_argument("--endpoints", type=int, default=100, help="endpoints in the slice")
    parser.add_argument("--rcvbuf", type=int, default=4096, help="SO_RCVBUF of the stuck sockets")
    parser.add_argument("--hold-procs", type=int, default=1, help="processes holding the stuck sockets")
    parser.add_argument("--server-args", default="", help="extra flags for the server")
    parser.add_argument("--json", default="", help="write the result to this file")
    parser.add_argument("--hold", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--control", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--path", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hold:
        uvloop.run(hold(args.url, args.path, args.stuck, args.rcvbuf))
        return
    print("# the same writes with no watchers ...", file=sys.stderr, flush=True)
    baseline = uvloop.run(run(args, 0, 0))
    print(f"# {args.stuck} stuck and {args.healthy} healthy watchers ...", file=sys.stderr, flush=True)
    result = uvloop.run(run(args, args.stuck, args.healthy))
    print(f"{'':24}{'no watchers':>14}{'watchers':>14}")
    for key in ("written", "write_seconds", "rss_before_mb", "rss_watching_mb", "rss_peak_mb", "rss_end_mb",
                "tcp_mem_peak_mb", "gets", "get_p50_ms", "get_p99_ms", "get_max_ms"):
        print(f"{key:24}{baseline[key]:>14.1f}{result[key]:>14.1f}")
    print(f"healthy watchers: {result['healthy']}, fewest events {result['healthy_min_events']}, "
          f"write-to-receive p99 {result['healthy_p99_ms'] or 0:.1f} ms; /debug/watches {result['debug_watches']}")
    checks = acceptance(result, baseline)
    for line, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {line}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"settings": vars(args), "baseline": baseline, "result": result, "acceptance": checks},
                      out, indent=2)
    sys.exit(0 if all(ok for _, ok in checks) else 1)


if __name__ == "__main__":
    main()
