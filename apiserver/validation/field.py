"""Field errors as kube-apiserver reports them (k8s.io/apimachinery/pkg/util/validation/field).

A `FieldError` renders exactly like Go's `field.Error`: `<field>: <body>`, where the body is the
error type's text, the bad value formatted the way Go formats it, and the detail. An `ErrorList`
turns into the `details.causes` and the aggregated message tail of a 422 Invalid Status.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any


class ErrorType(str, Enum):
    """The machine-readable error kinds; each value is the StatusCause `reason`."""

    NOT_FOUND = "FieldValueNotFound"
    REQUIRED = "FieldValueRequired"
    DUPLICATE = "FieldValueDuplicate"
    INVALID = "FieldValueInvalid"
    NOT_SUPPORTED = "FieldValueNotSupported"
    FORBIDDEN = "FieldValueForbidden"
    TOO_LONG = "FieldValueTooLong"
    TOO_MANY = "FieldValueTooMany"
    INTERNAL = "InternalError"
    TYPE_INVALID = "FieldValueTypeInvalid"


_TYPE_TEXT = {
    ErrorType.NOT_FOUND: "Not found",
    ErrorType.REQUIRED: "Required value",
    ErrorType.DUPLICATE: "Duplicate value",
    ErrorType.INVALID: "Invalid value",
    ErrorType.NOT_SUPPORTED: "Unsupported value",
    ErrorType.FORBIDDEN: "Forbidden",
    ErrorType.TOO_LONG: "Too long",
    ErrorType.TOO_MANY: "Too many",
    ErrorType.INTERNAL: "Internal error",
    ErrorType.TYPE_INVALID: "Invalid value",
}

# Types whose body never shows the bad value (Go prints only the type text and the detail).
_VALUELESS = {ErrorType.REQUIRED, ErrorType.FORBIDDEN, ErrorType.TOO_LONG, ErrorType.INTERNAL}


@dataclass(frozen=True)
class Pointer:
    """A bad value that upstream passes as a Go pointer or named type: rendered with encoding/json, not %q."""

    value: Any


@dataclass(frozen=True)
class GoSyntax:
    """A bad value already written the way Go's %#v prints it (`[]string{"a"}`, `core.ServicePort{…}`)."""

    text: str


def go_strings(values: Iterable[str]) -> GoSyntax:
    """A []string as %#v prints it: `[]string{"a", "b"}`."""
    return GoSyntax("[]string{" + ", ".join(go_quote(v) for v in values) + "}")


def go_quote(text: str) -> str:
    """Go's strconv.Quote: printable runes kept, the rest escaped the way Go escapes them."""
    if text.isprintable():  # the common case, in C (a long value is quoted in a few ms, not seconds)
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    out = ['"']
    for ch in text:
        code = ord(ch)
        if 0xD800 <= code <= 0xDFFF:  # a lone surrogate decodes to U+FFFD in Go
            out.append("\ufffd")
        elif ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def go_json(value: Any, sort_keys: bool = False) -> str:
    """Go's json.Marshal: compact, HTML-safe. Dict key order is kept (callers order struct fields), or
    sorted, as Go marshals a map."""
    text = json.dumps(_plain_floats(value), ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                         ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


def _plain_floats(value: Any) -> Any:
    """Integral floats marshal without a fraction in Go (100.0 → 100)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {k: _plain_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_floats(v) for v in value]
    return value


def format_value(value: Any) -> str:
    """A bad value as `field.Error.ErrorBody` prints it: strings %q, numbers and bools %v, anything else JSON."""
    if isinstance(value, Pointer):
        return go_json(value.value)
    if isinstance(value, GoSyntax):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, str):
        return go_quote(value)
    return go_json(value)


@dataclass(frozen=True)
class FieldError:
    """One field-level validation error."""

    type: ErrorType
    field: str
    bad_value: Any
    detail: str

    @property
    def reason(self) -> str:
        return self.type.value

    @property
    def message(self) -> str:
        """The body without the field path, as in `details.causes[].message`."""
        text = _TYPE_TEXT[self.type]
        if self.type not in _VALUELESS:
            text += ": " + format_value(self.bad_value)
        if self.detail:
            text += ": " + self.detail
        return text

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ErrorList(list[FieldError]):
    """Errors in the order validation appended them (that order is the order of `causes`)."""

    def causes(self) -> list[dict[str, str]]:
        """StatusCause dicts (key order reason, message, field); not de-duplicated, as upstream."""
        return [{"reason": e.reason, "message": e.message, "field": e.field} for e in self]

    def aggregate(self) -> str:
        """The message tail: one error's text, or `[e1, e2, …]` with repeated texts dropped."""
        texts = list(dict.fromkeys(str(e) for e in self))
        if len(texts) == 1:
            return texts[0]
        return "[" + ", ".join(texts) + "]"


def required(field: str, detail: str = "") -> FieldError:
    return FieldError(ErrorType.REQUIRED, field, "", detail)


def invalid(field: str, value: Any, detail: str = "") -> FieldError:
    return FieldError(ErrorType.INVALID, field, value, detail)


def not_supported(field: str, value: Any, supported: Iterable[str], sort: bool = True) -> FieldError:
    """`Unsupported value: <v>: supported values: "a", "b"` (values sorted, as upstream's sets.List; `sort=False`
    keeps the caller's order, for upstream callers that pass a literal list)."""
    values = sorted(supported) if sort else list(supported)
    detail = "supported values: " + ", ".join(go_quote(v) for v in values) if values else ""
    return FieldError(ErrorType.NOT_SUPPORTED, field, value, detail)


def duplicate(field: str, value: Any) -> FieldError:
    return FieldError(ErrorType.DUPLICATE, field, value, "")


def too_many(field: str, actual: int, maximum: int) -> FieldError:
    detail = f"must have at most {maximum} {'item' if maximum == 1 else 'items'}"
    return FieldError(ErrorType.TOO_MANY, field, actual, detail)


def too_long(field: str, value: Any, maximum: int) -> FieldError:
    """The value is never shown; only the limit in bytes."""
    del value
    detail = f"may not be more than {maximum} {'byte' if maximum == 1 else 'bytes'}"
    return FieldError(ErrorType.TOO_LONG, field, "<value omitted>", detail)


def forbidden(field: str, detail: str) -> FieldError:
    return FieldError(ErrorType.FORBIDDEN, field, "", detail)


def internal(field: str, detail: str) -> FieldError:
    return FieldError(ErrorType.INTERNAL, field, detail, detail)


def not_found(field: str, value: Any) -> FieldError:
    return FieldError(ErrorType.NOT_FOUND, field, value, "")


def type_invalid(field: str, value: Any, detail: str) -> FieldError:
    return FieldError(ErrorType.TYPE_INVALID, field, value, detail)
