"""Storage benchmark: the API on etcd against the embedded store, with 1 and 2 replicas, raw etcd as the ceiling and
the real kube-apiserver as the peer.

    python -m loadtest.storagebench [--slices 2000] [--endpoints 100] [--concurrency 32] [--writes 1000]
                                    [--setups memory:1,etcd:1,etcd-json:1,etcd:2,etcd-raw,kube-apiserver]
                                    [--json out.json]

The setups share one etcd started for the run (`loadtest.kubepeer.run_etcd`: kube-apiserver's etcd 3.5.16 once
built, else Debian's; a temporary data dir on this machine's disk), each under its own key prefix; each gets fresh
`python -m apiserver` replicas (`loadtest.replicas`), or a fresh kube-apiserver (TLS, its bearer token on every
request); this process is the client. `etcd` stores objects in protobuf (`--storage-media-type` default, as
kube-apiserver does), `etcd-json` in JSON; the report gives the ratio of the two. It measures:

- creates/s: `--slices` POSTs of `--endpoints`-endpoint EndpointSlices (`loadtest.slices`), `--concurrency`
  in flight, spread round-robin over the replicas;
- updates/s: one PUT per slice with the resourceVersion its create returned (a compare-and-swap), each sent
  to a different replica than its create;
- write-to-watch-event latency p50/p99: `--writes` sequential PUTs of one slice through the first replica,
  each timed from just before the request until a watch on the last replica (so, with 2 replicas, the
  other one) delivers the event; the first 10 are warm-up;
- CPU milliseconds per write (creates and updates) of the server replicas (summed), of etcd and of this
  client process, over the two throughput phases: all of them share this machine's cores.

`etcd-raw` is the ceiling of what the server could do on etcd: aetcd transactions straight to etcd with the
same bytes (the slices as the server stores them, in protobuf) and the same concurrency (create: compare mod_revision == 0 then put; update: compare the revision
then put), and the put-to-watch-event latency of an etcd watch on a second client connection.

Before the setups, it times the stored value of one slice in each media type: its bytes, its encoding and its
decoding as the watch cache's reflector decodes every etcd event (`apiserver.codec`), in microseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import aetcd
import aiohttp
import orjson

from apiserver import codec
from loadtest.apibench import run_many
from loadtest.codecbench import rate
from loadtest.fanout import cpu_seconds
from loadtest.kubepeer import KUBE, client_of, missing, ratio, run_etcd, start_kube
from loadtest.replicas import start_replicas
from loadtest.slices import endpoint_slice
from storage import KeyValue
from storage.etcd_process import EtcdProcess

BASE = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
HEADERS = {"Content-Type": "application/json"}
Client = tuple[dict[str, str], Any]  # request headers and aiohttp's ssl argument: `kubepeer.client_of`
WARMUP = 10
EVENT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Setup:
    storage: str  # memory, etcd, etcd-json, etcd-raw or kube-apiserver
    replicas: int

    @property
    def name(self) -> str:
        return self.storage if self.storage in ("etcd-raw", KUBE) else f"{self.storage} x{self.replicas}"


def parse_setups(text: str) -> list[Setup]:
    setups = []
    for item in text.split(","):
        storage, _, count = item.strip().partition(":")
        replicated = storage in ("etcd", "etcd-json")
        if storage not in ("memory", "etcd", "etcd-json", "etcd-raw", KUBE) or (not replicated and count not in ("", "1")):
            raise argparse.ArgumentTypeError(f"bad setup {item!r}: memory[:1], etcd:N, etcd-json:N, etcd-raw or {KUBE}")
        setups.append(Setup(storage, int(count or 1)))
    return setups


def cpu_sample(pids: Sequence[int], etcd_pid: int | None) -> dict[str, float]:
    """CPU seconds so far of the server processes (summed), etcd (0 without one) and this process."""
    return {"server": sum(cpu_seconds(pid) for pid in pids), "etcd": cpu_seconds(etcd_pid) if etcd_pid else 0.0,
            "client": time.process_time()}


def cpu_per_write(before: dict[str, float], after: dict[str, float], writes: int) -> dict[str, float]:
    return {f"{name}_cpu_ms_per_write": 1000 * (after[name] - before[name]) / writes for name in before}


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50 and p99 in milliseconds (nearest rank) of latencies in seconds."""
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"latency_p50_ms": pick(0.50), "latency_p99_ms": pick(0.99)}


