"""Kubernetes' protobuf serialization: `k8s\\x00` then a runtime.Unknown{typeMeta, raw, contentEncoding, contentType}
whose raw bytes are the object's message; which message comes from the envelope's apiVersion and kind.

The message types are derived from the kinds' schemas (`apiserver.protobuf.message`): every kind whose
properties are all numbered, its list, Status, DeleteOptions and PartialObjectMetadata(List). A watch event is
a bare metav1.WatchEvent{type, object: RawExtension{raw = the enveloped object}}, not enveloped itself; on a
`;stream=watch` response each is a frame led by its length (4 bytes, big-endian).
"""

from __future__ import annotations

from typing import Any

from apiserver.kinds import KINDS
from apiserver.kinds.base import Kind
from apiserver.kinds.meta import DELETE_OPTIONS, PARTIAL_OBJECT_METADATA, PARTIAL_OBJECT_METADATA_LISTS, STATUS, list_of
from apiserver.protobuf.message import Message, message, unnumbered
from apiserver.protobuf.values import ProtobufError
from apiserver.protobuf.wire import read_varint, varint

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
WATCH_MEDIA_TYPE = MEDIA_TYPE + ";stream=watch"
PREFIX = b"k8s\x00"
META_VERSIONS = ("meta.k8s.io/v1", "meta.k8s.io/v1beta1")
Obj = dict[str, Any]

class UnknownType(ProtobufError):
    """An envelope naming a type without a protobuf form here."""


def serves(kind: Kind) -> bool:
    """Whether `kind` has a protobuf form: every property of its schema is numbered (see `register`)."""
    return (kind.api_version, kind.kind) in _types()


_TYPES: dict[tuple[str, str], Message] = {}


def _types() -> dict[tuple[str, str], Message]:
    """Every (apiVersion, kind) written and read in protobuf, and its message: the meta types and the built-in
    kinds, then every kind a server registers."""
    if not _TYPES:
        _TYPES["v1", "Status"] = message(STATUS)
        for version in META_VERSIONS:
            _TYPES[version, "PartialObjectMetadata"] = message(PARTIAL_OBJECT_METADATA)
            _TYPES[version, "PartialObjectMetadataList"] = message(PARTIAL_OBJECT_METADATA_LISTS[version])
            _TYPES[version, "DeleteOptions"] = message(DELETE_OPTIONS)
        for kind in KINDS:
            _register(_TYPES, kind)
    return _TYPES


def register(kind: Kind) -> None:
    """Add `kind`, its list and its group-version's DeleteOptions to the protobuf types, if every property of its
    schema is numbered (the messages are derived from the schema, so registering a kind again changes nothing)."""
    _register(_types(), kind)


def _register(types: dict[tuple[str, str], Message], kind: Kind) -> None:
    if (kind.api_version, kind.kind) not in types and not unnumbered(kind.schema):
        types[kind.api_version, kind.kind] = message(kind.schema)
        types[kind.api_version, kind.list_kind] = message(list_of(kind.schema, kind.schema.ref + "List"))
    types.setdefault((kind.api_version, "DeleteOptions"), message(DELETE_OPTIONS))
    for sub in kind.subresources:  # kinds of their own (autoscaling/v1 Scale, authentication.k8s.io TokenRequest)
        if sub.schema is not None:
            types.setdefault((f"{sub.group}/{sub.version}", sub.kind), message(sub.schema))


def _string(number: int, text: str) -> bytes:
    data = text.encode()
    return bytes((number << 3 | 2,)) + varint(len(data)) + data


def unknown(api_version: str, kind: str, raw: bytes) -> bytes:
    """The enveloped bytes: prefix, then runtime.Unknown with empty contentEncoding and contentType."""
    return b"".join((_unknown_head(api_version, kind, len(raw)), raw, _UNKNOWN_TAIL))


def _unknown_head(api_version: str, kind: str, size: int) -> bytes:
    """The envelope up to its raw message of `size` bytes."""
    type_meta = _string(1, api_version) + _string(2, kind)
    return b"".join((PREFIX, b"\x0a", varint(len(type_meta)), type_meta, b"\x12", varint(size)))


_UNKNOWN_TAIL = b"\x1a\x00\x22\x00"


def encode(obj: Obj) -> bytes:
    """An object (or list, Status, PartialObjectMetadata) in protobuf, typed by its apiVersion and kind."""
    return unknown(obj.get("apiVersion", ""), obj.get("kind", ""), encode_message(obj))


def encode_message(obj: Obj) -> bytes:
    """The message of an object without the envelope: what `unknown` wraps, and what a list holds per item."""
    api_version, kind = obj.get("apiVersion", ""), obj.get("kind", "")
    found = _types().get((api_version, kind))
    if found is None:
        raise ProtobufError(f"no protobuf form for {api_version}, Kind={kind}")
    return found.encode(obj)


