"""PolicyRule matching (upstream's rbac.RuleAllows): verbs, API groups, resources (`pods/status`, `*/status`, `*`),
resource names and non-resource URLs (exact, or a prefix ending in `*`); and whether rules cover others, for
escalation checks (upstream's validation.Covers)."""

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
        if subresource and allowed == f"*/{subresource}":  # `pods/*` is no wildcard upstream
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


def breakdown(rule: Rule) -> list[Rule]:
    """The rule as atoms of one group, resource, verb (and resource name), or one URL and verb (BreakdownRule)."""
    atoms: list[Rule] = []
    names = rule.get("resourceNames") or ()
    for group in rule.get("apiGroups") or ():
        for resource in rule.get("resources") or ():
            for verb in rule.get("verbs") or ():
                base = {"apiGroups": [group], "resources": [resource], "verbs": [verb]}
                atoms.extend([{**base, "resourceNames": [name]} for name in names] if names else [base])
    atoms.extend({"nonResourceURLs": [url], "verbs": [verb]}
                 for url in rule.get("nonResourceURLs") or () for verb in rule.get("verbs") or ())
    return atoms


def uncovered(owned: list[Rule], wanted: list[Rule]) -> list[Rule]:
    """The atoms of `wanted` that no rule of `owned` covers (upstream's validation.Covers)."""
    return [atom for rule in wanted for atom in breakdown(rule) if not any(_atom_covered(r, atom) for r in owned)]


def covers(owned: list[Rule], wanted: Rule) -> bool:
    return not uncovered(owned, [wanted])


def _atom_covered(rule: Rule, atom: Rule) -> bool:
    verb = atom["verbs"][0]
    if "nonResourceURLs" in atom:
        return _has(rule.get("verbs"), verb) and _url_covered(rule, atom["nonResourceURLs"][0])
    name = (atom.get("resourceNames") or [""])[0]
    return _resource_rule_covers(rule, verb, atom["apiGroups"][0], atom["resources"][0], name)


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
        _, _, sub = resource.partition("/")  # `*/sub` covers a subresource; `pods/*` covers none (resourceCoversAll)
        if not sub or f"*/{sub}" not in owned_resources:
            return False
    names = rule.get("resourceNames") or ()
    return not names or (bool(name) and name in names)
