"""The LIST continue token (reference §5.2; upstream `k8s.io/apiserver/pkg/storage/continue.go`).

A token is unpadded base64url of the compact JSON `{"v":"meta.k8s.io/v1","rv":N,"start":S}`, where
`S` is the storage key to resume from, relative to the list's key prefix. The server writes the
last returned key plus NUL, the smallest key after it. Tokens are byte-for-byte what Go writes, so
a client may hand ours to a real server and the other way round.

Key arithmetic, for the prefix `/registry/endpointslices/default/`:

    continue_start("/registry/endpointslices/default/web-1", prefix) == "web-1\\0"
    resume_key(prefix, "web-1\\0") == "/registry/endpointslices/default/web-1\\0"
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from apiserver.gojson import syntax_error
from apiserver.validation.field import go_json

__all__ = ["ContinueError", "continue_start", "decode_continue", "encode_continue", "resume_key"]

_VERSION = "meta.k8s.io/v1"
_INVALID = "continue key is not valid"


class ContinueError(ValueError):
    """A continue token the server cannot use; the message is upstream's text (HTTP 400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"ContinueError({self.message!r})"


def encode_continue(rv: int, start_key: str) -> str:
    """Token resuming a list read at revision `rv` from `start_key` (relative to the key prefix)."""
    payload = go_json({"v": _VERSION, "rv": rv, "start": start_key})
    return base64.urlsafe_b64encode(payload.encode("utf-8")).rstrip(b"=").decode("ascii")


def continue_start(last_key: str, key_prefix: str) -> str:
    """Token start for a page whose last item is stored at `last_key`: the next key after it."""
    key = last_key + "\0"
    if not key_prefix or not key.startswith(key_prefix):
        raise ValueError(f"unable to encode next field: the key and key prefix do not match {key_prefix} {key}")
    return key[len(key_prefix) :]


def resume_key(key_prefix: str, start: str) -> str:
    """Storage key to resume from; `start` comes from `decode_continue`, so it cannot escape the prefix."""
    return key_prefix + start


def decode_continue(token: str) -> tuple[int, str]:
    """Return `(rv, start)` from a token, or raise ContinueError with upstream's message.

    `start` is checked the way upstream defends against path traversal: as an absolute path it
    must already be clean (no `..`, `.` or doubled slashes), so `resume_key` stays under the prefix.
    An `rv` of -1 (from a 410 "continue at latest" token) is accepted; 0 is not.
    """
    data = _raw_url_b64decode(token)
    version, rv, start = _unmarshal(data)
    if version != _VERSION:
        raise ContinueError(f"{_INVALID}: server does not recognize this encoded version {version}")
    if rv == 0:
        raise ContinueError(f"{_INVALID}: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    if not start:
        raise ContinueError(f"{_INVALID}: encoded start key empty (version meta.k8s.io/v1)")
    key = start if start.startswith("/") else "/" + start
    if _clean_rooted(key) != key:
        raise ContinueError(f"{_INVALID}: {start}")
    return rv, key[1:]


def _clean_rooted(path: str) -> str:
    """Go's `path.Clean` for a path starting with `/` (unlike posixpath, `//a` becomes `/a`)."""
    parts: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if parts:
                parts.pop()
        elif segment not in ("", "."):
            parts.append(segment)
    return "/" + "/".join(parts)


_B64_ALPHABET = re.compile(rb"[A-Za-z0-9_-]")


def _raw_url_b64decode(token: str) -> bytes:
    """`base64.RawURLEncoding.DecodeString`: no padding, CR/LF skipped, Go's error offsets."""
    raw = token.encode("utf-8", "surrogateescape")
    kept = 0
    for offset, byte in enumerate(raw):
        if byte in b"\r\n":
            continue
        if not _B64_ALPHABET.fullmatch(bytes([byte])):
            raise ContinueError(f"{_INVALID}: illegal base64 data at input byte {offset}")
        kept += 1
    if kept % 4 == 1:
        raise ContinueError(f"{_INVALID}: illegal base64 data at input byte {len(raw) - 1}")
    clean = raw.replace(b"\r", b"").replace(b"\n", b"")
    return base64.urlsafe_b64decode(clean + b"=" * (-len(clean) % 4))


class _Number(str):
    """A JSON number kept as its source text, so range errors can quote it as Go does."""


_FIELDS = {"v": "string", "rv": "int64", "start": "string"}
_INT64_RE = re.compile(r"-?(0|[1-9][0-9]*)")


def _json_kind(value: Any) -> str:
    if isinstance(value, _Number):
        return "number"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _unmarshal(data: bytes) -> tuple[str, int, str]:
    """`json.Unmarshal` into upstream's continueToken, with Go's messages for the common failures.

    As in Go, keys match case-insensitively, unknown keys and nulls are ignored, the last duplicate
    wins, and a type mismatch is reported only after the whole document has decoded. Nesting deeper than
    `decoding.MAX_DEPTH` is refused as Go refuses it past 10000 (`exceeded max depth`).
    """
    text = data.decode("utf-8", "replace")
    error = syntax_error(data)  # first, so a document nested too deep for json.loads never reaches it
    if error:
        raise ContinueError(f"{_INVALID}: {error}")
    try:
        document = json.loads(text, parse_int=_Number, parse_float=_Number, parse_constant=_reject_constant)
    except ValueError as err:
        raise ContinueError(f"{_INVALID}: {err}") from None
    if not isinstance(document, dict):
        if document is None:
            return "", 0, ""
        kind = _json_kind(document)
        raise ContinueError(f"{_INVALID}: json: cannot unmarshal {kind} into Go value of type storage.continueToken")
    found: dict[str, Any] = {}
    type_error = ""
    for key, value in document.items():
        name = key.lower()
        if name not in _FIELDS or value is None:
            continue
        want, kind = _FIELDS[name], _json_kind(value)
        if want == "int64" and kind == "number" and _INT64_RE.fullmatch(value) and -(2**63) <= int(value) < 2**63:
            found[name] = int(value)
        elif want == "string" and kind == "string":
            found[name] = value
        elif not type_error:
            shown = f"number {value}" if kind == "number" and want == "int64" else kind
            type_error = f"json: cannot unmarshal {shown} into Go struct field continueToken.{name} of type {want}"
    if type_error:
        raise ContinueError(f"{_INVALID}: {type_error}")
    return found.get("v", ""), found.get("rv", 0), found.get("start", "")
