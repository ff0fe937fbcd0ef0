"""The raw fan-out ceiling: a minimal uvloop HTTP server that writes pre-encoded frames to every watcher.

    python -m loadtest.broadcaster --port 8081

It speaks just enough HTTP/1.1 for the fan-out benchmark:

- `GET <any path>?watch=true…`: a chunked 200 that stays open; the connection becomes a watcher, of
  protobuf frames if its Accept header names protobuf, of JSON lines otherwise.
- `PUT <any path>` with a JSON object body: frames it once as `{"type":"MODIFIED","object":<body>}\\n`
  (and once as a length-prefixed protobuf WatchEvent if a watcher wants that),
  writes that chunk to every watcher (one `transport.write` per socket), waits for any watcher whose
  write buffer is over 256 KiB to drain, yields once (`await asyncio.sleep(0)`), then answers 200
  with the body. This is the "transport.write" row of dependencies.md Q3.
- `GET /readyz`: `ok`; `GET /metrics`: the apiserver's watch metric names, so the benchmark reads
  both servers the same way.

A watcher that stays over the limit for DRAIN_TIMEOUT is dropped, so a stuck client cannot stall the
broadcast. The process exits by itself after `--max-seconds`.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import cast

import orjson
import uvloop

from apiserver.protobuf import envelope

HIGH_WATER = 256 << 10
DRAIN_TIMEOUT = 10.0
MAX_HEAD_BYTES = 64 << 10
MAX_BODY_BYTES = 4 << 20
LABELS = 'group="discovery.k8s.io",version="v1",resource="endpointslices"'
MEDIA_TYPES = ("application/json", envelope.MEDIA_TYPE)  # by Connection.protobuf


class Hub:
    """The watchers and the broadcast loop, with counters in the apiserver's metric terms."""

    def __init__(self) -> None:
        self.watchers: tuple[set[Connection], set[Connection]] = (set(), set())  # of JSON, of protobuf
        self.lock = asyncio.Lock()
        self.events = [0, 0]  # frames written, one per watcher per event: JSON, protobuf
        self.bytes = [0, 0]  # frame bytes written (chunk framing excluded): JSON, protobuf
        self.encodings = 0  # frames built, one per broadcast and encoding in use
        self.dropped = 0

    async def broadcast(self, body: bytes) -> None:
        """Write `body` as a MODIFIED event to every watcher, each encoding framed once, then wait for the
        watchers over the high-water mark to drain."""
        async with self.lock:
            full = []
            for protobuf, watchers in enumerate(self.watchers):
                if not watchers:
                    continue
                frame = (envelope.watch_event("MODIFIED", envelope.encode(orjson.loads(body))) if protobuf
                         else b'{"type":"MODIFIED","object":' + body + b"}\n")
                self.encodings += 1
                chunk = b"%x\r\n" % len(frame) + frame + b"\r\n"
                for watcher in list(watchers):
                    transport = watcher.transport
                    transport.write(chunk)
                    if transport.get_write_buffer_size() > HIGH_WATER:
                        full.append(watcher)
                self.events[protobuf] += len(watchers)
                self.bytes[protobuf] += len(watchers) * len(frame)
            for watcher in full:
                if not await watcher.drained(DRAIN_TIMEOUT):
                    self.dropped += 1
                    watcher.transport.abort()
            await asyncio.sleep(0)

    def metrics(self) -> bytes:
        lines = []
        for media, events, size in zip(MEDIA_TYPES, self.events, self.bytes, strict=True):
            labels = f'{LABELS},encoding="{media}"'
            lines += [f"apiserver_watch_events_total{{{labels}}} {events}",
                      f"apiserver_watch_events_sizes_sum{{{labels}}} {size}",
                      f"apiserver_watch_events_sizes_count{{{labels}}} {events}"]
        lines += ['apiserver_watch_cache_encodings_total{group="discovery.k8s.io",resource="endpointslices"} '
                  + str(self.encodings), f"broadcaster_watchers {sum(map(len, self.watchers))}",
                  f"broadcaster_dropped_total {self.dropped}"]
        return ("\n".join(lines) + "\n").encode()


