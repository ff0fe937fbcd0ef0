"""Every kind this server serves, in discovery order."""

from __future__ import annotations

from apiserver.apiextensions.definition import CUSTOM_RESOURCE_DEFINITION
from apiserver.kinds.base import Kind
from apiserver.kinds.endpoints import ENDPOINTS
from apiserver.kinds.endpointslice import ENDPOINTSLICE
from apiserver.kinds.namespace import NAMESPACE
from apiserver.kinds.pod import POD
from apiserver.kinds.rbac import CLUSTER_ROLE, CLUSTER_ROLE_BINDING, ROLE, ROLE_BINDING
from apiserver.kinds.service import SERVICE

# groups in kube-apiserver's order (by group priority: rbac.authorization.k8s.io, apiextensions.k8s.io, discovery.k8s.io)
KINDS: tuple[Kind, ...] = (NAMESPACE, SERVICE, ENDPOINTS, POD, CLUSTER_ROLE_BINDING, CLUSTER_ROLE, ROLE_BINDING, ROLE,
                           CUSTOM_RESOURCE_DEFINITION, ENDPOINTSLICE)

