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
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from apiserver.config import Config
from apiserver.state import STORAGE
from apiserver.testing import RunningServer

ES = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
ES_ALL = "/apis/discovery.k8s.io/v1/endpointslices"
EP = "/api/v1/namespaces/default/endpoints"
GROUP = "discovery.k8s.io"
DEPRECATION = '299 - "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"'
ACCEPTED = "application/json, application/yaml, application/vnd.kubernetes.protobuf"
PATCH_TYPES = ("application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, "
               "application/apply-patch+yaml")
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
    got = reply.json()
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

    async def __aenter__(self) -> Guard:
        self.rev = await revision(self.apiserver)
        return self

    async def watch_object(self, path: str) -> dict[str, Any]:
        reply = await call(self.http, "GET", path)
        assert reply.status == 200, reply.body
        self.objects[path] = reply.json()
        return self.objects[path]

    async def __aexit__(self, *exc: Any) -> None:
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


async def test_unknown_field_strict(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    async with Guard(apiserver, http):
        body = slice_body(bogus=1)
        body["endpoints"][0]["extra"] = True
        reply = await call(http, "POST", ES, body, params={"fieldValidation": "Strict"})
        assert_status(reply, 400, "BadRequest",
                      'strict decoding error: unknown field "endpoints[0].extra", unknown field "bogus"')  # document order
    assert (await call(http, "GET", WEB1)).status == 404


async def test_unknown_field_strict_on_update(apiserver: RunningServer, http: aiohttp.ClientSession,
                                              stored: dict[str, Any]) -> None:
    async with await guarded(apiserver, http, WEB1):
        body = copy.deepcopy(stored)
        body["spec"] = {}
        reply = await call(http, "PUT", WEB1, body, params={"fieldValidation": "Strict"})
        assert_status(reply, 400, "BadRequest", 'strict decoding error: unknown field "spec"')


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


async def test_bad_field_validation_value(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    async with Guard(apiserver, http):
        reply = await call(http, "POST", ES, slice_body(), params={"fieldValidation": "Loud"})
        assert_status(reply, 400, "BadRequest",
                      "fieldValidation parameter unsupported: Loud; valid values are Ignore, Warn, Strict")


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


async def test_non_numeric_resource_version_on_list(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    async with Guard(apiserver, http):
        reply = await call(http, "GET", ES, params={"resourceVersion": "abc"})
        assert_status(reply, 400, "BadRequest",
                      'invalid resource version: resourceVersion: Invalid value: "abc": strconv.ParseUint: '
                      'parsing "abc": invalid syntax')


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
        assert reply.headers.getall("Warning") == [DEPRECATION]


@pytest.mark.parametrize("path", [
    "/apis/discovery.k8s.io/v1/namespaces/default/widgets",
    "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/web-1/status",
    "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/web-1/a/b",
    "/apis/discovery.k8s.io/v2/endpointslices",
    "/apis/nope.example.com/v1/things",
    "/api/v1/namespaces/default/endpointslices",
    "/api/v2/pods",
])
async def test_unknown_resource_path(apiserver: RunningServer, http: aiohttp.ClientSession, path: str) -> None:
    async with Guard(apiserver, http):
        assert_status(await call(http, "GET", path), 404, "NotFound",
                      "the server could not find the requested resource", {})


async def test_create_in_missing_namespace(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    async with Guard(apiserver, http):
        path = "/apis/discovery.k8s.io/v1/namespaces/nope/endpointslices"
        assert_status(await call(http, "POST", path, slice_body()), 404, "NotFound", 'namespaces "nope" not found',
                      {"name": "nope", "kind": "namespaces"})
        reply = await call(http, "POST", "/api/v1/namespaces/nope/endpoints", endpoints_body())
        assert_status(reply, 404, "NotFound", 'namespaces "nope" not found', {"name": "nope", "kind": "namespaces"})
        assert reply.headers.getall("Warning") == [DEPRECATION]


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
])
async def test_method_not_allowed(apiserver: RunningServer, http: aiohttp.ClientSession, stored: dict[str, Any],
                                  method: str, path: str) -> None:
    async with await guarded(apiserver, http, WEB1):
        reply = await call(http, method, path, slice_body())
        assert_status(reply, 405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                      {})


# --- 406 NotAcceptable -----------------------------------------------------------------------------


@pytest.mark.parametrize("accept", ["application/vnd.kubernetes.protobuf", "text/html", "application/xml, image/png",
                                    "application/json;as=Widget;v=v1;g=meta.k8s.io"])
async def test_not_acceptable(apiserver: RunningServer, http: aiohttp.ClientSession, stored: dict[str, Any],
                              accept: str) -> None:
    message = f"only the following media types are accepted: {ACCEPTED}"
    async with await guarded(apiserver, http, WEB1):
        assert_status(await call(http, "GET", WEB1, headers={"Accept": accept}), 406, "NotAcceptable", message)
        assert_status(await call(http, "GET", ES, headers={"Accept": accept}), 406, "NotAcceptable", message)
        body = slice_body("web-2")
        assert_status(await call(http, "POST", ES, body, headers={"Accept": accept}), 406, "NotAcceptable", message)
    assert (await call(http, "GET", f"{ES}/web-2")).status == 404


async def test_yaml_watch_not_acceptable(apiserver: RunningServer, http: aiohttp.ClientSession) -> None:
    async with Guard(apiserver, http):
        reply = await call(http, "GET", ES, params={"watch": "true", "timeoutSeconds": "1"},
                           headers={"Accept": "application/yaml"})
        assert_status(reply, 406, "NotAcceptable", "only the following media types are accepted: "
                      "application/json;stream=watch, application/vnd.kubernetes.protobuf;stream=watch")


async def test_yaml_get_is_acceptable(http: aiohttp.ClientSession, stored: dict[str, Any]) -> None:
    reply = await call(http, "GET", WEB1, headers={"Accept": "application/yaml"})
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("application/yaml")


# --- 409 AlreadyExists / Conflict ------------------------------------------------------------------


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
