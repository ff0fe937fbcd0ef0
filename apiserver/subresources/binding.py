"""pods/binding: the scheduler's write assigning a pod to a node (upstream's BindingREST).

The pod gets spec.nodeName, the Binding's annotations and a PodScheduled=True condition, in one storage update
that bypasses the pod's strategy (so managedFields are untouched, as upstream). A pod on a node already, or being
deleted, is a 409 on `pods/binding`.
"""

from __future__ import annotations

from apiserver import errors
from apiserver.kinds.base import Obj
from apiserver.kinds.upstream import CORE, definition
from apiserver.options import WriteOptions
from apiserver.registry import Registry
from apiserver.subresources.podcondition import guaranteed_update, update_condition
from apiserver.validation.field import ErrorList, not_supported, required

BINDING = definition(CORE + "Binding")


def validate_binding(binding: Obj) -> ErrorList:
    """ValidatePodBinding: a Node target (kind Node or empty) with a name."""
    errs = ErrorList()
    target = binding.get("target") or {}
    if target.get("kind") and target["kind"] != "Node":
        errs.append(not_supported("target.kind", target["kind"], ("Node", "<empty>"), sort=False))
    if not target.get("name"):
        errs.append(required("target.name"))
    return errs


async def bind(pods: Registry, namespace: str, binding: Obj, opts: WriteOptions) -> None:
    """Assign the pod named by `binding` to its target node; errors as upstream's assignPod reports them."""
    errs = validate_binding(binding)
    if errs:  # upstream returns the aggregate as a plain error: a 500 without reason
        raise errors.StatusError(500, "", errs.aggregate())
    meta = binding["metadata"]

    def assign(pod: Obj) -> None:
        _check_preconditions(pods, pod, meta)
        _assign(pod, binding["target"]["name"], meta.get("annotations") or {})

    await guaranteed_update(pods, namespace, meta["name"], assign, opts.dry_run)


def _check_preconditions(pods: Registry, pod: Obj, meta: Obj) -> None:
    """The Binding's uid and resourceVersion, when set, must be the pod's (storage preconditions)."""
    pod_meta = pod["metadata"]
    for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
        wanted = meta.get(field)
        if wanted and wanted != pod_meta.get(field):
            raise errors.conflict(pods.kind, pod_meta["name"], why=(
                f"StorageError: invalid object, Code: 4, Key: {pods.key(pod_meta['namespace'], pod_meta['name'])}, "
                f"ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: {label} in precondition: {wanted}, "
                f"{label} in object meta: {pod_meta.get(field, '')}"))


def _assign(pod: Obj, node: str, annotations: dict[str, str]) -> None:
    meta, spec = pod["metadata"], pod.setdefault("spec", {})
    name = meta["name"]
    if meta.get("deletionTimestamp"):
        raise _binding_conflict(name, f"pod {name} is being deleted, cannot be assigned to a host")
    if spec.get("nodeName"):
        raise _binding_conflict(name, f'pod {name} is already assigned to node "{spec["nodeName"]}"')
    if spec.get("schedulingGates"):
        raise _binding_conflict(name, f"pod {name} has non-empty .spec.schedulingGates")
    spec["nodeName"] = node
    if annotations:
        meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
    update_condition(pod.setdefault("status", {}), "PodScheduled", "True")


def _binding_conflict(name: str, why: str) -> errors.StatusError:
    return errors.StatusError(409, "Conflict", f'Operation cannot be fulfilled on pods/binding "{name}": {why}',
                              {"name": name, "kind": "pods/binding"})
