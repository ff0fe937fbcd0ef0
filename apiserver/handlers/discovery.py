"""HTTP endpoints for `/version`, discovery and OpenAPI v3 (and v2, from apiserver.handlers.openapi_v2).

Every document is built from the served kinds on first request and serialized once in each encoding asked for (JSON,
YAML, protobuf); later requests only pick bytes (but `/api`, which names the host asked), until the served kinds change
(a CustomResourceDefinition): then the documents are built again, with new hashes and ETags. Discovery paths are
served with a trailing slash too.
OpenAPI caching follows kube-openapi handler3: a document requested with its current `?hash=` is
immutable for a year, a stale hash is redirected to the current URL, and `If-None-Match` gets 304. A v3
document is served as JSON or, when the Accept header ranks it first, as gnostic's protobuf (built on first
request, with the JSON form's hash); an Accept naming neither is an empty 406.
"""

from __future__ import annotations

import email.utils
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import orjson
from aiohttp import web

from apiserver import discovery, discovery_types, errors, openapi
from apiserver.handlers import negotiation
from apiserver.handlers.openapi_v2 import OpenAPIV2, content_type
from apiserver.kind_registry import Derived, KindRegistry
from apiserver.kinds.base import Kind
from apiserver.schema import JSON
from apiserver.state import SERVED_KINDS

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


VERSION = _dumps(discovery.version_info())


async def _version(request: web.Request) -> web.Response:
    negotiation.check_route(request, [JSON_TYPE])  # `/version` is produced in JSON only
    return _json(VERSION)


class _Documents:
    """The discovery documents of the served kinds, each built on first request."""

    def __init__(self, kinds: KindRegistry) -> None:
        self.kinds = kinds
        self.aggregated = {core: {version: Document(discovery.aggregated_discovery(kinds, version, core))
                                  for version in ("v2", "v2beta1")} for core in (True, False)}
        # one ETag for every version and encoding (Vary names Accept), as ServeHTTPWithETag sends it
        self.etags = {core: f'"{openapi.document_hash(docs["v2"].encode("json"))}"'
                      for core, docs in self.aggregated.items()}
        self.group_list = Document(discovery.api_group_list(kinds))
        self.groups = self.kinds.groups()
        self.group_versions = self.kinds.group_versions()
        self._built: dict[str, Document] = {}

    def group(self, group: str) -> Document | None:
        """`/apis/<group>`, None if not served."""
        if group not in self.groups:
            return None
        key = "/apis/" + group
        if key not in self._built:
            self._built[key] = Document(discovery.api_group(self.kinds, group))
        return self._built[key]

    def resource_list(self, api_version: str) -> Document | None:
        """`/api/v1` or `/apis/<group>/<version>`, None if not served."""
        if api_version not in self.group_versions:
            return None
        if api_version not in self._built:
            self._built[api_version] = Document(discovery.api_resource_list(self.kinds, api_version))
        return self._built[api_version]


class Discovery:
    """The discovery endpoints of one server: `/api`, `/apis`, `/apis/<group>`, and each group-version's resource
    list, answering for the kinds served at the time of the request."""

    def __init__(self, kinds: KindRegistry) -> None:
        self.documents = Derived(kinds, _Documents)

    def _aggregated_or_legacy(self, request: web.Request, core: bool, legacy: Callable[[_Documents], Document]
                              ) -> web.Response:
        """`/api` or `/apis`: aggregated (v2 or v2beta1) or legacy, as the Accept header asks. The aggregated form
        carries an ETag, is `public` and answers a matching `If-None-Match` with 304, as ServeHTTPWithETag does:
        kubectl's HTTP cache revalidates it."""
        documents = self.documents.get()
        chosen, encoding = discovery.negotiate_discovery(request.headers.get("Accept", ""))
        if chosen == "legacy":
            return legacy(documents).response(request, {"Vary": "Accept"})
        cache = {"ETag": documents.etags[core], "Vary": "Accept", "Cache-Control": "public"}
        if request.headers.get("If-None-Match") == cache["ETag"]:
            return web.Response(status=304, headers=cache)
        content_type = discovery.aggregated_content_type(chosen, encoding)
        body = documents.aggregated[core][chosen].encode(encoding)
        return web.Response(body=body, headers={"Content-Type": content_type, **cache})

    async def core(self, request: web.Request) -> web.Response:
        negotiation.check_route(request, negotiation.ACCEPTED)  # `/api` is a go-restful route upstream, `/apis` not
        return self._aggregated_or_legacy(
            request, True, lambda documents: Document(discovery.api_versions(documents.kinds, request.host)))

    async def named(self, request: web.Request) -> web.Response:
        return self._aggregated_or_legacy(request, False, lambda documents: documents.group_list)

    async def group(self, request: web.Request) -> web.Response:
        document = self.documents.get().group(request.match_info["group"])
        return self._static(request, document)

    async def resource_list(self, request: web.Request) -> web.Response:
        group, version = request.match_info.get("group", ""), request.match_info["version"]
        document = self.documents.get().resource_list(f"{group}/{version}" if group else version)
        return self._static(request, document)

    @staticmethod
    def _static(request: web.Request, document: Document | None) -> web.Response:
        """A legacy document behind kube-apiserver's route check of Accept; a path not served falls through to the
        server's 404 (a NotFound Status within a served group)."""
        if document is None:
            raise web.HTTPNotFound()
        negotiation.check_route(request, negotiation.ACCEPTED)
        return document.response(request)


