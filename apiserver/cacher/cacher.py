"""Cacher: keeps one resource's WatchCache in step with storage and feeds its Hub.

The process's Reflector (``apiserver.cacher.reflector``) lists storage into every cacher (`relist`)
and hands each one, per storage batch, the events under its prefix and the revision the batch reached
(`receive`); each event updates the cache and is dispatched by the hub, synchronously.
Flushes (one write per touched watcher) are paced: the next flush waits as long as the previous one
took, so under load the loop also makes progress on writes and several events go out in each
watcher's write (coalescing); when idle a flush follows at once. A bookmark tick sends BOOKMARKs to
the watchers that asked for them.

Nothing raised while applying or dispatching an event ends anything silently. A stored value that does
not decode fails the cache (`receive` raises, the reflector calls `fail`): logged, counted, watchers closed, not ready until the reflector
has relisted it (a relist skips, logs and counts values that do not decode). An exception while
dispatching (a predicate, an encoder) is logged and counted and closes the resource's watchers, which
re-watch from their last resourceVersion; the cache itself is intact.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from apiserver.cacher.event import CacheEvent, Obj
from apiserver.cacher.hub import GroupKey, Hub, Predicate
from apiserver.cacher.meters import WatchMeters
from apiserver.cacher.watch_cache import WatchCache
from apiserver.cacher.watcher import Watcher
from apiserver.kinds.base import Kind
from apiserver.protobuf import envelope
from storage import KeyValue, Storage, WatchEvent

log = logging.getLogger(__name__)

LIST_PAGE = 10_000
FRESH_TIMEOUT = 3.0  # seconds a read waits for the cache to catch up (upstream's blockTimeout)
FLUSH_SLICE_SECONDS = 0.01  # longest run of writes before the loop serves anything else


def _no_storage_watch() -> None:
    """Until a reflector feeds the cacher there is no storage watch to ask for progress or a relist."""


def _protobuf(kv: KeyValue) -> bytes | None:
    """The stored value if it is protobuf (the event's protobuf body is spliced from it), else None."""
    return kv.value if kv.value[:4] == envelope.PREFIX else None


class Cacher:
    """The watch cache of one resource (key prefix), its hub and its meters."""

    def __init__(
        self,
        kind: Kind,
        storage: Storage,
        decode: Callable[[KeyValue], Obj],
        cache: WatchCache,
        encode_cache: bool = True,
        bookmark_interval: float = 60.0,
    ) -> None:
        self.kind = kind
        self.storage = storage
        self.prefix = kind.etcd_prefix + "/"
        self.decode = decode
        self.cache = cache
        self.meters = WatchMeters(kind)
        self.hub = Hub(kind, self.meters, encode_cache)
        self.hub.schedule = self._schedule_flush
        self.bookmark_interval = bookmark_interval
        self.request_progress: Callable[[], None] = _no_storage_watch  # set by the reflector
        self.request_relist: Callable[[], None] = _no_storage_watch  # set by the reflector
        self.watch_progress = True  # storage's progress notifications are ordered (set by the reflector)
        self._tasks: list[asyncio.Task[None]] = []
        self._flush_handle: asyncio.Handle | None = None
        self._next_flush = 0.0
        self._fresh = asyncio.Event()
        self._held: list[tuple[list[WatchEvent], int]] | None = None  # batches held while paused (fault injection)
        self.ready = asyncio.Event()
        # in-process observers of every change (the garbage collector, the namespace and CRD controllers): called
        # after the cache took the event, and with every object after a relist; they must not block (they queue work)
        self.listeners: list[Callable[[CacheEvent], None]] = []

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._bookmarks(), name=f"bookmarks {self.prefix}")]

    async def stop(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.hub.close_all()

    async def relist(self, revision: int = 0) -> int:
        """Replace the cache with a listing of the prefix at `revision` (0: the current one), then close
        the watchers (re-watches get 410 from the new window); returns the revision listed at."""
        events: list[CacheEvent] = []
        start = ""
        while True:
            page = await self.storage.range(self.prefix, start=start, limit=LIST_PAGE, revision=revision)
            revision = page.revision
            for kv in page.kvs:
                obj = self._decode(kv)
                if obj is not None:
                    events.append(CacheEvent("ADDED", kv.key, kv.mod_revision, obj, None, stored=self._protobuf(kv)))
            if not page.more:
                break
            start = page.kvs[-1].key + "\x00"
        self.cache.replace(events, revision)
        self.hub.rv = revision
        self.meters.initializations += 1
        self.hub.close_all()
        self.ready.set()
        self._notify_fresh()
        for event in events:  # as an informer's relist: every object, as added
            self._tell(event)
        return revision

    def _protobuf(self, kv: KeyValue) -> bytes | None:
        """The stored protobuf to splice bodies from: none for a view, whose objects are not the stored ones."""
        return _protobuf(kv) if self.kind.view is None else None

    def _decode(self, kv: KeyValue) -> Obj | None:
        """The stored object, or None (logged and counted) for a value that does not decode."""
        try:
            return self.decode(kv)
        except Exception:
            self.meters.decode_errors += 1
            log.exception("%s at revision %d: the stored value does not decode", kv.key, kv.mod_revision)
            return None

    def receive(self, events: list[WatchEvent], revision: int) -> None:
        """One storage batch: the events under this prefix (raises if a stored value does not decode), then
        the revision storage is known complete up to (other resources' events, progress notifications).
        While paused (fault injection), held for `resume`."""
        if self._held is not None:
            self._held.append((events, revision))
            return
        for event in events:
            self._apply(event.type, event.kv)
        self.cache.rv = max(self.cache.rv, revision)
        self.hub.progress(self.cache.rv)
        self._schedule_flush()
        self._notify_fresh()

    def _apply(self, kind: str, kv: KeyValue) -> None:
        self.meters.received += 1
        previous = self.cache.store.get(kv.key)
        prev_obj = previous.obj if previous is not None else None
        if kind == "DELETE":
            # the event has the key and revision only: the cache's copy is the last state
            if prev_obj is None:
                self.cache.rv = max(self.cache.rv, kv.mod_revision)
                return
            obj = {**prev_obj, "metadata": {**prev_obj["metadata"], "resourceVersion": str(kv.mod_revision)}}
        else:
            decoded = self._decode(kv)
            if decoded is None:
                raise ValueError(f"the stored value of {kv.key} at revision {kv.mod_revision} does not decode")
            obj = decoded
        now = time.monotonic()
        if kind == "DELETE":
            event = CacheEvent("DELETED", kv.key, kv.mod_revision, obj, prev_obj, now)
        else:
            event = CacheEvent("MODIFIED" if prev_obj is not None else "ADDED", kv.key, kv.mod_revision, obj,
                               prev_obj, now, stored=self._protobuf(kv))
        self.cache.apply(event)
        self._tell(event)
        try:
            self.hub.dispatch(event)
        except Exception:
            self.meters.dispatch_errors += 1
            log.exception("dispatching %s %s at revision %d failed: closing every watcher of %s", event.type,
                          event.key, event.rv, self.kind.plural)
            self.hub.close_all()

    def _tell(self, event: CacheEvent) -> None:
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:
                log.exception("a listener of %s failed on %s", self.kind.plural, event.key)

    def fail(self) -> None:
        """The cache cannot follow storage any more (the caller logs why): not ready, watchers closed, until
        the reflector relists it."""
        self.meters.failures += 1
        self.ready.clear()
        self.hub.close_all()
        self._notify_fresh()

    def _schedule_flush(self) -> None:
        if self._flush_handle is None and self.hub.busy():
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_at(max(self._next_flush, loop.time()), self._flush)

    def _flush(self) -> None:
        """Write what the hub has pending, for FLUSH_SLICE_SECONDS at most (so requests are served in
        between); the time it took is the pause before the next flush."""
        self._flush_handle = None
        started = time.perf_counter()
        self.hub.flush(started + FLUSH_SLICE_SECONDS)
        self._next_flush = asyncio.get_running_loop().time() + (time.perf_counter() - started)
        self._schedule_flush()

    async def _bookmarks(self) -> None:
        while True:
            await asyncio.sleep(self.bookmark_interval)
            self.hub.bookmark(self.cache.rv)
            self._schedule_flush()

    def bookmark(self, watcher: Watcher) -> None:
        """A BOOKMARK at the cache's revision to one watcher (shortly before its timeout), flushed soon."""
        self.hub.bookmark(self.cache.rv, (watcher,))
        self._schedule_flush()

    def _notify_fresh(self) -> None:
        self._fresh.set()
        self._fresh = asyncio.Event()

    async def wait_fresh(self, rv: int, timeout: float = FRESH_TIMEOUT) -> bool:
        """Wait until the cache is ready and has seen revision `rv`, asking storage for progress meanwhile
        where it answers in order (writes outside the registry advance it only that way); False if not
        within `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (self.ready.is_set() and self.cache.rv >= rv):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            if self.watch_progress:
                self.request_progress()
            try:  # not wait_for: on 3.11 it swallows a cancellation that comes as the event is set
                async with asyncio.timeout(remaining):
                    await self._fresh.wait()
            except TimeoutError:
                return False
        return True

    async def wait_consistent(self, timeout: float = FRESH_TIMEOUT) -> bool:
        """Wait until the cache has caught up with storage's current revision (a consistent read); False at
        once while the cache is not ready (being relisted) or storage cannot prove it caught up (progress
        notifications out of order): the caller reads storage instead, as upstream delegates the list."""
        if not self.ready.is_set() or not self.watch_progress:
            return False
        return await self.wait_fresh(await self.storage.current_revision(), timeout)

    # Fault injection (apiserver/faults.py): a stalled cache.

    @property
    def paused(self) -> bool:
        return self._held is not None

    def pause(self) -> None:
        """Hold storage batches instead of applying them: the cache's revision stands still and its watchers
        get nothing (consistent reads wait as for a lagging cache) until `resume`."""
        if self._held is None:
            self._held = []

    def resume(self) -> int:
        """Apply and dispatch, in order, the storage events held since `pause`; return how many were applied.
        Events the cache already has are skipped (a relist while paused); one that fails the cache (a value
        that does not decode) has it relisted by the reflector, as during a watch."""
        held, self._held = self._held or [], None
        applied = 0
        for events, revision in held:
            fresh = [event for event in events if event.kv.mod_revision > self.cache.rv]
            try:
                self.receive(fresh, revision)
            except Exception:
                log.exception("the watch cache of %s failed resuming before revision %d: relisting it",
                              self.kind.plural, revision)
                self.fail()
                self.request_relist()
                break
            applied += len(fresh)
        return applied

    def watch(self, watcher: Watcher, key: GroupKey, predicate: Predicate, since: int | None, prefix: str,
              initial_events_end: bool = False) -> None:
        """Register `watcher`. `since` None: synthetic ADDED for every current object under `prefix`
        first (then the initial-events-end bookmark if asked); otherwise every change after revision
        `since` (TooOldError if the window has moved past it)."""
        if since is None:
            initial, replay = self.cache.entries(prefix), []
        else:
            initial, replay = [], self.cache.events_after(since)
        end = self.cache.rv if initial_events_end else 0
        self.hub.add(watcher, key, predicate, initial, replay, end)
        self._schedule_flush()
