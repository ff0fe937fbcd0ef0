"""The wire forms of the apimachinery types that are no plain scalars: metav1.Time, intstr.IntOrString, FieldsV1."""

from __future__ import annotations

import base64
import calendar
import time
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

from apiserver.protobuf.wire import VARINT, read_varint, signed, skip, varint

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class ProtobufError(ValueError):
    """Bytes that are not a message of the expected type."""


@lru_cache(maxsize=4096)
def _seconds(text: str) -> int:
    """The Unix seconds of an RFC 3339 time (as this server writes them, or with an offset or fractions)."""
    try:
        return calendar.timegm(time.strptime(text, _TIME_FORMAT))
    except ValueError:
        return int(datetime.fromisoformat(text).timestamp())


@lru_cache(maxsize=4096)
def time_payload(text: str) -> bytes:
    """metav1.Time's message: Timestamp{seconds, nanos = 0} (upstream drops nanos)."""
    return b"\x08" + varint(_seconds(text)) + b"\x10\x00"


def time_text(data: bytes, pos: int, end: int) -> str | None:
    """An empty message is Go's zero time (JSON null); anything else a time, to the second."""
    if pos == end:
        return None
    return _time_of(data[pos:end])


@lru_cache(maxsize=4096)
def _time_of(message: bytes) -> str:
    """The text of a Timestamp message (an object's times are few and repeat: creation, conditions, start)."""
    seconds, pos = 0, 0
    while pos < len(message):
        key, pos = read_varint(message, pos)
        if key == 0x08:
            value, pos = read_varint(message, pos)
            seconds = signed(value)
        else:
            pos = skip(message, pos, key & 7)
    return time.strftime(_TIME_FORMAT, time.gmtime(seconds))


def int_or_string_payload(value: int | str) -> bytes:
    if isinstance(value, str):
        data = value.encode()
        return b"\x08\x01\x10\x00\x1a" + varint(len(data)) + data
    return b"\x08\x00\x10" + varint(value) + b"\x1a\x00"


def int_or_string(data: bytes, pos: int, end: int) -> int | str:
    kind, number, text = 0, 0, ""
    while pos < end:
        key, pos = read_varint(data, pos)
        if key & 7 == VARINT:
            value, pos = read_varint(data, pos)
            if key >> 3 == 1:
                kind = value
            elif key >> 3 == 2:
                number = signed(value)
        else:
            size, start = read_varint(data, pos)
            pos = start + size
            if key >> 3 == 3:
                text = data[start:pos].decode()
    return text if kind == 1 else number


def fields_v1(data: bytes, pos: int, end: int) -> Any:
    raw = b""
    while pos < end:
        key, pos = read_varint(data, pos)
        if key == 0x0A:
            size, pos = read_varint(data, pos)
            raw, pos = data[pos:pos + size], pos + size
        else:
            pos = skip(data, pos, key & 7)
    return orjson.loads(raw) if raw else None


def length_prefixed(payload: bytes) -> bytes:
    return varint(len(payload)) + payload


def int_or_string_field(value: int | str) -> bytes:
    return length_prefixed(int_or_string_payload(value))


def fields_v1_field(value: Any) -> bytes:
    raw = orjson.dumps(value)
    return length_prefixed(b"\x0a" + varint(len(raw)) + raw)


@lru_cache(maxsize=4096)
def time_field(text: str) -> bytes:
    return length_prefixed(time_payload(text))


def quantity_field(value: int | str) -> bytes:
    """resource.Quantity's message: {string = 1} holding its text."""
    data = str(value).encode()
    return length_prefixed(b"\x0a" + varint(len(data)) + data)


def quantity(data: bytes, pos: int, end: int) -> str:
    text = ""
    while pos < end:
        key, pos = read_varint(data, pos)
        if key == 0x0A:
            size, pos = read_varint(data, pos)
            text, pos = data[pos:pos + size].decode(), pos + size
        else:
            pos = skip(data, pos, key & 7)
    return text


def bytes_field(value: str) -> bytes:
    """A Go []byte: its JSON is base64, its protobuf the bytes themselves."""
    return length_prefixed(base64.b64decode(value))


def bytes_text(data: bytes, pos: int, end: int) -> str:
    return base64.b64encode(data[pos:end]).decode()


def micro_time_field(text: str) -> bytes:
    """metav1.MicroTime's message: Timestamp{seconds, nanos}, to the microsecond."""
    stamp = datetime.fromisoformat(text)
    return length_prefixed(b"\x08" + varint(calendar.timegm(stamp.utctimetuple())) + b"\x10" +
                           varint(stamp.microsecond * 1000))


def micro_time_text(data: bytes, pos: int, end: int) -> str | None:
    """An empty message is the zero MicroTime (null); else RFC 3339 with six fractional digits, as Go writes it."""
    if pos == end:
        return None
    seconds = nanos = 0
    while pos < end:
        key, pos = read_varint(data, pos)
        if key == 0x08:
            value, pos = read_varint(data, pos)
            seconds = signed(value)
        elif key == 0x10:
            nanos, pos = read_varint(data, pos)
        else:
            pos = skip(data, pos, key & 7)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos // 1000:06d}Z"
