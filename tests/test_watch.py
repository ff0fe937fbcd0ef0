"""Watch semantics (reference §6) through the official client and raw HTTP line readers.

Every network wait is bounded by a socket timeout, a server-side timeoutSeconds or a loop count.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from apiserver.config import Config
from apiserver.state import REGISTRIES
from apiserver.testing import RunningServer
from tests.conftest import WATCH_LIST_STORAGE

NS = "default"
SLICES = f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices"
SOCKET_TIMEOUT = 10.0


@pytest.fixture
def discovery(kube_client: Any) -> Any:
    return client.DiscoveryV1Api(kube_client)


def slice_body(name: str, labels: dict[str, str] | None = None, ips: tuple[str, ...] = ("10.0.0.1",)) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "labels": labels if labels is not None else {"app": "web"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip]} for ip in ips],
        "ports": [{"name": "http", "port": 80}],
    }


def current_rv(discovery: Any) -> str:
    rv: str = discovery.list_namespaced_endpoint_slice(NS).metadata.resource_version
    return rv


def open_watch(server: RunningServer, path: str = SLICES, headers: dict[str, str] | None = None,
               **query: Any) -> Any:
    """Open a raw watch request (urllib); the caller reads lines and closes it."""
    params = {"watch": "true", **query}
    request = urllib.request.Request(f"{server.url}{path}?{urlencode(params)}", headers=headers or {})
    return urllib.request.urlopen(request, timeout=SOCKET_TIMEOUT)


def events(response: Any, limit: int = 1000) -> Iterator[dict[str, Any]]:
    """Decoded watch events from a raw response, until the stream ends or `limit` lines were read."""
    for _ in range(limit):
        line = response.readline()
        if not line:
            return
        yield json.loads(line)


def take(response: Any, count: int) -> list[dict[str, Any]]:
    got = list(events(response, count))
    assert len(got) == count, got
    return got


def client_events(discovery: Any, count: int, timeout: int = 5,
                  **kwargs: Any) -> list[dict[str, Any]]:
    """The first `count` events of an official-client watch (ends earlier at the server's timeout)."""
    w: Any = watch.Watch()  # type: ignore[no-untyped-call]
    got = []
    for event in w.stream(discovery.list_namespaced_endpoint_slice, NS, timeout_seconds=timeout,
                          _request_timeout=SOCKET_TIMEOUT, **kwargs):
        got.append(event)
        if len(got) >= count:
            w.stop()
            break
    return got


# Basic event order and start points


def test_watch_from_resource_version(discovery: Any) -> None:
    start = current_rv(discovery)
    discovery.create_namespaced_endpoint_slice(NS, slice_body("web-1"))
    discovery.patch_namespaced_endpoint_slice("web-1", NS, {"metadata": {"labels": {"v": "2"}}})
    discovery.create_namespaced_endpoint_slice(NS, slice_body("web-2"))
    discovery.delete_namespaced_endpoint_slice("web-1", NS)

    got = client_events(discovery, 4, resource_version=start)
    assert [(e["type"], e["object"].metadata.name) for e in got] == [
        ("ADDED", "web-1"), ("MODIFIED", "web-1"), ("ADDED", "web-2"), ("DELETED", "web-1")]
    rvs = [int(e["object"].metadata.resource_version) for e in got]
    assert rvs == sorted(rvs) and len(set(rvs)) == 4 and rvs[0] > int(start)
    assert isinstance(got[0]["object"], client.V1EndpointSlice)
    assert got[1]["object"].metadata.labels["v"] == "2"
    # DELETED carries the last state with the deletion revision
    assert got[3]["object"].metadata.labels["v"] == "2"
    assert got[3]["raw_object"]["metadata"]["resourceVersion"] == str(rvs[3])


def test_delete_answers_with_the_deletion_revision(apiserver: RunningServer, kube_client: Any) -> None:
    """A DELETE that returns the object (pods) carries the deletion's revision, as upstream's etcd3 store
    decodes it, and the DELETED event has the same one. A pod deletes gracefully (with period 0 when on no
    node): it is first marked, a MODIFIED event, as on kube-apiserver."""
    pods = "/api/v1/namespaces/default/pods"
    core = client.CoreV1Api(kube_client)
    created = core.create_namespaced_pod(NS, {"metadata": {"name": "gone"},
                                             "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
    with open_watch(apiserver, pods, resourceVersion=created.metadata.resource_version, timeoutSeconds="10") as w:
        request = urllib.request.Request(f"{apiserver.url}{pods}/gone", method="DELETE")
        with urllib.request.urlopen(request, timeout=SOCKET_TIMEOUT) as response:
            reply = json.load(response)
        marked, event = take(w, 2)
    assert (marked["type"], event["type"]) == ("MODIFIED", "DELETED")
    assert marked["object"]["metadata"]["deletionGracePeriodSeconds"] == 0
    deleted = int(reply["metadata"]["resourceVersion"])
    assert deleted > int(marked["object"]["metadata"]["resourceVersion"]) > int(created.metadata.resource_version)
    assert event["object"]["metadata"]["resourceVersion"] == str(deleted)


def test_live_events_in_order(apiserver: RunningServer, discovery: Any) -> None:
    start = current_rv(discovery)
    with open_watch(apiserver, resourceVersion=start, timeoutSeconds="10") as response:
        discovery.create_namespaced_endpoint_slice(NS, slice_body("live"))
        for i in range(3):
            discovery.patch_namespaced_endpoint_slice("live", NS, {"metadata": {"annotations": {"n": str(i)}}})
        discovery.delete_namespaced_endpoint_slice("live", NS)
        got = take(response, 5)
    assert [e["type"] for e in got] == ["ADDED", "MODIFIED", "MODIFIED", "MODIFIED", "DELETED"]
    assert [e["object"]["metadata"].get("annotations", {}).get("n") for e in got[1:4]] == ["0", "1", "2"]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in got]
    assert rvs == sorted(rvs) and len(set(rvs)) == 5


@pytest.mark.parametrize("rv", ["", "0"])
def test_synthetic_added_for_current_state(discovery: Any, rv: str) -> None:
    for name in ("c", "a", "b"):
        discovery.create_namespaced_endpoint_slice(NS, slice_body(name))
    discovery.delete_namespaced_endpoint_slice("c", NS)
    kwargs = {"resource_version": rv} if rv else {}
    got = client_events(discovery, 2, timeout=2, **kwargs)
    assert [(e["type"], e["object"].metadata.name) for e in got] == [("ADDED", "a"), ("ADDED", "b")]


def test_synthetic_then_live(apiserver: RunningServer, discovery: Any) -> None:
    discovery.create_namespaced_endpoint_slice(NS, slice_body("old"))
    with open_watch(apiserver, timeoutSeconds="10") as response:
        first = take(response, 1)
        discovery.create_namespaced_endpoint_slice(NS, slice_body("new"))
        second = take(response, 1)
    assert (first[0]["type"], first[0]["object"]["metadata"]["name"]) == ("ADDED", "old")
    assert (second[0]["type"], second[0]["object"]["metadata"]["name"]) == ("ADDED", "new")


# 410 Expired


@pytest.fixture
def small_window() -> Config:
    return Config(compaction_interval=0, watch_cache_min_size=5, watch_cache_max_size=5)


@pytest.mark.parametrize("apiserver_config", [Config(compaction_interval=0, watch_cache_min_size=5, watch_cache_max_size=5)])
def test_too_old_resource_version(apiserver: RunningServer, discovery: Any) -> None:
    first = discovery.create_namespaced_endpoint_slice(NS, slice_body("s"))
    old_rv = first.metadata.resource_version
    for i in range(10):
        discovery.patch_namespaced_endpoint_slice("s", NS, {"metadata": {"annotations": {"n": str(i)}}})

    with open_watch(apiserver, resourceVersion=old_rv) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/json")
        got = list(events(response, 10))
    assert len(got) == 1, got
    assert got[0]["type"] == "ERROR"
    status = got[0]["object"]
    assert status["kind"] == "Status" and status["apiVersion"] == "v1"
    assert (status["status"], status["reason"], status["code"]) == ("Failure", "Expired", 410)
    assert status["message"].startswith(f"too old resource version: {old_rv} (")

    with pytest.raises(ApiException) as err:
        client_events(discovery, 1, resource_version=old_rv)
    assert err.value.status == 410

    # a recent RV still works
    recent = discovery.read_namespaced_endpoint_slice("s", NS).metadata.resource_version
    discovery.patch_namespaced_endpoint_slice("s", NS, {"metadata": {"annotations": {"n": "last"}}})
    got_ok = client_events(discovery, 1, resource_version=recent)
    assert got_ok[0]["type"] == "MODIFIED"


# Bookmarks


@pytest.mark.parametrize("apiserver_config", [Config(compaction_interval=0, bookmark_interval=0.2)])
def test_bookmarks(apiserver: RunningServer, discovery: Any) -> None:
    discovery.create_namespaced_endpoint_slice(NS, slice_body("s"))
    rv = current_rv(discovery)
    with open_watch(apiserver, resourceVersion=rv, allowWatchBookmarks="true", timeoutSeconds="5") as response:
        got = take(response, 1)
    assert got[0] == {"type": "BOOKMARK", "object": {
        "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
        "metadata": {"resourceVersion": rv, "creationTimestamp": None},  # 1.32 writes the zero time as null
        "addressType": "", "endpoints": None, "ports": None}}

    # the bookmark follows the latest revision, and the official client passes it through as a dict
    discovery.patch_namespaced_endpoint_slice("s", NS, {"metadata": {"annotations": {"a": "b"}}})
    latest = current_rv(discovery)
    seen = client_events(discovery, 2, resource_version=rv, allow_watch_bookmarks=True)
    assert seen[0]["type"] == "MODIFIED" and seen[0]["object"].metadata.resource_version == latest
    assert seen[1]["type"] == "BOOKMARK"
    assert seen[1]["raw_object"]["metadata"] == {"resourceVersion": latest, "creationTimestamp": None}


@pytest.mark.parametrize("apiserver_config", [Config(compaction_interval=0, bookmark_interval=0.2)])
def test_no_bookmarks_unless_asked(apiserver: RunningServer, discovery: Any) -> None:
    rv = current_rv(discovery)
    with open_watch(apiserver, resourceVersion=rv, timeoutSeconds="1") as response:
        assert list(events(response, 10)) == []


def test_timeout_seconds_ends_stream(apiserver: RunningServer, discovery: Any) -> None:
    discovery.create_namespaced_endpoint_slice(NS, slice_body("s"))
    with open_watch(apiserver, timeoutSeconds="1") as response:
        got = list(events(response, 10))
    assert [e["type"] for e in got] == ["ADDED"]
    # the official client returns once the server ends the stream
    assert [e["type"] for e in client_events(discovery, 10, timeout=1)] == ["ADDED"]


@WATCH_LIST_STORAGE
def test_send_initial_events(apiserver: RunningServer, discovery: Any) -> None:
    for name in ("b", "a", "c"):
        discovery.create_namespaced_endpoint_slice(NS, slice_body(name))
    rv = current_rv(discovery)
    with open_watch(apiserver, sendInitialEvents="true", resourceVersionMatch="NotOlderThan",
                    allowWatchBookmarks="true", timeoutSeconds="10") as response:
        got = take(response, 4)
        discovery.create_namespaced_endpoint_slice(NS, slice_body("d"))
        after = take(response, 1)
    assert [(e["type"], e["object"]["metadata"].get("name")) for e in got[:3]] == [
        ("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c")]
    bookmark = got[3]
    assert bookmark["type"] == "BOOKMARK"
    annotations = bookmark["object"]["metadata"]["annotations"]
    assert annotations.pop("k8s.io/initial-events-end") == "true"
    # the empty list client-go's watch-list List decodes its list into, encoded as upstream encodes it
    assert base64.b64decode(annotations.pop("kubernetes.io/initial-events-list-blueprint")) == (
        b'{"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","metadata":{},"items":null}\n')
    assert annotations == {}
    assert int(bookmark["object"]["metadata"]["resourceVersion"]) >= int(rv)
    assert (after[0]["type"], after[0]["object"]["metadata"]["name"]) == ("ADDED", "d")

    # with an RV: state not older than it, then the bookmark
    with open_watch(apiserver, sendInitialEvents="true", resourceVersionMatch="NotOlderThan", resourceVersion=rv,
                    allowWatchBookmarks="true", timeoutSeconds="10") as response:
        again = take(response, 5)
    assert [e["type"] for e in again] == ["ADDED"] * 4 + ["BOOKMARK"]


@WATCH_LIST_STORAGE
@pytest.mark.parametrize("rv", ["", "0"])
def test_bookmarked_watch_from_now_is_a_watch_list(apiserver: RunningServer, discovery: Any, rv: str) -> None:
    """1.32 (WatchList on) defaults a watch from resourceVersion "" or "0" without sendInitialEvents to a watch-list:
    allowing bookmarks, its initial events end with the initial-events-end bookmark; from a resourceVersion, not."""
    discovery.create_namespaced_endpoint_slice(NS, slice_body("a"))
    with open_watch(apiserver, resourceVersion=rv, allowWatchBookmarks="true", timeoutSeconds="5") as response:
        got = take(response, 2)
    assert [e["type"] for e in got] == ["ADDED", "BOOKMARK"]
    assert got[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"] == "true"
    assert got[1]["object"]["metadata"]["creationTimestamp"] is None
    with open_watch(apiserver, resourceVersion=current_rv(discovery), allowWatchBookmarks="true",
                    timeoutSeconds="1") as response:
        assert all("annotations" not in e["object"]["metadata"] for e in events(response))


# Selectors


def test_label_selector_transitions(apiserver: RunningServer, discovery: Any) -> None:
    start = current_rv(discovery)
    discovery.create_namespaced_endpoint_slice(NS, slice_body("a", {"app": "web"}))
    discovery.create_namespaced_endpoint_slice(NS, slice_body("b", {"app": "db"}))
    discovery.patch_namespaced_endpoint_slice("b", NS, {"metadata": {"labels": {"app": "web"}}})   # starts matching
    discovery.patch_namespaced_endpoint_slice("a", NS, {"metadata": {"labels": {"app": "db"}}})    # stops matching
    discovery.patch_namespaced_endpoint_slice("a", NS, {"metadata": {"annotations": {"x": "y"}}})  # still not
    discovery.patch_namespaced_endpoint_slice("b", NS, {"metadata": {"annotations": {"x": "y"}}})  # still matches
    discovery.delete_namespaced_endpoint_slice("b", NS)
    discovery.delete_namespaced_endpoint_slice("a", NS)
    end = current_rv(discovery)
    with open_watch(apiserver, resourceVersion=start, labelSelector="app=web", timeoutSeconds="2") as response:
        got = list(events(response, 20))
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in got] == [
        ("ADDED", "a"), ("ADDED", "b"), ("DELETED", "a"), ("MODIFIED", "b"), ("DELETED", "b")]
    stopped = got[2]["object"]
    # the DELETED for a selector transition has the old content at the new revision
    assert stopped["metadata"]["labels"] == {"app": "web"}
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in got]
    assert rvs == sorted(rvs) and rvs[-1] <= int(end)


def test_field_selector_single_name(apiserver: RunningServer, discovery: Any) -> None:
    start = current_rv(discovery)
    for name in ("x", "y"):
        discovery.create_namespaced_endpoint_slice(NS, slice_body(name))
        discovery.patch_namespaced_endpoint_slice(name, NS, {"metadata": {"annotations": {"n": "1"}}})
    discovery.delete_namespaced_endpoint_slice("y", NS)
    discovery.delete_namespaced_endpoint_slice("x", NS)
    got = client_events(discovery, 10, timeout=1, resource_version=start, field_selector="metadata.name=x")
    assert [(e["type"], e["object"].metadata.name) for e in got] == [
        ("ADDED", "x"), ("MODIFIED", "x"), ("DELETED", "x")]


def test_cluster_wide_watch(apiserver: RunningServer, discovery: Any) -> None:
    core: Any = client.CoreV1Api(discovery.api_client)
    core.create_namespace({"metadata": {"name": "other"}})
    start = current_rv(discovery)
    discovery.create_namespaced_endpoint_slice(NS, slice_body("a"))
    discovery.create_namespaced_endpoint_slice("other", slice_body("b"))
    path = "/apis/discovery.k8s.io/v1/endpointslices"
    with open_watch(apiserver, path, resourceVersion=start, timeoutSeconds="2") as response:
        got = list(events(response, 10))
    assert [(e["object"]["metadata"]["namespace"], e["object"]["metadata"]["name"]) for e in got] == [
        ("default", "a"), ("other", "b")]
    with open_watch(apiserver, path, resourceVersion=start, timeoutSeconds="1",
                    fieldSelector="metadata.namespace=other") as response:
        assert [e["object"]["metadata"]["name"] for e in events(response, 10)] == ["b"]


# Paths, content types, option spelling


def test_legacy_watch_paths(apiserver: RunningServer, discovery: Any) -> None:
    start = current_rv(discovery)
    discovery.create_namespaced_endpoint_slice(NS, slice_body("one"))
    discovery.create_namespaced_endpoint_slice(NS, slice_body("two"))
    base = f"/apis/discovery.k8s.io/v1/watch/namespaces/{NS}/endpointslices"
    with open_watch(apiserver, base, resourceVersion=start, timeoutSeconds="1") as response:
        assert [e["object"]["metadata"]["name"] for e in events(response, 10)] == ["one", "two"]
    with open_watch(apiserver, base + "/two", resourceVersion=start, timeoutSeconds="1") as response:
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in events(response, 10)] == [("ADDED", "two")]
    # the legacy path needs no ?watch=
    url = f"{apiserver.url}{base}?{urlencode({'resourceVersion': start, 'timeoutSeconds': '1'})}"
    with urllib.request.urlopen(url, timeout=SOCKET_TIMEOUT) as response:
        assert len(list(events(response, 10))) == 2


