"""EtcdStorage: the Storage interface on etcd v3, as kube-apiserver uses etcd.

Built on aetcd's gRPC stubs and protobuf messages (``aetcd.rpc``) rather than its wrappers, because
every call needs what the wrappers hide: a range's limit and revision, a txn's header revision and
failure branch, and a per-call deadline. The mapping is one to one:

- resourceVersion is a kv's mod_revision; a range's revision is the one asked for, else the header's;
- create is a txn ``mod_revision(key) == 0`` then put; update and a conditional delete compare the
  expected mod_revision; on a lost comparison the failure branch reads the current kv;
- watches are gRPC Watch streams from a revision, one stream per watch, without ``prev_kv`` (each value
  crosses the wire once); ``request_progress`` is a WatchProgressRequest on the stream, whose answer
  advances the stream's revision only on an etcd that sends it after pending events (``watch_progress``:
  3.4.31+, 3.5.13+, from the Maintenance Status version, as kube-apiserver checks);
- a write with a TTL puts the key with a lease (LeaseManager: one lease for many writes, as upstream);
- ``compact_turn`` is kube-apiserver's compactor: a txn on the version of ``compact_rev_key`` (outside any
  prefix: compaction is etcd-wide), then put and compact;
- keys: the interface's ``/registry/...`` keys live under the etcd prefix (``--etcd-prefix``), so
  ``/registry/endpointslices/ns/a`` is ``<prefix>/endpointslices/ns/a`` in etcd.

Unary calls have a short deadline, so a request fails fast with UnavailableError while etcd is down or
stalled; the channel reconnects on its own (backoff capped at 1 s) and the next call succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from aetcd import rpc

from storage.etcd_leases import LeaseManager
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

REGISTRY = "/registry"
DEFAULT_MAX_REQUEST_BYTES = 1_572_864  # etcd's --max-request-bytes default
DEFAULT_TIMEOUT = 5.0  # seconds per unary call
CHANNEL_OPTIONS = {
    "grpc.max_receive_message_length": 64 << 20,  # the default 4 MiB breaks large lists; larger ranges are split
    "grpc.max_send_message_length": 64 << 20,  # let etcd, not the client, reject large requests
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.min_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 1000,
    "grpc.dns_min_time_between_resolutions_ms": 1000,  # a restarted etcd container has a new address (not 30 s)
    "grpc.keepalive_time_ms": 30_000,  # etcd's clientv3 default; a stalled etcd breaks watches after ~40 s
    "grpc.keepalive_timeout_ms": 10_000,
}
_COMPACTED = "required revision has been compacted"
_FUTURE = "required revision is a future revision"
_TOO_LARGE = "request is too large"
PROGRESS_FIXED = ((3, 4, 31), (3, 5, 13))  # etcd releases whose progress notifications follow pending events
COMPACT_REV_KEY = b"compact_rev_key"  # kube-apiserver's key, shared by every server on this etcd
_UNAVAILABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}

T = TypeVar("T")


def parse_url(url: str) -> tuple[list[str], str]:
    """``etcd://host:port[,host:port...][/prefix]`` -> (endpoints, prefix); the prefix defaults to /registry."""
    scheme, _, rest = url.partition("://")
    if scheme != "etcd":
        raise ValueError(f"not an etcd URL: {url!r}")
    hosts, slash, path = rest.partition("/")
    endpoints = [h.strip() for h in hosts.split(",") if h.strip()]
    if not endpoints:
        raise ValueError(f"no etcd endpoints in {url!r}")
    prefix = ("/" + path).rstrip("/") if slash else REGISTRY
    return endpoints, prefix or REGISTRY


def progress_ordered(version: str) -> bool:
    """Whether etcd ``version`` ("3.5.16") answers a progress request after the events it has pending."""
    try:
        release = tuple(int(part) for part in version.split("-")[0].split(".")[:3])
    except ValueError:
        return False
    old, new = PROGRESS_FIXED
    return old <= release < (3, 5) or release >= new


def _target(endpoints: list[str]) -> str:
    """A gRPC target: one endpoint as is, several as a static address list (pick_first fails over)."""
    return endpoints[0] if len(endpoints) == 1 else "ipv4:" + ",".join(endpoints)


def _prefix_end(key: bytes) -> bytes:
    """The range_end that makes [key, range_end) every key starting with ``key``."""
    stripped = key.rstrip(b"\xff")
    if not stripped:
        return b"\x00"
    return stripped[:-1] + bytes([stripped[-1] + 1])


