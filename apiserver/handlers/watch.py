"""The watch verb: a chunked stream of newline-delimited JSON events served from the watch cache.

One writer task per stream (this handler): it waits for the watcher's buffer, writes everything
pending in one write, adds bookmarks when asked, and ends at timeoutSeconds, when the watcher is
closed (e.g. for being too slow) or when the client goes away.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import orjson
from aiohttp import web

from apiserver import errors, tables
from apiserver.cacher.event import watch_frame
from apiserver.cacher.watch_cache import TooOldError
from apiserver.handlers import negotiation
from apiserver.handlers.negotiation import Output
from apiserver.handlers.resolve import Target
from apiserver.kinds.base import Kind, Obj
from apiserver.options import ListOptions, parse_list_options, parse_rv
from apiserver.state import CONFIG, REGISTRIES

INITIAL_EVENTS_END = "k8s.io/initial-events-end"


def bookmark_object(kind: Kind, rv: int, initial_events_end: bool = False) -> Obj:
    meta: Obj = {"resourceVersion": str(rv)}
    if initial_events_end:
        meta["annotations"] = {INITIAL_EVENTS_END: "true"}
    return {"kind": kind.kind, "apiVersion": kind.api_version, "metadata": meta, **kind.strategy.empty_fields}


def form_encoder(kind: Kind, output: Output) -> Callable[[str, Obj], bytes] | None:
    """Per-watcher encoding for Table and metadata-only watches (None: the shared plain-object frames)."""
    if output.form == "object":
        return None
    first = True

    def encode(event_type: str, obj: Obj) -> bytes:
        nonlocal first
        if output.form == "partial":
            body = tables.partial_metadata(obj)
        else:
            meta = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
            rows = [] if event_type == "BOOKMARK" else [obj]
            body = tables.table(kind, rows, meta, output.include_object, headers=first)
            first = False
        return watch_frame(event_type, orjson.dumps(body))

    return encode


def _predicate(kind: Kind, target: Target, opts: ListOptions) -> Callable[[Obj], bool]:
    namespace, name = target.namespace, target.name

    def matches(obj: Obj) -> bool:
        meta = obj["metadata"]
        if namespace and meta.get("namespace") != namespace:
            return False
        if name and meta.get("name") != name:
            return False
        return opts.matches(kind, obj)

    return matches


async def watch(request: web.Request, target: Target) -> web.StreamResponse:
    output = negotiation.negotiate(request, watch=True)
    kind = target.kind
    opts = parse_list_options(kind, request.query, watch=True)
    registry = request.app[REGISTRIES][kind.plural]
    cacher = registry.cacher
    rv = opts.resource_version
    initial = opts.send_initial_events if opts.send_initial_events is not None else rv in ("", "0")
    if rv and rv != "0":
        requested = parse_rv(rv)
        if initial and not await cacher.wait_fresh(requested):
            raise errors.StatusError(504, "Timeout", f"Timeout: Too large resource version: {requested}, "
                                     f"current: {cacher.cache.rv}")
    elif not rv and initial:
        await cacher.wait_consistent()
    since = None if initial else (parse_rv(rv) if rv not in ("", "0") else cacher.cache.rv)
    encoder = form_encoder(kind, output)
    response = web.StreamResponse(headers={"Content-Type": output.content_type})
    for warning in request["info"].warnings:  # e.g. the Endpoints deprecation: sent on watches too
        response.headers.add("Warning", '299 - "' + warning.replace('"', '\\"') + '"')
    response.enable_chunked_encoding()
    try:
        watcher = cacher.watch(_predicate(kind, target, opts), encoder, since, registry.list_prefix(target.namespace))
    except TooOldError as err:
        await response.prepare(request)
        status = errors.expired(str(err)).to_status()
        await response.write(watch_frame("ERROR", orjson.dumps(status)))
        return response
    config = request.app[CONFIG]
    if opts.send_initial_events and opts.allow_bookmarks:
        watcher.send("BOOKMARK", bookmark_object(kind, cacher.cache.rv, initial_events_end=True))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + opts.timeout
    next_bookmark = loop.time() + config.bookmark_interval
    try:
        await response.prepare(request)
        while True:
            now = loop.time()
            if now >= deadline:
                break
            if opts.allow_bookmarks and now >= next_bookmark:
                watcher.send("BOOKMARK", bookmark_object(kind, cacher.cache.rv))
                next_bookmark = now + config.bookmark_interval
            wait = min(deadline, next_bookmark) - now if opts.allow_bookmarks else deadline - now
            frames = await watcher.next_frames(max(wait, 0.0))
            if frames:
                await response.write(b"".join(frames))
            elif watcher.closed:
                break
    except ConnectionResetError:
        pass
    finally:
        watcher.close()
    return response
