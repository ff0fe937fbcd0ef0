"""apps/v1 validation (upstream's pkg/apis/apps/validation), per kind in upstream's order: counts non-negative, the
selector (required, valid, non-empty) and the template it must select, the template's pod spec (none for a
StatefulSet, as upstream), restartPolicy Always, the update strategies, and what updates may not change."""

from __future__ import annotations

import re
from typing import Any

from apiserver.validation.field import (
    ErrorList,
    GoSyntax,
    forbidden,
    go_quote,
    invalid,
    not_supported,
    required,
)
from apiserver.validation.labelselector import go_labels, go_selector, matches, validate_selector
from apiserver.validation.names import regex_error
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
_PERCENT_FMT = "[0-9]+%"
_PERCENT_RE = re.compile(_PERCENT_FMT)
STATEFULSET_UPDATABLE = ("updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                         "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")
STATEFULSET_UPDATABLE_FIELDS = ("replicas", "template", "updateStrategy", "minReadySeconds", "ordinals",
                                "persistentVolumeClaimRetentionPolicy")


def _nonnegative(errs: ErrorList, values: Obj, path: str, *names: str) -> None:
    for name in names:
        value = values.get(name)
        if value is not None and value < 0:
            errs.append(invalid(f"{path}.{name}", value, NONNEGATIVE))


def _selector(errs: ErrorList, spec: Obj, workload: str) -> None:
    """Required, valid, and selecting something (a ReplicaSet's message names deployments, as upstream's)."""
    selector = spec.get("selector")
    if selector is None:
        errs.append(required("spec.selector"))
        return
    errs.extend(validate_selector(selector, "spec.selector"))
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        errs.append(invalid("spec.selector", go_selector(selector), f"empty selector is invalid for {workload}"))


def _selects_template(errs: ErrorList, spec: Obj) -> None:
    """The template's labels must be selected: a missing selector selects nothing; an empty one (which selects
    everything) is not checked."""
    selector = spec.get("selector")
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    terms = selector is not None and bool(selector.get("matchLabels") or selector.get("matchExpressions"))
    if selector is None or (terms and not matches(selector, labels or {})):
        errs.append(invalid("spec.template.metadata.labels", go_labels(labels),
                            "`selector` does not match template `labels`"))


def _pod_template(errs: ErrorList, spec: Obj, workload: str) -> None:
    """ValidatePodTemplateSpec, then restartPolicy Always and no activeDeadlineSeconds."""
    template = spec.get("template") or {}
    meta = template.get("metadata") or {}
    errs.extend(validate_labels(meta.get("labels"), "spec.template.metadata.labels"))
    errs.extend(validate_annotations(meta.get("annotations"), "spec.template.metadata.annotations"))
    pod_spec = template.get("spec") or {}
    errs.extend(validate_pod_spec(pod_spec, "spec.template.spec"))
    _restart_always(errs, pod_spec, workload)


def _restart_always(errs: ErrorList, pod_spec: Obj, workload: str) -> None:
    if pod_spec.get("restartPolicy", "Always") != "Always":
        errs.append(not_supported("spec.template.spec.restartPolicy", pod_spec.get("restartPolicy"), ("Always",)))
    if pod_spec.get("activeDeadlineSeconds") is not None:
        errs.append(forbidden("spec.template.spec.activeDeadlineSeconds",
                              f"activeDeadlineSeconds in {workload} is not Supported"))


def _go_int_or_string(value: Any) -> GoSyntax:
    """An intstr.IntOrString as %#v prints it."""
    if isinstance(value, str):
        return GoSyntax(f"intstr.IntOrString{{Type:1, IntVal:0, StrVal:{go_quote(value)}}}")
    return GoSyntax(f'intstr.IntOrString{{Type:0, IntVal:{int(value or 0)}, StrVal:""}}')


def _percent(value: Any) -> int | None:
    """getPercentValue: the number of a valid percent string, else None."""
    return int(value[:-1]) if isinstance(value, str) and _PERCENT_RE.fullmatch(value) else None


def _amount(value: Any) -> int:
    """getIntOrPercentValue: a percent's number, an int's value, a string's Atoi (0 when it is none)."""
    percent = _percent(value)
    if percent is not None:
        return percent
    if isinstance(value, str):
        return int(value) if re.fullmatch(r"[+-]?[0-9]+", value) else 0
    return int(value or 0)


def _positive_int_or_percent(errs: ErrorList, value: Any, path: str) -> None:
    if isinstance(value, str):
        if not _PERCENT_RE.fullmatch(value):
            errs.append(invalid(path, _go_int_or_string(value), regex_error(
                "a valid percent string must be a numeric string followed by an ending '%'", _PERCENT_FMT, "1%",
                "93%")))
    elif value is not None and value < 0:
        errs.append(invalid(path, value, NONNEGATIVE))


def _at_most_100_percent(errs: ErrorList, value: Any, path: str) -> None:
    percent = _percent(value)
    if percent is not None and percent > 100:
        errs.append(invalid(path, _go_int_or_string(value), "must not be greater than 100%"))


def _deployment_strategy(errs: ErrorList, strategy: Obj) -> None:
    kind, rolling = strategy.get("type") or "", strategy.get("rollingUpdate")
    path = "spec.strategy"
    if kind == "Recreate":
        if rolling is not None:
            errs.append(forbidden(f"{path}.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"))
    elif kind == "RollingUpdate":
        if rolling is None:
            errs.append(required(f"{path}.rollingUpdate", "this should be defaulted and never be nil"))
            return
        unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
        _positive_int_or_percent(errs, unavailable, f"{path}.rollingUpdate.maxUnavailable")
        _positive_int_or_percent(errs, surge, f"{path}.rollingUpdate.maxSurge")
        if _amount(unavailable) == 0 and _amount(surge) == 0:
            errs.append(invalid(f"{path}.rollingUpdate.maxUnavailable", _go_int_or_string(unavailable),
                                "may not be 0 when `maxSurge` is 0"))
        _at_most_100_percent(errs, unavailable, f"{path}.rollingUpdate.maxUnavailable")
    else:
        shown = GoSyntax(f"apps.DeploymentStrategy{{Type:{go_quote(kind)}, RollingUpdate:"
                         "(*apps.RollingUpdateDeployment)(nil)}")
        errs.append(not_supported(path, shown, ("Recreate", "RollingUpdate"), sort=False))


def _daemonset_strategy(errs: ErrorList, strategy: Obj) -> None:
    kind, rolling = strategy.get("type") or "", strategy.get("rollingUpdate")
    path = "spec.updateStrategy"
    if kind == "RollingUpdate":
        if rolling is None:
            errs.append(required(f"{path}.rollingUpdate"))
            return
        unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
        _positive_int_or_percent(errs, unavailable, f"{path}.rollingUpdate.maxUnavailable")
        _positive_int_or_percent(errs, surge, f"{path}.rollingUpdate.maxSurge")
        _at_most_100_percent(errs, unavailable, f"{path}.rollingUpdate.maxUnavailable")
        _at_most_100_percent(errs, surge, f"{path}.rollingUpdate.maxSurge")
        if _amount(unavailable) and _amount(surge):
            errs.append(invalid(f"{path}.rollingUpdate.maxSurge", _go_int_or_string(surge),
                                "may not be set when maxUnavailable is non-zero"))
        elif not _amount(unavailable) and not _amount(surge):
            errs.append(required(f"{path}.rollingUpdate.maxUnavailable", "cannot be 0 when maxSurge is 0"))
    elif kind != "OnDelete":
        shown = GoSyntax(f"apps.DaemonSetUpdateStrategy{{Type:{go_quote(kind)}, RollingUpdate:"
                         "(*apps.RollingUpdateDaemonSet)(nil)}")
        errs.append(not_supported(path, shown, ("RollingUpdate", "OnDelete"), sort=False))


def _deployment(errs: ErrorList, spec: Obj) -> None:
    _nonnegative(errs, spec, "spec", "replicas")
    _selector(errs, spec, "deployment")
    _selects_template(errs, spec)
    _pod_template(errs, spec, "ReplicaSet")
    _deployment_strategy(errs, spec.get("strategy") or {})
    _nonnegative(errs, spec, "spec", "minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds")
    deadline = spec.get("progressDeadlineSeconds")
    if deadline is not None and deadline <= (spec.get("minReadySeconds") or 0):
        errs.append(invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"))


def _replicaset(errs: ErrorList, spec: Obj) -> None:
    _nonnegative(errs, spec, "spec", "replicas", "minReadySeconds")
    _selector(errs, spec, "deployment")
    _selects_template(errs, spec)
    _pod_template(errs, spec, "ReplicaSet")


def _statefulset(errs: ErrorList, spec: Obj) -> None:
    policy = spec.get("podManagementPolicy") or ""
    if not policy:
        errs.append(required("spec.podManagementPolicy"))
    elif policy not in ("OrderedReady", "Parallel"):
        errs.append(invalid("spec.podManagementPolicy", policy, "must be 'OrderedReady' or 'Parallel'"))
    strategy = spec.get("updateStrategy") or {}
    kind = strategy.get("type") or ""
    if not kind:
        errs.append(required("spec.updateStrategy"))
    elif kind == "RollingUpdate":
        _nonnegative(errs, strategy.get("rollingUpdate") or {}, "spec.updateStrategy.rollingUpdate", "partition")
    elif kind != "OnDelete":
        errs.append(invalid("spec.updateStrategy", GoSyntax(f"apps.StatefulSetUpdateStrategy{{Type:{go_quote(kind)}, "
                                                            "RollingUpdate:(*apps.RollingUpdateStatefulSetStrategy)(nil)}"),
                            "must be 'RollingUpdate' or 'OnDelete'"))
    _nonnegative(errs, spec, "spec", "replicas", "minReadySeconds")
    ordinals = spec.get("ordinals") or {}
    if (ordinals.get("start") or 0) < 0:
        errs.append(invalid("spec.ordinals.start", ordinals["start"], NONNEGATIVE))
    _selector(errs, spec, "statefulset")
    _selects_template(errs, spec)
    meta = (spec.get("template") or {}).get("metadata") or {}  # ValidatePodTemplateSpecForStatefulSet's paths
    errs.extend(validate_labels(meta.get("labels"), "spec.template.labels"))
    errs.extend(validate_annotations(meta.get("annotations"), "spec.template.annotations"))
    _restart_always(errs, (spec.get("template") or {}).get("spec") or {}, "StatefulSet")


def _daemonset(errs: ErrorList, spec: Obj) -> None:
    selector = spec.get("selector")
    if selector is not None:
        errs.extend(validate_selector(selector, "spec.selector"))
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    if selector is None or not matches(selector, labels or {}):
        errs.append(invalid("spec.template.metadata.labels", go_labels(labels),
                            "`selector` does not match template `labels`"))
    if selector is not None and not selector.get("matchLabels") and not selector.get("matchExpressions"):
        errs.append(invalid("spec.selector", go_selector(selector), "empty selector is invalid for daemonset"))
    _pod_template(errs, spec, "DaemonSet")
    _nonnegative(errs, spec, "spec", "minReadySeconds")
    _daemonset_strategy(errs, spec.get("updateStrategy") or {})
    _nonnegative(errs, spec, "spec", "revisionHistoryLimit")


SPECS = {"deployment": _deployment, "replicaset": _replicaset, "statefulset": _statefulset, "daemonset": _daemonset}


def validate_workload(obj: Obj, workload: str) -> ErrorList:
    """Create of a deployment, replicaset, statefulset or daemonset: its metadata, then its spec."""
    errs = validate_object_meta(obj.get("metadata") or {}, namespaced=True)
    SPECS[workload](errs, obj.get("spec") or {})
    return errs


def validate_workload_update(obj: Obj, old: Obj, workload: str) -> ErrorList:
    """Update, in each strategy's order: the selector may not change, a StatefulSet's spec but the updatable
    fields either."""
    meta, old_meta = obj.get("metadata") or {}, old.get("metadata") or {}
    spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
    errs = ErrorList()
    if workload in ("replicaset", "daemonset"):  # the strategy validates the new object first
        errs.extend(validate_workload(obj, workload))
    errs.extend(validate_object_meta_update(meta, old_meta))
    SPECS[workload](errs, spec)
    if workload == "statefulset":
        if {k: v for k, v in spec.items() if k not in STATEFULSET_UPDATABLE_FIELDS} != \
                {k: v for k, v in old_spec.items() if k not in STATEFULSET_UPDATABLE_FIELDS}:
            errs.append(forbidden("spec", STATEFULSET_UPDATABLE))
    elif spec.get("selector") != old_spec.get("selector"):
        errs.append(invalid("spec.selector", go_selector(spec.get("selector")), FIELD_IMMUTABLE))
    return errs


def validate_workload_status(obj: Obj, old: Obj) -> ErrorList:
    """Status update: the metadata rules and non-negative counts."""
    errs = validate_object_meta_update(obj.get("metadata") or {}, old.get("metadata") or {})
    status = obj.get("status") or {}
    _nonnegative(errs, status, "status", *(name for name, value in status.items() if isinstance(value, int)
                                           and not isinstance(value, bool)))
    return errs
