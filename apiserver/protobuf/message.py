"""Protobuf messages derived from schema nodes: encoders and decoders as gogo-proto's generated code behaves.

Each `Object` node with numbered properties (`proto=`) is a message. Encoding follows gogo: fields in number
order; a Go pointer (`pointer=True`), a slice or a map is written only when set; every other field always, at
its zero value when absent (an empty string, 0, an empty message); map entries sorted by key. Types map as
upstream's: `Time` is metav1.Time (Timestamp{seconds, nanos}, nanos always 0, empty when zero),
`IntOrString` intstr.IntOrString{type, intVal, strVal}, `Quantity` resource.Quantity{string}, `MicroTime`
a Timestamp to the microsecond, `Bytes` the bytes its base64 JSON holds, `Free` a FieldsV1{Raw} holding JSON. A struct Go embeds inline (`Object.embedded`: a Volume's VolumeSource) is a message
of its own under its number, written from the parent's JSON object and read back into it.

Decoding gives the object as kube-apiserver's JSON shows it: a zero non-pointer field is left out unless its
parent names it in `always`; absent lists and maps named there are null.

Each message's encoder and decoder are Python functions generated from its fields (one branch per field, no
per-field dispatch): about two and a half times faster than interpreting the schema at each call. Encoders build
text, one character per byte (latin-1), with in-place appends, so an ASCII string is added as it is (no encode()
per field) and the whole message is encoded to bytes once; decoders take the fields in number order, as gogo
writes them, before a loop takes any others. A 100-endpoint EndpointSlice still costs about 9× orjson's time to
encode and 4× to decode (`python -m loadtest.codecbench`): the server encodes each object version once
(`apiserver.cacher.event`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from typing import Any

from apiserver.protobuf import values
from apiserver.protobuf.values import ProtobufError, int_or_string_field, length_prefixed
from apiserver.protobuf.wire import LENGTH, VARINT, read_varint, skip, tag, varint
from apiserver.schema import (
    Array,
    Boolean,
    Bytes,
    Free,
    Integer,
    IntOrString,
    Map,
    MicroTime,
    Object,
    Quantity,
    Schema,
    String,
    Time,
)

Obj = dict[str, Any]
# Reads the value at a position into the object under the name: (obj, name, data, pos, end of value) -> None.
FieldDecoder = Callable[[Obj, str, bytes, int, int], None]


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
    """One message type: the numbered properties of an Object node, compiled to Python functions (`encode`,
    `decode`) specialised to its fields, which is what makes a pure-Python codec fast enough."""

    def __init__(self, node: Object) -> None:
        self.node = node
        namespace: dict[str, Any] = dict(_HELPERS)
        numbered = sorted((child.proto, name, child) for name, child in node.properties.items() if child.proto)
        fields = [_Field(number, name, child, name in node.always, namespace) for number, name, child in numbered]
        fields += [_Field(struct.proto, "", struct, True, namespace) for struct in node.embedded]
        fields.sort(key=lambda field: field.number)
        absent = {name: _zero(child) for _, name, child in numbered
                  if name in node.always and not isinstance(child, Object)}
        absent.update(_type_meta(node))
        order = [name for name, child in node.properties.items() if child.proto]
        if node.embedded or order != [name for _, name, _ in numbered]:  # JSON keys in the schema's (Go's) order
            namespace["ORDER"] = tuple(node.properties)
        source = _encoder_source(fields) + _decoder_source(fields, absent, "ORDER" in namespace)
        exec(compile(source, f"<protobuf {node.ref or 'message'}>", "exec"), namespace)  # noqa: S102
        self.encode: Callable[[Obj], bytes] = namespace["encode"]
        self.encode_text: Callable[[Obj], str] = namespace["encode_text"]
        self.decode: Callable[..., Obj] = namespace["decode"]


CORE_PREFIX = "io.k8s.api.core.v1."


def _type_meta(node: Object) -> dict[str, str]:
    """The apiVersion and kind of a core resource held inside another (a StatefulSet's PersistentVolumeClaim
    templates): protobuf has no field for them, upstream's conversion writes them back on every read."""
    if node.ref.startswith(CORE_PREFIX) and "metadata" in node.properties and \
            not any(node.properties[name].proto for name in ("apiVersion", "kind") if name in node.properties):
        return {"apiVersion": "v1", "kind": node.ref[len(CORE_PREFIX):]} if "kind" in node.properties else {}
    return {}


