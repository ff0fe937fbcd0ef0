"""core/v1 Service (upstream's type), with the registry's defaults, allocation and validation."""

from __future__ import annotations

from apiserver.kinds.base import PROXY_VERBS, STATUS, Column, Kind, Obj, Strategy, Subresource
from apiserver.kinds.columns import AGE, NAME
from apiserver.kinds.upstream import CORE, definition
from apiserver.validation.field import ErrorList
from apiserver.validation.service import validate_service, validate_service_update

SCHEMA = definition(CORE + "Service")
CLIENT_IP_TIMEOUT = 10800  # DefaultClientIPServiceAffinitySeconds: three hours


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
        if spec["sessionAffinity"] == "None":
            spec.pop("sessionAffinityConfig", None)
        elif spec["sessionAffinity"] == "ClientIP" and _client_ip_timeout(spec) is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": CLIENT_IP_TIMEOUT}}
        for port in spec.get("ports") or ():
            if isinstance(port, dict) and port.get("targetPort") in (None, 0, ""):
                port["targetPort"] = port.get("port")
        accessible = spec["type"] in ("NodePort", "LoadBalancer") or (spec["type"] == "ClusterIP" and spec.get("externalIPs"))
        if accessible and not spec.get("externalTrafficPolicy"):
            spec["externalTrafficPolicy"] = "Cluster"
        if spec["type"] in ("ClusterIP", "NodePort", "LoadBalancer") and spec.get("internalTrafficPolicy") is None:
            spec["internalTrafficPolicy"] = "Cluster"
        if spec["type"] == "LoadBalancer":
            if spec.get("allocateLoadBalancerNodePorts") is None:
                spec["allocateLoadBalancerNodePorts"] = True
            status = obj.get("status")
            ingress = (status.get("loadBalancer") or {}).get("ingress") if isinstance(status, dict) else None
            for point in ingress if isinstance(ingress, list) else ():
                if isinstance(point, dict) and point.get("ip") and point.get("ipMode") is None:
                    point["ipMode"] = "VIP"  # the LoadBalancerIPMode gate, on by default since 1.30

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


def _client_ip_timeout(spec: Obj) -> object:
    """sessionAffinityConfig.clientIP.timeoutSeconds, or None when any part of the path is unset."""
    config = spec.get("sessionAffinityConfig")
    client_ip = config.get("clientIP") if isinstance(config, dict) else None
    return client_ip.get("timeoutSeconds") if isinstance(client_ip, dict) else None


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
