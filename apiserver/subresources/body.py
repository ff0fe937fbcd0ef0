"""Request bodies of a subresource's own kind (Binding, Eviction): type, kind and apiVersion checks as upstream's."""

from __future__ import annotations

from typing import Any

from apiserver import errors
from apiserver.decoding import decode
from apiserver.kinds.base import Obj
from apiserver.options import WriteOptions
from apiserver.schema import Object


def decode_subresource_body(body: Any, schema: Object, kind: str, api_versions: tuple[str, ...],
                            opts: WriteOptions) -> Obj:
    """`body` as an object of `kind` in one of `api_versions` (the first is the one named in errors); unknown
    fields per fieldValidation, as for any create."""
    if not isinstance(body, dict):
        raise errors.bad_request(f"Object '{kind}' is invalid: body must be a JSON object")
    version = str(body.get("apiVersion") or api_versions[0])
    sent = body.get("kind") or kind
    short = version.rsplit("/", 1)[-1]
    if sent != kind or version not in api_versions:
        raise errors.bad_request(f'{sent} in version "{short}" cannot be handled as a {kind}: converting '
                                 f"({short}.{sent}) to ({_package(api_versions[0])}.{kind}): unknown conversion")
    mismatch, unknown = decode(body, schema, kind)
    prefix = f'{kind} in version "{short}" cannot be handled as a {kind}: '
    if mismatch:
        raise errors.bad_request(prefix + mismatch)
    if unknown and opts.field_validation == "Strict":
        raise errors.bad_request(prefix + "strict decoding error: " + ", ".join(unknown))
    if opts.field_validation == "Warn":
        opts.warnings += unknown
    body.setdefault("metadata", {})
    return body


def _package(api_version: str) -> str:
    """The internal Go package of a group: `core` for v1, `policy` for policy/v1."""
    return api_version.split("/")[0].split(".")[0] if "/" in api_version else "core"


def check_name(obj: Obj, name: str, kind: str) -> None:
    """The object's name must be the URL's (kube-apiserver's named creaters check it before anything else)."""
    if obj["metadata"].get("name") != name:
        raise errors.bad_request(f"name in URL does not match name in {kind} object")


SUCCESS: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
"""What a create through pods/binding or pods/eviction answers (201)."""