class Connection(asyncio.Protocol):
    """One client connection: keep-alive requests until it turns into a watch stream."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set in connection_made
        self.buffer = bytearray()
        self.watching = False
        self.protobuf = False  # a watcher of protobuf frames
        self.busy = False  # a PUT is being broadcast; reading is paused meanwhile
        self._drained: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.set_write_buffer_limits(high=HIGH_WATER)

    def connection_lost(self, exc: Exception | None) -> None:
        self.hub.watchers[self.protobuf].discard(self)
        self.resume_writing()

    def pause_writing(self) -> None:
        if self._drained is None:
            self._drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._drained is not None:
            if not self._drained.done():
                self._drained.set_result(None)
            self._drained = None

    async def drained(self, timeout: float) -> bool:
        """Wait until the transport's buffer is back under the low-water mark; False on timeout."""
        if self._drained is None:
            return True
        try:
            await asyncio.wait_for(asyncio.shield(self._drained), timeout)
        except TimeoutError:
            return False
        return True

    def data_received(self, data: bytes) -> None:
        if self.watching:
            return
        self.buffer += data
        self._handle_requests()

    def _handle_requests(self) -> None:
        """Answer every complete request in the buffer, stopping at a PUT until its broadcast is done."""
        while not self.busy and not self.watching:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD_BYTES:
                    self.transport.close()
                return
            lines = bytes(self.buffer[:end]).split(b"\r\n")
            method, target = (lines[0].split(b" ") + [b"", b""])[:2]
            length, protobuf = 0, False
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
                elif name.strip().lower() == b"accept":
                    protobuf = b"protobuf" in value
            if length > MAX_BODY_BYTES:
                self.transport.close()
                return
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4:end + 4 + length])
            del self.buffer[:end + 4 + length]
            self._dispatch(method, target, body, protobuf)

    def _dispatch(self, method: bytes, target: bytes, body: bytes, protobuf: bool) -> None:
        path, _, query = target.partition(b"?")
        if method == b"GET" and (b"watch=true" in query or b"watch=1" in query):
            self.watching, self.protobuf = True, protobuf
            media = envelope.WATCH_MEDIA_TYPE.encode() if protobuf else b"application/json"
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: " + media + b"\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n")
            self.hub.watchers[self.protobuf].add(self)
        elif method == b"GET" and path == b"/readyz":
            self._respond(b"200 OK", b"ok", b"text/plain")
        elif method == b"GET" and path == b"/metrics":
            self._respond(b"200 OK", self.hub.metrics(), b"text/plain; version=0.0.4")
        elif method == b"PUT" and body:
            self.busy = True
            self.transport.pause_reading()
            asyncio.ensure_future(self._put(body))
        else:
            self._respond(b"404 Not Found", b"not found", b"text/plain")

    async def _put(self, body: bytes) -> None:
        try:
            await self.hub.broadcast(body)
        finally:
            self.busy = False
        if not self.transport.is_closing():
            self._respond(b"200 OK", body, b"application/json")
            self.transport.resume_reading()
            self._handle_requests()

    def _respond(self, status: bytes, body: bytes, content_type: bytes) -> None:
        self.transport.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: " + content_type +
                             b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


async def serve(port: int, max_seconds: float) -> None:
    """Serve on 127.0.0.1:`port` for at most `max_seconds`."""
    hub = Hub()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(hub), "127.0.0.1", port, backlog=4096)
    async with server:
        try:
            await asyncio.wait_for(server.serve_forever(), max_seconds)
        except TimeoutError:
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="exit after this long")
    args = parser.parse_args()
    try:
        uvloop.run(serve(args.port, args.max_seconds))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
