"""Every error status the server returns, end to end over HTTP.

Each test checks the exact `Status` object (kind, apiVersion, metadata, status, message, reason,
details, code), that nothing stored changed (the object read back is identical, resourceVersion
included, and the storage revision did not move), and that the server keeps serving afterwards.
Reference: /work/shared/reference/apiserver.md §2.5, §4, §5, §7, §8.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Self

import aiohttp
import pytest
import yaml
from multidict import CIMultiDictProxy

from apiserver import codec
from apiserver.cli import config_from, parser
from apiserver.config import Config
from apiserver.protobuf import envelope
from apiserver.state import STORAGE
from apiserver.testing import RunningServer, run_server

ES = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
ES_ALL = "/apis/discovery.k8s.io/v1/endpointslices"
EP = "/api/v1/namespaces/default/endpoints"
GROUP = "discovery.k8s.io"
DEPRECATION = '299 - "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"'
ACCEPTED = "application/json, application/yaml, application/vnd.kubernetes.protobuf"
ABSENT = object()


# --- helpers ---------------------------------------------------------------------------------------


@dataclass
class Reply:
    """One HTTP response, fully read."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@pytest.fixture
async def http(apiserver: RunningServer) -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client for the test server (no Kubernetes client in the way)."""
    async with aiohttp.ClientSession(base_url=apiserver.url) as session:
        yield session


async def call(http: aiohttp.ClientSession, method: str, path: str, body: Any = ABSENT, *, data: bytes | str | None = None,
               content_type: str = "application/json", headers: dict[str, str] | None = None,
               params: dict[str, str] | None = None) -> Reply:
    """Send one request; `body` is JSON-encoded, `data` is sent as is."""
    hdrs = dict(headers or {})
    if body is not ABSENT:
        data = json.dumps(body)
    if data is not None:
        hdrs.setdefault("Content-Type", content_type)
    async with http.request(method, path, data=data, headers=hdrs, params=params) as resp:
        return Reply(resp.status, resp.headers, await resp.read())


def status(code: int, reason: str, message: str, details: Any = ABSENT, continue_token: str = "") -> dict[str, Any]:
    """The Status object the server must return, in the upstream key order."""
    out: dict[str, Any] = {"kind": "Status", "apiVersion": "v1",
                           "metadata": {"continue": continue_token} if continue_token else {}, "status": "Failure"}
    if message:
        out["message"] = message
    if reason:
        out["reason"] = reason
    if details is not ABSENT:
        out["details"] = details
    out["code"] = code
    return out


def assert_status(reply: Reply, code: int, reason: str, message: str, details: Any = ABSENT,
                  continue_token: str = "") -> dict[str, Any]:
    """The reply is exactly this Status (JSON, same HTTP code, same keys in the same order)."""
    assert reply.status == code, reply.body
    assert reply.headers["Content-Type"].startswith("application/json"), reply.headers["Content-Type"]
    got: dict[str, Any] = reply.json()
    expected = status(code, reason, message, details, continue_token)
    assert got == expected
    assert list(got) == list(expected)
    return got


def res_details(name: str, group: str = GROUP, kind: str = "endpointslices", **more: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if group:
        out["group"] = group
    out["kind"] = kind
    out.update(more)
    return out


def slice_body(name: str = "web-1", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                            "metadata": {"name": name, "labels": {"app": "web"}}, "addressType": "IPv4",
                            "endpoints": [{"addresses": ["10.0.0.1"]}], "ports": [{"name": "http", "port": 80}]}
    body.update(fields)
    return body


def endpoints_body(name: str = "web", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name},
                            "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]}
    body.update(fields)
    return body


async def revision(apiserver: RunningServer) -> int:
    """The storage's current revision, read on the server's own loop."""
    storage = apiserver.app[STORAGE]
    assert apiserver.loop is not None
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(storage.current_revision(), apiserver.loop))


async def compact(apiserver: RunningServer, rev: int) -> None:
    storage = apiserver.app[STORAGE]
    assert apiserver.loop is not None
    await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(storage.compact(rev), apiserver.loop))


async def create(http: aiohttp.ClientSession, body: dict[str, Any], path: str = ES) -> dict[str, Any]:
    reply = await call(http, "POST", path, body)
    assert reply.status == 201, reply.body
    created: dict[str, Any] = reply.json()
    return created


class Guard:
    """Proves a failed request changed nothing: same storage revision, same object, server still serving."""

    def __init__(self, apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
        self.apiserver, self.http = apiserver, http
        self.rev = 0
        self.objects: dict[str, Any] = {}

    async def __aenter__(self) -> Self:
        self.rev = await revision(self.apiserver)
        return self

    async def watch_object(self, path: str) -> dict[str, Any]:
        reply = await call(self.http, "GET", path)
        assert reply.status == 200, reply.body
        obj: dict[str, Any] = reply.json()
        self.objects[path] = obj
        return obj

    async def __aexit__(self, *exc: object) -> None:
        if exc[0] is not None:
            return
        assert await revision(self.apiserver) == self.rev, "a failed request wrote to storage"
        for path, before in self.objects.items():
            reply = await call(self.http, "GET", path)
            assert reply.status == 200, reply.body
            after = reply.json()
            assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
            assert after == before
        await assert_serving(self.http)


async def assert_serving(http: aiohttp.ClientSession) -> None:
    """A following ordinary request still works."""
    reply = await call(http, "GET", ES)
    assert reply.status == 200, reply.body
    assert reply.json()["kind"] == "EndpointSliceList"


async def guarded(apiserver: RunningServer, http: aiohttp.ClientSession, *paths: str) -> Guard:
    guard = Guard(apiserver, http)
    for path in paths:
        await guard.watch_object(path)
    return guard


@pytest.fixture
async def stored(http: aiohttp.ClientSession) -> dict[str, Any]:
    """An EndpointSlice `web-1` in `default`."""
    return await create(http, slice_body())


WEB1 = f"{ES}/web-1"


# --- 400 BadRequest --------------------------------------------------------------------------------


async def test_malformed_json_body(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    async with Guard(apiserver, http):
        reply = await call(http, "POST", ES, data='{"apiVersion": "discovery.k8s.io/v1", "kind": ')
        got = reply.json()
        assert reply.status == 400 and got["reason"] == "BadRequest" and got["code"] == 400
        assert got["kind"] == "Status" and got["apiVersion"] == "v1" and got["status"] == "Failure"
        assert got["metadata"] == {} and "details" not in got and got["message"]
    assert (await call(http, "GET", f"{ES}/x")).status == 404


async def test_malformed_yaml_body(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    async with Guard(apiserver, http):
        reply = await call(http, "POST", ES, data="metadata: {name: [unclosed\n", content_type="application/yaml")
        got = reply.json()
        assert reply.status == 400 and got["reason"] == "BadRequest" and got["code"] == 400
        assert got["status"] == "Failure" and "details" not in got and got["message"]


async def test_yaml_body_is_accepted(http: aiohttp.ClientSession) -> None:
    """The YAML counterpart of the JSON body works (the 400 above is about syntax, not the media type)."""
    reply = await call(http, "POST", ES, content_type="application/yaml",
                       data="apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: y}\n"
                            "addressType: IPv4\nendpoints: [{addresses: [10.0.0.9]}]\n")
    assert reply.status == 201, reply.body


@pytest.mark.parametrize("body", ["[]", '[{"metadata": {"name": "a"}}]', '"text"', "42"])
async def test_body_not_an_object(apiserver: RunningServer, http: aiohttp.ClientSession, body: str) -> None:
    async with Guard(apiserver, http):
        reply = await call(http, "POST", ES, data=body)
        got = reply.json()
        assert reply.status == 400 and got["reason"] == "BadRequest" and got["code"] == 400, got
        assert got["kind"] == "Status" and got["status"] == "Failure" and "details" not in got


UNRECOGNIZED = "the object provided is unrecognized (must be of type EndpointSlice): "
FIND_KIND = ('couldn\'t get version/kind; json parse error: json: cannot unmarshal {} into Go value of type struct '
             '{{ APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }}')


@pytest.mark.parametrize(("data", "content_type", "message"), [
    ('{"metadata": {"name": ', "application/json", UNRECOGNIZED + "couldn't get version/kind; json parse error: "
     'unexpected end of JSON input ({"metadata": {"name": )'),
    ("", "application/json", UNRECOGNIZED + "couldn't get version/kind; json parse error: unexpected end of JSON "
     "input (<empty>)"),
    ("[]", "application/json", UNRECOGNIZED + FIND_KIND.format("array") + " (5b5d)"),
    ('{"a": tru}', "application/json", UNRECOGNIZED + "couldn't get version/kind; json parse error: invalid character "
     "'}' in literal true (expecting 'e') ({\"a\": tru})"),
    ("metadata: [name: x", "application/yaml", UNRECOGNIZED + "yaml: line 1: did not find expected ',' or ']' "
     "(6d657461646174613a205b6e616d653a2078)"),
    ('{"apiVersion": "v1", "kind": "Pod"}', "application/json", ('Pod in version "v1" cannot be handled as a '
     "EndpointSlice: converting (v1.Pod) to (discovery.EndpointSlice): unknown conversion")),
    ('{"apiVersion": "discovery.k8s.io/v1", "kind": "Widget"}', "application/json", ('Widget in version "v1" cannot be '
     'handled as a EndpointSlice: no kind "Widget" is registered for version "discovery.k8s.io/v1" in scheme '
     '"pkg/runtime/scheme.go:100"')),
])
async def test_undecodable_body_messages(apiserver: RunningServer, http: aiohttp.ClientSession, data: str,
                                         content_type: str, message: str) -> None:
    """The codec's texts: `unrecognized` with a summary of the body when no kind was read, else `cannot be handled`."""
    async with Guard(apiserver, http):
        reply = await call(http, "POST", ES, data=data, content_type=content_type)
        assert_status(reply, 400, "BadRequest", message)


async def test_yaml_body_first_document_only(http: aiohttp.ClientSession) -> None:
    reply = await call(http, "POST", ES, content_type="application/yaml",
                       data="metadata: {name: first}\naddressType: IPv4\n---\nnot: [valid\n")
    assert reply.status == 201 and reply.json()["metadata"]["name"] == "first", reply.body


async def test_yaml_keys_become_strings(http: aiohttp.ClientSession) -> None:
    """YAMLToJSON writes every mapping key as a string (`1: a` is the label "1")."""
    reply = await call(http, "POST", ES, content_type="application/yaml",
                       data="metadata:\n  name: keys\n  labels: {1: a}\naddressType: IPv4\n")
    assert reply.status == 201 and reply.json()["metadata"]["labels"] == {"1": "a"}, reply.body


