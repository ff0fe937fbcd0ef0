"""Shared test fixtures: the `apiserver` fixture comes from the project's own pytest plugin."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from apiserver.testing import RunningServer

KUBECTL_VERSION = "1.32"


def kubectl_binary() -> str | None:
    """A fixed, versioned kubectl (never the dispatcher): $KUBECTL, kubectl.1.32 on PATH, or the SDK's copy."""
    candidates = [os.environ.get("KUBECTL", ""), shutil.which(f"kubectl.{KUBECTL_VERSION}") or "",
                  f"/usr/lib/google-cloud-sdk/bin/kubectl.{KUBECTL_VERSION}"]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


Kubectl = Callable[..., subprocess.CompletedProcess[str]]


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