def unnumbered(node: Object, path: str = "", skip_names: tuple[str, ...] = ("apiVersion", "kind")) -> list[str]:
    """The properties under `node` without a field number (a kind is served in protobuf only if there are none),
    and the `Free` ones that are no FieldsV1 (they have no message to be written as)."""
    found = []
    flattened = {name for struct in node.embedded for name in struct.properties}
    for struct in node.embedded:
        found += unnumbered(struct, path, ())
    for name, child in node.properties.items():
        if name in skip_names or name in flattened:
            continue
        if not child.proto or (isinstance(child, Free) and name != "fieldsV1"):
            found.append(path + name)
            continue
        while isinstance(child, (Array, Map)):
            child = child.items if isinstance(child, Array) else child.values
        if isinstance(child, Object):
            found += unnumbered(child, f"{path}{name}.", tuple(_type_meta(child)))
        elif isinstance(child, Free) and name != "fieldsV1":
            found.append(path + name)
    return found


_MESSAGES: dict[int, Message] = {}


def message(node: Object) -> Message:
    """The message of an Object node, built on first use and kept."""
    found = _MESSAGES.get(id(node))  # the message keeps its node: the id is not reused
    if found is None:
        found = _MESSAGES[id(node)] = Message(node)
    return found


def _raise_eof() -> None:
    raise ProtobufError("unexpected EOF")


def _text(data: bytes) -> str:
    """Bytes as the text the encoders build: one character per byte (latin-1), encoded back at the end."""
    return data.decode("latin-1")


def _varint_text(value: int) -> str:
    return _SMALL_VARINTS[value] if 0 <= value < 16384 else _text(varint(value))


_SMALL_VARINTS: tuple[str, ...] = tuple(_text(varint(n)) for n in range(1 << 14))


def _utf8_field(tag_text: str, value: str) -> str:
    """A string field whose value is not ASCII: its UTF-8 bytes, counted as bytes."""
    data = _text(value.encode())
    return tag_text + _varint_text(len(data)) + data


def _skip(data: bytes, pos: int) -> int:
    """The position after the field whose key starts at `pos` (a field this schema does not know)."""
    key, pos = read_varint(data, pos)
    return skip(data, pos, key & 7)


_HELPERS: dict[str, Any] = {
    "S": _SMALL_VARINTS, "V": _varint_text, "U": _utf8_field, "R": read_varint, "SK": _skip, "SKIP": skip,
    "EOF": _raise_eof,
    "TIME": lru_cache(maxsize=4096)(lambda text: _text(values.time_field(text))), "TIME_READ": values.time_text,
    "IOS": lambda value: _text(int_or_string_field(value)), "IOS_READ": values.int_or_string,
    "FV1": lambda value: _text(values.fields_v1_field(value)), "FV1_READ": values.fields_v1,
    "QTY": lambda value: _text(values.quantity_field(value)), "QTY_READ": values.quantity,
    "MTIME": lambda value: _text(values.micro_time_field(value)), "MTIME_READ": values.micro_time_text,
    "BYTES": lambda value: _text(values.bytes_field(value)), "BYTES_READ": values.bytes_text,
}


class _Field:
    """One numbered property as the generated code handles it: its kind of value, tag, zero bytes and helpers."""

    def __init__(self, number: int, name: str, node: Schema, always: bool, namespace: dict[str, Any]) -> None:
        self.name, self.number = name, number
        self.repeated = isinstance(node, Array)
        item = node.items if isinstance(node, Array) else node
        self.keep_zero = always or node.pointer
        self.helper = f"F{number}"
        if not name:  # an embedded struct: its message is written from, and read into, the parent's object
            self.kind = "embed"
            sub = message(node)  # type: ignore[arg-type]
            namespace[self.helper], namespace[self.helper + "_READ"] = sub.encode_text, sub.decode
        elif isinstance(node, Map):
            self.kind = "map"
            namespace[self.helper], namespace[self.helper + "_READ"] = _map(node)
        elif isinstance(item, String) and not isinstance(item, Bytes):
            self.kind = "str"
        elif isinstance(item, Integer):
            self.kind = "int"
        elif isinstance(item, Boolean):
            self.kind = "bool"
        elif isinstance(item, Object):
            self.kind = "msg"
            sub = message(item)
            namespace[self.helper], namespace[self.helper + "_READ"] = sub.encode_text, sub.decode
        elif isinstance(item, (Time, IntOrString, Free, Bytes)):
            self.kind = "fn"
            helper = next(name for kind, name in _VALUE_HELPERS if isinstance(item, kind))
            namespace[self.helper], namespace[self.helper + "_READ"] = namespace[helper], namespace[helper + "_READ"]
        else:
            raise TypeError(f"no protobuf form for {type(item).__name__}")
        self.wire_type = VARINT if self.kind in ("int", "bool") else LENGTH
        self.tag = _text(tag(number, self.wire_type))
        if self.wire_type == LENGTH:  # the tag and a one-byte length, for values shorter than 128 bytes
            namespace[f"P{number}"] = tuple(self.tag + chr(n) for n in range(128))
        self.key = number << 3 | self.wire_type
        zero = None if self.repeated or self.kind == "map" or node.pointer else _zero_payload(item)
        self.zero = None if zero is None else self.tag + _text(zero)


