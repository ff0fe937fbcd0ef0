"""Label and field selectors: syntax, matching, canonical text and upstream's error messages."""

from __future__ import annotations

import pytest

from apiserver.selectors import FieldSelector, LabelSelector, Operator, Requirement, SelectorError

NAME_RULE = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
VALUE_RULE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
SUBDOMAIN_RULE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
META = ("metadata.name", "metadata.namespace")


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        ("   ", ""),
        ("a=b", "a=b"),
        ("a==b", "a==b"),
        ("a!=b", "a!=b"),
        ("a", "a"),
        ("!a", "!a"),
        ("a in (x,y)", "a in (x,y)"),
        ("a in (y,x,y)", "a in (x,y)"),
        ("a notin (x)", "a notin (x)"),
        ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
        ("a in (b,)", "a in (,b)"),
        ("a in (,b)", "a in (,b)"),
        ("a in ()", "a in ()"),
        ("a=", "a="),
        ("a=,b", "a=,b"),
        ("  a  =  b  ,  c  ", "a=b,c"),
        ("a\t==\nb", "a==b"),
        ("z=1,a=2,m", "a=2,m,z=1"),
        ("b=1,a=2,a!=3", "a=2,a!=3,b=1"),
        ("in=in", "in=in"),
        ("notin in (in,notin)", "notin in (in,notin)"),
        ("a>1", "a>1"),
        ("a<10", "a<10"),
        ("example.com/app=web", "example.com/app=web"),
        (
            "kubernetes.io/service-name=web,endpointslice.kubernetes.io/managed-by",
            "endpointslice.kubernetes.io/managed-by,kubernetes.io/service-name=web",
        ),
    ],
)
def test_parse_and_canonical_form(text: str, canonical: str) -> None:
    selector = LabelSelector.parse(text)
    assert str(selector) == canonical
    assert LabelSelector.parse(canonical) == selector


def test_parse_builds_sorted_requirements() -> None:
    selector = LabelSelector.parse("b notin (y,x),a")
    assert selector.requirements == (
        Requirement("a", Operator.EXISTS),
        Requirement("b", Operator.NOT_IN, ("x", "y")),
    )


def test_empty() -> None:
    assert LabelSelector.parse("").empty
    assert LabelSelector().empty
    assert not LabelSelector.parse("a").empty


LABELS = {"app": "web", "tier": "front", "n": "5", "empty": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app=db", False),
        ("app!=db", True),
        ("app!=web", False),
        ("missing!=x", True),
        ("app", True),
        ("missing", False),
        ("!missing", True),
        ("!app", False),
        ("app in (db,web)", True),
        ("app in (db)", False),
        ("missing in (x)", False),
        ("app notin (db)", True),
        ("app notin (web)", False),
        ("missing notin (x)", True),
        ("empty=", True),
        ("empty", True),
        ("missing=", False),
        ("empty in ()", True),
        ("app=web,tier=front", True),
        ("app=web,tier=back", False),
        ("n>4", True),
        ("n>5", False),
        ("n<6", True),
        ("n<5", False),
        ("app>1", False),
        ("missing>1", False),
    ],
)
def test_matches(text: str, expected: bool) -> None:
    assert LabelSelector.parse(text).matches(LABELS) is expected


def test_matches_none_labels() -> None:
    assert LabelSelector.parse("").matches(None)
    assert LabelSelector.parse("!a,b notin (x),c!=d").matches(None)
    assert not LabelSelector.parse("a").matches(None)


def test_gt_lt_use_go_integer_syntax() -> None:
    assert LabelSelector.parse("n>1").matches({"n": "+2"})
    assert not LabelSelector.parse("n>1").matches({"n": "1_000"})
    assert not LabelSelector.parse("n>1").matches({"n": " 2"})
    assert not LabelSelector.parse("n>1").matches({"n": "99999999999999999999"})


def test_from_match() -> None:
    selector = LabelSelector.from_match({"tier": "front", "app": "web"})
    assert str(selector) == "app=web,tier=front"
    assert selector.matches({"app": "web", "tier": "front", "x": "y"})
    assert not selector.matches({"app": "web"})
    assert not selector.matches(None)
    assert LabelSelector.from_match({}).empty
    assert LabelSelector.from_match({}).matches({"a": "b"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("a in b", "unable to parse requirement: found 'b' expected: '('"),
        ("a in", "unable to parse requirement: found '' expected: '('"),
        ("a in (", "unable to parse requirement: found '', expected: ',', ')' or identifier"),
        ("a in (=)", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
        ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("a in (x y)", "unable to parse requirement: found 'y', expected: ',' or ')'"),
        ("a in (b,=)", "unable to parse requirement: found '=', expected: ',', or identifier"),
        ("a=(b)", "unable to parse requirement: found '(', expected: identifier"),
        ("!", "unable to parse requirement: found '', expected: identifier"),
        ("! =a", "unable to parse requirement: found '=', expected: identifier"),
        ("!=a", "found '!=', expected: !, identifier, or 'end of string'"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("a,", "found '', expected: identifier after ','"),
        ("a,,b", "found ',', expected: identifier after ','"),
        ("=a", "found '=', expected: !, identifier, or 'end of string'"),
        (",a", "found ',', expected: !, identifier, or 'end of string'"),
        ("(a)", "found '(', expected: !, identifier, or 'end of string'"),
    ],
)
def test_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        LabelSelector.parse(text)
    assert str(caught.value) == message
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "app:monolith",
            f'unable to parse requirement: <nil>: Invalid value: "app:monolith": name part {NAME_RULE}',
        ),
        ("*bar", f'unable to parse requirement: <nil>: Invalid value: "*bar": name part {NAME_RULE}'),
        (
            "a/b/c=d",
            'unable to parse requirement: <nil>: Invalid value: "a/b/c": a valid label key '
            f"{NAME_RULE} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
        ),
        (
            "app.kubernetes_io/name=x",
            'unable to parse requirement: <nil>: Invalid value: "app.kubernetes_io/name": '
            f"prefix part {SUBDOMAIN_RULE}",
        ),
        ("/a", 'unable to parse requirement: <nil>: Invalid value: "/a": prefix part must be non-empty'),
        (
            "a/",
            'unable to parse requirement: <nil>: Invalid value: "a/": '
            f"name part must be non-empty; name part {NAME_RULE}",
        ),
        (
            "k" * 64,
            f'unable to parse requirement: <nil>: Invalid value: "{"k" * 64}": name part must be no more than 63 bytes',
        ),
        (
            "a=b.",
            f'unable to parse requirement: values[0][a]: Invalid value: "b.": {VALUE_RULE}',
        ),
        (
            "a=" + "v" * 64,
            f'unable to parse requirement: values[0][a]: Invalid value: "{"v" * 64}": must be no more than 63 bytes',
        ),
        (
            "a in (ok,-x,y-)",
            "unable to parse requirement: ["
            f'values[0][a]: Invalid value: "-x": {VALUE_RULE}, '
            f'values[2][a]: Invalid value: "y-": {VALUE_RULE}]',
        ),
        (
            "a>x",
            'unable to parse requirement: values[0]: Invalid value: "x": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        ("a>-1", f'unable to parse requirement: values[0][a]: Invalid value: "-1": {VALUE_RULE}'),
        ('a="b"', f'unable to parse requirement: values[0][a]: Invalid value: "\\"b\\"": {VALUE_RULE}'),
    ],
)
def test_validation_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        LabelSelector.parse(text)
    assert str(caught.value) == message


