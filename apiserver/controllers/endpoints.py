"""The legacy Endpoints controller: one Endpoints object per Service with a selector, named after it.

Follows kubernetes/kubernetes pkg/controller/endpoint/endpoints_controller.go: one subset entry per
(Pod, Service port), ready or not ready by the Pod's Ready condition (or all ready with
publishNotReadyAddresses), repacked into canonical subsets; the Endpoints object carries the
Service's labels (plus the headless label when there is no cluster IP). Past 1000 addresses it is
truncated (ready addresses first, the rest spread proportionally over the subsets) and annotated
`endpoints.kubernetes.io/over-capacity: truncated`, unless `truncate` is off, which lets the object
grow until the storage refuses it (a failed call, retried like any other). As upstream, the current
object is compared untruncated, so a truncated object is re-sent on every sync of its Service (the
server sees a no-op). As upstream's, the Endpoints object has no ownerReference: a deleted Service's
Endpoints are deleted here, not by the garbage collector. Not done: the last-change-trigger-time annotation, leftover Endpoints at startup.
"""

from __future__ import annotations

import copy
import ipaddress
import math

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
from apiserver.controllers.informer import Informer, Notifier, object_key
from apiserver.kinds.endpoints import repack_subsets

MAX_CAPACITY = 1000
OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
LABEL_HEADLESS = "service.kubernetes.io/headless"


def endpoint_address(service: Obj, pod: Obj) -> Obj | None:
    """upstream podToEndpointAddressForService: the Pod IP of the Service's family."""
    families = service.get("spec", {}).get("ipFamilies") or ()
    if families:
        want_v6 = families[0] == "IPv6"
    elif is_service_ip_set(service):
        want_v6 = ipaddress.ip_address(service["spec"]["clusterIP"]).version == 6
    else:
        want_v6 = ipaddress.ip_address(pod_ips(pod)[0]).version == 6
    ip = next((ip for ip in pod_ips(pod) if (ipaddress.ip_address(ip).version == 6) == want_v6), None)
    if ip is None:
        return None
    address: Obj = {"ip": ip}
    if should_set_hostname(pod, service):
        address["hostname"] = pod["spec"]["hostname"]
    if pod.get("spec", {}).get("nodeName"):
        address["nodeName"] = pod["spec"]["nodeName"]
    address["targetRef"] = target_ref(pod)
    return address


def desired_subsets(service: Obj, pods: list[Obj]) -> list[Obj]:
    spec = service["spec"]
    tolerate = bool(spec.get("publishNotReadyAddresses"))
    subsets: list[Obj] = []
    for pod in pods:
        if not should_pod_be_in_endpoints(pod, tolerate):
            continue
        address = endpoint_address(service, pod)
        if address is None:
            continue
        group = "addresses" if tolerate or is_pod_ready(pod) else "notReadyAddresses"
        if not spec.get("ports"):
            if spec.get("clusterIP") == "None":
                subsets.append({group: [address]})
            continue
        for service_port in spec["ports"]:
            number = find_port(pod, service_port)
            if number is None:
                continue
            port: Obj = {"name": service_port.get("name", ""), "port": number,
                         "protocol": service_port.get("protocol", "TCP")}
            if service_port.get("appProtocol"):
                port["appProtocol"] = service_port["appProtocol"]
            subsets.append({group: [address], "ports": [port]})
    return repack_subsets(subsets)


def count_addresses(subsets: list[Obj]) -> int:
    return sum(len(s.get("addresses") or ()) + len(s.get("notReadyAddresses") or ()) for s in subsets)