async def api_throughput(urls: Sequence[str], slices: int, endpoints: int, concurrency: int,
                         pids: Sequence[int], etcd_pid: int | None, client: Client) -> dict[str, float]:
    """Creates/s spread over the replicas, then CAS updates/s each through another replica than its create."""
    objects = [endpoint_slice(f"bench-{i:05d}", endpoints) for i in range(slices)]
    bodies = [orjson.dumps(obj) for obj in objects]
    versions: list[str] = [""] * slices
    connector = aiohttp.TCPConnector(limit=concurrency, ssl=client[1])
    async with aiohttp.ClientSession(connector=connector, headers=client[0]) as session:

        async def create(i: int) -> None:
            async with session.post(urls[i % len(urls)] + BASE, data=bodies[i], headers=HEADERS) as response:
                body = await response.read()
                assert response.status == 201, body[:300]
                versions[i] = orjson.loads(body)["metadata"]["resourceVersion"]

        async def update(i: int) -> None:
            url = f"{urls[(i + 1) % len(urls)]}{BASE}/bench-{i:05d}"
            async with session.put(url, data=bodies[i], headers=HEADERS) as response:
                body = await response.read()
                assert response.status == 200, body[:300]

        before = cpu_sample(pids, etcd_pid)
        creates = await run_many(slices, concurrency, create)
        for i, obj in enumerate(objects):
            obj["metadata"]["resourceVersion"] = versions[i]
            obj["endpoints"][0]["conditions"]["ready"] = False
            bodies[i] = orjson.dumps(obj)
        updates = await run_many(slices, concurrency, update)
        cpu = cpu_per_write(before, cpu_sample(pids, etcd_pid), 2 * slices)
    return {"creates_per_s": creates, "updates_per_s": updates, "object_bytes": float(len(bodies[0])), **cpu}


async def api_latency(writer: str, watcher: str, writes: int, endpoints: int, client: Client) -> dict[str, float]:
    """Sequential PUTs through `writer`, each timed until a watch on `watcher` delivers its event."""
    obj = endpoint_slice("latency", endpoints)
    arrived: dict[int, asyncio.Future[float]] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client[1]), headers=client[0]) as session:
        async with session.post(writer + BASE, data=orjson.dumps(obj), headers=HEADERS) as response:
            assert response.status == 201, await response.text()
            obj = orjson.loads(await response.read())
        watch = await session.get(watcher + BASE, params={
            "watch": "true", "resourceVersion": obj["metadata"]["resourceVersion"],
            "fieldSelector": "metadata.name=latency"}, timeout=aiohttp.ClientTimeout(total=None))
        assert watch.status == 200

        async def read_events() -> None:
            async for line in watch.content:
                seq = orjson.loads(line)["object"]["metadata"]["annotations"]["loadtest/seq"]
                future = arrived.get(int(seq))
                if future is not None and not future.done():
                    future.set_result(time.perf_counter())

        reader = asyncio.create_task(read_events())
        samples = []
        try:
            for seq in range(writes + WARMUP):
                obj["metadata"].setdefault("annotations", {})["loadtest/seq"] = str(seq)
                arrived[seq] = asyncio.get_running_loop().create_future()
                sent = time.perf_counter()
                async with session.put(f"{writer}{BASE}/latency", data=orjson.dumps(obj), headers=HEADERS) as response:
                    assert response.status == 200, await response.text()
                    obj = orjson.loads(await response.read())
                received = await asyncio.wait_for(arrived[seq], EVENT_TIMEOUT)
                if seq >= WARMUP:
                    samples.append(received - sent)
        finally:
            reader.cancel()
            watch.close()
    return percentiles(samples)