# The helpers writing and reading the types that are no plain scalars.
_VALUE_HELPERS: tuple[tuple[type, str], ...] = (
    (Quantity, "QTY"), (MicroTime, "MTIME"), (Time, "TIME"), (IntOrString, "IOS"), (Free, "FV1"), (Bytes, "BYTES"))


def _zero_payload(node: Schema) -> bytes | None:
    """The bytes of an absent non-pointer value: Go writes its zero value (the empty message of a struct)."""
    if isinstance(node, Quantity):
        return values.quantity_field("0")
    if isinstance(node, Bytes):
        return None  # a nil []byte is not written
    if isinstance(node, Object):
        return length_prefixed(message(node).encode({}))
    if isinstance(node, (String, Time, Integer, Boolean)):
        return b"\x00"
    if isinstance(node, IntOrString):
        return int_or_string_field(0)
    return None


def _encode_value(field: _Field, value: str) -> list[str]:
    """Statements appending one value's field to the text `t`."""
    tag_text = repr(field.tag)
    prefixed = ["if n < 128:", f"    t += P{field.number}[n]", "else:", f"    t += {tag_text} + V(n)"]
    if field.kind == "str":
        return [f"if {value}.isascii():", f"    n = len({value})", *("    " + line for line in prefixed),
                f"    t += {value}", "else:", f"    t += U({tag_text}, {value})"]
    if field.kind == "int":
        return [f"t += {tag_text} + (S[{value}] if 0 <= {value} < 16384 else V({value}))"]
    if field.kind == "bool":
        return [f"t += {field.tag + chr(1)!r} if {value} else {field.tag + chr(0)!r}"]
    if field.kind in ("msg", "embed"):  # an embedded struct's message is written from the object itself
        return [f"b = {field.helper}({value})", "n = len(b)", *prefixed, "t += b"]
    if field.kind == "map":
        return [f"t += {field.helper}({value})"]
    return [f"t += {tag_text} + {field.helper}({value})"]


def _encoder_source(fields: list[_Field]) -> str:
    """`encode_text(o)`: the message as text, one character per byte (parents add it to theirs as it is); and
    `encode(o)`: its bytes."""
    lines = ["def encode_text(o):", "    t = ''", "    g = o.get"]
    for field in fields:
        if field.kind == "embed":
            lines += ["    " + line for line in _encode_value(field, "o")]
            continue
        lines.append(f"    v = g({field.name!r})")
        lines.append("    if v is not None:")
        if field.repeated:
            lines.append("        for x in v:")
            lines += ["            " + line for line in _encode_value(field, "x")]
        else:
            lines += ["        " + line for line in _encode_value(field, "v")]
        if field.zero is not None:
            lines += ["    else:", f"        t += {field.zero!r}"]
    lines += ["    return t", "", "def encode(o):", "    return encode_text(o).encode('latin-1')"]
    return "\n".join(lines) + "\n\n"


def _store(field: _Field, value: str, test: str) -> list[str]:
    """Statements storing a decoded value: appended for a list; else set, when `test` holds (a zero is left out)."""
    name = repr(field.name)
    if field.repeated:
        return [f"l = o.get({name})", "if l is None:", f"    o[{name}] = [{value}]", "else:", f"    l.append({value})"]
    if field.keep_zero or not test:
        return [f"o[{name}] = {value}"]
    return [f"x = {value}", f"if {test}:", f"    o[{name}] = x"]


def _read_varint(name: str, key_size: int) -> list[str]:
    """Statements reading a varint into `name`; `pos` is at the field's key (of `key_size` bytes), or after it (0)."""
    at = f"pos + {key_size}" if key_size else "pos"
    return [f"{name} = d[{at}]", f"if {name} < 128:", f"    pos += {key_size + 1}", "else:",
            f"    {name}, pos = R(d, {at})"]


