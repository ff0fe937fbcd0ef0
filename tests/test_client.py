"""The official `kubernetes` Python client against the server: CRUD, lists, concurrency, deletion."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

NS = "default"


# Helpers


@pytest.fixture
def discovery(kube_client: Any) -> Any:
    return client.DiscoveryV1Api(kube_client)


@pytest.fixture
def core(kube_client: Any) -> Any:
    return client.CoreV1Api(kube_client)


def slice_body(name: str = "", labels: dict[str, str] | None = None, ips: tuple[str, ...] = ("10.0.0.1",),
               generate_name: str = "", finalizers: list[str] | None = None) -> dict[str, Any]:
    """A plain EndpointSlice body (dicts are sent as-is by the client)."""
    meta: dict[str, Any] = {"labels": labels or {"kubernetes.io/service-name": "web"}}
    if name:
        meta["name"] = name
    if generate_name:
        meta["generateName"] = generate_name
    if finalizers:
        meta["finalizers"] = finalizers
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": meta, "addressType": "IPv4",
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips],
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
    }


def pod_body(name: str, node: str = "", labels: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "nginx"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def status_of(err: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(err.value.body or "{}")
    return body


def raw(response: Any) -> dict[str, Any]:
    """The JSON body of a call made with `_preload_content=False`, exactly as the server sent it."""
    body: dict[str, Any] = json.loads(response.data)
    return body


def names(items: list[Any]) -> list[str]:
    return sorted(item.metadata.name for item in items)


# CRUD on every kind


def test_endpointslice_crud(discovery: Any) -> None:
    created = discovery.create_namespaced_endpoint_slice(NS, slice_body("web-1"))
    assert created.metadata.uid and created.metadata.resource_version and created.metadata.generation == 1
    assert created.metadata.namespace == NS
    assert created.ports[0].protocol == "TCP" and created.address_type == "IPv4"

    got = discovery.read_namespaced_endpoint_slice("web-1", NS)
    assert got.metadata.resource_version == created.metadata.resource_version
    assert got.endpoints[0].addresses == ["10.0.0.1"]

    got.endpoints[0].addresses = ["10.0.0.2"]
    replaced = discovery.replace_namespaced_endpoint_slice("web-1", NS, got)
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    assert replaced.endpoints[0].addresses == ["10.0.0.2"]
    assert replaced.metadata.uid == created.metadata.uid

    patched = discovery.patch_namespaced_endpoint_slice("web-1", NS, {"metadata": {"labels": {"extra": "yes"}}})
    assert patched.metadata.labels["extra"] == "yes"
    assert patched.metadata.labels["kubernetes.io/service-name"] == "web"

    status = discovery.delete_namespaced_endpoint_slice("web-1", NS)
    assert status["kind"] == "Status" and status["status"] == "Success"
    assert status["details"] == {"name": "web-1", "group": "discovery.k8s.io", "kind": "endpointslices",
                                 "uid": created.metadata.uid}
    with pytest.raises(ApiException) as err:
        discovery.read_namespaced_endpoint_slice("web-1", NS)
    assert err.value.status == 404
    assert status_of(err)["reason"] == "NotFound"


def test_create_existing_is_409(discovery: Any) -> None:
    discovery.create_namespaced_endpoint_slice(NS, slice_body("web-1"))
    with pytest.raises(ApiException) as err:
        discovery.create_namespaced_endpoint_slice(NS, slice_body("web-1"))
    assert err.value.status == 409 and status_of(err)["reason"] == "AlreadyExists"


def test_endpoints_crud(core: Any) -> None:
    body = {"metadata": {"name": "web"},
            "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80, "name": "http"}]}]}
    created = core.create_namespaced_endpoints(NS, body)
    assert created.metadata.generation is None
    assert created.subsets[0].addresses[0].ip == "10.0.0.1"
    got = core.read_namespaced_endpoints("web", NS)
    got.subsets[0].addresses.append(client.V1EndpointAddress(ip="10.0.0.2"))
    replaced = core.replace_namespaced_endpoints("web", NS, got)
    assert sorted(a.ip for a in replaced.subsets[0].addresses) == ["10.0.0.1", "10.0.0.2"]
    core.delete_namespaced_endpoints("web", NS)
    assert core.list_namespaced_endpoints(NS).items == []


def test_endpoints_replace_creates(core: Any) -> None:
    body = {"metadata": {"name": "fresh"}, "subsets": [{"addresses": [{"ip": "10.0.0.9"}], "ports": [{"port": 81}]}]}
    _, code, _ = core.replace_namespaced_endpoints_with_http_info("fresh", NS, body)
    assert code == 201
    assert core.read_namespaced_endpoints("fresh", NS).subsets[0].addresses[0].ip == "10.0.0.9"
    _, code, _ = core.replace_namespaced_endpoints_with_http_info("fresh", NS, body)
    assert code == 200


def test_endpoints_subsets_are_stored_as_sent(core: Any) -> None:
    """1.32 does not repack subsets on write: order, duplicates and subsets with the same ports stay; empty lists
    are omitted."""
    ab = [{"name": "b", "port": 81}, {"name": "a", "port": 80}]
    body = {"metadata": {"name": "asis"}, "subsets": [
        {"addresses": [{"ip": "10.1.0.2"}, {"ip": "10.1.0.1"}, {"ip": "10.1.0.2"}],
         "notReadyAddresses": [{"ip": "10.1.0.1"}], "ports": ab},
        {"addresses": [{"ip": "10.1.0.0"}], "notReadyAddresses": [], "ports": ab[::-1]}]}
    created = raw(core.create_namespaced_endpoints(NS, body, _preload_content=False))
    tcp = [{**port, "protocol": "TCP"} for port in ab]
    assert created["subsets"] == [
        {"addresses": [{"ip": "10.1.0.2"}, {"ip": "10.1.0.1"}, {"ip": "10.1.0.2"}],
         "notReadyAddresses": [{"ip": "10.1.0.1"}], "ports": tcp},
        {"addresses": [{"ip": "10.1.0.0"}], "ports": tcp[::-1]}]


def test_endpointslice_replace_missing_is_404(discovery: Any) -> None:
    with pytest.raises(ApiException) as err:
        discovery.replace_namespaced_endpoint_slice("nope", NS, slice_body("nope"))
    assert err.value.status == 404


def test_service_crud_cluster_ip_and_status(core: Any) -> None:
    body = {"metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    created = core.create_namespaced_service(NS, body)
    ip = created.spec.cluster_ip
    assert ip and ip != "None" and created.spec.cluster_ips == [ip]
    assert created.spec.type == "ClusterIP"

    other = core.create_namespaced_service(NS, {"metadata": {"name": "other"}, "spec": {"ports": [{"port": 81}]}})
    assert other.spec.cluster_ip != ip

    got = core.read_namespaced_service("web", NS)
    got.spec.selector = {"app": "web2"}
    replaced = core.replace_namespaced_service("web", NS, got)
    assert replaced.spec.selector == {"app": "web2"} and replaced.spec.cluster_ip == ip

    # status through the main resource is ignored; through /status it sticks
    lb = {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}}
    main = core.patch_namespaced_service("web", NS, lb)
    assert not (main.status.load_balancer.ingress or [])
    status = core.patch_namespaced_service_status("web", NS, lb)
    assert status.status.load_balancer.ingress[0].ip == "192.0.2.1"
    assert core.read_namespaced_service_status("web", NS).status.load_balancer.ingress[0].ip == "192.0.2.1"
    core.delete_namespaced_service("web", NS)
    assert names(core.list_namespaced_service(NS).items) == ["kubernetes", "other"]  # the bootstrap's and ours


def test_pod_crud_and_status(core: Any) -> None:
    created = core.create_namespaced_pod(NS, pod_body("p1", node="node-a"))
    assert created.spec.node_name == "node-a"
    status = {"status": {"phase": "Running", "podIP": "10.244.0.5", "podIPs": [{"ip": "10.244.0.5"}],
                         "conditions": [{"type": "Ready", "status": "True"}]}}
    patched = core.patch_namespaced_pod_status("p1", NS, status)
    assert patched.status.pod_ip == "10.244.0.5" and patched.status.phase == "Running"
    assert [(c.type, c.status) for c in patched.status.conditions] == [("Ready", "True")]
    got = core.read_namespaced_pod("p1", NS)
    assert got.status.pod_ip == "10.244.0.5"
    assert int(got.metadata.resource_version) > int(created.metadata.resource_version)
    core.delete_namespaced_pod("p1", NS, grace_period_seconds=0)  # on a node: without 0 it waits for a kubelet
    assert core.list_namespaced_pod(NS).items == []


NOT_READY = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300}
UNREACHABLE = {**NOT_READY, "key": "node.kubernetes.io/unreachable"}


def test_pod_defaults_and_admission(core: Any) -> None:
    """What kube-apiserver v1.32 answers for this pod: decoding defaults, DefaultTolerationSeconds and Priority."""
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "d"}, "spec": {
        "hostNetwork": True, "serviceAccountName": "sa",
        "initContainers": [{"name": "i", "image": "busybox:1.36"}],
        "containers": [
            {"name": "c", "image": "nginx@sha256:" + "a" * 64, "ports": [{"containerPort": 80}],
             "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}, "readinessProbe": {"httpGet": {"port": 80}},
             "env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]},
            {"name": "d", "image": "localhost:5000/x:latest",
             "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "500m"}}}],
        "volumes": [{"name": "a"}, {"name": "b", "secret": {"secretName": "s"}},
                    {"name": "n", "nfs": {"server": "s", "path": "/"}}]}}
    created = raw(core.create_namespaced_pod(NS, body, _preload_content=False))
    container = {"resources": {}, "terminationMessagePath": "/dev/termination-log",
                 "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"}
    assert created["spec"] == {
        "volumes": [{"name": "a", "emptyDir": {}}, {"name": "b", "secret": {"secretName": "s", "defaultMode": 420}},
                    {"name": "n", "nfs": {"server": "s", "path": "/"}}],
        "initContainers": [{**container, "name": "i", "image": "busybox:1.36"}],
        "containers": [
            {**container, "name": "c", "image": "nginx@sha256:" + "a" * 64,
             "ports": [{"hostPort": 80, "containerPort": 80, "protocol": "TCP"}],
             "env": [{"name": "X", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
             "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}},
             "readinessProbe": {"httpGet": {"path": "/", "port": 80, "scheme": "HTTP"}, "timeoutSeconds": 1,
                                "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}},
            {**container, "name": "d", "image": "localhost:5000/x:latest", "imagePullPolicy": "Always",
             "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "500m"}}}],
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
        "serviceAccountName": "sa", "serviceAccount": "sa", "hostNetwork": True, "securityContext": {},
        "schedulerName": "default-scheduler", "tolerations": [NOT_READY, UNREACHABLE], "priority": 0,
        "enableServiceLinks": True, "preemptionPolicy": "PreemptLowerPriority"}
    assert created["status"] == {"phase": "Pending", "qosClass": "Burstable"}
    guaranteed = pod_body("g")
    guaranteed["spec"]["containers"][0]["resources"] = {"limits": {"cpu": "100m", "memory": "64Mi"}}
    assert core.create_namespaced_pod(NS, guaranteed).status.qos_class == "Guaranteed"


def test_pod_priority_admission(core: Any) -> None:
    """Priority: a built-in PriorityClass resolves, an unknown one or a priority of the client's is forbidden; a
    toleration of the client's that covers a taint keeps the default one out."""
    body = pod_body("crit")
    body["spec"].update(priorityClassName="system-node-critical",
                        tolerations=[{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}])
    spec = raw(core.create_namespaced_pod(NS, body, _preload_content=False))["spec"]
    assert (spec["priority"], spec["preemptionPolicy"]) == (2000001000, "PreemptLowerPriority")
    assert spec["tolerations"] == [{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}, UNREACHABLE]
    for extra, why in (({"priorityClassName": "nope"}, "no PriorityClass with name nope was found"),
                       ({"priority": 5}, ("the integer value of priority (5) must not be provided in pod spec; "
                                          "priority admission controller computed 0 from the given PriorityClass "
                                          "name"))):
        body = pod_body("pc")
        body["spec"].update(extra)
        with pytest.raises(ApiException) as err:
            core.create_namespaced_pod(NS, body)
        assert status_of(err)["message"] == f'pods "pc" is forbidden: {why}'
        assert (err.value.status, status_of(err)["details"]) == (403, {"name": "pc", "kind": "pods"})


