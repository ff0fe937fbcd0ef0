"""Watch fan-out benchmark: our server (encode cache on and off) against the raw transport.write ceiling.

    python -m loadtest.fanout [--watchers 1000,5000] [--endpoints 1,100] [--encodings json,protobuf] [--seconds 10]
                              [--rate R] [--servers ours,ours-no-cache,raw] [--client-procs 2] [--json out.json]
                              [--quick]

For each server, watcher count N and encoding (`json`; `protobuf`, as kube-proxy asks for it; `mix`, every
other watcher protobuf) it starts the server as a subprocess, creates one
EndpointSlice per size (B endpoints), opens N watches from `loadtest.watchers` processes and, for
each size, runs a writer task in this process that PUTs the slice with a `loadtest/sent` timestamp
annotation and a bumped `loadtest/seq`, either flat out (`--writers` PUTs in flight, at most `--window`
events ahead of what a probe watch of the writer's has received) or at `--rate` events/s,
for `--seconds`. It then waits for the clients to drain and reports:

- deliveries/s: events received by all clients / (first write to last delivery), and MB/s of payload;
- serializations per event: the server's `apiserver_watch_cache_encodings_total` delta / events written;
- server CPU seconds per delivered GB and µs per delivery (utime+stime from /proc/<pid>/stat), and the
  watcher clients' CPU µs per delivery (the clients share the 2 cores with the server);
- write-to-receive latency p50/p99 from every `--sample-every`-th connection;
- server RSS per watcher: (RSS with N idle watchers - RSS with none) / N, from /proc/<pid>/status;
- metered bytes (`apiserver_watch_events_sizes_sum` delta, and its protobuf series alone) and the bytes
  `/debug/watches` counts on open watches, each against the payload bytes the clients counted; they should be
  equal. The writer's probe watch asks for the watchers' encoding (JSON under `mix`).

Servers: `ours` (`python -m apiserver`), `ours-no-cache` (with `--no-watch-encode-cache`), `raw`
(`loadtest.broadcaster`), and, on one etcd started for the run (`loadtest.kubepeer`), `ours-etcd` (our server
with `--storage etcd`) and `kube-apiserver` (the real one, TLS and a bearer token: the same watcher clients send
it). Metrics or flags a server lacks show as n/a. Ratios of ours to raw, ours-no-cache and kube-apiserver follow
the table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
import uvloop

from apiserver.testing import free_port
from loadtest.control import ProcessGroup, cpu_seconds
from loadtest.kubepeer import KUBE, OURS_ETCD, client_of, missing, ours_on_etcd, run_etcd, start_kube
from loadtest.slices import endpoint_slice
from loadtest.watchers import (
    ENCODING_KEYS,
    ENCODINGS,
    SENT_ANNOTATION,
    Histogram,
    WatchConnection,
    merge_histograms,
    percentile_ms,
    watch_request,
)
from storage.etcd_process import EtcdProcess

BASE = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
SERVERS = ("ours", "ours-no-cache", "raw", OURS_ETCD, KUBE)
DEFAULT_SERVERS = "ours,ours-no-cache,raw"
NO_CACHE_FLAG = "--no-watch-encode-cache"
METRICS = {
    "events": "apiserver_watch_events_total",
    "metered_bytes": "apiserver_watch_events_sizes_sum",
    "encodings": "apiserver_watch_cache_encodings_total",
    "dispatched": "apiserver_watch_cache_events_dispatched_total",
}
SERIES = ('resource="endpointslices"', 'resource="endpointslices.discovery.k8s.io"', 'kind="EndpointSlice"')  # ours, kube's
PROTOBUF_SERIES = 'encoding="application/vnd.kubernetes.protobuf"'
READY_TIMEOUT = 20.0
CLIENT_TIMEOUT = 90.0  # connect phase and each command answer
POLL_SECONDS = 0.1
STALL_SECONDS = 3.0  # the drain ends when nothing arrives for this long


@dataclass
class Settings:
    """One run's knobs (the command line, or a test's small values)."""

    seconds: float = 10.0
    rate: float = 0.0  # 0: flat out
    max_events: int = 1_000_000
    client_procs: int = 2
    writers: int = 4
    window: int = 20
    sample_every: int = 10
    encoding: str = "json"  # the watchers': json, protobuf or mix
    drain_seconds: float = 30.0
    settle_seconds: float = 1.0
    server_args: list[str] = field(default_factory=list)


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def parse_metrics(text: str) -> dict[str, float | None]:
    """Sum each watch metric over its endpointslices series (kube-apiserver labels some by kind).

    0 for a metric whose family is declared (`# TYPE`) without such a series yet; None for one the
    server does not have at all. `metered_protobuf_bytes` is the bytes metric's protobuf series alone (None
    without an encoding label).
    """
    names = {name: key for key, name in METRICS.items()}
    sums: dict[str, float | None] = dict.fromkeys([*METRICS, "metered_protobuf_bytes"])
    for line in text.splitlines():
        if line.startswith(METRICS["metered_bytes"] + "{") and "encoding=" in line:
            protobuf = float(line.rsplit(" ", 1)[1]) if PROTOBUF_SERIES in line else 0.0
            sums["metered_protobuf_bytes"] = (sums["metered_protobuf_bytes"] or 0.0) + protobuf
        if line.startswith("# TYPE "):
            family = line.split()[2]
            for declared, name in METRICS.items():
                if name in (family, family + "_total", family + "_sum"):
                    sums[declared] = sums[declared] or 0.0
        if line.startswith("#") or not any(label in line for label in SERIES):
            continue
        series = names.get(line.split("{", 1)[0])
        if series is not None:
            sums[series] = (sums[series] or 0.0) + float(line.rsplit(" ", 1)[1])
    return sums


def delta(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else after - before


def server_command(server: str, port: int, settings: Settings, storage: list[str]) -> list[str]:
    if server == "raw":
        return [sys.executable, "-m", "loadtest.broadcaster", "--port", str(port)]
    flags = [NO_CACHE_FLAG] if server == "ours-no-cache" else []
    return [sys.executable, "-m", "apiserver", "--port", str(port), "--kubeconfig", "", *flags, *storage,
            *settings.server_args]


def server_supports(flag: str) -> bool:
    result = subprocess.run([sys.executable, "-m", "apiserver", "--help"], capture_output=True, text=True,
                            timeout=30, check=False)
    return flag in result.stdout


class Server:
    """A server on a free port, stopped on exit: a subprocess, or kube-apiserver (ready once constructed).

    `ours-etcd` and `kube-apiserver` need `etcd`, and keep their keys under `prefix`.
    """

    def __init__(self, server: str, settings: Settings, etcd: EtcdProcess | None = None, prefix: str = "") -> None:
        self.name = server
        # A file, not a pipe: a chatty server must never block on it. Closed in stop().
        self.log = tempfile.TemporaryFile()  # noqa: SIM115
        self.kube = start_kube(etcd, prefix) if server == KUBE and etcd is not None else None
        self.headers, self.ssl = client_of(self.kube)
        if self.kube is not None:
            assert self.kube.pid is not None
            self.url, self.pid, self.process = self.kube.url, self.kube.pid, None
            return
        port = free_port()
        storage = ours_on_etcd(etcd, prefix) if server == OURS_ETCD and etcd is not None else []
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(server_command(server, port, settings, storage),
                                        stdout=subprocess.DEVNULL, stderr=self.log)
        self.pid = self.process.pid

    async def wait_ready(self, session: aiohttp.ClientSession) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT
        while self.process is not None and loop.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited {self.process.returncode}: {self._stderr()}")
            try:
                async with session.get(f"{self.url}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        if self.process is not None:
            raise TimeoutError(f"{self.name} not ready after {READY_TIMEOUT} s")

    def _stderr(self) -> str:
        assert self.process is not None
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]

    async def metrics(self, session: aiohttp.ClientSession) -> dict[str, float | None]:
        async with session.get(f"{self.url}/metrics") as response:
            metrics = parse_metrics(await response.text()) if response.status == 200 else dict.fromkeys(METRICS)
        if self.kube is not None:
            metrics["metered_bytes"] = None  # kube-apiserver observes about one size per event, not per delivery
        elif metrics["metered_protobuf_bytes"] is None and metrics["metered_bytes"] is not None:
            metrics["metered_protobuf_bytes"] = 0.0  # before any watcher was sent an event
        return metrics

    async def debug_watches(self, session: aiohttp.ClientSession) -> dict[str, Any] | None:
        """Open endpointslice watches as /debug/watches counts them; None where the endpoint is missing."""
        async with session.get(f"{self.url}/debug/watches") as response:
            if response.status != 200:
                return None
            body = await response.json()
        open_ = [w for w in body.get("open", []) if w.get("resource") == "endpointslices"]
        closed = body.get("closed", {})
        return {"open": len(open_), "events": sum(w.get("events", 0) for w in open_),
                "bytes": sum(w.get("bytes", 0) for w in open_), "closed": closed.get("count"),
                "terminated": closed.get("terminated")}

    def stop(self) -> None:
        if self.kube is not None:
            self.kube.close()
        elif self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class Clients(ProcessGroup):
    """`loadtest.watchers --control` processes sharing N connections; their snapshots summed."""

    summed = (*ProcessGroup.summed, *ENCODING_KEYS)

    def __init__(self) -> None:
        super().__init__(CLIENT_TIMEOUT)

    async def start(self, server: Server, path: str, connections: int, settings: Settings,
                    lifetime: float) -> dict[str, Any]:
        headers = [arg for name, value in server.headers.items() for arg in ("--header", f"{name}: {value}")]
        return await self.spawn("loadtest.watchers", connections, settings.client_procs, lambda share: [
            "--url", server.url, "--path", path, "--connections", str(share), "--seconds", str(lifetime),
            "--sample-every", str(settings.sample_every), "--encoding", settings.encoding, *headers])

    def sum(self, reports: list[dict[str, Any]]) -> dict[str, Any]:
        total = super().sum(reports)
        total["latency_hist"] = merge_histograms([r["latency_hist"] for r in reports])
        return total


async def write_events(session: aiohttp.ClientSession, server: Server, obj: dict[str, Any],
                       settings: Settings) -> tuple[int, int, int, bool]:
    """PUT `obj` repeatedly: flat out with `settings.writers` requests in flight, or one writer at
    settings.rate events/s. Returns (events written, failed writes, payload bytes the probe received, whether
    they were protobuf)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + settings.seconds
    annotations = obj["metadata"].setdefault("annotations", {})
    target = f"{server.url}{BASE}/{obj['metadata']['name']}"
    headers = {"Content-Type": "application/json"}
    counts = {"seq": 0, "written": 0, "failed": 0}
    probe = await open_probe(session, server, obj["metadata"]["name"],
                             "protobuf" if settings.encoding == "protobuf" else "json")

    async def writer() -> None:
        while loop.time() < deadline and counts["seq"] < settings.max_events:
            while settings.rate <= 0 and counts["seq"] - probe.events >= settings.window and loop.time() < deadline:
                await asyncio.sleep(0.001)  # "as fast as the server takes them": delivered, not just accepted
            if settings.rate > 0:
                due = start + counts["seq"] / settings.rate
                if due >= deadline:
                    break
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
            counts["seq"] += 1
            annotations["loadtest/seq"] = str(counts["seq"])
            annotations[SENT_ANNOTATION] = repr(time.time())
            async with session.put(target, data=orjson.dumps(obj), headers=headers) as response:
                await response.read()
                counts["written" if response.status == 200 else "failed"] += 1

    try:
        await asyncio.gather(*(writer() for _ in range(1 if settings.rate > 0 else settings.writers)))
        while probe.events < counts["written"] and loop.time() < deadline + STALL_SECONDS:
            await asyncio.sleep(0.01)
    finally:
        if probe.transport is not None:
            probe.transport.close()
    return counts["written"], counts["failed"], probe.bytes, probe.protobuf


