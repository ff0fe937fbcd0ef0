"""The differential conformance suite (conformance/differential): the corpus replayed on two servers.

Ours on the embedded store against ours on etcd must agree on every request: that proves the normalisation
leaves nothing volatile and the corpus is deterministic. Against the real kube-apiserver (when it is built) the
identical share may only go up: RATCHET is the share reached when it was last raised.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest

from apiserver.config import Config
from apiserver.testing import run_server
from conformance.differential.client import Target
from conformance.differential.compare import differences
from conformance.differential.normalise import Normaliser
from conformance.differential.report import render, share, summary
from conformance.differential.runner import run_corpus
from conformance.differential.scenario import load_corpus
from storage.etcd_process import EtcdProcess

# Share of the corpus's requests answered identically by kube-apiserver v1.32 and us: raise it as differences
# are fixed (the aim is 97 %), never lower it. Measured on a freshly started kube-apiserver: there a watch
# from resourceVersion 1 is not yet too old (its watch cache started at revision 1), so two requests that agree
# with a kube-apiserver whose window has moved differ.
RATCHET = 99.4  # 683/687


@pytest.fixture
def memory_server() -> Iterator[Target]:
    with run_server(Config(storage="memory://")) as server:
        yield Target("ours (memory)", server.url)


def test_corpus_is_large_and_well_formed() -> None:
    scenarios = load_corpus()
    assert sum(s.requests for s in scenarios) >= 300
    assert len({s.name for s in scenarios}) == len(scenarios)


def test_normaliser_numbers_volatile_values_by_appearance() -> None:
    """Two servers' answers with different uids, revisions, times, generated names and IPs normalise alike."""

    def answers(rv: int, uid: str, suffix: str, ip: str) -> list[object]:
        created = {"kind": "EndpointSlice", "metadata": {"name": f"web-{suffix}", "generateName": "web-", "uid": uid,
                                                        "namespace": "dc-tok-1", "resourceVersion": str(rv),
                                                        "creationTimestamp": "2026-01-01T00:00:00Z"}}
        service = {"kind": "Service", "metadata": {"name": "s", "resourceVersion": str(rv + 1)},
                   "spec": {"clusterIP": ip, "clusterIPs": [ip], "ports": [{"port": 80, "nodePort": 31000 + rv}]}}
        listed = {"kind": "EndpointSliceList", "metadata": {"resourceVersion": str(rv + 7), "continue": "abc"},
                  "items": [created]}
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "code": 409,
                  "reason": "Conflict", "message": f"the ResourceVersion in the precondition (1) does not match the "
                                                   f"ResourceVersion in record ({rv}), uid {uid}, ip {ip}"}
        normaliser = Normaliser("tok")
        return [normaliser.document(a) for a in (created, service, listed, status)]

    ours = answers(12, "0d6f3c5e-6a0b-4f3e-9d55-1b2c3d4e5f60", "abcde", "10.96.0.12")
    theirs = answers(48211, "9a8b7c6d-1111-2222-3333-444455556666", "x7k2p", "10.0.0.57")
    assert differences(ours, theirs) == []
    created, service, listed, status = ours
    assert created["metadata"] == {"name": "web-<gen#1>", "generateName": "web-", "uid": "uid#1",
                                   "namespace": "dc-RUN-1", "resourceVersion": "rv#1", "creationTimestamp": "<time>"}
    assert service["spec"] == {"clusterIP": "<ip>", "clusterIPs": ["<ip>"], "ports": [{"port": 80, "nodePort": "<port>"}]}
    assert listed["metadata"] == {"resourceVersion": "rv>=#2", "continue": "<continue>"}
    assert status == {"status": "Failure", "code": 409, "reason": "Conflict",
                      "message": "the ResourceVersion in the precondition (1) does not match the ResourceVersion in "
                                 "record (rv#1), uid uid#1, ip <ip>"}


def test_normaliser_reads_objects_quoted_in_patch_errors() -> None:
    """A refused JSON or merge patch quotes the patched object: its times and resourceVersion normalise too."""

    def answers(rv: int, when: str) -> list[object]:
        stored = {"kind": "EndpointSlice", "metadata": {"name": "s", "resourceVersion": str(rv)}}
        quoted = f'{{\\"metadata\\":{{\\"creationTimestamp\\":\\"{when}\\",\\"resourceVersion\\":\\"{rv}\\"}}}}'
        detail = f'Invalid value: "{quoted}": strict decoding error: unknown field "nope"'
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "code": 422,
                  "reason": "Invalid", "message": f' "" is invalid: patch: {detail}',
                  "details": {"causes": [{"reason": "FieldValueInvalid", "message": detail, "field": "patch"}]}}
        normaliser = Normaliser("tok")
        return [normaliser.document(a) for a in (stored, status)]

    ours, theirs = answers(12, "2026-01-01T00:00:00Z"), answers(4821, "2026-01-01T00:00:01Z")
    assert differences(ours, theirs) == []
    assert '\\"resourceVersion\\":\\"rv#1\\"' in ours[1]["details"]["causes"][0]["message"]


def test_normaliser_keeps_real_differences() -> None:
    normaliser, other = Normaliser("tok"), Normaliser("tok")
    ours = normaliser.document({"kind": "Pod", "metadata": {"name": "p", "resourceVersion": "5"}, "spec": {"x": 1}})
    theirs = other.document({"kind": "Pod", "metadata": {"name": "p", "resourceVersion": "9"},
                             "spec": {"x": 1, "dnsPolicy": "ClusterFirst"}})
    assert differences(ours, theirs) == ['.spec.dnsPolicy: ours (absent) | theirs "ClusterFirst"']


def test_ours_on_memory_and_on_etcd_answer_identically(memory_server: Target, etcd: EtcdProcess) -> None:
    with run_server(Config(storage=etcd.storage_url(f"/{uuid.uuid4().hex}/registry"))) as server:
        outcomes = asyncio.run(run_corpus(load_corpus(), memory_server, Target("ours (etcd)", server.url)))
    report = render(outcomes, "ours (memory)", "ours (etcd)")
    assert share(outcomes) == 100.0, report


def test_against_kube_apiserver(memory_server: Target, request: pytest.FixtureRequest) -> None:
    try:  # the session's kube-apiserver (conformance/pytest_plugin.py), skipped there when it is not built
        kube = request.getfixturevalue("kube_apiserver")
    except pytest.FixtureLookupError:
        pytest.skip("no kube_apiserver fixture: conformance/pytest_plugin.py is not registered in this tree")
    theirs = Target("kube-apiserver", kube.url, {"Authorization": f"Bearer {kube.token}"})
    outcomes = asyncio.run(run_corpus(load_corpus(), memory_server, theirs))
    print(render(outcomes, "ours", "kube-apiserver"))
    assert share(outcomes) >= RATCHET, summary(outcomes)
