"""`GET /openapi/v2` as kube-openapi's handler serves it (pkg/handler/handler.go), JSON or protobuf.

The Accept clauses are ranked as goautoneg ranks them (q, then specificity) and the first one naming
JSON or gnostic's protobuf (the `@v1.0` spelling kubectl 1.27/1.28 send, or the `.v1.0` one) wins; a
missing Accept counts as `*/*`; nothing matching is an empty 406. Both forms carry the ETag of the JSON
bytes (upper-case SHA-512) and the time the server started as Last-Modified, and are answered with 304
as Go's `http.ServeContent` does. Bodies of at least 1400 bytes are gzipped for clients that accept it
(gziphandler's threshold). The document is built on the first request after the served kinds change, then every
form is cached.
"""

from __future__ import annotations

import email.utils
import gzip
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from aiohttp import web
from multidict import CIMultiDict

from apiserver import openapi
from apiserver.kind_registry import Derived, KindRegistry
from apiserver.openapi_v2 import openapi_v2

JSON_TYPE = "application/json"
PROTOBUF_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
# Accepted (type, subtype) pairs, in kube-openapi's order, and the Content-Type each is answered with.
ACCEPTED = (
    ("application", "json", JSON_TYPE),
    ("application", "com.github.proto-openapi.spec.v2@v1.0+protobuf", PROTOBUF_TYPE),
    ("application", "com.github.proto-openapi.spec.v2.v1.0+protobuf", PROTOBUF_TYPE),
)
GZIP_MIN_SIZE = 1400


def _q(params: list[str]) -> float:
    """The q of a header clause's parameters (1 when absent, 0 when unreadable)."""
    for param in params:
        key, sep, value = param.partition("=")
        if sep and key.strip() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


@dataclass(frozen=True)
class _Clause:
    type: str
    subtype: str
    q: float


def _clauses(accept: str) -> list[_Clause]:
    """goautoneg's ParseAccept: media ranges with their q, best first (q, then concrete before `*`)."""
    clauses = []
    for part in (accept or "*/*").split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        kind, _, subtype = media.partition("/")
        if not subtype:
            if kind != "*":
                continue
            subtype = "*"
        clauses.append(_Clause(kind.strip(), subtype.strip(), _q(params)))
    return sorted(clauses, key=lambda c: (-c.q, c.type == "*", c.subtype == "*"))


def content_type(accept: str, accepted: tuple[tuple[str, str, str], ...] = ACCEPTED) -> str | None:
    """The Content-Type to answer `accept` with (of the `accepted` (type, subtype, answer)s), or None (406)."""
    for clause in _clauses(accept):
        for kind, subtype, answer in accepted:
            if clause.type in (kind, "*") and clause.subtype in (subtype, "*"):
                return answer
    return None


def _accepts_gzip(header: str) -> bool:
    """gziphandler's test: Accept-Encoding names gzip with a q above 0 (a `*` does not count)."""
    for part in header.split(","):
        coding, *params = (piece.strip() for piece in part.split(";"))
        if coding.lower() == "gzip":
            return _q(params) > 0
    return False


class _Forms:
    """The document of the served kinds in each form, its ETag and the time it was built (Last-Modified)."""

    def __init__(self, kinds: KindRegistry) -> None:
        from apiserver.openapi_proto import to_message  # the protobuf runtime, only once a client asks (~20 ms)

        self.last_modified = datetime.now(UTC).replace(microsecond=0)
        document = openapi_v2(kinds)
        self.bodies = {JSON_TYPE: orjson.dumps(document), PROTOBUF_TYPE: to_message(document).SerializeToString()}
        self.etag = f'"{openapi.document_hash(self.bodies[JSON_TYPE])}"'
        self._gzipped: dict[str, bytes] = {}

    def gzipped(self, media_type: str) -> bytes:
        if media_type not in self._gzipped:
            self._gzipped[media_type] = gzip.compress(self.bodies[media_type], compresslevel=6, mtime=0)
        return self._gzipped[media_type]

    def not_modified(self, request: web.Request) -> bool:
        """Go's ServeContent preconditions: If-None-Match first, else If-Modified-Since."""
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match is not None:
            tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
            return self.etag in tags or "*" in tags
        if_modified_since = request.headers.get("If-Modified-Since")
        if if_modified_since:
            try:
                since = email.utils.parsedate_to_datetime(if_modified_since)
            except (TypeError, ValueError):
                return False
            return since.tzinfo is not None and self.last_modified <= since
        return False


class OpenAPIV2:
    """The `/openapi/v2` handler; the document, its encodings and their gzip forms are built on first use after the
    served kinds change."""

    def __init__(self, kinds: KindRegistry) -> None:
        self.forms = Derived(kinds, _Forms)

    async def handle(self, request: web.Request) -> web.Response:
        # gziphandler's Vary, then the handler's own: two headers, as upstream sends them
        headers = CIMultiDict([("Cache-Control", "no-cache, private"), ("Vary", "Accept-Encoding"), ("Vary", "Accept")])
        media_type = content_type(request.headers.get("Accept", ""))
        if media_type is None:
            return web.Response(status=406, headers=headers)
        forms = self.forms.get()
        headers["Etag"] = forms.etag
        if forms.not_modified(request):
            return web.Response(status=304, headers=headers)
        headers["Last-Modified"] = email.utils.format_datetime(forms.last_modified, usegmt=True)
        headers["Content-Type"] = media_type
        body = forms.bodies[media_type]
        if len(body) >= GZIP_MIN_SIZE and _accepts_gzip(request.headers.get("Accept-Encoding", "")):
            body = forms.gzipped(media_type)
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=body, headers=headers)
