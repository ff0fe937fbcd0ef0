"""Overload as kube-apiserver v1.32.13 answers it, on real sockets: the in-flight limits (429 in plain text with
`Retry-After: 1`, long-running requests and the probes not counted), the request timeout (its 504), the Go
server's header limits (1 MiB, then 431) and its header-read timeout.

Slow requests: a list from a resourceVersion the cache has not reached waits for it (3 s) and holds a read-only
slot; a create whose body never completes holds a mutating one until it times out or its connection closes."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from apiserver.config import Config
from apiserver.filters.timeout import parse_duration
from apiserver.state import METRICS
from apiserver.testing import RunningServer, run_server

SLICES = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
SLOW_READ = SLICES + "?resourceVersion=1000000000"
TOO_MANY = b"Too many requests, please try again later.\n"
TIMEOUT_BODY = (b'{"metadata":{},"status":"Failure","message":"Timeout: request did not complete within the allotted '
                b'timeout","reason":"Timeout","details":{},"code":504}\n')


@pytest.fixture
def apiserver_config() -> Config:
    return Config(compaction_interval=0, max_requests_inflight=4, max_mutating_requests_inflight=2,
                  request_timeout=2.0, read_header_timeout=1.0)


def call(server: RunningServer, method: str, path: str, body: bytes | None = None
         ) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    request = urllib.request.Request(server.url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def new_slice(name: str) -> bytes:
    return json.dumps({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": name},
                       "addressType": "IPv4", "endpoints": []}).encode()


def post_head(length: int) -> bytes:
    return (f"POST {SLICES} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n"
            "\r\n").encode()


@contextmanager
def unfinished_creates(server: RunningServer, count: int) -> Iterator[list[socket.socket]]:
    """`count` creates whose body stops short of its Content-Length, open until the block ends."""
    with ExitStack() as stack:
        connections = []
        for _ in range(count):
            connection = stack.enter_context(socket.create_connection(("127.0.0.1", server.config.port), timeout=10))
            connection.sendall(post_head(1000) + b'{"apiVersion"')
            connections.append(connection)
        time.sleep(0.3)
        yield connections


def answer(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def raw(server: RunningServer, data: bytes, timeout: float = 10) -> tuple[bytes, float]:
    """Send `data`; the whole answer (until the server closes) and how long it took."""
    with socket.create_connection(("127.0.0.1", server.config.port), timeout=timeout) as connection:
        started = time.monotonic()
        connection.sendall(data)
        return answer(connection), time.monotonic() - started


def gauge(server: RunningServer, text: str) -> float:
    for line in generate_latest(server.app[METRICS].registry).decode().splitlines():
        if line.startswith(text + " "):
            return float(line.split()[-1])
    return 0.0


def test_past_the_limits_429_as_upstream(apiserver: RunningServer) -> None:
    """Mutating slots full: creates get upstream's plain-text 429; reads, watches and /readyz still answer."""
    assert call(apiserver, "POST", SLICES, new_slice("kept"))[0] == 201
    with unfinished_creates(apiserver, 2):
        code, headers, body = call(apiserver, "POST", SLICES, new_slice("dropped"))
        assert (code, body, headers["Retry-After"], headers["Content-Type"]) == (
            429, TOO_MANY, "1", "text/plain; charset=utf-8")
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert call(apiserver, "DELETE", SLICES + "/kept")[0] == 429
        assert call(apiserver, "GET", SLICES)[0] == 200
        assert call(apiserver, "GET", "/readyz")[:3:2] == (200, b"ok")
        with urllib.request.urlopen(apiserver.url + SLICES + "?watch=1&timeoutSeconds=1", timeout=10) as watch:
            assert json.loads(watch.readline())["object"]["metadata"]["name"] == "kept"
    assert call(apiserver, "POST", SLICES, new_slice("after"))[0] == 201
    names = [item["metadata"]["name"] for item in json.loads(call(apiserver, "GET", SLICES)[2])["items"]]
    assert names == ["after", "kept"]


