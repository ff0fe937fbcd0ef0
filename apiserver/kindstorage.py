"""The storage a kind's registry writes through, when it is not plain storage: Events live `--event-ttl` after
their last write (kube-apiserver's TTLFunc), and a view (events.k8s.io/v1 Event) reads and writes the objects of
the kind it shows, converted. Everything else goes to the storage underneath unchanged.
"""

from __future__ import annotations

from typing import Any

from apiserver import codec
from apiserver.kinds.base import Obj, View
from storage import ConflictError, KeyValue, RangeResult, Storage


class TTLStorage:
    """Every create and update written with `ttl` seconds to live."""

    def __init__(self, storage: Storage, ttl: int) -> None:
        self.storage = storage
        self.ttl = ttl

    async def create(self, key: str, value: bytes, ttl: int = 0) -> int:
        return await self.storage.create(key, value, ttl or self.ttl)

    async def update(self, key: str, value: bytes, expected_revision: int, ttl: int = 0) -> int:
        return await self.storage.update(key, value, expected_revision, ttl or self.ttl)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.storage, name)


class ViewStorage:
    """The stored kind's values as `view` shows them (encoded in JSON), and written back in its stored form, in the
    storage media type (`encode`)."""

    def __init__(self, storage: Storage, view: View, encode: codec.Encoder) -> None:
        self.storage = storage
        self.view = view
        self.encode = encode

    def _shown(self, kv: KeyValue) -> KeyValue:
        return KeyValue(kv.key, codec.encode(self.view.from_stored(codec.decode(kv))), kv.mod_revision,
                        kv.create_revision)

    def _stored(self, key: str, value: bytes) -> bytes:
        obj: Obj = codec.decode(KeyValue(key, value, 0, 0))
        return self.encode(self.view.to_stored(obj))

    async def get(self, key: str) -> tuple[int, KeyValue | None]:
        revision, kv = await self.storage.get(key)
        return revision, self._shown(kv) if kv is not None else None

    async def create(self, key: str, value: bytes, ttl: int = 0) -> int:
        return await self.storage.create(key, self._stored(key, value), ttl)

    async def update(self, key: str, value: bytes, expected_revision: int, ttl: int = 0) -> int:
        try:
            return await self.storage.update(key, self._stored(key, value), expected_revision, ttl)
        except ConflictError as err:
            err.current = self._shown(err.current)
            raise

    async def delete(self, key: str, expected_revision: int | None = None) -> tuple[int, KeyValue]:
        try:
            revision, kv = await self.storage.delete(key, expected_revision)
        except ConflictError as err:
            err.current = self._shown(err.current)
            raise
        return revision, self._shown(kv)

    async def range(self, prefix: str, start: str = "", limit: int = 0, revision: int = 0) -> RangeResult:
        found = await self.storage.range(prefix, start, limit, revision)
        return RangeResult([self._shown(kv) for kv in found.kvs], found.revision, found.more, found.count)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.storage, name)
