"""The scale subresource of Deployments, ReplicaSets and StatefulSets: their replicas as an autoscaling/v1 Scale.

A read shows the parent's spec.replicas, status.replicas and its selector in string form; a write (PUT, or a
patch of the Scale) sets the parent's spec.replicas through the parent's own update (so its generation moves and
the manager's managedFields entry names the subresource), a Scale's resourceVersion being a precondition.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from apiserver import errors, serializer
from apiserver.kinds.base import Obj
from apiserver.kinds.upstream import definition
from apiserver.options import WriteOptions
from apiserver.patch.jsonpatch import json_patch
from apiserver.patch.merge import merge_patch
from apiserver.patch.strategic import strategic_merge_patch
from apiserver.registry import Registry
from apiserver.subresources.body import check_name, decode_subresource_body
from apiserver.validation.field import ErrorList, invalid
from apiserver.validation.labelselector import selector_string
from apiserver.validation.objectmeta import validate_object_meta

SCALE = definition("io.k8s.api.autoscaling.v1.Scale")
API_VERSION = "autoscaling/v1"


def scale_of(obj: Obj) -> Obj:
    """The Scale of a workload."""
    meta, spec = obj["metadata"], obj.get("spec") or {}
    status: Obj = {"replicas": int((obj.get("status") or {}).get("replicas") or 0)}
    selector = selector_string(spec.get("selector"))
    if selector:
        status["selector"] = selector
    shown = {key: meta[key] for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
             if key in meta}
    return {"kind": "Scale", "apiVersion": API_VERSION, "metadata": shown,
            "spec": {"replicas": spec.get("replicas", 0)}, "status": status}


async def read_workload(registry: Registry, namespace: str, name: str) -> Obj:
    """The workload whose Scale is asked for; a 404 names the subresource (`deployments/scale.apps`)."""
    try:
        return await registry.get(namespace, name)
    except errors.StatusError as err:
        raise _of_scale(err, registry, name) from None


def _of_scale(err: errors.StatusError, registry: Registry, name: str) -> errors.StatusError:
    if err.code != 404:
        return err
    kind = registry.kind
    return errors.StatusError(404, "NotFound", f'{kind.plural}/scale.{kind.group} "{name}" not found',
                              {"name": name, "group": kind.group, "kind": f"{kind.plural}/scale"})


def validate_scale(scale: Obj) -> ErrorList:
    """ValidateScale: the metadata of a namespaced object, replicas not negative."""
    errs = validate_object_meta(scale["metadata"], namespaced=True)
    replicas = (scale.get("spec") or {}).get("replicas") or 0
    if replicas < 0:
        errs.append(invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    return errs


def decode_scale(body: object, name: str, opts: WriteOptions) -> Obj:
    scale = decode_subresource_body(body, SCALE, "Scale", (API_VERSION,), opts)
    check_name(scale, name, "Scale")
    return scale


def patched_scale(current: Obj, media: str, body: bytes, opts: WriteOptions) -> Obj:
    """The Scale of `current` with the patch applied (JSON, merge or strategic merge patch)."""
    try:
        patch, _ = serializer.decode_patch(media, body, opts.field_validation)
    except serializer.DecodeError as err:
        raise errors.bad_request(err.message) from None
    shown = scale_of(current)
    if media == serializer.JSON_PATCH:
        return json_patch(shown, patch)
    if media == serializer.MERGE_PATCH:
        return dict(merge_patch(shown, patch))
    return strategic_merge_patch(shown, patch, SCALE)


async def write_scale(registry: Registry, namespace: str, name: str, scale_for: Callable[[Obj], object],
                      opts: WriteOptions) -> Obj:
    """Set the replicas of the workload `name` to those of the Scale `scale_for(current)` gives; the new Scale."""
    def mutate(current: Obj | None) -> Obj:
        assert current is not None
        scale = decode_scale(scale_for(current), name, opts)
        scale["metadata"].setdefault("namespace", namespace)
        errs = validate_scale(scale)
        if errs:
            raise errors.StatusError(422, "Invalid", f'Scale.autoscaling "{name}" is invalid: {errs.aggregate()}',
                                     {"name": name, "group": "autoscaling", "kind": "Scale",
                                      "causes": errs.causes()})
        wanted = scale["metadata"].get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise errors.conflict(registry.kind, name)
        obj = copy.deepcopy(current)
        obj.setdefault("spec", {})["replicas"] = (scale.get("spec") or {}).get("replicas") or 0
        return obj

    try:
        stored, _ = await registry.update(namespace, name, mutate, opts, "scale")
    except errors.StatusError as err:
        raise _of_scale(err, registry, name) from None
    return scale_of(stored)
