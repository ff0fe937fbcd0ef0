"""kubectl 1.27 to 1.33 against one server: the everyday commands of each release, each test in a namespace of its own.

The releases differ on the wire: 1.32 and 1.33 send the objects their generators build (create namespace,
create service) as protobuf bodies, 1.27 and 1.28 read /openapi/v2 (in protobuf) for client-side apply and
newer ones only /openapi/v3, and each formats `kubectl version` in its own way. All of them keep discovery
and OpenAPI in an HTTP cache, so the caching headers are checked too. One server serves the whole module;
every release has its own --cache-dir, so discovery and OpenAPI are fetched by each release itself.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from apiserver.config import Config
from apiserver.discovery import GIT_VERSION
from apiserver.testing import RunningServer, run_server
from tests.test_kubectl import Watch, editor, table

KUBECTL_DIR = Path("/usr/lib/google-cloud-sdk/bin")
VERSIONS = ["1.27", "1.28", "1.29", "1.30", "1.31", "1.32", "1.33"]
SERVER_MINOR = int(GIT_VERSION.split(".")[1])
SLICE = """\
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web
  labels: {app: web}
addressType: IPv4
endpoints:
- addresses: ["10.0.0.1"]
  conditions: {ready: true}
ports:
- {name: http, port: 80, protocol: TCP}
"""
_namespaces = itertools.count()


class Kubectl:
    """One kubectl release run against the server, in one namespace, with the release's own cache directory."""

    def __init__(self, version: str, server: RunningServer, cache: Path, namespace: str) -> None:
        self.version = version
        self.minor = int(version.split(".")[1])
        self.binary = str(KUBECTL_DIR / f"kubectl.{version}")
        self.namespace = namespace
        self.base = [self.binary, "--kubeconfig", str(server.kubeconfig), "--cache-dir", str(cache),
                     "--namespace", namespace]

    def __call__(self, *args: str, input: str | None = None, check: bool = True,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*self.base, *args], input=input, capture_output=True, text=True, timeout=60,
                                env={**os.environ, **(env or {})}, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {self.version} {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stderr}")
        return result

    def get(self, *args: str) -> Any:
        """`kubectl get ... -o json`, parsed."""
        return json.loads(self("get", *args, "-o", "json").stdout)

    def watch(self, *args: str) -> Watch:
        """`kubectl get ... -w` in the background, bounded by a request timeout."""
        return Watch([*self.base, "--request-timeout=20s", "get", *args, "-w"])


def requests(stderr: str) -> list[tuple[str, str, str]]:
    """(verb, path, status) of each response in kubectl's -v=6 log, in either of its two formats."""
    found = []
    for line in stderr.splitlines():
        plain = re.search(r"\] (GET|POST|PUT|PATCH|DELETE) https?://[^/\s]+(/[^?\s]*)\S* (\d{3})", line)
        structured = re.search(r'"Response" verb="(\w+)" url="https?://[^/"]+(/[^?"]*)[^"]*" status="(\d{3})', line)
        match = plain or structured
        if match:
            found.append((match.group(1), match.group(2), match.group(3)))
    return found


REQUEST_START = re.compile(r'\] (?:GET|POST|PUT|PATCH|DELETE) http\S*$|"Request" verb="', re.MULTILINE)


def exchange(stderr: str, verb: str, path: str, query: str = "") -> str:
    """kubectl's -v=8 log of its first `verb` request to `path` whose query has `query` in it: request and
    response headers, in either of the log's formats."""
    url = re.escape(path) + (rf'\?[^\s"]*{re.escape(query)}[^\s"]*' if query else r'(?:\?[^\s"]*)?')
    start = re.search(rf'\] {verb} https?://[^/\s]+{url}$|"Request" verb="{verb}" url="https?://[^/"]+{url}"',
                      stderr, re.MULTILINE)
    assert start is not None, f"no {verb} {path} in:\n{stderr[:3000]}"
    following = REQUEST_START.search(stderr, start.end())
    return stderr[start.start():following.start() if following else len(stderr)]


