"""The protobuf wire format read and written without a schema: a message is its fields in order, each
(field number, wire type, value) with the value an int (varint, fixed) or bytes (length-delimited).

This is the differential suite's own view of protobuf, independent of the server's codec: answers are parsed
into field trees and compared field by field; request bodies are written from trees of field numbers.
"""

from __future__ import annotations

from typing import Any

VARINT, I64, LEN, I32 = 0, 1, 2, 5
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
PREFIX = b"k8s\x00"  # Kubernetes' envelope: the prefix, then a runtime.Unknown message
Field = tuple[int, int, int | bytes]


def read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def read(data: bytes) -> list[Field]:
    """The fields of a message in the order written; ValueError when `data` is not a whole message."""
    fields: list[Field] = []
    at = 0
    while at < len(data):
        tag, at = read_varint(data, at)
        number, wire_type = tag >> 3, tag & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire_type == VARINT:
            value, at = read_varint(data, at)
            fields.append((number, wire_type, value))
        elif wire_type in (I64, I32):
            size = 8 if wire_type == I64 else 4
            if at + size > len(data):
                raise ValueError("truncated fixed value")
            fields.append((number, wire_type, int.from_bytes(data[at:at + size], "little")))
            at += size
        elif wire_type == LEN:
            size, at = read_varint(data, at)
            if at + size > len(data):
                raise ValueError("truncated length-delimited value")
            fields.append((number, wire_type, data[at:at + size]))
            at += size
        else:
            raise ValueError(f"wire type {wire_type}")
    return fields


def message_or_none(data: bytes) -> list[Field] | None:
    try:
        return read(data)
    except ValueError:
        return None


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int32/int64 values take ten bytes
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def write(tree: dict[int, Any]) -> bytes:
    """A message from a tree of field numbers: an int or bool is a varint, a string or bytes a length-delimited
    value, a mapping a nested message, a list a repeated field (each element written as its own field)."""
    out = bytearray()
    for number, value in tree.items():
        for item in value if isinstance(value, list) else (value,):
            if isinstance(item, bool | int):
                out += varint(int(number) << 3 | VARINT) + varint(int(item))
            else:
                data = write(item) if isinstance(item, dict) else item if isinstance(item, bytes) else str(item).encode()
                out += varint(int(number) << 3 | LEN) + varint(len(data)) + data
    return bytes(out)


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    """Kubernetes' protobuf document: the prefix, then runtime.Unknown{typeMeta{apiVersion, kind}, raw,
    contentEncoding "", contentType ""}."""
    return PREFIX + write({1: {1: api_version, 2: kind}, 2: raw, 3: "", 4: ""})
