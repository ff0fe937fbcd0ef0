"""rbac.authorization.k8s.io validation (upstream's pkg/apis/rbac/validation): names are path segments, rules need
verbs and, for resources, groups and resources; a binding's roleRef names a role of this group and never changes;
each subject is a User, Group or ServiceAccount."""

from __future__ import annotations

from typing import Any

from apiserver.validation.field import ErrorList, GoSyntax, go_quote, invalid, not_supported, required
from apiserver.validation.names import name_is_dns_subdomain
from apiserver.validation.objectmeta import validate_object_meta, validate_object_meta_update

GROUP = "rbac.authorization.k8s.io"
Obj = dict[str, Any]


def path_segment_name(name: str, prefix: bool = False) -> list[str]:
    """path.IsValidPathSegmentName: not `.` or `..`, no `/` or `%`."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in ("/", "%") if c in name]


def validate_rule(rule: Obj, namespaced: bool, path: str) -> ErrorList:
    errs = ErrorList()
    if not rule.get("verbs"):
        errs.append(required(f"{path}.verbs", "verbs must contain at least one value"))
    urls = rule.get("nonResourceURLs") or []
    if urls:
        if namespaced:
            errs.append(invalid(f"{path}.nonResourceURLs", _strings(urls), "namespaced rules cannot apply to "
                                "non-resource URLs"))
        if rule.get("apiGroups") or rule.get("resources") or rule.get("resourceNames"):
            errs.append(invalid(f"{path}.nonResourceURLs", _strings(urls), "rules cannot apply to both regular "
                                "resources and non-resource URLs"))
        return errs
    if not rule.get("apiGroups"):
        errs.append(required(f"{path}.apiGroups", "resource rules must supply at least one api group"))
    if not rule.get("resources"):
        errs.append(required(f"{path}.resources", "resource rules must supply at least one resource"))
    return errs


def _strings(values: list[Any]) -> GoSyntax:
    return GoSyntax("[]string{" + ", ".join(go_quote(str(v)) for v in values) + "}")


def validate_role(obj: Obj, namespaced: bool) -> ErrorList:
    errs = validate_object_meta(obj["metadata"], namespaced, path_segment_name)
    for i, rule in enumerate(obj.get("rules") or ()):
        errs.extend(validate_rule(rule, namespaced, f"rules[{i}]"))
    aggregation = obj.get("aggregationRule")
    if not namespaced and aggregation is not None and not aggregation.get("clusterRoleSelectors"):
        errs.append(required("aggregationRule.clusterRoleSelectors",
                             "at least one clusterRoleSelector required if aggregationRule is non-nil"))
    return errs


def validate_binding(obj: Obj, namespaced: bool) -> ErrorList:
    errs = validate_object_meta(obj["metadata"], namespaced, path_segment_name)
    ref = obj.get("roleRef") or {}
    if ref.get("apiGroup", "") != GROUP:
        errs.append(not_supported("roleRef.apiGroup", ref.get("apiGroup", ""), [GROUP]))
    kinds = ["Role", "ClusterRole"] if namespaced else ["ClusterRole"]
    if ref.get("kind", "") not in kinds:
        errs.append(not_supported("roleRef.kind", ref.get("kind", ""), kinds, sort=False))
    if not ref.get("name"):
        errs.append(required("roleRef.name"))
    else:
        errs.extend(invalid("roleRef.name", ref["name"], msg) for msg in path_segment_name(ref["name"]))
    for i, subject in enumerate(obj.get("subjects") or ()):
        errs.extend(validate_subject(subject, namespaced, f"subjects[{i}]"))
    return errs


def validate_subject(subject: Obj, namespaced: bool, path: str) -> ErrorList:
    errs = ErrorList()
    name, kind, group = subject.get("name") or "", subject.get("kind") or "", subject.get("apiGroup") or ""
    if not name:
        errs.append(required(f"{path}.name"))
    if kind == "ServiceAccount":
        if name:
            errs.extend(invalid(f"{path}.name", name, msg) for msg in name_is_dns_subdomain(name, False))
        if group:
            errs.append(not_supported(f"{path}.apiGroup", group, [""]))
        if not namespaced and not subject.get("namespace"):
            errs.append(required(f"{path}.namespace"))
    elif kind in ("User", "Group"):
        if group != GROUP:
            errs.append(not_supported(f"{path}.apiGroup", group, [GROUP]))
    else:
        errs.append(not_supported(f"{path}.kind", kind, ["ServiceAccount", "User", "Group"], sort=False))
    return errs


def validate_binding_update(obj: Obj, old: Obj, namespaced: bool) -> ErrorList:
    errs = validate_binding(obj, namespaced)
    errs.extend(validate_object_meta_update(obj["metadata"], old["metadata"]))
    ref, old_ref = obj.get("roleRef") or {}, old.get("roleRef") or {}
    keys = {"apiGroup": "APIGroup", "kind": "Kind", "name": "Name"}  # the Go field names %#v prints
    if any(ref.get(k, "") != old_ref.get(k, "") for k in keys):
        text = ", ".join(f"{go}:{go_quote(ref.get(k, ''))}" for k, go in keys.items())
        errs.append(invalid("roleRef", GoSyntax(f"rbac.RoleRef{{{text}}}"), "cannot change roleRef"))
    return errs
