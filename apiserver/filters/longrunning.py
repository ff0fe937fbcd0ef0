"""What a request is to the filters, as upstream's RequestInfo and BasicLongRunningRequestCheck see it: its verb,
whether it mutates, and whether it is long-running (a watch, a streaming subresource, /debug/pprof/), which
exempts it from the request timeout and the in-flight limits."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from apiserver import errors
from apiserver.handlers.resolve import Target, resolve, verb_of
from apiserver.state import SERVED_KINDS

LONG_RUNNING_VERBS = frozenset({"watch", "proxy"})
LONG_RUNNING_SUBRESOURCES = frozenset({"attach", "exec", "proxy", "log", "portforward"})
READ_ONLY_VERBS = frozenset({"get", "list", "watch"})


@dataclass(frozen=True)
class RequestClass:
    verb: str
    target: Target | None  # None: not a resource request (or one that resolves to no resource)
    long_running: bool

    @property
    def mutating(self) -> bool:
        return self.verb not in READ_ONLY_VERBS


CLASS: web.RequestKey[RequestClass] = web.RequestKey("request_class", RequestClass)


def classify(request: web.Request) -> RequestClass:
    """The request's class, worked out once per request."""
    found: RequestClass | None = request.get(CLASS)
    if found is None:
        found = request[CLASS] = _classify(request)
    return found


def _classify(request: web.Request) -> RequestClass:
    match = request.match_info
    if "version" in match and "tail" in match:
        group = match.get("group", "")
        try:
            target = resolve(request.app[SERVED_KINDS], f"{group}/{match['version']}" if group else match["version"],
                             match["tail"])
            verb = verb_of(request, target)
            return RequestClass(verb, target, verb in LONG_RUNNING_VERBS
                                or target.subresource in LONG_RUNNING_SUBRESOURCES)
        except errors.StatusError:
            pass
        # upstream's RequestInfo still names a verb for requests the handler will refuse
        verb = "get" if request.method in ("GET", "HEAD") else request.method.lower()
        return RequestClass(verb, None, False)
    return RequestClass(request.method.lower(), None, request.path.startswith("/debug/pprof/"))
