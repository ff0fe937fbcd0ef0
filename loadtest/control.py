"""Worker processes driven over stdin/stdout: each answers every command with one JSON line.

`loadtest.watchers --control` and `loadtest.nodes --control` are such workers; a `ProcessGroup`
starts several, splits the connections between them, and sums their answers.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from typing import Any

import orjson

CLK_TCK = os.sysconf("SC_CLK_TCK")
STOP_SECONDS = 15.0


def cpu_seconds(pid: int, user_only: bool = False) -> float:
    """utime + stime of a process (utime alone: the CPU spent in Python, not in the kernel's socket copies)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + (0 if user_only else int(fields[12]))) / CLK_TCK


class ProcessGroup:
    """Worker processes of one module sharing `total` connections; their answers summed."""

    summed: tuple[str, ...] = ("connections", "connected", "connect_errors", "closed_early", "events", "bytes")

    def __init__(self, answer_timeout: float) -> None:
        self.answer_timeout = answer_timeout
        self.processes: list[asyncio.subprocess.Process] = []

    async def spawn(self, module: str, total: int, procs: int, args: Callable[[int], list[str]]) -> dict[str, Any]:
        """Start up to `procs` workers, `args(share)` each, and return their first answers summed."""
        procs = max(1, min(procs, total))
        for share in (total // procs + (i < total % procs) for i in range(procs)):
            self.processes.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", module, *args(share), "--control",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE))
        return self.sum([await self._read(p) for p in self.processes])

    async def _read(self, process: asyncio.subprocess.Process) -> dict[str, Any]:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), self.answer_timeout)
        if not line:
            raise RuntimeError(f"worker process {process.pid} exited ({await process.wait()})")
        report: dict[str, Any] = orjson.loads(line)
        return report

    async def command(self, command: str) -> dict[str, Any]:
        """Send `command` (e.g. `snapshot`, `mark`) to every worker; their answers summed."""
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write(command.encode() + b"\n")
        return self.sum([await self._read(p) for p in self.processes])

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.processes if p.returncode is None)

    def sum(self, reports: list[dict[str, Any]]) -> dict[str, Any]:
        total: dict[str, Any] = {key: sum(r[key] for r in reports) for key in self.summed}
        total["min_events"] = min(r["min_events"] for r in reports)
        total["max_events"] = max(r["max_events"] for r in reports)
        total["connect_error_examples"] = sorted({e for r in reports for e in r["connect_error_examples"]})[:3]
        return total

    async def stop(self) -> None:
        """Close stdin (the workers report and exit); kill what does not exit within STOP_SECONDS."""
        for process in self.processes:
            if process.returncode is None and process.stdin is not None:
                process.stdin.close()
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), STOP_SECONDS)
            except TimeoutError:
                process.kill()
                await process.wait()
