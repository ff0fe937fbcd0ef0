"""Smoke test of `python -m loadtest.storagebench`: a tiny run of every setup writes a complete report (no timings)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from loadtest import kubepeer
from storage.etcd_process import etcd_binary

KEYS = {"creates_per_s", "updates_per_s", "latency_p50_ms", "latency_p99_ms", "server_cpu_ms_per_write",
        "etcd_cpu_ms_per_write", "client_cpu_ms_per_write", "object_bytes"}


def test_storagebench_reports_every_setup(tmp_path: Path) -> None:
    setups = "memory:1,etcd:1,etcd-json:1,etcd:2,etcd-raw" if etcd_binary() else "memory:1"
    if kubepeer.missing() is None:  # beside them on the same etcd
        setups += f",{kubepeer.KUBE}"
    out = tmp_path / "bench.json"
    run = subprocess.run([sys.executable, "-m", "loadtest.storagebench", "--slices", "20", "--endpoints", "5",
                          "--writes", "5", "--setups", setups, "--json", str(out)],
                         check=False, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    results = json.loads(out.read_text())["results"]
    assert list(results) == [s.replace(":", " x") if s != "etcd-raw" else s for s in setups.split(",")]
    for result in results.values():
        assert set(result) == KEYS
        assert result["creates_per_s"] > 0 and result["updates_per_s"] > 0
        assert 0 < result["latency_p50_ms"] <= result["latency_p99_ms"]
    assert "creates/s" in run.stdout
