"""API benchmark: start-up time, and create/get/list rates for EndpointSlices on the embedded store.

    python -m loadtest.apibench [--slices 10000] [--endpoints 100] [--concurrency 32] [--json out.json]

The server runs as its own process (`python -m apiserver`); this process is the client. In the same
run it measures a baseline: a minimal aiohttp server that answers the same requests without doing
any work, so the ratios show what the API machinery costs on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
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

from apiserver.config import Config
from apiserver.testing import free_port, run_server
from loadtest.slices import endpoint_slice

BASE = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"


def start_server(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "apiserver", "--port", str(port), "--kubeconfig", ""],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


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
        subprocess.run([sys.executable, "-c", "import aiohttp"], check=True)
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


async def measure(url: str, slices: int, endpoints: int, concurrency: int) -> dict[str, float]:
    bodies = [orjson.dumps(endpoint_slice(f"web-{i:05d}", endpoints)) for i in range(slices)]
    headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(url, connector=connector) as session:

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


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"startup": await startup_seconds(args.runs)}
    port = free_port()
    server = start_server(port)
    try:
        await wait_ready(f"http://127.0.0.1:{port}/readyz")
        report["server"] = await measure(f"http://127.0.0.1:{port}", args.slices, args.endpoints, args.concurrency)
    finally:
        server.terminate()
        server.wait()
    port = free_port()
    baseline = subprocess.Popen([sys.executable, "-m", "loadtest.apibench", "--serve-baseline", str(port)])
    try:
        await wait_ready(f"http://127.0.0.1:{port}{BASE}")
        report["baseline"] = await measure(f"http://127.0.0.1:{port}", args.slices, args.endpoints, args.concurrency)
    finally:
        baseline.terminate()
        baseline.wait()
    return report


def print_report(report: dict[str, Any], args: argparse.Namespace) -> None:
    startup = report["startup"]
    print(f"start-up (median of {args.runs})")
    print(f"  process start to /readyz ok   {startup['process_to_readyz_s'] * 1000:8.0f} ms")
    print(f"  python -c 'import aiohttp'    {startup['python_import_aiohttp_s'] * 1000:8.0f} ms  (baseline)")
    print(f"  in-process fixture start      {startup['fixture_start_s'] * 1000:8.1f} ms")
    print(f"\n{args.slices} EndpointSlices x {args.endpoints} endpoints, {args.concurrency} concurrent clients")
    print(f"  {'':24}{'server':>12}{'baseline':>12}{'ratio':>8}")
    for key, label in (("creates_per_s", "creates/s"), ("gets_per_s", "gets/s"), ("list_all_s", "list all (s)"),
                       ("list_rv0_s", "list rv=0 (s)"), ("list_paged_500_s", "list limit=500 (s)")):
        ours, base = report["server"][key], report["baseline"][key]
        print(f"  {label:24}{ours:12.2f}{base:12.2f}{ours / base:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slices", type=int, default=10_000)
    parser.add_argument("--endpoints", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--runs", type=int, default=5, help="repetitions of the start-up measurements")
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
