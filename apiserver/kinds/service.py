"""core/v1 Service: the fields controllers and kube-proxy-like clients use (selector, ports, clusterIP, type)."""

from __future__ import annotations

from apiserver.kinds.base import PROXY_VERBS, STATUS, Column, Kind, Obj, Strategy, Subresource
from apiserver.kinds.columns import AGE, NAME
from apiserver.kinds.meta import CONDITION, conditions, resource
from apiserver.schema import Array, Boolean, Integer, IntOrString, Map, Object, String, numbered
from apiserver.validation.field import ErrorList
from apiserver.validation.service import validate_service, validate_service_update

SERVICE_PORT = Object(
    ref="io.k8s.api.core.v1.ServicePort",
    description="ServicePort contains information on service's port.",
    required=("port",),
    always=("port", "targetPort"),
    properties={
        "name": String(proto=1, description="The name of this port within the service. This must be a DNS_LABEL."),
        "protocol": String(proto=2,
            default="TCP",
            enum=("SCTP", "TCP", "UDP"),
            description="The IP protocol for this port. Supports \"TCP\", \"UDP\", and \"SCTP\". Default is TCP.",
        ),
        "appProtocol": String(proto=6, pointer=True, description="The application protocol for this port."),
        "port": Integer(proto=3, description="The port that will be exposed by this service."),
        "targetPort": IntOrString(proto=4,
            description="Number or name of the port to access on the pods targeted by the service. Defaults to "
            "the value of the 'port' field."
        ),
        "nodePort": Integer(proto=5, description="The port on each node on which this service is exposed when type is "
                            "NodePort or LoadBalancer."),
    },
)

INGRESS = Object(
    ref="io.k8s.api.core.v1.LoadBalancerIngress",
    description="LoadBalancerIngress represents the status of a load-balancer ingress point.",
    properties={
        "ip": String(proto=1, description="IP is set for load-balancer ingress points that are IP based."),
        "hostname": String(proto=2, description="Hostname is set for load-balancer ingress points that are DNS based."),
        "ipMode": String(proto=3, pointer=True, description="IPMode specifies how the load-balancer IP behaves."),
        "ports": Array(proto=4, description="Ports is a list of records of service ports.", list_type="atomic",
                       items=Object(
                           ref="io.k8s.api.core.v1.PortStatus",
                           description="PortStatus represents the error condition of a service port",
                           required=("port", "protocol"),
                           always=("port", "protocol"),
                           properties={
                               "port": Integer(proto=1, description="Port is the port number of the service port "
                                               "of which status is recorded here"),
                               "protocol": String(proto=2, description="Protocol is the protocol of the service "
                                                  "port of which status is recorded here"),
                               "error": String(proto=3, pointer=True, description="Error is to record the problem "
                                               "with the service port"),
                           })),
    },
)

