"""Aggregated-API mode for real: the front proxy's request-header authentication and delegated authorization
against kube-apiserver v1.32.13, then the real kube-apiserver as the aggregator (its `--requestheader-*` and
`--proxy-client-*` flags, `--enable-aggregator-routing`) in front of our server registered by the manifests
`slice-apiserver apiservice` prints: kubectl through kube-apiserver reaches our resources and watches fan out
through it.

Endpoints may not name a loopback address, so the aggregated server listens on an address of its own: the test
makes a veth pair whose far end lives in a network namespace it creates (a test host), and binds our server to the
near end's address (10.x, reachable from this host only; both go with the namespace)."""

from __future__ import annotations

import base64
import http.client
import json
import os
import random
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from apiserver import aggregated
from apiserver.certificates import CertificateFiles, new_ca, new_client_certificate
from apiserver.clientconfig import load_client_config
from apiserver.config import Config
from apiserver.testing import RunningServer, free_port, run_server
from conformance.kube_apiserver import KubeAPIServer, kube_apiserver_binary
from tests.conftest import kubectl_binary

GROUP = aggregated.DEFAULT_GROUP
FRONT_PROXY = "front-proxy-client"
REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
REVIEW = json.dumps({"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1"}).encode()


@dataclass
class FrontProxy:
    ca: CertificateFiles
    client: CertificateFiles  # CN front-proxy-client: the aggregator's
    other: CertificateFiles  # signed by the front-proxy CA, another CommonName


@pytest.fixture(scope="module")
def front_proxy(tmp_path_factory: pytest.TempPathFactory) -> FrontProxy:
    directory = tmp_path_factory.mktemp("front-proxy")
    ca = new_ca(directory, "front-proxy-ca")
    return FrontProxy(ca, new_client_certificate(ca, directory, FRONT_PROXY, FRONT_PROXY),
                      new_client_certificate(ca, directory, "impostor", "impostor"))


def aggregated_config(front_proxy: FrontProxy, directory: Path, **flags: Any) -> Config:
    return Config(compaction_interval=0, aggregated=True, secure=True, cert_dir=str(directory / "certs"),
                  requestheader_client_ca_file=str(front_proxy.ca.cert), requestheader_allowed_names=(FRONT_PROXY,),
                  **flags)


