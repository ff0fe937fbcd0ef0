"""pytest plugin (entry point `slice_apiserver`): a fresh API server per test.

Fixtures:
    apiserver         a RunningServer on 127.0.0.1 (attributes url, kubeconfig, app; api_client()); its `faults`
                      inject watch failures and API errors from the test: close_watches, expire, compact, pause,
                      resume, drop_watch, fail (apiserver.testing.ServerFaults)
    apiserver_config  the Config used to start it; override this fixture to change flags
    apiserver_storage a storage URL that replaces apiserver_config.storage (default None: keep it); override
                      it, e.g. parametrised over memory:// and etcd://..., to run every test on several backends
    kube_client       an official `kubernetes` ApiClient pointed at the server
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
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
def apiserver_storage() -> str | None:
    """A storage URL for the server under test instead of apiserver_config's (None: keep the config's)."""
    return None


@pytest.fixture
def apiserver(apiserver_config: Config, apiserver_storage: str | None, tmp_path: Path) -> Iterator[RunningServer]:
    config = replace(apiserver_config, storage=apiserver_storage) if apiserver_storage else apiserver_config
    with run_server(config, tmp_path) as server:
        yield server


@pytest.fixture
def kube_client(apiserver: RunningServer) -> Iterator[Any]:
    api = apiserver.api_client()
    try:
        yield api
    finally:
        api.close()