def test_read_only_limit_leaves_watches_and_probes(apiserver: RunningServer) -> None:
    """Read-only slots full: lists and /metrics get 429, watches and GET /healthz, /livez, /readyz do not (the
    probes are exempt as upstream's default flow control exempts them); writes have their own slots."""
    with ThreadPoolExecutor(4) as pool:
        slow = [pool.submit(call, apiserver, "GET", SLOW_READ) for _ in range(4)]
        time.sleep(0.5)
        assert call(apiserver, "GET", SLICES)[:3:2] == (429, TOO_MANY)
        assert call(apiserver, "GET", "/metrics")[0] == 429
        for probe in ("/healthz", "/livez", "/readyz"):
            assert call(apiserver, "GET", probe)[:3:2] == (200, b"ok")
        with urllib.request.urlopen(apiserver.url + SLICES + "?watch=1&timeoutSeconds=1", timeout=10) as watch:
            assert watch.status == 200
        assert call(apiserver, "POST", SLICES, new_slice("written"))[0] == 201
        for _ in range(30):  # the peak of the last second, published every second
            if gauge(apiserver, 'apiserver_current_inflight_requests{request_kind="readOnly"}') == 4:
                break
            time.sleep(0.1)
        assert gauge(apiserver, 'apiserver_current_inflight_requests{request_kind="readOnly"}') == 4
        assert [future.result()[0] for future in slow] == [504] * 4
    assert call(apiserver, "GET", SLICES)[0] == 200
    text = generate_latest(apiserver.app[METRICS].registry).decode()
    assert ('apiserver_request_terminations_total{code="429",component="apiserver",group="discovery.k8s.io",'
            'resource="endpointslices",scope="namespace",subresource="",verb="LIST",version="v1"} 1.0') in text
    assert ('apiserver_request_terminations_total{code="429",component="apiserver",group="",resource="",scope="",'
            'subresource="/metrics",verb="GET",version=""} 1.0') in text
    assert ('apiserver_request_total{code="429",component="apiserver",dry_run="",group="discovery.k8s.io",'
            'resource="endpointslices",scope="namespace",subresource="",verb="LIST",version="v1"} 1.0') in text


def test_flood_loses_nothing(apiserver: RunningServer) -> None:
    """A flood of slow requests (6 unfinished creates, 10 slow lists) with creates among them: past the limits
    429s, reads of the cache, watches and /readyz still answer, and what was stored is all there afterwards."""
    def create(index: int) -> int:
        return call(apiserver, "POST", SLICES, new_slice(f"s{index}"))[0]

    before = [create(index) for index in range(3)]
    with unfinished_creates(apiserver, 6) as held, ThreadPoolExecutor(20) as pool:
        reads = [pool.submit(call, apiserver, "GET", SLOW_READ) for _ in range(10)]
        during = list(pool.map(create, range(3, 13)))
        assert call(apiserver, "GET", "/readyz")[:3:2] == (200, b"ok")
        with urllib.request.urlopen(apiserver.url + SLICES + "?watch=1&timeoutSeconds=1", timeout=10) as watch:
            assert json.loads(watch.readline())["type"] == "ADDED"
        read_codes = sorted(future.result()[0] for future in reads)
        held_codes = sorted(int(answer(connection).split()[1]) for connection in held)
    after = [create(index) for index in range(13, 16)]
    assert before == after == [201] * 3
    assert during == [429] * 10
    assert read_codes == [429] * 6 + [504] * 4 and held_codes == [429] * 4 + [504] * 2
    stored = {item["metadata"]["name"] for item in json.loads(call(apiserver, "GET", SLICES)[2])["items"]}
    assert stored == {"s0", "s1", "s2", "s13", "s14", "s15"}


def test_system_masters_are_served_past_the_limits(tmp_path: Path) -> None:
    """The limit filter runs after authentication, as upstream's chain: with every mutating slot held, a member
    of `system:masters` is still served (and not counted), anyone else gets the 429."""
    tokens = tmp_path / "tokens.csv"
    tokens.write_text('admin-token,admin,admin,"system:masters"\nbob-token,bob,bob\n')
    config = Config(compaction_interval=0, max_requests_inflight=4, max_mutating_requests_inflight=2,
                    request_timeout=2.0, token_auth_file=str(tokens))

    def create(token: str, name: str) -> int:
        request = urllib.request.Request(server.url + SLICES, data=new_slice(name), method="POST", headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as err:
            return err.code

    with run_server(config) as server, ExitStack() as stack:
        for _ in range(2):
            connection = stack.enter_context(socket.create_connection(("127.0.0.1", server.config.port), timeout=10))
            connection.sendall(post_head(1000).replace(b"\r\n\r\n", b"\r\nAuthorization: Bearer bob-token\r\n\r\n")
                               + b'{"apiVersion"')
        time.sleep(0.3)
        assert [create("bob-token", "bob"), create("admin-token", "admin")] == [429, 201]


def test_no_limit_at_zero() -> None:
    config = Config(compaction_interval=0, max_requests_inflight=0, max_mutating_requests_inflight=0)
    with run_server(config) as server, ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(lambda _: call(server, "GET", SLOW_READ)[0], range(6)))
    assert codes == [504] * 6


@pytest.mark.parametrize("data", [post_head(1000) + b'{"apiVersion"',
                                  post_head(0).replace(b"Content-Length: 0", b"Transfer-Encoding: chunked")
                                  + b"5\r\n{\"api\r\n"],
                         ids=["body-shorter-than-content-length", "chunked-body-never-ends"])
def test_unfinished_body_times_out(apiserver: RunningServer, data: bytes) -> None:
    """Upstream's timeout handler: a 504 Status written as plain JSON labelled text/plain, then the connection
    closes; the slot it held is free again."""
    received, took = raw(apiserver, data)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 504 Gateway Timeout\r\n")
    assert b"Content-Type: text/plain; charset=utf-8" in head and b"Connection: close" in head
    assert body == TIMEOUT_BODY
    assert 1.9 < took < 4
    assert call(apiserver, "GET", SLICES + "?limit=1")[0] == 200
    text = generate_latest(apiserver.app[METRICS].registry).decode()
    assert 'apiserver_request_terminations_total{code="504"' in text


