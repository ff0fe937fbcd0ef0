"""RFC 6902 JSON patch (`application/json-patch+json`) with kube-apiserver's limits and errors.

Upstream (k8s.io/apiserver endpoints/handlers/patch.go) decodes the body with evanphx/json-patch,
rejects a body that is not an array of objects with 400, more than 10000 operations with 413, and
any operation that fails with a 422 whose message is the generic `REJECTED` text. `copy` operations may
add at most `MAX_COPY_BYTES` to the document all together (the server's `JSONPatchMaxCopyBytes`, given
to evanphx's `AccumulatedCopySizeLimit`): without the cap, copying a value into itself N times doubles
the document N times.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer
import orjson

from apiserver.decoding import go_json_kind
from apiserver.patch.errors import PatchError

MAX_OPERATIONS = 10000
MAX_COPY_BYTES = 3 * 1024 * 1024
_ABSENT = object()


def json_patch(target: dict[str, Any], ops: Any) -> dict[str, Any]:
    """Apply the operations `ops` to a copy of `target` and return it.

    Raises:
        PatchError: 400 when `ops` is not an array of objects, 413 when it holds more than
            `MAX_OPERATIONS`, 422 when an operation fails or the result is not an object.
    """
    _check_shape(ops)
    if len(ops) > MAX_OPERATIONS:
        raise PatchError(
            413,
            "Request entity too large: The allowed maximum operations in a JSON patch is "
            f"{MAX_OPERATIONS}, got {len(ops)}",
        )
    doc: Any = copy.deepcopy(target)
    copied = 0
    for op in ops:
        try:
            if op.get("op") == "copy":
                copied += _copy_size(doc, op)
                if copied > MAX_COPY_BYTES:
                    raise PatchError.rejected(f"Unable to complete the copy, the accumulated size increase of copy is "
                                              f"{copied}, exceeding the limit {MAX_COPY_BYTES}")
            doc = jsonpatch.apply_patch(doc, [op], in_place=True)
        except jsonpatch.JsonPatchTestFailed:
            resolves = jsonpointer.resolve_pointer(doc, op["path"], _ABSENT) is not _ABSENT
            raise PatchError.rejected(_test_failed(op) if resolves else _missing(op)) from None
        except (jsonpatch.JsonPatchConflict, jsonpointer.JsonPointerException):
            raise PatchError.rejected(_missing(op)) from None
        except jsonpatch.JsonPatchException as exc:
            raise PatchError.rejected(str(exc)) from None
    if not isinstance(doc, dict):
        kind = go_json_kind(doc)
        raise PatchError.rejected(f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}")
    return doc


def _copy_size(doc: Any, op: dict[str, Any]) -> int:
    """The bytes a `copy` adds, as evanphx counts them: the length of Go's JSON of the copied value (compact,
    with `<`, `>`, `&` escaped as \\u003c and so on); 0 when `from` does not resolve (the copy fails anyway)."""
    source = op.get("from")
    value = jsonpointer.resolve_pointer(doc, source, _ABSENT) if isinstance(source, str) else _ABSENT
    if value is _ABSENT:
        return 0
    text = orjson.dumps(value)
    escaped = text.count(b"<") + text.count(b">") + text.count(b"&")
    return len(text) + 5 * escaped + 3 * (text.count("\u2028".encode()) + text.count("\u2029".encode()))


def _check_shape(ops: Any) -> None:
    """The 400s of evanphx's DecodePatch: the body must be an array of objects."""
    if not isinstance(ops, list):
        raise PatchError(400, f"json: cannot unmarshal {go_json_kind(ops)} into Go value of type jsonpatch.Patch")
    for op in ops:
        if not isinstance(op, dict):
            raise PatchError(
                400, f"json: cannot unmarshal {go_json_kind(op)} into Go value of type jsonpatch.Operation"
            )


def _test_failed(op: dict[str, Any]) -> str:
    return f"testing value {op.get('path', '')} failed: test failed"


def _missing(op: dict[str, Any]) -> str:
    """evanphx's wording for an operation whose path (or `from`) does not resolve."""
    if op.get("op") == "test":
        return f"test operation does not apply: is missing path: {op.get('path', '')}: missing value"
    path = op.get("from") if op.get("op") in ("move", "copy") else op.get("path")
    return f'{op.get("op")} operation does not apply: doc is missing path: "{path}": missing value'
