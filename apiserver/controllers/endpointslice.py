"""The EndpointSlice controller: Services with selectors and their Pods → EndpointSlices, packed as upstream.

Follows kubernetes/endpointslice reconciler.go and utils.go: per address type, slices are grouped by
port mapping; within a group, existing slices keep the endpoints still desired (updated in place when
an endpoint changed), a slice left empty is deleted, leftovers first fill the slices already being
updated (fullest first), then go into the unchanged slice that ends closest to full, else into new
slices of up to `max_endpoints_per_slice`. Creates replace deletes where possible (an update instead
of a delete plus a create), and one placeholder slice without ports or endpoints is kept when a
Service has no endpoints. Every slice is owned by its Service (an ownerReference with controller and
blockOwnerDeletion set), so, as upstream, a deleted Service's slices are left to the server's garbage collector:
on a server whose collector is off (`--no-garbage-collector`, as envtest) they stay, as they would on a cluster
without kube-controller-manager's garbage collector.

An endpoint's zone is its pod's Node's `topology.kubernetes.io/zone` label (kube-proxy's topology-aware routing
reads it). Not done: topology hints, the last-change-trigger-time annotation.
"""

from __future__ import annotations

import copy
import ipaddress
from dataclasses import dataclass, field

from apiserver.controllers.client import ApiClient, ApiError, Obj
from apiserver.controllers.controller import (
    Controller,
    find_port,
    is_pod_ready,
    is_service_ip_set,
    pod_ips,
    should_pod_be_in_endpoints,
    should_set_hostname,
    target_ref,
)
from apiserver.controllers.informer import Informer, Notifier, object_key, resource_version

CONTROLLER_NAME = "endpointslice-controller.k8s.io"
LABEL_SERVICE_NAME = "kubernetes.io/service-name"
LABEL_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
LABEL_HEADLESS = "service.kubernetes.io/headless"
LABEL_ZONE = "topology.kubernetes.io/zone"
RESERVED_LABELS = (LABEL_SERVICE_NAME, LABEL_MANAGED_BY, LABEL_HEADLESS)
MAX_ENDPOINTS_LIMIT = 1000
SLICES = "/apis/discovery.k8s.io/v1"

PortKey = tuple[tuple[str, int, str, str], ...]
EndpointKey = tuple[tuple[str, ...], str, str, str]


SERVICE_INDEX = "service"


def slice_service(slice_: Obj) -> list[tuple[str, str]]:
    """The (namespace, Service name) a slice's service-name label names: the index of a Service's slices."""
    name = (slice_["metadata"].get("labels") or {}).get(LABEL_SERVICE_NAME)
    return [(slice_["metadata"].get("namespace", ""), name)] if name is not None else []


def port_key(ports: list[Obj] | None) -> PortKey:
    """The port mapping a slice serves, order-free (upstream NewPortMapKey hashes the sorted ports)."""
    return tuple(sorted((p.get("name") or "", int(p.get("port") or 0), p.get("protocol") or "TCP",
                         p.get("appProtocol") or "") for p in ports or ()))


def endpoint_key(endpoint: Obj) -> EndpointKey:
    """upstream hashEndpoint: the sorted addresses, hostname and the target's namespace and name."""
    ref = endpoint.get("targetRef") or {}
    return (tuple(sorted(endpoint.get("addresses") or ())), endpoint.get("hostname") or "",
            ref.get("namespace", ""), ref.get("name", ""))


def endpoints_equal_beyond_key(a: Obj, b: Obj) -> bool:
    """upstream EndpointsEqualBeyondHash: nodeName, zone, conditions and targetRef (resourceVersion aside)."""
    if a.get("nodeName") != b.get("nodeName") or a.get("zone") != b.get("zone"):
        return False
    ca, cb = a.get("conditions") or {}, b.get("conditions") or {}
    if any(ca.get(c) != cb.get(c) for c in ("ready", "serving", "terminating")):
        return False
    ra = {k: v for k, v in (a.get("targetRef") or {}).items() if k != "resourceVersion"}
    rb = {k: v for k, v in (b.get("targetRef") or {}).items() if k != "resourceVersion"}
    return ra == rb


def address_types(service: Obj) -> list[str]:
    """upstream getAddressTypesForService: from spec.ipFamilies, else the clusterIP's family, else both."""
    spec = service.get("spec", {})
    families = [f for f in ("IPv4", "IPv6") if f in (spec.get("ipFamilies") or ())]
    if families:
        return families
    if is_service_ip_set(service):
        return ["IPv6" if ipaddress.ip_address(spec["clusterIP"]).version == 6 else "IPv4"]
    return ["IPv4", "IPv6"]


