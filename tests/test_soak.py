"""The soak command: its verification of healthy watchers, and a short run on the embedded store."""

from __future__ import annotations

import json
from pathlib import Path

import orjson

from loadtest import soak
from loadtest.soakverify import Verdict, load_writes, verify

RECORD = [  # what the writer records: pods created, patched, deleted (its revision unknown: after 12, before 16)
    {"r": "pods", "ns": "a", "n": "p1", "t": "A", "rv": 10},
    {"r": "pods", "ns": "b", "n": "p2", "t": "A", "rv": 11},
    {"r": "pods", "ns": "a", "n": "p1", "t": "M", "rv": 12},
    {"r": "pods", "ns": "a", "n": "p1", "t": "D", "lo": 12},
    {"r": "pods", "ns": "b", "n": "p2", "t": "M", "rv": 16},
    {"anchor": 16},
]


def segment(start: int, end: int, events: list[tuple[int, str, str, str]], ns: str = "") -> dict[str, object]:
    return {"r": "pods", "ns": ns, "start": start, "end": end, "events": events}


def check(*segments: dict[str, object]) -> Verdict:
    return verify(load_writes(orjson.dumps(e) for e in RECORD), segments)


def test_a_complete_window_passes_and_a_delete_matches_its_range() -> None:
    verdict = check(segment(9, 16, [(10, "A", "a", "p1"), (11, "A", "b", "p2"), (12, "M", "a", "p1"),
                                    (13, "D", "a", "p1"), (16, "M", "b", "p2")]))
    assert verdict.failed == 0 and verdict.events == verdict.expected == 5


def test_a_namespace_scope_expects_only_its_namespace() -> None:
    verdict = check(segment(11, 16, [(16, "M", "b", "p2")], ns="b"))  # the delete in ns a is not expected
    assert verdict.failed == 0 and verdict.expected == 1


def test_missed_repeated_reordered_and_unwritten_events_are_counted() -> None:
    assert check(segment(9, 12, [(10, "A", "a", "p1"), (12, "M", "a", "p1")])).missed == 1
    assert check(segment(9, 11, [(10, "A", "a", "p1"), (11, "A", "b", "p2"), (11, "A", "b", "p2")])).repeated == 1
    assert check(segment(9, 11, [(11, "A", "b", "p2"), (10, "A", "a", "p1")])).out_of_order == 1
    assert check(segment(16, 20, [(18, "A", "a", "p9")])).unexpected == 1
    assert check(segment(9, 10, [(10, "M", "a", "p1")])).wrong == 1
    assert check(segment(12, 16, [(16, "M", "b", "p2")])).missed == 1  # the delete in (12, 16)


def test_a_delete_straddling_the_window_end_is_optional() -> None:
    assert check(segment(12, 13, [])).failed == 0
    assert check(segment(12, 13, [(13, "D", "a", "p1")])).failed == 0


def test_a_short_soak_on_the_embedded_store_passes(tmp_path: Path) -> None:
    settings = soak.Settings(
        duration=25, out=tmp_path, sample_interval=2, warmup=8, write_rate=20, healthy=6, slow=2, stuck=20,
        watch_procs=1, min_life=4, max_life=12, min_timeout=3, max_timeout=8, bookmark_interval=2,
        compaction_interval=5, settle=20,
        max_rss_growth=1.0)  # 25 s is too short for RSS to level off (watch cache windows grow for 75 s)
    summary, failures = soak.run(settings)
    assert failures == [] and summary["passed"]
    samples = json.loads((tmp_path / "samples.json").read_text())
    assert len(samples) == summary["samples"] >= 10
    for column, _ in soak.COLUMNS:
        assert all(column in s for s in samples)
    assert samples[-1]["writes"] > 100 and samples[-1]["events"] > 0 and samples[-1]["bookmarks"] > 0
    assert max(s["watchers"] for s in samples) > 0
    verification = summary["verification"]
    assert verification["segments"] > 0 and verification["events"] >= verification["expected"] > 0
    assert summary["settle"]["fds"] <= summary["settle"]["baseline_fds"]
    assert summary["settle"]["open_watchers"] == 0
    assert summary["compacted"] is True
    assert summary["watchers"]["stuck_sessions"] > 0 and summary["watchers"]["slow_sessions"] > 0
    assert json.loads((tmp_path / "summary.json").read_text())["passed"]
    assert (tmp_path / "soak.png").stat().st_size > 0