SPEC = Object(
    ref="io.k8s.api.core.v1.ServiceSpec",
    description="ServiceSpec describes the attributes that a user creates on a service.",
    properties={
        "ports": Array(proto=1,
            items=SERVICE_PORT,
            list_type="map",
            map_keys=("port", "protocol"),
            merge_key="port",
            patch_strategy="merge",
            description="The list of ports that are exposed by this service.",
        ),
        "selector": Map(proto=2,
            values=String(),
            atomic=True,
            description="Route service traffic to pods with label keys and values matching this selector.",
        ),
        "clusterIP": String(proto=3,
            description="clusterIP is the IP address of the service and is usually assigned randomly. \"None\" "
            "makes a headless service."
        ),
        "clusterIPs": Array(proto=18, items=String(), description="ClusterIPs is a list of IP addresses assigned to this service."),
        "type": String(proto=4,
            enum=("ClusterIP", "ExternalName", "LoadBalancer", "NodePort"),
            description="type determines how the Service is exposed. Defaults to ClusterIP.",
        ),
        "externalIPs": Array(proto=5, items=String(), description="externalIPs is a list of IP addresses for which nodes in "
                             "the cluster will also accept traffic for this service."),
        "sessionAffinity": String(proto=7, enum=("ClientIP", "None"), description="Supports \"ClientIP\" and \"None\"."),
        "externalName": String(proto=10, description="externalName is the external reference that discovery mechanisms will "
                               "return as an alias for this service (e.g. a DNS CNAME record)."),
        "externalTrafficPolicy": String(proto=11, enum=("Cluster", "Local"), description="externalTrafficPolicy describes how "
                                        "nodes distribute service traffic they receive on externally-facing addresses."),
        "internalTrafficPolicy": String(proto=22, pointer=True, enum=("Cluster", "Local"), description="InternalTrafficPolicy describes how "
                                        "nodes distribute service traffic they receive on the ClusterIP."),
        "publishNotReadyAddresses": Boolean(proto=13, description="publishNotReadyAddresses indicates that any agent which "
                                            "deals with endpoints for this Service should disregard any indications "
                                            "of ready/not-ready."),
        "ipFamilies": Array(proto=19, items=String(enum=("IPv4", "IPv6")), list_type="atomic",
                            description="IPFamilies is a list of IP families (e.g. IPv4, IPv6) assigned to this service."),
        "ipFamilyPolicy": String(proto=17, pointer=True, enum=("PreferDualStack", "RequireDualStack", "SingleStack"),
                                 description="IPFamilyPolicy represents the dual-stack-ness requested or required by "
                                 "this Service."),
        "trafficDistribution": String(proto=23, pointer=True, description="TrafficDistribution offers a way to express preferences for how "
                                      "traffic is distributed to Service endpoints."),
        "loadBalancerIP": String(proto=8, description="Only applies to Service Type: LoadBalancer. Deprecated."),
        "loadBalancerSourceRanges": Array(proto=9, items=String(), list_type="atomic", description="If specified "
                                          "and supported by the platform, traffic through the cloud-provider "
                                          "load-balancer will be restricted to the specified client IPs."),
        "healthCheckNodePort": Integer(proto=12, description="healthCheckNodePort specifies the healthcheck "
                                       "nodePort for the service."),
        "sessionAffinityConfig": Object(
            proto=14,
            pointer=True,
            ref="io.k8s.api.core.v1.SessionAffinityConfig",
            description="sessionAffinityConfig contains the configurations of session affinity.",
            properties={"clientIP": Object(
                proto=1,
                pointer=True,
                ref="io.k8s.api.core.v1.ClientIPConfig",
                description="clientIP contains the configurations of Client IP based session affinity.",
                properties={"timeoutSeconds": Integer(proto=1, pointer=True, description="timeoutSeconds specifies "
                                                      "the seconds of ClientIP type session sticky time.")},
            )},
        ),
        "allocateLoadBalancerNodePorts": Boolean(proto=20, pointer=True, description="allocateLoadBalancerNodePorts "
                                                 "defines if NodePorts will be automatically allocated for services "
                                                 "with type LoadBalancer."),
        "loadBalancerClass": String(proto=21, pointer=True, description="loadBalancerClass is the class of the load "
                                    "balancer implementation this Service belongs to."),
    },
)

SCHEMA = resource(
    "io.k8s.api.core.v1.Service",
    "Service is a named abstraction of software service (for example, mysql) consisting of local port (for example "
    "3306) that the proxy listens on, and the selector that determines which pods will answer requests sent through "
    "the proxy.",
    spec=numbered(SPEC, 2),
    status=Object(
        proto=3,
        ref="io.k8s.api.core.v1.ServiceStatus",
        description="Most recently observed status of the service. Populated by the system. Read-only.",
        properties={
            "loadBalancer": Object(proto=1,
                ref="io.k8s.api.core.v1.LoadBalancerStatus",
                description="LoadBalancer contains the current status of the load-balancer, if one is present.",
                properties={"ingress": Array(proto=1, items=INGRESS, description="Ingress is a list containing ingress "
                                             "points for the load-balancer.")},
            ),
            "conditions": conditions(CONDITION, "Current service state", proto=2),
        },
    ),
)


class ServiceStrategy(Strategy):
    """Defaults as the real registry fills them (type, families); status via /status. The cluster IP and node
    ports are allocated by the registry (apiserver/services.py)."""

    return_deleted_object = True
    status_subresource = True

    def default(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            spec = obj["spec"] = {}
        spec["type"] = spec.get("type") or "ClusterIP"
        spec["sessionAffinity"] = spec.get("sessionAffinity") or "None"
        for port in spec.get("ports") or ():
            if isinstance(port, dict) and port.get("targetPort") in (None, 0, ""):
                port["targetPort"] = port.get("port")
        if spec["type"] in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")
        if spec["type"] == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)
        if spec["type"] != "ExternalName":
            spec.setdefault("internalTrafficPolicy", "Cluster")

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"loadBalancer": {}}
        spec = obj.setdefault("spec", {})
        if spec.get("type") != "ExternalName":
            if not spec.get("clusterIP") and spec.get("clusterIPs"):
                spec["clusterIP"] = spec["clusterIPs"][0]
            if spec.get("clusterIP"):
                spec.setdefault("clusterIPs", [spec["clusterIP"]])
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        obj["status"] = old.get("status", {})
        spec, old_spec = obj.setdefault("spec", {}), old.get("spec", {})
        _patch_allocated_values(spec, old_spec)
        _drop_type_dependent_fields(spec, old_spec)
        if spec.get("clusterIP") != old_spec.get("clusterIP") and spec.get("clusterIPs") == old_spec.get("clusterIPs"):
            # normalizeClusterIPs: the singular field changed alone (an old client): the plural one follows it
            if spec.get("clusterIP"):
                spec["clusterIPs"] = [spec["clusterIP"]]
            else:
                spec.pop("clusterIPs", None)

    def validate(self, obj: Obj) -> ErrorList:
        return validate_service(obj)

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        return validate_service_update(obj, old)


