"""Codec benchmark: protobuf (apiserver.protobuf) against JSON (orjson) for one EndpointSlice of N endpoints (as
kube-controller-manager writes them) and a Pod (as the kubelet reports it), then what the server pays per object
version once it encodes each version once: per watch event dispatched by the hub, per LIST from the watch cache.

    python -m loadtest.codecbench [--endpoints 100] [--seconds 1] [--watchers 20] [--items 200]

1. encode and decode CPU µs per object in each encoding, and protobuf's ratio to JSON (orjson is the baseline);
2. hub: CPU µs per MODIFIED event of such a slice dispatched to `--watchers` JSON and as many protobuf watchers,
   with the encode cache (one serialization per form) and without it (one per watcher, the baseline);
3. LIST of `--items` such slices served from the watch cache: encoding the list whole (as before) and joining the
   bodies each object version keeps (encoded once, by the first reader), per LIST and per item.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

import orjson

from apiserver.cacher.cacher import Cacher
from apiserver.cacher.event import PLAIN, PROTOBUF, CacheEvent
from apiserver.cacher.hub import GroupKey, Hub
from apiserver.cacher.meters import WatchMeters
from apiserver.cacher.watch_cache import WatchCache
from apiserver.cacher.watcher import Limits, Watcher, WatchInfo
from apiserver.codec import decode as decode_stored
from apiserver.handlers import encoded
from apiserver.handlers.negotiation import Output
from apiserver.handlers.rest import list_meta, render_list
from apiserver.kinds.endpointslice import ENDPOINTSLICE
from apiserver.kinds.pod import POD
from apiserver.protobuf import envelope
from apiserver.registry import ListResult, Registry
from storage import MemoryStorage

Obj = dict[str, Any]


def endpoint_slice(endpoints: int, name: str = "web-abcde", rv: int = 123456) -> Obj:
    """A slice as the EndpointSlice controller writes it: every endpoint ready, on a node, in a zone, for a Pod."""
    return {
        "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
        "metadata": {
            "name": name, "generateName": "web-", "namespace": "default",
            "uid": "6d8f1c9e-8a51-4b0e-9f67-3c2b1a0d9e8f", "resourceVersion": str(rv), "generation": 3,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                       "kubernetes.io/service-name": "web"},
            "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": "web", "controller": True,
                                 "blockOwnerDeletion": True, "uid": "0b7d9c52-1f0e-4a3b-8c6d-5e4f3a2b1c0d"}],
        },
        "addressType": "IPv4",
        "endpoints": [{
            "addresses": [f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"],
            "conditions": {"ready": True, "serving": True, "terminating": False},
            "nodeName": f"node-{i % 50}", "zone": f"zone-{i % 3}",
            "targetRef": {"kind": "Pod", "namespace": "default", "name": f"web-7c9f8d6b5-{i:05d}",
                          "uid": f"8f2e4c1a-{i:04x}-4d3b-9a8e-7f6c5b4a3d2e"},
        } for i in range(endpoints)],
        "ports": [{"name": "http", "protocol": "TCP", "port": 8080}],
    }


def pod() -> Obj:
    """A running Pod of a Deployment as the kubelet reports it: one container with probes, env and a volume."""
    condition = {"status": "True", "lastProbeTime": None, "lastTransitionTime": "2026-01-01T00:00:05Z"}
    return {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {
            "name": "web-7c9f8d6b5-x2x4z", "generateName": "web-7c9f8d6b5-", "namespace": "default",
            "uid": "8f2e4c1a-0001-4d3b-9a8e-7f6c5b4a3d2e", "resourceVersion": "123457",
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {"app": "web", "pod-template-hash": "7c9f8d6b5"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7c9f8d6b5",
                                 "uid": "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "controller": True,
                                 "blockOwnerDeletion": True}],
        },
        "spec": {
            "volumes": [{"name": "kube-api-access-abcde", "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}],
            "containers": [{
                "name": "web", "image": "registry.example/web:1.2.3",
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "env": [{"name": "MODE", "value": "production"}, {"name": "POD_IP", "valueFrom": {
                    "fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}}],
                "resources": {"limits": {"memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
                "volumeMounts": [{"name": "kube-api-access-abcde", "readOnly": True,
                                  "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"},
                                   "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
                                   "failureThreshold": 3},
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent"}],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default", "serviceAccount": "default", "nodeName": "node-17",
            "securityContext": {}, "schedulerName": "default-scheduler",
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                             "tolerationSeconds": 300}],
            "priority": 0, "enableServiceLinks": True, "preemptionPolicy": "PreemptLowerPriority"},
        "status": {
            "phase": "Running",
            "conditions": [{"type": kind, **condition} for kind in
                           ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")],
            "hostIP": "192.168.0.17", "hostIPs": [{"ip": "192.168.0.17"}], "podIP": "10.244.17.5",
            "podIPs": [{"ip": "10.244.17.5"}], "startTime": "2026-01-01T00:00:00Z",
            "containerStatuses": [{
                "name": "web", "state": {"running": {"startedAt": "2026-01-01T00:00:03Z"}}, "lastState": {},
                "ready": True, "restartCount": 0, "image": "registry.example/web:1.2.3",
                "imageID": "registry.example/web@sha256:" + "ab" * 32,
                "containerID": "containerd://" + "cd" * 32, "started": True}],
            "qosClass": "Burstable"},
    }


def rate(fn: Callable[[], object], seconds: float) -> float:
    """CPU microseconds per call (process time: steadier than wall time on a shared machine), the best of ten
    rounds."""
    best = float("inf")
    for _ in range(10):
        calls, start = 0, time.process_time()
        while (elapsed := time.process_time() - start) < seconds / 10:
            fn()
            calls += 1
        best = min(best, elapsed / calls * 1e6)
    return best


def codec(name: str, obj: Obj, seconds: float) -> None:
    """Encode and decode in both encodings, and protobuf's ratio to orjson."""
    as_json = orjson.dumps(obj)
    if not envelope.serves(ENDPOINTSLICE if obj["kind"] == "EndpointSlice" else POD):
        print(f"{name:<28}{len(as_json):>8}{rate(lambda: orjson.dumps(obj), seconds):>10.1f}"
              f"{rate(lambda: orjson.loads(as_json), seconds):>10.1f}   (no protobuf form here yet)")
        return
    as_protobuf = envelope.encode(obj)
    assert envelope.decode(as_protobuf) == obj, "protobuf does not round-trip"
    json_encode, json_decode = rate(lambda: orjson.dumps(obj), seconds), rate(lambda: orjson.loads(as_json), seconds)
    pb_encode, pb_decode = rate(lambda: envelope.encode(obj), seconds), rate(lambda: envelope.decode(as_protobuf),
                                                                             seconds)
    print(f"{name:<28}{len(as_json):>8}{json_encode:>10.1f}{json_decode:>10.1f}{len(as_protobuf):>10}"
          f"{pb_encode:>10.1f}{pb_decode:>10.1f}{pb_encode / json_encode:>9.1f}×{pb_decode / json_decode:>9.1f}×")


