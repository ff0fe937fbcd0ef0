"""Injected faults: the watch failures and API errors a controller must survive, one call away.

`Faults` acts on a running server, on its event loop:

- `close_watches(resource)`: end every open watch of a resource; clients re-watch from their last resourceVersion.
- `expire(resource)`: the watch cache forgets its event history, as its window does when it moves on, so a watch
  from any older resourceVersion gets 410 Expired and the client must relist (open watches go on).
- `compact()`: compact storage at its current revision: continue tokens and reads at older revisions get 410.
- `pause(resource, seconds)` / `resume(resource)`: a stalled cache. Storage events are held, watchers get nothing
  and the cache's revision stands still (consistent reads wait for it as for a lagging cache), then the held
  events are applied and dispatched in order.
- `drop_watch(watch_id=..., resource=...)`: abort one watch connection mid-stream (no final chunk: a broken stream).
- `fail(verb, resource, code, count)`: answer the next `count` matching requests with 429 (and Retry-After),
  500 or 503 as Status objects. The request path checks `failures` first, so nothing is spent while none is armed.

Tests reach it through `RunningServer.faults` (apiserver/testing.py), clients over HTTP under `/debug/faults`
when the server runs with --enable-fault-injection (apiserver/handlers/faults.py). Bad arguments raise
ValueError, a watch or resource that is not there LookupError.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from apiserver import errors
from apiserver.state import REGISTRIES, STORAGE
from storage import CompactedError

if TYPE_CHECKING:
    from apiserver.cacher.cacher import Cacher

log = logging.getLogger(__name__)

VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
CODES = (429, 500, 503)
MAX_PAUSE_SECONDS = 600.0


@dataclass
class Failure:
    """The next `remaining` requests with `verb` on `resource` (None: any) are answered with `code`."""

    verb: str | None
    resource: str | None
    code: int
    remaining: int
    retry_after: int = 1

    def matches(self, verb: str, resource: str) -> bool:
        return self.verb in (None, verb) and self.resource in (None, resource)

    def error(self) -> errors.StatusError:
        """The Status upstream answers with: NewTooManyRequests, NewInternalError, NewServiceUnavailable."""
        retry = {"retryAfterSeconds": self.retry_after} if self.retry_after > 0 else None
        if self.code == 429:
            return errors.StatusError(429, "TooManyRequests", "Too many requests, please try again later.", retry)
        if self.code == 503:
            return errors.StatusError(503, "ServiceUnavailable", "injected fault: service unavailable", retry)
        return errors.internal("injected fault")

    def to_dict(self) -> dict[str, Any]:
        return {"verb": self.verb, "resource": self.resource, "code": self.code, "count": self.remaining,
                "retryAfterSeconds": self.retry_after}


class Faults:
    """The faults armed in one server (its application's registries and storage)."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.failures: list[Failure] = []
        self._resumes: dict[str, asyncio.TimerHandle] = {}
        app.on_shutdown.append(self._shutdown)

    def _cachers(self, resource: str | None) -> dict[str, Cacher]:
        registries = self.app[REGISTRIES]
        if resource is None:
            return {plural: registry.cacher for plural, registry in registries.items()}
        registry = registries.get(resource)
        if registry is None:
            raise LookupError(f"unknown resource {resource!r} (known: {', '.join(registries)})")
        return {resource: registry.cacher}

    def close_watches(self, resource: str | None = None) -> int:
        """Close every open watch of `resource` (None: of every resource); return how many were closed."""
        closed = 0
        for cacher in self._cachers(resource).values():
            closed += len(cacher.hub.watchers())
            cacher.hub.close_all()
        log.warning("fault injected: closed %d watches of %s", closed, resource or "every resource")
        return closed

    def expire(self, resource: str | None = None) -> dict[str, int]:
        """Drop the event history of `resource`'s watch cache (None: every resource's), so its window starts at
        its current revision: a watch from an older resourceVersion gets 410 Expired. Returns resource → start."""
        starts = {}
        for plural, cacher in self._cachers(resource).items():
            cache = cacher.cache
            cache.replace(cache.entries(), cache.rv)
            starts[plural] = cache.rv
        log.warning("fault injected: watch cache history dropped: %s", starts)
        return starts

    async def compact(self) -> int:
        """Compact storage at its current revision (a no-op if already compacted there); return that revision."""
        storage = self.app[STORAGE]
        revision = await storage.current_revision()
        try:
            await storage.compact(revision)
        except CompactedError:  # compacted at this revision already: nothing was written since
            pass
        log.warning("fault injected: storage compacted at %d", revision)
        return revision

    def pause(self, resource: str | None, seconds: float) -> list[str]:
        """Stall `resource`'s cache (None: every cache) for `seconds`, or until `resume`; return the resources."""
        if not 0 < seconds <= MAX_PAUSE_SECONDS:
            raise ValueError(f"seconds must be in (0, {MAX_PAUSE_SECONDS:g}], not {seconds}")
        cachers = self._cachers(resource)
        loop = asyncio.get_running_loop()
        for plural, cacher in cachers.items():
            cacher.pause()
            previous = self._resumes.pop(plural, None)
            if previous is not None:
                previous.cancel()
            self._resumes[plural] = loop.call_later(seconds, self.resume, plural)
        log.warning("fault injected: %s paused for %gs", ", ".join(cachers), seconds)
        return list(cachers)

    def resume(self, resource: str | None = None) -> int:
        """End the pause of `resource` (None: of every paused cache); return how many held events were applied."""
        applied = 0
        for plural, cacher in self._cachers(resource).items():
            handle = self._resumes.pop(plural, None)
            if handle is not None:
                handle.cancel()
            if cacher.paused:
                applied += cacher.resume()
                log.warning("fault injection: %s resumed", plural)
        return applied

    def drop_watch(self, watch_id: int | None = None, resource: str | None = None) -> int:
        """Abort the connection of watch `watch_id` (as /debug/watches lists it), or of the newest watch of `resource`
        (None: of any resource); return the id of the watch dropped."""
        watchers = [w for cacher in self._cachers(resource).values() for w in cacher.hub.watchers()
                    if watch_id is None or w.id == watch_id]
        if not watchers:
            raise LookupError(f"no open watch {watch_id}" if watch_id is not None else "no open watch")
        watcher = max(watchers, key=lambda w: w.id)
        watcher.transport.abort()
        log.warning("fault injected: watch %d of %s dropped", watcher.id, watcher.info.resource)
        return watcher.id

    def fail(self, verb: str | None = None, resource: str | None = None, code: int = 500, count: int = 1,
             retry_after: int = 1) -> Failure:
        """Answer the next `count` requests with `verb` on `resource` (None: any) with `code` (429, 500 or 503);
        429 and 503 carry Retry-After: `retry_after` seconds (0: none). Armed failures are checked in order."""
        if verb is not None and verb not in VERBS:
            raise ValueError(f"unknown verb {verb!r} (known: {', '.join(VERBS)})")
        if resource is not None:
            self._cachers(resource)
        if code not in CODES:
            raise ValueError(f"code must be one of {', '.join(map(str, CODES))}, not {code}")
        if count < 1 or retry_after < 0:
            raise ValueError("count must be at least 1 and retryAfterSeconds at least 0")
        failure = Failure(verb, resource, code, count, retry_after)
        self.failures.append(failure)
        log.warning("fault injected: the next %d %s requests on %s answer %d", count, verb or "*", resource or "*",
                    code)
        return failure

    def check(self, verb: str, resource: str) -> None:
        """Raise the error of the first armed failure matching the request, counting it down."""
        for failure in self.failures:
            if failure.matches(verb, resource):
                failure.remaining -= 1
                if not failure.remaining:
                    self.failures.remove(failure)
                raise failure.error()

    def armed(self) -> dict[str, Any]:
        """Failures still armed and caches paused."""
        paused = [plural for plural, cacher in self._cachers(None).items() if cacher.paused]
        return {"failures": [f.to_dict() for f in self.failures], "paused": paused}

    def reset(self) -> None:
        """Disarm every failure and resume every paused cache."""
        self.failures.clear()
        self.resume()

    async def _shutdown(self, app: web.Application) -> None:
        for handle in self._resumes.values():
            handle.cancel()
        self._resumes.clear()


FAULTS: web.AppKey[Faults] = web.AppKey("faults", Faults)
