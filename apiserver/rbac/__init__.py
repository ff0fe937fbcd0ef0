"""RBAC as kube-apiserver's: the authorizer reading roles and bindings (apiserver/kinds/rbac.py), the bootstrap
policy created at start, the ClusterRole aggregation controller and escalation prevention."""
