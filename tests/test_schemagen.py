"""The upstream schema data (apiserver/kinds/upstream) is what upstream's Go types and OpenAPI documents give today,
every type in it builds into schema nodes, and those encode the kinds issue 12 adds as kube-apiserver does."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from typing import Any

import pytest

from apiserver.kinds import upstream
from apiserver.protobuf import envelope
from apiserver.protobuf.message import message
from conformance.kube_apiserver import KubeAPIServer
from conformance.schemagen.__main__ import generate, go_types, openapi_documents, stale_files

Obj = dict[str, Any]


def test_data_is_current(kube_apiserver: KubeAPIServer) -> None:
    if shutil.which("go") is None:
        pytest.skip("Go is not installed: the generator reads the Go types with `go run`")
    files = generate(go_types(), openapi_documents(kube_apiserver))
    assert stale_files(files) == [], "run python -m conformance.schemagen"


def test_every_type_builds() -> None:
    for file in set(upstream.FILES.values()):
        for name, data in upstream._types(file).items():
            if isinstance(data, dict) and "fields" in data:
                node = upstream.definition(name)
                assert node.ref == name and set(node.properties) >= {f["name"] for f in data["fields"]}


POD_TEMPLATE = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{
    "name": "c", "image": "nginx:1.27", "resources": {"limits": {"cpu": "1500m", "memory": "1Gi"}},
    "readinessProbe": {"httpGet": {"port": 80}}}], "volumes": [{"name": "v", "configMap": {"name": "cm"}}]}}
SELECTOR = {"matchLabels": {"app": "a"}}
# Kinds issue 12 adds, as kube-apiserver stores them: their generated data must encode them as it does.
UPSTREAM_OBJECTS: list[tuple[str, str, Obj]] = [
    ("/api/v1/namespaces/default/configmaps", "io.k8s.api.core.v1.ConfigMap",
     {"metadata": {"name": "cm"}, "data": {"a": "1"}, "binaryData": {"b": "AAEC/w=="}}),
    ("/api/v1/namespaces/default/secrets", "io.k8s.api.core.v1.Secret",
     {"metadata": {"name": "s"}, "data": {"k": "c2VjcmV0"}, "stringData": {"t": "x"}}),
    ("/api/v1/namespaces/default/serviceaccounts", "io.k8s.api.core.v1.ServiceAccount", {"metadata": {"name": "sa"}}),
    ("/api/v1/nodes", "io.k8s.api.core.v1.Node", {"metadata": {"name": "n"}, "spec": {"podCIDR": "10.0.0.0/24"}}),
    ("/api/v1/namespaces/default/events", "io.k8s.api.core.v1.Event",
     {"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "R", "type": "Normal",
      "eventTime": "2026-01-02T03:04:05.123456Z", "reportingComponent": "c", "reportingInstance": "i",
      "action": "A"}),
    ("/apis/events.k8s.io/v1/namespaces/default/events", "io.k8s.api.events.v1.Event",
     {"metadata": {"name": "e2"}, "eventTime": "2026-01-02T03:04:05.654321Z", "reportingController": "c",
      "reportingInstance": "i", "action": "A", "reason": "R", "type": "Normal", "regarding": {"kind": "Pod"}}),
    ("/apis/coordination.k8s.io/v1/namespaces/default/leases", "io.k8s.api.coordination.v1.Lease",
     {"metadata": {"name": "l"}, "spec": {"holderIdentity": "h", "leaseDurationSeconds": 15,
                                          "acquireTime": "2026-01-02T03:04:05.000001Z"}}),
    ("/apis/apps/v1/namespaces/default/deployments", "io.k8s.api.apps.v1.Deployment",
     {"metadata": {"name": "d"}, "spec": {"selector": SELECTOR, "template": POD_TEMPLATE}}),
    ("/apis/apps/v1/namespaces/default/statefulsets", "io.k8s.api.apps.v1.StatefulSet",
     {"metadata": {"name": "ss"}, "spec": {"selector": SELECTOR, "template": POD_TEMPLATE, "serviceName": "s"}}),
    ("/apis/apps/v1/namespaces/default/daemonsets", "io.k8s.api.apps.v1.DaemonSet",
     {"metadata": {"name": "ds"}, "spec": {"selector": SELECTOR, "template": POD_TEMPLATE}}),
    ("/apis/apps/v1/namespaces/default/replicasets", "io.k8s.api.apps.v1.ReplicaSet",
     {"metadata": {"name": "rs"}, "spec": {"selector": SELECTOR, "template": POD_TEMPLATE}}),
]


def _fetch(server: KubeAPIServer, path: str, accept: str = "application/json", body: Obj | None = None) -> bytes:
    request = server.request(path, "POST" if body else "GET", json.dumps(body).encode() if body else None)
    request.add_header("Accept", accept)
    with urllib.request.urlopen(request, timeout=15, context=server.ssl_context()) as response:
        data: bytes = response.read()
    return data


@pytest.mark.parametrize(("path", "name", "body"), UPSTREAM_OBJECTS, ids=[o[1].rsplit(".", 1)[1] for o in
                                                                          UPSTREAM_OBJECTS])
def test_data_encodes_issue_12_kinds_as_kube_apiserver(kube_apiserver: KubeAPIServer, path: str, name: str,
                                                        body: Obj) -> None:
    """ConfigMap and Secret bytes, MicroTimes, a Node, workloads with a Pod template: the generated schemas write
    kube-apiserver's JSON of each as the very bytes of its protobuf, and read those bytes back to that JSON."""
    item = f"{path}/{body['metadata']['name']}"
    try:
        _fetch(kube_apiserver, item)
    except urllib.error.HTTPError:
        _fetch(kube_apiserver, path, body=body)
    stored = json.loads(_fetch(kube_apiserver, item))
    wire = _fetch(kube_apiserver, item, accept=envelope.MEDIA_TYPE)
    codec = message(upstream.definition(name))
    assert envelope.unknown(stored["apiVersion"], stored["kind"], codec.encode(stored)) == wire
    decoded = codec.decode(codec.encode(stored))
    assert {**decoded, "apiVersion": stored["apiVersion"], "kind": stored["kind"]} == stored
