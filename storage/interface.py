"""The storage contract shared by the embedded store and the etcd v3 backend.

It mirrors etcd so the etcd backend is a 1:1 mapping: one global revision counter bumped by every
write; a kv's ``mod_revision`` is its resourceVersion; a range reports the store (header) revision it
was read at; create/update/delete are transactions comparing ``mod_revision`` (0 for create).
Keys are ``str`` (``/registry/endpointslices/<ns>/<name>``), values opaque ``bytes``.
All methods may raise UnavailableError. Errors are in ``storage.errors``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    mod_revision: int
    create_revision: int


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One change. For DELETE, ``kv`` has the key and the deletion revision as ``mod_revision``, an empty
    value and create_revision 0 (as etcd sends it). No previous values: a consumer that needs them keeps
    its own copy (the watch cache does), so every value crosses the wire once."""

    type: Literal["PUT", "DELETE"]
    kv: KeyValue


@dataclass(frozen=True, slots=True)
class RangeResult:
    """``count`` is the number of keys in the whole requested range at ``revision``, ignoring ``limit``."""

    kvs: list[KeyValue]
    revision: int
    more: bool
    count: int


class WatchStream(Protocol):
    """An async iterator of event batches in revision order. Ends (StopAsyncIteration) once ``aclose``
    is called, from any task, or the store is closed. Must be closed by its owner.

    ``revision`` is the store revision the stream is known complete up to: the last event's, or that of
    a progress notification, which is an empty batch. ``request_progress`` asks for one (etcd's
    RequestWatchProgress): where the store supports it (``Storage.watch_progress``) it arrives after every
    event up to the store's revision at the time of asking, so a consumer learns that writes outside its
    prefix happened without seeing them; elsewhere the empty batch is a wake-up and ``revision`` stays."""

    revision: int

    def request_progress(self) -> None: ...

    def __aiter__(self) -> AsyncIterator[list[WatchEvent]]: ...

    async def __anext__(self) -> list[WatchEvent]: ...

    def aclose(self) -> Awaitable[None]: ...


class Storage(Protocol):
    async def get(self, key: str) -> tuple[int, KeyValue | None]:
        """Return (current revision, the key's kv or None if absent)."""

    async def create(self, key: str, value: bytes, ttl: int = 0) -> int:
        """Write a new key; return its mod_revision. KeyExistsError if present, TooLargeError if too big.
        ``ttl`` > 0: the key is deleted (a DELETE event) about ``ttl`` seconds later unless written again, as
        etcd deletes the keys of an expired lease (kube-apiserver writes Events so, for ``--event-ttl``)."""

    async def update(self, key: str, value: bytes, expected_revision: int, ttl: int = 0) -> int:
        """Replace the value iff mod_revision == expected_revision (> 0); return the new mod_revision.
        KeyNotFoundError if absent, ConflictError (with the current kv) on mismatch, TooLargeError.
        ``ttl`` as for create: the new value's lifetime (0: the key no longer expires)."""

    async def delete(self, key: str, expected_revision: int | None = None) -> tuple[int, KeyValue]:
        """Delete the key, iff mod_revision == expected_revision when given. Return (deletion revision,
        the kv as it was). KeyNotFoundError if absent, ConflictError (with the current kv) on mismatch."""

    async def range(self, prefix: str, start: str = "", limit: int = 0, revision: int = 0) -> RangeResult:
        """Keys starting with ``prefix`` and >= ``start``, sorted, at most ``limit`` (0: no limit), as of
        ``revision`` (0: current). ``more`` tells whether keys beyond ``limit`` remain; a backend may return
        fewer keys than asked (etcd: a response over the client's receive limit) with ``more`` set. Resume paging with
        start = last key + "\\x00" and the same revision. CompactedError if revision < compacted
        revision, FutureRevisionError if revision > current revision."""

    def watch(self, prefix: str, from_revision: int) -> WatchStream:
        """Every change under ``prefix`` with revision >= ``from_revision`` (>= 1), replayed then live,
        each exactly once. Raises CompactedError on first iteration if from_revision < compacted revision."""

    async def current_revision(self) -> int:
        """The revision of the latest write (1 for a new, empty store)."""

    async def watch_progress(self) -> bool:
        """Whether ``request_progress`` proves a watch complete up to the store's revision (kube-apiserver's
        RequestWatchProgress check: etcd 3.4.31+ or 3.5.13+; before them etcd may answer ahead of events it
        has yet to send). Without it consistent reads go to storage, as upstream delegates them."""

    async def compact(self, revision: int) -> None:
        """Forget history before ``revision``: reads and watches at >= revision keep working.
        CompactedError if revision <= the compacted revision, FutureRevisionError if > current."""

    async def compact_turn(self, turn: int, revision: int) -> tuple[int, int]:
        """One round of compaction shared by every server on this store (kube-apiserver's compactor): iff the
        store's turn counter is still ``turn``, advance it and compact to ``revision`` (0: advance only).
        Returns (the store's turn counter, its current revision) for the next round. The etcd backend
        keeps the counter as the version of the ``compact_rev_key`` key, so among replicas calling this
        every interval one compacts per interval; the embedded store always wins its turn."""

    async def close(self) -> None:
        """Release resources and end all watches. Idempotent; other calls then raise UnavailableError."""
