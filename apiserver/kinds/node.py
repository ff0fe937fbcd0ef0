"""core/v1 Node (upstream's type), cluster-scoped, with its status written by the kubelet through /status.

No kubelet runs here: a Node is what its writer says (kube-proxy reads its own Node's labels for topology zones).
"""

from __future__ import annotations

from apiserver.kinds.base import PROXY_VERBS, STATUS, Column, Kind, Obj, Strategy, Subresource
from apiserver.kinds.columns import AGE, NAME
from apiserver.kinds.fielddoc import field_doc
from apiserver.kinds.upstream import CORE, Behaviour, behave, definition
from apiserver.validation.field import ErrorList
from apiserver.validation.node import validate_node, validate_node_update

def _default_status(status: Obj) -> None:
    """SetDefaults_NodeStatus: allocatable is the capacity unless set."""
    if status.get("allocatable") is None and status.get("capacity") is not None:
        status["allocatable"] = dict(status["capacity"])


behave({CORE + "NodeStatus": Behaviour(defaulter=_default_status)})
SCHEMA = definition(CORE + "Node")
ROLE_PREFIX = "node-role.kubernetes.io/"


class NodeStrategy(Strategy):
    """All of a Node, status included, may be set on create; then status only through /status, spec only not."""

    status_subresource = True

    def default(self, obj: Obj) -> None:
        """The v1 conversion: `podCIDRs` follows `podCIDR` when that alone is set or they disagree."""
        spec = obj.get("spec")
        if isinstance(spec, dict) and spec.get("podCIDR"):
            cidrs = spec.get("podCIDRs") or []
            if not cidrs or cidrs[0] != spec["podCIDR"]:
                spec["podCIDRs"] = [spec["podCIDR"]]

    def prepare_for_create(self, obj: Obj) -> None:
        (obj.get("spec") or {}).pop("configSource", None)
        status = obj.get("status") or {}
        status.pop("config", None)
        status.pop("features", None)  # the SupplementalGroupsPolicy gate, off

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        obj["status"] = old.get("status", {})
        if (old.get("spec") or {}).get("configSource") is None:
            (obj.get("spec") or {}).pop("configSource", None)

    def prepare_for_status_update(self, obj: Obj, old: Obj) -> None:
        """The kubelet's write: metadata and status as sent, the spec as stored."""
        obj["spec"] = old.get("spec", {})
        if (old.get("status") or {}).get("config") is None:
            (obj.get("status") or {}).pop("config", None)

    def validate(self, obj: Obj) -> ErrorList:
        return validate_node(obj)

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        return validate_node_update(obj, old)

    def warnings(self, obj: Obj, old: Obj | None) -> list[str]:
        spec = obj.get("spec") or {}
        return (["spec.configSource: the feature is removed"] if spec.get("configSource") else []) + \
            (["spec.externalID: this field is deprecated, and is unused by Kubernetes"] if spec.get("externalID")
             else [])


def _status(node: Obj) -> str:
    """Ready, NotReady or Unknown from the Ready condition, then SchedulingDisabled when cordoned."""
    ready = next((c for c in (node.get("status") or {}).get("conditions") or () if c.get("type") == "Ready"), None)
    shown = ["Unknown" if ready is None else "Ready" if ready.get("status") == "True" else "NotReady"]
    if (node.get("spec") or {}).get("unschedulable"):
        shown.append("SchedulingDisabled")
    return ",".join(shown)


def _roles(node: Obj) -> str:
    labels = node["metadata"].get("labels") or {}
    roles = {key[len(ROLE_PREFIX):] for key in labels if key.startswith(ROLE_PREFIX) and key != ROLE_PREFIX}
    if labels.get("kubernetes.io/role"):
        roles.add(labels["kubernetes.io/role"])
    return ",".join(sorted(roles)) or "<none>"


def _address(kind: str) -> Column:
    def cell(node: Obj) -> str:
        found = (a for a in (node.get("status") or {}).get("addresses") or () if a.get("type") == kind)
        return next((a.get("address") or "" for a in found), "<none>")
    return Column(name=kind.replace("IP", "-IP"), priority=1, description=field_doc(SCHEMA, "status.addresses"),
                  cell=cell)


def _info(name: str, key: str) -> Column:
    return Column(name=name, priority=1, description=field_doc(INFO, key),
                  cell=lambda o: ((o.get("status") or {}).get("nodeInfo") or {}).get(key) or "<unknown>")


INFO = definition(CORE + "NodeSystemInfo")

NODE = Kind(
    group="",
    version="v1",
    kind="Node",
    plural="nodes",
    singular="node",
    namespaced=False,
    schema=SCHEMA,
    etcd_prefix="/registry/minions",
    strategy=NodeStrategy(),
    description=SCHEMA.description,
    short_names=("no",),
    subresources=(STATUS, Subresource("proxy", PROXY_VERBS, "NodeProxyOptions")),
    extra_field_selectors={"spec.unschedulable": lambda o: str(bool((o.get("spec") or {}).get("unschedulable"))).lower()},
    columns=(
        NAME,
        Column(name="Status", description="The status of the node", cell=_status),
        Column(name="Roles", description="The roles of the node", cell=_roles),
        AGE,
        Column(name="Version", description=field_doc(INFO, "kubeletVersion"),
               cell=lambda o: ((o.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion") or ""),
        _address("InternalIP"),
        _address("ExternalIP"),
        _info("OS-Image", "osImage"),
        _info("Kernel-Version", "kernelVersion"),
        _info("Container-Runtime", "containerRuntimeVersion"),
    ),
)