def needs_cluster_ip(spec: Obj) -> bool:
    """Every type but ExternalName has a cluster IP (or is headless)."""
    return bool(spec.get("type", "ClusterIP") != "ExternalName")


def needs_node_ports(spec: Obj) -> bool:
    """NodePort Services, and LoadBalancer ones unless `allocateLoadBalancerNodePorts` is false, get node ports."""
    kind = spec.get("type", "ClusterIP")
    return kind == "NodePort" or (kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is not False)


def _patch_allocated_values(spec: Obj, old_spec: Obj) -> None:
    """patchAllocatedValues: what the client left out of an update keeps its allocated value (idempotent PUTs);
    node ports are matched by port name and not reused by another port."""
    if needs_cluster_ip(spec) and needs_cluster_ip(old_spec):
        for field in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            if field in old_spec and not spec.get(field):
                spec[field] = old_spec[field]
    if needs_node_ports(spec) and needs_node_ports(old_spec):
        ports = [p for p in spec.get("ports") or () if isinstance(p, dict)]
        used = {p.get("nodePort") for p in ports} & {p.get("nodePort") for p in old_spec.get("ports") or ()}
        by_name = {p.get("name", ""): p.get("nodePort") for p in old_spec.get("ports") or ()}
        for port in ports:
            old_value = by_name.get(port.get("name", ""))
            if not port.get("nodePort") and old_value and old_value not in used:
                port["nodePort"] = old_value


def _drop_type_dependent_fields(spec: Obj, old_spec: Obj) -> None:
    """dropTypeDependentFields: a type change wipes the fields the new type does not use, unless the client
    changed them too (then validation speaks)."""
    if needs_cluster_ip(old_spec) and not needs_cluster_ip(spec):
        for fields in (("clusterIP", "clusterIPs"), ("ipFamilies",), ("ipFamilyPolicy",)):
            if all(spec.get(f) == old_spec.get(f) for f in fields):
                for f in fields:
                    spec.pop(f, None)
    ports = [p for p in spec.get("ports") or () if isinstance(p, dict)]
    if needs_node_ports(old_spec) and not needs_node_ports(spec):
        old_ports = [p for p in old_spec.get("ports") or () if isinstance(p, dict)]
        if {p.get("nodePort") for p in ports} - {None} == {p.get("nodePort") for p in old_ports} - {None}:
            for port in ports:
                port.pop("nodePort", None)
    if (needs_node_ports(old_spec) and not needs_node_ports(spec) and not spec.get("externalIPs")
            and spec.get("externalTrafficPolicy") == old_spec.get("externalTrafficPolicy")):
        spec.pop("externalTrafficPolicy", None)
    if (needs_cluster_ip(old_spec) and not needs_cluster_ip(spec)
            and spec.get("internalTrafficPolicy") == old_spec.get("internalTrafficPolicy")):
        spec.pop("internalTrafficPolicy", None)
    if (old_spec.get("type") == "LoadBalancer" != spec.get("type")
            and spec.get("allocateLoadBalancerNodePorts") == old_spec.get("allocateLoadBalancerNodePorts")):
        spec.pop("allocateLoadBalancerNodePorts", None)


def _external_ip(obj: Obj) -> str:
    spec = obj.get("spec", {})
    kind = spec.get("type", "ClusterIP")
    if kind == "ExternalName":
        return str(spec.get("externalName", ""))
    ips = list(spec.get("externalIPs") or ())
    if kind == "LoadBalancer":
        ingress = (obj.get("status", {}).get("loadBalancer") or {}).get("ingress") or ()
        ips += [i.get("ip") or i.get("hostname") for i in ingress]
        return ",".join(ips) if ips else "<pending>"
    return ",".join(ips) if ips else "<none>"