async def open_probe(session: aiohttp.ClientSession, server: Server, name: str,
                     encoding: str = "json") -> WatchConnection:
    """One more watch, on the written object from now on, in `encoding`: the writer's measure of what was
    delivered."""
    parts = urlsplit(server.url)
    async with session.get(f"{server.url}{BASE}/{name}") as response:
        found = response.status == 200 and response.content_type == "application/json"
        rv = (await response.json())["metadata"]["resourceVersion"] if found else ""  # the raw server has no GET
    path = f"{BASE}?watch=1&resourceVersion={rv}&fieldSelector=metadata.name%3D{name}"
    request = watch_request(server.url, path, server.headers, "loadtest-probe", encoding)
    loop = asyncio.get_running_loop()
    _, probe = await loop.create_connection(lambda: WatchConnection(request, None), parts.hostname, parts.port,
                                            ssl=server.ssl or None)
    await probe.ready
    return probe


async def drain(clients: Clients, server: Server, expected: int, before: int, settings: Settings,
                hists: list[Histogram]) -> tuple[dict[str, Any], float, float]:
    """Poll the clients until `expected` new events arrived or nothing arrives for STALL_SECONDS.

    Returns the last snapshot, and the time and server CPU seconds when the last event arrived.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.drain_seconds
    snap = await clients.command("snapshot")
    hists.append(snap["latency_hist"])
    last_events, last_time, last_cpu = snap["events"], time.perf_counter(), cpu_seconds(server.pid)
    while snap["events"] - before < expected and loop.time() < deadline:
        await asyncio.sleep(POLL_SECONDS)
        snap = await clients.command("snapshot")
        hists.append(snap["latency_hist"])
        if snap["events"] > last_events:
            last_events, last_time, last_cpu = snap["events"], time.perf_counter(), cpu_seconds(server.pid)
        elif time.perf_counter() - last_time > STALL_SECONDS:
            break
    return snap, last_time, last_cpu


async def run_case(session: aiohttp.ClientSession, server: Server, clients: Clients, obj: dict[str, Any],
                   settings: Settings, connected: int) -> dict[str, Any]:
    """One writer run against watchers already connected; the measurements of this size."""
    pid = server.pid
    snap0 = await clients.command("mark")  # also resets the latency histograms
    metrics0 = await server.metrics(session)
    debug0 = await server.debug_watches(session)
    cpu0, client_cpu0, user0 = cpu_seconds(pid), clients.cpu_seconds(), cpu_seconds(pid, user_only=True)
    t0 = time.perf_counter()
    written, failed, probe_bytes, probe_protobuf = await write_events(session, server, obj, settings)
    write_seconds = time.perf_counter() - t0
    if settings.rate > 0:  # the writing window is the whole run, not up to the last write
        write_seconds = max(write_seconds, settings.seconds)
    hists: list[Histogram] = []
    snap1, t1, cpu1 = await drain(clients, server, written * connected, snap0["events"], settings, hists)
    client_cpu1, user1 = clients.cpu_seconds(), cpu_seconds(pid, user_only=True)
    metrics1 = await server.metrics(session)
    debug1 = await server.debug_watches(session)
    events = snap1["events"] - snap0["events"]
    received = snap1["bytes"] - snap0["bytes"]
    elapsed = max(t1 - t0, 1e-9)
    encodings = delta(metrics1["encodings"], metrics0["encodings"])
    metered = delta(metrics1["metered_bytes"], metrics0["metered_bytes"])
    metered_protobuf = delta(metrics1["metered_protobuf_bytes"], metrics0["metered_protobuf_bytes"])
    received_protobuf = snap1["protobuf_bytes"] - snap0["protobuf_bytes"]
    hist = merge_histograms(hists)
    debug_bytes = debug1["bytes"] - debug0["bytes"] if debug0 is not None and debug1 is not None else None
    return {
        "written": written,
        "write_failures": failed,
        "write_rate": written / write_seconds,
        "expected_deliveries": written * connected,
        "delivered": events,
        "deliveries_per_s": events / elapsed,
        "mb_per_s": received / elapsed / 1e6,
        "event_bytes": received / events if events else None,
        "serializations_per_event": encodings / written if encodings is not None and written else None,
        "server_events": delta(metrics1["events"], metrics0["events"]),
        "dispatched": delta(metrics1["dispatched"], metrics0["dispatched"]),
        "cpu_s_per_gb": (cpu1 - cpu0) / (received / 1e9) if received else None,
        "cpu_us_per_delivery": (cpu1 - cpu0) / events * 1e6 if events else None,
        "user_us_per_delivery": (user1 - user0) / events * 1e6 if events else None,
        "client_cpu_us_per_delivery": (client_cpu1 - client_cpu0) / events * 1e6 if events else None,
        "server_cpu_s": cpu1 - cpu0,
        "elapsed_s": elapsed,
        "latency_p50_ms": percentile_ms(hist, 0.5),
        "latency_p99_ms": percentile_ms(hist, 0.99),
        "latency_samples": sum(hist.values()),
        "metered_bytes": metered,
        "client_bytes": received,
        "probe_bytes": probe_bytes,
        "bytes_diff": None if metered is None else metered - received - probe_bytes,
        "encoding": settings.encoding,
        "client_protobuf_bytes": received_protobuf,
        "metered_protobuf_bytes": metered_protobuf,
        "protobuf_bytes_diff": None if metered_protobuf is None
        else metered_protobuf - received_protobuf - (probe_bytes if probe_protobuf else 0),
        "debug_bytes": debug_bytes,
        "debug_bytes_diff": None if debug_bytes is None else debug_bytes - received,
        "closed_early": snap1["closed_early"],
        "min_events_per_connection": snap1["min_events"],
        "max_events_per_connection": snap1["max_events"],
    }


async def run_server(server_name: str, watchers: int, endpoints: list[int], settings: Settings,
                     etcd: EtcdProcess | None = None) -> list[dict[str, Any]]:
    """Start one server (on `etcd` if given), connect `watchers` watches, run every size; one result per size."""
    server = Server(server_name, settings, etcd, f"/{server_name}-{watchers}")
    clients = Clients()
    connector = aiohttp.TCPConnector(limit=4, ssl=server.ssl)
    try:
        async with aiohttp.ClientSession(connector=connector, headers=server.headers) as session:
            await server.wait_ready(session)
            objects = {b: endpoint_slice(f"fanout-{b}", b, target_refs=False) for b in endpoints}
            rv = "0"
            if server_name != "raw":
                for obj in objects.values():
                    async with session.post(f"{server.url}{BASE}", data=orjson.dumps(obj),
                                            headers={"Content-Type": "application/json"}) as response:
                        created = await response.json()
                        if response.status != 201:
                            raise RuntimeError(f"create failed: {response.status} {created}")
                        rv = created["metadata"]["resourceVersion"]
            await asyncio.sleep(settings.settle_seconds)
            rss0 = rss_bytes(server.pid)
            lifetime = CLIENT_TIMEOUT + len(endpoints) * (settings.seconds + settings.drain_seconds + 30)
            ready = await clients.start(server, f"{BASE}?watch=true&resourceVersion={rv}", watchers, settings,
                                        lifetime)
            await asyncio.sleep(settings.settle_seconds)
            rss1 = rss_bytes(server.pid)
            connected = ready["connected"]
            base = {"server": server_name, "watchers": watchers, "connected": connected, "encoding": settings.encoding,
                    "loadavg_1m_before": os.getloadavg()[0],
                    "connect_errors": ready["connect_errors"], "connect_error_examples": ready["connect_error_examples"],
                    "rss_idle_mb": rss0 / 1e6, "rss_watching_mb": rss1 / 1e6,
                    "rss_per_watcher_kb": (rss1 - rss0) / connected / 1e3 if connected else None}
            results = []
            for b in endpoints:
                case = await run_case(session, server, clients, objects[b], settings, connected)
                results.append({**base, "endpoints": b, **case})
            debug = await server.debug_watches(session)
            for result in results:
                result["debug_watches"] = debug
            return results
    finally:
        await clients.stop()
        server.stop()


def fmt(value: Any, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


COLUMNS = [  # header, key, format, width
    ("server", "server", "", 14), ("N", "watchers", "d", 5), ("B", "endpoints", "d", 4), ("enc", "encoding", "", 8),
    ("ev B", "event_bytes", ".0f", 6), ("writes/s", "write_rate", ".0f", 8),
    ("deliv/s", "deliveries_per_s", ".0f", 8), ("MB/s", "mb_per_s", ".1f", 7),
    ("ser/ev", "serializations_per_event", ".2f", 7), ("CPU s/GB", "cpu_s_per_gb", ".2f", 9),
    ("CPU us/dl", "cpu_us_per_delivery", ".1f", 9), ("usr us/dl", "user_us_per_delivery", ".1f", 9), ("cli us/dl", "client_cpu_us_per_delivery", ".1f", 9),
    ("p50 ms", "latency_p50_ms", ".1f", 8), ("p99 ms", "latency_p99_ms", ".1f", 8),
    ("RSS KB/w", "rss_per_watcher_kb", ".1f", 8), ("delivered", "delivered", "d", 10),
    ("expected", "expected_deliveries", "d", 10), ("metered B", "metered_bytes", ".0f", 12),
    ("client B", "client_bytes", "d", 12), ("diff", "bytes_diff", ".0f", 6), ("pb diff", "protobuf_bytes_diff", ".0f", 7),
    ("dbg diff", "debug_bytes_diff", ".0f", 8),
    ("early", "closed_early", "d", 5), ("cerr", "connect_errors", "d", 4),
]
RATIOS = [("deliv/s", "deliveries_per_s"), ("MB/s", "mb_per_s"), ("CPU s/GB", "cpu_s_per_gb"),
          ("CPU us/dl", "cpu_us_per_delivery"), ("usr us/dl", "user_us_per_delivery"),
          ("p50 ms", "latency_p50_ms"), ("p99 ms", "latency_p99_ms"), ("RSS KB/w", "rss_per_watcher_kb")]


def print_table(results: list[dict[str, Any]], skipped: dict[str, str]) -> None:
    print(" ".join(f"{h:>{w}}" for h, _, _, w in COLUMNS))
    for r in results:
        print(" ".join(f"{fmt(r.get(k), f):>{w}}" for _, k, f, w in COLUMNS))
    for name, reason in skipped.items():
        print(f"{name:>14} n/a: {reason}")
    by_key = {(r["server"], r["watchers"], r["endpoints"], r.get("encoding", "json")): r for r in results}
    print("\n" + "ratios".ljust(42) + "".join(f"{h:>10}" for h, _ in RATIOS))
    for (server, n, b, encoding), r in by_key.items():
        if server not in ("ours", OURS_ETCD):
            continue
        for other in ("raw", "ours-no-cache", KUBE):
            o = by_key.get((other, n, b, encoding))
            if o is None and other not in skipped:
                continue
            cells = [r.get(k) / o[k] if o and r.get(k) is not None and o.get(k) else None for _, k in RATIOS]
            print(f"{server}/{other} N={n} B={b} {encoding}".ljust(42) + "".join(f"{fmt(c, '.2f'):>10}" for c in cells))
    for r in results:
        if r.get("debug_watches") is not None:
            print(f"/debug/watches {r['server']} N={r['watchers']}: {r['debug_watches']}")
            break


async def run_matrix(servers: list[str], watcher_counts: list[int], endpoints: list[int], settings: Settings,
                     encodings: tuple[str, ...] = ("json",)) -> tuple[list[dict[str, Any]], dict[str, str]]:
    skipped = {}
    if "ours-no-cache" in servers and not server_supports(NO_CACHE_FLAG):
        skipped["ours-no-cache"] = f"the server has no {NO_CACHE_FLAG}"
    if KUBE in servers and (reason := missing()) is not None:
        skipped[KUBE] = reason
    results = []
    with contextlib.ExitStack() as stack:
        etcd = stack.enter_context(run_etcd()) if {KUBE, OURS_ETCD} & set(servers) - set(skipped) else None
        for n in watcher_counts:
            for encoding in encodings:
                for name in servers:
                    if name not in skipped:
                        print(f"# {name} N={n} {encoding} (load average {os.getloadavg()[0]:.2f}) ...",
                              file=sys.stderr, flush=True)
                        results += await run_server(name, n, endpoints, replace(settings, encoding=encoding), etcd)
    return results, skipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--watchers", default="1000,5000", help="watcher counts N (comma-separated)")
    parser.add_argument("--endpoints", default="1,100", help="endpoints per slice B (comma-separated)")
    parser.add_argument("--servers", default=DEFAULT_SERVERS, help="which of " + ", ".join(SERVERS))
    parser.add_argument("--encodings", default="json", help="the watchers' encodings, one run each: json, protobuf "
                        "(kube-proxy's), mix (every other watcher protobuf)")
    parser.add_argument("--seconds", type=float, default=10.0, help="writer run time per case")
    parser.add_argument("--rate", type=float, default=0.0, help="events/s for the writer; 0 = as fast as accepted")
    parser.add_argument("--max-events", type=int, default=1_000_000, help="writer stops after this many events")
    parser.add_argument("--client-procs", type=int, default=2, help="watcher client processes")
    parser.add_argument("--writers", type=int, default=4, help="PUTs in flight when writing flat out")
    parser.add_argument("--window", type=int, default=20,
                        help="flat out: most events written but not yet delivered to the writer's probe watch")
    parser.add_argument("--sample-every", type=int, default=10, help="latency on every n-th connection")
    parser.add_argument("--drain-seconds", type=float, default=30.0, help="longest wait for deliveries after writes")
    parser.add_argument("--server-args", default="", help="extra flags for our server, e.g. '--watch-buffer 5000'")
    parser.add_argument("--quick", action="store_true", help="smoke run: N=50, 2 s")
    parser.add_argument("--json", default="", help="write the results to this file")
    args = parser.parse_args()
    watcher_counts = [50] if args.quick else [int(n) for n in args.watchers.split(",")]
    settings = Settings(seconds=2.0 if args.quick else args.seconds, rate=args.rate, max_events=args.max_events,
                        client_procs=args.client_procs, writers=args.writers, window=args.window, sample_every=args.sample_every,
                        drain_seconds=args.drain_seconds, settle_seconds=0.3 if args.quick else 1.0,
                        server_args=shlex.split(args.server_args))
    endpoints = [int(b) for b in args.endpoints.split(",")]
    encodings = tuple(args.encodings.split(","))
    if set(encodings) - set(ENCODINGS):
        parser.error(f"--encodings: of {', '.join(ENCODINGS)}, not {args.encodings}")
    results, skipped = uvloop.run(run_matrix(args.servers.split(","), watcher_counts, endpoints, settings, encodings))
    print_table(results, skipped)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"settings": vars(args), "results": results, "skipped": skipped}, out, indent=2)


if __name__ == "__main__":
    main()
