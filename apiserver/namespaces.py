"""Namespace lifecycle: admission of writes into namespaces, the built-in namespaces, and deletion.

Writes into a missing namespace get 404 and into a terminating one 403, as the NamespaceLifecycle
admission plugin answers. Deleting a namespace marks it Terminating (the DELETE answers that, as
kube-apiserver does), deletes everything in it (each deletion is a DELETED watch event) and then
removes the namespace itself: the work the namespace controller does, done before the request
returns so nothing stays stuck in Terminating. Pods in it are deleted without grace period.
"""

from __future__ import annotations

import copy

from apiserver import codec, deletion, errors
from apiserver.deletion import DeleteOptions
from apiserver.discovery import GIT_VERSION
from apiserver.kinds.base import Kind, Obj
from apiserver.kinds.namespace import NAMESPACE
from apiserver.options import ListOptions, WriteOptions
from apiserver.registry import Registry, now

BUILT_IN = ("default", "kube-system", "kube-public", "kube-node-lease")
BOOTSTRAP_MANAGER = f"kube-apiserver-{GIT_VERSION}"  # the manager kube-apiserver records for what it creates itself


class NamespaceRegistry(Registry):
    """The Namespace registry, with cascading deletion over the namespaced registries."""

    namespaced: dict[str, Registry]

    async def check_writable(self, namespace: str, kind: Kind, name: str) -> None:
        """NamespaceLifecycle on a create of `kind` `name`: 404 for a missing namespace, 403 for a terminating one."""
        obj = await self._read("", namespace)
        if obj is None:
            raise errors.not_found(NAMESPACE, namespace)
        if obj.get("status", {}).get("phase") == "Terminating":
            details: Obj = {"name": name, **({"group": kind.group} if kind.group else {}), "kind": kind.plural,
                            "causes": [{"reason": "NamespaceTerminating", "message":
                                        f"namespace {namespace} is being terminated", "field": "metadata.namespace"}]}
            raise errors.forbidden(f'{kind.qualified_resource} "{name}" is forbidden: unable to create new content in '
                                   f"namespace {namespace} because it is being terminated", details)

    async def ensure_built_in(self) -> None:
        for name in BUILT_IN:
            if await self._read("", name) is None:
                try:
                    await self.create("", {"metadata": {"name": name}}, WriteOptions(field_manager=BOOTSTRAP_MANAGER))
                except errors.StatusError as err:
                    if err.reason != "AlreadyExists":  # another replica on the same etcd created it first
                        raise

    async def delete(self, namespace: str, name: str, options: DeleteOptions,
                     opts: WriteOptions) -> tuple[Obj, bool]:
        """Mark the namespace Terminating (the answer, as kube-apiserver's), then finalize it in-process."""
        _, kv = await self.storage.get(self.key("", name))
        if kv is None:
            raise errors.not_found(NAMESPACE, name)
        current = codec.decode(kv)
        self._check_preconditions(current, options.preconditions)
        if current["metadata"].get("deletionTimestamp"):
            return current, False
        marked = terminating(current, options)
        if opts.dry_run:
            return marked, False
        marked = await self._store(kv, marked)
        await self._finalize(name)
        return marked, False

    async def _finalize(self, name: str) -> None:
        """The namespace controller's work: delete the contents, then the namespace unless finalizers of others
        remain (the garbage collector's `orphan`/`foregroundDeletion` would go at once: it has no dependents)."""
        everything = ListOptions()
        for registry in list(self.namespaced.values()):  # a CRD deleted meanwhile takes its kind away
            await registry.delete_collection(name, everything, DeleteOptions(grace_period=0), WriteOptions())
        _, kv = await self.storage.get(self.key("", name))
        if kv is None:
            return
        current = codec.decode(kv)
        meta = current["metadata"]
        others = [f for f in meta.get("finalizers") or () if f not in (deletion.ORPHAN, deletion.FOREGROUND)]
        if not others:
            await self._remove("", name, current, kv.key, kv.mod_revision)
            return
        current["spec"]["finalizers"] = []
        meta["finalizers"] = others
        await self._store(kv, current)


def terminating(namespace: Obj, options: DeleteOptions) -> Obj:
    """The namespace after its first DELETE: deletionTimestamp now (no grace period), phase Terminating, and the
    garbage collector's finalizers as the options ask."""
    marked = copy.deepcopy(namespace)
    meta = marked["metadata"]
    meta["deletionTimestamp"] = now()
    marked["status"] = {**marked.get("status", {}), "phase": "Terminating"}
    finalizers = deletion.gc_finalizers(meta.get("finalizers") or [], options)
    if finalizers:
        meta["finalizers"] = finalizers
    else:
        meta.pop("finalizers", None)
    return marked
