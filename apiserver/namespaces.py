"""Namespace lifecycle: admission of writes into namespaces, the built-in namespaces, and deletion.

Writes into a missing namespace get 404 and into a terminating one 403, as the NamespaceLifecycle
admission plugin answers. Deleting a namespace marks it Terminating, deletes everything in it
(each deletion is a DELETED watch event) and then removes the namespace itself: the work the
namespace controller does, done before the request returns so nothing stays stuck in Terminating.
"""

from __future__ import annotations

from apiserver import codec, errors
from apiserver.discovery import GIT_VERSION
from apiserver.kinds.base import Obj
from apiserver.kinds.namespace import NAMESPACE
from apiserver.options import ListOptions, WriteOptions
from apiserver.registry import Registry

BUILT_IN = ("default", "kube-system", "kube-public", "kube-node-lease")
BOOTSTRAP_MANAGER = f"kube-apiserver-{GIT_VERSION}"  # the manager kube-apiserver records for what it creates itself


class NamespaceRegistry(Registry):
    """The Namespace registry, with cascading deletion over the namespaced registries."""

    namespaced: dict[str, Registry]

    async def check_writable(self, namespace: str) -> None:
        obj = await self._read("", namespace)
        if obj is None:
            raise errors.not_found(NAMESPACE, namespace)
        if obj.get("status", {}).get("phase") == "Terminating":
            raise errors.forbidden(
                f"unable to create new content in namespace {namespace} because it is being terminated",
                {"name": namespace, "kind": "namespaces",
                 "causes": [{"reason": "NamespaceTerminating", "message":
                             f"namespace {namespace} is being terminated", "field": "metadata.namespace"}]})

    async def ensure_built_in(self) -> None:
        for name in BUILT_IN:
            if await self._read("", name) is None:
                try:
                    await self.create("", {"metadata": {"name": name}}, WriteOptions(field_manager=BOOTSTRAP_MANAGER))
                except errors.StatusError as err:
                    if err.reason != "AlreadyExists":  # another replica on the same etcd created it first
                        raise

    async def delete(self, namespace: str, name: str, options: Obj, opts: WriteOptions) -> Obj:
        _, kv = await self.storage.get(self.key("", name))
        if kv is None:
            raise errors.not_found(NAMESPACE, name)
        current = codec.decode(kv)
        self._check_preconditions(current, options.get("preconditions") or {})
        if opts.dry_run:
            return current
        marked = await self._mark_deleted("", name, current, kv, opts)
        everything = ListOptions()
        for registry in self.namespaced.values():
            await registry.delete_collection(name, everything, {}, WriteOptions())
        _, kv = await self.storage.get(self.key("", name))
        if kv is not None:
            await self._remove("", name, codec.decode(kv), kv, opts)
        return marked
