"""Start-up before storage answers. kube-apiserver keeps retrying etcd rather than exiting, and docker-compose
may start a server before its etcd resolves, so the server waits: each failed attempt is logged, and meanwhile
its port serves the health endpoints with every check but `ping` failing (so /readyz and a container's
healthcheck fail) and 503 elsewhere. Once storage answers, the real application starts on the same port."""

from __future__ import annotations

import asyncio
import logging
import ssl

from aiohttp import web

from apiserver import errors
from apiserver.config import Config
from apiserver.handlers.health import CHECKS, STORAGE_TIMEOUT
from storage import StorageError, open_storage

log = logging.getLogger(__name__)
FIRST_DELAY, MAX_DELAY = 0.5, 4.0  # seconds between attempts, doubling up to the cap


async def _failure(config: Config) -> str | None:
    """Why storage does not answer now, or None when it does. A fresh client each time: a gRPC channel that
    failed to connect backs off for up to two minutes before it tries again."""
    storage = open_storage(config.storage_url(), max_request_bytes=config.max_request_bytes)
    try:
        await asyncio.wait_for(storage.current_revision(), STORAGE_TIMEOUT)
    except (StorageError, TimeoutError) as err:
        return str(err) or type(err).__name__
    finally:
        await storage.close()
    return None


async def _health(request: web.Request) -> web.Response:
    endpoint = request.path.split("/")[1]
    only = request.match_info.get("check")
    if only is not None and only not in CHECKS[endpoint]:
        raise web.HTTPNotFound()
    names = [only] if only else list(CHECKS[endpoint])
    if names == ["ping"]:
        return web.Response(text="ok")
    lines = [f"[+]{name} ok" if name == "ping" else f"[-]{name} failed: reason withheld" for name in names]
    return web.Response(status=500, text="\n".join([*lines, f"{endpoint} check failed"]) + "\n",
                        headers={"X-Content-Type-Options": "nosniff"})


async def _unavailable(request: web.Request) -> web.Response:
    status = errors.service_unavailable("the server is waiting for its storage to answer").to_status()
    return web.json_response(status, status=503)


def waiting_app() -> web.Application:
    """What the port serves while the server waits for storage."""
    app = web.Application()
    for endpoint in CHECKS:
        app.router.add_get(f"/{endpoint}", _health)
        app.router.add_get(f"/{endpoint}/{{check}}", _health)
    app.router.add_route("*", "/{tail:.*}", _unavailable)
    return app


async def wait_for_storage(config: Config, ssl_context: ssl.SSLContext | None) -> None:
    """Return once storage answers; until then serve `waiting_app` on the server's address."""
    failure = await _failure(config)
    if failure is None:
        return
    runner = web.AppRunner(waiting_app(), shutdown_timeout=0, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, config.bind_address, config.port, ssl_context=ssl_context).start()
        delay = FIRST_DELAY
        while failure is not None:
            log.warning("waiting for storage %s (%s); retrying in %.1fs, /readyz fails meanwhile",
                        config.storage_url(), failure, delay)
            await asyncio.sleep(delay)
            delay = min(2 * delay, MAX_DELAY)
            failure = await _failure(config)
        log.info("storage %s answers; starting", config.storage_url())
    finally:
        await runner.cleanup()
