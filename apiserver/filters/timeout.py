"""kube-apiserver's WithRequestDeadline and WithTimeoutForNonLongRunningRequests: every request that is not
long-running gets `--request-timeout` (60 s), or the shorter `?timeout=` it asks for (a Go duration); past it
the handler is cancelled and the client gets the timeout handler's 504, written as upstream writes it
(the Status as plain JSON, without kind and apiVersion, labelled text/plain), and the connection is closed.
A body that never completes (shorter than its Content-Length, a chunked body that never ends) ends here."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from apiserver import errors
from apiserver.filters.longrunning import classify
from apiserver.metrics import Metrics
from apiserver.state import CONFIG, INFO, METRICS

TIMEOUT_BODY = (b'{"metadata":{},"status":"Failure","message":"Timeout: request did not complete within the allotted '
                b'timeout","reason":"Timeout","details":{},"code":504}\n')
UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
TERM = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]*)")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration ("1m30s", "1.5h", "-2s", "0"); ValueError with Go's message otherwise."""
    quoted = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    rest = text.lstrip("+-")
    sign = -1.0 if text.startswith("-") else 1.0
    if rest == "0":
        return 0.0
    if not rest:
        raise ValueError(f"time: invalid duration {quoted}")
    total, position = 0.0, 0
    while position < len(rest):
        term = TERM.match(rest, position)
        assert term is not None  # every part of the pattern may be empty
        whole, fraction, unit = term.groups()
        if not whole and not fraction:
            raise ValueError(f"time: invalid duration {quoted}")
        if not unit:
            raise ValueError(f"time: missing unit in duration {quoted}")
        if unit not in UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration {quoted}')
        total += float(f"{whole or 0}.{fraction or 0}") * UNITS[unit]
        position = term.end()
    return sign * total


async def timed_out(request: web.Request, metrics: Metrics) -> web.StreamResponse:
    """The timeout handler's answer, sent, and the connection closed (the body still coming is not read);
    the termination counted as upstream counts it."""
    kind = classify(request)
    info = request[INFO]
    if kind.target is not None:
        metrics.terminations.labels(metrics.verb_label(kind.verb), info.group, info.version, info.resource,
                                    info.subresource, info.scope, "apiserver", "504").inc()
    else:
        metrics.terminations.labels(request.method, "", "", "", request.path, "", "apiserver", "504").inc()
    response = web.Response(status=504, body=TIMEOUT_BODY, content_type="text/plain", charset="utf-8")
    response.force_close()  # Connection: close
    await response.prepare(request)
    await response.write_eof()
    request.protocol.force_close()  # the transport flushes the answer, then closes
    return response


@web.middleware
async def request_timeout(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                          ) -> web.StreamResponse:
    limit = request.app[CONFIG].request_timeout
    if limit <= 0 or classify(request).long_running:
        return await handler(request)
    if asked := request.query.get("timeout"):
        try:
            seconds = parse_duration(asked)
        except ValueError as err:
            raise errors.bad_request(f"invalid timeout specified in the request URL - {err}") from None
        if 0 < seconds < limit:
            limit = seconds
    deadline = asyncio.timeout(limit)
    try:
        async with deadline:
            response = await handler(request)
    except Exception:
        if not deadline.expired():
            raise
    else:
        # a handler that swallowed the cancellation answers late: the timeout still wins, as upstream's does
        if not deadline.expired() or response.prepared:
            return response
    return await timed_out(request, request.app[METRICS])


def setup(app: web.Application) -> None:
    app.middlewares.append(request_timeout)
