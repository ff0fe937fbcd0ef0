"""A watch that allows bookmarks gets one at the current revision shortly before timeoutSeconds ends.

Upstream's cacheWatcher sends it 2 s before the deadline, so a client re-watches from there instead
of relisting. The periodic bookmark tick is left at its 60 s default so that only this one is sent.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client, watch

from apiserver.testing import RunningServer
from tests.test_watch import NS, SOCKET_TIMEOUT, current_rv, events, open_watch, slice_body


def test_bookmark_at_the_current_revision_before_the_deadline(apiserver: RunningServer, kube_client: Any) -> None:
    discovery: Any = client.DiscoveryV1Api(kube_client)
    start = current_rv(discovery)
    discovery.create_namespaced_endpoint_slice(NS, slice_body("web-1"))
    rv = current_rv(discovery)
    with open_watch(apiserver, resourceVersion=start, allowWatchBookmarks="true", timeoutSeconds="3") as response:
        got = list(events(response))
    assert [e["type"] for e in got] == ["ADDED", "BOOKMARK"]
    assert got[-1]["object"]["metadata"]["resourceVersion"] == rv

    # with a timeout under twice the lead, half way; without allowWatchBookmarks, none
    with open_watch(apiserver, resourceVersion=rv, allowWatchBookmarks="true", timeoutSeconds="1") as response:
        got = list(events(response))
    assert [(e["type"], e["object"]["metadata"]["resourceVersion"]) for e in got] == [("BOOKMARK", rv)]
    with open_watch(apiserver, resourceVersion=start, timeoutSeconds="1") as response:
        assert [e["type"] for e in events(response)] == ["ADDED"]


def test_the_official_client_resumes_from_the_deadline_bookmark(apiserver: RunningServer, kube_client: Any) -> None:
    """watch.Watch keeps the bookmark's resourceVersion; its next watch replays nothing it has seen."""
    discovery: Any = client.DiscoveryV1Api(kube_client)
    start = current_rv(discovery)
    discovery.create_namespaced_endpoint_slice(NS, slice_body("web-1"))
    w: Any = watch.Watch()  # type: ignore[no-untyped-call]
    got = [e["type"] for e in w.stream(discovery.list_namespaced_endpoint_slice, NS, resource_version=start,
                                         allow_watch_bookmarks=True, timeout_seconds=2,
                                         _request_timeout=SOCKET_TIMEOUT)]
    assert got == ["ADDED", "BOOKMARK"]
    assert w.resource_version == current_rv(discovery)
