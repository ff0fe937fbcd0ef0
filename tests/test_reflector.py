"""The process's one storage watch on a real etcd: broken stored values, writes outside the prefix, one stream.

Each test has its own etcd and server (`--etcd-prefix` /registry) and writes to etcd directly through a second
storage client, as another program or another replica would.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from apiserver.cacher import reflector
from apiserver.cacher.cacher import Cacher
from apiserver.cacher.reflector import Reflector
from apiserver.cacher.watch_cache import WatchCache
from apiserver.codec import decode
from apiserver.config import Config
from apiserver.kinds.endpointslice import ENDPOINTSLICE
from apiserver.kinds.pod import POD
from apiserver.state import REGISTRIES
from apiserver.testing import RunningServer, run_server
from conformance.kube_apiserver import kube_etcd_binary
from storage import KeyValue, MemoryStorage, open_storage
from storage.etcd_process import EtcdProcess, etcd_binary
from tests.test_etcd_faults import SLICES, create, open_watch, read_events, request, slice_body

pytestmark = pytest.mark.skipif(etcd_binary() is None, reason="etcd is not installed (apt-get install etcd-server)")

GARBAGE = "/registry/endpointslices/default/garbage"


@pytest.fixture
def etcd() -> Iterator[EtcdProcess]:
    with EtcdProcess() as process:
        yield process


@pytest.fixture
def server(etcd: EtcdProcess) -> Iterator[RunningServer]:
    with run_server(Config(storage=etcd.storage_url(), compaction_interval=0)) as running:
        yield running


def write_directly(url: str, key: str, value: bytes) -> int:
    """Create `key` in etcd behind the server's back (another program, another prefix)."""
    async def put() -> int:
        store = open_storage(url)
        try:
            return await store.create(key, value)
        finally:
            await store.close()

    return asyncio.run(put())


def metric(server: RunningServer, name: str, resource: str) -> float:
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    found = re.search(rf'^{name}{{[^}}]*resource="{resource}"[^}}]*}} (\S+)$', text, re.MULTILINE)
    assert found is not None, name
    return float(found.group(1))


