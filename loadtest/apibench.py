"""API benchmark: start-up time, and create/get/list rates for EndpointSlices on the embedded store.

    python -m loadtest.apibench [--slices 10000] [--endpoints 100] [--concurrency 32] [--json out.json]
                                [--servers ours,baseline]

The server runs as its own process (`python -m apiserver`); this process is the client. In the same
run it measures a baseline: a minimal aiohttp server that answers the same requests without doing
any work, so the ratios show what the API machinery costs on this machine.

With `--servers ours,ours-etcd,kube-apiserver,baseline` it also measures, on one etcd started for the run
(`loadtest.kubepeer`), our server with `--storage etcd` and the real kube-apiserver: the same requests, plus each
one's start-to-ready time (exec to the first /readyz 200, etcd already running, median of `--runs`; our
packages' bytecode written first, as an install writes it).
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import contextlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
from aiohttp import web

import apiserver
import storage
from apiserver.config import Config
from apiserver.testing import free_port, run_server
from loadtest.kubepeer import KUBE, OURS_ETCD, client_of, missing, ours_on_etcd, ratio, run_etcd, start_kube
from loadtest.slices import endpoint_slice
from storage.etcd_process import EtcdProcess

BASE = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"


BASELINE = "baseline"
SERVERS = ("ours", OURS_ETCD, KUBE, BASELINE)
RATIOS = (("ours", BASELINE), ("ours", KUBE), (OURS_ETCD, KUBE))


def start_baseline(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "loadtest.apibench", "--serve-baseline", str(port)])


def start_server(port: int, storage: list[str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "apiserver", "--port", str(port), "--kubeconfig", "",
                             *(storage or [])], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def wait_ready(url: str, timeout: float = 10.0) -> float:
    """Poll `url` until it answers 200; return the seconds it took."""
    start = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        while time.perf_counter() - start < timeout:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return time.perf_counter() - start
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.002)
    raise TimeoutError(url)


def compile_packages() -> None:
    """Write our packages' bytecode first, as installing them does: an editable install (or a checkout run with
    PYTHONDONTWRITEBYTECODE) would otherwise compile every module at each start, about 0.1 s here."""
    for package in (apiserver, storage):
        for directory in package.__path__:
            compileall.compile_dir(directory, quiet=1)


async def startup_seconds(runs: int) -> dict[str, float]:
    """Process start to /readyz ok, the fixture's in-process start, and a bare interpreter's start."""
    process_times = []
    for _ in range(runs):
        port = free_port()
        started = time.perf_counter()
        server = start_server(port)
        try:
            await wait_ready(f"http://127.0.0.1:{port}/readyz")
            process_times.append(time.perf_counter() - started)
        finally:
            server.terminate()
            server.wait()
    interpreter = []
    for _ in range(runs):
        started = time.perf_counter()
        await asyncio.to_thread(subprocess.run, [sys.executable, "-c", "import aiohttp"], check=True)
        interpreter.append(time.perf_counter() - started)
    fixture = []
    for _ in range(runs):
        with run_server(Config(compaction_interval=0)) as running:
            fixture.append(running.start_seconds)  # type: ignore[attr-defined]
    return {"process_to_readyz_s": statistics.median(process_times),
            "python_import_aiohttp_s": statistics.median(interpreter),
            "fixture_start_s": statistics.median(fixture)}


async def run_many(count: int, concurrency: int, request: Callable[[int], Awaitable[None]]) -> float:
    """Issue `count` requests with `concurrency` workers; return requests per second."""
    queue = iter(range(count))

    async def worker() -> None:
        for i in queue:
            await request(i)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


async def measure(url: str, slices: int, endpoints: int, concurrency: int,
                  client: tuple[dict[str, str], Any] = ({}, False)) -> dict[str, float]:
    """Creates/s and gets/s of `slices` slices, then list times; `client`: headers and TLS (`kubepeer.client_of`)."""
    bodies = [orjson.dumps(endpoint_slice(f"web-{i:05d}", endpoints)) for i in range(slices)]
    headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency, ssl=client[1])
    async with aiohttp.ClientSession(url, connector=connector, headers=client[0]) as session:

        async def create(i: int) -> None:
            async with session.post(BASE, data=bodies[i], headers=headers) as response:
                await response.read()
                assert response.status == 201, response.status

        async def get(i: int) -> None:
            async with session.get(f"{BASE}/web-{i % slices:05d}") as response:
                await response.read()
                assert response.status == 200, response.status

        async def timed_list(query: str) -> float:
            started = time.perf_counter()
            path: str | None = f"{BASE}?{query}"
            while path:
                async with session.get(path) as response:
                    body = orjson.loads(await response.read())
                token = body["metadata"].get("continue")
                path = f"{BASE}?{query}&continue={token}" if token else None
            return time.perf_counter() - started

        results = {"creates_per_s": await run_many(slices, concurrency, create),
                   "gets_per_s": await run_many(slices, concurrency, get)}
        for name, query in (("list_all_s", "resourceVersion="), ("list_rv0_s", "resourceVersion=0"),
                            ("list_paged_500_s", "limit=500")):
            results[name] = statistics.median([await timed_list(query) for _ in range(3)])
        return results


def baseline_app(stored: dict[str, bytes]) -> web.Application:
    """The ceiling: parse the JSON body and keep the bytes, answer from a dict. No API semantics."""

    async def create(request: web.Request) -> web.Response:
        body = await request.read()
        obj = orjson.loads(body)
        stored[obj["metadata"]["name"]] = body
        return web.Response(body=body, status=201, content_type="application/json")

    async def get(request: web.Request) -> web.Response:
        return web.Response(body=stored[request.match_info["name"]], content_type="application/json")

    async def list_(request: web.Request) -> web.Response:
        return web.Response(body=b'{"items":[' + b",".join(stored.values()) + b'],"metadata":{}}',
                            content_type="application/json")

    app = web.Application(client_max_size=4 << 20)
    app.router.add_post(BASE, create)
    app.router.add_get(BASE, list_)
    app.router.add_get(BASE + "/{name}", get)
    return app


def serve_baseline(port: int) -> None:
    import uvloop

    uvloop.run(web._run_app(baseline_app({}), host="127.0.0.1", port=port, print=None, access_log=None))


async def measure_ours(args: argparse.Namespace, storage: list[str]) -> dict[str, float]:
    port = free_port()
    server = start_server(port, storage)
    try:
        await wait_ready(f"http://127.0.0.1:{port}/readyz")
        return await measure(f"http://127.0.0.1:{port}", args.slices, args.endpoints, args.concurrency)
    finally:
        server.terminate()
        server.wait()


async def measure_on_etcd(name: str, etcd: EtcdProcess, args: argparse.Namespace) -> dict[str, float]:
    """Start-to-ready (median of `args.runs`, on an empty prefix) and the requests of `measure`, on `etcd`."""
    ready = []
    for run in range(args.runs + 1):  # the last start is the one measured
        prefix = f"/{name}" if run == args.runs else f"/{name}-start"
        if name == KUBE:
            kube = await asyncio.to_thread(start_kube, etcd, prefix)
            try:
                if run < args.runs:
                    assert kube.ready_seconds is not None
                    ready.append(kube.ready_seconds)
                    continue
                report = await measure(kube.url, args.slices, args.endpoints, args.concurrency, client_of(kube))
            finally:
                await asyncio.to_thread(kube.close)
        elif run < args.runs:
            port = free_port()
            started = time.perf_counter()
            server = start_server(port, ours_on_etcd(etcd, prefix))
            try:
                await wait_ready(f"http://127.0.0.1:{port}/readyz")
                ready.append(time.perf_counter() - started)
            finally:
                server.terminate()
                server.wait()
        else:
            report = await measure_ours(args, ours_on_etcd(etcd, prefix))
    return {"start_to_ready_s": statistics.median(ready), **report}


async def measure_baseline(args: argparse.Namespace) -> dict[str, float]:
    port = free_port()
    baseline = start_baseline(port)
    try:
        await wait_ready(f"http://127.0.0.1:{port}{BASE}")
        return await measure(f"http://127.0.0.1:{port}", args.slices, args.endpoints, args.concurrency)
    finally:
        baseline.terminate()
        baseline.wait()


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    servers = args.servers.split(",")
    if KUBE in servers and (reason := missing()) is not None:
        raise SystemExit(reason)
    compile_packages()
    startup = await startup_seconds(args.runs)
    report: dict[str, Any] = {"startup": startup}
    with contextlib.ExitStack() as stack:
        etcd = stack.enter_context(run_etcd()) if {KUBE, OURS_ETCD} & set(servers) else None
        for name in servers:
            print(f"# {name} ...", file=sys.stderr, flush=True)
            if name == "ours":
                report[name] = {"start_to_ready_s": startup["process_to_readyz_s"], **await measure_ours(args, [])}
            elif name == BASELINE:
                report[name] = await measure_baseline(args)
            else:
                assert etcd is not None
                report[name] = await measure_on_etcd(name, etcd, args)
    return report


def print_report(report: dict[str, Any], args: argparse.Namespace) -> None:
    startup = report["startup"]
    print(f"start-up (median of {args.runs})")
    print(f"  process start to /readyz ok   {startup['process_to_readyz_s'] * 1000:8.0f} ms")
    print(f"  python -c 'import aiohttp'    {startup['python_import_aiohttp_s'] * 1000:8.0f} ms  (baseline)")
    print(f"  in-process fixture start      {startup['fixture_start_s'] * 1000:8.1f} ms")
    print(f"\n{args.slices} EndpointSlices x {args.endpoints} endpoints, {args.concurrency} concurrent clients")
    servers = [name for name in SERVERS if name in report]
    ratios = [(a, b) for a, b in RATIOS if a in report and b in report]
    print(f"  {'':24}" + "".join(f"{name:>16}" for name in servers) + "".join(f"{a + '/' + b:>26}" for a, b in ratios))
    for key, label in (("start_to_ready_s", "start to ready (s)"), ("creates_per_s", "creates/s"),
                       ("gets_per_s", "gets/s"), ("list_all_s", "list all (s)"), ("list_rv0_s", "list rv=0 (s)"),
                       ("list_paged_500_s", "list limit=500 (s)")):
        values = [report[name].get(key) for name in servers]
        cells = [ratio(report[a].get(key), report[b].get(key)) for a, b in ratios]
        print(f"  {label:24}" + "".join(f"{'n/a' if v is None else format(v, '.2f'):>16}" for v in values)
              + "".join(f"{'n/a' if c is None else format(c, '.2f'):>26}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slices", type=int, default=10_000)
    parser.add_argument("--endpoints", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--runs", type=int, default=5, help="repetitions of the start-up measurements")
    parser.add_argument("--servers", default=f"ours,{BASELINE}", help="which of " + ", ".join(SERVERS))
    parser.add_argument("--json", default="", help="write the results to this file")
    parser.add_argument("--serve-baseline", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline)
        return
    report = asyncio.run(main_async(args))
    print_report(report, args)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=2)


if __name__ == "__main__":
    main()
