"""WatchCache: the current objects of one resource plus a bounded window of recent events.

A plain data structure, no I/O: the cacher feeds it storage events in revision order, and reads
from it (snapshots for lists, history for watches from a resourceVersion). A watch from a version
older than the window cannot be served and gets 410 Expired.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from apiserver.cacher.event import CacheEvent, Obj


class TooOldError(Exception):
    """The requested resourceVersion is older than the oldest event kept."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


class WatchCache:
    """State (key → object) and a ring of the last `capacity` events, both at revision `rv`."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.store: dict[str, Obj] = {}
        self.history: deque[CacheEvent] = deque()
        self.rv = 0
        self.start_rv = 0

    def replace(self, objects: Iterable[tuple[str, Obj]], rv: int) -> None:
        """Reset to a full listing taken at `rv`; history restarts there."""
        self.store = dict(objects)
        self.history.clear()
        self.rv = self.start_rv = rv

    def apply(self, event: CacheEvent) -> None:
        if event.type == "DELETED":
            self.store.pop(event.key, None)
        else:
            self.store[event.key] = event.obj
        self.history.append(event)
        if len(self.history) > self.capacity:
            self.history.popleft()
        self.rv = event.rv

    def events_after(self, rv: int) -> list[CacheEvent]:
        """Every kept event newer than `rv`; TooOldError if some could have been dropped already."""
        oldest = self.history[0].rv - 1 if len(self.history) >= self.capacity else self.start_rv
        if rv < oldest:
            raise TooOldError(rv, oldest)
        return [e for e in self.history if e.rv > rv] if rv < self.rv else []

    def snapshot(self, prefix: str = "") -> list[Obj]:
        """Current objects under `prefix`, in key order."""
        return [self.store[k] for k in sorted(self.store) if k.startswith(prefix)]
