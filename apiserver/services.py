"""The Service registry: cluster IPs and node ports allocated from shared ranges, and the `kubernetes` Service.

As kube-apiserver's service REST: a create claims the IPs and node ports it asks for (422 `provided IP is already
allocated`, `provided port is already allocated`, `... is not in the valid range`) or random free ones, before
validation, and frees them again if the create fails; an update claims what it adds (a type change to NodePort,
from ExternalName) and frees what it dropped once stored; a deletion frees all. The ranges are
`apiserver.allocator` records in storage, so replicas on one etcd never hand out the same item.

At start-up the bootstrap repairs the records from the stored Services and creates `default/kubernetes` (the
range's first IP, port 443 `https` to the secure port) as kube-apiserver's kubernetesservice controller does.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from apiserver import codec, errors
from apiserver.allocator import Allocation, AllocationError, IPRange, PortRange, RangeAllocator, RangeFull
from apiserver.cacher.cacher import Cacher
from apiserver.kinds.base import Kind, Obj
from apiserver.kinds.service import needs_cluster_ip, needs_node_ports
from apiserver.namespaces import BOOTSTRAP_MANAGER
from apiserver.options import WriteOptions
from apiserver.registry import NamespaceCheck, Registry
from apiserver.validation.field import ErrorList, go_strings, invalid
from storage import Storage

IPS_KEY = "/registry/ranges/serviceips"
PORTS_KEY = "/registry/ranges/servicenodeports"


def _held_ips(spec: Obj) -> list[str]:
    """The cluster IPs a stored Service holds in the allocator (none for headless or ExternalName ones)."""
    if not needs_cluster_ip(spec):
        return []
    return [ip for ip in spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
            if ip != "None"]


def _held_ports(spec: Obj) -> set[int]:
    return {port["nodePort"] for port in spec.get("ports") or () if isinstance(port, dict) and port.get("nodePort")}


@dataclass
class ServiceAllocation(Allocation):
    """The indexes one Service write claimed (undone on failure) and those it frees on success."""

    registry: ServiceRegistry
    dry_run: bool
    claimed_ips: list[int] = field(default_factory=list)
    claimed_ports: list[int] = field(default_factory=list)
    freed_ips: list[int] = field(default_factory=list)
    freed_ports: list[int] = field(default_factory=list)

    async def commit(self) -> None:
        if not self.dry_run:
            await self.registry.release(self.freed_ips, self.freed_ports)

    async def revert(self) -> None:
        if not self.dry_run:
            await self.registry.release(self.claimed_ips, self.claimed_ports)


class ServiceRegistry(Registry):
    """The Service registry, with the cluster IP and node port allocators."""

    def __init__(self, kind: Kind, storage: Storage, cacher: Cacher, namespace_check: NamespaceCheck,
                 ip_range: IPRange, port_range: PortRange, media_type: str = codec.JSON) -> None:
        super().__init__(kind, storage, cacher, namespace_check, media_type)
        self.ip_range, self.port_range = ip_range, port_range
        self.ips = RangeAllocator(storage, IPS_KEY, str(ip_range.network), ip_range.size, ip_range.offset,
                                  "provided IP is already allocated", media_type)
        self.ports = RangeAllocator(storage, PORTS_KEY, str(port_range), port_range.size, port_range.offset,
                                    "provided port is already allocated", media_type)

    async def allocate(self, obj: Obj, old: Obj | None, dry_run: bool) -> Allocation:
        spec, old_spec = obj.setdefault("spec", {}), (old or {}).get("spec") or {}
        allocation = ServiceAllocation(self, dry_run)
        name = obj["metadata"].get("name", "")
        await self._allocate_ips(name, spec, old_spec, allocation)
        try:
            await self._allocate_ports(name, spec, old_spec, old is None, allocation)
        except BaseException:
            await allocation.revert()
            raise
        return allocation

    async def _allocate_ips(self, name: str, spec: Obj, old_spec: Obj, allocation: ServiceAllocation) -> None:
        if not needs_cluster_ip(spec) or spec.get("clusterIPs") == ["None"] or spec.get("clusterIP") == "None":
            allocation.freed_ips = self._indexes(_held_ips(old_spec))
            return
        ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
        held = set(_held_ips(old_spec))
        wanted: list[int] = []
        for i, ip in enumerate(ips):
            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                continue  # validation reports it
            if f"IPv{address.version}" != self.ip_range.family:
                errs = ErrorList([invalid(f"spec.clusterIPs[{i}]", go_strings(ips),
                                          f"IPv{address.version} is not configured on this cluster")])
                raise errors.invalid(self.kind, name, errs)
            if ip in held:
                continue
            try:
                wanted.append(self.ip_range.index(ip))
            except AllocationError as err:
                raise self._ip_error(name, ips, ip, err) from None
        try:
            fresh = await self.ips.change(wanted, 0 if ips else 1, dry_run=allocation.dry_run)
        except AllocationError as err:
            raise self._ip_error(name, ips, self.ip_range.item(err.item), err) from None
        except RangeFull as err:
            raise errors.internal(f"failed to allocate a serviceIP: {err}") from None
        allocation.claimed_ips = wanted + fresh
        allocation.freed_ips = self._indexes(held - set(ips))
        if fresh:
            spec["clusterIP"] = self.ip_range.item(fresh[0])
            spec["clusterIPs"] = [spec["clusterIP"]]
        if not spec.get("ipFamilies"):
            spec["ipFamilies"] = [self.ip_range.family]
            spec.setdefault("ipFamilyPolicy", "SingleStack")

    def _ip_error(self, name: str, ips: list[str], ip: str, err: AllocationError) -> errors.StatusError:
        errs = ErrorList([invalid("spec.clusterIPs", go_strings(ips), f"failed to allocate IP {ip}: {err}")])
        return errors.invalid(self.kind, name, errs)

    def _indexes(self, ips: list[str] | set[str]) -> list[int]:
        """The bitmap indexes of `ips` that lie in the range (those outside it were never allocated here)."""
        indexes = []
        for ip in ips:
            try:
                indexes.append(self.ip_range.index(ip))
            except (AllocationError, ValueError):
                pass
        return indexes

    async def _allocate_ports(self, name: str, spec: Obj, old_spec: Obj, create: bool,
                              allocation: ServiceAllocation) -> None:
        ports = [p for p in spec.get("ports") or () if isinstance(p, dict)]
        held = _held_ports(old_spec)
        if not needs_node_ports(spec):
            allocation.freed_ports = self._port_indexes(held - _held_ports(spec))
            return
        wanted: list[tuple[int, int]] = []  # (index in spec.ports, node port) to claim, in order
        claimed: set[int] = set()
        duplicate: errors.StatusError | None = None
        groups: dict[object, int] = {}  # on create, ports of one number share a node port (initNodePorts)
        for i, port in enumerate(ports):
            node_port = port.get("nodePort") or 0
            if create:
                number = port.get("port")
                if number not in groups:
                    node_port = node_port or next((p["nodePort"] for p in ports[i:]
                                                   if p.get("port") == number and p.get("nodePort")), 0)
                    groups[number] = node_port
                elif node_port in (0, groups[number]):
                    continue
                if node_port in claimed:  # stop here, as upstream; an earlier port taken elsewhere is told first
                    duplicate = self._port_error(name, i, node_port, "provided port is already allocated")
                    break
            if node_port and node_port not in held and node_port not in claimed:
                claimed.add(node_port)
                wanted.append((i, node_port))
        indexes = []
        for i, node_port in wanted:
            try:
                indexes.append(self.port_range.index(node_port))
            except AllocationError as err:
                raise self._port_error(name, i, node_port, str(err)) from None
        if duplicate is not None:
            taken = await self.ports.allocated()
            for (i, node_port), index in zip(wanted, indexes, strict=True):
                if taken >> index & 1:  # a port before the duplicate held by another Service is told first
                    raise self._port_error(name, i, node_port, self.ports.taken_text)
            raise duplicate
        missing = [p for p in ports if not p.get("nodePort")]
        fresh_keys = [n for n, np in groups.items() if not np] if create else list(range(len(missing)))
        try:
            fresh = await self.ports.change(indexes, len(fresh_keys), dry_run=allocation.dry_run)
        except AllocationError as err:
            i, node_port = wanted[indexes.index(err.item)]
            raise self._port_error(name, i, node_port, str(err)) from None
        except RangeFull as err:
            raise errors.internal(f"failed to allocate a nodePort: {err}") from None
        allocation.claimed_ports = indexes + fresh
        if create:
            groups.update((number, self.port_range.item(index)) for number, index in zip(fresh_keys, fresh))
        for n, port in enumerate(missing):
            port["nodePort"] = groups[port.get("port")] if create else self.port_range.item(fresh[n])
        allocation.freed_ports = self._port_indexes(held - _held_ports(spec))

    def _port_error(self, name: str, i: int, node_port: int, detail: str) -> errors.StatusError:
        return errors.invalid(self.kind, name, ErrorList([invalid(f"spec.ports[{i}].nodePort", node_port, detail)]))

    def _port_indexes(self, ports: set[int]) -> list[int]:
        return [port - self.port_range.low for port in ports if self.port_range.low <= port <= self.port_range.high]

    async def release(self, ips: list[int], ports: list[int]) -> None:
        if ips:
            await self.ips.change((), 0, release=ips)
        if ports:
            await self.ports.change((), 0, release=ports)

    async def removed(self, obj: Obj) -> None:
        spec = obj.get("spec") or {}
        await self.release(self._indexes(_held_ips(spec)), self._port_indexes(_held_ports(spec)))

    async def bootstrap(self, secure_port: int) -> None:
        """Repair the allocation records from the stored Services (marking what they hold; never freeing, so a
        replica starting beside running ones cannot free what those are claiming), then create the `kubernetes`
        Service if it is missing."""
        result = await self.storage.range(self.list_prefix(""))
        ips: list[str] = []
        ports: set[int] = set()
        for kv in result.kvs:
            spec = codec.decode(kv).get("spec") or {}
            ips += _held_ips(spec)
            ports |= _held_ports(spec)
        await self.ips.change(self._indexes(ips), 0, reserve=True)
        await self.ports.change(self._port_indexes(ports), 0, reserve=True)
        if await self._read("default", "kubernetes") is not None:
            return
        service = {"metadata": {"name": "kubernetes", "namespace": "default",
                                "labels": {"component": "apiserver", "provider": "kubernetes"}},
                   "spec": {"ports": [{"name": "https", "protocol": "TCP", "port": 443, "targetPort": secure_port}],
                            "clusterIP": self.ip_range.first(), "type": "ClusterIP", "sessionAffinity": "None",
                            "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"}}
        try:
            await self.create("default", service, WriteOptions(field_manager=BOOTSTRAP_MANAGER))
        except errors.StatusError as err:
            if err.reason not in ("AlreadyExists", "Invalid"):  # another replica on the same etcd created it first
                raise
