"""The watch fan-out hub against a real server over sockets (reference §6, §6.6, §9).

Watchers are raw HTTP/1.1 connections (asyncio streams) whose chunked framing is parsed here, so
tests can compare exact payload bytes between watchers, with the server's meters and with
/debug/watches. Every wait is bounded (a deadline or a loop count); only counts are asserted.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from apiserver.cacher.watcher import HIGH_WATER, SEND_BUFFER
from apiserver.config import Config
from apiserver.kinds import columns
from apiserver.protobuf import envelope
from apiserver.state import REGISTRIES
from apiserver.testing import RunningServer

NS = "default"
GROUP_PATH = "/apis/discovery.k8s.io/v1"
WAIT = 15.0
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
PARTIAL = "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io"
PROTOBUF = envelope.MEDIA_TYPE


def slices_path(namespace: str = NS) -> str:
    return f"{GROUP_PATH}/namespaces/{namespace}/endpointslices"


def slice_body(name: str, labels: dict[str, str] | None = None, ips: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "labels": labels if labels is not None else {"app": "web"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [f"10.{i // 250}.{i % 250}.1"]} for i in range(ips)],
        "ports": [{"name": "http", "port": 80}],
    }


async def until(check: Callable[[], Awaitable[bool]] | Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Poll `check` (sync or async) every 20 ms until it holds; fail after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class RawWatch:
    """One watch on its own TCP connection: the de-chunked payload and its events, read by a task."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.status = 0
        self.payload = bytearray()
        self.events: list[dict[str, Any]] = []
        self.ended = False
        self.protobuf = False
        self._partial = b""
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self, server: RunningServer, path: str, query: dict[str, str],
                   headers: dict[str, str] | None = None) -> RawWatch:
        host, port = server.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), WAIT)
        self._writer = writer
        lines = [f"GET {path}?{urlencode({'watch': 'true', **query})} HTTP/1.1", f"Host: {host}",
                 f"User-Agent: {self.name}", *(f"{k}: {v}" for k, v in (headers or {}).items()), "", ""]
        writer.write("\r\n".join(lines).encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
        self.status = int(head.split(b" ", 2)[1])
        self.protobuf = envelope.WATCH_MEDIA_TYPE.encode() in head
        assert b"transfer-encoding: chunked" in head.lower(), head
        self._task = asyncio.create_task(self._read(reader))
        return self

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                data = await reader.readexactly(size + 2)
                if size == 0:
                    break
                self._feed(data[:-2])
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        self.ended = True

    def _feed(self, data: bytes) -> None:
        self.payload += data
        if self.protobuf:  # frames led by their length
            self._partial += data
            while len(self._partial) >= 4 and len(self._partial) >= 4 + (size := int.from_bytes(self._partial[:4])):
                event_type, obj = envelope.decode_watch_event(self._partial[4:4 + size])
                self.events.append({"type": event_type, "object": obj})
                self._partial = self._partial[4 + size:]
            return
        *lines, self._partial = (self._partial + data).split(b"\n")
        self.events += [json.loads(line) for line in lines]

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def open_watches(server: RunningServer, count: int, prefix: str, path: str = "",
                       query: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> list[RawWatch]:
    """Open `count` watches concurrently, user agents `prefix-0` …"""
    return list(await asyncio.gather(*(
        RawWatch(f"{prefix}-{i}").open(server, path or slices_path(), query or {}, headers) for i in range(count))))


class Api:
    """Writes, lists, metrics and /debug/watches through one aiohttp session."""

    def __init__(self, server: RunningServer, session: aiohttp.ClientSession) -> None:
        self.url = server.url
        self.session = session

    async def call(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
                   ok: tuple[int, ...] = (200, 201)) -> dict[str, Any]:
        data = None if body is None else json.dumps(body)
        async with self.session.request(method, self.url + path, data=data,
                                        headers={"Content-Type": content_type}) as response:
            result: dict[str, Any] = await response.json(content_type=None)
            assert response.status in ok, result
            return result

    async def create(self, name: str, namespace: str = NS, labels: dict[str, str] | None = None,
                     ips: int = 1) -> int:
        created = await self.call("POST", slices_path(namespace), slice_body(name, labels, ips))
        return int(created["metadata"]["resourceVersion"])

    async def patch(self, name: str, patch: dict[str, Any], namespace: str = NS) -> int:
        patched = await self.call("PATCH", f"{slices_path(namespace)}/{name}", patch,
                                  "application/merge-patch+json")
        return int(patched["metadata"]["resourceVersion"])

    async def delete(self, name: str, namespace: str = NS) -> None:
        await self.call("DELETE", f"{slices_path(namespace)}/{name}")

    async def namespace(self, name: str) -> None:
        await self.call("POST", "/api/v1/namespaces", {"metadata": {"name": name}})

    async def rv(self) -> int:
        listed = await self.call("GET", f"{GROUP_PATH}/endpointslices")
        return int(listed["metadata"]["resourceVersion"])

    async def debug(self) -> dict[str, Any]:
        return await self.call("GET", "/debug/watches")

    async def open_count(self) -> int:
        return int((await self.debug())["resources"]["endpointslices"]["open"])

    async def metrics(self) -> dict[str, float]:
        """Samples of the endpointslice watch metrics: name (+ encoding label) → value; the bare name sums them."""
        async with self.session.get(self.url + "/metrics") as response:
            text = await response.text()
        samples: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.labels.get("resource") != "endpointslices":
                    continue
                if "le" in sample.labels:
                    continue
                if "encoding" in sample.labels:  # each encoding's, and their sum under the bare name
                    samples[f"{sample.name}{{{sample.labels['encoding']}}}"] = sample.value
                samples[sample.name] = samples.get(sample.name, 0.0) + sample.value
        return samples


def delta(after: dict[str, float], before: dict[str, float], name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)


def run(server: RunningServer, body: Callable[[Api], Awaitable[None]]) -> None:
    """Run an async test body with an Api on its own event loop (the server has its own thread and loop)."""

    async def main() -> None:
        connector = aiohttp.TCPConnector(limit=50)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=WAIT)) as session:
            await body(Api(server, session))

    asyncio.run(main())


