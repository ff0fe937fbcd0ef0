"""Soak: run the server for a long while under churning watchers and steady writes, and check it holds.

    python -m loadtest.soak                                  # 10 minutes on the embedded store
    python -m loadtest.soak --storage etcd --duration 3600   # an hour on a throwaway etcd

The server runs as its own process (`python -m apiserver`, short --bookmark-interval and
--etcd-compaction-interval, a small --watch-buffer so stuck watchers reach their bound within
minutes). Client processes (loadtest.soakclients): one writer (every kind, every verb, a steady
rate) and `--watch-procs` watcher processes holding healthy, slow and stuck watchers that come and go.
Every `--sample-interval` seconds this process samples the server's RSS and open descriptors
(/proc/<pid>), the open and terminated watchers (/debug/watches), the CPU of the server and of each
client process, and the event-loop lag: the latency of `GET /livez/ping` (a check with no storage
call: the time the request waits for the server's event loop plus ~0.3 ms of handling), sent every
0.1 s on one kept-alive connection from this lightly loaded process; p50/p99/max per interval. Beside
it, how late this process's own 0.1 s sleeps woke (`probe_late_ms`) and the machine's load average: a
stall seen by both, or under a high load, is the machine's, not the server's.

Output in `--out`: samples.json, summary.json, soak.png, the server's, etcd's and the clients' logs,
the writer's record and the healthy watchers' sessions. Exit status 1 with the reasons if:
- the server's RSS grew more than `--max-rss-growth` (10 %) from the end of warm-up to the end
  (medians of three samples each);
- the server holds more descriptors (or any watcher) `--settle` seconds after every client closed
  than before the first connected;
- a healthy watcher missed, repeated or reordered an event, saw one never written, got an ERROR or a
  410 on re-watching, or had its stream ended before its timeoutSeconds (see loadtest.soakverify);
- a write failed, or the run did no work.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

import aiohttp
import uvloop

from apiserver.testing import free_port
from loadtest.control import ProcessGroup, cpu_seconds
from loadtest.replicas import Replica
from loadtest.soakverify import Writes, load_writes, verify
from storage.etcd_process import EtcdProcess

PROBE_INTERVAL = 0.1
ANSWER_TIMEOUT = 60.0
CLIENT_BOUND = 0.9  # a client process busier than this share of a core may be the bottleneck


@dataclass
class Settings:
    duration: float = 600.0
    storage: str = "memory"
    out: Path = Path("soak-out")
    sample_interval: float = 5.0
    warmup: float = 0.0  # 0: 30 % of the duration, 20..600 s (RSS levels off after ~13 min: README, Soak)
    write_rate: float = 20.0
    healthy: int = 16
    slow: int = 8
    stuck: int = 200
    watch_procs: int = 2
    min_life: float = 20.0
    max_life: float = 180.0
    min_timeout: int = 15
    max_timeout: int = 60
    bookmark_interval: float = 5.0
    compaction_interval: float = 30.0
    watch_buffer: int = 100
    settle: float = 30.0
    max_rss_growth: float = 0.10
    seed: int = 1

    def warmup_seconds(self) -> float:
        return self.warmup or min(600.0, max(20.0, 0.3 * self.duration))


class Clients(ProcessGroup):
    """Soak client processes; their snapshots summed (numbers) or joined (lists)."""

    def sum(self, reports: list[dict[str, Any]]) -> dict[str, Any]:
        total: dict[str, Any] = {}
        for report in reports:
            for key, value in report.items():
                if isinstance(value, list):
                    total[key] = total.get(key, []) + value
                elif isinstance(value, int | float) and not isinstance(value, bool):
                    total[key] = total.get(key, 0) + value
        return total


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        line = next(line for line in f if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def get_json(url: str) -> Any:
    """One GET on a connection of its own (closed after), so it leaves no descriptor open in the server."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def watch_counts(url: str) -> tuple[int, int]:
    """(open watchers, watchers terminated as too slow so far) from /debug/watches."""
    debug = get_json(url + "/debug/watches")
    return sum(r["open"] for r in debug["resources"].values()), debug["closed"]["terminated"]