class OpenAPIV3:
    """The `/openapi/v3` index and one document per group-version, each with its hash; after the served kinds change,
    only the documents of group-versions whose kinds changed are built again (on the next request)."""

    def __init__(self, kinds: KindRegistry) -> None:
        self.kinds = kinds
        self._generation = -1
        self._built: dict[str, tuple[list[Kind], bytes]] = {}  # per document: the kinds it was built from, its bytes
        self.documents: dict[str, bytes] = {}
        self.hashes: dict[str, str] = {}
        self.index = b""
        self.index_etag = ""
        self.protobuf: dict[str, bytes] = {}

    def refresh(self) -> None:
        """Bring the documents in step with the served kinds."""
        if self._generation == self.kinds.generation:
            return
        built: dict[str, tuple[list[Kind], bytes]] = {}
        for api_version, kinds in self.kinds.group_versions().items():
            name = openapi.document_name(api_version)
            previous = self._built.get(name)
            if previous is not None and len(previous[0]) == len(kinds) and all(
                    a is b for a, b in zip(previous[0], kinds, strict=True)):
                built[name] = previous
            else:
                built[name] = (kinds, _dumps_openapi(openapi.openapi_v3(self.kinds, name)))
                self.protobuf.pop(name, None)
        self._built, self._generation = built, self.kinds.generation
        self.documents = {name: body for name, (_, body) in built.items()}
        self.hashes = {name: openapi.document_hash(body) for name, body in self.documents.items()}
        self.index = _dumps(openapi.openapi_v3_index(self.documents))
        self.index_etag = f'"{openapi.document_hash(self.index)}"'

    def protobuf_body(self, name: str) -> bytes:
        """The document as gnostic's v3 message, converted from the JSON bytes (their key order) once."""
        if name not in self.protobuf:
            from apiserver.openapi_v3_proto import to_message  # the protobuf runtime, only once a client asks

            self.protobuf[name] = to_message(orjson.loads(self.documents[name])).SerializeToString()
        return self.protobuf[name]

    async def handle_index(self, request: web.Request) -> web.Response:
        self.refresh()
        headers = {"ETag": self.index_etag}
        if _not_modified(request, self.index_etag):
            return web.Response(status=304, headers=headers)
        return web.Response(body=self.index, headers={"Content-Type": INDEX_TYPE, **headers})

    async def handle_document(self, request: web.Request) -> web.Response:
        self.refresh()
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
    kinds = app[SERVED_KINDS]
    served = Discovery(kinds)
    spec = OpenAPIV3(kinds)
    handlers: dict[str, Handler] = {
        "/version": _version,
        "/api": served.core,
        "/apis": served.named,
        "/api/{version}": served.resource_list,
        "/apis/{group}": served.group,
        "/apis/{group}/{version}": served.resource_list,
    }
    routes = [web.get("/openapi/v2", OpenAPIV2(kinds).handle), web.get("/openapi/v3", spec.handle_index),
              web.get("/openapi/v3/{path:.*}", spec.handle_document)]
    for path, handler in handlers.items():
        routes += [web.get(path, handler), web.get(path + "/", handler)]
    app.add_routes(routes)
