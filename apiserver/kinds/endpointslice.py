"""discovery.k8s.io/v1 EndpointSlice: a bounded slice of a Service's endpoints."""

from __future__ import annotations

from typing import Any, ClassVar

from apiserver.kinds.base import Column, Kind, Obj, Strategy
from apiserver.kinds.columns import AGE, NAME, first_three
from apiserver.kinds.meta import OBJECT_REFERENCE, resource
from apiserver.schema import Array, Boolean, Integer, Map, Object, String, numbered
from apiserver.validation.endpointslice import (
    endpointslice_warnings,
    validate_endpointslice,
    validate_endpointslice_update,
)
from apiserver.validation.field import ErrorList

FOR_ZONE = Object(
    ref="io.k8s.api.discovery.v1.ForZone",
    description="ForZone provides information about which zones should consume this endpoint.",
    required=("name",),
    properties={"name": String(proto=1, description="name represents the name of the zone.")},
)
FOR_NODE = Object(
    ref="io.k8s.api.discovery.v1.ForNode",
    description="ForNode provides information about which nodes should consume this endpoint.",
    required=("name",),
    properties={"name": String(proto=1, description="name represents the name of the node.")},
)

ENDPOINT = Object(
    ref="io.k8s.api.discovery.v1.Endpoint",
    description="Endpoint represents a single logical \"backend\" implementing a service.",
    required=("addresses",),
    always=("addresses", "conditions"),
    properties={
        "addresses": Array(proto=1,
            items=String(),
            list_type="set",
            description="addresses of this endpoint. For EndpointSlices of addressType \"IPv4\" or \"IPv6\", the "
            "values are IP addresses in canonical form. The syntax and semantics of other addressType values are not "
            "defined. This must contain at least one address but no more than 100.",
        ),
        "conditions": Object(proto=2,
            ref="io.k8s.api.discovery.v1.EndpointConditions",
            description="conditions contains information about the current status of the endpoint.",
            properties={
                "ready": Boolean(proto=1, pointer=True,
                    description="ready indicates that this endpoint is ready to receive traffic, according to "
                    "whatever system is managing the endpoint. A nil value should be interpreted as \"true\"."
                ),
                "serving": Boolean(proto=2, pointer=True,
                    description="serving indicates that this endpoint is able to receive traffic, according to "
                    "whatever system is managing the endpoint. A nil value should be interpreted as \"true\"."
                ),
                "terminating": Boolean(proto=3, pointer=True,
                    description="terminating indicates that this endpoint is terminating. A nil value should be "
                    "interpreted as \"false\"."
                ),
            },
        ),
        "hostname": String(proto=3, pointer=True,
            description="hostname of this endpoint. This field may be used by consumers of endpoints to distinguish "
            "endpoints from each other (e.g. in DNS names). Must be a lowercase DNS (RFC 1123) label."
        ),
        "targetRef": numbered(OBJECT_REFERENCE, 4, pointer=True),
        "deprecatedTopology": Map(proto=5,
            values=String(),
            description="deprecatedTopology contains topology information part of the v1beta1 API. It is cleared "
            "on v1 writes.",
        ),
        "nodeName": String(proto=6, pointer=True, description="nodeName represents the name of the Node hosting this endpoint."),
        "zone": String(proto=7, pointer=True, description="zone is the name of the Zone this endpoint exists in."),
        "hints": Object(proto=8, pointer=True,
            ref="io.k8s.api.discovery.v1.EndpointHints",
            description="hints contains information associated with how an endpoint should be consumed.",
            properties={
                "forZones": Array(proto=1,
                    items=FOR_ZONE,
                    description="forZones indicates the zone(s) this endpoint should be consumed by when using "
                    "topology aware routing. May contain a maximum of 8 entries.",
                ),
                "forNodes": Array(proto=2,
                    items=FOR_NODE,
                    description="forNodes indicates the node(s) this endpoint should be consumed by when using "
                    "topology aware routing. May contain a maximum of 8 entries.",
                ),
            },
        ),
    },
)

ENDPOINT_PORT = Object(
    ref="io.k8s.api.discovery.v1.EndpointPort",
    atomic=True,
    description="EndpointPort represents a Port used by an EndpointSlice",
    properties={
        "name": String(proto=1, pointer=True,
            default="",
            description="name represents the name of this port. All ports in an EndpointSlice must have a unique "
            "name. If the EndpointSlice is derived from a Kubernetes service, this corresponds to the "
            "Service.ports[].name.",
        ),
        "protocol": String(proto=2, pointer=True,
            default="TCP",
            enum=("SCTP", "TCP", "UDP"),
            description="protocol represents the IP protocol for this port. Must be UDP, TCP, or SCTP. Default is TCP.",
        ),
        "port": Integer(proto=3, pointer=True,
            description="port represents the port number of the endpoint. If the EndpointSlice is derived from a "
            "Kubernetes service, this must be set to the service's target port."
        ),
        "appProtocol": String(proto=4, pointer=True,
            description="The application protocol for this port. This is used as a hint for implementations to "
            "offer richer behavior for protocols that they understand."
        ),
    },
)

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

SCHEMA = resource(
    "io.k8s.api.discovery.v1.EndpointSlice",
    "EndpointSlice represents a set of service endpoints. Most EndpointSlices are created by the EndpointSlice "
    "controller to represent the Pods selected by Service objects.",
    required=("addressType", "endpoints"),
    always=("addressType", "endpoints", "ports"),
    addressType=String(proto=4, enum=("FQDN", "IPv4", "IPv6"), default="", description=ADDRESS_TYPE_DOC),
    endpoints=Array(proto=2, items=ENDPOINT, description=ENDPOINTS_DOC),
    ports=Array(proto=3, items=ENDPOINT_PORT, description=PORTS_DOC),
)


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
