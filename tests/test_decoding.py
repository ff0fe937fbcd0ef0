"""Unit tests for the write-path schema walkers: unknown fields, type errors, defaults."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from apiserver.decoding import MAX_STRICT_ERRORS, apply_defaults, check_types, decode, go_json_kind, prune_unknown
from apiserver.gojson import syntax_error
from apiserver.kinds.pod import SCHEMA as POD_SCHEMA
from apiserver.kinds.quantity import canonical
from apiserver.schema import Array, Boolean, Free, Integer, IntOrString, Map, Object, String, Time
from apiserver.serializer import may_repeat_keys, strict_errors

META = "io.k8s.apimachinery.pkg.apis.meta.v1."
OBJECT_META = Object(
    ref=META + "ObjectMeta",
    properties={
        "name": String(),
        "generation": Integer(format="int64"),
        "creationTimestamp": Time(),
        "labels": Map(values=String()),
        "managedFields": Array(items=Object(ref=META + "ManagedFieldsEntry", properties={"fieldsV1": Free()})),
    },
)
ENDPOINT_PORT = Object(
    ref="io.k8s.api.discovery.v1.EndpointPort",
    properties={
        "name": String(default=""),
        "protocol": String(default="TCP"),
        "port": Integer(),
        "appProtocol": String(),
    },
)
ENDPOINT = Object(
    ref="io.k8s.api.discovery.v1.Endpoint",
    properties={
        "addresses": Array(items=String()),
        "conditions": Object(
            ref="io.k8s.api.discovery.v1.EndpointConditions",
            properties={"ready": Boolean(), "serving": Boolean(default=True)},
        ),
        "deprecatedTopology": Map(values=String()),
        "targetPort": IntOrString(),
    },
)
SLICE = Object(
    ref="io.k8s.api.discovery.v1.EndpointSlice",
    properties={
        "apiVersion": String(),
        "kind": String(),
        "metadata": OBJECT_META,
        "addressType": String(),
        "endpoints": Array(items=ENDPOINT),
        "ports": Array(items=ENDPOINT_PORT),
        "byZone": Map(values=Object(properties={"count": Integer(default=0), "extra": String()})),
    },
)


def slice_(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "s"}, **fields}


# --- prune_unknown --------------------------------------------------------------------------------


def test_prune_unknown_reports_upstream_paths_in_document_order() -> None:
    obj = slice_(
        spec={"foo": 1},
        endpoints=[
            {"addresses": ["10.0.0.1"]},
            {"addresses": [], "bogus": True, "conditions": {"ready": True, "x": 1}},
        ],
        ports=[{"port": 80, "nme": "http"}],
        byZone={"zone-a": {"count": 1, "typo": 2}},
    )
    obj["metadata"]["labelz"] = {"a": "b"}
    assert prune_unknown(obj, SLICE) == [
        'unknown field "metadata.labelz"',
        'unknown field "spec"',
        'unknown field "endpoints[1].bogus"',
        'unknown field "endpoints[1].conditions.x"',
        'unknown field "ports[0].nme"',
        'unknown field "byZone.zone-a.typo"',
    ]
    assert obj == slice_(
        endpoints=[{"addresses": ["10.0.0.1"]}, {"addresses": [], "conditions": {"ready": True}}],
        ports=[{"port": 80}],
        byZone={"zone-a": {"count": 1}},
    )


def test_prune_unknown_keeps_free_values_and_known_fields() -> None:
    obj = slice_(metadata={"name": "s", "managedFields": [{"fieldsV1": {"f:metadata": {"f:anything": {}}}}]})
    before = copy.deepcopy(obj)
    assert prune_unknown(obj, SLICE) == []
    assert obj == before


def test_prune_unknown_leaves_wrongly_typed_values_to_check_types() -> None:
    obj = slice_(endpoints="nope", ports=[None, 3])
    assert prune_unknown(obj, SLICE) == []
    assert obj["endpoints"] == "nope"


def test_prune_unknown_caps_the_report_like_upstream() -> None:
    obj = slice_(**{f"x{i}": i for i in range(MAX_STRICT_ERRORS + 5)})
    assert len(prune_unknown(obj, SLICE)) == MAX_STRICT_ERRORS
    assert obj == slice_()


def test_strict_message_is_built_from_the_report() -> None:
    report = prune_unknown(slice_(foo=1, bar=2), SLICE)
    message = "strict decoding error: " + ", ".join(report)
    assert message == 'strict decoding error: unknown field "foo", unknown field "bar"'


# --- check_types ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"ports": [{"port": 80}, {"port": "80"}]},
            "json: cannot unmarshal string into Go struct field EndpointPort.ports.port of type int32",
        ),
        (
            {"addressType": 4},
            "json: cannot unmarshal number into Go struct field EndpointSlice.addressType of type string",
        ),
        (
            {"endpoints": {"addresses": []}},
            "json: cannot unmarshal object into Go struct field EndpointSlice.endpoints of type []v1.Endpoint",
        ),
        (
            {"endpoints": [{"addresses": "10.0.0.1"}]},
            "json: cannot unmarshal string into Go struct field Endpoint.endpoints.addresses of type []string",
        ),
        (
            {"endpoints": [{"conditions": {"ready": "yes"}}]},
            "json: cannot unmarshal string into Go struct field EndpointConditions.endpoints.conditions.ready "
            "of type bool",
        ),
        (
            {"endpoints": [{"conditions": []}]},
            "json: cannot unmarshal array into Go struct field Endpoint.endpoints.conditions "
            "of type v1.EndpointConditions",
        ),
        (
            {"endpoints": [{"deprecatedTopology": {"zone": 1}}]},
            "json: cannot unmarshal number into Go struct field Endpoint.endpoints.deprecatedTopology of type string",
        ),
        (
            {"endpoints": [{"targetPort": True}]},
            "json: cannot unmarshal bool into Go struct field Endpoint.endpoints.targetPort of type int32",
        ),
        (
            {"ports": [{"port": 1.5}]},
            "json: cannot unmarshal number 1.5 into Go struct field EndpointPort.ports.port of type int32",
        ),
        (
            {"ports": [{"port": 2**31}]},
            "json: cannot unmarshal number 2147483648 into Go struct field EndpointPort.ports.port of type int32",
        ),
        (
            {"metadata": {"labels": ["a"]}},
            "json: cannot unmarshal array into Go struct field ObjectMeta.metadata.labels of type map[string]string",
        ),
        (
            {"metadata": {"creationTimestamp": 0}},
            "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.creationTimestamp of type string",
        ),
        (
            {"byZone": {"a": {"count": "1"}}},
            "json: cannot unmarshal string into Go struct field EndpointSlice.byZone.count of type int32",
        ),
    ],
)
def test_check_types_reports_the_go_decoder_message(fields: dict[str, Any], message: str) -> None:
    assert check_types(slice_(**fields), SLICE, "EndpointSlice") == message


def test_check_types_reports_the_first_mismatch_only() -> None:
    obj = slice_(addressType=1, ports=[{"port": "x"}])
    assert check_types(obj, SLICE, "EndpointSlice") == (
        "json: cannot unmarshal number into Go struct field EndpointSlice.addressType of type string"
    )


def test_check_types_accepts_valid_bodies_nulls_and_unknown_fields() -> None:
    obj = slice_(
        addressType=None,
        endpoints=[
            {"addresses": ["10.0.0.1"], "conditions": None, "targetPort": "http", "deprecatedTopology": {"z": "a"}},
            None,
        ],
        ports=[{"port": 80, "name": None}, {"port": 2**31 - 1, "protocol": "UDP"}],
        unknown={"anything": [1, "x"]},
        metadata={"name": "s", "generation": 2**40, "managedFields": [{"fieldsV1": {"f:x": 1}}]},
    )
    assert check_types(obj, SLICE, "EndpointSlice") is None


@pytest.mark.parametrize(
    ("value", "kind"),
    [({}, "object"), ([], "array"), ("", "string"), (True, "bool"), (None, "null"), (1, "number"), (1.5, "number")],
)
def test_go_json_kind(value: Any, kind: str) -> None:
    assert go_json_kind(value) == kind


# --- apply_defaults -------------------------------------------------------------------------------


def test_apply_defaults_fills_absent_and_null_fields_of_present_objects() -> None:
    obj = slice_(
        ports=[{"port": 80}, {"name": "https", "port": 443, "protocol": "UDP"}, {"protocol": None}],
        endpoints=[{"addresses": ["10.0.0.1"], "conditions": {"ready": True}}, {"addresses": ["10.0.0.2"]}],
        byZone={"a": {}},
    )
    apply_defaults(obj, SLICE)
    assert obj["ports"] == [
        {"port": 80, "name": "", "protocol": "TCP"},
        {"name": "https", "port": 443, "protocol": "UDP"},
        {"protocol": "TCP", "name": ""},
    ]
    assert obj["endpoints"] == [
        {"addresses": ["10.0.0.1"], "conditions": {"ready": True, "serving": True}},
        {"addresses": ["10.0.0.2"]},
    ]
    assert obj["byZone"] == {"a": {"count": 0}}
    empty = slice_()
    apply_defaults(empty, SLICE)
    assert empty == slice_()  # absent objects are not created


def test_object_defaults_and_defaulters_on_both_paths() -> None:
    """`{}` for an absent struct with a default, then the node's defaulter after its fields' defaults; the one-pass
    `decode` and the exact walkers (taken for a body with an unknown field) agree."""
    seen: list[dict[str, Any]] = []

    def tag(container: dict[str, Any]) -> None:
        seen.append(dict(container))
        container.setdefault("policy", "Always" if container["image"].endswith(":latest") else "IfNotPresent")

    container = Object(defaulter=tag, properties={
        "image": String(), "policy": String(),
        "resources": Object(default={}, properties={"limits": Map(values=Free()), "x": String(default="y")}),
    })
    schema = Object(properties={"containers": Array(items=container), "security": Object(default={}, properties={})})
    expected = {"containers": [{"image": "a:latest", "resources": {"x": "y"}, "policy": "Always"},
                               {"image": "b:1", "resources": {"limits": {"cpu": 1}, "x": "y"}, "policy": "Never"}],
                "security": {}}
    for extra in ({}, {"unknown": 1}):
        body = {"containers": [{"image": "a:latest"}, {"image": "b:1", "resources": {"limits": {"cpu": 1}},
                                                       "policy": "Never"}], **extra}
        seen.clear()
        assert decode(body, schema, "Pod") == (None, ['unknown field "unknown"'] if extra else [])
        assert body == expected
        assert seen[0] == {"image": "a:latest", "resources": {"x": "y"}}  # the defaulter runs last


@pytest.mark.parametrize(("data", "message"), [
    (b"", "unexpected end of JSON input"),
    (b'{"a": ', "unexpected end of JSON input"),
    (b"tru", "invalid character ' ' in literal true (expecting 'e')"),
    (b"1.", "invalid character ' ' after decimal point in numeric literal"),
    (b'{"a" 1}', "invalid character '1' after object key"),
    (b'{"a":1 "b":2}', "invalid character '\"' after object key:value pair"),
    (b"[1 2]", "invalid character '2' after array element"),
    (b"{1:2}", "invalid character '1' looking for beginning of object key string"),
    (b"{} x", "invalid character 'x' after top-level value"),
    (b"\x9e", "invalid character '\\u009e' looking for beginning of value"),
    (b'"\\x"', "invalid character 'x' in string escape code"),
    (b'{"a": [1, {"b": null}]}', None),
])
def test_syntax_error_has_go_wording(data: bytes, message: str | None) -> None:
    """encoding/json's scanner texts (checked against Go 1.26 for these and 3000 random inputs)."""
    assert syntax_error(data) == message


