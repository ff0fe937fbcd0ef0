"""A custom resource's scale subresource: an autoscaling/v1 Scale read from and written to the paths its CRD names
(`specReplicasPath`, `statusReplicasPath`, `labelSelectorPath`), as upstream's customresource ScaleREST.

GET answers the Scale; PUT and PATCH (JSON merge or JSON patch) change the replicas at `specReplicasPath` only.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from apiserver import errors
from apiserver.apiextensions.resource import CustomResourceStrategy, ScalePaths, find, parse_path
from apiserver.handlers.resolve import Target
from apiserver.handlers.rest import read_parsed_body, registry_for, respond, write_options
from apiserver.handlers.negotiation import media_type
from apiserver.kinds.base import Obj
from apiserver.patch.jsonpatch import json_patch
from apiserver.patch.merge import merge_patch
from apiserver.validation.field import ErrorList, invalid

def _paths(target: Target) -> ScalePaths:
    strategy = target.kind.strategy
    assert isinstance(strategy, CustomResourceStrategy) and strategy.scale is not None
    return strategy.scale


def _read(path: str, obj: Obj) -> Any:
    found = find(obj, parse_path(path)) if path else []
    return found[0] if found else None


def scale_of(obj: Obj, paths: ScalePaths) -> Obj:
    """The Scale of `obj`."""
    meta = obj["metadata"]
    status: Obj = {"replicas": _read(paths.status_replicas, obj) or 0}
    selector = _read(paths.label_selector, obj)
    if selector:
        status["selector"] = selector
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {key: meta[key] for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if key in meta},
            "spec": {"replicas": _read(paths.spec_replicas, obj) or 0}, "status": status}


def _set(obj: Obj, path: str, value: Any) -> None:
    keys = [step for kind, step in parse_path(path) if kind == "field"]
    target = obj
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = value


async def scale(request: web.Request, target: Target) -> web.StreamResponse:
    registry = registry_for(request, target)
    paths = _paths(target)
    if request.method == "GET":
        return respond(request, scale_of(await registry.get(target.namespace, target.name), paths))
    opts = write_options(request)
    body = await read_parsed_body(request, "Scale")
    media = media_type(request)

    def mutate(current: Obj | None) -> Obj:
        if current is None:
            raise errors.not_found(target.kind, target.name)
        wanted = scale_of(current, paths)
        if request.method == "PUT":
            wanted = body if isinstance(body, dict) else {}
        elif media == "application/merge-patch+json":
            wanted = merge_patch(wanted, body)
        elif media == "application/json-patch+json":
            wanted = json_patch(wanted, body)
        else:
            raise errors.unsupported_media_type(media, ["application/json-patch+json", "application/merge-patch+json"])
        replicas = (wanted.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            errs = ErrorList([invalid("spec.replicas", replicas, "must be greater than or equal to 0")])
            raise errors.StatusError(422, "Invalid", f'Scale.autoscaling "{target.name}" is invalid: {errs.aggregate()}',
                                     {"name": target.name, "group": "autoscaling", "kind": "Scale",
                                      "causes": errs.causes()})
        rv = (wanted.get("metadata") or {}).get("resourceVersion")
        if rv:
            current["metadata"]["resourceVersion"] = rv
        _set(current, paths.spec_replicas, replicas)
        return current

    updated, _ = await registry.update(target.namespace, target.name, mutate, opts, "scale")
    return respond(request, scale_of(updated, paths))
