"""Label and field selectors: parse once, match many.

Both parsers follow kubernetes/apimachinery (`pkg/labels/selector.go`, `pkg/fields/selector.go`)
closely enough that a bad selector fails with the same message the real server returns, and that
`str()` gives the same canonical text. Everything here is pure: no I/O, no clocks.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from apiserver.validation.field import go_quote
from apiserver.validation.names import is_label_value, is_qualified_name

__all__ = ["FieldSelector", "LabelSelector", "Operator", "Requirement", "SelectorError"]


class SelectorError(ValueError):
    """A selector that does not parse or names an unknown field; the message is upstream's text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"SelectorError({self.message!r})"


def _invalid(path: str, value: str, detail: str) -> str:
    """Text of a `field.Invalid` error; a nil path prints as `<nil>` upstream."""
    return f"{path}: Invalid value: {go_quote(value)}: {detail}"


def _aggregate(messages: list[str]) -> str:
    """Text of `utilerrors.NewAggregate`: one message alone, several deduplicated inside brackets."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


# --- label selectors ----------------------------------------------------------------------------


class Operator(enum.Enum):
    """Requirement operators, valued as `k8s.io/apimachinery/pkg/selection`."""

    EXISTS = "exists"
    DOES_NOT_EXIST = "!"
    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    GREATER_THAN = "gt"
    LESS_THAN = "lt"


_BINARY_OPERATORS = ", ".join(
    op.value
    for op in (
        Operator.IN,
        Operator.NOT_IN,
        Operator.EQUALS,
        Operator.DOUBLE_EQUALS,
        Operator.NOT_EQUALS,
        Operator.GREATER_THAN,
        Operator.LESS_THAN,
    )
)
_INT64_RE = re.compile(r"[+-]?[0-9]+")


def _parse_int64(text: str) -> int | None:
    """`strconv.ParseInt(text, 10, 64)`, or None where Go would fail."""
    if not _INT64_RE.fullmatch(text):
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


@dataclass(frozen=True, slots=True)
class Requirement:
    """One `key op values` term; `values` is sorted and deduplicated, as the parser builds it."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        present = self.key in labels
        if op is Operator.EXISTS:
            return present
        if op is Operator.DOES_NOT_EXIST:
            return not present
        if op in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return present and labels[self.key] in self.values
        if op in (Operator.NOT_IN, Operator.NOT_EQUALS):
            return not present or labels[self.key] not in self.values
        if not present:
            return False
        have, want = _parse_int64(labels[self.key]), _parse_int64(self.values[0])
        if have is None or want is None:
            return False
        return have > want if op is Operator.GREATER_THAN else have < want

    def __str__(self) -> str:
        op = self.operator
        if op is Operator.EXISTS:
            return self.key
        if op is Operator.DOES_NOT_EXIST:
            return "!" + self.key
        values = ",".join(self.values)
        if op in (Operator.IN, Operator.NOT_IN):
            return f"{self.key} {op.value} ({values})"
        symbol = {Operator.GREATER_THAN: ">", Operator.LESS_THAN: "<"}.get(op, op.value)
        return f"{self.key}{symbol}{values}"


def _new_requirement(key: str, op: Operator, values: Sequence[str]) -> Requirement:
    """Validate values like upstream `NewRequirement` (the parser has already checked the key)."""
    errors: list[str] = []
    if op in (Operator.GREATER_THAN, Operator.LESS_THAN):
        errors += [
            _invalid(f"values[{i}]", value, "for 'Gt', 'Lt' operators, the value must be an integer")
            for i, value in enumerate(values)
            if _parse_int64(value) is None
        ]
    for i, value in enumerate(values):
        if found := is_label_value(value):
            errors.append(_invalid(f"values[{i}][{key}]", value, "; ".join(found)))
    if errors:
        raise SelectorError(_aggregate(errors))
    return Requirement(key, op, tuple(values))


class _Tok(enum.Enum):
    END = enum.auto()
    CLOSE = enum.auto()
    COMMA = enum.auto()
    NOT = enum.auto()
    DOUBLE_EQUALS = enum.auto()
    EQUALS = enum.auto()
    GREATER = enum.auto()
    IDENT = enum.auto()
    IN = enum.auto()
    LESS = enum.auto()
    NOT_EQUALS = enum.auto()
    NOT_IN = enum.auto()
    OPEN = enum.auto()