@pytest.mark.parametrize(("body", "suspect"), [
    (b'{"a":1,"b":{"c":2}}', False),                  # compact: its own re-encoding
    (b'{"a": 1, "b": {"c": 2}}', False),              # spaced after the colon: the counts agree
    (b'{"a":1,"a":2}', True),
    (b'{"a": {"c": 1, "c": 2}}', True),
    (b'{"a" :1,"a":2}', True),                        # a key spaced from its colon: never trusted
    (b'{"s":"x\\":y","s2":1}', False),                # a `":` inside a string counts on both sides
])
def test_may_repeat_keys_never_misses_a_duplicate(body: bytes, suspect: bool) -> None:
    assert may_repeat_keys(body, orjson.loads(body)) is suspect


def test_strict_errors_in_document_order() -> None:
    body = b'{"metadata":{"labels":{"a":"1","a":"2"}},"nope":1,"addressType":"IPv4","addressType":"IPv6"}'
    assert strict_errors(body, SLICE) == ['duplicate field "metadata.labels.a"', 'unknown field "nope"',
                                          'duplicate field "addressType"']


def test_too_deep_names_the_first_bracket_past_the_limit() -> None:
    from apiserver.decoding import MAX_DEPTH, too_deep

    def lists(depth: int) -> Any:
        value: Any = 1
        for _ in range(depth):
            value = [value]
        return value

    def objects(depth: int) -> Any:
        value: Any = 1
        for _ in range(depth):
            value = {"a": value}
        return value

    assert too_deep({"b": lists(MAX_DEPTH - 1)}) is None
    assert too_deep({"b": lists(MAX_DEPTH)}) == "["
    assert too_deep({"a": objects(MAX_DEPTH), "b": lists(MAX_DEPTH)}) == "{"  # in document order
    assert too_deep({"b": lists(MAX_DEPTH), "a": objects(MAX_DEPTH)}) == "["
    assert too_deep(lists(5000)) == "[" and too_deep("x") is None