def endpoint_ports(service: Obj, pod: Obj) -> list[Obj]:
    spec = service.get("spec", {})
    ports: list[Obj] = []
    for service_port in spec.get("ports") or ():
        number = find_port(pod, service_port)
        if number is None:
            continue
        port = {"name": service_port.get("name", ""), "port": number, "protocol": service_port.get("protocol", "TCP")}
        if service_port.get("appProtocol"):
            port["appProtocol"] = service_port["appProtocol"]
        ports.append(port)
    return ports


def pod_to_endpoint(pod: Obj, service: Obj, address_type: str, node: Obj | None = None) -> Obj:
    """upstream podToEndpoint: ready = publishNotReadyAddresses or (Ready and not terminating); the zone of the
    pod's `node`, when it has one."""
    serving = is_pod_ready(pod)
    terminating = bool(pod["metadata"].get("deletionTimestamp"))
    ready = bool(service["spec"].get("publishNotReadyAddresses")) or (serving and not terminating)
    version = 6 if address_type == "IPv6" else 4
    endpoint: Obj = {
        "addresses": [ip for ip in pod_ips(pod) if ipaddress.ip_address(ip).version == version],
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
    }
    if should_set_hostname(pod, service):
        endpoint["hostname"] = pod["spec"]["hostname"]
    endpoint["targetRef"] = target_ref(pod)
    if pod.get("spec", {}).get("nodeName"):
        endpoint["nodeName"] = pod["spec"]["nodeName"]
    zone = ((node or {}).get("metadata", {}).get("labels") or {}).get(LABEL_ZONE)
    if zone:
        endpoint["zone"] = zone
    return endpoint


def slice_labels(slice_: Obj, service: Obj) -> tuple[dict[str, str], bool]:
    """upstream setEndpointSliceLabels: the Service's labels plus the reserved ones; true if the labels drifted."""
    current = {k: v for k, v in (slice_["metadata"].get("labels") or {}).items() if k not in RESERVED_LABELS}
    labels = {k: v for k, v in (service["metadata"].get("labels") or {}).items() if k not in RESERVED_LABELS}
    changed = current != labels
    if not is_service_ip_set(service):
        labels[LABEL_HEADLESS] = ""
    labels[LABEL_SERVICE_NAME] = service["metadata"]["name"]
    labels[LABEL_MANAGED_BY] = CONTROLLER_NAME
    return labels, changed


def owned_by(slice_: Obj, service: Obj) -> bool:
    uid = service["metadata"].get("uid")
    return any(o.get("uid") == uid and o.get("kind") == "Service" and o.get("apiVersion") == "v1"
               for o in slice_["metadata"].get("ownerReferences") or ())


def new_slice(service: Obj, ports: list[Obj], address_type: str) -> Obj:
    meta = service["metadata"]
    slice_: Obj = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "generateName": f"{meta['name']}-",
            "namespace": meta["namespace"],
            "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": meta["name"], "uid": meta["uid"],
                                 "controller": True, "blockOwnerDeletion": True}],
        },
        "addressType": address_type,
        "endpoints": [],
        "ports": ports,
    }
    slice_["metadata"]["labels"], _ = slice_labels(slice_, service)
    return slice_


def get_slice_to_fill(slices: list[Obj], count: int, maximum: int) -> Obj | None:
    """upstream getSliceToFill: the slice that ends closest to full once `count` endpoints are added."""
    closest_diff, closest = maximum, None
    for slice_ in slices:
        diff = maximum - (count + len(slice_.get("endpoints") or ()))
        if 0 <= diff < closest_diff:
            closest_diff, closest = diff, slice_
            if diff == 0:
                break
    return closest


@dataclass
class Plan:
    """What one sync will write, in order: creates, updates, deletes."""

    create: list[Obj] = field(default_factory=list)
    update: list[Obj] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)


