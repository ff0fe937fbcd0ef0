"""The RBAC authorizer (upstream's plugin/pkg/auth/authorizer/rbac): the rules of the ClusterRoleBindings, then of
the RoleBindings of the request's namespace, whose subjects include the user; the first allowing rule allows. A
denial's reason names the roles the bindings refer to that do not exist. Roles and bindings are read from the
watch caches, so a change applies to the next request."""

from __future__ import annotations

from collections.abc import Iterator

from aiohttp import web

from apiserver.authentication.user import UserInfo
from apiserver.authorization.authorizer import Attributes, Decision
from apiserver.kinds.base import Obj
from apiserver.rbac.rules import Rule, rule_allows
from apiserver.state import REGISTRIES

SA_PREFIX = "system:serviceaccount:"


def applies_to(subject: Obj, user: UserInfo, namespace: str) -> bool:
    """Whether a binding's subject names the user (upstream's appliesToUser)."""
    kind, name = subject.get("kind"), subject.get("name", "")
    if kind == "User":
        return bool(user.name == name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        return user.name == f"{SA_PREFIX}{subject.get('namespace') or namespace}:{name}"
    return False


def describe(binding: Obj, subject: Obj) -> str:
    """`ClusterRoleBinding "b" of ClusterRole "r" to Group "g"` (upstream's binding describers)."""
    meta, ref = binding["metadata"], binding.get("roleRef") or {}
    namespace = meta.get("namespace", "")
    kind, name = subject.get("kind", ""), subject.get("name", "")
    if kind == "ServiceAccount":
        name = f"{name}/{subject.get('namespace') or namespace}"
    what = f'RoleBinding "{meta["name"]}/{namespace}"' if namespace else f'ClusterRoleBinding "{meta["name"]}"'
    return f'{what} of {ref.get("kind", "")} "{ref.get("name", "")}" to {kind} "{name}"'


class RBACAuthorizer:
    def __init__(self, app: web.Application) -> None:
        self.app = app

    def _objects(self, plural: str, namespace: str = "") -> list[Obj]:
        registry = self.app[REGISTRIES][plural]
        return registry.cacher.cache.snapshot(registry.list_prefix(namespace) if namespace else "")

    def role_of(self, kind: str, namespace: str, name: str) -> Obj | None:
        """The Role (in `namespace`) or ClusterRole a roleRef names, None if there is none."""
        plural, ns = ("clusterroles", "") if kind == "ClusterRole" else ("roles", namespace)
        registry = self.app[REGISTRIES][plural]
        found = registry.cacher.cache.store.get(registry.key(ns, name))
        return found.obj if found is not None else None

    def rule_sets(self, user: UserInfo, namespace: str) -> Iterator[tuple[list[Rule] | None, str]]:
        """The rules of each binding applying to the user in `namespace` (cluster bindings first) with the binding
        described, or None with the error when its role does not exist (upstream's VisitRulesFor)."""
        bindings = [("", b) for b in self._objects("clusterrolebindings")]
        if namespace:
            bindings += [(namespace, b) for b in self._objects("rolebindings", namespace)]
        for ns, binding in bindings:
            subject = next((s for s in binding.get("subjects") or () if applies_to(s, user, ns)), None)
            if subject is None:
                continue
            ref = binding.get("roleRef") or {}
            role = self.role_of(ref.get("kind", ""), ns, ref.get("name", ""))
            if role is None:
                what = "clusterrole" if ref.get("kind") == "ClusterRole" else "role"
                yield None, f'{what}.rbac.authorization.k8s.io "{ref.get("name", "")}" not found'
            else:
                yield list(role.get("rules") or []), describe(binding, subject)

    def authorize(self, attributes: Attributes) -> tuple[Decision, str]:
        errors = []
        for rules, text in self.rule_sets(attributes.user, attributes.namespace):
            if rules is None:
                errors.append(text)
            elif any(rule_allows(attributes, rule) for rule in rules):
                return Decision.ALLOW, f"RBAC: allowed by {text}"
        if not errors:
            return Decision.NO_OPINION, ""
        return Decision.NO_OPINION, "RBAC: " + (errors[0] if len(errors) == 1 else f"[{', '.join(errors)}]")

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[Rule], list[str]]:
        """Every rule the user has in `namespace` and the errors met (SelfSubjectRulesReview, escalation checks)."""
        rules: list[Rule] = []
        errors = []
        for found, error in self.rule_sets(user, namespace):
            if found is None:
                errors.append(error)
            else:
                rules.extend(found)
        return rules, errors