def header(text: str, name: str) -> list[str]:
    """Every value of header `name` in a log excerpt (request headers first, then response headers)."""
    return re.findall(rf"^(?:I\d+ [\d:.]+ +\d+ \S+\] +|\t){re.escape(name)}: (.*)$", text, re.MULTILINE)


def request_content_type(stderr: str, verb: str, path: str) -> str:
    """The Content-Type kubectl sent with its first `verb` request to `path` (from its -v=8 log)."""
    return header(exchange(stderr, verb, path), "Content-Type")[0]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(Config(compaction_interval=0), tmp_path_factory.mktemp("server")) as running:
        yield running


@pytest.fixture(scope="module")
def caches(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """One --cache-dir per release, kept for the module."""
    root = tmp_path_factory.mktemp("kubectl-caches")
    return lambda version: root / version


@pytest.fixture(params=VERSIONS)
def kubectl(request: pytest.FixtureRequest, server: RunningServer, caches: Callable[[str], Path]) -> Kubectl:
    version: str = request.param
    if not os.access(KUBECTL_DIR / f"kubectl.{version}", os.X_OK):
        pytest.skip(f"kubectl {version} is not installed")
    namespace = f"t{next(_namespaces)}-v{version.replace('.', '-')}"
    run = Kubectl(version, server, caches(version), namespace)
    run("create", "namespace", namespace)
    return run


# --- version, discovery, OpenAPI ---------------------------------------------------------------------


def test_version(kubectl: Kubectl) -> None:
    """1.27 prints version.Info structs and a deprecation notice; later releases one line each. Releases more
    than one minor behind the server warn about the skew (as they do for kube-apiserver)."""
    result = kubectl("version")
    if kubectl.minor == 27:
        assert re.search(rf'^Server Version: version.Info{{Major:"1", Minor:"{SERVER_MINOR}", '
                         rf'GitVersion:"{re.escape(GIT_VERSION)}", ', result.stdout, re.MULTILINE), result.stdout
        assert "This version information is deprecated" in result.stderr
    else:
        assert re.search(rf"^Client Version: v1\.{kubectl.minor}\.\d+$", result.stdout, re.MULTILINE)
        assert re.search(rf"^Server Version: {re.escape(GIT_VERSION)}$", result.stdout, re.MULTILINE)
    skew = (f"WARNING: version difference between client (1.{kubectl.minor}) and server (1.{SERVER_MINOR}) "
            "exceeds the supported minor version skew of +/-1")
    assert (skew in result.stderr) == (SERVER_MINOR - kubectl.minor > 1), result.stderr
    server = json.loads(kubectl("version", "-o", "json").stdout)["serverVersion"]
    assert (server["major"], server["minor"], server["gitVersion"]) == ("1", str(SERVER_MINOR), GIT_VERSION)


def test_apply_reads_the_openapi_of_its_release(kubectl: Kubectl) -> None:
    """Client-side apply: 1.27 and 1.28 fetch /openapi/v2 (then v3), newer releases /openapi/v3 only."""
    result = kubectl("apply", "-f", "-", "-v=6", input=SLICE)
    paths = {(verb, path): status for verb, path, status in requests(result.stderr)}
    assert paths[("GET", "/openapi/v3")] == "200"
    assert paths[("GET", "/openapi/v3/apis/discovery.k8s.io/v1")] == "200"
    assert (("GET", "/openapi/v2") in paths) == (kubectl.minor <= 28)
    assert all(status == "200" for (verb, path), status in paths.items() if path.startswith("/openapi")), paths
    assert paths[("POST", f"/apis/discovery.k8s.io/v1/namespaces/{kubectl.namespace}/endpointslices")] == "201"


def test_openapi_v2_in_json_and_protobuf(kubectl: Kubectl) -> None:
    document = json.loads(kubectl("get", "--raw", "/openapi/v2").stdout)
    assert document["swagger"] == "2.0" and "io.k8s.api.discovery.v1.EndpointSlice" in document["definitions"]
    if kubectl.minor <= 28:  # these read it as protobuf: explain's v2 printer is the proof
        out = kubectl("explain", "endpointslices", "--output=plaintext-openapiv2").stdout
        assert "addressType\t<string> -required-" in out


def test_openapi_v2_varies_by_accept(kubectl: Kubectl) -> None:
    """Its JSON and protobuf forms share a URL and an ETag: both Vary headers tell caches apart, as kube-openapi's."""
    answer = exchange(kubectl("get", "--raw", "/openapi/v2", "-v=8").stderr, "GET", "/openapi/v2")
    assert header(answer, "Vary") == ["Accept-Encoding", "Accept"], answer


def test_generators_send_protobuf_from_1_32(kubectl: Kubectl) -> None:
    result = kubectl("create", "namespace", f"{kubectl.namespace}-made", "-v=8")
    assert result.stdout.strip() == f"namespace/{kubectl.namespace}-made created"
    expected = "application/vnd.kubernetes.protobuf" if kubectl.minor >= 32 else "application/json"
    assert request_content_type(result.stderr, "POST", "/api/v1/namespaces") == expected
    labels = kubectl.get("namespace", f"{kubectl.namespace}-made")["metadata"]["labels"]
    assert labels == {"kubernetes.io/metadata.name": f"{kubectl.namespace}-made"}


def test_discovery_is_revalidated_from_the_http_cache(kubectl: Kubectl) -> None:
    """Aggregated discovery carries an ETag and `Cache-Control: public`: a refresh of kubectl's discovery cache
    gets 304s that its HTTP cache turns into the stored answers (marked `X-From-Cache`), as from kube-apiserver."""
    kubectl("api-resources")
    result = kubectl("api-resources", "--cached=false", "-v=8")
    for path in ("/api", "/apis"):
        answer = exchange(result.stderr, "GET", path)
        assert header(answer, "Cache-Control") == ["public"] and header(answer, "X-From-Cache") == ["1"], answer


def test_answers_are_not_cached(kubectl: Kubectl) -> None:
    """Every answer without a Cache-Control of its own is `no-cache, private`, watch streams too; health checks
    are `nosniff` text (kube-apiserver's filters)."""
    result = kubectl("get", "endpointslices", "-v=8")
    path = f"/apis/discovery.k8s.io/v1/namespaces/{kubectl.namespace}/endpointslices"
    assert header(exchange(result.stderr, "GET", path), "Cache-Control") == ["no-cache, private"]
    result = kubectl("get", "--raw", "/readyz", "-v=8")
    answer = exchange(result.stderr, "GET", "/readyz")
    assert header(answer, "Cache-Control") == ["no-cache, private"]
    assert header(answer, "X-Content-Type-Options") == ["nosniff"]
    kubectl("apply", "-f", "-", input=SLICE)
    w = kubectl.watch("endpointslices", "-v=8")
    try:
        w.wait_for(lambda lines: len(lines) >= 2)
        kubectl("label", "endpointslice", "web", "seen=yes")
        w.wait_for(lambda lines: len(lines) >= 3)  # the watch answered
    finally:
        stderr = w.stop()
    assert header(exchange(stderr, "GET", path, "watch=true"), "Cache-Control") == ["no-cache, private"]


# --- get, apply, server-side apply, diff, edit -------------------------------------------------------


def test_get_and_apply_twice(kubectl: Kubectl) -> None:
    empty = kubectl("get", "endpointslices")
    assert empty.stdout == "" and f"No resources found in {kubectl.namespace} namespace." in empty.stderr
    assert kubectl("apply", "-f", "-", input=SLICE).stdout.strip() == "endpointslice.discovery.k8s.io/web created"
    second = kubectl("apply", "-f", "-", input=SLICE)
    assert second.stdout.strip() == "endpointslice.discovery.k8s.io/web unchanged" and second.stderr == ""
    rows = table(kubectl("get", "endpointslices").stdout)
    assert rows[0] == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert rows[1][:4] == ["web", "IPv4", "80", "10.0.0.1"] and len(rows) == 2
    obj = kubectl.get("endpointslice", "web")
    assert obj["metadata"]["generation"] == 1
    assert "kubectl.kubernetes.io/last-applied-configuration" in obj["metadata"]["annotations"]


def test_server_side_apply(kubectl: Kubectl) -> None:
    out = kubectl("apply", "--server-side", "-f", "-", input=SLICE).stdout.strip()
    assert out == "endpointslice.discovery.k8s.io/web serverside-applied"
    changed = SLICE.replace("port: 80", "port: 8080")
    assert kubectl("apply", "--server-side", "-f", "-", input=changed).stdout.strip() == out
    obj = kubectl.get("endpointslice", "web", "--show-managed-fields")
    assert obj["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert [(m["manager"], m["operation"]) for m in obj["metadata"]["managedFields"]] == [("kubectl", "Apply")]
    conflict = kubectl("apply", "--server-side", "--field-manager=other", "-f", "-", input=SLICE, check=False)
    assert conflict.returncode == 1 and 'Apply failed with 1 conflict: conflict with "kubectl"' in conflict.stderr


def test_diff(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=SLICE)
    same = kubectl("diff", "-f", "-", input=SLICE)
    assert same.stdout == ""
    diff = kubectl("diff", "-f", "-", input=SLICE.replace("10.0.0.1", "10.0.0.2"), check=False)
    assert diff.returncode == 1, diff.stderr
    assert "-  - 10.0.0.1" in diff.stdout and "+  - 10.0.0.2" in diff.stdout
    assert "-  generation: 1" in diff.stdout and "+  generation: 2" in diff.stdout  # the server's dry run
    assert kubectl.get("endpointslice", "web")["endpoints"][0]["addresses"] == ["10.0.0.1"]


def test_edit(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl("apply", "-f", "-", input=SLICE)
    with editor(tmp_path, "s/app: web/app: edited/") as env:
        out = kubectl("edit", "endpointslice", "web", env=env).stdout
    assert out.strip() == "endpointslice.discovery.k8s.io/web edited"
    obj = kubectl.get("endpointslice", "web", "--show-managed-fields")
    assert obj["metadata"]["labels"] == {"app": "edited"}
    assert "kubectl-edit" in {m["manager"] for m in obj["metadata"]["managedFields"]}


# --- explain -----------------------------------------------------------------------------------------


def test_explain_fields(kubectl: Kubectl) -> None:
    out = kubectl("explain", "endpointslices.endpoints").stdout
    assert re.search(r"^GROUP:\s+discovery\.k8s\.io$", out, re.MULTILINE)
    assert re.search(r"^KIND:\s+EndpointSlice$", out, re.MULTILINE)
    assert re.search(r"^FIELD: endpoints <\[\]Endpoint>$", out, re.MULTILINE)
    fields = re.findall(r"^  (\w+)\t<", out, re.MULTILINE)
    assert fields == ["addresses", "conditions", "deprecatedTopology", "hints", "hostname", "nodeName", "targetRef",
                      "zone"]
    out = kubectl("explain", "services.spec.ports").stdout
    assert re.search(r"^  port\t<integer> -required-$", out, re.MULTILINE)
    out = kubectl("explain", "pods.spec.containers").stdout
    assert re.search(r"^  image\t<string>$", out, re.MULTILINE)


def test_explain_endpoint_descriptions_as_kube_apiserver(kubectl: Kubectl) -> None:
    out = kubectl("explain", "endpointslices.endpoints").stdout
    assert "  conditions\t<EndpointConditions>\n    conditions contains information about the current status of " \
           "the endpoint.\n" in out
    assert "    addresses of this endpoint. The contents of this field are interpreted\n" in out


def test_explain_pod_field_as_kube_apiserver(kubectl: Kubectl) -> None:
    out = kubectl("explain", "pods.spec.dnsPolicy").stdout
    assert "FIELD: dnsPolicy <string>" in out
    if kubectl.minor >= 30:  # newer releases list the enum of the v3 schema
        assert "ENUM:\n    ClusterFirst\n    ClusterFirstWithHostNet\n    Default\n    None\n" in out
    assert "Possible enum values:\n     - `\"ClusterFirst\"` indicates that the pod should use cluster DNS" in out


# --- create, run, label, patch, delete ---------------------------------------------------------------


def test_create_service_and_run(kubectl: Kubectl) -> None:
    created = kubectl("create", "service", "clusterip", "s", "--tcp=80:8080")
    assert created.stdout.strip() == "service/s created" and created.stderr == ""
    service = kubectl.get("service", "s")
    assert service["spec"]["ports"] == [{"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}]
    assert service["spec"]["type"] == "ClusterIP" and service["spec"]["selector"] == {"app": "s"}

    run = kubectl("run", "p", "--image=nginx")
    assert run.stdout.strip() == "pod/p created"
    assert run.stderr == ""  # no warnings
    pod = kubectl.get("pod", "p")
    assert [(c["name"], c["image"]) for c in pod["spec"]["containers"]] == [("p", "nginx")]
    assert pod["metadata"]["labels"] == {"run": "p"} and pod["status"]["phase"] == "Pending"
    rows = table(kubectl("get", "pods").stdout)
    assert rows[1][:4] == ["p", "0/1", "Pending", "0"]


def test_label_and_patches(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=SLICE)
    assert kubectl("label", "endpointslice", "web", "env=prod").stdout.strip() == \
        "endpointslice.discovery.k8s.io/web labeled"
    patched = "endpointslice.discovery.k8s.io/web patched"
    assert kubectl("patch", "endpointslice", "web", "-p", '{"metadata":{"labels":{"s":"1"}}}').stdout.strip() == \
        patched
    assert kubectl("patch", "endpointslice", "web", "--type=merge",
                   "-p", '{"endpoints":[{"addresses":["10.9.9.9"]}]}').stdout.strip() == patched
    assert kubectl("patch", "endpointslice", "web", "--type=json",
                   "-p", '[{"op":"replace","path":"/ports/0/port","value":9090}]').stdout.strip() == patched
    assert kubectl("patch", "endpointslice", "web", "--type=merge",
                   "-p", '{"addressType":"IPv4"}').stdout.strip() == f"{patched} (no change)"
    obj = kubectl.get("endpointslice", "web")
    assert obj["metadata"]["labels"] == {"app": "web", "env": "prod", "s": "1"}
    assert obj["endpoints"] == [{"addresses": ["10.9.9.9"], "conditions": {}}]  # a struct in Go
    assert obj["ports"] == [{"name": "http", "port": 9090, "protocol": "TCP"}]

    kubectl("create", "service", "clusterip", "s", "--tcp=80:8080")
    kubectl("patch", "service", "s", "-p", '{"spec":{"ports":[{"port":80,"targetPort":9090}]}}')
    ports = kubectl.get("service", "s")["spec"]["ports"]
    assert ports == [{"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 9090}]  # merged by port
    kubectl("run", "p", "--image=nginx")
    kubectl("patch", "pod", "p", "-p", '{"spec":{"containers":[{"name":"p","image":"nginx:1.27"}]}}')
    assert kubectl.get("pod", "p")["spec"]["containers"][0]["image"] == "nginx:1.27"  # merged by name


def test_delete(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=SLICE)
    kubectl("create", "service", "clusterip", "s", "--tcp=80:8080")
    kubectl("run", "p", "--image=nginx")
    assert kubectl("delete", "endpointslice", "web").stdout.strip() == 'endpointslice.discovery.k8s.io "web" deleted'
    assert kubectl("delete", "service", "s").stdout.strip() == 'service "s" deleted'
    assert kubectl("delete", "pod", "p").stdout.strip() == 'pod "p" deleted'
    assert kubectl.get("endpointslices,services,pods")["items"] == []
    missing = kubectl("delete", "pod", "p", check=False)
    assert missing.returncode == 1 and 'Error from server (NotFound): pods "p" not found' in missing.stderr


# --- watch -------------------------------------------------------------------------------------------


def test_get_watch_sees_a_change(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=SLICE)
    w = kubectl.watch("endpointslices")
    try:
        w.wait_for(lambda lines: len(lines) >= 2)
        kubectl("patch", "endpointslice", "web", "--type=merge", "-p", '{"ports":[{"name":"http","port":8080}]}')
        lines = w.wait_for(lambda lines: len(lines) >= 3)
    finally:
        stderr = w.stop()
    rows = table("\n".join(lines))
    assert rows[0] == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert [row[:3] for row in rows[1:]] == [["web", "IPv4", "80"], ["web", "IPv4", "8080"]]
    assert "error" not in stderr.lower(), stderr
