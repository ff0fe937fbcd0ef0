"""Cacher: keeps one resource's WatchCache in step with storage and feeds its Hub.

One storage watch per resource per process. Start-up lists the prefix at one revision, then
watches from the next revision on; each storage event updates the cache and is dispatched by the
hub, synchronously. Flushes (one write per touched watcher) are paced: the next flush waits as
long as the previous one took, so under load the loop also makes progress on writes and several
events go out in each watcher's write (coalescing); when idle a flush follows at once. A bookmark tick sends BOOKMARKs to the watchers that asked for them. If storage
compacted past the cache's revision while its watch was down, the cache relists and all its
watchers are closed (clients re-watch and get 410 from the new window).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable

from apiserver.cacher.event import CacheEvent, Obj
from apiserver.cacher.hub import Hub, Predicate
from apiserver.cacher.meters import WatchMeters
from apiserver.cacher.watch_cache import WatchCache
from apiserver.cacher.watcher import Watcher
from apiserver.kinds.base import Kind
from storage import CompactedError, KeyValue, Storage, StorageError, WatchEvent

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0
BLOCKED_RETRY_SECONDS = 0.005  # how soon watchers whose socket was full are tried again
LIST_PAGE = 10_000


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
        self.bookmark_interval = bookmark_interval
        self._tasks: list[asyncio.Task[None]] = []
        self._flush_handle: asyncio.Handle | None = None
        self._next_flush = 0.0
        self._fresh = asyncio.Event()
        self._held: list[list[WatchEvent]] | None = None  # storage events held while paused (fault injection)
        self.ready = asyncio.Event()

    async def start(self) -> None:
        await self._relist()
        self._tasks = [asyncio.create_task(self._run(), name=f"cacher {self.prefix}"),
                       asyncio.create_task(self._bookmarks(), name=f"bookmarks {self.prefix}")]

    async def stop(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.hub.close_all()

    async def _relist(self) -> None:
        events: list[CacheEvent] = []
        start, revision = "", 0
        while True:
            page = await self.storage.range(self.prefix, start=start, limit=LIST_PAGE, revision=revision)
            revision = page.revision
            events += [CacheEvent("ADDED", kv.key, kv.mod_revision, self.decode(kv), None) for kv in page.kvs]
            if not page.more:
                break
            start = page.kvs[-1].key + "\x00"
        self.cache.replace(events, revision)
        self.hub.rv = revision
        self.ready.set()
        self._notify_fresh()

    async def _run(self) -> None:
        relist = False
        while True:
            try:
                if relist:
                    await self._relist()
                    relist = False
                    self.hub.close_all()  # after the relist, so re-watches get 410 from the new window
                # The whole keyspace: events of other resources only advance the cache's revision
                # (as etcd progress notifications would), so a consistent read never waits on
                # another kind's write.
                stream = self.storage.watch("", self.cache.rv + 1)
                try:
                    async for batch in stream:
                        if self._held is not None:
                            self._held.append(batch)
                        else:
                            self._apply_batch(batch)
                finally:
                    await stream.aclose()
                return
            except CompactedError:
                log.warning("watch of %s compacted at %d: relisting", self.prefix, self.cache.rv)
                relist = True
            except StorageError as err:
                log.warning("watch of %s failed (%s): retrying", self.prefix, err)
                await asyncio.sleep(RETRY_SECONDS)

    def _apply_batch(self, batch: list[WatchEvent]) -> None:
        for event in batch:
            self._apply(event.type, event.kv)
        self._schedule_flush()
        self._notify_fresh()

    def _apply(self, kind: str, kv: KeyValue) -> None:
        if not kv.key.startswith(self.prefix):
            self.cache.rv = max(self.cache.rv, kv.mod_revision)
            return
        self.meters.received += 1
        previous = self.cache.store.get(kv.key)
        prev_obj = previous.obj if previous is not None else None
        if kind == "DELETE" and not kv.value:
            # etcd sends no previous value when it was already compacted: the cache's copy is the last state.
            if prev_obj is None:
                self.cache.rv = max(self.cache.rv, kv.mod_revision)
                return
            obj = {**prev_obj, "metadata": {**prev_obj["metadata"], "resourceVersion": str(kv.mod_revision)}}
        else:
            obj = self.decode(kv)
        now = time.monotonic()
        if kind == "DELETE":
            event = CacheEvent("DELETED", kv.key, kv.mod_revision, obj, prev_obj or obj, now)
        else:
            event = CacheEvent("MODIFIED" if prev_obj is not None else "ADDED", kv.key, kv.mod_revision, obj,
                               prev_obj, now)
        self.cache.apply(event)
        self.hub.dispatch(event)

    def _schedule_flush(self, delay: float = 0.0) -> None:
        if self._flush_handle is None and (self.hub.dirty or self.hub.blocked):
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_at(max(self._next_flush, loop.time() + delay), self._flush)

    def _flush(self) -> None:
        """Write what the hub has pending; the time it took is the pause before the next flush."""
        self._flush_handle = None
        started = time.perf_counter()
        self.hub.flush()
        self._next_flush = asyncio.get_running_loop().time() + (time.perf_counter() - started)
        if self.hub.blocked:
            self._schedule_flush(BLOCKED_RETRY_SECONDS)

    async def _bookmarks(self) -> None:
        while True:
            await asyncio.sleep(self.bookmark_interval)
            self.hub.bookmark(self.cache.rv)
            self._schedule_flush()

    def _notify_fresh(self) -> None:
        self._fresh.set()
        self._fresh = asyncio.Event()

    async def wait_fresh(self, rv: int, timeout: float = 3.0) -> bool:
        """Wait until the cache has seen revision `rv`; False if it has not within `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.cache.rv < rv:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._fresh.wait(), remaining)
            except TimeoutError:
                return False
        return True

    async def wait_consistent(self, timeout: float = 3.0) -> bool:
        """Wait until the cache has caught up with storage's current revision (a consistent read)."""
        return await self.wait_fresh(await self.storage.current_revision(), timeout)

    # Fault injection (apiserver/faults.py): a stalled cache.

    @property
    def paused(self) -> bool:
        return self._held is not None

    def pause(self) -> None:
        """Hold storage events instead of applying them: the cache's revision stands still and its watchers
        get nothing (consistent reads wait as for a lagging cache) until `resume`."""
        if self._held is None:
            self._held = []

    def resume(self) -> int:
        """Apply and dispatch, in order, the storage events held since `pause`; return how many were applied.
        Events the cache already has are skipped (a storage watch restarted while paused replays from its revision)."""
        held, self._held = self._held or [], None
        applied = 0
        for batch in held:
            fresh = [event for event in batch if event.kv.mod_revision > self.cache.rv]
            self._apply_batch(fresh)
            applied += len(fresh)
        return applied

    def watch(self, watcher: Watcher, key: Hashable, predicate: Predicate, since: int | None, prefix: str,
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
