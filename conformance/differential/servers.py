"""Servers to compare, started for a run: ours (in a thread, memory or etcd storage) and the real kube-apiserver."""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from apiserver.config import Config
from apiserver.testing import run_server
from conformance.differential.client import Target
from storage.etcd_process import EtcdProcess, etcd_binary


@contextmanager
def our_server(storage: str = "memory", etcd: EtcdProcess | None = None) -> Iterator[Target]:
    """Our server on the embedded store, or on `etcd` (a fresh one when None: kube-apiserver's release when built,
    whose ordered progress notifications allow watch-lists, else the one on PATH) under a fresh prefix."""
    with ExitStack() as stack:
        url = "memory://"
        if storage == "etcd":
            if etcd is None:
                launcher = kube_apiserver_launcher()
                etcd = stack.enter_context(EtcdProcess(binary=launcher.kube_etcd_binary() if launcher else None))
            url = etcd.storage_url(f"/{uuid.uuid4().hex}/registry")
        server = stack.enter_context(run_server(Config(storage=url)))
        yield Target(f"ours ({storage})", server.url)


def etcd_available() -> bool:
    return etcd_binary() is not None


def kube_apiserver_launcher() -> Any:
    """The launcher module `conformance.kube_apiserver`, or None when it or its binary is missing."""
    try:
        module = importlib.import_module("conformance.kube_apiserver")
    except ImportError:
        return None
    return module if module.kube_apiserver_binary() is not None else None


@contextmanager
def kube_apiserver() -> Iterator[Target]:
    """The real kube-apiserver with a throwaway etcd, through the launcher."""
    launcher = kube_apiserver_launcher()
    if launcher is None:
        raise RuntimeError("kube-apiserver is not available: build it first (see the README)")
    with launcher.KubeAPIServer() as server:
        yield Target("kube-apiserver", server.url, {"Authorization": f"Bearer {server.token}"})
