"""RFC 6902 JSON patch (`application/json-patch+json`) with kube-apiserver's limits and errors.

Upstream (k8s.io/apiserver endpoints/handlers/patch.go) decodes the body with evanphx/json-patch,
rejects a body that is not an array of objects with 400, more than 10000 operations with 413, and
any operation that fails with a 422 whose message is the generic `REJECTED` text.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer

from apiserver.decoding import go_json_kind
from apiserver.patch.errors import PatchError

MAX_OPERATIONS = 10000
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
    for op in ops:
        try:
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
