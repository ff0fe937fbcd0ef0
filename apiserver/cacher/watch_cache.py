"""WatchCache: the current objects of one resource plus a sliding window of recent events.

A plain data structure, no I/O. The window's capacity adapts as upstream's does: when it is full
and its oldest event is younger than `fresh_seconds` it doubles (up to `max_capacity`); when it is
full and even the event a quarter from the newest end is older than that, it halves (down to
`min_capacity`). A watch from a resourceVersion older than the window gets 410 Expired.

The store is kept in key order (a list or an initial-events watch reads a prefix's range, never
sorts) and the window in revision order (a watch from a revision bisects it). Events charge the
frames they keep to a FrameBudget; an event superseded in the store, or that leaves the window and is
not the current state, drops its frames (and the stored value it keeps) at once.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from itertools import islice

from sortedcontainers import SortedDict

from apiserver.cacher.event import CacheEvent, FrameBudget, Obj

FRESH_SECONDS = 75.0  # upstream's eventFreshDuration: bookmark frequency (60 s) + 15 s


class TooOldError(Exception):
    """The requested resourceVersion is older than the oldest event kept."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


class WatchCache:
    """State (key → the event that produced the current object) and the event window, at revision `rv`."""

    def __init__(self, min_capacity: int = 100, max_capacity: int = 102_400,
                 fresh_seconds: float = FRESH_SECONDS, frames: FrameBudget | None = None) -> None:
        self.min_capacity = min_capacity
        self.max_capacity = max(max_capacity, min_capacity)
        self.capacity = min_capacity
        self.fresh_seconds = fresh_seconds
        self.frames = frames if frames is not None else FrameBudget()
        self.store: SortedDict[str, CacheEvent] = SortedDict()
        self.history: deque[CacheEvent] = deque()
        self.rv = 0
        self.start_rv = 0
        self.resizes = {"increase": 0, "decrease": 0}

    def replace(self, events: list[CacheEvent], rv: int) -> None:
        """Reset to a full listing taken at `rv`; the window restarts there."""
        for old in (*self.store.values(), *self.history):
            old.retire()
        for event in events:
            event.budget = self.frames
        self.store = SortedDict((e.key, e) for e in events)
        self.history.clear()
        self.rv = self.start_rv = rv

    def apply(self, event: CacheEvent) -> None:
        event.budget = self.frames
        superseded = self.store.pop(event.key, None) if event.type == "DELETED" else self.store.get(event.key)
        if event.type != "DELETED":
            self.store[event.key] = event
        if superseded is not None:
            superseded.retire()
        if len(self.history) >= self.capacity:
            self._resize(event.received)
        if len(self.history) >= self.capacity:
            self._drop_oldest()
        self.history.append(event)
        self.rv = event.rv

    def _resize(self, now: float) -> None:
        """Called when the window is full, before an event is added (upstream's resizeCacheLocked)."""
        if now - self.history[0].received < self.fresh_seconds:
            if self.capacity < self.max_capacity:
                self.capacity = min(self.capacity * 2, self.max_capacity)
                self.resizes["increase"] += 1
        # upstream checks the event at endIndex - capacity/4
        elif self.capacity > self.min_capacity and now - self.history[-(self.capacity // 4)].received > self.fresh_seconds:
            self.capacity = max(self.capacity // 2, self.min_capacity)
            self.resizes["decrease"] += 1
            while len(self.history) > self.capacity:
                self._drop_oldest()

    def _drop_oldest(self) -> None:
        """The oldest event leaves the window; its frames go too unless it is still the current state."""
        oldest = self.history.popleft()
        self.start_rv = oldest.rv
        if self.store.get(oldest.key) is not oldest:
            oldest.retire()

    def events_after(self, rv: int) -> list[CacheEvent]:
        """Every kept event newer than `rv`; TooOldError if some may have been dropped already."""
        if rv < self.start_rv:
            raise TooOldError(rv, self.start_rv)
        if rv >= self.rv:
            return []
        history = self.history
        newer = len(history) - bisect_right(history, rv, key=_revision)
        return list(islice(reversed(history), newer))[::-1]

    def entries(self, prefix: str = "") -> list[CacheEvent]:
        """The events of the current objects under `prefix`, in key order."""
        store = self.store
        start = store.bisect_left(prefix)
        stop = store.bisect_left(prefix[:-1] + chr(ord(prefix[-1]) + 1)) if prefix else len(store)
        return list(store.values()[start:stop])

    def snapshot(self, prefix: str = "") -> list[Obj]:
        """Current objects under `prefix`, in key order."""
        return [e.obj for e in self.entries(prefix)]


def _revision(event: CacheEvent) -> int:
    return event.rv