def hub_groups(server: RunningServer) -> int:
    return len(server.app[REGISTRIES]["endpointslices"].cacher.hub.groups)


async def close_all(watches: list[RawWatch]) -> None:
    await asyncio.gather(*(w.close() for w in watches))


# Fan-out: many watchers, concurrent writers


WATCHERS = 300
WRITERS = 4


async def writer_ops(api: Api, writer: int) -> list[tuple[str, str, int]]:
    """One writer's sequence of changes: (event type, name, revision or 0 for a delete)."""
    log: list[tuple[str, str, int]] = []
    for n in range(4):
        name = f"w{writer}-{n}"
        log.append(("ADDED", name, await api.create(name)))
        for i in range(2):
            log.append(("MODIFIED", name, await api.patch(name, {"metadata": {"annotations": {"i": str(i)}}})))
        if n % 2 == 0:
            await api.delete(name)
            log.append(("DELETED", name, 0))
    return log


def test_hundreds_of_watchers_get_identical_gapless_streams(apiserver: RunningServer) -> None:
    async def body(api: Api) -> None:
        start = await api.rv()
        before = await api.metrics()
        watches = await open_watches(apiserver, WATCHERS, "fan", query={"resourceVersion": str(start),
                                                                       "timeoutSeconds": "60"})
        try:
            assert {w.status for w in watches} == {200}
            await until(lambda: _open_is(api, WATCHERS), "all watchers registered")
            assert hub_groups(apiserver) == 1  # one filter: one group, evaluated once per event

            logs = await asyncio.gather(*(writer_ops(api, w) for w in range(WRITERS)))
            total = sum(len(log) for log in logs)
            await until(lambda: all(len(w.events) >= total for w in watches), "every watcher got every event")

            reference = bytes(watches[0].payload)
            assert all(bytes(w.payload) == reference for w in watches), "watchers got different bytes"
            got = watches[0].events
            assert len(got) == total
            rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in got]
            assert rvs == sorted(set(rvs)) and rvs[0] > start, "revisions not strictly increasing"
            written = sorted(rv for log in logs for _, _, rv in log if rv)
            # every create/patch revision exactly once; deletes add their own revisions in between
            assert sorted(set(rvs) & set(written)) == written
            assert len(rvs) - len(written) == sum(1 for log in logs for t, _, _ in log if t == "DELETED")
            # each writer's changes arrive in the order it made them
            for log in logs:
                names = {name for _, name, _ in log}
                mine = [(e["type"], e["object"]["metadata"]["name"]) for e in got
                        if e["object"]["metadata"]["name"] in names]
                assert mine == [(t, name) for t, name, _ in log]
            for e in got:
                if e["type"] != "DELETED":
                    assert int(e["object"]["metadata"]["resourceVersion"]) in written

            # metering: exactly what the clients received
            debug = await api.debug()
            by_agent = {w["userAgent"]: w for w in debug["open"]}
            for w in watches:
                entry = by_agent[w.name]
                assert (entry["events"], entry["bytes"]) == (len(w.events), len(w.payload))
            after = await api.metrics()
            assert delta(after, before, "apiserver_watch_events_total") == WATCHERS * total
            assert delta(after, before, "apiserver_watch_events_sizes_sum") == WATCHERS * len(reference)
            assert delta(after, before, "apiserver_watch_events_sizes_count") == WATCHERS * total
            assert delta(after, before, "apiserver_watch_cache_events_dispatched_total") == total
            assert delta(after, before, "apiserver_watch_cache_encodings_total{application/json}") == total
        finally:
            await close_all(watches)
        await until(lambda: _open_is(api, 0), "watchers unregistered")
        closed = (await api.debug())["resources"]["endpointslices"]
        assert closed["count"] == WATCHERS
        assert closed["bytes"] == WATCHERS * len(watches[0].payload)
        assert closed["events"] == WATCHERS * len(watches[0].events)

    run(apiserver, body)


