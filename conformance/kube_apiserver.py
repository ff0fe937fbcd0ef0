"""The real kube-apiserver on free loopback ports, for differential tests and benchmarks.

    with KubeAPIServer() as kube:                     # its own throwaway etcd; ready when /readyz says ok
        kube.url, kube.token, kube.kubeconfig         # https://127.0.0.1:<port>, the admin token, a kubeconfig file
        urllib.request.urlopen(kube.request("/version"), context=kube.ssl_context())
        kube.api_client()                             # an official `kubernetes` ApiClient
    with KubeAPIServer(etcd=etcd, etcd_prefix="/kube") as kube:   # on an EtcdProcess you already run

The binaries come from `scripts/build-kube-apiserver` (conformance/.build/kube-apiserver-<release> and the
etcd of that release's module graph); `kube_apiserver_binary()` is None until it has run. The server is set up
as controller-runtime's envtest sets it up: AlwaysAllow authorization, a static admin token, a generated
service-account key, the ServiceAccount admission plugin off (no controller-manager creates default service
accounts), its own self-signed serving certificate (clients skip verification).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Self

from apiserver.testing import free_port
from storage.etcd_process import EtcdProcess

CONFORMANCE = Path(__file__).resolve().parent
BUILD = CONFORMANCE / ".build"
MODULE = CONFORMANCE / "kubeapiserver" / "go.mod"
BUILD_SCRIPT = "scripts/build-kube-apiserver"
CONTEXT = "kube-apiserver"


def pinned_versions() -> tuple[str, str]:
    """The (k8s.io/kubernetes, go.etcd.io/etcd/server/v3) releases pinned in conformance/kubeapiserver/go.mod."""
    text = MODULE.read_text()

    def version(module: str) -> str:
        found = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.MULTILINE)
        if found is None:
            raise ValueError(f"{module} is not required in {MODULE}")
        return found.group(1)

    return version("k8s.io/kubernetes"), version("go.etcd.io/etcd/server/v3")


def _executable(path: str | Path) -> str | None:
    return str(path) if path and os.access(path, os.X_OK) else None


def kube_apiserver_binary() -> str | None:
    """$KUBE_APISERVER, or the pinned release built by scripts/build-kube-apiserver; None when not built."""
    kubernetes, _ = pinned_versions()
    return _executable(os.environ.get("KUBE_APISERVER", "")) or _executable(BUILD / f"kube-apiserver-{kubernetes}")


def kube_etcd_binary() -> str | None:
    """$KUBE_ETCD, or the etcd release the pinned kube-apiserver requires, built beside it; None when not built."""
    _, etcd = pinned_versions()
    return _executable(os.environ.get("KUBE_ETCD", "")) or _executable(BUILD / f"etcd-{etcd}")


class KubeAPIServer:
    """One kube-apiserver process (and, unless `etcd` is given, its own etcd); `close` leaves nothing behind."""

    def __init__(self, etcd: EtcdProcess | None = None, etcd_prefix: str = "/registry",
                 binary: str | None = None, extra_args: tuple[str, ...] = ()) -> None:
        found = binary or kube_apiserver_binary()
        if found is None:
            raise FileNotFoundError(f"kube-apiserver is not built: run {BUILD_SCRIPT} (or set $KUBE_APISERVER)")
        self.binary = found
        self.etcd_prefix = etcd_prefix
        self.extra_args = extra_args
        self._given_etcd = etcd
        self.etcd: EtcdProcess | None = etcd
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.token = secrets.token_hex(16)
        self.directory = Path(tempfile.mkdtemp(prefix="kube-apiserver-"))
        self.kubeconfig = self.directory / "kubeconfig"
        self.log_path = self.directory / "kube-apiserver.log"
        self.ready_seconds: float | None = None
        """Seconds from exec to the first /readyz 200 (etcd already running)."""
        self._process: subprocess.Popen[bytes] | None = None

    def _write_files(self) -> None:
        key = self.directory / "service-account.key"
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key)],
                       check=True, capture_output=True)
        (self.directory / "tokens.csv").write_text(f'{self.token},admin,admin,"system:masters"\n')
        self.kubeconfig.write_text(json.dumps({  # JSON is YAML: kubectl and the clients read it
            "apiVersion": "v1", "kind": "Config", "current-context": CONTEXT, "preferences": {},
            "clusters": [{"name": CONTEXT, "cluster": {"server": self.url, "insecure-skip-tls-verify": True}}],
            "users": [{"name": CONTEXT, "user": {"token": self.token}}],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": "default"}}],
        }, indent=1))

    def command(self) -> list[str]:
        """The kube-apiserver command line (envtest's defaults, a token instead of client certificates)."""
        assert self.etcd is not None
        key = self.directory / "service-account.key"
        return [
            self.binary,
            "--etcd-servers", self.etcd.client_url, "--etcd-prefix", self.etcd_prefix,
            "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", str(self.port),
            "--cert-dir", str(self.directory / "certs"),
            "--token-auth-file", str(self.directory / "tokens.csv"), "--authorization-mode", "AlwaysAllow",
            "--service-account-issuer", self.url, "--service-account-key-file", str(key),
            "--service-account-signing-key-file", str(key),
            "--service-cluster-ip-range", "10.0.0.0/24", "--allow-privileged",
            "--disable-admission-plugins", "ServiceAccount",
            # the "kubernetes" Service gets no Endpoints: they would name 127.0.0.1, which validation refuses
            "--endpoint-reconciler-type", "none",
            *self.extra_args,
        ]

    def start(self, timeout: float = 120.0) -> Self:
        """Start etcd (unless given) and kube-apiserver; return when /readyz answers 200."""
        if self._process is not None:
            raise RuntimeError("kube-apiserver is already running")
        if self.etcd is None:
            self.etcd = EtcdProcess(binary=kube_etcd_binary())
            self.etcd.start()
        self._write_files()
        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL)
        while not self.ready():
            if self._process.poll() is not None or time.monotonic() - started > timeout:
                self.stop()
                raise RuntimeError(f"kube-apiserver did not become ready; see {self.log_path}:\n{self.log_tail()}")
            time.sleep(0.05)
        self.ready_seconds = time.monotonic() - started
        return self

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @staticmethod
    def ssl_context() -> ssl.SSLContext:
        """A client context that accepts the server's self-signed certificate (loopback only)."""
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context

    verify = False
    """For `requests`/`httpx`-style clients: the serving certificate is self-signed."""

    def request(self, path: str, method: str = "GET", body: bytes | None = None,
                content_type: str = "application/json") -> urllib.request.Request:
        """A urllib request for `path` with the admin token; open it with `context=self.ssl_context()`."""
        headers = {**self.headers, "Content-Type": content_type} if body is not None else self.headers
        return urllib.request.Request(self.url + path, data=body, method=method, headers=headers)

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.request("/readyz"), timeout=2, context=self.ssl_context()) as response:
                status: int = response.status
                return status == 200
        except OSError:
            return False

    def api_client(self) -> Any:
        """An official `kubernetes` client ApiClient for this server (needs the kubernetes package)."""
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = self.url
        configuration.verify_ssl = False
        configuration.api_key = {"authorization": self.token}
        configuration.api_key_prefix = {"authorization": "Bearer"}
        return client.ApiClient(configuration)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM kube-apiserver, SIGKILL it after `grace` seconds; stop our own etcd."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if self.etcd is not None and self._given_etcd is None:
            self.etcd.close()
            self.etcd = None

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
