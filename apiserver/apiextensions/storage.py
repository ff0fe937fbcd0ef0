"""The CustomResourceDefinition registry: a first DELETE marks the CRD, whose objects the CRD controller then
deletes before removing it (upstream's customresourcedefinition REST Delete)."""

from __future__ import annotations

import copy

from apiserver import codec, errors
from apiserver.apiextensions.definition import CLEANUP_FINALIZER
from apiserver.deletion import DeleteOptions
from apiserver.kinds.base import Obj
from apiserver.options import WriteOptions
from apiserver.registry import MAX_UPDATE_RETRIES, Registry, now
from storage import StorageError


class CustomResourceDefinitionRegistry(Registry):
    """Deleting a CRD sets its deletionTimestamp, the cleanup finalizer and the Terminating condition."""

    async def delete(self, namespace: str, name: str, options: DeleteOptions,
                     opts: WriteOptions) -> tuple[Obj, bool]:
        for _ in range(MAX_UPDATE_RETRIES):
            try:
                _, kv = await self.storage.get(self.key(namespace, name))
            except StorageError as err:
                raise errors.from_storage(err, self.kind, name, "get") from None
            if kv is None:
                raise errors.not_found(self.kind, name)
            current = codec.decode(kv)
            self._check_preconditions(current, options.preconditions)
            if current["metadata"].get("deletionTimestamp"):
                return await super().delete(namespace, name, options, opts)
            marked = terminating(current)
            if opts.dry_run:
                return marked, False
            try:
                return await self._store(kv, marked), False
            except errors.StatusError as err:
                if err.reason != "Conflict":
                    raise
        raise errors.conflict(self.kind, name)


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
