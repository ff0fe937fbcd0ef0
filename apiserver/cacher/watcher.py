"""Watcher: one client's watch stream as the hub sees it.

The hub appends shared frames to `pending` (never waits) and flushes every watcher it touched once
per dispatch: if the socket's buffer is below the high-water mark, everything pending goes out in
one chunk written straight to the transport. Otherwise the stream's own task takes over (the slow
path) and awaits the client with `response.write`, which only holds up this one client. A watcher
whose pending frames pass its bounds is terminated: its stream ends with no ERROR event, as
kube-apiserver ends an unresponsive watcher's stream.

States: open → (terminated | closed). `signal` wakes the stream's task for the slow path or the end.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

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


def chunk(data: bytes) -> list[bytes]:
    """HTTP/1.1 chunked framing of one write, as a list for writelines (the payload is not copied)."""
    return [b"%x\r\n" % len(data), data, b"\r\n"]


class Watcher:
    """A registered watch: filter group, form, pending frames, meters and the socket it writes to."""

    __slots__ = ("id", "hub", "group", "form", "info", "limits", "response", "transport", "pending",
                 "pending_bytes", "exempt", "over", "slow", "done", "terminated", "signal", "events", "bytes",
                 "started", "after")

    def __init__(self, hub: Hub, form: Form, info: WatchInfo, limits: Limits, response: web.StreamResponse,
                 transport: asyncio.Transport, after: int) -> None:
        self.id = next(_ids)
        self.hub = hub
        self.group: Any = None
        self.form = form
        self.info = info
        self.limits = limits
        self.response = response
        self.transport = transport
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.exempt = 0  # bytes of unbounded frames (initial state, bookmarks) in `pending`
        self.over = 0  # bounded bytes handed to the socket since its buffer was last seen at or below HIGH_WATER
        self.slow = False
        self.done = False
        self.terminated = False
        self.signal = asyncio.Event()
        self.events = 0
        self.bytes = 0
        self.started = time.time()
        self.after = after  # events at or before this revision are not for this watcher

    def queue(self, frame: bytes, bounded: bool = True) -> None:
        """Append a frame; the hub's flush writes it. Bounded frames can terminate a watcher that is behind."""
        if self.done:
            return
        if not self.pending:
            self.hub.dirty.append(self)
        self.pending.append(frame)
        self.pending_bytes += len(frame)
        if not bounded:
            self.exempt += len(frame)
        elif (len(self.pending) > self.limits.events
              or self.pending_bytes - self.exempt + self.over > self.limits.bytes):
            # pending + socket buffer would pass limits.bytes + HIGH_WATER
            self.terminate()

    def flush(self) -> None:
        """Write everything pending in one chunk if the socket can take it now, else hand over to the slow path."""
        if self.done or self.slow or not self.pending:
            return
        transport = self.transport
        if transport.is_closing():
            self.close()
            return
        if transport.get_write_buffer_size() > HIGH_WATER:
            self.slow = True
            self.signal.set()
            return
        self.over = self.pending_bytes - self.exempt
        frames = self.take()
        transport.writelines(chunk(frames[0] if len(frames) == 1 else b"".join(frames)))

    def take(self) -> list[bytes]:
        """Remove and meter the pending frames (they are counted as sent when handed to the socket)."""
        frames, self.pending = self.pending, []
        self.events += len(frames)
        self.bytes += self.pending_bytes
        self.hub.meters.sent(frames, self.pending_bytes)
        self.pending_bytes = self.exempt = 0
        return frames

    async def drain(self) -> None:
        """The slow path, run by the stream's task: write through aiohttp, which waits for this client only."""
        while self.pending and not self.done:
            if self.transport.get_write_buffer_size() <= HIGH_WATER:
                self.over = 0
            self.over += self.pending_bytes - self.exempt
            frames = self.take()
            await self.response.write(b"".join(frames))
        self.slow = False

    def terminate(self) -> None:
        """Close a watcher that fell too far behind; its pending frames are dropped."""
        self.terminated = True
        self.hub.meters.terminated(self)
        self.close()

    def close(self) -> None:
        if not self.done:
            self.done = True
            self.pending, self.pending_bytes, self.exempt = [], 0, 0
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
