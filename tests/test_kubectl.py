"""The real kubectl 1.32 against the server: every command of kubectl.md §3, its output and the stored result.

Each test gets a fresh server (the `apiserver` fixture) and a kubectl with its own --cache-dir (the
`kubectl` fixture in conftest). Manifests live in tests/manifests; they leave `metadata.namespace` out
so that `-n` places them.
"""

from __future__ import annotations

import json
import queue
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from apiserver.testing import RunningServer
from tests.conftest import Kubectl, kubectl_binary

MANIFESTS = Path(__file__).parent / "manifests"
SLICE = str(MANIFESTS / "slice.yaml")
SLICE_V2 = str(MANIFESTS / "slice-v2.yaml")
SERVICE = str(MANIFESTS / "service.yaml")
ENDPOINTS = str(MANIFESTS / "endpoints.yaml")
POD = str(MANIFESTS / "pod.yaml")
NAMESPACE = str(MANIFESTS / "namespace.yaml")

Obj = dict[str, Any]


# --- helpers -----------------------------------------------------------------------------------------


def table(output: str) -> list[list[str]]:
    """Split kubectl's human output into rows of cells (cells are separated by two or more spaces)."""
    return [re.split(r"\s{2,}", line.strip()) for line in output.splitlines() if line.strip()]


def get_json(kubectl: Kubectl, *args: str) -> Obj:
    """`kubectl get ... -o json`, parsed."""
    result: Obj = json.loads(kubectl("get", *args, "-o", "json").stdout)
    return result


def slice_manifest(name: str, port: int, addresses: list[str], labels: dict[str, str] | None = None,
                   address_type: str = "IPv4") -> str:
    """An EndpointSlice manifest as JSON (valid YAML) for `kubectl create -f -`."""
    return json.dumps({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "labels": labels or {"kubernetes.io/service-name": "web"}},
        "addressType": address_type,
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [a], "conditions": {"ready": True}} for a in addresses],
    })


def create_slice(kubectl: Kubectl, name: str, port: int = 80, addresses: list[str] | None = None,
                 labels: dict[str, str] | None = None, namespace: str = "default") -> None:
    manifest = slice_manifest(name, port, addresses or ["10.0.0.1"], labels)
    out = kubectl("-n", namespace, "create", "-f", "-", input=manifest).stdout
    assert out.strip() == f"endpointslice.discovery.k8s.io/{name} created"


