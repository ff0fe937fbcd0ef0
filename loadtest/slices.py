"""Synthetic EndpointSlices of a given size, shaped like the EndpointSlice controller's."""

from __future__ import annotations

from typing import Any


def endpoint_slice(name: str, endpoints: int, namespace: str = "default", service: str = "web",
                   generation: int = 0, target_refs: bool = True) -> dict[str, Any]:
    """An IPv4 EndpointSlice with `endpoints` ready endpoints, each with a node, a zone and (unless
    `target_refs` is false: about 100 bytes an endpoint instead of 240) a pod targetRef."""
    slice_ = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "kubernetes.io/service-name": service,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            },
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "protocol": "TCP", "port": 8080}],
        "endpoints": [
            {
                "addresses": [f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{(i & 255) or 1}"],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "targetRef": {"kind": "Pod", "namespace": namespace, "name": f"{service}-{generation}-{i}",
                              "uid": f"00000000-0000-4000-8000-{i:012d}"},
                "nodeName": f"node-{i % 5000}",
                "zone": f"zone-{i % 3}",
            }
            for i in range(1, endpoints + 1)
        ],
    }
    if not target_refs:
        for endpoint in slice_["endpoints"]:
            del endpoint["targetRef"]
    return slice_