async def _open_is(api: Api, count: int) -> bool:
    return await api.open_count() == count


# Encode once per form


@pytest.mark.parametrize("apiserver_config", [
    Config(compaction_interval=0),
    Config(compaction_interval=0, watch_encode_cache=False),
], ids=["encode-cache", "no-encode-cache"])
def test_serializations_per_form_not_per_watcher(apiserver: RunningServer, apiserver_config: Config) -> None:
    plain_n, table_n, partial_n, protobuf_n, updates = 50, 20, 10, 20, 12

    async def body(api: Api) -> None:
        await api.create("s")
        start = await api.rv()
        before = await api.metrics()
        query = {"resourceVersion": str(start), "timeoutSeconds": "60"}
        plain = await open_watches(apiserver, plain_n, "plain", query=query)
        table = await open_watches(apiserver, table_n, "table", query=query, headers={"Accept": TABLE})
        partial = await open_watches(apiserver, partial_n, "partial", query=query, headers={"Accept": PARTIAL})
        protobuf = await open_watches(apiserver, protobuf_n, "protobuf", query=query, headers={"Accept": PROTOBUF})
        watches = plain + table + partial + protobuf
        try:
            await until(lambda: _open_is(api, len(watches)), "all watchers registered")
            for i in range(updates):
                await api.patch("s", {"metadata": {"annotations": {"n": str(i)}}})
            await until(lambda: all(len(w.events) >= updates for w in watches), "every event everywhere")
            after = await api.metrics()
        finally:
            await close_all(watches)

        for group in (plain, table, partial, protobuf):
            if group is not table or apiserver_config.watch_encode_cache:  # uncached, each Table has its own AGE
                assert len({bytes(w.payload) for w in group}) == 1
            assert all(len(w.events) == updates for w in group)
        assert plain[0].events[0]["object"]["kind"] == "EndpointSlice"
        assert [e["object"] for e in protobuf[0].events] == [e["object"] for e in plain[0].events]
        assert partial[0].events[0]["object"]["kind"] == "PartialObjectMetadata"
        tables = [e["object"] for e in table[0].events]
        assert all(t["kind"] == "Table" and len(t["rows"]) == 1 for t in tables)
        # the first event carries the column definitions, later ones do not
        assert tables[0]["columnDefinitions"] and not any(t.get("columnDefinitions") for t in tables[1:])

        # With the cache, each event is serialized once per form in use (the Table watchers' first
        # event in the with-headers form instead of the headerless one); without it, once per watcher.
        per_form = {"application/json": plain_n, "application/json;as=Table": table_n,
                    "application/json;as=PartialObjectMetadata": partial_n, PROTOBUF: protobuf_n}
        for encoding, watchers in per_form.items():
            expected = updates if apiserver_config.watch_encode_cache else updates * watchers
            got = delta(after, before, f"apiserver_watch_cache_encodings_total{{{encoding}}}")
            assert got == expected, (encoding, got, expected)
        assert delta(after, before, "apiserver_watch_cache_events_dispatched_total") == updates

        # metered bytes and events equal what the clients received
        sent = sum(len(w.payload) for w in watches)
        assert delta(after, before, "apiserver_watch_events_sizes_sum") == sent
        assert delta(after, before, "apiserver_watch_events_total") == sum(len(w.events) for w in watches)

    run(apiserver, body)


async def fetch(api: Api, path: str, accept: str, method: str = "GET", body: Any = None,
                query: dict[str, str] | None = None) -> bytes:
    """The raw answer to one request with `accept`."""
    url = api.url + path + (f"?{urlencode(query)}" if query else "")
    data = None if body is None else json.dumps(body)
    headers = {"Accept": accept, "Content-Type": "application/merge-patch+json"}
    async with api.session.request(method, url, data=data, headers=headers) as response:
        assert response.status in (200, 201), await response.text()
        return await response.read()


