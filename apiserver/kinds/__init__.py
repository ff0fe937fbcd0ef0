"""Every kind this server serves, in discovery order."""

from __future__ import annotations

from apiserver.apiextensions.definition import CUSTOM_RESOURCE_DEFINITION
from apiserver.kinds.apps import DAEMONSET, DEPLOYMENT, REPLICASET, STATEFULSET
from apiserver.kinds.base import Kind
from apiserver.kinds.configmap import CONFIGMAP
from apiserver.kinds.endpoints import ENDPOINTS
from apiserver.kinds.endpointslice import ENDPOINTSLICE
from apiserver.kinds.event import EVENT, EVENTS_EVENT
from apiserver.kinds.lease import LEASE
from apiserver.kinds.namespace import NAMESPACE
from apiserver.kinds.node import NODE
from apiserver.kinds.pod import POD
from apiserver.kinds.rbac import CLUSTER_ROLE, CLUSTER_ROLE_BINDING, ROLE, ROLE_BINDING
from apiserver.kinds.secret import SECRET
from apiserver.kinds.service import SERVICE
from apiserver.kinds.serviceaccount import SERVICE_ACCOUNT

# groups in kube-apiserver's order (by group priority: apps, events.k8s.io, rbac.authorization.k8s.io,
# apiextensions.k8s.io, coordination.k8s.io, discovery.k8s.io)
KINDS: tuple[Kind, ...] = (NAMESPACE, SERVICE, ENDPOINTS, POD, CONFIGMAP, SECRET, SERVICE_ACCOUNT, EVENT, NODE,
                           DAEMONSET, DEPLOYMENT, REPLICASET, STATEFULSET, EVENTS_EVENT, CLUSTER_ROLE_BINDING,
                           CLUSTER_ROLE, ROLE_BINDING, ROLE, CUSTOM_RESOURCE_DEFINITION, LEASE, ENDPOINTSLICE)

