"""Go's encoding/json wording for a body our parser refused.

kube-apiserver reads JSON with Go's encoding/json (and sigs.k8s.io/json, which shares its scanner),
so a malformed body is answered with that scanner's text: `unexpected end of JSON input`, `invalid
character 'x' looking for beginning of value`, … `syntax_error` runs a port of the scanner's state
machine (encoding/json/scanner.go) over the raw bytes; it is only called once orjson has failed.

Go's scanner refuses nesting deeper than 10000 (`invalid character '[' exceeded max depth`). This
port refuses it past `decoding.MAX_DEPTH`, the depth every walker of this server can recurse to.
"""

from __future__ import annotations

from apiserver.decoding import MAX_DEPTH
from apiserver.validation.field import go_quote

_SPACE = b" \t\r\n"
_DIGITS = b"0123456789"
_HEX = b"0123456789abcdefABCDEF"
_LITERALS = {ord("t"): b"true", ord("f"): b"false", ord("n"): b"null"}


class _Syntax(Exception):
    def __init__(self, byte: int, context: str) -> None:
        super().__init__(f"invalid character {quote_char(byte)} {context}")


def quote_char(byte: int) -> str:
    """encoding/json's quoteChar: one byte (as the rune of that value) in single quotes, escaped like %q."""
    if byte == ord("'"):
        return "'\\''"
    if byte == ord('"'):
        return "'\"'"
    return "'" + go_quote(chr(byte))[1:-1] + "'"


def syntax_error(data: bytes, max_depth: int = MAX_DEPTH) -> str | None:
    """The error Go's `json.Unmarshal` reports for `data` before decoding anything, or None if it is valid JSON
    nested at most `max_depth` deep."""
    try:
        end = _value(data, _skip(data, 0), max_depth)
        end = _skip(data, end)
        if end < len(data):
            raise _Syntax(data[end], "after top-level value")
    except _Syntax as err:
        return str(err)
    except IndexError:
        return "unexpected end of JSON input"
    return None


def _skip(data: bytes, i: int) -> int:
    while i < len(data) and data[i] in _SPACE:
        i += 1
    return i


def _tok(data: bytes, i: int) -> int:
    """The byte at `i` inside a token; at the end Go's scanner steps with a space, which most tokens refuse."""
    return data[i] if i < len(data) else 0x20


def _value(data: bytes, i: int, depth: int) -> int:
    """Scan one value starting at `i` (no leading space) with `depth` more levels of nesting allowed; return the
    index after it. IndexError at the end."""
    c = data[i]
    if c in b"{[" and depth <= 0:
        raise _Syntax(c, "exceeded max depth")
    if c == ord("{"):
        return _object(data, i + 1, depth - 1)
    if c == ord("["):
        return _array(data, i + 1, depth - 1)
    if c == ord('"'):
        return _string(data, i + 1)
    if c == ord("-") or c in _DIGITS:
        return _number(data, i)
    if c in _LITERALS:
        word = _LITERALS[c]
        for j, want in enumerate(word[1:], 1):
            if _tok(data, i + j) != want:
                raise _Syntax(_tok(data, i + j), f"in literal {word.decode()} (expecting {quote_char(want)})")
        return i + len(word)
    raise _Syntax(c, "looking for beginning of value")


def _object(data: bytes, i: int, depth: int) -> int:
    i = _skip(data, i)
    if data[i] == ord("}"):
        return i + 1
    while True:
        if data[i] != ord('"'):
            raise _Syntax(data[i], "looking for beginning of object key string")
        i = _skip(data, _string(data, i + 1))
        if data[i] != ord(":"):
            raise _Syntax(data[i], "after object key")
        i = _skip(data, _value(data, _skip(data, i + 1), depth))
        if data[i] == ord("}"):
            return i + 1
        if data[i] != ord(","):
            raise _Syntax(data[i], "after object key:value pair")
        i = _skip(data, i + 1)


def _array(data: bytes, i: int, depth: int) -> int:
    i = _skip(data, i)
    if data[i] == ord("]"):
        return i + 1
    while True:
        i = _skip(data, _value(data, i, depth))
        if data[i] == ord("]"):
            return i + 1
        if data[i] != ord(","):
            raise _Syntax(data[i], "after array element")
        i = _skip(data, i + 1)


def _string(data: bytes, i: int) -> int:
    while True:
        c = data[i]
        if c == ord('"'):
            return i + 1
        if c < 0x20:
            raise _Syntax(c, "in string literal")
        if c == ord("\\"):
            i += 1
            c = _tok(data, i)
            if c == ord("u"):
                for j in range(1, 5):
                    if _tok(data, i + j) not in _HEX:
                        raise _Syntax(_tok(data, i + j), "in \\u hexadecimal character escape")
                i += 4
            elif c not in b'bfnrt\\/"':
                raise _Syntax(c, "in string escape code")
        i += 1


def _number(data: bytes, i: int) -> int:
    if data[i] == ord("-"):
        i += 1
        if _tok(data, i) not in _DIGITS:
            raise _Syntax(_tok(data, i), "in numeric literal")
    if data[i] == ord("0"):
        i += 1
    else:
        while i < len(data) and data[i] in _DIGITS:
            i += 1
    if i < len(data) and data[i] == ord("."):
        i += 1
        if _tok(data, i) not in _DIGITS:
            raise _Syntax(_tok(data, i), "after decimal point in numeric literal")
        while i < len(data) and data[i] in _DIGITS:
            i += 1
    if i < len(data) and data[i] in b"eE":
        i += 1
        if _tok(data, i) in b"+-":
            i += 1
        if _tok(data, i) not in _DIGITS:
            raise _Syntax(_tok(data, i), "in exponent of numeric literal")
        while i < len(data) and data[i] in _DIGITS:
            i += 1
    return i