@pytest.mark.parametrize("apiserver_config", [Config(compaction_interval=0)])
def test_gets_lists_and_watches_encode_each_object_version_once(apiserver: RunningServer) -> None:
    """LISTs and GETs in JSON and protobuf are made of the bodies the watch cache keeps per object version,
    which its watch events wrap too: N objects cost N encodings per encoding, however often they are read."""
    count = 12

    async def body(api: Api) -> None:
        for i in range(count):
            await api.create(f"s{i:02}", ips=20)
        before = await api.metrics()
        for query in ({}, {"resourceVersion": "0"}, {}):  # consistent reads and "any" reads, from the cache
            listed = await fetch(api, slices_path(), PROTOBUF, query=query)
            as_json = await fetch(api, slices_path(), "application/json", query=query)
            # the same bytes as encoding the list whole
            assert listed == envelope.encode(json.loads(as_json))
            assert as_json == orjson.dumps(json.loads(as_json))
            assert [i["metadata"]["name"] for i in json.loads(as_json)["items"]] == [f"s{i:02}" for i in range(count)]
            assert all("kind" not in item for item in json.loads(as_json)["items"])
        for i in range(count):
            got = await fetch(api, f"{slices_path()}/s{i:02}", PROTOBUF)
            assert got == envelope.encode(json.loads(await fetch(api, f"{slices_path()}/s{i:02}", "*/*")))
        watch = (await open_watches(apiserver, 1, "initial", headers={"Accept": PROTOBUF},
                                    query={"resourceVersion": "0", "timeoutSeconds": "60"}))[0]
        try:
            await until(lambda: len(watch.events) == count, "the initial events")
        finally:
            await watch.close()
        after = await api.metrics()
        for encoding in (PROTOBUF, "application/json"):
            assert delta(after, before, f"apiserver_watch_cache_encodings_total{{{encoding}}}") == count, encoding

        # a dry run answers with the next content at the current resourceVersion: never from the cache
        current = json.loads(await fetch(api, f"{slices_path()}/s00", "application/json"))
        dry = envelope.decode(await fetch(api, f"{slices_path()}/s00", PROTOBUF, "PATCH",
                                          {"metadata": {"labels": {"dry": "run"}}}, {"dryRun": "All"}))
        assert dry["metadata"]["resourceVersion"] == current["metadata"]["resourceVersion"]
        assert dry["metadata"]["labels"]["dry"] == "run"
        assert "dry" not in envelope.decode(await fetch(api, f"{slices_path()}/s00", PROTOBUF))["metadata"]["labels"]
        # a new version is encoded once more
        await api.patch("s00", {"metadata": {"annotations": {"n": "1"}}})
        changed = await fetch(api, slices_path(), PROTOBUF)
        assert envelope.decode(changed)["items"][0]["metadata"]["annotations"] == {"n": "1"}
        await fetch(api, slices_path(), PROTOBUF, query={"resourceVersion": "0"})
        again = await api.metrics()
        assert delta(again, after, f"apiserver_watch_cache_encodings_total{{{PROTOBUF}}}") == 1

    run(apiserver, body)


# Unresponsive watchers


BUFFER_BYTES = 128 * 1024


@pytest.mark.parametrize("apiserver_config", [
    Config(compaction_interval=0, watch_buffer=1000, watch_buffer_bytes=BUFFER_BYTES)])
def test_unread_watcher_terminated_with_bounded_buffer(apiserver: RunningServer) -> None:
    async def body(api: Api) -> None:
        await api.create("big", ips=600)   # ~30 KB per event
        start = await api.rv()
        before = await api.metrics()
        reader = (await open_watches(apiserver, 1, "reader", query={"resourceVersion": str(start),
                                                                    "timeoutSeconds": "60"}))[0]
        host, port = apiserver.url.removeprefix("http://").split(":")
        loop = asyncio.get_running_loop()
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(slow, (host, int(port))), WAIT)
            await loop.sock_sendall(slow, (
                f"GET {slices_path()}?watch=true&resourceVersion={start} HTTP/1.1\r\nHost: {host}\r\n"
                "User-Agent: never-reads\r\n\r\n").encode())
            await until(lambda: _open_is(api, 2), "both watchers registered")

            updates, largest, terminated = 0, 0, False
            for i in range(600):
                await api.patch("big", {"metadata": {"annotations": {"n": str(i)}}})
                updates += 1
                debug = await api.debug()
                for entry in debug["open"]:
                    largest = max(largest, entry["bufferedBytes"])
                    assert entry["bufferedBytes"] <= BUFFER_BYTES + HIGH_WATER, entry
                if debug["closed"]["terminated"] == 1:
                    terminated = True
                    break
            assert terminated, f"the unread watcher was never terminated ({updates} updates, max {largest} B)"
            debug = await api.debug()
            assert [e["userAgent"] for e in debug["open"]] == ["reader-0"]
            assert debug["closed"]["count"] == 1 and debug["closed"]["terminated"] == 1
            after = await api.metrics()
            assert delta(after, before, "apiserver_terminated_watchers_total") == 1

            await api.create("sentinel")
            await until(lambda: len(reader.events) == updates + 1, "the reader got every event")
            assert reader.types() == ["MODIFIED"] * updates + ["ADDED"]
            assert [e["object"]["metadata"]["annotations"]["n"] for e in reader.events[:-1]] == [
                str(i) for i in range(updates)]
        finally:
            slow.close()
            await reader.close()

    run(apiserver, body)


