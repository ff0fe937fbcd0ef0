"""Property-based fuzzing over real sockets: whatever a client sends, the answer is a Kubernetes object or Status.

One server for the module. Every example writes only in the `fuzz` namespace (and the `fuzz-target` Namespace);
the `sentinel` namespace's objects, created first, must stay byte-for-byte the same. After each example /readyz
must answer within 100 ms (the best of three probes, so that the scheduling of a shared machine does not count).

Profiles (HYPOTHESIS_PROFILE): "ci" (the default: few examples, derandomized, reproducible), "long" (thousands of
examples, random seed) for a fuzzing session; FUZZ_EXAMPLES overrides the number of examples of either.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from apiserver.config import Config
from apiserver.testing import RunningServer, run_server

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
settings.register_profile("ci", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "1000")), derandomize=True,
                          database=None, print_blob=True, **_COMMON)
settings.register_profile("long", max_examples=int(os.environ.get("FUZZ_EXAMPLES", "5000")), **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

FUZZ, SENTINEL, TARGET_NAMESPACE = "fuzz", "sentinel", "fuzz-target"
READY_WITHIN = 0.1
# metav1.StatusReason values (k8s.io/apimachinery/pkg/apis/meta/v1/types.go); "" is an untyped error's.
REASONS = {"", "Unauthorized", "Forbidden", "NotFound", "AlreadyExists", "Conflict", "Gone", "Invalid", "ServerTimeout",
           "Timeout", "TooManyRequests", "BadRequest", "MethodNotAllowed", "NotAcceptable", "RequestEntityTooLarge",
           "UnsupportedMediaType", "InternalError", "Expired", "ServiceUnavailable"}
# The 500s kube-apiserver v1.32.13 answers (untyped errors, no reason), by method or by patch type: strategic-merge
# failures (issue 11 keeps them), an undecodable DeleteOptions body, an apply configuration that does not fit the
# schema, an unparsable resourceVersion on a GET.
UPSTREAM_500 = {
    "application/strategic-merge-patch+json": (
        "unknown patch type", "cannot merge lists without merge key", "merging lists cannot yet",
        "doesn't match $setElementOrder", "list element types are not identical", "does not contain declared merge key",
        "expected a ", "The order in patch list"),
    "DELETE": ("json: ", "DeleteOptions must be", "decoded object cannot be converted", "couldn't get version/kind",
               "is registered for version"),
    "application/apply-patch+yaml": ("failed to create typed patch object",),
    "GET": ("resourceVersion: Invalid value:",),
}

KINDS: dict[str, dict[str, Any]] = {
    "endpointslices": {"prefix": "/apis/discovery.k8s.io/v1", "body": {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}}], "ports": [{"name": "http", "port": 80}]}},
    "services": {"prefix": "/api/v1", "body": {
        "apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"name": "http", "port": 80}], "selector": {"a": "b"}}}},
    "pods": {"prefix": "/api/v1", "body": {
        "apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
}
FIELDS = ["metadata", "spec", "status", "endpoints", "ports", "addressType", "labels", "annotations", "name",
          "namespace", "finalizers", "ownerReferences", "managedFields", "resourceVersion", "uid", "generateName",
          "containers", "selector", "type", "clusterIP", "clusterIPs", "port", "targetPort", "protocol", "addresses",
          "conditions", "ready", "nodeName", "hostname", "image", "deletionTimestamp", "creationTimestamp",
          "$patch", "$setElementOrder/ports", "$retainKeys", "$deleteFromPrimitiveList/finalizers", "x"]
QUERY = {"dryRun": ["All", "", "x"], "fieldManager": ["m", "", "a" * 200], "fieldValidation": ["Strict", "Warn", "x"],
         "force": ["true", "false", "x"], "labelSelector": ["a=b", "a in (b,c)", "!a", "a=", "==", "a,b in (("],
         "fieldSelector": ["metadata.name=x", "spec.x=1", "=", "metadata.namespace!=a"],
         "limit": ["1", "0", "-1", "x", "9" * 30], "continue": ["x", "eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ", ""],
         "resourceVersion": ["0", "1", "x", "-1", "9" * 30], "resourceVersionMatch": ["Exact", "NotOlderThan", "x"],
         "propagationPolicy": ["Orphan", "Foreground", "x"], "gracePeriodSeconds": ["0", "-1", "x"],
         "timeoutSeconds": ["1", "x"], "pretty": ["true", "x"], "allowWatchBookmarks": ["true", "x"],
         "sendInitialEvents": ["true", "x"]}
PATCH_TYPES = {"merge": "application/merge-patch+json", "json": "application/json-patch+json",
               "strategic": "application/strategic-merge-patch+json", "apply": "application/apply-patch+yaml"}


def request(server: RunningServer, method: str, path: str, body: bytes | None = None,
            content_type: str = "application/json") -> tuple[int, str, bytes]:
    """One request on a fresh connection; a dropped connection raises."""
    connection = http.client.HTTPConnection("127.0.0.1", server.config.port, timeout=30)
    try:
        headers = {"Content-Type": content_type, "Accept": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def ready_within(server: RunningServer, seconds: float) -> bool:
    """/readyz answers ok within `seconds` in at least one of three probes."""
    for _ in range(3):
        started = time.perf_counter()
        answer = request(server, "GET", "/readyz")
        if answer[0] == 200 and time.perf_counter() - started <= seconds:
            return True
    return False


def collection(resource: str, namespace: str) -> str:
    return f"{KINDS[resource]['prefix']}/namespaces/{namespace}/{resource}"


def manifest(resource: str, name: str, namespace: str) -> dict[str, Any]:
    body = json.loads(json.dumps(KINDS[resource]["body"]))
    body["metadata"] = {"name": name, "namespace": namespace, "labels": {"a": "b"}, "annotations": {"k": "v"}}
    return body


def create(server: RunningServer, path: str, body: dict[str, Any]) -> None:
    code, _, answer = request(server, "POST", path, json.dumps(body).encode())
    assert code in (201, 409), answer


def snapshot(server: RunningServer) -> dict[str, bytes]:
    """The sentinel objects as served, and the names in each of its collections."""
    paths = ["/api/v1/namespaces/" + SENTINEL] + [collection(resource, SENTINEL) + "/keep" for resource in KINDS]
    seen = {path: request(server, "GET", path)[2] for path in paths}
    for resource in KINDS:
        items = json.loads(request(server, "GET", collection(resource, SENTINEL))[2])["items"]
        seen[resource] = json.dumps(sorted(item["metadata"]["name"] for item in items)).encode()
    return seen


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[RunningServer, dict[str, bytes]]]:
    with run_server(Config(compaction_interval=0)) as running:
        for namespace in (SENTINEL, FUZZ, TARGET_NAMESPACE):
            create(running, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                   "metadata": {"name": namespace}})
        for resource in KINDS:
            create(running, collection(resource, SENTINEL), manifest(resource, "keep", SENTINEL))
        yield running, snapshot(running)


def ensure_target(server: RunningServer, resource: str) -> None:
    """The fuzz namespace's object `target` exists again (an earlier example may have deleted it)."""
    if resource == "namespaces":
        path = "/api/v1/namespaces"
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": TARGET_NAMESPACE}}
        item = f"{path}/{TARGET_NAMESPACE}"
    else:
        path, body = collection(resource, FUZZ), manifest(resource, "target", FUZZ)
        item = path + "/target"
    if request(server, "GET", item)[0] == 404:
        create(server, path, body)


scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(10**40), max_value=10**40)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20)
           | st.sampled_from(["", "target", FUZZ, SENTINEL, "10.0.0.1", "TCP", "80", "a=b", "v1", "x" * 300]))
keys = st.sampled_from(FIELDS) | st.text(max_size=10)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                      max_leaves=12)


@st.composite
def shaped(draw: st.DrawFn, resource: str, name: str) -> dict[str, Any]:
    """A valid manifest with random fields set at random places in it."""
    if resource == "namespaces":
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    else:
        body = manifest(resource, name, FUZZ)
    for _ in range(draw(st.integers(0, 3))):
        node = body
        for key in draw(st.lists(keys, min_size=0, max_size=2)):
            child = node.get(key) if isinstance(node, dict) else None
            if not isinstance(child, dict):
                break
            node = child
        node[draw(keys)] = draw(values)
    return body


def encode(draw: st.DrawFn, document: Any) -> tuple[bytes, str]:
    """`document` as JSON, YAML, or replaced by arbitrary bytes, with a matching (or not) content type."""
    form = draw(st.sampled_from(["json", "json", "yaml", "bytes"]))
    if form == "json":
        return json.dumps(document).encode(), "application/json"
    if form == "yaml":
        return yaml.safe_dump(document).encode(), "application/yaml"
    return draw(st.binary(max_size=64)), draw(st.sampled_from(["application/json", "application/yaml", "text/plain"]))


def json_patch(draw: st.DrawFn) -> list[Any]:
    pointers = st.sampled_from(["/metadata/labels/a", "/metadata/annotations", "/metadata/name", "/spec", "/ports/0",
                                "/endpoints/-", "/metadata/labels/x~1y", "", "/", "/metadata/finalizers/0"])
    operation = st.fixed_dictionaries({"op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "x"]),
                                       "path": pointers | st.text(max_size=12)},
                                      optional={"from": pointers, "value": values})
    return draw(st.lists(operation, max_size=4))


