"""Range allocators: service cluster IPs (`--service-cluster-ip-range`) and node ports (`--service-node-port-range`).

As kube-apiserver's bitmap allocators, each range is one RangeAllocation record in storage
(`/registry/ranges/serviceips`, `/registry/ranges/servicenodeports`: `range` and `data`, a big-endian bitmap
whose bit i is the range's i-th item), changed only by compare-and-swap on its revision. The record is a v1
RangeAllocation in the storage media type, as kube-apiserver writes it: protobuf (data as bytes) or JSON (data
in base64); either is read, so a kube-apiserver on the same etcd and prefix shares the bitmaps. Replicas that
share a store therefore share one bitmap: a replica that loses a race re-reads it and tries again, so two
replicas never hand out the same item. A record missing items that stored Services hold (data written before
the record existed) is repaired by `reserve`, which the bootstrap calls at start-up.

Dynamic allocation picks a random free item from the upper part of the range first (above an offset that grows
with the range's size), leaving the lower part to the items clients ask for, as upstream's allocators do.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from apiserver.codec import JSON
from apiserver.protobuf import envelope
from apiserver.protobuf.wire import read_varint, skip, varint
from storage.errors import ConflictError, KeyExistsError
from storage.interface import Storage

MAX_CAS_RETRIES = 100


class AllocationError(Exception):
    """An item that cannot be allocated; the message is upstream's text."""

    def __init__(self, item: int, message: str) -> None:
        super().__init__(message)
        self.item = item


class RangeFull(Exception):
    """No free item left: `range is full`."""

    def __init__(self) -> None:
        super().__init__("range is full")


class Allocation:
    """What one write claimed: `revert` frees it if the write failed, `commit` frees what the old object held once
    the write succeeded. This base claims nothing (kinds without allocations)."""

    async def commit(self) -> None:
        """The write succeeded."""

    async def revert(self) -> None:
        """The write failed."""


@dataclass(frozen=True)
class IPRange:
    """The addresses of a CIDR that can be handed out: neither its network address nor (IPv4) its broadcast."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network

    @classmethod
    def parse(cls, text: str) -> IPRange:
        return cls(ipaddress.ip_network(text.strip(), strict=False))

    @property
    def family(self) -> str:
        return "IPv6" if self.network.version == 6 else "IPv4"

    @property
    def size(self) -> int:
        size = min(self.network.num_addresses, 65536) if self.network.version == 6 else self.network.num_addresses
        return max(size - (1 if self.network.version == 6 else 2), 0)

    @property
    def offset(self) -> int:
        """calculateRangeOffset: min(max(16, size/16), 256), 0 for ranges of 16 or fewer addresses."""
        total = self.network.num_addresses
        return 0 if total <= 16 else max(16, min(total // 16, 256))

    def index(self, text: str) -> int:
        """The bitmap index of the address `text`; AllocationError if it is not one of the range's."""
        address = ipaddress.ip_address(text)
        index = int(address) - int(self.network.network_address) - 1
        if address.version != self.network.version or not 0 <= index < self.size:
            raise AllocationError(-1, f"the provided IP ({text}) is not in the valid range. "
                                      f"The range of valid IPs is {self.network}")
        return index

    def item(self, index: int) -> str:
        return str(self.network.network_address + index + 1)

    def first(self) -> str:
        """The range's first address: the `kubernetes` Service's."""
        return self.item(0)


