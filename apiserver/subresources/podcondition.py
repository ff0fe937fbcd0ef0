"""Pod conditions set by kube-apiserver itself: PodScheduled by a Binding, DisruptionTarget by an Eviction."""

from __future__ import annotations

from collections.abc import Callable

from apiserver import codec, errors
from apiserver.kinds.base import Obj
from apiserver.registry import MAX_UPDATE_RETRIES, Registry, now
from storage import StorageError


def update_condition(status: Obj, kind: str, value: str, reason: str = "", message: str = "") -> None:
    """UpdatePodCondition: the condition replaced, its transition time kept when its status did not change."""
    conditions = status.setdefault("conditions", [])
    condition: Obj = {"type": kind, "status": value, "lastProbeTime": None, "lastTransitionTime": now()}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    for i, old in enumerate(conditions):
        if old.get("type") == kind:
            if old.get("status") == value:
                condition["lastTransitionTime"] = old.get("lastTransitionTime")
            conditions[i] = condition
            return
    conditions.append(condition)


async def guaranteed_update(pods: Registry, namespace: str, name: str, change: Callable[[Obj], None],
                            dry_run: bool = False) -> Obj:
    """A write of kube-apiserver's own to a pod (GuaranteedUpdate: no strategy, no managedFields entry): `change`
    the latest pod, store it unless nothing changed, retrying on a revision race. Returns the pod as stored."""
    for _ in range(MAX_UPDATE_RETRIES):
        _, kv = await pods.storage.get(pods.key(namespace, name))
        if kv is None:
            raise errors.not_found(pods.kind, name)
        current = codec.decode(kv)
        pod = codec.decode_again(kv, current)
        change(pod)
        if dry_run or pod == current:
            return pod
        try:
            rv = await pods.storage.update(kv.key, pods.encode(pod), kv.mod_revision)
        except StorageError as err:
            status = errors.from_storage(err, pods.kind, name, "update")
            if status.reason == "Conflict":
                continue
            raise status from None
        pod["metadata"]["resourceVersion"] = str(rv)
        return pod
    raise errors.conflict(pods.kind, name)
