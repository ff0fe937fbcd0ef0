"""Secure serving over real TLS sockets: `--secure` generates a CA, a serving certificate and an admin token in
`--cert-dir` (reused on restart), the kubeconfig it writes carries the CA and the token, and kubectl and the
official client verify the server's name against it; `--tls-cert-file` serves a certificate of one's own; plain
HTTP stays on loopback unless `--insecure-allow-remote` says otherwise."""

from __future__ import annotations

import base64
import ipaddress
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from apiserver import secure_serving
from apiserver.certificates import ensure_serving_certificate, serving_names
from apiserver.config import Config
from apiserver.testing import free_port, run_server
from tests.conftest import kubectl_binary


@contextmanager
def cli_server(*flags: str, timeout: float = 30) -> Iterator[int]:
    """`python -m apiserver --port P FLAGS...` until ready (its /readyz answers at all); yields the port."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "apiserver", "--port", str(port), *flags],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout
        context = ssl._create_unverified_context()
        while True:
            try:
                urllib.request.urlopen(f"https://127.0.0.1:{port}/readyz", context=context, timeout=2)
                break
            except urllib.error.HTTPError:
                break  # 401: it answers
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"the server did not start: {process.stderr.read().decode()}") from None
                time.sleep(0.05)
        yield port
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.stderr is not None
        process.stderr.close()


def kubeconfig_parts(path: Path) -> tuple[str, bytes, str]:
    """(server, CA PEM, token) of a kubeconfig the server wrote."""
    config = yaml.safe_load(path.read_text())
    cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
    return cluster["server"], base64.b64decode(cluster["certificate-authority-data"]), user["token"]


def kubectl(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    binary = kubectl_binary()
    if binary is None:
        pytest.skip("kubectl 1.32 is not installed")
    return subprocess.run([binary, "--kubeconfig", str(kubeconfig), "--cache-dir", str(kubeconfig.parent / "cache"),
                           *args], check=False, capture_output=True, text=True, timeout=30)


def test_secure_generates_its_ca_certificate_and_token_and_reuses_them(tmp_path: Path) -> None:
    certs, kubeconfig = tmp_path / "certs", tmp_path / "kubeconfig"
    flags = ("--secure", "--cert-dir", str(certs), "--kubeconfig", str(kubeconfig))
    with cli_server(*flags) as port:
        server, ca_pem, token = kubeconfig_parts(kubeconfig)
        assert server == f"https://127.0.0.1:{port}"
        assert ca_pem == (certs / "ca.crt").read_bytes()
        assert oct(kubeconfig.stat().st_mode & 0o777) == "0o600"  # it carries a token
        assert oct((certs / "apiserver.key").stat().st_mode & 0o777) == "0o600"
        cert = x509.load_pem_x509_certificate((certs / "apiserver.crt").read_bytes())
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert "localhost" in sans.get_values_for_type(x509.DNSName)
        assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
        context = ssl.create_default_context(cadata=ca_pem.decode())  # names verified: 127.0.0.1 and localhost
        for host in ("127.0.0.1", "localhost"):
            request = urllib.request.Request(f"https://{host}:{port}/readyz", headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(request, context=context, timeout=10) as answer:
                assert answer.read() == b"ok"
        got = kubectl(kubeconfig, "get", "namespaces", "-o", "name")
        assert got.returncode == 0, got.stderr
        assert "namespace/default" in got.stdout.split()
        from kubernetes import client, config

        api = config.new_client_from_config(str(kubeconfig))
        try:
            assert "kube-system" in [n.metadata.name for n in client.CoreV1Api(api).list_namespace().items]
        finally:
            api.close()
        files = {name: (certs / name).read_bytes() for name in os.listdir(certs)}
        assert set(files) == {"ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "admin-token.csv"}
    with cli_server(*flags):  # a restart keeps the CA, the certificate and the token: old kubeconfigs still work
        assert {name: (certs / name).read_bytes() for name in os.listdir(certs)} == files
        assert kubeconfig_parts(kubeconfig)[1:] == (ca_pem, token)
        got = kubectl(kubeconfig, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
        assert (got.returncode, got.stdout) == (0, "admin"), got.stderr


def test_the_serving_certificate_is_made_again_when_it_does_not_fit(tmp_path: Path) -> None:
    first = ensure_serving_certificate(tmp_path, "127.0.0.1")
    ca = first.ca_cert.read_bytes()
    assert ensure_serving_certificate(tmp_path, "127.0.0.1").cert.read_bytes() == first.cert.read_bytes()
    again = ensure_serving_certificate(tmp_path, "127.0.0.2")  # another bind address: its name is missing
    sans = x509.load_pem_x509_certificate(again.cert.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.2") in sans.get_values_for_type(x509.IPAddress)
    assert again.ca_cert.read_bytes() != ca
    again.key.write_text("garbage")  # a lost key: both made anew
    assert ensure_serving_certificate(tmp_path, "127.0.0.2").key.read_bytes() != b"garbage"


def test_a_certificate_of_ones_own(tmp_path: Path) -> None:
    """--tls-cert-file/--tls-private-key-file: served as given (no credentials configured: nobody is
    authenticated, every request is system:unsecured, as with plain HTTP)."""
    own = ensure_serving_certificate(tmp_path / "own", "127.0.0.1")
    config = Config(compaction_interval=0, tls_cert_file=str(own.cert), tls_private_key_file=str(own.key))
    with run_server(config, tmp_path) as server:
        assert server.url.startswith("https://")
        context = ssl.create_default_context(cafile=own.ca_cert)
        with urllib.request.urlopen(server.url + "/api/v1/namespaces/default", context=context, timeout=10) as answer:
            assert answer.status == 200
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):  # a client not trusting its CA
            urllib.request.urlopen(server.url + "/readyz", context=ssl.create_default_context(), timeout=10)
        with pytest.raises((urllib.error.URLError, ConnectionError)):  # plain HTTP on the TLS port
            urllib.request.urlopen(server.url.replace("https", "http") + "/readyz", timeout=10)


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "192.0.2.10"])
def test_plain_http_beyond_loopback_needs_insecure_allow_remote(address: str) -> None:
    run = subprocess.run([sys.executable, "-m", "apiserver", "--bind-address", address, "--port", str(free_port()),
                          "--kubeconfig", ""], check=False, capture_output=True, text=True, timeout=30)
    assert run.returncode == 1
    assert f"refusing to serve plain HTTP on {address}" in run.stderr and "--insecure-allow-remote" in run.stderr


def test_tls_beyond_loopback_needs_authentication(tmp_path: Path) -> None:
    own = ensure_serving_certificate(tmp_path, "127.0.0.1")
    run = subprocess.run([sys.executable, "-m", "apiserver", "--bind-address", "0.0.0.0", "--port", str(free_port()),
                          "--kubeconfig", "", "--tls-cert-file", str(own.cert), "--tls-private-key-file", str(own.key)],
                         check=False, capture_output=True, text=True, timeout=30)
    assert run.returncode == 1 and "refusing to serve on 0.0.0.0 without authentication" in run.stderr
    allowed = Config(bind_address="0.0.0.0", tls_cert_file=str(own.cert), tls_private_key_file=str(own.key))
    for flags in ({"token_auth_file": "tokens.csv"}, {"client_ca_file": "ca.crt"}, {"insecure_allow_remote": True},
                  {"requestheader_client_ca_file": "front-proxy-ca.crt"}):
        secure_serving.check(replace(allowed, **flags))
    secure_serving.check(Config(bind_address="0.0.0.0", secure=True))


@pytest.mark.parametrize(("flags", "message"), [
    (("--client-ca-file", "ca.crt"), "--client-ca-file needs TLS"),
    (("--requestheader-client-ca-file", "ca.crt"), "--requestheader-client-ca-file needs TLS"),
    (("--aggregated",), "--aggregated needs TLS"),
    (("--secure", "--authorization-kubeconfig", "/nonexistent"),
     "slice-apiserver: [Errno 2] No such file or directory: '/nonexistent'\n"),
    (("--secure", "--requestheader-client-ca-file", "/nonexistent-ca"),
     "slice-apiserver: [Errno 2] No such file or directory: '/nonexistent-ca'\n"),
    (("--tls-cert-file", "x.crt"), "--tls-cert-file and --tls-private-key-file go together"),
    (("--secure", "--controllers", "endpointslice"), "--controllers run against plain HTTP only"),
    (("--authorization-mode", "RBAC,Nope"), "authorization-mode 'Nope' is not a valid mode"),
])
def test_flags_that_cannot_be_served_stop_with_a_message(tmp_path: Path, flags: tuple[str, ...], message: str) -> None:
    run = subprocess.run([sys.executable, "-m", "apiserver", "--port", str(free_port()), "--kubeconfig", "",
                          "--cert-dir", str(tmp_path), *flags], check=False, capture_output=True, text=True, timeout=30)
    assert run.returncode == 1 and message in run.stderr


def test_the_kubeconfig_command_carries_the_same_ca_and_token(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    printed = subprocess.run([sys.executable, "-m", "apiserver", "--secure", "--cert-dir", str(certs), "--port", "6443",
                              "kubeconfig"], check=True, capture_output=True, text=True, timeout=30).stdout
    config = yaml.safe_load(printed)
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]) == (
        certs / "ca.crt").read_bytes()
    assert config["users"] == [{"name": "admin", "user": {"token": config["users"][0]["user"]["token"]}}]
    assert config["users"][0]["user"]["token"] in (certs / "admin-token.csv").read_text()


def test_serving_names_cover_the_bind_address_or_the_hosts_name() -> None:
    assert serving_names("127.0.0.1") == ["localhost", "127.0.0.1", "::1"]
    assert serving_names("10.1.2.3") == ["localhost", "127.0.0.1", "::1", "10.1.2.3"]
    assert serving_names("0.0.0.0")[3:] == serving_names("::")[3:] == [socket.gethostname()]


def test_watches_stream_over_tls(tmp_path: Path) -> None:
    """The watch writer writes its frames to the connection's transport itself: over TLS that is the TLS transport,
    and a burst of several megabytes of initial events (JSON and protobuf) arrives whole."""
    from kubernetes import client, watch

    from loadtest.slices import endpoint_slice

    with run_server(Config(compaction_interval=0, secure=True), tmp_path) as server, server.api_client() as api:
        discovery = client.DiscoveryV1Api(api)
        for i in range(60):
            discovery.create_namespaced_endpoint_slice("default", endpoint_slice(f"s{i}", 100))
        names = [e["object"].metadata.name for e in watch.Watch().stream(
            discovery.list_namespaced_endpoint_slice, "default", resource_version="0", timeout_seconds=1)]
        assert sorted(names) == sorted(f"s{i}" for i in range(60))
        context = ssl.create_default_context(cafile=tmp_path / "certs" / "ca.crt")
        request = urllib.request.Request(
            server.url + "/apis/discovery.k8s.io/v1/endpointslices?watch=1&resourceVersion=0&timeoutSeconds=1",
            headers={"Authorization": f"Bearer {server.serving.token}",
                     "Accept": "application/vnd.kubernetes.protobuf;stream=watch"})
        with urllib.request.urlopen(request, context=context, timeout=10) as answer:
            body = answer.read()
        assert body.count(b"ADDED") == 60 and len(body) > 60 * 5_000
