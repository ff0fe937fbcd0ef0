"""Representations as kube-apiserver v1.32 writes them: list items, Tables, PartialObjectMetadata, YAML.

Each expectation is what the real kube-apiserver answered for the same request (conformance/differential).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import yaml

from apiserver.kinds.pod import POD
from apiserver.testing import RunningServer
from tests.test_errors import Reply, assert_status, call, slice_body

ES = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
PODS = "/api/v1/namespaces/default/pods"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
POM = "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io"
POML = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"


@pytest.fixture
async def http(apiserver: RunningServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=apiserver.url) as session:
        yield session


@pytest.fixture
async def stored(http: aiohttp.ClientSession) -> None:
    assert (await call(http, "POST", ES, slice_body("web-1"))).status == 201
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    assert (await call(http, "POST", PODS, pod)).status == 201


def as_yaml(reply: Reply) -> Any:
    assert reply.headers["Content-Type"] == "application/yaml", reply.body
    return yaml.safe_load(reply.body)


async def test_list_items_carry_no_type_meta(http: aiohttp.ClientSession, stored: None) -> None:
    """A typed list's items have no kind/apiVersion (JSON and YAML); a single object and watch events keep them."""
    listed = (await call(http, "GET", ES)).json()
    assert listed["kind"] == "EndpointSliceList" and list(listed["items"][0])[:2] == ["metadata", "addressType"]
    in_yaml = await call(http, "GET", ES, headers={"Accept": "application/yaml"})
    assert "kind" not in as_yaml(in_yaml)["items"][0]
    assert in_yaml.body.startswith(b"apiVersion: discovery.k8s.io/v1\nitems:\n")  # keys sorted, as upstream's YAML
    assert (await call(http, "GET", f"{ES}/web-1")).json()["kind"] == "EndpointSlice"
    watched = await call(http, "GET", ES, params={"watch": "true", "timeoutSeconds": "1"})
    assert b'{"type":"ADDED","object":{"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1"' in watched.body


async def test_table_columns_and_cells(http: aiohttp.ClientSession, stored: None) -> None:
    """Column descriptions are upstream's API doc strings; the Pod Restarts cell is a string."""
    pods = (await call(http, "GET", PODS, headers={"Accept": TABLE})).json()
    columns = {c["name"]: c for c in pods["columnDefinitions"]}
    assert columns["Restarts"]["description"] == ("The number of times the containers in this pod have been restarted "
                                                  "and when the last container in this pod has restarted.")
    assert columns["Name"]["description"].endswith(
        "More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names")
    assert pods["rows"][0]["cells"][3] == "0"
    services = (await call(http, "GET", "/api/v1/namespaces/default/services", headers={"Accept": TABLE})).json()
    assert services["columnDefinitions"][1]["description"].startswith("type determines how the Service is exposed.")
    endpoints = (await call(http, "GET", "/api/v1/namespaces/default/endpoints", headers={"Accept": TABLE})).json()
    assert endpoints["columnDefinitions"][1]["description"].startswith("The set of all endpoints is the union")


def test_restarts_cell_tells_when_the_last_restart_ended() -> None:
    restarts = next(c for c in POD.columns if c.name == "Restarts")
    ended = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 300))
    statuses = [{"restartCount": 2, "lastState": {"terminated": {"finishedAt": ended}}}, {"restartCount": 1}]
    assert restarts.cell({"metadata": {}, "status": {"containerStatuses": statuses}}) == "3 (5m ago)"
    assert restarts.cell({"metadata": {}, "status": {"containerStatuses": [{"restartCount": 0}]}}) == "0"
    statuses[0]["lastState"]["terminated"]["finishedAt"] = "yesterday"
    assert restarts.cell({"metadata": {}, "status": {"containerStatuses": statuses}}) == "3"


async def test_table_include_object(http: aiohttp.ClientSession, stored: None) -> None:
    none = (await call(http, "GET", ES, params={"includeObject": "None"}, headers={"Accept": TABLE})).json()
    assert none["rows"][0] == {"cells": none["rows"][0]["cells"], "object": None}
    reply = await call(http, "GET", ES, params={"includeObject": "All"}, headers={"Accept": TABLE})
    assert_status(reply, 400, "BadRequest", "Unable to convert to Table as requested: includeObject: Invalid value: "
                  "\"All\": must be 'Metadata', 'Object', 'None', or empty")
    reply = await call(http, "GET", ES, params={"includeObject": "All", "watch": "true"}, headers={"Accept": TABLE})
    assert reply.status == 400