_KEYWORDS = {
    ")": _Tok.CLOSE,
    ",": _Tok.COMMA,
    "!": _Tok.NOT,
    "==": _Tok.DOUBLE_EQUALS,
    "=": _Tok.EQUALS,
    ">": _Tok.GREATER,
    "in": _Tok.IN,
    "<": _Tok.LESS,
    "!=": _Tok.NOT_EQUALS,
    "notin": _Tok.NOT_IN,
    "(": _Tok.OPEN,
}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")
_OPERATOR_TOKENS = {
    _Tok.IN: Operator.IN,
    _Tok.EQUALS: Operator.EQUALS,
    _Tok.DOUBLE_EQUALS: Operator.DOUBLE_EQUALS,
    _Tok.GREATER: Operator.GREATER_THAN,
    _Tok.LESS: Operator.LESS_THAN,
    _Tok.NOT_IN: Operator.NOT_IN,
    _Tok.NOT_EQUALS: Operator.NOT_EQUALS,
}


def _lex(text: str) -> list[tuple[_Tok, str]]:
    """Tokenize like upstream's Lexer, including its quirk that a NUL ends the current token."""
    items: list[tuple[_Tok, str]] = []
    pos, size = 0, len(text)
    while True:
        while pos < size and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= size or text[pos] == "\0":
            items.append((_Tok.END, ""))
            return items
        start = pos
        if text[pos] in _SPECIAL:
            # Longest run of special characters that is still a known operator ("==" but not "=(").
            end = pos + 1
            while end < size and text[end] in _SPECIAL and text[start : end + 1] in _KEYWORDS:
                end += 1
            literal, pos = text[start:end], end
            if pos < size and text[pos] == "\0":
                pos += 1
            items.append((_KEYWORDS[literal], literal))
            continue
        while pos < size and text[pos] != "\0" and text[pos] not in _SPECIAL and text[pos] not in _WHITESPACE:
            pos += 1
        literal = text[start:pos]
        if pos < size and text[pos] == "\0":
            pos += 1
        items.append((_KEYWORDS.get(literal, _Tok.IDENT), literal))


