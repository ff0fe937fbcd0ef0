"""The served kinds as a per-server registry: a test's own kinds at start (`apiserver_kinds`), and kinds added and
removed while the server runs (routing, discovery and its ETag, OpenAPI, the watch cache, metrics)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

import pytest

from apiserver.kind_registry import KindConflict, KindRegistry
from apiserver.kinds import KINDS
from apiserver.kinds.base import Kind, Strategy
from apiserver.kinds.columns import AGE, NAME
from apiserver.kinds.meta import OBJECT_META
from apiserver.schema import Integer, Object, String, numbered
from apiserver.testing import RunningServer

TIMEOUT = 10
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def declare(kind: str, plural: str, group: str = "example.com", namespaced: bool = True) -> Kind:
    """A kind as a test declares its own: a spec with one integer."""
    spec = Object(properties={"size": Integer(description="How big.")}, description="What is wanted.")
    schema = Object(ref=f"com.example.v1.{kind}", description=f"A {kind}.", properties={
        "apiVersion": String(), "kind": String(), "metadata": numbered(OBJECT_META, 1), "spec": spec})
    return Kind(group=group, version="v1", kind=kind, plural=plural, singular=kind.lower(), namespaced=namespaced,
                schema=schema, etcd_prefix=f"/registry/{group}/{plural}", strategy=Strategy(), columns=(NAME, AGE))


WIDGET = declare("Widget", "widgets")
GADGET = declare("Gadget", "gadgets", group="gadgets.example.com", namespaced=False)


def request(server: RunningServer, method: str, path: str, body: Any = None,
            headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(server.url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as response:
            status, raw, reply_headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as err:
        status, raw, reply_headers = err.code, err.read(), err.headers
    try:
        return status, json.loads(raw), reply_headers
    except ValueError:
        return status, raw.decode(), reply_headers


@pytest.fixture
def apiserver_kinds() -> Sequence[Kind]:
    return (WIDGET,)


def test_a_tests_own_kind_is_served_like_a_built_in_one(apiserver: RunningServer) -> None:
    path = "/apis/example.com/v1/namespaces/default/widgets"
    status, body, _ = request(apiserver, "POST", path, {"apiVersion": "example.com/v1", "kind": "Widget",
                                                          "metadata": {"name": "w"}, "spec": {"size": 3}})
    assert status == 201, body
    status, body, _ = request(apiserver, "GET", path + "/w")
    assert (status, body["spec"]) == (200, {"size": 3})
    status, body, _ = request(apiserver, "POST", path, {"apiVersion": "example.com/v1", "kind": "Widget",
                                                          "metadata": {"name": "x"}, "spec": {"size": "big"}})
    assert status == 400, body  # strict decoding from the declared schema
    status, body, _ = request(apiserver, "GET", "/apis/example.com/v1")
    assert [r["name"] for r in body["resources"]] == ["widgets"]
    status, body, _ = request(apiserver, "GET", "/openapi/v3")
    assert "apis/example.com/v1" in body["paths"]


def test_kinds_added_and_removed_while_serving(apiserver: RunningServer) -> None:
    _, before, headers = request(apiserver, "GET", "/apis", headers={"Accept": AGGREGATED})
    etag = headers["ETag"]
    assert request(apiserver, "GET", "/apis", headers={"Accept": AGGREGATED, "If-None-Match": etag})[0] == 304
    _, index, _ = request(apiserver, "GET", "/openapi/v3")
    assert request(apiserver, "GET", "/apis/gadgets.example.com/v1/gadgets")[0] == 404

    apiserver.add_kind(GADGET)
    _, after, headers = request(apiserver, "GET", "/apis", headers={"Accept": AGGREGATED})
    assert headers["ETag"] != etag
    assert [g["metadata"]["name"] for g in after["items"]] == [
        *(g["metadata"]["name"] for g in before["items"]), "gadgets.example.com"]
    assert request(apiserver, "GET", "/apis", headers={"Accept": AGGREGATED, "If-None-Match": etag})[0] == 200
    _, new_index, _ = request(apiserver, "GET", "/openapi/v3")
    assert set(new_index["paths"]) == {*index["paths"], "apis/gadgets.example.com/v1"}
    assert new_index["paths"]["api/v1"] == index["paths"]["api/v1"]  # documents of unchanged kinds kept
    status, document, _ = request(apiserver, "GET", new_index["paths"]["apis/gadgets.example.com/v1"]["serverRelativeURL"])
    assert status == 200 and "com.example.v1.Gadget" in document["components"]["schemas"]
    status, v2, _ = request(apiserver, "GET", "/openapi/v2")
    assert "/apis/gadgets.example.com/v1/gadgets" in v2["paths"]

    collection = "/apis/gadgets.example.com/v1/gadgets"
    _, listed, _ = request(apiserver, "GET", collection)
    watch = urllib.request.urlopen(f"{apiserver.url}{collection}?watch=true&resourceVersion="
                                   f"{listed['metadata']['resourceVersion']}", timeout=TIMEOUT)
    with watch:
        status, created, _ = request(apiserver, "POST", collection, {"metadata": {"name": "g"}, "spec": {"size": 1}})
        assert status == 201, created
        event = json.loads(watch.readline())
        assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "g")
    status, table, _ = request(apiserver, "GET", collection,
                               headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    assert [row["cells"][0] for row in table["rows"]] == ["g"]
    _, metrics, _ = request(apiserver, "GET", "/metrics")
    assert 'apiserver_watch_cache_events_received_total{group="gadgets.example.com",resource="gadgets"} 1.0' in metrics

    apiserver.remove_kind(GADGET)
    assert request(apiserver, "GET", collection)[0] == 404
    assert request(apiserver, "GET", "/apis/gadgets.example.com")[0] == 404
    _, final, headers = request(apiserver, "GET", "/apis", headers={"Accept": AGGREGATED})
    assert final == before
    _, final_index, _ = request(apiserver, "GET", "/openapi/v3")
    assert final_index == index

    apiserver.add_kind(GADGET)  # served again: its objects are still stored
    assert [item["metadata"]["name"] for item in request(apiserver, "GET", collection)[1]["items"]] == ["g"]


def test_a_kind_conflicting_with_a_served_one_is_refused() -> None:
    kinds = KindRegistry()
    with pytest.raises(KindConflict):
        kinds.add(KINDS[0])
    with pytest.raises(KindConflict):
        kinds.add(declare("Pod", "pods"))  # the plural names its storage: one per server
    generation = kinds.generation
    kinds.add(WIDGET)
    assert kinds.generation == generation + 1 and kinds.by_path["example.com/v1", "widgets"] is WIDGET
    kinds.remove(WIDGET)
    assert ("example.com/v1", "widgets") not in kinds.by_path and "example.com" not in kinds.group_names