def test_requested_timeout(apiserver: RunningServer) -> None:
    """`?timeout=` shortens the request timeout (never lengthens it); an invalid one is a 400 as upstream's."""
    received, took = raw(apiserver, post_head(1000).replace(b" HTTP", b"?timeout=500ms HTTP") + b"{")
    assert received.endswith(b"\r\n\r\n" + TIMEOUT_BODY) and took < 1.5
    started = time.monotonic()  # a list waiting for the cache is cut short too
    assert call(apiserver, "GET", SLOW_READ + "&timeout=500ms")[:3:2] == (504, TIMEOUT_BODY)
    assert time.monotonic() - started < 1.5
    assert call(apiserver, "GET", SLICES + "?timeout=1h")[0] == 200
    code, _, body = call(apiserver, "GET", SLICES + "?timeout=bogus")
    assert (code, json.loads(body)["message"]) == (
        400, 'invalid timeout specified in the request URL - time: invalid duration "bogus"')


def test_watches_outlive_the_request_timeout(apiserver: RunningServer) -> None:
    started = time.monotonic()
    with urllib.request.urlopen(apiserver.url + SLICES + "?watch=1&timeoutSeconds=3", timeout=10) as watch:
        assert watch.read() == b""
    assert time.monotonic() - started > 2.5


@pytest.mark.parametrize("data", [b"", b"GET /readyz HTTP/1.1\r\nHost: x\r\n"], ids=["idle", "header-trickle"])
def test_header_read_timeout(apiserver: RunningServer, data: bytes) -> None:
    """Go's ReadHeaderTimeout (here 1 s): a connection that never completes its headers is closed, unanswered."""
    received, took = raw(apiserver, data)
    assert received == b"" and 0.9 < took < 3


def test_kept_alive_connection_gets_a_new_header_timeout(apiserver: RunningServer) -> None:
    """The header-read timeout counts from a request's first byte: a request after an idle pause is served."""
    with socket.create_connection(("127.0.0.1", apiserver.config.port), timeout=10) as connection:
        connection.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert connection.recv(65536).startswith(b"HTTP/1.1 200 OK")
        time.sleep(1.5)
        connection.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert answer(connection).startswith(b"HTTP/1.1 200 OK")


def test_headers_up_to_go_s_limit(apiserver: RunningServer) -> None:
    """An 800-term label selector (13 KB of URL), 20,000 headers, 1 MiB in one header: served, as by Go."""
    selector = ",".join(f"key{i}=value{i}" for i in range(800))
    code, _, body = call(apiserver, "GET", f"{SLICES}?labelSelector={selector}")
    assert (code, json.loads(body)["items"]) == (200, [])
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(20000))
    assert raw(apiserver, b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + many + b"\r\n")[0].startswith(
        b"HTTP/1.1 200 OK")
    big = b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: " + b"a" * 1_052_000 + b"\r\n\r\n"
    assert raw(apiserver, big)[0].startswith(b"HTTP/1.1 200 OK")


@pytest.mark.parametrize("headers", [b"X-Big: " + b"a" * 1_100_000 + b"\r\n",
                                     b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(1100))],
                         ids=["one-1.1MB-header", "1100-1KB-headers"])
def test_headers_past_go_s_limit_431(apiserver: RunningServer, headers: bytes) -> None:
    """Past 1 MiB (+4 KiB) of headers, however split: Go's plain-text 431, then the connection closes."""
    received, _ = raw(apiserver, b"GET /readyz HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"Content-Type: text/plain; charset=utf-8" in head
    assert body == b"431 Request Header Fields Too Large"
    assert call(apiserver, "GET", "/readyz")[:3:2] == (200, b"ok")


@pytest.mark.parametrize(("text", "seconds"), [("0", 0), ("1h", 3600), ("1m30s", 90), ("1.5s", 1.5), ("500ms", 0.5),
                                              ("-2s", -2), (".5m", 30), ("1h2m3.5s", 3723.5), ("10us", 1e-5)])
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(("text", "message"), [
    ("", 'time: invalid duration ""'), ("1", 'time: missing unit in duration "1"'),
    ("1x", 'time: unknown unit "x" in duration "1x"'), (".s", 'time: invalid duration ".s"'),
    ("-", 'time: invalid duration "-"')])
def test_invalid_go_durations(text: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_duration(text)
    assert str(err.value) == message


def test_idle_kept_alive_connection_closes() -> None:
    """Go's IdleTimeout (90 s; here 1 s): a kept-alive connection with no next request is closed."""
    config = Config(compaction_interval=0, idle_timeout=1.0, read_header_timeout=5.0)
    with run_server(config) as server, socket.create_connection(("127.0.0.1", server.config.port), timeout=10) as c:
        c.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.recv(65536).startswith(b"HTTP/1.1 200 OK")
        started = time.monotonic()
        assert answer(c) == b""
        assert 0.9 < time.monotonic() - started < 3
