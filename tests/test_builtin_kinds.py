"""The built-in kinds controllers use, through real clients (the official client, kubectl 1.32) on the embedded
store and on etcd: ConfigMap, Secret, ServiceAccount, Event in both APIs with the event TTL, Lease, Node with its
status, and the apps/v1 workloads with status and scale."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from apiserver.config import Config
from apiserver.testing import run_server
from tests.conftest import Kubectl

NS = "default"
TEMPLATE = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}


def _status(err: ApiException) -> tuple[int, str]:
    body = json.loads(err.body)
    return err.status, body["message"]


def test_configmaps_secrets_serviceaccounts(kube_client: object, apiserver_storage: str) -> None:
    core = client.CoreV1Api(kube_client)
    core.create_namespaced_config_map(NS, {"metadata": {"name": "cfg"}, "data": {"a": "1"}, "immutable": True})
    assert core.read_namespaced_config_map("cfg", NS).data == {"a": "1"}
    with pytest.raises(ApiException) as refused:
        core.patch_namespaced_config_map("cfg", NS, {"data": {"a": "2"}})
    assert _status(refused.value) == (422, 'ConfigMap "cfg" is invalid: data: Forbidden: field is immutable when '
                                           "`immutable` is set")
    core.create_namespaced_secret(NS, {"metadata": {"name": "s"}, "data": {"a": "YQ=="},
                                       "stringData": {"a": "over", "b": "bee"}})
    secret = core.read_namespaced_secret("s", NS)
    assert secret.type == "Opaque" and secret.string_data is None
    assert {k: base64.b64decode(v).decode() for k, v in secret.data.items()} == {"a": "over", "b": "bee"}
    with pytest.raises(ApiException) as tls:
        core.create_namespaced_secret(NS, {"metadata": {"name": "t"}, "type": "kubernetes.io/tls"})
    assert _status(tls.value) == (422, 'Secret "t" is invalid: [data[tls.crt]: Required value, data[tls.key]: '
                                       "Required value]")
    core.create_namespaced_service_account(NS, {"metadata": {"name": "robot"}, "secrets": [{"name": "s"}]})
    assert [a.metadata.name for a in core.list_namespaced_service_account(NS).items] == ["robot"]


def test_events_in_both_apis(kube_client: object, apiserver_storage: str) -> None:
    """One stored Event, two APIs: written through either, read, listed, watched and deleted through the other."""
    core, events = client.CoreV1Api(kube_client), client.EventsV1Api(kube_client)
    stream = watch.Watch().stream(events.list_namespaced_event, NS, timeout_seconds=5)
    # (the official client reads events.k8s.io Events only with an eventTime, which old-style Events lack)
    core.create_namespaced_event(NS, {"metadata": {"name": "old"}, "involvedObject": {"kind": "Pod", "name": "p",
                                      "namespace": NS}, "reason": "Started", "message": "hi", "type": "Normal",
                                      "source": {"component": "kubelet"}, "count": 2, "action": "Start",
                                      "eventTime": "2024-01-01T00:00:00.000000Z", "reportingComponent": "kubelet",
                                      "reportingInstance": "n1"})
    seen = next(stream)
    assert seen["type"] == "ADDED" and seen["object"].note == "hi" and seen["object"].deprecated_count == 2
    assert seen["object"].regarding.name == "p" and seen["object"].deprecated_source.component == "kubelet"
    events.create_namespaced_event(NS, {"metadata": {"name": "new"}, "regarding": {"kind": "Pod", "name": "p",
                                        "namespace": NS}, "reason": "Pulled", "note": "done", "type": "Normal",
                                        "action": "Pull", "reportingController": "example.com/c",
                                        "reportingInstance": "c-1", "eventTime": "2024-01-01T00:00:00.000000Z"})
    stored = core.read_namespaced_event("new", NS)
    assert (stored.message, stored.reporting_component, stored.involved_object.name) == ("done", "example.com/c", "p")
    assert sorted(e.metadata.name for e in events.list_namespaced_event(NS).items) == ["new", "old"]
    with pytest.raises(ApiException) as invalid:
        events.create_namespaced_event(NS, {"metadata": {"name": "bad"}, "eventTime": "2024-01-01T00:00:00.000000Z",
                                            "regarding": {"namespace": NS}, "type": "Normal"})
    assert _status(invalid.value)[1].startswith('Event "bad" is invalid: [reportingController: Required value')
    events.delete_namespaced_event("old", NS)
    assert [e.metadata.name for e in core.list_namespaced_event(NS).items] == ["new"]
    stream.close()


def test_nodes_and_their_status(kube_client: object, apiserver_storage: str, kubectl: Kubectl) -> None:
    """A Node as kube-proxy and the kubelet write it: zone labels, the not-ready taint added on create, status
    only through /status, kubectl's columns."""
    core = client.CoreV1Api(kube_client)
    node = core.create_node({"metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "z1",
                                                                   "node-role.kubernetes.io/worker": ""}},
                             "spec": {"podCIDR": "10.1.0.0/24"}, "status": {"capacity": {"cpu": "2"}}})
    assert node.spec.pod_cidrs == ["10.1.0.0/24"] and node.status.allocatable == {"cpu": "2"}
    assert [(t.key, t.effect) for t in node.spec.taints] == [("node.kubernetes.io/not-ready", "NoSchedule")]
    core.patch_node_status("n1", {"status": {"conditions": [{"type": "Ready", "status": "True"}],
                                             "nodeInfo": {"kubeletVersion": "v1.32.0"},
                                             "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}]}})
    core.patch_node("n1", {"spec": {"unschedulable": True}, "status": {"addresses": []}})
    assert core.read_node("n1").status.addresses[0].address == "10.0.0.5"
    out = kubectl("get", "nodes", "-o", "wide").stdout.split("\n")
    assert out[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE",
                              "KERNEL-VERSION", "CONTAINER-RUNTIME"]
    assert out[1].split()[:3] == ["n1", "Ready,SchedulingDisabled", "worker"]
    assert out[1].split()[4:7] == ["v1.32.0", "10.0.0.5", "<none>"]
    assert kubectl("get", "nodes", "-l", "topology.kubernetes.io/zone=z1", "-o", "name").stdout == "node/n1\n"


def test_workloads_status_and_scale(kube_client: object, apiserver_storage: str, kubectl: Kubectl) -> None:
    apps = client.AppsV1Api(kube_client)
    created = apps.create_namespaced_deployment(NS, {"metadata": {"name": "web"}, "spec": {
        "replicas": 2, "selector": {"matchLabels": {"app": "a"}}, "template": TEMPLATE}})
    assert (created.spec.strategy.rolling_update.max_surge, created.spec.revision_history_limit) == ("25%", 10)
    assert created.metadata.generation == 1
    scale = apps.read_namespaced_deployment_scale("web", NS)
    assert (scale.spec.replicas, scale.status.selector) == (2, "app=a")
    apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 4}})
    kubectl("scale", "deployment/web", "--replicas=5")
    deployment = apps.read_namespaced_deployment("web", NS)
    assert (deployment.spec.replicas, deployment.metadata.generation) == (5, 3)
    apps.patch_namespaced_deployment_status("web", NS, {"status": {"replicas": 5, "readyReplicas": 3,
                                                                   "updatedReplicas": 5, "availableReplicas": 3}})
    with pytest.raises(ApiException) as negative:
        apps.replace_namespaced_deployment_scale("web", NS, {"metadata": {"name": "web"}, "spec": {"replicas": -1}})
    assert _status(negative.value) == (422, 'Scale.autoscaling "web" is invalid: spec.replicas: Invalid value: -1: '
                                            "must be greater than or equal to 0")
    out = kubectl("get", "deployments", "-o", "wide").stdout.split("\n")
    assert out[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert out[1].split()[:4] == ["web", "3/5", "5", "3"] and out[1].split()[5:] == ["c", "nginx:1.27", "app=a"]
    apps.create_namespaced_stateful_set(NS, {"metadata": {"name": "db"}, "spec": {
        "serviceName": "db", "selector": {"matchLabels": {"app": "a"}}, "template": TEMPLATE}})
    kubectl("scale", "statefulset/db", "--replicas=3")
    assert apps.read_namespaced_stateful_set_scale("db", NS).spec.replicas == 3
    apps.create_namespaced_replica_set(NS, {"metadata": {"name": "rs"}, "spec": {
        "selector": {"matchLabels": {"app": "a"}}, "template": TEMPLATE}})
    apps.create_namespaced_daemon_set(NS, {"metadata": {"name": "ds"}, "spec": {
        "selector": {"matchLabels": {"app": "a"}}, "template": TEMPLATE}})
    assert kubectl("get", "all", "-o", "name").stdout.split() == [
        "service/kubernetes", "daemonset.apps/ds", "deployment.apps/web", "replicaset.apps/rs", "statefulset.apps/db"]
    with pytest.raises(ApiException) as mismatch:
        apps.create_namespaced_replica_set(NS, {"metadata": {"name": "x"}, "spec": {
            "selector": {"matchLabels": {"app": "b"}}, "template": TEMPLATE}})
    assert _status(mismatch.value)[1] == ('ReplicaSet.apps "x" is invalid: spec.template.metadata.labels: Invalid '
                                          'value: map[string]string{"app":"a"}: `selector` does not match template '
                                          "`labels`")


def test_leases_for_leader_election(kube_client: object, apiserver_storage: str, kubectl: Kubectl) -> None:
    """A Lease as client-go's leader election writes it: a PUT that creates, then renewals guarded by
    resourceVersion."""
    coordination = client.CoordinationV1Api(kube_client)
    body = {"metadata": {"name": "leader"}, "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15,
                                                     "acquireTime": "2024-01-01T00:00:00.000000Z"}}
    lease = coordination.replace_namespaced_lease("leader", NS, body)
    lease.spec.renew_time = "2024-01-01T00:00:10.000000Z"
    renewed = coordination.replace_namespaced_lease("leader", NS, lease)
    with pytest.raises(ApiException) as stale:
        coordination.replace_namespaced_lease("leader", NS, lease)
    assert stale.value.status == 409
    assert renewed.spec.holder_identity == "a"
    assert kubectl("get", "leases").stdout.split("\n")[1].split()[:2] == ["leader", "a"]