def hub_cost(endpoints: int, watchers: int, events: int, cache: bool, transport: asyncio.Transport,
             stored: bool = False) -> float:
    """CPU µs per MODIFIED event dispatched to `watchers` JSON and `watchers` protobuf watchers of one group;
    `stored`: storage holds protobuf, which the protobuf body is spliced from."""
    meters = WatchMeters(ENDPOINTSLICE)
    hub = Hub(ENDPOINTSLICE, meters, encode_cache=cache)
    unlimited = Limits(events=10**9, bytes=10**12)  # nothing is flushed here: frames just accumulate
    key = GroupKey("default", "", "", "", None)
    for form in (PLAIN, PROTOBUF):
        for n in range(watchers):
            info = WatchInfo("endpointslices", "default", "", "", f"watcher-{n}", False)
            hub.add(Watcher(hub, form, info, unlimited, transport, 0), key, lambda obj: True, [], [])
    slices = [endpoint_slice(endpoints, rv=rv) for rv in range(events + 1)]
    changes = [CacheEvent("MODIFIED", "/registry/endpointslices/default/web-abcde", rv, slices[rv], slices[rv - 1],
                          stored=_stored_protobuf(slices[rv]) if stored else None) for rv in range(1, events + 1)]
    started = time.process_time()
    for change in changes:
        hub.dispatch(change)
    elapsed = time.process_time() - started
    hub.close_all()
    return elapsed / events * 1e6


def _stored_protobuf(obj: Obj) -> bytes:
    """The value storage writes in protobuf: the enveloped object without its resourceVersion."""
    meta = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
    return envelope.encode({**obj, "metadata": meta})


