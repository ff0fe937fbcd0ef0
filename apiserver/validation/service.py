"""core/v1 Service validation, for the fields this server serves (core ValidateService).

Covered: the name (a DNS-1035 label), spec.type, spec.ports, spec.selector, spec.sessionAffinity,
spec.clusterIP/clusterIPs/ipFamilies/ipFamilyPolicy, spec.externalIPs, spec.externalName, and clusterIP immutability
on update. Traffic policies, load-balancer fields and session-affinity config are not validated.
A key absent from the dict counts as defaulted (the strategy fills type and sessionAffinity in).
"""

from __future__ import annotations

from typing import Any

from apiserver.validation.field import (
    ErrorList,
    GoSyntax,
    Pointer,
    duplicate,
    forbidden,
    go_quote,
    go_strings,
    invalid,
    not_supported,
    required,
)
from apiserver.validation.ip import parse_sloppy, validate_ip, validate_non_special_ip
from apiserver.validation.names import (
    is_dns1123_label,
    is_dns1123_subdomain,
    is_qualified_name,
    is_valid_port_name,
    is_valid_port_num,
    name_is_dns1035_label,
)
from apiserver.validation.objectmeta import validate_labels, validate_object_meta, validate_object_meta_update

SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
SESSION_AFFINITIES = ("ClientIP", "None")
IP_FAMILIES = ("IPv4", "IPv6")
IP_FAMILY_POLICIES = ("SingleStack", "PreferDualStack", "RequireDualStack")
PORT_PROTOCOLS = ("TCP", "UDP", "SCTP")


def validate_service(obj: dict[str, Any]) -> ErrorList:
    """A Service on create (and the shared part of update), in upstream's order."""
    errs = validate_object_meta(obj.get("metadata") or {}, namespaced=True, name_fn=name_is_dns1035_label)
    spec = obj.get("spec") or {}
    service_type = spec.get("type", "ClusterIP")
    ports = spec.get("ports") or []
    cluster_ips = spec.get("clusterIPs") or []
    headless = _is_headless(spec)
    if not ports and not headless and service_type != "ExternalName":
        errs.append(required("spec.ports"))
    errs.extend(_validate_type_specifics(spec, service_type, headless))
    names: set[str] = set()
    for i, port in enumerate(ports):
        errs.extend(_validate_port(port, len(ports) > 1, names, f"spec.ports[{i}]"))
    if spec.get("selector") is not None:
        errs.extend(validate_labels(spec["selector"], "spec.selector"))
    affinity = spec.get("sessionAffinity", "None")
    if not affinity:
        errs.append(required("spec.sessionAffinity"))
    elif affinity not in SESSION_AFFINITIES:
        errs.append(not_supported("spec.sessionAffinity", affinity, SESSION_AFFINITIES))
    if service_type != "ExternalName":
        errs.extend(_validate_cluster_ips(spec, cluster_ips, headless))
    for i, ip in enumerate(spec.get("externalIPs") or []):
        errs.extend(validate_ip(f"spec.externalIPs[{i}]", ip) or validate_non_special_ip(f"spec.externalIPs[{i}]", ip))
    if not service_type:
        errs.append(required("spec.type"))
    elif service_type not in SERVICE_TYPES:
        errs.append(not_supported("spec.type", service_type, SERVICE_TYPES))
    errs.extend(_validate_node_ports(ports, service_type))
    errs.extend(_validate_port_uniqueness(ports))
    return errs


def validate_service_update(obj: dict[str, Any], old: dict[str, Any]) -> ErrorList:
    """A Service on update: metadata update rules, clusterIPs and ipFamilies may not change, then create rules."""
    errs = validate_object_meta_update(obj.get("metadata") or {}, old.get("metadata") or {})
    spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
    if "ExternalName" not in (spec.get("type", "ClusterIP"), old_spec.get("type", "ClusterIP")):
        errs.extend(_validate_cluster_ip_change(spec, old_spec))
        errs.extend(_validate_ip_family_change(spec, old_spec))
    errs.extend(validate_service(obj))
    return errs


def _is_headless(spec: dict[str, Any]) -> bool:
    return (spec.get("clusterIPs") or []) == ["None"]