def encode_list(api_version: str, list_kind: str, metadata: Obj, items: list[bytes]) -> bytes:
    """A list whose items are already encoded messages (`encode_message`): its ListMeta, then each item as
    field 2 (every list message numbers metadata 1 and items 2, its only fields)."""
    parts = [b"", encode_message({"apiVersion": api_version, "kind": list_kind, "metadata": metadata})]
    for item in items:
        parts += (b"\x12", varint(len(item)), item)
    parts[0] = _unknown_head(api_version, list_kind, sum(map(len, parts)))  # one copy of the items, not two
    parts.append(_UNKNOWN_TAIL)
    return b"".join(parts)


def message_at_version(stored: bytes, resource_version: str) -> bytes | None:
    """The message of a stored value (enveloped, written without metadata.resourceVersion, as storage writes
    objects) with its resourceVersion set: what `encode_message` makes of the object read back from it, made by
    splicing the version into its ObjectMeta (field 1; resourceVersion is ObjectMeta's field 6, written empty)
    instead of encoding the object. None when the value is not laid out so (then encode)."""
    try:
        raw_start, raw_end, api_version, kind = _envelope(stored)
        found = _types().get((api_version, kind))
        metadata = found.node.properties.get("metadata") if found is not None else None
        if metadata is None or metadata.proto != 1 or stored[raw_start] != 0x0A:
            return None
        size, meta_start = read_varint(stored, raw_start + 1)
        meta_end = meta_start + size
        if meta_end > raw_end:
            return None
        pos = meta_start
        while pos < meta_end:
            key, value_start = read_varint(stored, pos)
            if key & 7 != 2:
                return None  # ObjectMeta's fields before resourceVersion are all length-delimited
            length, value_start = read_varint(stored, value_start)
            if key == 0x32:
                version = resource_version.encode()
                meta = b"".join((stored[meta_start:pos], b"\x32", varint(len(version)), version,
                                 stored[value_start + length:meta_end]))
                return b"".join((b"\x0a", varint(len(meta)), meta, stored[meta_end:raw_end]))
            if key > 0x32:
                return None
            pos = value_start + length
    except (IndexError, ProtobufError):
        return None
    return None


def decode(data: bytes) -> Obj:
    """The object of enveloped bytes, as its JSON form, with apiVersion and kind from the envelope."""
    data = bytes(data)  # the messages' decoders slice bytes (a no-op for bytes)
    raw_start, raw_end, api_version, kind = _envelope(data)
    found = _types().get((api_version, kind))
    if found is None:
        raise UnknownType(f"no kind \"{kind}\" is registered for version \"{api_version}\"")
    obj: Obj = {"kind": kind, "apiVersion": api_version}  # TypeMeta as Go writes its JSON
    obj.update(found.decode(data, raw_start, raw_end))
    return obj


def _envelope(data: bytes) -> tuple[int, int, str, str]:
    """Where the raw message of enveloped bytes starts and ends, and the apiVersion and kind it names."""
    if not data.startswith(PREFIX):
        raise ProtobufError("provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]")
    api_version = kind = ""
    raw_start = raw_end = 0
    pos, end = len(PREFIX), len(data)
    try:
        while pos < end:
            key, pos = read_varint(data, pos)
            size, pos = read_varint(data, pos) if key & 7 == 2 else (0, pos)
            if pos + size > end:
                raise ProtobufError("unexpected EOF")
            if key == 0x0A:
                api_version, kind = _type_meta(data, pos, pos + size)
            elif key == 0x12:
                raw_start, raw_end = pos, pos + size
            pos += size
    except IndexError:
        raise ProtobufError("unexpected EOF") from None
    return raw_start, raw_end, api_version, kind


def _type_meta(data: bytes, pos: int, end: int) -> tuple[str, str]:
    fields = {1: "", 2: ""}
    while pos < end:
        key, pos = read_varint(data, pos)
        size, pos = read_varint(data, pos)
        if pos + size > end:
            raise ProtobufError("unexpected EOF")
        fields[key >> 3] = data[pos:pos + size].decode()
        pos += size
    return fields[1], fields[2]


def watch_event(event_type: str, object_bytes: bytes) -> bytes:
    """One frame of a protobuf watch stream: its length, then WatchEvent{type, RawExtension{raw}}."""
    raw = b"\x0a" + varint(len(object_bytes)) + object_bytes
    event = _string(1, event_type) + b"\x12" + varint(len(raw)) + raw
    return len(event).to_bytes(4, "big") + event


def decode_watch_event(event: bytes) -> tuple[str, Obj]:
    """The type and object of a WatchEvent (a frame without its length), for clients of protobuf watches."""
    event_type, raw, pos = "", b"", 0
    while pos < len(event):
        key, pos = read_varint(event, pos)
        size, pos = read_varint(event, pos)
        value, pos = event[pos:pos + size], pos + size
        if key == 0x0A:
            event_type = value.decode()
        elif key == 0x12 and value[:1] == b"\x0a":
            raw_size, start = read_varint(value, 1)
            raw = value[start:start + raw_size]
    return event_type, decode(raw)


def unwrap(data: bytes) -> tuple[str, str, bytes]:
    """The apiVersion, kind and raw message of enveloped bytes (for a type decoded by its own message)."""
    raw_start, raw_end, api_version, kind = _envelope(bytes(data))
    return api_version, kind, bytes(data)[raw_start:raw_end]
