"""The aiohttp application: routes, the Status/metrics middleware, and the storage lifecycle."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import cast

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from apiserver import codec, errors, httplog
from apiserver.allocator import IPRange, PortRange
from apiserver.cacher.cacher import Cacher
from apiserver.cacher.event import FrameBudget
from apiserver.cacher.meters import WatchCollector
from apiserver.cacher.reflector import Reflector
from apiserver.cacher.watch_cache import WatchCache
from apiserver.codec import decode
from apiserver.config import Config
from apiserver.controllers.manager import in_process
from apiserver.discovery import deprecation_warning
from apiserver.faults import FAULTS, Faults
from apiserver.filters import maxinflight, timeout
from apiserver.handler_chain import install_filters
from apiserver.handlers import debug, discovery, health, negotiation, rest
from apiserver.handlers import faults as fault_injection
from apiserver.handlers.resolve import Target, resolve, verb_of
from apiserver.handlers.subresources import handler_for
from apiserver.handlers.watch import watch
from apiserver.kinds import KINDS
from apiserver.kinds.base import Kind, Obj
from apiserver.kinds.event import EVENT
from apiserver.kindstorage import TTLStorage, ViewStorage
from apiserver.metrics import Metrics
from apiserver.namespaces import NamespaceRegistry
from apiserver.registry import Registry
from apiserver.services import ServiceRegistry
from apiserver.state import CONFIG, INFO, METRICS, REGISTRIES, STORAGE, RequestInfo
from storage import KeyValue, Storage, StorageError, open_storage

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
    if path == "/api" or path.startswith("/api/") or any(path == p or path.startswith(p + "/") for p in GROUP_PATHS):
        return status_response(request, errors.not_found_path())
    return web.Response(status=404, text="404 page not found\n", content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


GROUP_PATHS = tuple(sorted({f"/apis/{kind.group}" for kind in KINDS if kind.group}))
COLLECTION_PRODUCES = negotiation.ACCEPTED + negotiation.ACCEPTED_WATCH


async def serve_resource(request: web.Request) -> web.StreamResponse:
    group, version = request.match_info.get("group", ""), request.match_info["version"]
    if group and f"/apis/{group}" not in GROUP_PATHS:
        raise web.HTTPNotFound()
    api_version = f"{group}/{version}" if group else version
    target = resolve(api_version, request.match_info["tail"])
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
    media_type = config.media_type()
    registries: dict[str, Registry] = {}
    namespaces: NamespaceRegistry | None = None
    frames = FrameBudget(config.watch_frame_cache_bytes)  # one budget for every resource's watch cache
    for kind in KINDS:
        cache = WatchCache(config.watch_cache_min_size, config.watch_cache_max_size, frames=frames)
        cacher = Cacher(kind, storage, kind_decoder(kind), cache, config.watch_encode_cache, config.bookmark_interval)
        if kind.plural == "namespaces":
            namespaces = NamespaceRegistry(kind, storage, cacher, _no_namespace, media_type)
            registries[kind.plural] = namespaces
        elif kind.plural == "services":
            assert namespaces is not None, "namespaces are listed first"
            registries[kind.plural] = ServiceRegistry(kind, storage, cacher, namespaces.check_writable,
                                                      IPRange.parse(config.service_cluster_ip_range),
                                                      PortRange.parse(config.service_node_port_range), media_type)
        else:
            assert namespaces is not None, "namespaces are listed first"
            registries[kind.resource_key] = Registry(kind, kind_storage(kind, storage, config), cacher,
                                                     namespaces.check_writable, media_type)
    assert namespaces is not None
    namespaces.namespaced = {p: r for p, r in registries.items() if r.kind.namespaced and r.kind.view is None}
    app[REGISTRIES] = registries
    collector = WatchCollector([r.cacher.meters for r in registries.values()],
                               {p: (lambda c=r.cacher.cache: c.capacity) for p, r in registries.items()})
    app[METRICS].registry.register(collector)
    await namespaces.ensure_built_in()
    services = registries["services"]
    assert isinstance(services, ServiceRegistry)
    await services.bootstrap(config.port)
    reflector = Reflector(storage, [r.cacher for r in registries.values()])
    await reflector.start()
    for registry in registries.values():
        await registry.cacher.start()
    compactor = None
    if config.compaction_interval > 0:
        compactor = asyncio.create_task(compact_periodically(storage, config.compaction_interval))
    yield
    if compactor is not None:
        compactor.cancel()
    await reflector.stop()
    for registry in registries.values():
        await registry.cacher.stop()
    await storage.close()


def kind_decoder(kind: Kind) -> Callable[[KeyValue], Obj]:
    """How a kind's watch cache decodes stored values: a view converts them to its form."""
    view = kind.view
    if view is None:
        return decode
    return lambda kv: view.from_stored(decode(kv))


def kind_storage(kind: Kind, storage: Storage, config: Config) -> Storage:
    """The storage a kind's registry writes through: Events with the event TTL, views converting."""
    stored = kind.view.of if kind.view is not None else kind
    written: Storage = storage
    if stored.etcd_prefix == EVENT.etcd_prefix and config.event_ttl > 0:
        written = cast(Storage, TTLStorage(storage, config.event_ttl))
    if kind.view is not None:
        written = cast(Storage, ViewStorage(written, kind.view, codec.encoder(config.media_type())))
    return written


async def _no_namespace(namespace: str, kind: Kind, name: str) -> None:
    """Cluster-scoped kinds have no namespace to check."""


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


def create_app(config: Config) -> web.Application:
    httplog.install()  # aiohttp's server logger: a malformed request is one line, rate-limited
    app = web.Application(middlewares=[api_middleware],
                          client_max_size=max(rest.MAX_BODY_BYTES, 2 * config.max_request_bytes))
    app[CONFIG] = config
    app[METRICS] = Metrics()
    app[FAULTS] = Faults(app)
    timeout.setup(app)  # outside the in-flight limits, as upstream's chain: a request over time frees its slot
    maxinflight.setup(app)
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
    install_filters(app)  # authentication and authorization of every request (middlewares); SelfSubjectReview
    app.router.add_get("/metrics", serve_metrics)
    app.router.add_route("*", "/api/{version}/{tail:.*}", serve_resource)
    app.router.add_route("*", "/apis/{group}/{version}/{tail:.*}", serve_resource)
    return app
