"""The HTTP server's own limits, as kube-apiserver's Go server sets them (secure_serving.go): request headers up
to `MaxHeaderBytes` (1 MiB, plus the 4 KiB Go allows past it), else Go's plain-text 431; headers read within
`ReadHeaderTimeout` (32 s) of the first byte of a request (of the connection, for its first request), else the
connection is closed without an answer; an idle keep-alive connection closed after `IdleTimeout` (90 s).

aiohttp counts header bytes per line, not per request, and has no header-read timeout: `ServingHandler` adds
both to its connection handler, and `Runner` serves connections with it."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from apiserver.state import CONFIG

MAX_HEADER_BYTES = (1 << 20) + 4096  # Go's DefaultMaxHeaderBytes and the slack its reader allows past it
MAX_HEADERS = 65536  # Go has no limit but the bytes; aiohttp's default is 128
TOO_LARGE = b"431 Request Header Fields Too Large"
TOO_LARGE_ANSWER = (b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    b"Connection: close\r\n\r\n" + TOO_LARGE)


class ServingHandler(RequestHandler):
    """aiohttp's connection handler with a limit on a request's header bytes and a header-read timeout."""

    read_header_timeout = 32.0
    _head_bytes = 0
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._start_head()

    def _start_head(self) -> None:
        self._head_bytes = 0
        self._header_timer = self._loop.call_later(self.read_header_timeout, self._header_timeout)

    def _header_timeout(self) -> None:
        self._header_timer = None
        self.force_close()

    def _head_done(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def data_received(self, data: bytes) -> None:
        waiting = self._waiter is not None and not self._waiter.done()
        if self._header_timer is None and waiting and not (self._force_close or self._close):
            self._start_head()  # the first byte of the next request on a kept-alive connection
        if self._header_timer is None or self._force_close or self._close:
            super().data_received(data)
            return
        room = MAX_HEADER_BYTES - self._head_bytes
        self._head_bytes += len(data)
        requests = self._request_count
        super().data_received(data[:room])
        if self._request_count > requests:
            self._head_done()
            if len(data) > room:
                super().data_received(data[room:])
        elif len(data) > room:
            self._too_large()

    def _too_large(self) -> None:
        self._head_done()
        if self.transport is not None:
            self.transport.write(TOO_LARGE_ANSWER)
        self.force_close()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._head_done()
        super().connection_lost(exc)

    def handle_error(self, request: BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        """A header line or field past the limit, or too many headers: Go's 431, not aiohttp's 400."""
        if isinstance(exc, LineTooLong) or (isinstance(exc, BadHttpMessage) and "Too many headers" in exc.message):
            response = web.Response(status=431, body=TOO_LARGE, content_type="text/plain", charset="utf-8")
            response.force_close()
            return response
        return super().handle_error(request, status, exc, message)


class Server(web.Server):
    """aiohttp's server, serving each connection with a ServingHandler."""

    def __call__(self) -> RequestHandler:
        handler = ServingHandler(self, loop=self._loop, **self._kwargs)
        handler.read_header_timeout = self.read_header_timeout
        return handler

    read_header_timeout = 32.0


class Runner(web.AppRunner):
    """An AppRunner with the Go server's limits, taken from the application's Config."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        config = app[CONFIG]
        super().__init__(app, keepalive_timeout=config.idle_timeout, max_line_size=MAX_HEADER_BYTES,
                         max_field_size=MAX_HEADER_BYTES, max_headers=MAX_HEADERS, **kwargs)
        self._read_header_timeout = config.read_header_timeout

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = Server  # the same object, its protocol factory ours
        assert isinstance(server, Server)
        server.read_header_timeout = self._read_header_timeout
        return server
