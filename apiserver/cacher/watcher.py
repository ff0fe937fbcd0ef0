"""CacheWatcher: one client's watch, a filter and a bounded buffer of encoded frames.

The dispatcher only ever calls `offer` (synchronous, never waits). The writer task that owns the
client's socket awaits `next_frames` and writes everything pending at once. A watcher whose buffer
stays full is closed (its stream ends without an ERROR event, as kube-apiserver does) so a slow
client never holds up the others. Initial events and replayed history are not bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson

from apiserver.cacher.event import CacheEvent, Obj, watch_frame

Predicate = Callable[[Obj], bool]
Encoder = Callable[[str, Obj], bytes]


class CacheWatcher:
    """Filters cache events for one watch and buffers their frames for its writer."""

    def __init__(self, predicate: Predicate, encoder: Encoder | None, max_buffered: int, after: int = 0) -> None:
        self.predicate = predicate
        self.encoder = encoder
        self.max_buffered = max_buffered
        self.buffer: list[bytes] = []
        self.closed = False
        self.terminated = False
        self.sent_rv = 0
        self.after = after  # events at or before this revision are not for this watcher
        self._dispatched = 0
        self._wakeup = asyncio.Event()
        self.on_close: Callable[[CacheWatcher], Any] | None = None

    def offer(self, event: CacheEvent, bounded: bool = True) -> None:
        """Queue the frame this watcher should see for `event`, if any (ADDED/DELETED on selector transitions).

        `bounded` events count against the buffer bound; replayed history at watch start does not.
        """
        if self.closed or event.rv <= self.after:
            return
        if bounded and self._dispatched >= self.max_buffered:
            self.terminated = True
            self.close()
            return
        pending = len(self.buffer)
        now = event.type != "DELETED" and self.predicate(event.obj)
        before = event.prev is not None and self.predicate(event.prev)
        if event.type == "DELETED":
            if before:
                self._push(event.frame("DELETED") if self.encoder is None else self.encoder("DELETED", event.obj))
        elif now and before:
            self._push(event.frame("MODIFIED") if self.encoder is None else self.encoder("MODIFIED", event.obj))
        elif now:
            self._push(event.frame("ADDED") if self.encoder is None else self.encoder("ADDED", event.obj))
        elif before:
            self._push(event.frame("DELETED", use_prev=True) if self.encoder is None
                       else self.encoder("DELETED", event.prev_at_rv()))
        if bounded:
            self._dispatched += len(self.buffer) - pending
        self.sent_rv = event.rv

    def send(self, event_type: str, obj: Obj, frame: bytes | None = None) -> None:
        """Queue one event built outside the dispatch path (initial ADDEDs, bookmarks, an ERROR)."""
        if not self.closed:
            self._push(frame if frame is not None else self._encode(event_type, obj))

    def _encode(self, event_type: str, obj: Obj) -> bytes:
        if self.encoder is not None:
            return self.encoder(event_type, obj)
        return watch_frame(event_type, orjson.dumps(obj))

    def _push(self, frame: bytes) -> None:
        self.buffer.append(frame)
        self._wakeup.set()

    async def next_frames(self, timeout: float | None) -> list[bytes]:
        """Everything queued so far; waits up to `timeout` for something. Empty list: timed out or closed."""
        if not self.buffer and not self.closed:
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except asyncio.TimeoutError:
                pass
        frames, self.buffer = self.buffer, []
        self._dispatched = 0
        return frames

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._wakeup.set()
            if self.on_close is not None:
                self.on_close(self)
