"""The CRD controller: apiextensions-apiserver's naming, establishing, serving and finalizing controllers in one loop.

It follows the CustomResourceDefinitions' watch cache, level-triggered: after any change it takes every CRD as
cached and
- accepts its names unless another CRD of the group holds one of them (NamesAccepted, then Established, in one
  status write, as the two upstream controllers end up writing);
- serves the kinds of every established CRD, and stops serving those of CRDs gone; when a CRD's spec changes, its
  kinds are replaced in place if their paths, names, scope and subresources stay (a new schema or printer column:
  storage, watch caches and open watches go on), else served anew;
- finishes a CRD's deletion: its objects are deleted, then the `customresourcecleanup` finalizer is removed.
A CRD is thus served before its creation's answer has reached a client that watches for Established.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Iterable
from aiohttp import web

from apiserver import errors
from apiserver.apiextensions import resource
from apiserver.apiextensions.definition import CLEANUP_FINALIZER, condition, is_true, storage_version
from apiserver.deletion import DeleteOptions
from apiserver.discovery import GIT_VERSION
from apiserver.kind_registry import KindConflict
from apiserver.kind_storage import KIND_STORAGE
from apiserver.kinds.base import Kind, Obj
from apiserver.options import ListOptions, WriteOptions
from apiserver.registry import Registry, now
from apiserver.state import REGISTRIES, SERVED_KINDS

log = logging.getLogger(__name__)

MANAGER = f"kube-apiserver-{GIT_VERSION}"
INITIAL_CRDS: web.AppKey[tuple[Obj, ...]] = web.AppKey("initial_crds")  # created as the server starts


class CRDController:
    """Keeps the served kinds in step with the stored CustomResourceDefinitions."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.registry: Registry = app[REGISTRIES]["customresourcedefinitions"]
        # CRD name → the uid/generation served, its kinds, the apiVersion they are stored at
        self.served: dict[str, tuple[str, list[Kind], str]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, crds: Iterable[Obj] = ()) -> None:
        """Create `crds` (those not stored yet), serve what the stored CRDs define (before the server is ready), then
        follow their changes."""
        written = 0
        for crd in crds:
            try:
                created = await self.registry.create("", copy.deepcopy(crd), WriteOptions(field_manager=MANAGER))
            except errors.StatusError as err:
                if err.reason != "AlreadyExists":
                    raise
                continue
            written = max(written, int(created["metadata"]["resourceVersion"]))
        if written:
            await self.registry.cacher.wait_fresh(written)
        await self.reconcile()
        self.registry.cacher.listeners.append(lambda _event: self._wake.set())
        self._task = asyncio.create_task(self._run(), name="crd controller")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.reconcile()
            except Exception:
                log.exception("reconciling CustomResourceDefinitions failed: retrying")
                await asyncio.sleep(0.5)
                self._wake.set()

    def _crds(self) -> list[Obj]:
        return [entry.obj for entry in self.registry.cacher.cache.entries()]

    async def reconcile(self) -> None:
        crds = self._crds()
        names = {crd["metadata"]["name"] for crd in crds}
        for name in [n for n in self.served if n not in names]:
            await self._unserve(name)
        for crd in crds:
            if crd["metadata"].get("deletionTimestamp"):
                await self._finalize(crd)
                continue
            crd = await self._establish(crd, crds)
            if is_true(crd, "Established"):
                await self._serve(crd)

    # naming and establishing

    async def _establish(self, crd: Obj, crds: list[Obj]) -> Obj:
        """The CRD with its names accepted or refused, and established (its kinds served first) once they are."""
        accepted, reason, message = self._accepted_names(crd, crds)
        status = crd.get("status") or {}
        wanted = copy.deepcopy(status)
        wanted["acceptedNames"] = accepted if reason == "NoConflicts" else status.get("acceptedNames") or \
            {"plural": "", "kind": ""}
        conditions = _set_condition(wanted.get("conditions") or [], "NamesAccepted",
                                    "True" if reason == "NoConflicts" else "False", reason, message)
        if reason == "NoConflicts" and not is_true(crd, "Established"):
            conditions = _set_condition(conditions, "Established", "True", "InitialNamesAccepted",
                                        "the initial names have been accepted")
        elif reason != "NoConflicts" and condition(crd, "Established") is None:
            conditions = _set_condition(conditions, "Established", "False", "NotAccepted",
                                        "not all names are accepted")
        wanted["conditions"] = conditions
        if wanted == status:
            return crd
        if reason == "NoConflicts":
            await self._serve(crd)  # served before a client can see it Established
        written = await self._write_status(crd, wanted)
        if written is None:
            return crd
        crds[:] = [written if c is crd else c for c in crds]  # the CRDs after it see its names taken
        return written

    def _accepted_names(self, crd: Obj, crds: list[Obj]) -> tuple[Obj, str, str]:
        """The names this CRD may have (upstream's naming controller): none another CRD of its group has accepted,
        nor the plural or kind of a built-in kind of the group."""
        spec = crd["spec"]
        names = spec["names"]
        taken: dict[str, set[str]] = {"plural": set(), "singular": set(), "shortNames": set(), "kind": set(),
                                      "listKind": set()}
        for other in crds:
            if other["metadata"]["name"] == crd["metadata"]["name"] or other["spec"].get("group") != spec["group"]:
                continue
            held = (other.get("status") or {}).get("acceptedNames") or {}
            for key in taken:
                values = held.get(key) or ([] if key == "shortNames" else "")
                taken[key].update(values if isinstance(values, list) else [values] if values else [])
        for kind in self.app[SERVED_KINDS].kinds:
            if kind.group == spec["group"] and kind.kind != names.get("kind"):
                taken["plural"].add(kind.plural)
                taken["kind"].add(kind.kind)
        if names["plural"] in taken["plural"] or names["plural"] in taken["singular"] or \
                names["plural"] in taken["shortNames"]:
            return {}, "PluralConflict", f'"{names["plural"]}" is already in use'
        singular = names.get("singular", "")
        if singular in taken["plural"] or singular in taken["singular"] or singular in taken["shortNames"]:
            return {}, "SingularConflict", f'"{singular}" is already in use'
        for short in names.get("shortNames") or ():
            if short in taken["plural"] or short in taken["singular"] or short in taken["shortNames"]:
                return {}, "ShortNamesConflict", f'"{short}" is already in use'
        if names["kind"] in taken["kind"] or names["kind"] in taken["listKind"]:
            return {}, "KindConflict", f'"{names["kind"]}" is already in use'
        list_kind = names.get("listKind", "")
        if list_kind in taken["kind"] or list_kind in taken["listKind"]:
            return {}, "ListKindConflict", f'"{list_kind}" is already in use'
        accepted = {key: names[key] for key in ("plural", "singular", "shortNames", "kind", "listKind", "categories")
                    if names.get(key)}
        return accepted, "NoConflicts", "no conflicts found"

    async def _write_status(self, crd: Obj, status: Obj) -> Obj | None:
        """The CRD as written with `status`, or None if it changed or went meanwhile (the next round sees it)."""
        name = crd["metadata"]["name"]
        uid = crd["metadata"].get("uid")

        def mutate(current: Obj | None) -> Obj:
            if current is None or current["metadata"].get("uid") != uid:
                raise errors.not_found(self.registry.kind, name)
            current["status"] = status
            return current

        try:
            written, _ = await self.registry.update("", name, mutate, WriteOptions(field_manager=MANAGER), "status")
        except errors.StatusError as err:
            if err.code not in (404, 409):
                raise
            return None
        return written

    # serving

    def _kinds(self, name: str) -> list[Kind]:
        return self.served[name][1] if name in self.served else []

    async def _serve(self, crd: Obj) -> None:
        name = crd["metadata"]["name"]
        version = f"{crd['metadata'].get('uid')}/{crd['metadata'].get('generation')}"
        if name in self.served and self.served[name][0] == version:
            return
        storage = self.app[KIND_STORAGE]
        stored = f"{crd['spec']['group']}/{storage_version(crd)}"
        wanted = resource.kinds(crd)
        served = self._kinds(name)
        if served and stored == self.served[name][2] and \
                [_identity(k) for k in wanted] == [_identity(k) for k in served]:
            for old, new in zip(served, wanted, strict=True):  # a new schema, columns...: the same storage and caches
                storage.replace(old, new)
            self.served[name] = (version, wanted, stored)
            return
        await self._unserve(name)
        kinds: list[Kind] = []
        for kind in wanted:
            try:
                await storage.serve(kind, stored)
            except KindConflict as err:
                log.warning("CustomResourceDefinition %s cannot be served: %s", name, err)
                continue
            kinds.append(kind)
        self.served[name] = (version, kinds, stored)

    async def _unserve(self, name: str) -> None:
        for kind in self._kinds(name):
            await self.app[KIND_STORAGE].stop_serving(kind)
        self.served.pop(name, None)

    # finalizing

    async def _finalize(self, crd: Obj) -> None:
        """Delete every object of the CRD, then let it go (its finalizer removed)."""
        meta = crd["metadata"]
        if CLEANUP_FINALIZER not in (meta.get("finalizers") or ()):
            return
        name = meta["name"]
        if not is_true(crd, "Terminating") or (condition(crd, "Terminating") or {}).get("reason") != \
                "InstanceDeletionInProgress":
            status = copy.deepcopy(crd.get("status") or {})
            status["conditions"] = _set_condition(status.get("conditions") or [], "Terminating", "True",
                                                  "InstanceDeletionInProgress",
                                                  "CustomResource deletion is in progress")
            await self._write_status(crd, status)
        for kind in self._kinds(name)[:1]:  # the objects of every version: one store
            registry = self.app[KIND_STORAGE].registry(kind)
            await registry.delete_collection("", ListOptions(), DeleteOptions(grace_period=0), WriteOptions())
        await self._unserve(name)

        def release(current: Obj | None) -> Obj:
            if current is None or current["metadata"].get("uid") != meta.get("uid"):
                raise errors.not_found(self.registry.kind, name)
            current["metadata"]["finalizers"] = [f for f in current["metadata"].get("finalizers") or ()
                                                 if f != CLEANUP_FINALIZER]
            return current

        try:
            await self.registry.update("", name, release, WriteOptions())
        except errors.StatusError as err:
            if err.code not in (404, 409):
                raise


def _identity(kind: Kind) -> tuple[object, ...]:
    """What a kind's storage, routes and watch caches depend on: a CRD change keeping it is served in place."""
    return kind.api_version, kind.plural, kind.kind, kind.namespaced, kind.subresources


def _set_condition(conditions: list[Obj], kind: str, status: str, reason: str, message: str) -> list[Obj]:
    """SetCRDCondition: the condition replaced, its transition time kept unless its status changes."""
    out = []
    found = False
    for existing in conditions:
        if existing.get("type") == kind:
            found = True
            stamp = existing.get("lastTransitionTime") if existing.get("status") == status else now()
            out.append({"type": kind, "status": status, "lastTransitionTime": stamp, "reason": reason,
                        "message": message})
        else:
            out.append(existing)
    if not found:
        out.append({"type": kind, "status": status, "lastTransitionTime": now(), "reason": reason,
                    "message": message})
    return out