def call(url: str, path: str, ca_pem: bytes | None, cert: CertificateFiles | None = None,
         headers: dict[str, str] | None = None, method: str = "GET", body: bytes | None = None
         ) -> tuple[int, Any]:
    context = ssl.create_default_context(cadata=ca_pem.decode() if ca_pem else None)
    context.check_hostname = False
    if cert is not None:
        context.load_cert_chain(cert.cert, cert.key)
    sent = {**(headers or {}), **({"Content-Type": "application/json"} if body is not None else {})}
    request = urllib.request.Request(url + path, data=body, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            code, text = response.status, response.read()
    except urllib.error.HTTPError as err:
        code, text = err.code, err.read()
    return code, json.loads(text) if text.startswith(b"{") else text


def test_front_proxy_names_the_user_in_request_headers(front_proxy: FrontProxy, tmp_path: Path) -> None:
    """Upstream's request-header authenticator: the front proxy's certificate (CommonName allowed) makes the
    X-Remote-* headers the user; extra keys lower-cased and unescaped; system:authenticated added."""
    with run_server(aggregated_config(front_proxy, tmp_path), tmp_path) as server:
        ca = server.serving.ca_pem
        headers = {"X-Remote-User": "alice", "X-Remote-Group": "team-a", "X-Remote-Extra-Scopes": "s1",
                   "X-Remote-Extra-Acme.com%2fProject": "p"}
        code, review = call(server.url, REVIEWS, ca, front_proxy.client, headers, "POST", REVIEW)
        assert code == 201
        assert review["status"]["userInfo"] == {"username": "alice", "groups": ["team-a", "system:authenticated"],
                                                "extra": {"scopes": ["s1"], "acme.com/project": ["p"]}}
        # the headers count only from the front proxy: not from another CommonName of its CA, nor without a
        # certificate (anonymous requests are off under AlwaysAllow), nor from the front proxy without a user
        assert call(server.url, REVIEWS, ca, front_proxy.other, headers, "POST", REVIEW)[0] == 401
        assert call(server.url, REVIEWS, ca, None, headers, "POST", REVIEW)[0] == 401
        assert call(server.url, REVIEWS, ca, front_proxy.client, {}, "POST", REVIEW)[0] == 401


class RBACKubeAPIServer(KubeAPIServer):
    """kube-apiserver authorizing with RBAC (Node and RBAC, as clusters run it) instead of AlwaysAllow: the
    --authorization-mode flag is a list, so it is replaced rather than given twice."""

    def command(self) -> list[str]:
        command = super().command()
        command[command.index("--authorization-mode") + 1] = "Node,RBAC"
        return command


def test_front_proxy_users_authorized_by_our_rbac(front_proxy: FrontProxy, tmp_path: Path) -> None:
    """`--authorization-mode RBAC` in aggregated mode: the front proxy's users are authorized by our own roles."""
    with run_server(aggregated_config(front_proxy, tmp_path, authorization_mode="RBAC"), tmp_path) as server:
        ca, path = server.serving.ca_pem, "/apis/rbac.authorization.k8s.io/v1/clusterroles/view"
        code, status = call(server.url, path, ca, front_proxy.client, {"X-Remote-User": "carol"})
        assert (code, status["message"]) == (403, 'clusterroles.rbac.authorization.k8s.io "view" is forbidden: User '
                                           '"carol" cannot get resource "clusterroles" in API group '
                                           '"rbac.authorization.k8s.io" at the cluster scope')
        admin = {"X-Remote-User": "root", "X-Remote-Group": "system:masters"}
        rbac = "/apis/rbac.authorization.k8s.io/v1"
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "slices"},
                "rules": [{"verbs": ["list"], "apiGroups": [GROUP], "resources": ["endpointslices"]}]}
        binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                   "metadata": {"name": "carol-slices"}, "subjects": [{"kind": "User", "name": "carol"}],
                   "roleRef": {"kind": "ClusterRole", "name": "slices"}}
        for plural, body in (("clusterroles", role), ("clusterrolebindings", binding)):
            code = call(server.url, f"{rbac}/{plural}", ca, front_proxy.client, admin, "POST", json.dumps(body).encode())[0]
            assert code == 201
        deadline = time.monotonic() + 10
        while (code := call(server.url, f"/apis/{GROUP}/v1/namespaces/default/endpointslices", ca,
                            front_proxy.client, {"X-Remote-User": "carol"})[0]) == 403 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert code == 200