async def raw_etcd(endpoint: str, slices: int, endpoints: int, concurrency: int, writes: int,
                   etcd_pid: int | None, prefix: bytes) -> dict[str, float]:
    """The same bytes as aetcd transactions straight to etcd, and an etcd watch's put-to-event latency."""
    host, _, port = endpoint.rpartition(":")
    bodies = [codec.encode_protobuf(endpoint_slice(f"bench-{i:05d}", endpoints)) for i in range(slices)]
    keys = [prefix + b"bench-%05d" % i for i in range(slices)]
    revisions = [0] * slices
    options = {"grpc.max_receive_message_length": 64 << 20}
    async with aetcd.Client(host, int(port), options=options) as client, \
            aetcd.Client(host, int(port), options=options) as watch_client:
        tx = client.transactions

        async def cas(i: int) -> None:
            ok, responses = await client.transaction(compare=[tx.mod(keys[i]) == revisions[i]],
                                                     success=[tx.put(keys[i], bodies[i])], failure=[])
            assert ok
            revisions[i] = responses[0].response_put.header.revision

        before = cpu_sample((), etcd_pid)
        creates = await run_many(slices, concurrency, cas)
        updates = await run_many(slices, concurrency, cas)
        cpu = cpu_per_write(before, cpu_sample((), etcd_pid), 2 * slices)

        key = prefix + b"latency"
        start = (await client.put(key, bodies[0])).header.revision
        arrived: dict[int, asyncio.Future[float]] = {}
        watch = await watch_client.watch(key, start_revision=start + 1)

        async def read_events() -> None:
            async for event in watch:
                future = arrived.get(event.kv.mod_revision)
                if future is not None and not future.done():
                    future.set_result(time.perf_counter())

        reader = asyncio.create_task(read_events())
        samples = []
        try:
            for seq in range(writes + WARMUP):
                revision = start + 1 + seq
                arrived[revision] = asyncio.get_running_loop().create_future()
                sent = time.perf_counter()
                assert (await client.put(key, bodies[0])).header.revision == revision
                received = await asyncio.wait_for(arrived[revision], EVENT_TIMEOUT)
                if seq >= WARMUP:
                    samples.append(received - sent)
        finally:
            reader.cancel()
            await watch.cancel()
    return {"creates_per_s": creates, "updates_per_s": updates, "object_bytes": float(len(bodies[0])),
            **percentiles(samples), **cpu}


async def measure_api(urls: Sequence[str], pids: Sequence[int], etcd_pid: int | None, args: argparse.Namespace,
                      client: Client = ({}, False)) -> dict[str, float]:
    report = await api_throughput(urls, args.slices, args.endpoints, args.concurrency, pids, etcd_pid, client)
    report.update(await api_latency(urls[0], urls[-1], args.writes, args.endpoints, client))
    return report


def run_setup(setup: Setup, etcd: EtcdProcess | None, prefix: str, args: argparse.Namespace) -> dict[str, float]:
    """Start what `setup` needs (on `etcd` under `prefix`), measure, stop everything but etcd."""
    if setup.storage == "memory":
        with start_replicas(1, ["--etcd-compaction-interval", "0"]) as replicas:
            return asyncio.run(measure_api([r.url for r in replicas], [r.process.pid for r in replicas], None, args))
    assert etcd is not None and etcd.pid is not None
    if setup.storage == "etcd-raw":
        return asyncio.run(raw_etcd(etcd.endpoint, args.slices, args.endpoints, args.concurrency, args.writes,
                                    etcd.pid, prefix.encode() + b"/"))
    if setup.storage == KUBE:
        kube = start_kube(etcd, prefix)
        try:
            assert kube.pid is not None
            return asyncio.run(measure_api([kube.url], [kube.pid], etcd.pid, args, client_of(kube)))
        finally:
            kube.close()
    storage = ["--storage", "etcd", "--etcd-servers", etcd.client_url, "--etcd-prefix", prefix,
               "--etcd-compaction-interval", "0", "--storage-media-type",
               codec.JSON if setup.storage == "etcd-json" else codec.PROTOBUF]
    with start_replicas(setup.replicas, storage) as replicas:
        return asyncio.run(measure_api([r.url for r in replicas], [r.process.pid for r in replicas], etcd.pid, args))


def stored_values(endpoints: int, seconds: float = 0.5) -> dict[str, dict[str, float]]:
    """Per storage media type: bytes of one stored slice, µs to encode it and to decode it from its kv."""
    obj = endpoint_slice("bench", endpoints)
    results = {}
    for media_type in codec.MEDIA_TYPES:
        encode = codec.encoder(media_type)
        kv = KeyValue("/registry/endpointslices/default/bench", encode(obj), 2, 2)
        results[media_type] = {"bytes": float(len(kv.value)),
                               "encode_us": rate(partial(encode, obj), seconds),
                               "decode_us": rate(partial(codec.decode, kv), seconds)}
    return results