def test_discovery_of_the_builtin_kinds(kubectl: Kubectl) -> None:
    out = kubectl("api-resources", "--no-headers").stdout
    for line in ("configmaps  cm  v1  true  ConfigMap", "events  ev  events.k8s.io/v1  true  Event",
                 "leases    coordination.k8s.io/v1  true  Lease", "deployments  deploy  apps/v1  true  Deployment",
                 "nodes  no  v1  false  Node"):
        assert line.split() in [row.split() for row in out.splitlines()], line


def test_service_account_tokens_authenticate(tmp_path: Path) -> None:
    """A TokenRequest's token is the service account's identity (RBAC applies to it), until the account goes."""
    with run_server(Config(compaction_interval=0, secure=True, authorization_mode="RBAC"), tmp_path) as server:
        with server.api_client() as admin:
            core = client.CoreV1Api(admin)
            core.create_namespaced_service_account(NS, {"metadata": {"name": "robot"}})
            answer = core.create_namespaced_service_account_token("robot", NS, {"spec": {}})
            assert answer.spec.audiences == [server.url] and answer.spec.expiration_seconds == 3600
            client.RbacAuthorizationV1Api(admin).create_namespaced_role_binding(NS, {
                "metadata": {"name": "robot-view"}, "roleRef": {"apiGroup": "rbac.authorization.k8s.io",
                                                                 "kind": "ClusterRole", "name": "view"},
                "subjects": [{"kind": "ServiceAccount", "name": "robot", "namespace": NS}]})
        configuration = client.Configuration()
        configuration.host, configuration.ssl_ca_cert = server.url, str(tmp_path / "certs" / "ca.crt")
        configuration.api_key = {"authorization": "Bearer " + answer.status.token}
        with client.ApiClient(configuration) as robot:
            review = client.AuthenticationV1Api(robot).create_self_subject_review(client.V1SelfSubjectReview())
            assert review.status.user_info.username == f"system:serviceaccount:{NS}:robot"
            assert review.status.user_info.groups == ["system:serviceaccounts", f"system:serviceaccounts:{NS}",
                                                      "system:authenticated"]
            assert client.CoreV1Api(robot).list_namespaced_config_map(NS).items == []
            with pytest.raises(ApiException) as forbidden:
                client.CoreV1Api(robot).create_namespaced_config_map(NS, {"metadata": {"name": "x"}})
            assert forbidden.value.status == 403
            with server.api_client() as admin:
                client.CoreV1Api(admin).delete_namespaced_service_account("robot", NS)
            for _ in range(50):  # once the watch cache has seen the deletion
                try:
                    client.CoreV1Api(robot).list_namespaced_config_map(NS)
                except ApiException as err:
                    assert err.status == 401
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("the token of a deleted service account still authenticates")


