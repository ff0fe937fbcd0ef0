"""Content negotiation: which form a response takes (Accept) and how a request body is read (Content-Type).

kube-apiserver checks Accept twice, and its 406s differ: first its go-restful route (`check_route`: some clause,
parameters cut off, must name a type the route produces; `406: Not Acceptable` listing them), then its own
negotiation (`negotiate`: the best clause by quality whose form it can write, Table and PartialObjectMetadata
included; `only the following media types are accepted`). Errors and discovery documents are written in the best
plain clause's encoding (`plain_encoding`), so `Accept: application/yaml` gets YAML Status objects.

Protobuf is written for the kinds that have a protobuf form (`protobuf.envelope.serves`), for their lists,
PartialObjectMetadata and Status errors; never for a Table (kube-apiserver 406s `as=Table` in protobuf). A
kind without one passes protobuf clauses over, as if they were not there: client-go's `protobuf, json` gets JSON.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import yaml
from aiohttp import web

from apiserver import errors
from apiserver.kinds.base import Kind
from apiserver.protobuf import envelope

Form = Literal["object", "table", "partial"]
META_GROUP = "meta.k8s.io"
META_VERSIONS = ("v1", "v1beta1")
Encoding = Literal["json", "yaml", "protobuf"]

ACCEPTED = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]
ACCEPTED_WATCH = ["application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch"]
PATCH_TYPES = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
]
PRETTY_AGENTS = ("curl", "Wget", "Mozilla/5.0")


@dataclass(frozen=True)
class Output:
    """The negotiated response: encoding, projection (object, Table, metadata only) and indentation.

    `meta_version` is the meta.k8s.io version a Table or PartialObjectMetadata is served as; `as_list` says
    whether PartialObjectMetadataList (True) or PartialObjectMetadata (False) was asked for."""

    encoding: Encoding = "json"
    form: Form = "object"
    pretty: bool = False
    include_object: str = "Metadata"
    meta_version: str = "v1"
    as_list: bool = False

    @property
    def content_type(self) -> str:
        return content_type(self.encoding)

    @property
    def watch_content_type(self) -> str:
        return envelope.WATCH_MEDIA_TYPE if self.encoding == "protobuf" else "application/json"

    @property
    def meta_api_version(self) -> str:
        return f"{META_GROUP}/{self.meta_version}"

    def dumps(self, body: Any) -> bytes:
        return dumps(body, self.encoding, self.pretty)


def content_type(encoding: Encoding) -> str:
    return envelope.MEDIA_TYPE if encoding == "protobuf" else f"application/{encoding}"


def dumps(body: Any, encoding: Encoding, pretty: bool = False) -> bytes:
    """JSON (indented if `pretty`), YAML with its keys sorted, as kube-apiserver converts its JSON to YAML, or
    protobuf (never indented)."""
    if encoding == "protobuf":
        return envelope.encode(body)
    if encoding == "yaml":
        return yaml.safe_dump(body, sort_keys=True, allow_unicode=True).encode()
    if pretty:
        return orjson.dumps(body, option=orjson.OPT_INDENT_2)
    return orjson.dumps(body)


@dataclass(frozen=True)
class Clause:
    """One media range of an Accept header: `type/subtype`, its parameters (lower-cased names) and quality."""

    media: str
    params: dict[str, str]
    quality: float


def clauses(accept: str) -> list[Clause]:
    """The Accept header's clauses, best first: by quality, then specific types before wildcards (goautoneg's
    order, which kube-apiserver follows); clauses of quality 0 are refused ones and left out."""
    result = []
    for text in accept.split(","):
        parts = [p.strip() for p in text.split(";")]
        if not parts[0]:
            continue
        params = {}
        for param in parts[1:]:
            key, _, value = param.partition("=")
            params[key.strip().lower()] = value.strip()
        try:
            quality = float(params.pop("q", "1"))
        except ValueError:
            quality = 1.0
        if quality > 0:
            result.append(Clause(parts[0].lower(), params, quality))
    return sorted(result, key=lambda c: (-c.quality, c.media.startswith("*/"), c.media.endswith("/*")))


def _encoding_of(media: str, protobuf: bool = True) -> Encoding | None:
    """The encoding a media range selects (kube-apiserver matches `type/*` and `*/*` to its first serializer,
    JSON); protobuf only if the response has a protobuf form (`protobuf`); None for anything else."""
    if media in ("application/json", "application/*", "*/*"):
        return "json"
    if media == envelope.MEDIA_TYPE:
        return "protobuf" if protobuf else None
    return "yaml" if media == "application/yaml" else None


def check_route(request: web.Request, produces: list[str]) -> None:
    """kube-apiserver's first check (its go-restful route's Produces): some Accept clause, parameters cut off, is
    `*/*` or a type the route produces; else a 406 listing them, before any other negotiation."""
    accept = request.headers.get("Accept", "")
    if not accept.strip():
        return
    for clause in accept.split(","):
        media = clause.split(";")[0].strip()
        if media == "*/*" or media in produces:
            return
    raise errors.StatusError(406, "NotAcceptable",
                             "406: Not Acceptable\n\nAvailable representations: " + ", ".join(produces), {})


def check_patch_type(request: web.Request) -> str:
    """The media type of a PATCH body, one of PATCH_TYPES; else the route's 415 (no Content-Type is none of them)."""
    media = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if media not in PATCH_TYPES:
        raise errors.StatusError(415, "UnsupportedMediaType", "415: Unsupported Media Type", {})
    return media


