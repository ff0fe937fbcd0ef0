"""The garbage collector (kube-controller-manager's, in-process): deletes objects whose owners are gone, across
kinds, honouring the three propagation policies.

Every object listing `metadata.ownerReferences` is a dependent of the owners they name (by uid). The collector
keeps an index owner uid → dependents, fed by every watch cache's changes, and works on objects through a queue
as upstream's attemptToDelete and attemptToOrphan do:

- a dependent none of whose owners exists any more (absent, or another uid under that name) is deleted, with
  the propagation its own finalizers ask for (Background otherwise): **Background** cascading;
- an owner marked for deletion with the `foregroundDeletion` finalizer (**Foreground**) gets its dependents
  deleted (those that have dependents of their own in the foreground too) and loses the finalizer, which
  removes it, once no dependent with `blockOwnerDeletion` remains;
- an owner marked for deletion with the `orphan` finalizer (**Orphan**) has its reference removed from every
  dependent, then loses the finalizer;
- a dependent that still has a live owner only loses its references to owners gone or waiting for foreground
  deletion.

Owners are looked up in storage, never only in a cache, so a dependent is not deleted because its owner's
creation has yet to reach the cache. An owner of a kind this server does not serve keeps its dependents.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable
from dataclasses import dataclass

from apiserver import errors
from apiserver.cacher.event import CacheEvent
from apiserver.deletion import FOREGROUND, ORPHAN, DeleteOptions
from apiserver.kinds.base import Obj
from apiserver.lifecycle import worker
from apiserver.lifecycle.queue import WorkQueue
from apiserver.options import WriteOptions
from apiserver.registry import Mutation, Registry

MANAGER = "kube-controller-manager"  # the field manager its User-Agent gives
WORKERS = 4
RESYNC_SECONDS = 300.0  # the index is rebuilt (changes a relisted cache did not tell) this often
RELIST_CHECK_SECONDS = 2.0  # and this soon after a cache was listed again


@dataclass(frozen=True)
class Node:
    """An object the collector works on: its resource, namespace, name and uid."""

    resource: str
    namespace: str
    name: str
    uid: str


class GarbageCollector:
    """Ownership index and workers over every registry; `start` it once the watch caches are listed."""

    def __init__(self, registries: dict[str, Registry]) -> None:
        self.registries = registries
        self.by_kind: dict[tuple[str, str], Registry] = {}  # (group, kind) → its registry, filled by `attach`
        self.dependents: dict[str, set[Node]] = {}  # owner uid → its dependents
        self.queue: WorkQueue[Node] = WorkQueue()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for registry in self.registries.values():
            self.attach(registry)
        self.resync()
        self._tasks = worker.start("garbage collector", self.queue, self.sync, WORKERS)
        self._tasks.append(asyncio.create_task(self._resync_periodically(), name="garbage collector resync"))

    def attach(self, registry: Registry) -> None:
        """Follow a registry (those registered after `start` too: a custom resource's); it must be in `registries`."""
        self.by_kind[(registry.kind.group, registry.kind.kind)] = registry
        if registry.kind.view is None:  # a view's objects (events.k8s.io's Events) are the stored kind's
            registry.cacher.listeners.append(functools.partial(self._changed, registry))

    async def stop(self) -> None:
        self.queue.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # The index, fed by the caches

    def resync(self) -> None:
        """Rebuild the index from the caches and queue what may need work: objects being deleted with a
        collector's finalizer, dependents of owners no cache holds."""
        self.dependents.clear()
        uids: set[str] = set()
        objects: list[tuple[Registry, Obj]] = []
        for registry in self.registries.values():
            if registry.kind.view is not None:
                continue
            for obj in registry.cacher.cache.snapshot():
                uids.add(obj["metadata"].get("uid", ""))
                objects.append((registry, obj))
        for registry, obj in objects:
            node = self._node(registry, obj)
            meta = obj["metadata"]
            for ref in meta.get("ownerReferences") or ():
                self.dependents.setdefault(ref.get("uid", ""), set()).add(node)
                if ref.get("uid") not in uids:
                    self.queue.add(node)
            if _collecting(meta):
                self.queue.add(node)

    async def _resync_periodically(self) -> None:
        """Rebuild the index every RESYNC_SECONDS, and soon after a cache was relisted (its listing told no changes)."""
        listed, since = self._listings(), 0.0
        while True:
            await asyncio.sleep(RELIST_CHECK_SECONDS)
            since += RELIST_CHECK_SECONDS
            if since >= RESYNC_SECONDS or self._listings() != listed:
                listed, since = self._listings(), 0.0
                self.resync()

    def _listings(self) -> int:
        return sum(registry.cacher.meters.initializations for registry in self.registries.values())

    @staticmethod
    def _node(registry: Registry, obj: Obj) -> Node:
        meta = obj["metadata"]
        return Node(registry.kind.plural, meta.get("namespace", ""), meta["name"], meta.get("uid", ""))

    def _changed(self, registry: Registry, event: CacheEvent) -> None:
        node = self._node(registry, event.obj)
        meta = event.obj["metadata"]
        before = _owner_uids(event.prev)
        after = set() if event.type == "DELETED" else _owner_uids(event.obj)
        for uid in before - after:
            held = self.dependents.get(uid)
            if held is not None:
                held.discard(node)
                if not held:
                    del self.dependents[uid]
        for uid in after - before:
            self.dependents.setdefault(uid, set()).add(node)
        if after - before and not self._owners_alive(node, event.obj):
            self.queue.add(node)  # a new owner may be gone already
        if event.type == "DELETED" or before != after:
            for ref in (event.prev or event.obj)["metadata"].get("ownerReferences") or ():
                owner = self._owner_node(node, ref)
                if owner is not None:
                    self.queue.add(owner)  # an owner waiting for its dependents may go now
        if event.type == "DELETED":
            for dependent in self.dependents.get(node.uid, ()):
                self.queue.add(dependent)
        elif _collecting(meta):
            self.queue.add(node)
            for dependent in self.dependents.get(node.uid, ()):
                self.queue.add(dependent)

    def _owners_alive(self, node: Node, obj: Obj) -> bool:
        """Whether the cache holds every owner `obj` names, not being deleted (so there is nothing to do yet)."""
        for ref in obj["metadata"].get("ownerReferences") or ():
            owner = self._owner_node(node, ref)
            if owner is None:
                return False
            registry = self.registries[owner.resource]
            cached = registry.cacher.cache.store.get(registry.key(owner.namespace, owner.name))
            meta = cached.obj["metadata"] if cached is not None else {}
            if meta.get("uid") != owner.uid or meta.get("deletionTimestamp"):
                return False
        return True

    def _owner_node(self, dependent: Node, ref: Obj) -> Node | None:
        registry = self._registry_of(ref)
        if registry is None:
            return None
        namespace = dependent.namespace if registry.kind.namespaced else ""
        return Node(registry.kind.plural, namespace, str(ref.get("name", "")), str(ref.get("uid", "")))

    def _registry_of(self, ref: Obj) -> Registry | None:
        group = str(ref.get("apiVersion", "")).rpartition("/")[0]
        registry = self.by_kind.get((group, str(ref.get("kind", ""))))
        return registry if registry is not None and self.registries.get(registry.kind.plural) is registry else None

    # Work

    async def sync(self, node: Node) -> None:
        registry = self.registries.get(node.resource)
        if registry is None:
            return  # its kind is served no more
        obj = await registry._read(node.namespace, node.name)
        if obj is None or obj["metadata"].get("uid") != node.uid:
            return
        meta = obj["metadata"]
        finalizers = meta.get("finalizers") or ()
        if meta.get("deletionTimestamp"):
            if ORPHAN in finalizers:
                await self._orphan_dependents(registry, node)
            elif FOREGROUND in finalizers:
                await self._delete_dependents(registry, node)
            return
        if meta.get("ownerReferences"):
            await self._attempt_to_delete(registry, node, obj)

    async def _attempt_to_delete(self, registry: Registry, node: Node, obj: Obj) -> None:
        """Upstream's attemptToDeleteItem for an object not being deleted."""
        solid: list[str] = []
        gone: list[str] = []
        waiting: list[str] = []
        for ref in obj["metadata"]["ownerReferences"]:
            owner = await self._owner(node, ref)
            uid = str(ref.get("uid", ""))
            if owner is None:
                gone.append(uid)
            elif owner is _UNKNOWN:
                solid.append(uid)
            elif owner["metadata"].get("deletionTimestamp") and FOREGROUND in (owner["metadata"].get("finalizers") or ()):
                waiting.append(uid)
            else:
                solid.append(uid)
        if solid:
            if gone or waiting:
                await self._drop_references(registry, node, set(gone) | set(waiting))
            return
        finalizers = obj["metadata"].get("finalizers") or ()
        if waiting and self.dependents.get(node.uid):
            if any(self._deleting_dependents(d) for d in self.dependents[node.uid]):
                await self._unblock(registry, node)  # a cycle (or a false positive, as upstream's detection has)
            policy = "Foreground"
        elif ORPHAN in finalizers:
            policy = "Orphan"
        elif FOREGROUND in finalizers:
            policy = "Foreground"
        else:
            policy = "Background"
        await self._delete(registry, node, policy)

    async def _owner(self, dependent: Node, ref: Obj) -> Obj | None:
        """The owner `ref` names if it exists with its uid; None if gone, _UNKNOWN for a kind not served here."""
        registry = self._registry_of(ref)
        if registry is None:
            return _UNKNOWN
        namespace = dependent.namespace if registry.kind.namespaced else ""
        if registry.kind.namespaced and not dependent.namespace:
            return None  # a cluster-scoped object cannot be owned by a namespaced one
        name = str(ref.get("name", ""))
        cached = registry.cacher.cache.store.get(registry.key(namespace, name))
        if cached is not None and cached.obj["metadata"].get("uid") == ref.get("uid") \
                and not cached.obj["metadata"].get("deletionTimestamp"):
            alive: Obj = cached.obj
            return alive  # alive (were it deleted since, its DELETED event requeues the dependent)
        owner = await registry._read(namespace, name)
        if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
            return None
        return owner

    async def _delete_dependents(self, registry: Registry, node: Node) -> None:
        """An owner in foreground deletion: its dependents are queued (they find it waiting and go); it loses the
        finalizer once none of those blocking its deletion is left."""
        blocking = False
        for dependent in self._served(self.dependents.get(node.uid, ())):
            obj = await self.registries[dependent.resource]._read(dependent.namespace, dependent.name)
            if obj is None or obj["metadata"].get("uid") != dependent.uid:
                continue
            refs = [r for r in obj["metadata"].get("ownerReferences") or () if r.get("uid") == node.uid]
            if not refs:
                continue
            if any(r.get("blockOwnerDeletion") for r in refs):
                blocking = True
            if not obj["metadata"].get("deletionTimestamp"):
                self.queue.add(dependent)
        if not blocking:
            await self._remove_finalizer(registry, node, FOREGROUND)

    async def _orphan_dependents(self, registry: Registry, node: Node) -> None:
        """An owner deleted with propagationPolicy Orphan: its dependents lose their reference to it, then it
        loses the finalizer."""
        for dependent in self._served(self.dependents.get(node.uid, ())):
            await self._drop_references(self.registries[dependent.resource], dependent, {node.uid})
        await self._remove_finalizer(registry, node, ORPHAN)

    async def _drop_references(self, registry: Registry, node: Node, uids: set[str]) -> None:
        def drop(obj: Obj | None) -> Obj:
            assert obj is not None
            _check_uid(obj, node)
            refs = [r for r in obj["metadata"].get("ownerReferences") or () if r.get("uid") not in uids]
            if refs:
                obj["metadata"]["ownerReferences"] = refs
            else:
                obj["metadata"].pop("ownerReferences", None)
            return obj

        await self._update(registry, node, drop)

    def _served(self, nodes: Iterable[Node]) -> list[Node]:
        """`nodes` of the kinds still served (a copy: the index may change while they are worked on)."""
        return [node for node in nodes if node.resource in self.registries]

    def _deleting_dependents(self, node: Node) -> bool:
        """Whether the cache shows `node` in foreground deletion."""
        registry = self.registries.get(node.resource)
        if registry is None:
            return False
        cached = registry.cacher.cache.store.get(registry.key(node.namespace, node.name))
        if cached is None or cached.obj["metadata"].get("uid") != node.uid:
            return False
        meta = cached.obj["metadata"]
        return bool(meta.get("deletionTimestamp")) and FOREGROUND in (meta.get("finalizers") or ())

    async def _unblock(self, registry: Registry, node: Node) -> None:
        """blockOwnerDeletion false on every reference of `node` (upstream's unblockOwnerReferences), so that owners
        waiting for it in a cycle can go."""
        def unblock(obj: Obj | None) -> Obj:
            assert obj is not None
            _check_uid(obj, node)
            for ref in obj["metadata"].get("ownerReferences") or ():
                if ref.get("blockOwnerDeletion"):
                    ref["blockOwnerDeletion"] = False
            return obj

        await self._update(registry, node, unblock)

    async def _remove_finalizer(self, registry: Registry, node: Node, finalizer: str) -> None:
        def remove(obj: Obj | None) -> Obj:
            assert obj is not None
            _check_uid(obj, node)
            kept = [f for f in obj["metadata"].get("finalizers") or () if f != finalizer]
            if kept:
                obj["metadata"]["finalizers"] = kept
            else:
                obj["metadata"].pop("finalizers", None)
            return obj

        await self._update(registry, node, remove)

    async def _update(self, registry: Registry, node: Node, change: Mutation) -> None:
        try:
            await registry.update(node.namespace, node.name, change, WriteOptions(field_manager=MANAGER))
        except errors.StatusError as err:
            if err.code not in (404, 409):  # gone, or replaced by another object of that name
                raise

    async def _delete(self, registry: Registry, node: Node, policy: str) -> None:
        options = DeleteOptions(propagation=policy, preconditions={"uid": node.uid})
        try:
            await registry.delete(node.namespace, node.name, options, WriteOptions())
        except errors.StatusError as err:
            if err.code not in (404, 409):
                raise


_UNKNOWN: Obj = {}


def _collecting(meta: Obj) -> bool:
    """Marked for deletion with a finalizer the collector acts on."""
    finalizers = meta.get("finalizers") or ()
    return bool(meta.get("deletionTimestamp")) and (ORPHAN in finalizers or FOREGROUND in finalizers)


def _owner_uids(obj: Obj | None) -> set[str]:
    if obj is None:
        return set()
    return {str(ref.get("uid", "")) for ref in obj["metadata"].get("ownerReferences") or ()}


def _check_uid(obj: Obj, node: Node) -> None:
    if obj["metadata"].get("uid") != node.uid:
        raise errors.StatusError(409, "Conflict", f"{node.name} was replaced by another object")
