"""The server's steady state makes no cyclic garbage: every object it drops is freed by its reference count.

A full collection walks the whole heap (the watch caches included), so its pause grows with the cache;
cyclic garbage is what makes collections find work. Here requests of every kind (server-side apply,
which decodes managedFields, watches that end, watchers that are terminated) run in the test's process,
with the collector saving what it finds instead of freeing it, and nothing the server made may be there.
"""

from __future__ import annotations

import gc
import json
import socket
import urllib.request
from collections.abc import Iterator
from types import FunctionType

import pytest

from apiserver.config import Config
from apiserver.testing import RunningServer, run_server

SLICES = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"


@pytest.fixture
def server() -> Iterator[RunningServer]:
    with run_server(Config(watch_buffer=5)) as running:
        yield running


def request(server: RunningServer, method: str, path: str, body: object, content_type: str) -> None:
    data = json.dumps(body).encode()
    req = urllib.request.Request(server.url + path, data=data, method=method, headers={"Content-Type": content_type})
    with urllib.request.urlopen(req, timeout=10) as response:
        response.read()


def apply(server: RunningServer, name: str, ip: str) -> None:
    body = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": name},
            "addressType": "IPv4", "endpoints": [{"addresses": [ip]}], "ports": [{"port": 80}]}
    request(server, "PATCH", f"{SLICES}/{name}?fieldManager=heap&force=true", body, "application/apply-patch+yaml")


def ours(obj: object) -> bool:
    """Made by the server's code: an instance of one of its classes, or one of its functions."""
    if isinstance(obj, FunctionType):
        return obj.__module__.startswith(("apiserver", "storage"))
    return type(obj).__module__.startswith(("apiserver", "storage"))


def test_requests_and_watches_leave_no_cyclic_garbage(server: RunningServer) -> None:
    apply(server, "warm", "10.0.0.1")
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        stuck = []
        for i in range(20):
            apply(server, f"s{i % 4}", f"10.0.0.{i + 2}")
            if i % 5 == 0:
                with urllib.request.urlopen(f"{server.url}{SLICES}?watch=true&timeoutSeconds=1", timeout=10) as watch:
                    watch.read()  # initial events, then the end at timeoutSeconds
            sock = socket.create_connection(("127.0.0.1", server.config.port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(f"GET {SLICES}?watch=true HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            stuck.append(sock)  # never reads: terminated once past its bound
        for i in range(40):
            apply(server, "big", ".".join(["10", "1", str(i), "1"]))
        for sock in stuck:
            sock.close()
        gc.collect()
        garbage = [obj for obj in gc.garbage if ours(obj)]
        names = sorted({getattr(obj, "__qualname__", type(obj).__qualname__) for obj in garbage})
        assert not garbage, f"{len(garbage)} objects in cycles: {names}"
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
