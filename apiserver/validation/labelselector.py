"""metav1.LabelSelector (matchLabels and matchExpressions): matching labels, its string form, its validation."""

from __future__ import annotations

from typing import Any

from apiserver.validation.field import ErrorList, GoSyntax, forbidden, go_quote, go_strings, invalid, required
from apiserver.validation.objectmeta import validate_labels

Obj = dict[str, Any]
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def matches(selector: Obj, labels: dict[str, str]) -> bool:
    """Whether `labels` are selected (an empty selector selects everything)."""
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or ():
        key, op, values = expression.get("key"), expression.get("operator"), expression.get("values") or ()
        present = key in labels
        if (op == "In" and (not present or labels[key] not in values)) or \
                (op == "NotIn" and present and labels[key] in values) or \
                (op == "Exists" and not present) or (op == "DoesNotExist" and present):
            return False
    return True


def selector_string(selector: Obj | None) -> str:
    """LabelSelectorAsSelector(...).String(): requirements sorted by key (`app=a,tier in (x,y),!gone`)."""
    terms: list[tuple[str, str]] = [(k, f"{k}={v}") for k, v in (selector or {}).get("matchLabels", {}).items()]
    for expression in (selector or {}).get("matchExpressions") or ():
        key, op = expression.get("key", ""), expression.get("operator")
        values = ",".join(sorted(expression.get("values") or ()))
        terms.append((key, {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                            "Exists": key, "DoesNotExist": f"!{key}"}.get(str(op), key)))
    return ",".join(text for _, text in sorted(terms, key=lambda term: term[0]))


def go_labels(labels: dict[str, str] | None) -> GoSyntax:
    """A map[string]string as %#v prints it (keys sorted)."""
    if labels is None:
        return GoSyntax("map[string]string(nil)")
    return GoSyntax("map[string]string{" + ", ".join(f"{go_quote(k)}:{go_quote(str(v))}"
                                                      for k, v in sorted(labels.items())) + "}")


def go_selector(selector: Obj | None) -> GoSyntax:
    """A *metav1.LabelSelector as %#v prints it."""
    if selector is None:
        return GoSyntax("(*v1.LabelSelector)(nil)")
    expressions = selector.get("matchExpressions")
    shown = "[]v1.LabelSelectorRequirement(nil)" if expressions is None else \
        "[]v1.LabelSelectorRequirement{" + ", ".join(
            f"v1.LabelSelectorRequirement{{Key:{go_quote(e.get('key', ''))}, Operator:{go_quote(e.get('operator', ''))}, "
            f"Values:{go_strings(e['values']).text if e.get('values') is not None else '[]string(nil)'}}}"
            for e in expressions) + "}"
    return GoSyntax(f"v1.LabelSelector{{MatchLabels:{go_labels(selector.get('matchLabels')).text}, "
                    f"MatchExpressions:{shown}}}")


def validate_selector(selector: Obj, path: str) -> ErrorList:
    """ValidateLabelSelector: each expression's operator and values, then matchLabels as labels."""
    errs = ErrorList()
    for i, expression in enumerate(selector.get("matchExpressions") or ()):
        at = f"{path}.matchExpressions[{i}]"
        op, values = expression.get("operator") or "", expression.get("values") or []
        if op in ("In", "NotIn") and not values:
            errs.append(required(f"{at}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist") and values:
            errs.append(forbidden(f"{at}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        elif op not in OPERATORS:
            errs.append(invalid(f"{at}.operator", op, "not a valid selector operator"))
    errs.extend(validate_labels(selector.get("matchLabels"), f"{path}.matchLabels"))
    return errs


