"""Protobuf messages derived from schema nodes: encoders and decoders as gogo-proto's generated code behaves.

Each `Object` node with numbered properties (`proto=`) is a message. Encoding follows gogo: fields in number
order; a Go pointer (`pointer=True`), a slice or a map is written only when set; every other field always, at
its zero value when absent (an empty string, 0, an empty message); map entries sorted by key. Types map as
upstream's: `Time` is metav1.Time (Timestamp{seconds, nanos}, nanos always 0, empty when zero),
`IntOrString` intstr.IntOrString{type, intVal, strVal}, `Free` a FieldsV1{Raw} holding JSON.

Decoding gives the object as kube-apiserver's JSON shows it: a zero non-pointer field is left out unless its
parent names it in `always`; absent lists and maps named there are null.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import orjson

from apiserver.protobuf.wire import LENGTH, VARINT, read_varint, signed, skip, tag, varint
from apiserver.schema import Array, Boolean, Free, Integer, IntOrString, Map, Object, Schema, String, Time

Obj = dict[str, Any]
FieldEncoder = Callable[[Any], bytes]
# Reads the value at a position into the object under the name: (obj, name, data, pos, end of value) -> None.
FieldDecoder = Callable[[Obj, str, bytes, int, int], None]
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class ProtobufError(ValueError):
    """Bytes that are not a message of the expected type."""


@lru_cache(maxsize=4096)
def _seconds(text: str) -> int:
    return calendar.timegm(time.strptime(text, _TIME_FORMAT))


@lru_cache(maxsize=4096)
def time_payload(text: str) -> bytes:
    """metav1.Time's message: Timestamp{seconds, nanos = 0} (upstream drops nanos)."""
    return b"\x08" + varint(_seconds(text)) + b"\x10\x00"


def _time_text(data: bytes, pos: int, end: int) -> str | None:
    """An empty message is Go's zero time (JSON null); anything else a time, to the second."""
    if pos == end:
        return None
    seconds = 0
    while pos < end:
        key, pos = read_varint(data, pos)
        if key == 0x08:
            value, pos = read_varint(data, pos)
            seconds = signed(value)
        else:
            pos = skip(data, pos, key & 7)
    return time.strftime(_TIME_FORMAT, time.gmtime(seconds))


def int_or_string_payload(value: int | str) -> bytes:
    if isinstance(value, str):
        data = value.encode()
        return b"\x08\x01\x10\x00\x1a" + varint(len(data)) + data
    return b"\x08\x00\x10" + varint(value) + b"\x1a\x00"


def _int_or_string(data: bytes, pos: int, end: int) -> int | str:
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


def _fields_v1(data: bytes, pos: int, end: int) -> Any:
    raw = b""
    while pos < end:
        key, pos = read_varint(data, pos)
        if key == 0x0A:
            size, pos = read_varint(data, pos)
            raw, pos = data[pos:pos + size], pos + size
        else:
            pos = skip(data, pos, key & 7)
    return orjson.loads(raw) if raw else None


def _zero(node: Schema) -> Any:
    """The JSON of a Go zero value: "" / 0 / false for scalars, null for times, lists and maps."""
    if isinstance(node, String):
        return ""
    if isinstance(node, Integer):
        return 0
    if isinstance(node, Boolean):
        return False
    if isinstance(node, IntOrString):
        return 0
    return None


