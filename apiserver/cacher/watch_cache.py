"""WatchCache: the current objects of one resource plus a sliding window of recent events.

A plain data structure, no I/O. The window's capacity adapts as upstream's does: when it is full
and its oldest event is younger than `fresh_seconds` it doubles (up to `max_capacity`); when it is
full and even the event a quarter from the newest end is older than that, it halves (down to
`min_capacity`). A watch from a resourceVersion older than the window gets 410 Expired.
"""

from __future__ import annotations

from collections import deque

from apiserver.cacher.event import CacheEvent, Obj

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
                 fresh_seconds: float = FRESH_SECONDS) -> None:
        self.min_capacity = min_capacity
        self.max_capacity = max(max_capacity, min_capacity)
        self.capacity = min_capacity
        self.fresh_seconds = fresh_seconds
        self.store: dict[str, CacheEvent] = {}
        self.history: deque[CacheEvent] = deque()
        self.rv = 0
        self.start_rv = 0
        self.resizes = {"increase": 0, "decrease": 0}

    def replace(self, events: list[CacheEvent], rv: int) -> None:
        """Reset to a full listing taken at `rv`; the window restarts there."""
        self.store = {e.key: e for e in events}
        self.history.clear()
        self.rv = self.start_rv = rv

    def apply(self, event: CacheEvent) -> None:
        if event.type == "DELETED":
            self.store.pop(event.key, None)
        else:
            self.store[event.key] = event
        if len(self.history) >= self.capacity:
            self._resize(event.received)
        if len(self.history) >= self.capacity:
            self.start_rv = self.history.popleft().rv
        self.history.append(event)
        self.rv = event.rv

    def _resize(self, now: float) -> None:
        """Called when the window is full, before an event is added (upstream's resizeCacheLocked)."""
        if now - self.history[0].received < self.fresh_seconds:
            if self.capacity < self.max_capacity:
                self.capacity = min(self.capacity * 2, self.max_capacity)
                self.resizes["increase"] += 1
        elif now - self.history[-(self.capacity // 4)].received > self.fresh_seconds:  # upstream: endIndex - capacity/4
            if self.capacity > self.min_capacity:
                self.capacity = max(self.capacity // 2, self.min_capacity)
                self.resizes["decrease"] += 1
                while len(self.history) > self.capacity:
                    self.start_rv = self.history.popleft().rv

    def events_after(self, rv: int) -> list[CacheEvent]:
        """Every kept event newer than `rv`; TooOldError if some may have been dropped already."""
        if rv < self.start_rv:
            raise TooOldError(rv, self.start_rv)
        if rv >= self.rv:
            return []
        return [e for e in self.history if e.rv > rv]

    def entries(self, prefix: str = "") -> list[CacheEvent]:
        """The events of the current objects under `prefix`, in key order."""
        return [self.store[k] for k in sorted(self.store) if k.startswith(prefix)]

    def snapshot(self, prefix: str = "") -> list[Obj]:
        """Current objects under `prefix`, in key order."""
        return [e.obj for e in self.entries(prefix)]
