"""Pod conditions set by kube-apiserver itself: PodScheduled by a Binding, DisruptionTarget by an Eviction."""

from __future__ import annotations

from collections.abc import Callable

from apiserver import errors
from apiserver.guaranteed_update import Current, Keep, Outcome, Put
from apiserver.kinds.base import Obj
from apiserver.registry import Registry, now


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
    """A write of kube-apiserver's own to a pod (no strategy, no managedFields entry): `change` the latest pod and
    store it unless nothing changed. Returns the pod as stored."""

    async def try_change(current: Current) -> Outcome:
        if current.obj is None:
            raise errors.not_found(pods.kind, name)
        pod = current.copy()
        change(pod)
        return Keep(pod) if dry_run or pod == current.obj else Put(pod)

    outcome = await pods.guaranteed_update(pods.key(namespace, name), try_change)
    return outcome.answer