class Message:
    """One message type: the numbered properties of an Object node, compiled to encoders and decoders."""

    def __init__(self, node: Object) -> None:
        self.node = node
        self.fields: list[tuple[str, FieldEncoder, bytes | None]] = []
        self.readers: dict[int, tuple[str, FieldDecoder]] = {}
        self.absent: list[tuple[str, Any]] = []  # what a decoded object shows for fields not on the wire
        numbered = sorted((child.proto, name, child) for name, child in node.properties.items() if child.proto)
        for number, name, child in numbered:
            encoder, zero_payload, wire_type, reader = _field(child, number, name in node.always)
            always_written = zero_payload is not None and not child.pointer
            self.fields.append((name, encoder, tag(number, LENGTH if wire_type == LENGTH else wire_type)
                                + zero_payload if always_written and zero_payload is not None else None))
            self.readers[number << 3 | wire_type] = (name, reader)
            if name in node.always and not isinstance(child, Object):
                self.absent.append((name, _zero(child)))

    def encode(self, obj: Obj) -> bytes:
        parts: list[bytes] = []
        get = obj.get
        for name, encoder, zero in self.fields:
            value = get(name)
            if value is None:
                if zero is not None:
                    parts.append(zero)
            else:
                parts.append(encoder(value))
        return b"".join(parts)

    def decode(self, data: bytes, pos: int = 0, end: int = -1) -> Obj:
        if end < 0:
            end = len(data)
        obj: Obj = {}
        readers = self.readers
        try:
            while pos < end:
                key = data[pos]
                if key < 0x80:
                    pos += 1
                else:
                    key, pos = read_varint(data, pos)
                wire_type = key & 7
                if wire_type == LENGTH:
                    size = data[pos]
                    if size < 0x80:
                        pos += 1
                    else:
                        size, pos = read_varint(data, pos)
                    value_end = pos + size
                else:
                    value_end = skip(data, pos, wire_type)
                if value_end > end:
                    raise ProtobufError("unexpected EOF")
                reader = readers.get(key)
                if reader is not None:
                    reader[1](obj, reader[0], data, pos, value_end)
                pos = value_end
        except IndexError:
            raise ProtobufError("unexpected EOF") from None
        for name, zero in self.absent:
            if name not in obj:
                obj[name] = zero
        return obj


def unnumbered(node: Object, path: str = "", skip_names: tuple[str, ...] = ("apiVersion", "kind")) -> list[str]:
    """The properties under `node` without a field number (a kind is served in protobuf only if there are none),
    and the `Free` ones that are no FieldsV1 (they have no message to be written as)."""
    found = []
    for name, child in node.properties.items():
        if name in skip_names:
            continue
        if not child.proto or (isinstance(child, Free) and name != "fieldsV1"):
            found.append(path + name)
            continue
        while isinstance(child, (Array, Map)):
            child = child.items if isinstance(child, Array) else child.values
        if isinstance(child, Object):
            found += unnumbered(child, f"{path}{name}.", ())
        elif isinstance(child, Free) and name != "fieldsV1":
            found.append(path + name)
    return found


_MESSAGES: dict[int, Message] = {}


def _message(node: Object) -> Message:
    """The message of an Object node, built on first use and kept."""
    found = _MESSAGES.get(id(node))
    if found is None or found.node is not node:
        found = _MESSAGES[id(node)] = Message(node)
    return found


def message(node: Object) -> Message:
    return _message(node)


def _length(number: int) -> bytes:
    return tag(number, LENGTH)


def _field(node: Schema, number: int, always: bool) -> tuple[FieldEncoder, bytes | None, int, FieldDecoder]:
    """How one property is written and read: its encoder (value -> tagged bytes), the payload of its zero value
    (None: never written when absent), its wire type and its decoder."""
    if isinstance(node, Array):
        return _repeated(node, number)
    if isinstance(node, Map):
        return _map(node, number)
    payload, wire_type, read = _value(node)
    head = tag(number, wire_type)
    keep_zero = always or node.pointer
    if wire_type == VARINT:
        def encode_varint(value: Any) -> bytes:
            return head + varint(int(value))
        is_bool = isinstance(node, Boolean)

        def read_varint_field(obj: Obj, name: str, data: bytes, pos: int, end: int) -> None:
            value = signed(read_varint(data, pos)[0])
            if value or keep_zero:
                obj[name] = bool(value) if is_bool else value
        return encode_varint, b"\x00", VARINT, read_varint_field

    def encode_bytes(value: Any) -> bytes:
        data = payload(value)
        return head + varint(len(data)) + data

    def read_bytes(obj: Obj, name: str, data: bytes, pos: int, end: int) -> None:
        value = read(data, pos, end)
        if value or keep_zero or isinstance(value, dict):
            obj[name] = value
    return encode_bytes, _zero_payload(node), LENGTH, read_bytes


