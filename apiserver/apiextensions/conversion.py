"""A CRD's `None` conversion strategy: an object is served at every version as stored, its apiVersion rewritten.

The storage version's kind reads and writes storage as any kind does. Each other served version reads and writes it
through `VersionedStorage`, which rewrites apiVersion in every value it reads (to the served version) and writes (to
the storage version), and its watch cache decodes with `decoder`, so registry, watch cache and hub serve objects of
their own version without knowing of the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson

from apiserver import codec
from storage import KeyValue, RangeResult, Storage

Obj = dict[str, Any]


def _rewrite(value: bytes, api_version: str) -> bytes:
    if not value or value[:1] != b"{":
        return value
    obj = orjson.loads(value)
    obj["apiVersion"] = api_version
    return orjson.dumps(obj)


def _kv(kv: KeyValue | None, api_version: str) -> KeyValue | None:
    return None if kv is None else replace(kv, value=_rewrite(kv.value, api_version))


def decoder(api_version: str) -> Callable[[KeyValue], Obj]:
    """codec.decode, the object's apiVersion set to `api_version`."""
    def decode(kv: KeyValue) -> Obj:
        obj = codec.decode(kv)
        obj["apiVersion"] = api_version
        return obj
    return decode


class VersionedStorage:
    """`storage` as a served version other than the storage version sees it."""

    def __init__(self, storage: Storage, stored: str, served: str) -> None:
        self.storage = storage
        self.stored = stored
        self.served = served

    def __getattr__(self, name: str) -> Any:
        return getattr(self.storage, name)

    async def get(self, key: str) -> tuple[int, KeyValue | None]:
        revision, kv = await self.storage.get(key)
        return revision, _kv(kv, self.served)

    async def create(self, key: str, value: bytes, ttl: int = 0) -> int:
        return await self.storage.create(key, _rewrite(value, self.stored), ttl)

    async def update(self, key: str, value: bytes, expected_revision: int, ttl: int = 0) -> int:
        return await self.storage.update(key, _rewrite(value, self.stored), expected_revision, ttl)

    async def delete(self, key: str, expected_revision: int | None = None) -> tuple[int, KeyValue]:
        revision, kv = await self.storage.delete(key, expected_revision)
        return revision, replace(kv, value=_rewrite(kv.value, self.served))

    async def range(self, prefix: str, start: str = "", limit: int = 0, revision: int = 0) -> RangeResult:
        result = await self.storage.range(prefix, start=start, limit=limit, revision=revision)
        return replace(result, kvs=[replace(kv, value=_rewrite(kv.value, self.served)) for kv in result.kvs])
