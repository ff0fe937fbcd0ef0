"""core/v1 Pod: the fields an endpoints controller reads (labels, nodeName, podIPs, Ready, phase)."""

from __future__ import annotations

from apiserver.kinds.base import Column, Kind, Obj, Strategy
from apiserver.kinds.columns import AGE, NAME
from apiserver.kinds.meta import resource
from apiserver.schema import Array, Boolean, Free, Integer, Object, String, Time
from apiserver.validation.field import ErrorList
from apiserver.validation.pod import pod_warnings, validate_pod, validate_pod_status_update, validate_pod_update

CONTAINER_PORT = Object(
    ref="io.k8s.api.core.v1.ContainerPort",
    description="ContainerPort represents a network port in a single container.",
    required=("containerPort",),
    properties={
        "name": String(description="If specified, this must be an IANA_SVC_NAME and unique within the pod."),
        "containerPort": Integer(description="Number of port to expose on the pod's IP address."),
        "protocol": String(default="TCP", enum=("SCTP", "TCP", "UDP"), description="Protocol for port. Defaults to "
                           "\"TCP\"."),
        "hostPort": Integer(description="Number of port to expose on the host."),
        "hostIP": String(description="What host IP to bind the external port to."),
    },
)

CONTAINER = Object(
    ref="io.k8s.api.core.v1.Container",
    description="A single application container that you want to run within a pod.",
    required=("name",),
    properties={
        "name": String(description="Name of the container specified as a DNS_LABEL."),
        "image": String(description="Container image name."),
        "command": Array(items=String(), description="Entrypoint array."),
        "args": Array(items=String(), description="Arguments to the entrypoint."),
        "ports": Array(
            items=CONTAINER_PORT,
            list_type="map",
            map_keys=("containerPort", "protocol"),
            merge_key="containerPort",
            patch_strategy="merge",
            description="List of ports to expose from the container.",
        ),
        "env": Free(description="List of environment variables to set in the container."),
        "resources": Free(description="Compute Resources required by this container."),
        "readinessProbe": Free(description="Periodic probe of container service readiness."),
        "livenessProbe": Free(description="Periodic probe of container liveness."),
        "imagePullPolicy": String(enum=("Always", "IfNotPresent", "Never"), description="Image pull policy."),
    },
)

CONDITION = Object(
    ref="io.k8s.api.core.v1.PodCondition",
    description="PodCondition contains details for the current condition of this pod.",
    required=("type", "status"),
    properties={
        "type": String(description="Type is the type of the condition (e.g. Ready)."),
        "status": String(description="Status is the status of the condition: True, False or Unknown."),
        "lastProbeTime": Time(description="Last time we probed the condition."),
        "lastTransitionTime": Time(description="Last time the condition transitioned from one status to another."),
        "reason": String(description="Unique, one-word, CamelCase reason for the condition's last transition."),
        "message": String(description="Human-readable message indicating details about last transition."),
    },
)

POD_IP = Object(
    ref="io.k8s.api.core.v1.PodIP",
    description="PodIP represents a single IP address allocated to the pod.",
    required=("ip",),
    properties={"ip": String(description="IP is the IP address assigned to the pod")},
)

