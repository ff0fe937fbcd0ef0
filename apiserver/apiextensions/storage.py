"""The CustomResourceDefinition registry: a first DELETE marks the CRD, whose objects the CRD controller then
deletes before removing it (upstream's customresourcedefinition REST Delete)."""

from __future__ import annotations

import copy

from apiserver import errors
from apiserver.apiextensions.definition import CLEANUP_FINALIZER
from apiserver.deletion import DeleteOptions
from apiserver.guaranteed_update import Current, Keep, Outcome, Put
from apiserver.kinds.base import Obj
from apiserver.options import WriteOptions
from apiserver.registry import Registry, now


class CustomResourceDefinitionRegistry(Registry):
    """Deleting a CRD sets its deletionTimestamp, the cleanup finalizer and the Terminating condition."""

    async def delete(self, namespace: str, name: str, options: DeleteOptions,
                     opts: WriteOptions) -> tuple[Obj, bool]:
        already = False

        async def try_mark(current: Current) -> Outcome:
            nonlocal already
            if current.obj is None:
                raise errors.not_found(self.kind, name)
            self._check_preconditions(current.obj, options.preconditions)
            already = bool(current.obj["metadata"].get("deletionTimestamp"))
            if already:
                return Keep(current.obj)
            marked = terminating(current.obj)
            return Keep(marked) if opts.dry_run else Put(marked)

        outcome = await self.guaranteed_update(self.key(namespace, name), try_mark)
        if already:  # deleted as any object: removed once the controller took its finalizer away
            return await super().delete(namespace, name, options, opts)
        return outcome.obj, False


def terminating(crd: Obj) -> Obj:
    marked = copy.deepcopy(crd)
    meta = marked["metadata"]
    meta["deletionTimestamp"] = now()
    if CLEANUP_FINALIZER not in (meta.get("finalizers") or ()):
        meta["finalizers"] = [*(meta.get("finalizers") or ()), CLEANUP_FINALIZER]
    status = marked.setdefault("status", {})
    conditions = [c for c in status.get("conditions") or () if c.get("type") != "Terminating"]
    conditions.append({"type": "Terminating", "status": "True", "lastTransitionTime": now(),
                       "reason": "InstanceDeletionPending",
                       "message": "CustomResourceDefinition marked for deletion; CustomResource deletion will begin "
                                  "soon"})
    status["conditions"] = conditions
    return marked
