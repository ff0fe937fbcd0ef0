"""The watch verb: a chunked stream of newline-delimited JSON events, or length-prefixed protobuf WatchEvents, served
from the watch cache.

The handler validates the request, sends the headers, registers a Watcher with the resource's
hub and then only waits for the end: the hub writes frames to the socket itself. The stream ends
at timeoutSeconds, when the watcher is closed (server shutdown), when it is terminated (too slow:
the hub has aborted the connection), or when the client goes away (aiohttp cancels the handler).
A watch that allows bookmarks gets one at the cache's revision shortly before its timeout, so its
client resumes from there without a relist.

The wire format is ours: aiohttp writes the status line and headers (with `Transfer-Encoding: chunked`)
and, at the end, the last chunk; every chunk in between is framed by the watcher and written straight to
the transport. tests/test_watch_wire.py checks the bytes, so an aiohttp upgrade that changed this shows.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from apiserver import errors, tables
from apiserver.cacher.cacher import Cacher
from apiserver.cacher.event import Form
from apiserver.cacher.hub import GroupKey, Predicate, group_key
from apiserver.cacher.watch_cache import TooOldError
from apiserver.cacher.watcher import Limits, Watcher, WatchInfo
from apiserver.handlers import negotiation
from apiserver.handlers.resolve import Target
from apiserver.kinds.base import Obj
from apiserver.options import ListOptions, parse_list_options, parse_rv
from apiserver.state import CONFIG, INFO, REGISTRIES

END_TIMEOUT = 10.0
UNSUPPORTED = ("a watch stream was requested by the client but the required storage feature RequestWatchProgress "
               "is disabled")
BOOKMARK_LEAD = 2.0  # upstream's cacheWatcher bookmarks 2 s before the deadline (half way for shorter watches)


def watch_filter(target: Target, opts: ListOptions) -> tuple[GroupKey, Predicate]:
    """The hub's group key of a watch and the predicate its objects must pass."""
    kind, namespace, name = target.kind, target.namespace, target.name
    label_selector, field_selector = opts.label_selector, opts.field_selector
    key = group_key(kind, namespace, name, str(label_selector), field_selector)
    if not namespace and not name and label_selector.empty and field_selector is None:
        return key, lambda obj: True

    def matches(obj: Obj) -> bool:
        meta = obj["metadata"]
        if namespace and meta.get("namespace") != namespace:
            return False
        if name and meta.get("name") != name:
            return False
        return opts.matches(kind, obj)

    return key, matches


async def _catch_up(cacher: Cacher, opts: ListOptions, initial: bool) -> errors.StatusError | None:
    """Wait until the cache may send this watch's initial events: up to its resourceVersion, or up to storage's
    revision without one; the error upstream's cacher streams when it does not get there in time, or when
    storage cannot prove progress for a watch-list (client-go then lists)."""
    if not cacher.watch_progress and opts.allow_bookmarks and watch_list(opts):
        return errors.StatusError(500, "InternalError", UNSUPPORTED)
    rv = opts.resource_version
    if not initial or rv == "0":
        return None
    target = parse_rv(rv) if rv else await cacher.storage.current_revision()
    if await cacher.wait_fresh(target):
        return None
    return errors.StatusError(504, "Timeout", f"Timeout: Too large resource version: {target}, current: "
                              f"{cacher.cache.rv}", {"causes": [{"reason": "ResourceVersionTooLarge",
                                                                 "message": "Too large resource version"}],
                                                     "retryAfterSeconds": 1})


def watch_list(opts: ListOptions) -> bool:
    """Whether a watch is a watch-list (initial events, ended by a bookmark if bookmarks are allowed): asked with
    sendInitialEvents=true, or, as 1.32 defaults it with the WatchList gate on, a watch from resourceVersion ""
    or "0" that sets neither sendInitialEvents nor resourceVersionMatch."""
    if opts.send_initial_events is not None:
        return opts.send_initial_events
    return not opts.rv_match and opts.resource_version in ("", "0")


async def _until(watcher: Watcher, when: float) -> None:
    """Wait until the loop's time `when` or the watcher's end, whichever comes first."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(watcher.signal.wait(), max(0.0, when - asyncio.get_running_loop().time()))


async def watch(request: web.Request, target: Target) -> web.StreamResponse:
    kind = target.kind
    output = negotiation.negotiate(request, watch=True, kind=kind)
    opts = parse_list_options(kind, request.query, watch=True)
    if output.form == "table":
        tables.check_include_object(output.include_object)
    registry = request.app[REGISTRIES][kind.resource_key]
    cacher = registry.cacher
    rv = opts.resource_version
    initial = opts.send_initial_events if opts.send_initial_events is not None else rv in ("", "0")
    failure = await _catch_up(cacher, opts, initial)
    since = None if initial else (parse_rv(rv) if rv not in ("", "0") else cacher.cache.rv)
    response = web.StreamResponse(headers={"Content-Type": output.watch_content_type})
    negotiation.add_warnings(response, request[INFO].warnings)  # e.g. the Endpoints deprecation, on watches too
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(b"")  # sends the headers if aiohttp still buffers them: the chunks follow on the transport
    transport = request.transport
    if transport is None:
        return response
    config = request.app[CONFIG]
    form = Form(output.form, output.include_object, output.form == "table",
                "protobuf" if output.encoding == "protobuf" else "json")
    info = WatchInfo(kind.plural, target.namespace, str(opts.label_selector),
                     str(opts.field_selector or ""), request.headers.get("User-Agent", ""), opts.allow_bookmarks)
    limits = Limits(config.watch_buffer, config.watch_buffer_bytes)
    watcher = Watcher(cacher.hub, form, info, limits, transport, since if since is not None else cacher.cache.rv)
    if failure is not None:
        await response.write(form.error(failure.to_status()))
        return response
    key, predicate = watch_filter(target, opts)
    try:
        cacher.watch(watcher, key, predicate, since, registry.list_prefix(target.namespace),
                     initial_events_end=opts.allow_bookmarks and watch_list(opts))
    except TooOldError as err:
        await response.write(form.error(errors.expired(str(err)).to_status()))
        return response
    loop = asyncio.get_running_loop()
    deadline = loop.time() + opts.timeout
    try:
        if opts.allow_bookmarks:
            await _until(watcher, deadline - min(BOOKMARK_LEAD, opts.timeout / 2))
            if not watcher.done:
                cacher.bookmark(watcher)  # so the client resumes from here, not with a relist
        await _until(watcher, deadline)
    finally:
        watcher.close()
    if transport.is_closing():  # terminated (aborted) or gone
        return response
    try:
        await asyncio.wait_for(response.write_eof(), END_TIMEOUT)
    except (TimeoutError, ConnectionError):
        watcher.abort()  # a client that does not read even the end of its stream
    return response
