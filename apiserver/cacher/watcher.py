"""Watcher: one client's watch stream as the hub sees it.

The hub appends shared frames to `pending` (never waits) and flushes the watchers it touched: frames go out
as chunks written straight to the transport (one syscall for many events) while its buffer is under
HIGH_WATER. The transport's own flow control tells when that is: past HIGH_WATER it pauses the watcher,
whose frames then wait at no cost to anyone, and back under LOW_WATER it resumes it and the hub flushes it
again. So a watch holds at most HIGH_WATER plus one frame in user space and SEND_BUFFER in the kernel,
whatever its client does. A watcher whose pending frames pass its bounds is terminated: its connection is
aborted (a client that does not read would not get the end of its stream either, and its buffers are
released at once), as kube-apiserver closes an unresponsive watcher.

The initial state (sendInitialEvents, resourceVersion "" or "0") and replayed history are a backlog encoded
lazily, only as the socket takes them, ahead of the live frames, and metered like them.

States: open → (closed | terminated). `signal` wakes the stream's task when the watcher is done.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apiserver.cacher.event import Form

if TYPE_CHECKING:
    from apiserver.cacher.hub import Hub

HIGH_WATER = 256 * 1024  # the transport pauses the watcher past this many buffered bytes
LOW_WATER = 64 * 1024  # and resumes it under this many
SEND_BUFFER = 64 * 1024  # SO_SNDBUF of a watch socket (the kernel doubles it): bounds what a stuck client pins
LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close resets the connection
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


class FlowControl(asyncio.Protocol):
    """Stands in for the HTTP server's protocol on a watch's transport while the watch runs: it passes
    every callback on, and tells the watcher when the transport pauses and resumes writing."""

    def __init__(self, inner: asyncio.BaseProtocol, watcher: Watcher) -> None:
        self.inner = inner
        self.watcher = watcher

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)  # type: ignore[attr-defined]

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()  # type: ignore[attr-defined,no-any-return]

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)
        self.watcher.close()

    def pause_writing(self) -> None:
        self.inner.pause_writing()
        self.watcher.paused = True

    def resume_writing(self) -> None:
        self.inner.resume_writing()
        self.watcher.resume()


class Watcher:
    """A registered watch: filter group, form, backlog and pending frames, meters and the socket it writes to."""

    __slots__ = ("after", "backlog", "bytes", "done", "events", "flow", "form", "group", "hub", "id", "info",
                 "limits", "paused", "pending", "pending_bytes", "released", "signal", "started", "terminated",
                 "transport")

    def __init__(self, hub: Hub, form: Form, info: WatchInfo, limits: Limits, transport: asyncio.Transport,
                 after: int) -> None:
        self.id = next(_ids)
        self.hub = hub
        self.group: Any = None
        self.form = form
        self.info = info
        self.limits = limits
        self.transport = transport
        self.flow: FlowControl | None = None
        self.backlog: Iterator[bytes] | None = None  # initial or replayed frames, encoded as the socket takes them
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.paused = False
        self.done = False
        self.terminated = False
        self.released = False
        self.signal = asyncio.Event()
        self.events = 0
        self.bytes = 0
        self.started = time.time()
        self.after = after  # events at or before this revision are not for this watcher

    def attach(self) -> None:
        """Take over the transport's flow control for the watch (`close` gives it back)."""
        transport = self.transport
        if transport.is_closing():
            self.close()
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        self.flow = FlowControl(transport.get_protocol(), self)
        transport.set_protocol(self.flow)
        transport.set_write_buffer_limits(HIGH_WATER, LOW_WATER)  # pauses at once if already past HIGH_WATER

    def queue(self, frame: bytes) -> None:
        """Append a frame for the hub's next flush; past the bounds the watcher is terminated."""
        if self.done:
            return
        if not self.pending and self.backlog is None and not self.paused:
            self.hub.dirty.append(self)
        self.pending.append(frame)
        self.pending_bytes += len(frame)
        if len(self.pending) > self.limits.events or self.pending_bytes > self.limits.bytes:
            self.terminate()

    def resume(self) -> None:
        """The transport drained under LOW_WATER: flush again if anything waits."""
        self.paused = False
        if not self.done and (self.pending or self.backlog is not None):
            self.hub.wake(self)

    def flush(self) -> None:
        """Write backlog and pending frames, a chunk at a time, until there are none or the transport pauses."""
        transport = self.transport
        while not self.done and not self.paused:
            if transport.is_closing():
                self.close()
                return
            frames, size = self.take(HIGH_WATER - transport.get_write_buffer_size())
            if not frames:
                return
            transport.writelines([b"%x\r\n" % size, *frames, b"\r\n"])

    def take(self, room: int) -> tuple[list[bytes], int]:
        """Remove and meter the next frames, backlog first, until they fill `room` bytes (at least one frame;
        the last one may cross it, so the transport pauses)."""
        frames: list[bytes] = []
        taken = 0
        while self.backlog is not None and (not frames or taken < room):
            frame = next(self.backlog, None)
            if frame is None:
                self.backlog = None
            else:
                frames.append(frame)
                taken += len(frame)
        pending = self.pending
        if self.backlog is None and pending and (not frames or taken < room):
            if taken + self.pending_bytes <= room:  # the usual case: all of them
                count, size = len(pending), self.pending_bytes
            else:
                count, size = 0, 0
                while count < len(pending) and (taken + size < room or not (frames or count)):
                    size += len(pending[count])
                    count += 1
            if count == len(pending):
                frames = frames + pending if frames else pending
                self.pending = []
            else:
                frames += pending[:count]
                del pending[:count]
            taken += size
            self.pending_bytes -= size
        if frames:
            self.events += len(frames)
            self.bytes += taken
            self.hub.meters.sent(self.form.encoding, frames, taken)
        return frames, taken

    def terminate(self) -> None:
        """Stop a watcher that fell too far behind; the hub resets its connection and wakes its stream's task
        soon, in batches (thousands can pass their bounds on the same event)."""
        if self.stop():
            self.terminated = True
            self.hub.meters.terminated(self)
            self.hub.reap(self)

    def close(self) -> None:
        """Stop the watch and wake its stream's task (a terminated one's now, if the hub has not yet)."""
        self.stop()
        self.release()

    def stop(self) -> bool:
        """No more frames: drop what waits and leave the hub. False if already stopped."""
        if self.done:
            return False
        self.done = True
        self.pending, self.pending_bytes, self.backlog = [], 0, None
        self.hub.remove(self)
        return True

    def release(self) -> None:
        """Give the transport back to the HTTP server (reset it if terminated) and wake the stream's task."""
        if self.released:
            return
        self.released = True
        transport = self.transport
        if self.flow is not None and transport.get_protocol() is self.flow:
            transport.set_protocol(self.flow.inner)
            if not transport.is_closing():
                transport.set_write_buffer_limits()
        self.flow = None  # no watcher ↔ stand-in cycle left for the garbage collector
        if self.terminated:
            self.abort()
        self.signal.set()

    def abort(self) -> None:
        """Reset the connection: what the kernel still holds for the client is dropped too (a plain close
        would keep it, and the socket, until a client that does not read took it)."""
        transport = self.transport
        if transport.is_closing():
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
        transport.abort()

    def debug(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "resource": self.info.resource,
            "namespace": self.info.namespace,
            "labelSelector": self.info.label_selector,
            "fieldSelector": self.info.field_selector,
            "userAgent": self.info.user_agent,
            "encoding": self.form.encoding,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "events": self.events,
            "bytes": self.bytes,
            "buffered": len(self.pending),
            "bufferedBytes": self.pending_bytes + (0 if self.transport.is_closing()
                                                   else self.transport.get_write_buffer_size()),
        }