async def test_meta_v1beta1_is_served_as_v1beta1(http: aiohttp.ClientSession, stored: None) -> None:
    table = (await call(http, "GET", ES, headers={"Accept": TABLE.replace("v=v1", "v=v1beta1")})).json()
    assert table["apiVersion"] == table["rows"][0]["object"]["apiVersion"] == "meta.k8s.io/v1beta1"
    partial = (await call(http, "GET", f"{ES}/web-1", headers={"Accept": POM.replace("v=v1", "v=v1beta1")})).json()
    assert (partial["kind"], partial["apiVersion"]) == ("PartialObjectMetadata", "meta.k8s.io/v1beta1")


async def test_table_and_metadata_in_yaml(http: aiohttp.ClientSession, stored: None) -> None:
    table = as_yaml(await call(http, "GET", ES, headers={"Accept": TABLE.replace("json", "yaml")}))
    assert table["kind"] == "Table" and table["rows"][0]["cells"][0] == "web-1"
    partial = as_yaml(await call(http, "GET", f"{PODS}/p", headers={"Accept": POM.replace("json", "yaml")}))
    assert (partial["kind"], partial["metadata"]["name"]) == ("PartialObjectMetadata", "p")


async def test_partial_metadata_must_match_list_or_object(http: aiohttp.ClientSession, stored: None) -> None:
    assert_status(await call(http, "GET", ES, headers={"Accept": POM}), 406, "NotAcceptable",
                  "you requested PartialObjectMetadata, but the requested object is a list "
                  "(*discovery.EndpointSliceList)")
    assert_status(await call(http, "GET", f"{PODS}/p", headers={"Accept": POML}), 406, "NotAcceptable",
                  "you requested PartialObjectMetadataList, but the requested object is not a list (*core.Pod)")
    assert (await call(http, "GET", ES, headers={"Accept": POML})).json()["kind"] == "PartialObjectMetadataList"


@pytest.mark.parametrize("accept", ["application/yaml", "application/json;q=0.5, application/yaml",
                                    "application/yaml;as=Table;v=v1;g=meta.k8s.io, application/yaml"])
async def test_errors_in_yaml_when_asked(http: aiohttp.ClientSession, accept: str) -> None:
    reply = await call(http, "GET", f"{ES}/nope", headers={"Accept": accept})
    assert reply.status == 404
    assert as_yaml(reply)["message"] == 'endpointslices.discovery.k8s.io "nope" not found'


async def test_error_of_a_conversion_request_is_json(http: aiohttp.ClientSession) -> None:
    """A Status cannot be a Table: the error of a Table request is written in plain JSON, even if YAML was asked."""
    reply = await call(http, "GET", f"{ES}/nope", headers={"Accept": "application/yaml;as=Table;v=v1;g=meta.k8s.io"})
    assert reply.status == 404 and reply.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("method,path", [("POST", "/apis/discovery.k8s.io/v1/endpointslices"),
                                         ("DELETE", "/apis/discovery.k8s.io/v1/endpointslices"),
                                         ("DELETE", "/api/v1/pods"), ("DELETE", "/api/v1/namespaces")])
async def test_no_writes_across_namespaces_nor_namespace_deletecollection(http: aiohttp.ClientSession, stored: None,
                                                                          method: str, path: str) -> None:
    reply = await call(http, method, path, slice_body("x") if method == "POST" else None)
    assert_status(reply, 405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                  {})
    assert (await call(http, "GET", f"{ES}/web-1")).status == 200


@pytest.mark.parametrize("body,why", [
    (b"", "empty data (<empty>)"),
    (b"k8s", "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0] (6b3873)"),
    (b'{"metadata": {"name": "a-rather-long-name"}}', "provided data does not appear to be a protobuf message, "
     'expected prefix [107 56 115 0] ({"metadata": {"name": "a-rathe ...)'),
])
async def test_protobuf_body_that_is_not_protobuf(http: aiohttp.ClientSession, body: bytes, why: str) -> None:
    reply = await call(http, "POST", ES, data=body, content_type="application/vnd.kubernetes.protobuf")
    assert_status(reply, 400, "BadRequest",
                  f"the object provided is unrecognized (must be of type EndpointSlice): {why}")