async def hub_section(endpoints: int, watchers: int) -> None:
    left, right = socket.socketpair()
    transport, _ = await asyncio.get_running_loop().create_connection(asyncio.Protocol, sock=left)
    try:
        events = 40
        cached = min(hub_cost(endpoints, watchers, events, True, transport) for _ in range(3))
        spliced = min(hub_cost(endpoints, watchers, events, True, transport, stored=True) for _ in range(3))
        baseline = hub_cost(endpoints, watchers, events, False, transport)
    finally:
        transport.close()
        right.close()
    obj = endpoint_slice(endpoints)
    json_encode = rate(lambda: orjson.dumps(obj), 0.5)
    print(f"\nhub: one slice of {endpoints} endpoints MODIFIED, {watchers} JSON + {watchers} protobuf watchers")
    print(f"  encoded once per form: {cached:9.1f} µs CPU/event, {cached / (2 * watchers):7.1f} µs per watcher"
          f"   (orjson encodes the slice once in {json_encode:.1f} µs: "
          f"{cached / (2 * watchers) / json_encode:.2f}× that per watcher)")
    print(f"  ... protobuf spliced from a protobuf stored value: {spliced:9.1f} µs CPU/event, "
          f"{spliced / (2 * watchers):7.1f} µs per watcher")
    print(f"  encoded per watcher:   {baseline:9.1f} µs CPU/event, {baseline / (2 * watchers):7.1f} µs per watcher")
    print(f"  ratio: {baseline / cached:.1f}× less CPU per event with the encode cache")


def list_section(endpoints: int, items: int, seconds: float) -> None:
    """A LIST of `items` slices from the watch cache, whole (as before) and joined from kept bodies."""
    storage = MemoryStorage()
    cacher = Cacher(ENDPOINTSLICE, storage, decode_stored, WatchCache())
    registry = Registry(ENDPOINTSLICE, storage, cacher, namespace_check=_no_check)
    objs = [endpoint_slice(endpoints, name=f"web-{i:05d}", rv=100 + i) for i in range(items)]
    events = [CacheEvent("ADDED", registry.key("default", o["metadata"]["name"]), 100 + i, o, None)
              for i, o in enumerate(objs)]
    cacher.cache.replace(events, 100 + items)
    result = ListResult(objs, 100 + items)
    print(f"\nLIST of {items} slices of {endpoints} endpoints from the watch cache   µs/LIST   µs/item")
    times = {}
    for serialization in ("json", "protobuf"):
        output = Output(encoding="protobuf") if serialization == "protobuf" else Output()
        for label, micros in _list_times(registry, result, output, seconds).items():
            times[serialization, label] = micros
            print(f"  {serialization:<9}{label:<28}{micros:>12.0f}{micros / items:>10.2f}")
    ratio = times["protobuf", "joined from bodies"] / times["json", "encoded whole"]
    print(f"  a protobuf LIST from kept bodies takes {ratio:.2f}× the time orjson takes to encode the JSON list whole")
    total = sum(cacher.meters.encodings.values())
    print(f"  object encodings in all: {total} for {items} objects in 2 encodings (once per version and encoding)")


def _list_times(registry: Registry, result: ListResult, output: Output, seconds: float) -> dict[str, float]:
    """µs per LIST encoded whole (as before) and joined from the bodies (the first LIST encodes them)."""
    whole = render_list(ENDPOINTSLICE, result, output)
    encode_whole = envelope.encode if output.encoding == "protobuf" else orjson.dumps
    meta = list_meta(result)
    joined = encoded.list_body(registry, ENDPOINTSLICE, result, meta, output)
    assert joined == encode_whole(whole), "joined bodies differ from the list encoded whole"
    meters = registry.cacher.meters
    before = sum(meters.encodings.values())
    times = {"encoded whole": rate(lambda: encode_whole(whole), seconds),
             "joined from bodies": rate(lambda: encoded.list_body(registry, ENDPOINTSLICE, result, meta, output),
                                        seconds)}
    assert sum(meters.encodings.values()) == before, "a LIST encoded an object version again"
    return times


async def _no_check(namespace: str, kind: Any, name: str) -> None:
    """Namespace lifecycle is not exercised here."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=1.0, help="time spent on each measurement")
    parser.add_argument("--watchers", type=int, default=20, help="watchers per encoding in the hub measurement")
    parser.add_argument("--items", type=int, default=200, help="objects in the LIST measurement")
    args = parser.parse_args()
    print(f"{'µs per object':<28}{'JSON B':>8}{'encode':>10}{'decode':>10}{'proto B':>10}{'encode':>10}"
          f"{'decode':>10}{'enc ratio':>10}{'dec ratio':>10}")
    codec(f"EndpointSlice ({args.endpoints} endpoints)", endpoint_slice(args.endpoints), args.seconds)
    codec("Pod", pod(), args.seconds)
    asyncio.run(hub_section(args.endpoints, args.watchers))
    list_section(args.endpoints, args.items, args.seconds)
    print("\n(JSON is orjson: the baseline; ratios are protobuf's time over JSON's)")


if __name__ == "__main__":
    main()
