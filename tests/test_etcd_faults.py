"""The server on a real etcd that goes away: fast 503s, /readyz, watches that survive, nothing lost.

Each test has its own etcd (`storage.etcd_process`), which it kills (SIGKILL) or stops (SIGSTOP) and
brings back on the same ports and data directory.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import aetcd
import pytest

import storage.etcd
from apiserver.app import compact_periodically
from apiserver.cacher import reflector
from apiserver.config import Config
from apiserver.testing import RunningServer, run_server
from storage import CompactedError, open_storage
from storage.etcd_process import EtcdProcess, etcd_binary

pytestmark = pytest.mark.skipif(etcd_binary() is None, reason="etcd is not installed (apt-get install etcd-server)")

SLICES = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
TIMEOUT = 10.0


@pytest.fixture
def etcd() -> Iterator[EtcdProcess]:
    with EtcdProcess() as process:
        yield process


@pytest.fixture
def server(etcd: EtcdProcess) -> Iterator[RunningServer]:
    with run_server(Config(storage=etcd.storage_url(), compaction_interval=0)) as running:
        yield running


def request(server: RunningServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(server.url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode()


def slice_body(name: str, ip: str = "10.0.0.1") -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": name},
            "addressType": "IPv4", "endpoints": [{"addresses": [ip]}], "ports": [{"port": 80}]}


def create(server: RunningServer, name: str, ip: str = "10.0.0.1") -> int:
    status, body = request(server, "POST", SLICES, slice_body(name, ip))
    assert status == 201, body
    return int(body["metadata"]["resourceVersion"])


def until_ok(server: RunningServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """Retry while the server answers 503 (etcd coming back), for at most TIMEOUT seconds."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        status, reply = request(server, method, path, body)
        if status != 503 or time.monotonic() > deadline:
            return status, reply
        time.sleep(0.05)


def open_watch(server: RunningServer, rv: int) -> Any:
    query = urlencode({"watch": "true", "resourceVersion": rv})
    return urllib.request.urlopen(f"{server.url}{SLICES}?{query}", timeout=TIMEOUT)


def read_events(response: Any, count: int) -> list[tuple[str, str, int]]:
    events = []
    for _ in range(count):
        event = json.loads(response.readline())
        meta = event["object"]["metadata"]
        events.append((event["type"], meta.get("name", ""), int(meta["resourceVersion"])))
    return events


def test_etcd_down_fails_fast_watches_resume_without_gap(etcd: EtcdProcess, server: RunningServer) -> None:
    rv_a = create(server, "a")
    with open_watch(server, rv_a) as watch:
        rv_b = create(server, "b")
        assert read_events(watch, 1) == [("ADDED", "b", rv_b)]

        etcd.stop()
        started = time.monotonic()
        status, reply = request(server, "POST", SLICES, slice_body("c"))
        assert time.monotonic() - started < 2
        assert status == 503, reply
        assert (reply["kind"], reply["reason"], reply["code"]) == ("Status", "ServiceUnavailable", 503)
        assert "etcd is unavailable" in reply["message"]
        status, reply = request(server, "GET", f"{SLICES}/a")
        assert status == 503, reply
        status, text = request(server, "GET", "/readyz?verbose")
        assert status == 500 and "[-]etcd failed" in text, text
        time.sleep(1.5)  # the cacher's watch fails and retries meanwhile

        etcd.start()
        status, reply = until_ok(server, "POST", SLICES, slice_body("c"))
        assert status == 201, reply
        rv_c = int(reply["metadata"]["resourceVersion"])
        status, reply = until_ok(server, "PUT", f"{SLICES}/a", {**slice_body("a", "10.0.0.2"),
                                                                "metadata": {"name": "a", "resourceVersion": str(rv_a)}})
        assert status == 200, reply
        rv_a2 = int(reply["metadata"]["resourceVersion"])
        # the same stream, each change exactly once and in order
        assert read_events(watch, 2) == [("ADDED", "c", rv_c), ("MODIFIED", "a", rv_a2)]
    status, text = request(server, "GET", "/readyz?verbose")
    assert status == 200 and "[+]etcd ok" in text, text


def test_acknowledged_writes_survive_a_kill(etcd: EtcdProcess, server: RunningServer) -> None:
    acknowledged = {f"s-{i}": create(server, f"s-{i}", f"10.0.1.{i}") for i in range(30)}
    etcd.stop()
    etcd.start()
    status, reply = until_ok(server, "GET", SLICES)
    assert status == 200, reply
    assert {item["metadata"]["name"]: int(item["metadata"]["resourceVersion"]) for item in reply["items"]} == acknowledged


def test_stalled_etcd_fails_fast_then_recovers(etcd: EtcdProcess, server: RunningServer) -> None:
    rv_a = create(server, "a")
    with open_watch(server, rv_a) as watch:
        etcd.pause()
        try:
            started = time.monotonic()
            status, text = request(server, "GET", "/readyz?verbose")
            assert status == 500 and "[-]etcd failed" in text, text
            assert time.monotonic() - started < 3  # the health check's own deadline
            status, reply = request(server, "POST", SLICES, slice_body("b"))
            assert status == 503, reply
            assert time.monotonic() - started < 10  # the per-call deadline
        finally:
            etcd.resume()
        rv_b = create(server, "b")
        assert read_events(watch, 1) == [("ADDED", "b", rv_b)]


