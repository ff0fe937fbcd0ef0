"""The generic registry: REST object semantics for any kind over storage.

It owns everything that is the same for every kind (kube-apiserver's generic Store): system
metadata (uid, creationTimestamp, generation, resourceVersion), generateName with retries,
namespace lifecycle checks, the strategy's order (prepare → validate → warnings → canonicalize),
managedFields, dry run, optimistic concurrency, no-op detection, finalizers and deletion. Kinds
only supply their Strategy. Reads of lists come from the watch cache when the request allows it.
"""

from __future__ import annotations

import builtins
import copy
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from apiserver import admission, codec, deletion, errors
from apiserver.allocator import Allocation
from apiserver.cacher.cacher import Cacher
from apiserver.continuetoken import continue_start, encode_continue, resume_key
from apiserver.deletion import DeleteOptions
from apiserver.guaranteed_update import Current, Keep, Outcome, Put, Raced, Remove, TryUpdate, guaranteed_update
from apiserver.kinds.base import Kind, Obj
from apiserver.managedfields import update_managed_fields
from apiserver.names import generate_name
from apiserver.options import ListOptions, WriteOptions, parse_rv
from apiserver.validation.field import go_quote
from apiserver.validation.objectmeta import forbid_new_finalizers
from storage import Storage, StorageError

MAX_NAME_ATTEMPTS = 8
SYSTEM_FIELDS = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink")

# Mutation applied by update and patch to the current object (None when absent); returns the new one.
Mutation = Callable[[Obj | None], Obj | Awaitable[Obj]]
# NamespaceLifecycle admission of a create of (kind, name) into a namespace.
NamespaceCheck = Callable[[str, Kind, str], Awaitable[None]]


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class ListResult:
    items: list[Obj]
    resource_version: int
    continue_token: str = ""
    remaining: int | None = None


