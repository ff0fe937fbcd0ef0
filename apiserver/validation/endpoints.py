"""core/v1 Endpoints validation (reference §3.2; core ValidateEndpoints*).

No count limits: the 1000-address cap is a controller behaviour, not an API rule.
"""

from __future__ import annotations

from typing import Any

from apiserver.validation.field import ErrorList, invalid, not_supported, required
from apiserver.validation.ip import validate_ip, validate_non_special_ip
from apiserver.validation.names import is_dns1123_label, is_node_name, is_qualified_name, is_valid_port_num
from apiserver.validation.objectmeta import validate_object_meta, validate_object_meta_update

PORT_PROTOCOLS = ("TCP", "UDP", "SCTP")


def validate_endpoints(obj: dict[str, Any]) -> ErrorList:
    """Endpoints on create (and the shared part of update)."""
    errs = validate_object_meta(obj.get("metadata") or {}, namespaced=True)
    for i, subset in enumerate(obj.get("subsets") or []):
        errs.extend(_validate_subset(subset, f"subsets[{i}]"))
    return errs


def validate_endpoints_update(obj: dict[str, Any], old: dict[str, Any]) -> ErrorList:
    """Endpoints on update: metadata update rules, then everything checked on create."""
    errs = validate_object_meta_update(obj.get("metadata") or {}, old.get("metadata") or {})
    errs.extend(validate_endpoints(obj))
    return errs


def _validate_subset(subset: dict[str, Any], path: str) -> ErrorList:
    errs = ErrorList()
    addresses, not_ready = subset.get("addresses") or [], subset.get("notReadyAddresses") or []
    if not addresses and not not_ready:
        errs.append(required(path, "must specify `addresses` or `notReadyAddresses`"))
    for key, entries in (("addresses", addresses), ("notReadyAddresses", not_ready)):
        for j, address in enumerate(entries):
            errs.extend(_validate_address(address, f"{path}.{key}[{j}]"))
    ports = subset.get("ports") or []
    for j, port in enumerate(ports):
        errs.extend(_validate_port(port, len(ports) > 1, f"{path}.ports[{j}]"))
    return errs


def _validate_address(address: dict[str, Any], path: str) -> ErrorList:
    """ip (valid, then non-special), hostname (DNS label), nodeName (node name)."""
    ip = address.get("ip") or ""
    errs = ErrorList(validate_ip(path + ".ip", ip))
    hostname = address.get("hostname") or ""
    if hostname:
        errs.extend(invalid(path + ".hostname", hostname, msg) for msg in is_dns1123_label(hostname))
    node_name = address.get("nodeName")
    if node_name is not None:
        errs.extend(invalid(path + ".nodeName", node_name, msg) for msg in is_node_name(node_name))
    errs.extend(validate_non_special_ip(path + ".ip", ip))
    return errs


def _validate_port(port: dict[str, Any], require_name: bool, path: str) -> ErrorList:
    errs = ErrorList()
    name = port.get("name") or ""
    if require_name and not name:
        errs.append(required(path + ".name"))
    elif name:
        errs.extend(invalid(path + ".name", name, msg) for msg in is_dns1123_label(name))
    number = port.get("port") or 0
    errs.extend(invalid(path + ".port", number, msg) for msg in is_valid_port_num(number))
    protocol = port.get("protocol") or ""
    if not protocol:
        errs.append(required(path + ".protocol"))
    elif protocol not in PORT_PROTOCOLS:
        errs.append(not_supported(path + ".protocol", protocol, PORT_PROTOCOLS))
    app_protocol = port.get("appProtocol")
    if app_protocol is not None:
        errs.extend(invalid(path + ".appProtocol", app_protocol, msg) for msg in is_qualified_name(app_protocol))
    return errs