def reconcile_port_mapping(service: Obj, existing: list[Obj], desired: dict[EndpointKey, Obj], ports: list[Obj],
                           address_type: str, maximum: int) -> Plan:
    """upstream reconcileByPortMapping; `desired` is consumed."""
    by_name: dict[str, Obj] = {}
    unchanged: list[str] = []
    to_update: list[str] = []
    to_delete: list[str] = []
    # 1. keep the desired endpoints of each slice, refreshing the changed ones
    for slice_ in existing:
        name = slice_["metadata"]["name"]
        by_name[name] = slice_
        kept: list[Obj] = []
        updated = False
        for endpoint in slice_.get("endpoints") or ():
            want = desired.pop(endpoint_key(endpoint), None)
            if want is not None:
                kept.append(want)
                updated = updated or not endpoints_equal_beyond_key(want, endpoint)
        labels, labels_changed = slice_labels(slice_, service)
        if updated or len(kept) != len(slice_.get("endpoints") or ()):
            if not kept:
                to_delete.append(name)
            else:
                changed = copy.deepcopy(slice_)
                changed["endpoints"], changed["metadata"]["labels"] = kept, labels
                by_name[name] = changed
                to_update.append(name)
        elif labels_changed:
            changed = copy.deepcopy(slice_)
            changed["metadata"]["labels"] = labels
            by_name[name] = changed
            to_update.append(name)
        else:
            unchanged.append(name)
    pending = list(desired.values())
    # 2. fill the slices already being updated, fullest first
    if pending and to_update:
        for name in sorted(to_update, key=lambda n: -len(by_name[n]["endpoints"])):
            endpoints = by_name[name]["endpoints"]
            while pending and len(endpoints) < maximum:
                endpoints.append(pending.pop(0))
    # 3. the rest: into the unchanged slice that ends closest to full, else into new slices
    plan = Plan()
    while pending:
        fill: Obj | None = None
        if len(pending) < maximum and unchanged:
            fill = get_slice_to_fill([by_name[n] for n in unchanged], len(pending), maximum)
        if fill is None:
            fill = new_slice(service, ports, address_type)
        else:
            fill = copy.deepcopy(fill)
            fill["endpoints"] = list(fill.get("endpoints") or ())
            by_name[fill["metadata"]["name"]] = fill
        while pending and len(fill["endpoints"]) < maximum:
            fill["endpoints"].append(pending.pop(0))
        name = fill["metadata"].get("name")
        if name:
            to_update.append(name)
            unchanged.remove(name)
        else:
            plan.create.append(fill)
    plan.update = [by_name[n] for n in to_update]
    plan.delete = [by_name[n] for n in to_delete]
    return plan


def is_placeholder_of(slice_: Obj, placeholder: Obj) -> bool:
    """upstream placeholderSliceCompare: same namespace, labels, address type, no ports and no endpoints."""
    return (slice_["metadata"].get("namespace") == placeholder["metadata"]["namespace"]
            and (slice_["metadata"].get("labels") or {}) == placeholder["metadata"]["labels"]
            and slice_.get("addressType") == placeholder["addressType"]
            and not slice_.get("endpoints") and not slice_.get("ports"))