# Filter groups


def test_selector_and_namespace_groups(apiserver: RunningServer) -> None:
    async def body(api: Api) -> None:
        await api.namespace("ns-b")
        start = await api.rv()
        query = {"resourceVersion": str(start), "timeoutSeconds": "60"}
        specs = {
            "web": (NS, "app=web"), "db": (NS, "app=db"), "not-web": (NS, "app!=web"),
            "all-a": (NS, ""), "all-b": ("ns-b", ""), "web-b": ("ns-b", "app=web"),
        }
        watches: dict[str, list[RawWatch]] = {}
        for name, (namespace, selector) in specs.items():
            q = {**query, "labelSelector": selector} if selector else query
            watches[name] = await open_watches(apiserver, 3, name, slices_path(namespace), q)
        everyone = [w for ws in watches.values() for w in ws]
        try:
            await until(lambda: _open_is(api, len(everyone)), "all watchers registered")

            # the test's own model of what each filter should see
            labels: dict[tuple[str, str], str] = {}
            expected: dict[str, list[tuple[str, str]]] = {name: [] for name in specs}

            def record(namespace: str, name: str, app: str | None) -> None:
                old = labels.get((namespace, name))
                for watch, (ns, selector) in specs.items():
                    if ns != namespace:
                        continue
                    match = _matcher(selector)
                    was, now = old is not None and match(old), app is not None and match(app)
                    if now:
                        expected[watch].append(("MODIFIED" if was else "ADDED", name))
                    elif was:
                        expected[watch].append(("DELETED", name))
                if app is None:
                    labels.pop((namespace, name))
                else:
                    labels[(namespace, name)] = app

            for namespace in (NS, "ns-b"):
                for name, app in (("a", "web"), ("b", "db"), ("c", "cache")):
                    await api.create(name, namespace, {"app": app})
                    record(namespace, name, app)
            for namespace, name, app in ((NS, "a", "db"), (NS, "b", "web"), ("ns-b", "c", "web"),
                                         (NS, "c", "db"), (NS, "a", "web"), ("ns-b", "a", "cache")):
                await api.patch(name, {"metadata": {"labels": {"app": app}}}, namespace)
                record(namespace, name, app)
            for namespace, name in ((NS, "a"), ("ns-b", "c"), (NS, "b")):
                await api.delete(name, namespace)
                record(namespace, name, None)
            await api.create("last", NS, {"app": "web"})
            record(NS, "last", "web")
            await api.create("last", "ns-b", {"app": "web"})
            record("ns-b", "last", "web")
            # (watchers from a revision past the hub's last event wait outside the groups until one comes)
            assert hub_groups(apiserver) == len(specs)   # 3 watchers per filter share one group

            for name, ws in watches.items():
                await until(_all_have(ws, len(expected[name])), f"{name} watchers' events")
            for name, ws in watches.items():
                for w in ws:
                    got = [(e["type"], e["object"]["metadata"]["name"]) for e in w.events]
                    assert got == expected[name], name
                    assert {e["object"]["metadata"]["namespace"] for e in w.events} == {specs[name][0]}
                assert len({bytes(w.payload) for w in ws}) == 1
            # a transition to not matching is DELETED with the old labels at the new revision
            web = watches["web"][0].events
            gone = next(e for e in web if e["type"] == "DELETED")
            assert gone["object"]["metadata"]["labels"] == {"app": "web"}
            assert int(gone["object"]["metadata"]["resourceVersion"]) > int(web[0]["object"]["metadata"][
                "resourceVersion"])
        finally:
            await close_all(everyone)

    run(apiserver, body)


def _all_have(watches: list[RawWatch], count: int) -> Callable[[], bool]:
    return lambda: all(len(w.events) >= count for w in watches)


