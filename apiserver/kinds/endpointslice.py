"""discovery.k8s.io/v1 EndpointSlice: a bounded slice of a Service's endpoints (upstream's type)."""

from __future__ import annotations

from typing import Any, ClassVar

from apiserver.kinds.base import Column, Kind, Obj, Strategy
from apiserver.kinds.columns import AGE, NAME, first_three
from apiserver.kinds.upstream import Behaviour, behave, definition
from apiserver.validation.endpointslice import (
    endpointslice_warnings,
    validate_endpointslice,
    validate_endpointslice_update,
)
from apiserver.validation.field import ErrorList

DISCOVERY = "io.k8s.api.discovery.v1."


def _default_port(port: Obj) -> None:
    """SetDefaults_EndpointPort: a port without name or protocol gets "" and TCP."""
    for key, value in (("name", ""), ("protocol", "TCP")):
        if port.get(key) is None:
            port[key] = value


behave({DISCOVERY + "EndpointPort": Behaviour(defaulter=_default_port)})
SCHEMA = definition(DISCOVERY + "EndpointSlice")

ADDRESS_TYPE_DOC = (
    "addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be "
    "the same type. This field is immutable after creation. The following address types are currently supported: * "
    "IPv4: Represents an IPv4 Address. * IPv6: Represents an IPv6 Address. * FQDN: Represents a Fully Qualified "
    "Domain Name."
)
PORTS_DOC = (
    "ports specifies the list of network ports exposed by each endpoint in this slice. Each port must have a unique "
    "name. When ports is empty, it indicates that there are no defined ports. When a port is defined with a nil "
    "port value, it indicates \"all ports\". Each slice may include a maximum of 100 ports."
)
ENDPOINTS_DOC = "endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of 1000 endpoints."

def _port_cell(port: Obj) -> object:
    if port.get("port") is not None:
        return port["port"]
    return port.get("name") or "*"


class EndpointSliceStrategy(Strategy):
    """Generation moves on any change outside metadata and on label changes; deprecatedTopology is dropped."""

    tracks_generation = True
    empty_fields: ClassVar[dict[str, Any]] = {"addressType": "", "endpoints": None, "ports": None}

    def prepare_for_create(self, obj: Obj) -> None:
        self._normalize(obj)

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        if obj.get("endpoints") != old.get("endpoints"):
            for endpoint in obj.get("endpoints") or ():
                topology = endpoint.pop("deprecatedTopology", None) or {}
                if not endpoint.get("nodeName") and topology.get("kubernetes.io/hostname"):
                    endpoint["nodeName"] = topology["kubernetes.io/hostname"]
        self._normalize(obj)

    @staticmethod
    def _normalize(obj: Obj) -> None:
        """`endpoints` and `ports` have no omitempty: empty lists are stored and served as null."""
        for name in ("endpoints", "ports"):
            obj[name] = obj.get(name) or None
        for endpoint in obj["endpoints"] or ():
            endpoint.setdefault("conditions", {})
            if not endpoint.get("deprecatedTopology"):
                endpoint.pop("deprecatedTopology", None)
        obj.setdefault("addressType", "")

    def validate(self, obj: Obj) -> ErrorList:
        return validate_endpointslice(obj)

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        return validate_endpointslice_update(obj, old)

    def warnings(self, obj: Obj, old: Obj | None) -> list[str]:
        return endpointslice_warnings(obj, old)

    def generation_changed(self, obj: Obj, old: Obj) -> bool:
        labels_changed = obj["metadata"].get("labels") != old["metadata"].get("labels")
        return labels_changed or super().generation_changed(obj, old)


ENDPOINTSLICE = Kind(
    group="discovery.k8s.io",
    version="v1",
    kind="EndpointSlice",
    plural="endpointslices",
    singular="endpointslice",
    namespaced=True,
    schema=SCHEMA,
    etcd_prefix="/registry/endpointslices",
    strategy=EndpointSliceStrategy(),
    description=SCHEMA.description,
    columns=(
        NAME,
        Column(name="AddressType", description=ADDRESS_TYPE_DOC, cell=lambda o: o.get("addressType", "")),
        Column(
            name="Ports",
            description=PORTS_DOC,
            cell=lambda o: first_three([_port_cell(p) for p in o.get("ports") or ()], "<unset>"),
        ),
        Column(
            name="Endpoints",
            description=ENDPOINTS_DOC,
            cell=lambda o: first_three([a for e in o.get("endpoints") or () for a in e.get("addresses") or ()], "<unset>"),
        ),
        AGE,
    ),
)
