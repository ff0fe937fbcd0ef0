"""core/v1 Pod validation, for the subset this server serves (core ValidatePod*).

Covered: metadata, container names, images, ports, env names and pull policies, spec.restartPolicy,
dnsPolicy, nodeName and activeDeadlineSeconds, status.podIP(s), status.phase and condition
types/statuses, containers neither added nor removed and spec immutability on update, and the warning
for a name that is no DNS label. The upstream spec-immutability error carries a Go `cmp.Diff` of the
spec after the message; that diff is not reproduced.
"""

from __future__ import annotations

import copy
from typing import Any

from apiserver.validation.field import ErrorList, duplicate, forbidden, invalid, not_supported, required
from apiserver.validation.ip import parse_sloppy, validate_ip
from apiserver.validation.names import (
    is_dns1123_label,
    is_node_name,
    is_qualified_name,
    is_valid_port_name,
    is_valid_port_num,
)
from apiserver.validation.objectmeta import validate_object_meta, validate_object_meta_update

PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
CONDITION_STATUSES = ("True", "False", "Unknown")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
SYSTEM_CONDITIONS = frozenset({"PodScheduled", "Ready", "Initialized"})
UPDATABLE_SPEC_FIELDS = (
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
)


def validate_pod(obj: dict[str, Any]) -> ErrorList:
    """A Pod on create: metadata, then spec, then any status the client sent."""
    errs = validate_object_meta(obj.get("metadata") or {}, namespaced=True)
    errs.extend(validate_pod_spec(obj.get("spec") or {}))
    errs.extend(_validate_status(obj.get("status") or {}))
    return errs


def validate_pod_update(obj: dict[str, Any], old: dict[str, Any]) -> ErrorList:
    """A Pod on update: metadata update rules, create rules, and only the updatable spec fields changed."""
    errs = validate_object_meta_update(obj.get("metadata") or {}, old.get("metadata") or {})
    errs.extend(validate_object_meta(obj.get("metadata") or {}, namespaced=True))
    spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
    errs.extend(validate_pod_spec(spec))
    for key in ("containers", "initContainers"):  # ValidateContainerUpdates, which stops at a changed count
        containers = spec.get(key) or []
        if len(containers) != len(old_spec.get(key) or []):
            errs.append(forbidden(f"spec.{key}", "pod updates may not add or remove containers"))
            return errs
        for i, container in enumerate(containers):
            errs.extend(_validate_image(container.get("image") or "", f"spec.{key}[{i}].image"))
    if _munged(spec, old_spec) != old_spec:
        detail = "pod updates may not change fields other than " + ",".join(UPDATABLE_SPEC_FIELDS)
        errs.append(forbidden("spec", detail))
    return errs


def validate_pod_status_update(obj: dict[str, Any], old: dict[str, Any]) -> ErrorList:
    """The status subresource: metadata update rules, condition types (reported under `metadata.conditions`,
    an upstream quirk), nodeName unchanged, then status.phase and pod IPs."""
    errs = validate_object_meta_update(obj.get("metadata") or {}, old.get("metadata") or {})
    status = obj.get("status") or {}
    errs.extend(_validate_condition_types(status.get("conditions") or [], "metadata.conditions"))
    if (obj.get("spec") or {}).get("nodeName") != (old.get("spec") or {}).get("nodeName"):
        errs.append(forbidden("status.nodeName", "may not be changed directly"))
    errs.extend(_validate_status(status, with_condition_types=False))
    return errs


