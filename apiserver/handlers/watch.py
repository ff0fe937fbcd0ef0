"""The watch verb: a chunked stream of newline-delimited JSON events served from the watch cache.

The handler validates the request, sends the headers, registers a Watcher with the resource's
hub and then only waits for the end: the hub writes frames to the socket itself. The stream ends
at timeoutSeconds, when the watcher is closed (server shutdown), when it is terminated (too slow:
the hub has aborted the connection), or when the client goes away (aiohttp cancels the handler).

The wire format is ours: aiohttp writes the status line and headers (with `Transfer-Encoding: chunked`)
and, at the end, the last chunk; every chunk in between is framed by the watcher and written straight to
the transport. tests/test_watch_wire.py checks the bytes, so an aiohttp upgrade that changed this shows.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import orjson
from aiohttp import web

from apiserver import errors
from apiserver.cacher.event import Form, watch_frame
from apiserver.cacher.watch_cache import TooOldError
from apiserver.cacher.watcher import Limits, Watcher, WatchInfo
from apiserver.handlers import negotiation
from apiserver.handlers.resolve import Target
from apiserver.kinds.base import Kind, Obj
from apiserver.options import ListOptions, parse_list_options, parse_rv
from apiserver.state import CONFIG, INFO, REGISTRIES

END_TIMEOUT = 10.0


def _predicate(kind: Kind, target: Target, opts: ListOptions) -> Callable[[Obj], bool]:
    namespace, name = target.namespace, target.name
    label_selector, field_selector = opts.label_selector, opts.field_selector
    if not namespace and not name and label_selector.empty and field_selector is None:
        return lambda obj: True

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
    response = web.StreamResponse(headers={"Content-Type": output.content_type})
    negotiation.add_warnings(response, request[INFO].warnings)  # e.g. the Endpoints deprecation, on watches too
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(b"")  # sends the headers if aiohttp still buffers them: the chunks follow on the transport
    transport = request.transport
    if transport is None:
        return response
    config = request.app[CONFIG]
    form = Form(output.form, output.include_object, headers=output.form == "table")
    info = WatchInfo(kind.plural, target.namespace, str(opts.label_selector),
                     str(opts.field_selector or ""), request.headers.get("User-Agent", ""), opts.allow_bookmarks)
    limits = Limits(config.watch_buffer, config.watch_buffer_bytes)
    watcher = Watcher(cacher.hub, form, info, limits, transport, since if since is not None else cacher.cache.rv)
    key = (target.namespace, target.name, info.label_selector, info.field_selector)
    try:
        cacher.watch(watcher, key, _predicate(kind, target, opts), since, registry.list_prefix(target.namespace),
                     initial_events_end=bool(opts.send_initial_events and opts.allow_bookmarks))
    except TooOldError as err:
        await response.write(watch_frame("ERROR", orjson.dumps(errors.expired(str(err)).to_status())))
        return response
    loop = asyncio.get_running_loop()
    deadline = loop.time() + opts.timeout
    try:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(watcher.signal.wait(), max(0.0, deadline - loop.time()))
    finally:
        watcher.close()
    if transport.is_closing():  # terminated (aborted) or gone
        return response
    try:
        await asyncio.wait_for(response.write_eof(), END_TIMEOUT)
    except (TimeoutError, ConnectionError):
        watcher.abort()  # a client that does not read even the end of its stream
    return response
