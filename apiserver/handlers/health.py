"""/healthz, /livez and /readyz, with `?verbose` check lists and `/<endpoint>/<check>` as upstream serves them.

/readyz also has one check per watch cache (`watch-cache endpointslices`): failed while that cache is being
relisted after it could not follow storage; `informer-sync` fails while any of them does."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from apiserver.state import REGISTRIES, STORAGE
from storage import StorageError

Check = Callable[[web.Application], Awaitable[bool]]
STORAGE_TIMEOUT = 2.0  # seconds, as kube-apiserver's --etcd-healthcheck-timeout


async def _ping(app: web.Application) -> bool:
    return True


async def _storage(app: web.Application) -> bool:
    try:
        await asyncio.wait_for(app[STORAGE].current_revision(), STORAGE_TIMEOUT)
    except (StorageError, TimeoutError):
        return False
    return True


async def _informer_sync(app: web.Application) -> bool:
    return all(r.cacher.ready.is_set() for r in app[REGISTRIES].values())


def _watch_cache(resource: str) -> Check:
    async def ready(app: web.Application) -> bool:
        return app[REGISTRIES][resource].cacher.ready.is_set()

    return ready


CHECKS: dict[str, dict[str, Check]] = {
    "healthz": {"ping": _ping, "etcd": _storage},
    "livez": {"ping": _ping, "etcd": _storage},
    "readyz": {"ping": _ping, "etcd": _storage, "informer-sync": _informer_sync},
}


def _checks(app: web.Application, endpoint: str) -> dict[str, Check]:
    if endpoint != "readyz":
        return CHECKS[endpoint]
    return {**CHECKS[endpoint], **{f"watch-cache {resource}": _watch_cache(resource) for resource in app[REGISTRIES]}}


def _handler(endpoint: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        checks = _checks(request.app, endpoint)
        only = request.match_info.get("check")
        if only is not None and only not in checks:
            raise web.HTTPNotFound()
        excluded = set(request.query.getall("exclude", []))
        names = [only] if only else [n for n in checks if n not in excluded]
        results = {name: await checks[name](request.app) for name in names}
        healthy = all(results.values())
        if "verbose" in request.query or not healthy:
            lines = [f"[+]{n} ok" if ok else f"[-]{n} failed: reason withheld" for n, ok in results.items()]
            lines.append(f"{endpoint} check passed" if healthy else f"{endpoint} check failed")
            body = "\n".join(lines) + "\n"
        else:
            body = "ok"
        return web.Response(text=body, status=200 if healthy else 500, content_type="text/plain",
                            headers={"X-Content-Type-Options": "nosniff"})

    return handle


def setup(app: web.Application) -> None:
    for endpoint in CHECKS:
        app.router.add_get(f"/{endpoint}", _handler(endpoint))
        app.router.add_get(f"/{endpoint}/{{check}}", _handler(endpoint))
