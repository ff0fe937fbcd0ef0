"""The bootstrap policy (upstream's rbac/bootstrap-roles post-start hook): the ClusterRoles and ClusterRoleBindings
of bootstrap.json (written from a real kube-apiserver by `python -m conformance.bootstrappolicy`), created at start
when absent; one present with `rbac.authorization.kubernetes.io/autoupdate` not "false" is reconciled: the labels,
annotations, rules and subjects it lacks are added, its own kept."""

from __future__ import annotations

import copy
import json
import logging
from functools import cache
from pathlib import Path
from typing import Any

from apiserver import errors
from apiserver.kinds.base import Obj
from apiserver.options import WriteOptions
from apiserver.rbac.rules import covers
from apiserver.registry import Registry

log = logging.getLogger(__name__)
AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"


@cache
def policy() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((Path(__file__).parent / "bootstrap.json").read_text())
    return data


def reconciled(current: Obj, wanted: Obj, key: str) -> Obj:
    """`current` with what `wanted` has and it lacks: labels, annotations and the items of `key` (rules or
    subjects; a rule counts as present when the current rules cover it)."""
    obj = copy.deepcopy(current)
    meta, wanted_meta = obj["metadata"], wanted["metadata"]
    for field in ("labels", "annotations"):
        if wanted_meta.get(field):
            meta[field] = {**wanted_meta[field], **(meta.get(field) or {})}
    items = obj.get(key) or []
    for item in wanted.get(key) or ():
        present = covers(items, item) if key == "rules" else item in items
        if not present:
            items.append(item)
    if items:
        obj[key] = items
    if wanted.get("aggregationRule") and not obj.get("aggregationRule"):
        obj["aggregationRule"] = wanted["aggregationRule"]
    return obj


async def ensure(registry: Registry, wanted: Obj, key: str) -> int:
    """Create `wanted` or reconcile the stored object with it; the revision written (0: nothing written)."""
    name = wanted["metadata"]["name"]
    try:
        current = await registry.get("", name)
    except errors.StatusError:
        try:
            created = await registry.create("", copy.deepcopy(wanted), WriteOptions())
        except errors.StatusError as err:
            if err.code != 409:  # another replica created it first: reconcile theirs
                raise
            current = await registry.get("", name)
        else:
            log.info("created %s %s", registry.kind.kind, name)
            return int(created["metadata"]["resourceVersion"])
    if (current["metadata"].get("annotations") or {}).get(AUTOUPDATE) == "false":
        return 0
    updated = reconciled(current, wanted, key)
    if updated == current:
        return 0
    stored, _ = await registry.update("", name, lambda _: copy.deepcopy(updated), WriteOptions())
    log.info("reconciled %s %s", registry.kind.kind, name)
    return int(stored["metadata"]["resourceVersion"])


async def bootstrap(registries: dict[str, Registry]) -> int:
    """Create or reconcile the bootstrap ClusterRoles and bindings; the revision of the last ClusterRole written."""
    written = 0
    for role in policy()["clusterRoles"]:
        written = max(written, await ensure(registries["clusterroles"], role, "rules"))
    for binding in policy()["clusterRoleBindings"]:
        await ensure(registries["clusterrolebindings"], binding, "subjects")
    return written