def test_pod_put_of_the_body_as_sent(core: Any) -> None:
    """A PUT of the pod as first sent, with new labels and image, is defaulted and admitted like the create, so it
    changes only what it means to change."""
    body = pod_body("web", labels={"app": "web"})
    body["spec"]["containers"][0]["image"] = "nginx:1.27"
    created = core.create_namespaced_pod(NS, body)
    body = pod_body("web", labels={"app": "web", "v": "2"})
    body["metadata"]["resourceVersion"] = created.metadata.resource_version
    body["spec"]["containers"][0]["image"] = "nginx:1.28"
    replaced = raw(core.replace_namespaced_pod("web", NS, body, _preload_content=False))
    assert replaced["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert replaced["spec"]["tolerations"] == [NOT_READY, UNREACHABLE] and replaced["spec"]["priority"] == 0
    body["spec"]["containers"][0]["image"] = "nginx"  # the pull policy it defaults to (Always) may not change
    del body["metadata"]["resourceVersion"]
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_pod("web", NS, body)
    assert err.value.status == 422 and "pod updates may not change fields" in status_of(err)["message"]


def test_namespace_crud(core: Any) -> None:
    created = core.create_namespace({"metadata": {"name": "team-a", "labels": {"team": "a"}}})
    assert created.metadata.name == "team-a" and created.status.phase == "Active"
    assert "team-a" in names(core.list_namespace().items)
    assert names(core.list_namespace(label_selector="team=a").items) == ["team-a"]
    patched = core.patch_namespace("team-a", {"metadata": {"labels": {"team": "b"}}})
    assert patched.metadata.labels["team"] == "b"
    core.delete_namespace("team-a")  # answered Terminating; the namespace controller then removes it
    wait_gone(lambda: core.read_namespace("team-a"))


def wait_gone(read: Any, timeout: float = 10) -> None:
    """Until `read` raises 404."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            read()
        except ApiException as err:
            assert err.status == 404
            return
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_generate_name(discovery: Any) -> None:
    created = [discovery.create_namespaced_endpoint_slice(NS, slice_body(generate_name="web-")) for _ in range(3)]
    generated = [c.metadata.name for c in created]
    assert len(set(generated)) == 3
    for name in generated:
        assert name.startswith("web-") and len(name) == len("web-") + 5
        assert set(name[4:]) <= set("bcdfghjklmnpqrstvwxz2456789")


# Lists


@pytest.fixture
def labelled(discovery: Any) -> None:
    """Five slices with varied labels."""
    specs = {
        "a": {"app": "web", "tier": "front"},
        "b": {"app": "web", "tier": "back"},
        "c": {"app": "db", "tier": "back"},
        "d": {"app": "cache"},
        "e": {"env": "prod"},
    }
    for name, labels in specs.items():
        discovery.create_namespaced_endpoint_slice(NS, slice_body(name, labels))


@pytest.mark.parametrize(("selector", "expected"), [
    ("app=web", ["a", "b"]),
    ("app==web", ["a", "b"]),
    ("app!=web", ["c", "d", "e"]),
    ("app in (web,db)", ["a", "b", "c"]),
    ("app notin (web,db)", ["d", "e"]),
    ("tier", ["a", "b", "c"]),
    ("!tier", ["d", "e"]),
    ("app=web,tier=back", ["b"]),
    ("tier in (back),app!=web", ["c"]),
])
def test_label_selectors(discovery: Any, labelled: None, selector: str, expected: list[str]) -> None:
    assert names(discovery.list_namespaced_endpoint_slice(NS, label_selector=selector).items) == expected
    everywhere = discovery.list_endpoint_slice_for_all_namespaces(label_selector=selector)
    assert names(everywhere.items) == expected


def test_field_selectors(discovery: Any, core: Any, labelled: None) -> None:
    assert names(discovery.list_namespaced_endpoint_slice(NS, field_selector="metadata.name=c").items) == ["c"]
    assert names(discovery.list_namespaced_endpoint_slice(NS, field_selector="metadata.name!=c").items) == [
        "a", "b", "d", "e"]
    assert len(discovery.list_endpoint_slice_for_all_namespaces(field_selector="metadata.namespace=default").items) == 5
    assert discovery.list_endpoint_slice_for_all_namespaces(field_selector="metadata.namespace=other").items == []
    with pytest.raises(ApiException) as err:
        discovery.list_namespaced_endpoint_slice(NS, field_selector="spec.nodeName=x")
    assert err.value.status == 400
    assert '"spec.nodeName" is not a known field selector' in status_of(err)["message"]


def test_pod_field_selectors(core: Any) -> None:
    core.create_namespaced_pod(NS, pod_body("p1", node="node-a"))
    core.create_namespaced_pod(NS, pod_body("p2", node="node-b"))
    core.create_namespaced_pod(NS, pod_body("p3", node="node-a"))
    core.patch_namespaced_pod_status("p3", NS, {"status": {"phase": "Running"}})
    assert names(core.list_namespaced_pod(NS, field_selector="spec.nodeName=node-a").items) == ["p1", "p3"]
    assert names(core.list_pod_for_all_namespaces(field_selector="spec.nodeName=node-b").items) == ["p2"]
    assert names(core.list_namespaced_pod(NS, field_selector="status.phase=Running").items) == ["p3"]
    assert names(core.list_namespaced_pod(NS, field_selector="status.phase!=Running").items) == ["p1", "p2"]
    assert names(core.list_namespaced_pod(
        NS, field_selector="spec.nodeName=node-a,status.phase=Running").items) == ["p3"]


def test_cluster_wide_and_namespaced_lists(discovery: Any, core: Any) -> None:
    core.create_namespace({"metadata": {"name": "other"}})
    discovery.create_namespaced_endpoint_slice(NS, slice_body("x"))
    discovery.create_namespaced_endpoint_slice("other", slice_body("y"))
    discovery.create_namespaced_endpoint_slice("other", slice_body("z"))
    assert names(discovery.list_namespaced_endpoint_slice(NS).items) == ["x"]
    assert names(discovery.list_namespaced_endpoint_slice("other").items) == ["y", "z"]
    everything = discovery.list_endpoint_slice_for_all_namespaces()
    assert sorted((i.metadata.namespace, i.metadata.name) for i in everything.items) == [
        ("default", "x"), ("other", "y"), ("other", "z")]
    rv = int(everything.metadata.resource_version)
    assert all(int(i.metadata.resource_version) <= rv for i in everything.items)
    assert discovery.list_namespaced_endpoint_slice("empty-ns").items == []


@pytest.mark.parametrize("cluster_wide", [False, True])
def test_paging(discovery: Any, core: Any, cluster_wide: bool) -> None:
    core.create_namespace({"metadata": {"name": "other"}})
    for i in range(7):
        discovery.create_namespaced_endpoint_slice(NS, slice_body(f"s{i}"))
    discovery.create_namespaced_endpoint_slice("other", slice_body("t0"))

    def page(**kwargs: Any) -> Any:
        if cluster_wide:
            return discovery.list_endpoint_slice_for_all_namespaces(limit=3, **kwargs)
        return discovery.list_namespaced_endpoint_slice(NS, limit=3, **kwargs)

    total = 8 if cluster_wide else 7
    first = page()
    list_rv = first.metadata.resource_version
    assert len(first.items) == 3 and first.metadata._continue
    assert first.metadata.remaining_item_count == total - 3
    # a write between pages is not visible: the list stays at its revision
    discovery.create_namespaced_endpoint_slice(NS, slice_body("s99"))
    seen = [i.metadata.name for i in first.items]
    token = first.metadata._continue
    pages = 1
    while token:
        nxt = page(_continue=token)
        assert nxt.metadata.resource_version == list_rv
        seen += [i.metadata.name for i in nxt.items]
        token = nxt.metadata._continue
        if token:
            assert nxt.metadata.remaining_item_count == total - len(seen)
        else:
            assert nxt.metadata.remaining_item_count is None
        pages += 1
        assert pages <= 5
    assert len(seen) == total == len(set(seen)) and "s99" not in seen


def test_paging_with_selector_has_no_remaining_count(discovery: Any) -> None:
    for i in range(6):
        discovery.create_namespaced_endpoint_slice(NS, slice_body(f"s{i}", {"parity": str(i % 2)}))
    first = discovery.list_namespaced_endpoint_slice(NS, limit=2, label_selector="parity=0")
    assert [i.metadata.name for i in first.items] == ["s0", "s2"]
    assert first.metadata._continue and first.metadata.remaining_item_count is None
    rest = discovery.list_namespaced_endpoint_slice(NS, limit=2, label_selector="parity=0",
                                                    _continue=first.metadata._continue)
    assert [i.metadata.name for i in rest.items] == ["s4"]
    assert rest.metadata.resource_version == first.metadata.resource_version


def test_list_resource_versions(discovery: Any) -> None:
    first = discovery.create_namespaced_endpoint_slice(NS, slice_body("a"))
    listed = discovery.list_namespaced_endpoint_slice(NS)
    rv1 = listed.metadata.resource_version
    assert int(rv1) >= int(first.metadata.resource_version)
    discovery.create_namespaced_endpoint_slice(NS, slice_body("b"))
    discovery.create_namespaced_endpoint_slice(NS, slice_body("c"))

    # "0": any (cache) state; limit is ignored
    any_rv = discovery.list_namespaced_endpoint_slice(NS, resource_version="0", limit=1)
    assert names(any_rv.items) == ["a", "b", "c"] and not any_rv.metadata._continue

    # Exact at the earlier revision shows the state back then
    exact = discovery.list_namespaced_endpoint_slice(NS, resource_version=rv1, resource_version_match="Exact")
    assert names(exact.items) == ["a"] and exact.metadata.resource_version == rv1
    # RV=N with limit (no match) is exact too
    exact_paged = discovery.list_namespaced_endpoint_slice(NS, resource_version=rv1, limit=5)
    assert names(exact_paged.items) == ["a"]

    # NotOlderThan: at least as new as rv1
    newer = discovery.list_namespaced_endpoint_slice(NS, resource_version=rv1, resource_version_match="NotOlderThan")
    assert names(newer.items) == ["a", "b", "c"] and int(newer.metadata.resource_version) >= int(rv1)

    with pytest.raises(ApiException) as err:
        discovery.list_namespaced_endpoint_slice(NS, resource_version="0", resource_version_match="Exact")
    assert err.value.status == 422
    with pytest.raises(ApiException) as err:
        discovery.list_namespaced_endpoint_slice(NS, resource_version_match="NotOlderThan")
    assert err.value.status == 422


# Writes: concurrency, dry run, no-ops, generation


def test_optimistic_concurrency(discovery: Any) -> None:
    created = discovery.create_namespaced_endpoint_slice(NS, slice_body("web-1"))
    fresh = discovery.read_namespaced_endpoint_slice("web-1", NS)
    fresh.endpoints[0].addresses = ["10.0.0.7"]
    discovery.replace_namespaced_endpoint_slice("web-1", NS, fresh)

    stale = discovery.read_namespaced_endpoint_slice("web-1", NS)
    stale.metadata.resource_version = created.metadata.resource_version
    stale.endpoints[0].addresses = ["10.0.0.8"]
    with pytest.raises(ApiException) as err:
        discovery.replace_namespaced_endpoint_slice("web-1", NS, stale)
    assert err.value.status == 409
    status = status_of(err)
    assert status["reason"] == "Conflict" and "the object has been modified" in status["message"]

    # unconditional: no resourceVersion at all
    stale.metadata.resource_version = None
    replaced = discovery.replace_namespaced_endpoint_slice("web-1", NS, stale)
    assert replaced.endpoints[0].addresses == ["10.0.0.8"]


def test_dry_run_stores_nothing(discovery: Any) -> None:
    before = discovery.list_namespaced_endpoint_slice(NS).metadata.resource_version
    dry = discovery.create_namespaced_endpoint_slice(NS, slice_body("ghost"), dry_run="All")
    assert dry.metadata.name == "ghost" and dry.metadata.uid
    with pytest.raises(ApiException) as err:
        discovery.read_namespaced_endpoint_slice("ghost", NS)
    assert err.value.status == 404

    real = discovery.create_namespaced_endpoint_slice(NS, slice_body("real"))
    real.endpoints[0].addresses = ["10.9.9.9"]
    discovery.replace_namespaced_endpoint_slice("real", NS, real, dry_run="All")
    discovery.patch_namespaced_endpoint_slice("real", NS, {"metadata": {"labels": {"x": "y"}}}, dry_run="All")
    discovery.delete_namespaced_endpoint_slice("real", NS, dry_run="All")
    stored = discovery.read_namespaced_endpoint_slice("real", NS)
    assert stored.endpoints[0].addresses == ["10.0.0.1"] and "x" not in stored.metadata.labels
    assert stored.metadata.resource_version == real.metadata.resource_version
    assert int(before) < int(real.metadata.resource_version)


def test_noop_patch_keeps_resource_version(discovery: Any) -> None:
    created = discovery.create_namespaced_endpoint_slice(NS, slice_body("web-1"))
    same = discovery.patch_namespaced_endpoint_slice(
        "web-1", NS, {"metadata": {"labels": {"kubernetes.io/service-name": "web"}}})
    assert same.metadata.resource_version == created.metadata.resource_version
    again = discovery.replace_namespaced_endpoint_slice(
        "web-1", NS, discovery.read_namespaced_endpoint_slice("web-1", NS))
    assert again.metadata.resource_version == created.metadata.resource_version
    assert again.metadata.generation == 1


def test_endpointslice_generation(discovery: Any) -> None:
    assert discovery.create_namespaced_endpoint_slice(NS, slice_body("g")).metadata.generation == 1
    changed = discovery.patch_namespaced_endpoint_slice(
        "g", NS, [{"op": "replace", "path": "/endpoints/0/addresses", "value": ["10.0.0.3"]}])
    assert changed.metadata.generation == 2
    labelled = discovery.patch_namespaced_endpoint_slice("g", NS, {"metadata": {"labels": {"new": "label"}}})
    assert labelled.metadata.generation == 3
    annotated = discovery.patch_namespaced_endpoint_slice("g", NS, {"metadata": {"annotations": {"note": "x"}}})
    assert annotated.metadata.generation == 3
    assert int(annotated.metadata.resource_version) > int(labelled.metadata.resource_version)


# Deletion


def test_finalizers(discovery: Any) -> None:
    discovery.create_namespaced_endpoint_slice(NS, slice_body("held", finalizers=["example.com/hold"]))
    discovery.delete_namespaced_endpoint_slice("held", NS)
    marked = discovery.read_namespaced_endpoint_slice("held", NS)
    assert marked.metadata.deletion_timestamp is not None
    assert marked.metadata.deletion_grace_period_seconds == 0
    assert marked.metadata.generation == 2  # marking an object for deletion bumps its generation
    with pytest.raises(ApiException) as err:
        discovery.create_namespaced_endpoint_slice(NS, slice_body("held"))
    assert status_of(err)["message"] == \
        'object is being deleted: endpointslices.discovery.k8s.io "held" already exists'
    # a second delete does not remove it either
    discovery.delete_namespaced_endpoint_slice("held", NS)
    assert discovery.read_namespaced_endpoint_slice("held", NS).metadata.finalizers == ["example.com/hold"]
    with pytest.raises(ApiException) as err:
        discovery.patch_namespaced_endpoint_slice(
            "held", NS, {"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}})
    assert err.value.status == 422 and status_of(err)["message"].endswith(
        'no new finalizers can be added if the object is being deleted, found new finalizers '
        '[]string{"example.com/more"}')
    discovery.patch_namespaced_endpoint_slice("held", NS, [{"op": "remove", "path": "/metadata/finalizers"}])
    with pytest.raises(ApiException) as err:
        discovery.read_namespaced_endpoint_slice("held", NS)
    assert err.value.status == 404


def test_graceful_pod_deletion(core: Any) -> None:
    """A pod on a node is deleted gracefully and stays (no kubelet finishes it); a later DELETE may only shorten
    the period, 0 removes it. An unscheduled pod goes at once, its answer marked with grace period 0."""
    core.create_namespaced_pod(NS, pod_body("q", node="node-a"))
    marked = raw(core.delete_namespaced_pod("q", NS, _preload_content=False))
    meta = marked["metadata"]
    assert meta["deletionGracePeriodSeconds"] == 30 and meta["deletionTimestamp"] > meta["creationTimestamp"]
    assert raw(core.read_namespaced_pod("q", NS, _preload_content=False)) == marked
    assert raw(core.delete_namespaced_pod("q", NS, grace_period_seconds=60, _preload_content=False)) == marked
    shorter = raw(core.delete_namespaced_pod("q", NS, grace_period_seconds=10, _preload_content=False))["metadata"]
    assert shorter["deletionGracePeriodSeconds"] == 10
    assert int(shorter["resourceVersion"]) > int(meta["resourceVersion"])
    gone = raw(core.delete_namespaced_pod("q", NS, grace_period_seconds=0, _preload_content=False))["metadata"]
    assert gone["deletionGracePeriodSeconds"] == 0
    assert gone["deletionTimestamp"] < shorter["deletionTimestamp"] < meta["deletionTimestamp"]  # moved earlier
    core.create_namespaced_pod(NS, pod_body("u"))
    answer = raw(core.delete_namespaced_pod("u", NS, grace_period_seconds=30, _preload_content=False))["metadata"]
    assert answer["deletionGracePeriodSeconds"] == 0 and answer["deletionTimestamp"]
    assert core.list_namespaced_pod(NS).items == []


@pytest.mark.parametrize(("policy", "finalizer"), [("Foreground", "foregroundDeletion"), ("Orphan", "orphan")])
def test_propagation_finalizers_are_collected(discovery: Any, policy: str, finalizer: str) -> None:
    """Foreground and Orphan add the garbage collector's finalizer (marking the object, its generation bumped); the
    collector, finding no dependents, removes it and the object goes."""
    discovery.create_namespaced_endpoint_slice(NS, slice_body("gc"))
    marked = discovery.delete_namespaced_endpoint_slice("gc", NS, propagation_policy=policy)
    assert marked["metadata"]["finalizers"] == [finalizer] and marked["metadata"]["generation"] == 2
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 0
    deadline = time.monotonic() + 10
    while discovery.list_namespaced_endpoint_slice(NS).items:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_invalid_delete_options_are_422_before_the_lookup(core: Any) -> None:
    with pytest.raises(ApiException) as err:
        core.delete_namespaced_endpoints("missing", NS, propagation_policy="Sideways")
    assert err.value.status == 422
    assert status_of(err)["message"] == ('DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported '
                                         'value: "Sideways": supported values: "Foreground", "Background", '
                                         '"Orphan", "nil"')


def test_delete_with_preconditions(discovery: Any) -> None:
    created = discovery.create_namespaced_endpoint_slice(NS, slice_body("pre"))
    discovery.patch_namespaced_endpoint_slice("pre", NS, {"metadata": {"labels": {"v": "2"}}})
    stale = client.V1DeleteOptions(preconditions=client.V1Preconditions(
        resource_version=created.metadata.resource_version))
    with pytest.raises(ApiException) as err:
        discovery.delete_namespaced_endpoint_slice("pre", NS, body=stale)
    assert err.value.status == 409
    assert "the ResourceVersion in the precondition" in status_of(err)["message"]
    wrong_uid = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="0000"))
    with pytest.raises(ApiException) as err:
        discovery.delete_namespaced_endpoint_slice("pre", NS, body=wrong_uid)
    assert err.value.status == 409
    current = discovery.read_namespaced_endpoint_slice("pre", NS)
    good = client.V1DeleteOptions(preconditions=client.V1Preconditions(
        uid=current.metadata.uid, resource_version=current.metadata.resource_version))
    discovery.delete_namespaced_endpoint_slice("pre", NS, body=good)
    assert discovery.list_namespaced_endpoint_slice(NS).items == []


def test_delete_collection(discovery: Any, labelled: None) -> None:
    discovery.delete_collection_namespaced_endpoint_slice(NS, label_selector="app=web")
    assert names(discovery.list_namespaced_endpoint_slice(NS).items) == ["c", "d", "e"]
    discovery.delete_collection_namespaced_endpoint_slice(NS)
    assert discovery.list_namespaced_endpoint_slice(NS).items == []


def test_namespace_deletion_removes_contents(discovery: Any, core: Any) -> None:
    core.create_namespace({"metadata": {"name": "doomed"}})
    discovery.create_namespaced_endpoint_slice("doomed", slice_body("s"))
    core.create_namespaced_pod("doomed", pod_body("p", node="node-a"))  # the in-process controller forces it
    core.create_namespaced_service("doomed", {"metadata": {"name": "svc"}, "spec": {"ports": [{"port": 80}]}})
    discovery.create_namespaced_endpoint_slice(NS, slice_body("survivor"))
    answer = raw(core.delete_namespace("doomed", _preload_content=False))
    # kube-apiserver's answer: Terminating, spec.finalizers kept, a deletionTimestamp without grace period
    assert (answer["status"], answer["spec"]) == ({"phase": "Terminating"}, {"finalizers": ["kubernetes"]})
    assert answer["metadata"]["deletionTimestamp"] and "deletionGracePeriodSeconds" not in answer["metadata"]
    wait_gone(lambda: core.read_namespace("doomed"))  # the namespace controller empties it, then removes it
    assert discovery.list_namespaced_endpoint_slice("doomed").items == []
    assert core.list_namespaced_pod("doomed").items == []
    assert core.list_namespaced_service("doomed").items == []
    assert names(discovery.list_endpoint_slice_for_all_namespaces().items) == ["survivor"]


def test_namespace_with_a_finalizer_stays_terminating(core: Any, discovery: Any) -> None:
    """A finalizer of another party keeps the emptied namespace Terminating (new content refused) until removed."""
    core.create_namespace({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    core.delete_namespace("held")
    deadline = time.monotonic() + 10
    while (held := core.read_namespace("held")).spec.finalizers:  # until the namespace controller finalized it
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert held.status.phase == "Terminating"
    with pytest.raises(ApiException) as err:
        discovery.create_namespaced_endpoint_slice("held", slice_body("late"))
    assert (err.value.status, status_of(err)["message"]) == (403, 'endpointslices.discovery.k8s.io "late" is forbidden: '
                                                            "unable to create new content in namespace held because "
                                                            "it is being terminated")
    assert status_of(err)["details"]["kind"] == "endpointslices"
    core.patch_namespace("held", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as err:
        core.read_namespace("held")
    assert err.value.status == 404


def test_write_into_missing_namespace_is_404(discovery: Any, core: Any) -> None:
    with pytest.raises(ApiException) as err:
        discovery.create_namespaced_endpoint_slice("nowhere", slice_body("s"))
    assert err.value.status == 404
    status = status_of(err)
    assert status["reason"] == "NotFound" and status["message"] == 'namespaces "nowhere" not found'
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod("nowhere", pod_body("p"))
    assert err.value.status == 404


# Misc metadata rules


def test_system_fields_are_wiped_on_create(discovery: Any) -> None:
    body = slice_body("wiped")
    body["metadata"].update({"uid": "client-uid", "creationTimestamp": "2000-01-01T00:00:00Z"})
    created = discovery.create_namespaced_endpoint_slice(NS, body)
    assert created.metadata.uid != "client-uid"
    assert created.metadata.creation_timestamp.year != 2000


def test_uid_is_immutable_and_address_type_too(discovery: Any) -> None:
    created = discovery.create_namespaced_endpoint_slice(NS, slice_body("imm"))
    changed = discovery.read_namespaced_endpoint_slice("imm", NS)
    changed.address_type = "IPv6"
    changed.endpoints[0].addresses = ["fd00::1"]
    with pytest.raises(ApiException) as err:
        discovery.replace_namespaced_endpoint_slice("imm", NS, changed)
    assert err.value.status == 422 and status_of(err)["reason"] == "Invalid"
    assert discovery.read_namespaced_endpoint_slice("imm", NS).metadata.uid == created.metadata.uid


def test_no_endpoints_deprecation_warning_in_v1_32(core: Any) -> None:
    _, _, headers = core.list_namespaced_endpoints_with_http_info(NS)
    assert "Warning" not in headers


def test_lists_are_consistent_across_kinds(discovery: Any, core: Any) -> None:
    """A most-recent list of one kind right after writes of others returns promptly at the latest revision."""
    discovery.create_namespaced_endpoint_slice(NS, slice_body("s"))
    pod = core.create_namespaced_pod(NS, pod_body("p"))
    slices = discovery.list_namespaced_endpoint_slice(NS)
    assert names(slices.items) == ["s"]
    assert int(slices.metadata.resource_version) >= int(pod.metadata.resource_version)
    ns_list = core.list_namespace()
    assert int(ns_list.metadata.resource_version) >= int(pod.metadata.resource_version)


# Subresources: kube-apiserver's answers in a cluster without kubelets (checked against v1.32.13)


def binding(name: str, node: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name}, "target": {"kind": "Node", "name": node}}


def test_pod_binding(core: Any) -> None:
    """A Binding sets spec.nodeName and PodScheduled=True and answers a Success Status (which the client cannot read
    as the V1Binding it expects, against kube-apiserver too); a bound pod is a 409 on pods/binding."""
    created = core.create_namespaced_pod(NS, pod_body("b"))
    answer = raw(core.create_namespaced_pod_binding("b", NS, binding("b", "node-a"), _preload_content=False))
    assert answer == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
    bound = core.read_namespaced_pod("b", NS)
    assert bound.spec.node_name == "node-a"
    assert [(c.type, c.status) for c in bound.status.conditions] == [("PodScheduled", "True")]
    assert bound.metadata.managed_fields == created.metadata.managed_fields  # not a write of the pod's managers
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod_binding("b", NS, binding("b", "node-b"))
    assert (err.value.status, status_of(err)["message"], status_of(err)["details"]) == (
        409, 'Operation cannot be fulfilled on pods/binding "b": pod b is already assigned to node "node-a"',
        {"name": "b", "kind": "pods/binding"})
    core.create_namespaced_pod(NS, pod_body("c"))
    with pytest.raises(ValueError):  # the Status does not deserialise as a V1Binding
        core.create_namespaced_pod_binding("c", NS, binding("c", "node-a"))
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod_binding("c", NS, {"metadata": {"name": "c"}, "target": {}})
    assert (err.value.status, status_of(err)["message"]) == (500, "target.name: Required value")
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod_binding("nope", NS, binding("nope", "node-a"))
    assert err.value.status == 404


def eviction(name: str, **delete_options: Any) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name},
            "deleteOptions": delete_options or None}


def test_pod_eviction(core: Any) -> None:
    """No PodDisruptionBudget applies, so an eviction marks the pod DisruptionTarget and deletes it with its
    DeleteOptions: at once when it is on no node, gracefully when it is."""
    core.create_namespaced_pod(NS, pod_body("e"))
    answer = raw(core.create_namespaced_pod_eviction("e", NS, eviction("e"), _preload_content=False))
    assert answer == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
    assert "e" not in names(core.list_namespaced_pod(NS).items)
    core.create_namespaced_pod(NS, pod_body("f", node="node-a"))
    core.create_namespaced_pod_eviction("f", NS, eviction("f"))
    evicted = core.read_namespaced_pod("f", NS)
    assert evicted.metadata.deletion_grace_period_seconds == 30
    assert [(c.type, c.reason, c.message) for c in evicted.status.conditions] == [
        ("DisruptionTarget", "EvictionByEvictionAPI", "Eviction API: evicting")]
    core.create_namespaced_pod_eviction("f", NS, eviction("f", gracePeriodSeconds=0))
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod_eviction("f", NS, eviction("f"))
    assert (err.value.status, status_of(err)["message"]) == (404, 'pods "f" not found')
    core.create_namespaced_pod(NS, pod_body("g"))
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod_eviction("g", NS, eviction("g", preconditions={"resourceVersion": "1"}))
    assert err.value.status == 409 and "the ResourceVersion in the precondition (1)" in status_of(err)["message"]
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod_eviction("g", NS, eviction("other"))
    assert (err.value.status, status_of(err)["message"]) == (400, "name in URL does not match name in Eviction object")


def test_pod_log_without_a_kubelet(core: Any) -> None:
    """A pod on no node has an empty log (204); on a node, the node cannot be found (kube-apiserver's words)."""
    core.create_namespaced_pod(NS, pod_body("l"))
    assert core.read_namespaced_pod_log("l", NS) is None
    core.create_namespaced_pod(NS, pod_body("m", node="node-a"))
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log("m", NS)
    assert (err.value.status, status_of(err)["message"]) == (404, 'pods "node-a" not found')
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log("l", NS, container="zz")
    assert (err.value.status, status_of(err)["message"]) == (400, "container zz is not valid for pod l")
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log("l", NS, tail_lines=-1)
    assert (err.value.status, status_of(err)["message"]) == (
        422, 'PodLogOptions "l" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0')


def test_exec_and_proxies_without_a_kubelet(core: Any) -> None:
    """exec needs the pod's node, a pod proxy its IP and a service proxy its endpoints: the errors kube-apiserver
    answers when there is none; nothing is forwarded."""
    core.create_namespaced_pod(NS, pod_body("x"))
    core.create_namespaced_pod(NS, pod_body("y", node="node-a"))
    answers = []
    for call in (lambda: core.connect_post_namespaced_pod_exec("x", NS, command=["ls"]),
                 lambda: core.connect_post_namespaced_pod_exec("y", NS, command=["ls"]),
                 lambda: core.connect_get_namespaced_pod_portforward("x", NS),
                 lambda: core.connect_get_namespaced_pod_proxy_with_path("x", NS, "healthz"),
                 lambda: core.connect_get_namespaced_service_proxy("web", NS)):
        with pytest.raises(ApiException) as err:
            call()
        answers.append((err.value.status, status_of(err)["message"]))
    assert answers == [(400, "pod x does not have a host assigned"), (404, 'pods "node-a" not found'),
                       (400, "pod x does not have a host assigned"), (400, "address not allowed"),
                       (404, 'services "web" not found')]
    core.create_namespaced_service(NS, {"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}})
    core.create_namespaced_endpoints(NS, {"metadata": {"name": "web"}})
    with pytest.raises(ApiException) as err:
        core.connect_get_namespaced_service_proxy("web:80", NS)
    assert (err.value.status, status_of(err)["message"]) == (503, 'no endpoints available for service "web"')


def test_namespace_finalize(core: Any) -> None:
    """namespaces/finalize writes spec.finalizers (and metadata), never the status."""
    core.create_namespace({"metadata": {"name": "fin"}})
    body = {"metadata": {"name": "fin"}, "spec": {"finalizers": ["example.com/x"]}, "status": {"phase": "Terminating"}}
    finalized = core.replace_namespace_finalize("fin", body)
    assert finalized.spec.finalizers == ["example.com/x"] and finalized.status.phase == "Active"
    assert finalized.metadata.managed_fields[-1].subresource == "finalize"
    with pytest.raises(ApiException) as err:
        core.replace_namespace_finalize("fin", {"metadata": {"name": "fin"}, "spec": {"finalizers": ["bad"]}})
    assert err.value.status == 422 and status_of(err)["details"]["causes"][0]["field"] == "spec.finalizers[0]"


def test_ephemeral_containers(core: Any) -> None:
    """Only spec.ephemeralContainers changes through the subresource (defaulted as containers are); an existing one
    may not be removed."""
    created = core.create_namespaced_pod(NS, pod_body("d"))
    patch = {"metadata": {"labels": {"ignored": "yes"}},
             "spec": {"ephemeralContainers": [{"name": "debug", "image": "busybox"}], "activeDeadlineSeconds": 5}}
    patched = core.patch_namespaced_pod_ephemeralcontainers("d", NS, patch)
    container = patched.spec.ephemeral_containers[0]
    assert (container.name, container.image_pull_policy, container.termination_message_path) == (
        "debug", "Always", "/dev/termination-log")
    assert patched.metadata.labels == created.metadata.labels and patched.spec.active_deadline_seconds is None
    assert patched.metadata.managed_fields == created.metadata.managed_fields
    assert core.read_namespaced_pod_ephemeralcontainers("d", NS).spec.ephemeral_containers == [container]
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_pod_ephemeralcontainers("d", NS, [{"op": "remove", "path": "/spec/ephemeralContainers"}])
    assert (err.value.status, status_of(err)["message"]) == (
        422, ('Pod "d" is invalid: spec.ephemeralContainers: Forbidden: existing ephemeral containers "debug" may '
              'not be removed\n'))
