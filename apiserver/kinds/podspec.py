"""core/v1 PodSpec and what it reaches: upstream's types, with the defaults kube-apiserver fills at decoding.

The fields, and the defaults upstream declares on them (`+default`: a port's protocol TCP, a gRPC probe's
service ""), come from the generated upstream data. The defaults upstream sets in Go code
(`pkg/apis/core/v1/defaults.go`, `SetDefaults_<Type>`) are the defaulters below: constant ones (dnsPolicy
ClusterFirst, a container's terminationMessagePath, a probe's periodSeconds), a volume's file modes and
emptyDir, and those that depend on other fields (imagePullPolicy from the image's tag).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from apiserver.kinds.upstream import CORE, Behaviour, behave, definition

DEFAULT_MODE = 0o644  # the file mode of secret, configMap, projected and downwardAPI volumes (420)

# A container image reference as the Docker reference grammar reads it: [domain/]path[:tag][@digest].
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*" \
          r"|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?"
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE = re.compile(rf"(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_PATH}(?:/{_PATH})*)"
                        r"(?::(?P<tag>\w[\w.-]{0,127}))?(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*"
                        r":[0-9a-fA-F]{32,}))?")
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


def image_tag(image: str) -> str:
    """The tag a runtime pulls for `image`: its tag, "latest" without tag and digest, "" for a digest alone or an
    image that does not parse (upstream's ParseImageName, whose error the defaulter ignores)."""
    found = _REFERENCE.fullmatch(image)
    if found is None:
        return ""
    domain, digest = found.group("domain"), found.group("digest")
    if domain and "." not in domain and ":" not in domain and domain != "localhost" and domain != domain.lower():
        return ""  # not a domain, so part of the repository name, which must be lower case
    if digest:
        algorithm, _, hex_digits = digest.partition(":")
        if algorithm in _DIGEST_LENGTHS and len(hex_digits) != _DIGEST_LENGTHS[algorithm]:
            return ""
    return found.group("tag") or ("" if digest else "latest")


def _constants(values: dict[str, Any], pointers: tuple[str, ...] = ()) -> Callable[[dict[str, Any]], None]:
    """A defaulter setting fields to constants when Go sees them unset: a pointer when nil, a value when zero."""
    def default(obj: dict[str, Any]) -> None:
        for key, value in values.items():
            if obj.get(key) is None if key in pointers else not obj.get(key):
                obj[key] = value
    return default


def default_container(container: dict[str, Any]) -> None:
    """SetDefaults_Container: imagePullPolicy Always for a `latest` image, IfNotPresent otherwise; the termination
    message read from /dev/termination-log."""
    if not container.get("imagePullPolicy"):
        container["imagePullPolicy"] = "Always" if image_tag(container.get("image") or "") == "latest" \
            else "IfNotPresent"
    _container_constants(container)


_container_constants = _constants({"terminationMessagePath": "/dev/termination-log",
                                   "terminationMessagePolicy": "File"})
_pod_spec_constants = _constants({"dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                                  "terminationGracePeriodSeconds": 30, "schedulerName": "default-scheduler"},
                                 pointers=("terminationGracePeriodSeconds",))


def default_pod_spec(spec: dict[str, Any]) -> None:
    """SetDefaults_PodSpec (also for the templates of workloads), and the v1 conversion: `serviceAccount`
    (deprecated) and `serviceAccountName` mirror each other."""
    _pod_spec_constants(spec)
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    account = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if account:
        spec["serviceAccountName"] = spec["serviceAccount"] = account


def default_pod(pod: dict[str, Any]) -> None:
    """SetDefaults_Pod (a Pod's spec only, not a template's): requests default to limits, service links are
    enabled, and on the host network host ports default to container ports."""
    spec = pod.get("spec")
    if not isinstance(spec, dict):
        return
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or ():
            if not isinstance(container, dict):
                continue
            resources = container.get("resources") or {}
            if resources.get("limits"):
                resources["requests"] = {**resources["limits"], **(resources.get("requests") or {})}
            for port in container.get("ports") or () if spec.get("hostNetwork") else ():
                if isinstance(port, dict) and not port.get("hostPort"):
                    port["hostPort"] = port.get("containerPort")
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True


def default_volume(volume: dict[str, Any]) -> None:
    """SetDefaults_Volume: an emptyDir for a volume without a source."""
    if not any(value is not None for key, value in volume.items() if key != "name"):
        volume["emptyDir"] = {}


behave({
    CORE + "PodSpec": Behaviour(defaulter=default_pod_spec),
    CORE + "Container": Behaviour(defaulter=default_container),
    CORE + "EphemeralContainer": Behaviour(defaulter=default_container),
    CORE + "Probe": Behaviour(defaulter=_constants({"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1,
                                                    "failureThreshold": 3})),
    CORE + "HTTPGetAction": Behaviour(defaulter=_constants({"path": "/", "scheme": "HTTP"})),
    CORE + "ObjectFieldSelector": Behaviour(defaulter=_constants({"apiVersion": "v1"})),
    CORE + "Volume": Behaviour(defaulter=default_volume),
    CORE + "HostPathVolumeSource": Behaviour(defaulter=_constants({"type": ""}, pointers=("type",))),
    **{CORE + source: Behaviour(defaulter=_constants({"defaultMode": DEFAULT_MODE}, pointers=("defaultMode",)))
       for source in ("SecretVolumeSource", "ConfigMapVolumeSource", "DownwardAPIVolumeSource",
                      "ProjectedVolumeSource")},
    CORE + "ServiceAccountTokenProjection": Behaviour(
        defaulter=_constants({"expirationSeconds": 3600}, pointers=("expirationSeconds",))),
    CORE + "PersistentVolumeClaimSpec": Behaviour(
        defaulter=_constants({"volumeMode": "Filesystem"}, pointers=("volumeMode",))),
})

CONTAINER = definition(CORE + "Container")
