"""Codec benchmark: one EndpointSlice of N endpoints (as kube-controller-manager writes them) encoded and decoded
in JSON (orjson) and in protobuf (apiserver.protobuf), with the bytes each takes.

    python -m loadtest.codecbench [--endpoints 100] [--seconds 1]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import orjson

from apiserver.protobuf import envelope


def endpoint_slice(endpoints: int) -> dict[str, Any]:
    """A slice as the EndpointSlice controller writes it: every endpoint ready, on a node, in a zone, for a Pod."""
    return {
        "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
        "metadata": {
            "name": "web-abcde", "generateName": "web-", "namespace": "default",
            "uid": "6d8f1c9e-8a51-4b0e-9f67-3c2b1a0d9e8f", "resourceVersion": "123456", "generation": 3,
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


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Microseconds per call, the best of five rounds."""
    best = float("inf")
    for _ in range(5):
        calls, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds / 5:
            fn()
            calls += 1
        best = min(best, elapsed / calls * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=1.0, help="time spent on each measurement")
    args = parser.parse_args()
    obj = endpoint_slice(args.endpoints)
    as_json, as_protobuf = orjson.dumps(obj), envelope.encode(obj)
    assert envelope.decode(as_protobuf) == obj
    print(f"EndpointSlice of {args.endpoints} endpoints     bytes   encode µs   decode µs")
    for name, data, encode, decode in (
        ("json (orjson)", as_json, lambda: orjson.dumps(obj), lambda: orjson.loads(as_json)),
        ("protobuf", as_protobuf, lambda: envelope.encode(obj), lambda: envelope.decode(as_protobuf)),
    ):
        print(f"{name:<32}{len(data):>8}{rate(encode, args.seconds):>12.1f}{rate(decode, args.seconds):>12.1f}")


if __name__ == "__main__":
    main()
