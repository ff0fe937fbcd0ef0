"""apps/v1 Deployment, ReplicaSet, StatefulSet and DaemonSet (upstream's types), with status and scale
subresources: stored, defaulted and validated as kube-apiserver does; no controller acts on them (as in envtest).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import apiserver.kinds.podspec  # noqa: F401  (the pod template's defaults, registered before the types are built)
from apiserver.kinds.base import STATUS, Column, Kind, Obj, Strategy, Subresource
from apiserver.kinds.columns import AGE, NAME
from apiserver.kinds.fielddoc import field_doc
from apiserver.kinds.upstream import CORE, Behaviour, behave, definition
from apiserver.schema import Integer, Object
from apiserver.validation.apps import validate_workload, validate_workload_status, validate_workload_update
from apiserver.validation.field import ErrorList
from apiserver.validation.labelselector import selector_string
from apiserver.validation.names import is_dns1123_label

APPS = "io.k8s.api.apps.v1."
TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"
SCALE = Subresource("scale", ("get", "patch", "update"), kind="Scale", group="autoscaling", version="v1",
                    schema=definition("io.k8s.api.autoscaling.v1.Scale"))


def _defaults(values: dict[str, Any]) -> Callable[[Obj], None]:
    """Pointer fields set when unset."""
    def default(obj: Obj) -> None:
        for key, value in values.items():
            if obj.get(key) is None:
                obj[key] = value
    return default


def _rolling(defaults: dict[str, Any]) -> Callable[[Obj], None]:
    """An update strategy of type RollingUpdate (the default type) gets its rollingUpdate defaults."""
    def default(strategy: Obj) -> None:
        strategy["type"] = strategy.get("type") or "RollingUpdate"
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.get("rollingUpdate")
            rolling = rolling if isinstance(rolling, dict) else {}
            strategy["rollingUpdate"] = {**rolling, **{k: v for k, v in defaults.items() if rolling.get(k) is None}}
    return default


def _statefulset_strategy(strategy: Obj) -> None:
    """SetDefaults_StatefulSet's part: RollingUpdate with partition 0 when the type is unset."""
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
        strategy.setdefault("rollingUpdate", {})
    if strategy["type"] == "RollingUpdate" and isinstance(strategy.get("rollingUpdate"), dict):
        strategy["rollingUpdate"].setdefault("partition", 0)


def _statefulset(spec: Obj) -> None:
    spec["podManagementPolicy"] = spec.get("podManagementPolicy") or "OrderedReady"
    for template in spec.get("volumeClaimTemplates") or ():  # the v1 conversion writes their TypeMeta
        if isinstance(template, dict):
            template.update({"apiVersion": "v1", "kind": "PersistentVolumeClaim"})
            meta = template.get("metadata")
            if isinstance(meta, dict):  # an embedded object's metadata, written as Go writes it
                meta.setdefault("creationTimestamp", None)
    _statefulset_strategy(spec.setdefault("updateStrategy", {}))
    policy = spec.get("persistentVolumeClaimRetentionPolicy") or {}  # the StatefulSetAutoDeletePVC gate, on
    spec["persistentVolumeClaimRetentionPolicy"] = {"whenDeleted": policy.get("whenDeleted") or "Retain",
                                                    "whenScaled": policy.get("whenScaled") or "Retain"}
    _defaults({"replicas": 1, "revisionHistoryLimit": 10})(spec)


def _claim(claim: Obj) -> None:
    """SetDefaults_PersistentVolumeClaim: a new claim is Pending."""
    status = claim.get("status")
    status = status if isinstance(status, dict) else {}
    claim["status"] = {**status, "phase": status.get("phase") or "Pending"}


behave({
    CORE + "PersistentVolumeClaim": Behaviour(defaulter=_claim),
    APPS + "DeploymentSpec": Behaviour(defaulter=_defaults({"replicas": 1, "revisionHistoryLimit": 10,
                                                            "progressDeadlineSeconds": 600})),
    APPS + "DeploymentStrategy": Behaviour(defaulter=_rolling({"maxUnavailable": "25%", "maxSurge": "25%"})),
    APPS + "DaemonSetSpec": Behaviour(defaulter=_defaults({"revisionHistoryLimit": 10})),
    APPS + "DaemonSetUpdateStrategy": Behaviour(defaulter=_rolling({"maxUnavailable": 1, "maxSurge": 0})),
    APPS + "ReplicaSetSpec": Behaviour(defaulter=_defaults({"replicas": 1})),
    APPS + "StatefulSetSpec": Behaviour(defaulter=_statefulset),
})


