"""Did every healthy watcher get exactly the writes of its window? The soak's precise check.

The writer's record (loadtest.soakclients) lists every successful write in order: resource,
namespace, name, event type (A, M, D) and either its resourceVersion `rv` or, for a delete, `lo`
(the revision the writer had seen before it; its event falls after `lo` and before the next
write's revision, `hi`). A healthy segment watched one resource (in one namespace or all) from
`start` and saw revisions up to `end` (events and bookmarks). It must hold, strictly increasing:
every write with start < rv <= end, every delete whose whole (lo, hi) lies in that window, and
nothing else (a write that got no answer may or may not appear, and so may the MODIFIED events the
server's namespace controller writes while it empties a deleted namespace, type `m`).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

EXAMPLES = 5


@dataclass
class Ranged:
    """A write whose revision is only known to lie in (lo, hi)."""

    namespace: str
    name: str
    type: str  # A, M, D, ? (no answer: any event of the object) or m (the server's writes: any MODIFIED events)
    lo: int
    hi: float = math.inf


@dataclass
class Writes:
    """One resource's writes: exact revisions (sorted) and ranged ones (sorted by lo)."""

    rvs: list[int] = field(default_factory=list)
    exact: dict[int, tuple[str, str, str]] = field(default_factory=dict)  # rv -> (type, namespace, name)
    ranged: list[Ranged] = field(default_factory=list)
    los: list[int] = field(default_factory=list)  # each ranged write's lo, for bisecting


def load_writes(lines: Iterable[str | bytes]) -> dict[str, Writes]:
    """Parse the writer's record; a ranged write's `hi` is the next exact revision (or the final anchor)."""
    writes: dict[str, Writes] = {}
    open_ranges: list[Ranged] = []
    for line in lines:
        entry: dict[str, Any] = orjson.loads(line)
        rv = entry.get("rv", entry.get("anchor"))
        if rv is not None:
            for ranged in open_ranges:
                ranged.hi = rv + 1 if "anchor" in entry else rv
            open_ranges.clear()
        if "anchor" in entry:
            continue
        per = writes.setdefault(entry["r"], Writes())
        if "rv" in entry:
            per.rvs.append(entry["rv"])
            per.exact[entry["rv"]] = (entry["t"], entry["ns"], entry["n"])
        else:
            ranged = Ranged(entry["ns"], entry["n"], entry["t"], entry["lo"])
            per.ranged.append(ranged)
            open_ranges.append(ranged)
    for per in writes.values():
        per.rvs.sort()
        per.ranged.sort(key=lambda r: r.lo)
        per.los = [r.lo for r in per.ranged]
    return writes


@dataclass
class Verdict:
    segments: int = 0
    events: int = 0
    expected: int = 0
    missed: int = 0
    repeated: int = 0
    out_of_order: int = 0
    unexpected: int = 0
    wrong: int = 0  # an event whose type or object differs from the write at its revision
    examples: list[str] = field(default_factory=list)

    def note(self, message: str) -> None:
        if len(self.examples) < EXAMPLES:
            self.examples.append(message)

    @property
    def failed(self) -> int:
        return self.missed + self.repeated + self.out_of_order + self.unexpected + self.wrong


def verify_segment(segment: dict[str, Any], writes: Writes, verdict: Verdict) -> None:
    """Compare one healthy segment with the writes of its resource, namespace and window."""
    start, end, namespace = segment["start"], segment["end"], segment["ns"]
    where = f"{segment['r']} ns={namespace!r} ({start}, {end}]"
    events = [tuple(e) for e in segment["events"]]
    verdict.segments += 1
    verdict.events += len(events)
    previous, seen = start, set()
    for rv, *_ in events:
        if rv in seen:
            verdict.repeated += 1
            verdict.note(f"{where}: revision {rv} repeated")
        elif rv <= previous:
            verdict.out_of_order += 1
            verdict.note(f"{where}: revision {rv} after {previous}")
        seen.add(rv)
        previous = max(previous, rv)
    in_scope = [rv for rv in writes.rvs[bisect_right(writes.rvs, start):bisect_right(writes.rvs, end)]
                if not namespace or writes.exact[rv][1] == namespace]
    candidates = [r for r in writes.ranged[:bisect_left(writes.los, end)]
                  if r.hi > start + 1 and (not namespace or r.namespace == namespace)]
    required = {id(r) for r in candidates if r.lo >= start and r.hi <= end + 1 and r.type not in ("?", "m")}
    verdict.expected += len(in_scope) + len(required)
    matched: set[int] = set()
    for rv, code, ns, name in sorted(set(events)):
        if rv in writes.exact and (not namespace or writes.exact[rv][1] == namespace):
            if writes.exact[rv] != (code, ns, name):
                verdict.wrong += 1
                verdict.note(f"{where}: revision {rv} is {code} {ns}/{name}, written {writes.exact[rv]}")
            continue
        around = [r for r in candidates if r.lo < rv < r.hi and r.name == name and r.namespace == ns]
        ranged = next((r for r in around if id(r) not in matched and r.type in (code, "?")), None)
        if ranged is None and code == "M" and any(r.type == "m" for r in around):
            continue  # one of the server's own writes, which may be any number
        if ranged is None:
            verdict.unexpected += 1
            verdict.note(f"{where}: {code} {ns}/{name} at {rv} was never written")
        else:
            matched.add(id(ranged))
    received = {e[0] for e in events}
    for rv in in_scope:
        if rv not in received:
            verdict.missed += 1
            verdict.note(f"{where}: missed {writes.exact[rv]} at {rv}")
    for ranged in candidates:
        if id(ranged) in required and id(ranged) not in matched:
            verdict.missed += 1
            verdict.note(f"{where}: missed {ranged.type} {ranged.namespace}/{ranged.name} "
                         f"in ({ranged.lo}, {ranged.hi})")


def verify(writes: dict[str, Writes], segments: Iterable[dict[str, Any]]) -> Verdict:
    verdict = Verdict()
    for segment in segments:
        verify_segment(segment, writes.get(segment["r"], Writes()), verdict)
    return verdict
