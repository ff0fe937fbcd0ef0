"""Namespace lifecycle in the API: admission of writes into namespaces, the built-in namespaces, and deletion.

Writes into a missing namespace get 404 and into a terminating one 403, as the NamespaceLifecycle
admission plugin answers. Deleting a namespace marks it Terminating (the DELETE answers that, as
kube-apiserver does); the namespace controller (`apiserver.lifecycle.namespace`) then deletes everything
in it and finalizes it, which removes it.
"""

from __future__ import annotations

import copy

from apiserver import deletion, errors
from apiserver.deletion import DeleteOptions
from apiserver.discovery import GIT_VERSION
from apiserver.guaranteed_update import Current, Keep, Outcome, Put
from apiserver.kinds.base import Kind, Obj
from apiserver.kinds.namespace import NAMESPACE
from apiserver.options import WriteOptions
from apiserver.registry import Registry, now

BUILT_IN = ("default", "kube-system", "kube-public", "kube-node-lease")
BOOTSTRAP_MANAGER = f"kube-apiserver-{GIT_VERSION}"  # the manager kube-apiserver records for what it creates itself


class NamespaceRegistry(Registry):
    """The Namespace registry: NamespaceLifecycle admission and the namespace's own deletion rules."""

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
        """Mark the namespace Terminating (the answer, as kube-apiserver's); the namespace controller then deletes
        its contents and finalizes it. One already terminating is answered as it is while its spec.finalizers
        remain, else deleted as any object (as upstream's namespace REST)."""

        async def try_mark(current: Current) -> Outcome:
            if current.obj is None:
                raise errors.not_found(NAMESPACE, name)
            self._check_preconditions(current.obj, options.preconditions)
            if current.obj["metadata"].get("deletionTimestamp"):
                return Keep(current.obj)
            marked = terminating(current.obj, options)
            return Keep(marked) if opts.dry_run else Put(marked)

        outcome = await self.guaranteed_update(self.key("", name), try_mark)
        obj = outcome.obj
        if isinstance(outcome, Keep) and obj["metadata"].get("deletionTimestamp") and not opts.dry_run \
                and not (obj.get("spec") or {}).get("finalizers"):
            return await super().delete(namespace, name, options, opts)
        return obj, False

    def deletes_on_update(self, new: Obj, current: Obj) -> bool:
        """Only once its spec.finalizers are gone too (upstream's ShouldDeleteNamespaceDuringUpdate)."""
        return not (new.get("spec") or {}).get("finalizers") and super().deletes_on_update(new, current)


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
