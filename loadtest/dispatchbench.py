"""Dispatch cost of pod events with one field-selected watch per node (kubelets), with and without the index.

    python -m loadtest.dispatchbench [--nodes 5000] [--pods 20000] [--events 5000]

In process, no sockets written: a pods Hub with `--nodes` watchers, each built as the watch handler
builds it for `fieldSelector=spec.nodeName=node-N` (its own group), and `--events` status updates of
pods spread over the nodes, each dispatched as the cacher does (`Hub.dispatch`). "unindexed" registers
the same watchers with no trigger, which is how every group was offered every event before the index;
"indexed" is the server's behaviour. Prints CPU µs per event, filters evaluated per event, and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import socket
import time

from apiserver.cacher.event import PLAIN, CacheEvent, Obj
from apiserver.cacher.hub import Hub
from apiserver.cacher.meters import WatchMeters
from apiserver.cacher.watcher import Limits, Watcher, WatchInfo
from apiserver.handlers.resolve import Target
from apiserver.handlers.watch import watch_filter
from apiserver.kinds.pod import POD
from apiserver.options import parse_list_options

NS = "default"


def pod(name: str, node: str, rv: int, phase: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "resourceVersion": str(rv), "labels": {"app": "web"}},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": phase, "podIP": "10.0.0.1"}}


def measure(nodes: int, pods: int, events: int, indexed: bool, transport: asyncio.Transport) -> tuple[float, float]:
    """(CPU µs per dispatched event, filters evaluated per event)."""
    meters = WatchMeters(POD)
    hub = Hub(POD, meters)
    unlimited = Limits(events=10**9, bytes=10**12)  # nothing is flushed here: frames just accumulate
    for n in range(nodes):
        opts = parse_list_options(POD, {"fieldSelector": f"spec.nodeName=node-{n}"}, watch=True)
        key, predicate = watch_filter(Target(POD, NS), opts)
        if not indexed:
            key = dataclasses.replace(key, trigger=None)
        info = WatchInfo("pods", NS, "", key.field_selector, "kubelet", False)
        hub.add(Watcher(hub, PLAIN, info, unlimited, transport, 0), key, predicate, [], [])
    state = {i: pod(f"p{i}", f"node-{i % nodes}", 1, "Pending") for i in range(pods)}
    changes = []
    for rv in range(2, events + 2):
        i = (rv * 7919) % pods
        prev, state[i] = state[i], pod(f"p{i}", f"node-{i % nodes}", rv, "Running" if rv % 2 else "Pending")
        changes.append(CacheEvent("MODIFIED", f"/registry/pods/{NS}/p{i}", rv, state[i], prev))
    started = time.process_time()
    for change in changes:
        hub.dispatch(change)
    elapsed = time.process_time() - started
    return elapsed / events * 1e6, meters.filters_evaluated / events


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=5_000)
    parser.add_argument("--pods", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=5_000)
    args = parser.parse_args()
    left, right = socket.socketpair()
    transport, _ = await asyncio.get_running_loop().create_connection(asyncio.Protocol, sock=left)
    try:
        results = {mode: measure(args.nodes, args.pods, args.events, mode == "indexed", transport)
                   for mode in ("unindexed", "indexed")}
    finally:
        transport.close()
        right.close()
    print(f"{args.nodes} node watchers, {args.events} pod events")
    for mode, (micros, filters) in results.items():
        print(f"{mode:>10}: {micros:9.1f} µs/event CPU, {filters:7.1f} filters evaluated/event")
    print(f"     ratio: {results['unindexed'][0] / results['indexed'][0]:.0f}× less dispatch CPU per event indexed")


if __name__ == "__main__":
    asyncio.run(main())
