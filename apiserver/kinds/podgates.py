"""The Pod fields of features whose gates are off by default in 1.32 (DropDisabledPodFields): a create drops
them, an update too unless the stored Pod already uses the feature (then it may keep using it). A /status write
keeps what the kubelet reports of them, as upstream's status strategy does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Obj = dict[str, Any]
CONTAINER_KINDS = ("containers", "initContainers", "ephemeralContainers")


def _dicts(values: Any) -> Iterator[Obj]:
    return (value for value in values or () if isinstance(value, dict)) if isinstance(values, list) else iter(())


def _containers(spec: Obj, kinds: tuple[str, ...] = CONTAINER_KINDS) -> Iterator[Obj]:
    return (container for kind in kinds for container in _dicts(spec.get(kind)))


def _security_context(spec: Obj | None) -> Obj:
    context = (spec or {}).get("securityContext")
    return context if isinstance(context, dict) else {}


def _resources(container: Obj) -> Obj:
    resources = container.get("resources")
    return resources if isinstance(resources, dict) else {}


def _projections(spec: Obj | None) -> Iterator[Obj]:
    for volume in _dicts((spec or {}).get("volumes")):
        projected = volume.get("projected")
        yield from _dicts(projected.get("sources")) if isinstance(projected, dict) else ()


def _uses(spec: Obj | None) -> set[str]:
    """The gated features the stored spec uses (their `…InUse` functions)."""
    spec = spec or {}
    context, resources = _security_context(spec), spec.get("resources")
    used = {name for name in ("supplementalGroupsPolicy", "seLinuxChangePolicy") if context.get(name) is not None}
    if spec.get("hostUsers") is not None:
        used.add("hostUsers")
    if isinstance(resources, dict) and (resources.get("requests") or resources.get("limits")):
        used.add("resources")
    if any(_security_context(c).get("procMount") not in (None, "Default") for c in _containers(spec)):
        used.add("procMount")
    if spec.get("resourceClaims"):
        used.add("resourceClaims")
    if any(source.get("clusterTrustBundle") is not None for source in _projections(spec)):
        used.add("clusterTrustBundle")
    if any(volume.get("image") is not None for volume in _dicts(spec.get("volumes"))):
        used.add("image")
    if any(c.get("resizePolicy") for c in _containers(spec, ("containers",))):
        used.add("resizePolicy")
    return used


def drop_disabled_fields(spec: Obj, old: Obj | None) -> None:
    """dropDisabledFields on a Pod's spec: `old` is the stored spec on an update, None on a create."""
    used = _uses(old)
    context = _security_context(spec)
    if "hostUsers" not in used:  # UserNamespacesSupport
        spec.pop("hostUsers", None)
    for name in ("supplementalGroupsPolicy", "seLinuxChangePolicy"):  # SupplementalGroupsPolicy, SELinuxChangePolicy
        if name not in used:
            context.pop(name, None)
    if "resources" not in used:  # PodLevelResources
        spec.pop("resources", None)
    if "procMount" not in used:  # ProcMountType: a procMount set is forced to Default, not dropped
        for container in _containers(spec):
            if _security_context(container).get("procMount") is not None:
                container["securityContext"]["procMount"] = "Default"
    if "resourceClaims" not in used:  # DynamicResourceAllocation
        spec.pop("resourceClaims", None)
        for container in _containers(spec):
            _resources(container).pop("claims", None)
    if "clusterTrustBundle" not in used:  # ClusterTrustBundleProjection
        for source in _projections(spec):
            source.pop("clusterTrustBundle", None)
    if "image" not in used:  # ImageVolume: the volume and its mounts go
        images = {volume.get("name") for volume in _dicts(spec.get("volumes")) if volume.get("image") is not None}
        if images:
            spec["volumes"] = [v for v in spec["volumes"] if not (isinstance(v, dict) and v.get("name") in images)]
            for container in _containers(spec):
                if isinstance(container.get("volumeMounts"), list):
                    container["volumeMounts"] = [m for m in container["volumeMounts"]
                                                 if not (isinstance(m, dict) and m.get("name") in images)]
    if "resizePolicy" not in used:  # InPlacePodVerticalScaling
        for container in _containers(spec):
            container.pop("resizePolicy", None)

