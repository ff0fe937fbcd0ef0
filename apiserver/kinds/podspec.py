"""core/v1 PodSpec and Container: the schema of a Pod's spec, with the defaults kube-apiserver fills at decoding.

The defaults are those of upstream's `pkg/apis/core/v1/defaults.go` for the fields served here: constant ones
are declared on the fields (`dnsPolicy: ClusterFirst`, a container's `terminationMessagePath`, a probe's
`periodSeconds`…), `{}` for the structs that are always present (`resources`, `securityContext`), and the
ones that depend on other fields are the `defaulter`s below (imagePullPolicy from the image's tag, requests
copied from limits, host ports on the host network, the deprecated `serviceAccount` alias, volume sources).
"""

from __future__ import annotations

import re
from typing import Any

from apiserver.schema import Array, Boolean, Free, Integer, IntOrString, Map, Object, String

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


def default_container(container: dict[str, Any]) -> None:
    """SetDefaults_Container: imagePullPolicy Always for a `latest` image, IfNotPresent otherwise."""
    if not container.get("imagePullPolicy"):
        container["imagePullPolicy"] = "Always" if image_tag(container.get("image") or "") == "latest" \
            else "IfNotPresent"


def default_pod_spec(spec: dict[str, Any]) -> None:
    """SetDefaults_Pod and the v1 conversion: requests default to limits, host ports to container ports on the
    host network, and `serviceAccount` (deprecated) and `serviceAccountName` mirror each other."""
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or ():
            if not isinstance(container, dict):
                continue
            resources = container["resources"]
            if resources.get("limits"):
                resources["requests"] = {**resources["limits"], **(resources.get("requests") or {})}
            for port in container.get("ports") or () if spec.get("hostNetwork") else ():
                if isinstance(port, dict) and not port.get("hostPort"):
                    port["hostPort"] = port.get("containerPort")
    account = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if account:
        spec["serviceAccountName"] = spec["serviceAccount"] = account


def default_volume(volume: dict[str, Any]) -> None:
    """SetDefaults_Volume and its sources: an emptyDir without a source, mode 0644 for projected files."""
    if not any(value is not None for key, value in volume.items() if key != "name"):
        volume["emptyDir"] = {}
    for source in ("secret", "configMap", "projected", "downwardAPI"):
        if isinstance(volume.get(source), dict) and volume[source].get("defaultMode") is None:
            volume[source]["defaultMode"] = DEFAULT_MODE
    if isinstance(volume.get("hostPath"), dict) and volume["hostPath"].get("type") is None:
        volume["hostPath"]["type"] = ""
    for item in (volume.get("downwardAPI") or {}).get("items") or ():
        if isinstance(item, dict) and isinstance(item.get("fieldRef"), dict):
            item["fieldRef"].setdefault("apiVersion", "v1")


def _default_grpc(action: dict[str, Any]) -> None:
    action.setdefault("service", "")


FIELD_REF = Object(
    ref="io.k8s.api.core.v1.ObjectFieldSelector",
    description="ObjectFieldSelector selects an APIVersioned field of an object.",
    required=("fieldPath",),
    atomic=True,
    properties={
        "apiVersion": String(default="v1", description="Version of the schema the FieldPath is written in terms of, "
                             "defaults to \"v1\"."),
        "fieldPath": String(description="Path of the field to select in the specified API version."),
    },
)

ENV_VAR = Object(
    ref="io.k8s.api.core.v1.EnvVar",
    description="EnvVar represents an environment variable present in a Container.",
    required=("name",),
    properties={
        "name": String(description="Name of the environment variable. Must be a C_IDENTIFIER."),
        "value": String(description="Variable references $(VAR_NAME) are expanded using the previously defined "
                        "environment variables in the container and any service environment variables."),
        "valueFrom": Object(
            ref="io.k8s.api.core.v1.EnvVarSource",
            description="EnvVarSource represents a source for the value of an EnvVar.",
            properties={
                "fieldRef": FIELD_REF,
                "resourceFieldRef": Free(description="Selects a resource of the container."),
                "configMapKeyRef": Free(description="Selects a key of a ConfigMap."),
                "secretKeyRef": Free(description="Selects a key of a secret in the pod's namespace"),
            },
        ),
    },
)

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

