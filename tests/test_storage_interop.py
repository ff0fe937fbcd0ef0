"""Storage shared with the real kube-apiserver: ours and kube-apiserver v1.32 on one etcd (3.5.16) and one prefix.

Each kind written by either server is read, listed and watched by the other as the writer shows it, since both
store objects under the same keys in the same form (protobuf by default, as kube-apiserver's etcd3 store writes
them; JSON when asked); Services created through both share one cluster IP and one node port bitmap (the
RangeAllocation records). Skipped until scripts/build-kube-apiserver has built the binaries.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from apiserver.codec import JSON
from apiserver.config import Config
from apiserver.protobuf.envelope import PREFIX
from apiserver.testing import run_server
from conformance.kube_apiserver import KubeAPIServer, kube_apiserver_binary, kube_etcd_binary
from storage import KeyValue, open_storage
from storage.etcd_process import EtcdProcess

pytestmark = pytest.mark.skipif(kube_apiserver_binary() is None or kube_etcd_binary() is None,
                                reason="kube-apiserver is not built: run scripts/build-kube-apiserver")

NAMESPACE = "interop"
IP_RANGE, PORT_RANGE = "10.0.0.0/28", "30000-30009"  # small, so that both servers fill them together
Obj = dict[str, Any]


@dataclass
class Server:
    """One API server as a plain HTTP client sees it."""

    name: str
    url: str
    headers: dict[str, str]
    context: ssl.SSLContext | None = None

    def open(self, method: str, path: str, body: Obj | None = None, timeout: float = 10) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        headers = {**self.headers, "Content-Type": "application/json"} if body is not None else self.headers
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        return urllib.request.urlopen(request, timeout=timeout, context=self.context)

    def call(self, method: str, path: str, body: Obj | None = None) -> tuple[int, Obj]:
        try:
            with self.open(method, path, body) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def ok(self, method: str, path: str, body: Obj | None = None) -> Obj:
        status, obj = self.call(method, path, body)
        assert status in (200, 201), (self.name, method, path, status, obj)
        return obj

    def watch(self, path: str, rv: str, name: str, until: str) -> list[tuple[str, Obj]]:
        """The events of object `name` on a watch of `path` from `rv`, up to DELETED or resourceVersion `until`."""
        events = []
        with self.open("GET", f"{path}?watch=1&resourceVersion={rv}&timeoutSeconds=20") as response:
            for line in response:
                event = json.loads(line)
                if event["object"]["metadata"].get("name") == name:
                    events.append((event["type"], event["object"]))
                    if event["type"] == "DELETED" or event["object"]["metadata"]["resourceVersion"] == until:
                        return events
        raise AssertionError(f"{self.name}: the watch of {path} ended after {events}")


@dataclass
class Cluster:
    etcd: EtcdProcess
    servers: dict[str, Server]

    def raw(self, key: str) -> KeyValue | None:
        """The kv of `key` in etcd (`/registry/...`)."""
        async def get() -> KeyValue | None:
            store = open_storage(self.etcd.storage_url("/registry"))
            try:
                return (await store.get(key))[1]
            finally:
                await store.close()
        return asyncio.run(get())


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with EtcdProcess(binary=kube_etcd_binary()) as etcd:
        ranges = ("--service-cluster-ip-range", IP_RANGE, "--service-node-port-range", PORT_RANGE)
        with KubeAPIServer(etcd=etcd, etcd_prefix="/registry", extra_args=ranges) as kube:
            config = Config(storage=etcd.storage_url("/registry"), compaction_interval=0,  # alone, as kube-apiserver:
                            service_cluster_ip_range=IP_RANGE, service_node_port_range=PORT_RANGE,  # no controllers
                            garbage_collector=False, namespace_controller=False)
            with run_server(config) as ours:
                servers = {"kube": Server("kube-apiserver", kube.url, kube.headers, kube.ssl_context()),
                           "ours": Server("ours", ours.url, {})}
                servers["kube"].ok("POST", "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
                yield Cluster(etcd, servers)


def namespace(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def service(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}


def endpoints(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name},
            "subsets": [{"addresses": [{"ip": "10.1.0.1", "nodeName": "n1"}], "notReadyAddresses": [{"ip": "10.1.0.2"}],
                         "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]}


def endpoint_slice(name: str) -> Obj:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": name, "labels": {"kubernetes.io/service-name": "web"}},
            "endpoints": [{"addresses": ["10.1.0.1"], "conditions": {"ready": True, "serving": True},
                           "nodeName": "n1", "zone": "z1", "hints": {"forZones": [{"name": "z1"}]},
                           "targetRef": {"kind": "Pod", "namespace": NAMESPACE, "name": "p1", "uid": "u1"}}],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP", "appProtocol": "http"}]}


def pod(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}],
                                     "env": [{"name": "A", "value": "1"}]}]}}


TEMPLATE = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
SELECTED = {"selector": {"matchLabels": {"app": "a"}}, "template": TEMPLATE}
# the built-in kinds controllers use: (path under the namespace or /api/v1, key prefix, body without metadata)
BUILT_IN: dict[str, tuple[str, str, Obj]] = {
    "configmaps": ("/api/v1/namespaces/interop/configmaps", "/registry/configmaps/interop/",
                   {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1"}, "binaryData": {"b": "AAE="}}),
    "secrets": ("/api/v1/namespaces/interop/secrets", "/registry/secrets/interop/",
                {"apiVersion": "v1", "kind": "Secret", "stringData": {"a": "1"}, "type": "Opaque"}),
    "serviceaccounts": ("/api/v1/namespaces/interop/serviceaccounts", "/registry/serviceaccounts/interop/",
                        {"apiVersion": "v1", "kind": "ServiceAccount", "secrets": [{"name": "s"}]}),
    "events": ("/api/v1/namespaces/interop/events", "/registry/events/interop/",
               {"apiVersion": "v1", "kind": "Event", "involvedObject": {"kind": "Pod", "name": "p",
                                                                       "namespace": NAMESPACE},
                "reason": "Started", "message": "hi", "type": "Normal", "count": 2}),
    "eventsv1": ("/apis/events.k8s.io/v1/namespaces/interop/events", "/registry/events/interop/",
                 {"apiVersion": "events.k8s.io/v1", "kind": "Event", "regarding": {"namespace": NAMESPACE},
                  "eventTime": "2024-01-01T00:00:00.000000Z", "reason": "R", "action": "A", "type": "Normal",
                  "reportingController": "example.com/c", "reportingInstance": "c-1", "note": "n"}),
    "nodes": ("/api/v1/nodes", "/registry/minions/",
              {"apiVersion": "v1", "kind": "Node", "spec": {"podCIDR": "10.2.0.0/24"},
               "status": {"capacity": {"cpu": "2"}, "addresses": [{"type": "InternalIP", "address": "10.0.0.9"}]}}),
    "leases": ("/apis/coordination.k8s.io/v1/namespaces/interop/leases", "/registry/leases/interop/",
               {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15,
                         "renewTime": "2024-01-01T00:00:00.000000Z"}}),
    "deployments": ("/apis/apps/v1/namespaces/interop/deployments", "/registry/deployments/interop/",
                    {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 2, **SELECTED}}),
    "replicasets": ("/apis/apps/v1/namespaces/interop/replicasets", "/registry/replicasets/interop/",
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "spec": SELECTED}),
    "statefulsets": ("/apis/apps/v1/namespaces/interop/statefulsets", "/registry/statefulsets/interop/",
                     {"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": {
                         "serviceName": "s", **SELECTED, "volumeClaimTemplates": [{"metadata": {"name": "d"}, "spec": {
                             "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}),
    "daemonsets": ("/apis/apps/v1/namespaces/interop/daemonsets", "/registry/daemonsets/interop/",
                   {"apiVersion": "apps/v1", "kind": "DaemonSet", "spec": SELECTED}),
}
KIND_PATHS = {"namespaces": "/api/v1/namespaces", "services": f"/api/v1/namespaces/{NAMESPACE}/services",
              "endpoints": f"/api/v1/namespaces/{NAMESPACE}/endpoints",
              "endpointslices": f"/apis/discovery.k8s.io/v1/namespaces/{NAMESPACE}/endpointslices",
              "pods": f"/api/v1/namespaces/{NAMESPACE}/pods"}
BODIES = {"namespaces": namespace, "services": service, "endpoints": endpoints, "endpointslices": endpoint_slice,
          "pods": pod}
KEYS = {"namespaces": "/registry/namespaces/{name}", "services": "/registry/services/specs/interop/{name}",
        "endpoints": "/registry/services/endpoints/interop/{name}",
        "endpointslices": "/registry/endpointslices/interop/{name}", "pods": "/registry/pods/interop/{name}"}
KIND_PATHS.update({plural: path for plural, (path, _, _) in BUILT_IN.items()})
BODIES.update({plural: (lambda name, body=body: {**body, "metadata": {"name": name}})
               for plural, (_, _, body) in BUILT_IN.items()})
KEYS.update({plural: prefix + "{name}" for plural, (_, prefix, _) in BUILT_IN.items()})
CASES = [pytest.param(plural, writer, id=f"{plural}-by-{writer}")
         for plural in ("namespaces", "services", "endpoints", "endpointslices", "pods", *BUILT_IN)
         for writer in ("ours", "kube")]


@pytest.mark.parametrize(("plural", "writer"), CASES)
def test_an_object_written_by_one_is_read_listed_and_watched_by_the_other(cluster: Cluster, plural: str,
                                                                         writer: str) -> None:
    """Create, update and delete through `writer`; the other server's get, list and watch show each state
    exactly as the writer does, with the same resourceVersions (the mod revisions of one etcd)."""
    w, r = cluster.servers[writer], cluster.servers["kube" if writer == "ours" else "ours"]
    path, name = KIND_PATHS[plural], f"{plural[:8]}-by-{writer}"
    rv0 = r.ok("GET", path)["metadata"]["resourceVersion"]

    created = w.ok("POST", path, BODIES[plural](name))
    kv = cluster.raw(KEYS[plural].format(name=name))
    assert kv is not None and str(kv.mod_revision) == created["metadata"]["resourceVersion"]
    if writer == "ours" and plural != "pods":  # protobuf, as kube-apiserver stores it (Pods: JSON for now)
        assert kv.value.startswith(PREFIX)
    assert r.ok("GET", f"{path}/{name}") == w.ok("GET", f"{path}/{name}") == created
    item = {k: v for k, v in created.items() if k not in ("apiVersion", "kind")}  # items carry no type
    assert [i for i in r.ok("GET", path)["items"] if i["metadata"]["name"] == name] == [item]

    changed = w.ok("GET", f"{path}/{name}")
    changed["metadata"]["labels"] = {**changed["metadata"].get("labels", {}), "changed": "yes"}
    updated = w.ok("PUT", f"{path}/{name}", changed)
    assert r.ok("GET", f"{path}/{name}") == updated

    w.ok("DELETE", f"{path}/{name}")
    gone = w.call("GET", f"{path}/{name}")
    deleted = gone[0] == 404  # else a namespace stays Terminating (kube-apiserver runs no namespace controller)
    events = r.watch(path, rv0, name, "" if deleted else gone[1]["metadata"]["resourceVersion"])
    assert [(t, o["metadata"]["resourceVersion"]) for t, o in events][:2] == [
        ("ADDED", created["metadata"]["resourceVersion"]), ("MODIFIED", updated["metadata"]["resourceVersion"])]
    assert events[0][1] == created and events[1][1] == updated
    if deleted:
        assert events[-1][0] == "DELETED" and r.call("GET", f"{path}/{name}")[0] == 404
    else:
        assert events[-1][1] == gone[1] == r.ok("GET", f"{path}/{name}")


def test_json_media_type_is_read_by_kube_apiserver(cluster: Cluster) -> None:
    """--storage-media-type application/json writes JSON, which kube-apiserver reads as it reads protobuf."""
    kube = cluster.servers["kube"]
    config = Config(storage=cluster.etcd.storage_url("/registry"), compaction_interval=0, storage_media_type=JSON,
                    service_cluster_ip_range=IP_RANGE, service_node_port_range=PORT_RANGE)
    with run_server(config) as ours_json:
        ours = Server("ours (JSON)", ours_json.url, {})
        path = KIND_PATHS["endpointslices"]
        created = ours.ok("POST", path, endpoint_slice("json-slice"))
        kv = cluster.raw(KEYS["endpointslices"].format(name="json-slice"))
        assert kv is not None and kv.value.startswith(b"{")
        assert kube.ok("GET", f"{path}/json-slice") == created
        ours.ok("DELETE", f"{path}/json-slice")


def node_port_service(name: str, **spec: Any) -> Obj:
    body = service(name)
    body["spec"] |= {"type": "NodePort", **spec}
    return body


def test_services_of_both_servers_share_cluster_ips_and_node_ports(cluster: Cluster) -> None:
    """Both servers allocate from the same RangeAllocation bitmaps: filling the node port range through both
    hands out every port once (and distinct cluster IPs); then neither has one left, and an IP or port the
    other server holds is refused by name."""
    path = KIND_PATHS["services"]
    servers = [cluster.servers["ours"], cluster.servers["kube"]]
    made = [servers[i % 2].ok("POST", path, node_port_service(f"fill-{i}")) for i in range(10)]
    ports = [s["spec"]["ports"][0]["nodePort"] for s in made]
    ips = [s["spec"]["clusterIP"] for s in made]
    assert sorted(ports) == list(range(30000, 30010))
    assert len(set(ips)) == len(ips)
    for server in servers:
        status, body = server.call("POST", path, node_port_service("one-more"))
        assert status != 201 and "range is full" in body["message"], (server.name, body)
    for server, other in ((servers[0], made[1]), (servers[1], made[0])):
        status, body = server.call("POST", path, node_port_service(
            "taken-port", ports=[{"port": 80, "nodePort": other["spec"]["ports"][0]["nodePort"]}]))
        assert status == 422 and "provided port is already allocated" in body["message"], (server.name, body)
        status, body = server.call("POST", path, {**service("taken-ip"), "spec": {
            **service("taken-ip")["spec"], "clusterIP": other["spec"]["clusterIP"]}})
        assert status == 422 and "provided IP is already allocated" in body["message"], (server.name, body)
    for i in range(10):
        servers[i % 2].ok("DELETE", f"{path}/fill-{i}")
    assert servers[0].ok("POST", path, node_port_service("after", ports=[{"port": 80, "nodePort": ports[1]}]))
    servers[0].ok("DELETE", f"{path}/after")
