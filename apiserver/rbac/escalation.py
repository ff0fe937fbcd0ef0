"""Escalation prevention on writing roles and bindings (upstream's rbac policybased storage): a user may create or
update a role only with rules they hold themselves, and bind a role only if they hold its rules, unless an
authorizer lets them `escalate` (roles) or `bind` (the role referred to), or they are in `system:masters`. The
authorization filter sets who is writing (`REQUESTER`); writes of the server's own (bootstrap, aggregation) have
no requester and are not checked."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from apiserver import errors
from apiserver.authentication.user import MASTERS, UserInfo
from apiserver.authorization.authorizer import Attributes, Authorizer, Decision
from apiserver.kinds.base import Obj
from apiserver.rbac.authorizer import RBACAuthorizer
from apiserver.rbac.rules import Rule, uncovered

GROUP = "rbac.authorization.k8s.io"
FULL_AUTHORITY: list[Rule] = [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
                              {"verbs": ["*"], "nonResourceURLs": ["*"]}]


@dataclass(frozen=True)
class Requester:
    user: UserInfo
    authorizer: Authorizer
    resolver: RBACAuthorizer  # whose rules the requester holds


REQUESTER: ContextVar[Requester | None] = ContextVar("rbac requester", default=None)


def _go_strings(values: list[str]) -> str:
    """A []string as Go's %q prints it: `["a" "b"]`."""
    return "[" + " ".join(f'"{v}"' for v in values) + "]"


def compact_string(rule: Rule) -> str:
    """upstream's rbacv1helpers.CompactString: the rule's non-empty fields."""
    parts = [f"{go}:{_go_strings(rule[key])}" for key, go in (
        ("apiGroups", "APIGroups"), ("resources", "Resources"), ("nonResourceURLs", "NonResourceURLs"),
        ("resourceNames", "ResourceNames"), ("verbs", "Verbs")) if rule.get(key)]
    return "{" + ", ".join(parts) + "}"


def compact(rules: list[Rule]) -> list[Rule]:
    """Rules of one group and resource (and at most one name) merged into one with all their verbs (CompactRules)."""
    merged: dict[tuple[str, str, str], Rule] = {}
    others: list[Rule] = []
    for rule in rules:
        groups, resources, names = rule.get("apiGroups") or [], rule.get("resources") or [], rule.get("resourceNames")
        if rule.get("nonResourceURLs") or len(groups) != 1 or len(resources) != 1 or len(names or ()) > 1:
            others.append(rule)
            continue
        key = (groups[0], resources[0], names[0] if names else "")
        if key in merged:
            merged[key]["verbs"] = [*merged[key]["verbs"], *rule.get("verbs", ())]
        else:
            merged[key] = dict(rule)
    return others + list(merged.values())


def _forbidden(plural: str, name: str, message: str) -> errors.StatusError:
    return errors.StatusError(403, "Forbidden", f'{plural}.{GROUP} "{name}" is forbidden: {message}',
                              {"name": name, "group": GROUP, "kind": plural})


def _allowed(requester: Requester, verb: str, plural: str, namespace: str, name: str) -> bool:
    asked = Attributes(requester.user, verb, "", True, GROUP, "v1", namespace, plural, "", name)
    return requester.authorizer.authorize(asked)[0] is Decision.ALLOW


def confirm_no_escalation(requester: Requester, namespace: str, rules: list[Rule]) -> str:
    """"" when the requester holds every rule, else upstream's message naming the rules missing."""
    owned, failures = requester.resolver.rules_for(requester.user, namespace)
    missing = compact(uncovered(owned, rules))
    if not missing:
        return ""
    groups = "[" + " ".join(f'"{g}"' for g in requester.user.groups) + "]"
    text = (f'user "{requester.user.name}" (groups={groups}) is attempting to grant RBAC permissions not currently '
            "held:\n" + "\n".join(sorted({compact_string(rule) for rule in missing})))
    if failures:
        text += f"; resolution errors: [{', '.join(failures)}]"
    return text


def check_role(plural: str, role: Obj) -> None:
    """Raise 403 if the requester may not write this Role or ClusterRole."""
    requester = REQUESTER.get()
    if requester is None or MASTERS in requester.user.groups:
        return
    meta = role["metadata"]
    namespace, name = meta.get("namespace", ""), meta.get("name", "")
    if _allowed(requester, "escalate", plural, namespace, name):
        return
    if role.get("aggregationRule") and confirm_no_escalation(requester, namespace, FULL_AUTHORITY):
        raise _forbidden(plural, name, "must have cluster-admin privileges to use the aggregationRule")
    message = confirm_no_escalation(requester, namespace, list(role.get("rules") or ()))
    if message:
        raise _forbidden(plural, name, message)


def check_binding(plural: str, binding: Obj) -> None:
    """Raise 403 if the requester may not write this binding: neither `bind` on its role nor the role's rules."""
    requester = REQUESTER.get()
    if requester is None or MASTERS in requester.user.groups:
        return
    meta, ref = binding["metadata"], binding.get("roleRef") or {}
    namespace, name = meta.get("namespace", ""), meta.get("name", "")
    role_plural = "clusterroles" if ref.get("kind") == "ClusterRole" else "roles"
    if _allowed(requester, "bind", role_plural, namespace, ref.get("name", "")):
        return
    role = requester.resolver.role_of(ref.get("kind", ""), namespace, ref.get("name", ""))
    if role is None:  # upstream's NotFound names the role but the resource written (the binding's)
        raise errors.StatusError(404, "NotFound", f'{plural}.{GROUP} "{ref.get("name", "")}" not found',
                                 {"name": ref.get("name", ""), "group": GROUP, "kind": plural})
    message = confirm_no_escalation(requester, namespace, list(role.get("rules") or ()))
    if message:
        raise _forbidden(plural, name, message)
