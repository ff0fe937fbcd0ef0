"""core/v1 Node validation (upstream's ValidateNode and ValidateNodeUpdate): the name, taints, pod CIDRs (one per
family) and what an update may not change."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from typing import Any

from apiserver.validation.field import (
    ErrorList,
    GoSyntax,
    duplicate,
    forbidden,
    go_quote,
    go_strings,
    internal,
    invalid,
    not_supported,
    required,
)
from apiserver.kinds.quantity import quantity
from apiserver.validation.names import is_label_value, is_qualified_name
from apiserver.validation.objectmeta import validate_object_meta, validate_object_meta_update

Obj = dict[str, Any]
EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_CIDR_CHANGE = 'node updates may not change podCIDR except from "" to valid'


def validate_node(node: Obj) -> ErrorList:
    errs = validate_object_meta(node.get("metadata") or {}, namespaced=False)
    spec = node.get("spec") or {}
    errs.extend(_taints(spec.get("taints") or []))
    errs.extend(_resources(node.get("status") or {}))
    cidrs = spec.get("podCIDRs") or []
    families, bad = [], None
    for i, value in enumerate(cidrs):
        try:
            families.append(ipaddress.ip_network(value, strict=False).version)
        except ValueError:
            bad = f"invalid CIDR[{i}]: <nil> (invalid CIDR address: {value})" if bad is None else bad
            errs.append(invalid(f"spec.podCIDRs[{i}]", value,
                                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"))
    if len(cidrs) > 1:
        if bad is not None:
            errs.append(internal("spec.podCIDRs", f"invalid PodCIDRs. failed to check with dual stack with error:{bad}"))
        if len(cidrs) > 2 or len(set(families)) != 2 or bad is not None:
            errs.append(invalid("spec.podCIDRs", go_strings(cidrs), "may specify no more than one CIDR for each IP family"))
        errs.extend(duplicate(f"spec.podCIDRs[{i}]", value) for i, value in enumerate(cidrs) if value in cidrs[:i])
    return errs


INTEGER_RESOURCES = frozenset({"pods", "resourcequotas", "services", "replicationcontrollers", "secrets", "configmaps",
                               "persistentvolumeclaims", "services.nodeports", "services.loadbalancers"})


def _integer_resource(name: str) -> bool:
    """IsIntegerResourceName: the counted resources and the extended ones (qualified, outside kubernetes.io)."""
    native = "/" not in name or "kubernetes.io/" in name
    extended = not native and not name.startswith("requests.") and not is_qualified_name("requests." + name)
    return name in INTEGER_RESOURCES or extended


def _resources(status: Obj) -> ErrorList:
    """ValidateNodeResources: capacity and allocatable not negative, integer resources whole."""
    errs = ErrorList()
    for part in ("capacity", "allocatable"):
        for name, value in (status.get(part) or {}).items():
            amount = quantity(value)
            if amount < 0:
                errs.append(invalid(f"status.{part}.{name}", str(value), "must be greater than or equal to 0"))
            if _integer_resource(name) and amount % 1:
                errs.append(invalid(f"status.{part}.{name}", _go_quantity(str(value)), "must be an integer"))
    return errs


_DECIMAL_SCALES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def _go_quantity(text: str) -> GoSyntax:
    """A resource.Quantity value as %#v prints it, for a canonical decimal quantity (`1500m`): its int64 amount
    and scale, and the string it caches. (A non-canonical spelling, `0.5`, is written here as its canonical one.)"""
    digits = text.rstrip("".join(k for k in _DECIMAL_SCALES if k))
    suffix = text[len(digits):]
    return GoSyntax(f"resource.Quantity{{i:resource.int64Amount{{value:{digits}, scale:{_DECIMAL_SCALES.get(suffix, 0)}}}, "
                    f'd:resource.infDecAmount{{Dec:(*inf.Dec)(nil)}}, s:"{text}", Format:"DecimalSI"}}')


def _taints(taints: list[Obj]) -> ErrorList:
    """validateNodeTaints, at the path upstream reports them on (`metadata.taints`)."""
    errs = ErrorList()
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate(taints):
        path = f"metadata.taints[{i}]"
        key, value, effect = taint.get("key") or "", taint.get("value") or "", taint.get("effect") or ""
        errs.extend(invalid(f"{path}.key", key, msg) for msg in is_qualified_name(key))
        if messages := is_label_value(value):
            errs.append(invalid(f"{path}.value", value, ";".join(messages)))
        if not effect:
            errs.append(required(f"{path}.effect"))
        elif effect not in EFFECTS:
            errs.append(not_supported(f"{path}.effect", effect, EFFECTS, sort=False))
        if (key, effect) in seen:
            shown = GoSyntax(f"core.Taint{{Key:{go_quote(key)}, Value:{go_quote(value)}, Effect:{go_quote(effect)}, "
                             f"TimeAdded:{'<nil>' if taint.get('timeAdded') is None else taint['timeAdded']}}}")
            errs.append(replace(duplicate(path, shown), detail="taints must be unique by key and effect pair"))
            continue
        seen.add((key, effect))
    return errs


def validate_node_update(node: Obj, old: Obj) -> ErrorList:
    """ValidateNode, then ValidateNodeUpdate: addresses unique, pod CIDRs and providerID set once."""
    errs = validate_node(node)
    errs.extend(validate_object_meta_update(node.get("metadata") or {}, old.get("metadata") or {}))
    errs.extend(_resources(node.get("status") or {}))
    spec, old_spec = node.get("spec") or {}, old.get("spec") or {}
    addresses = (node.get("status") or {}).get("addresses") or []
    errs.extend(duplicate(f"status.addresses[{i}]", address) for i, address in enumerate(addresses)
                if address in addresses[:i])
    old_cidrs, cidrs = old_spec.get("podCIDRs") or [], spec.get("podCIDRs") or []
    if old_cidrs:
        if len(old_cidrs) != len(cidrs):
            errs.append(forbidden("spec.podCIDRs", _CIDR_CHANGE))
        else:
            errs.extend(forbidden("spec.podCIDRs", _CIDR_CHANGE) for a, b in zip(old_cidrs, cidrs, strict=True) if a != b)
    if old_spec.get("providerID") and old_spec["providerID"] != spec.get("providerID"):
        errs.append(forbidden("spec.providerID", 'node updates may not change providerID except from "" to valid'))
    errs.extend(_taints(spec.get("taints") or []))
    if (spec.get("externalID") or "") != (old_spec.get("externalID") or ""):
        errs.append(forbidden("spec.externalID", "may not be updated"))
    return errs
