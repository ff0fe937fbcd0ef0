"""The aiohttp application: routes, the Status/metrics middleware, and the storage lifecycle."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from apiserver import errors, httplog
from apiserver.aggregated import served_kinds
from apiserver.config import Config
from apiserver.controllers.manager import in_process
from apiserver.discovery import deprecation_warning
from apiserver.faults import FAULTS, Faults
from apiserver.handler_chain import install_filters
from apiserver.handlers import debug, discovery, health, negotiation, rest
from apiserver.handlers import faults as fault_injection
from apiserver.handlers.resolve import Target, resolve, verb_of
from apiserver.handlers.subresources import handler_for
from apiserver.handlers.watch import watch
from apiserver.kind_registry import KindRegistry
from apiserver.kind_storage import KIND_STORAGE, KindStorage
from apiserver.kinds import KINDS
from apiserver.kinds.base import Kind
from apiserver.metrics import Metrics
from apiserver.services import ServiceRegistry
from apiserver.state import CONFIG, INFO, METRICS, REGISTRIES, SERVED_KINDS, STORAGE, RequestInfo
from storage import Storage, StorageError, open_storage

log = logging.getLogger(__name__)

Verb = Callable[[web.Request, Target], Awaitable[web.StreamResponse]]
VERBS: dict[str, Verb] = {
    "get": rest.get,
    "list": rest.list_,
    "watch": watch,
    "create": rest.create,
    "update": rest.update,
    "patch": rest.patch,
    "delete": rest.delete,
    "deletecollection": rest.delete_collection,
}


def status_response(request: web.Request, err: errors.StatusError) -> web.Response:
    """The Status, compact JSON as the real server writes it, or YAML if the request's Accept asks for YAML."""
    encoding = negotiation.error_encoding(request)
    body = negotiation.dumps(err.to_status(), encoding)
    response = web.Response(body=body, status=err.code, content_type=negotiation.content_type(encoding))
    details = err.details or {}
    if details.get("retryAfterSeconds"):
        response.headers["Retry-After"] = str(details["retryAfterSeconds"])
    info = request.get(INFO)
    if info is not None:
        negotiation.add_warnings(response, info.warnings)
    return response


@web.middleware
async def api_middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
    """Turn every failure into a Status response and record request metrics."""
    info = request[INFO] = RequestInfo()
    start = time.perf_counter()
    try:
        response = await handler(request)
    except errors.StatusError as err:
        response = status_response(request, err)
    except web.HTTPRequestEntityTooLarge:
        response = status_response(request, errors.too_large_body(rest.body_limit(request.app)))
    except web.HTTPNotFound:
        response = not_found(request)
    except web.HTTPMethodNotAllowed:
        response = status_response(request, errors.method_not_allowed())
    except StorageError as err:
        response = status_response(request, errors.from_storage(err, KINDS[0], "", "get"))
    except web.HTTPException:
        raise
    except Exception as err:
        log.exception("internal error serving %s %s", request.method, request.path)
        response = status_response(request, errors.internal(str(err)))
    if info.verb:
        metrics = request.app[METRICS]
        labels = (metrics.verb_label(info.verb), "All" if info.dry_run else "", info.group,
                  info.version, info.resource, info.subresource, info.scope, "apiserver")
        metrics.requests.labels(*labels, str(response.status)).inc()
        metrics.request_duration.labels(*labels).observe(time.perf_counter() - start)
    return response


async def no_cache(request: web.Request, response: web.StreamResponse) -> None:
    """kube-apiserver's WithCacheControl: an answer that sets no Cache-Control of its own gets `no-cache, private`
    (watch streams too: this runs as their headers are prepared)."""
    response.headers.setdefault("Cache-Control", "no-cache, private")


