"""Leases for keys written with a TTL on etcd, shared as kube-apiserver's etcd3 lease manager shares them.

Granting a lease per write would cost a round trip and an etcd lease each: instead one lease serves every write
whose TTL it covers. A lease is granted a little longer than asked (5 % of the TTL, at most a minute) and reused
while it outlives the TTL of a new write by no more than that margin, for at most 1000 keys.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

REUSE_FRACTION = 0.05
MAX_REUSE_SECONDS = 60
MAX_ATTACHED = 1000


class LeaseManager:
    """Hands out lease ids for TTLs; `grant(ttl)` asks etcd for a new lease and returns its id."""

    def __init__(self, grant: Callable[[int], Awaitable[int]]) -> None:
        self._grant = grant
        self._lock = asyncio.Lock()
        self._id = 0
        self._expires = 0.0  # monotonic time at which the current lease ends
        self._attached = 0

    async def lease(self, ttl: int) -> int:
        """The id of a lease ending between `ttl` seconds and `ttl` plus the reuse margin from now."""
        async with self._lock:
            now = time.monotonic()
            margin = min(int(REUSE_FRACTION * ttl), MAX_REUSE_SECONDS)
            self._attached += 1
            if self._id and now + ttl < self._expires <= now + ttl + margin and self._attached <= MAX_ATTACHED:
                return self._id
            self._id = await self._grant(ttl + margin)
            self._expires = now + ttl + margin
            self._attached = 1
            return self._id