def etcd_metric(etcd: EtcdProcess, name: str) -> float:
    with urllib.request.urlopen(etcd.client_url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found is not None, name
    return float(found.group(1))


def names(reply: dict[str, Any]) -> list[str]:
    return sorted(item["metadata"]["name"] for item in reply["items"])


def test_a_value_that_does_not_decode_relists_the_cache(etcd: EtcdProcess, server: RunningServer,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """Upstream's behaviour: the watch error closes the watchers, the cache relists (skipping the value),
    it is logged and counted, and the resource keeps working: creates, lists from the cache, watches. (A list
    from etcd, which consistent lists are on etcd 3.4.23, fails on the value with a 500, as upstream's.)"""
    rv_a = create(server, "a")
    with caplog.at_level(logging.ERROR), open_watch(server, rv_a) as watch:
        write_directly(etcd.storage_url(), GARBAGE, b"not json")
        assert watch.readline() == b""  # its watchers were closed
    assert "/registry/endpointslices/default/garbage" in caplog.text and "does not decode" in caplog.text
    rv_b = create(server, "b")
    status, reply = request(server, "GET", f"{SLICES}?resourceVersion={rv_b}&resourceVersionMatch=NotOlderThan")
    assert status == 200, reply
    assert names(reply) == ["a", "b"] and int(reply["metadata"]["resourceVersion"]) >= rv_b
    with open_watch(server, rv_b) as watch:
        rv_c = create(server, "c")
        assert read_events(watch, 1) == [("ADDED", "c", rv_c)]
    assert metric(server, "apiserver_storage_decode_errors_total", "endpointslices") == 2  # the event, the relist
    assert metric(server, "apiserver_watch_cache_failures_total", "endpointslices") == 1
    assert metric(server, "apiserver_watch_cache_initializations_total", "endpointslices") == 2
    assert metric(server, "apiserver_watch_cache_failures_total", "pods") == 0
    status, text = request(server, "GET", "/readyz?verbose")
    assert status == 200 and "[+]watch-cache endpointslices ok" in text and "[+]informer-sync ok" in text, text


def test_a_value_that_does_not_decode_while_paused_relists_on_resume(etcd: EtcdProcess, server: RunningServer,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    """Fault injection's stalled cache holds storage batches; one that fails when resumed relists the cache
    through the reflector, as during the watch: logged, counted, nothing lost."""
    rv_a = create(server, "a")
    server.faults.pause("endpointslices", 60)
    with caplog.at_level(logging.ERROR), open_watch(server, rv_a) as watch:
        write_directly(etcd.storage_url(), GARBAGE, b"not json")
        rv_b = create(server, "b")
        server.faults.resume("endpointslices")
        assert watch.readline() == b""  # closed with the failed cache
    assert "failed resuming" in caplog.text
    for _ in range(100):  # relisted after the next batch of the storage watch (a progress notification)
        status, text = request(server, "GET", "/readyz?verbose")
        if status == 200:
            break
        time.sleep(0.1)
    assert status == 200 and "[+]watch-cache endpointslices ok" in text, text
    status, reply = request(server, "GET", f"{SLICES}?resourceVersion={rv_b}&resourceVersionMatch=NotOlderThan")
    assert status == 200 and names(reply) == ["a", "b"], reply
    with open_watch(server, rv_b) as watch:
        rv_c = create(server, "c")
        assert read_events(watch, 1) == [("ADDED", "c", rv_c)]
    assert metric(server, "apiserver_watch_cache_failures_total", "endpointslices") == 1


def test_readyz_reports_each_watch_cache_and_lists_fall_back_to_storage(server: RunningServer) -> None:
    create(server, "a")
    cacher = server.app[REGISTRIES]["endpointslices"].cacher
    assert server.loop is not None
    server.loop.call_soon_threadsafe(cacher.fail)  # as the reflector does before relisting it
    status, text = request(server, "GET", "/readyz?verbose")
    assert status == 500, text
    assert "[-]watch-cache endpointslices failed" in text and "[+]watch-cache pods ok" in text, text
    assert "[-]informer-sync failed" in text, text
    status, reply = request(server, "GET", SLICES)  # a consistent list, served by etcd while the cache is not ready
    assert status == 200 and names(reply) == ["a"], reply


async def test_the_cache_is_not_ready_while_it_relists(etcd: EtcdProcess) -> None:
    """A failed cache says so until its relist is complete (seen from inside the relist)."""
    store = open_storage(etcd.storage_url())
    seen: list[bool] = []

    def recording_decode(kv: KeyValue) -> Any:
        seen.append(cacher.ready.is_set())
        return decode(kv)

    cacher = Cacher(ENDPOINTSLICE, store, recording_decode, WatchCache())
    reflector = Reflector(store, [cacher])
    try:
        await store.create("/registry/endpointslices/default/a", json.dumps(slice_body("a")).encode())
        await reflector.start()
        assert seen == [False] and cacher.ready.is_set()
        await store.create(GARBAGE, b"not json")
        while cacher.meters.initializations < 2:
            await asyncio.sleep(0.01)
        assert seen == [False, True, False, False] and cacher.ready.is_set()  # list; the event; relist (a, garbage)
        assert sorted(cacher.cache.store) == ["/registry/endpointslices/default/a"]
    finally:
        await reflector.stop()
        await store.close()


@pytest.fixture(params=["debian", "kube"])
def any_etcd(request: pytest.FixtureRequest) -> Iterator[EtcdProcess]:
    """Debian's etcd 3.4.23 (progress notifications may overtake events) and kube-apiserver's 3.5.16."""
    binary = etcd_binary() if request.param == "debian" else kube_etcd_binary()
    if binary is None:
        pytest.skip("kube-apiserver's etcd is not built: scripts/build-kube-apiserver")
    with EtcdProcess(binary=binary) as process:
        yield process


def test_writes_outside_the_prefix_do_not_stall_consistent_reads(any_etcd: EtcdProcess) -> None:
    """etcd's revision moves on with writes the server's watch never sees: where progress notifications are
    ordered they tell the cache; on an older etcd consistent lists read etcd, a watch-list is refused and a
    watch's consistent start times out, as kube-apiserver's do."""
    with run_server(Config(storage=any_etcd.storage_url(), compaction_interval=0)) as server:
        _outside_writes(any_etcd, server, ordered=any_etcd.binary != etcd_binary())


def _outside_writes(etcd: EtcdProcess, server: RunningServer, ordered: bool) -> None:
    create(server, "a")
    outside = write_directly(etcd.storage_url("/someone-else"), "/registry/x", b"another program's data")
    for _ in range(3):
        status, reply = request(server, "GET", SLICES)
        assert status == 200 and names(reply) == ["a"], reply
        assert int(reply["metadata"]["resourceVersion"]) >= outside  # from the cache, fresh
    status, reply = request(server, "GET", "/api/v1/namespaces")
    assert status == 200, reply
    query = "?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan"
    if ordered:
        with urllib.request.urlopen(server.url + SLICES + query, timeout=10) as watch:
            first = json.loads(watch.readline())
            assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "a")
            end = json.loads(watch.readline())
            assert end["type"] == "BOOKMARK" and int(end["object"]["metadata"]["resourceVersion"]) >= outside
    else:  # as kube-apiserver on this etcd: an ERROR event, client-go falls back to a list
        with urllib.request.urlopen(server.url + SLICES + query, timeout=10) as watch:
            error = json.loads(watch.readline())
            assert error["type"] == "ERROR" and error["object"]["code"] == 500, error
            assert "RequestWatchProgress is disabled" in error["object"]["message"]
            assert watch.readline() == b""
        with urllib.request.urlopen(server.url + SLICES + "?watch=true", timeout=10) as watch:
            error = json.loads(watch.readline())  # its consistent start waits for events that do not come
            assert error["type"] == "ERROR" and error["object"]["code"] == 504, error
            assert error["object"]["message"].startswith(f"Timeout: Too large resource version: {outside}"), error
    status, reply = request(server, "POST", "/api/v1/namespaces", {"metadata": {"name": "doomed"}})
    assert status == 201, reply
    write_directly(etcd.storage_url("/someone-else"), "/registry/y", b"more")
    status, reply = request(server, "DELETE", "/api/v1/namespaces/doomed")
    assert status == 200, reply


def test_one_storage_watch_for_every_resource(etcd: EtcdProcess, server: RunningServer) -> None:
    rv_a = create(server, "a")
    with open_watch(server, rv_a) as watch:
        status, reply = request(server, "POST", "/api/v1/namespaces/default/pods",
                                {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                 "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
        assert status == 201, reply
        rv_b = create(server, "b")
        assert read_events(watch, 1) == [("ADDED", "b", rv_b)]
    status, reply = request(server, "GET", "/api/v1/namespaces/default/pods")
    assert status == 200 and [p["metadata"]["name"] for p in reply["items"]] == ["p"], reply
    assert etcd_metric(etcd, "etcd_debugging_mvcc_watcher_total") == 1  # events flowed: the watch is open
    assert etcd_metric(etcd, "etcd_debugging_mvcc_watch_stream_total") == 1


def test_an_encoder_that_raises_closes_watchers_not_the_cache(etcd: EtcdProcess, server: RunningServer,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """A stored object whose Table cell cannot be computed: its Table watcher is closed, logged and counted;
    a JSON watcher of the same resource gets the event and goes on, and so does the watch cache."""
    rv_a = create(server, "a")
    table = urllib.request.Request(f"{server.url}{SLICES}?watch=true&resourceVersion={rv_a}",
                                   headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    bad = {**slice_body("bad"), "metadata": {"name": "bad", "namespace": "default", "creationTimestamp": "yesterday"}}
    with caplog.at_level(logging.ERROR), open_watch(server, rv_a) as plain, \
            urllib.request.urlopen(table, timeout=10) as watch:
        write_directly(etcd.storage_url(), "/registry/endpointslices/default/bad", json.dumps(bad).encode())
        assert watch.readline() == b""
        rv_b = create(server, "b")
        assert [e[1] for e in read_events(plain, 2)] == ["bad", "b"]
    assert "dispatching ADDED /registry/endpointslices/default/bad" in caplog.text
    with open_watch(server, rv_a) as watch:
        rv_c = create(server, "c")
        assert [e[1] for e in read_events(watch, 3)] == ["bad", "b", "c"]
        assert rv_c > rv_b
    assert metric(server, "apiserver_watch_cache_dispatch_errors_total", "endpointslices") == 1


def test_watchbytes_reports_one_watcher_and_each_value_once() -> None:
    """`python -m loadtest.watchbytes`: etcd sends each written value about twice (the update's read, the
    one watch), where one watch per resource with previous values sent it eleven times."""
    result = subprocess.run([sys.executable, "-m", "loadtest.watchbytes", "--writes", "10", "--endpoints", "20"],
                            capture_output=True, text=True, timeout=120, check=True)
    assert "etcd watchers 1, watch streams 1" in result.stdout, result.stdout
    values = float(re.search(r"\((\S+) values\)", result.stdout).group(1))  # type: ignore[union-attr]
    assert 1.5 <= values < 3, result.stdout


async def test_a_storage_watch_that_ends_relists_every_cache(monkeypatch: pytest.MonkeyPatch,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """Whatever ends the storage watch is logged, every cache is not ready, then relisted after a pause."""
    monkeypatch.setattr(reflector, "RETRY_SECONDS", 0.2)
    store = MemoryStorage()
    cachers = [Cacher(kind, store, decode, WatchCache()) for kind in (ENDPOINTSLICE, POD)]
    feeder = Reflector(store, cachers)
    await feeder.start()
    try:
        await asyncio.sleep(0)  # the watch is open
        assert feeder._stream is not None
        await feeder._stream.aclose()
        await asyncio.sleep(0.05)
        assert not any(cacher.ready.is_set() for cacher in cachers)
        assert "the storage watch failed" in caplog.text
        await store.create("/registry/endpointslices/default/a", json.dumps(slice_body("a")).encode())
        for _ in range(100):
            if all(cacher.ready.is_set() for cacher in cachers):
                break
            await asyncio.sleep(0.05)
        assert [(c.meters.failures, c.meters.initializations) for c in cachers] == [(1, 2), (1, 2)]
        assert list(cachers[0].cache.store) == ["/registry/endpointslices/default/a"]
        await store.create("/registry/pods/default/p", json.dumps({"metadata": {"name": "p"}}).encode())
        assert await cachers[1].wait_consistent()  # the new watch delivers again
        assert list(cachers[1].cache.store) == ["/registry/pods/default/p"]
    finally:
        await feeder.stop()
        await store.close()
