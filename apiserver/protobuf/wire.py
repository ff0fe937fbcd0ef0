"""The protobuf wire format's primitives: varints, tags and length-delimited fields.

Lengths and small numbers below 2**14 come from a table: most fields of an API object are short."""

from __future__ import annotations

VARINT = 0
LENGTH = 2


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # Go writes uint64(v) of a negative int32/int64: ten bytes, sign-extended
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL = tuple(_varint(n) for n in range(1 << 14))


def varint(value: int) -> bytes:
    """The varint of an int32/int64/bool as gogo-proto writes it."""
    return _SMALL[value] if 0 <= value < 16384 else _varint(value)


def tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """The unsigned varint at `pos` and the position after it."""
    byte = data[pos]
    if byte < 0x80:
        return byte, pos + 1
    result, shift = byte & 0x7F, 7
    while True:
        pos += 1
        byte = data[pos]
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos + 1
        shift += 7


def signed(value: int) -> int:
    """A varint read back as Go's int64 (negative numbers were written as their 64-bit two's complement)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def skip(data: bytes, pos: int, wire_type: int) -> int:
    """The position after a field of `wire_type` whose value starts at `pos` (fields this schema does not know)."""
    if wire_type == VARINT:
        return read_varint(data, pos)[1]
    if wire_type == LENGTH:
        size, pos = read_varint(data, pos)
        return pos + size
    if wire_type == 1:
        return pos + 8
    if wire_type == 5:
        return pos + 4
    raise ValueError(f"unsupported wire type {wire_type}")