async def _requests(create: Any, more: asyncio.Queue[Any] | None = None) -> AsyncIterator[Any]:
    """A watch stream's requests: the create request, then those put in ``more`` until the call ends.

    (Not ``call.write``: a write pending when the call is cancelled never returns.)"""
    yield rpc.WatchRequest(create_request=create)
    if more is None:
        await asyncio.get_running_loop().create_future()
    while more is not None:
        yield await more.get()


class EtcdWatch:
    """One gRPC Watch stream; see ``Storage.watch``. Opened on the first ``__anext__``."""

    def __init__(self, store: EtcdStorage, prefix: str, from_revision: int) -> None:
        self.prefix = prefix
        self.revision = from_revision - 1
        self._store = store
        self._from_revision = from_revision
        self._call: Any = None
        self._requests: asyncio.Queue[Any] = asyncio.Queue()
        self._closed = False

    def request_progress(self) -> None:
        if not self._closed:
            self._requests.put_nowait(rpc.WatchRequest(progress_request=rpc.WatchProgressRequest()))

    def __aiter__(self) -> EtcdWatch:
        return self

    async def __anext__(self) -> list[WatchEvent]:
        try:
            while not self._closed:
                if self._call is None:
                    await self._open()
                    continue
                response = await self._call.read()
                if response is grpc.aio.EOF:
                    raise UnavailableError("etcd closed the watch stream", self.prefix)
                if response.compact_revision:
                    raise CompactedError(response.compact_revision, self.prefix)
                if response.canceled:
                    raise UnavailableError(f"etcd canceled the watch: {response.cancel_reason}", self.prefix)
                if response.events:
                    self.revision = max(self.revision, response.events[-1].kv.mod_revision)
                    return [self._store._event(e) for e in response.events]
                if not response.created:  # a progress notification: a wake-up where etcd may send it early
                    if self._store._progress_ordered:
                        self.revision = max(self.revision, response.header.revision)
                    return []
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not self._closed or (task is not None and task.cancelling()):
                raise  # our caller is being cancelled, not the stream by aclose
        except grpc.aio.AioRpcError as err:
            if not self._closed:
                await self.aclose()
                raise _translate(err, self.prefix) from err
        except StorageError:
            await self.aclose()
            raise
        raise StopAsyncIteration

    async def _open(self) -> None:
        if self._store._closed:  # the store's close ends its watches
            self._closed = True
            return
        key = self._store._key(self.prefix)
        create = rpc.WatchCreateRequest(key=key, range_end=_prefix_end(key), start_revision=self._from_revision)
        self._call = self._store._stubs()[1].Watch(_requests(create, self._requests))
        self._store._watches.add(self)

    async def aclose(self) -> None:
        self._closed = True
        self._store._watches.discard(self)
        if self._call is not None:
            self._call.cancel()


