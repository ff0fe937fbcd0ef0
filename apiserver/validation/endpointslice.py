"""discovery.k8s.io/v1 EndpointSlice validation and warnings (reference §2.3).

Errors are appended in the order metadata → addressType → ports → endpoints, so `causes` follows
that order. On update, endpoint errors are ignored when `endpoints` is unchanged from the stored
object (old data is grandfathered), and addressType is immutable.
"""

from __future__ import annotations

import functools
from typing import Any

from apiserver.validation.field import (
    ErrorList,
    Pointer,
    duplicate,
    internal,
    invalid,
    not_supported,
    required,
    too_many,
)
from apiserver.validation.ip import plain_family, validate_endpoint_ip
from apiserver.validation.names import (
    is_dns1123_label,
    is_dns1123_subdomain,
    is_label_value,
    is_node_name,
    is_qualified_name,
)
from apiserver.validation.objectmeta import (
    FIELD_IMMUTABLE,
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
)

ADDRESS_TYPES = ("IPv4", "IPv6", "FQDN")
PORT_PROTOCOLS = ("TCP", "UDP", "SCTP")
MAX_PORTS = 20000
MAX_ENDPOINTS = 1000
MAX_ADDRESSES = 100
MAX_TOPOLOGY_LABELS = 16
MAX_HINTS = 8
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
CONTROLLERS = frozenset({"endpointslice-controller.k8s.io", "endpointslicemirroring-controller.k8s.io"})
_ZONE_LABEL = "topology.kubernetes.io/zone"
_IP_FAMILIES = {"IPv4": 4, "IPv6": 6}


def validate_endpointslice(obj: dict[str, Any]) -> ErrorList:
    """An EndpointSlice on create."""
    errs = validate_object_meta(obj.get("metadata") or {}, namespaced=True)
    errs.extend(_validate_address_type(obj.get("addressType") or ""))
    errs.extend(_validate_endpoints(obj.get("endpoints") or [], obj.get("addressType") or ""))
    errs.extend(_validate_ports(obj.get("ports") or []))
    return errs


def validate_endpointslice_update(obj: dict[str, Any], old: dict[str, Any]) -> ErrorList:
    """An EndpointSlice on update: metadata update rules, the create rules, then addressType immutability."""
    errs = validate_object_meta_update(obj.get("metadata") or {}, old.get("metadata") or {})
    errs.extend(validate_endpointslice(obj))
    address_type = obj.get("addressType") or ""
    if address_type != (old.get("addressType") or ""):
        errs.append(invalid("addressType", address_type, FIELD_IMMUTABLE))
    return errs


def endpointslice_warnings(obj: dict[str, Any], old: dict[str, Any] | None) -> list[str]:
    """Warnings for a create (old is None) or update: FQDN deprecation on create (1.32 has no IP warnings)."""
    if old is None and obj.get("addressType") == "FQDN":
        return ["spec.addressType: FQDN endpoints are deprecated"]
    return []


def _validate_address_type(address_type: str) -> ErrorList:
    if not address_type:
        return ErrorList([required("addressType")])
    if address_type not in ADDRESS_TYPES:
        return ErrorList([not_supported("addressType", address_type, ADDRESS_TYPES)])
    return ErrorList()


def _validate_ports(ports: list[dict[str, Any]]) -> ErrorList:
    errs = ErrorList()
    if len(ports) > MAX_PORTS:
        errs.append(too_many("ports", len(ports), MAX_PORTS))
        return errs
    seen: set[str] = set()
    for i, port in enumerate(ports):
        path = f"ports[{i}]"
        name = port.get("name") or ""
        if name:
            errs.extend(invalid(path + ".name", name, msg) for msg in is_dns1123_label(name))
        if name in seen:
            errs.append(duplicate(path + ".name", Pointer(name)))
        seen.add(name)
        protocol = port.get("protocol")
        if protocol is None:
            errs.append(required(path + ".protocol"))
        elif protocol not in PORT_PROTOCOLS:
            errs.append(not_supported(path + ".protocol", protocol, PORT_PROTOCOLS))
        app_protocol = port.get("appProtocol")
        if app_protocol is not None:
            errs.extend(invalid(path + ".appProtocol", app_protocol, msg) for msg in is_qualified_name(app_protocol))
    return errs


