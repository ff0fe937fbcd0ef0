"""PolicyRule matching (upstream's rbac.RuleAllows): verbs, API groups, resources (`pods/status`, `*/status`,
`pods/*`, `*`), resource names and non-resource URLs (exact, or a prefix ending in `*`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from apiserver.authorization.authorizer import Attributes

Rule = dict[str, Any]
ALL = "*"


def _has(values: Iterable[str] | None, wanted: str) -> bool:
    values = values or ()
    return ALL in values or wanted in values


def resource_matches(rule: Rule, resource: str, subresource: str) -> bool:
    combined = f"{resource}/{subresource}" if subresource else resource
    for allowed in rule.get("resources") or ():
        if allowed in (ALL, combined):
            return True
        if subresource and (allowed == f"*/{subresource}" or allowed == f"{resource}/*"):
            return True
    return False


def url_matches(rule: Rule, path: str) -> bool:
    for allowed in rule.get("nonResourceURLs") or ():
        if allowed == ALL or allowed == path or (allowed.endswith("*") and path.startswith(allowed[:-1])):
            return True
    return False


def rule_allows(attributes: Attributes, rule: Rule) -> bool:
    if not _has(rule.get("verbs"), attributes.verb):
        return False
    if not attributes.resource_request:
        return url_matches(rule, attributes.path)
    names = rule.get("resourceNames") or ()
    return (_has(rule.get("apiGroups"), attributes.api_group)
            and resource_matches(rule, attributes.resource, attributes.subresource)
            and (not names or attributes.name in names))


def covers(owned: list[Rule], wanted: Rule) -> bool:
    """Whether the rules `owned` allow everything `wanted` allows (upstream's validation.Covers), rule by rule
    broken down to one verb, group, resource and name or URL."""
    verbs = wanted.get("verbs") or ()
    urls = wanted.get("nonResourceURLs") or ()
    if urls:
        return all(any(_has(r.get("verbs"), v) and _url_covered(r, u) for r in owned) for v in verbs for u in urls)
    names = wanted.get("resourceNames") or [""]
    return all(any(_resource_rule_covers(r, v, g, res, n) for r in owned)
               for v in verbs for g in wanted.get("apiGroups") or () for res in wanted.get("resources") or ()
               for n in names)


def _url_covered(rule: Rule, url: str) -> bool:
    for allowed in rule.get("nonResourceURLs") or ():
        if allowed in (ALL, url) or (allowed.endswith("*") and url.startswith(allowed[:-1])):
            return True
    return False


def _resource_rule_covers(rule: Rule, verb: str, group: str, resource: str, name: str) -> bool:
    if not _has(rule.get("verbs"), verb) or not _has(rule.get("apiGroups"), group):
        return False
    owned_resources = rule.get("resources") or ()
    if ALL not in owned_resources and resource not in owned_resources:
        base, _, sub = resource.partition("/")
        if not sub or not (f"*/{sub}" in owned_resources or f"{base}/*" in owned_resources):
            return False
    names = rule.get("resourceNames") or ()
    return not names or (bool(name) and name in names)
