"""core/v1 Pod: upstream's type, with the behaviour kube-apiserver's registry adds.

The spec's defaults are in `podspec`; the admission plugins that add tolerations and priority are in
`apiserver.admission`. Status is the kubelet's: Pending with its QoS class on create, then only /status writes.
"""

from __future__ import annotations

import time
from decimal import Decimal

from apiserver.kinds.base import PROXY_VERBS, STATUS, Column, Kind, Obj, Strategy, Subresource
from apiserver.kinds.columns import AGE, NAME, since
from apiserver.kinds.podgates import drop_disabled_fields
from apiserver.kinds.podspec import default_pod
from apiserver.kinds.quantity import quantity
from apiserver.kinds.upstream import CORE, Behaviour, behave, definition
from apiserver.subresources.ephemeralcontainers import EPHEMERAL_CONTAINERS
from apiserver.validation.field import ErrorList
from apiserver.validation.pod import pod_warnings, validate_pod, validate_pod_status_update, validate_pod_update

behave({CORE + "Pod": Behaviour(defaulter=default_pod)})
SCHEMA = definition(CORE + "Pod")


class PodStrategy(Strategy):
    """Status belongs to the kubelet: it is reset on create and only written through /status."""

    return_deleted_object = True
    status_subresource = True

    def prepare_for_create(self, obj: Obj) -> None:
        spec = obj.get("spec") or {}
        obj["status"] = {"phase": "Pending", "qosClass": qos_class(spec)}
        drop_disabled_fields(spec, None)
        if spec.get("schedulingGates"):  # applySchedulingGatedCondition
            obj["status"]["conditions"] = [{
                "type": "PodScheduled", "status": "False", "lastProbeTime": None,
                "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "reason": "SchedulingGated",
                "message": "Scheduling is blocked due to non-empty scheduling gates"}]

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        obj["status"] = old.get("status", {})
        drop_disabled_fields(obj.get("spec") or {}, old.get("spec") or {})

    def prepare_for_status_update(self, obj: Obj, old: Obj) -> None:
        """The kubelet's write: status and metadata as sent (but ownerReferences), the spec as stored."""
        obj["spec"] = old.get("spec", {})
        meta, old_meta = obj["metadata"], old["metadata"]
        meta.pop("ownerReferences", None)
        if "ownerReferences" in old_meta:
            meta["ownerReferences"] = old_meta["ownerReferences"]
        status = obj.setdefault("status", {})
        if not status.get("qosClass") and (old.get("status") or {}).get("qosClass"):
            status["qosClass"] = old["status"]["qosClass"]

    def reset_fields(self, subresource: str) -> frozenset[tuple[str, ...]]:
        """A status write owns no ownerReferences either (it cannot change them)."""
        fields = super().reset_fields(subresource)
        return fields | {("f:metadata", "f:ownerReferences")} if subresource == "status" else fields

    def grace_period(self, obj: Obj, requested: int | None) -> int:
        """CheckGracefulDelete: the requested period or the pod's own, 0 for a pod on no node or one that ended."""
        if not obj.get("spec", {}).get("nodeName") or obj.get("status", {}).get("phase") in ("Failed", "Succeeded"):
            return 0
        if requested is not None:
            return requested
        return int(obj.get("spec", {}).get("terminationGracePeriodSeconds") or 0)

    def validate(self, obj: Obj) -> ErrorList:
        return validate_pod(obj)

    def for_subresource(self, subresource: str) -> Strategy:
        return EPHEMERAL_CONTAINERS if subresource == "ephemeralcontainers" else self

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        if obj.get("spec") == old.get("spec"):
            return validate_pod_status_update(obj, old)
        return validate_pod_update(obj, old)

    def warnings(self, obj: Obj, old: Obj | None) -> list[str]:
        """GetWarningsForPod on create (of its checks, the name, empty projections and fractional byte values);
        none on update, as upstream skips them on that frequent path."""
        if old is not None:
            return []
        spec = obj.get("spec") or {}
        return pod_warnings(obj, old) + _empty_projections(spec) + _fractional_bytes(spec)


