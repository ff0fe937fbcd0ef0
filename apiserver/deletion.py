"""What a DELETE does to an object before, or instead of, removing it: DeleteOptions, graceful deletion, finalizers.

kube-apiserver's generic Store deletes in two phases. First `rest.BeforeDelete`: a kind that supports graceful
deletion (Pods) gets `deletionTimestamp` = now + its grace period and `deletionGracePeriodSeconds`; a later DELETE
may only shorten the period. Then the garbage-collector finalizers the options ask for (`orphan` for
propagationPolicy=Orphan, `foregroundDeletion` for Foreground) are set. If anything changed the object is
written; it is then removed at once unless finalizers remain (the object is marked: `deletionTimestamp` now,
grace period 0, generation bumped) or the grace period is still running (a kubelet would finish it). `plan`
computes that, without I/O; the registry carries it out.

The garbage collector (`apiserver.lifecycle.garbagecollector`, unless switched off) removes the `foregroundDeletion`
and `orphan` finalizers once it has dealt with the object's dependents; without it they stay until a client
removes them. No kubelet runs: a pod on a node stays until deleted with `gracePeriodSeconds=0`.
"""

from __future__ import annotations

import calendar
import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from apiserver import errors
from apiserver.kinds.base import Obj, Strategy
from apiserver.options import parse_bool
from apiserver.validation import field as fielderr

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
POLICIES = ("Foreground", "Background", "Orphan")
_TIME = "%Y-%m-%dT%H:%M:%SZ"


@dataclass
class DeleteOptions:
    """The options of one DELETE: from its body when it has one, else from the query (as upstream)."""

    grace_period: int | None = None
    propagation: str | None = None
    orphan: bool | None = None
    preconditions: Obj = field(default_factory=dict)
    dry_run: bool | None = None


def parse_delete_options(body: Any, query: Mapping[str, str]) -> DeleteOptions:
    """DeleteOptions from a decoded body (None when empty) or the query, validated (422 as upstream)."""
    if body is not None and not isinstance(body, dict):
        raise errors.bad_request("DeleteOptions must be a JSON object")
    source: Mapping[str, Any] = body if body is not None else query
    options = DeleteOptions(preconditions=(body or {}).get("preconditions") or {})
    grace = source.get("gracePeriodSeconds")
    if grace is not None:
        try:
            options.grace_period = int(grace)
        except ValueError:
            raise errors.bad_request(f'strconv.ParseInt: parsing "{grace}": invalid syntax') from None
    options.propagation = source.get("propagationPolicy")
    orphan = source.get("orphanDependents")
    if orphan is not None:
        options.orphan = orphan if isinstance(orphan, bool) else parse_bool(orphan)
    if body is not None:  # a body replaces the query altogether, its dryRun too
        dry_run: list[str] = ["" if item is None else item for item in body.get("dryRun") or []]  # null: Go's ""
    else:
        dry_run = query.getall("dryRun", []) if hasattr(query, "getall") else []
    if "dryRun" in source:
        options.dry_run = "All" in dry_run
    errs = fielderr.ErrorList()
    if options.orphan is not None and options.propagation is not None:
        errs.append(fielderr.invalid("propagationPolicy", options.propagation,
                                     "orphanDependents and deletionPropagation cannot be both set"))
    if options.propagation is not None and options.propagation not in POLICIES:
        errs.append(fielderr.not_supported("propagationPolicy", options.propagation, (*POLICIES, "nil"), sort=False))
    if any(value != "All" for value in dry_run):
        errs.append(fielderr.not_supported("dryRun", fielderr.go_strings(dry_run), ["All"]))
    if errs:
        raise errors.invalid_options("DeleteOptions", errs)
    return options


@dataclass
class Plan:
    """What to do with the object: `obj` is it as it is to be stored (equal to the stored one when unchanged)."""

    obj: Obj
    write: bool  # store `obj` first
    remove: bool  # then remove it from storage
    pending: bool = False  # a graceful deletion already under way with no shorter period: answer as stored


def plan(strategy: Strategy, current: Obj, options: DeleteOptions, now: float | None = None) -> Plan:
    """The two phases of a DELETE of `current` (upstream's BeforeDelete and updateForGracefulDeletionAndFinalizers)."""
    now = time.time() if now is None else now
    obj = copy.deepcopy(current)
    meta = obj["metadata"]
    grace = options.grace_period
    if grace is not None and grace < 0:
        grace = 1
    graceful = False
    if meta.get("deletionTimestamp"):
        period = meta.get("deletionGracePeriodSeconds")
        if period:
            if grace is None or grace >= period:
                return Plan(current, write=False, remove=False, pending=True)
            meta["deletionTimestamp"] = _format(_parse(meta["deletionTimestamp"]) - period + grace)
            meta["deletionGracePeriodSeconds"] = grace
            graceful = True
    else:
        period = strategy.grace_period(obj, grace)
        if period is not None:
            meta["deletionTimestamp"] = _format(now + period)
            meta["deletionGracePeriodSeconds"] = period
            if meta.get("generation"):
                meta["generation"] += 1
            graceful = True
    finalizers = gc_finalizers(meta.get("finalizers") or [], options)
    if set(finalizers) != set(meta.get("finalizers") or []):
        meta["finalizers"] = finalizers
        if not finalizers:
            del meta["finalizers"]
    if not graceful and meta.get("finalizers"):
        mark_deleting(meta, now)
    stays = bool(meta.get("finalizers")) or (graceful and meta["deletionGracePeriodSeconds"] > 0)
    return Plan(obj, write=obj != current, remove=not stays)


def gc_finalizers(finalizers: list[str], options: DeleteOptions) -> list[str]:
    """The finalizers after the garbage-collection ones are set as the options (or else the object) ask."""
    orphan, foreground = ORPHAN in finalizers, FOREGROUND in finalizers
    if options.orphan is not None:
        orphan, foreground = options.orphan, False
    elif options.propagation is not None:
        orphan, foreground = options.propagation == "Orphan", options.propagation == "Foreground"
    kept = [f for f in finalizers if f not in (ORPHAN, FOREGROUND)]
    return kept + [ORPHAN] * orphan + [FOREGROUND] * foreground


def mark_deleting(meta: Obj, now: float) -> None:
    """markAsDeleting: deletionTimestamp now (unless earlier), grace period 0, generation bumped the first time."""
    if not meta.get("deletionTimestamp") and meta.get("generation"):
        meta["generation"] += 1
    stamp = _format(now)
    if not meta.get("deletionTimestamp") or meta["deletionTimestamp"] > stamp:
        meta["deletionTimestamp"] = stamp
    meta["deletionGracePeriodSeconds"] = 0


def _format(seconds: float) -> str:
    return time.strftime(_TIME, time.gmtime(seconds))


def _parse(stamp: str) -> float:
    return float(calendar.timegm(time.strptime(stamp, _TIME)))
