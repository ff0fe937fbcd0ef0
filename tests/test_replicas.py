"""Two `python -m apiserver` replicas on one real etcd behave as one API (docker-compose's topology, as local
processes): writes are visible with the same resourceVersion on the other replica, optimistic concurrency
holds across replicas, and every watcher on every replica sees the same event sequence under concurrent writes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import orjson
import pytest

from loadtest.replicas import Replica, start_replicas
from loadtest.slices import endpoint_slice
from storage.etcd_process import EtcdProcess, etcd_binary

pytestmark = pytest.mark.skipif(etcd_binary() is None, reason="etcd is not installed")

BASE = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
TIMEOUT = 20.0  # every wait in this file is bounded by this


@pytest.fixture(scope="module")
def replicas() -> Iterator[list[Replica]]:
    with EtcdProcess() as etcd, start_replicas(2, ["--storage", "etcd", "--etcd-servers", etcd.client_url,
                                                   "--etcd-compaction-interval", "0"]) as started:
        yield started


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT)) as client:
        yield client


def labelled(name: str, run: str, endpoints: int = 3) -> dict[str, Any]:
    slice_ = endpoint_slice(name, endpoints)
    slice_["metadata"]["labels"]["run"] = run
    return slice_


async def request(session: aiohttp.ClientSession, method: str, url: str, body: Any = None,
                  expect: int = 200) -> dict[str, Any]:
    async with session.request(method, url, data=None if body is None else orjson.dumps(body),
                               headers={"Content-Type": "application/json"}) as response:
        answer: dict[str, Any] = orjson.loads(await response.read())
        assert response.status == expect, answer
        return answer


class Watch:
    """One watch stream read line by line, each read bounded by TIMEOUT."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self) -> tuple[str, str, str]:
        """(type, name, resourceVersion) of the next event."""
        line = await asyncio.wait_for(self.response.content.readline(), TIMEOUT)
        assert line, "the watch ended"
        event = orjson.loads(line)
        metadata = event["object"]["metadata"]
        return event["type"], metadata["name"], metadata["resourceVersion"]


async def watch(session: aiohttp.ClientSession, replica: Replica, run: str, rv: str) -> Watch:
    response = await session.get(f"{replica.url}{BASE}", params={"watch": "true", "resourceVersion": rv,
                                                                  "labelSelector": f"run={run}"},
                                 timeout=aiohttp.ClientTimeout(total=None, sock_connect=TIMEOUT))
    assert response.status == 200
    return Watch(response)


async def list_rv(session: aiohttp.ClientSession, replica: Replica, run: str) -> tuple[str, list[dict[str, Any]]]:
    listed = await request(session, "GET", f"{replica.url}{BASE}?labelSelector=run%3D{run}")
    return listed["metadata"]["resourceVersion"], listed["items"]


async def test_a_write_through_one_replica_is_visible_on_the_other(
        replicas: list[Replica], session: aiohttp.ClientSession) -> None:
    a, b = replicas
    run = uuid.uuid4().hex[:8]
    start, _ = await list_rv(session, b, run)
    watches = [await watch(session, replica, run, start) for replica in (a, b)]
    created = await request(session, "POST", f"{a.url}{BASE}", labelled(f"seen-{run}", run), expect=201)
    rv = created["metadata"]["resourceVersion"]

    got = await request(session, "GET", f"{b.url}{BASE}/seen-{run}")
    assert got["metadata"]["resourceVersion"] == rv
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    list_version, items = await list_rv(session, b, run)  # a consistent list right after the write
    assert [item["metadata"]["resourceVersion"] for item in items] == [rv]
    assert int(list_version) >= int(rv)
    for w in watches:
        assert await w.next() == ("ADDED", f"seen-{run}", rv)
        w.response.close()


async def test_optimistic_concurrency_holds_across_replicas(
        replicas: list[Replica], session: aiohttp.ClientSession) -> None:
    a, b = replicas
    run = uuid.uuid4().hex[:8]
    created = await request(session, "POST", f"{a.url}{BASE}", labelled(f"occ-{run}", run), expect=201)
    first = created["metadata"]["resourceVersion"]

    created["metadata"]["labels"]["step"] = "b"
    updated = await request(session, "PUT", f"{b.url}{BASE}/occ-{run}", created)
    assert int(updated["metadata"]["resourceVersion"]) > int(first)

    created["metadata"]["labels"]["step"] = "a"  # still carries the first resourceVersion
    status = await request(session, "PUT", f"{a.url}{BASE}/occ-{run}", created, expect=409)
    assert status["reason"] == "Conflict"
    assert "the object has been modified" in status["message"]
    current = await request(session, "GET", f"{a.url}{BASE}/occ-{run}")
    assert current["metadata"]["labels"]["step"] == "b"
    assert current["metadata"]["resourceVersion"] == updated["metadata"]["resourceVersion"]


