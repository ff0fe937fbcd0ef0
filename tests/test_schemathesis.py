"""Schemathesis over the /openapi/v3 documents this server serves (core/v1, discovery.k8s.io/v1, apps/v1,
events.k8s.io/v1, coordination.k8s.io/v1), loaded from the running server: every operation gets requests
generated from its parameters and request body.

Checks: no 5xx but kube-apiserver's own (tests/test_fuzz_properties.UPSTREAM_500); a 2xx is one the document
declares, with a content type it declares (the documents declare only 2xx and 401, as upstream's, so the other
codes are checked as Statuses with a code and a reason of upstream's); /readyz answers within 100 ms after each
case and the sentinel namespace is unchanged. Watches, streams and the connect subresources (exec, attach,
port-forward, proxy, log) are left out: they hold the connection by design. Every write goes to the `fuzz`
namespace or the `fuzz-target` Namespace. SCHEMATHESIS_EXAMPLES sets the examples per operation in each mode (default 5).
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import content_type_conformance, not_a_server_error, status_code_conformance

from apiserver.testing import RunningServer
from tests.test_fuzz_properties import (
    FUZZ,
    READY_WITHIN,
    TARGET_NAMESPACE,
    check_answer,
    ready_within,
    snapshot,
)
from tests.test_fuzz_properties import server as fuzz_server

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "5"))
LEFT_OUT = r"/watch/|/(exec|attach|portforward|proxy|log)(/|$)"
NAMESPACE_NAMES = ("/api/v1/namespaces/{name}",)

server = fuzz_server


def document(running: RunningServer, group_version: str) -> Any:
    index = urllib.parse.urljoin(running.url, "/openapi/v3")
    schema = schemathesis.openapi.from_url(f"{index}/{group_version}")
    return schema.exclude(path_regex=LEFT_OUT)


def aim(case: Any) -> None:
    """Writes only where the fuzzers may write; no watch (it would stream until its timeout)."""
    if "namespace" in case.path_parameters:
        case.path_parameters["namespace"] = FUZZ
    if case.path.startswith(NAMESPACE_NAMES) and "name" in case.path_parameters:
        case.path_parameters["name"] = TARGET_NAMESPACE
    if case.query:
        for streaming in ("watch", "follow"):
            case.query.pop(streaming, None)


def run_case(server: tuple[RunningServer, dict[str, bytes]], case: Any) -> None:
    running, sentinel = server
    aim(case)
    response = case.call(base_url=running.url, headers={"Accept": "application/json"}, timeout=30)
    content_type = case.media_type or ""
    if 200 <= response.status_code < 300:
        case.validate_response(response, checks=[not_a_server_error, status_code_conformance,
                                                 content_type_conformance])
    else:
        answer_type = (response.headers.get("content-type") or [""])[0]  # schemathesis: lower-case names, lists
        check_answer(response.status_code, answer_type, response.content, case.method, content_type)
    assert ready_within(running, READY_WITHIN)
    assert snapshot(running) == sentinel


_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("group_version", ["api/v1", "apis/discovery.k8s.io/v1", "apis/apps/v1",
                                           "apis/events.k8s.io/v1", "apis/coordination.k8s.io/v1"])
def test_openapi_operations(server: tuple[RunningServer, dict[str, bytes]], group_version: str) -> None:
    """Each operation of the document in turn, positive and negative cases (schemathesis' pytest loader fails under
    pytest 9: 'Function' object has no attribute '_nodeid')."""
    operations = [result.ok() for result in document(server[0], group_version).get_all_operations()]
    assert len(operations) > 5
    for operation in operations:
        for mode in GenerationMode:  # data that fits the document, then data that does not
            try:
                given(case=operation.as_strategy(mode))(_SETTINGS(lambda case: run_case(server, case)))()
            except Unsatisfiable:  # nothing to vary (a path without parameters has no negative case)
                continue


def test_readyz_and_sentinel_after_the_runs(server: tuple[RunningServer, dict[str, bytes]]) -> None:
    """After every generated request: the server still ready, the sentinel objects unchanged."""
    running, sentinel = server
    assert ready_within(running, READY_WITHIN)
    assert snapshot(running) == sentinel