def test_apiservice_prints_the_registration(tmp_path: Path) -> None:
    """`slice-apiserver apiservice`: the APIService of our group trusting the generated CA (which signed a serving
    certificate for the Service's name), the Service without selector, its Endpoints at --address."""
    printed = subprocess.run(
        [sys.executable, "-m", "apiserver", "--aggregated", "--secure", "--cert-dir", str(tmp_path), "--port", "8443",
         "--service-name", "slices", "--service-namespace", "edge", "apiservice", "--address", "192.0.2.10"],
        capture_output=True, text=True, check=True, timeout=60).stdout
    apiservice, service, endpoints = yaml.safe_load_all(printed)
    ca = (tmp_path / "ca.crt").read_bytes()
    assert apiservice == {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                          "metadata": {"name": f"v1.{GROUP}"},
                          "spec": {"group": GROUP, "version": "v1", "groupPriorityMinimum": 1000, "versionPriority": 15,
                                   "service": {"name": "slices", "namespace": "edge", "port": 443},
                                   "caBundle": base64.b64encode(ca).decode()}}
    assert service["spec"] == {"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443}]}
    assert endpoints["subsets"] == [{"addresses": [{"ip": "192.0.2.10"}],
                                     "ports": [{"name": "https", "port": 8443, "protocol": "TCP"}]}]
    names = x509.load_pem_x509_certificate((tmp_path / "apiserver.crt").read_bytes()).extensions \
        .get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert "slices.edge.svc" in names


def test_authorization_kubeconfig_with_inline_certificates(tmp_path: Path) -> None:
    """The kubeconfig of --authorization-kubeconfig as client-go reads it: a CA and a client certificate inline (or
    as files relative to it) verify the server and authenticate to it."""
    ca = new_ca(tmp_path, "client-ca")
    client = new_client_certificate(ca, tmp_path, "reviewer", "reviewer", ("reviewers",))
    config = Config(compaction_interval=0, secure=True, client_ca_file=str(ca.cert))
    with run_server(config, tmp_path) as server:
        assert server.serving.ca_pem is not None
        cluster = {"server": server.url, "certificate-authority-data": base64.b64encode(server.serving.ca_pem).decode()}
        user = {"client-certificate-data": base64.b64encode(client.cert.read_bytes()).decode(),
                "client-key": client.key.name}
        kubeconfig = tmp_path / "authz.kubeconfig"
        kubeconfig.write_text(json.dumps({"apiVersion": "v1", "kind": "Config", "current-context": "c",
                                          "clusters": [{"name": "k", "cluster": cluster}],
                                          "users": [{"name": "u", "user": user}],
                                          "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}))
        loaded = load_client_config(kubeconfig)
        assert (loaded.server, loaded.headers) == (server.url, {})
        request = urllib.request.Request(loaded.server + REVIEWS, data=REVIEW, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, context=loaded.ssl_context, timeout=10) as response:
            review = json.loads(response.read())
        assert review["status"]["userInfo"]["username"] == "reviewer"


def test_delegated_authorization_that_cannot_ask_is_a_500(front_proxy: FrontProxy, tmp_path: Path) -> None:
    """Upstream's WithAuthorization answers an authorizer's error with an InternalError Status; the probes and
    system:masters need no review."""
    unreachable = tmp_path / "unreachable.kubeconfig"
    unreachable.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": f"https://127.0.0.1:{free_port()}"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k"}}]}))
    config = aggregated_config(front_proxy, tmp_path, authorization_kubeconfig=str(unreachable))
    with run_server(config, tmp_path) as server:
        ca, path = server.serving.ca_pem, f"/apis/{GROUP}/v1/namespaces/default/endpointslices"
        code, status = call(server.url, path, ca, front_proxy.client, {"X-Remote-User": "bob"})
        assert (code, status["reason"]) == (500, "InternalError")
        assert status["message"].startswith("Internal error occurred: SubjectAccessReview: ")
        assert call(server.url, "/livez", ca)[0] == 200
        rules = json.dumps({"kind": "SelfSubjectRulesReview", "apiVersion": "authorization.k8s.io/v1",
                            "spec": {"namespace": "default"}}).encode()
        code, review = call(server.url, "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", ca,
                            front_proxy.client, {"X-Remote-User": "root", "X-Remote-Group": "system:masters"},
                            "POST", rules)
        assert (code, review["status"]) == (201, {"resourceRules": [], "nonResourceRules": [], "incomplete": True,
                                                  "evaluationError": "webhook authorizer does not support user rule "
                                                  "resolution"})
        assert call(server.url, path, ca, front_proxy.client, {"X-Remote-User": "root",
                                                               "X-Remote-Group": "system:masters"})[0] == 200


@pytest.fixture(scope="module")
def kube(front_proxy: FrontProxy) -> Iterator[KubeAPIServer]:
    """kube-apiserver with RBAC, as the aggregator: it proxies with the front proxy's certificate and reaches an
    APIService's Endpoints directly."""
    if kube_apiserver_binary() is None:
        pytest.skip("kube-apiserver is not built (scripts/build-kube-apiserver)")
    flags = ("--requestheader-client-ca-file", str(front_proxy.ca.cert),
             "--requestheader-allowed-names", FRONT_PROXY,
             "--requestheader-username-headers", "X-Remote-User", "--requestheader-group-headers", "X-Remote-Group",
             "--requestheader-extra-headers-prefix", "X-Remote-Extra-",
             "--proxy-client-cert-file", str(front_proxy.client.cert),
             "--proxy-client-key-file", str(front_proxy.client.key),
             "--enable-aggregator-routing=true")
    with RBACKubeAPIServer(extra_args=flags) as server:
        yield server


def kubectl(kube: KubeAPIServer, *args: str, check: bool = True, stdin: str | None = None
            ) -> subprocess.CompletedProcess[str]:
    binary = kubectl_binary()
    if binary is None:
        pytest.skip("kubectl 1.32 is not installed")
    result = subprocess.run([binary, "--kubeconfig", str(kube.kubeconfig), "--cache-dir",
                             str(kube.directory / "kubectl-cache"), *args], input=stdin, capture_output=True,
                            text=True, timeout=60)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def review_as(url: str, headers: list[tuple[str, str]], front: CertificateFiles, ca_pem: bytes | None) -> Any:
    """The SelfSubjectReview's userInfo (or the status code) for a request the front proxy sends with `headers`
    (repeated names sent as repeated headers)."""
    context = ssl.create_default_context(cadata=ca_pem.decode() if ca_pem else None)
    context.check_hostname = False
    if ca_pem is None:
        context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(front.cert, front.key)
    host, port = url.removeprefix("https://").rsplit(":", 1)
    connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=30)
    try:
        connection.putrequest("POST", REVIEWS)
        for name, value in [*headers, ("Content-Type", "application/json"), ("Content-Length", str(len(REVIEW)))]:
            connection.putheader(name, value)
        connection.endheaders(REVIEW)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    return json.loads(body)["status"]["userInfo"] if response.status == 201 else response.status


@pytest.mark.parametrize("headers", [
    [("X-Remote-User", "alice"), ("X-Remote-Group", "a"), ("X-Remote-Group", "b"), ("X-Remote-Extra-Scopes", "s1"),
     ("X-Remote-Extra-Scopes", "s2"), ("x-remote-extra-acme.com%2Fproject", "p"), ("X-Remote-Extra-UPPER", "X")],
    [("X-Remote-User", "bob"), ("X-Remote-User", "eve"), ("X-Remote-Group", ""), ("X-Remote-Group", "system:masters")],
    [("X-Remote-User", ""), ("X-Remote-Group", "g")],
    [("X-Remote-Extra-Bad%zzkey", "v"), ("X-Remote-User", "carol"), ("X-Remote-Extra-", "empty key")],
], ids=["groups-and-extra", "repeated-user", "empty-user", "odd-extra-keys"])
def test_request_headers_read_as_kube_apiserver_reads_them(front_proxy: FrontProxy, kube: KubeAPIServer,
                                                           tmp_path: Path, headers: list[tuple[str, str]]) -> None:
    """kube-apiserver authenticates its own front-proxy requests with the same flags: both read the headers alike
    (under RBAC, so anonymous requests are allowed by both and get a 403)."""
    with run_server(aggregated_config(front_proxy, tmp_path, authorization_mode="RBAC"), tmp_path) as server:
        ours = review_as(server.url, headers, front_proxy.client, server.serving.ca_pem)
    theirs = review_as(kube.url, headers, front_proxy.client, None)
    assert ours == theirs


def test_delegated_authorization_asks_kube_apiserver(front_proxy: FrontProxy, kube: KubeAPIServer,
                                                     tmp_path: Path) -> None:
    """`--authorization-kubeconfig`: SubjectAccessReviews to kube-apiserver decide (RBAC there), system:masters and
    the probes are allowed without asking; a denial is cached for the unauthorized TTL only."""
    config = aggregated_config(front_proxy, tmp_path, authorization_kubeconfig=str(kube.kubeconfig),
                               authorization_webhook_cache_unauthorized_ttl=0.2)
    with run_server(config, tmp_path) as server:
        ca = server.serving.ca_pem
        path = f"/apis/{GROUP}/v1/namespaces/default/endpointslices"
        bob = {"X-Remote-User": "bob", "X-Remote-Group": "developers"}
        code, status = call(server.url, path, ca, front_proxy.client, bob)
        assert (code, status["reason"], status["message"]) == (403, "Forbidden", (
            f'endpointslices.{GROUP} is forbidden: User "bob" cannot list resource "endpointslices" in API group '
            f'"{GROUP}" in the namespace "default"'))
        admin = {"X-Remote-User": "root", "X-Remote-Group": "system:masters"}
        assert call(server.url, path, ca, front_proxy.client, admin)[0] == 200
        assert call(server.url, "/readyz", ca)[0] == 200  # anonymous, an always-allowed path
        assert call(server.url, "/metrics", ca)[0] == 403  # anonymous, asked: kube-apiserver's RBAC says no
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "slice-reader"},
                "rules": [{"verbs": ["get", "list", "watch"], "apiGroups": [GROUP], "resources": ["endpointslices"]}]}
        kubectl(kube, "create", "-f", "-", stdin=json.dumps(role))  # (kubectl create clusterrole asks discovery)
        kubectl(kube, "create", "clusterrolebinding", "developers-read-slices", "--clusterrole=slice-reader",
                "--group=developers")
        deadline = time.monotonic() + 10
        while (code := call(server.url, path, ca, front_proxy.client, bob)[0]) == 403 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert code == 200
        assert call(server.url, path, ca, front_proxy.client, bob, "POST", b"{}")[0] == 403


@contextmanager
def namespaced_host() -> Iterator[str]:
    """A network namespace (a test host) at the far end of a veth pair; yields the address of the near end, in this
    host's namespace: not a loopback address, reachable from this host and from the test host only."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("making a network namespace needs root and iproute2")
    name = f"slice-agg-{os.getpid()}"
    near, far = f"sa{os.getpid() % 10**7}h", f"sa{os.getpid() % 10**7}f"
    used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True).stdout
    subnet = next(f"10.254.{n}" for n in random.sample(range(1, 255), 254) if f"10.254.{n}." not in used)
    commands = [["ip", "netns", "add", name],
                ["ip", "link", "add", near, "type", "veth", "peer", "name", far, "netns", name],
                ["ip", "addr", "add", f"{subnet}.1/30", "dev", near], ["ip", "link", "set", near, "up"],
                ["ip", "-n", name, "addr", "add", f"{subnet}.2/30", "dev", far],
                ["ip", "-n", name, "link", "set", far, "up"], ["ip", "-n", name, "link", "set", "lo", "up"]]
    try:
        for command in commands:
            made = subprocess.run(command, capture_output=True, text=True)
            if made.returncode != 0:
                pytest.skip(f"cannot make a test host: {' '.join(command)}: {made.stderr.strip()}")
        yield f"{subnet}.1"
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)  # the veth pair goes with it


@dataclass
class Aggregated:
    server: RunningServer
    url: str  # where the aggregator reaches it


@pytest.fixture(scope="module")
def registered(front_proxy: FrontProxy, kube: KubeAPIServer, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Aggregated]:
    """Our server in aggregated mode on the test host's address, authorizing by delegation to kube-apiserver,
    registered with the manifests of `slice-apiserver apiservice` and Available."""
    directory = tmp_path_factory.mktemp("aggregated")
    with namespaced_host() as address:
        config = replace(aggregated_config(front_proxy, directory, authorization_kubeconfig=str(kube.kubeconfig)),
                         bind_address=address, port=free_port(), kubeconfig="")
        server = RunningServer(config, directory / "kubeconfig").start()
        try:
            manifests = subprocess.run(
                [sys.executable, "-m", "apiserver", "--aggregated", "--secure", "--cert-dir", config.cert_dir,
                 "--bind-address", address, "--port", str(config.port), "--requestheader-client-ca-file",
                 config.requestheader_client_ca_file, "apiservice"],
                capture_output=True, text=True, check=True, timeout=60).stdout
            kubectl(kube, "apply", "-f", "-", stdin=manifests)
            kubectl(kube, "wait", "--for=condition=Available", f"apiservice/v1.{GROUP}", "--timeout=90s")
            deadline = time.monotonic() + 60  # the aggregator publishes the group's discovery a moment later
            while f"endpointslices.{GROUP}" not in kubectl(kube, "api-resources", f"--api-group={GROUP}", "-o", "name",
                                                           check=False).stdout:
                assert time.monotonic() < deadline, "the aggregator's discovery never listed our group"
                time.sleep(0.5)
            yield Aggregated(server, f"https://{address}:{config.port}")
        finally:
            server.stop()


def new_slice(name: str) -> str:
    return json.dumps({"apiVersion": f"{GROUP}/v1", "kind": "EndpointSlice", "metadata": {"name": name},
                       "addressType": "IPv4", "endpoints": [{"addresses": ["10.1.0.1"]}],
                       "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]})


def test_kubectl_through_the_aggregator_reaches_our_resources(registered: Aggregated, kube: KubeAPIServer,
                                                              front_proxy: FrontProxy) -> None:
    """kubectl 1.32 talks to kube-apiserver only: discovery lists our group, writes and reads of our resources are
    proxied to us (as the user kube-apiserver authenticated, whom we authorize by asking it back)."""
    resources = kubectl(kube, "api-resources", f"--api-group={GROUP}", "-o", "name").stdout.split()
    assert f"endpointslices.{GROUP}" in resources and f"services.{GROUP}" in resources
    kubectl(kube, "create", "-f", "-", stdin=new_slice("through-the-aggregator"))
    table = kubectl(kube, "get", f"endpointslices.{GROUP}", "through-the-aggregator").stdout
    assert table.split("\n")[0].split() == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert table.split("\n")[1].split()[:4] == ["through-the-aggregator", "IPv4", "80", "10.1.0.1"]
    got = json.loads(kubectl(kube, "get", f"endpointslices.{GROUP}", "through-the-aggregator", "-o", "json").stdout)
    assert got["apiVersion"] == f"{GROUP}/v1" and got["kind"] == "EndpointSlice"
    path = f"/apis/{GROUP}/v1/namespaces/default/endpointslices/through-the-aggregator"
    ca = registered.server.serving.ca_pem
    masters = {"X-Remote-User": "root", "X-Remote-Group": "system:masters"}
    status, stored = call(registered.url, path, ca, front_proxy.client, masters)  # as the front proxy: it is ours
    assert (status, stored["metadata"]["uid"]) == (200, got["metadata"]["uid"])
    assert call(registered.url, path, ca, None, masters)[0] == 403  # without its certificate: anonymous
    denied = kubectl(kube, "--as=eve", "get", f"endpointslices.{GROUP}", check=False)
    assert denied.returncode == 1
    assert (f'endpointslices.{GROUP} is forbidden: User "eve" cannot list resource "endpointslices" in API group '
            f'"{GROUP}" in the namespace "default"') in denied.stderr


def test_watches_fan_out_through_the_aggregator(registered: Aggregated, kube: KubeAPIServer) -> None:
    """Watches opened through kube-apiserver (three streams and a `kubectl get --watch`) each see every slice
    created through it, as they are created."""
    path = f"/apis/{GROUP}/v1/namespaces/default/endpointslices?watch=1&labelSelector=fan%3Dout&timeoutSeconds=30"
    names = [f"fan-{index}" for index in range(5)]
    seen: list[list[str]] = [[] for _ in range(3)]

    def watch(index: int) -> None:
        with urllib.request.urlopen(kube.request(path), context=kube.ssl_context(), timeout=60) as stream:
            for line in stream:
                event = json.loads(line)
                seen[index].append(event["object"]["metadata"]["name"])
                if len(seen[index]) == len(names):
                    return

    threads = [threading.Thread(target=watch, args=(index,), daemon=True) for index in range(3)]
    for thread in threads:
        thread.start()
    binary = kubectl_binary()
    assert binary is not None
    watcher = subprocess.Popen([binary, "--kubeconfig", str(kube.kubeconfig), "--cache-dir",
                                str(kube.directory / "kubectl-watch-cache"), "get", f"endpointslices.{GROUP}",
                                "-l", "fan=out", "--watch", "-o", "name"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(2)  # the watches are open
        for name in names:
            body = json.loads(new_slice(name))
            body["metadata"]["labels"] = {"fan": "out"}
            kubectl(kube, "create", "-f", "-", stdin=json.dumps(body))
        for thread in threads:
            thread.join(30)
        assert seen == [names] * 3
        assert watcher.stdout is not None
        printed = [watcher.stdout.readline().strip() for _ in names]
        assert printed == [f"endpointslice.{GROUP}/{name}" for name in names]
    finally:
        watcher.kill()
        watcher.wait()