def _matcher(selector: str) -> Callable[[str], bool]:
    """The few selectors this test uses, on the `app` label."""
    if not selector:
        return lambda app: True
    if "!=" in selector:
        value = selector.split("!=")[1]
        return lambda app: app != value
    value = selector.split("=")[1]
    return lambda app: app == value


# Bookmarks, init events, /debug/watches


@pytest.mark.parametrize("apiserver_config", [Config(compaction_interval=0, bookmark_interval=0.1)])
def test_bookmarks_init_events_and_debug(apiserver: RunningServer) -> None:
    async def body(api: Api) -> None:
        for name, app in (("a", "web"), ("b", "db"), ("c", "web")):
            await api.create(name, labels={"app": app})
        start = await api.rv()
        before = await api.metrics()
        query = {"resourceVersion": str(start), "timeoutSeconds": "60"}
        marked = await open_watches(apiserver, 3, "marked", query={**query, "allowWatchBookmarks": "true"})
        table = await open_watches(apiserver, 1, "table-marked", query={**query, "allowWatchBookmarks": "true"},
                                   headers={"Accept": TABLE})
        unmarked = await open_watches(apiserver, 2, "unmarked", query=query)
        # synthetic initial state: no resourceVersion → ADDED for the matching current objects
        initial = await open_watches(apiserver, 2, "initial", query={"labelSelector": "app=web",
                                                                     "timeoutSeconds": "60"})
        everyone = marked + table + unmarked + initial
        try:
            await until(lambda: _open_is(api, len(everyone)), "all watchers registered")
            await until(lambda: all(len(w.events) >= 2 for w in initial), "initial events")
            assert all([(e["type"], e["object"]["metadata"]["name"]) for e in w.events] ==
                       [("ADDED", "a"), ("ADDED", "c")] for w in initial)
            mid = await api.metrics()
            assert delta(mid, before, "apiserver_init_events_total") == 2 * 2

            # bookmarks carry the latest revision; the Table watcher's first one comes before any change
            await until(lambda: all(_bookmarked(w, start) for w in marked + table), "a bookmark at the start RV")
            latest = await api.patch("a", {"metadata": {"annotations": {"x": "1"}}})
            await until(lambda: all(_bookmarked(w, latest) for w in marked + table), "a bookmark at the latest RV")
            latest = await api.patch("c", {"metadata": {"annotations": {"x": "2"}}})
            await until(lambda: all(_bookmarked(w, latest) for w in marked + table), "a bookmark at the new RV")
            for w in marked:
                bookmarks = [e for e in w.events if e["type"] == "BOOKMARK"]
                rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in bookmarks]
                assert rvs == sorted(rvs) and start <= rvs[0] and rvs[-1] == latest
                assert bookmarks[-1]["object"] == {
                    "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
                    "metadata": {"resourceVersion": str(latest), "creationTimestamp": None}, "addressType": "",
                    "endpoints": None,
                    "ports": None}
                assert [e["object"]["metadata"]["name"] for e in w.events if e["type"] != "BOOKMARK"] == ["a", "c"]
            # a Table watcher gets its column definitions once, whichever event comes first
            tables = [e["object"] for e in table[0].events]
            assert all(t["kind"] == "Table" for t in tables)
            assert [bool(t.get("columnDefinitions")) for t in tables].count(True) == 1
            assert [e["type"] for e in unmarked[0].events] == ["MODIFIED", "MODIFIED"]
            assert all(e["type"] != "BOOKMARK" for w in unmarked + initial for e in w.events)

            # /debug/watches: user agent, selectors, events and bytes of every open watch
            debug = await api.debug()
            by_agent = {e["userAgent"]: e for e in debug["open"]}
            assert set(by_agent) == {w.name for w in everyone}
            for w in everyone:
                entry = by_agent[w.name]
                assert entry["resource"] == "endpointslices" and entry["namespace"] == NS
                assert entry["labelSelector"] == ("app=web" if w in initial else "")
                assert entry["fieldSelector"] == ""
                assert entry["bytes"] >= len(w.payload) and entry["events"] >= len(w.events)
            base_closed = debug["closed"]
        finally:
            await close_all(everyone)
        await until(lambda: _open_is(api, 0), "watchers unregistered")
        debug = await api.debug()
        assert debug["open"] == []
        closed = debug["closed"]
        assert closed["count"] - base_closed["count"] == len(everyone)
        assert closed["terminated"] == 0
        # bookmarks may still have been sent between the last read and the close: at least what was read
        assert closed["events"] >= sum(len(w.events) for w in everyone)
        assert closed["bytes"] >= sum(len(w.payload) for w in everyone)

    run(apiserver, body)


def _bookmarked(watch: RawWatch, rv: int) -> bool:
    return any(e["type"] == "BOOKMARK" and e["object"]["metadata"]["resourceVersion"] == str(rv)
               for e in watch.events)


