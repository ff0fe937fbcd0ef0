"""pytest plugin (entry point `slice_apiserver`): a fresh API server per test.

Fixtures:
    apiserver         a RunningServer on 127.0.0.1 (attributes url, kubeconfig, app; api_client()); its `faults`
                      inject watch failures and API errors from the test: close_watches, expire, compact, pause,
                      resume, drop_watch, fail (apiserver.testing.ServerFaults)
    apiserver_config  the Config used to start it; override this fixture to change flags
    apiserver_kinds   kinds the server serves besides the built-in ones (default none); override it to serve a test's
                      own kinds (`apiserver.kinds.base.Kind`, declared as the built-in ones are)
    apiserver_storage a storage URL that replaces apiserver_config.storage (default None: keep it); override
                      it, e.g. parametrised over memory:// and etcd://..., to run every test on several backends
    kube_client       an official `kubernetes` ApiClient pointed at the server
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from apiserver.config import Config
from apiserver.kinds.base import Kind
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
def apiserver_kinds() -> Sequence[Kind]:
    """Kinds served besides the built-in ones."""
    return ()


@pytest.fixture
def apiserver(apiserver_config: Config, apiserver_storage: str | None, apiserver_kinds: Sequence[Kind],
              tmp_path: Path) -> Iterator[RunningServer]:
    config = replace(apiserver_config, storage=apiserver_storage) if apiserver_storage else apiserver_config
    with run_server(config, tmp_path, apiserver_kinds) as server:
        yield server


@pytest.fixture
def kube_client(apiserver: RunningServer) -> Iterator[Any]:
    api = apiserver.api_client()
    try:
        yield api
    finally:
        api.close()