@contextmanager
def server(settings: Settings, out: Path) -> Iterator[tuple[Replica, EtcdProcess | None]]:
    """The server under test (and its etcd), logging into `out`; stopped on exit."""
    with ExitStack() as stack:
        args = ["--storage", settings.storage]
        etcd = None
        if settings.storage == "etcd":
            etcd = stack.enter_context(EtcdProcess())
            stack.callback(lambda: (out / "etcd.log").write_bytes(etcd.log_path.read_bytes()))
            args += ["--etcd-servers", etcd.client_url, "--etcd-prefix", "/soak"]
        port = free_port()
        log_path = out / "apiserver.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "apiserver", "--port", str(port), "--kubeconfig", "", *args,
                 "--bookmark-interval", str(settings.bookmark_interval),
                 "--etcd-compaction-interval", str(settings.compaction_interval),
                 "--watch-buffer", str(settings.watch_buffer)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        replica = Replica(f"http://127.0.0.1:{port}", process, log_path)
        stack.callback(replica.stop)
        deadline = time.monotonic() + 30
        while not replica.ready():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not become ready; see {log_path}")
            time.sleep(0.05)
        yield replica, etcd


class Probe:
    """GET /livez/ping every PROBE_INTERVAL on one kept-alive connection; latencies since the last take()."""

    def __init__(self, url: str) -> None:
        self.url = url + "/livez/ping"
        self.latencies: list[float] = []
        self.oversleep = 0.0  # the longest this process's own loop was late: stalls on the client side
        self.failures = 0

    async def run(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            while True:
                started = time.perf_counter()
                try:
                    async with session.get(self.url) as response:
                        await response.read()
                        ok = response.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    ok = False
                self.latencies.append(time.perf_counter() - started)
                self.failures += not ok
                slept = time.perf_counter()
                await asyncio.sleep(PROBE_INTERVAL)
                self.oversleep = max(self.oversleep, time.perf_counter() - slept - PROBE_INTERVAL)

    def take(self) -> dict[str, float]:
        latencies, self.latencies = sorted(self.latencies), []
        oversleep, self.oversleep = self.oversleep, 0.0
        if not latencies:
            return {"lag_p50_ms": 0.0, "lag_p99_ms": 0.0, "lag_max_ms": 0.0, "probe_late_ms": 1e3 * oversleep}
        return {"lag_p50_ms": 1e3 * latencies[len(latencies) // 2],
                "lag_p99_ms": 1e3 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
                "lag_max_ms": 1e3 * latencies[-1], "probe_late_ms": 1e3 * oversleep}


COLUMNS = [("t", "{:>6.0f}"), ("rss_mb", "{:>7.1f}"), ("fds", "{:>5d}"), ("watchers", "{:>8d}"),
           ("terminated", "{:>10d}"), ("lag_p50_ms", "{:>10.2f}"), ("lag_p99_ms", "{:>10.2f}"),
           ("lag_max_ms", "{:>10.2f}"), ("probe_late_ms", "{:>13.2f}"), ("load1", "{:>5.1f}"),
           ("server_cpu", "{:>10.0%}"), ("client_cpu_max", "{:>14.0%}"), ("writes", "{:>7d}"), ("events", "{:>8d}"),
           ("bookmarks", "{:>9d}")]


def row(sample: dict[str, Any]) -> str:
    return " ".join(fmt.format(sample[name]) for name, fmt in COLUMNS)


def header() -> str:
    return " ".join(f"{name:>{len(fmt.format(0) if 'd' in fmt else fmt.format(0.0))}}" for name, fmt in COLUMNS)


class Soak:
    """One soak run: start, sample, stop, settle, judge."""

    def __init__(self, settings: Settings, replica: Replica) -> None:
        self.settings = settings
        self.url = replica.url
        self.process = replica.process
        self.pid = replica.process.pid
        self.out = settings.out
        self.samples: list[dict[str, Any]] = []
        self.writer = Clients(ANSWER_TIMEOUT)
        self.watchers = Clients(ANSWER_TIMEOUT)
        self.probe = Probe(self.url)
        self.cpu: dict[int, float] = {}
        self.baseline_fds = 0
        self.final: dict[str, Any] = {}

    def _cpu_shares(self, pids: list[int], elapsed: float) -> list[float]:
        shares = []
        for pid in pids:
            with contextlib.suppress(OSError):
                now = cpu_seconds(pid)
                shares.append((now - self.cpu.get(pid, now)) / elapsed if pid in self.cpu else 0.0)
                self.cpu[pid] = now
        return shares

    async def run(self, samples: TextIO) -> None:
        """Start the clients, sample (a line of `samples` each) for the duration, stop them, let the server settle."""
        s = self.settings
        self.baseline_fds = await asyncio.to_thread(self._quiet_fds)
        print(f"server {self.url} (pid {self.pid}, storage {s.storage}); {self.baseline_fds} descriptors with no "
              f"client; warm-up {s.warmup_seconds():.0f} s of {s.duration:.0f} s; output in {self.out}", flush=True)
        client = ["--url", self.url, "--seed", str(s.seed)]
        await self.writer.spawn("loadtest.soakclients", 1, 1, lambda _: [
            "writer", *client, "--rate", str(s.write_rate), "--record", str(self.out / "writes.jsonl"),
            "--log", str(self.out / "writer.log")])
        index = itertools.count()
        procs = max(1, s.watch_procs)

        def watcher_args(_: int) -> list[str]:
            i = next(index)
            share = [str(n // procs + (i < n % procs)) for n in (s.healthy, s.slow, s.stuck)]
            return ["watchers", "--url", self.url, "--seed", str(s.seed * 1000 + i),
                    "--sessions", str(self.out / f"sessions-{i}.jsonl"), "--log", str(self.out / f"watchers-{i}.log"),
                    "--healthy", share[0], "--slow", share[1], "--stuck", share[2],
                    "--min-life", str(s.min_life), "--max-life", str(s.max_life),
                    "--min-timeout", str(s.min_timeout), "--max-timeout", str(s.max_timeout)]

        await self.watchers.spawn("loadtest.soakclients", procs, procs, watcher_args)
        probe = asyncio.create_task(self.probe.run())
        started = time.monotonic()
        print(header(), flush=True)
        try:
            while (elapsed := time.monotonic() - started) < s.duration:
                await asyncio.sleep(min(s.sample_interval, s.duration - elapsed))
                sample = await self._sample(time.monotonic() - started)
                self.samples.append(sample)
                samples.write(json.dumps(sample) + "\n")
                samples.flush()
                print(row(sample), flush=True)
        finally:
            probe.cancel()
            broken = []
            for name, group in (("writer", self.writer), ("watchers", self.watchers)):
                try:
                    self.final[name] = await group.command("stop")
                except (RuntimeError, TimeoutError, OSError) as err:  # a client crashed: its log says why
                    broken.append(f"{name}: {err}")
                await group.stop()
        if broken:
            raise RuntimeError(f"client processes failed ({'; '.join(broken)}); see the logs in {self.out}")
        self.final["settle"] = await asyncio.to_thread(self._settle)

    async def _sample(self, t: float) -> dict[str, Any]:
        if self.process.poll() is not None:
            raise RuntimeError(f"the server exited ({self.process.returncode}); see {self.out / 'apiserver.log'}")
        for process in self.writer.processes + self.watchers.processes:
            if process.returncode is not None:
                raise RuntimeError(f"client process {process.pid} exited ({process.returncode}); see the logs in "
                                   f"{self.out}")
        elapsed = self.samples[-1]["t"] if self.samples else 0.0
        interval = max(1e-3, t - elapsed)
        writer = await self.writer.command("snapshot")
        watchers = await self.watchers.command("snapshot")
        open_watchers, terminated = await asyncio.to_thread(watch_counts, self.url)
        server_cpu = self._cpu_shares([self.pid], interval)
        clients_cpu = self._cpu_shares([p.pid for p in self.writer.processes + self.watchers.processes], interval)
        return {"t": t, "load1": os.getloadavg()[0], "rss_mb": rss_bytes(self.pid) / 2**20, "fds": open_fds(self.pid),
                "watchers": open_watchers,
                "terminated": terminated, **self.probe.take(), "server_cpu": server_cpu[0] if server_cpu else 0.0,
                "client_cpu_max": max(clients_cpu, default=0.0), "client_cpu": clients_cpu,
                "writes": writer["writes"], "write_errors": writer["failed"] + writer["ambiguous"],
                "events": watchers["events"], "bookmarks": watchers["bookmarks"],
                "healthy_open": watchers["healthy_open"], "slow_open": watchers["slow_open"],
                "stuck_open": watchers["stuck_open"], "probe_failures": self.probe.failures}

    def _quiet_fds(self) -> int:
        """The server's descriptors with no client connected (after one closed request)."""
        get_json(self.url + "/debug/watches")
        time.sleep(0.5)
        return open_fds(self.pid)

    def _settle(self) -> dict[str, Any]:
        """Wait up to `settle` seconds for the server to be back at its baseline descriptors and no watcher."""
        deadline = time.monotonic() + self.settings.settle
        while True:
            fds, (open_watchers, _) = open_fds(self.pid), watch_counts(self.url)
            time.sleep(0.5)
            fds = open_fds(self.pid)
            if (fds <= self.baseline_fds and not open_watchers) or time.monotonic() > deadline:
                return {"fds": fds, "baseline_fds": self.baseline_fds, "open_watchers": open_watchers,
                        "waited": round(self.settings.settle - max(0.0, deadline - time.monotonic()), 1)}

    def _compacted(self, writes: dict[str, Writes]) -> bool | None:
        """Has storage been compacted past the first write? (An exact list at its revision gets 410.)"""
        first = min((w.rvs[0] for w in writes.values() if w.rvs), default=None)
        if first is None:
            return None
        try:
            get_json(f"{self.url}/api/v1/namespaces?limit=1&resourceVersionMatch=Exact&resourceVersion={first}")
        except urllib.error.HTTPError as err:
            return err.code == 410
        return False

    def judge(self) -> tuple[dict[str, Any], list[str]]:
        """The summary and the reasons the soak failed (none: it passed)."""
        s, failures = self.settings, []
        loaded = [x for x in self.samples if x["t"] >= s.warmup_seconds()]
        rss_growth = None
        if len(loaded) >= 6:
            start = statistics.median(x["rss_mb"] for x in loaded[:3])
            end = statistics.median(x["rss_mb"] for x in loaded[-3:])
            rss_growth = end / start - 1
            if rss_growth > s.max_rss_growth:
                failures.append(f"RSS grew {rss_growth:.1%} after warm-up ({start:.1f} -> {end:.1f} MB), "
                                f"more than {s.max_rss_growth:.0%}")
        else:
            failures.append(f"too few samples after warm-up to judge RSS ({len(loaded)}; need 6)")
        settle = self.final["settle"]
        if settle["fds"] > settle["baseline_fds"]:
            failures.append(f"descriptor leak: {settle['fds']} open {settle['waited']} s after every client closed, "
                            f"{settle['baseline_fds']} before any connected")
        if settle["open_watchers"]:
            failures.append(f"{settle['open_watchers']} watchers still registered after every client closed")
        writer, watchers = self.final["writer"], self.final["watchers"]
        with open(self.out / "writes.jsonl") as f:
            writes = load_writes(f)
        errors: list[str] = []
        early: list[str] = []

        def segments() -> Iterator[dict[str, Any]]:
            """The healthy watchers' segments, streamed; their errors and early ends collected on the way."""
            for path in sorted(self.out.glob("sessions-*.jsonl")):
                with open(path) as f:
                    for line in f:
                        segment = json.loads(line)
                        errors.extend(segment["errors"])
                        early.extend(segment["early_ends"])
                        yield segment

        verdict = verify(writes, segments())
        if verdict.failed:
            failures.append(f"healthy watchers: {verdict.missed} events missed, {verdict.repeated} repeated, "
                            f"{verdict.out_of_order} out of order, {verdict.unexpected} never written, "
                            f"{verdict.wrong} not as written; e.g. " + "; ".join(verdict.examples))
        if errors:
            failures.append(f"healthy watchers: {len(errors)} errors (incl. 410 on re-watch); e.g. {errors[:3]}")
        if early:
            failures.append(f"healthy watchers: {len(early)} streams ended before their timeoutSeconds; e.g. "
                            f"{early[:3]}")
        if watchers["client_errors"]:
            failures.append(f"watchers: {watchers['client_errors']} requests failed; e.g. "
                            f"{watchers['watcher_errors'][:3]}")
        if writer["failed"] or writer["ambiguous"]:
            failures.append(f"writes: {writer['failed']} failed, {writer['ambiguous']} unanswered; e.g. "
                            f"{writer['write_failures'][:3]}")
        if not writer["writes"] or not verdict.events or not watchers["bookmarks"]:
            failures.append(f"the run did too little: {writer['writes']} writes, {verdict.events} events and "
                            f"{watchers['bookmarks']} bookmarks at healthy watchers")
        compacted = self._compacted(writes)
        if compacted is False and s.duration > 3 * s.compaction_interval:
            failures.append("storage was never compacted (an exact list at the first write's revision still works)")
        lags = [x["lag_max_ms"] for x in self.samples]
        cpu = [x["client_cpu_max"] for x in self.samples]
        summary = {
            "settings": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(s).items()},
            "samples": len(self.samples), "rss_growth": rss_growth,
            "rss_mb": {"min": min((x["rss_mb"] for x in self.samples), default=None),
                       "max": max((x["rss_mb"] for x in self.samples), default=None)},
            "lag_ms": {"p50_median": statistics.median(x["lag_p50_ms"] for x in self.samples) if self.samples else None,
                       "p99_max": max((x["lag_p99_ms"] for x in self.samples), default=None),
                       "max": max(lags, default=None)},
            "probe_failures": self.probe.failures, "compacted": compacted,
            "client_bound_samples": sum(c > CLIENT_BOUND for c in cpu),
            "settle": settle, "writer": writer, "watchers": watchers,
            "verification": asdict(verdict), "failures": failures, "passed": not failures,
        }
        return summary, failures


def plot(samples: list[dict[str, Any]], warmup: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [x["t"] / 60 for x in samples]
    panels = [("server RSS (MB)", ["rss_mb"]), ("open descriptors", ["fds"]),
              ("watchers", ["watchers", "terminated"]),
              ("GET /livez/ping (ms)", ["lag_p50_ms", "lag_p99_ms", "lag_max_ms", "probe_late_ms"]),
              ("CPU (cores)", ["server_cpu", "client_cpu_max"]), ("healthy events, writes", ["events", "writes"])]
    fig, axes = plt.subplots(3, 2, figsize=(12, 9), sharex=True)
    for ax, (title, keys) in zip(axes.flat, panels):
        for key in keys:
            ax.plot(t, [x[key] for x in samples], label=key)
        ax.axvline(warmup / 60, color="grey", linestyle=":", label="end of warm-up")
        ax.set_title(title)
        ax.legend(fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("minutes")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(settings: Settings) -> tuple[dict[str, Any], list[str]]:
    """Run a soak; returns (summary, failures). Everything it writes goes to `settings.out`."""
    settings.out.mkdir(parents=True, exist_ok=True)
    for old in [*settings.out.glob("sessions-*.jsonl"), settings.out / "writes.jsonl"]:
        old.unlink(missing_ok=True)
    with server(settings, settings.out) as (replica, _):
        soak = Soak(settings, replica)
        with open(settings.out / "samples.jsonl", "w") as samples:
            uvloop.run(soak.run(samples))
        summary, failures = soak.judge()
    (settings.out / "samples.json").write_text(json.dumps(soak.samples, indent=1))
    (settings.out / "summary.json").write_text(json.dumps(summary, indent=1))
    if soak.samples:
        plot(soak.samples, settings.warmup_seconds(), settings.out / "soak.png")
    return summary, failures


HELP = {
    "duration": "seconds of load", "storage": "the server's storage (etcd: a throwaway etcd is started)",
    "out": "directory for samples, summary, plot, logs and records (default soak-<storage>)",
    "sample_interval": "seconds between samples", "warmup": "seconds before the RSS baseline (0: 30 %% of the "
    "duration, 20..600 s)", "write_rate": "writes a second (one writer, one at a time)",
    "healthy": "healthy watchers at a time", "slow": "slow watchers at a time", "stuck": "stuck watchers at a time",
    "watch_procs": "processes sharing the watchers", "min_life": "shortest watcher life, seconds",
    "max_life": "longest watcher life, seconds", "min_timeout": "healthy watches' shortest timeoutSeconds",
    "max_timeout": "healthy watches' longest timeoutSeconds", "bookmark_interval": "the server's --bookmark-interval",
    "compaction_interval": "the server's --etcd-compaction-interval", "watch_buffer": "the server's --watch-buffer",
    "settle": "seconds the server may take to close everything after the clients", "max_rss_growth":
    "largest RSS growth after warm-up that passes (a fraction)", "seed": "random seed of the clients",
}


def main() -> None:
    defaults = Settings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, value in asdict(defaults).items():
        flag = "--" + name.replace("_", "-")
        if name == "storage":
            parser.add_argument(flag, choices=["memory", "etcd"], default=value, help=HELP[name])
        elif name == "out":
            parser.add_argument(flag, type=Path, default=None, help=HELP[name])
        else:
            parser.add_argument(flag, type=type(value), default=value, help=f"{HELP[name]} (default {value})")
    args = parser.parse_args()
    args.out = args.out or Path(f"soak-{args.storage}")
    settings = Settings(**vars(args))
    try:
        summary, failures = run(settings)
    except RuntimeError as err:
        print(f"\nSOAK FAILED: {err}", file=sys.stderr)
        sys.exit(1)
    print(f"\nRSS {summary['rss_mb']['min']:.1f}..{summary['rss_mb']['max']:.1f} MB, growth after warm-up "
          f"{summary['rss_growth'] if summary['rss_growth'] is None else format(summary['rss_growth'], '.1%')}; "
          f"descriptors {summary['settle']['fds']} after settling (baseline {summary['settle']['baseline_fds']}); "
          f"ping p99 max {summary['lag_ms']['p99_max']:.1f} ms, max {summary['lag_ms']['max']:.1f} ms; "
          f"client-bound samples {summary['client_bound_samples']}")
    verdict = summary["verification"]
    print(f"writes {summary['writer']['writes']}; healthy segments {verdict['segments']}, events {verdict['events']} "
          f"of {verdict['expected']} expected; watchers: {json.dumps(summary['watchers'])}")
    if failures:
        print("\nSOAK FAILED:\n- " + "\n- ".join(failures), file=sys.stderr)
        sys.exit(1)
    print("\nsoak passed")


if __name__ == "__main__":
    main()