class WorkloadStrategy(Strategy):
    """Status is the (absent) controller's: reset on create, written through /status; spec changes move the
    generation."""

    status_subresource = True
    tracks_generation = True

    def __init__(self, workload: str, status: Object) -> None:
        self.workload = workload
        # the counts Go always writes, zero in a new object's status
        self.new_status = {name: 0 for name in status.always if isinstance(status.properties[name], Integer)}

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = dict(self.new_status)

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        obj["status"] = old.get("status", {})

    def for_subresource(self, subresource: str) -> Strategy:
        return ScaleStrategy(self) if subresource == "scale" else self

    def validate(self, obj: Obj) -> ErrorList:
        return validate_workload(obj, self.workload)

    def warnings(self, obj: Obj, old: Obj | None) -> list[str]:
        """A Deployment's or ReplicaSet's name is in its Pods' names and hostnames: a DNS label is advised."""
        name = obj["metadata"].get("name") or ""
        if old is not None or self.workload not in ("deployment", "replicaset") or not (msgs := is_dns1123_label(name)):
            return []
        return ["metadata.name: this is used in Pod names and hostnames, which can result in surprising behavior; a "
                f"DNS label is recommended: [{' '.join(msgs)}]"]

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        if obj.get("spec") == old.get("spec") and obj.get("status") != old.get("status"):
            return validate_workload_status(obj, old)
        return validate_workload_update(obj, old, self.workload)


def scale_managed_fields(meta: Obj) -> None:
    """ScaleHandler.ToParent takes each entry's time from the parent's entries as they were: the entries of
    managers writing through /scale have none, and so sort first (upstream's encoding order)."""
    entries = meta.get("managedFields")
    if not entries:
        return
    for entry in entries:
        if entry.get("subresource") == "scale":
            entry.pop("time", None)
    meta["managedFields"] = sorted(entries, key=lambda e: (e.get("operation", ""), e.get("time") or "",
                                                           e.get("manager", ""), e.get("apiVersion", ""),
                                                           e.get("subresource", "")))



class ScaleStrategy(Strategy):
    """An update through /scale: the workload's own rules, then its managedFields as upstream's ScaleHandler
    leaves them."""

    def __init__(self, workload: WorkloadStrategy) -> None:
        self.workload = workload

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        self.workload.prepare_for_update(obj, old)
        scale_managed_fields(obj["metadata"])

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        return self.workload.validate_update(obj, old)


class DaemonSetStrategy(WorkloadStrategy):
    """The deprecated templateGeneration, kept in an annotation: 1 on create, one more on each template change."""

    def default(self, obj: Obj) -> None:
        """Set before managedFields are recorded, as upstream's creator owns it (an update recomputes it)."""
        meta = obj.get("metadata")
        if isinstance(meta, dict) and TEMPLATE_GENERATION not in (meta.get("annotations") or {}):
            self._generation(obj, 1)

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        self._generation(obj, 1)

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        super().prepare_for_update(obj, old)
        current = int(((old["metadata"].get("annotations") or {}).get(TEMPLATE_GENERATION)) or 0)
        changed = (obj.get("spec") or {}).get("template") != (old.get("spec") or {}).get("template")
        self._generation(obj, current + 1 if changed else current)

    @staticmethod
    def _generation(obj: Obj, generation: int) -> None:
        if generation:
            meta = obj["metadata"]
            meta["annotations"] = {**(meta.get("annotations") or {}), TEMPLATE_GENERATION: str(generation)}


def _spec(obj: Obj, key: str, zero: Any = 0) -> Any:
    return (obj.get("spec") or {}).get(key, zero)


def _status(key: str) -> Callable[[Obj], int]:
    return lambda o: int((o.get("status") or {}).get(key) or 0)


def _ready(obj: Obj) -> str:
    return f"{(obj.get('status') or {}).get('readyReplicas') or 0}/{_spec(obj, 'replicas')}"


def _template_cells() -> tuple[Column, ...]:
    """Containers and Images (wide), of the pod template."""
    def containers(o: Obj) -> list[Obj]:
        return ((_spec(o, "template", {}) or {}).get("spec") or {}).get("containers") or []
    return (
        Column(name="Containers", priority=1, description="Names of each container in the template.",
               cell=lambda o: ",".join(c.get("name", "") for c in containers(o))),
        Column(name="Images", priority=1, description="Images referenced by each container in the template.",
               cell=lambda o: ",".join(c.get("image", "") for c in containers(o))),
    )