def test_go_scanner_refuses_nesting_past_the_limit() -> None:
    assert syntax_error(b"[" * 101 + b"]" * 101) == "invalid character '[' exceeded max depth"
    assert syntax_error(b"[" * 100 + b"]" * 100) is None
    assert syntax_error(b'{"a":' * 5000) == "invalid character '{' exceeded max depth"
    assert syntax_error(b"[" * 150, max_depth=200) == "unexpected end of JSON input"


def test_yaml_shape_refused_before_composing() -> None:
    """Nesting and alias amplification are refused from libyaml's events, before the recursive composer runs
    (200,000 levels of flow sequence crash it)."""
    from apiserver.serializer import DecodeError, check_yaml_shape, parse_yaml

    with pytest.raises(DecodeError, match=r"^yaml: line 1: exceeded max depth of 100$"):
        parse_yaml(b"a: " + b"[" * 200_000 + b"]" * 200_000)
    laughs = b"a: &a [x, x, x, x, x, x, x, x, x, x]\n" + b"".join(
        b"%s: &%s [%s]\n" % (name, name, b", ".join([b"*" + prev] * 10))
        for prev, name in zip([b"a", b"b", b"c", b"d", b"e"], [b"b", b"c", b"d", b"e", b"f"]))
    with pytest.raises(DecodeError, match=r"^yaml: document contains excessive aliasing$"):
        check_yaml_shape(laughs)
    check_yaml_shape(b"\n".join(laughs.split(b"\n")[:2]))  # 2 levels: under go-yaml's floor of 1,000 nodes
    big = b"a: &a " + b"x" * 1_000_000 + b"\nb: [*a, *a]\n"
    check_yaml_shape(big)  # 3 MB expanded: under the 3 MiB cap
    with pytest.raises(DecodeError, match=r"^yaml: document contains excessive aliasing$"):
        check_yaml_shape(big.replace(b"[*a, *a]", b"[*a, *a, *a]"))
    with pytest.raises(DecodeError, match=r"^yaml: anchor 'a' value contains itself$"):
        parse_yaml(b"a: &a\n  b: *a\n")
    assert parse_yaml(b"port: " + b"9" * 5000) == {"port": "9" * 5000}  # no int, no finite float: a string