def _empty_projections(spec: Obj) -> list[str]:
    """A projected volume's source that is empty (as one is whose only source a disabled feature dropped)."""
    return [f'volume "{volume.get("name", "")}" (Projected) has no sources provided'
            for volume in spec.get("volumes") or () if isinstance(volume, dict)
            for source in (volume.get("projected") or {}).get("sources") or () if source == {}]


def _fractional_bytes(spec: Obj) -> list[str]:
    """Memory and ephemeral storage amounts that are not whole bytes: of the overhead, then of each container
    (init containers first), memory's limit and request before ephemeral storage's."""
    groups: list[list[tuple[str, object]]] = [[("spec.overhead", spec.get("overhead"))]]
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for index, container in enumerate(spec.get(key) or ()):
            resources = (container.get("resources") if isinstance(container, dict) else None) or {}
            groups.append([(f"spec.{key}[{index}].resources.{part}", resources.get(part))
                           for part in ("limits", "requests")])
    found = []
    for group in groups:
        for resource in ("memory", "ephemeral-storage"):
            for path, amounts in group:
                value = amounts.get(resource) if isinstance(amounts, dict) else None
                if value is not None and quantity(value) % 1:
                    found.append(f'{path}[{resource}]: fractional byte value "{value}" is invalid, must be an integer')
    return found


QOS_RESOURCES = ("cpu", "memory")
def qos_class(spec: Obj) -> str:
    """The Quality of Service class (ComputePodQOS): BestEffort without cpu/memory requests or limits, Guaranteed
    when every container limits both and requests equal limits, Burstable otherwise."""
    requests: dict[str, Decimal] = {}
    limits: dict[str, Decimal] = {}
    guaranteed = True
    for container in [*(spec.get("containers") or ()), *(spec.get("initContainers") or ())]:
        resources = container.get("resources") or {} if isinstance(container, dict) else {}
        for found, total in ((resources.get("requests") or {}, requests), (resources.get("limits") or {}, limits)):
            for name in QOS_RESOURCES:
                amount = quantity(found.get(name, 0))
                if amount > 0:
                    total[name] = total.get(name, Decimal(0)) + amount
        if not all(quantity((resources.get("limits") or {}).get(name, 0)) > 0 for name in QOS_RESOURCES):
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed and requests == limits:
        return "Guaranteed"
    return "Burstable"


def _ready(obj: Obj) -> str:
    containers = obj.get("spec", {}).get("containers") or ()
    statuses = obj.get("status", {}).get("containerStatuses") or ()
    ready = sum(1 for s in statuses if isinstance(s, dict) and s.get("ready"))
    return f"{ready}/{len(containers)}"


def _restarts(obj: Obj) -> str:
    """The RESTARTS cell: the containers' restarts, with how long ago the last one ended (`3 (5m ago)`)."""
    statuses = [s for s in obj.get("status", {}).get("containerStatuses") or () if isinstance(s, dict)]
    restarts = sum(int(s.get("restartCount", 0)) for s in statuses)
    ended = [t.get("finishedAt") for s in statuses if isinstance(t := (s.get("lastState") or {}).get("terminated"), dict)]
    last = max((stamp for stamp in ended if stamp), default="")
    if not restarts or not last:
        return str(restarts)
    try:
        return f"{restarts} ({since(last)} ago)"
    except ValueError:  # a finishedAt that is not a timestamp (the status is written by clients)
        return str(restarts)


def _readiness_gates(obj: Obj) -> str:
    """`<true>/<gates>` over spec.readinessGates, `<none>` without gates (the upstream -o wide column)."""
    gates = [g.get("conditionType") for g in obj.get("spec", {}).get("readinessGates") or () if isinstance(g, dict)]
    if not gates:
        return "<none>"
    conditions = obj.get("status", {}).get("conditions") or ()
    true = {c.get("type") for c in conditions if isinstance(c, dict) and c.get("status") == "True"}
    return f"{sum(1 for g in gates if g in true)}/{len(gates)}"