def validate_pod_spec(spec: dict[str, Any], path: str = "spec") -> ErrorList:
    """The checks of a pod's spec we make, at `path` (a workload's `spec.template.spec`)."""
    errs = ErrorList()
    containers = spec.get("containers") or []
    if not containers:
        errs.append(required(f"{path}.containers"))
    names: set[str] = set()
    for key in ("containers", "initContainers"):
        for i, container in enumerate(spec.get(key) or []):
            errs.extend(_validate_container(container, f"{path}.{key}[{i}]", names))
    restart_policy = spec.get("restartPolicy", "Always")
    if not restart_policy:
        errs.append(required(f"{path}.restartPolicy"))
    elif restart_policy not in ("Always", "OnFailure", "Never"):
        errs.append(not_supported(f"{path}.restartPolicy", restart_policy, ("Always", "OnFailure", "Never"), sort=False))
    dns_policy = spec.get("dnsPolicy", "ClusterFirst")
    if not dns_policy:
        errs.append(required(f"{path}.dnsPolicy"))
    elif dns_policy not in DNS_POLICIES:
        errs.append(not_supported(f"{path}.dnsPolicy", dns_policy, DNS_POLICIES, sort=False))
    node_name = spec.get("nodeName") or ""
    if node_name:
        errs.extend(invalid(f"{path}.nodeName", node_name, msg) for msg in is_node_name(node_name))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and not 1 <= deadline <= 2**31 - 1:
        errs.append(invalid(f"{path}.activeDeadlineSeconds", deadline, "must be between 1 and 2147483647, inclusive"))
    return errs


def _validate_container(container: dict[str, Any], path: str, names: set[str]) -> ErrorList:
    """validateContainerCommon's checks we make (name a DNS label, image required, ports), then the name
    unique across init and regular containers and the image without surrounding whitespace."""
    errs = ErrorList()
    name = container.get("name") or ""
    if not name:
        errs.append(required(path + ".name"))
    else:
        errs.extend(invalid(path + ".name", name, msg) for msg in is_dns1123_label(name))
    image = container.get("image") or ""
    if not image:
        errs.append(required(path + ".image"))
    errs.extend(_validate_container_ports(container.get("ports") or [], path + ".ports"))
    errs.extend(_validate_env(container.get("env") or [], path + ".env"))
    pull_policy = container.get("imagePullPolicy")
    if pull_policy and pull_policy not in PULL_POLICIES:  # "" is defaulted before validation
        errs.append(not_supported(path + ".imagePullPolicy", pull_policy, PULL_POLICIES, sort=False))
    if name in names:
        errs.append(duplicate(path + ".name", name))
    names.add(name)
    if image != image.strip():
        errs.append(invalid(path + ".image", image, "must not have leading or trailing whitespace"))
    return errs


def _validate_image(image: str, path: str) -> ErrorList:
    errs = ErrorList()
    if not image:
        errs.append(required(path))
    if image != image.strip():
        errs.append(invalid(path, image, "must not have leading or trailing whitespace"))
    return errs


def _validate_env(env: list[dict[str, Any]], path: str) -> ErrorList:
    """ValidateEnv with RelaxedEnvironmentVariableValidation (on in 1.32): a name, of printable ASCII but '='."""
    errs = ErrorList()
    for i, var in enumerate(env):
        name = var.get("name") or ""
        if not name:
            errs.append(required(f"{path}[{i}].name"))
        elif any(not " " <= char <= "~" or char == "=" for char in name):
            errs.append(invalid(f"{path}[{i}].name", name, "a valid environment variable name must consist only of "
                                                            "printable ASCII characters other than '='"))
    return errs


def _validate_container_ports(ports: list[dict[str, Any]], path: str) -> ErrorList:
    """validateContainerPorts: names valid and unique, containerPort required and in range, hostPort in
    range, protocol supported."""
    errs = ErrorList()
    names: set[str] = set()
    for i, port in enumerate(ports):
        at = f"{path}[{i}]"
        name = port.get("name") or ""
        if name:
            if msgs := is_valid_port_name(name):
                errs.extend(invalid(at + ".name", name, msg) for msg in msgs)
            elif name in names:
                errs.append(duplicate(at + ".name", name))
            names.add(name)
        container_port = port.get("containerPort") or 0
        if not container_port:
            errs.append(required(at + ".containerPort"))
        else:
            errs.extend(invalid(at + ".containerPort", container_port, msg) for msg in is_valid_port_num(container_port))
        if host_port := port.get("hostPort") or 0:
            errs.extend(invalid(at + ".hostPort", host_port, msg) for msg in is_valid_port_num(host_port))
        protocol = port.get("protocol", "TCP")
        if not protocol:
            errs.append(required(at + ".protocol"))
        elif protocol not in ("SCTP", "TCP", "UDP"):
            errs.append(not_supported(at + ".protocol", protocol, ("SCTP", "TCP", "UDP")))
    return errs