def _ports(obj: Obj) -> str:
    parts = []
    for port in obj.get("spec", {}).get("ports") or ():
        node = f":{port['nodePort']}" if port.get("nodePort") else ""
        parts.append(f"{port.get('port')}{node}/{port.get('protocol', 'TCP')}")
    return ",".join(parts) if parts else "<none>"


def _selector(obj: Obj) -> str:
    selector = obj.get("spec", {}).get("selector") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>"


SERVICE = Kind(
    group="",
    version="v1",
    kind="Service",
    plural="services",
    singular="service",
    namespaced=True,
    schema=SCHEMA,
    etcd_prefix="/registry/services/specs",
    strategy=ServiceStrategy(),
    description=SCHEMA.description,
    short_names=("svc",),
    categories=("all",),
    subresources=(STATUS, Subresource("proxy", PROXY_VERBS, "ServiceProxyOptions")),
    extra_field_selectors={
        "spec.clusterIP": lambda o: o.get("spec", {}).get("clusterIP", ""),
        "spec.type": lambda o: o.get("spec", {}).get("type", ""),
    },
    columns=(
        NAME,
        Column(name="Type", cell=lambda o: o.get("spec", {}).get("type", ""),
               description=("type determines how the Service is exposed. Defaults to ClusterIP. Valid options are "
                            "ExternalName, ClusterIP, NodePort, and LoadBalancer. \"ClusterIP\" allocates a "
                            "cluster-internal IP address for load-balancing to endpoints. Endpoints are determined "
                            "by the selector or if that is not specified, by manual construction of an Endpoints "
                            "object or EndpointSlice objects. If clusterIP is \"None\", no virtual IP is allocated "
                            "and the endpoints are published as a set of endpoints rather than a virtual IP. "
                            "\"NodePort\" builds on ClusterIP and allocates a port on every node which routes to "
                            "the same endpoints as the clusterIP. \"LoadBalancer\" builds on NodePort and creates "
                            "an external load-balancer (if supported in the current cloud) which routes to the "
                            "same endpoints as the clusterIP. \"ExternalName\" aliases this service to the "
                            "specified externalName. Several other fields do not apply to ExternalName services. "
                            "More info: "
                            "https://kubernetes.io/docs/concepts/services-networking/service/#publishing-se"
                            "rvices-service-types")),
        Column(name="Cluster-IP", cell=lambda o: o.get("spec", {}).get("clusterIP") or "<none>",
               description=("clusterIP is the IP address of the service and is usually assigned randomly. If an "
                            "address is specified manually, is in-range (as per system configuration), and is not "
                            "in use, it will be allocated to the service; otherwise creation of the service will "
                            "fail. This field may not be changed through updates unless the type field is also "
                            "being changed to ExternalName (which requires this field to be blank) or the type "
                            "field is being changed from ExternalName (in which case this field may optionally be "
                            "specified, as describe above).  Valid values are \"None\", empty string (\"\"), or a "
                            "valid IP address. Setting this to \"None\" makes a \"headless service\" (no virtual "
                            "IP), which is useful when direct endpoint connections are preferred and proxying is "
                            "not required.  Only applies to types ClusterIP, NodePort, and LoadBalancer. If this "
                            "field is specified when creating a Service of type ExternalName, creation will fail. "
                            "This field will be wiped when updating a Service to type ExternalName. More info: "
                            "https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-a"
                            "nd-service-proxies")),
        Column(name="External-IP", cell=_external_ip,
               description=("externalIPs is a list of IP addresses for which nodes in the cluster will also accept "
                            "traffic for this service.  These IPs are not managed by Kubernetes.  The user is "
                            "responsible for ensuring that traffic arrives at a node with this IP.  A common "
                            "example is external load-balancers that are not part of the Kubernetes system.")),
        Column(name="Port(s)", cell=_ports,
               description=("The list of ports that are exposed by this service. More info: "
                            "https://kubernetes.io/docs/concepts/services-networking/service/#virtual-ips-a"
                            "nd-service-proxies")),
        AGE,
        Column(name="Selector", priority=1, cell=_selector,
               description=("Route service traffic to pods with label keys and values matching this selector. If "
                            "empty or not present, the service is assumed to have an external process managing its "
                            "endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, "
                            "NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: "
                            "https://kubernetes.io/docs/concepts/services-networking/service/")),
    ),
)