def _validate_type_specifics(spec: dict[str, Any], service_type: str, headless: bool) -> ErrorList:
    errs = ErrorList()
    cluster_ips = spec.get("clusterIPs") or []
    if service_type in ("LoadBalancer", "NodePort") and headless:
        detail = f"may not be set to 'None' for {service_type} services"
        errs.append(invalid("spec.clusterIPs[0]", cluster_ips[0], detail))
    if service_type == "ExternalName":
        if cluster_ips:
            errs.append(forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
        if spec.get("ipFamilies"):
            errs.append(forbidden("spec.ipFamilies", "may not be set for ExternalName services"))
        if spec.get("ipFamilyPolicy") is not None:
            errs.append(forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services"))
        cname = (spec.get("externalName") or "").removesuffix(".")
        if cname:
            errs.extend(invalid("spec.externalName", cname, msg) for msg in is_dns1123_subdomain(cname))
        else:
            errs.append(required("spec.externalName"))
    return errs


def _validate_port(port: dict[str, Any], require_name: bool, names: set[str], path: str) -> ErrorList:
    errs = ErrorList()
    name = port.get("name") or ""
    if require_name and not name:
        errs.append(required(path + ".name"))
    elif name:
        errs.extend(invalid(path + ".name", name, msg) for msg in is_dns1123_label(name))
        if name in names:
            errs.append(duplicate(path + ".name", name))
        names.add(name)
    number = port.get("port") or 0
    errs.extend(invalid(path + ".port", number, msg) for msg in is_valid_port_num(number))
    protocol = port.get("protocol", "TCP")
    if not protocol:
        errs.append(required(path + ".protocol"))
    elif protocol not in PORT_PROTOCOLS:
        errs.append(not_supported(path + ".protocol", protocol, PORT_PROTOCOLS))
    if "targetPort" in port:
        target = port["targetPort"]
        check = is_valid_port_name if isinstance(target, str) else is_valid_port_num
        errs.extend(invalid(path + ".targetPort", target, msg) for msg in check(target))
    if port.get("appProtocol") is not None:
        app_protocol = port["appProtocol"]
        errs.extend(invalid(path + ".appProtocol", app_protocol, msg) for msg in is_qualified_name(app_protocol))
    return errs


def _validate_cluster_ips(spec: dict[str, Any], cluster_ips: list[str], headless: bool) -> ErrorList:
    """ValidateServiceClusterIPsRelatedFields: clusterIP/clusterIPs in sync, families, valid dual-stack IPs."""
    errs = ErrorList()
    cluster_ip = spec.get("clusterIP") or ""
    if cluster_ip:
        if not cluster_ips:
            errs.append(required("spec.clusterIPs"))
        elif cluster_ips[0] != cluster_ip:
            errs.append(invalid("spec.clusterIPs", go_strings(cluster_ips), "first value must match `clusterIP`"))
    elif cluster_ips:
        errs.append(invalid("spec.clusterIPs", go_strings(cluster_ips), "must be empty when `clusterIP` is not specified"))
    families = spec.get("ipFamilies") or []
    seen: set[str] = set()
    for i, family in enumerate(families):
        if family not in IP_FAMILIES:
            errs.append(not_supported(f"spec.ipFamilies[{i}]", family, IP_FAMILIES))
        if family in seen:
            errs.append(duplicate(f"spec.ipFamilies[{i}]", family))
        seen.add(family)
    policy = spec.get("ipFamilyPolicy")
    if policy is not None and policy not in IP_FAMILY_POLICIES:
        errs.append(not_supported("spec.ipFamilyPolicy", Pointer(policy), IP_FAMILY_POLICIES))
    bad_ips = False
    for i, ip in enumerate(cluster_ips):
        if i == 0 and ip == "None":
            if len(cluster_ips) > 1:
                bad_ips = True
                errs.append(invalid("spec.clusterIPs", go_strings(cluster_ips), "'None' must be the first and only value"))
            continue
        ip_errs = validate_ip(f"spec.clusterIPs[{i}]", ip)
        bad_ips = bad_ips or bool(ip_errs)
        errs.extend(ip_errs)
    if len(cluster_ips) > 2:
        errs.append(invalid("spec.clusterIPs", go_strings(cluster_ips), "may only hold up to 2 values"))
    if bad_ips:
        return errs
    if len(cluster_ips) > 1 and not _dual_stack(cluster_ips):
        errs.append(invalid("spec.clusterIPs", go_strings(cluster_ips), "may specify no more than one IP for each IP family"))
    if not headless:
        for i, (ip, family) in enumerate(zip(cluster_ips, families)):
            is_v6 = _is_ipv6(ip)
            if family == "IPv4" and is_v6 or family == "IPv6" and not is_v6:
                errs.append(invalid(f"spec.clusterIPs[{i}]", ip,
                                    f"expected an {family} value as indicated by `ipFamilies[{i}]`"))
    return errs


def _is_ipv6(text: str) -> bool:
    parsed = parse_sloppy(text)
    return parsed is not None and parsed.ipv4 is None


def _dual_stack(ips: list[str]) -> bool:
    """netutils.IsDualStackIPStrings: at least one of each family."""
    v6 = [_is_ipv6(ip) for ip in ips]
    return any(v6) and not all(v6)


def _validate_node_ports(ports: list[dict[str, Any]], service_type: str) -> ErrorList:
    """nodePort: forbidden on ClusterIP services, then unique per protocol, each rule in its own pass as upstream
    orders them (the range is the allocator's, which claims a create's ports, and an update's new ones, first)."""
    errs = ErrorList()
    set_ports = [(i, port, port.get("nodePort") or 0) for i, port in enumerate(ports) if port.get("nodePort")]
    for i, _, _ in set_ports:
        if service_type == "ClusterIP":
            errs.append(forbidden(f"spec.ports[{i}].nodePort", "may not be used when `type` is 'ClusterIP'"))
    seen: set[tuple[str, int]] = set()
    for i, port, node_port in set_ports:
        key = (port.get("protocol", "TCP"), node_port)
        if key in seen:
            errs.append(duplicate(f"spec.ports[{i}].nodePort", node_port))
        seen.add(key)
    return errs


def _validate_port_uniqueness(ports: list[dict[str, Any]]) -> ErrorList:
    """No two ports with the same (protocol, port); the bad value is the internal ServicePort key, as %#v prints it."""
    errs = ErrorList()
    seen: set[tuple[str, int]] = set()
    for i, port in enumerate(ports):
        key = (port.get("protocol", "TCP"), port.get("port") or 0)
        if key in seen:
            shown = GoSyntax(f"core.ServicePort{{Name:\"\", Protocol:{go_quote(key[0])}, AppProtocol:(*string)(nil), "
                             f"Port:{key[1]}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}")
            errs.append(duplicate(f"spec.ports[{i}]", shown))
        seen.add(key)
    return errs


def _validate_cluster_ip_change(spec: dict[str, Any], old_spec: dict[str, Any]) -> ErrorList:
    """validateUpgradeDowngradeClusterIPs: the primary clusterIP may not change once set."""
    errs = ErrorList()
    new_ips, old_ips = spec.get("clusterIPs") or [], old_spec.get("clusterIPs") or []
    if _is_headless(spec) and _is_headless(old_spec):
        return errs
    if len(new_ips) == len(old_ips):
        for i, ip in enumerate(old_ips):
            if ip != new_ips[i]:
                errs.append(invalid(f"spec.clusterIPs[{i}]", go_strings(new_ips), "may not change once set"))
    elif len(old_ips) > len(new_ips):
        if not new_ips:
            errs.append(invalid("spec.clusterIPs[0]", go_strings(new_ips), "primary clusterIP can not be unset"))
        elif new_ips[0] != old_ips[0]:
            errs.append(invalid("spec.clusterIPs[0]", go_strings(new_ips), "may not change once set"))
        if len(new_ips) == 1 and spec.get("ipFamilyPolicy") != "SingleStack":
            errs.append(invalid("spec.ipFamilyPolicy", Pointer(spec.get("ipFamilyPolicy")),
                                "must be set to 'SingleStack' when releasing the secondary clusterIP"))
    elif old_ips and new_ips[0] != old_ips[0]:
        errs.append(invalid("spec.clusterIPs[0]", go_strings(new_ips), "may not change once set"))
    return errs


def _validate_ip_family_change(spec: dict[str, Any], old_spec: dict[str, Any]) -> ErrorList:
    """validateUpgradeDowngradeIPFamilies: the primary family may not change (headless services excepted)."""
    errs = ErrorList()
    if _is_headless(spec) or _is_headless(old_spec):
        return errs
    new, old = spec.get("ipFamilies") or [], old_spec.get("ipFamilies") or []
    if len(new) == len(old):
        errs.extend(invalid("spec.ipFamilies[0]", new, "may not change once set")
                    for i, family in enumerate(old) if family != new[i])
    elif len(old) > len(new):
        if not spec.get("clusterIPs"):
            errs.append(invalid("spec.ipFamilies[0]", new, "primary ipFamily can not be unset"))
        if new and new[0] != old[0]:
            errs.append(invalid("spec.ipFamilies[0]", spec.get("clusterIPs") or [], "may not change once set"))
        if len(new) == 1 and spec.get("ipFamilyPolicy") != "SingleStack":
            errs.append(invalid("spec.ipFamilyPolicy", Pointer(spec.get("ipFamilyPolicy")),
                                "must be set to 'SingleStack' when releasing the secondary ipFamily"))
    elif old and new[0] != old[0]:
        errs.append(invalid("spec.ipFamilies[0]", spec.get("clusterIPs") or [], "may not change once set"))
    return errs
