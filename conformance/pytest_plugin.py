"""pytest fixtures for the real kube-apiserver (registered by tests/conftest.py; any conftest can list it in
`pytest_plugins`).

Fixtures:
    kube_apiserver    a conformance.kube_apiserver.KubeAPIServer with its own etcd, shared by the session (start
                      takes seconds): tests keep apart by namespace or name; skipped when the binary is not built
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conformance.kube_apiserver import BUILD_SCRIPT, KubeAPIServer, kube_apiserver_binary


@pytest.fixture(scope="session")
def kube_apiserver() -> Iterator[KubeAPIServer]:
    if kube_apiserver_binary() is None:
        pytest.skip(f"kube-apiserver is not built: run {BUILD_SCRIPT} (or set $KUBE_APISERVER)")
    with KubeAPIServer() as server:
        yield server