class _LaterClock:
    """Stands in for the `time` module of the Table columns: an hour after the real time."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def time(self) -> float:
        return time.time() + 3600


def test_table_initial_events_compute_age_at_send_time(apiserver: RunningServer,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Table frames are not reused beyond their dispatch: a later watcher sees the Age of its own time."""

    async def ages(api: Api, name: str) -> list[str]:
        watch = (await open_watches(apiserver, 1, name, headers={"Accept": TABLE},
                                    query={"timeoutSeconds": "60"}))[0]
        try:
            await until(lambda: len(watch.events) >= 1, "the initial event")
            return [row["cells"][4] for row in watch.events[0]["object"]["rows"]]
        finally:
            await watch.close()

    async def body(api: Api) -> None:
        start = await api.rv()
        live = (await open_watches(apiserver, 1, "live", headers={"Accept": TABLE},
                                   query={"resourceVersion": str(start), "timeoutSeconds": "60"}))[0]
        try:
            await until(lambda: _open_is(api, 1), "the live watcher registered")
            await api.create("s")   # dispatched to a Table watcher: its ADDED frame is encoded now
            await until(lambda: len(live.events) == 1, "the live ADDED")
        finally:
            await live.close()
        first = await ages(api, "first")
        assert len(first) == 1 and first[0].endswith("s")   # seconds old
        monkeypatch.setattr(columns, "time", _LaterClock())
        assert await ages(api, "second") == ["60m"]

    run(apiserver, body)


# Stuck watchers, flow control, flush errors, lazy initial events


async def open_stuck(server: RunningServer, query: dict[str, str]) -> socket.socket:
    """A watch on a socket with a 4 KiB receive buffer that the test does not read (until it decides to)."""
    host, port = server.url.removeprefix("http://").split(":")
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.wait_for(loop.sock_connect(sock, (host, int(port))), WAIT)
    await loop.sock_sendall(sock, (f"GET {slices_path()}?{urlencode({'watch': 'true', **query})} HTTP/1.1\r\n"
                                   f"Host: {host}\r\nUser-Agent: stuck\r\n\r\n").encode())
    return sock


def tcp_established(sock: socket.socket) -> bool:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] == 1  # TCP_ESTABLISHED


STUCK = 20


@pytest.mark.parametrize("apiserver_config", [Config(compaction_interval=0, watch_buffer=40)])
def test_stuck_watchers_are_bounded_and_reset_while_healthy_ones_get_everything(apiserver: RunningServer) -> None:
    """Each stuck watch pins at most its transport's high-water mark and the socket's send buffer, is
    terminated past its bound and its connection reset at once; the healthy watchers miss nothing."""
    async def body(api: Api) -> None:
        await api.create("big", ips=300)  # ~14 KB per event
        start = await api.rv()
        query = {"resourceVersion": str(start), "timeoutSeconds": "60"}
        healthy = await open_watches(apiserver, 3, "healthy", query=query)
        stuck = [await open_stuck(apiserver, query) for _ in range(STUCK)]
        try:
            await until(lambda: _open_is(api, 3 + STUCK), "all watchers registered")
            updates = 150
            for i in range(updates):
                await api.patch("big", {"metadata": {"annotations": {"n": str(i)}}})
            await api.create("sentinel")
            await until(lambda: all(len(w.events) == updates + 1 for w in healthy), "the healthy got every event")
            for watch in healthy:
                assert watch.types() == ["MODIFIED"] * updates + ["ADDED"]
                assert not watch.ended
            debug = await api.debug()
            assert sorted(e["userAgent"] for e in debug["open"]) == ["healthy-0", "healthy-1", "healthy-2"]
            assert debug["closed"]["terminated"] == STUCK
            event_bytes = len(healthy[0].payload) // (updates + 1) + 1024
            assert debug["closed"]["bytes"] / STUCK <= HIGH_WATER + 2 * SEND_BUFFER + 64 * 1024 + event_bytes
            await until(lambda: not any(tcp_established(s) for s in stuck), "the stuck connections reset")
        finally:
            for sock in stuck:
                sock.close()
            await close_all(healthy)

    run(apiserver, body)


