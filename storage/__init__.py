"""Storage backends behind one small async interface; ``open_storage`` picks one by URL scheme."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
from storage.interface import KeyValue, RangeResult, Storage, WatchEvent, WatchStream
from storage.memory import MemoryStorage

__all__ = [
    "CompactedError",
    "ConflictError",
    "FutureRevisionError",
    "KeyExistsError",
    "KeyNotFoundError",
    "KeyValue",
    "MemoryStorage",
    "RangeResult",
    "Storage",
    "StorageError",
    "TooLargeError",
    "UnavailableError",
    "WatchEvent",
    "WatchStream",
    "open_storage",
]


def _open_memory(url: str, **options: Any) -> Storage:
    return MemoryStorage(**options)


def _open_etcd(url: str, **options: Any) -> Storage:
    from storage.etcd import open_etcd  # imported on use: grpc takes a while to import

    return open_etcd(url, **options)


# URL scheme -> constructor taking (url, **options). A backend adds one entry here.
BACKENDS: dict[str, Callable[..., Storage]] = {"memory": _open_memory, "etcd": _open_etcd}


def open_storage(url: str | None = None, **options: Any) -> Storage:
    """Open the backend named by ``url``'s scheme (None means "memory://"); options go to its constructor.

    ValueError for an unknown scheme.
    """
    url = url or "memory://"
    scheme, sep, _ = url.partition("://")
    if not sep or scheme not in BACKENDS:
        raise ValueError(f"unsupported storage URL {url!r}; known schemes: {', '.join(sorted(BACKENDS))}")
    return BACKENDS[scheme](url, **options)