def _status(obj: Obj) -> str:
    if obj["metadata"].get("deletionTimestamp"):
        return "Terminating"
    status = obj.get("status", {})
    return str(status.get("reason") or status.get("phase") or "Unknown")


POD = Kind(
    group="",
    version="v1",
    kind="Pod",
    plural="pods",
    singular="pod",
    namespaced=True,
    schema=SCHEMA,
    etcd_prefix="/registry/pods",
    strategy=PodStrategy(),
    description=SCHEMA.description,
    short_names=("po",),
    categories=("all",),
    subresources=(
        STATUS,
        Subresource("attach", ("create", "get"), "PodAttachOptions"),
        Subresource("binding", ("create",), "Binding"),
        Subresource("ephemeralcontainers", ("get", "patch", "update")),
        Subresource("eviction", ("create",), "Eviction", "policy", "v1"),
        Subresource("exec", ("create", "get"), "PodExecOptions"),
        Subresource("log", ("get",), streams=True),
        Subresource("portforward", ("create", "get"), "PodPortForwardOptions"),
        Subresource("proxy", PROXY_VERBS, "PodProxyOptions"),
    ),
    extra_field_selectors={
        "spec.nodeName": lambda o: o.get("spec", {}).get("nodeName", ""),
        "spec.restartPolicy": lambda o: o.get("spec", {}).get("restartPolicy", ""),
        "spec.schedulerName": lambda o: o.get("spec", {}).get("schedulerName", ""),
        "spec.serviceAccountName": lambda o: o.get("spec", {}).get("serviceAccountName", ""),
        "spec.hostNetwork": lambda o: "true" if o.get("spec", {}).get("hostNetwork") else "false",
        "status.phase": lambda o: o.get("status", {}).get("phase", ""),
        "status.podIP": lambda o: o.get("status", {}).get("podIP", ""),
        "status.nominatedNodeName": lambda o: o.get("status", {}).get("nominatedNodeName", ""),
    },
    columns=(
        NAME,
        Column(name="Ready", description="The aggregate readiness state of this pod for accepting traffic.",
               cell=_ready),
        Column(name="Status", description="The aggregate status of the containers in this pod.", cell=_status),
        Column(name="Restarts", cell=_restarts,
               description=("The number of times the containers in this pod have been restarted and when the last "
                            "container in this pod has restarted.")),
        AGE,
        Column(name="IP", priority=1, cell=lambda o: o.get("status", {}).get("podIP") or "<none>",
               description=("podIP address allocated to the pod. Routable at least within the cluster. Empty if not "
                            "yet allocated.")),
        Column(name="Node", priority=1, cell=lambda o: o.get("spec", {}).get("nodeName") or "<none>",
               description=("NodeName indicates in which node this pod is scheduled. If empty, this pod is a "
                            "candidate for scheduling by the scheduler defined in schedulerName. Once this field is "
                            "set, the kubelet for this node becomes responsible for the lifecycle of this pod. This "
                            "field should not be used to express a desire for the pod to be scheduled on a specific "
                            "node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename")),
        Column(name="Nominated Node", priority=1,
               cell=lambda o: o.get("status", {}).get("nominatedNodeName") or "<none>",
               description=("nominatedNodeName is set only when this pod preempts other pods on the node, but it "
                            "cannot be scheduled right away as preemption victims receive their graceful "
                            "termination periods. This field does not guarantee that the pod will be scheduled on "
                            "this node. Scheduler may decide to place the pod elsewhere if other nodes become "
                            "available sooner. Scheduler may also decide to give the resources on this node to a "
                            "higher priority pod that is created after preemption. As a result, this field may be "
                            "different than PodSpec.nodeName when the pod is scheduled.")),
        Column(name="Readiness Gates", priority=1, cell=_readiness_gates,
               description=("If specified, all readiness gates will be evaluated for pod readiness. A pod is ready "
                            "when all its containers are ready AND all conditions specified in the readiness gates "
                            "have status equal to \"True\" More info: "
                            "https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates")),
    ),
)