def _validate_address(path: str, address: str, address_type: str) -> ErrorList:
    """One address by the slice's type; unknown types are not validated."""
    if address_type in _IP_FAMILIES:
        return ErrorList(validate_endpoint_ip(path, address, _IP_FAMILIES[address_type]))
    if address_type == "FQDN":
        return _validate_fqdn(path, address)
    return ErrorList()


def _validate_fqdn(path: str, name: str) -> ErrorList:
    """IsFullyQualifiedDomainName: a subdomain of at least two labels; one trailing dot allowed."""
    if not name:
        return ErrorList([required(path)])
    name = name.removesuffix(".")
    if msgs := is_dns1123_subdomain(name):
        return ErrorList([invalid(path, name, ",".join(msgs))])
    labels = name.split(".")
    if len(labels) < 2:
        return ErrorList([invalid(path, name, "should be a domain with at least two segments separated by dots")])
    for label in labels:
        if msgs := is_dns1123_label(label):
            return ErrorList([invalid(path, label, ",".join(msgs))])
    return ErrorList()


def _validate_endpoints(endpoints: list[dict[str, Any]], address_type: str) -> ErrorList:
    errs = ErrorList()
    if len(endpoints) > MAX_ENDPOINTS:
        errs.append(too_many("endpoints", len(endpoints), MAX_ENDPOINTS))
        return errs
    family = _IP_FAMILIES.get(address_type, 0)
    for i, endpoint in enumerate(endpoints):
        path = f"endpoints[{i}]"
        addresses = endpoint.get("addresses") or []
        if not addresses:
            errs.append(required(path + ".addresses", "must contain at least 1 address"))
        elif len(addresses) > MAX_ADDRESSES:
            errs.append(too_many(path + ".addresses", len(addresses), MAX_ADDRESSES))
        for j, address in enumerate(addresses):
            if not family or plain_family(address) != family:  # a plain IP has nothing to report
                errs.extend(_validate_address(f"{path}.addresses[{j}]", address, address_type))
        node_name = endpoint.get("nodeName")
        if node_name is not None and (msgs := _node_name_messages(node_name)):
            errs.extend(invalid(path + ".nodeName", node_name, msg) for msg in msgs)
        if topology := endpoint.get("deprecatedTopology"):  # an empty one has nothing to report
            errs.extend(_validate_topology(topology, path + ".deprecatedTopology"))
        hostname = endpoint.get("hostname")
        if hostname is not None:
            errs.extend(invalid(path + ".hostname", hostname, msg) for msg in is_dns1123_label(hostname))
        if endpoint.get("hints") is not None:
            errs.extend(_validate_hints(endpoint["hints"], path + ".hints"))
    return errs


@functools.lru_cache(maxsize=4096)
def _node_name_messages(name: str) -> tuple[str, ...]:
    """is_node_name, remembered: a cluster has few nodes, each named in many endpoints."""
    return tuple(is_node_name(name))


def _validate_topology(topology: dict[str, str], path: str) -> ErrorList:
    errs = ErrorList()
    if len(topology) > MAX_TOPOLOGY_LABELS:
        errs.append(too_many(path, len(topology), MAX_TOPOLOGY_LABELS))
    errs.extend(validate_labels(topology, path))
    if _ZONE_LABEL in topology:
        errs.append(internal(f"{path}[{_ZONE_LABEL}]", "reserved key was not removed in conversion"))
    return errs


def _validate_hints(hints: dict[str, Any], path: str) -> ErrorList:
    """forZones: ≤8, unique, label values; forNodes: ≤8, unique, node names."""
    errs = ErrorList()
    for key, check in (("forZones", is_label_value), ("forNodes", is_node_name)):
        entries = hints.get(key) or []
        if len(entries) > MAX_HINTS:
            errs.append(too_many(f"{path}.{key}", len(entries), MAX_HINTS))
            return errs
        seen: set[str] = set()
        for k, entry in enumerate(entries):
            name_path, name = f"{path}.{key}[{k}].name", entry.get("name") or ""
            if name in seen:
                errs.append(duplicate(name_path, name))
            seen.add(name)
            errs.extend(invalid(name_path, name, msg) for msg in check(name))
    return errs
