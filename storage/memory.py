"""MemoryStorage: an embedded MVCC store with etcd's semantics, for tests and single-process servers.

Single asyncio loop, no threads. No method awaits, so each call runs atomically with respect to the
loop: that is the whole concurrency story. State:

- ``_index``: key -> _History, every (revision, kv-or-tombstone) of the key since the compacted revision;
- ``_log``: one WatchEvent per revision since the compacted revision, serving watches from the past;
- ``_watches``: live watches, each with its own unbounded queue that writers fill synchronously, so a
  slow consumer never blocks a writer (the server's one consumer is its reflector);
- ``_expiry``: the timers of keys written with a TTL, which delete them as etcd's lease expiry does.

History and log grow until ``compact`` is called, as with etcd.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left, bisect_right

from sortedcontainers import SortedDict

from storage.errors import (
    CompactedError,
    ConflictError,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    StorageError,
    TooLargeError,
    UnavailableError,
)
from storage.interface import KeyValue, RangeResult, WatchEvent

DEFAULT_MAX_REQUEST_BYTES = 1_572_864  # etcd's --max-request-bytes default


def _revision_of(event: WatchEvent) -> int:
    return event.kv.mod_revision


class _History:
    """One key's versions in revision order; a None kv is a deletion (tombstone)."""

    __slots__ = ("kvs", "revisions")

    def __init__(self) -> None:
        self.revisions: list[int] = []
        self.kvs: list[KeyValue | None] = []

    def at(self, revision: int) -> KeyValue | None:
        """The kv live at ``revision``, or None if absent then."""
        i = bisect_right(self.revisions, revision)
        return self.kvs[i - 1] if i else None

    def compact(self, revision: int) -> None:
        """Drop versions superseded at ``revision``; a tombstone that is the latest version <= revision goes too."""
        i = bisect_right(self.revisions, revision) - 1
        if i >= 0 and self.kvs[i] is None:
            i += 1
        if i > 0:
            del self.revisions[:i], self.kvs[:i]


class MemoryWatch:
    """A watch on a MemoryStorage; see ``Storage.watch``.

    Created already registered (or already failed with ``error``), so replay and live delivery are
    decided in one synchronous step. ``_push`` is the writer's side: append and wake, never wait.
    """

    def __init__(self, store: MemoryStorage, prefix: str, from_revision: int, pending: list[WatchEvent],
                 error: StorageError | None) -> None:
        self.prefix = prefix
        self.revision = from_revision - 1
        self._store = store
        self._pending = pending
        self._error = error
        self._closed = False
        self._progress = False
        self._wakeup = asyncio.Event()

    def request_progress(self) -> None:
        """Answered at once: every write is already queued, so the next empty batch is the store's revision."""
        self._progress = True
        self._wakeup.set()

    def _push(self, event: WatchEvent) -> None:
        self._pending.append(event)
        self._wakeup.set()

    def _stop(self) -> None:
        self._closed = True
        self._pending = []
        self._wakeup.set()

    def __aiter__(self) -> MemoryWatch:
        return self

    async def __anext__(self) -> list[WatchEvent]:
        if self._error is not None:
            error, self._error = self._error, None
            self._stop()
            raise error
        while not self._pending:
            if self._closed:
                raise StopAsyncIteration
            if self._progress:
                self._progress = False
                self.revision = max(self.revision, self._store._revision)
                return []
            self._wakeup.clear()
            await self._wakeup.wait()
        batch, self._pending = self._pending, []
        self.revision = max(self.revision, batch[-1].kv.mod_revision)
        return batch

    async def aclose(self) -> None:
        self._stop()
        self._store._watches.discard(self)