def _zero_payload(node: Schema) -> bytes | None:
    """The bytes of an absent non-pointer value: Go writes its zero value (the empty message of a struct)."""
    if isinstance(node, Object):
        data = _message(node).encode({})
        return varint(len(data)) + data
    if isinstance(node, String | Time):
        return b"\x00"
    if isinstance(node, IntOrString):
        data = int_or_string_payload(0)
        return varint(len(data)) + data
    return None


def _value(node: Schema) -> tuple[Callable[[Any], bytes], int, Callable[[bytes, int, int], Any]]:
    """A single value's payload encoder, wire type and decoder (data, start, end) -> value."""
    if isinstance(node, String):
        return str.encode, LENGTH, lambda data, pos, end: data[pos:end].decode()
    if isinstance(node, Integer | Boolean):
        return varint, VARINT, lambda data, pos, end: signed(read_varint(data, pos)[0])
    if isinstance(node, Object):
        sub = _message(node)
        return sub.encode, LENGTH, sub.decode
    if isinstance(node, Time):
        return time_payload, LENGTH, _time_text
    if isinstance(node, IntOrString):
        return int_or_string_payload, LENGTH, _int_or_string
    if isinstance(node, Free):
        def fields_payload(value: Any) -> bytes:
            raw = orjson.dumps(value)
            return b"\x0a" + varint(len(raw)) + raw
        return fields_payload, LENGTH, _fields_v1
    raise TypeError(f"no protobuf form for {type(node).__name__}")


def _repeated(node: Array, number: int) -> tuple[FieldEncoder, None, int, FieldDecoder]:
    payload, wire_type, read = _value(node.items)
    head = tag(number, wire_type)
    if wire_type == VARINT:
        def encode_ints(values: list[Any]) -> bytes:
            return b"".join(head + varint(int(v)) for v in values)
        encode = encode_ints
    elif payload is str.encode:
        def encode_strings(values: list[str]) -> bytes:
            parts: list[bytes] = []
            for value in values:
                data = value.encode()
                parts += (head, varint(len(data)), data)
            return b"".join(parts)
        encode = encode_strings
    else:
        def encode_messages(values: list[Any]) -> bytes:
            parts: list[bytes] = []
            for value in values:
                data = payload(value)
                parts += (head, varint(len(data)), data)
            return b"".join(parts)
        encode = encode_messages

    def append(obj: Obj, name: str, data: bytes, pos: int, end: int) -> None:
        items = obj.get(name)
        if items is None:
            items = obj[name] = []
        items.append(read(data, pos, end))
    return encode, None, wire_type, append


def _map(node: Map, number: int) -> tuple[FieldEncoder, None, int, FieldDecoder]:
    """A map: one entry message {key = 1, value = 2} per key, sorted by key as gogo writes them."""
    value_encoder, _, _, value_reader = _field(node.values, 2, True)
    head = tag(number, LENGTH)

    def encode(values: dict[str, Any]) -> bytes:
        parts: list[bytes] = []
        for key in sorted(values):
            data = key.encode()
            value = values[key]
            entry = b"\x0a" + varint(len(data)) + data + value_encoder(value)
            parts += (head, varint(len(entry)), entry)
        return b"".join(parts)

    def read(obj: Obj, name: str, data: bytes, pos: int, end: int) -> None:
        entry: Obj = {}
        key = ""
        while pos < end:
            field_key, pos = read_varint(data, pos)
            field_end = skip(data, pos, field_key & 7)
            if field_key == 0x0A:
                size, start = read_varint(data, pos)
                key = data[start:start + size].decode()
            elif field_key >> 3 == 2:
                if field_key & 7 == LENGTH:
                    size, start = read_varint(data, pos)
                    value_reader(entry, "v", data, start, start + size)
                else:
                    value_reader(entry, "v", data, pos, field_end)
            pos = field_end
        values = obj.get(name)
        if values is None:
            values = obj[name] = {}
        values[key] = entry.get("v", _zero(node.values))
    return encode, None, LENGTH, read
