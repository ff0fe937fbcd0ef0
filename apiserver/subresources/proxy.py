"""pods/proxy and services/proxy: where kube-apiserver would forward the request, and its answer when there is
nowhere to forward it. Nothing is forwarded: a destination that exists is answered as unreachable.

The name in the path may carry a scheme and a port: `name`, `name:port` or `scheme:name:port`
(SplitSchemeNamePort), the scheme being http, https or empty.
"""

from __future__ import annotations

import ipaddress

from apiserver import errors
from apiserver.kinds.base import Obj
from apiserver.kinds.service import SERVICE
from apiserver.registry import Registry


def split_scheme_name_port(target: str) -> tuple[str, str, str] | None:
    """(scheme, name, port) of a proxy target, or None when it is not one."""
    parts = target.split(":")
    if len(parts) > 3:
        return None
    scheme, name, port = ("", parts[0], "") if len(parts) == 1 else ("", *parts) if len(parts) == 2 else parts
    if not name or scheme not in ("", "http", "https"):
        return None
    return scheme, name, port


def pod_address(pod: Obj) -> str:
    """The pod's IP if it may be proxied to (a global unicast address), else the 400 kube-apiserver answers."""
    ip = (pod.get("status") or {}).get("podIP") or ""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        raise errors.bad_request("address not allowed") from None
    if address.is_loopback or address.is_link_local or address.is_multicast or address.is_unspecified \
            or ip == "255.255.255.255":  # Go's IsGlobalUnicast
        raise errors.bad_request("address not allowed")
    return ip


async def service_endpoint(services: Registry, endpoints: Registry, pods: Registry, namespace: str, target: str) -> str:
    """The `ip:port` a service proxy request would go to (an endpoint address of a pod that has that IP); the
    400/404/503 kube-apiserver answers otherwise."""
    split = split_scheme_name_port(target)
    if split is None:
        raise errors.bad_request(f'invalid service request "{target}"')
    _, name, port = split
    if port.isdigit():
        service = await services.get(namespace, name)
        declared = [p for p in (service.get("spec") or {}).get("ports") or () if str(p.get("port")) == port]
        if not declared:
            raise errors.service_unavailable(f'no service port {port} found for service "{name}"')
        port = declared[0].get("name", "")
    try:
        found = await endpoints.get(namespace, name)
    except errors.StatusError as err:
        raise errors.not_found(SERVICE, name) if err.code == 404 else err from None
    subsets = found.get("subsets") or []
    if not subsets:
        raise errors.service_unavailable(f'no endpoints available for service "{name}"')
    for subset in subsets:
        for subset_port in subset.get("ports") or ():
            if subset_port.get("name", "") != port:
                continue
            for address in subset.get("addresses") or ():
                if await _valid_address(pods, namespace, address):
                    return f"{address.get('ip')}:{subset_port.get('port')}"
    raise errors.service_unavailable(f'no endpoints available for service "{target}"')



def unreachable(address: str) -> errors.StatusError:
    """What a proxy request to an existing destination gets: nothing is forwarded, so it is never reached."""
    return errors.service_unavailable(f"error trying to reach service: dial tcp {address}: connect: connection refused")


def pod_destination(pod: Obj, scheme: str, port: str) -> str:
    """`ip:port` of a pod proxy request: the port named, else the first container port declared, else the
    scheme's (80, 443 for https)."""
    ip = pod_address(pod)
    if not port:
        declared = [p for c in (pod.get("spec") or {}).get("containers") or () for p in c.get("ports") or ()]
        port = str(declared[0].get("containerPort")) if declared else ("443" if scheme == "https" else "80")
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


async def _valid_address(pods: Registry, namespace: str, address: Obj) -> bool:
    """isValidAddress: the address refers to a pod of the namespace that has its IP."""
    ref = address.get("targetRef") or {}
    if not ref.get("name") or ref.get("namespace") != namespace:
        return False
    try:
        pod = await pods.get(namespace, ref["name"])
    except errors.StatusError:
        return False
    return any(ip.get("ip") == address.get("ip") for ip in (pod.get("status") or {}).get("podIPs") or ())


PREFERRED_ADDRESS_TYPES = ("Hostname", "InternalDNS", "InternalIP", "ExternalDNS", "ExternalIP")  # kube-apiserver's


def node_destination(node: Obj, port: str) -> str:
    """`address:port` of a node proxy request: the node's first address of the preferred types, the kubelet's
    port unless named; a 500 when the node has none."""
    addresses = (node.get("status") or {}).get("addresses") or []
    for kind in PREFERRED_ADDRESS_TYPES:
        found = next((a.get("address") for a in addresses if a.get("type") == kind), None)
        if found:
            kubelet = ((node.get("status") or {}).get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}
            port = port or str(kubelet.get("Port") or 10250)
            return f"[{found}]:{port}" if ":" in found else f"{found}:{port}"
    known = " ".join(f"{{{a.get('type', '')} {a.get('address', '')}}}" for a in addresses)
    raise errors.untyped(500, f"no preferred addresses found; known addresses: [{known}]")
