"""Reflector: the process's one storage watch, feeding every resource's cacher.

It lists every cacher's prefix at one revision, then watches the whole registry from the next one: each
event goes to the cacher whose prefix holds its key, and every batch, and every progress notification,
advances all the caches to its revision. So one stream carries each value once, whatever the number of
kinds, and a consistent read never waits on another resource's write. Writes outside the registry (other
prefixes, other etcd users) advance the caches only through progress notifications, which cachers ask
for while a read waits (`request_progress`, coalesced to one outstanding request).

Failures, as upstream's reflector handles them: a cacher that cannot apply an event (a stored value that
does not decode) fails alone and is relisted at the batch's revision; a compacted watch relists every
cacher; storage being unavailable resumes the watch from the next revision after a pause; anything else,
or the watch ending, fails every cacher and relists them all. Pauses double from RETRY_SECONDS up to
MAX_RETRY_SECONDS and start over once events flow. A failed cacher is not ready until relisted. The
task is supervised: should it ever end other than by `stop`, it is logged and started again.
"""

from __future__ import annotations

import asyncio
import functools
import logging

from apiserver.cacher.cacher import Cacher
from storage import CompactedError, Storage, StorageError, WatchEvent, WatchStream

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 8.0
REGISTRY = "/registry/"


class Reflector:
    """Lists and watches storage for a set of cachers, routing events by key prefix."""

    def __init__(self, storage: Storage, cachers: list[Cacher]) -> None:
        self.storage = storage
        self.cachers: list[Cacher] = []
        self._by_prefix: dict[str, list[Cacher]] = {}  # several for a kind and its views (core and events.k8s.io)
        for cacher in cachers:
            self._keep(cacher)
        self.revision = 0  # every cache is complete up to here
        self._resume = 0  # the last revision seen in an event or a list: a broken watch resumes after it
        self._stream: WatchStream | None = None
        self._progress_asked = False
        self._retry = RETRY_SECONDS
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._relist: set[Cacher] = set()  # failed outside a batch: relisted after the next one
        self.watch_progress = True
        for cacher in cachers:
            self._attach(cacher)

    def _attach(self, cacher: Cacher) -> None:
        cacher.request_progress = self.request_progress
        cacher.request_relist = functools.partial(self.request_relist, cacher)
        cacher.watch_progress = self.watch_progress

    async def start(self) -> None:
        """List every cacher (storage errors propagate: the server does not start), then watch."""
        self.watch_progress = await self.storage.watch_progress()
        if not self.watch_progress:
            log.warning("storage answers progress requests ahead of pending events (etcd before 3.4.31 or 3.5.13):"
                        " consistent lists read storage instead of the watch cache")
        for cacher in self.cachers:
            cacher.watch_progress = self.watch_progress
        await self._list_all()
        self._spawn()

    async def add(self, cacher: Cacher) -> None:
        """Feed one more cacher (a kind served from now on). Once the watch runs, it is listed between two of its
        batches (a progress notification is asked for, so one comes soon), so it misses no event; returns once it
        is ready."""
        self._attach(cacher)
        self._keep(cacher)
        if self._task is not None:
            self.request_relist(cacher)
            await cacher.ready.wait()

    def remove(self, cacher: Cacher) -> None:
        """Stop feeding `cacher` (a kind no longer served)."""
        if cacher in self.cachers:
            self.cachers.remove(cacher)
            self._by_prefix[cacher.prefix].remove(cacher)
        self._relist.discard(cacher)

    def _keep(self, cacher: Cacher) -> None:
        self.cachers.append(cacher)
        self._by_prefix.setdefault(cacher.prefix, []).append(cacher)

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def request_progress(self) -> None:
        """Ask the storage watch for a progress notification, unless one is already on its way."""
        if self._stream is not None and not self._progress_asked:
            self._progress_asked = True
            self._stream.request_progress()

    def request_relist(self, cacher: Cacher) -> None:
        """Relist `cacher` between two batches of the watch (asking for progress, so one comes soon)."""
        self._relist.add(cacher)
        self.request_progress()

    def _spawn(self) -> None:
        self._task = asyncio.create_task(self._run(), name="reflector")
        self._task.add_done_callback(self._supervise)

    def _supervise(self, task: asyncio.Task[None]) -> None:
        if self._stopping or task.cancelled():
            return
        log.error("the reflector stopped (%r): restarting it", task.exception())
        for cacher in self.cachers:
            cacher.fail()
        self._spawn()

    async def _run(self) -> None:
        relist = False
        while True:
            try:
                await self._catch_up(relist)
                relist = False
                await self._watch()
                raise RuntimeError("the storage watch ended")
            except CompactedError:
                log.warning("the storage watch is compacted past revision %d: relisting", self.revision)
                relist = True
                continue
            except StorageError as err:
                log.warning("the storage watch failed (%s): retrying in %.1f s", err, self._retry)
            except Exception:
                log.exception("the storage watch failed: relisting every cache in %.1f s", self._retry)
                for cacher in self.cachers:
                    cacher.fail()
                relist = True
            await asyncio.sleep(self._retry)
            self._retry = min(self._retry * 2, MAX_RETRY_SECONDS)

    async def _catch_up(self, everything: bool) -> None:
        """Relist every cacher at the current revision, or only those not ready at the watch's revision."""
        if everything:
            await self._list_all()
            return
        for cacher in list(self.cachers):  # a kind may be added or removed meanwhile
            if not cacher.ready.is_set():
                await cacher.relist(self.revision)

    async def _list_all(self) -> None:
        revision = 0
        for cacher in list(self.cachers):
            revision = await cacher.relist(revision)
        self.revision = self._resume = revision

    async def _watch(self) -> None:
        # "": the whole registry. From the last event, not the last progress notification: an etcd that
        # answers progress ahead of events it is still replaying (etcd issue 15220) loses nothing.
        stream = self.storage.watch("", self._resume + 1)
        self._stream, self._progress_asked = stream, False
        try:
            async for batch in stream:
                self._progress_asked = False
                self._retry = RETRY_SECONDS
                self.revision = max(self.revision, stream.revision)
                if batch:
                    self._resume = batch[-1].kv.mod_revision
                failed = self._deliver(batch)
                failed += [cacher for cacher in self._relist if cacher not in failed]
                self._relist.clear()
                for cacher in failed:
                    if cacher in self.cachers:  # not removed meanwhile
                        await cacher.relist(self.revision)
        finally:
            self._stream = None
            await stream.aclose()

    def _deliver(self, batch: list[WatchEvent]) -> list[Cacher]:
        """Hand every cacher its share of the batch and the batch's revision; return those that failed."""
        routed: dict[Cacher, list[WatchEvent]] = {cacher: [] for cacher in self.cachers}
        for event in batch:
            for cacher in self._route(event.kv.key):
                routed[cacher].append(event)
        failed = []
        for cacher, events in routed.items():
            try:
                cacher.receive(events, self.revision)
            except Exception:
                log.exception("the watch cache of %s failed before revision %d: relisting it", cacher.kind.plural,
                              self.revision)
                cacher.fail()
                failed.append(cacher)
        return failed

    def _route(self, key: str) -> list[Cacher]:
        """The cachers whose prefix holds `key` (prefixes end at a slash: /registry/services/specs/)."""
        end = len(REGISTRY)
        while (end := key.find("/", end) + 1) > 0:
            cachers = self._by_prefix.get(key[:end])
            if cachers:
                return cachers
        return []
