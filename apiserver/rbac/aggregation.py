"""The ClusterRole aggregation controller (upstream's clusterroleaggregation): a ClusterRole with an
aggregationRule has as rules those of every ClusterRole its selectors pick, kept up to date as roles change."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiohttp import web

from apiserver import errors
from apiserver.kinds.base import Obj
from apiserver.options import WriteOptions
from apiserver.rbac.bootstrap import bootstrap
from apiserver.registry import Registry
from apiserver.state import REGISTRIES

log = logging.getLogger(__name__)
INTERVAL = 0.1  # seconds between looks at the ClusterRoles' cache revision


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector (matchLabels and matchExpressions) on `labels`; an empty one matches every role."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or ():
        key, op, values = expression.get("key", ""), expression.get("operator", ""), expression.get("values") or ()
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def aggregated_rules(role: Obj, roles: list[Obj]) -> list[Obj]:
    """The rules of the roles the aggregationRule picks (the role itself excluded), in name order, each once."""
    selectors = (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or ()
    rules: list[Obj] = []
    for other in sorted(roles, key=lambda r: r["metadata"]["name"]):
        if other["metadata"]["name"] == role["metadata"]["name"]:
            continue
        labels = other["metadata"].get("labels") or {}
        if any(selector_matches(s, labels) for s in selectors):
            rules.extend(r for r in other.get("rules") or () if r not in rules)
    return rules


async def sync(registry: Registry) -> int:
    """Bring every aggregated ClusterRole's rules up to date; the revision of the last write (0: none)."""
    written = 0
    roles = registry.cacher.cache.snapshot()
    for role in roles:
        if not role.get("aggregationRule"):
            continue
        rules = aggregated_rules(role, roles)
        if (role.get("rules") or []) == rules:
            continue
        name = role["metadata"]["name"]

        def mutate(current: Obj | None, rules: list[Obj] = rules, name: str = name) -> Obj:
            if current is None:
                raise errors.not_found(registry.kind, name)
            return {**copy.deepcopy(current), "rules": copy.deepcopy(rules) or None}
        try:
            updated, _ = await registry.update("", name, mutate, WriteOptions())
            written = int(updated["metadata"]["resourceVersion"])
        except errors.StatusError as err:
            log.info("aggregating ClusterRole %s: %s", name, err)
    return written


async def settle(registry: Registry, rounds: int = 5) -> None:
    """Aggregate until nothing changes (admin aggregates edit, which aggregates view), each round on a cache that
    has seen the last: at start-up, so the server is ready with its roles aggregated and writes nothing after."""
    for _ in range(rounds):
        written = await sync(registry)
        if not written:
            return
        await registry.cacher.wait_fresh(written)


async def run(registry: Registry) -> None:
    seen = -1
    while True:
        if registry.cacher.cache.rv != seen:
            seen = registry.cacher.cache.rv
            await sync(registry)
        await asyncio.sleep(INTERVAL)


async def rbac_context(app: web.Application) -> AsyncIterator[None]:
    """After storage is open: the bootstrap policy, then the aggregation controller while the server runs."""
    roles = app[REGISTRIES]["clusterroles"]
    written = await bootstrap(app[REGISTRIES])
    if written:
        await roles.cacher.wait_fresh(written)
    await settle(roles)
    task = asyncio.create_task(run(roles), name="clusterrole aggregation")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
