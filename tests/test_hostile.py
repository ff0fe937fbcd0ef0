"""Hostile requests (loadtest.hostile's corpus): each gets its Status, /readyz still answers, nothing stored changes.

The Statuses are kube-apiserver v1.32.13's, except where it answers in a way a server should not: YAML whose
aliases expand past 3 MiB (it answers a 1 MB string aliased in 60 labels with a 61 MB 422) and nesting past
this server's depth limit (100 levels; upstream's decoders stop at 10000) get go-yaml's and Go's refusals.
`python -m loadtest.hostile` measures what each request costs the event loop and the heap.
"""

from __future__ import annotations

import json
import logging
import socket
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from apiserver import httplog
from apiserver.config import Config
from apiserver.testing import RunningServer, run_server
from loadtest.hostile import (
    CORPUS,
    NEAR_LIMITS,
    RAW,
    SERVICES,
    SLICE,
    SLICES,
    Hostile,
    RawHostile,
    expected_message,
    target_slice,
)


def call(server: RunningServer, method: str, path: str, body: bytes | None = None,
         content_type: str = "application/json") -> tuple[int, bytes]:
    headers = {"Content-Type": content_type} if body is not None else {}
    request = urllib.request.Request(server.url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def stored(server: RunningServer) -> dict[str, Any]:
    """Everything the corpus could touch: the EndpointSlices and Services of the namespace."""
    return {path: json.loads(call(server, "GET", path)[1])["items"] for path in (SLICES, SERVICES)}


@pytest.fixture
def target(apiserver: RunningServer) -> dict[str, Any]:
    code, body = call(apiserver, "POST", SLICES, json.dumps(target_slice()).encode())
    assert code == 201, body
    created: dict[str, Any] = json.loads(body)
    return created


def replay(server: RunningServer, hostile: Hostile) -> dict[str, Any]:
    """Send `hostile`; check /readyz answers after it and nothing stored changed; return its Status."""
    before = stored(server)
    code, body = call(server, hostile.method, hostile.path, hostile.body, hostile.content_type)
    assert call(server, "GET", "/readyz") == (200, b"ok")
    assert stored(server) == before
    status: dict[str, Any] = json.loads(body)
    assert (code, status["kind"], status["code"], status["reason"]) == (hostile.code, "Status", hostile.code,
                                                                        hostile.reason)
    return status


@pytest.mark.parametrize("hostile", CORPUS, ids=[hostile.name for hostile in CORPUS])
def test_hostile_request(apiserver: RunningServer, target: dict[str, Any], hostile: Hostile) -> None:
    status = replay(apiserver, hostile)
    assert status["message"] == expected_message(hostile, target)


@pytest.mark.parametrize("hostile", NEAR_LIMITS, ids=[hostile.name for hostile in NEAR_LIMITS])
def test_just_under_the_caps(apiserver: RunningServer, target: dict[str, Any], hostile: Hostile) -> None:
    """What the caps let through is refused by decoding or validation, the answer no larger than upstream's."""
    status = replay(apiserver, hostile)
    assert len(status["message"]) < 4_300_000


def test_copies_may_add_up_to_the_cap(apiserver: RunningServer, target: dict[str, Any]) -> None:
    """The cap counts bytes copied, not copy operations: many small copies still apply."""
    ops = [{"op": "add", "path": "/metadata/annotations/a", "value": "x" * 1000}]
    ops += [{"op": "copy", "from": "/metadata/annotations/a", "path": f"/metadata/annotations/c{i}"} for i in range(200)]
    code, body = call(apiserver, "PATCH", SLICE, json.dumps(ops).encode(), "application/json-patch+json")
    assert code == 200, body
    assert len(json.loads(body)["metadata"]["annotations"]) == 202


def test_delete_with_valid_options_still_deletes(apiserver: RunningServer, target: dict[str, Any]) -> None:
    options = {"propagationPolicy": "Background", "dryRun": ["All"],
               "preconditions": {"uid": target["metadata"]["uid"]}}
    assert call(apiserver, "DELETE", SLICE, json.dumps(options).encode())[0] == 200
    assert call(apiserver, "GET", SLICE)[0] == 200
    assert call(apiserver, "DELETE", SLICE, b'{"preconditions":{"uid":"' + target["metadata"]["uid"].encode() +
                b'"}}')[0] == 200
    assert call(apiserver, "GET", SLICE)[0] == 404


def test_delete_options_body_replaces_the_query(apiserver: RunningServer, target: dict[str, Any]) -> None:
    """As upstream, a DELETE with a body takes every option from it: the query's invalid dryRun is not looked at."""
    assert call(apiserver, "DELETE", SLICE + "?dryRun=Bogus", b'{"dryRun":["All"]}')[0] == 200
    assert call(apiserver, "GET", SLICE)[0] == 200
    code, body = call(apiserver, "DELETE", SLICE + "?dryRun=Bogus")
    assert (code, json.loads(body)["message"]) == (422, 'DeleteOptions.meta.k8s.io "" is invalid: dryRun: Unsupported '
                                                        'value: []string{"Bogus"}: supported values: "All"')


def test_managed_fields_keys_nested_past_the_limit_are_invalid(apiserver: RunningServer,
                                                              target: dict[str, Any]) -> None:
    """A fieldsV1 key is JSON in a string (`k:{…}`, `v:[…]`), out of the body's depth check: 5,000 levels in one
    are invalid managedFields (reset, as any undecodable ones), not a RecursionError."""
    for key in ("v:" + "[" * 5000 + "]" * 5000, "k:" + '{"a":' * 5000 + "1" + "}" * 5000):
        entry = {"manager": "m", "operation": "Update", "apiVersion": "discovery.k8s.io/v1", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:endpoints": {key: {}}}}
        body = dict(target, metadata={**target["metadata"], "managedFields": [entry]})
        code, answer = call(apiserver, "PUT", SLICE, json.dumps(body).encode())
        assert code == 200, answer
        assert key not in json.dumps(json.loads(answer)["metadata"].get("managedFields"))
    assert call(apiserver, "GET", "/readyz") == (200, b"ok")


def test_deep_but_legal_bodies_are_accepted(apiserver: RunningServer, target: dict[str, Any]) -> None:
    """Nesting up to the limit is served: unknown fields 90 levels deep are pruned as upstream prunes them."""
    deep = '{"a":' * 90 + "1" + "}" * 90
    code, body = call(apiserver, "PATCH", SLICE, ('{"unknown":' + deep + "}").encode(), "application/merge-patch+json")
    assert code == 200, body
    service = (b"apiVersion: v1\nkind: Service\nmetadata:\n  name: deep\nspec:\n  ports:\n  - port: 80\nunknown: "
               + b"[" * 90 + b"]" * 90 + b"\n")
    code, body = call(apiserver, "POST", SERVICES, service, "application/yaml")
    assert code == 201, body
    assert "unknown" not in json.loads(body)


def raw_request(server: RunningServer, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.config.port), timeout=10) as connection:
        connection.sendall(data)
        return connection.recv(65536)


def test_malformed_http_is_one_rate_limited_line(apiserver: RunningServer, caplog: pytest.LogCaptureFixture) -> None:
    """A NUL byte in a header: 400 for each, one WARNING line without a traceback for all of them."""
    flood = 20
    with caplog.at_level(logging.DEBUG, logger=httplog.SERVER_LOGGER):
        for _ in range(flood):
            answer = raw_request(apiserver, b"GET /readyz HTTP/1.1\r\nHost: x\r\nX-Bad: a\x00b\r\n\r\n")
            assert answer.startswith((b"HTTP/1.0 400 Bad Request", b"HTTP/1.1 400 Bad Request"))
        time.sleep(0.2)
    records = [record for record in caplog.records if record.name == httplog.SERVER_LOGGER]
    assert len(records) <= 1
    assert all(record.exc_info is None and "\n" not in record.getMessage() for record in records)
    assert all(record.levelno == logging.WARNING for record in records)
    assert call(apiserver, "GET", "/readyz") == (200, b"ok")


def test_malformed_request_filter_counts_what_it_held_back() -> None:
    """Past the interval the next line says how many were held back; other records pass untouched."""
    from aiohttp.http_exceptions import BadHttpMessage

    gate = httplog.MalformedRequestFilter(interval=0.05)

    def record(error: BaseException | None) -> logging.LogRecord:
        exc_info = (type(error), error, None) if error is not None else None
        return logging.LogRecord(httplog.SERVER_LOGGER, logging.ERROR, __file__, 1, "Error handling request from %s",
                                 ("127.0.0.1",), exc_info)

    assert gate.filter(record(BadHttpMessage("Invalid header value char:\n\n  b'x'")))
    assert not gate.filter(record(BadHttpMessage("again")))
    assert not gate.filter(record(BadHttpMessage("again")))
    time.sleep(0.06)
    line = record(BadHttpMessage("Invalid header value char"))
    assert gate.filter(line)
    assert line.getMessage() == ("malformed HTTP request from 127.0.0.1: 400 Invalid header value char "
                                 "(2 more not logged in the last 0.05s)")
    other = record(None)
    assert gate.filter(other) and other.levelno == logging.ERROR


@pytest.mark.parametrize("hostile", RAW, ids=[hostile.name for hostile in RAW])
def test_raw_hostile_request(hostile: RawHostile) -> None:
    """Oversized headers, bodies that never end, headers that never come: answered (or closed) as kube-apiserver
    does, within its timeouts (here --request-timeout=2s and a 1 s header-read timeout), nothing stored changed."""
    config = Config(compaction_interval=0, request_timeout=2.0, read_header_timeout=1.0)
    with run_server(config) as server:
        assert call(server, "POST", SLICES, json.dumps(target_slice()).encode())[0] == 201
        before = stored(server)
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", server.config.port), timeout=10) as connection:
            connection.sendall(hostile.data)
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
        assert answer.startswith(hostile.answer) and bool(answer) == bool(hostile.answer), answer[:200]
        assert time.monotonic() - started < 4
        assert call(server, "GET", "/readyz") == (200, b"ok")
        assert stored(server) == before


# Found by the fuzzers (tests/test_fuzz_properties.py, tests/test_schemathesis.py), answered as kube-apiserver v1.32.13.

def post_with_warnings(server: RunningServer, body: dict[str, Any]) -> tuple[int, list[str]]:
    request = urllib.request.Request(server.url + SLICES + "?dryRun=All", data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.headers.get_all("Warning") or []


def test_unknown_field_names_with_control_characters_are_quoted(apiserver: RunningServer) -> None:
    """An unknown field named "\\x7f" put the raw byte in a Warning header, which aiohttp refuses: the connection
    was dropped without an answer. Upstream quotes the name as Go's %q and escapes the header's quotes; "\u00e9" goes
    as its UTF-8 bytes (which http.client reads as latin-1)."""
    body = {**target_slice(), "\x7f": 1, "a\\b": 2, "\u00e9": 3}
    assert post_with_warnings(apiserver, body) == (201, ['299 - "unknown field \\"\\\\x7f\\""',
                                                         '299 - "unknown field \\"a\\\\\\\\b\\""',
                                                         '299 - "unknown field \\"\u00c3\u00a9\\""'])
    assert call(apiserver, "GET", "/readyz") == (200, b"ok")


def test_warnings_past_4096_characters_are_cut_short(apiserver: RunningServer) -> None:
    """As upstream's warning recorder: past 4 Ki characters every warning is cut to 256 and no more are added."""
    body: dict[str, Any] = {**target_slice(), **{f"{i:02d}" + "x" * 298: 1 for i in range(20)}}
    code, warnings = post_with_warnings(apiserver, body)
    assert (code, len(warnings), {len(warning) for warning in warnings}) == (201, 16, {265})
    assert warnings[0].startswith('299 - "unknown field \\"00xxx') and warnings[-1].startswith('299 - "unknown field \\"15')


@pytest.mark.parametrize(("options", "message"), [
    ({"kind": [1, None, "80"]}, ("couldn't get version/kind; json parse error: json: cannot unmarshal array into Go "
                                 "struct field .kind of type string")),
    ({"apiVersion": [1]}, ("couldn't get version/kind; json parse error: json: cannot unmarshal array into Go struct "
                           "field .apiVersion of type string")),
    ({"kind": "Foo"}, 'no kind "Foo" is registered for version "meta.k8s.io/v1" in scheme "pkg/runtime/scheme.go:100"'),
])
def test_delete_options_kind_that_is_not_a_string(apiserver: RunningServer, target: dict[str, Any],
                                                  options: dict[str, Any], message: str) -> None:
    """A DeleteOptions `kind` that is a list was printed as a Python list; upstream's untyped 500 names its JSON type."""
    before = stored(apiserver)
    code, body = call(apiserver, "DELETE", SLICE, json.dumps(options).encode())
    assert (code, json.loads(body)) == (500, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                              "status": "Failure", "message": message, "code": 500})
    assert stored(apiserver) == before


def test_delete_options_dry_run_with_null(apiserver: RunningServer, target: dict[str, Any]) -> None:
    """`"dryRun": [null]` raised a TypeError (500); Go decodes the null as "", which is not a supported value."""
    for dry_run, shown in (([None], '""'), (["All", None], '"All", ""')):
        code, body = call(apiserver, "DELETE", SLICE, json.dumps({"dryRun": dry_run}).encode())
        message = (f'DeleteOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{{{shown}}}: '
                   'supported values: "All"')
        assert (code, json.loads(body)["message"]) == (422, message)
    assert call(apiserver, "GET", SLICE)[0] == 200
