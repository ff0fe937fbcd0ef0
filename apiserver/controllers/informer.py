"""Informers and work queues, as client-go has them, for controllers that are plain API clients.

An `Informer` lists one resource in all namespaces (paged), then watches it from the list's
resourceVersion with bookmarks, re-watching from the last seen resourceVersion when a stream ends and
relisting when the server answers 410 Expired/Gone. Its cache is indexed by namespace, and by any
index added with `add_index` (client-go's Indexers: a function from an object to its index values,
kept up to date before handlers run); handlers see (old, new) pairs: old None for an add, new None
for a delete.

A `WorkQueue` holds keys to sync: a key is queued at most once, never handled by two workers at once,
and a key added while it is being handled is queued again when its worker is done.

A `Notifier` wakes whoever waits for "something happened" (an event, a finished sync) without losing
a wake-up: take `notifier.next` before checking the condition, then await it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from typing import Any

import aiohttp
import orjson

from apiserver.controllers.client import ApiClient, ApiError, Obj

log = logging.getLogger(__name__)

Handler = Callable[[Obj | None, Obj | None], None]
IndexFunc = Callable[[Obj], Iterable[Hashable]]

LIST_PAGE = 500
BACKOFF_START, BACKOFF_MAX = 0.8, 30.0  # client-go reflector's backoff between failed lists/watches


class Expired(Exception):
    """The watch's resourceVersion is gone from the server's history: relist."""


class Notifier:
    """A future replaced on every `notify`, so a waiter that took it before checking never misses a change."""

    def __init__(self) -> None:
        self.next: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def notify(self) -> None:
        if not self.next.done():
            self.next.set_result(None)
        self.next = asyncio.get_running_loop().create_future()


def object_key(obj: Obj) -> str:
    meta = obj["metadata"]
    namespace = meta.get("namespace", "")
    return f"{namespace}/{meta['name']}" if namespace else str(meta["name"])


def resource_version(obj: Obj) -> int:
    return int(obj.get("metadata", {}).get("resourceVersion") or 0)


class Informer:
    """List then watch `path` (a cluster-wide collection, e.g. /api/v1/pods) into `cache` and `namespaces`."""

    def __init__(self, client: ApiClient, path: str, notifier: Notifier) -> None:
        self.client = client
        self.path = path
        self.notifier = notifier
        self.cache: dict[str, Obj] = {}
        self.namespaces: dict[str, dict[str, Obj]] = {}
        self.handlers: list[Handler] = []
        self._index_funcs: dict[str, IndexFunc] = {}
        self._indices: dict[str, dict[Hashable, dict[str, Obj]]] = {}  # index → value → key → object
        self.synced = asyncio.Event()
        self.last_rv = 0  # the newest resourceVersion seen: list, event or bookmark
        self.relists = 0

    def in_namespace(self, namespace: str) -> dict[str, Obj]:
        return self.namespaces.get(namespace, {})

    def add_index(self, name: str, func: IndexFunc) -> None:
        """Index the cache by `func`'s values under `name`; a second add of the same name keeps the first."""
        if name in self._index_funcs:
            return
        self._index_funcs[name] = func
        self._indices[name] = {}
        for key, obj in self.cache.items():
            self._index(name, key, None, obj)

    def by_index(self, name: str, value: Hashable) -> dict[str, Obj]:
        """The cached objects (key → object) whose index `name` has `value`; do not modify."""
        return self._indices[name].get(value, {})

    def _index(self, name: str, key: str, old: Obj | None, new: Obj | None) -> None:
        func, index = self._index_funcs[name], self._indices[name]
        old_values = set(func(old)) if old is not None else set()
        new_values = set(func(new)) if new is not None else set()
        for value in old_values - new_values:
            members = index.get(value)
            if members is not None:
                members.pop(key, None)
                if not members:
                    del index[value]
        for value in new_values:
            index.setdefault(value, {})[key] = new  # type: ignore[assignment]

    async def run(self) -> None:
        """List and watch until cancelled; transport and server failures back off, 410 relists at once."""
        backoff = BACKOFF_START
        listed = False
        while True:
            try:
                if not listed:
                    await self._list()
                    listed = True
                await self._watch()
                backoff = BACKOFF_START
            except Expired:
                log.info("%s: resourceVersion %d expired, relisting", self.path, self.last_rv)
                listed = False
            except (TimeoutError, aiohttp.ClientError, OSError, ApiError, orjson.JSONDecodeError) as err:
                log.warning("%s: %s; retrying in %.1fs", self.path, err, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)

    async def _list(self) -> None:
        items: dict[str, Obj] = {}
        params = {"limit": str(LIST_PAGE)}
        while True:
            page = await self.client.get(self.path, params)
            for item in page.get("items") or ():
                items[object_key(item)] = item
            meta = page.get("metadata", {})
            if not meta.get("continue"):
                break
            params = {"limit": str(LIST_PAGE), "continue": meta["continue"]}
        self.relists += 1
        self.last_rv = int(meta.get("resourceVersion") or 0)
        for key, gone in list(self.cache.items()):
            if key not in items:
                self._delete(key, gone)
        for key, item in items.items():
            old = self.cache.get(key)
            if old is None or resource_version(old) != resource_version(item):
                self._store(key, old, item)
        self.synced.set()
        self.notifier.notify()

    async def _watch(self) -> None:
        params = {"watch": "true", "allowWatchBookmarks": "true", "resourceVersion": str(self.last_rv),
                  "timeoutSeconds": str(random.randint(300, 599))}
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=None)
        async with self.client.session.get(self.client.server + self.path, params=params, timeout=timeout,
                                           headers={"Accept": "application/json"}) as response:
            if response.status == 410:
                raise Expired()
            if response.status != 200:
                raise ApiError(response.status, "", (await response.read())[:200].decode(errors="replace"))
            buffer = bytearray()
            scanned = 0
            async for chunk in response.content.iter_any():
                buffer += chunk
                start = 0
                while (end := buffer.find(b"\n", scanned)) >= 0:
                    self._apply(orjson.loads(buffer[start:end]))
                    start = scanned = end + 1
                del buffer[:start]
                scanned = len(buffer)

    def _apply(self, event: dict[str, Any]) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410 or obj.get("reason") in ("Expired", "Gone"):
                raise Expired()
            raise ApiError(int(obj.get("code") or 0), str(obj.get("reason", "")), str(obj.get("message", "")))
        self.last_rv = max(self.last_rv, resource_version(obj))
        key = object_key(obj) if kind != "BOOKMARK" else ""
        if kind in ("ADDED", "MODIFIED"):
            self._store(key, self.cache.get(key), obj)
        elif kind == "DELETED":
            self._delete(key, self.cache.get(key, obj))
        self.notifier.notify()

    def _store(self, key: str, old: Obj | None, obj: Obj) -> None:
        self.cache[key] = obj
        self.namespaces.setdefault(obj["metadata"].get("namespace", ""), {})[obj["metadata"]["name"]] = obj
        for name in self._index_funcs:
            self._index(name, key, old, obj)
        for handler in self.handlers:
            handler(old, obj)

    def _delete(self, key: str, old: Obj) -> None:
        self.cache.pop(key, None)
        namespace = old["metadata"].get("namespace", "")
        members = self.namespaces.get(namespace, {})
        members.pop(old["metadata"]["name"], None)
        if not members:
            self.namespaces.pop(namespace, None)
        for name in self._index_funcs:
            self._index(name, key, old, None)
        for handler in self.handlers:
            handler(old, None)


class WorkQueue:
    """Keys waiting for a sync, de-duplicated; delayed re-adds for retries (client-go's workqueue semantics)."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._delayed: dict[str, asyncio.TimerHandle] = {}
        self._ready = asyncio.Event()

    def add(self, key: str) -> None:
        if key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.append(key)
            self._ready.set()

    def add_after(self, key: str, delay: float) -> None:
        """Add `key` after `delay` seconds (a retry); an earlier pending retry of the key wins."""
        if key not in self._delayed:
            self._delayed[key] = asyncio.get_running_loop().call_later(delay, self._fire, key)

    def _fire(self, key: str) -> None:
        del self._delayed[key]
        self.add(key)
        self.notifier.notify()

    async def get(self) -> str:
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: str) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._ready.set()
        self.notifier.notify()

    def busy(self) -> bool:
        """Keys queued, being synced or waiting for a retry."""
        return bool(self._queue or self._processing or self._delayed)

    def close(self) -> None:
        for handle in self._delayed.values():
            handle.cancel()
        self._delayed.clear()
