"""Content negotiation: which form a response takes (Accept) and how a request body is read (Content-Type)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson
import yaml
from aiohttp import web

from apiserver import errors

Form = Literal["object", "table", "partial"]
Encoding = Literal["json", "yaml"]

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
    """The negotiated response: encoding, projection (object, Table, metadata only) and indentation."""

    encoding: Encoding = "json"
    form: Form = "object"
    pretty: bool = False
    include_object: str = "Metadata"

    @property
    def content_type(self) -> str:
        return "application/yaml" if self.encoding == "yaml" else "application/json"

    def dumps(self, body: Any) -> bytes:
        if self.encoding == "yaml":
            return yaml.safe_dump(body, sort_keys=False, allow_unicode=True).encode()
        if self.pretty:
            return orjson.dumps(body, option=orjson.OPT_INDENT_2)
        return orjson.dumps(body)


def _clauses(accept: str) -> list[tuple[str, dict[str, str]]]:
    result = []
    for clause in accept.split(","):
        parts = [p.strip() for p in clause.split(";")]
        params = {}
        for param in parts[1:]:
            key, _, value = param.partition("=")
            params[key.strip().lower()] = value.strip()
        if parts[0]:
            result.append((parts[0].lower(), params))
    return result


def negotiate(request: web.Request, watch: bool = False) -> Output:
    """Pick the first Accept clause this server can produce; 406 if there is none."""
    query = request.query
    pretty = query.get("pretty") in ("true", "1") or (
        "pretty" not in query and not watch and request.headers.get("User-Agent", "").startswith(PRETTY_AGENTS))
    include = query.get("includeObject", "Metadata") or "Metadata"
    accept = request.headers.get("Accept", "")
    if not accept.strip():
        return Output(pretty=pretty, include_object=include)
    for media, params in _clauses(accept):
        if media in ("application/json", "*/*", "application/*"):
            as_ = params.get("as", "")
            if as_ and params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1"):
                if as_ == "Table":
                    return Output("json", "table", pretty, include)
                if as_ in ("PartialObjectMetadata", "PartialObjectMetadataList"):
                    return Output("json", "partial", pretty, include)
                continue
            if as_:
                continue
            return Output("json", "object", pretty, include)
        if media in ("application/yaml", "text/yaml") and not watch:
            return Output("yaml", "object", pretty, include)
    raise errors.not_acceptable(ACCEPTED_WATCH if watch else ACCEPTED)


def add_warnings(response: web.StreamResponse, warnings: list[str]) -> None:
    """One `Warning: 299 - "<text>"` header per warning, as kube-apiserver sends them (kubectl prints each)."""
    for warning in warnings:
        response.headers.add("Warning", '299 - "' + warning.replace('"', '\\"') + '"')


def media_type(request: web.Request) -> str:
    return request.headers.get("Content-Type", "application/json").split(";")[0].strip().lower()