@st.composite
def examples(draw: st.DrawFn) -> tuple[str, str, str, bytes | None, str]:
    """(resource, method, path with query, body, content type) of one request."""
    resource = draw(st.sampled_from([*KINDS, "namespaces"]))
    if resource == "namespaces":
        base, name = "/api/v1/namespaces", draw(st.sampled_from([TARGET_NAMESPACE, "fuzz-new"]))
    else:
        base, name = collection(resource, FUZZ), draw(st.sampled_from(["target", "new"]))
    verb = draw(st.sampled_from(["create", "update", "patch", "delete", "list", "get"]))
    body: bytes | None = None
    content_type = "application/json"
    if verb == "create":
        method, path = "POST", base
        body, content_type = encode(draw, draw(shaped(resource, name)))
    elif verb == "update":
        method, path = "PUT", f"{base}/{name}"
        body, content_type = encode(draw, draw(shaped(resource, name)))
    elif verb == "patch":
        method, path = "PATCH", f"{base}/{name}"
        kind = draw(st.sampled_from(list(PATCH_TYPES)))
        content_type = PATCH_TYPES[kind]
        if kind == "json":
            document: Any = json_patch(draw)
        elif kind == "apply":
            document = draw(shaped(resource, name))
        else:
            document = draw(st.dictionaries(keys, values, max_size=4) | shaped(resource, name) | values)
        body = (yaml.safe_dump(document) if kind == "apply" and draw(st.booleans()) else json.dumps(document)).encode()
    elif verb == "delete":
        method, path = "DELETE", f"{base}/{name}"
        if draw(st.booleans()):
            options = draw(st.dictionaries(st.sampled_from(["propagationPolicy", "dryRun", "gracePeriodSeconds",
                                                            "preconditions", "orphanDependents", "kind", "x"]),
                                           values, max_size=3))
            body = json.dumps(options).encode()
    else:
        method, path = "GET", base if verb == "list" else f"{base}/{name}"
    query = draw(st.dictionaries(st.sampled_from(list(QUERY)),
                                 st.sampled_from([value for values in QUERY.values() for value in values]) | st.text(max_size=8), max_size=3))
    if content_type == PATCH_TYPES["apply"]:
        query.setdefault("fieldManager", "fuzz")
    if query:
        path += "?" + urllib.parse.urlencode(query)
    return resource, method, path, body, content_type


def check_answer(code: int, content_type: str, answer: bytes, method: str, content: str) -> None:
    """A 2xx object, or a Status whose code is the HTTP code and whose reason is one of upstream's."""
    assert content_type.startswith("application/json"), (code, content_type, answer[:300])
    document = json.loads(answer)
    if 200 <= code < 300:
        assert document.get("kind"), document
        return
    assert (document["kind"], document["apiVersion"], document["status"], document["code"]) == (
        "Status", "v1", "Failure", code), document
    assert document.get("reason", "") in REASONS, document
    if code == 504:  # a GET at a resourceVersion not yet reached: upstream waits 3 s for it, then times out
        assert (method, document["reason"]) == ("GET", "Timeout"), document
        assert document["message"].startswith("Timeout: Too large resource version"), document
    elif code >= 500:
        allowed = UPSTREAM_500.get(method, ()) + UPSTREAM_500.get(content, ())
        assert code == 500 and "reason" not in document, document
        assert any(part in document["message"] for part in allowed), document
    else:
        assert 400 <= code < 500, document


@given(example=examples())
def test_any_request_gets_an_object_or_a_status(server: tuple[RunningServer, dict[str, bytes]],
                                                example: tuple[str, str, str, bytes | None, str]) -> None:
    running, sentinel = server
    resource, method, path, body, content_type = example
    note(repr(example))
    ensure_target(running, resource)
    code, answer_type, answer = request(running, method, path, body, content_type)
    check_answer(code, answer_type, answer, method, content_type)
    assert ready_within(running, READY_WITHIN)
    assert snapshot(running) == sentinel


@given(resource=st.sampled_from(list(KINDS)), raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode),
       content_type=st.sampled_from([*PATCH_TYPES.values(), "application/json", "application/yaml"]))
def test_arbitrary_bytes_as_bodies(server: tuple[RunningServer, dict[str, bytes]], resource: str, raw: bytes,
                                   content_type: str) -> None:
    """Bytes that are no document at all, as a create and as every kind of patch."""
    running, sentinel = server
    ensure_target(running, resource)
    is_patch = content_type in PATCH_TYPES.values()
    path = collection(resource, FUZZ) + ("/target?fieldManager=fuzz" if is_patch else "")
    code, answer_type, answer = request(running, "PATCH" if is_patch else "POST", path, raw, content_type)
    check_answer(code, answer_type, answer, "PATCH" if is_patch else "POST", content_type)
    assert ready_within(running, READY_WITHIN)
    assert snapshot(running) == sentinel
