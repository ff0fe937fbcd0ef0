"""`x-kubernetes-validations`: CEL rules on a custom resource's schema nodes, evaluated with cel-python.

Each rule sees the value at its node as `self` and, on an update where that value can be told apart in the stored
object (object properties, map values, items of `x-kubernetes-list-type: map` lists), the stored value as
`oldSelf`; a rule naming `oldSelf` (a transition rule) runs only then, unless `optionalOldSelf`. A rule that
is false fails with its `message`, its `messageExpression`'s value, or `failed rule: <rule>`, on the node's path
(plus `fieldPath`), with the error type its `reason` names (Invalid by default), as upstream's CEL validator.
A few of Kubernetes' CEL library functions are provided besides CEL's own (string case, trimming, list order
and sums). The CEL runtime is loaded on first use: its parser takes about 0.1 s to build.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

from apiserver.validation.field import ErrorList, ErrorType, FieldError, duplicate, forbidden, invalid, required

JSON = dict[str, Any]
_LOCK = threading.Lock()


class RuleError(Exception):
    """A rule that does not compile, with the compiler's words."""


@lru_cache(maxsize=1)
def _environment() -> Any:
    import celpy  # the CEL runtime: only once a schema has rules

    return celpy.Environment()


def _functions() -> dict[str, Any]:
    from celpy import celtypes

    def lower_ascii(text: Any) -> Any:
        return celtypes.StringType(str(text).lower())

    def upper_ascii(text: Any) -> Any:
        return celtypes.StringType(str(text).upper())

    def trim(text: Any) -> Any:
        return celtypes.StringType(str(text).strip())

    def is_sorted(items: Any) -> Any:
        values = list(items)
        return celtypes.BoolType(values == sorted(values))

    def total(items: Any) -> Any:
        values = list(items)
        return sum(values[1:], values[0]) if values else celtypes.IntType(0)

    def smallest(items: Any) -> Any:
        return min(items)

    def largest(items: Any) -> Any:
        return max(items)

    return {"lowerAscii": lower_ascii, "upperAscii": upper_ascii, "trim": trim, "isSorted": is_sorted, "sum": total,
            "min": smallest, "max": largest}


@lru_cache(maxsize=4096)
def program(expression: str) -> Any:
    """The compiled program of `expression` (RuleError if it does not compile)."""
    from celpy.celparser import CELParseError

    with _LOCK:  # the parser is shared by every server of the process
        env = _environment()
        try:
            ast = env.compile(expression)
        except CELParseError as err:
            raise RuleError(f"compilation failed: ERROR: <input>: Syntax error: {str(err).strip()}") from None
        return env.program(ast, functions=_functions())


def check_rules(schema: JSON, path: str) -> ErrorList:
    """The rules of `schema` and everything under it that do not compile (CRD validation)."""
    errs = ErrorList()
    for index, rule in enumerate(schema.get("x-kubernetes-validations") or ()):
        where = f"{path}.x-kubernetes-validations[{index}]"
        if not rule.get("rule"):
            errs.append(required(where + ".rule", "rule is not specified"))
            continue
        try:
            program(rule["rule"])
        except RuleError as err:
            errs.append(invalid(where + ".rule", rule["rule"], str(err)))
    for name, child in (schema.get("properties") or {}).items():
        errs.extend(check_rules(child, f"{path}.properties[{name}]"))
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            errs.extend(check_rules(schema[key], f"{path}.{key}"))
    return errs


def has_rules(schema: JSON) -> bool:
    if schema.get("x-kubernetes-validations"):
        return True
    children = list((schema.get("properties") or {}).values())
    children += [schema[key] for key in ("items", "additionalProperties") if isinstance(schema.get(key), dict)]
    return any(has_rules(child) for child in children)


_ABSENT = object()


def validate(value: Any, old: Any, schema: JSON, path: str = "") -> ErrorList:
    """The failures of every rule under `schema` for `value` (`old`: the stored value, or _ABSENT on create)."""
    errs = ErrorList()
    _walk(value, old, schema, path, errs)
    return errs


def validate_object(obj: JSON, old: JSON | None, schema: JSON) -> ErrorList:
    """The rules of a custom resource's schema (the root's `self` is the object, metadata included)."""
    return validate(obj, _ABSENT if old is None else old, schema)


def _walk(value: Any, old: Any, schema: JSON, path: str, errs: ErrorList) -> None:
    if value is None:
        return
    for rule in schema.get("x-kubernetes-validations") or ():
        _evaluate(rule, value, old, schema, path, errs)
    if isinstance(value, dict):
        old_map = old if isinstance(old, dict) else {}
        properties = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for name, item in value.items():
            child = properties.get(name) or (additional if isinstance(additional, dict) else None)
            if child is not None:
                _walk(item, old_map.get(name, _ABSENT), child, f"{path}.{name}" if path else name, errs)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        keys = schema.get("x-kubernetes-list-map-keys") or ()
        olds: dict[tuple[Any, ...], Any] = {}
        if schema.get("x-kubernetes-list-type") == "map" and isinstance(old, list):
            olds = {tuple(item.get(k) for k in keys): item for item in old if isinstance(item, dict)}
        for index, item in enumerate(value):
            previous = olds.get(tuple(item.get(k) for k in keys), _ABSENT) if olds and isinstance(item, dict) \
                else _ABSENT
            _walk(item, previous, schema["items"], f"{path}[{index}]", errs)


def _evaluate(rule: JSON, value: Any, old: Any, schema: JSON, path: str, errs: ErrorList) -> None:
    from celpy.adapter import json_to_cel
    from celpy.evaluation import CELEvalError

    expression = rule.get("rule", "")
    transition = "oldSelf" in expression
    if transition and old is _ABSENT and not rule.get("optionalOldSelf"):
        return
    activation = {"self": json_to_cel(value)}
    if transition:
        activation["oldSelf"] = json_to_cel(None if old is _ABSENT else old)
    where = path + rule.get("fieldPath", "") if path or not rule.get("fieldPath") else \
        rule["fieldPath"].lstrip(".")
    shown = schema.get("type") or "object"
    try:
        result = program(expression).evaluate(activation)
    except (RuleError, CELEvalError) as err:
        errs.append(invalid(where, shown, f"rule evaluation error: {err}"))
        return
    if isinstance(result, CELEvalError):
        errs.append(invalid(where, shown, f"rule evaluation error: {result}"))
        return
    if bool(result):
        return
    message = rule.get("message") or f"failed rule: {expression}"
    if rule.get("messageExpression"):
        try:
            message = str(program(rule["messageExpression"]).evaluate(activation))
        except (RuleError, CELEvalError):
            pass
    errs.append(_error(rule.get("reason", ""), where, shown, message))


def _error(reason: str, where: str, shown: str, message: str) -> FieldError:
    if reason == ErrorType.FORBIDDEN.value:
        return forbidden(where, message)
    if reason == ErrorType.REQUIRED.value:
        return required(where, message)
    if reason == ErrorType.DUPLICATE.value:
        return duplicate(where, shown)
    return invalid(where, shown, message)