def test_huge_json_integers_keep_their_text() -> None:
    from apiserver.serializer import parse_json

    port = parse_json(b'{"port":' + b"9" * 5000 + b"}")["port"]
    assert isinstance(port, float) and str(port) == "9" * 5000
    obj = {"spec": {"ports": [{"port": port}]}}
    schema = Object(properties={"spec": Object(properties={
        "ports": Array(items=Object(ref="io.k8s.api.core.v1.ServicePort", properties={"port": Integer()}))})})
    assert check_types(obj, schema, "Service") == (
        "json: cannot unmarshal number " + "9" * 5000 + " into Go struct field ServicePort.spec.ports.port of type int32")


FORMAT_WRONG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


def _pod(limits: Any, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {**spec, "containers": [{"name": "c", "image": "nginx", "resources": {"limits": limits}}]}}


@pytest.mark.parametrize(("value", "error"), [
    ("abc", FORMAT_WRONG), ("1Gb", FORMAT_WRONG), ("", FORMAT_WRONG), (True, FORMAT_WRONG),
    ({"a": 1}, FORMAT_WRONG), ("1iK", "unable to parse quantity's suffix"), ("500m", None), (2, None), (1.5, None),
    ("+", None), (".", None), ("Ki", None)])  # Go reads a number without digits as 0
def test_quantities_go_cannot_parse_are_refused(value: Any, error: str | None) -> None:
    """Quantity.UnmarshalJSON parses a string's text or the JSON of any other value (kube-apiserver's messages)."""
    assert decode(_pod({"cpu": value}), POD_SCHEMA, "Pod")[0] == error


def test_a_bad_quantity_wins_over_an_earlier_type_error() -> None:
    """Go notes a type error and decodes on; a quantity's error ends the decoding and is the one returned."""
    assert check_types(_pod({"cpu": "1.2.3"}, activeDeadlineSeconds="x"), POD_SCHEMA, "Pod") == FORMAT_WRONG
    assert check_types(_pod({"cpu": "1"}, activeDeadlineSeconds="x"), POD_SCHEMA, "Pod") == (
        "json: cannot unmarshal string into Go struct field PodSpec.spec.activeDeadlineSeconds of type int64")


@pytest.mark.parametrize(("text", "written"), [
    ("5.", "5."), ("+5", "+5"), ("05", "05"), ("1.0", "1"), ("2E3", "2E3"), ("1E", "1E"), ("1Ki", "1Ki"),
    ("1000m", "1"), ("0.5", "500m"), ("1.5e3", "1500"), ("+", "0"), ("Ki", "0"), ("2000", "2k")])
def test_quantities_are_written_back_as_go_writes_them(text: str, written: str) -> None:
    """ParseQuantity keeps the text it deems canonical and Go writes the rest anew (kube-apiserver's answers)."""
    assert canonical(text) == written