RESOURCES = Object(
    ref="io.k8s.api.core.v1.ResourceRequirements",
    description="ResourceRequirements describes the compute resource requirements.",
    default={},
    properties={
        "limits": Map(values=Free(), description="Limits describes the maximum amount of compute resources allowed."),
        "requests": Map(values=Free(), description="Requests describes the minimum amount of compute resources "
                        "required."),
        "claims": Free(description="Claims lists the names of resources, defined in spec.resourceClaims, that are "
                       "used by this container."),
    },
)

HTTP_GET = Object(
    ref="io.k8s.api.core.v1.HTTPGetAction",
    description="HTTPGetAction describes an action based on HTTP Get requests.",
    required=("port",),
    properties={
        "path": String(default="/", description="Path to access on the HTTP server."),
        "port": IntOrString(description="Name or number of the port to access on the container."),
        "host": String(description="Host name to connect to, defaults to the pod IP."),
        "scheme": String(default="HTTP", enum=("HTTP", "HTTPS"), description="Scheme to use for connecting to the "
                         "host. Defaults to HTTP."),
        "httpHeaders": Free(description="Custom headers to set in the request."),
    },
)

PROBE = Object(
    ref="io.k8s.api.core.v1.Probe",
    description="Probe describes a health check to be performed against a container to determine whether it is "
    "alive or ready to receive traffic.",
    properties={
        "exec": Free(description="Exec specifies a command to execute in the container."),
        "httpGet": HTTP_GET,
        "tcpSocket": Free(description="TCPSocket specifies a connection to a TCP port."),
        "grpc": Object(
            ref="io.k8s.api.core.v1.GRPCAction",
            description="GRPCAction specifies an action involving a GRPC service.",
            required=("port",),
            defaulter=_default_grpc,
            properties={
                "port": Integer(description="Port number of the gRPC service."),
                "service": String(description="Service is the name of the service to place in the gRPC "
                                  "HealthCheckRequest."),
            },
        ),
        "initialDelaySeconds": Integer(description="Number of seconds after the container has started before "
                                       "liveness probes are initiated."),
        "timeoutSeconds": Integer(default=1, description="Number of seconds after which the probe times out. "
                                  "Defaults to 1 second."),
        "periodSeconds": Integer(default=10, description="How often (in seconds) to perform the probe. Default to "
                                 "10 seconds."),
        "successThreshold": Integer(default=1, description="Minimum consecutive successes for the probe to be "
                                    "considered successful after having failed. Defaults to 1."),
        "failureThreshold": Integer(default=3, description="Minimum consecutive failures for the probe to be "
                                    "considered failed after having succeeded. Defaults to 3."),
        "terminationGracePeriodSeconds": Integer(format="int64", description="Optional duration in seconds the pod "
                                                 "needs to terminate gracefully upon probe failure."),
    },
)

CONTAINER = Object(
    ref="io.k8s.api.core.v1.Container",
    description="A single application container that you want to run within a pod.",
    required=("name",),
    always=("name",),
    defaulter=default_container,
    properties={
        "name": String(description="Name of the container specified as a DNS_LABEL."),
        "image": String(description="Container image name."),
        "command": Array(items=String(), description="Entrypoint array."),
        "args": Array(items=String(), description="Arguments to the entrypoint."),
        "workingDir": String(description="Container's working directory."),
        "ports": Array(
            items=CONTAINER_PORT,
            list_type="map",
            map_keys=("containerPort", "protocol"),
            merge_key="containerPort",
            patch_strategy="merge",
            description="List of ports to expose from the container.",
        ),
        "envFrom": Free(description="List of sources to populate environment variables in the container."),
        "env": Array(items=ENV_VAR, list_type="map", map_keys=("name",), merge_key="name", patch_strategy="merge",
                     description="List of environment variables to set in the container."),
        "resources": RESOURCES,
        "restartPolicy": String(description="RestartPolicy defines the restart behavior of individual containers in "
                                "a pod (Always for a sidecar init container)."),
        "volumeMounts": Free(description="Pod volumes to mount into the container's filesystem."),
        "livenessProbe": PROBE,
        "readinessProbe": PROBE,
        "startupProbe": PROBE,
        "lifecycle": Free(description="Actions that the management system should take in response to container "
                          "lifecycle events."),
        "terminationMessagePath": String(default="/dev/termination-log", description="Path at which the file to "
                                         "which the container's termination message will be written is mounted."),
        "terminationMessagePolicy": String(default="File", enum=("FallbackToLogsOnError", "File"),
                                           description="Indicate how the termination message should be populated."),
        "imagePullPolicy": String(enum=("Always", "IfNotPresent", "Never"), description="Image pull policy. "
                                  "Defaults to Always if :latest tag is specified, or IfNotPresent otherwise."),
        "securityContext": Free(description="SecurityContext defines the security options the container should be "
                                "run with."),
        "stdin": Boolean(description="Whether this container should allocate a buffer for stdin in the container "
                         "runtime."),
        "stdinOnce": Boolean(description="Whether the container runtime should close the stdin channel after it has "
                             "been opened by a single attach."),
        "resizePolicy": Free(description="Resources resize policy for the container."),
        "tty": Boolean(description="Whether this container should allocate a TTY for itself."),
    },
)

