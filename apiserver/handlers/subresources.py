"""Routes of the subresources that are not plain reads and writes of their parent (status, ephemeralcontainers,
finalize go through `rest`): binding, eviction, the kubelet's and the proxies.

Each handler answers every verb its subresource declares (`verb_of` refused the others with 405).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from apiserver import errors
from apiserver.apiextensions.resource import CustomResourceStrategy
from apiserver.apiextensions.scale import scale as custom_resource_scale
from apiserver.authentication.serviceaccount import SERVICE_ACCOUNT_TOKENS
from apiserver.handlers import negotiation
from apiserver.handlers.resolve import Target
from apiserver.handlers.rest import read_body, read_parsed_body, registry_for, respond, write_options
from apiserver.kinds.base import Obj
from apiserver.protobuf import envelope
from apiserver.protobuf.values import ProtobufError
from apiserver.state import REGISTRIES
from apiserver.subresources import kubelet, proxy
from apiserver.subresources.binding import BINDING, bind
from apiserver.subresources.body import SUCCESS, check_name, decode_subresource_body
from apiserver.subresources.eviction import API_VERSIONS, EVICTION, evict
from apiserver.subresources.scale import patched_scale, read_workload, scale_of, write_scale
from apiserver.subresources.token import request_token

Handler = Callable[[web.Request, Target], Awaitable[web.StreamResponse]]


async def binding(request: web.Request, target: Target) -> web.StreamResponse:
    opts = write_options(request)
    body = decode_subresource_body(await read_parsed_body(request, "Binding"), BINDING, "Binding", ("v1",), opts)
    _check_namespace(body, target)
    check_name(body, target.name, "Binding")
    await bind(registry_for(request, target), target.namespace, body, opts)
    return respond(request, SUCCESS, 201)


async def eviction(request: web.Request, target: Target) -> web.StreamResponse:
    opts = write_options(request)
    body = decode_subresource_body(await read_parsed_body(request, "Eviction"), EVICTION, "Eviction", API_VERSIONS, opts)
    _check_namespace(body, target)
    check_name(body, target.name, "Eviction")
    await evict(registry_for(request, target), target.namespace, body, opts)
    return respond(request, SUCCESS, 201)


def _check_namespace(body: dict[str, object], target: Target) -> None:
    meta = body["metadata"]
    assert isinstance(meta, dict)
    if meta.get("namespace") and meta["namespace"] != target.namespace:
        raise errors.bad_request("the namespace of the provided object does not match the namespace sent on the "
                                 "request")


async def log(request: web.Request, target: Target) -> web.StreamResponse:
    """An unscheduled pod's log is empty (204); a scheduled one's kubelet cannot be reached."""
    kubelet.validate_log_options(request.query, target.name)
    pod = await registry_for(request, target).get(target.namespace, target.name)
    kubelet.check_container(pod, request.query.get("container", ""))
    if (pod.get("spec") or {}).get("nodeName"):
        raise kubelet.log_location(pod, await _node_of(request, pod), request.query.get("container", ""))
    return web.Response(status=204)


async def _node_of(request: web.Request, pod: Obj) -> Obj | None:
    """The Node a pod is scheduled to, None if it does not exist."""
    nodes = request.app[REGISTRIES].get("nodes")
    name = (pod.get("spec") or {}).get("nodeName") or ""
    if nodes is None or not name:
        return None
    try:
        return await nodes.get("", name)
    except errors.StatusError as err:
        if err.code == 404:
            return None
        raise


async def stream(request: web.Request, target: Target) -> web.StreamResponse:
    """exec and attach: the container, then the pod's node."""
    pod = await registry_for(request, target).get(target.namespace, target.name)
    kubelet.check_container(pod, request.query.get("container", ""))
    raise kubelet.stream_location(pod, await _node_of(request, pod), "Upgrade" in request.headers)


async def portforward(request: web.Request, target: Target) -> web.StreamResponse:
    pod = await registry_for(request, target).get(target.namespace, target.name)
    raise kubelet.stream_location(pod, await _node_of(request, pod), "Upgrade" in request.headers)


