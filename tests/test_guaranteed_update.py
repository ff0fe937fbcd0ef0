"""Read-modify-write under concurrent writers: no spurious 409, no lost update (upstream's GuaranteedUpdate).

Every writer below changes its own part of one object without a resourceVersion precondition, so kube-apiserver
answers each of them 200 however many race: the server re-reads and re-applies the write on a lost
compare-and-swap. Real sockets, one connection per writer, on the embedded store and on etcd.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from apiserver.config import Config
from apiserver.testing import RunningServer, run_server
from storage.etcd_process import EtcdProcess

WRITERS = 24
SLICES = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"


@pytest.fixture
async def sessions(apiserver: RunningServer) -> AsyncIterator[list[aiohttp.ClientSession]]:
    """One client (and so one connection) per writer, so their requests really interleave on the server."""
    clients = [aiohttp.ClientSession(apiserver.url, timeout=aiohttp.ClientTimeout(total=60))
               for _ in range(WRITERS)]
    try:
        yield clients
    finally:
        await asyncio.gather(*(client.close() for client in clients))


async def call(client: aiohttp.ClientSession, method: str, path: str, body: Any = None,
               content_type: str = "application/json") -> tuple[int, Any]:
    data = None if body is None else json.dumps(body)
    async with client.request(method, path, data=data, headers={"Content-Type": content_type}) as response:
        return response.status, await response.json()


def slice_body(name: str, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": name, **meta},
            "addressType": "IPv4", "endpoints": [], "ports": []}


async def test_concurrent_patches_and_applies_all_land(sessions: list[aiohttp.ClientSession]) -> None:
    first = sessions[0]
    status, _ = await call(first, "POST", SLICES, slice_body("rmw"))
    assert status == 201

    async def write(i: int) -> int:
        client = sessions[i]
        if i % 3 == 0:
            status, _ = await call(client, "PATCH", f"{SLICES}/rmw", {"metadata": {"labels": {f"w{i}": "1"}}}, MERGE)
        elif i % 3 == 1:
            status, _ = await call(client, "PATCH", f"{SLICES}/rmw", {"metadata": {"annotations": {f"w{i}": "1"}}},
                                   STRATEGIC)
        else:
            body = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"name": "rmw", "labels": {f"w{i}": "1"}}, "addressType": "IPv4"}
            status, _ = await call(client, "PATCH", f"{SLICES}/rmw?fieldManager=m{i}", body, APPLY)
        return status

    statuses = await asyncio.gather(*(write(i) for i in range(WRITERS)))
    assert statuses == [200] * WRITERS
    _, obj = await call(first, "GET", f"{SLICES}/rmw")
    written = {**obj["metadata"].get("labels", {}), **obj["metadata"].get("annotations", {})}
    assert sorted(written) == sorted(f"w{i}" for i in range(WRITERS))  # no write lost
    managers = {entry["manager"] for entry in obj["metadata"]["managedFields"] if entry["operation"] == "Apply"}
    assert managers == {f"m{i}" for i in range(2, WRITERS, 3)}


async def test_concurrent_deletes_and_finalizer_removals(sessions: list[aiohttp.ClientSession]) -> None:
    """Half the writers remove their own finalizer, the others DELETE (marking the object, bumping its generation
    once); the object goes when the last finalizer does. A DELETE may find it gone (404), nobody gets a 409."""
    first = sessions[0]
    holders = WRITERS // 2
    finalizers = [f"example.com/f{i}" for i in range(holders)]
    status, created = await call(first, "POST", SLICES, slice_body("fin", finalizers=finalizers))
    assert status == 201
    generation = created["metadata"]["generation"]

    async def write(i: int) -> int:
        client = sessions[i]
        if i < holders:
            patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": [finalizers[i]]}}
            status, _ = await call(client, "PATCH", f"{SLICES}/fin", patch, STRATEGIC)
        else:
            status, body = await call(client, "DELETE", f"{SLICES}/fin")
            if status == 200 and body.get("kind") == "EndpointSlice" and body["metadata"].get("finalizers"):
                assert body["metadata"]["generation"] == generation + 1
        return status

    statuses = await asyncio.gather(*(write(i) for i in range(WRITERS)))
    assert statuses[:holders] == [200] * holders
    assert set(statuses[holders:]) <= {200, 404} and 409 not in statuses
    status, _ = await call(first, "GET", f"{SLICES}/fin")
    assert status == 404


async def test_concurrent_status_and_spec_writers(sessions: list[aiohttp.ClientSession]) -> None:
    """Writers of a Service's labels race writers of its status conditions: every one of them lands."""
    first = sessions[0]
    services = "/api/v1/namespaces/default/services"
    status, _ = await call(first, "POST", services, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                                                      "spec": {"ports": [{"port": 80}]}})
    assert status == 201

    async def write(i: int) -> int:
        client = sessions[i]
        if i % 2:
            status, _ = await call(client, "PATCH", f"{services}/s", {"metadata": {"labels": {f"w{i}": "1"}}}, MERGE)
        else:
            condition = {"type": f"c{i}", "status": "True", "reason": "R", "message": "",
                         "lastTransitionTime": "2024-01-01T00:00:00Z"}
            status, _ = await call(client, "PATCH", f"{services}/s/status", {"status": {"conditions": [condition]}},
                                   STRATEGIC)
        return status

    assert await asyncio.gather(*(write(i) for i in range(WRITERS))) == [200] * WRITERS
    _, obj = await call(first, "GET", f"{services}/s")
    assert sorted(obj["metadata"]["labels"]) == sorted(f"w{i}" for i in range(1, WRITERS, 2))
    assert sorted(c["type"] for c in obj["status"]["conditions"]) == sorted(f"c{i}" for i in range(0, WRITERS, 2))


async def test_writers_on_two_replicas_of_one_etcd(etcd: EtcdProcess) -> None:
    """Two servers on one etcd: each starts its writes from its own watch cache, often behind the other's writes,
    so most first attempts lose the swap; every write still lands, once."""
    url = etcd.storage_url(f"/{uuid.uuid4().hex}/registry")
    with run_server(Config(storage=url)) as first, run_server(Config(storage=url)) as second:
        clients = [aiohttp.ClientSession((first, second)[i % 2].url, timeout=aiohttp.ClientTimeout(total=60))
                   for i in range(WRITERS)]
        try:
            status, _ = await call(clients[0], "POST", SLICES, slice_body("replicated"))
            assert status == 201

            async def write(i: int) -> list[int]:
                answers = []
                for n in range(3):
                    patch = {"metadata": {"labels": {f"w{i}-{n}": "1"}}}
                    answers.append((await call(clients[i], "PATCH", f"{SLICES}/replicated", patch, MERGE))[0])
                return answers

            results = await asyncio.gather(*(write(i) for i in range(WRITERS)))
            assert all(answers == [200, 200, 200] for answers in results), results
            _, obj = await call(clients[1], "GET", f"{SLICES}/replicated")
            assert len(obj["metadata"]["labels"]) == 3 * WRITERS
        finally:
            await asyncio.gather(*(client.close() for client in clients))