TOLERATION = Object(
    ref="io.k8s.api.core.v1.Toleration",
    description="The pod this Toleration is attached to tolerates any taint that matches the triple "
    "<key,value,effect> using the matching operator <operator>.",
    properties={
        "key": String(description="Key is the taint key that the toleration applies to."),
        "operator": String(enum=("Equal", "Exists"), description="Operator represents a key's relationship to the "
                           "value."),
        "value": String(description="Value is the taint value the toleration matches to."),
        "effect": String(enum=("NoExecute", "NoSchedule", "PreferNoSchedule"), description="Effect indicates the "
                         "taint effect to match."),
        "tolerationSeconds": Integer(format="int64", description="TolerationSeconds represents the period of time "
                                     "the toleration (which must be of effect NoExecute) tolerates the taint."),
    },
)

# Every VolumeSource of core/v1, so that none is pruned (a volume left without one would default to emptyDir).
VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs", "iscsi",
    "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "downwardAPI", "fc",
    "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "projected",
    "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral", "image")

VOLUME = Object(
    ref="io.k8s.api.core.v1.Volume",
    description="Volume represents a named volume in a pod that may be accessed by any container in the pod.",
    required=("name",),
    defaulter=default_volume,
    properties={
        "name": String(description="name of the volume. Must be a DNS_LABEL and unique within the pod."),
        **{source: Free(description=f"The {source} volume source.") for source in VOLUME_SOURCES},
    },
)

POD_SECURITY_CONTEXT = Object(
    ref="io.k8s.api.core.v1.PodSecurityContext",
    description="PodSecurityContext holds pod-level security attributes and common container settings.",
    default={},
    properties={
        "runAsUser": Integer(format="int64", description="The UID to run the entrypoint of the container process."),
        "runAsGroup": Integer(format="int64", description="The GID to run the entrypoint of the container process."),
        "runAsNonRoot": Boolean(description="Indicates that the container must run as a non-root user."),
        "fsGroup": Integer(format="int64", description="A special supplemental group that applies to all containers "
                           "in a pod."),
        "fsGroupChangePolicy": String(description="fsGroupChangePolicy defines behavior of changing ownership and "
                                      "permission of the volume before being exposed inside Pod."),
        "supplementalGroups": Array(items=Integer(format="int64"), description="A list of groups applied to the "
                                    "first process run in each container."),
        "seccompProfile": Free(description="The seccomp options to use by the containers in this pod."),
        "seLinuxOptions": Free(description="The SELinux context to be applied to all containers."),
        "sysctls": Free(description="Sysctls hold a list of namespaced sysctls used for the pod."),
        "windowsOptions": Free(description="The Windows specific settings applied to all containers."),
        "appArmorProfile": Free(description="appArmorProfile is the AppArmor options to use by the containers in "
                                "this pod."),
    },
)



def _containers(description: str) -> Array:
    return Array(items=CONTAINER, list_type="map", map_keys=("name",), merge_key="name", patch_strategy="merge",
                 description=description)