def print_values(values: dict[str, dict[str, float]]) -> None:
    print(f"  {'stored value':38}{'bytes':>8}{'encode us':>11}{'decode us':>11}")
    for media_type, v in values.items():
        print(f"  {media_type:38}{v['bytes']:8.0f}{v['encode_us']:11.1f}{v['decode_us']:11.1f}")
    pb, js = values[codec.PROTOBUF], values[codec.JSON]
    print(f"  {'ratio protobuf / JSON':38}" + "".join(f"{pb[k] / js[k]:{w}.2f}" for k, w in (
        ("bytes", 8), ("encode_us", 11), ("decode_us", 11))) + "\n")


def print_report(results: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    bodies = [r["object_bytes"] for name, r in results.items() if name != "etcd-raw"]  # raw: the stored bytes
    size = statistics.mean(bodies or [r["object_bytes"] for r in results.values()]) / 1024
    print(f"{args.slices} EndpointSlices x {args.endpoints} endpoints (~{size:.0f} KiB JSON), "
          f"{args.concurrency} in flight; latency over {args.writes} sequential writes")
    print(f"  {'':14}{'':>11}{'':>11}{'write-to-event':>18}{'CPU ms per write':>27}")
    print(f"  {'setup':14}{'creates/s':>11}{'updates/s':>11}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'server':>9}{'etcd':>9}{'client':>9}")
    for name, r in results.items():
        print(f"  {name:14}{r['creates_per_s']:11.0f}{r['updates_per_s']:11.0f}"
              f"{r['latency_p50_ms']:9.2f}{r['latency_p99_ms']:9.2f}{r['server_cpu_ms_per_write']:9.2f}"
              f"{r['etcd_cpu_ms_per_write']:9.2f}{r['client_cpu_ms_per_write']:9.2f}")
    pairs = [(name, name.replace("etcd", "etcd-json", 1)) for name in results if name.startswith("etcd x")]
    pairs = [(pb, js) for pb, js in pairs if js in results]
    if pairs:
        print(f"\n  {'ratio protobuf / JSON':28}{'creates/s':>11}{'updates/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'server':>9}")
        for pb, js in pairs:
            cells = [ratio(results[pb][key], results[js][key]) for key in (
                "creates_per_s", "updates_per_s", "latency_p50_ms", "latency_p99_ms", "server_cpu_ms_per_write")]
            print(f"  {pb + ' / ' + js:28}" + "".join(f"{'n/a' if c is None else format(c, '.2f'):>{w}}"
                                                      for c, w in zip(cells, (11, 11, 9, 9, 9), strict=True)))
    kube = results.get(KUBE)
    if kube is not None:
        print(f"\n  {'ratio to ' + KUBE:28}{'creates/s':>11}{'updates/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'server':>9}")
        for name, r in results.items():
            cells = [ratio(r[key], kube[key]) for key in ("creates_per_s", "updates_per_s", "latency_p50_ms",
                                                           "latency_p99_ms", "server_cpu_ms_per_write")]
            print(f"  {name:28}" + "".join(f"{'n/a' if c is None else format(c, '.2f'):>{w}}"
                                           for c, w in zip(cells, (11, 11, 9, 9, 9), strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slices", type=int, default=2000)
    parser.add_argument("--endpoints", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--writes", type=int, default=1000, help="sequential writes timed for the latency")
    parser.add_argument("--setups", type=parse_setups,
                        default=parse_setups("memory:1,etcd:1,etcd-json:1,etcd:2,etcd-raw"))
    parser.add_argument("--json", default="", help="write the results to this file")
    args = parser.parse_args()
    if any(setup.storage == KUBE for setup in args.setups) and (reason := missing()) is not None:
        raise SystemExit(reason)
    values = stored_values(args.endpoints)
    print_values(values)
    results = {}
    with contextlib.ExitStack() as stack:
        etcd = stack.enter_context(run_etcd()) if any(s.storage != "memory" for s in args.setups) else None
        for i, setup in enumerate(args.setups):
            print(f"# {setup.name} ...", file=sys.stderr, flush=True)
            results[setup.name] = run_setup(setup, etcd, f"/storagebench-{i}", args)
    print_report(results, args)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"settings": {k: v for k, v in vars(args).items() if k != "setups"}, "results": results,
                       "stored_values": values}, out, indent=2)


if __name__ == "__main__":
    main()
