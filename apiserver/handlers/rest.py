"""The REST verbs: get, list, create, update, patch, delete, deletecollection (watch is in watch.py).

Each handler resolves the target, decodes and checks the body against the kind's schema, calls
the registry and writes the result in the negotiated form. Errors are raised as StatusError and
written by the error middleware.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from apiserver import errors, serializer, tables
from apiserver.cacher.event import list_item
from apiserver.decoding import apply_defaults, check_types, decode, go_json_kind
from apiserver.deletion import DeleteOptions, parse_delete_options
from apiserver.handlers import encoded, negotiation
from apiserver.handlers.negotiation import Output
from apiserver.handlers.resolve import Target
from apiserver.kinds.base import Kind, Obj
from apiserver.kinds.meta import DELETE_OPTIONS
from apiserver.kind_storage import KIND_STORAGE
from apiserver.managedfields import manager_name
from apiserver.options import WriteOptions, parse_list_options, parse_write_options
from apiserver.patch.apply import ApplyConflict, apply
from apiserver.patch.errors import PatchError
from apiserver.patch.jsonpatch import json_patch
from apiserver.patch.merge import merge_patch
from apiserver.patch.strategic import go_format, strategic_merge_patch
from apiserver.protobuf import envelope
from apiserver.protobuf.values import ProtobufError
from apiserver.registry import ListResult, Registry, now
from apiserver.schema import Array, Map, Object, Schema
from apiserver.state import CONFIG, INFO
from apiserver.validation.field import go_json, go_quote

MAX_BODY_BYTES = 3 * 1024 * 1024


def body_limit(app: web.Application) -> int:
    """The largest request body: 3 MiB (kube-apiserver's), or twice a raised --max-request-bytes."""
    return max(MAX_BODY_BYTES, 2 * app[CONFIG].max_request_bytes)


def respond(request: web.Request, body: Any, status: int = 200, output: Output | None = None) -> web.Response:
    output = output or negotiation.negotiate(request)
    return respond_encoded(request, output.dumps(body), output, status)


def respond_encoded(request: web.Request, data: bytes, output: Output, status: int = 200) -> web.Response:
    """A response of bytes already encoded in `output`'s form."""
    response = web.Response(body=data, status=status, content_type=output.content_type)
    negotiation.add_warnings(response, request[INFO].warnings)
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
        return tables.partial_metadata(obj, output.meta_api_version, kind)
    return obj


def render_list(kind: Kind, result: ListResult, output: Output) -> Any:
    meta = list_meta(result)
    if output.form == "table":
        tables.check_include_object(output.include_object)
        return tables.table(kind, result.items, meta, output.include_object, api_version=output.meta_api_version)
    if output.form == "partial":
        if not output.as_list:
            raise errors.StatusError(406, "NotAcceptable", "you requested PartialObjectMetadata, but the requested "
                                     f"object is a list ({go_type(kind, 'List')})")
        return tables.partial_metadata_list(result.items, meta, output.meta_api_version, kind)
    if kind.unstructured:  # an unstructured list writes its ListMeta as a map: continue even when empty
        return {"kind": kind.list_kind, "apiVersion": kind.api_version, "metadata": {"continue": "", **meta},
                "items": result.items}
    return {"kind": kind.list_kind, "apiVersion": kind.api_version, "metadata": meta,
            "items": [list_item(item) for item in result.items]}


def list_meta(result: ListResult) -> Obj:
    meta: Obj = {"resourceVersion": str(result.resource_version)}
    if result.continue_token:
        meta["continue"] = result.continue_token
        if result.remaining is not None:
            meta["remainingItemCount"] = result.remaining
    return meta


def go_type(kind: Kind, suffix: str = "") -> str:
    """The internal Go type upstream names in conversion errors: `*discovery.EndpointSlice`, `*core.PodList`."""
    package = kind.group.split(".")[0] if kind.group else "core"
    return f"*{package}.{kind.kind}{suffix}"


def registry_for(request: web.Request, target: Target) -> Registry:
    return request.app[KIND_STORAGE].registry(target.kind)


async def read_body(request: web.Request) -> bytes:
    """The raw request body, refused with 413 past the limit."""
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
    return body


async def read_parsed_body(request: web.Request, kind: str) -> Any:
    """The body of a request whose object (`kind`, named in errors) has no protobuf form here, parsed from JSON or
    YAML (None when empty)."""
    body = await read_body(request)
    media = negotiation.media_type(request)
    if media == envelope.MEDIA_TYPE:
        raise unsupported_protobuf(kind)
    if not body.strip():
        return None
    try:
        return serializer.parse_yaml(body) if media in serializer.YAML_TYPES else serializer.parse_json(body)
    except serializer.DecodeError as err:
        raise errors.bad_request(err.message) from None


def unsupported_protobuf(kind: str) -> errors.StatusError:
    """A protobuf body of a kind we have no protobuf form for."""
    return errors.StatusError(415, "UnsupportedMediaType",
                              f"the body of the request was in an unknown format - protobuf request bodies of {kind} "
                              "are not supported by this server; accepted media types include: application/json, "
                              "application/yaml")


def protobuf_body(body: bytes, expected: Kind | None) -> Any:
    """A protobuf body's object (kubectl 1.32's typed clients send them, e.g. for create namespace), which must be of
    the `expected` kind (None: DeleteOptions, of any version). A kind without a protobuf form here is refused as not
    served; anything else gets kube-apiserver's decoder's 400."""
    kind = expected.kind if expected is not None else "DeleteOptions"
    if body.startswith(envelope.PREFIX):
        try:
            obj = envelope.decode(body)
        except envelope.UnknownType:
            raise unsupported_protobuf(kind) from None
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


async def read_object(request: web.Request, kind: Kind, opts: WriteOptions) -> Obj:
    """A create or update body decoded as upstream's codec does, its strict errors refused or warned per fieldValidation."""
    body = await read_body(request)
    media = negotiation.media_type(request)
    if media == envelope.MEDIA_TYPE:
        obj = protobuf_body(body, kind)
        # its defaults: a protobuf body has no unknown fields and no type errors, but a quantity may not parse
        mismatch, _ = decode(obj, kind.schema, kind.kind)
        if mismatch:
            raise errors.bad_request(f'{kind.kind} in version "{kind.version}" cannot be handled as a {kind.kind}: '
                                     f"{mismatch}")
        return finish_object(kind, obj)
    if media not in serializer.YAML_TYPES and media not in ("application/json", "", *negotiation.PATCH_TYPES):
        raise errors.unsupported_media_type(media, negotiation.ACCEPTED)
    try:
        obj, strict = serializer.decode_object(kind, body, media, opts.field_validation)
    except serializer.DecodeError as err:
        raise errors.bad_request(err.message) from None
    if strict and opts.field_validation == "Strict":
        raise errors.bad_request(f'{kind.kind} in version "{kind.version}" cannot be handled as a {kind.kind}: '
                                 f'strict decoding error: {", ".join(strict)}')
    opts.warnings += strict
    return finish_object(kind, obj)


async def read_delete_options(request: web.Request, opts: WriteOptions) -> DeleteOptions:
    """The DeleteOptions of the body, or of the query without one, validated before the object is looked up;
    a body's dryRun overrides the query's."""
    options = parse_delete_options(await delete_options_body(request), request.query)
    if options.dry_run is not None:
        opts.dry_run = options.dry_run
    return options


async def delete_options_body(request: web.Request) -> Obj | None:
    """A DeleteOptions body (None without one): errors in it are 500s upstream (its decoding error is not typed)."""
    body = await read_body(request)
    if negotiation.media_type(request) == envelope.MEDIA_TYPE and body:  # a DELETE may have no body, whatever its type
        options: Obj = protobuf_body(body, None)
        return options
    if not body.strip():
        return None
    try:
        options = serializer.parse_json(body)
    except serializer.DecodeError as err:
        raise errors.untyped(500, f"couldn't get version/kind; json parse error: {err.message}") from None
    if options is None:
        return None
    if not isinstance(options, dict):
        raise errors.untyped(500, f"couldn't get version/kind; json parse error: json: cannot unmarshal "
                                  f"{go_json_kind(options)} into Go value of type {serializer.FIND_KIND_TYPE}")
    for field in ("apiVersion", "kind"):
        if options.get(field) is not None and not isinstance(options[field], str):
            raise errors.untyped(500, f"couldn't get version/kind; json parse error: json: cannot unmarshal "
                                      f"{go_json_kind(options[field])} into Go struct field .{field} of type string")
    if options.get("kind") not in (None, "", "DeleteOptions"):
        version = options.get("apiVersion") or "meta.k8s.io/v1"
        raise errors.untyped(500, f'no kind {go_quote(options["kind"])} is registered for version '
                                  f'{go_quote(version)} in scheme "pkg/runtime/scheme.go:100"')
    mismatch = check_types(options, DELETE_OPTIONS, "DeleteOptions")
    if mismatch:
        raise errors.untyped(500, mismatch)
    return options


def write_options(request: web.Request) -> WriteOptions:
    what = {"PUT": "UpdateOptions", "PATCH": "PatchOptions", "DELETE": "DeleteOptions"}.get(request.method)
    apply = negotiation.media_type(request) == serializer.APPLY_PATCH
    opts = parse_write_options(request.query, what or "CreateOptions", apply)
    opts.field_manager = manager_name(opts.field_manager or None, request.headers.get("User-Agent"))
    opts.warnings = request[INFO].warnings
    return opts


def check_object(kind: Kind, obj: Any, opts: WriteOptions, strict: list[str] | None = None,
                 shown: str | None = None, visited: Any = None) -> Obj:
    """A patched object checked as upstream decodes it: kind/apiVersion, type, unknown fields, defaults.

    A kind the codec cannot read as `kind`, a type error, or with fieldValidation=Strict any strict error
    (the patch's own `strict`, then the result's unknown fields), is upstream's 422 for the patch, showing
    `shown` as the invalid value: a strategic patch (whose result is converted without its kind) passes
    its own %v, the others none, and the patched object's JSON is shown; with Warn strict errors warn."""
    if not isinstance(obj, dict):
        raise errors.bad_request(f"Object '{kind.kind}' is invalid: body must be a JSON object")
    if shown is None:  # a JSON or merge patch: the result goes through the codec, which reads its kind
        shown = go_json(_as_patched(obj, visited or {}, kind.schema))
        error = serializer.gvk_error(kind, str(obj.get("apiVersion") or kind.api_version),
                                     str(obj.get("kind") or kind.kind))
        if error:
            raise errors.invalid_patch(shown, error)
    mismatch, unknown = decode(obj, kind.schema, kind.kind)
    if mismatch:
        raise errors.invalid_patch(shown, mismatch)
    unknown = [*(strict or ()), *unknown]
    if unknown and opts.field_validation == "Strict":
        raise errors.invalid_patch(shown, "strict decoding error: " + ", ".join(unknown))
    if opts.field_validation == "Warn":
        opts.warnings += unknown
    return finish_object(kind, obj)


def _as_patched(value: Any, visited: Any, schema: Schema | None) -> Any:
    """A patched object as upstream's patch libraries marshal it for a strict-decoding 422: the containers the
    patch descended into (`visited`, a tree of their keys) are maps with sorted keys; everything else stays
    the original document's JSON, in the Go struct's field order (the schema's)."""
    if isinstance(value, list):
        items = schema.items if isinstance(schema, Array) else None
        return [_as_patched(item, (visited or {}).get(str(i)), items) for i, item in enumerate(value)]
    if not isinstance(value, dict):
        return value
    if isinstance(schema, Object):
        fields = schema.properties
        keys = sorted(value) if isinstance(visited, dict) else \
            sorted(value, key=lambda k: list(fields).index(k) if k in fields else len(fields))
        return {k: _as_patched(value[k], (visited or {}).get(k), fields.get(k)) for k in keys}
    values = schema.values if isinstance(schema, Map) else None
    keys = sorted(value) if isinstance(visited, dict) or isinstance(schema, Map) else list(value)
    return {k: _as_patched(value[k], (visited or {}).get(k), values) for k in keys}


def _merge_patch_visits(patch: Any) -> Any:
    """The containers a JSON merge patch descends into: its own objects."""
    return {k: _merge_patch_visits(v) for k, v in patch.items()} if isinstance(patch, dict) else None


def _json_patch_visits(ops: Any) -> dict[str, Any]:
    """The containers JSON patch operations descend into: every ancestor of their paths (and `from`s)."""
    tree: dict[str, Any] = {}
    for op in ops if isinstance(ops, list) else ():
        for pointer in (op.get("path"), op.get("from")) if isinstance(op, dict) else ():
            node = tree
            tokens = str(pointer or "").split("/")[1:]
            for token in tokens[:-1]:
                node = node.setdefault(token.replace("~1", "/").replace("~0", "~"), {})
    return tree


def finish_object(kind: Kind, obj: Obj) -> Obj:
    """The decoded object as Go holds it: its kind and apiVersion set, metadata's empty maps and lists gone
    (omitempty), so that `labels: {}` alone changes nothing."""
    obj["kind"], obj["apiVersion"] = kind.kind, kind.api_version
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise errors.bad_request("metadata must be an object")
    for name in ("labels", "annotations", "finalizers", "ownerReferences"):
        if name in meta and not meta[name]:
            del meta[name]
    return obj


async def get(request: web.Request, target: Target) -> web.StreamResponse:
    output = negotiation.negotiate(request, kind=target.kind)
    registry = registry_for(request, target)
    obj = await registry.get(target.namespace, target.name)
    if encoded.served(output):
        body = encoded.object_body(registry, obj, output)
        if body is not None:
            return respond_encoded(request, body, output)
    return respond(request, render_object(target.kind, obj, output), output=output)


async def list_(request: web.Request, target: Target) -> web.StreamResponse:
    output = negotiation.negotiate(request, kind=target.kind)
    opts = parse_list_options(target.kind, request.query, watch=False)
    registry = registry_for(request, target)
    result = await registry.list(target.namespace, opts)
    if encoded.served(output):
        meta = {"continue": "", **list_meta(result)} if target.kind.unstructured else list_meta(result)
        return respond_encoded(request, encoded.list_body(registry, target.kind, result, meta, output), output)
    return respond(request, render_list(target.kind, result, output), output=output)


async def create(request: web.Request, target: Target) -> web.StreamResponse:
    output = negotiation.negotiate(request, kind=target.kind)
    opts = write_options(request)
    obj = await read_object(request, target.kind, opts)
    created = await registry_for(request, target).create(target.namespace, obj, opts)
    return respond(request, render_object(target.kind, created, output), 201, output)


async def update(request: web.Request, target: Target) -> web.StreamResponse:
    output = negotiation.negotiate(request, kind=target.kind)
    opts = write_options(request)
    obj = await read_object(request, target.kind, opts)
    allow_create = target.kind.strategy.allow_create_on_update and not target.subresource
    registry = registry_for(request, target)
    sent = {name: obj["metadata"].get(name) for name in ("resourceVersion", "uid")}

    def replace(current: Obj | None) -> Obj:
        # the registry prepares `obj` in place (resourceVersion and uid too): a retry after a lost race starts again
        # from the client's preconditions, none for an unconditional PUT
        for name, value in sent.items():
            if value is None:
                obj["metadata"].pop(name, None)
            else:
                obj["metadata"][name] = value
        uid = sent["uid"]
        if uid and current is not None and uid != current["metadata"].get("uid"):  # the body's uid: a precondition
            raise errors.conflict(target.kind, target.name, why=(
                f"StorageError: invalid object, Code: 4, Key: {registry.key(target.namespace, target.name)}, "
                f"ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: {uid}, "
                f"UID in object meta: {current['metadata'].get('uid')}"))
        return obj

    stored, created = await registry.update(target.namespace, target.name, replace, opts, target.subresource,
                                            allow_create)
    return respond(request, render_object(target.kind, stored, output), 201 if created else 200, output)


async def patch(request: web.Request, target: Target) -> web.StreamResponse:
    output = negotiation.negotiate(request, kind=target.kind)
    opts = write_options(request)
    media = negotiation.media_type(request)  # one of PATCH_TYPES: the route checked it
    body = await read_body(request)
    kind = target.kind
    is_apply = media == serializer.APPLY_PATCH
    manager = opts.field_manager
    if is_apply:
        manager, opts.field_manager = request.query["fieldManager"], ""  # apply records its own entry

    def mutate(current: Obj | None) -> Obj:
        try:
            patch_body, strict = serializer.decode_patch(media, body, opts.field_validation)
        except serializer.DecodeError as err:
            raise errors.bad_request(err.message) from None
        try:
            if is_apply:
                return _apply(kind, current, patch_body, manager, opts, target.subresource)
            assert current is not None
            shown, visited = None, None
            if media == serializer.JSON_PATCH:
                patched, visited = json_patch(current, patch_body), _json_patch_visits(patch_body)
            elif media == serializer.MERGE_PATCH:
                patched, visited = merge_patch(current, patch_body), _merge_patch_visits(patch_body)
            else:
                patched = strategic_merge_patch(current, patch_body, kind.schema)
                shown = go_format(patch_body)
        except PatchError as err:
            # upstream's NewGenericServerResponse (the 422 for a patch that does not apply) has empty details
            details: dict[str, Any] | None = {} if err.code == 422 else None
            raise errors.StatusError(err.code, _reason(err.code), err.message, details) from None
        except ApplyConflict as err:
            raise errors.StatusError(409, "Conflict", err.message, {"causes": err.causes()}) from None
        return check_object(kind, patched, opts, strict, shown, visited)

    registry = registry_for(request, target)
    stored, created = await registry.update(target.namespace, target.name, mutate, opts, target.subresource,
                                            allow_create=is_apply and not target.subresource)
    return respond(request, render_object(kind, stored, output), 201 if created else 200, output)


def _apply(kind: Kind, current: Obj | None, config: Any, manager: str, opts: WriteOptions, subresource: str) -> Obj:
    """Server-side apply of `config`; what upstream refuses before merging: a wrong type (400), an
    apiVersion/kind other than the URL's (400), fields the schema lacks (500, whatever fieldValidation says)."""
    if not isinstance(config, dict):
        raise errors.bad_request(f"Object '{kind.kind}' is invalid: body must be a JSON object")
    api_version, body_kind = config.get("apiVersion") or "", config.get("kind") or ""
    if (api_version, body_kind) != (kind.api_version, kind.kind):
        group, _, version = str(api_version).rpartition("/")
        raise errors.bad_request(f"invalid object type: {group}/{version}, Kind={body_kind}")
    meta: Obj = config["metadata"] if isinstance(config.get("metadata"), dict) else {}
    mismatch = check_types(config, kind.schema, kind.kind)
    unknown = [] if mismatch else serializer.typed_patch_errors(config, kind.schema)
    if mismatch or unknown:
        where = f"{meta.get('namespace') or ''}/{meta.get('name') or ''}; {kind.api_version}, Kind={kind.kind}"
        detail = mismatch or (unknown[0] if len(unknown) == 1 else "errors:\n" + "".join(f"  {u}\n" for u in unknown))
        raise errors.untyped(500, f"failed to create typed patch object ({where}): {detail.rstrip()}")
    # The configuration as sent, undefaulted (as upstream): a default such as addressType "" would
    # otherwise count as applied and conflict with, or overwrite, the owner's value.
    config = copy.deepcopy(config)
    merged = apply(current, config, manager, opts.force, kind.api_version, kind.schema, now(), subresource,
                   kind.strategy.reset_fields(subresource))
    apply_defaults(merged, kind.schema)
    return merged


def _reason(code: int) -> str:
    return {400: "BadRequest", 413: "RequestEntityTooLarge", 422: "Invalid", 409: "Conflict"}.get(code, "")


async def delete(request: web.Request, target: Target) -> web.StreamResponse:
    output = negotiation.negotiate(request, kind=target.kind)
    opts = write_options(request)
    options = await read_delete_options(request, opts)
    obj, removed = await registry_for(request, target).delete(target.namespace, target.name, options, opts)
    if target.kind.strategy.return_deleted_object or not removed:
        return respond(request, render_object(target.kind, obj, output), output=output)
    return respond(request, deleted_status(target.kind, obj), output=output)


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
    options = await read_delete_options(request, opts)
    registry = registry_for(request, target)
    deleted = await registry.delete_collection(target.namespace, list_opts, options, opts)
    result = ListResult(deleted, await registry.storage.current_revision())
    return respond(request, render_list(target.kind, result, output), output=output)
