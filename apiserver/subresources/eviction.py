"""pods/eviction: a policy/v1 Eviction deletes its pod with the DeleteOptions it carries (upstream's EvictionREST).

No PodDisruptionBudgets are served here, so none can refuse an eviction: as upstream when no budget matches, the
pod is deleted. A Pending pod is deleted under a resourceVersion precondition (upstream's
shouldEnforceResourceVersion) unless the client set one; a conflict is retried unless the client's precondition
caused it.
"""

from __future__ import annotations

from apiserver import errors
from apiserver.deletion import DeleteOptions, parse_delete_options
from apiserver.kinds.base import Obj
from apiserver.kinds.upstream import definition
from apiserver.options import WriteOptions
from apiserver.registry import Registry
from apiserver.subresources.podcondition import guaranteed_update, update_condition

API_VERSIONS = ("policy/v1", "policy/v1beta1")
EVICTION = definition("io.k8s.api.policy.v1.Eviction")
RETRIES = 20  # upstream's EvictionsRetry steps, for the resourceVersion precondition it sets itself


async def evict(pods: Registry, namespace: str, eviction: Obj, opts: WriteOptions) -> None:
    """Delete the evicted pod as the Eviction's DeleteOptions say; raises the delete's errors."""
    name = eviction["metadata"]["name"]
    options = parse_delete_options(eviction.get("deleteOptions"), {})
    if options.dry_run is not None:
        opts.dry_run = options.dry_run
    retry = not options.preconditions.get("resourceVersion")
    for _ in range(RETRIES):
        pod = await pods.get(namespace, name)
        meta = pod["metadata"]
        if retry and (pod.get("status") or {}).get("phase") == "Pending" and not meta.get("deletionTimestamp"):
            options.preconditions = {**options.preconditions, "resourceVersion": meta["resourceVersion"]}
        try:
            if not opts.dry_run:
                await _mark_disrupted(pods, namespace, name, options)
            await pods.delete(namespace, name, options, opts)
            return
        except errors.StatusError as err:
            if err.reason != "Conflict" or not retry:
                raise
    raise errors.conflict(pods.kind, name)


async def _mark_disrupted(pods: Registry, namespace: str, name: str, options: DeleteOptions) -> None:
    """addConditionAndDeletePod's status write: DisruptionTarget=True on the latest pod if it meets the
    preconditions; a resourceVersion precondition then names the revision written."""

    def mark(pod: Obj) -> None:
        pods._check_preconditions(pod, options.preconditions)
        update_condition(pod.setdefault("status", {}), "DisruptionTarget", "True", "EvictionByEvictionAPI",
                         "Eviction API: evicting")

    pod = await guaranteed_update(pods, namespace, name, mark)
    if options.preconditions.get("resourceVersion"):
        options.preconditions = {**options.preconditions, "resourceVersion": pod["metadata"]["resourceVersion"]}
