"""GuaranteedUpdate: the one read-modify-write loop over storage (upstream's etcd3 store.GuaranteedUpdate).

A write that depends on the stored object (update, patch, apply, marking for deletion, removing a finalizer,
finalizing a namespace, a write of the server's own) reads the object, lets a `TryUpdate` function decide
what to do with it, and carries that out with a compare-and-swap on the revision it read. A lost race is never
the client's problem: the loop takes the state the swap found and asks again. Only the decision itself may
refuse (a resourceVersion precondition that does not match, validation, an apply conflict), and then only on
a state read from storage.

The first state may be a suggestion (upstream's cachedExistingObject): the watch cache's copy, which saves a
storage read but may be stale. A decision to do nothing, or an error, on a suggested state is therefore
checked again on a fresh read, as upstream does. There is no retry limit: every lost swap means another write
succeeded, so the writers as a whole always progress.

    state ──try_update──▶ Keep ──(fresh)──▶ done        Put/Remove ──swap──▶ done
      ▲                    │(suggested)                      │ conflict: the state the swap found
      └──── fresh read ◀───┘  (errors alike)                 ▼
      ▲───────────────────────────────────────────────────────┘
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import orjson

from apiserver import codec, errors
from apiserver.allocator import Allocation
from apiserver.kinds.base import Kind, Obj
from storage import KeyValue, Storage
from storage.errors import ConflictError, KeyNotFoundError, StorageError


@dataclass
class Current:
    """The object as last seen: `obj` (None when absent) at `revision` (0 when absent); `fresh` when read from
    storage, not suggested by the watch cache."""

    key: str
    obj: Obj | None
    revision: int
    fresh: bool
    kv: KeyValue | None = None  # the stored value, when read from storage
    encoded: bytes | None = None  # the object in JSON, when suggested

    @classmethod
    def suggested(cls, key: str, obj: Obj, revision: int) -> Current:
        """A state from a shared copy (the watch cache's), taken privately: strategies may share parts of the old
        object with the new one, and the cache's must not change."""
        encoded = orjson.dumps(obj)
        return cls(key, orjson.loads(encoded), revision, fresh=False, encoded=encoded)

    def copy(self) -> Obj:
        """A private copy of the object for a decision to change (it must exist)."""
        assert self.obj is not None
        if self.kv is not None:
            return codec.decode_again(self.kv, self.obj)
        copied: Obj = orjson.loads(self.encoded if self.encoded is not None else orjson.dumps(self.obj))
        return copied


@dataclass
class Keep:
    """Write nothing; `obj` is the answer (the object as stored, or as it would be written on dry run)."""

    obj: Obj

    @property
    def answer(self) -> Obj:
        return self.obj


@dataclass
class Put:
    """Store `obj` over the current state; `allocation` is committed if that succeeds, reverted if not."""

    obj: Obj
    allocation: Allocation | None = None

    @property
    def answer(self) -> Obj:
        return self.obj


@dataclass
class Remove:
    """Remove the object; `obj` is its last state, with the deletion's revision once removed. The answer is `obj`
    unless another is given."""

    obj: Obj
    given: Obj | None = None

    @property
    def answer(self) -> Obj:
        return self.obj if self.given is None else self.given


Outcome = Keep | Put | Remove
TryUpdate = Callable[[Current], Awaitable[Outcome]]


class Raced(Exception):
    """Raised by a decision that found its state outdated by other means (a create on update that found the name
    taken): the loop reads again."""


class Store(Protocol):
    """What the loop needs of a registry."""

    kind: Kind
    storage: Storage

    def encode(self, obj: Obj) -> bytes: ...


async def read(store: Store, key: str) -> Current:
    """The current state from storage."""
    try:
        _, kv = await store.storage.get(key)
    except StorageError as err:
        raise errors.from_storage(err, store.kind, _name(key), "get") from None
    return _state(key, kv)


def _state(key: str, kv: KeyValue | None) -> Current:
    if kv is None:
        return Current(key, None, 0, fresh=True)
    return Current(key, codec.decode(kv), kv.mod_revision, fresh=True, kv=kv)


def _name(key: str) -> str:
    return key.rpartition("/")[2]


async def guaranteed_update(store: Store, key: str, try_update: TryUpdate,
                            suggestion: Current | None = None) -> Outcome:
    """Decide on the current object and carry the decision out, retrying on every lost race (see the module's
    docstring). Returns the outcome carried out; the object of a Put or Remove has the write's resourceVersion."""
    current = suggestion if suggestion is not None else await read(store, key)
    while True:
        try:
            outcome = await try_update(current)
        except Raced:
            current = await read(store, key)
            continue
        except errors.StatusError:
            if current.fresh:
                raise
            current = await read(store, key)
            continue
        if isinstance(outcome, Keep):
            if current.fresh:
                return outcome
            current = await read(store, key)
            continue
        allocation = outcome.allocation if isinstance(outcome, Put) else None
        try:
            if isinstance(outcome, Put):
                revision = await store.storage.update(key, store.encode(outcome.obj), current.revision)
            else:
                revision, _ = await store.storage.delete(key, current.revision)
        except ConflictError as err:
            current = _state(key, err.current)
        except KeyNotFoundError:
            current = _state(key, None)
        except BaseException as err:
            if allocation is not None:
                await allocation.revert()
            if isinstance(err, StorageError):
                raise errors.from_storage(err, store.kind, _name(key), "update") from None
            raise
        else:
            if allocation is not None:
                await allocation.commit()
            outcome.obj["metadata"]["resourceVersion"] = str(revision)
            return outcome
        if allocation is not None:
            await allocation.revert()
