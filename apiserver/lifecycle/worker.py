"""Workers of a controller: take keys off its queue and sync them, retrying a failed key after a growing delay."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

from apiserver.lifecycle.queue import WorkQueue

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)

MAX_DELAY = 10.0


def start(name: str, queue: WorkQueue[K], sync: Callable[[K], Awaitable[None]], workers: int) -> list[asyncio.Task[None]]:
    """`workers` tasks syncing keys of `queue` until cancelled."""
    failures: dict[K, int] = {}
    return [asyncio.create_task(_work(name, queue, sync, failures), name=f"{name} worker {i}") for i in range(workers)]


async def _work(name: str, queue: WorkQueue[K], sync: Callable[[K], Awaitable[None]], failures: dict[K, int]) -> None:
    while True:
        key = await queue.get()
        try:
            await sync(key)
            failures.pop(key, None)
        except Exception:
            failures[key] = attempt = failures.get(key, 0) + 1
            log.warning("%s: syncing %s failed (attempt %d)", name, key, attempt, exc_info=True)
            queue.add_after(key, min(0.005 * 2**attempt, MAX_DELAY))
        finally:
            queue.done(key)