def test_limits_are_inclusive() -> None:
    key = "p" * 253 + "/" + "k" * 63
    assert str(LabelSelector.parse(f"{key}={'v' * 63}")) == f"{key}={'v' * 63}"


# --- field selectors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        (",", ""),
        ("metadata.name=web", "metadata.name=web"),
        ("metadata.name==web", "metadata.name=web"),
        ("metadata.name!=web", "metadata.name!=web"),
        ("metadata.name=", "metadata.name="),
        ("metadata.namespace=ns,metadata.name=web", "metadata.name=web,metadata.namespace=ns"),
        ("metadata.name=a\\,b\\=c\\\\d", "metadata.name=a\\,b\\=c\\\\d"),
    ],
)
def test_field_parse(text: str, canonical: str) -> None:
    selector = FieldSelector.parse(text, META)
    assert str(selector) == canonical
    assert FieldSelector.parse(canonical, META) == selector


def test_field_unescapes_values() -> None:
    selector = FieldSelector.parse("metadata.name=a\\,b\\=c\\\\d", META)
    assert selector.requires("metadata.name") == "a,b=c\\d"
    assert selector.matches({"metadata.name": "a,b=c\\d"})


@pytest.mark.parametrize(
    ("text", "fields", "expected"),
    [
        ("", {}, True),
        ("metadata.name=web", {"metadata.name": "web"}, True),
        ("metadata.name=web", {"metadata.name": "db"}, False),
        ("metadata.name!=web", {"metadata.name": "db"}, True),
        ("metadata.name!=web", {"metadata.name": "web"}, False),
        ("metadata.name=", {}, True),
        ("metadata.name!=", {}, False),
        ("metadata.name=web,metadata.namespace=ns", {"metadata.name": "web", "metadata.namespace": "ns"}, True),
        ("metadata.name=web,metadata.namespace=ns", {"metadata.name": "web", "metadata.namespace": "x"}, False),
    ],
)
def test_field_matches(text: str, fields: dict[str, str], expected: bool) -> None:
    assert FieldSelector.parse(text, META).matches(fields) is expected


def test_field_requires_and_empty() -> None:
    selector = FieldSelector.parse("metadata.namespace!=kube-system,metadata.name==web", META)
    assert selector.requires("metadata.name") == "web"
    assert selector.requires("metadata.namespace") is None
    assert FieldSelector.parse("metadata.name=", META).requires("metadata.name") == ""
    assert FieldSelector.parse("", META).empty
    assert not selector.empty


@pytest.mark.parametrize(
    ("text", "allowed", "message"),
    [
        ("spec.foo=1", META, '"spec.foo" is not a known field selector: only "metadata.name", "metadata.namespace"'),
        ("=x", META, '"" is not a known field selector: only "metadata.name", "metadata.namespace"'),
        (
            "metadata.name =x",
            META,
            '"metadata.name " is not a known field selector: only "metadata.name", "metadata.namespace"',
        ),
        (
            "spec.b=1,spec.a=1",
            META,
            '"spec.a" is not a known field selector: only "metadata.name", "metadata.namespace"',
        ),
        ("status=x", ("a", "b", "c"), '"status" is not a known field selector: only "a", "b", "c"'),
        ("metadata.name", META, "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("a=1,b", META, "invalid selector: 'a=1,b'; can't understand 'b'"),
        ("metadata.name=a=b", META, "invalid field selector: unescaped character in value: 61"),
        ("metadata.name=a\\x", META, "invalid field selector: invalid escape sequence: \\x"),
        ("metadata.name=a\\", META, "invalid field selector: invalid escape sequence: \\"),
        ("spec.x=1,metadata.name=a\\q", META, "invalid field selector: invalid escape sequence: \\q"),
    ],
)
def test_field_errors(text: str, allowed: tuple[str, ...], message: str) -> None:
    with pytest.raises(SelectorError) as caught:
        FieldSelector.parse(text, allowed)
    assert str(caught.value) == message
