"""The evaluation on a live server with its controllers: counts per the seed's tables, bytes metered == counted,
for JSON and protobuf node watchers; protobuf sizes against the seed's."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from apiserver.protobuf import envelope
from loadtest import evaluate, report
from loadtest.slices import endpoint_slice

P, N = 4, 3
SETTINGS = evaluate.Settings(node_procs=2, converge_timeout=10.0, drain_timeout=10.0, settle_seconds=0.2,
                             progress=False)
# scenario → api → (writes, events per watcher)
EXPECTED = {
    "service-creation": {"endpoints": (1, 1), "slices_b100": (1, 1), "slices_b1": (P, P)},
    "single-endpoint-update": {"endpoints": (1, 1), "slices_b100": (1, 1), "slices_b1": (1, 1)},
    "rolling-update": {"endpoints": (2 * P, 2 * P), "slices_b100": (2 * P, 2 * P), "slices_b1": (2 * P, 2 * P)},
    "service-deletion": {"endpoints": (1, 1), "slices_b100": (1, 1), "slices_b1": (P, P)},
}


@pytest.fixture(scope="module")
def results() -> list[dict[str, Any]]:
    import asyncio

    points = evaluate.points([P], [N], ["endpoints", "slices"], [100, 1])
    return asyncio.run(evaluate.evaluate(points, SETTINGS))


def test_every_scenario_and_api_counts_as_the_seed_says(results: list[dict[str, Any]]) -> None:
    assert len(results) == len(evaluate.SCENARIOS) * 3 * 2
    assert {r["encoding"] for r in results} == {"json", "protobuf"}
    for r in results:
        writes, per_watcher = EXPECTED[r["scenario"]][r["api"]]
        where = f"{r['scenario']} {r['api']} {r['encoding']}: {r}"
        assert r["status"] == "ok", where
        assert r["writes"] == r["writes_ok"] == writes, where
        assert r["events_per_watcher_min"] == r["events_per_watcher_max"] == per_watcher, where
        assert r["total_watch_events"] == N * per_watcher == r["events_metered"], where
        assert r["watchers_per_object"] == N, where
        assert r["bytes_agree"] and r["bytes_metered"] == r["bytes_counted"] > 0, where
        assert r["nodes_connected"] == N and r["nodes_closed_early"] == 0, where
        assert r["controller_calls_run"] == r["server_calls_run"], where
        assert 0 < r["object_size_mean"] <= r["object_size_max"], where


def test_object_sizes_grow_with_endpoints_per_object(results: list[dict[str, Any]]) -> None:
    for encoding in ("json", "protobuf"):
        sizes = {r["api"]: r["object_size_max"] for r in results
                 if r["scenario"] == "service-creation" and r["encoding"] == encoding}
        assert sizes["slices_b1"] < sizes["slices_b100"]  # P=4 endpoints against 1


def test_protobuf_watchers_are_sent_each_object_as_served_in_protobuf(results: list[dict[str, Any]]) -> None:
    """One object changed, N watchers: each was sent one frame around the object as a protobuf GET serves it
    (the observer encodes what it watched), smaller than the JSON line the JSON watchers were sent."""
    by_key = {(r["scenario"], r["api"], r["encoding"]): r for r in results}
    for api in ("endpoints", "slices_b100"):
        pb = by_key["single-endpoint-update", api, "protobuf"]
        js = by_key["single-endpoint-update", api, "json"]
        frame = envelope.watch_event("MODIFIED", b"\0" * pb["object_size_max"])
        assert pb["total_bytes"] == pb["bytes_metered"] == pb["bytes_counted"] == N * len(frame), pb
        assert js["total_bytes"] == N * (len(b'{"type":"MODIFIED","object":}\n') + js["object_size_max"]), js
        assert pb["object_size_max"] < js["object_size_max"] and pb["bytes_per_endpoint"] < js["bytes_per_endpoint"]


def test_an_endpoint_costs_the_seeds_100_bytes_in_protobuf() -> None:
    """The seed's "about 100 bytes an endpoint" is protobuf: one more endpoint (a pod targetRef, a node and a
    zone) adds exactly what the fields cost, 111 bytes, where its JSON adds 243."""
    strings = {"address": "10.0.0.100", "kind": "Pod", "namespace": "default", "name": "web-0-100",
               "uid": "00000000-0000-4000-8000-000000000100", "apiVersion": "", "resourceVersion": "",
               "fieldPath": "", "nodeName": "node-100", "zone": "zone-1"}
    field = {name: 2 + len(value) for name, value in strings.items()}  # tag, length (< 128), value
    target_ref = sum(field[name] for name in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion",
                                              "fieldPath"))  # ObjectReference writes its empty strings too
    conditions = 3 * 2  # ready, serving, terminating: tag and varint each
    endpoint = field["address"] + (2 + conditions) + (2 + target_ref) + field["nodeName"] + field["zone"]
    assert 2 + endpoint == 111
    pb = [len(envelope.encode(endpoint_slice("s", n))) for n in (99, 100)]
    js = [len(orjson.dumps(endpoint_slice("s", n))) for n in (99, 100)]
    assert pb[1] - pb[0] == 111 and js[1] - js[0] == 243
    assert pb[1] == 10_984 and 50 < pb[1] / 100 < 150  # the seed: 10 KB for a slice of 100, about 100 bytes each


def test_report_tables_csv_json_and_plots(results: list[dict[str, Any]], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    report.print_tables(results)
    printed = capsys.readouterr().out
    assert "rolling-update  P=4 N=3" in printed and "O(P^2N) | 200T" in printed
    assert "100 endpoints/slice, protobuf" in printed
    plots = importlib.util.find_spec("matplotlib") is not None
    written = report.write(results, str(tmp_path), {"test": True}, plots=plots)
    with open(tmp_path / "evaluate.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(results) * 6
    single = next(r for r in rows if r["scenario"] == "single-endpoint-update" and r["api"] == "endpoints"
                  and r["metric"] == "total_watch_events" and r["encoding"] == "protobuf")
    assert float(single["seed_at_run"]) == N and float(single["measured"]) == N
    assert json.loads((tmp_path / "evaluate.json").read_text())["meta"] == {"test": True}
    table = (tmp_path / "evaluate.md").read_text().splitlines()
    assert len(table) == 2 + len(results) // 2  # one row per scenario and API, both encodings in it
    assert "| single-endpoint-update | Endpoints | 4 | 3 | 1 | 1 | 3 | 100 / " in "\n".join(table)
    assert len(written) == 3 + (4 if plots else 0)


def test_seed_formulas_at_the_seeds_sizes_give_its_figures() -> None:
    assert report.order_value("O(P^2N)", 20_000, 5_000, 100) == 20_000 ** 2 * 5_000
    assert report.order_value("O(NP/B)", 20_000, 5_000, 100) == 1_000_000
    assert report.order_value("O(1)", 7, 7, 7) == 1
    results = [{"scenario": "rolling-update", "api": "slices_b100", "slice_size": 100, "pods": report.SEED_P,
                "nodes": report.SEED_N, "status": "ok"}]
    for row in report.rows(results):
        assert row["seed_at_run"] == row["seed_value"]


async def test_an_endpoints_object_over_the_size_limit_is_a_failed_result() -> None:
    settings = evaluate.Settings(scenarios=("service-creation", "single-endpoint-update"), node_procs=1,
                                 converge_timeout=2.0, drain_timeout=5.0, settle_seconds=0.2, progress=False,
                                 server_args=["--max-request-bytes", "4000"], encodings=("protobuf",))
    results = await evaluate.run_point(evaluate.Point("endpoints", 40, 2), settings)
    creation, update = results
    assert creation["status"].startswith("failed: ") and creation["writes_refused"] > 0
    assert "etcdserver: request is too large" in creation["status"]
    assert creation["write_codes"].get("500", 0) == creation["writes_refused"]
    assert update["status"].startswith("skipped: failed")


def test_rolling_update_fit_recovers_the_constant_and_extrapolates(tmp_path: Path) -> None:
    from loadtest import fit

    results = [{"scenario": "rolling-update", "api": "endpoints", "slice_size": None, "pods": p, "nodes": n,
                "status": "ok", "total_bytes": 150.0 * p * p * n * (1.1 if p == 100 else 1.0),
                "total_watch_events": 2.0 * p * n}
               for p, n in ((100, 5), (200, 5), (400, 10))]
    fits = {f.metric: f for f in fit.fit(results)}
    events = fits["total_watch_events"]
    assert events.order == "O(NP)" and abs(events.constant - 2.0) < 1e-9 and events.worst_deviation < 1e-9
    assert abs(events.extrapolated - 2.0 * 20_000 * 5_000) < 1 and events.seed_value == 100_000_000
    size = fits["total_bytes"]
    assert size.order == "O(P^2N)" and 150 < size.constant < 150 * 1.1 and 0 < size.worst_deviation < 0.1
    plots = importlib.util.find_spec("matplotlib") is not None
    written = fit.write(list(fits.values()), str(tmp_path), "fit", plots=plots)
    assert len(written) == 2 + plots
    with open(tmp_path / "fit.csv") as f:
        assert len(list(csv.DictReader(f))) == 6
