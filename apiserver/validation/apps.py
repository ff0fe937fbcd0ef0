"""apps/v1 validation (upstream's pkg/apis/apps/validation) of the checks made here: replicas and the other counts
non-negative, a non-empty selector matching the template's labels, the template's pod spec (restartPolicy Always),
the update strategies, and what updates may not change."""

from __future__ import annotations

from typing import Any

from apiserver.validation.field import ErrorList, forbidden, invalid, not_supported, required
from apiserver.validation.labelselector import go_labels, go_selector, matches, validate_selector
from apiserver.validation.objectmeta import (
    FIELD_IMMUTABLE,
    validate_annotations,
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
)
from apiserver.validation.pod import validate_pod_spec

Obj = dict[str, Any]
NONNEGATIVE = "must be greater than or equal to 0"
STATEFULSET_UPDATABLE = ("updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                         "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")


def _nonnegative(errs: ErrorList, spec: Obj, path: str, *names: str) -> None:
    for name in names:
        value = spec.get(name)
        if value is not None and value < 0:
            errs.append(invalid(f"{path}.{name}", value, NONNEGATIVE))


def _selector_and_template(spec: Obj, workload: str) -> ErrorList:
    """The selector (required, non-empty) and the template it must select, whose pods restart Always."""
    errs = ErrorList()
    selector = spec.get("selector")
    if selector is None:
        errs.append(required("spec.selector"))
    else:
        errs.extend(validate_selector(selector, "spec.selector"))
        if not selector.get("matchLabels") and not selector.get("matchExpressions"):
            errs.append(invalid("spec.selector", go_selector(selector), f"empty selector is invalid for {workload}"))
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels")
    # a missing selector selects nothing, an empty one everything (LabelSelectorAsSelector)
    if selector is None or ((selector.get("matchLabels") or selector.get("matchExpressions"))
                            and not matches(selector, labels or {})):
        errs.append(invalid("spec.template.metadata.labels", go_labels(labels),
                            "`selector` does not match template `labels`"))
    errs.extend(validate_object_meta_labels(template.get("metadata") or {}))
    pod_spec = template.get("spec") or {}
    errs.extend(validate_pod_spec(pod_spec, "spec.template.spec"))
    if pod_spec.get("restartPolicy", "Always") != "Always":
        errs.append(not_supported("spec.template.spec.restartPolicy", pod_spec.get("restartPolicy"), ("Always",)))
    if pod_spec.get("activeDeadlineSeconds") is not None:
        errs.append(invalid("spec.template.spec.activeDeadlineSeconds", pod_spec["activeDeadlineSeconds"],
                            f"activeDeadlineSeconds in {'ReplicaSet' if workload == 'deployment' else workload} "
                            "is not Supported"))
    return errs


def validate_object_meta_labels(meta: Obj) -> ErrorList:
    """The template's labels and annotations (ValidatePodTemplateSpec's metadata checks)."""
    errs = validate_labels(meta.get("labels"), "spec.template.metadata.labels")
    errs.extend(validate_annotations(meta.get("annotations"), "spec.template.metadata.annotations"))
    return errs


def _rolling(errs: ErrorList, rolling: Obj | None, path: str) -> None:
    """maxUnavailable and maxSurge: not both zero."""
    if rolling is None:
        return
    unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
    if unavailable in (0, "0%") and surge in (0, "0%", None):
        errs.append(invalid(f"{path}.maxUnavailable", unavailable, "may not be 0 when `maxSurge` is 0"))


def _strategy(errs: ErrorList, strategy: Obj, path: str, types: tuple[str, ...], recreate: str) -> None:
    kind = strategy.get("type") or ""
    if kind not in types:
        errs.append(not_supported(f"{path}.type", kind, types, sort=False) if kind else required(f"{path}.type"))
    elif kind == recreate and strategy.get("rollingUpdate") is not None:
        errs.append(forbidden(f"{path}.rollingUpdate", f"may not be specified when strategy `type` is '{recreate}'"))
    else:
        _rolling(errs, strategy.get("rollingUpdate"), f"{path}.rollingUpdate")


def validate_workload(obj: Obj, workload: str) -> ErrorList:
    """Create of a deployment, replicaset, statefulset or daemonset."""
    errs = validate_object_meta(obj.get("metadata") or {}, namespaced=True)
    spec = obj.get("spec") or {}
    _nonnegative(errs, spec, "spec", "replicas")
    errs.extend(_selector_and_template(spec, workload))
    if workload == "deployment":
        _strategy(errs, spec.get("strategy") or {}, "spec.strategy", ("Recreate", "RollingUpdate"), "Recreate")
    elif workload == "daemonset":
        _strategy(errs, spec.get("updateStrategy") or {}, "spec.updateStrategy", ("RollingUpdate", "OnDelete"),
                  "OnDelete")
    elif workload == "statefulset":
        policy = spec.get("podManagementPolicy") or ""
        if policy not in ("OrderedReady", "Parallel"):
            errs.append(invalid("spec.podManagementPolicy", policy,
                                "must be 'OrderedReady' or 'Parallel'") if policy else required("spec.podManagementPolicy"))
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type") not in ("RollingUpdate", "OnDelete"):
            errs.append(invalid("spec.updateStrategy", strategy,
                                "must be 'RollingUpdate' or 'OnDelete'"))
        _nonnegative(errs, strategy.get("rollingUpdate") or {}, "spec.updateStrategy.rollingUpdate", "partition")
    _nonnegative(errs, spec, "spec", "minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds")
    deadline = spec.get("progressDeadlineSeconds")
    if workload == "deployment" and deadline is not None and deadline <= (spec.get("minReadySeconds") or 0):
        errs.append(invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"))
    return errs


def validate_workload_update(obj: Obj, old: Obj, workload: str) -> ErrorList:
    """Update: the metadata rules, the create rules, an immutable selector (a statefulset's spec but the
    updatable fields)."""
    errs = validate_object_meta_update(obj.get("metadata") or {}, old.get("metadata") or {})
    spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
    if workload == "statefulset":
        kept = ("replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy",
                "minReadySeconds")
        if {k: v for k, v in spec.items() if k not in kept} != {k: v for k, v in old_spec.items() if k not in kept}:
            errs.append(forbidden("spec", STATEFULSET_UPDATABLE))
    elif spec.get("selector") != old_spec.get("selector"):
        errs.append(invalid("spec.selector", go_selector(spec.get("selector")), FIELD_IMMUTABLE))
    errs.extend(validate_workload(obj, workload))
    return errs


def validate_workload_status(obj: Obj, old: Obj) -> ErrorList:
    """Status update: the metadata rules and non-negative counts."""
    errs = validate_object_meta_update(obj.get("metadata") or {}, old.get("metadata") or {})
    status = obj.get("status") or {}
    _nonnegative(errs, status, "status", *(name for name, value in status.items() if isinstance(value, int)
                                           and not isinstance(value, bool)))
    return errs
