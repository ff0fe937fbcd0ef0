"""The REST verbs: get, list, create, update, patch, delete, deletecollection (watch is in watch.py).

Each handler resolves the target, decodes and checks the body against the kind's schema, calls
the registry and writes the result in the negotiated form. Errors are raised as StatusError and
written by the error middleware.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from apiserver import errors, tables
from apiserver.decoding import apply_defaults, decode, prune_unknown
from apiserver.deletion import DeleteOptions, parse_delete_options
from apiserver.handlers import negotiation
from apiserver.handlers.negotiation import Output
from apiserver.handlers.resolve import Target
from apiserver.kinds.base import Kind, Obj
from apiserver.managedfields import manager_name
from apiserver.options import WriteOptions, parse_list_options, parse_write_options
from apiserver.patch.apply import ApplyConflict, apply
from apiserver.patch.errors import PatchError
from apiserver.patch.jsonpatch import json_patch
from apiserver.patch.merge import merge_patch
from apiserver.patch.strategic import strategic_merge_patch
from apiserver.protobuf import envelope
from apiserver.protobuf.values import ProtobufError
from apiserver.registry import ListResult, Registry, now
from apiserver.state import CONFIG, INFO, REGISTRIES
from apiserver.validation import field as fielderr

MAX_BODY_BYTES = 3 * 1024 * 1024


def body_limit(app: web.Application) -> int:
    """The largest request body: 3 MiB (kube-apiserver's), or twice a raised --max-request-bytes."""
    return max(MAX_BODY_BYTES, 2 * app[CONFIG].max_request_bytes)


def respond(request: web.Request, body: Any, status: int = 200, output: Output | None = None) -> web.Response:
    output = output or negotiation.negotiate(request)
    response = web.Response(body=output.dumps(body), status=status, content_type=output.content_type)
    info = request[INFO]
    negotiation.add_warnings(response, info.warnings)
    return response


def render_object(kind: Kind, obj: Obj, output: Output) -> Any:
    if output.form == "table":
        tables.check_include_object(output.include_object)
        meta = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
        return tables.table(kind, [obj], meta, output.include_object, api_version=output.meta_api_version)
    if output.form == "partial":
        if output.as_list:
            raise errors.StatusError(406, "NotAcceptable", "you requested PartialObjectMetadataList, but the requested "
                                     f"object is not a list ({go_type(kind)})")
        return tables.partial_metadata(obj, output.meta_api_version)
    return obj


def render_list(kind: Kind, result: ListResult, output: Output) -> Any:
    meta: Obj = {"resourceVersion": str(result.resource_version)}
    if result.continue_token:
        meta["continue"] = result.continue_token
        if result.remaining is not None:
            meta["remainingItemCount"] = result.remaining
    if output.form == "table":
        tables.check_include_object(output.include_object)
        return tables.table(kind, result.items, meta, output.include_object, api_version=output.meta_api_version)
    if output.form == "partial":
        if not output.as_list:
            raise errors.StatusError(406, "NotAcceptable", "you requested PartialObjectMetadata, but the requested "
                                     f"object is a list ({go_type(kind, 'List')})")
        return tables.partial_metadata_list(result.items, meta, output.meta_api_version)
    return {"kind": kind.list_kind, "apiVersion": kind.api_version, "metadata": meta,
            "items": [list_item(item) for item in result.items]}


def go_type(kind: Kind, suffix: str = "") -> str:
    """The internal Go type upstream names in conversion errors: `*discovery.EndpointSlice`, `*core.PodList`."""
    package = kind.group.split(".")[0] if kind.group else "core"
    return f"*{package}.{kind.kind}{suffix}"


def list_item(obj: Obj) -> Obj:
    """An item as a list carries it: without kind and apiVersion, which the list's own TypeMeta implies (as
    kube-apiserver encodes the items of a typed list; watch events and single objects keep them)."""
    item = dict(obj)
    item.pop("kind", None)
    item.pop("apiVersion", None)
    return item


def registry_for(request: web.Request, target: Target) -> Registry:
    return request.app[REGISTRIES][target.kind.plural]


async def read_body(request: web.Request, kind: Kind | None = None) -> Any:
    """The request body, parsed per its Content-Type, as an object of `kind` (None: DeleteOptions)."""
    limit = body_limit(request.app)
    if request.content_length is not None and request.content_length > limit:
        raise errors.too_large_body(limit)
    chunks, size = [], 0
    while chunk := await request.content.readany():  # read(n) may return less than n: read to the end
        size += len(chunk)
        if size > limit:
            raise errors.too_large_body(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    media = negotiation.media_type(request)
    if media == envelope.MEDIA_TYPE and (body or kind is not None):  # a DELETE may have no body, whatever its type
        return protobuf_body(body, kind)
    return negotiation.decode_body(body, media) if body.strip() else None


def protobuf_body(body: bytes, expected: Kind | None) -> Any:
    """A protobuf body's object (kubectl 1.32's typed clients send them, e.g. for create namespace), which must be of
    the `expected` kind (None: DeleteOptions, of any version). A kind without a protobuf form here is refused as not
    served; anything else gets kube-apiserver's decoder's 400."""
    kind = expected.kind if expected is not None else "DeleteOptions"
    if body.startswith(envelope.PREFIX):
        try:
            obj = envelope.decode(body)
        except envelope.UnknownType:
            raise errors.StatusError(415, "UnsupportedMediaType",
                                     f"the body of the request was in an unknown format - protobuf request bodies of "
                                     f"{kind} are not supported by this server; accepted media types include: "
                                     "application/json, application/yaml") from None
        except ProtobufError as err:
            raise errors.bad_request(f"the object provided is unrecognized (must be of type {kind}): {err} "
                                     f"({summary(body)})") from None
        if obj["kind"] != kind or (expected is not None and obj["apiVersion"] != expected.api_version):
            version = obj["apiVersion"].rsplit("/", 1)[-1]
            raise errors.bad_request(f'{obj["kind"]} in version "{version}" cannot be handled as a {kind}: converting '
                                     f'({version}.{obj["kind"]}) to ({go_type(expected)[1:] if expected else kind}): '
                                     "unknown conversion")
        return obj
    prefix = " ".join(str(byte) for byte in envelope.PREFIX)
    why = f"provided data does not appear to be a protobuf message, expected prefix [{prefix}]" if body else "empty data"
    raise errors.bad_request(f"the object provided is unrecognized (must be of type {kind}): {why} ({summary(body)})")


def summary(data: bytes, limit: int = 30) -> str:
    """How kube-apiserver quotes an undecodable body: JSON-looking text as is, anything else in hex, cut at `limit`."""
    if not data:
        return "<empty>"
    shown = data[:limit].decode(errors="replace") if data.startswith(b"{") else data[:limit].hex()
    return shown + " ..." if len(data) > limit else shown


def write_options(request: web.Request) -> WriteOptions:
    opts = parse_write_options(request.query)
    opts.field_manager = manager_name(opts.field_manager or None, request.headers.get("User-Agent"))
    opts.warnings = request[INFO].warnings
    return opts


def check_object(kind: Kind, obj: Any, opts: WriteOptions, decoded: bool = False) -> Obj:
    """Decode a body into an object of `kind`: type, kind/apiVersion, unknown fields per fieldValidation, defaults.

    `decoded`: the body is a create/update request body, whose type errors upstream prefixes with
    `<Kind> in version "<v>" cannot be handled as a <Kind>: `."""
    if not isinstance(obj, dict):
        raise errors.bad_request(f"Object '{kind.kind}' is invalid: body must be a JSON object")
    if obj.get("kind") not in (None, "", kind.kind) or obj.get("apiVersion") not in (None, "", kind.api_version):
        raise errors.bad_request(
            f"the API version in the data ({obj.get('apiVersion')}) does not match the expected API version "
            f"({kind.api_version})" if obj.get("apiVersion") not in (None, "", kind.api_version) else
            f"the kind in the data ({obj.get('kind')}) does not match the expected kind ({kind.kind})")
    mismatch, unknown = decode(obj, kind.schema, kind.kind)
    if mismatch:
        if decoded:
            mismatch = f'{kind.kind} in version "{kind.version}" cannot be handled as a {kind.kind}: {mismatch}'
        raise errors.bad_request(mismatch)
    if unknown and opts.field_validation == "Strict":
        raise errors.bad_request("strict decoding error: " + ", ".join(unknown))
    if opts.field_validation == "Warn":
        opts.warnings += unknown
    obj["kind"], obj["apiVersion"] = kind.kind, kind.api_version
    obj.setdefault("metadata", {})
    if not isinstance(obj["metadata"], dict):
        raise errors.bad_request("metadata must be an object")
    return obj


async def get(request: web.Request, target: Target) -> web.StreamResponse:
    output = negotiation.negotiate(request, kind=target.kind)
    if target.subresource == "status" or not target.subresource:
        obj = await registry_for(request, target).get(target.namespace, target.name)
        return respond(request, render_object(target.kind, obj, output), output=output)
    raise errors.not_found_path()


async def list_(request: web.Request, target: Target) -> web.StreamResponse:
    output = negotiation.negotiate(request, kind=target.kind)
    opts = parse_list_options(target.kind, request.query, watch=False)
    result = await registry_for(request, target).list(target.namespace, opts)
    return respond(request, render_list(target.kind, result, output), output=output)


async def create(request: web.Request, target: Target) -> web.StreamResponse:
    output = negotiation.negotiate(request, kind=target.kind)
    opts = write_options(request)
    obj = check_object(target.kind, await read_body(request, target.kind), opts, decoded=True)
    created = await registry_for(request, target).create(target.namespace, obj, opts)
    return respond(request, render_object(target.kind, created, output), 201, output)


async def update(request: web.Request, target: Target) -> web.StreamResponse:
    output = negotiation.negotiate(request, kind=target.kind)
    opts = write_options(request)
    obj = check_object(target.kind, await read_body(request, target.kind), opts, decoded=True)
    allow_create = target.kind.strategy.allow_create_on_update and not target.subresource
    stored, created = await registry_for(request, target).update(
        target.namespace, target.name, lambda _current: obj, opts, target.subresource, allow_create)
    return respond(request, render_object(target.kind, stored, output), 201 if created else 200, output)


async def patch(request: web.Request, target: Target) -> web.StreamResponse:
    output = negotiation.negotiate(request, kind=target.kind)
    opts = write_options(request)
    media = negotiation.media_type(request)  # one of PATCH_TYPES: the route checked it
    body = await read_body(request, target.kind)
    kind = target.kind
    is_apply = media == "application/apply-patch+yaml"
    manager = opts.field_manager
    if is_apply:
        if not request.query.get("fieldManager"):
            raise _patch_options_invalid("fieldManager", "required", "is required for apply patch")
        manager, opts.field_manager = request.query["fieldManager"], ""  # apply records its own entry
    elif "force" in request.query:
        raise _patch_options_invalid("force", "forbidden", "may not be specified for non-apply patch")

    def mutate(current: Obj | None) -> Obj:
        try:
            if is_apply:
                check_object(kind, copy.deepcopy(body), opts)  # types, kind, unknown fields per fieldValidation
                # The configuration as sent, undefaulted (as upstream): a default such as addressType "" would
                # otherwise count as applied and conflict with, or overwrite, the owner's value.
                config = copy.deepcopy(body)
                prune_unknown(config, kind.schema)
                config["kind"], config["apiVersion"] = kind.kind, kind.api_version
                merged = apply(current, config, manager, opts.force, kind.api_version, kind.schema, now(),
                               target.subresource, kind.strategy.reset_fields(target.subresource))
                apply_defaults(merged, kind.schema)
                return merged
            assert current is not None
            if media == "application/json-patch+json":
                patched = json_patch(current, body)
            elif media == "application/merge-patch+json":
                patched = merge_patch(current, body)
            else:
                if not isinstance(body, dict):
                    raise errors.bad_request("the body of the patch must be a JSON object")
                patched = strategic_merge_patch(current, body, kind.schema)
        except PatchError as err:
            # upstream's NewGenericServerResponse (the 422 for a patch that does not apply) has empty details
            details: dict[str, Any] | None = {} if err.code == 422 else None
            raise errors.StatusError(err.code, _reason(err.code), err.message, details) from None
        except ApplyConflict as err:
            raise errors.StatusError(409, "Conflict", err.message, {"causes": err.causes()}) from None
        return check_object(kind, patched, opts)

    registry = registry_for(request, target)
    stored, created = await registry.update(target.namespace, target.name, mutate, opts, target.subresource,
                                            allow_create=is_apply and not target.subresource)
    return respond(request, render_object(kind, stored, output), 201 if created else 200, output)


def _reason(code: int) -> str:
    return {400: "BadRequest", 413: "RequestEntityTooLarge", 422: "Invalid", 409: "Conflict"}.get(code, "")


def _patch_options_invalid(field: str, kind: str, detail: str) -> errors.StatusError:
    errs = fielderr.ErrorList()
    errs.append(fielderr.required(field, detail) if kind == "required" else fielderr.forbidden(field, detail))
    return errors.invalid_options("PatchOptions", errs)


async def delete(request: web.Request, target: Target) -> web.StreamResponse:
    output = negotiation.negotiate(request, kind=target.kind)
    opts = write_options(request)
    options = await delete_options(request, opts)
    obj, removed = await registry_for(request, target).delete(target.namespace, target.name, options, opts)
    if target.kind.strategy.return_deleted_object or not removed:
        return respond(request, render_object(target.kind, obj, output), output=output)
    return respond(request, deleted_status(target.kind, obj), output=output)


async def delete_options(request: web.Request, opts: WriteOptions) -> DeleteOptions:
    """The DeleteOptions of the body, or of the query without one; a body's dryRun overrides the query's."""
    options = parse_delete_options(await read_body(request), request.query)
    if options.dry_run is not None:
        opts.dry_run = options.dry_run
    return options


def deleted_status(kind: Kind, obj: Obj) -> Obj:
    """What an immediate delete returns (ReturnDeletedObject=false): a Success Status naming the object."""
    details: Obj = {"name": obj["metadata"]["name"]}
    if kind.group:
        details["group"] = kind.group
    details["kind"] = kind.plural
    details["uid"] = obj["metadata"].get("uid", "")
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


async def delete_collection(request: web.Request, target: Target) -> web.StreamResponse:
    output = negotiation.negotiate(request, kind=target.kind)
    opts = write_options(request)
    list_opts = parse_list_options(target.kind, request.query, watch=False)
    options = await delete_options(request, opts)
    registry = registry_for(request, target)
    deleted = await registry.delete_collection(target.namespace, list_opts, options, opts)
    result = ListResult(deleted, await registry.storage.current_revision())
    return respond(request, render_list(target.kind, result, output), output=output)