def _selector(description: str) -> Column:
    return Column(name="Selector", priority=1, description=description,
                  cell=lambda o: selector_string(_spec(o, "selector", None)) or "<none>")


def _kind(kind: str, short: str, columns: Callable[[Any], tuple[Column, ...]], scale: bool = True) -> Kind:
    schema = definition(APPS + kind)
    status = schema.properties["status"]
    assert isinstance(status, Object)
    plural = kind.lower() + "s"
    return Kind(group="apps", version="v1", kind=kind, plural=plural, singular=kind.lower(), namespaced=True,
                schema=schema, etcd_prefix=f"/registry/{plural}",
                strategy=(DaemonSetStrategy if kind == "DaemonSet" else WorkloadStrategy)(kind.lower(), status),
                description=schema.description, short_names=(short,),
                categories=("all",), subresources=(STATUS, SCALE) if scale else (STATUS,), columns=columns(schema),
                internal_annotations=(TEMPLATE_GENERATION,) if kind == "DaemonSet" else ())


def _deployment(schema: Any) -> tuple[Column, ...]:
    return (NAME, Column(name="Ready", description="Number of the pod with ready state", cell=_ready),
            Column(name="Up-to-date", description=field_doc(schema, "status.updatedReplicas"),
                   cell=_status("updatedReplicas")),
            Column(name="Available", description=field_doc(schema, "status.availableReplicas"),
                   cell=_status("availableReplicas")),
            AGE, *_template_cells(),
            _selector("Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones "
                      "affected by this deployment."))


def _replicaset(schema: Any) -> tuple[Column, ...]:
    return (NAME, Column(name="Desired", type="integer", description=field_doc(schema, "spec.replicas"),
                         cell=lambda o: _spec(o, "replicas")),
            Column(name="Current", type="integer", description=field_doc(schema, "status.replicas"),
                   cell=_status("replicas")),
            Column(name="Ready", type="integer", description="The number of ready replicas for this replica set.",
                   cell=_status("readyReplicas")),
            AGE, *_template_cells(),
            _selector("Selector is a label query over pods that should match the replica count. If the selector is "
                      "empty, it is defaulted to the labels present on the pod template. Label keys and values that "
                      "must match in order to be controlled by this replica set. More info: https://kubernetes.io/"
                      "docs/concepts/overview/working-with-objects/labels/#label-selectors"))


def _statefulset_columns(schema: Any) -> tuple[Column, ...]:
    return (NAME, Column(name="Ready", description="Number of the pod with ready state", cell=_ready), AGE,
            *_template_cells())


def _node_selector(obj: Obj) -> str:
    selector = ((_spec(obj, "template", {}) or {}).get("spec") or {}).get("nodeSelector") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items())) or "<none>"


def _daemonset(schema: Any) -> tuple[Column, ...]:
    def count(name: str, key: str, description: str = "") -> Column:
        return Column(name=name, type="integer", description=description or field_doc(schema, f"status.{key}"),
                      cell=_status(key))
    return (NAME, count("Desired", "desiredNumberScheduled"), count("Current", "currentNumberScheduled"),
            count("Ready", "numberReady", "The number of nodes that should be running the daemon pod and have one or "
                  "more of the daemon pod running and ready."),
            count("Up-to-date", "updatedNumberScheduled"), count("Available", "numberAvailable"),
            Column(name="Node Selector", description=field_doc(definition(CORE + "PodSpec"), "nodeSelector"),
                   cell=_node_selector),
            AGE, *_template_cells(),
            _selector("A label query over pods that are managed by the daemon set. Must match in order to be "
                      "controlled. If empty, defaulted to labels on Pod template. More info: https://kubernetes.io/"
                      "docs/concepts/overview/working-with-objects/labels/#label-selectors"))


DEPLOYMENT = _kind("Deployment", "deploy", _deployment)
REPLICASET = _kind("ReplicaSet", "rs", _replicaset)  # no status.replicas field selector: apps/v1 converts none
STATEFULSET = _kind("StatefulSet", "sts", _statefulset_columns)
DAEMONSET = _kind("DaemonSet", "ds", _daemonset, scale=False)
