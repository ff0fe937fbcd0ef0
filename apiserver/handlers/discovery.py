"""HTTP endpoints for `/version`, discovery and OpenAPI v3 (and v2, from apiserver.handlers.openapi_v2).

Every document is built from the kinds and serialized once in each encoding asked for (JSON, YAML, protobuf);
later requests only pick bytes (but `/api`, which names the host asked). Discovery paths are served with a trailing slash too.
OpenAPI caching follows kube-openapi handler3: a document requested with its current `?hash=` is
immutable for a year, a stale hash is redirected to the current URL, and `If-None-Match` gets 304. A v3
document is served as JSON or, when the Accept header ranks it first, as gnostic's protobuf (built on first
request, with the JSON form's hash); an Accept naming neither is an empty 406.
"""

from __future__ import annotations

import email.utils
import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import orjson
from aiohttp import web

from apiserver import discovery, discovery_types, errors, openapi
from apiserver.handlers import negotiation
from apiserver.handlers.openapi_v2 import OpenAPIV2, content_type
from apiserver.kinds import group_versions
from apiserver.schema import JSON

JSON_TYPE = "application/json"
INDEX_TYPE = "text/plain; charset=utf-8"  # kube-openapi serves the /openapi/v3 index so
V3_PROTOBUF_TYPE = "application/com.github.proto-openapi.spec.v3.v1.0+protobuf"
# handler3's accepted (type, subtype) pairs, in its order, and the Content-Type each is answered with
V3_ACCEPTED = (
    ("application", "json", JSON_TYPE),
    ("application", "com.github.proto-openapi.spec.v3.v1.0+protobuf", V3_PROTOBUF_TYPE),
    ("application", "com.github.proto-openapi.spec.v3@v1.0+protobuf", V3_PROTOBUF_TYPE),
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _dumps(body: JSON) -> bytes:
    return orjson.dumps(body)


def _dumps_openapi(body: JSON) -> bytes:
    """Keys sorted, as Go writes the maps of an OpenAPI document, so its hash depends on content only."""
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def _json(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=body, status=status, headers={"Content-Type": JSON_TYPE, **(headers or {})})


def _not_modified(request: web.Request, etag: str) -> bool:
    """Whether `If-None-Match` names `etag` (quoted, possibly weak) or is `*`."""
    header = request.headers.get("If-None-Match", "")
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return etag in tags or "*" in tags


class Document:
    """A discovery document, serialized once in each encoding it is asked for (JSON, YAML, protobuf)."""

    def __init__(self, body: JSON) -> None:
        self.body = body
        self.encoded: dict[negotiation.Encoding, bytes] = {}

    def encode(self, encoding: negotiation.Encoding) -> bytes:
        found = self.encoded.get(encoding)
        if found is None:
            found = self.encoded[encoding] = (discovery_types.protobuf(self.body) if encoding == "protobuf"
                                              else negotiation.dumps(self.body, encoding))
        return found

    def response(self, request: web.Request, headers: dict[str, str] | None = None) -> web.Response:
        """A legacy document in JSON, YAML or protobuf as the Accept header asks (kube-apiserver's negotiation,
        no conversion); else 406."""
        encoding = negotiation.plain_encoding(request.headers.get("Accept", ""), protobuf=True)
        if encoding is None:
            raise errors.not_acceptable(negotiation.ACCEPTED)
        return web.Response(body=self.encode(encoding), headers={"Content-Type": negotiation.content_type(encoding),
                                                                  **(headers or {})})


def _static(body: JSON) -> Handler:
    """A fixed document, behind kube-apiserver's route check of Accept."""
    document = Document(body)

    async def handle(request: web.Request) -> web.Response:
        negotiation.check_route(request, negotiation.ACCEPTED)
        return document.response(request)

    return handle


VERSION = _dumps(discovery.version_info())


async def _version(request: web.Request) -> web.Response:
    negotiation.check_route(request, [JSON_TYPE])  # `/version` is produced in JSON only
    return _json(VERSION)


def _discovery(core: bool, legacy: Callable[[web.Request], Document]) -> Handler:
    """`/api` or `/apis`: aggregated (v2 or v2beta1) or legacy, as the Accept header asks. The aggregated form
    carries an ETag (one for every version and encoding: Vary names Accept), is `public` and answers a matching
    `If-None-Match` with 304, as ServeHTTPWithETag does: kubectl's HTTP cache revalidates it."""
    aggregated = {version: Document(discovery.aggregated_discovery(version, core)) for version in ("v2", "v2beta1")}
    cache = {"ETag": f'"{openapi.document_hash(aggregated["v2"].encode("json"))}"', "Vary": "Accept",
             "Cache-Control": "public"}

    async def handle(request: web.Request) -> web.Response:
        if core:  # `/api` is a go-restful route upstream, `/apis` is not
            negotiation.check_route(request, negotiation.ACCEPTED)
        chosen, encoding = discovery.negotiate_discovery(request.headers.get("Accept", ""))
        if chosen == "legacy":
            return legacy(request).response(request, {"Vary": "Accept"})
        if request.headers.get("If-None-Match") == cache["ETag"]:
            return web.Response(status=304, headers=cache)
        content_type = discovery.aggregated_content_type(chosen, encoding)
        return web.Response(body=aggregated[chosen].encode(encoding), headers={"Content-Type": content_type, **cache})

    return handle


@functools.cache
def _openapi_v3_documents() -> dict[str, bytes]:
    """Every group-version's document, built once per process (they depend on the kinds served only): a server
    starts without building them again."""
    return {name: _dumps_openapi(openapi.openapi_v3(name)) for name in openapi.openapi_group_versions()}


class OpenAPIV3:
    """The `/openapi/v3` index and one document per group-version, each with its hash."""

    def __init__(self) -> None:
        self.documents = _openapi_v3_documents()
        self.hashes = {name: openapi.document_hash(body) for name, body in self.documents.items()}
        self.index = _dumps(openapi.openapi_v3_index(self.documents))
        self.index_etag = f'"{openapi.document_hash(self.index)}"'
        self.protobuf: dict[str, bytes] = {}

    def protobuf_body(self, name: str) -> bytes:
        """The document as gnostic's v3 message, converted from the JSON bytes (their key order) once."""
        if name not in self.protobuf:
            from apiserver.openapi_v3_proto import to_message  # the protobuf runtime, only once a client asks

            self.protobuf[name] = to_message(orjson.loads(self.documents[name])).SerializeToString()
        return self.protobuf[name]

    async def handle_index(self, request: web.Request) -> web.Response:
        headers = {"ETag": self.index_etag}
        if _not_modified(request, self.index_etag):
            return web.Response(status=304, headers=headers)
        return web.Response(body=self.index, headers={"Content-Type": INDEX_TYPE, **headers})

    async def handle_document(self, request: web.Request) -> web.Response:
        name = request.match_info["path"]
        body = self.documents.get(name)
        if body is None:
            return web.Response(status=404)  # kube-openapi's empty 404
        media_type = content_type(request.headers.get("Accept") or "*/*", V3_ACCEPTED)
        if media_type is None:
            return web.Response(status=406, headers={"Vary": "Accept"})
        current = self.hashes[name]
        requested = request.query.get("hash", "")
        if requested and requested != current:
            raise web.HTTPMovedPermanently(f"/openapi/v3/{name}?hash={current}")
        etag = f'"{current}"'
        headers = {"ETag": etag, "Vary": "Accept"}
        if requested:
            expires = datetime.now(UTC) + timedelta(days=365)
            headers["Cache-Control"] = "public, immutable"
            headers["Expires"] = email.utils.format_datetime(expires, usegmt=True)
        else:
            headers["Cache-Control"] = "no-cache, private"
        if _not_modified(request, etag):
            return web.Response(status=304, headers=headers)
        if media_type == V3_PROTOBUF_TYPE:
            return web.Response(body=self.protobuf_body(name), headers={"Content-Type": media_type, **headers})
        return _json(body, headers=headers)


def setup(app: web.Application) -> None:
    """Add the `/version`, discovery and OpenAPI routes to `app`; discovery paths also with a trailing slash."""
    group_paths = {f"/apis/{group['name']}": group["name"] for group in discovery.api_group_list()["groups"]}
    api_group_list = Document(discovery.api_group_list())
    spec = OpenAPIV3()

    handlers: dict[str, Handler] = {
        "/version": _version,
        "/api": _discovery(True, lambda request: Document(discovery.api_versions(request.host))),
        "/apis": _discovery(False, lambda request: api_group_list),
    }
    for path, group in group_paths.items():
        handlers[path] = _static(discovery.api_group(group))
    for api_version in group_versions():
        prefix = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
        handlers[prefix] = _static(discovery.api_resource_list(api_version))
    routes = [web.get("/openapi/v2", OpenAPIV2().handle), web.get("/openapi/v3", spec.handle_index),
              web.get("/openapi/v3/{path:.*}", spec.handle_document)]
    for path, handler in handlers.items():
        routes += [web.get(path, handler), web.get(path + "/", handler)]
    app.add_routes(routes)