async def test_racing_unconditional_updates_all_succeed(replicas: list[Replica], session: aiohttp.ClientSession) -> None:
    """A PUT without resourceVersion that loses the compare-and-swap is retried against the new object, as
    kube-apiserver's GuaranteedUpdate does, never answered 409."""
    run = uuid.uuid4().hex[:8]
    created = await request(session, "POST", f"{replicas[0].url}{BASE}", labelled(f"race-{run}", run), expect=201)
    del created["metadata"]["resourceVersion"]

    async def put(index: int) -> str:
        body = {**created, "metadata": {**created["metadata"], "annotations": {"writer": str(index)}}}
        answer = await request(session, "PUT", f"{replicas[index % 2].url}{BASE}/race-{run}", body)
        return str(answer["metadata"]["resourceVersion"])

    versions = await asyncio.gather(*(put(i) for i in range(8)))
    assert len(set(versions)) == len(versions)  # each its own write


async def test_concurrent_writers_on_every_replica_every_watcher_sees_one_sequence(
        replicas: list[Replica], session: aiohttp.ClientSession) -> None:
    updates = 15
    run = uuid.uuid4().hex[:8]
    start, _ = await list_rv(session, replicas[0], run)
    watchers = [await watch(session, replica, run, start) for replica in replicas for _ in range(2)]
    shared = await request(session, "POST", f"{replicas[0].url}{BASE}", labelled(f"shared-{run}", run), expect=201)
    written = [shared["metadata"]["resourceVersion"]]

    async def writer(replica: Replica, index: int) -> None:
        """Create an own slice, then alternate CAS updates of it and read-modify-write of the shared one."""
        own = await request(session, "POST", f"{replica.url}{BASE}", labelled(f"w{index}-{run}", run), expect=201)
        written.append(own["metadata"]["resourceVersion"])
        for step in range(updates):
            own["endpoints"][0]["conditions"]["ready"] = step % 2 == 1  # created ready: every PUT changes it
            own = await request(session, "PUT", f"{replica.url}{BASE}/w{index}-{run}", own)
            written.append(own["metadata"]["resourceVersion"])
            while True:
                current = await request(session, "GET", f"{replica.url}{BASE}/shared-{run}")
                current["metadata"]["labels"][f"w{index}"] = str(step)
                async with session.put(f"{replica.url}{BASE}/shared-{run}", data=orjson.dumps(current),
                                       headers={"Content-Type": "application/json"}) as response:
                    answer = orjson.loads(await response.read())
                if response.status == 409:  # another writer got there first: read again and retry
                    continue
                assert response.status == 200, answer
                written.append(answer["metadata"]["resourceVersion"])
                break

    await asyncio.gather(*(writer(replica, 2 * r + i) for r, replica in enumerate(replicas) for i in range(2)))
    expected = sorted(written, key=int)
    assert len(set(expected)) == len(expected)  # every acknowledged write has its own revision

    sequences = [[await w.next() for _ in expected] for w in watchers]
    for w in watchers:  # nothing after the last write: no duplicates delivered late
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(w.response.content.readline(), 0.2)
        w.response.close()
    assert [rv for _, _, rv in sequences[0]] == expected  # in revision order, no gaps, no duplicates
    assert all(sequence == sequences[0] for sequence in sequences[1:])
    assert sum(kind == "ADDED" for kind, _, _ in sequences[0]) == 5


async def test_replicas_never_hand_out_the_same_cluster_ip_or_node_port(
        replicas: list[Replica], session: aiohttp.ClientSession) -> None:
    """Both replicas allocate from one CAS-updated record in etcd: concurrent creates through either get distinct
    IPs and node ports, and of two asking for the same IP (or node port) exactly one wins."""
    a, b = replicas
    services = "/api/v1/namespaces/default/services"
    run = "s" + uuid.uuid4().hex[:8]  # a DNS-1035 label

    async def post(replica: Replica, name: str, spec: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        async with session.post(f"{replica.url}{services}", data=orjson.dumps({"metadata": {"name": name},
                                                                               "spec": spec}),
                                headers={"Content-Type": "application/json"}) as response:
            return response.status, orjson.loads(await response.read())

    spec = {"type": "NodePort", "ports": [{"port": 80}]}
    answers = await asyncio.gather(*(post(replica, f"{run}-{i}-{n}", spec) for i in range(20)
                                     for n, replica in enumerate(replicas)))
    assert all(code == 201 for code, _ in answers), [a[1]["message"] for a in answers if a[0] != 201][:2]
    ips = [svc["spec"]["clusterIP"] for _, svc in answers]
    ports = [svc["spec"]["ports"][0]["nodePort"] for _, svc in answers]
    kubernetes = await request(session, "GET", f"{b.url}{services}/kubernetes")
    assert len(set(ips)) == len(ips) == 40 and kubernetes["spec"]["clusterIP"] not in ips
    assert len(set(ports)) == len(ports)

    free_ip = next(f"10.0.0.{n}" for n in range(2, 255) if f"10.0.0.{n}" not in ips)
    free_port = next(p for p in range(30000, 32768) if p not in ports)
    for n, asked in enumerate(({"clusterIP": free_ip, "ports": [{"port": 80}]},
                               {"type": "NodePort", "ports": [{"port": 80, "nodePort": free_port}]})):
        race = await asyncio.gather(post(a, f"{run}-a{n}", asked), post(b, f"{run}-b{n}", asked))
        assert sorted(code for code, _ in race) == [201, 422], race
        (refused,) = (answer for code, answer in race if code == 422)
        assert "is already allocated" in refused["message"]