async def test_duplicate_fields(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    """Strict refuses duplicate fields beside unknown ones, in document order; Warn warns (JSON and YAML)."""
    body = '{"metadata":{"name":"d","labels":{"a":"1","a":"2"}},"nope":1,"addressType":"IPv4","addressType":"IPv6"}'
    yaml_body = "metadata:\n  name: d\naddressType: IPv4\naddressType: IPv6\nfoo: 1\n"
    prefix = 'EndpointSlice in version "v1" cannot be handled as a EndpointSlice: strict decoding error: '
    async with Guard(apiserver, http):
        reply = await call(http, "POST", ES, data=body, params={"fieldValidation": "Strict"})
        assert_status(reply, 400, "BadRequest", prefix + 'duplicate field "metadata.labels.a", unknown field "nope", '
                                                         'duplicate field "addressType"')
        reply = await call(http, "POST", ES, data=yaml_body, content_type="application/yaml",
                           params={"fieldValidation": "Strict"})
        assert_status(reply, 400, "BadRequest", prefix + 'yaml: unmarshal errors:\n  line 4: key "addressType" '
                                                         'already set in map, unknown field "foo"')
    reply = await call(http, "POST", ES, data=yaml_body, content_type="application/yaml")
    assert reply.status == 201 and reply.json()["addressType"] == "IPv6", reply.body
    assert reply.headers.getall("Warning") == ['299 - "line 4: key \\"addressType\\" already set in map"',
                                               '299 - "unknown field \\"foo\\""']
    reply = await call(http, "POST", ES, data=body.replace('"d"', '"d2"'))
    assert reply.status == 201 and reply.json()["metadata"]["labels"] == {"a": "2"}, reply.body
    assert reply.headers.getall("Warning") == ['299 - "duplicate field \\"metadata.labels.a\\""',
                                               '299 - "unknown field \\"nope\\""',
                                               '299 - "duplicate field \\"addressType\\""']


async def test_malformed_delete_options(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    """upstream does not type DeleteOptions' decoding errors: a 500 with no reason, before the object is looked up."""
    async with Guard(apiserver, http):
        reply = await call(http, "DELETE", f"{ES}/missing", data='{"kind":')
        assert_status(reply, 500, "", "couldn't get version/kind; json parse error: unexpected end of JSON input")
        reply = await call(http, "DELETE", f"{ES}/missing", {"gracePeriodSeconds": "x"})
        assert_status(reply, 500, "", "json: cannot unmarshal string into Go struct field "
                                      "DeleteOptions.gracePeriodSeconds of type int64")
        reply = await call(http, "DELETE", f"{ES}/missing", {"kind": "Pod", "apiVersion": "v1"})
        assert_status(reply, 500, "", 'no kind "Pod" is registered for version "v1" in scheme '
                                      '"pkg/runtime/scheme.go:100"')


async def test_unknown_field_strict(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    async with Guard(apiserver, http):
        body = slice_body(bogus=1)
        body["endpoints"][0]["extra"] = True
        reply = await call(http, "POST", ES, body, params={"fieldValidation": "Strict"})
        assert_status(reply, 400, "BadRequest",
                      'EndpointSlice in version "v1" cannot be handled as a EndpointSlice: strict decoding error: '
                      'unknown field "endpoints[0].extra", unknown field "bogus"')  # document order
    assert (await call(http, "GET", WEB1)).status == 404


async def test_unknown_field_strict_on_update(apiserver: RunningServer, http: aiohttp.ClientSession,
                                              stored: dict[str, Any]) -> None:
    async with await guarded(apiserver, http, WEB1):
        body = copy.deepcopy(stored)
        body["spec"] = {}
        reply = await call(http, "PUT", WEB1, body, params={"fieldValidation": "Strict"})
        assert_status(reply, 400, "BadRequest", 'EndpointSlice in version "v1" cannot be handled as a EndpointSlice: '
                                                'strict decoding error: unknown field "spec"')


async def test_unknown_field_warn(http: aiohttp.ClientSession) -> None:
    body = slice_body(bogus=1)
    for params in ({"fieldValidation": "Warn"}, None):  # Warn is the default
        body["metadata"]["name"] = f"warn-{bool(params)}".lower()
        reply = await call(http, "POST", ES, body, params=params)
        assert reply.status == 201, reply.body
        assert reply.headers.getall("Warning") == ['299 - "unknown field \\"bogus\\""']
        assert "bogus" not in reply.json()
        again = await call(http, "GET", f"{ES}/{body['metadata']['name']}")
        assert "bogus" not in again.json()


async def test_unknown_field_ignore(http: aiohttp.ClientSession) -> None:
    reply = await call(http, "POST", ES, slice_body(bogus=1), params={"fieldValidation": "Ignore"})
    assert reply.status == 201 and "Warning" not in reply.headers and "bogus" not in reply.json()


async def test_bad_write_options(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    """Every bad option reported together, in the options kind of the verb (dryRun quoted as a Go []string)."""
    async with Guard(apiserver, http):
        reply = await call(http, "POST", ES, slice_body(), params={"fieldValidation": "Loud", "dryRun": "Some"})
        assert_status(reply, **options_invalid("CreateOptions", [
            ("FieldValueNotSupported", "dryRun", 'Unsupported value: []string{"Some"}: supported values: "All"'),
            ("FieldValueNotSupported", "fieldValidation",
             'Unsupported value: "Loud": supported values: "", "Ignore", "Strict", "Warn"')]))
        reply = await call(http, "PATCH", f"{ES}/x", {}, content_type="application/merge-patch+json",
                           params={"force": "true", "fieldManager": "\x01b"})
        assert_status(reply, **options_invalid("PatchOptions", [
            ("FieldValueForbidden", "force", "Forbidden: may not be specified for non-apply patch"),
            ("FieldValueInvalid", "fieldManager", 'Invalid value: "\\x01b": invalid character U+0001 (at position 0)')]))


@pytest.mark.parametrize(("params", "body", "causes"), [
    ({"propagationPolicy": "Sideways"}, None, [
        ("FieldValueNotSupported", "propagationPolicy",
         'Unsupported value: "Sideways": supported values: "Foreground", "Background", "Orphan", "nil"')]),
    ({}, {"orphanDependents": True, "propagationPolicy": "Background"}, [
        ("FieldValueInvalid", "propagationPolicy",
         'Invalid value: "Background": orphanDependents and deletionPropagation cannot be both set')]),
])
async def test_bad_delete_options_before_the_lookup(apiserver: RunningServer, http: aiohttp.ClientSession,
                                                    params: dict[str, str], body: Any,
                                                    causes: list[tuple[str, str, str]]) -> None:
    async with Guard(apiserver, http):
        reply = await call(http, "DELETE", f"{ES}/missing", body if body else ABSENT, params=params)
        assert_status(reply, **options_invalid("DeleteOptions", causes))


async def test_wrong_field_type(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    async with Guard(apiserver, http):
        reply = await call(http, "POST", ES, slice_body(ports=[{"name": "http", "port": "80"}]))
        assert_status(reply, 400, "BadRequest",
                      'EndpointSlice in version "v1" cannot be handled as a EndpointSlice: json: cannot unmarshal '
                      "string into Go struct field EndpointPort.ports.port of type int32")


async def test_wrong_field_type_on_update(apiserver: RunningServer, http: aiohttp.ClientSession,
                                          stored: dict[str, Any]) -> None:
    async with await guarded(apiserver, http, WEB1):
        body = copy.deepcopy(stored)
        body["addressType"] = 4
        reply = await call(http, "PUT", WEB1, body)
        assert_status(reply, 400, "BadRequest",
                      'EndpointSlice in version "v1" cannot be handled as a EndpointSlice: json: cannot unmarshal '
                      "number into Go struct field EndpointSlice.addressType of type string")


async def test_bad_label_selector(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    async with Guard(apiserver, http):
        reply = await call(http, "GET", ES, params={"labelSelector": "app in (web"})
        got = reply.json()
        assert reply.status == 400 and got["reason"] == "BadRequest" and "details" not in got
        assert got["kind"] == "Status" and got["status"] == "Failure" and got["code"] == 400 and got["message"]


async def test_unknown_field_selector(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    async with Guard(apiserver, http):
        for path in (ES, ES_ALL, EP):
            reply = await call(http, "GET", path, params={"fieldSelector": "spec.foo=bar"})
            assert_status(reply, 400, "BadRequest",
                          '"spec.foo" is not a known field selector: only "metadata.name", "metadata.namespace"')


async def test_field_label_conversion(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    """Pods, Services and Namespaces refuse a field through their conversion function, and accept more fields."""
    async with Guard(apiserver, http):
        for path in ("/api/v1/namespaces/default/pods", "/api/v1/namespaces/default/services", "/api/v1/namespaces"):
            reply = await call(http, "GET", path, params={"fieldSelector": "spec.foo=bar"})
            assert_status(reply, 400, "BadRequest", "field label not supported: spec.foo")
    for path, selector in (("/api/v1/namespaces/default/pods", "spec.schedulerName=x,spec.hostNetwork=false"),
                           ("/api/v1/namespaces/default/services", "spec.clusterIP=10.0.0.2,spec.type=ClusterIP")):
        reply = await call(http, "GET", path, params={"fieldSelector": selector})
        assert reply.status == 200 and reply.json()["items"] == [], reply.body
    reply = await call(http, "GET", "/api/v1/namespaces/default/services",
                       params={"fieldSelector": "spec.clusterIP=10.0.0.1"})
    assert [s["metadata"]["name"] for s in reply.json()["items"]] == ["kubernetes"]


async def test_boolean_options_as_the_parameter_codec_reads_them(http: aiohttp.ClientSession) -> None:
    """Only "0" and "false" are false: `watch=maybe` opens a watch."""
    await create(http, slice_body())
    async with http.get(ES, params={"watch": "maybe", "timeoutSeconds": "1"}) as response:
        assert response.status == 200
        assert json.loads(await response.content.readline())["type"] == "ADDED"


async def test_invalid_include_object(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    async with Guard(apiserver, http):
        reply = await call(http, "GET", ES, params={"includeObject": "All"},
                           headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
        assert_status(reply, 400, "BadRequest", "Unable to convert to Table as requested: includeObject: Invalid "
                                                "value: \"All\": must be 'Metadata', 'Object', 'None', or empty")


async def test_non_numeric_resource_version_on_list(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    async with Guard(apiserver, http):
        error = 'resourceVersion: Invalid value: "abc": strconv.ParseUint: parsing "abc": invalid syntax'
        for params in ({"resourceVersion": "abc"}, {"resourceVersion": "abc", "watch": "1"}):
            reply = await call(http, "GET", ES, params=params)  # the watch cache's error: a 500 without reason
            assert_status(reply, 500, "", error)
        for params in ({"resourceVersion": "abc", "limit": "5"}, {"resourceVersion": "abc", "resourceVersionMatch": "Exact"}):
            reply = await call(http, "GET", ES, params=params)  # served by storage, which says it is a bad request
            assert_status(reply, 400, "BadRequest", f"invalid resource version: {error}")
        reply = await call(http, "GET", ES, params={"resourceVersion": "abc", "continue": "abc"})  # the token first
        assert_status(reply, 400, "BadRequest",
                      "invalid continue token: continue key is not valid: invalid character 'i' looking for beginning "
                      "of value")


async def test_bad_continue_token(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    async with Guard(apiserver, http):
        reply = await call(http, "GET", ES, params={"limit": "1", "continue": "not-a-token!"})
        got = reply.json()
        assert reply.status == 400 and got["reason"] == "BadRequest" and "details" not in got
        assert got["message"].startswith("invalid continue token: ")


async def test_continue_with_resource_version(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    for i in range(3):
        await create(http, slice_body(f"s-{i}"))
    first = (await call(http, "GET", ES, params={"limit": "1"})).json()
    token = first["metadata"]["continue"]
    async with Guard(apiserver, http):
        reply = await call(http, "GET", ES, params={"limit": "1", "continue": token,
                                                   "resourceVersion": first["metadata"]["resourceVersion"]})
        assert_status(reply, 400, "BadRequest", "specifying resource version is not allowed when using continue")
    # the token itself is fine
    assert (await call(http, "GET", ES, params={"limit": "1", "continue": token})).status == 200


async def test_namespace_in_body_differs_from_url(apiserver: RunningServer, http: aiohttp.ClientSession,
                                                  stored: dict[str, Any]) -> None:
    message = "the namespace of the provided object does not match the namespace sent on the request"
    async with await guarded(apiserver, http, WEB1):
        body = slice_body("web-2")
        body["metadata"]["namespace"] = "kube-system"
        assert_status(await call(http, "POST", ES, body), 400, "BadRequest", message)
        update = copy.deepcopy(stored)
        update["metadata"]["namespace"] = "kube-system"
        assert_status(await call(http, "PUT", WEB1, update), 400, "BadRequest", message)
    assert (await call(http, "GET", f"{ES}/web-2")).status == 404


async def test_name_in_body_differs_from_url(apiserver: RunningServer, http: aiohttp.ClientSession,
                                             stored: dict[str, Any]) -> None:
    message = "the name of the object (other) does not match the name on the URL (web-1)"
    async with await guarded(apiserver, http, WEB1):
        body = copy.deepcopy(stored)
        body["metadata"]["name"] = "other"
        assert_status(await call(http, "PUT", WEB1, body), 400, "BadRequest", message)
        patch = {"metadata": {"name": "other"}}
        assert_status(await call(http, "PATCH", WEB1, patch, content_type="application/merge-patch+json"),
                      400, "BadRequest", message)
    assert (await call(http, "GET", f"{ES}/other")).status == 404


# --- 404 NotFound ----------------------------------------------------------------------------------


async def test_missing_object_every_verb(apiserver: RunningServer, http: aiohttp.ClientSession,
                                         stored: dict[str, Any]) -> None:
    missing = status(404, "NotFound", 'endpointslices.discovery.k8s.io "x" not found', res_details("x"))
    path = f"{ES}/x"
    async with await guarded(apiserver, http, WEB1):
        assert_status(await call(http, "GET", path), **_kw(missing))
        assert_status(await call(http, "DELETE", path), **_kw(missing))
        assert_status(await call(http, "PUT", path, slice_body("x")), **_kw(missing))  # no create-on-update
        for content_type, patch in (("application/merge-patch+json", {"metadata": {"labels": {"a": "b"}}}),
                                    ("application/strategic-merge-patch+json", {"metadata": {"labels": {"a": "b"}}}),
                                    ("application/json-patch+json", [{"op": "add", "path": "/metadata/labels",
                                                                      "value": {"a": "b"}}])):
            assert_status(await call(http, "PATCH", path, patch, content_type=content_type), **_kw(missing))
    assert (await call(http, "GET", path)).status == 404


def _kw(expected: dict[str, Any]) -> dict[str, Any]:
    """assert_status keyword arguments from an expected Status."""
    return {"code": expected["code"], "reason": expected["reason"], "message": expected["message"],
            "details": expected.get("details", ABSENT)}


async def test_missing_core_object(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    async with Guard(apiserver, http):
        reply = await call(http, "GET", f"{EP}/nope")
        assert_status(reply, 404, "NotFound", 'endpoints "nope" not found', {"name": "nope", "kind": "endpoints"})
        assert "Warning" not in reply.headers  # v1.32 does not deprecate Endpoints


@pytest.mark.parametrize("path", [
    "/apis/discovery.k8s.io/v1/namespaces/default/widgets",
    "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/web-1/status",
    "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/web-1/a/b",
    "/apis/discovery.k8s.io/v2/endpointslices",
    "/api/v1/namespaces/default/endpointslices",
    "/api/v2/pods",
])
async def test_unknown_resource_path(apiserver: RunningServer, http: aiohttp.ClientSession, path: str) -> None:
    async with Guard(apiserver, http):
        assert_status(await call(http, "GET", path), 404, "NotFound",
                      "the server could not find the requested resource", {})


@pytest.mark.parametrize("path", ["/apis/nope.example.com/v1/things", "/apis/nope.example.com", "/nope", "/apisx",
                                  "/healthz/", "/apis/discovery.k8s.iox/v1"])
async def test_unknown_path_outside_the_api(http: aiohttp.ClientSession, path: str) -> None:
    """Outside `/api` and the groups served, kube-apiserver's last handler answers: plain text, no Status."""
    reply = await call(http, "GET", path)
    assert (reply.status, reply.headers["Content-Type"], reply.body) == (
        404, "text/plain; charset=utf-8", b"404 page not found\n")
    assert reply.headers["X-Content-Type-Options"] == "nosniff"


async def test_create_in_missing_namespace(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    async with Guard(apiserver, http):
        path = "/apis/discovery.k8s.io/v1/namespaces/nope/endpointslices"
        assert_status(await call(http, "POST", path, slice_body()), 404, "NotFound", 'namespaces "nope" not found',
                      {"name": "nope", "kind": "namespaces"})
        reply = await call(http, "POST", "/api/v1/namespaces/nope/endpoints", endpoints_body())
        assert_status(reply, 404, "NotFound", 'namespaces "nope" not found', {"name": "nope", "kind": "namespaces"})
        assert "Warning" not in reply.headers  # v1.32 does not deprecate Endpoints


async def test_endpoints_put_creates_but_endpointslice_put_does_not(http: aiohttp.ClientSession) -> None:
    reply = await call(http, "PUT", f"{EP}/made", endpoints_body("made"))
    assert reply.status == 201, reply.body
    assert (await call(http, "PUT", f"{ES}/made", slice_body("made"))).status == 404


# --- 405 MethodNotAllowed --------------------------------------------------------------------------


@pytest.mark.parametrize("method,path", [
    ("POST", f"{ES}/web-1"),
    ("PUT", ES),
    ("PATCH", ES),
    ("POST", f"{EP}/web"),
    ("PUT", EP),
    ("POST", "/apis/discovery.k8s.io/v1/watch/namespaces/default/endpointslices"),
    ("GET", "/api/v1/namespaces/default/pods/p/binding"),  # a subresource's verbs are its own (discovery's)
    ("POST", "/api/v1/namespaces/default/pods/p/log"),
    ("DELETE", "/api/v1/namespaces/default/pods/p/status"),
    ("PATCH", "/api/v1/namespaces/default/finalize"),
    ("GET", "/api/v1/namespaces/default/finalize"),
])
async def test_method_not_allowed(apiserver: RunningServer, http: aiohttp.ClientSession, stored: dict[str, Any],
                                  method: str, path: str) -> None:
    async with await guarded(apiserver, http, WEB1):
        reply = await call(http, method, path, slice_body())
        assert_status(reply, 405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                      {})


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS"])
async def test_head_and_options_reach_only_proxies(http: aiohttp.ClientSession, method: str) -> None:
    """kube-apiserver routes HEAD and OPTIONS to the proxy subresources only (a pod without an IP: 400)."""
    pods = "/api/v1/namespaces/default/pods"
    await call(http, "POST", pods, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}})
    codes = [(await call(http, method, f"{pods}/p{sub}")).status for sub in ("", "/status", "/log", "/exec", "/proxy")]
    assert codes == [405, 405, 405, 405, 400]


# --- 406 NotAcceptable -----------------------------------------------------------------------------


@pytest.mark.parametrize("accept", ["application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io",
                                    "application/json;as=Widget;v=v1;g=meta.k8s.io",
                                    "application/yaml;stream=watch"])
async def test_not_acceptable(apiserver: RunningServer, http: aiohttp.ClientSession, stored: dict[str, Any],
                              accept: str) -> None:
    """A type the route produces, in a form this server cannot write: kube-apiserver's negotiation refuses it."""
    message = f"only the following media types are accepted: {ACCEPTED}"
    async with await guarded(apiserver, http, WEB1):
        assert_status(await call(http, "GET", WEB1, headers={"Accept": accept}), 406, "NotAcceptable", message)
        assert_status(await call(http, "GET", ES, headers={"Accept": accept}), 406, "NotAcceptable", message)
        body = slice_body("web-2")
        assert_status(await call(http, "POST", ES, body, headers={"Accept": accept}), 406, "NotAcceptable", message)
    assert (await call(http, "GET", f"{ES}/web-2")).status == 404


@pytest.mark.parametrize("accept", ["text/html", "application/xml, image/png", "application/*", "text/yaml"])
async def test_not_acceptable_by_the_route(apiserver: RunningServer, http: aiohttp.ClientSession,
                                           stored: dict[str, Any], accept: str) -> None:
    """No clause names a type the route produces (parameters cut off) nor `*/*`: go-restful's 406, listing them
    (a collection's GET also produces the watch streams), before anything else is looked at."""
    item = f"406: Not Acceptable\n\nAvailable representations: {ACCEPTED}"
    collection = item + ", application/json;stream=watch, application/vnd.kubernetes.protobuf;stream=watch"
    async with await guarded(apiserver, http, WEB1):
        for method, path, message in [("GET", WEB1, item), ("GET", ES, collection), ("POST", ES, item),
                                      ("DELETE", ES, item), ("GET", "/apis/discovery.k8s.io/v1/watch/endpointslices",
                                                             collection),
                                      ("GET", "/api/v1", item), ("GET", "/api", item)]:
            reply = await call(http, method, path, slice_body("web-2"), headers={"Accept": accept})
            assert_status(reply, 406, "NotAcceptable", message, {})
        reply = await call(http, "GET", ES, params={"watch": "true"}, headers={"Accept": accept})
        assert_status(reply, 406, "NotAcceptable", collection, {})
        version = await call(http, "GET", "/version", headers={"Accept": "application/yaml"})
        assert version.status == 406 and version.headers["Content-Type"] == "application/yaml"
        assert yaml.safe_load(version.body)["message"] == "406: Not Acceptable\n\nAvailable representations: " \
            "application/json"
        # `/apis` has no go-restful route: kube-apiserver's negotiation refuses what it cannot match
        assert_status(await call(http, "GET", "/apis", headers={"Accept": "text/html"}), 406, "NotAcceptable",
                      f"only the following media types are accepted: {ACCEPTED}")
    assert (await call(http, "GET", f"{ES}/web-2")).status == 404


async def test_yaml_watch_not_acceptable(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    """YAML cannot stream: the watch's own 406, written in YAML as the request asked."""
    async with Guard(apiserver, http):
        reply = await call(http, "GET", ES, params={"watch": "true", "timeoutSeconds": "1"},
                           headers={"Accept": "application/yaml"})
        assert (reply.status, reply.headers["Content-Type"]) == (406, "application/yaml")
        assert yaml.safe_load(reply.body) == status(406, "NotAcceptable", "only the following media types are "
                                                    "accepted: application/json;stream=watch, "
                                                    "application/vnd.kubernetes.protobuf;stream=watch")


async def test_yaml_get_is_acceptable(http: aiohttp.ClientSession, stored: dict[str, Any]) -> None:
    reply = await call(http, "GET", WEB1, headers={"Accept": "application/yaml"})
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("application/yaml")


# --- 409 AlreadyExists / Conflict ------------------------------------------------------------------


async def test_dry_run_create_of_an_existing_name(apiserver: RunningServer, http: aiohttp.ClientSession,
                                                  stored: dict[str, Any]) -> None:
    async with await guarded(apiserver, http, WEB1):
        reply = await call(http, "POST", ES, slice_body(), params={"dryRun": "All"})
        assert_status(reply, 409, "AlreadyExists", f'endpointslices.{GROUP} "web-1" already exists',
                      res_details("web-1"))


@pytest.mark.parametrize(("accept", "code", "content_type"), [
    ("application/vnd.kubernetes.protobuf;stream=watch", 500, "application/vnd.kubernetes.protobuf"),
    ("application/json;stream=watch", 500, "application/json"),
    ("application/yaml;stream=watch", 406, "application/json")])  # YAML cannot stream: the clause does not count
async def test_errors_of_watch_requests_in_the_stream_encoding(apiserver: RunningServer, http: aiohttp.ClientSession,
                                                               accept: str, code: int, content_type: str) -> None:
    """kube-apiserver writes a refused watch's Status in the encoding of its `stream=watch` clause."""
    async with Guard(apiserver, http):
        reply = await call(http, "GET", ES, params={"watch": "true", "resourceVersion": "abc"},
                           headers={"Accept": accept})
        assert (reply.status, reply.headers["Content-Type"]) == (code, content_type)


async def test_create_with_a_resource_version(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    body = slice_body()
    body["metadata"]["resourceVersion"] = "5"
    async with Guard(apiserver, http):
        assert_status(await call(http, "POST", ES, body), 500, "",
                      "resourceVersion should not be set on objects to be created")
        body["addressType"] = "Bogus"  # validation comes first: storage refuses the resourceVersion after it
        reply = await call(http, "POST", ES, body)
        assert reply.status == 422, reply.body


async def test_update_preconditions_from_the_body(apiserver: RunningServer, http: aiohttp.ClientSession,
                                                  stored: dict[str, Any]) -> None:
    """A PUT's uid is a precondition checked by storage; a non-numeric resourceVersion fails parsing (500)."""
    async with await guarded(apiserver, http, WEB1):
        body = copy.deepcopy(stored)
        body["metadata"]["uid"] = "another"
        reply = await call(http, "PUT", WEB1, body)
        key = "/registry/endpointslices/default/web-1"
        assert_status(reply, 409, "Conflict", f'Operation cannot be fulfilled on endpointslices.{GROUP} "web-1": '
                      f"StorageError: invalid object, Code: 4, Key: {key}, ResourceVersion: 0, AdditionalErrorMsg: "
                      f"Precondition failed: UID in precondition: another, UID in object meta: "
                      f"{stored['metadata']['uid']}", res_details("web-1"))
        body = copy.deepcopy(stored)
        body["metadata"]["resourceVersion"] = "x1"
        assert_status(await call(http, "PUT", WEB1, body), 500, "", 'strconv.ParseUint: parsing "x1": invalid syntax')


async def test_patch_may_not_change_uid_or_deletion_fields(apiserver: RunningServer, http: aiohttp.ClientSession,
                                                            stored: dict[str, Any]) -> None:
    """BeforeUpdate keeps only creationTimestamp and generation: a patched uid or deletion field is immutable."""
    async with await guarded(apiserver, http, WEB1):
        for meta, field, shown in (({"uid": "x"}, "uid", '"x"'),
                                   ({"deletionGracePeriodSeconds": 7}, "deletionGracePeriodSeconds", "7"),
                                   ({"deletionTimestamp": "2020-01-01T00:00:00Z"}, "deletionTimestamp",
                                    "2020-01-01 00:00:00 +0000 UTC")):
            reply = await call(http, "PATCH", WEB1, {"metadata": meta}, content_type="application/merge-patch+json")
            detail = f"Invalid value: {shown}: field is immutable"
            assert_status(reply, 422, "Invalid", f'EndpointSlice.{GROUP} "web-1" is invalid: metadata.{field}: {detail}',
                          {"name": "web-1", "group": GROUP, "kind": "EndpointSlice", "causes": [
                              {"reason": "FieldValueInvalid", "message": detail, "field": f"metadata.{field}"}]})
    reply = await call(http, "PATCH", WEB1, {"metadata": {"creationTimestamp": "2020-01-01T00:00:00Z", "generation": 7}},
                       content_type="application/merge-patch+json")
    assert reply.status == 200 and reply.json()["metadata"]["generation"] == 1, reply.body
    assert reply.json()["metadata"]["creationTimestamp"] == stored["metadata"]["creationTimestamp"]


async def test_empty_metadata_collections_are_dropped(http: aiohttp.ClientSession, stored: dict[str, Any]) -> None:
    """Go's omitempty: adding `labels: {}` to an object without labels changes nothing (no write)."""
    body = slice_body("bare")
    del body["metadata"]["labels"]
    created = await create(http, body)
    reply = await call(http, "PATCH", f"{ES}/bare", [{"op": "add", "path": "/metadata/labels", "value": {}}],
                       content_type="application/json-patch+json")
    assert reply.status == 200 and reply.json()["metadata"] == created["metadata"], reply.body


async def test_exact_list_at_a_future_revision(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    current = await revision(apiserver)
    async with Guard(apiserver, http):
        reply = await call(http, "GET", ES, params={"resourceVersion": str(current + 100),
                                                   "resourceVersionMatch": "Exact"})
        assert_status(reply, 500, "", "etcdserver: mvcc: required revision is a future revision")


async def test_service_cluster_ip_changed_alone(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    """An old client's PUT changing clusterIP only: clusterIPs follows it, then may not change (quoted as Go)."""
    path = "/api/v1/namespaces/default/services"
    created = await create(http, {"metadata": {"name": "svc"}, "spec": {"ports": [{"port": 80}]}}, path)
    async with Guard(apiserver, http):
        body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"},
                "spec": {"clusterIP": "None", "ports": [{"port": 80}]}}
        reply = await call(http, "PUT", f"{path}/svc", body)
        detail = 'Invalid value: []string{"None"}: may not change once set'
        assert_status(reply, 422, "Invalid", f'Service "svc" is invalid: spec.clusterIPs[0]: {detail}',
                      {"name": "svc", "kind": "Service",
                       "causes": [{"reason": "FieldValueInvalid", "message": detail, "field": "spec.clusterIPs[0]"}]})
    assert created["spec"]["clusterIPs"] != ["None"]


SVC = "/api/v1/namespaces/default/services"


def allocation_error(name: str, field: str, detail: str) -> tuple[str, dict[str, Any]]:
    """The 422 of a failed allocation: (message, details)."""
    return (f'Service "{name}" is invalid: {field}: {detail}',
            {"name": name, "kind": "Service", "causes": [{"reason": "FieldValueInvalid", "message": detail,
                                                          "field": field}]})


async def test_kubernetes_service_holds_the_first_ip(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    """The bootstrap creates default/kubernetes (first IP of 10.0.0.0/24, 443 `https` to our port) as
    kube-apiserver's controller does; a Service asking for its IP gets upstream's 422 and nothing is written."""
    kubernetes = (await call(http, "GET", f"{SVC}/kubernetes")).json()
    assert kubernetes["metadata"]["labels"] == {"component": "apiserver", "provider": "kubernetes"}
    assert kubernetes["metadata"]["managedFields"][0]["manager"] == "kube-apiserver-v1.32.13"
    assert kubernetes["spec"]["clusterIPs"] == ["10.0.0.1"] and kubernetes["spec"]["ipFamilies"] == ["IPv4"]
    assert kubernetes["spec"]["ports"] == [{"name": "https", "protocol": "TCP", "port": 443,
                                            "targetPort": apiserver.config.port}]
    async with Guard(apiserver, http):
        out_of_range = "the provided IP ({}) is not in the valid range. The range of valid IPs is 10.0.0.0/24"
        for ip, why in (("10.0.0.1", "provided IP is already allocated"),
                        ("10.1.0.5", out_of_range.format("10.1.0.5")), ("10.0.0.255", out_of_range.format("10.0.0.255"))):
            reply = await call(http, "POST", SVC, {"metadata": {"name": "svc2"},
                                                   "spec": {"clusterIP": ip, "ports": [{"port": 80}]}})
            detail = f'Invalid value: []string{{"{ip}"}}: failed to allocate IP {ip}: {why}'
            assert_status(reply, 422, "Invalid", *allocation_error("svc2", "spec.clusterIPs", detail))


async def test_cluster_ips_are_unique_and_released(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    """Allocated IPs are never handed out twice; a deletion or a change to ExternalName frees the IP, and a
    dry run claims nothing."""
    ips = [(await create(http, {"metadata": {"name": f"s{i}"}, "spec": {"ports": [{"port": 80}]}}, SVC))
           ["spec"]["clusterIP"] for i in range(20)]
    assert len(set(ips)) == 20 and "10.0.0.1" not in ips
    asked = {"metadata": {"name": "asked"}, "spec": {"clusterIP": "10.0.0.9", "ports": [{"port": 80}]}}
    reply = await call(http, "POST", SVC, asked, params={"dryRun": "All"})
    assert reply.status == 201 and reply.json()["spec"]["clusterIP"] == "10.0.0.9"
    first = await create(http, copy.deepcopy(asked), SVC)
    assert first["spec"]["clusterIPs"] == ["10.0.0.9"]
    reply = await call(http, "POST", SVC, {**copy.deepcopy(asked), "metadata": {"name": "again"}})
    assert reply.status == 422 and "provided IP is already allocated" in reply.json()["message"]
    assert (await call(http, "DELETE", f"{SVC}/asked")).status == 200
    assert (await create(http, {**copy.deepcopy(asked), "metadata": {"name": "again"}}, SVC))["spec"]["clusterIP"] \
        == "10.0.0.9"
    renamed = (await call(http, "GET", f"{SVC}/again")).json()
    renamed["spec"] = {"type": "ExternalName", "externalName": "example.com", "ports": [{"port": 80}]}
    reply = await call(http, "PUT", f"{SVC}/again", renamed)
    assert reply.status == 200 and "clusterIP" not in reply.json()["spec"], reply.body
    assert (await create(http, copy.deepcopy(asked), SVC))["spec"]["clusterIP"] == "10.0.0.9"


async def test_node_ports_allocated_on_create_and_type_change(apiserver: RunningServer,
                                                              http: aiohttp.ClientSession) -> None:
    """NodePort Services get node ports (asked ones if free and in range); a change to ClusterIP frees them and a
    change to NodePort allocates them, as kube-apiserver does."""
    web = await create(http, {"metadata": {"name": "web"}, "spec": {"type": "NodePort", "ports": [
        {"name": "a", "port": 80}, {"name": "b", "port": 81, "nodePort": 30080}]}}, SVC)
    auto, asked = (p["nodePort"] for p in web["spec"]["ports"])
    assert asked == 30080 and 30000 <= auto <= 32767 and auto != asked
    for port, why in ((30080, "provided port is already allocated"),
                      (20000, "provided port is not in the valid range. The range of valid ports is 30000-32767")):
        reply = await call(http, "POST", SVC, {"metadata": {"name": "np"}, "spec": {
            "clusterIP": "10.0.0.7", "type": "NodePort", "ports": [{"port": 80, "nodePort": port}]}})
        assert_status(reply, 422, "Invalid", *allocation_error("np", "spec.ports[0].nodePort",
                                                                f"Invalid value: {port}: {why}"))
    # the IP claimed before the node port failed was given back
    await create(http, {"metadata": {"name": "ip7"}, "spec": {"clusterIP": "10.0.0.7", "ports": [{"port": 80}]}}, SVC)
    web["spec"]["type"] = "ClusterIP"  # a GET-modify-PUT keeping the node ports: they are wiped and freed
    reply = await call(http, "PUT", f"{SVC}/web", web)
    assert reply.status == 200, reply.body
    assert [p.get("nodePort") for p in reply.json()["spec"]["ports"]] == [None, None]
    assert "externalTrafficPolicy" not in reply.json()["spec"]
    other = await create(http, {"metadata": {"name": "other"}, "spec": {"type": "NodePort", "ports": [
        {"port": 80, "nodePort": 30080}]}}, SVC)
    assert other["spec"]["ports"][0]["nodePort"] == 30080
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"type": "NodePort", "ports": [{"name": "a", "port": 80}]}}
    reply = await call(http, "PUT", f"{SVC}/web", body)
    assert reply.status == 200, reply.body
    (port,) = reply.json()["spec"]["ports"]
    assert 30000 <= port["nodePort"] <= 32767 and port["nodePort"] != 30080
    reply = await call(http, "PUT", f"{SVC}/web", body)  # the same PUT again keeps the allocated port
    assert reply.json()["spec"]["ports"][0]["nodePort"] == port["nodePort"]


async def test_load_balancers_allocate_node_ports_unless_told_not_to(http: aiohttp.ClientSession) -> None:
    """`allocateLoadBalancerNodePorts` defaults to true on LoadBalancers, and a change to ClusterIP drops it."""
    lb = await create(http, {"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}}, SVC)
    assert lb["spec"]["allocateLoadBalancerNodePorts"] is True and lb["spec"]["ports"][0]["nodePort"]
    bare = await create(http, {"metadata": {"name": "bare"}, "spec": {
        "type": "LoadBalancer", "allocateLoadBalancerNodePorts": False, "ports": [{"port": 80}]}}, SVC)
    assert "nodePort" not in bare["spec"]["ports"][0]
    lb["spec"]["type"] = "ClusterIP"
    reply = await call(http, "PUT", f"{SVC}/lb", lb)
    assert reply.status == 200, reply.body
    assert "allocateLoadBalancerNodePorts" not in reply.json()["spec"] and "nodePort" not in reply.json()["spec"]["ports"][0]


async def test_full_ranges_are_internal_errors() -> None:
    """The flags size the ranges; a full one is upstream's 500 (the Services created after it still fit)."""
    args = parser().parse_args(["--service-cluster-ip-range", "10.0.0.0/29", "--service-node-port-range", "30000-30001"])
    with run_server(config_from(args)) as server:
        async with aiohttp.ClientSession(server.url) as session:
            answers = [await call(session, "POST", SVC, {"metadata": {"name": f"s{i}"}, "spec": {
                "type": "NodePort" if i < 3 else "ClusterIP", "ports": [{"port": 80}]}}) for i in range(8)]
            kubernetes = (await call(session, "GET", f"{SVC}/kubernetes")).json()
    assert [a.status for a in answers] == [201, 201, 500, 201, 201, 201, 500, 500]
    assert sorted(p["nodePort"] for a in answers[:2] for p in a.json()["spec"]["ports"]) == [30000, 30001]
    assert kubernetes["spec"]["clusterIP"] == "10.0.0.1"
    assert sorted(a.json()["spec"]["clusterIP"] for a in answers if a.status == 201) == [f"10.0.0.{n}" for n in range(2, 7)]
    for answer, what in ((answers[2], "nodePort"), (answers[6], "serviceIP")):
        message = f"failed to allocate a {what}: range is full"
        assert_status(answer, 500, "InternalError", f"Internal error occurred: {message}", {"causes": [{"message": message}]})


async def test_node_ports_of_another_range_survive_updates() -> None:
    """With --service-node-port-range the range is the allocator's alone: an update keeping its ports is valid, a
    port added outside the range gets the allocator's 422."""
    args = parser().parse_args(["--service-node-port-range", "40000-40010"])
    with run_server(config_from(args)) as server:
        async with aiohttp.ClientSession(server.url) as session:
            created = (await call(session, "POST", SVC, {"metadata": {"name": "np"}, "spec": {
                "type": "NodePort", "ports": [{"port": 80}]}})).json()
            assert 40000 <= created["spec"]["ports"][0]["nodePort"] <= 40010
            created["metadata"]["labels"] = {"a": "b"}
            updated = await call(session, "PUT", f"{SVC}/np", created)
            assert updated.status == 200, updated.json()
            changed = updated.json()
            changed["spec"]["ports"][0]["name"] = "a"
            changed["spec"]["ports"].append({"name": "b", "port": 81, "nodePort": 30000})
            refused = await call(session, "PUT", f"{SVC}/np", changed)
    assert refused.status == 422
    assert "provided port is not in the valid range. The range of valid ports is 40000-40010" in refused.json()["message"]


async def test_already_exists(apiserver: RunningServer, http: aiohttp.ClientSession, stored: dict[str, Any]) -> None:
    async with await guarded(apiserver, http, WEB1):
        body = slice_body(endpoints=[{"addresses": ["10.0.0.99"]}])
        assert_status(await call(http, "POST", ES, body), 409, "AlreadyExists",
                      'endpointslices.discovery.k8s.io "web-1" already exists', res_details("web-1"))


async def test_already_exists_core(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    await create(http, endpoints_body(), EP)
    async with await guarded(apiserver, http, f"{EP}/web"):
        reply = await call(http, "POST", EP, endpoints_body())
        assert_status(reply, 409, "AlreadyExists", 'endpoints "web" already exists', {"name": "web", "kind": "endpoints"})


async def test_update_with_stale_resource_version(apiserver: RunningServer, http: aiohttp.ClientSession,
                                                  stored: dict[str, Any]) -> None:
    stale = copy.deepcopy(stored)
    changed = copy.deepcopy(stored)
    changed["metadata"]["labels"]["v"] = "2"
    reply = await call(http, "PUT", WEB1, changed)
    assert reply.status == 200
    async with await guarded(apiserver, http, WEB1):
        stale["metadata"]["labels"]["v"] = "3"
        assert_status(await call(http, "PUT", WEB1, stale), 409, "Conflict",
                      'Operation cannot be fulfilled on endpointslices.discovery.k8s.io "web-1": the object has been '
                      "modified; please apply your changes to the latest version and try again", res_details("web-1"))
        # a merge patch carrying the stale resourceVersion is a conditional update too
        patch = {"metadata": {"resourceVersion": stored["metadata"]["resourceVersion"], "labels": {"v": "4"}}}
        reply = await call(http, "PATCH", WEB1, patch, content_type="application/merge-patch+json")
        assert_status(reply, 409, "Conflict",
                      'Operation cannot be fulfilled on endpointslices.discovery.k8s.io "web-1": the object has been '
                      "modified; please apply your changes to the latest version and try again", res_details("web-1"))


async def test_delete_with_stale_precondition(apiserver: RunningServer, http: aiohttp.ClientSession,
                                              stored: dict[str, Any]) -> None:
    old_rv = stored["metadata"]["resourceVersion"]
    changed = copy.deepcopy(stored)
    changed["metadata"]["labels"]["v"] = "2"
    current = (await call(http, "PUT", WEB1, changed)).json()
    new_rv = current["metadata"]["resourceVersion"]
    async with await guarded(apiserver, http, WEB1):
        options = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"resourceVersion": old_rv}}
        assert_status(await call(http, "DELETE", WEB1, options), 409, "Conflict",
                      f'Operation cannot be fulfilled on EndpointSlice.discovery.k8s.io "web-1": the ResourceVersion '
                      f"in the precondition ({old_rv}) does not match the ResourceVersion in record ({new_rv}). The "
                      "object might have been modified", res_details("web-1", kind="EndpointSlice"))
        uid = stored["metadata"]["uid"]
        options = {"preconditions": {"uid": "00000000-0000-4000-8000-000000000000"}}
        assert_status(await call(http, "DELETE", WEB1, options), 409, "Conflict",
                      'Operation cannot be fulfilled on EndpointSlice.discovery.k8s.io "web-1": the UID in the '
                      f"precondition (00000000-0000-4000-8000-000000000000) does not match the UID in record ({uid}). "
                      "The object might have been deleted and then recreated",
                      res_details("web-1", kind="EndpointSlice"))
    reply = await call(http, "DELETE", WEB1, {"preconditions": {"resourceVersion": new_rv, "uid": uid}})
    assert reply.status == 200 and reply.json()["status"] == "Success"


async def test_server_side_apply_conflict(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    apply = "application/apply-patch+yaml"
    config = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "ssa"},
              "addressType": "IPv4"}
    reply = await call(http, "PATCH", f"{ES}/ssa", config, content_type=apply, params={"fieldManager": "first"})
    assert reply.status == 201, reply.body
    async with await guarded(apiserver, http, f"{ES}/ssa"):
        config["addressType"] = "IPv6"
        reply = await call(http, "PATCH", f"{ES}/ssa", config, content_type=apply, params={"fieldManager": "second"})
        assert_status(reply, 409, "Conflict",
                      'Apply failed with 1 conflict: conflict with "first": .addressType',
                      {"causes": [{"reason": "FieldManagerConflict", "message": 'conflict with "first"',
                                   "field": ".addressType"}]})


async def test_server_side_apply_conflict_with_update_manager(apiserver: RunningServer,
                                                              http: aiohttp.ClientSession) -> None:
    """An Update manager is printed with its apiVersion (upstream printManager), an Apply manager without."""
    reply = await call(http, "POST", ES, slice_body("csa"), params={"fieldManager": "kubectl-client-side-apply"})
    assert reply.status == 201, reply.body
    async with await guarded(apiserver, http, f"{ES}/csa"):
        config = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "csa"},
                  "addressType": "IPv6"}
        reply = await call(http, "PATCH", f"{ES}/csa", config, content_type="application/apply-patch+yaml",
                           params={"fieldManager": "kubectl"})
        assert_status(reply, 409, "Conflict",
                      'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using '
                      "discovery.k8s.io/v1: .addressType",
                      {"causes": [{"reason": "FieldManagerConflict",
                                   "message": 'conflict with "kubectl-client-side-apply" using discovery.k8s.io/v1',
                                   "field": ".addressType"}]})


# --- 410 Expired -----------------------------------------------------------------------------------


def decode_token(token: str) -> dict[str, Any]:
    """A continue token's JSON (base64url without padding)."""
    import base64

    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    return decoded


async def test_list_with_expired_continue_token(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    for i in range(3):
        await create(http, slice_body(f"s-{i}"))
    first = (await call(http, "GET", ES, params={"limit": "1"})).json()
    token = first["metadata"]["continue"]
    assert decode_token(token)["start"] == "s-0\x00"
    await create(http, slice_body("s-3"))  # move on, then forget the token's revision
    await compact(apiserver, await revision(apiserver))
    async with await guarded(apiserver, http, f"{ES}/s-1"):
        reply = await call(http, "GET", ES, params={"limit": "1", "continue": token})
        got = assert_status(
            reply, 410, "Expired",
            "The provided continue parameter is too old to display a consistent list result. You can start a new "
            "list without the continue parameter, or use the continue token in this response to retrieve the "
            "remainder of the results. Continuing with the provided token results in an inconsistent list - objects "
            "that were created, modified, or deleted between the time the first chunk was returned and now may show "
            "up in the list.", continue_token=reply.json()["metadata"].get("continue", "missing"))
    fresh = got["metadata"]["continue"]
    assert decode_token(fresh) == {"v": "meta.k8s.io/v1", "rv": -1, "start": "s-0\x00"}
    # the new token continues at the latest revision
    rest = (await call(http, "GET", ES, params={"continue": fresh})).json()
    assert [o["metadata"]["name"] for o in rest["items"]] == ["s-1", "s-2", "s-3"]


async def test_list_at_compacted_resource_version(apiserver: RunningServer, http: aiohttp.ClientSession,
                                                  stored: dict[str, Any]) -> None:
    old = stored["metadata"]["resourceVersion"]
    await create(http, slice_body("web-2"))
    await compact(apiserver, await revision(apiserver))
    async with await guarded(apiserver, http, WEB1):
        for params in ({"resourceVersion": old, "resourceVersionMatch": "Exact"},
                       {"resourceVersion": old, "limit": "10"}):
            reply = await call(http, "GET", ES, params=params)
            assert_status(reply, 410, "Expired", "The resourceVersion for the provided list is too old.")
    # NotOlderThan an old revision is still fine (served from the cache)
    reply = await call(http, "GET", ES, params={"resourceVersion": old, "resourceVersionMatch": "NotOlderThan"})
    assert reply.status == 200 and len(reply.json()["items"]) == 2


async def read_watch(http: aiohttp.ClientSession, path: str, params: dict[str, str]) -> tuple[int, list[Any]]:
    """A whole (short) watch stream: HTTP status and the events."""
    async with http.get(path, params=params) as resp:
        body = await asyncio.wait_for(resp.read(), 10)
    return resp.status, [json.loads(line) for line in body.splitlines() if line.strip()]


async def test_watch_from_too_old_resource_version(apiserver: RunningServer, http: aiohttp.ClientSession,
                                                   stored: dict[str, Any]) -> None:
    async with await guarded(apiserver, http, WEB1):
        code, events = await read_watch(http, ES, {"watch": "true", "resourceVersion": "1", "timeoutSeconds": "5"})
    assert code == 200
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    error = events[0]["object"]
    assert list(error) == ["kind", "apiVersion", "metadata", "status", "message", "reason", "code"]
    assert error["kind"] == "Status" and error["apiVersion"] == "v1" and error["metadata"] == {}
    assert error["status"] == "Failure" and error["reason"] == "Expired" and error["code"] == 410
    assert error["message"].startswith("too old resource version: 1 (")


@pytest.mark.parametrize("apiserver_config", [Config(compaction_interval=0, watch_cache_min_size=4, watch_cache_max_size=4)])
async def test_watch_older_than_the_cache_window(apiserver: RunningServer, http: aiohttp.ClientSession,
                                                 stored: dict[str, Any]) -> None:
    rv = int(stored["metadata"]["resourceVersion"])
    for i in range(6):
        await create(http, slice_body(f"more-{i}"))
    code, events = await read_watch(http, ES, {"watch": "true", "resourceVersion": str(rv), "timeoutSeconds": "5"})
    assert code == 200 and [e["type"] for e in events] == ["ERROR"]
    assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"
    assert events[0]["object"]["message"].startswith(f"too old resource version: {rv} (")
    await assert_serving(http)


# --- 413 RequestEntityTooLarge ---------------------------------------------------------------------


async def test_body_over_3_mib(apiserver: RunningServer, http: aiohttp.ClientSession, stored: dict[str, Any]) -> None:
    big = slice_body("huge")
    big["metadata"]["annotations"] = {"x": "a" * (3 * 1024 * 1024)}
    data = json.dumps(big)
    message = "Request entity too large: limit is 3145728"
    async with await guarded(apiserver, http, WEB1):
        assert_status(await call(http, "POST", ES, data=data), 413, "RequestEntityTooLarge", message)
        body = copy.deepcopy(stored)
        body["metadata"]["annotations"] = big["metadata"]["annotations"]
        assert_status(await call(http, "PUT", WEB1, body), 413, "RequestEntityTooLarge", message)
        patch = json.dumps({"metadata": big["metadata"]})
        assert_status(await call(http, "PATCH", WEB1, data=patch, content_type="application/merge-patch+json"),
                      413, "RequestEntityTooLarge", message)

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit holds while reading
            for i in range(0, len(data), 65536):
                yield data[i:i + 65536].encode()

        async with http.post(ES, data=chunks(), headers={"Content-Type": "application/json"}) as resp:
            reply = Reply(resp.status, resp.headers, await resp.read())
        assert_status(reply, 413, "RequestEntityTooLarge", message)
    assert (await call(http, "GET", f"{ES}/huge")).status == 404


async def test_json_patch_over_10000_operations(apiserver: RunningServer, http: aiohttp.ClientSession,
                                                stored: dict[str, Any]) -> None:
    ops = [{"op": "test", "path": "/addressType", "value": "IPv4"}] * 10001
    async with await guarded(apiserver, http, WEB1):
        reply = await call(http, "PATCH", WEB1, ops, content_type="application/json-patch+json")
        assert_status(reply, 413, "RequestEntityTooLarge",
                      "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001")
    reply = await call(http, "PATCH", WEB1, ops[:10000], content_type="application/json-patch+json")
    assert reply.status == 200, reply.body


# --- 415 UnsupportedMediaType ----------------------------------------------------------------------


async def test_protobuf_body(apiserver: RunningServer, http: aiohttp.ClientSession, stored: dict[str, Any]) -> None:
    """Protobuf bodies are decoded: a truncated one, or one of another kind, gets kube-apiserver's 400."""
    message = f"the body of the request was in an unknown format - accepted media types include: {ACCEPTED}"
    truncated = b"k8s\x00\n\x0b\n\x15discovery.k8s.io/v1\x12\rEndpointSlice"
    namespace = envelope.encode({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}})
    async with await guarded(apiserver, http, WEB1):
        for method, path in (("POST", ES), ("PUT", WEB1)):
            assert_status(await call(http, method, path, data=truncated, content_type=envelope.MEDIA_TYPE), 400,
                          "BadRequest", "the object provided is unrecognized (must be of type EndpointSlice): "
                          "unexpected EOF (6b3873000a0b0a15646973636f766572792e6b38732e696f2f7631120d45 ...)")
            assert_status(await call(http, method, path, data=namespace, content_type=envelope.MEDIA_TYPE), 400,
                          "BadRequest", 'Namespace in version "v1" cannot be handled as a EndpointSlice: converting '
                          "(v1.Namespace) to (discovery.EndpointSlice): unknown conversion")
        assert_status(await call(http, "POST", ES, data="<xml/>", content_type="application/xml"),
                      415, "UnsupportedMediaType", message)


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "application/vnd.kubernetes.protobuf",
                                          "application/apply-patch+cbor"])
async def test_unknown_patch_content_type(apiserver: RunningServer, http: aiohttp.ClientSession,
                                          stored: dict[str, Any], content_type: str) -> None:
    async with await guarded(apiserver, http, WEB1):
        reply = await call(http, "PATCH", WEB1, {"metadata": {"labels": {"a": "b"}}}, content_type=content_type,
                           headers={"Accept": "text/html"})  # the route checks the patch type first
        assert_status(reply, 415, "UnsupportedMediaType", "415: Unsupported Media Type", {})


# --- 422 Invalid -----------------------------------------------------------------------------------


async def test_reference_invalid_example(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    """§2.5 byte for byte, except for the order of the causes: 1.32 validates endpoints before ports (the
    reference shows a newer release's order)."""
    body = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "web-1"},
            "addressType": "IPv4", "endpoints": [{"addresses": []}, {"addresses": ["127.0.0.1"]}],
            "ports": [{"name": "http", "port": 80}, {"name": "http", "port": 81}]}
    expected = (
        '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"EndpointSlice.discovery.k8s.io '
        '\\"web-1\\" is invalid: [endpoints[0].addresses: Required value: must contain at least 1 address, '
        'endpoints[1].addresses[0]: Invalid value: \\"127.0.0.1\\": may not be in the loopback range (127.0.0.0/8, '
        '::1/128), ports[1].name: Duplicate value: \\"http\\"]","reason":"Invalid","details":{"name":"web-1","group":'
        '"discovery.k8s.io","kind":"EndpointSlice","causes":[{"reason":"FieldValueRequired","message":"Required value: '
        'must contain at least 1 address","field":"endpoints[0].addresses"},{"reason":"FieldValueInvalid","message":'
        '"Invalid value: \\"127.0.0.1\\": may not be in the loopback range (127.0.0.0/8, ::1/128)","field":'
        '"endpoints[1].addresses[0]"},{"reason":"FieldValueDuplicate","message":"Duplicate value: \\"http\\"",'
        '"field":"ports[1].name"}]},"code":422}')
    async with Guard(apiserver, http):
        reply = await call(http, "POST", ES, body)
        assert reply.status == 422
        assert reply.headers["Content-Type"].split(";")[0] == "application/json"
        assert reply.body == expected.encode()
    assert (await call(http, "GET", WEB1)).status == 404


def invalid(name: str, kind: str, group: str, causes: list[tuple[str, str, str]]) -> dict[str, Any]:
    """assert_status keyword arguments for a 422 with these (reason, field, message) causes."""
    texts = [f"{field}: {message}" for _, field, message in causes]
    agg = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    qualified = f"{kind}.{group}" if group else kind
    details: dict[str, Any] = {"name": name}
    if group:
        details["group"] = group
    details["kind"] = kind
    details["causes"] = [{"reason": r, "message": m, "field": f} for r, f, m in causes]
    return {"code": 422, "reason": "Invalid", "message": f'{qualified} "{name}" is invalid: {agg}', "details": details}


async def test_address_type_is_immutable(apiserver: RunningServer, http: aiohttp.ClientSession,
                                         stored: dict[str, Any]) -> None:
    expected = invalid("web-1", "EndpointSlice", GROUP,
                       [("FieldValueInvalid", "addressType", 'Invalid value: "IPv6": field is immutable')])
    async with await guarded(apiserver, http, WEB1):
        body = copy.deepcopy(stored)
        body["addressType"] = "IPv6"
        body["endpoints"] = [{"addresses": ["2001:db8::1"]}]
        assert_status(await call(http, "PUT", WEB1, body), **expected)
        patch = {"addressType": "IPv6", "endpoints": [{"addresses": ["2001:db8::1"]}]}
        assert_status(await call(http, "PATCH", WEB1, patch, content_type="application/merge-patch+json"), **expected)


async def test_too_many_endpoints(apiserver: RunningServer, http: aiohttp.ClientSession,
                                  stored: dict[str, Any]) -> None:
    endpoints = [{"addresses": [f"10.1.{i // 250}.{i % 250 + 1}"]} for i in range(1001)]
    expected = invalid("web-2", "EndpointSlice", GROUP,
                       [("FieldValueTooMany", "endpoints", "Too many: 1001: must have at most 1000 items")])
    async with await guarded(apiserver, http, WEB1):
        assert_status(await call(http, "POST", ES, slice_body("web-2", endpoints=endpoints)), **expected)
        body = copy.deepcopy(stored)
        body["endpoints"] = endpoints
        expected = invalid("web-1", "EndpointSlice", GROUP,
                           [("FieldValueTooMany", "endpoints", "Too many: 1001: must have at most 1000 items")])
        assert_status(await call(http, "PUT", WEB1, body), **expected)
    reply = await call(http, "POST", ES, slice_body("web-3", endpoints=endpoints[:1000]))
    assert reply.status == 201, reply.body


async def test_endpoints_validation(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    body = endpoints_body(subsets=[{"ports": [{"port": 80}]},
                                   {"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 0}]}])
    expected = invalid("web", "Endpoints", "", [
        ("FieldValueRequired", "subsets[0]", "Required value: must specify `addresses` or `notReadyAddresses`"),
        ("FieldValueInvalid", "subsets[1].ports[0].port", "Invalid value: 0: must be between 1 and 65535, inclusive"),
    ])
    async with Guard(apiserver, http):
        reply = await call(http, "POST", EP, body)
        assert_status(reply, **expected)
        assert "Warning" not in reply.headers  # v1.32 does not deprecate Endpoints
        reply = await call(http, "PUT", f"{EP}/web", body)  # create-on-update validates too
        assert_status(reply, **expected)


async def test_service_validation(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"ports": [{"name": "http", "port": 0}]}}
    before = await revision(apiserver)
    reply = await call(http, "POST", "/api/v1/namespaces/default/services", body)
    assert_status(reply, **invalid("web", "Service", "", [  # targetPort defaults to port, so it fails too
        ("FieldValueInvalid", "spec.ports[0].port", "Invalid value: 0: must be between 1 and 65535, inclusive"),
        ("FieldValueInvalid", "spec.ports[0].targetPort",
         "Invalid value: 0: must be between 1 and 65535, inclusive")]))
    # as kube-apiserver: the cluster IP is allocated before validation and released after it (two writes)
    assert await revision(apiserver) == before + 2
    assert (await call(http, "GET", "/api/v1/namespaces/default/services/web")).status == 404


async def test_pod_validation(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": []}}
    async with Guard(apiserver, http):
        reply = await call(http, "POST", "/api/v1/namespaces/default/pods", body)
        assert_status(reply, **invalid("p", "Pod", "", [("FieldValueRequired", "spec.containers", "Required value")]))


async def test_namespace_validation(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    label = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
             "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
    async with Guard(apiserver, http):
        reply = await call(http, "POST", "/api/v1/namespaces", {"metadata": {"name": "Bad_NS"}})
        assert_status(reply, **invalid("Bad_NS", "Namespace", "", [
            ("FieldValueInvalid", "metadata.name", f'Invalid value: "Bad_NS": {label}')]))


def options_invalid(what: str, causes: list[tuple[str, str, str]]) -> dict[str, Any]:
    texts = [f"{field}: {message}" for _, field, message in causes]
    agg = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return {"code": 422, "reason": "Invalid", "message": f'{what}.meta.k8s.io "" is invalid: {agg}',
            "details": {"group": "meta.k8s.io", "kind": what,
                        "causes": [{"reason": r, "message": m, "field": f} for r, f, m in causes]}}


@pytest.mark.parametrize("params,causes", [
    ({"resourceVersionMatch": "NotOlderThan"},
     [("FieldValueForbidden", "resourceVersionMatch",
       "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided")]),
    ({"resourceVersionMatch": "Exact"},
     [("FieldValueForbidden", "resourceVersionMatch",
       "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided")]),
    ({"resourceVersion": "0", "resourceVersionMatch": "Exact"},
     [("FieldValueForbidden", "resourceVersionMatch",
       'Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"')]),
    ({"resourceVersion": "5", "resourceVersionMatch": "Newest"},
     [("FieldValueNotSupported", "resourceVersionMatch",
       'Unsupported value: "Newest": supported values: "Exact", "NotOlderThan", ""')]),
    ({"sendInitialEvents": "true"},
     [("FieldValueForbidden", "sendInitialEvents", "Forbidden: sendInitialEvents is forbidden for list")]),
    ({"watch": "1", "resourceVersionMatch": "Exact", "sendInitialEvents": "true"},
     [("FieldValueForbidden", "resourceVersionMatch",
       "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"),
      ("FieldValueNotSupported", "resourceVersionMatch", 'Unsupported value: "Exact": supported values: "NotOlderThan"')]),
])
async def test_bad_list_options(apiserver: RunningServer, http: aiohttp.ClientSession, params: dict[str, str],
                                causes: list[tuple[str, str, str]]) -> None:
    async with Guard(apiserver, http):
        assert_status(await call(http, "GET", ES, params=params), **options_invalid("ListOptions", causes))


async def test_list_options_with_continue(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    for i in range(2):
        await create(http, slice_body(f"s-{i}"))
    token = (await call(http, "GET", ES, params={"limit": "1"})).json()["metadata"]["continue"]
    async with Guard(apiserver, http):
        reply = await call(http, "GET", ES, params={"continue": token, "resourceVersionMatch": "NotOlderThan"})
        assert_status(reply, **options_invalid("ListOptions", [
            ("FieldValueForbidden", "resourceVersionMatch",
             "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"),
            ("FieldValueForbidden", "resourceVersionMatch",
             "Forbidden: resourceVersionMatch is forbidden when continue is provided")]))


async def test_apply_without_field_manager(apiserver: RunningServer, http: aiohttp.ClientSession,
                                           stored: dict[str, Any]) -> None:
    async with await guarded(apiserver, http, WEB1):
        reply = await call(http, "PATCH", WEB1, {"metadata": {"labels": {"a": "b"}}},
                           content_type="application/apply-patch+yaml")
        assert_status(reply, **options_invalid("PatchOptions", [
            ("FieldValueRequired", "fieldManager", "Required value: is required for apply patch")]))
    assert (await call(http, "GET", f"{ES}/fresh")).status == 404


@pytest.mark.parametrize(("content_type", "data", "message"), [
    ("application/merge-patch+json", "", "error decoding patch: unexpected end of JSON input"),
    ("application/merge-patch+json", "[1]",
     "error decoding patch: json: cannot unmarshal array into Go value of type map[string]interface {}"),
    ("application/json-patch+json", '{"op": "add"}',
     "error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp"),
    ("application/strategic-merge-patch+json", '"x"',
     "json: cannot unmarshal string into Go value of type map[string]interface {}"),
])
async def test_undecodable_patch(apiserver: RunningServer, http: aiohttp.ClientSession, stored: dict[str, Any],
                                 content_type: str, data: str, message: str) -> None:
    async with await guarded(apiserver, http, WEB1):
        assert_status(await call(http, "PATCH", WEB1, data=data, content_type=content_type), 400, "BadRequest", message)


async def test_patch_strict_errors_are_invalid_patches(apiserver: RunningServer, http: aiohttp.ClientSession,
                                                       stored: dict[str, Any]) -> None:
    """Strict errors of a patch or its result are a 422 on the field `patch`; a strategic patch shows itself (Go %v)."""
    async with await guarded(apiserver, http, WEB1):
        reply = await call(http, "PATCH", WEB1, data='{"metadata":{"labels":{"a":"1","a":"2"}},"nope":1}',
                           content_type="application/strategic-merge-patch+json",
                           params={"fieldValidation": "Strict"})
        detail = ('Invalid value: "map[metadata:map[labels:map[a:2]] nope:1]": strict decoding error: '
                  'duplicate field "metadata.labels.a", unknown field "nope"')
        assert_status(reply, 422, "Invalid", f' "" is invalid: patch: {detail}',
                      {"causes": [{"reason": "FieldValueInvalid", "message": detail, "field": "patch"}]})
        reply = await call(http, "PATCH", WEB1, {"nope": 1}, content_type="application/merge-patch+json",
                           params={"fieldValidation": "Strict"})
        got = reply.json()
        assert reply.status == 422 and got["reason"] == "Invalid", got
        assert got["message"].startswith(' "" is invalid: patch: Invalid value: "{\\"addressType\\":\\"IPv4\\",')
        assert got["message"].endswith('": strict decoding error: unknown field "nope"')
        # the containers a patch descends into are marshalled sorted, the rest in the Go structs' field order
        quoted = json.loads(got["message"].split("Invalid value: ", 1)[1].rsplit(": strict decoding", 1)[0])
        assert list(json.loads(quoted)) == sorted(json.loads(quoted))
        assert list(json.loads(quoted)["metadata"])[:3] == ["name", "namespace", "uid"]
        reply = await call(http, "PATCH", WEB1, {"metadata": {"labels": {"b": "2"}}, "nope": 1},
                           content_type="application/merge-patch+json", params={"fieldValidation": "Strict"})
        quoted = json.loads(reply.json()["message"].split("Invalid value: ", 1)[1].rsplit(": strict decoding", 1)[0])
        meta = json.loads(quoted)["metadata"]
        assert list(meta) == sorted(meta) and list(meta["managedFields"][0])[:2] == ["manager", "operation"]


async def test_patched_kind_goes_through_the_codec(apiserver: RunningServer, http: aiohttp.ClientSession,
                                                  stored: dict[str, Any]) -> None:
    """A JSON or merge patch changing kind is refused by the codec (422 on `patch`); a strategic patch ignores it."""
    async with await guarded(apiserver, http, WEB1):
        reply = await call(http, "PATCH", WEB1, [{"op": "replace", "path": "/kind", "value": "Pod"}],
                           content_type="application/json-patch+json")
        got = reply.json()
        assert reply.status == 422 and got["details"]["causes"][0]["field"] == "patch", got
        assert got["message"].endswith('": no kind "Pod" is registered for version "discovery.k8s.io/v1" in scheme '
                                       '"pkg/runtime/scheme.go:100"')
        reply = await call(http, "PATCH", WEB1, {"apiVersion": "v1", "kind": "Pod"},
                           content_type="application/merge-patch+json")
        assert reply.json()["message"].endswith('": converting (v1.Pod) to (discovery.EndpointSlice): unknown '
                                                "conversion")
    reply = await call(http, "PATCH", WEB1, {"kind": "Pod"}, content_type="application/strategic-merge-patch+json")
    assert reply.status == 200 and reply.json()["kind"] == "EndpointSlice", reply.body


async def test_apply_refusals(apiserver: RunningServer, http: aiohttp.ClientSession, stored: dict[str, Any]) -> None:
    """Apply without apiVersion/kind is a 400; unknown fields fail building the typed patch (500), whatever
    fieldValidation says; duplicate YAML keys fail a Strict apply."""
    params = {"fieldManager": "m"}
    async with await guarded(apiserver, http, WEB1):
        reply = await call(http, "PATCH", WEB1, {"kind": "EndpointSlice", "metadata": {"name": "web-1"}},
                           content_type="application/apply-patch+yaml", params=params)
        assert_status(reply, 400, "BadRequest", "invalid object type: /, Kind=EndpointSlice")
        config = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "web-1"},
                  "addressType": "IPv4", "nope": 1, "endpoints": [{"addresses": ["10.0.0.1"], "x": 1}]}
        for validation in ("Ignore", "Strict"):
            reply = await call(http, "PATCH", WEB1, config, content_type="application/apply-patch+yaml",
                               params={**params, "fieldValidation": validation})
            assert_status(reply, 500, "", "failed to create typed patch object (/web-1; discovery.k8s.io/v1, "
                                          "Kind=EndpointSlice): errors:\n  .endpoints[0].x: field not declared in "
                                          "schema\n  .nope: field not declared in schema")
        reply = await call(http, "PATCH", WEB1, data="apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
                           "metadata: {name: web-1}\naddressType: IPv4\naddressType: IPv4\n",
                           content_type="application/apply-patch+yaml", params={**params, "fieldValidation": "Strict"})
        assert_status(reply, 400, "BadRequest", "error strict decoding YAML: error converting YAML to JSON: yaml: "
                                                'unmarshal errors:\n  line 5: key "addressType" already set in map')


async def test_force_on_non_apply_patch(apiserver: RunningServer, http: aiohttp.ClientSession,
                                        stored: dict[str, Any]) -> None:
    async with await guarded(apiserver, http, WEB1):
        reply = await call(http, "PATCH", WEB1, {"metadata": {"labels": {"a": "b"}}},
                           content_type="application/merge-patch+json", params={"force": "true"})
        assert_status(reply, **options_invalid("PatchOptions", [
            ("FieldValueForbidden", "force", "Forbidden: may not be specified for non-apply patch")]))


async def test_failing_json_patch_test_op(apiserver: RunningServer, http: aiohttp.ClientSession,
                                          stored: dict[str, Any]) -> None:
    ops = [{"op": "test", "path": "/addressType", "value": "IPv6"},
           {"op": "replace", "path": "/addressType", "value": "FQDN"}]
    async with await guarded(apiserver, http, WEB1):
        reply = await call(http, "PATCH", WEB1, ops, content_type="application/json-patch+json")
        assert_status(reply, 422, "Invalid", "the server rejected our request due to an error in our request", {})


# --- 500 -------------------------------------------------------------------------------------------


def big_endpoints(name: str, count: int) -> dict[str, Any]:
    """An Endpoints object with `count` addresses, each with a Pod targetRef (about 170 bytes apiece)."""
    addresses = [{"ip": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256 + 0 if i % 256 else 1}",
                  "nodeName": f"node-{i % 500:04d}",
                  "targetRef": {"kind": "Pod", "namespace": "default", "name": f"web-5d9c7b7b4-{i:08d}",
                                "uid": f"00000000-0000-4000-8000-{i:012d}"}} for i in range(count)]
    unique = {a["ip"]: a for a in addresses}
    return endpoints_body(name, subsets=[{"addresses": list(unique.values()), "ports": [{"port": 80}]}])


@pytest.mark.parametrize("apiserver_config", [Config(compaction_interval=0, max_request_bytes=4096)])
async def test_object_over_storage_limit(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    body = big_endpoints("web", 100)
    assert len(json.dumps(body)) > 4096
    existing = await create(http, endpoints_body("small"), EP)
    async with await guarded(apiserver, http, f"{EP}/small"):
        reply = await call(http, "POST", EP, body)
        assert_status(reply, 500, "", "etcdserver: request is too large")
        assert "Warning" not in reply.headers  # v1.32 does not deprecate Endpoints
        grown = copy.deepcopy(existing)
        grown["subsets"] = body["subsets"]
        assert_status(await call(http, "PUT", f"{EP}/small", grown), 500, "", "etcdserver: request is too large")
        assert_status(await call(http, "PUT", f"{EP}/web", body), 500, "", "etcdserver: request is too large")
    for name in ("web",):
        assert (await call(http, "GET", f"{EP}/{name}")).status == 404


async def test_object_over_default_storage_limit(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    """16,000 addresses with targetRefs: under the 3 MiB body limit, over etcd's default 1.5 MiB when stored in
    either media type (protobuf on etcd, JSON in the embedded store)."""
    body = big_endpoints("huge", 16000)
    size = len(json.dumps(body, separators=(",", ":")))
    assert 1_572_864 < size < 3 * 1024 * 1024
    assert len(codec.encode_protobuf({**body, "metadata": {**body["metadata"], "namespace": "default"}})) > 1_572_864
    async with Guard(apiserver, http):
        reply = await call(http, "POST", EP, body)
        assert_status(reply, 500, "", "etcdserver: request is too large")
    assert (await call(http, "GET", f"{EP}/huge")).status == 404
    listed = (await call(http, "GET", EP)).json()
    assert listed["items"] == []


async def test_internal_error_keeps_serving(apiserver: RunningServer, http: aiohttp.ClientSession,
                                            stored: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from apiserver.handlers import rest

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    async with await guarded(apiserver, http, WEB1):
        monkeypatch.setattr(rest, "list_meta", boom)
        reply = await call(http, "GET", ES)
        assert_status(reply, 500, "InternalError", "Internal error occurred: boom", {"causes": [{"message": "boom"}]})
        monkeypatch.undo()


# --- headers: Warning, Retry-After -----------------------------------------------------------------


async def test_no_endpoints_deprecation_in_the_release_we_report(http: aiohttp.ClientSession) -> None:
    """v1.32 sends no warning for Endpoints (the deprecation came with v1.33)."""
    created = await call(http, "POST", EP, endpoints_body())
    assert created.status == 201 and "Warning" not in created.headers
    assert "Warning" not in (await call(http, "GET", EP)).headers


async def test_deprecation_warning_on_every_endpoints_request(http: aiohttp.ClientSession,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Reporting a release that deprecates Endpoints (v1.33+), every Endpoints request carries the warning."""
    from apiserver import discovery

    monkeypatch.setattr(discovery, "GIT_VERSION", "v1.33.0")
    created = await call(http, "POST", EP, endpoints_body())
    requests = [
        created,
        await call(http, "GET", f"{EP}/web"),
        await call(http, "GET", EP),
        await call(http, "GET", "/api/v1/endpoints"),
        await call(http, "PUT", f"{EP}/web", created.json()),
        await call(http, "PATCH", f"{EP}/web", {"metadata": {"labels": {"a": "b"}}},
                   content_type="application/merge-patch+json"),
        await call(http, "GET", EP, params={"watch": "true", "timeoutSeconds": "1"}),
        await call(http, "GET", EP, params={"fieldSelector": "spec.foo=x"}),  # 400
        await call(http, "POST", EP, endpoints_body()),  # 409
        await call(http, "DELETE", f"{EP}/web"),
        await call(http, "DELETE", f"{EP}/web"),  # 404
        await call(http, "DELETE", EP),
    ]
    for index, reply in enumerate(requests):
        assert reply.headers.getall("Warning", []) == [DEPRECATION], (index, reply.body)
    assert [r.status for r in requests] == [201, 200, 200, 200, 200, 200, 200, 400, 409, 200, 404, 200]
    reply = await call(http, "GET", ES)
    assert "Warning" not in reply.headers


async def test_retry_after_when_generate_name_is_exhausted(apiserver: RunningServer, http: aiohttp.ClientSession,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from apiserver import registry

    await create(http, slice_body("web-fixed"))
    monkeypatch.setattr(registry, "generate_name", lambda prefix: prefix + "fixed")
    body = slice_body()
    body["metadata"] = {"generateName": "web-"}
    async with await guarded(apiserver, http, f"{ES}/web-fixed"):
        reply = await call(http, "POST", ES, body)
        assert_status(reply, 409, "AlreadyExists", 'endpointslices.discovery.k8s.io "web-fixed" already exists, the '
                      "server was not able to generate a unique name for the object",
                      res_details("web-fixed", retryAfterSeconds=1))
        assert reply.headers["Retry-After"] == "1"


async def test_retry_after_for_too_large_resource_version(apiserver: RunningServer,
                                                          http: aiohttp.ClientSession) -> None:
    current = await revision(apiserver)
    async with Guard(apiserver, http):
        reply = await call(http, "GET", ES, params={"resourceVersion": str(current + 100),
                                                   "resourceVersionMatch": "NotOlderThan"})
        assert_status(reply, 504, "Timeout", f"Timeout: Too large resource version: {current + 100}, current: {current}",
                      {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                       "retryAfterSeconds": 1})
        assert reply.headers["Retry-After"] == "1"


async def test_no_retry_after_without_retry_after_seconds(http: aiohttp.ClientSession) -> None:
    reply = await call(http, "GET", f"{ES}/missing")
    assert reply.status == 404 and "Retry-After" not in reply.headers
