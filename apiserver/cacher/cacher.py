"""Cacher: keeps one resource's WatchCache in step with storage and dispatches changes to watchers.

One storage watch per resource per process. Start-up lists the prefix at one revision, then
watches from the next; each storage event updates the cache and is offered to every watcher,
synchronously, so dispatch never waits on a client. If storage compacted past the cache's
revision while the watch was down, the cache relists and its watchers are closed (clients
re-watch and get 410 from the new window).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from apiserver.cacher.event import CacheEvent, Obj
from apiserver.cacher.watch_cache import WatchCache
from apiserver.cacher.watcher import CacheWatcher, Encoder, Predicate
from storage import CompactedError, KeyValue, Storage, StorageError

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0
LIST_PAGE = 10_000


class Cacher:
    """The watch cache of one resource (key prefix) and its watchers."""

    def __init__(
        self,
        storage: Storage,
        prefix: str,
        decode: Callable[[KeyValue], Obj],
        capacity: int = 10_240,
        max_buffered: int = 1_000,
    ) -> None:
        self.storage = storage
        self.prefix = prefix
        self.decode = decode
        self.cache = WatchCache(capacity)
        self.max_buffered = max_buffered
        self.watchers: set[CacheWatcher] = set()
        self._task: asyncio.Task[None] | None = None
        self._fresh = asyncio.Event()
        self.ready = asyncio.Event()

    async def start(self) -> None:
        await self._relist()
        self._task = asyncio.create_task(self._run(), name=f"cacher {self.prefix}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for watcher in list(self.watchers):
            watcher.close()

    async def _relist(self) -> None:
        objects: list[tuple[str, Obj]] = []
        start, revision = "", 0
        while True:
            page = await self.storage.range(self.prefix, start=start, limit=LIST_PAGE, revision=revision)
            revision = page.revision
            objects += [(kv.key, self.decode(kv)) for kv in page.kvs]
            if not page.more:
                break
            start = page.kvs[-1].key + "\x00"
        self.cache.replace(objects, revision)
        self.ready.set()
        self._notify_fresh()

    async def _run(self) -> None:
        while True:
            try:
                # The whole keyspace: events of other resources only advance the cache's revision
                # (etcd progress notifications), so a consistent read never waits on another kind's write.
                stream = self.storage.watch("", self.cache.rv + 1)
                try:
                    async for batch in stream:
                        for event in batch:
                            self._apply(event.type, event.kv, event.prev)
                        self._notify_fresh()
                finally:
                    await stream.aclose()
                return
            except CompactedError:
                log.warning("watch of %s compacted at %d: relisting", self.prefix, self.cache.rv)
                for watcher in list(self.watchers):
                    watcher.close()
                await self._relist()
            except StorageError as err:
                log.warning("watch of %s failed (%s): retrying", self.prefix, err)
                await asyncio.sleep(RETRY_SECONDS)

    def _apply(self, kind: str, kv: KeyValue, prev: KeyValue | None) -> None:
        if not kv.key.startswith(self.prefix):
            self.cache.rv = max(self.cache.rv, kv.mod_revision)
            return
        obj = self.decode(kv)
        prev_obj = self.cache.store.get(kv.key)
        if kind == "DELETE":
            event = CacheEvent("DELETED", kv.key, kv.mod_revision, obj, prev_obj or obj)
        else:
            event = CacheEvent("MODIFIED" if prev_obj is not None else "ADDED", kv.key, kv.mod_revision, obj, prev_obj)
        self.cache.apply(event)
        for watcher in list(self.watchers):
            watcher.offer(event)

    def _notify_fresh(self) -> None:
        self._fresh.set()
        self._fresh = asyncio.Event()

    async def wait_fresh(self, rv: int, timeout: float = 3.0) -> bool:
        """Wait until the cache is as fresh as revision `rv`; False if it is not within `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.cache.rv < rv and not await self._in_step(rv):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._fresh.wait(), remaining)
            except asyncio.TimeoutError:
                return False
        return True

    async def _in_step(self, rv: int) -> bool:
        """Whether the cache already holds this prefix's state as of `rv` (etcd's progress notification).

        Storage revisions are global: writes to other resources move them on with no event under this
        prefix, so `cache.rv` alone may never reach `rv`. Compare the cache with storage at `rv` instead.
        """
        if rv > await self.storage.current_revision():
            return False
        start, seen = "", 0
        try:
            while True:
                page = await self.storage.range(self.prefix, start=start, limit=LIST_PAGE, revision=rv)
                for kv in page.kvs:
                    cached = self.cache.store.get(kv.key)
                    if cached is None or cached["metadata"].get("resourceVersion") != str(kv.mod_revision):
                        return False
                seen += len(page.kvs)
                if not page.more or not page.kvs:
                    return seen == len(self.cache.store)
                start = page.kvs[-1].key + "\x00"
        except StorageError:
            return False

    async def wait_consistent(self, timeout: float = 3.0) -> bool:
        """Wait until the cache has caught up with storage's current revision (a consistent read)."""
        return await self.wait_fresh(await self.storage.current_revision(), timeout)

    def watch(
        self,
        predicate: Predicate,
        encoder: Encoder | None,
        since: int | None,
        prefix: str,
    ) -> CacheWatcher:
        """Register a watcher. `since` None: synthetic ADDED for every current object under `prefix`
        first; otherwise every change after revision `since` (TooOldError if the window has moved on)."""
        watcher = CacheWatcher(predicate, encoder, self.max_buffered, since or 0)
        if since is None:
            for obj in self.cache.snapshot(prefix):
                if predicate(obj):
                    watcher.send("ADDED", obj)
        else:
            for event in self.cache.events_after(since):
                watcher.offer(event, bounded=False)
        watcher.sent_rv = self.cache.rv
        watcher.on_close = self.watchers.discard
        self.watchers.add(watcher)
        return watcher
