"""Smoke test of the stuck-watchers command (`python -m loadtest.stuck`): counts only, never timings."""

from __future__ import annotations

import argparse

from loadtest import stuck


async def test_stuck_command_reports_every_count() -> None:
    args = argparse.Namespace(stuck=10, healthy=2, puts=120, endpoints=100, rcvbuf=4096, hold_procs=1,
                              server_args="--watch-buffer 30")
    result = await stuck.run(args, args.stuck, args.healthy)
    assert result["stuck"] == 10 and result["healthy"] == 2 and result["written"] == 120
    assert result["healthy_min_events"] == 120 and result["healthy_ended"] == 0
    assert result["debug_watches"]["terminated"] == 10 and result["debug_watches"]["open"] == 2
    assert result["stuck_tcp_states"] == {"close": 10}
    assert result["gets"] > 0 and result["get_failures"] == 0
    checks = {line.split(":")[0]: ok for line, ok in stuck.acceptance(result, result)}
    assert checks["healthy watchers received every event"]
    assert checks["every stuck watcher closed past its bound"]
