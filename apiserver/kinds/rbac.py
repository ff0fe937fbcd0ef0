"""rbac.authorization.k8s.io/v1 Role, ClusterRole, RoleBinding and ClusterRoleBinding (upstream's types): the
rules the RBAC authorizer reads (apiserver/rbac). Roles print as kube-apiserver's default table (Name, Created At),
bindings with their role and, wide, their subjects."""

from __future__ import annotations

from apiserver.kinds.base import Column, Kind, Obj, Strategy
from apiserver.kinds.columns import AGE, NAME
from apiserver.kinds.upstream import definition
from apiserver.rbac.escalation import check_binding, check_role
from apiserver.schema import Object
from apiserver.validation.field import ErrorList
from apiserver.validation.objectmeta import validate_object_meta_update
from apiserver.validation.rbac import validate_binding, validate_binding_update, validate_role

RBAC = "io.k8s.api.rbac.v1."
GROUP = "rbac.authorization.k8s.io"
CREATED_AT = Column(name="Created At", type="date", description=AGE.description,
                    cell=lambda o: o["metadata"].get("creationTimestamp") or "")


class RoleStrategy(Strategy):
    """Validation after escalation prevention (a 403 when the writer may not grant the rules)."""

    def __init__(self, namespaced: bool) -> None:
        self.namespaced = namespaced
        self.plural = "roles" if namespaced else "clusterroles"

    def validate(self, obj: Obj) -> ErrorList:
        check_role(self.plural, obj)
        return validate_role(obj, self.namespaced)

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        check_role(self.plural, obj)
        errs = validate_role(obj, self.namespaced)
        errs.extend(validate_object_meta_update(obj["metadata"], old["metadata"]))
        return errs


class BindingStrategy(Strategy):
    """Validation after escalation prevention (a 403 when the writer may neither bind the role nor holds its rules)."""

    def __init__(self, namespaced: bool) -> None:
        self.namespaced = namespaced
        self.plural = "rolebindings" if namespaced else "clusterrolebindings"

    def default(self, obj: Obj) -> None:
        """SetDefaults_RoleBinding and SetDefaults_Subject: the roleRef's and users' and groups' API group."""
        role_ref = obj.get("roleRef")
        if role_ref is None:
            role_ref = obj["roleRef"] = {}
        if isinstance(role_ref, dict) and not role_ref.get("apiGroup"):
            role_ref["apiGroup"] = GROUP
        for subject in obj.get("subjects") or ():
            if isinstance(subject, dict) and not subject.get("apiGroup") and subject.get("kind") in ("User", "Group"):
                subject["apiGroup"] = GROUP

    def validate(self, obj: Obj) -> ErrorList:
        check_binding(self.plural, obj)
        return validate_binding(obj, self.namespaced)

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        check_binding(self.plural, obj)
        return validate_binding_update(obj, old, self.namespaced)


def _subjects(kind: str) -> Column:
    plural = {"User": "Users", "Group": "Groups", "ServiceAccount": "ServiceAccounts"}[kind]

    def cell(obj: Obj) -> str:
        subjects = [s for s in obj.get("subjects") or () if s.get("kind") == kind]
        if kind == "ServiceAccount":
            return ", ".join(f"{s.get('namespace', '')}/{s.get('name', '')}" for s in subjects)
        return ", ".join(s.get("name", "") for s in subjects)
    return Column(name=plural, priority=1, cell=cell)


def _binding_columns(kind: str) -> tuple[Column, ...]:
    role_ref = definition(RBAC + kind).properties["roleRef"]
    about = role_ref.about if isinstance(role_ref, Object) else ""
    # upstream's printer describes the column with the v1beta1 type's doc, which lacks the last sentence
    role = Column(name="Role", description=about.removesuffix(" This field is immutable."),
                  cell=lambda o: f"{o.get('roleRef', {}).get('kind', '')}/{o.get('roleRef', {}).get('name', '')}")
    scope = "roleBinding" if kind == "RoleBinding" else "clusterRoleBinding"
    return (NAME, role, AGE, *(Column(name=c.name, priority=1, cell=c.cell, description=f"{c.name} in the {scope}")
                               for c in map(_subjects, ("User", "Group", "ServiceAccount"))))


def _kind(kind: str, plural: str, namespaced: bool, strategy: Strategy, columns: tuple[Column, ...]) -> Kind:
    schema = definition(RBAC + kind)
    return Kind(group=GROUP, version="v1", kind=kind, plural=plural, singular=kind.lower(), namespaced=namespaced,
                schema=schema, etcd_prefix=f"/registry/{plural}", strategy=strategy, description=schema.description,
                columns=columns)


ROLE = _kind("Role", "roles", True, RoleStrategy(True), (NAME, CREATED_AT))
CLUSTER_ROLE = _kind("ClusterRole", "clusterroles", False, RoleStrategy(False), (NAME, CREATED_AT))
ROLE_BINDING = _kind("RoleBinding", "rolebindings", True, BindingStrategy(True), _binding_columns("RoleBinding"))
CLUSTER_ROLE_BINDING = _kind("ClusterRoleBinding", "clusterrolebindings", False, BindingStrategy(False),
                             _binding_columns("ClusterRoleBinding"))