def test_compacted_while_down_relists_and_closes_watchers(etcd: EtcdProcess, server: RunningServer,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The one storage watch comes back compacted: every resource's cache is relisted, not just one."""
    monkeypatch.setattr(reflector, "RETRY_SECONDS", 3.0)  # room to write and compact before the cacher is back
    rv_a = create(server, "a")
    with open_watch(server, rv_a) as watch:
        etcd.stop()
        time.sleep(0.2)  # the cacher's watch fails; it retries in RETRY_SECONDS
        etcd.start()

        async def write_and_compact() -> None:  # not through the server: its writes wait for its cache
            store = open_storage(etcd.storage_url())
            try:
                await store.create("/registry/other/x", b"writes the cacher never saw")
                pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
                       "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
                await store.create("/registry/pods/default/p", json.dumps(pod).encode())
                await store.delete("/registry/other/x")  # compacting at it leaves the first one behind
                await store.compact(await store.current_revision())
            finally:
                await store.close()

        asyncio.run(write_and_compact())
        assert watch.readline() == b""  # the cacher relisted and closed its watchers
    with open_watch(server, rv_a) as watch:
        event = json.loads(watch.readline())
    assert event["type"] == "ERROR" and event["object"]["code"] == 410, event
    rv_b = create(server, "b")
    status, reply = request(server, "GET", SLICES)
    assert status == 200, reply
    assert sorted(item["metadata"]["name"] for item in reply["items"]) == ["a", "b"]
    assert int(reply["metadata"]["resourceVersion"]) >= rv_b
    status, reply = request(server, "GET", "/api/v1/namespaces/default/pods?resourceVersion=0")  # from the cache
    assert status == 200 and [item["metadata"]["name"] for item in reply["items"]] == ["p"], reply


async def test_range_over_the_receive_limit_comes_in_smaller_pages(etcd: EtcdProcess,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(storage.etcd.CHANNEL_OPTIONS, "grpc.max_receive_message_length", 1 << 20)
    store = open_storage(etcd.storage_url())
    try:
        for i in range(30):
            await store.create(f"/registry/big/{i:02d}", b"x" * 100_000)
        first = await store.range("/registry/big/")
        assert first.more and 0 < len(first.kvs) < 30 and first.count == 30
        keys = [kv.key for kv in first.kvs]
        while True:
            page = await store.range("/registry/big/", start=keys[-1] + "\x00", limit=20, revision=first.revision)
            keys += [kv.key for kv in page.kvs]
            if not page.more:
                break
        assert keys == [f"/registry/big/{i:02d}" for i in range(30)]
    finally:
        await store.close()


async def compaction_turns_taken(etcd: EtcdProcess) -> int:
    """How many compaction turns were taken on this etcd: the version of kube-apiserver's compact_rev_key."""
    host, port = etcd.endpoint.split(":")
    async with aetcd.Client(host, int(port)) as client:
        got = await client.get(storage.etcd.COMPACT_REV_KEY)
        return got.version if got is not None else 0


async def test_replicas_take_one_compaction_turn_per_round(etcd: EtcdProcess) -> None:
    """Two replicas' compactors, interleaved: each round one of them compacts, to the revision the previous
    round recorded; the other learns the turn it lost."""
    replicas = [open_storage(etcd.storage_url()), open_storage(etcd.storage_url())]
    state = [(0, 0), (0, 0)]
    try:
        key = "/registry/endpointslices/default/a"
        rev = await replicas[0].create(key, b"0")
        revisions = [rev]
        for round_ in range(1, 5):
            for i, replica in enumerate(replicas):
                rev = await replica.update(key, str(round_).encode(), rev)
                state[i] = await replica.compact_turn(*state[i])
            revisions.append(rev)
        assert await compaction_turns_taken(etcd) == 4
        assert state[0][0] == state[1][0] == 4
        with pytest.raises(CompactedError):  # compacted to what round 3 recorded, after round 2's writes
            await replicas[0].range("/registry/endpointslices/", revision=revisions[2])
        assert (await replicas[0].range("/registry/endpointslices/", revision=revisions[3])).kvs
    finally:
        for replica in replicas:
            await replica.close()


async def test_two_replicas_compact_once_per_interval(etcd: EtcdProcess) -> None:
    interval, rounds = 0.2, 10
    replicas = [open_storage(etcd.storage_url()), open_storage(etcd.storage_url())]
    loops = [asyncio.create_task(compact_periodically(replica, interval)) for replica in replicas]
    try:
        for i in range(rounds):
            await replicas[0].create(f"/registry/endpointslices/default/s{i}", b"x")
            await asyncio.sleep(interval)
    finally:
        for loop in loops:
            loop.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        for replica in replicas:
            await replica.close()
    assert 1 <= await compaction_turns_taken(etcd) <= rounds + 1  # not one per replica per interval