def _decode_length(field: _Field, key_size: int) -> list[str]:
    """Statements reading a length-delimited field (its key of `key_size` bytes at `pos`, or 0: `pos` after it)
    and storing its value; `pos` is then after it."""
    lines = [*_read_varint("n", key_size), "e = pos + n"]
    if field.kind == "str":
        if field.keep_zero or field.repeated:
            lines += _store(field, "d[pos:e].decode()", "")
        else:
            lines += ["if n:", f"    o[{field.name!r}] = d[pos:e].decode()"]
    elif field.kind == "msg":
        lines += _store(field, f"{field.helper}_READ(d, pos, e)", "")
    elif field.kind == "embed":
        lines.append(f"o.update({field.helper}_READ(d, pos, e))")
    elif field.kind == "map":
        lines.append(f"{field.helper}_READ(o, {field.name!r}, d, pos, e)")
    else:
        lines += _store(field, f"{field.helper}_READ(d, pos, e)", "x is not None")
    return [*lines, "pos = e"]


def _decode_varint(field: _Field, key_size: int) -> list[str]:
    """Statements reading a varint field as Go's int64 (negative numbers are 64-bit two's complements) and storing
    it."""
    value = "x != 0" if field.kind == "bool" else "x"
    return [*_read_varint("x", key_size), "    if x >= 9223372036854775808:", "        x -= 18446744073709551616",
            *_store(field, value, "x")]


def _decoder_source(fields: list[_Field], absent: dict[str, Any], reorder: bool) -> str:
    """`decode(d, pos, end)`. gogo writes fields in number order, so a first pass takes them in that order, one test
    each (a repeated field loops); a loop with one branch per key then reads whatever is left (fields out of order,
    unknown ones); `reorder`: the object's keys are then put in the schema's order (`ORDER`). A value running past
    `end` leaves `pos` past it, which fails the message at its end (or an IndexError does, past the data): no
    bounds test per field."""
    lines = ["def decode(d, pos=0, end=-1):", "    if end < 0:", "        end = len(d)", "    o = {}", "    try:"]
    for field in fields:
        key = varint(field.key)
        test = f"pos < end and d[pos] == {field.key}" if len(key) == 1 else \
            f"d[pos:pos + {len(key)}] == {key!r} and pos < end"
        lines.append(f"        {'while' if field.repeated or field.kind == 'map' else 'if'} {test}:")
        lines += ["            " + line for line in _read(field, len(key))]
    lines += ["        while pos < end:", "            k = d[pos]", "            pos += 1"]
    skip_unknown = "pos = SK(d, pos - 1)"  # its key read again: only its first byte was
    if any(field.key >= 128 for field in fields):
        lines += ["            if k >= 128:", "                k, pos = R(d, pos - 1)"]
        skip_unknown = "pos = SKIP(d, pos, k & 7)"
    keyword = "if"
    for field in fields:
        lines.append(f"            {keyword} k == {field.key}:")
        lines += ["                " + line for line in _read(field, 0)]
        keyword = "elif"
    if fields:
        lines += ["            else:", "                " + skip_unknown]
    else:
        lines.append("            " + skip_unknown)
    lines += ["    except IndexError:", "        EOF()", "    if pos != end:", "        EOF()"]
    for name, zero in absent.items():
        lines += [f"    if {name!r} not in o:", f"        o[{name!r}] = {zero!r}"]
    if reorder:
        lines += ["    r = {k: o[k] for k in ORDER if k in o}", "    if len(r) < len(o):", "        r.update(o)",
                  "    return r"]
    else:
        lines.append("    return o")
    return "\n".join(lines) + "\n"


def _read(field: _Field, key_size: int) -> list[str]:
    return _decode_length(field, key_size) if field.wire_type == LENGTH else _decode_varint(field, key_size)


def _map(node: Map) -> tuple[Callable[[dict[str, Any]], str], FieldDecoder]:
    """A map: one entry message {key = 1, value = 2} per key, sorted by key as gogo writes them."""
    entry = message(Object(properties={"k": String(proto=1), "v": replace(node.values, proto=2, pointer=False)},
                           always=("k", "v")))
    head = _text(tag(node.proto, LENGTH))
    encode_entry = entry.encode_text
    strings = type(node.values) is String  # not a subclass written otherwise (a Go []byte, base64 in JSON)
    size = _varint_text

    def encode(values: dict[str, Any]) -> str:
        parts: list[str] = []
        for key in sorted(values):
            value = values[key]
            if strings and key.isascii() and value.__class__ is str and value.isascii():  # labels, annotations
                data = "\n" + size(len(key)) + key + "\x12" + size(len(value)) + value
            else:
                data = encode_entry({"k": key, "v": value})
            parts += (head, size(len(data)), data)
        return "".join(parts)

    def read(obj: Obj, name: str, data: bytes, pos: int, end: int) -> None:
        pair = entry.decode(data, pos, end)
        values = obj.get(name)
        if values is None:
            values = obj[name] = {}
        values[pair["k"]] = pair["v"]
    return encode, read