def test_endpoint_zones_come_from_the_nodes(tmp_path: Path) -> None:
    """The EndpointSlice controller gives each endpoint its pod's Node's zone (topology.kubernetes.io/zone), as
    kube-proxy's topology-aware routing reads it."""
    with run_server(Config(compaction_interval=0, controllers=("endpointslice",)), tmp_path) as server:
        with server.api_client() as api:
            core, discovery = client.CoreV1Api(api), client.DiscoveryV1Api(api)
            core.create_node({"metadata": {"name": "n-a", "labels": {"topology.kubernetes.io/zone": "zone-a"}}})
            core.create_namespaced_pod(NS, {"metadata": {"name": "p", "labels": {"app": "a"}}, "spec": {
                "nodeName": "n-a", "containers": [{"name": "c", "image": "nginx"}]}})
            core.patch_namespaced_pod_status("p", NS, {"status": {"podIP": "10.0.0.7", "podIPs": [{"ip": "10.0.0.7"}],
                                                                  "conditions": [{"type": "Ready", "status": "True"}]}})
            core.create_namespaced_service(NS, {"metadata": {"name": "web"}, "spec": {
                "selector": {"app": "a"}, "ports": [{"port": 80}]}})
            for _ in range(200):
                slices = discovery.list_namespaced_endpoint_slice(NS, label_selector="kubernetes.io/service-name=web")
                endpoints = [e for s in slices.items for e in s.endpoints or ()]
                if endpoints:
                    break
                time.sleep(0.05)
            assert [(e.addresses, e.node_name, e.zone) for e in endpoints] == [(["10.0.0.7"], "n-a", "zone-a")]
