"""client-go as a real client: the Go tests of conformance/clientgo against our server, on both backends.

The session builds them once (`go test -c` into conformance/.build/); each pytest case runs one Go test (or one
subtest, a kind) against a fresh server and reads its `test2json` events, so a failure shows that test's output.
Protobuf cases pass for every kind with a protobuf form; Pods have none yet (their schema is not complete), so
that case is an expected failure, as is graceful pod deletion until we implement it. The same binary runs against kube-apiserver (`-server https://... -token ...`), where all of it but
the fault-injection case passes, protobuf included.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from apiserver.config import Config
from apiserver.kinds import KINDS
from apiserver.testing import RunningServer
from tests.conftest import WATCH_LIST_STORAGE

CONFORMANCE = Path(__file__).resolve().parent.parent / "conformance"
BINARY = CONFORMANCE / ".build" / "clientgo.test"
# the kinds conformance/clientgo's CRUD and apply cases cover: every one (a view by its qualified resource)
PLURALS = [kind.resource_key for kind in KINDS]


@dataclass
class GoTests:
    go: str
    binary: Path


@pytest.fixture(scope="session")
def clientgo() -> GoTests:
    """The client-go test binary, built (or brought up to date) once per session."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("Go is not installed: the client-go tests need `go` on PATH (CI has it)")
    build = subprocess.run([go, "test", "-c", "-o", str(BINARY), "./clientgo"], cwd=CONFORMANCE,
                           capture_output=True, text=True, timeout=1800, check=False)
    if build.returncode != 0:
        pytest.fail(f"building conformance/clientgo failed:\n{build.stdout}{build.stderr}")
    return GoTests(go, BINARY)


@pytest.fixture
def apiserver_config() -> Config:
    """The Go tests arm faults over HTTP (/debug/faults)."""
    return Config(compaction_interval=0, enable_fault_injection=True)


def run_go(clientgo: GoTests, server: RunningServer, test: str, *flags: str) -> None:
    """Run Go test `test` (a test, or test/subtest) against `server`; fail with its output unless it passed."""
    pattern = "/".join(f"^{part}$" for part in test.split("/"))
    command = [clientgo.go, "tool", "test2json", "-p", "clientgo", str(clientgo.binary), "-test.v=test2json",
               "-test.run", pattern, "-test.timeout", "5m", "-server", server.url, *flags]
    result = subprocess.run(command, capture_output=True, text=True, timeout=360, check=False)
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    outcomes = {e["Test"]: e["Action"] for e in events if e.get("Test") and e["Action"] in ("pass", "fail", "skip")}
    if outcomes.get(test) == "pass" and result.returncode == 0:
        return
    output = "".join(e.get("Output", "") for e in events
                     if e.get("Test") is None or e["Test"] == test or e["Test"].startswith(test + "/"))
    verdict = outcomes.get(test, "did not run")
    pytest.fail(f"go test {test}: {verdict} (exit {result.returncode})\n{output}{result.stderr}", pytrace=False)


def request_count(server: RunningServer, verb: str, resource: str) -> int:
    """apiserver_request_total of `verb` on `resource`, summed over codes and scopes."""
    with urllib.request.urlopen(f"{server.url}/metrics") as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("apiserver_request_total{") and f'verb="{verb}"' in line \
                and f'resource="{resource}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def test_discovery_and_restmapper_resolve_every_kind(clientgo: GoTests, apiserver: RunningServer) -> None:
    run_go(clientgo, apiserver, "TestDiscovery", "-kinds", ",".join(f"{k.api_version}/{k.kind}" for k in KINDS))


def test_discovery_in_protobuf(clientgo: GoTests, apiserver: RunningServer) -> None:
    run_go(clientgo, apiserver, "TestDiscoveryProtobuf", "-content-type", "protobuf",
           "-kinds", ",".join(f"{k.api_version}/{k.kind}" for k in KINDS))


@pytest.mark.parametrize("content_type", ["json", "protobuf"])
def test_events_k8s_io_recorder_and_series(clientgo: GoTests, apiserver: RunningServer, content_type: str) -> None:
    run_go(clientgo, apiserver, "TestEventsRecorder", "-content-type", content_type)


@pytest.mark.parametrize("content_type", ["json", "protobuf"])
def test_leader_election_on_a_lease(clientgo: GoTests, apiserver: RunningServer, content_type: str) -> None:
    run_go(clientgo, apiserver, "TestLeaderElection", "-content-type", content_type)


@pytest.mark.parametrize("content_type", ["json", "protobuf"])
def test_scale_and_status_of_a_deployment(clientgo: GoTests, apiserver: RunningServer, content_type: str) -> None:
    run_go(clientgo, apiserver, "TestScale", "-content-type", content_type)


@pytest.mark.parametrize("plural", PLURALS)
def test_typed_crud_json(clientgo: GoTests, apiserver: RunningServer, plural: str) -> None:
    run_go(clientgo, apiserver, f"TestCRUD/{plural}", "-content-type", "json")


@pytest.mark.parametrize("plural", PLURALS)
def test_typed_crud_protobuf(clientgo: GoTests, apiserver: RunningServer, plural: str) -> None:
    run_go(clientgo, apiserver, f"TestCRUD/{plural}", "-content-type", "protobuf")


@pytest.mark.parametrize("plural", PLURALS)
def test_dynamic_client_and_server_side_apply(clientgo: GoTests, apiserver: RunningServer, plural: str) -> None:
    run_go(clientgo, apiserver, f"TestDynamic/{plural}")


def test_pods_are_deleted_gracefully(clientgo: GoTests, apiserver: RunningServer) -> None:
    run_go(clientgo, apiserver, "TestPodGracefulDeletion")


def test_informers_see_every_event_and_match_a_fresh_list(clientgo: GoTests, apiserver: RunningServer) -> None:
    run_go(clientgo, apiserver, "TestInformers")


@WATCH_LIST_STORAGE
def test_informer_syncs_through_watch_list(clientgo: GoTests, apiserver: RunningServer) -> None:
    run_go(clientgo, apiserver, "TestWatchList")
    # the server saw it too: the informer never listed; the only LIST is the test's final comparison
    assert request_count(apiserver, "LIST", "endpointslices") == 1


def test_reflector_relists_after_410(clientgo: GoTests, apiserver: RunningServer) -> None:
    run_go(clientgo, apiserver, "TestRelistAfterExpired")
    assert request_count(apiserver, "LIST", "endpointslices") >= 3  # list, relist, the final comparison


def test_pager_follows_continue_tokens(clientgo: GoTests, apiserver: RunningServer) -> None:
    run_go(clientgo, apiserver, "TestPager")
    assert request_count(apiserver, "LIST", "endpointslices") >= 11 + 11  # EachListItem then List, 11 pages each


def test_go_tests_are_all_driven() -> None:
    """Every Go test of conformance/clientgo has a case here (a new one cannot be forgotten)."""
    declared = {m for f in (CONFORMANCE / "clientgo").glob("*_test.go")
                for m in re.findall(r"^func (Test\w+)\(t \*testing\.T\)", f.read_text(), re.MULTILINE)}
    driven = set(re.findall(r'"(Test[A-Za-z]+)', Path(__file__).read_text()))
    assert declared == driven
