"""pytest plugin (entry point `slice_apiserver`): a fresh API server per test.

Fixtures:
    apiserver         a RunningServer on 127.0.0.1 (attributes url, kubeconfig, app; api_client())
    apiserver_config  the Config used to start it; override this fixture to change flags
    kube_client       an official `kubernetes` ApiClient pointed at the server
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apiserver.config import Config
from apiserver.testing import RunningServer, run_server


@pytest.fixture
def apiserver_config() -> Config:
    """Flags of the server under test (defaults: embedded store, compaction off)."""
    return Config(compaction_interval=0)


@pytest.fixture
def apiserver(apiserver_config: Config, tmp_path: Path) -> Iterator[RunningServer]:
    with run_server(apiserver_config, tmp_path) as server:
        yield server


@pytest.fixture
def kube_client(apiserver: RunningServer) -> Iterator[Any]:
    api = apiserver.api_client()
    try:
        yield api
    finally:
        api.close()