POD_SPEC = Object(
    ref="io.k8s.api.core.v1.PodSpec",
    description="PodSpec is a description of a pod.",
    required=("containers",),
    always=("containers",),
    defaulter=default_pod_spec,
    properties={
        "volumes": Array(items=VOLUME, list_type="map", map_keys=("name",), merge_key="name",
                         patch_strategy="merge,retainKeys", description="List of volumes that can be mounted by "
                         "containers belonging to the pod."),
        "initContainers": _containers("List of initialization containers belonging to the pod."),
        "containers": _containers("List of containers belonging to the pod."),
        "restartPolicy": String(default="Always", enum=("Always", "Never", "OnFailure"), description="Restart policy "
                                "for all containers within the pod. Default to Always."),
        "terminationGracePeriodSeconds": Integer(format="int64", default=30, description="Optional duration in "
                                                 "seconds the pod needs to terminate gracefully. Defaults to 30 "
                                                 "seconds."),
        "activeDeadlineSeconds": Integer(format="int64", description="Optional duration in seconds the pod may be "
                                         "active on the node relative to StartTime."),
        "dnsPolicy": String(default="ClusterFirst", enum=("ClusterFirst", "ClusterFirstWithHostNet", "Default",
                                                          "None"),
                            description="Set DNS policy for the pod. Defaults to \"ClusterFirst\"."),
        "nodeSelector": Map(atomic=True, description="NodeSelector is a selector which must be true for the pod to fit on a "
                            "node."),
        "serviceAccountName": String(description="ServiceAccountName is the name of the ServiceAccount to use to "
                                     "run this pod."),
        "serviceAccount": String(description="DeprecatedServiceAccount is a deprecated alias for ServiceAccountName."),
        "automountServiceAccountToken": Boolean(description="AutomountServiceAccountToken indicates whether a "
                                                "service account token should be automatically mounted."),
        "nodeName": String(description="NodeName indicates in which node this pod is scheduled."),
        "hostNetwork": Boolean(description="Host networking requested for this pod."),
        "hostPID": Boolean(description="Use the host's pid namespace."),
        "hostIPC": Boolean(description="Use the host's ipc namespace."),
        "securityContext": POD_SECURITY_CONTEXT,
        "imagePullSecrets": Free(description="ImagePullSecrets is an optional list of references to secrets in the "
                                 "same namespace to use for pulling any of the images used by this PodSpec."),
        "hostname": String(description="Specifies the hostname of the Pod."),
        "subdomain": String(description="If specified, the fully qualified Pod hostname will be "
                            "\"<hostname>.<subdomain>.<pod namespace>.svc.<cluster domain>\"."),
        "affinity": Free(description="If specified, the pod's scheduling constraints"),
        "schedulerName": String(default="default-scheduler", description="If specified, the pod will be dispatched "
                                "by specified scheduler."),
        "tolerations": Array(items=TOLERATION, description="If specified, the pod's tolerations."),
        "priorityClassName": String(description="If specified, indicates the pod's priority."),
        "priority": Integer(description="The priority value. The higher the value, the higher the priority."),
        "preemptionPolicy": String(enum=("Never", "PreemptLowerPriority"), description="PreemptionPolicy is the "
                                   "Policy for preempting pods with lower priority."),
        "readinessGates": Array(items=Object(
            ref="io.k8s.api.core.v1.PodReadinessGate",
            description="PodReadinessGate contains the reference to a pod condition",
            required=("conditionType",),
            properties={"conditionType": String(description="ConditionType refers to a condition in the pod's "
                                                "condition list with matching type.")},
        ), description="If specified, all readiness gates will be evaluated for pod readiness."),
        "enableServiceLinks": Boolean(default=True, description="EnableServiceLinks indicates whether information "
                                      "about services should be injected into pod's environment variables. "
                                      "Optional: Defaults to true."),
        "topologySpreadConstraints": Free(description="TopologySpreadConstraints describes how a group of pods ought "
                                          "to spread across topology domains."),
        "ephemeralContainers": Free(description="List of ephemeral containers run in this pod."),
        "dnsConfig": Free(description="Specifies the DNS parameters of a pod."),
        "hostAliases": Free(description="HostAliases is an optional list of hosts and IPs that will be injected into "
                            "the pod's hosts file if specified."),
        "runtimeClassName": String(description="RuntimeClassName refers to a RuntimeClass object in the node.k8s.io "
                                   "group."),
        "overhead": Free(description="Overhead represents the resource overhead associated with running a pod for a "
                         "given RuntimeClass."),
        "shareProcessNamespace": Boolean(description="Share a single process namespace between all of the containers "
                                         "in a pod."),
        "setHostnameAsFQDN": Boolean(description="If true the pod's hostname will be configured as the pod's FQDN."),
        "os": Free(description="Specifies the OS of the containers in the pod."),
        "hostUsers": Boolean(description="Use the host's user namespace."),
        "schedulingGates": Free(description="SchedulingGates is an opaque list of values that if specified will block "
                                "scheduling the pod."),
        "resourceClaims": Free(description="ResourceClaims defines which ResourceClaims must be allocated and reserved "
                               "before the Pod is allowed to start."),
    },
)
