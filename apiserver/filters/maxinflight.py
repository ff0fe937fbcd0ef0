"""kube-apiserver's WithMaxInFlightLimit: at most `--max-requests-inflight` read-only and
`--max-mutating-requests-inflight` mutating requests at once (0: no limit); past them a 429 with
`Retry-After: 1`, in plain text as upstream answers it (not a Status). Long-running requests are not counted, nor
the probes (`GET /healthz`, `/livez`, `/readyz`), which upstream's default priority-and-fairness configuration
exempts (its `probes` FlowSchema). It runs after authentication, as upstream's: a member of `system:masters` is
served past the limits (not counted).

`apiserver_current_inflight_requests{request_kind}` reports the most requests in flight in the last second,
as upstream's watermark does; a dropped request counts in `apiserver_request_total` (code 429) and in
`apiserver_request_terminations_total`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from apiserver.authentication.filter import USER
from apiserver.authentication.user import MASTERS
from apiserver.filters.longrunning import RequestClass, classify
from apiserver.metrics import Metrics
from apiserver.state import CONFIG, INFO, METRICS

READ_ONLY, MUTATING = "readOnly", "mutating"
PROBES = frozenset({"/healthz", "/livez", "/readyz"})
WATERMARK_PERIOD = 1.0  # seconds, upstream's inflightUsageMetricUpdatePeriod


class InFlight:
    """The requests in flight of each kind, their limits and the peak since the last metric update."""

    def __init__(self, read_only_limit: int, mutating_limit: int) -> None:
        self.limits = {READ_ONLY: read_only_limit, MUTATING: mutating_limit}
        self.current = {READ_ONLY: 0, MUTATING: 0}
        self.peak = {READ_ONLY: 0, MUTATING: 0}

    def acquire(self, kind: str) -> bool:
        limit = self.limits[kind]
        if limit and self.current[kind] >= limit:
            return False
        self.current[kind] += 1
        self.peak[kind] = max(self.peak[kind], self.current[kind])
        return True

    def release(self, kind: str) -> None:
        self.current[kind] -= 1

    def report(self, metrics: Metrics) -> None:
        """Publish the peaks and start a new period at the current counts."""
        for kind, peak in self.peak.items():
            metrics.current_inflight.labels(kind).set(peak)
            self.peak[kind] = self.current[kind]


IN_FLIGHT: web.AppKey[InFlight] = web.AppKey("in_flight", InFlight)


def too_many_requests() -> web.Response:
    """Upstream's tooManyRequests: Go's http.Error."""
    return web.Response(status=429, text="Too many requests, please try again later.\n", content_type="text/plain",
                        charset="utf-8", headers={"Retry-After": "1", "X-Content-Type-Options": "nosniff"})


def dropped(request: web.Request, kind: RequestClass) -> web.Response:
    """Record the drop as upstream does (request total and terminations); the answer."""
    info = request[INFO]
    metrics = request.app[METRICS]
    target = kind.target
    if target is not None:
        info.verb, info.group, info.version = kind.verb, target.kind.group, target.kind.version
        info.resource, info.subresource, info.scope = target.kind.plural, target.subresource, target.scope
        metrics.terminations.labels(metrics.verb_label(kind.verb), info.group, info.version, info.resource,
                                    info.subresource, info.scope, "apiserver", "429").inc()
    else:
        metrics.terminations.labels(request.method, "", "", "", request.path, "", "apiserver", "429").inc()
    return too_many_requests()


@web.middleware
async def max_in_flight(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                        ) -> web.StreamResponse:
    kind = classify(request)
    if kind.long_running or (request.method == "GET" and request.path in PROBES):
        return await handler(request)
    in_flight = request.app[IN_FLIGHT]
    counted = MUTATING if kind.mutating else READ_ONLY
    if not in_flight.acquire(counted):
        user = request.get(USER)  # set by authentication, when the server authenticates
        if user is not None and MASTERS in user.groups:
            return await handler(request)
        return dropped(request, kind)
    try:
        return await handler(request)
    finally:
        in_flight.release(counted)


async def _watermarks(app: web.Application) -> AsyncIterator[None]:
    async def report() -> None:
        while True:
            await asyncio.sleep(WATERMARK_PERIOD)
            app[IN_FLIGHT].report(app[METRICS])

    task = asyncio.create_task(report())
    yield
    task.cancel()


def setup(app: web.Application) -> None:
    config = app[CONFIG]
    app[IN_FLIGHT] = InFlight(config.max_requests_inflight, config.max_mutating_requests_inflight)
    app.cleanup_ctx.append(_watermarks)
    app.middlewares.append(max_in_flight)