class Registry:
    """Object semantics of one kind on one storage."""

    def __init__(self, kind: Kind, storage: Storage, cacher: Cacher, namespace_check: NamespaceCheck,
                 media_type: str = codec.JSON) -> None:
        self.kind = kind
        self.storage = storage
        self.encode = codec.encoder(media_type)  # the storage media type's (--storage-media-type)
        self.cacher = cacher
        self.namespace_check = namespace_check
        self.strategy = kind.strategy

    def key(self, namespace: str, name: str) -> str:
        if self.kind.namespaced:
            return f"{self.kind.etcd_prefix}/{namespace}/{name}"
        return f"{self.kind.etcd_prefix}/{name}"

    def list_prefix(self, namespace: str) -> str:
        return f"{self.kind.etcd_prefix}/{namespace}/" if namespace else f"{self.kind.etcd_prefix}/"

    # Reads

    async def get(self, namespace: str, name: str) -> Obj:
        obj = await self._read(namespace, name)
        if obj is None:
            raise errors.not_found(self.kind, name)
        return obj

    async def _read(self, namespace: str, name: str) -> Obj | None:
        try:
            _, kv = await self.storage.get(self.key(namespace, name))
        except StorageError as err:
            raise errors.from_storage(err, self.kind, name, "get") from None
        return codec.decode(kv) if kv is not None else None

    async def list(self, namespace: str, opts: ListOptions) -> ListResult:
        """List per the resourceVersion × resourceVersionMatch × limit table (reference §5.1)."""
        prefix = self.list_prefix(self._narrow_namespace(namespace, opts))
        name = opts.field_selector.requires("metadata.name") if opts.field_selector else None
        rv, match = opts.resource_version, opts.rv_match
        if opts.continue_rv:
            # rv -1 (a token handed out with a 410) continues at the latest revision
            revision = max(opts.continue_rv, 0)
            return await self._list_storage(prefix, opts, revision, resume_key(prefix, opts.continue_start))
        exact = match == "Exact" or (not match and rv not in ("", "0") and opts.limit > 0)
        if exact or (not rv and opts.limit):
            return await self._list_storage(prefix, opts, parse_rv(rv, storage=True) if rv else 0, prefix)
        # Served from the watch cache: "Any" (rv 0), "Not older than" (rv N), or a consistent read (no rv).
        if rv and rv != "0":
            if not await self.cacher.wait_fresh(parse_rv(rv)):
                raise self._too_large_rv(parse_rv(rv))
        elif not rv and not await self.cacher.wait_consistent():
            return await self._list_storage(prefix, opts, 0, prefix)  # upstream's fallback: the cache is not fresh
        objs = self.cacher.cache.snapshot(prefix + name if name and namespace else prefix)
        return ListResult([o for o in objs if opts.matches(self.kind, o)], self.cacher.cache.rv)

    @staticmethod
    def _narrow_namespace(namespace: str, opts: ListOptions) -> str:
        if namespace or opts.field_selector is None:
            return namespace
        return opts.field_selector.requires("metadata.namespace") or ""

    def _too_large_rv(self, rv: int) -> errors.StatusError:
        return errors.StatusError(
            504, "Timeout", f"Timeout: Too large resource version: {rv}, current: {self.cacher.cache.rv}",
            {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
             "retryAfterSeconds": 1})

    async def _list_storage(self, prefix: str, opts: ListOptions, revision: int, start: str) -> ListResult:
        """A consistent (or exact) paged list from storage at one revision, filtered by the selectors."""
        items: list[Obj] = []
        limit = opts.limit
        filtered = not opts.label_selector.empty or opts.field_selector is not None
        try:
            while True:
                want = limit - len(items) if limit else 0
                page = await self.storage.range(prefix, start=start, limit=want, revision=revision)
                revision = page.revision
                for kv in page.kvs:
                    obj = codec.decode(kv)
                    if opts.matches(self.kind, obj):
                        items.append(obj)
                if not page.more or not page.kvs:
                    break
                start = page.kvs[-1].key + "\x00"
                if limit and len(items) >= limit:
                    token = encode_continue(revision, continue_start(page.kvs[-1].key, prefix))
                    remaining = None if filtered else page.count - len(page.kvs)
                    return ListResult(items, revision, token, remaining)
        except StorageError as err:
            if opts.continue_rv:
                raise self._expired_continue(prefix, start) from None
            raise errors.from_storage(err, self.kind, "", "list") from None
        return ListResult(items, revision)

    def _expired_continue(self, prefix: str, start: str) -> errors.StatusError:
        err = errors.expired(
            "The provided continue parameter is too old to display a consistent list result. You can start a new "
            "list without the continue parameter, or use the continue token in this response to retrieve the "
            "remainder of the results. Continuing with the provided token results in an inconsistent list - "
            "objects that were created, modified, or deleted between the time the first chunk was returned and "
            "now may show up in the list.")
        err.list_continue = encode_continue(-1, start[len(prefix):])
        return err

    # Writes

    async def create(self, namespace: str, obj: Obj, opts: WriteOptions) -> Obj:
        meta = obj.setdefault("metadata", {})
        for name in SYSTEM_FIELDS:
            meta.pop(name, None)
        if not meta.get("resourceVersion"):  # one set is refused by storage, after validation and allocation
            meta.pop("resourceVersion", None)
        self._set_namespace(obj, namespace)
        self.strategy.default(obj)
        if opts.field_manager:  # from the request as decoded, before admission and the strategy change it
            update_managed_fields(obj, None, opts.field_manager, self.kind.api_version, self.kind.schema, now(),
                                  reset=self.strategy.reset_fields(""))
        if self.kind.namespaced:
            await self.namespace_check(namespace, self.kind, meta.get("name", ""))
        admission.admit(self.kind, obj, None)
        generated = not meta.get("name") and bool(meta.get("generateName"))
        if generated:
            meta["name"] = generate_name(meta["generateName"])
        self.strategy.prepare_for_create(obj)
        allocation = await self.allocate(obj, None, opts.dry_run)  # upstream's BeginCreate, before validation
        try:
            return await self._create(namespace, obj, opts, generated)
        except BaseException:
            await allocation.revert()
            raise

    async def allocate(self, obj: Obj, old: Obj | None, dry_run: bool) -> Allocation:
        """Claim what `obj` takes from ranges shared by all objects (a Service's cluster IPs and node ports);
        reverted if the write fails, committed (freeing what `old` held) once it succeeded."""
        return Allocation()

    async def _create(self, namespace: str, obj: Obj, opts: WriteOptions, generated: bool) -> Obj:
        meta = obj["metadata"]
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now()
        if self.strategy.tracks_generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        errs = self.strategy.validate(obj)
        if errs:
            raise errors.invalid(self.kind, meta.get("name", ""), errs)
        admission.validate(self.kind, obj)
        opts.warnings += self.strategy.warnings(obj, None)
        self.strategy.canonicalize(obj)
        obj = self._ordered(obj)
        if opts.dry_run:
            if await self._read(namespace, meta["name"]) is not None:  # dry-run storage still checks the key
                raise errors.already_exists(self.kind, meta["name"])
            return obj
        if meta.get("resourceVersion"):
            raise errors.untyped(500, "resourceVersion should not be set on objects to be created")
        for attempt in range(MAX_NAME_ATTEMPTS):
            try:
                rv = await self.storage.create(self.key(namespace, meta["name"]), self.encode(obj))
                break
            except StorageError as err:
                status = errors.from_storage(err, self.kind, meta["name"], "create")
                if not (generated and status.reason == "AlreadyExists"):
                    raise await self._being_deleted(status, namespace, meta["name"]) from None
                if attempt == MAX_NAME_ATTEMPTS - 1:
                    status.message += ", the server was not able to generate a unique name for the object"
                    assert status.details is not None
                    status.details["retryAfterSeconds"] = 1
                    raise status from None
                meta["name"] = generate_name(meta["generateName"])
        meta["resourceVersion"] = str(rv)
        return obj

    async def _being_deleted(self, status: errors.StatusError, namespace: str, name: str) -> errors.StatusError:
        """An AlreadyExists over an object marked for deletion says so: `object is being deleted: …`."""
        if status.reason == "AlreadyExists":
            existing = await self._read(namespace, name)
            if existing is not None and existing["metadata"].get("deletionTimestamp"):
                status.message = "object is being deleted: " + status.message
        return status

    def _ordered(self, obj: Obj) -> Obj:
        """kind, apiVersion and metadata first, as the real server serialises them."""
        head = {"kind": self.kind.kind, "apiVersion": self.kind.api_version, "metadata": obj["metadata"]}
        return {**head, **{k: v for k, v in obj.items() if k not in head}}

    def _set_namespace(self, obj: Obj, namespace: str) -> None:
        meta = obj["metadata"]
        if not self.kind.namespaced:
            meta.pop("namespace", None)
            return
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request")
        meta["namespace"] = namespace

    async def update(
        self,
        namespace: str,
        name: str,
        mutate: Mutation,
        opts: WriteOptions,
        subresource: str = "",
        allow_create: bool = False,
    ) -> tuple[Obj, bool]:
        """Apply `mutate` to the current object and store the result if it changed (through `guaranteed_update`, so
        a lost race re-runs `mutate` on the object that won). Returns (object, created)."""
        created = False

        async def try_update(current: Current) -> Outcome:
            nonlocal created
            if current.obj is None and not allow_create:
                raise errors.not_found(self.kind, name)
            result = mutate(current.copy() if current.obj is not None else None)
            obj = await result if isinstance(result, Awaitable) else result
            self._check_name(obj, name)
            if current.obj is None:
                if subresource:
                    raise errors.not_found(self.kind, name)
                obj["metadata"].pop("resourceVersion", None)
                try:
                    created_obj = await self.create(namespace, obj, opts)
                except errors.StatusError as err:
                    if err.reason == "AlreadyExists":  # created meanwhile: update it instead
                        raise Raced from None
                    raise
                created = True
                return Keep(created_obj)
            wanted_rv = obj["metadata"].get("resourceVersion")
            if wanted_rv and not str(wanted_rv).isdigit():
                raise errors.untyped(500, f'strconv.ParseUint: parsing {go_quote(str(wanted_rv))}: invalid syntax')
            if wanted_rv and wanted_rv != current.obj["metadata"]["resourceVersion"]:
                raise errors.conflict(self.kind, name)
            new = self._prepare_update(namespace, obj, current.obj, opts, subresource)
            if _comparable(new) == _comparable(current.obj):
                return Keep(current.obj)
            if self.deletes_on_update(new, current.obj):
                # the answer is the object as sent, with the stored resourceVersion
                return Keep(new) if opts.dry_run else Remove(copy.deepcopy(new), given=new)
            allocation = await self.allocate(new, current.obj, opts.dry_run)
            return Keep(new) if opts.dry_run else Put(new, allocation)

        outcome = await self.guaranteed_update(self.key(namespace, name), try_update)
        return outcome.answer, created

    async def guaranteed_update(self, key: str, try_update: TryUpdate, start: Current | None = None) -> Outcome:
        """`guaranteed_update` on this kind from `start`, else from the watch cache's copy of the object when it has
        one (upstream's Cacher passes it down the same way), releasing what a removed object held."""
        outcome = await guaranteed_update(self, key, try_update, start or self._suggestion(key))
        if isinstance(outcome, Remove):
            await self.removed(outcome.obj)
        return outcome

    def _suggestion(self, key: str) -> Current | None:
        event = self.cacher.cache.store.get(key)
        if event is None:
            return None
        return Current.suggested(key, event.obj, event.rv)

    def deletes_on_update(self, new: Obj, current: Obj) -> bool:
        """Whether an update removes the object (upstream's ShouldDeleteDuringUpdate): it leaves no finalizers on an
        object marked for deletion with no grace period running. The update's answer is the object as sent."""
        meta = current["metadata"]
        return bool(meta.get("deletionTimestamp")) and not meta.get("deletionGracePeriodSeconds") \
            and not new["metadata"].get("finalizers")

    async def removed(self, obj: Obj) -> None:
        """Called once `obj` was removed from storage: free what it held (a Service's addresses and ports)."""

    @staticmethod
    def _check_name(obj: Obj, name: str) -> None:
        body_name = obj.setdefault("metadata", {}).get("name")
        if body_name and body_name != name:
            raise errors.bad_request(f"the name of the object ({body_name}) does not match the name on the URL ({name})")
        obj["metadata"]["name"] = name

    def _prepare_update(self, namespace: str, obj: Obj, current: Obj, opts: WriteOptions, subresource: str) -> Obj:
        meta, old_meta = obj["metadata"], current["metadata"]
        strategy = self.strategy.for_subresource(subresource)
        self._set_namespace(obj, namespace)
        # BeforeUpdate: these keep their stored values, except a uid or grace period the object sets
        # (a deletionTimestamp when none is stored), which validation then refuses as immutable
        kept = ["creationTimestamp", "generation"]
        kept += [name for name in ("uid", "deletionGracePeriodSeconds") if meta.get(name) is None]
        kept += ["deletionTimestamp"] if old_meta.get("deletionTimestamp") else []
        for name in kept:
            if name in old_meta:
                meta[name] = old_meta[name]
            else:
                meta.pop(name, None)
        meta.pop("selfLink", None)
        self.strategy.default(obj)
        if opts.field_manager:  # from the request as decoded, before admission and the strategy change it
            update_managed_fields(obj, current, opts.field_manager, self.kind.api_version, self.kind.schema, now(),
                                  subresource, self.strategy.reset_fields(subresource))
        elif "managedFields" not in meta and "managedFields" in old_meta:
            meta["managedFields"] = old_meta["managedFields"]
        if old_meta.get("deletionTimestamp"):
            errs = forbid_new_finalizers(meta, old_meta)
            if errs:
                raise errors.invalid(self.kind, meta["name"], errs)
        managed = meta.get("managedFields")
        if subresource == "status":
            self.strategy.prepare_for_status_update(obj, current)
            if managed is None:
                obj["metadata"].pop("managedFields", None)
            else:
                obj["metadata"]["managedFields"] = managed
        else:
            admission.admit(self.kind, obj, current)
            strategy.prepare_for_update(obj, current)
        meta = obj["metadata"]
        errs = strategy.validate_update(obj, current)
        if errs:
            raise errors.invalid(self.kind, meta["name"], errs)
        if not subresource:
            admission.validate(self.kind, obj)
        opts.warnings += self.strategy.warnings(obj, current)
        self.strategy.canonicalize(obj)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if self.strategy.tracks_generation and self.strategy.generation_changed(obj, current):
            meta["generation"] = old_meta.get("generation", 0) + 1
        return self._ordered(obj)

    async def delete(self, namespace: str, name: str, options: DeleteOptions,
                     opts: WriteOptions) -> tuple[Obj, bool]:
        """Delete now, or mark for deletion (graceful deletion, finalizers) as `deletion.plan` says. Returns the
        object as last stored (or as it would be with dryRun) and whether it was removed.

        A plan that both writes and removes (a grace period of 0, a garbage-collector finalizer dropped) writes
        first, then removes the object written, as upstream's updateForGracefulDeletionAndFinalizers and Delete."""
        key = self.key(namespace, name)
        written = 0  # the revision this delete wrote: its preconditions held for it
        then_remove = False

        async def try_delete(current: Current) -> Outcome:
            nonlocal then_remove
            if current.obj is None:
                raise errors.not_found(self.kind, name)
            if current.revision != written:
                self._check_preconditions(current.obj, options.preconditions)
            planned = deletion.plan(self.strategy, current.obj, options)
            then_remove = planned.remove
            if planned.pending or opts.dry_run or not (planned.write or planned.remove):
                return Keep(planned.obj)
            return Put(planned.obj) if planned.write else Remove(planned.obj)

        start = None
        while True:
            outcome = await self.guaranteed_update(key, try_delete, start)
            if isinstance(outcome, Remove):
                return outcome.obj, True
            if isinstance(outcome, Keep) or not then_remove:
                return outcome.obj, then_remove and bool(opts.dry_run)
            written = int(outcome.obj["metadata"]["resourceVersion"])
            start = Current(key, outcome.obj, written, fresh=True)

    def _check_preconditions(self, current: Obj, preconditions: Obj) -> None:
        meta = current["metadata"]
        name = meta["name"]
        uid, rv = preconditions.get("uid"), preconditions.get("resourceVersion")
        if uid is not None and uid != meta.get("uid"):
            raise errors.conflict(self.kind, name, by_kind=True, why=(
                f"the UID in the precondition ({uid}) does not match the UID in record ({meta.get('uid')}). "
                "The object might have been deleted and then recreated"))
        if rv is not None and rv != meta.get("resourceVersion"):
            raise errors.conflict(self.kind, name, by_kind=True, why=(
                f"the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion in record "
                f"({meta.get('resourceVersion')}). The object might have been modified"))

    async def delete_collection(self, namespace: str, list_opts: ListOptions, options: DeleteOptions,
                                opts: WriteOptions) -> builtins.list[Obj]:
        """Delete every object the selectors match; returns them as listed (as upstream), not as deleted."""
        listed = await self.list(namespace, ListOptions(label_selector=list_opts.label_selector,
                                                        field_selector=list_opts.field_selector))
        for obj in listed.items:
            meta = obj["metadata"]
            try:
                await self.delete(meta.get("namespace", ""), meta["name"], options, opts)
            except errors.StatusError as err:
                if err.code != 404:
                    raise
        return listed.items


def _comparable(obj: Obj) -> Obj:
    """The object as no-op detection sees it: managedFields timestamps (in any spelling) do not count."""
    fields = obj["metadata"].get("managedFields")
    if not fields:
        return obj
    entries = [{k: v for k, v in e.items() if k != "time"} if isinstance(e, dict) else e for e in fields]
    return {**obj, "metadata": {**obj["metadata"], "managedFields": entries}}