async def pod_proxy(request: web.Request, target: Target) -> web.StreamResponse:
    split = proxy.split_scheme_name_port(target.name)
    if split is None:
        raise errors.bad_request(f'invalid pod request "{target.name}"')
    scheme, name, port = split
    pod = await registry_for(request, target).get(target.namespace, name)
    raise proxy.unreachable(proxy.pod_destination(pod, scheme, port))


async def node_proxy(request: web.Request, target: Target) -> web.StreamResponse:
    split = proxy.split_scheme_name_port(target.name)
    if split is None:
        raise errors.bad_request(f'invalid node request "{target.name}"')
    _, name, port = split
    node = await registry_for(request, target).get("", name)
    raise proxy.unreachable(proxy.node_destination(node, port))


async def service_proxy(request: web.Request, target: Target) -> web.StreamResponse:
    registries = request.app[REGISTRIES]
    address = await proxy.service_endpoint(registries["services"], registries["endpoints"], registries["pods"],
                                           target.namespace, target.name)
    raise proxy.unreachable(address)


async def read_own_kind(request: web.Request, target: Target) -> Any:
    """The body of a subresource of a kind of its own (Scale, TokenRequest): JSON, YAML or protobuf."""
    sub = target.kind.subresource(target.subresource)
    assert sub is not None
    if negotiation.media_type(request) != envelope.MEDIA_TYPE:
        return await read_parsed_body(request, sub.kind)
    body = await read_body(request)
    try:
        return envelope.decode(body)
    except ProtobufError as err:
        raise errors.bad_request(f"the object provided is unrecognized (must be of type {sub.kind}): {err}") from None


def respond_own_kind(request: web.Request, answer: Obj, status: int = 200) -> web.StreamResponse:
    """An answer of the subresource's own kind, in protobuf too."""
    return respond(request, answer, status, negotiation.negotiate(request, protobuf=True))


async def scale(request: web.Request, target: Target) -> web.StreamResponse:
    """A workload's autoscaling/v1 Scale: read, replaced or patched."""
    registry = registry_for(request, target)
    if request.method == "GET":
        return respond_own_kind(request, scale_of(await read_workload(registry, target.namespace, target.name)))
    opts = write_options(request)
    if request.method == "PUT":
        body = await read_own_kind(request, target)
        shown = await write_scale(registry, target.namespace, target.name, lambda current: body, opts)
    else:
        media, raw = negotiation.media_type(request), await read_body(request)
        shown = await write_scale(registry, target.namespace, target.name,
                                  lambda current: patched_scale(current, media, raw, opts), opts)
    return respond_own_kind(request, shown)


async def token(request: web.Request, target: Target) -> web.StreamResponse:
    """A TokenRequest for a service account."""
    opts = write_options(request)
    body = await read_own_kind(request, target)
    answer = await request_token(registry_for(request, target), request.app[SERVICE_ACCOUNT_TOKENS], target.namespace,
                                 target.name, body, opts)
    return respond_own_kind(request, answer, 201)


HANDLERS: dict[tuple[str, str], Handler] = {
    ("pods", "binding"): binding,
    ("pods", "eviction"): eviction,
    ("pods", "log"): log,
    ("pods", "exec"): stream,
    ("pods", "attach"): stream,
    ("pods", "portforward"): portforward,
    ("pods", "proxy"): pod_proxy,
    ("services", "proxy"): service_proxy,
    ("nodes", "proxy"): node_proxy,
    ("serviceaccounts", "token"): token,
    **{(plural, "scale"): scale for plural in ("deployments", "replicasets", "statefulsets")},
}
"""The subresources served by a handler of their own; the others (status, ephemeralcontainers, finalize) are
reads and writes of the parent object."""


def handler_for(target: Target) -> Handler | None:
    if not target.subresource:
        return None
    if target.subresource == "scale" and isinstance(target.kind.strategy, CustomResourceStrategy):
        return custom_resource_scale
    return HANDLERS.get((target.kind.plural, target.subresource))

