"""pods/ephemeralcontainers: an update of a pod that may only add ephemeral containers (upstream's
podEphemeralContainersStrategy).

Everything but spec.ephemeralContainers is taken from the stored pod, metadata (and so managedFields) included, as
upstream's dropNonEphemeralContainerUpdates does. Validation: the container common rules that apply here (name,
image), the fields an ephemeral container may not set, unique names across all containers, a target container
that exists, and existing ephemeral containers neither removed nor changed. The upstream "may not be changed"
message carries a Go `cmp.Diff` of the container after it; that diff is not reproduced.
"""

from __future__ import annotations

import copy

from apiserver.decoding import apply_defaults
from apiserver.kinds.base import Obj, Strategy
from apiserver.kinds.podspec import CONTAINER
from apiserver.validation.field import ErrorList, duplicate, forbidden, invalid, not_found, required
from apiserver.validation.names import is_dns1123_label
from apiserver.validation.objectmeta import validate_object_meta_update

FORBIDDEN_FIELDS = ("lifecycle", "livenessProbe", "ports", "readinessProbe", "resources", "startupProbe")
PATH = "spec.ephemeralContainers"


class EphemeralContainersStrategy(Strategy):
    """The stored pod with the ephemeral containers sent."""

    def prepare_for_update(self, obj: Obj, old: Obj) -> None:
        containers = (obj.get("spec") or {}).get("ephemeralContainers")
        meta = obj["metadata"]
        pod = copy.deepcopy(old)
        for key in ("name", "namespace", "resourceVersion", "uid"):
            if key in meta:
                pod["metadata"][key] = meta[key]
        spec = pod.setdefault("spec", {})
        spec.pop("ephemeralContainers", None)
        if containers:
            for container in containers:
                if isinstance(container, dict):
                    apply_defaults(container, CONTAINER)
            spec["ephemeralContainers"] = containers
        obj.clear()
        obj.update(pod)

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        errs = validate_object_meta_update(obj.get("metadata") or {}, old.get("metadata") or {})
        if "kubernetes.io/config.mirror" in (old["metadata"].get("annotations") or {}):
            return ErrorList([forbidden("", "static pods do not support ephemeral containers")])
        spec = obj.get("spec") or {}
        errs.extend(_validate_new(spec))
        sent = {c.get("name"): c for c in spec.get("ephemeralContainers") or ()}
        for container in (old.get("spec") or {}).get("ephemeralContainers") or ():
            name = container.get("name")
            if name not in sent:
                errs.append(forbidden(PATH, f'existing ephemeral containers "{name}" may not be removed\n'))
            elif sent[name] != container:
                errs.append(forbidden(PATH, f'existing ephemeral containers "{name}" may not be changed\n'))
        return errs


def _validate_new(spec: Obj) -> ErrorList:
    """validateEphemeralContainers, for the fields this server knows."""
    errs = ErrorList()
    regular = {c.get("name") for key in ("containers", "initContainers") for c in spec.get(key) or ()}
    names = set(regular)
    for i, container in enumerate(spec.get("ephemeralContainers") or ()):
        path = f"{PATH}[{i}]"
        name = container.get("name") or ""
        if not name:
            errs.append(required(path + ".name"))
        else:
            errs.extend(invalid(path + ".name", name, msg) for msg in is_dns1123_label(name))
        if not container.get("image"):
            errs.append(required(path + ".image"))
        if name in names:
            errs.append(duplicate(path + ".name", name))
        names.add(name)
        target = container.get("targetContainerName")
        if target and target not in regular:
            errs.append(not_found(path + ".targetContainerName", target))
        for field in FORBIDDEN_FIELDS:
            if container.get(field):
                errs.append(forbidden(f"{path}.{field}", "cannot be set for an Ephemeral Container"))
    return errs


EPHEMERAL_CONTAINERS = EphemeralContainersStrategy()