@pytest.mark.parametrize("apiserver_config", [Config(compaction_interval=0)])
def test_a_paused_watcher_costs_no_flushes(apiserver: RunningServer) -> None:
    """A watcher whose transport is paused waits for the transport to resume it: no flush is scheduled for it."""
    cacher = apiserver.app[REGISTRIES]["endpointslices"].cacher

    def idle() -> bool:
        return cacher._flush_handle is None and not cacher.hub.dirty

    async def body(api: Api) -> None:
        await api.create("big", ips=300)
        start = await api.rv()
        sock = await open_stuck(apiserver, {"resourceVersion": str(start), "timeoutSeconds": "60"})
        try:
            await until(lambda: _open_is(api, 1), "the watcher registered")
            for i in range(250):  # ~3.5 MB: past what the socket and the transport take (and a kernel left alone)
                await api.patch("big", {"metadata": {"annotations": {"n": str(i)}}})
            entry = (await api.debug())["open"][0]
            assert entry["buffered"] > 0, entry  # frames wait: the transport is paused
            for _ in range(10):  # and stay waiting without a flush being scheduled, ten polls in a row
                await until(idle, "no flush scheduled")
                await asyncio.sleep(0.02)
                assert idle()
        finally:
            sock.close()

    run(apiserver, body)


def test_a_flush_error_closes_only_that_watcher(apiserver: RunningServer) -> None:
    """A watcher whose write raises is closed, logged and counted; the others of the batch get their events."""
    hub = apiserver.app[REGISTRIES]["endpointslices"].cacher.hub
    assert apiserver.loop is not None

    async def body(api: Api) -> None:
        start = await api.rv()
        query = {"resourceVersion": str(start), "timeoutSeconds": "60"}
        broken = (await open_watches(apiserver, 1, "broken", query=query))[0]  # first in every batch
        await until(lambda: _open_is(api, 1), "the first watcher registered")
        others = await open_watches(apiserver, 3, "other", query=query)
        try:
            await until(lambda: _open_is(api, 4), "all watchers registered")
            before = await api.metrics()
            watcher = next(w for w in hub.watchers() if w.info.user_agent == "broken-0")
            apiserver.loop.call_soon_threadsafe(watcher.transport.write_eof)  # its next write raises
            for name in ("a", "b", "c"):
                await api.create(name)
            await until(lambda: all(len(w.events) == 3 for w in others), "the others got every event")
            debug = await api.debug()
            assert sorted(e["userAgent"] for e in debug["open"]) == ["other-0", "other-1", "other-2"]
            after = await api.metrics()
            assert delta(after, before, "apiserver_watch_flush_errors_total") == 1
            assert delta(after, before, "apiserver_terminated_watchers_total") == 0
        finally:
            await close_all([broken, *others])

    run(apiserver, body)


def dechunk(data: bytes) -> tuple[bytes, bool]:
    """The payload of a chunked body read so far, and whether its last chunk arrived."""
    payload, pos = bytearray(), 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return bytes(payload), False
        size = int(data[pos:eol], 16)
        if size == 0:
            return bytes(payload), True
        if len(data) < eol + 2 + size + 2:
            return bytes(payload), False
        payload += data[eol + 2:eol + 2 + size]
        pos = eol + 2 + size + 2


@pytest.mark.parametrize("apiserver_config", [Config(compaction_interval=0)])
def test_initial_events_are_encoded_as_the_socket_takes_them(apiserver: RunningServer) -> None:
    """A stalled watch of the initial state does not hold the collection: its frames are made as it reads,
    and they are metered like any other."""
    count = 150  # ~2 MB of initial events, far more than the socket and the transport take

    async def body(api: Api) -> None:
        for i in range(count):
            await api.create(f"s{i:03}", ips=300)
        before = await api.metrics()
        sock = await open_stuck(apiserver, {"resourceVersion": "0", "timeoutSeconds": "60"})
        loop = asyncio.get_running_loop()
        try:
            await until(lambda: _open_is(api, 1), "the watcher registered")
            await asyncio.sleep(0.5)
            stalled = await api.metrics()
            assert delta(stalled, before, "apiserver_watch_cache_encodings_total{application/json}") < count // 2
            assert (await api.debug())["open"][0]["events"] < count // 2

            data = b""
            while True:  # now read it all
                data += await asyncio.wait_for(loop.sock_recv(sock, 1 << 16), WAIT)
                body_ = data.partition(b"\r\n\r\n")[2]
                payload = dechunk(body_)[0]
                if payload.count(b"\n") == count:
                    break
            names = [json.loads(line)["object"]["metadata"]["name"] for line in payload.splitlines()]
            assert sorted(names) == [f"s{i:03}" for i in range(count)]
            after = await api.metrics()
            assert delta(after, before, "apiserver_init_events_total") == count
            assert delta(after, before, "apiserver_watch_events_total") == count
            assert delta(after, before, "apiserver_watch_events_sizes_sum") == len(payload)
            assert delta(after, before, "apiserver_watch_cache_encodings_total{application/json}") == count
        finally:
            sock.close()

    run(apiserver, body)
