"""One resource's watch cache over a long window: memory held by encoded frames, and lookup costs.

    python loadtest/watchcachebench.py [--slices 1000] [--endpoints 100] [--rounds 10] [--updates 2000]

In process: a WatchCache with the default (102,400-event) window takes `--rounds` × `--updates`
updates of `--slices` EndpointSlices; each update is dispatched as the hub does (one frame in the
plain and one in the metadata-only form, then `forget_frames`); after each round one watch starts
with initial events (an ADDED frame per current object) and one replays the round's events (a frame
per event). Prints the bytes of frames the cache's events still hold, the RSS, and the serializations
made. Then, with 10,000 objects in 50 namespaces and a 100,000-event window: the time to read the
current objects (all of them, one namespace: a cached list, an initial-events watch) and the events
after a recent revision (a watch resuming). Only interfaces older than the frame budget are used, so
running this file with PYTHONPATH at an older checkout gives the figures before it.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable

from apiserver.cacher.event import PLAIN, CacheEvent, Form, Obj
from apiserver.cacher.watch_cache import WatchCache
from apiserver.kinds.endpointslice import ENDPOINTSLICE

NS = "default"
PARTIAL = Form("partial")


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def slice_obj(name: str, rv: int, endpoints: list[Obj]) -> Obj:
    """Versions of a slice share its endpoints (memory is the frames'), the encoded bytes are full size."""
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": name, "namespace": NS, "resourceVersion": str(rv), "labels": {"app": "web"}},
            "endpoints": endpoints, "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}


def held(cache: WatchCache) -> int:
    """Bytes of frames held by the events the cache references (the store and the window)."""
    events = {id(e): e for e in (*cache.store.values(), *cache.history)}
    return sum(len(frame) for e in events.values() for frame in e._frames.values())


def lookups() -> None:
    """Milliseconds per read of the store (all, one namespace) and per replay of the newest 10 events."""
    objects, window = 10_000, 100_000
    cache = WatchCache(max_capacity=window)
    key = "/registry/endpointslices/ns{}/s{}".format
    cache.replace([CacheEvent("ADDED", key(i % 50, i), 1, {"metadata": {}}, None) for i in range(objects)], 1)
    now = time.monotonic()
    for rv in range(2, window + 2):
        cache.apply(CacheEvent("MODIFIED", key(rv % 50, rv % objects), rv, {"metadata": {}}, None, now))
    reads: dict[str, Callable[[], list[CacheEvent]]] = {
        "all objects": lambda: cache.entries(), "one namespace": lambda: cache.entries(key(7, "")),
        "events after the newest 10": lambda: cache.events_after(cache.rv - 10)}
    print(f"{objects} objects, window {len(cache.history)} events:")
    for name, read in reads.items():
        started = time.perf_counter()
        for _ in range(50):
            read()
        print(f"  {name}: {(time.perf_counter() - started) / 50 * 1e3:.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=1_000)
    parser.add_argument("--endpoints", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--updates", type=int, default=2_000)
    args = parser.parse_args()
    encodings = [0]

    def counted(form: Form) -> None:
        encodings[0] += 1

    endpoints = {i: [{"addresses": [f"10.{i % 250}.{j // 250}.{j % 250}"], "conditions": {"ready": True},
                      "nodeName": f"node-{j % 50}", "zone": "zone-a"} for j in range(args.endpoints)]
                 for i in range(args.slices)}
    keys = [f"/registry/endpointslices/{NS}/s{i}" for i in range(args.slices)]
    cache = WatchCache()
    cache.replace([CacheEvent("ADDED", keys[i], 1, slice_obj(f"s{i}", 1, endpoints[i]), None)
                   for i in range(args.slices)], 1)
    baseline, rv, started = rss_mb(), 1, time.process_time()
    for _ in range(args.rounds):
        round_start = rv
        for _ in range(args.updates):
            rv += 1
            i = (rv * 7919) % args.slices
            prev = cache.store[keys[i]]
            change = CacheEvent("MODIFIED", keys[i], rv, slice_obj(f"s{i}", rv, endpoints[i]), prev.obj,
                                time.monotonic())
            cache.apply(change)
            for form in (PLAIN, PARTIAL):
                change.frame(ENDPOINTSLICE, form, "MODIFIED", False, counted)
            change.forget_frames()
        for entry in cache.entries():  # a watch with initial events
            entry.frame(ENDPOINTSLICE, PLAIN, "ADDED", False, counted)
        for event in cache.events_after(round_start):  # a watch resuming from the round's start
            event.frame(ENDPOINTSLICE, PLAIN, event.type, False, counted)
    cpu = time.process_time() - started
    frame_size = len(cache.store[keys[0]].encode(ENDPOINTSLICE, PLAIN, "ADDED", False))
    print(f"{args.rounds * args.updates} updates of {args.slices} slices ({frame_size / 1024:.1f} KiB frames), "
          f"window {len(cache.history)} events")
    print(f"frames held by the cache's events: {held(cache) / 2**20:.1f} MiB")
    print(f"RSS: {rss_mb():.0f} MB ({rss_mb() - baseline:+.0f} MB since the initial list), "
          f"peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(f"serializations: {encodings[0]}, CPU {cpu:.1f} s")
    lookups()


if __name__ == "__main__":
    main()
