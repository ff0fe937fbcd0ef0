"""Watch clients for the fan-out benchmark: many raw HTTP/1.1 watch connections in one uvloop process.

    python -m loadtest.watchers --url http://127.0.0.1:8080 \\
        --path '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?watch=true&resourceVersion=5' \\
        --connections 500 --seconds 30 [--encoding json|protobuf|mix] [--sample-every 10] \\
        [--header 'Authorization: Bearer T'] [--control]

Each connection is an `asyncio.Protocol` that sends the GET, parses the status line and headers,
de-chunks the body and counts payload bytes (chunk framing excluded) and events. `--encoding` is what the
connections ask for: JSON (one `\\n` per event), protobuf as kube-proxy asks for it (client-go's
`Accept: application/vnd.kubernetes.protobuf, */*`; length-prefixed WatchEvent frames, counted by their
4-byte lengths without decoding them), or `mix` (every other connection protobuf); the response's
Content-Type decides how a stream is read, and reports count each encoding apart. Every
`--sample-every`-th connection also finds the writer's timestamp annotation in each event with
`bytes.find` (no decoding) and records the write-to-receive latency in a log-scale histogram, so reports
stay small however many events arrive. An https URL is served over TLS without verifying the certificate
(kube-apiserver's self-signed one); `--header` adds a request header (its token).

Without `--control` it connects, runs `--seconds` and prints one JSON report. With `--control` it
prints a JSON line once every connection is up (or failed), then answers commands on stdin, one JSON
line each: `snapshot` (counts so far, and the latency histogram since the last snapshot), `mark`
(a snapshot that also restarts the per-connection counts behind min/max_events) and `stop` (close
everything, final report, exit). End of stdin or `--seconds` also stop it.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import ssl
import sys
import time
from typing import Any, cast
from urllib.parse import urlsplit

import orjson
import uvloop

SENT_MARK = b'"loadtest/sent":"'
PROTOBUF_SENT_MARK = b"\rloadtest/sent\x12"  # the annotation's map entry: its 13-byte key, then the value's tag
SENT_ANNOTATION = "loadtest/sent"
ACCEPT = {"json": "application/json", "protobuf": "application/vnd.kubernetes.protobuf, */*"}  # client-go's
ENCODINGS = ("json", "protobuf", "mix")
ENCODING_KEYS = tuple(f"{encoding}_{count}" for encoding in ACCEPT for count in ("connected", "events", "bytes"))
HEAD_BYTES = 24  # enough of an event to read its type, in either encoding
BUCKET_RATIO = 1.02  # latency histogram resolution: 2 % per bucket
_LOG_RATIO = math.log(BUCKET_RATIO)
CONNECT_CONCURRENCY = 200
CONNECT_TIMEOUT = 60.0
MAX_HEAD_BYTES = 64 << 10

Histogram = dict[int, int]


def latency_bucket(seconds: float) -> int:
    """Histogram bucket of a latency: bucket i covers [1 µs · 1.02^i, 1 µs · 1.02^(i+1))."""
    return int(math.log(seconds * 1e6) / _LOG_RATIO) if seconds > 1e-6 else 0


def percentile_ms(histogram: Histogram, q: float) -> float | None:
    """The q-quantile (0..1) in milliseconds of a latency histogram (bucket midpoint); None if empty."""
    total = sum(histogram.values())
    if not total:
        return None
    rank = q * (total - 1)
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen > rank:
            return float(1e-3 * BUCKET_RATIO ** (bucket + 0.5))
    raise AssertionError("unreachable")


def watch_request(url: str, path: str, headers: dict[str, str], agent: str, encoding: str = "json") -> bytes:
    """The HTTP/1.1 GET of a watch on `url` (host and port) in `encoding` (json or protobuf) with extra `headers`."""
    parts = urlsplit(url)
    lines = [f"GET {path} HTTP/1.1", f"Host: {parts.netloc}", f"Accept: {ACCEPT[encoding]}", f"User-Agent: {agent}",
             *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def connection_encoding(choice: str, index: int) -> str:
    """The encoding of the index-th connection: `mix` alternates JSON and protobuf."""
    return ("json", "protobuf")[index % 2] if choice == "mix" else choice


def event_type(head: bytes, protobuf: bool) -> str:
    """A watch event's type from its first bytes: JSON's leading `{"type":"…"`, or the protobuf WatchEvent's
    field 1 (tag 0x0a, length, string), which it also writes first."""
    if protobuf:
        return head[2:2 + head[1]].decode() if len(head) > 1 and head[0] == 0x0A else ""
    return head[9:head.find(b'"', 9)].decode() if head.startswith(b'{"type":"') else ""


def encoding_counts(connections: list[WatchConnection]) -> dict[str, int]:
    """Connections, events and bytes per encoding (`json_connected` … `protobuf_bytes`)."""
    counts = dict.fromkeys(ENCODING_KEYS, 0)
    for conn in connections:
        counts[conn.encoding + "_connected"] += 1
        counts[conn.encoding + "_events"] += conn.events
        counts[conn.encoding + "_bytes"] += conn.bytes
    return counts


def client_ssl(url: str) -> ssl.SSLContext | None:
    """For an https URL, a TLS context that skips verification (loopback servers with self-signed certificates)."""
    if urlsplit(url).scheme != "https":
        return None
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def merge_histograms(histograms: list[Histogram]) -> Histogram:
    merged: Histogram = {}
    for histogram in histograms:
        for bucket, count in histogram.items():
            merged[int(bucket)] = merged.get(int(bucket), 0) + count
    return merged


class WatchConnection(asyncio.Protocol):
    """One watch stream: request, response head, chunked body; counts events and payload bytes.

    A protobuf stream's frames are counted by their length prefixes; a subclass that sets `typed` also
    gets `_event(head, size)` for each complete frame, with its first HEAD_BYTES bytes.
    """

    typed = False

    def __init__(self, request: bytes, latencies: Histogram | None) -> None:
        self.request = request
        self.latencies = latencies  # None: not a sampled connection
        self.transport: asyncio.Transport | None = None
        self.head = bytearray()
        self.status = 0
        self.in_body = False
        self.chunk_left = 0  # payload bytes left in the current chunk
        self.skip = 0  # CRLF bytes left after a chunk's payload
        self.size_line = bytearray()
        self.tail = bytearray()  # sampled connections: payload not yet searched for a timestamp
        self.protobuf = False  # the response is a protobuf stream (its Content-Type says so)
        self.prefix = bytearray()  # protobuf: the next frame's length, as far as received
        self.frame_left = 0  # protobuf: bytes of the current frame not yet received
        self.frame_size = 0  # protobuf: the current frame's bytes, its length prefix included
        self.event_head = bytearray()  # protobuf, typed: the current frame's first bytes
        self.events = 0
        self.marked = 0  # events at the last `mark` snapshot
        self.bytes = 0
        self.ended = False  # the server sent the last chunk or closed the connection
        self.error = ""
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = True
        self._fail(f"closed before the response head: {exc}")

    def _fail(self, error: str) -> None:
        if not self.ready.done():
            self.error = error
            self.ready.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self.in_body:
            self._feed(data, 0)
            return
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            if len(self.head) > MAX_HEAD_BYTES:
                self._reject("response head too large")
            return
        lines = bytes(self.head[:end]).split(b"\r\n")
        rest = bytes(self.head[end + 4:])
        self.head = bytearray()
        parts = lines[0].split(b" ", 2)
        self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        fields = [line.lower().replace(b" ", b"") for line in lines[1:]]
        chunked = b"transfer-encoding:chunked" in fields
        self.protobuf = any(line.startswith(b"content-type:") and b"protobuf" in line for line in fields)
        if self.status != 200 or not chunked:
            self._reject(f"status {self.status}, chunked={chunked}")
            return
        self.in_body = True
        self._fail("")
        if rest:
            self._feed(rest, 0)

    @property
    def encoding(self) -> str:
        return "protobuf" if self.protobuf else "json"

    def _reject(self, error: str) -> None:
        self._fail(error)
        assert self.transport is not None
        self.transport.close()

    def _feed(self, data: bytes, pos: int) -> None:
        """De-chunk `data[pos:]`: payload goes to `_payload`, sizes and CRLFs are skipped."""
        n = len(data)
        while pos < n and not self.ended:
            if self.chunk_left:
                end = min(n, pos + self.chunk_left)
                self._payload(data, pos, end)
                self.chunk_left -= end - pos
                if not self.chunk_left:
                    self.skip = 2
                pos = end
            elif self.skip:
                taken = min(self.skip, n - pos)
                self.skip -= taken
                pos += taken
            else:
                eol = data.find(b"\n", pos)  # the CR may have come in the previous read
                if eol < 0:
                    self.size_line += data[pos:]
                    return
                self.size_line += data[pos:eol]
                pos = eol + 1
                size = int(self.size_line.rstrip(b"\r").split(b";", 1)[0], 16)
                self.size_line = bytearray()
                if size == 0:
                    self.ended = True
                    return
                self.chunk_left = size

    def _payload(self, data: bytes, start: int, end: int) -> None:
        self.bytes += end - start
        if self.protobuf:
            self._frames(data, start, end)
        else:
            self.events += data.count(b"\n", start, end)
        if self.latencies is not None:
            self._sample(data, start, end)

    def _frames(self, data: bytes, pos: int, end: int) -> None:
        """Count the length-prefixed frames of a protobuf stream in `data[pos:end]` (split anywhere)."""
        typed = self.typed
        while pos < end:
            if self.frame_left:
                step = min(self.frame_left, end - pos)
                if typed and len(self.event_head) < HEAD_BYTES:
                    self.event_head += data[pos:pos + min(step, HEAD_BYTES - len(self.event_head))]
                self.frame_left -= step
                pos += step
                if typed and not self.frame_left:
                    self._event(bytes(self.event_head), self.frame_size)
                    self.event_head.clear()
                continue
            if not self.prefix and end - pos >= 4:
                size = int.from_bytes(data[pos:pos + 4], "big")
                pos += 4
            else:
                taken = min(4 - len(self.prefix), end - pos)
                self.prefix += data[pos:pos + taken]
                pos += taken
                if len(self.prefix) < 4:
                    return
                size = int.from_bytes(self.prefix, "big")
                self.prefix.clear()
            self.events += 1
            self.frame_left, self.frame_size = size, size + 4

    def _event(self, head: bytes, size: int) -> None:
        """A complete event of a typed connection: its first bytes and its size."""

    def _sample(self, data: bytes, start: int, end: int) -> None:
        """Latencies of the timestamp annotations in the payload (a JSON string, or a protobuf map value)."""
        now, latencies = time.time(), self.latencies
        assert latencies is not None
        tail = self.tail
        tail += data[start:end]
        marker = PROTOBUF_SENT_MARK if self.protobuf else SENT_MARK
        pos = 0
        while True:
            mark = tail.find(marker, pos)
            if mark < 0:
                pos = max(pos, len(tail) - len(marker) + 1)
                break
            value = mark + len(marker)
            if self.protobuf:  # a length byte (the value is short), then the value
                stop = value + 1 + tail[value] if value < len(tail) else -1
                value += 1
                if stop > len(tail):
                    stop = -1
            else:
                stop = tail.find(b'"', value)
            if stop < 0:
                pos = mark
                break
            bucket = latency_bucket(now - float(tail[value:stop]))
            latencies[bucket] = latencies.get(bucket, 0) + 1
            pos = stop
        del tail[:pos]


class WatcherPool:
    """K watch connections to one server, opened with bounded concurrency, in `encoding` (json, protobuf, mix)."""

    def __init__(self, url: str, path: str, connections: int, sample_every: int,
                 headers: dict[str, str] | None = None, encoding: str = "json") -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = client_ssl(url)
        self.encoding = encoding
        self.requests = {name: watch_request(url, path, headers or {}, "loadtest-watchers", name) for name in ACCEPT}
        self.count = connections
        self.sample_every = sample_every
        self.latencies: Histogram = {}
        self.connections: list[WatchConnection] = []
        self.connect_errors: list[str] = []
        self.stopping = False

    async def connect(self) -> None:
        """Open every connection and wait for its response head (or failure), within CONNECT_TIMEOUT."""
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def open_one(index: int) -> None:
            sampled = self.sample_every > 0 and index % self.sample_every == 0
            request = self.requests[connection_encoding(self.encoding, index)]
            async with gate:
                try:
                    _, conn = await loop.create_connection(
                        lambda: WatchConnection(request, self.latencies if sampled else None),
                        self.host, self.port, ssl=self.ssl)
                    await conn.ready
                except OSError as err:
                    self.connect_errors.append(f"{type(err).__name__}: {err}")
                    return
            if conn.error:
                self.connect_errors.append(conn.error)
            else:
                self.connections.append(conn)

        tasks = [asyncio.ensure_future(open_one(i)) for i in range(self.count)]
        _, pending = await asyncio.wait(tasks, timeout=CONNECT_TIMEOUT)
        for task in pending:
            task.cancel()
        self.connect_errors += ["connect timed out"] * len(pending)

    def snapshot(self, mark: bool = False) -> dict[str, Any]:
        """Counts so far; the latency histogram covers samples since the previous snapshot.

        `min_events`/`max_events` are per connection since the last `mark` snapshot.
        """
        per_connection = [c.events - c.marked for c in self.connections] or [0]
        report = {
            "connections": self.count,
            "connected": len(self.connections),
            "connect_errors": len(self.connect_errors),
            "connect_error_examples": sorted(set(self.connect_errors))[:3],
            "closed_early": sum(c.ended for c in self.connections),
            "events": sum(c.events for c in self.connections),
            "bytes": sum(c.bytes for c in self.connections),
            "min_events": min(per_connection),
            "max_events": max(per_connection),
            "latency_hist": dict(self.latencies),
            **encoding_counts(self.connections),
        }
        self.latencies.clear()
        if mark:
            for conn in self.connections:
                conn.marked = conn.events
        return report

    def close(self) -> None:
        for conn in self.connections:
            if conn.transport is not None:
                conn.transport.close()


async def _commands(pool: WatcherPool, seconds: float) -> dict[str, Any]:
    """Answer stdin commands until `stop`, end of input or `seconds`; return the final report."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        try:
            line = await asyncio.wait_for(reader.readline(), deadline - loop.time())
        except TimeoutError:
            break
        command = line.strip()
        if command not in (b"snapshot", b"mark"):
            break
        _emit(pool.snapshot(mark=command == b"mark"))
    return pool.snapshot()


