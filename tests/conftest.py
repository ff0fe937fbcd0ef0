"""Shared test fixtures: the `apiserver` fixture comes from the project's own pytest plugin."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from apiserver.testing import RunningServer
from conformance.kube_apiserver import kube_etcd_binary
from storage.etcd_process import EtcdProcess, etcd_binary

pytest_plugins = ["conformance.pytest_plugin"]

KUBECTL_VERSION = "1.32"
# watch-lists need ordered progress notifications: kube-apiserver (and we) refuse them on Debian's etcd 3.4.23
WATCH_LIST_STORAGE = pytest.mark.parametrize("apiserver_storage", ["memory", "kube_etcd"], indirect=True)


def kubectl_binary() -> str | None:
    """A fixed, versioned kubectl (never the dispatcher): $KUBECTL, kubectl.1.32 on PATH, or the SDK's copy."""
    candidates = [os.environ.get("KUBECTL", ""), shutil.which(f"kubectl.{KUBECTL_VERSION}") or "",
                  f"/usr/lib/google-cloud-sdk/bin/kubectl.{KUBECTL_VERSION}"]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def etcd() -> Iterator[EtcdProcess]:
    """One throwaway etcd for the session (free ports, temp dir); tests keep apart by key prefix."""
    if etcd_binary() is None:
        pytest.skip("etcd is not installed: apt-get install etcd-server (.ci/run does), or set $ETCD")
    with EtcdProcess() as process:
        yield process


@pytest.fixture(scope="session")
def kube_etcd() -> Iterator[EtcdProcess]:
    """The etcd release kube-apiserver requires (3.5.16: ordered progress notifications), built by
    scripts/build-kube-apiserver; Debian's etcd-server (the `etcd` fixture) is 3.4.23, whose are not."""
    binary = kube_etcd_binary()
    if binary is None:
        pytest.skip("kube-apiserver's etcd is not built: scripts/build-kube-apiserver (.ci/run does)")
    with EtcdProcess(binary=binary) as process:
        yield process


@pytest.fixture(params=["memory", "etcd"])
def apiserver_storage(request: pytest.FixtureRequest) -> str:
    """Every API test runs on the embedded store and on etcd; each etcd test under its own key prefix. A test
    needing what Debian's etcd lacks parametrizes it with `WATCH_LIST_STORAGE` (kube-apiserver's etcd)."""
    if request.param == "memory":
        return "memory://"
    etcd: EtcdProcess = request.getfixturevalue(request.param)
    return etcd.storage_url(f"/{uuid.uuid4().hex}/registry")


@pytest.fixture
def kubectl(apiserver: RunningServer, tmp_path: Path) -> Kubectl:
    """Run the real kubectl against the test server with its own cache directory; returns the completed process."""
    binary = kubectl_binary()
    if binary is None:
        pytest.skip(f"kubectl {KUBECTL_VERSION} is not installed")
    cache = tmp_path / "kubectl-cache"

    def run(*args: str, input: str | None = None, check: bool = True, env: dict[str, str] | None = None,
            timeout: float = 30) -> subprocess.CompletedProcess[str]:
        command = [binary, "--kubeconfig", str(apiserver.kubeconfig), "--cache-dir", str(cache), *args]
        result = subprocess.run(command, input=input, capture_output=True, text=True, timeout=timeout,
                                env={**os.environ, **(env or {})})
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    return run