def pod_warnings(obj: dict[str, Any], old: dict[str, Any] | None) -> list[str]:
    """GetWarningsForPod's name check, on create: a name that is no DNS label makes a surprising hostname."""
    name = (obj.get("metadata") or {}).get("name") or ""
    if old is not None or not name or not (msgs := is_dns1123_label(name)):
        return []
    return [(f"metadata.name: this is used in the Pod's hostname, which can result in surprising behavior; a DNS "
            f"label is recommended: [{' '.join(msgs)}]")]


def _validate_status(status: dict[str, Any], with_condition_types: bool = True) -> ErrorList:
    errs = ErrorList()
    phase = status.get("phase")
    if phase and phase not in PHASES:
        errs.append(not_supported("status.phase", phase, PHASES))
    conditions = status.get("conditions") or []
    if with_condition_types:
        errs.extend(_validate_condition_types(conditions, "status.conditions"))
    for i, condition in enumerate(conditions):
        if condition.get("status") not in CONDITION_STATUSES:
            status_path = f"status.conditions[{i}].status"
            errs.append(not_supported(status_path, condition.get("status") or "", CONDITION_STATUSES))
    errs.extend(_validate_pod_ips(status))
    return errs


def _validate_condition_types(conditions: list[dict[str, Any]], path: str) -> ErrorList:
    """Non-system condition types are qualified names (upstream's path ends in `.Type`)."""
    errs = ErrorList()
    for i, condition in enumerate(conditions):
        kind = condition.get("type") or ""
        if kind not in SYSTEM_CONDITIONS:
            errs.extend(invalid(f"{path}[{i}].Type", kind, msg) for msg in is_qualified_name(kind))
    return errs


def _validate_pod_ips(status: dict[str, Any]) -> ErrorList:
    """podIPs (or podIP alone, which v1 conversion turns into podIPs[0]): valid, one per family, no duplicates."""
    pod_ips = [entry.get("ip") or "" for entry in status.get("podIPs") or []]
    if not pod_ips and status.get("podIP"):
        pod_ips = [status["podIP"]]
    errs = ErrorList()
    for i, ip in enumerate(pod_ips):
        errs.extend(validate_ip(f"status.podIPs[{i}]", ip))
    if len(pod_ips) > 1:
        shown = [{"IP": ip} for ip in pod_ips]
        families = [parsed.ipv4 is None for parsed in map(parse_sloppy, pod_ips) if parsed is not None]
        if len(pod_ips) > 2 or len(families) < len(pod_ips) or all(families) or not any(families):
            errs.append(invalid("status.podIPs", shown, "may specify no more than one IP for each IP family"))
        seen: set[str] = set()
        for i, ip in enumerate(pod_ips):
            if ip in seen:
                errs.append(duplicate(f"status.podIPs[{i}]", {"IP": ip}))
            seen.add(ip)
    return errs


def _munged(spec: dict[str, Any], old_spec: dict[str, Any]) -> dict[str, Any]:
    """The new spec with every updatable field reset to its old value, for the immutability comparison."""
    munged = copy.deepcopy(spec)
    for key in ("containers", "initContainers"):
        new_list, old_list = munged.get(key) or [], old_spec.get(key) or []
        if len(new_list) == len(old_list):
            for container, old_container in zip(new_list, old_list):
                if "image" in old_container:
                    container["image"] = old_container["image"]
    _restore(munged, old_spec, "activeDeadlineSeconds")
    new_tolerations, old_tolerations = munged.get("tolerations") or [], old_spec.get("tolerations") or []
    if all(t in new_tolerations for t in old_tolerations):
        _restore(munged, old_spec, "tolerations")
    old_grace = old_spec.get("terminationGracePeriodSeconds")
    if old_grace is not None and old_grace < 0 and munged.get("terminationGracePeriodSeconds") == 1:
        _restore(munged, old_spec, "terminationGracePeriodSeconds")
    return munged


def _restore(spec: dict[str, Any], old_spec: dict[str, Any], key: str) -> None:
    if key in old_spec:
        spec[key] = old_spec[key]
    else:
        spec.pop(key, None)
