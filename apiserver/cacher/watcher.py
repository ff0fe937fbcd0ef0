"""Watcher: one client's watch stream as the hub sees it.

The hub appends shared frames to `pending` (never waits) and flushes every watcher it touched:
while the socket's buffer is below the high-water mark, pending frames go out as one chunk written
straight to the transport (one syscall for many events; a write stops once it passes the mark, so
the socket buffer stays bounded). A watcher whose socket is full stays blocked, its frames pending,
and the hub retries it on its next flush. A watcher whose pending frames pass its bounds is
terminated: its stream ends with no ERROR event, as kube-apiserver ends an unresponsive watcher's.
Frames queued at registration (the initial state, replayed history) are not counted against the bounds.

States: open → (closed | terminated). `signal` wakes the stream's task when the watcher is done.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apiserver.cacher.event import Form

if TYPE_CHECKING:
    from apiserver.cacher.hub import Hub

HIGH_WATER = 256 * 1024
_ids = itertools.count(1)


@dataclass(frozen=True)
class Limits:
    """Bounds of a watcher's pending frames; past either one the watcher is terminated."""

    events: int = 1_000
    bytes: int = 16 * 1024 * 1024


@dataclass(frozen=True)
class WatchInfo:
    """What the debug endpoint shows about a watch besides its meters."""

    resource: str
    namespace: str
    label_selector: str
    field_selector: str
    user_agent: str
    allow_bookmarks: bool


class Watcher:
    """A registered watch: filter group, form, pending frames, meters and the socket it writes to."""

    __slots__ = ("after", "bytes", "done", "events", "exempt", "exempt_bytes", "form", "group", "hub", "id", "info",
                 "limits", "pending", "pending_bytes", "signal", "started", "terminated", "transport")

    def __init__(self, hub: Hub, form: Form, info: WatchInfo, limits: Limits, transport: asyncio.Transport,
                 after: int) -> None:
        self.id = next(_ids)
        self.hub = hub
        self.group: Any = None
        self.form = form
        self.info = info
        self.limits = limits
        self.transport = transport
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.exempt = 0  # leading frames of `pending` queued at registration, not counted against the bounds
        self.exempt_bytes = 0
        self.done = False
        self.terminated = False
        self.signal = asyncio.Event()
        self.events = 0
        self.bytes = 0
        self.started = time.time()
        self.after = after  # events at or before this revision are not for this watcher

    def queue(self, frame: bytes, bounded: bool = True) -> None:
        """Append a frame for the hub's next flush; bounded frames can terminate a watcher that is behind."""
        if self.done:
            return
        if not self.pending:
            self.hub.dirty.append(self)
        self.pending.append(frame)
        self.pending_bytes += len(frame)
        if not bounded:
            self.exempt += 1
            self.exempt_bytes += len(frame)
        elif (len(self.pending) - self.exempt > self.limits.events
              or self.pending_bytes - self.exempt_bytes > self.limits.bytes):
            self.terminate()

    def flush(self) -> bool:
        """Write pending frames while the socket takes them; False if some are left (the socket is full)."""
        if self.done or not self.pending:
            return True
        transport = self.transport
        if transport.is_closing():
            self.close()
            return True
        room = HIGH_WATER - transport.get_write_buffer_size()
        if room <= 0:
            return False
        frames = self.take(room)
        size = sum(map(len, frames)) if len(frames) > 1 else len(frames[0])
        transport.writelines([b"%x\r\n" % size, *frames, b"\r\n"])
        return not self.pending

    def take(self, room: int) -> list[bytes]:
        """Remove and meter the pending frames that fit in `room` bytes (at least one)."""
        pending = self.pending
        if self.pending_bytes <= room:
            frames, taken = pending, self.pending_bytes
            self.pending, self.pending_bytes = [], 0
        else:
            count, taken = 0, 0
            while count < len(pending) and (count == 0 or taken + len(pending[count]) <= room):
                taken += len(pending[count])
                count += 1
            frames = pending[:count]
            del pending[:count]
            self.pending_bytes -= taken
        if self.exempt:
            released = min(self.exempt, len(frames))
            self.exempt -= released
            self.exempt_bytes -= sum(map(len, frames[:released]))
        self.events += len(frames)
        self.bytes += taken
        self.hub.meters.sent(frames, taken)
        return frames

    def terminate(self) -> None:
        """Close a watcher that fell too far behind; its pending frames are dropped."""
        self.terminated = True
        self.hub.meters.terminated(self)
        self.close()

    def close(self) -> None:
        if not self.done:
            self.done = True
            self.pending, self.pending_bytes, self.exempt, self.exempt_bytes = [], 0, 0, 0
            self.hub.remove(self)
            self.signal.set()

    def debug(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "resource": self.info.resource,
            "namespace": self.info.namespace,
            "labelSelector": self.info.label_selector,
            "fieldSelector": self.info.field_selector,
            "userAgent": self.info.user_agent,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "events": self.events,
            "bytes": self.bytes,
            "buffered": len(self.pending),
            "bufferedBytes": self.pending_bytes + (0 if self.transport.is_closing()
                                                   else self.transport.get_write_buffer_size()),
        }
