"""The namespace controller (kube-controller-manager's, in-process): empties a terminating namespace, then
finalizes it.

A namespace marked for deletion (the DELETE answered it Terminating) is synced until it is gone: every
namespaced kind's objects in it are deleted (deletecollection, propagationPolicy Background, as upstream's
namespacedResourcesDeleter; without grace period, since no kubelet finishes a pod's), the status conditions say
what remains (upstream's five: discovery, group-version parsing, content deletion, content remaining, finalizers
remaining), and once it is empty the `kubernetes` finalizer is removed from spec.finalizers through
namespaces/finalize, which removes the namespace unless other finalizers (spec or metadata) remain. Objects
held by finalizers keep it Terminating: their changes requeue it, so it goes as soon as they do.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from apiserver import errors
from apiserver.cacher.event import CacheEvent
from apiserver.deletion import DeleteOptions
from apiserver.kinds.base import Obj
from apiserver.lifecycle import worker
from apiserver.lifecycle.queue import WorkQueue
from apiserver.options import ListOptions, WriteOptions
from apiserver.registry import Mutation, Registry, now

MANAGER = "kube-controller-manager"  # the field manager its User-Agent gives
FINALIZER = "kubernetes"
RESYNC_SECONDS = 5.0  # a namespace with content left is synced again at least this often
RESYNC_PERIOD = 30.0  # every terminating namespace is queued again this often
WORKERS = 2

CONTENT_REMAINING = "NamespaceContentRemaining"
FINALIZERS_REMAINING = "NamespaceFinalizersRemaining"
CONTENT_FAILURE = "NamespaceDeletionContentFailure"
# condition type → (reason, message) when all is well, in upstream's order
HEALTHY = {
    "NamespaceDeletionDiscoveryFailure": ("ResourcesDiscovered", "All resources successfully discovered"),
    "NamespaceDeletionGroupVersionParsingFailure": ("ParsedGroupVersions", "All legacy kube types successfully parsed"),
    CONTENT_FAILURE: ("ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
    CONTENT_REMAINING: ("ContentRemoved", "All content successfully removed"),
    FINALIZERS_REMAINING: ("ContentHasNoFinalizers", "All content-preserving finalizers finished"),
}


class NamespaceController:
    """Syncs terminating namespaces; `start` it once the watch caches are listed."""

    def __init__(self, registries: dict[str, Registry]) -> None:
        self.registries = registries
        self.namespaces = registries["namespaces"]
        self.queue: WorkQueue[str] = WorkQueue()
        self.terminating: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.namespaces.cacher.listeners.append(self._namespace_changed)
        for registry in self._contents():
            self.attach(registry)
        self.resync()
        self._tasks = worker.start("namespace controller", self.queue, self.sync, WORKERS)
        self._tasks.append(asyncio.create_task(self._resync_periodically(), name="namespace controller resync"))

    def attach(self, registry: Registry) -> None:
        """Follow the changes of a namespaced kind (one served after `start` too: a custom resource's); every pass
        reads the registries served at the time."""
        if registry.kind.namespaced and registry.kind.view is None:  # a view's objects are the stored kind's
            registry.cacher.listeners.append(self._content_changed)

    def resync(self) -> None:
        """Queue every terminating namespace the cache holds (changes a relisted cache did not tell are caught up)."""
        for namespace in self.namespaces.cacher.cache.snapshot():
            if namespace["metadata"].get("deletionTimestamp"):
                self.terminating.add(namespace["metadata"]["name"])
                self.queue.add(namespace["metadata"]["name"])

    async def _resync_periodically(self) -> None:
        while True:
            await asyncio.sleep(RESYNC_PERIOD)
            self.resync()

    async def stop(self) -> None:
        self.queue.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _contents(self) -> list[Registry]:
        return [r for r in self.registries.values()
                if r.kind.namespaced and r.kind.view is None and "delete" in r.kind.verbs]

    def _namespace_changed(self, event: CacheEvent) -> None:
        name = event.obj["metadata"]["name"]
        if event.type == "DELETED":
            self.terminating.discard(name)
        elif event.obj["metadata"].get("deletionTimestamp"):
            self.terminating.add(name)
            self.queue.add(name)

    def _content_changed(self, event: CacheEvent) -> None:
        """Requeue a terminating namespace when an object in it goes or its finalizers change (what can let the
        namespace go on), not on every write of its objects."""
        namespace = event.obj["metadata"].get("namespace")
        if namespace not in self.terminating:
            return
        if event.type != "MODIFIED" or event.prev is None or \
                event.prev["metadata"].get("finalizers") != event.obj["metadata"].get("finalizers"):
            self.queue.add(namespace)

    async def sync(self, name: str) -> None:
        """One pass over a namespace (upstream's namespacedResourcesDeleter.Delete)."""
        namespace = await self.namespaces._read("", name)
        if namespace is None or not namespace["metadata"].get("deletionTimestamp"):
            self.terminating.discard(name)
            return
        self.terminating.add(name)
        if not (namespace.get("spec") or {}).get("finalizers"):
            return  # finalized: other finalizers (the garbage collector's, a client's) hold it
        remaining, finalizers, failures = await self._delete_content(name)
        await self._update_status(name, conditions(remaining, finalizers, failures))
        if remaining or failures:
            self.queue.add_after(name, RESYNC_SECONDS)
            return
        await self._finalize(name)

    async def _delete_content(self, name: str) -> tuple[dict[str, int], Counter[str], list[str]]:
        """Delete every object in the namespace; returns what remains by resource (`pods.`, `leases.coordination.k8s.io`),
        the remaining objects' finalizers and the errors met."""
        remaining: dict[str, int] = {}
        finalizers: Counter[str] = Counter()
        failures: list[str] = []
        options = DeleteOptions(grace_period=0, propagation="Background")
        for registry in self._contents():
            try:
                await registry.delete_collection(name, ListOptions(), options, WriteOptions(field_manager=MANAGER))
                left = (await registry.list(name, ListOptions())).items
            except errors.StatusError as err:
                failures.append(err.message)
                continue
            if left:
                remaining[f"{registry.kind.plural}.{registry.kind.group}"] = len(left)
                finalizers.update(f for obj in left for f in obj["metadata"].get("finalizers") or ())
        return remaining, finalizers, failures

    async def _update_status(self, name: str, wanted: dict[str, tuple[str, str, str]]) -> None:
        def change(namespace: Obj | None) -> Obj:
            assert namespace is not None
            status = namespace.setdefault("status", {})
            status["phase"] = "Terminating"
            status["conditions"] = update_conditions(status.get("conditions") or [], wanted, now())
            return namespace

        await self._write(name, change, "status")

    async def _finalize(self, name: str) -> None:
        def change(namespace: Obj | None) -> Obj:
            assert namespace is not None
            spec = namespace.setdefault("spec", {})
            spec["finalizers"] = sorted({f for f in spec.get("finalizers") or () if f != FINALIZER})
            return namespace

        await self._write(name, change, "finalize")

    async def _write(self, name: str, change: Mutation, subresource: str) -> None:
        try:
            await self.namespaces.update("", name, change, WriteOptions(field_manager=MANAGER), subresource)
        except errors.StatusError as err:
            if err.code != 404:  # gone meanwhile: nothing left to do
                raise


def conditions(remaining: dict[str, int], finalizers: Counter[str], failures: list[str]) -> dict[str, tuple[str, str, str]]:
    """The conditions one pass found, as type → (status, reason, message); healthy ones are False."""
    wanted = {kind: ("False", reason, message) for kind, (reason, message) in HEALTHY.items()}
    if failures:
        wanted[CONTENT_FAILURE] = ("True", "ContentDeletionFailed", f"Failed to delete all resource types, "
                                   f"{len(failures)} remaining: {', '.join(sorted(failures))}")
    if remaining:
        left = sorted(f"{resource} has {count} resource instances" for resource, count in remaining.items())
        wanted[CONTENT_REMAINING] = ("True", "SomeResourcesRemain", "Some resources are remaining: " + ", ".join(left))
    if finalizers:
        held = sorted(f"{finalizer} in {count} resource instances" for finalizer, count in finalizers.items())
        wanted[FINALIZERS_REMAINING] = ("True", "SomeFinalizersRemain",
                                        "Some content in the namespace has finalizers remaining: " + ", ".join(held))
    return wanted


def update_conditions(current: list[Obj], wanted: dict[str, tuple[str, str, str]], stamp: str) -> list[Obj]:
    """Upstream's updateConditions: each condition type set as wanted, its transition time moved only when its
    status changes; missing ones appended in order, others' conditions kept."""
    out = [dict(c) for c in current]
    by_type = {c.get("type"): c for c in out}
    for kind, (status, reason, message) in wanted.items():
        condition = by_type.get(kind)
        if condition is None:
            out.append({"type": kind, "status": status, "lastTransitionTime": stamp, "reason": reason,
                        "message": message})
            continue
        if condition.get("status") != status:
            condition["lastTransitionTime"] = stamp
        condition.update(status=status, reason=reason, message=message)
    return out