SCHEMA = resource(
    "io.k8s.api.core.v1.Pod",
    "Pod is a collection of containers that can run on a host. This resource is created by clients and scheduled "
    "onto hosts.",
    spec=Object(
        ref="io.k8s.api.core.v1.PodSpec",
        description="PodSpec is a description of a pod.",
        required=("containers",),
        properties={
            "containers": Array(
                items=CONTAINER,
                list_type="map",
                map_keys=("name",),
                merge_key="name",
                patch_strategy="merge",
                description="List of containers belonging to the pod.",
            ),
            "nodeName": String(description="NodeName indicates in which node this pod is scheduled."),
            "hostname": String(description="Specifies the hostname of the Pod."),
            "subdomain": String(description="If specified, the fully qualified Pod hostname will be "
                                "\"<hostname>.<subdomain>.<pod namespace>.svc.<cluster domain>\"."),
            "restartPolicy": String(enum=("Always", "Never", "OnFailure"), description="Restart policy for all "
                                    "containers within the pod."),
            "terminationGracePeriodSeconds": Integer(format="int64", description="Optional duration in seconds the "
                                                     "pod needs to terminate gracefully."),
            "activeDeadlineSeconds": Integer(format="int64", description="Optional duration in seconds the pod may be active on the node relative to StartTime before the system will actively try to mark it failed and kill associated containers. Value must be a positive integer."),
            "schedulerName": String(description="If specified, the pod will be dispatched by specified scheduler."),
            "serviceAccountName": String(description="ServiceAccountName is the name of the ServiceAccount to use to "
                                         "run this pod."),
            "hostNetwork": Boolean(description="Host networking requested for this pod."),
        },
    ),
    status=Object(
        ref="io.k8s.api.core.v1.PodStatus",
        description="PodStatus represents information about the status of a pod.",
        properties={
            "phase": String(enum=("Failed", "Pending", "Running", "Succeeded", "Unknown"),
                            description="The phase of a Pod is a simple, high-level summary of where the Pod is in "
                            "its lifecycle."),
            "conditions": Array(items=CONDITION, list_type="map", map_keys=("type",), merge_key="type",
                                patch_strategy="merge", description="Current service state of pod."),
            "hostIP": String(description="hostIP holds the IP address of the host to which the pod is assigned."),
            "podIP": String(description="podIP address allocated to the pod."),
            "podIPs": Array(items=POD_IP, list_type="map", map_keys=("ip",), merge_key="ip", patch_strategy="merge",
                            description="podIPs holds the IP addresses allocated to the pod."),
            "startTime": Time(description="RFC 3339 date and time at which the object was acknowledged by the Kubelet."),
            "containerStatuses": Free(description="Statuses of containers in this pod."),
            "reason": String(description="A brief CamelCase message indicating details about why the pod is in this "
                             "state."),
            "message": String(description="A human readable message indicating details about why the pod is in this "
                              "condition."),
            "qosClass": String(description="The Quality of Service (QOS) classification assigned to the pod."),
        },
    ),
)


class PodStrategy(Strategy):
    """Status belongs to the kubelet: it is reset on create and only written through /status."""

    return_deleted_object = True
    status_subresource = True

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        spec = obj.setdefault("spec", {})
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("schedulerName", "default-scheduler")

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        obj["status"] = old.get("status", {})

    def validate(self, obj: Obj) -> ErrorList:
        return validate_pod(obj)

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        if obj.get("spec") == old.get("spec"):
            return validate_pod_status_update(obj, old)
        return validate_pod_update(obj, old)

    def warnings(self, obj: Obj, old: Obj | None) -> list[str]:
        return pod_warnings(obj, old)


def _ready(obj: Obj) -> str:
    containers = obj.get("spec", {}).get("containers") or ()
    statuses = obj.get("status", {}).get("containerStatuses") or ()
    ready = sum(1 for s in statuses if isinstance(s, dict) and s.get("ready"))
    return f"{ready}/{len(containers)}"


def _restarts(obj: Obj) -> int:
    statuses = obj.get("status", {}).get("containerStatuses") or ()
    return sum(int(s.get("restartCount", 0)) for s in statuses if isinstance(s, dict))


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
    subresources=("status",),
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
        Column(name="Restarts", type="string", description="The number of times the containers in this pod have "
               "been restarted.", cell=_restarts),
        AGE,
        Column(name="IP", priority=1, description="IP address allocated to the pod.",
               cell=lambda o: o.get("status", {}).get("podIP") or "<none>"),
        Column(name="Node", priority=1, description="Name of the Node this pod is assigned to.",
               cell=lambda o: o.get("spec", {}).get("nodeName") or "<none>"),
        Column(name="Nominated Node", priority=1, description="nominatedNodeName is set only when this pod preempts "
               "other pods on the node, but it cannot schedule right away as preemption victims receive their "
               "graceful termination periods.",
               cell=lambda o: o.get("status", {}).get("nominatedNodeName") or "<none>"),
        Column(name="Readiness Gates", priority=1, description="If specified, all readiness gates will be evaluated "
               "for pod readiness.", cell=_readiness_gates),
    ),
)