class _Parser:
    """Recursive descent over the token list, with upstream's wording for every error."""

    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.position = 0

    def peek(self, values: bool = True) -> tuple[_Tok, str]:
        return self._as(self.items[self.position], values)

    def take(self, values: bool = True) -> tuple[_Tok, str]:
        self.position += 1
        return self._as(self.items[self.position - 1], values)

    @staticmethod
    def _as(item: tuple[_Tok, str], values: bool) -> tuple[_Tok, str]:
        """In a value position the keywords `in` and `notin` are ordinary identifiers."""
        if values and item[0] in (_Tok.IN, _Tok.NOT_IN):
            return _Tok.IDENT, item[1]
        return item

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            tok, lit = self.peek()
            if tok is _Tok.END:
                return requirements
            if tok not in (_Tok.IDENT, _Tok.NOT):
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self.requirement())
            except SelectorError as err:
                raise SelectorError(f"unable to parse requirement: {err.message}") from None
            tok, lit = self.take()
            if tok is _Tok.END:
                return requirements
            if tok is not _Tok.COMMA:
                raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            tok, lit = self.peek()
            if tok not in (_Tok.IDENT, _Tok.NOT):
                raise SelectorError(f"found '{lit}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        tok, key = self.take()
        negated = tok is _Tok.NOT
        if negated:
            tok, key = self.take()
        if tok is not _Tok.IDENT:
            raise SelectorError(f"found '{key}', expected: identifier")
        if found := is_qualified_name(key):
            raise SelectorError(_invalid("<nil>", key, "; ".join(found)))
        if negated:
            return _new_requirement(key, Operator.DOES_NOT_EXIST, [])
        if self.peek()[0] in (_Tok.END, _Tok.COMMA):
            return _new_requirement(key, Operator.EXISTS, [])
        tok, lit = self.take(values=False)
        op = _OPERATOR_TOKENS.get(tok)
        if op is None:
            raise SelectorError(f"found '{lit}', expected: {_BINARY_OPERATORS}")
        values = self.value_set() if op in (Operator.IN, Operator.NOT_IN) else self.exact_value()
        return _new_requirement(key, op, sorted(values))

    def value_set(self) -> set[str]:
        tok, lit = self.take()
        if tok is not _Tok.OPEN:
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.peek()
        if tok is _Tok.CLOSE:
            self.take()
            return {""}
        if tok not in (_Tok.IDENT, _Tok.COMMA):
            raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")
        values = self.identifiers()
        self.take()  # the ")" that identifiers() stopped at
        return values

    def identifiers(self) -> set[str]:
        """A comma-separated list in which empty entries mean the empty value: `(a,,b)`, `(,a)`."""
        values: set[str] = set()
        while True:
            tok, lit = self.take()
            if tok is _Tok.IDENT:
                values.add(lit)
                tok, lit = self.peek()
                if tok is _Tok.CLOSE:
                    return values
                if tok is not _Tok.COMMA:
                    raise SelectorError(f"found '{lit}', expected: ',' or ')'")
            elif tok is _Tok.COMMA:
                if not values:
                    values.add("")
                tok, _ = self.peek()
                if tok is _Tok.CLOSE:
                    values.add("")
                    return values
                if tok is _Tok.COMMA:
                    self.take()
                    values.add("")
            else:
                raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        if self.peek()[0] in (_Tok.END, _Tok.COMMA):
            return {""}
        tok, lit = self.take()
        if tok is not _Tok.IDENT:
            raise SelectorError(f"found '{lit}', expected: identifier")
        return {lit}


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """An AND of label requirements, sorted by key. The empty selector matches everything."""

    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def parse(cls, text: str) -> LabelSelector:
        """Parse the `labelSelector` query syntax; raises SelectorError with upstream's message."""
        requirements = _Parser(text).parse()
        return cls(tuple(sorted(requirements, key=lambda r: r.key)))

    @classmethod
    def from_match(cls, match_labels: Mapping[str, str]) -> LabelSelector:
        """Exact-match selector for a label set (`SelectorFromSet`); like upstream, not validated."""
        return cls(tuple(Requirement(k, Operator.EQUALS, (v,)) for k, v in sorted(match_labels.items())))

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        present = labels if labels is not None else {}
        return all(r.matches(present) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


# --- field selectors ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldTerm:
    """`field=value` (or `!=` when `negated`); `value` is unescaped."""

    field: str
    value: str
    negated: bool = False

    def matches(self, fields: Mapping[str, str]) -> bool:
        return (fields.get(self.field, "") == self.value) != self.negated

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")
        return f"{self.field}{'!=' if self.negated else '='}{escaped}"


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not backslash-escaped; escapes stay in the pieces."""
    terms: list[str] = []
    start, escaped = 0, False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    """Split at the first operator; `!=` and `==` win over `=` at the same position."""
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


def _unescape(value: str) -> str:
    out: list[str] = []
    escaped = False
    for ch in value:
        if escaped:
            if ch not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",=":
            # Go prints the rune with %v, i.e. as its number.
            raise SelectorError(f"invalid field selector: unescaped character in value: {ord(ch)}")
        else:
            out.append(ch)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class FieldSelector:
    """An AND of `field=value` / `field!=value` terms over a fixed set of allowed fields."""

    terms: tuple[FieldTerm, ...] = ()

    @classmethod
    def parse(cls, text: str, allowed: Sequence[str], converted: bool = False) -> FieldSelector:
        """Parse the `fieldSelector` query syntax and check each field against `allowed`.

        Terms are ordered by their raw text as upstream does, so the first error reported is the
        same; unknown fields are reported only once the whole selector has parsed. `converted`: the
        kind has a field label conversion function, whose refusal reads `field label not supported: X`.
        """
        terms: list[FieldTerm] = []
        for part in sorted(_split_terms(text)):
            if not part:
                continue
            split = _split_term(part)
            if split is None:
                raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
            name, op, raw = split
            terms.append(FieldTerm(name, _unescape(raw), negated=op == "!="))
        for term in terms:
            if term.field not in allowed and converted:
                raise SelectorError(f"field label not supported: {term.field}")
            if term.field not in allowed:
                only = ", ".join(go_quote(name) for name in allowed)
                raise SelectorError(f"{go_quote(term.field)} is not a known field selector: only {only}")
        return cls(tuple(terms))

    @property
    def empty(self) -> bool:
        return not self.terms

    def matches(self, fields: Mapping[str, str]) -> bool:
        """A field missing from `fields` counts as the empty string, as upstream's `Fields.Get`."""
        return all(term.matches(fields) for term in self.terms)

    def requires(self, name: str) -> str | None:
        """The value an `=` term pins `name` to (the first such term), else None."""
        for term in self.terms:
            if term.field == name and not term.negated:
                return term.value
        return None

    def __str__(self) -> str:
        return ",".join(str(term) for term in self.terms)