def truncate(subsets: list[Obj]) -> bool:
    """upstream truncateEndpoints, in place: keep MAX_CAPACITY addresses, ready ones first; true if truncated."""
    total_ready = sum(len(s.get("addresses") or ()) for s in subsets)
    total_not_ready = sum(len(s.get("notReadyAddresses") or ()) for s in subsets)
    if total_ready + total_not_ready <= MAX_CAPACITY:
        return False
    truncate_ready = total_ready > MAX_CAPACITY
    limit, total = (MAX_CAPACITY, total_ready) if truncate_ready else (MAX_CAPACITY - total_ready, total_not_ready)
    can_add = limit
    for subset in subsets:
        group = "addresses" if truncate_ready else "notReadyAddresses"
        count = len(subset.get(group) or ())
        to_add = min(math.ceil(count / total * limit), can_add)
        if count:
            subset[group] = subset[group][:to_add]
            if not subset[group]:
                del subset[group]
        if truncate_ready:
            subset.pop("notReadyAddresses", None)
        can_add -= len(subset.get(group) or ())
    subsets[:] = [s for s in subsets if s.get("addresses") or s.get("notReadyAddresses")]
    return True


def without_resource_versions(subsets: list[Obj]) -> list[Obj]:
    """The subsets with targetRef.resourceVersion dropped, as upstream compares them."""
    result = copy.deepcopy(subsets)
    for subset in result:
        for group in ("addresses", "notReadyAddresses"):
            for address in subset.get(group) or ():
                (address.get("targetRef") or {}).pop("resourceVersion", None)
    return result


class EndpointsController(Controller):
    """kube-controller-manager's endpoint controller, as an API client."""

    name = "endpoints"

    def __init__(self, client: ApiClient, services: Informer, pods: Informer, endpoints: Informer,
                 notifier: Notifier, truncate: bool = True, workers: int = 5, max_retries: int = 15) -> None:
        super().__init__(client, services, pods, notifier, workers, max_retries)
        self.endpoints = endpoints
        self.truncate = truncate
        endpoints.handlers.append(self._on_endpoints)

    def _on_endpoints(self, old: Obj | None, new: Obj | None) -> None:
        """As upstream, only a deleted Endpoints object brings its Service back to the queue."""
        if new is None and old is not None:
            self.queue.add(object_key(old))

    async def sync(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        path = f"/api/v1/namespaces/{namespace}/endpoints"
        service = self.services.cache.get(key)
        current = self.endpoints.cache.get(key)
        if service is None:
            if current is not None:
                try:
                    await self.client.write(self.counts, "DELETE", f"{path}/{name}")
                except ApiError as err:
                    if err.code != 404:
                        raise
                self.expect(key, self.endpoints, None, key)
            return
        spec = service.get("spec", {})
        if spec.get("type") == "ExternalName" or spec.get("selector") is None:
            return
        subsets = desired_subsets(service, self.pods_for(service))
        labels = dict(service["metadata"].get("labels") or {})
        if current is not None:
            current_labels = {k: v for k, v in (current["metadata"].get("labels") or {}).items() if k != LABEL_HEADLESS}
            annotations = current["metadata"].get("annotations") or {}
            current_subsets = current.get("subsets") or []
            annotation_ok = OVER_CAPACITY not in annotations and (
                not self.truncate or count_addresses(current_subsets) <= MAX_CAPACITY)
            if (without_resource_versions(repack_subsets(current_subsets)) == subsets and current_labels == labels
                    and annotation_ok):
                return
        endpoints: Obj = {"apiVersion": "v1", "kind": "Endpoints",
                          "metadata": copy.deepcopy(current["metadata"]) if current is not None else
                          {"name": name, "namespace": namespace}}
        meta = endpoints["metadata"]
        annotations = meta.setdefault("annotations", {})
        if self.truncate and truncate(subsets):
            annotations[OVER_CAPACITY] = "truncated"
        else:
            annotations.pop(OVER_CAPACITY, None)
        if not annotations:
            del meta["annotations"]
        if not is_service_ip_set(service):
            labels[LABEL_HEADLESS] = ""
        meta["labels"] = labels
        if subsets:
            endpoints["subsets"] = subsets
        if current is None:
            written = await self.client.write(self.counts, "POST", path, endpoints)
        else:
            written = await self.client.write(self.counts, "PUT", f"{path}/{name}", endpoints)
        self.expect(key, self.endpoints, written)