@dataclass(frozen=True)
class PortRange:
    """A range of node ports, `low-high` inclusive (or `low+count`, as kube-apiserver's flag accepts)."""

    low: int
    high: int

    @classmethod
    def parse(cls, text: str) -> PortRange:
        low, plus, count = text.strip().partition("+")
        if plus:
            return cls(int(low), int(low) + int(count) - 1)
        low, _, high = text.strip().partition("-")
        return cls(int(low), int(high or low))

    @property
    def size(self) -> int:
        return self.high - self.low + 1

    @property
    def offset(self) -> int:
        """calculateRangeOffset for ports: min(max(16, size/32), 128), 0 for ranges of 16 or fewer ports."""
        return 0 if self.size <= 16 else max(16, min(self.size // 32, 128))

    def index(self, port: int) -> int:
        if not self.low <= port <= self.high:
            raise AllocationError(port, f"provided port is not in the valid range. The range of valid ports is "
                                        f"{self.low}-{self.high}")
        return port - self.low

    def item(self, index: int) -> int:
        return self.low + index

    def __str__(self) -> str:
        return f"{self.low}-{self.high}"


class RangeAllocator:
    """One range's bitmap, kept in storage at `key` and changed by compare-and-swap."""

    def __init__(self, storage: Storage, key: str, spec: str, size: int, offset: int, taken_text: str,
                 media_type: str = JSON) -> None:
        self.storage = storage
        self.key = key
        self.spec = spec
        self.size = size
        self.offset = offset
        self.taken_text = taken_text  # "provided IP is already allocated" / "provided port is already allocated"
        self.protobuf = media_type != JSON

    @staticmethod
    def _decode(value: bytes | None) -> int:
        if not value:
            return 0
        if value[:4] == envelope.PREFIX:
            return int.from_bytes(_protobuf_data(value), "big")
        data = json.loads(value).get("data") or ""
        return int.from_bytes(base64.b64decode(data), "big")

    def _encode(self, bits: int) -> bytes:
        data = bits.to_bytes((bits.bit_length() + 7) // 8, "big")
        if self.protobuf:
            spec = self.spec.encode()
            # RangeAllocation{metadata = 1 (empty ObjectMeta), range = 2, data = 3}
            raw = b"\x0a\x00\x12" + varint(len(spec)) + spec + b"\x1a" + varint(len(data)) + data
            return envelope.unknown("v1", "RangeAllocation", raw)
        return json.dumps({"kind": "RangeAllocation", "apiVersion": "v1", "metadata": {"creationTimestamp": None},
                           "range": self.spec, "data": base64.b64encode(data).decode()}, separators=(",", ":")).encode()

    async def allocated(self) -> int:
        """The bitmap as stored now."""
        _, kv = await self.storage.get(self.key)
        return self._decode(kv.value if kv is not None else None)

    async def change(self, wanted: Sequence[int], count: int, release: Iterable[int] = (), dry_run: bool = False,
                     reserve: bool = False) -> list[int]:
        """Allocate the indexes `wanted` (AllocationError naming the first one taken), then `count` more of
        the free ones (RangeFull if there are not enough), and free `release`, in one compare-and-swap; returns
        the `count` new indexes. A dry run checks nothing of what is taken and writes nothing; `reserve` marks
        `wanted` taken whether or not they already are (the repair of a record that lacks them)."""
        release = list(release)
        if not (wanted or count or release):
            return []
        for _ in range(MAX_CAS_RETRIES):
            _, kv = await self.storage.get(self.key)
            bits = self._decode(kv.value if kv is not None else None)
            for index in wanted:
                if bits >> index & 1 and not (dry_run or reserve):
                    raise AllocationError(index, self.taken_text)
                bits |= 1 << index
            fresh = []
            for _ in range(count):
                index = self._next_free(bits)
                bits |= 1 << index
                fresh.append(index)
            for index in release:
                bits &= ~(1 << index)
            if dry_run:
                return fresh
            try:
                if kv is None:
                    await self.storage.create(self.key, self._encode(bits))
                elif bits != self._decode(kv.value):
                    await self.storage.update(self.key, self._encode(bits), kv.mod_revision)
            except (ConflictError, KeyExistsError):
                continue  # another replica changed the record: read it again
            return fresh
        raise RangeFull()  # unreachable in practice: a hundred lost races in a row

    def _next_free(self, bits: int) -> int:
        """A random free index, from above the offset first (randomScanStrategyWithOffset)."""
        for low, high in ((self.offset, self.size), (0, self.offset)):
            if high <= low:
                continue
            start = random.randrange(low, high)
            for step in range(high - low):
                index = low + (start - low + step) % (high - low)
                if not bits >> index & 1:
                    return index
        raise RangeFull()


def _fields(data: bytes, pos: int = 0) -> dict[int, bytes]:
    """The length-delimited fields of a message by number (the last of each), other fields skipped."""
    fields = {}
    while pos < len(data):
        key, pos = read_varint(data, pos)
        if key & 7 != 2:
            pos = skip(data, pos, key & 7)
            continue
        size, pos = read_varint(data, pos)
        fields[key >> 3] = data[pos:pos + size]
        pos += size
    return fields


def _protobuf_data(value: bytes) -> bytes:
    """RangeAllocation.data of an enveloped record: the runtime.Unknown's raw (2), then its data (3)."""
    return _fields(_fields(value, len(envelope.PREFIX)).get(2, b"")).get(3, b"")
