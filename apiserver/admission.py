"""The mutating admission plugins of a real cluster that change what a Pod looks like when stored.

kube-apiserver runs its admission chain after decoding (defaults) and after recording managedFields, so the
fields these plugins set belong to no manager. Two of its default plugins shape every Pod:

- DefaultTolerationSeconds: a pod that does not tolerate the `not-ready` and `unreachable` NoExecute taints gets
  tolerations for them, 300 s each (on create and update, so a PUT of the pod as first sent changes nothing);
- Priority: on create, `spec.priority` from the pod's PriorityClass (0 and PreemptLowerPriority without one, as
  with no default class) and its preemptionPolicy; on update the stored values are kept.

RuntimeClass, last, refuses a Pod naming a RuntimeClass (this server serves none, as a cluster where none
exists) and, validating after the registry's validation, one that sets `overhead` without a RuntimeClass that
defines it.

This server serves no PriorityClasses: the two built-in ones (`system-cluster-critical`,
`system-node-critical`) are known, any other name is forbidden as on a cluster where it does not exist. Other
kinds and subresources pass unchanged.
"""

from __future__ import annotations

from apiserver import errors
from apiserver.kinds.base import Kind, Obj

DEFAULT_TOLERATION_SECONDS = 300
NO_EXECUTE_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
# name -> (value, preemptionPolicy) of the PriorityClasses kube-apiserver creates at start
BUILT_IN_PRIORITY_CLASSES = {
    "system-cluster-critical": (2000000000, "PreemptLowerPriority"),
    "system-node-critical": (2000001000, "PreemptLowerPriority"),
}
DEFAULT_PREEMPTION_POLICY = "PreemptLowerPriority"


def admit(kind: Kind, obj: Obj, old: Obj | None) -> None:
    """Run the mutating plugins on a create (`old` None) or an update of the main resource, in place."""
    if not kind.group and kind.plural == "nodes" and old is None:
        taint_not_ready(obj)
    if kind.group or kind.plural != "pods":
        return
    spec = obj.setdefault("spec", {})
    default_toleration_seconds(spec)
    name = obj["metadata"].get("name", "")
    priority(spec, (old or {}).get("spec"), name)
    runtime_class(spec, name)


def validate(kind: Kind, obj: Obj) -> None:
    """Run the validating plugins on a create or an update of the main resource, after the registry validated it."""
    if kind.group or kind.plural != "pods":
        return
    if (obj.get("spec") or {}).get("overhead") is not None:  # no RuntimeClass, so none defines an overhead
        raise _forbidden(obj["metadata"].get("name", ""),
                         "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead")


NOT_READY = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}


def taint_not_ready(node: Obj) -> None:
    """TaintNodesByCondition: a new Node is not ready (NoSchedule) until its node lifecycle controller says so."""
    spec = node.setdefault("spec", {})
    taints = spec.get("taints") or []
    if not any(t.get("key") == NOT_READY["key"] and t.get("effect") == NOT_READY["effect"] for t in taints):
        spec["taints"] = [*taints, dict(NOT_READY)]


def runtime_class(spec: Obj, name: str) -> None:
    """RuntimeClass: the class a Pod names must exist; none does here."""
    if spec.get("runtimeClassName") is not None:
        raise _forbidden(name, f'pod rejected: RuntimeClass "{spec["runtimeClassName"]}" not found')


def default_toleration_seconds(spec: Obj) -> None:
    """DefaultTolerationSeconds: tolerate each of the two NoExecute taints for 300 s unless already tolerated (a
    toleration with no key or no effect covers it)."""
    tolerations = spec.get("tolerations") or []
    for taint in NO_EXECUTE_TAINTS:
        if not any(isinstance(t, dict) and t.get("key") in (None, "", taint) and t.get("effect") in (None, "",
                                                                                                     "NoExecute")
                   for t in tolerations):
            tolerations.append({"key": taint, "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": DEFAULT_TOLERATION_SECONDS})
    spec["tolerations"] = tolerations


def priority(spec: Obj, old_spec: Obj | None, name: str) -> None:
    """Priority: resolve spec.priority and spec.preemptionPolicy from the PriorityClass on create, keep them on
    update. A pod naming an unknown class, or a priority or policy that differs from its class's, is forbidden."""
    if old_spec is not None:
        for field in ("priority", "preemptionPolicy"):
            if spec.get(field) is None and old_spec.get(field) is not None:
                spec[field] = old_spec[field]
        return
    class_name = spec.get("priorityClassName") or ""
    if not class_name:
        value, policy = 0, DEFAULT_PREEMPTION_POLICY
    elif class_name in BUILT_IN_PRIORITY_CLASSES:
        value, policy = BUILT_IN_PRIORITY_CLASSES[class_name]
    else:
        raise _forbidden(name, f"no PriorityClass with name {class_name} was found")
    if spec.get("priority") is not None and spec["priority"] != value:
        raise _forbidden(name, f"the integer value of priority ({spec['priority']}) must not be provided in pod "
                         f"spec; priority admission controller computed {value} from the given PriorityClass name")
    if spec.get("preemptionPolicy") and spec["preemptionPolicy"] != policy:
        raise _forbidden(name, f"the string value of PreemptionPolicy ({spec['preemptionPolicy']}) must not be "
                         f"provided in pod spec; priority admission controller computed {policy} from the given "
                         "PriorityClass name")
    spec["priority"], spec["preemptionPolicy"] = value, policy


def _forbidden(name: str, why: str) -> errors.StatusError:
    return errors.forbidden(f'pods "{name}" is forbidden: {why}', {"name": name, "kind": "pods"})
