"""A short headless Locust run of loadtest/locustfile.py against a live server with its controllers."""

from __future__ import annotations

import asyncio
import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from apiserver.testing import run_server
from loadtest.evaluate import Controllers

pytestmark = pytest.mark.skipif(importlib.util.find_spec("locust") is None, reason="locust is not installed")
LOCUSTFILE = Path(__file__).parent.parent / "loadtest" / "locustfile.py"


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
def test_headless_run_reports_watch_events_with_their_sizes(tmp_path: Path, encoding: str) -> None:
    with run_server() as server:  # locust runs in its own process: no gevent patching in pytest's
        controllers = Controllers(server.url, ["--controllers", "endpointslice"])
        try:
            asyncio.run(controllers.wait_ready())
            done = subprocess.run(
                [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", "6", "-r", "6",
                 "--run-time", "4s", "--stop-timeout", "2", "--host", server.url, "--csv", str(tmp_path / "run"),
                 "--only-summary", "--churn-pods", "3", "--churn-rate", "5", "--watch-encoding", encoding],
                capture_output=True, text=True, timeout=60, check=False)
        finally:
            counts = controllers.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    with open(tmp_path / "run_stats.csv") as f:
        stats = {(row["Type"], row["Name"]): row for row in csv.DictReader(f)}
    watch_events = {name: row for (kind, name), row in stats.items() if kind == "WATCH"}
    assert watch_events and sum(int(row["Request Count"]) for row in watch_events.values()) > 0
    assert set(watch_events) <= {"ADDED", "MODIFIED", "DELETED", "BOOKMARK"}  # read from each event's type
    assert all(float(row["Average Content Size"]) > 0 for row in watch_events.values())
    assert int(stats[("", "Aggregated")]["Failure Count"]) == 0
    assert counts["endpointslice"]["total"] > 0