class Watch:
    """A `kubectl get -w` subprocess whose stdout lines are collected by a thread."""

    def __init__(self, command: list[str]) -> None:
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, done: Callable[[list[str]], bool], timeout: float = 10.0) -> list[str]:
        """Collect lines until `done(lines)` holds; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not done(self.seen):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"watch output so far: {self.seen!r}")
            try:
                self.seen.append(self.lines.get(timeout=remaining))
            except queue.Empty:
                continue
        return self.seen

    def stop(self) -> str:
        """Terminate kubectl; return its stderr."""
        self.process.terminate()
        try:
            _, err = self.process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        return err


@pytest.fixture
def watch(apiserver: RunningServer, tmp_path: Path) -> Iterator[Callable[..., Watch]]:
    """Start `kubectl <args>` in the background (same binary and cache as the `kubectl` fixture)."""
    binary = kubectl_binary()
    if binary is None:
        pytest.skip("kubectl 1.32 is not installed")
    started: list[Watch] = []

    def start(*args: str) -> Watch:
        command = [binary, "--kubeconfig", str(apiserver.kubeconfig), "--cache-dir", str(tmp_path / "kubectl-cache"),
                   "--request-timeout=20s", *args]
        started.append(Watch(command))
        return started[-1]

    yield start
    for w in started:
        if w.process.poll() is None:
            w.stop()


@contextmanager
def editor(tmp_path: Path, sed_script: str) -> Iterator[dict[str, str]]:
    """An environment whose KUBE_EDITOR runs `sed -i <sed_script>` on the file kubectl opens."""
    script = tmp_path / "editor.sh"
    script.write_text(f"#!/bin/sh\nexec sed -i '{sed_script}' \"$1\"\n")
    script.chmod(0o755)
    yield {"KUBE_EDITOR": str(script), "EDITOR": str(script)}


# --- version, api-resources, raw paths ---------------------------------------------------------------


def test_version_has_no_skew_warning(kubectl: Kubectl) -> None:
    result = kubectl("version")
    assert "Client Version: v1.32" in result.stdout
    assert re.search(r"^Server Version: v1\.32\.\d+", result.stdout, re.MULTILINE)
    assert "WARNING" not in result.stderr and "version difference" not in result.stderr
    server = json.loads(kubectl("version", "-o", "json").stdout)["serverVersion"]
    assert (server["major"], server["minor"]) == ("1", "32")


def test_api_resources_lists_every_kind_with_short_names(kubectl: Kubectl) -> None:
    rows = table(kubectl("api-resources").stdout)
    assert rows[0] == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    by_name = {row[0]: row for row in rows[1:]}
    assert by_name["endpointslices"] == ["endpointslices", "discovery.k8s.io/v1", "true", "EndpointSlice"]
    assert by_name["endpoints"] == ["endpoints", "ep", "v1", "true", "Endpoints"]
    assert by_name["services"] == ["services", "svc", "v1", "true", "Service"]
    assert by_name["pods"] == ["pods", "po", "v1", "true", "Pod"]
    assert by_name["namespaces"] == ["namespaces", "ns", "v1", "false", "Namespace"]


def test_get_raw_metrics_and_readyz(kubectl: Kubectl) -> None:
    kubectl("get", "endpointslices")  # at least one counted request
    metrics = kubectl("get", "--raw", "/metrics").stdout
    assert re.search(r"^apiserver_request_total\{", metrics, re.MULTILINE)
    readyz = kubectl("get", "--raw", "/readyz?verbose").stdout
    assert "[+]ping ok" in readyz
    assert readyz.rstrip().endswith("readyz check passed")


# --- get ---------------------------------------------------------------------------------------------


def test_get_default_table_and_all_namespaces(kubectl: Kubectl) -> None:
    kubectl("create", "-f", NAMESPACE)
    create_slice(kubectl, "web-abc", 80, ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"])
    create_slice(kubectl, "api-xyz", 8443, ["10.1.0.1"], namespace="team-a")

    rows = table(kubectl("get", "endpointslices").stdout)
    assert rows[0] == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert rows[1][:4] == ["web-abc", "IPv4", "80", "10.0.0.1,10.0.0.2,10.0.0.3 + 2 more..."]
    assert re.fullmatch(r"\d+s", rows[1][4])
    assert len(rows) == 2

    rows = table(kubectl("get", "endpointslices", "-A").stdout)
    assert rows[0] == ["NAMESPACE", "NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert sorted(row[:2] for row in rows[1:]) == [["default", "web-abc"], ["team-a", "api-xyz"]]

    rows = table(kubectl("get", "endpointslice", "api-xyz", "-n", "team-a").stdout)
    assert rows[1][:4] == ["api-xyz", "IPv4", "8443", "10.1.0.1"]

    missing = kubectl("get", "endpointslice", "nope", check=False)
    assert missing.returncode == 1
    assert 'Error from server (NotFound): endpointslices.discovery.k8s.io "nope" not found' in missing.stderr


def test_get_yaml_and_json(kubectl: Kubectl) -> None:
    kubectl("create", "-f", SLICE)
    obj = get_json(kubectl, "endpointslice", "web-abc")
    assert obj["kind"] == "EndpointSlice" and obj["apiVersion"] == "discovery.k8s.io/v1"
    assert obj["metadata"]["namespace"] == "default" and obj["metadata"]["uid"]
    assert obj["ports"] == [{"name": "http", "port": 80, "protocol": "TCP"}]
    assert [e["addresses"] for e in obj["endpoints"]] == [["10.0.0.1"], ["10.0.0.2"]]
    assert "managedFields" not in obj["metadata"]  # kubectl strips them without --show-managed-fields

    listed = get_json(kubectl, "endpointslices")
    assert listed["kind"] == "List" and [i["metadata"]["name"] for i in listed["items"]] == ["web-abc"]

    yaml_out = kubectl("get", "endpointslice", "web-abc", "-o", "yaml").stdout
    assert "kind: EndpointSlice" in yaml_out and "addressType: IPv4" in yaml_out
    assert "  name: web-abc" in yaml_out and "- 10.0.0.1" in yaml_out

    names = kubectl("get", "endpointslices", "-o", "name").stdout.split()
    assert names == ["endpointslice.discovery.k8s.io/web-abc"]


def test_get_label_and_field_selectors(kubectl: Kubectl) -> None:
    create_slice(kubectl, "a", labels={"app": "web", "tier": "fe"})
    create_slice(kubectl, "b", labels={"app": "web", "tier": "be"})
    create_slice(kubectl, "c", labels={"app": "db"})

    def names(*args: str) -> list[str]:
        return [row[0] for row in table(kubectl("get", "endpointslices", *args).stdout)[1:]]

    assert names("-l", "app=web") == ["a", "b"]
    assert names("-l", "app=web,tier!=fe") == ["b"]
    assert names("-l", "tier") == ["a", "b"]
    assert names("-l", "app in (db)") == ["c"]
    assert names("--field-selector", "metadata.name=b") == ["b"]
    assert names("--field-selector", "metadata.name!=b") == ["a", "c"]
    assert names("-A", "--field-selector", "metadata.namespace=default", "-l", "app=db") == ["default"]  # NAMESPACE
    empty = kubectl("get", "endpointslices", "-l", "app=none")
    assert empty.stdout == "" and "No resources found in default namespace." in empty.stderr
    bad = kubectl("get", "endpointslices", "--field-selector", "addressType=IPv4", check=False)
    assert bad.returncode == 1
    assert ('"addressType" is not a known field selector: only "metadata.name", "metadata.namespace"'
            in bad.stderr)


def test_get_sort_by_needs_whole_objects(kubectl: Kubectl) -> None:
    for name, port in (("a", 9000), ("b", 80), ("c", 443)):
        create_slice(kubectl, name, port)
    rows = table(kubectl("get", "endpointslices", "--sort-by=.ports[0].port").stdout)
    assert [row[:3] for row in rows[1:]] == [["b", "IPv4", "80"], ["c", "IPv4", "443"], ["a", "IPv4", "9000"]]
    rows = table(kubectl("get", "endpointslices", "--sort-by=.metadata.name", "-A").stdout)
    assert [row[1] for row in rows[1:]] == ["a", "b", "c"]


def test_get_show_labels(kubectl: Kubectl) -> None:
    kubectl("create", "-f", SLICE)
    rows = table(kubectl("get", "endpointslices", "--show-labels").stdout)
    assert rows[0] == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE", "LABELS"]
    assert rows[1][-1] == "kubernetes.io/service-name=web,tier=fe"
    rows = table(kubectl("get", "endpointslices", "-A", "-L", "tier").stdout)
    assert rows[0] == ["NAMESPACE", "NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE", "TIER"]
    assert rows[1][0] == "default" and rows[1][-1] == "fe"


# --- watch -------------------------------------------------------------------------------------------


def test_get_watch_prints_changes(kubectl: Kubectl, watch: Callable[..., Watch]) -> None:
    create_slice(kubectl, "web-abc", 80, ["10.0.0.1"])
    w = watch("get", "endpointslices", "-w")
    w.wait_for(lambda lines: len(lines) >= 2)
    create_slice(kubectl, "web-new", 81, ["10.0.0.9"])
    kubectl("label", "endpointslice", "web-abc", "changed=yes")
    lines = w.wait_for(lambda lines: len(lines) >= 4)
    w.stop()
    rows = table("\n".join(lines))
    assert rows[0] == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert rows[1][:4] == ["web-abc", "IPv4", "80", "10.0.0.1"]
    assert rows[2][:4] == ["web-new", "IPv4", "81", "10.0.0.9"]
    assert rows[3][:4] == ["web-abc", "IPv4", "80", "10.0.0.1"]
    assert len(rows) == 4  # no duplicates from a replayed list


def test_get_watch_output_watch_events(kubectl: Kubectl, watch: Callable[..., Watch]) -> None:
    create_slice(kubectl, "web-abc", 80, ["10.0.0.1"])
    create_slice(kubectl, "web-old", 82, ["10.0.0.2"])
    w = watch("get", "endpointslices", "-w", "--output-watch-events")
    w.wait_for(lambda lines: len(lines) >= 3)
    kubectl("patch", "endpointslice", "web-abc", "--type=merge", "-p", '{"ports":[{"name":"http","port":8080}]}')
    kubectl("delete", "endpointslice", "web-old")
    lines = w.wait_for(lambda lines: len(lines) >= 5)
    w.stop()
    rows = table("\n".join(lines))
    assert rows[0] == ["EVENT", "NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert [row[:4] for row in rows[1:]] == [
        ["ADDED", "web-abc", "IPv4", "80"],
        ["ADDED", "web-old", "IPv4", "82"],
        ["MODIFIED", "web-abc", "IPv4", "8080"],
        ["DELETED", "web-old", "IPv4", "82"],
    ]


def test_get_watch_single_object_table(kubectl: Kubectl, watch: Callable[..., Watch]) -> None:
    """`get NAME -w` watches from resourceVersion 0 and drops the synthetic ADDED: the change must still show."""
    create_slice(kubectl, "web-abc", 80, ["10.0.0.1"])
    w = watch("get", "endpointslice", "web-abc", "-w")
    w.wait_for(lambda lines: len(lines) >= 2)
    kubectl("patch", "endpointslice", "web-abc", "--type=merge", "-p", '{"ports":[{"name":"http","port":8080}]}')
    rows = table("\n".join(w.wait_for(lambda lines: len(lines) >= 3)))
    w.stop()
    assert [row[:3] for row in rows] == [["NAME", "ADDRESSTYPE", "PORTS"], ["web-abc", "IPv4", "80"],
                                         ["web-abc", "IPv4", "8080"]]


def test_get_watch_single_object_as_json_events(kubectl: Kubectl, watch: Callable[..., Watch]) -> None:
    create_slice(kubectl, "web-abc", 80, ["10.0.0.1"])
    create_slice(kubectl, "other", 80, ["10.0.0.2"])
    w = watch("get", "endpointslice", "web-abc", "-w", "--output-watch-events", "-o", "json")
    w.wait_for(lambda lines: len(lines) >= 1)
    kubectl("label", "endpointslice", "other", "ignored=yes")
    kubectl("label", "endpointslice", "web-abc", "seen=yes")
    lines = w.wait_for(lambda lines: len(lines) >= 2)
    w.stop()
    first, second = (json.loads(line) for line in lines)  # one compact event per line
    assert first["type"] == "ADDED" and first["object"]["metadata"]["name"] == "web-abc"
    assert second["type"] == "MODIFIED" and second["object"]["metadata"]["labels"]["seen"] == "yes"


# --- create, apply -----------------------------------------------------------------------------------


def test_create_stores_the_manifest(kubectl: Kubectl, kube_client: Any) -> None:
    from kubernetes import client

    assert kubectl("create", "-f", SLICE).stdout.strip() == "endpointslice.discovery.k8s.io/web-abc created"
    stored = client.DiscoveryV1Api(kube_client).read_namespaced_endpoint_slice("web-abc", "default")
    meta = stored.metadata
    assert meta is not None and stored.ports is not None and meta.managed_fields is not None
    assert stored.address_type == "IPv4" and meta.generation == 1
    assert meta.labels == {"kubernetes.io/service-name": "web", "tier": "fe"}
    assert [(p.name, p.port, p.protocol) for p in stored.ports] == [("http", 80, "TCP")]
    assert [m.manager for m in meta.managed_fields] == ["kubectl-create"]

    again = kubectl("create", "-f", SLICE, check=False)
    assert again.returncode == 1
    assert ('Error from server (AlreadyExists): error when creating "' + SLICE +
            '": endpointslices.discovery.k8s.io "web-abc" already exists') in again.stderr

    dry = kubectl("create", "-f", "-", "--dry-run=server", input=slice_manifest("dry", 80, ["10.0.0.1"]))
    assert dry.stdout.strip() == "endpointslice.discovery.k8s.io/dry created (server dry run)"
    assert kubectl("get", "endpointslice", "dry", check=False).returncode == 1

    unknown = slice_manifest("bogus", 80, ["10.0.0.1"]).replace('"addressType"', '"bogus": 1, "addressType"')
    strict = kubectl("create", "-f", "-", input=unknown, check=False)
    assert strict.returncode == 1 and 'unknown field "bogus"' in strict.stderr


def test_apply_after_create_configured_then_unchanged(kubectl: Kubectl) -> None:
    kubectl("create", "-f", SLICE)
    first = kubectl("apply", "-f", SLICE)
    assert first.stdout.strip() == "endpointslice.discovery.k8s.io/web-abc configured"
    assert "missing the kubectl.kubernetes.io/last-applied-configuration annotation" in first.stderr
    assert kubectl("apply", "-f", SLICE).stdout.strip() == "endpointslice.discovery.k8s.io/web-abc unchanged"

    obj = get_json(kubectl, "endpointslice", "web-abc")
    applied = json.loads(obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert applied["metadata"]["name"] == "web-abc" and applied["ports"][0]["port"] == 80
    generation = obj["metadata"]["generation"]

    assert kubectl("apply", "-f", SLICE_V2).stdout.strip() == "endpointslice.discovery.k8s.io/web-abc configured"
    obj = get_json(kubectl, "endpointslice", "web-abc")
    assert obj["metadata"]["labels"] == {"kubernetes.io/service-name": "web", "tier": "backend"}
    assert obj["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert [(e["addresses"], e["conditions"]) for e in obj["endpoints"]] == [
        (["10.0.0.1"], {"ready": True}), (["10.0.0.3"], {"ready": False})]
    assert obj["metadata"]["generation"] == generation + 1
    assert kubectl("apply", "-f", SLICE_V2).stdout.strip() == "endpointslice.discovery.k8s.io/web-abc unchanged"


def test_apply_creates_when_missing(kubectl: Kubectl) -> None:
    assert kubectl("apply", "-f", SLICE).stdout.strip() == "endpointslice.discovery.k8s.io/web-abc created"
    assert kubectl("apply", "-f", SLICE).stdout.strip() == "endpointslice.discovery.k8s.io/web-abc unchanged"


def test_apply_server_side_create_update_conflict_force(kubectl: Kubectl) -> None:
    out = kubectl("apply", "--server-side", "-f", SLICE).stdout.strip()
    assert out == "endpointslice.discovery.k8s.io/web-abc serverside-applied"
    obj = get_json(kubectl, "endpointslice", "web-abc", "--show-managed-fields")
    assert [(m["manager"], m["operation"]) for m in obj["metadata"]["managedFields"]] == [("kubectl", "Apply")]

    out = kubectl("apply", "--server-side", "-f", SLICE_V2).stdout.strip()
    assert out == "endpointslice.discovery.k8s.io/web-abc serverside-applied"
    obj = get_json(kubectl, "endpointslice", "web-abc")
    assert obj["ports"][0]["port"] == 8080 and obj["metadata"]["labels"]["tier"] == "backend"

    conflict = kubectl("apply", "--server-side", "--field-manager=other", "-f", SLICE, check=False)
    assert conflict.returncode == 1
    assert 'error: Apply failed with 3 conflicts: conflicts with "kubectl":' in conflict.stderr
    assert {"- .endpoints", "- .ports", "- .metadata.labels.tier"} <= set(conflict.stderr.splitlines())
    assert "--force-conflicts" in conflict.stderr
    assert get_json(kubectl, "endpointslice", "web-abc")["ports"][0]["port"] == 8080

    out = kubectl("apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", SLICE).stdout.strip()
    assert out == "endpointslice.discovery.k8s.io/web-abc serverside-applied"
    obj = get_json(kubectl, "endpointslice", "web-abc", "--show-managed-fields")
    assert obj["ports"][0]["port"] == 80 and obj["metadata"]["labels"]["tier"] == "fe"
    owners = {m["manager"]: m["fieldsV1"] for m in obj["metadata"]["managedFields"]}
    assert "f:ports" in owners["other"] and "f:ports" not in owners.get("kubectl", {})


def test_apply_server_side_takes_over_from_client_side_apply(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", SLICE)
    result = kubectl("apply", "--server-side", "-f", SLICE_V2)  # conflicts on last-applied fields are forced
    assert result.stdout.strip() == "endpointslice.discovery.k8s.io/web-abc serverside-applied"
    assert "Warning" not in result.stderr  # kubectl's follow-up kubectl-last-applied apply succeeded too
    obj = get_json(kubectl, "endpointslice", "web-abc", "--show-managed-fields")
    assert obj["ports"][0]["port"] == 8080 and obj["metadata"]["labels"]["tier"] == "backend"
    owners = {m["manager"]: m["fieldsV1"] for m in obj["metadata"]["managedFields"]}
    assert {"f:ports", "f:endpoints", "f:addressType"} <= set(owners["kubectl"])
    applied = json.loads(obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert applied["ports"][0]["port"] == 8080 and "annotations" not in applied["metadata"]  # the annotation follows
    owners = {m["manager"]: m["fieldsV1"] for m in obj["metadata"]["managedFields"]}
    assert owners["kubectl-last-applied"] == {
        "f:metadata": {"f:annotations": {"f:kubectl.kubernetes.io/last-applied-configuration": {}}}}
    # Back to client-side apply: only the annotation's text differs (CSA writes "annotations":{}), as upstream.
    assert kubectl("apply", "-f", SLICE_V2).stdout.strip() == "endpointslice.discovery.k8s.io/web-abc configured"
    assert get_json(kubectl, "endpointslice", "web-abc")["ports"][0]["port"] == 8080
    assert kubectl("apply", "-f", SLICE_V2).stdout.strip() == "endpointslice.discovery.k8s.io/web-abc unchanged"


def test_apply_server_side_partial_configuration(kubectl: Kubectl) -> None:
    kubectl("apply", "--server-side", "-f", SLICE)
    out = kubectl("apply", "--server-side", "--field-manager=labeler", "-f", str(MANIFESTS / "slice-labels-only.yaml"))
    assert out.stdout.strip() == "endpointslice.discovery.k8s.io/web-abc serverside-applied"
    obj = get_json(kubectl, "endpointslice", "web-abc", "--show-managed-fields")
    assert obj["metadata"]["labels"] == {"kubernetes.io/service-name": "web", "tier": "fe", "owner": "labeler"}
    assert obj["addressType"] == "IPv4" and obj["ports"][0]["port"] == 80
    owners = {m["manager"]: m["fieldsV1"] for m in obj["metadata"]["managedFields"]}
    assert owners["labeler"] == {"f:metadata": {"f:labels": {"f:owner": {}}}}


# --- label, annotate, patch, edit --------------------------------------------------------------------


def test_label_add_and_remove(kubectl: Kubectl) -> None:
    kubectl("create", "-f", SLICE)
    assert kubectl("label", "endpointslice", "web-abc", "env=prod").stdout.strip() == \
        "endpointslice.discovery.k8s.io/web-abc labeled"
    assert get_json(kubectl, "endpointslice", "web-abc")["metadata"]["labels"]["env"] == "prod"
    taken = kubectl("label", "endpointslice", "web-abc", "env=dev", check=False)
    assert taken.returncode == 1 and "'env' already has a value (prod)" in taken.stderr
    kubectl("label", "endpointslice", "web-abc", "env=dev", "--overwrite")
    obj = get_json(kubectl, "endpointslice", "web-abc", "--show-managed-fields")
    assert obj["metadata"]["labels"]["env"] == "dev"
    owned = {m["manager"]: m["fieldsV1"] for m in obj["metadata"]["managedFields"]}
    assert owned["kubectl-label"] == {"f:metadata": {"f:labels": {"f:env": {}}}}
    assert kubectl("label", "endpointslice", "web-abc", "env-").stdout.strip() == \
        "endpointslice.discovery.k8s.io/web-abc unlabeled"
    obj = get_json(kubectl, "endpointslice", "web-abc", "--show-managed-fields")
    assert obj["metadata"]["labels"] == {"kubernetes.io/service-name": "web", "tier": "fe"}
    # kubectl-label owns nothing any more, so its entry is gone
    assert [m["manager"] for m in obj["metadata"]["managedFields"]] == ["kubectl-create"]


def test_annotate(kubectl: Kubectl) -> None:
    kubectl("create", "-f", SLICE)
    out = kubectl("annotate", "endpointslice", "web-abc", "owner=team-a", "note=hello world").stdout.strip()
    assert out == "endpointslice.discovery.k8s.io/web-abc annotated"
    annotations = get_json(kubectl, "endpointslice", "web-abc")["metadata"]["annotations"]
    assert annotations == {"owner": "team-a", "note": "hello world"}
    kubectl("annotate", "endpointslice", "web-abc", "note-")
    assert get_json(kubectl, "endpointslice", "web-abc")["metadata"]["annotations"] == {"owner": "team-a"}


def test_patch_three_types_and_no_change(kubectl: Kubectl) -> None:
    kubectl("create", "-f", SLICE)
    patched = "endpointslice.discovery.k8s.io/web-abc patched"

    out = kubectl("patch", "endpointslice", "web-abc", "-p", '{"metadata":{"labels":{"p":"strategic"}}}').stdout
    assert out.strip() == patched
    out = kubectl("patch", "endpointslice", "web-abc", "--type=merge",
                  "-p", '{"endpoints":[{"addresses":["10.9.9.9"],"conditions":{"ready":false}}]}').stdout
    assert out.strip() == patched
    out = kubectl("patch", "endpointslice", "web-abc", "--type=json",
                  "-p", '[{"op":"replace","path":"/ports/0/port","value":9090},'
                        '{"op":"add","path":"/metadata/labels/j","value":"1"}]').stdout
    assert out.strip() == patched
    obj = get_json(kubectl, "endpointslice", "web-abc")
    assert obj["metadata"]["labels"]["p"] == "strategic" and obj["metadata"]["labels"]["j"] == "1"
    assert obj["endpoints"] == [{"addresses": ["10.9.9.9"], "conditions": {"ready": False}}]
    assert obj["ports"] == [{"name": "http", "port": 9090, "protocol": "TCP"}]
    rv = obj["metadata"]["resourceVersion"]

    no_change = f"{patched} (no change)"
    for args in (["-p", '{"metadata":{"labels":{"p":"strategic"}}}'],
                 ["--type=merge", "-p", '{"addressType":"IPv4"}'],
                 ["--type=json", "-p", '[{"op":"replace","path":"/ports/0/port","value":9090}]']):
        assert kubectl("patch", "endpointslice", "web-abc", *args).stdout.strip() == no_change
    assert get_json(kubectl, "endpointslice", "web-abc")["metadata"]["resourceVersion"] == rv

    failed = kubectl("patch", "endpointslice", "web-abc", "--type=json",
                     "-p", '[{"op":"test","path":"/addressType","value":"IPv6"}]', check=False)
    assert failed.returncode == 1  # 422 Invalid without details, printed as kubectl prints it for kube-apiserver
    assert failed.stderr.strip() == ("The request is invalid: the server rejected our request due to an error in "
                                     "our request")


def test_edit_with_scripted_editor(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl("create", "-f", SLICE)
    with editor(tmp_path, "s/nodeName: node-1/nodeName: node-9/") as env:
        out = kubectl("edit", "endpointslice", "web-abc", env=env).stdout
    assert out.strip() == "endpointslice.discovery.k8s.io/web-abc edited"
    obj = get_json(kubectl, "endpointslice", "web-abc", "--show-managed-fields")
    assert [e.get("nodeName") for e in obj["endpoints"]] == ["node-9", "node-2"]
    assert "kubectl-edit" in {m["manager"] for m in obj["metadata"]["managedFields"]}

    with editor(tmp_path, "s/nothing-matches-this//") as env:
        untouched = kubectl("edit", "endpointslice", "web-abc", env=env)
    assert "Edit cancelled, no changes made." in untouched.stdout + untouched.stderr


# --- delete ------------------------------------------------------------------------------------------


def test_delete_by_name_file_and_label(kubectl: Kubectl) -> None:
    create_slice(kubectl, "one", labels={"app": "x"})
    create_slice(kubectl, "two", labels={"app": "y"})
    create_slice(kubectl, "three", labels={"app": "y"})
    kubectl("create", "-f", SLICE)

    assert kubectl("delete", "endpointslice", "one").stdout.strip() == \
        'endpointslice.discovery.k8s.io "one" deleted'
    assert kubectl("delete", "-f", SLICE).stdout.strip() == 'endpointslice.discovery.k8s.io "web-abc" deleted'
    out = kubectl("delete", "endpointslices", "-l", "app=y").stdout.splitlines()
    assert sorted(out) == ['endpointslice.discovery.k8s.io "three" deleted',
                           'endpointslice.discovery.k8s.io "two" deleted']
    assert get_json(kubectl, "endpointslices")["items"] == []
    missing = kubectl("delete", "endpointslice", "one", check=False)
    assert missing.returncode == 1
    assert 'Error from server (NotFound): endpointslices.discovery.k8s.io "one" not found' in missing.stderr


# --- describe, explain -------------------------------------------------------------------------------


def test_describe_endpointslice_and_service(kubectl: Kubectl) -> None:
    kubectl("create", "-f", SLICE)
    kubectl("create", "-f", SERVICE)
    out = kubectl("describe", "endpointslice", "web-abc").stdout
    assert re.search(r"^Name:\s+web-abc$", out, re.MULTILINE) and re.search(r"^Namespace:\s+default$", out, re.MULTILINE)
    assert re.search(r"^AddressType:\s+IPv4$", out, re.MULTILINE)
    assert re.search(r"^\s+http\s+80\s+TCP$", out, re.MULTILINE)
    assert re.search(r"- Addresses:\s+10\.0\.0\.1$", out, re.MULTILINE) and re.search(r"NodeName:\s+node-2$", out, re.MULTILINE)
    assert re.search(r"^Events:\s+<none>$", out, re.MULTILINE)

    out = kubectl("describe", "service", "web").stdout
    assert re.search(r"^Name:\s+web$", out, re.MULTILINE) and re.search(r"^Selector:\s+app=web$", out, re.MULTILINE)
    assert re.search(r"^Type:\s+ClusterIP$", out, re.MULTILINE)
    assert re.search(r"^Port:\s+http\s+80/TCP$", out, re.MULTILINE) and re.search(r"^TargetPort:\s+8080/TCP$", out, re.MULTILINE)
    cluster_ip = get_json(kubectl, "service", "web")["spec"]["clusterIP"]
    assert re.search(rf"^IP:\s+{re.escape(cluster_ip)}$", out, re.MULTILINE)


def test_explain(kubectl: Kubectl) -> None:
    out = kubectl("explain", "endpointslices").stdout
    assert re.search(r"^KIND:\s+EndpointSlice$", out, re.MULTILINE) and re.search(r"^GROUP:\s+discovery\.k8s\.io$", out, re.MULTILINE)
    assert re.search(r"^  addressType\s+<string> -required-$", out, re.MULTILINE)
    assert re.search(r"^  endpoints\s+<\[\]Endpoint>", out, re.MULTILINE)
    out = kubectl("explain", "endpointslices.endpoints.conditions").stdout
    assert re.search(r"^FIELD: conditions <EndpointConditions>$", out, re.MULTILINE)
    assert re.search(r"^  ready\s+<boolean>$", out, re.MULTILINE) and re.search(r"^  serving\s+<boolean>$", out, re.MULTILINE)
    out = kubectl("explain", "services.spec.ports").stdout
    assert re.search(r"^  port\s+<integer> -required-$", out, re.MULTILINE)


# --- services, endpoints, pods, namespaces -----------------------------------------------------------


def test_services(kubectl: Kubectl) -> None:
    assert kubectl("create", "-f", SERVICE).stdout.strip() == "service/web created"
    rows = table(kubectl("get", "svc").stdout)
    assert rows[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    cluster_ip = get_json(kubectl, "service", "web")["spec"]["clusterIP"]
    assert rows[1][:5] == ["kubernetes", "ClusterIP", "10.0.0.1", "<none>", "443/TCP"]  # as kube-apiserver's
    assert rows[2][:5] == ["web", "ClusterIP", cluster_ip, "<none>", "80/TCP"]
    rows = table(kubectl("get", "services", "-o", "wide").stdout)
    assert rows[0][-1] == "SELECTOR" and rows[1][-1] == "<none>" and rows[2][-1] == "app=web"

    assert kubectl("apply", "-f", SERVICE).stdout.strip() == "service/web configured"
    assert kubectl("apply", "-f", SERVICE).stdout.strip() == "service/web unchanged"
    kubectl("patch", "svc", "web", "-p", '{"spec":{"ports":[{"port":80,"targetPort":9090}]}}')
    ports = get_json(kubectl, "svc", "web")["spec"]["ports"]
    assert ports == [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 9090}]  # merged by port
    assert kubectl("delete", "svc", "web").stdout.strip() == 'service "web" deleted'

    # kubectl 1.32's generators send protobuf bodies
    assert kubectl("create", "service", "clusterip", "gen", "--tcp=80:8080").stdout.strip() == "service/gen created"
    ports = get_json(kubectl, "svc", "gen")["spec"]["ports"]
    assert ports == [{"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}]


def test_endpoints_without_deprecation_warning(kubectl: Kubectl) -> None:
    """v1.32, the release reported, does not deprecate Endpoints: kubectl prints no warning."""
    created = kubectl("create", "-f", ENDPOINTS)
    assert created.stdout.strip() == "endpoints/web created" and "Warning" not in created.stderr
    result = kubectl("get", "ep")
    assert "Warning" not in result.stderr
    rows = table(result.stdout)
    assert rows[0] == ["NAME", "ENDPOINTS", "AGE"]
    assert rows[1][:2] == ["web", "10.0.0.1:8080,10.0.0.2:8080"]
    obj = get_json(kubectl, "endpoints", "web")
    assert obj["subsets"][0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert "metadata" in obj and "generation" not in obj["metadata"]
    deleted = kubectl("delete", "-f", ENDPOINTS)
    assert deleted.stdout.strip() == 'endpoints "web" deleted' and "Warning" not in deleted.stderr


def test_pods(kubectl: Kubectl) -> None:
    assert kubectl("create", "-f", POD).stdout.strip() == "pod/web-0 created"
    rows = table(kubectl("get", "po").stdout)
    assert rows[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert rows[1][:4] == ["web-0", "0/1", "Pending", "0"]
    rows = table(kubectl("get", "pods", "-o", "wide").stdout)
    assert rows[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE",
                       "READINESS GATES"]
    assert rows[1][5:] == ["<none>"] * 4
    out = kubectl("describe", "pod", "web-0").stdout
    assert re.search(r"^Status:\s+Pending$", out, re.MULTILINE) and re.search(r"^\s+Image:\s+nginx:1\.27$", out, re.MULTILINE)
    assert kubectl("delete", "pod", "web-0").stdout.strip() == 'pod "web-0" deleted'


def test_namespaces_create_namespace_is_protobuf(kubectl: Kubectl) -> None:
    generated = kubectl("create", "namespace", "made-by-generator")
    assert generated.stdout.strip() == "namespace/made-by-generator created"
    labels = get_json(kubectl, "namespace", "made-by-generator")["metadata"]["labels"]
    assert labels == {"kubernetes.io/metadata.name": "made-by-generator"}

    assert kubectl("create", "-f", NAMESPACE).stdout.strip() == "namespace/team-a created"
    rows = table(kubectl("get", "ns").stdout)
    assert rows[0] == ["NAME", "STATUS", "AGE"]
    assert {row[0]: row[1] for row in rows[1:]} == {
        "default": "Active", "kube-node-lease": "Active", "kube-public": "Active", "kube-system": "Active",
        "made-by-generator": "Active", "team-a": "Active"}
    labels = get_json(kubectl, "namespace", "team-a")["metadata"]["labels"]
    assert labels == {"kubernetes.io/metadata.name": "team-a", "team": "a"}


def test_delete_namespace_removes_its_contents(kubectl: Kubectl) -> None:
    kubectl("create", "-f", NAMESPACE)
    for manifest in (SLICE, SERVICE, POD):
        kubectl("-n", "team-a", "create", "-f", manifest)
    kubectl("-n", "team-a", "create", "-f", ENDPOINTS)
    kubectl("create", "-f", SLICE)  # the same name in another namespace stays
    assert len(get_json(kubectl, "endpointslices,services,pods", "-n", "team-a")["items"]) == 3

    assert kubectl("delete", "namespace", "team-a").stdout.strip() == 'namespace "team-a" deleted'
    gone = kubectl("get", "namespace", "team-a", check=False)
    assert gone.returncode == 1 and 'namespaces "team-a" not found' in gone.stderr
    for resource in ("endpointslices", "services", "pods", "endpoints"):
        assert get_json(kubectl, resource, "-n", "team-a")["items"] == []
    rows = table(kubectl("get", "endpointslices", "-A").stdout)
    assert [row[:2] for row in rows[1:]] == [["default", "web-abc"]]

    refused = kubectl("delete", "namespace", "team-a", check=False)
    assert refused.returncode == 1 and 'namespaces "team-a" not found' in refused.stderr


def test_logs_exec_and_debug_without_a_kubelet(kubectl: Kubectl) -> None:
    """kubectl logs, exec and attach get kube-apiserver's answers for a pod on no node and for one on a node it
    cannot find; kubectl debug adds an ephemeral container."""
    kubectl("run", "u", "--image=nginx", "--restart=Never")
    kubectl("run", "s", "--image=nginx", "--restart=Never", '--overrides={"spec":{"nodeName":"ghost"}}')
    assert kubectl("logs", "u").stdout == ""
    failures = [kubectl(*args, check=False) for args in (("logs", "s"), ("exec", "u", "--", "ls"),
                                                         ("exec", "s", "--", "ls"), ("attach", "u"))]
    assert [(r.returncode, r.stderr.strip().splitlines()[-1]) for r in failures] == [
        (1, 'Error from server (NotFound): pods "ghost" not found'),
        (1, "Error from server (BadRequest): pod u does not have a host assigned"),
        (1, 'Error from server (NotFound): pods "ghost" not found'),
        (1, "Error from server (BadRequest): pod u does not have a host assigned"),
    ]
    kubectl("debug", "u", "--image=busybox", "--profile=general", "-q")
    containers = get_json(kubectl, "pod", "u")["spec"]["ephemeralContainers"]
    assert [(c["image"], c["name"].startswith("debugger-")) for c in containers] == [("busybox", True)]


@pytest.mark.parametrize("version", ["1.32", "1.33"])
def test_generators_send_protobuf(apiserver: RunningServer, tmp_path: Path, version: str) -> None:
    """kubectl 1.32 and 1.33 create namespaces, services and pods from typed objects, sent as protobuf bodies,
    without a warning (a Pod had fields missing from its schema: `unknown field "spec.dnsPolicy"`)."""
    binary = Path(f"/usr/lib/google-cloud-sdk/bin/kubectl.{version}")
    if not binary.exists():
        pytest.skip(f"kubectl {version} is not installed")

    def run(*args: str) -> str:
        result = subprocess.run([str(binary), "--kubeconfig", str(apiserver.kubeconfig), "--cache-dir",
                                 str(tmp_path / "cache"), *args], check=False, capture_output=True, text=True,
                                timeout=30)
        assert result.returncode == 0 and "Warning" not in result.stderr, result.stderr
        return result.stdout.strip()

    assert run("create", "namespace", "generated") == "namespace/generated created"
    assert run("create", "service", "clusterip", "gen", "-n", "generated", "--tcp=80:8080") == "service/gen created"
    service = json.loads(run("get", "service", "gen", "-n", "generated", "-o", "json"))
    assert service["spec"]["ports"] == [{"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}]
    assert run("get", "namespace", "generated", "-o", "jsonpath={.status.phase}") == "Active"
    assert run("run", "p", "--image=nginx", "-n", "generated") == "pod/p created"
    spec = json.loads(run("get", "pod", "p", "-n", "generated", "-o", "json"))["spec"]
    assert (spec["dnsPolicy"], spec["containers"][0]["terminationMessagePolicy"]) == ("ClusterFirst", "File")