def test_watch_as_table(apiserver: RunningServer, discovery: Any) -> None:
    discovery.create_namespaced_endpoint_slice(NS, slice_body("t1"))
    headers = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
    with open_watch(apiserver, headers=headers, timeoutSeconds="10") as response:
        assert response.headers["Content-Type"].startswith("application/json")
        first = take(response, 1)[0]
        discovery.create_namespaced_endpoint_slice(NS, slice_body("t2"))
        second = take(response, 1)[0]
    assert first["type"] == "ADDED"
    table = first["object"]
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "AddressType", "Ports", "Endpoints", "Age"]
    assert table["rows"][0]["cells"][:4] == ["t1", "IPv4", "80", "10.0.0.1"]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert second["type"] == "ADDED" and not second["object"].get("columnDefinitions")
    assert second["object"]["rows"][0]["cells"][0] == "t2"


def test_watch_yaml_is_406(apiserver: RunningServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        open_watch(apiserver, headers={"Accept": "application/yaml"})
    assert err.value.code == 406


@pytest.mark.parametrize(("query", "message"), [
    ({"sendInitialEvents": "true"},
     "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"),
    ({"resourceVersionMatch": "NotOlderThan", "resourceVersion": "1"},
     ("resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is "
      "provided")),
    ({"sendInitialEvents": "false", "resourceVersionMatch": "Exact", "resourceVersion": "1"},
     "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"),
    ({"resourceVersionMatch": "Bogus"}, 'resourceVersionMatch: Unsupported value: "Bogus"'),
])
def test_invalid_watch_options(apiserver: RunningServer, query: dict[str, Any], message: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        open_watch(apiserver, **query)
    assert err.value.code == 422
    status = json.loads(err.value.read())
    assert (status["kind"], status["reason"], status["code"]) == ("Status", "Invalid", 422)
    assert status["message"].startswith('ListOptions.meta.k8s.io "" is invalid: ')
    assert message in status["message"]


def test_bad_watch_resource_version_and_selector(apiserver: RunningServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        open_watch(apiserver, fieldSelector="spec.nodeName=x")
    assert err.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as err:
        open_watch(apiserver, labelSelector="a in (")
    assert err.value.code == 400


@pytest.mark.parametrize("spelling", ["True", "1", "true"])
def test_watch_boolean_spellings(apiserver: RunningServer, discovery: Any, spelling: str) -> None:
    """kubernetes_asyncio sends watch=True&allowWatchBookmarks=True."""
    start = current_rv(discovery)
    discovery.create_namespaced_endpoint_slice(NS, slice_body("s"))
    url = f"{apiserver.url}{SLICES}?" + urlencode({"watch": spelling, "allowWatchBookmarks": spelling,
                                                   "resourceVersion": start, "timeoutSeconds": "1"})
    with urllib.request.urlopen(url, timeout=SOCKET_TIMEOUT) as response:
        got = list(events(response, 10))
    assert got and got[0]["type"] == "ADDED" and got[0]["object"]["metadata"]["name"] == "s"


# Slow watchers


def _endpoint_count(apiserver: RunningServer) -> int:
    return len(apiserver.app[REGISTRIES]["endpointslices"].cacher.hub)


@pytest.mark.parametrize("apiserver_config", [Config(compaction_interval=0, watch_buffer=5)])
def test_unread_watcher_is_closed_others_keep_up(apiserver: RunningServer, discovery: Any) -> None:
    big_ips = tuple(f"10.{i // 250}.{i % 250}.1" for i in range(1000))  # ~50 KB per event
    discovery.create_namespaced_endpoint_slice(NS, slice_body("big", ips=big_ips))
    start = current_rv(discovery)

    # The reader: a raw watch in a thread that counts every event until the sentinel.
    received: list[str] = []
    reader_ready = threading.Event()

    def read_all() -> None:
        with open_watch(apiserver, resourceVersion=start, timeoutSeconds="60") as response:
            reader_ready.set()
            for event in events(response, 10_000):
                name = event["object"]["metadata"]["name"]
                received.append(f'{event["type"]}:{name}')
                if name == "sentinel":
                    return

    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    assert reader_ready.wait(SOCKET_TIMEOUT)

    # The slow one: a raw socket with a tiny receive window that never reads.
    host, port = apiserver.url.removeprefix("http://").split(":")
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.settimeout(SOCKET_TIMEOUT)
    slow.connect((host, int(port)))
    slow.sendall(f"GET {SLICES}?watch=true&resourceVersion={start} HTTP/1.1\r\nHost: {host}\r\n"
                 "Connection: close\r\n\r\n".encode())
    try:
        for _ in range(100):
            if _endpoint_count(apiserver) == 2:
                break
            threading.Event().wait(0.05)
        assert _endpoint_count(apiserver) == 2

        updates = 0
        for i in range(300):
            discovery.patch_namespaced_endpoint_slice("big", NS, {"metadata": {"annotations": {"n": str(i)}}})
            updates += 1
            if _endpoint_count(apiserver) == 1 and updates >= 20:
                break
        assert _endpoint_count(apiserver) == 1, "the unread watcher was never closed"
        discovery.create_namespaced_endpoint_slice(NS, slice_body("sentinel"))
        reader.join(SOCKET_TIMEOUT * 3)
        assert not reader.is_alive()
        assert received == ["MODIFIED:big"] * updates + ["ADDED:sentinel"]

        # The terminated watcher's connection was aborted, its buffers released at once: what it reads ends
        # (a reset, or the end of the connection) with no ERROR event and no last chunk.
        data = b""
        with contextlib.suppress(ConnectionResetError):
            for _ in range(100_000):
                chunk = slow.recv(1 << 16)
                if not chunk:
                    break
                data += chunk
            else:
                pytest.fail("the slow watcher's stream did not end")
        assert data.startswith(b"HTTP/1.1 200")
        assert not data.endswith(b"0\r\n\r\n")
        assert b'"type":"ERROR"' not in data
        assert data.count(b'"type":"MODIFIED"') < updates
    finally:
        slow.close()


# More start points and transitions


def test_watch_from_future_resource_version(apiserver: RunningServer, discovery: Any) -> None:
    """A watch from an RV the server has not reached yet waits: only changes after that RV arrive."""
    future = int(current_rv(discovery)) + 3
    with open_watch(apiserver, resourceVersion=str(future), timeoutSeconds="10") as response:
        for name in ("f1", "f2", "f3", "f4", "f5"):
            discovery.create_namespaced_endpoint_slice(NS, slice_body(name))
        got = take(response, 2)
    assert [e["object"]["metadata"]["name"] for e in got] == ["f4", "f5"]
    assert all(int(e["object"]["metadata"]["resourceVersion"]) > future for e in got)


@WATCH_LIST_STORAGE
def test_watch_list_blueprint_follows_the_form(apiserver: RunningServer, discovery: Any) -> None:
    """A PartialObjectMetadata watch-list (client-go's metadata informer) gets a PartialObjectMetadataList blueprint."""
    discovery.create_namespaced_endpoint_slice(NS, slice_body("a"))
    accept = {"Accept": "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io"}
    with open_watch(apiserver, headers=accept, sendInitialEvents="true", resourceVersionMatch="NotOlderThan",
                    allowWatchBookmarks="true", timeoutSeconds="10") as response:
        bookmark = take(response, 2)[1]
    blueprint = bookmark["object"]["metadata"]["annotations"]["kubernetes.io/initial-events-list-blueprint"]
    assert base64.b64decode(blueprint) == (
        b'{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":{},"items":null}\n')


def test_send_initial_events_false_starts_now(apiserver: RunningServer, discovery: Any) -> None:
    discovery.create_namespaced_endpoint_slice(NS, slice_body("before"))
    with open_watch(apiserver, sendInitialEvents="false", resourceVersionMatch="NotOlderThan",
                    timeoutSeconds="10") as response:
        discovery.create_namespaced_endpoint_slice(NS, slice_body("after"))
        got = take(response, 1)
    assert (got[0]["type"], got[0]["object"]["metadata"]["name"]) == ("ADDED", "after")


def test_initial_state_respects_selector(discovery: Any) -> None:
    discovery.create_namespaced_endpoint_slice(NS, slice_body("w", {"app": "web"}))
    discovery.create_namespaced_endpoint_slice(NS, slice_body("d", {"app": "db"}))
    got = client_events(discovery, 10, timeout=1, label_selector="app=db")
    assert [(e["type"], e["object"].metadata.name) for e in got] == [("ADDED", "d")]


def test_watch_after_other_kinds_writes(discovery: Any) -> None:
    """Writes of other resources move the global revision; a watch or list of slices is not held up."""
    core: Any = client.CoreV1Api(discovery.api_client)
    discovery.create_namespaced_endpoint_slice(NS, slice_body("s"))
    pod = core.create_namespaced_pod(NS, {"metadata": {"name": "p"},
                                          "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    listed = discovery.list_namespaced_endpoint_slice(NS)
    assert int(listed.metadata.resource_version) >= int(pod.metadata.resource_version)
    got = client_events(discovery, 1, timeout=2)
    assert [(e["type"], e["object"].metadata.name) for e in got] == [("ADDED", "s")]
    # an RV taken from another resource's list is a valid start point
    start = core.list_namespaced_pod(NS).metadata.resource_version
    discovery.create_namespaced_endpoint_slice(NS, slice_body("t"))
    got = client_events(discovery, 1, resource_version=start)
    assert [(e["type"], e["object"].metadata.name) for e in got] == [("ADDED", "t")]


def test_pod_field_selector_transitions(apiserver: RunningServer, kube_client: Any) -> None:
    core: Any = client.CoreV1Api(kube_client)
    start = core.list_namespaced_pod(NS).metadata.resource_version
    pod: dict[str, Any] = {"metadata": {"name": "p"},
           "spec": {"nodeName": "node-a", "containers": [{"name": "c", "image": "busybox"}]}}
    core.create_namespaced_pod(NS, pod)
    core.create_namespaced_pod(NS, {**pod, "metadata": {"name": "q"}, "spec": {**pod["spec"], "nodeName": "node-b"}})
    core.patch_namespaced_pod_status("p", NS, {"status": {"phase": "Running"}})
    core.patch_namespaced_pod_status("p", NS, {"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    core.patch_namespaced_pod_status("p", NS, {"status": {"phase": "Succeeded"}})
    core.patch_namespaced_pod_status("q", NS, {"status": {"phase": "Running"}})
    path = f"/api/v1/namespaces/{NS}/pods"
    with open_watch(apiserver, path, resourceVersion=start, timeoutSeconds="1",
                    fieldSelector="status.phase=Running,spec.nodeName=node-a") as response:
        got = [(e["type"], e["object"]["metadata"]["name"], e["object"]["status"].get("phase"))
               for e in events(response, 20)]
    # starts matching → ADDED; still matching → MODIFIED; stops matching → DELETED with the old state
    assert got == [("ADDED", "p", "Running"), ("MODIFIED", "p", "Running"), ("DELETED", "p", "Running")]


def test_finalizer_deletion_events(discovery: Any) -> None:
    start = current_rv(discovery)
    body = slice_body("held")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    discovery.create_namespaced_endpoint_slice(NS, body)
    discovery.delete_namespaced_endpoint_slice("held", NS)
    discovery.patch_namespaced_endpoint_slice("held", NS, [{"op": "remove", "path": "/metadata/finalizers"}])
    got = client_events(discovery, 10, timeout=1, resource_version=start)
    assert [e["type"] for e in got] == ["ADDED", "MODIFIED", "DELETED"]
    assert got[0]["object"].metadata.deletion_timestamp is None
    assert got[1]["object"].metadata.deletion_timestamp is not None
    assert got[2]["object"].metadata.deletion_timestamp is not None


def test_namespace_deletion_sends_deleted(apiserver: RunningServer, discovery: Any) -> None:
    core: Any = client.CoreV1Api(discovery.api_client)
    core.create_namespace({"metadata": {"name": "gone"}})
    discovery.create_namespaced_endpoint_slice("gone", slice_body("s1"))
    discovery.create_namespaced_endpoint_slice("gone", slice_body("s2"))
    start = current_rv(discovery)
    core.delete_namespace("gone")
    path = "/apis/discovery.k8s.io/v1/namespaces/gone/endpointslices"
    with open_watch(apiserver, path, resourceVersion=start, timeoutSeconds="1") as response:
        got = [(e["type"], e["object"]["metadata"]["name"]) for e in events(response, 10)]
    assert got == [("DELETED", "s1"), ("DELETED", "s2")]