class EtcdStorage:
    """The etcd Storage. ``endpoints`` are host:port; keys are stored under ``prefix``.

    ``max_request_bytes`` is checked here too (key + value), so a server configured below etcd's own
    ``--max-request-bytes`` rejects the same writes as on the embedded store; etcd enforces its own.
    """

    def __init__(self, endpoints: list[str], prefix: str = REGISTRY, timeout: float = DEFAULT_TIMEOUT,
                 max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> None:
        self.endpoints = endpoints
        self.prefix = prefix.rstrip("/")
        self.timeout = timeout
        self.max_request_bytes = max_request_bytes
        self._channel: grpc.aio.Channel | None = None
        self._kv: Any = None
        self._watch: Any = None
        self._maintenance: Any = None
        self._lease_stub: Any = None
        self._leases = LeaseManager(self._grant)
        self._watches: set[EtcdWatch] = set()
        self._progress_ordered: bool | None = None  # known once watch_progress asked etcd
        self._closed = False

    async def get(self, key: str) -> tuple[int, KeyValue | None]:
        response = await self._call(self._stubs()[0].Range, rpc.RangeRequest(key=self._key(key)), key)
        return response.header.revision, self._kv_of(response.kvs[0]) if response.kvs else None

    async def create(self, key: str, value: bytes, ttl: int = 0) -> int:
        self._check_size(key, value)
        k = self._key(key)
        put = rpc.PutRequest(key=k, value=value, lease=await self._leases.lease(ttl) if ttl > 0 else 0)
        txn = rpc.TxnRequest(
            compare=[rpc.Compare(key=k, target=rpc.Compare.MOD, result=rpc.Compare.EQUAL, mod_revision=0)],
            success=[rpc.RequestOp(request_put=put)],
        )
        response = await self._call(self._stubs()[0].Txn, txn, key)
        if not response.succeeded:
            raise KeyExistsError(key)
        revision: int = response.header.revision
        return revision

    async def update(self, key: str, value: bytes, expected_revision: int, ttl: int = 0) -> int:
        if expected_revision <= 0:
            raise ValueError("expected_revision must be positive; use create for new keys")
        self._check_size(key, value)
        lease = await self._leases.lease(ttl) if ttl > 0 else 0
        response = await self._txn(key, expected_revision, rpc.RequestOp(
            request_put=rpc.PutRequest(key=self._key(key), value=value, lease=lease)))
        revision: int = response.header.revision
        return revision

    async def delete(self, key: str, expected_revision: int | None = None) -> tuple[int, KeyValue]:
        request = rpc.DeleteRangeRequest(key=self._key(key), prev_kv=True)
        if expected_revision is None:
            deleted = await self._call(self._stubs()[0].DeleteRange, request, key)
        else:
            txn = await self._txn(key, expected_revision, rpc.RequestOp(request_delete_range=request))
            deleted = txn.responses[0].response_delete_range
            deleted.header.revision = txn.header.revision
        if not deleted.prev_kvs:
            raise KeyNotFoundError(key)
        revision: int = deleted.header.revision
        return revision, self._kv_of(deleted.prev_kvs[0])

    async def range(self, prefix: str, start: str = "", limit: int = 0, revision: int = 0) -> RangeResult:
        key = self._key(prefix)
        request = rpc.RangeRequest(key=max(key, self._key(start)) if start else key, range_end=_prefix_end(key),
                                   limit=limit, revision=revision)
        while True:
            try:
                response = await self._call(self._stubs()[0].Range, request, prefix)
                break
            except TooLargeError:  # over the 64 MiB receive limit: a smaller page, ``more`` tells the rest
                if request.limit == 1:
                    raise
                if not request.limit:
                    counted = rpc.RangeRequest(key=request.key, range_end=request.range_end, revision=revision,
                                               count_only=True)
                    request.limit = (await self._call(self._stubs()[0].Range, counted, prefix)).count
                request.limit //= 2
        return RangeResult(kvs=[self._kv_of(kv) for kv in response.kvs], revision=revision or response.header.revision,
                           more=response.more, count=response.count)

    def watch(self, prefix: str, from_revision: int) -> EtcdWatch:
        return EtcdWatch(self, prefix, from_revision)

    async def current_revision(self) -> int:
        request = rpc.RangeRequest(key=self._key(REGISTRY), count_only=True)
        response = await self._call(self._stubs()[0].Range, request, "")
        revision: int = response.header.revision
        return revision

    async def watch_progress(self) -> bool:
        if self._progress_ordered is None:
            status = await self._call(self._stubs()[2].Status, rpc.StatusRequest(), "")
            self._progress_ordered = progress_ordered(status.version)
        return self._progress_ordered

    async def compact(self, revision: int) -> None:
        await self._call(self._stubs()[0].Compact, rpc.CompactionRequest(revision=revision), "")

    async def compact_turn(self, turn: int, revision: int) -> tuple[int, int]:
        txn = rpc.TxnRequest(
            compare=[rpc.Compare(key=COMPACT_REV_KEY, target=rpc.Compare.VERSION, result=rpc.Compare.EQUAL,
                                 version=turn)],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=COMPACT_REV_KEY, value=str(revision).encode()))],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=COMPACT_REV_KEY))],
        )
        response = await self._call(self._stubs()[0].Txn, txn, "")
        current: int = response.header.revision
        if not response.succeeded:  # another server took this turn
            kvs = response.responses[0].response_range.kvs
            return (kvs[0].version if kvs else 0), current
        if revision:
            with contextlib.suppress(CompactedError):  # nothing written since the last compaction
                await self.compact(revision)
        return turn + 1, current

    async def close(self) -> None:
        self._closed = True
        for watch in list(self._watches):
            await watch.aclose()
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    def _check_size(self, key: str, value: bytes) -> None:
        if len(key.encode()) + len(value) > self.max_request_bytes:
            raise TooLargeError(key)

    def _stubs(self) -> tuple[Any, Any, Any]:
        """The KV, Watch and Maintenance stubs, on a channel opened at first use (in the running loop)."""
        if self._closed:
            raise UnavailableError("storage is closed")
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(_target(self.endpoints), options=list(CHANNEL_OPTIONS.items()))
            self._kv, self._watch = rpc.KVStub(self._channel), rpc.WatchStub(self._channel)
            self._maintenance = rpc.MaintenanceStub(self._channel)
            self._lease_stub = rpc.LeaseStub(self._channel)
        return self._kv, self._watch, self._maintenance

    async def _grant(self, ttl: int) -> int:
        """A new etcd lease of `ttl` seconds; its id."""
        self._stubs()
        response = await self._call(self._lease_stub.LeaseGrant, rpc.LeaseGrantRequest(TTL=ttl), "")
        lease: int = response.ID
        return lease

    async def _call(self, method: Callable[..., Awaitable[T]], request: Any, key: str) -> T:
        """One unary call with the deadline, its errors translated to storage errors."""
        try:
            return await method(request, timeout=self.timeout)
        except grpc.aio.AioRpcError as err:
            error = _translate(err, key)
        if isinstance(error, CompactedError):
            error.compacted_revision = await self._compacted_revision()
        elif isinstance(error, FutureRevisionError):
            error.current_revision = await self.current_revision()
            error.revision = getattr(request, "revision", 0)
        raise error

    async def _txn(self, key: str, expected_revision: int, op: Any) -> Any:
        """Run ``op`` iff the key's mod_revision is ``expected_revision``; else KeyNotFound or Conflict."""
        k = self._key(key)
        txn = rpc.TxnRequest(
            compare=[rpc.Compare(key=k, target=rpc.Compare.MOD, result=rpc.Compare.EQUAL,
                                 mod_revision=expected_revision)],
            success=[op],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k))],
        )
        response = await self._call(self._stubs()[0].Txn, txn, key)
        if response.succeeded:
            return response
        current = response.responses[0].response_range.kvs
        if not current:
            raise KeyNotFoundError(key)
        raise ConflictError(key, self._kv_of(current[0]))

    async def _compacted_revision(self) -> int:
        """etcd's compacted revision, which only a watch from revision 1 reports."""
        key = self._key(REGISTRY)
        call = self._stubs()[1].Watch(_requests(rpc.WatchCreateRequest(key=key, range_end=_prefix_end(key),
                                                                        start_revision=1)))
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    response = await call.read()
                    if response is grpc.aio.EOF or response.compact_revision or response.canceled:
                        return int(getattr(response, "compact_revision", 0))
        except (grpc.aio.AioRpcError, TimeoutError):
            return 0
        finally:
            call.cancel()

    def _key(self, key: str) -> bytes:
        """Interface key -> etcd key: ``/registry`` is replaced by the prefix; "" means the whole registry."""
        if not key:
            return (self.prefix + "/").encode()
        if key != REGISTRY and not key.startswith(REGISTRY + "/"):
            raise ValueError(f"key {key!r} is outside {REGISTRY}/")
        return (self.prefix + key[len(REGISTRY):]).encode()

    def _kv_of(self, kv: Any) -> KeyValue:
        return KeyValue(REGISTRY + kv.key.decode()[len(self.prefix):], kv.value, kv.mod_revision, kv.create_revision)

    def _event(self, event: Any) -> WatchEvent:
        return WatchEvent("DELETE" if event.type == rpc.Event.DELETE else "PUT", self._kv_of(event.kv))


def _translate(err: grpc.aio.AioRpcError, key: str) -> StorageError:
    """A gRPC error as a storage error (a compacted/future revision's numbers are filled in by the caller)."""
    details = err.details() or ""
    if _TOO_LARGE in details or err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return TooLargeError(key)
    if _COMPACTED in details:
        return CompactedError(0, key)
    if _FUTURE in details:
        return FutureRevisionError(0, 0, key)
    if err.code() in _UNAVAILABLE:
        return UnavailableError(f"etcd is unavailable: {details or err.code().name}", key)
    return StorageError(f"etcd: {err.code().name}: {details}", key)


def open_etcd(url: str, **options: Any) -> EtcdStorage:
    """``open_storage`` constructor for ``etcd://`` URLs."""
    endpoints, prefix = parse_url(url)
    return EtcdStorage(endpoints, prefix, **options)