def _emit(report: dict[str, Any]) -> None:
    sys.stdout.buffer.write(orjson.dumps(report, option=orjson.OPT_NON_STR_KEYS) + b"\n")
    sys.stdout.buffer.flush()


async def run(url: str, path: str, connections: int, seconds: float, sample_every: int,
              control: bool, headers: dict[str, str] | None = None, encoding: str = "json") -> dict[str, Any]:
    """Connect, then run for `seconds` (or under stdin control); return the final report."""
    pool = WatcherPool(url, path, connections, sample_every, headers, encoding)
    await pool.connect()
    try:
        if control:
            _emit({"ready": True, **pool.snapshot()})
            report = await _commands(pool, seconds)
        else:
            await asyncio.sleep(seconds)
            report = pool.snapshot()
    finally:
        pool.close()
    hist = report["latency_hist"]
    report["latency_ms"] = {"p50": percentile_ms(hist, 0.5), "p99": percentile_ms(hist, 0.99),
                            "samples": sum(hist.values())}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="server base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--path", required=True, help="watch path with its query")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0, help="run time; the hard limit under --control")
    parser.add_argument("--encoding", choices=ENCODINGS, default="json",
                        help="what the watches ask for (mix: every other connection protobuf)")
    parser.add_argument("--sample-every", type=int, default=10, help="measure latency on every n-th connection")
    parser.add_argument("--header", action="append", default=[], help="'Name: value' request header (repeatable)")
    parser.add_argument("--control", action="store_true", help="report when ready, then obey stdin commands")
    args = parser.parse_args()
    headers = dict(header.split(": ", 1) for header in args.header)
    report = uvloop.run(run(args.url, args.path, args.connections, args.seconds, args.sample_every, args.control,
                            headers, args.encoding))
    _emit(report)


if __name__ == "__main__":
    main()