class EndpointSliceController(Controller):
    """kube-controller-manager's endpointslice controller, as an API client."""

    name = "endpointslice"

    def __init__(self, client: ApiClient, services: Informer, pods: Informer, slices: Informer, notifier: Notifier,
                 max_endpoints_per_slice: int = 100, workers: int = 5, max_retries: int = 15,
                 nodes: Informer | None = None) -> None:
        if not 1 <= max_endpoints_per_slice <= MAX_ENDPOINTS_LIMIT:
            raise ValueError(f"max endpoints per slice must be 1..{MAX_ENDPOINTS_LIMIT}, not {max_endpoints_per_slice}")
        super().__init__(client, services, pods, notifier, workers, max_retries)
        self.slices = slices
        self.nodes = nodes
        self.max_endpoints = max_endpoints_per_slice
        self._own: dict[str, int] = {}  # slice key → resourceVersion of our last write (-1: our delete)
        slices.add_index(SERVICE_INDEX, slice_service)
        slices.handlers.append(self._on_slice)

    def _on_slice(self, old: Obj | None, new: Obj | None) -> None:
        """Queue the slice's Service unless the event is the echo of one of our own writes."""
        slice_ = new or old
        assert slice_ is not None
        labels = slice_["metadata"].get("labels") or {}
        if labels.get(LABEL_MANAGED_BY) != CONTROLLER_NAME or not labels.get(LABEL_SERVICE_NAME):
            return
        key = object_key(slice_)
        own = self._own.pop(key, None) if new is None else self._own.get(key)
        if own is not None and (own == -1 if new is None else own == resource_version(new)):
            return
        self.queue.add(f"{slice_['metadata']['namespace']}/{labels[LABEL_SERVICE_NAME]}")

    def slices_of(self, namespace: str, name: str) -> list[Obj]:
        return [s for s in self.slices.by_index(SERVICE_INDEX, (namespace, name)).values()
                if (s["metadata"].get("labels") or {}).get(LABEL_MANAGED_BY) == CONTROLLER_NAME
                and not s["metadata"].get("deletionTimestamp")]

    async def sync(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        service = self.services.cache.get(key)
        if service is None:  # its slices go with the garbage collector
            return
        spec = service.get("spec", {})
        if spec.get("type") == "ExternalName" or spec.get("selector") is None:
            return
        await self._reconcile(key, service, self.pods_for(service), self.slices_of(namespace, name))

    async def _reconcile(self, key: str, service: Obj, pods: list[Obj], existing: list[Obj]) -> None:
        """upstream Reconcile and reconcileByAddressType."""
        types = address_types(service)
        plan = Plan(delete=[s for s in existing if s.get("addressType") not in types])
        for address_type in types:
            of_type = [s for s in existing if s.get("addressType") == address_type]
            plan_type = Plan(delete=[s for s in of_type if not owned_by(s, service)])
            existing_by_ports: dict[PortKey, list[Obj]] = {}
            for slice_ in of_type:
                if owned_by(slice_, service):
                    existing_by_ports.setdefault(port_key(slice_.get("ports")), []).append(slice_)
            desired: dict[PortKey, tuple[list[Obj], dict[EndpointKey, Obj]]] = {}
            for pod in pods:
                if not should_pod_be_in_endpoints(pod, True):
                    continue
                ports = endpoint_ports(service, pod)
                _, endpoints = desired.setdefault(port_key(ports), (ports, {}))
                node = self.nodes.cache.get(pod["spec"].get("nodeName") or "") if self.nodes is not None else None
                endpoint = pod_to_endpoint(pod, service, address_type, node)
                if endpoint["addresses"]:
                    endpoints[endpoint_key(endpoint)] = endpoint
            for ports_key, (ports, endpoints) in desired.items():
                part = reconcile_port_mapping(service, existing_by_ports.get(ports_key, []), endpoints, ports,
                                              address_type, self.max_endpoints)
                plan_type.create += part.create
                plan_type.update += part.update
                plan_type.delete += part.delete
            for ports_key, slices in existing_by_ports.items():
                if ports_key not in desired:
                    plan_type.delete += slices
            if len(of_type) == len(plan_type.delete) and not plan_type.create:
                placeholder = new_slice(service, [], address_type)
                if len(plan_type.delete) == 1 and is_placeholder_of(plan_type.delete[0], placeholder):
                    plan_type.delete = []
                else:
                    plan_type.create.append(placeholder)
            plan.create += plan_type.create
            plan.update += plan_type.update
            plan.delete += plan_type.delete
        await self._finalize(key, service["metadata"]["namespace"], plan, service)

    async def _finalize(self, key: str, namespace: str, plan: Plan, service: Obj) -> None:
        """upstream finalize: creates become updates of slices about to be deleted; then create, update, delete."""
        index = 0
        while index < len(plan.delete) and plan.create:
            doomed = plan.delete[index]
            if doomed.get("addressType") == plan.create[-1].get("addressType") and owned_by(doomed, service):
                reused = plan.create.pop()
                reused["metadata"]["name"] = doomed["metadata"]["name"]
                reused["metadata"]["resourceVersion"] = doomed["metadata"]["resourceVersion"]
                del reused["metadata"]["generateName"]
                plan.update.append(reused)
                del plan.delete[index]
            else:
                index += 1
        path = f"{SLICES}/namespaces/{namespace}/endpointslices"
        if not service["metadata"].get("deletionTimestamp"):
            for slice_ in plan.create:
                self._wrote(key, await self.client.write(self.counts, "POST", path, slice_))
        for slice_ in plan.update:
            self._wrote(key, await self.client.write(self.counts, "PUT", f"{path}/{slice_['metadata']['name']}",
                                                     slice_))
        for slice_ in plan.delete:
            try:
                await self.client.write(self.counts, "DELETE", f"{path}/{slice_['metadata']['name']}")
            except ApiError as err:
                if err.code != 404:
                    raise
            slice_key = object_key(slice_)
            self._own[slice_key] = -1
            self.expect(key, self.slices, None, slice_key)

    def _wrote(self, key: str, written: Obj) -> None:
        self._own[object_key(written)] = resource_version(written)
        self.expect(key, self.slices, written)