class MemoryStorage:
    """The embedded Storage. Revisions start at 1; every write adds exactly one."""

    def __init__(self, max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> None:
        self.max_request_bytes = max_request_bytes
        self._revision = 1
        self._compacted = 0
        self._index: SortedDict = SortedDict()  # str -> _History
        self._log: list[WatchEvent] = []
        self._watches: set[MemoryWatch] = set()
        self._expiry: dict[str, asyncio.TimerHandle] = {}
        self._closed = False

    async def get(self, key: str) -> tuple[int, KeyValue | None]:
        self._check_open()
        return self._revision, self._latest(key)

    async def create(self, key: str, value: bytes, ttl: int = 0) -> int:
        self._check_write(key, value)
        if self._latest(key) is not None:
            raise KeyExistsError(key)
        revision = self._commit(key, value, None)
        self._lease(key, ttl)
        return revision

    async def update(self, key: str, value: bytes, expected_revision: int, ttl: int = 0) -> int:
        if expected_revision <= 0:
            raise ValueError("expected_revision must be positive; use create for new keys")
        self._check_write(key, value)
        revision = self._commit(key, value, self._expect(key, expected_revision))
        self._lease(key, ttl)
        return revision

    async def delete(self, key: str, expected_revision: int | None = None) -> tuple[int, KeyValue]:
        self._check_open()
        prev = self._expect(key, expected_revision)
        self._lease(key, 0)
        return self._commit(key, None, prev), prev

    async def range(self, prefix: str, start: str = "", limit: int = 0, revision: int = 0) -> RangeResult:
        self._check_open()
        if revision == 0:
            revision = self._revision
        elif revision > self._revision:
            raise FutureRevisionError(revision, self._revision, prefix)
        elif revision < self._compacted:
            raise CompactedError(self._compacted, prefix)
        kvs: list[KeyValue] = []
        count = 0
        for key in self._index.irange(minimum=max(prefix, start)):
            if not key.startswith(prefix):
                break
            kv: KeyValue | None = self._index[key].at(revision)
            if kv is None:
                continue
            count += 1
            if not limit or len(kvs) < limit:
                kvs.append(kv)
        return RangeResult(kvs=kvs, revision=revision, more=count > len(kvs), count=count)

    def watch(self, prefix: str, from_revision: int) -> MemoryWatch:
        if self._closed:
            return MemoryWatch(self, prefix, from_revision, [], UnavailableError("storage is closed", prefix))
        if from_revision < self._compacted:
            return MemoryWatch(self, prefix, from_revision, [], CompactedError(self._compacted, prefix))
        first = bisect_left(self._log, from_revision, key=_revision_of)
        replay = [event for event in self._log[first:] if event.kv.key.startswith(prefix)]
        watch = MemoryWatch(self, prefix, from_revision, replay, None)
        self._watches.add(watch)
        return watch

    async def current_revision(self) -> int:
        self._check_open()
        return self._revision

    async def watch_progress(self) -> bool:
        return True

    async def compact(self, revision: int) -> None:
        self._check_open()
        if revision > self._revision:
            raise FutureRevisionError(revision, self._revision)
        if revision <= self._compacted:
            raise CompactedError(self._compacted)
        self._compacted = revision
        emptied: list[str] = []
        for key, history in self._index.items():
            history.compact(revision)
            if not history.revisions:
                emptied.append(key)
        for key in emptied:
            del self._index[key]
        first = bisect_left(self._log, revision, key=_revision_of)
        del self._log[:first]

    async def compact_turn(self, turn: int, revision: int) -> tuple[int, int]:
        """No other server shares this store: every turn is ours (a plain timer)."""
        self._check_open()
        if revision > self._compacted:
            await self.compact(revision)
        return turn + 1, self._revision

    async def close(self) -> None:
        self._closed = True
        for handle in self._expiry.values():
            handle.cancel()
        self._expiry.clear()
        for watch in self._watches:
            watch._stop()
        self._watches.clear()

    def _check_open(self) -> None:
        if self._closed:
            raise UnavailableError("storage is closed")

    def _check_write(self, key: str, value: bytes) -> None:
        self._check_open()
        if len(key.encode()) + len(value) > self.max_request_bytes:
            raise TooLargeError(key)

    def _lease(self, key: str, ttl: int) -> None:
        """Give the key's current value `ttl` seconds to live (0: forever), replacing its earlier lifetime."""
        handle = self._expiry.pop(key, None)
        if handle is not None:
            handle.cancel()
        if ttl > 0:
            self._expiry[key] = asyncio.get_running_loop().call_later(ttl, self._expire, key)

    def _expire(self, key: str) -> None:
        """The key's lifetime ended: delete it, as a write at the next revision."""
        del self._expiry[key]
        current = self._latest(key)
        if current is not None and not self._closed:
            self._commit(key, None, current)

    def _latest(self, key: str) -> KeyValue | None:
        history: _History | None = self._index.get(key)
        return history.kvs[-1] if history is not None else None

    def _expect(self, key: str, expected_revision: int | None) -> KeyValue:
        """The key's live kv, checked against ``expected_revision`` when given."""
        current = self._latest(key)
        if current is None:
            raise KeyNotFoundError(key)
        if expected_revision is not None and current.mod_revision != expected_revision:
            raise ConflictError(key, current)
        return current

    def _commit(self, key: str, value: bytes | None, prev: KeyValue | None) -> int:
        """Apply one write (value None: delete ``prev``) at the next revision, log it and fan it out.

        Callers have validated it; nothing here can fail, so a write is all or nothing.
        """
        self._revision += 1
        revision = self._revision
        stored: KeyValue | None = None
        if value is None:
            event = WatchEvent("DELETE", KeyValue(key, b"", revision, 0))
        else:
            create_revision = prev.create_revision if prev is not None else revision
            stored = KeyValue(key, value, revision, create_revision)
            event = WatchEvent("PUT", stored)
        history = self._index.get(key)
        if history is None:
            history = self._index[key] = _History()
        history.revisions.append(revision)
        history.kvs.append(stored)
        self._log.append(event)
        for watch in self._watches:
            if key.startswith(watch.prefix):
                watch._push(event)
        return revision
