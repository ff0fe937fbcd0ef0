"""The list continue token: exact bytes, upstream's validation messages, and key arithmetic."""

from __future__ import annotations

import base64
import json

import pytest

from apiserver.continuetoken import ContinueError, continue_start, decode_continue, encode_continue, resume_key

# Reference §5.2: rv 12345, all namespaces, last key default/web-abcde.
REFERENCE_TOKEN = "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTIzNDUsInN0YXJ0IjoiZGVmYXVsdC93ZWItYWJjZGVcdTAwMDAifQ"
ALL = "/registry/endpointslices/"
DEFAULT = "/registry/endpointslices/default/"


def token_of(payload: str) -> str:
    return base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode()


def test_reference_example() -> None:
    start = continue_start("/registry/endpointslices/default/web-abcde", ALL)
    assert start == "default/web-abcde\0"
    assert encode_continue(12345, start) == REFERENCE_TOKEN
    assert decode_continue(REFERENCE_TOKEN) == (12345, "default/web-abcde\0")


def test_payload_is_compact_go_json() -> None:
    token = encode_continue(7, "web-1\0")
    assert "=" not in token
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    assert raw == '{"v":"meta.k8s.io/v1","rv":7,"start":"web-1\\u0000"}'


def test_go_html_escaping() -> None:
    raw = base64.urlsafe_b64decode(encode_continue(1, "<&>\u2028") + "==").decode()
    assert raw == '{"v":"meta.k8s.io/v1","rv":1,"start":"\\u003c\\u0026\\u003e\\u2028"}'
    assert decode_continue(encode_continue(1, "<&>\u2028")) == (1, "<&>\u2028")


def test_round_trip_namespaced() -> None:
    start = continue_start(DEFAULT + "web-1", DEFAULT)
    assert start == "web-1\0"
    rv, decoded = decode_continue(encode_continue(99, start))
    assert (rv, decoded) == (99, "web-1\0")
    assert resume_key(DEFAULT, decoded) == DEFAULT + "web-1\0"
    # The resume key sorts after the last key returned and before any longer name.
    assert DEFAULT + "web-1" < resume_key(DEFAULT, decoded) < DEFAULT + "web-10"


def test_latest_token_rv_minus_one() -> None:
    assert decode_continue(encode_continue(-1, "web-1\0")) == (-1, "web-1\0")


def test_start_with_leading_slash_is_accepted() -> None:
    assert decode_continue(token_of('{"v":"meta.k8s.io/v1","rv":3,"start":"/web"}')) == (3, "web")


def test_go_json_field_matching() -> None:
    payload = '{"V":"meta.k8s.io/v1","Rv":5,"START":"a","extra":[1],"start":null,"rv":6}'
    assert decode_continue(token_of(payload)) == (6, "a")


def test_continue_start_requires_prefix() -> None:
    with pytest.raises(ValueError, match="^unable to encode next field: the key and key prefix do not match /other/ "):
        continue_start(DEFAULT + "web-1", "/other/")


def valid(**fields: object) -> str:
    doc: dict[str, object] = {"v": "meta.k8s.io/v1", "rv": 5, "start": "web-1\0"}
    doc.update(fields)
    return token_of(json.dumps(doc))


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        (valid(rv=0), "incorrect encoded start resourceVersion (version meta.k8s.io/v1)"),
        (
            token_of('{"v":"meta.k8s.io/v1","start":"a"}'),
            "incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        ),
        (valid(start=""), "encoded start key empty (version meta.k8s.io/v1)"),
        (valid(v="meta.k8s.io/v2"), "server does not recognize this encoded version meta.k8s.io/v2"),
        (token_of("{}"), "server does not recognize this encoded version "),
        (token_of("null"), "server does not recognize this encoded version "),
        (valid(start="../kube-system/x"), "../kube-system/x"),
        (valid(start="a/../../b"), "a/../../b"),
        (valid(start="a//b"), "a//b"),
        (valid(start="./a"), "./a"),
        (valid(start="a/"), "a/"),
        (valid(start="//a"), "//a"),
        ("abc=", "illegal base64 data at input byte 3"),
        ("eyJ2Ijo+", "illegal base64 data at input byte 7"),
        ("a", "illegal base64 data at input byte 0"),
        ("abcde", "illegal base64 data at input byte 4"),
        ("", "unexpected end of JSON input"),
        (token_of('{"v":"meta.k8s.io/v1"'), "unexpected end of JSON input"),
        (token_of('{"v":"meta'), "unexpected end of JSON input"),
        (token_of("hello"), "invalid character 'h' looking for beginning of value"),
        (token_of('{"v":1} x'), "invalid character 'x' after top-level value"),
        (token_of("{v:1}"), "invalid character 'v' looking for beginning of object key string"),
        (token_of('{"v" 1}'), "invalid character '1' after object key"),
        (token_of('{"v":"a" "rv":1}'), "invalid character '\"' after object key:value pair"),
        (token_of('{"v":"\x01"}'), "invalid character '\\x01' in string literal"),
        ("nq", "invalid character '\\u009e' looking for beginning of value"),  # a byte, quoted as Go's rune
        (token_of("tru"), "invalid character ' ' in literal true (expecting 'e')"),
        (token_of("[1]"), "json: cannot unmarshal array into Go value of type storage.continueToken"),
        (token_of('"x"'), "json: cannot unmarshal string into Go value of type storage.continueToken"),
        (valid(rv="5"), "json: cannot unmarshal string into Go struct field continueToken.rv of type int64"),
        (valid(rv=1.5), "json: cannot unmarshal number 1.5 into Go struct field continueToken.rv of type int64"),
        (valid(rv=2**63), f"json: cannot unmarshal number {2**63} into Go struct field continueToken.rv of type int64"),
        (valid(v=1), "json: cannot unmarshal number into Go struct field continueToken.v of type string"),
        (valid(start=True), "json: cannot unmarshal bool into Go struct field continueToken.start of type string"),
        (valid(start={}), "json: cannot unmarshal object into Go struct field continueToken.start of type string"),
    ],
)
def test_invalid_tokens(token: str, detail: str) -> None:
    with pytest.raises(ContinueError) as caught:
        decode_continue(token)
    assert caught.value.message == f"continue key is not valid: {detail}"
    assert str(caught.value) == caught.value.message


def test_token_nested_past_the_limit_is_refused_not_recursed() -> None:
    """A token decoding to JSON 3,000 levels deep: 400 'continue key is not valid', as upstream, never a
    RecursionError (upstream decodes it and refuses the array; this server refuses the depth first)."""
    token = base64.urlsafe_b64encode(b"[" * 3000 + b"]" * 3000).rstrip(b"=").decode()
    with pytest.raises(ContinueError, match="^continue key is not valid: invalid character '\\[' exceeded max depth$"):
        decode_continue(token)