def not_found(request: web.Request) -> web.Response:
    """A path nothing serves: a NotFound Status under `/api` and the groups served (kube-apiserver's API routes),
    else the plain `404 page not found` of its final handler."""
    path = request.path
    group = path.split("/")[2] if path.startswith("/apis/") else ""
    if path == "/api" or path.startswith("/api/") or group in request.app[SERVED_KINDS].group_names:
        return status_response(request, errors.not_found_path())
    return web.Response(status=404, text="404 page not found\n", content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


COLLECTION_PRODUCES = negotiation.ACCEPTED + negotiation.ACCEPTED_WATCH


async def serve_resource(request: web.Request) -> web.StreamResponse:
    group, version = request.match_info.get("group", ""), request.match_info["version"]
    kinds = request.app[SERVED_KINDS]
    if group and group not in kinds.group_names:
        raise web.HTTPNotFound()
    api_version = f"{group}/{version}" if group else version
    target = resolve(kinds, api_version, request.match_info["tail"])
    verb = verb_of(request, target)
    handler = handler_for(target)
    # kube-apiserver's route checks, before any handler: the patch type (415), then Accept (406)
    if verb == "patch" and handler is None:
        negotiation.check_patch_type(request)
    on_collection = request.method == "GET" and (target.legacy_watch or not target.name)
    if handler is None:
        negotiation.check_route(request, COLLECTION_PRODUCES if on_collection else negotiation.ACCEPTED)
    info = request[INFO]
    kind = target.kind
    info.verb, info.group, info.version, info.resource = verb, kind.group, kind.version, kind.plural
    info.subresource, info.scope = target.subresource, target.scope
    info.dry_run = "All" in request.query.getall("dryRun", [])
    faults = request.app[FAULTS]
    if faults.failures:
        faults.check(verb, kind.plural)
    if warning := deprecation_warning(kind):
        info.warnings.append(warning)
        request.app[METRICS].deprecated_apis.labels(kind.group, kind.version, kind.plural, "", "").set(1)
    if handler is not None:
        return await handler(request, target)
    if verb != "watch":
        return await VERBS[verb](request, target)
    gauge = request.app[METRICS].longrunning.labels("WATCH", kind.group, kind.version, kind.plural, "", info.scope,
                                                    "apiserver")
    gauge.inc()
    try:
        return await watch(request, target)
    finally:
        gauge.dec()


async def serve_metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def storage_context(app: web.Application) -> AsyncIterator[None]:
    """Open storage, build a registry and a watch cache per kind, create the built-in namespaces, then list
    and watch storage for every cache (one reflector) and compact it periodically."""
    config = app[CONFIG]
    storage = open_storage(config.storage_url(), max_request_bytes=config.max_request_bytes)
    app[STORAGE] = storage
    kinds = app[KIND_STORAGE] = KindStorage(app, storage)
    assert kinds.namespaces is not None
    await kinds.namespaces.ensure_built_in()
    services = kinds.registries["services"]
    assert isinstance(services, ServiceRegistry)
    await services.bootstrap(config.port)
    await kinds.start()
    compactor = None
    if config.compaction_interval > 0:
        compactor = asyncio.create_task(compact_periodically(storage, config.compaction_interval))
    yield
    if compactor is not None:
        compactor.cancel()
    await kinds.stop()
    await storage.close()


async def compact_periodically(storage: Storage, interval: float) -> None:
    """kube-apiserver's compactor: every interval, take the storage's compaction turn and compact to the
    revision seen when the previous turn was taken, keeping about one interval of history. On etcd the turn
    is shared (``compact_rev_key``), so one compaction runs per interval whichever replicas are up."""
    turn, revision = 0, 0
    while True:
        await asyncio.sleep(interval)
        try:
            turn, revision = await storage.compact_turn(turn, revision)
        except StorageError as err:
            log.warning("compaction failed: %s", err)


async def close_watches(app: web.Application) -> None:
    for registry in app[REGISTRIES].values():
        registry.cacher.hub.close_all()


def create_app(config: Config, kinds: Sequence[Kind] = ()) -> web.Application:
    """The server's application, serving the built-in kinds and `kinds` (a test's own)."""
    httplog.install()  # aiohttp's server logger: a malformed request is one line, rate-limited
    app = web.Application(middlewares=[api_middleware],
                          client_max_size=max(rest.MAX_BODY_BYTES, 2 * config.max_request_bytes))
    app[CONFIG] = config
    app[SERVED_KINDS] = KindRegistry((*served_kinds(config, KINDS), *kinds))  # --aggregated: in --api-group
    app[METRICS] = Metrics()
    app[FAULTS] = Faults(app)
    app.cleanup_ctx.append(storage_context)
    if config.controllers:
        app.cleanup_ctx.append(in_process(config))
    app.on_shutdown.append(close_watches)
    app.on_response_prepare.append(no_cache)
    discovery.setup(app)
    health.setup(app)
    debug.setup(app)
    if config.enable_fault_injection:
        fault_injection.setup(app)
    install_filters(app)  # the request timeout, authentication, audit, in-flight limits, authorization; reviews
    app.router.add_get("/metrics", serve_metrics)
    app.router.add_route("*", "/api/{version}/{tail:.*}", serve_resource)
    app.router.add_route("*", "/apis/{group}/{version}/{tail:.*}", serve_resource)
    return app
