"""Typed storage errors: the only exceptions a backend lets out.

Backends translate their own failures (gRPC status codes, aetcd exceptions) into these once, at the
boundary; the API layer maps them to Status objects verb by verb and never sees backend exceptions.
Messages follow etcd's wording where etcd has one, so logs read the same whatever the backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storage.interface import KeyValue


class StorageError(Exception):
    """Base class; ``key`` is the key (or prefix) the failed request was about, "" when none."""

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.key = key

    def __repr__(self) -> str:
        fields = "".join(f", {name}={value!r}" for name, value in vars(self).items())
        return f"{type(self).__name__}({str(self)!r}{fields})"


class KeyNotFoundError(StorageError):
    """The key does not exist (update, delete)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"key not found: {key}", key)


class KeyExistsError(StorageError):
    """Create found the key already present."""

    def __init__(self, key: str) -> None:
        super().__init__(f"key already exists: {key}", key)


class ConflictError(StorageError):
    """The key's mod_revision differs from the expected one; ``current`` is what is stored now."""

    def __init__(self, key: str, current: KeyValue) -> None:
        super().__init__(f"revision conflict on {key}: current mod_revision is {current.mod_revision}", key)
        self.current = current


class CompactedError(StorageError):
    """The requested revision is older than ``compacted_revision`` (becomes 410 Gone)."""

    def __init__(self, compacted_revision: int, key: str = "") -> None:
        super().__init__("etcdserver: mvcc: required revision has been compacted", key)
        self.compacted_revision = compacted_revision


class FutureRevisionError(StorageError):
    """The requested revision is newer than the store's ``current_revision``."""

    def __init__(self, revision: int, current_revision: int, key: str = "") -> None:
        super().__init__("etcdserver: mvcc: required revision is a future revision", key)
        self.revision = revision
        self.current_revision = current_revision


class TooLargeError(StorageError):
    """The write exceeds the backend's request size limit; nothing was written."""

    def __init__(self, key: str) -> None:
        super().__init__("etcdserver: request is too large", key)


class UnavailableError(StorageError):
    """The backend cannot serve the request (closed, unreachable, timed out)."""
