"""The bytes of a watch response on the wire (reference §6).

aiohttp writes a watch's status line and headers and, at the end, its last chunk; the watcher writes
every chunk in between straight to the transport. These tests read the raw bytes from a socket, so an
aiohttp upgrade that sent headers later, framed the body differently or kept the connection in a bad
state shows here (pyproject pins aiohttp below 4 for this).
"""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any

import pytest

from apiserver.config import Config
from apiserver.testing import RunningServer

SLICES = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
TIMEOUT = 15.0


def create(server: RunningServer, name: str) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    body = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": name},
            "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}], "ports": [{"port": 80}]}
    conn.request("POST", SLICES, json.dumps(body), {"Content-Type": "application/json"})
    assert conn.getresponse().status == 201
    conn.close()


def read_response(sock: socket.socket, buffered: bytes) -> tuple[bytes, list[bytes], bytes]:
    """Read one chunked response: its head, its chunks exactly as framed, and what follows the last chunk.

    Every chunk must be `<hex size>\\r\\n<size bytes>\\r\\n`; the last one is `0\\r\\n\\r\\n`.
    """
    data = buffered

    def need(n: int) -> None:
        nonlocal data
        while len(data) < n:
            more = sock.recv(1 << 16)
            assert more, f"connection closed after {data!r}"
            data += more

    def line(start: int) -> int:
        nonlocal data
        while (end := data.find(b"\r\n", start)) < 0:
            need(len(data) + 1)
        return end

    head_end = data.find(b"\r\n\r\n")
    while head_end < 0:
        need(len(data) + 1)
        head_end = data.find(b"\r\n\r\n")
    head, pos = data[:head_end], head_end + 4
    chunks = []
    while True:
        end = line(pos)
        size_line = data[pos:end]
        assert size_line and all(c in b"0123456789abcdef" for c in size_line), size_line
        size = int(size_line, 16)
        need(end + 2 + size + 2)
        assert data[end + 2 + size:end + 4 + size] == b"\r\n"
        pos = end + 4 + size
        if size == 0:
            return head, chunks, data[pos:]
        chunks.append(data[end + 2:end + 2 + size])


def headers_of(head: bytes) -> tuple[bytes, dict[str, list[str]]]:
    status, *lines = head.split(b"\r\n")
    headers: dict[str, list[str]] = {}
    for raw in lines:
        name, _, value = raw.decode().partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return status, headers


@pytest.mark.parametrize("apiserver_config", [Config(compaction_interval=0)])
def test_watch_bytes_on_the_wire(apiserver: RunningServer) -> None:
    """Status line, headers, chunk framing and the last chunk of a watch; then the connection serves the next
    request (the watch handed the transport back to the HTTP server)."""
    create(apiserver, "a")
    create(apiserver, "b")
    host, port = apiserver.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
        sock.sendall(f"GET {SLICES}?watch=true&timeoutSeconds=1 HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        head, chunks, rest = read_response(sock, b"")
        status, headers = headers_of(head)
        assert status == b"HTTP/1.1 200 OK"
        assert headers["content-type"] == ["application/json"]
        assert headers["transfer-encoding"] == ["chunked"]
        assert "content-length" not in headers
        assert "connection" not in headers  # keep-alive, HTTP/1.1's default
        assert chunks and all(chunk.endswith(b"\n") for chunk in chunks)  # whole events in every chunk
        events: list[dict[str, Any]] = [json.loads(line) for line in b"".join(chunks).splitlines()]
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "a"), ("ADDED", "b")]
        assert rest == b""

        sock.sendall(f"GET {SLICES}/a HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(1 << 16)
        status, headers = headers_of(data.partition(b"\r\n\r\n")[0])
        assert status == b"HTTP/1.1 200 OK"
        length = int(headers["content-length"][0])
        body = data.partition(b"\r\n\r\n")[2]
        while len(body) < length:
            body += sock.recv(1 << 16)
        assert json.loads(body)["metadata"]["name"] == "a"


@pytest.mark.parametrize("apiserver_config", [Config(compaction_interval=0)])
def test_live_events_are_chunks_of_whole_events(apiserver: RunningServer) -> None:
    """Events written while the watch is open arrive in chunks, each one or more whole events."""
    host, port = apiserver.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
        sock.sendall(f"GET {SLICES}?watch=true&resourceVersion=0&timeoutSeconds=2 HTTP/1.1\r\n"
                     f"Host: {host}\r\n\r\n".encode())
        first = sock.recv(1 << 16)
        assert first.startswith(b"HTTP/1.1 200 OK\r\n")
        for name in ("x", "y", "z"):
            create(apiserver, name)
        _, chunks, rest = read_response(sock, first)
        assert all(chunk.endswith(b"\n") for chunk in chunks)
        events = [json.loads(line) for line in b"".join(chunks).splitlines()]
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
            ("ADDED", "x"), ("ADDED", "y"), ("ADDED", "z")]
        assert rest == b""