def plain_encoding(accept: str, protobuf: bool = False) -> Encoding | None:
    """The encoding of the best clause asking for a document as it is (no `as=` conversion; `stream=watch` allowed
    for an encoding that can stream, as upstream's default endpoint restrictions allow it): how kube-apiserver
    encodes errors and discovery documents. Protobuf clauses count only if the document has a
    protobuf form (`protobuf`: a Status and the discovery documents have); None when no clause fits (an
    empty header is JSON)."""
    if not accept.strip():
        return "json"
    for clause in clauses(accept):
        encoding = _encoding_of(clause.media, protobuf)
        stream = clause.params.get("stream")
        if encoding is not None and "as" not in clause.params and (
                stream is None or (stream == "watch" and encoding != "yaml")):
            return encoding
    return None


def error_encoding(request: web.Request) -> Encoding:
    """How a Status is written: as the request asked if it can be (YAML for `Accept: application/yaml`), else JSON."""
    return plain_encoding(request.headers.get("Accept", ""), protobuf=True) or "json"


def _output(clause: Clause, pretty: bool, include: str, protobuf: bool) -> Output | None:
    """The response a clause asks for if this server can produce it (kube-apiserver's acceptMediaTypeOptions):
    protobuf if the kind has a protobuf form (`protobuf`) or only its metadata is asked for."""
    encoding = _encoding_of(clause.media)
    if encoding is None:
        return None
    params = clause.params
    if encoding == "protobuf":
        if not protobuf and not params.get("as", "").startswith("PartialObjectMetadata"):
            return None
        pretty = False
    if params.get("stream", "watch") != "watch" or (encoding == "yaml" and "stream" in params):
        return None
    as_ = params.get("as", "")
    if not as_:
        return Output(encoding, "object", pretty, include)
    if params.get("g") != META_GROUP or params.get("v") not in META_VERSIONS:
        return None
    if as_ == "Table" and encoding != "protobuf":
        return Output(encoding, "table", pretty, include, params["v"])
    if as_ in ("PartialObjectMetadata", "PartialObjectMetadataList"):
        return Output(encoding, "partial", pretty, include, params["v"], as_ == "PartialObjectMetadataList")
    return None


def negotiate(request: web.Request, watch: bool = False, kind: Kind | None = None, protobuf: bool = False) -> Output:
    """The response form: the best Accept clause this server can produce (protobuf only for a `kind` that has a
    protobuf form, or when the caller says its answer has one); 406 if there is none, and for a watch if that
    clause's encoding cannot stream (YAML)."""
    query = request.query
    pretty = query.get("pretty") in ("true", "1") or (
        "pretty" not in query and not watch and request.headers.get("User-Agent", "").startswith(PRETTY_AGENTS))
    include = query.get("includeObject", "Metadata") or "Metadata"
    accept = request.headers.get("Accept", "")
    if not accept.strip():
        return Output(pretty=pretty, include_object=include)
    protobuf = protobuf or (kind is not None and envelope.serves(kind))
    output = next((o for c in clauses(accept) if (o := _output(c, pretty, include, protobuf)) is not None), None)
    if output is None:
        raise errors.not_acceptable(ACCEPTED)
    if watch and output.encoding == "yaml":
        raise errors.not_acceptable(ACCEPTED_WATCH)
    return output


WARNINGS_TOTAL_RUNES = 4 * 1024  # past this many characters in all, every warning is cut to WARNING_RUNES
WARNING_RUNES = 256


def _headerable(text: str) -> bool:
    """Valid UTF-8 without control characters: what net.NewWarningHeader accepts (the rest are dropped)."""
    return not any(unicodedata.category(c) in ("Cc", "Cs") for c in text)


def warning_texts(warnings: list[str]) -> list[str]:
    """The warnings kube-apiserver's recorder writes: distinct, non-empty, without control characters; once they
    pass 4 Ki characters in all, each (earlier ones too) cut to 256 and no more added past 4 Ki again."""
    recorded: list[str] = []
    written, truncating, texts = 0, False, []
    for text in dict.fromkeys(warnings):
        if not text or (truncating and written >= WARNINGS_TOTAL_RUNES):
            continue
        recorded.append(text)
        if truncating:
            text = text[:WARNING_RUNES]
        if not _headerable(text):
            continue
        if written + len(text) <= WARNINGS_TOTAL_RUNES or truncating:
            written += len(text)
            texts.append(text)
            continue
        truncating = True
        texts = [cut for cut in (item[:WARNING_RUNES] for item in recorded) if _headerable(cut)]
        written = sum(map(len, texts))
    return texts


def add_warnings(response: web.StreamResponse, warnings: list[str]) -> None:
    """One `Warning: 299 - "<text>"` header per warning_texts() (kubectl prints each), quoted as upstream."""
    for text in warning_texts(warnings):
        response.headers.add("Warning", '299 - "' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')


def media_type(request: web.Request) -> str:
    return request.headers.get("Content-Type", "application/json").split(";")[0].strip().lower()

