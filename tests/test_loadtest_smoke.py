"""Smoke tests of the fan-out benchmark pieces: counts only, never timings."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from apiserver.protobuf import envelope
from loadtest import fanout, kubepeer
from loadtest.nodes import NodeWatch
from loadtest.slices import endpoint_slice
from loadtest.watchers import WatchConnection, percentile_ms

EVENTS = 20
WATCHERS = 4
SETTINGS = fanout.Settings(seconds=15.0, max_events=EVENTS, client_procs=2, sample_every=1, drain_seconds=10.0,
                           settle_seconds=0.1)


def chunked(*payloads: bytes) -> bytes:
    return b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in payloads)


async def test_watch_connection_dechunks_a_stream_split_anywhere() -> None:
    events = [b'{"type":"MODIFIED","object":{"metadata":{"annotations":{"loadtest/sent":"%d.5"}}}}\n' % (10 ** 9 + i)
              for i in range(3)]
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    stream = head + chunked(events[0] + events[1], events[2]) + b"0\r\n\r\n"
    histogram: dict[int, int] = {}
    conn = WatchConnection(b"", histogram)
    for i in range(len(stream)):
        conn.data_received(stream[i:i + 1])
    assert conn.ready.done() and not conn.error
    assert conn.events == 3
    assert conn.bytes == sum(map(len, events))
    assert conn.ended
    assert sum(histogram.values()) == 3
    assert percentile_ms(histogram, 0.5) is not None


def protobuf_events() -> list[bytes]:
    """Two MODIFIED frames of a slice with a `loadtest/sent` annotation, and a BOOKMARK between them."""
    frames = []
    for i in range(2):
        obj = endpoint_slice("s", 3)
        obj["metadata"]["annotations"] = {"loadtest/sent": f"{10 ** 9 + i}.5"}
        frames.append(envelope.watch_event("MODIFIED", envelope.encode(obj)))
    bookmark = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"resourceVersion": "9"}}
    return [frames[0], envelope.watch_event("BOOKMARK", envelope.encode(bookmark)), frames[1]]


@pytest.mark.parametrize("connection", [WatchConnection, NodeWatch])
async def test_watch_connection_counts_protobuf_frames_split_anywhere(connection: type[WatchConnection]) -> None:
    events = protobuf_events()
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.kubernetes.protobuf;stream=watch\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    payload = b"".join(events)
    stream = head + chunked(payload[:7], payload[7:700], payload[700:]) + b"0\r\n\r\n"
    histogram: dict[int, int] = {}
    conn = connection(b"", histogram) if connection is WatchConnection else NodeWatch(b"")
    for i in range(len(stream)):
        conn.data_received(stream[i:i + 1])
    assert conn.ready.done() and not conn.error and conn.ended
    assert conn.protobuf and conn.encoding == "protobuf"
    assert conn.events == 3 and conn.bytes == len(payload)
    if isinstance(conn, NodeWatch):  # the WatchEvent's type, read from each frame's first bytes
        assert conn.bookmarks == 1 and conn.bookmark_bytes == len(events[1]) and conn.changes() == 2
    else:  # the timestamp annotation's map entry, found without decoding
        assert sum(histogram.values()) == 2


async def test_node_watch_tells_json_bookmarks_apart() -> None:
    events = [b'{"type":"ADDED","object":{}}\n', b'{"type":"BOOKMARK","object":{"metadata":{}}}\n']
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    conn = NodeWatch(b"")
    for byte in range(len(stream := head + chunked(*events))):
        conn.data_received(stream[byte:byte + 1])
    assert conn.encoding == "json" and conn.events == 2 and conn.bookmarks == 1
    assert conn.bookmark_bytes == len(events[1]) and conn.bytes == sum(map(len, events))


class FakeTransport:
    def __init__(self) -> None:
        self.closed = False

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        self.closed = True


async def test_watch_connection_rejects_a_non_200() -> None:
    conn = WatchConnection(b"GET / HTTP/1.1\r\n\r\n", None)
    transport = FakeTransport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    conn.data_received(b"HTTP/1.1 410 Gone\r\nContent-Length: 0\r\n\r\n")
    assert conn.ready.done() and "410" in conn.error
    assert transport.closed and conn.events == 0


@pytest.mark.parametrize("server", ["ours", "ours-no-cache", "raw"])
async def test_every_watcher_gets_every_event(server: str) -> None:
    if server == "ours-no-cache" and not fanout.server_supports(fanout.NO_CACHE_FLAG):
        pytest.skip(f"the server has no {fanout.NO_CACHE_FLAG} yet")
    check_counts(server, await fanout.run_server(server, WATCHERS, [1, 100], SETTINGS))


@pytest.mark.parametrize(("server", "encoding"), [("ours", "protobuf"), ("ours", "mix"), ("raw", "protobuf")])
async def test_protobuf_watchers_count_what_the_server_metered_for_them(server: str, encoding: str) -> None:
    """kube-proxy's protobuf watch streams: every event, and the bytes the server metered under the protobuf
    encoding label, to the byte; `mix` encodes each event once per encoding."""
    results = await fanout.run_server(server, WATCHERS, [1, 100], replace(SETTINGS, encoding=encoding))
    check_counts(server, results)
    for r in results:
        assert r["encoding"] == encoding
        share = 1.0 if encoding == "protobuf" else 0.5
        assert r["client_protobuf_bytes"] > 0
        assert (r["client_protobuf_bytes"] == r["client_bytes"]) == (share == 1.0)
        assert r["protobuf_bytes_diff"] == 0 and r["bytes_diff"] == 0
        if r["debug_bytes_diff"] is not None:
            assert r["debug_bytes_diff"] == 0
        per_event = 1 if share == 1.0 else 2  # and once for the probe's GET of the version it starts from
        assert round(r["serializations_per_event"] * r["written"]) - per_event * r["written"] in (0, 1)


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
@pytest.mark.parametrize("server", [kubepeer.OURS_ETCD, kubepeer.KUBE])
async def test_every_watcher_gets_every_event_side_by_side(server: str, encoding: str) -> None:
    """Ours and kube-apiserver on one etcd, the same watcher clients (kube-apiserver's over TLS, with its token)."""
    if (reason := kubepeer.missing()) is not None:
        pytest.skip(reason)
    with kubepeer.run_etcd() as etcd:
        results = await fanout.run_server(server, WATCHERS, [1, 100], replace(SETTINGS, encoding=encoding), etcd)
    check_counts(server, results)
    assert all((r["client_protobuf_bytes"] == r["client_bytes"] > 0) == (encoding == "protobuf") for r in results)


def check_counts(server: str, results: list[dict[str, Any]]) -> None:
    assert [r["endpoints"] for r in results] == [1, 100]
    for r in results:
        assert r["connected"] == WATCHERS and r["connect_errors"] == 0
        assert r["written"] == EVENTS and r["write_failures"] == 0
        assert r["delivered"] == EVENTS * WATCHERS
        assert r["min_events_per_connection"] == r["max_events_per_connection"] == EVENTS
        assert r["closed_early"] == 0
        assert r["client_bytes"] > 0
        assert r["latency_samples"] == EVENTS * WATCHERS
        if r["metered_bytes"] is not None:
            assert r["metered_bytes"] == r["client_bytes"] + r["probe_bytes"]  # the writer's probe watch too
        if r["serializations_per_event"] is not None and server != "ours-no-cache":
            # once per encoding and event, and once more for the probe's GET of the version it starts from
            per_event = 2 if r["encoding"] == "mix" else 1
            assert round(r["serializations_per_event"] * r["written"]) <= per_event * r["written"] + 1
