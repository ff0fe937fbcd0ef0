"""core/v1 Endpoints: the legacy one-object-per-Service list of backends (deprecated since 1.33)."""

from __future__ import annotations

from typing import Any

from apiserver.kinds.base import Column, Kind, Obj, Strategy
from apiserver.kinds.columns import AGE, NAME, first_three
from apiserver.kinds.upstream import CORE, Behaviour, behave, definition
from apiserver.validation.endpoints import validate_endpoints, validate_endpoints_update
from apiserver.validation.field import ErrorList


def _default_protocol(port: Obj) -> None:
    """SetDefaults_Endpoints: a port's protocol is TCP unless set."""
    if not port.get("protocol"):
        port["protocol"] = "TCP"


behave({CORE + "EndpointPort": Behaviour(defaulter=_default_protocol)})
SCHEMA = definition(CORE + "Endpoints")


def _address_key(address: Obj) -> tuple[bytes, str]:
    ip = address.get("ip", "")
    uid = (address.get("targetRef") or {}).get("uid", "")
    return ip.encode(), uid


def _port_key(port: Obj) -> tuple[str, int, str]:
    return port.get("name", ""), port.get("port", 0), port.get("protocol", "")


def repack_subsets(subsets: list[Obj]) -> list[Obj]:
    """Regroup (address, port) pairs into canonical subsets, as upstream's RepackSubsets does (for the endpoints
    controller; the API stores subsets as sent).

    Addresses are de-duplicated by (ip, targetRef uid) and "not ready" wins over ready; addresses
    sharing an identical port set form one subset. Upstream orders ports and subsets by a hash of
    Go values, which cannot be reproduced here; this orders them by their fields instead.
    """
    ready: dict[tuple[bytes, str], Obj] = {}
    not_ready: dict[tuple[bytes, str], Obj] = {}
    ports_of: dict[tuple[bytes, str], dict[tuple[str, int, str], Obj]] = {}
    for subset in subsets:
        ports = {_port_key(p): p for p in subset.get("ports") or ()}
        for group, target in (("addresses", ready), ("notReadyAddresses", not_ready)):
            for address in subset.get(group) or ():
                key = _address_key(address)
                target[key] = address
                ports_of.setdefault(key, {}).update(ports)
    groups: dict[tuple[tuple[str, int, str], ...], Obj] = {}
    for key, port_map in ports_of.items():
        port_keys = tuple(sorted(port_map))
        subset = groups.setdefault(port_keys, {"ports": [port_map[k] for k in port_keys]})
        if key in not_ready:
            subset.setdefault("notReadyAddresses", []).append(not_ready[key])
        else:
            subset.setdefault("addresses", []).append(ready[key])
    result: list[Obj] = []
    for port_keys in sorted(groups):
        subset = groups[port_keys]
        for group in ("addresses", "notReadyAddresses"):
            if group in subset:
                subset[group].sort(key=_address_key)
        if not subset["ports"]:
            del subset["ports"]
        result.append({k: subset[k] for k in ("addresses", "notReadyAddresses", "ports") if k in subset})
    return result


class EndpointsStrategy(Strategy):
    """No generation; PUT may create; subsets are kept as sent."""

    allow_create_on_update = True

    def validate(self, obj: Obj) -> ErrorList:
        return validate_endpoints(obj)

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        return validate_endpoints_update(obj, old)

    def canonicalize(self, obj: Obj) -> None:
        """Subsets are stored as sent (1.32 does not repack them on write: duplicates, order and subsets with
        the same ports stay); only empty lists go, which the Go types omit."""
        subsets = [{k: v for k, v in subset.items() if v not in (None, [])} if isinstance(subset, dict) else subset
                   for subset in obj.get("subsets") or ()]
        if subsets:
            obj["subsets"] = subsets
        else:
            obj.pop("subsets", None)


def _endpoints_cell(obj: Obj) -> str:
    pairs: list[Any] = []
    for subset in obj.get("subsets") or ():
        ports = subset.get("ports") or ()
        for address in subset.get("addresses") or ():
            if ports:
                pairs.extend(f"{address.get('ip', '')}:{p.get('port')}" for p in ports)
            else:
                pairs.append(address.get("ip", ""))
    return first_three(pairs, "<none>")


ENDPOINTS = Kind(
    group="",
    version="v1",
    kind="Endpoints",
    plural="endpoints",
    singular="endpoints",
    namespaced=True,
    schema=SCHEMA,
    etcd_prefix="/registry/services/endpoints",
    strategy=EndpointsStrategy(),
    description=SCHEMA.description,
    short_names=("ep",),
    deprecation="v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice",
    deprecated_in=(1, 33),
    columns=(
        NAME,
        Column(name="Endpoints", cell=_endpoints_cell,
               description=("The set of all endpoints is the union of all subsets. Addresses are placed into "
                            "subsets according to the IPs they share. A single address with multiple ports, some of "
                            "which are ready and some of which are not (because they come from different "
                            "containers) will result in the address being displayed in different subsets for the "
                            "different ports. No address will appear in both Addresses and NotReadyAddresses in the "
                            "same subset. Sets of addresses and ports that comprise a service.")),
        AGE,
    ),
)
