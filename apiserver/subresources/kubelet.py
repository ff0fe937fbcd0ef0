"""pods/log, exec, attach and portforward: the kubelet's subresources, answered as kube-apiserver answers them when
no kubelet can be reached.

kube-apiserver checks the options and the container, then looks up the pod's node to reach its kubelet. This
server serves no Nodes, so that lookup fails as it fails upstream for a node that does not exist (a 404 that
names the node as a pod, as kube-apiserver words it); a pod on no node has an empty log (204) and no stream.
"""

from __future__ import annotations

from collections.abc import Mapping

from apiserver import errors
from apiserver.subresources.proxy import node_destination
from apiserver.kinds.base import Obj
from apiserver.kinds.pod import POD
from apiserver.validation.field import ErrorList, forbidden, invalid


def validate_log_options(query: Mapping[str, str], name: str) -> None:
    """ValidatePodLogOptions: tailLines ≥ 0, limitBytes > 0, sinceSeconds > 0, not both sinceTime and sinceSeconds."""
    errs = ErrorList()
    numbers = {key: _integer(query[key]) for key in ("tailLines", "limitBytes", "sinceSeconds") if key in query}
    if numbers.get("tailLines", 0) < 0:
        errs.append(invalid("tailLines", numbers["tailLines"], "must be greater than or equal to 0"))
    if numbers.get("limitBytes", 1) < 1:
        errs.append(invalid("limitBytes", numbers["limitBytes"], "must be greater than 0"))
    if "sinceSeconds" in numbers and "sinceTime" in query:
        errs.append(forbidden("[]", "at most one of `sinceTime` or `sinceSeconds` may be specified"))
    elif numbers.get("sinceSeconds", 1) < 1:
        errs.append(invalid("sinceSeconds", numbers["sinceSeconds"], "must be greater than 0"))
    if errs:
        details = {"name": name, "kind": "PodLogOptions", "causes": errs.causes()}
        raise errors.StatusError(422, "Invalid", f'PodLogOptions "{name}" is invalid: {errs.aggregate()}', details)


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise errors.bad_request(f'strconv.ParseInt: parsing "{text}": invalid syntax') from None


def check_container(pod: Obj, container: str) -> None:
    """The container named, or the pod's only one (validateContainer); the choices are every container's name,
    init containers first (VisitContainers' order)."""
    spec = pod.get("spec") or {}
    name = pod["metadata"]["name"]
    every = [c.get("name", "") for key in ("initContainers", "containers", "ephemeralContainers")
             for c in spec.get(key) or ()]
    if container:
        if container not in every:
            raise errors.bad_request(f"container {container} is not valid for pod {name}")
        return
    count = len(spec.get("containers") or ())
    if count == 1:
        return
    if not count:
        raise errors.bad_request(f"a container name must be specified for pod {name}")
    raise errors.bad_request(f"a container name must be specified for pod {name}, choose one of: [{' '.join(every)}]")


def unreachable_node(node: str) -> errors.StatusError:
    """The node lookup's error for a Node that does not exist (upstream words it as a missing pod)."""
    return errors.not_found(POD, node)


def log_location(pod: Obj, node: Obj | None, container: str) -> errors.StatusError:
    """Why a scheduled pod's log cannot be read: its Node does not exist, has no address (500), or its kubelet
    does not answer (nothing is dialled here: the connection is refused, as to a kubelet that is not there)."""
    if node is None:
        return unreachable_node((pod.get("spec") or {}).get("nodeName") or "")
    destination = node_destination(node, "")
    container = container or ((pod.get("spec") or {}).get("containers") or [{}])[0].get("name", "")
    meta = pod["metadata"]
    return errors.untyped(500, f'Get "https://{destination}/containerLogs/{meta["namespace"]}/{meta["name"]}/'
                               f'{container}": dial tcp {destination}: connect: connection refused')


def stream_location(pod: Obj, node: Obj | None, upgrade: bool) -> errors.StatusError:
    """Why exec, attach or portforward cannot stream: the pod has no node, its Node does not exist or has no
    address, the request is no upgrade, or the kubelet cannot be dialled."""
    name = (pod.get("spec") or {}).get("nodeName")
    if not name:
        return errors.bad_request(f"pod {pod['metadata']['name']} does not have a host assigned")
    if node is None:
        return unreachable_node(name)
    destination = node_destination(node, "")
    if not upgrade:
        return errors.bad_request("Upgrade request required")
    return errors.untyped(500, f"error dialing backend: dial tcp {destination}: connect: connection refused")
