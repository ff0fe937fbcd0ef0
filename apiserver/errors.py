"""Kubernetes `Status` errors, and the one place storage errors become them.

Handlers raise `StatusError`; the error middleware writes `to_status()` with the HTTP code.
Constructors follow k8s.io/apimachinery/pkg/api/errors: message texts, reasons and the
`details` shape (`kind` is the resource for NotFound/AlreadyExists/Conflict, the Kind for Invalid).
"""

from __future__ import annotations

from typing import Any

from apiserver.kinds.base import Kind
from apiserver.validation import field as fielderr
from apiserver.validation.field import ErrorList
from storage.errors import (
    CompactedError,
    ConflictError,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    StorageError,
    TooLargeError,
    UnavailableError,
)

OPTIMISTIC_LOCK = "the object has been modified; please apply your changes to the latest version and try again"


class StatusError(Exception):
    """An API error carried to the client as a `Status` object."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.list_continue = ""

    def __repr__(self) -> str:
        return f"StatusError({self.code}, {self.reason!r}, {self.message!r})"

    def to_status(self) -> dict[str, Any]:
        metadata = {"continue": self.list_continue} if self.list_continue else {}
        status: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": metadata, "status": "Failure"}
        if self.message:
            status["message"] = self.message
        if self.reason:
            status["reason"] = self.reason
        if self.details is not None:
            status["details"] = self.details
        status["code"] = self.code
        return status


def _details(kind: Kind, name: str, by_kind: bool = False) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name} if name else {}
    if kind.group:
        details["group"] = kind.group
    details["kind"] = kind.kind if by_kind else kind.plural
    return details


def not_found(kind: Kind, name: str) -> StatusError:
    return StatusError(404, "NotFound", f'{kind.qualified_resource} "{name}" not found', _details(kind, name))


def already_exists(kind: Kind, name: str, suffix: str = "") -> StatusError:
    return StatusError(409, "AlreadyExists", f'{kind.qualified_resource} "{name}" already exists{suffix}',
                       _details(kind, name))


def conflict(kind: Kind, name: str, why: str = OPTIMISTIC_LOCK, by_kind: bool = False) -> StatusError:
    subject = kind.qualified_kind if by_kind else kind.qualified_resource
    return StatusError(409, "Conflict", f'Operation cannot be fulfilled on {subject} "{name}": {why}',
                       _details(kind, name, by_kind))


def invalid(kind: Kind, name: str, errors: ErrorList) -> StatusError:
    kind = kind.view.of if kind.view is not None else kind  # validated in its stored form: named so
    details = _details(kind, name, by_kind=True)
    details["causes"] = errors.causes()
    return StatusError(422, "Invalid", f'{kind.qualified_kind} "{name}" is invalid: {errors.aggregate()}', details)


def invalid_options(what: str, errors: ErrorList) -> StatusError:
    """422 for bad query options, e.g. `ListOptions.meta.k8s.io "" is invalid: …`."""
    details = {"group": "meta.k8s.io", "kind": what, "causes": errors.causes()}
    return StatusError(422, "Invalid", f'{what}.meta.k8s.io "" is invalid: {errors.aggregate()}', details)


def invalid_patch(value: str, detail: str) -> StatusError:
    """422 for a patch whose result does not decode: `"" is invalid: patch: Invalid value: "<value>": <detail>`."""
    errs = ErrorList()
    errs.append(fielderr.invalid("patch", value, detail))
    return StatusError(422, "Invalid", f' "" is invalid: {errs.aggregate()}', {"causes": errs.causes()})


def untyped(code: int, message: str) -> StatusError:
    """An error upstream passes through without a type: the code, the text, no reason and no details."""
    return StatusError(code, "", message)


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def forbidden(message: str, details: dict[str, Any] | None = None) -> StatusError:
    return StatusError(403, "Forbidden", message, details)


def not_found_path() -> StatusError:
    return StatusError(404, "NotFound", "the server could not find the requested resource", {})


def method_not_allowed() -> StatusError:
    return StatusError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})


def expired(message: str) -> StatusError:
    return StatusError(410, "Expired", message)


def too_large_body(limit: int) -> StatusError:
    return StatusError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {limit}")


def unsupported_media_type(content_type: str, accepted: list[str]) -> StatusError:
    return StatusError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: {', '.join(accepted)}",
    )


def not_acceptable(accepted: list[str]) -> StatusError:
    return StatusError(406, "NotAcceptable", f"only the following media types are accepted: {', '.join(accepted)}")


def internal(message: str) -> StatusError:
    return StatusError(500, "InternalError", f"Internal error occurred: {message}",
                       {"causes": [{"message": message}]})


def service_unavailable(message: str) -> StatusError:
    return StatusError(503, "ServiceUnavailable", message)


def from_storage(err: StorageError, kind: Kind, name: str, verb: str) -> StatusError:
    """Translate a storage error for `verb` (create, get, update, delete, list, watch): the only such place."""
    if isinstance(err, KeyNotFoundError):
        return not_found(kind, name)
    if isinstance(err, KeyExistsError):
        return already_exists(kind, name) if verb == "create" else conflict(kind, name)
    if isinstance(err, ConflictError):
        return conflict(kind, name)
    if isinstance(err, TooLargeError):
        # kube-apiserver has no mapping for etcd's limit: a 500 with etcd's text and no reason.
        return StatusError(500, "", str(err))
    if isinstance(err, CompactedError):
        if verb == "list":
            return expired("The resourceVersion for the provided list is too old.")
        return expired("The resourceVersion for the provided watch is too old.")
    if isinstance(err, FutureRevisionError):  # an exact read past the store: etcd's error, passed through
        return untyped(500, "etcdserver: mvcc: required revision is a future revision")
    if isinstance(err, UnavailableError):
        return service_unavailable(f"storage is unavailable: {err}")
    return internal(str(err))
