"""Typed keys for application and request state shared by the server's modules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from apiserver.config import Config
    from apiserver.kind_registry import KindRegistry
    from apiserver.metrics import Metrics
    from apiserver.registry import Registry
    from storage import Storage


@dataclass
class RequestInfo:
    """What the request was, for metrics and response headers: filled in as the request is understood."""

    verb: str = ""
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    scope: str = ""
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)


CONFIG: web.AppKey[Config] = web.AppKey("config")
STORAGE: web.AppKey[Storage] = web.AppKey("storage")
SERVED_KINDS: web.AppKey[KindRegistry] = web.AppKey("served_kinds")
REGISTRIES: web.AppKey[dict[str, Registry]] = web.AppKey("registries")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
INFO: web.RequestKey[RequestInfo] = web.RequestKey("info", RequestInfo)
