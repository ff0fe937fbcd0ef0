"""The real kube-apiserver fixture (conformance.kube_apiserver): it starts, answers as the release we emulate,
stores and watches EndpointSlices, and leaves no process or file behind. Skipped until
scripts/build-kube-apiserver has built the binary."""

from __future__ import annotations

import json
import subprocess
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch

from apiserver.discovery import GIT_VERSION, version_info
from conformance.kube_apiserver import KubeAPIServer, kube_apiserver_binary, kube_etcd_binary, pinned_versions
from storage.etcd_process import EtcdProcess
from tests.conftest import kubectl_binary

pytestmark = pytest.mark.filterwarnings("ignore:Unverified HTTPS request")  # its self-signed certificate
built = pytest.mark.skipif(kube_apiserver_binary() is None,
                           reason="kube-apiserver is not built: run scripts/build-kube-apiserver")


def slice_body(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "metadata": {"name": name, "labels": {"kubernetes.io/service-name": "web"}},
        "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}}],
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
    }


def get_json(kube: KubeAPIServer, path: str) -> Any:
    with urllib.request.urlopen(kube.request(path), timeout=10, context=kube.ssl_context()) as response:
        return json.load(response)


def test_pinned_release_is_the_one_we_report() -> None:
    """The oracle is the release our /version names, so differences are behaviour, not version skew."""
    kubernetes, _ = pinned_versions()
    assert kubernetes == GIT_VERSION


@built
def test_version(kube_apiserver: KubeAPIServer) -> None:
    info = get_json(kube_apiserver, "/version")
    assert info["gitVersion"] == GIT_VERSION
    assert (info["major"], info["minor"]) == (version_info()["major"], version_info()["minor"])


@built
def test_create_get_and_watch_endpointslice(kube_apiserver: KubeAPIServer) -> None:
    api = kube_apiserver.api_client()
    try:
        core, discovery = client.CoreV1Api(api), client.DiscoveryV1Api(api)
        namespace = f"t-{uuid.uuid4().hex[:8]}"
        core.create_namespace({"metadata": {"name": namespace}})
        listed = discovery.list_namespaced_endpoint_slice(namespace)
        assert listed.items == []
        created = discovery.create_namespaced_endpoint_slice(namespace, slice_body("web-1"))
        got = discovery.read_namespaced_endpoint_slice("web-1", namespace)
        assert got.metadata.uid == created.metadata.uid
        assert got.endpoints[0].addresses == ["10.0.0.1"]
        stream = watch.Watch().stream(discovery.list_namespaced_endpoint_slice, namespace,
                                      resource_version=listed.metadata.resource_version, timeout_seconds=10)
        event = next(stream)
        assert (event["type"], event["object"].metadata.name) == ("ADDED", "web-1")
        assert event["object"].metadata.resource_version == created.metadata.resource_version
    finally:
        api.close()


@built
def test_watch_list_ends_initial_events_with_a_bookmark(kube_apiserver: KubeAPIServer) -> None:
    """Watch-list needs etcd's progress requests (3.4.23 lacks them: a 500): the fixture's etcd serves it."""
    path = ("/apis/discovery.k8s.io/v1/endpointslices?watch=1&sendInitialEvents=true&allowWatchBookmarks=true"
            "&resourceVersionMatch=NotOlderThan&timeoutSeconds=5")
    with urllib.request.urlopen(kube_apiserver.request(path), timeout=10, context=kube_apiserver.ssl_context()) as r:
        event = next(e for e in map(json.loads, r) if e["type"] != "ADDED")
    assert event["type"] == "BOOKMARK", event
    assert event["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"] == "true"


@built
def test_kubeconfig_serves_kubectl(kube_apiserver: KubeAPIServer, tmp_path: Path) -> None:
    binary = kubectl_binary()
    if binary is None:
        pytest.skip("kubectl 1.32 is not installed")
    command = [binary, "--kubeconfig", str(kube_apiserver.kubeconfig), "--cache-dir", str(tmp_path),
               "get", "namespace", "default", "-o", "name"]
    result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=30)
    assert result.stdout.strip() == "namespace/default", result.stderr


@built
def test_close_leaves_nothing_behind() -> None:
    """On a given etcd under its own prefix: the server process and its files are gone after the block, etcd stays."""
    with EtcdProcess(binary=kube_etcd_binary()) as etcd:
        with KubeAPIServer(etcd=etcd, etcd_prefix=f"/{uuid.uuid4().hex}") as kube:
            pid, directory = kube.pid, kube.directory
            assert kube.ready_seconds is not None and kube.ready()
        assert not Path(f"/proc/{pid}").exists()
        assert not directory.exists()
        assert etcd.healthy()


@built
def test_failed_start_stops_everything() -> None:
    kube = KubeAPIServer(extra_args=("--no-such-flag",))
    with pytest.raises(RuntimeError, match="unknown flag: --no-such-flag"), kube:
        pass
    assert kube.etcd is None and kube.pid is None
    assert not kube.directory.exists()
