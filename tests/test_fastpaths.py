"""The write path's fast paths give exactly what the exact code they stand in for gives.

`decoding.decode` against `check_types` + `prune_unknown` + `apply_defaults`, `ip.plain_family`
against the `ipaddress`-based checks, `managedfields.json_equal` against its exact walk.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from apiserver.decoding import apply_defaults, check_types, decode, prune_unknown
from apiserver.kinds.endpointslice import ENDPOINTSLICE
from apiserver.kinds.service import SERVICE
from apiserver.managedfields import _json_equal, json_equal
from apiserver.validation import ip
from loadtest.slices import endpoint_slice

# --- decode --------------------------------------------------------------------------------------

SLICE = endpoint_slice("s", 3)
BODIES = [
    SLICE,
    {**SLICE, "ports": [{"port": 80}, {"name": "b", "protocol": None, "port": 81, "appProtocol": "h2c"}]},
    {**SLICE, "ports": [{"port": 80, "bogus": 1}], "extra": {"x": 1}},
    {**SLICE, "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": "yes"}}]},
    {**SLICE, "endpoints": [{"addresses": [1]}], "bogus": True},
    {**SLICE, "ports": [{"port": 2**31}]},
    {**SLICE, "ports": [{"port": 80.0}]},
    {**SLICE, "ports": [{"port": True}]},
    {**SLICE, "ports": None, "endpoints": [None, {"addresses": None, "deprecatedTopology": {"a": None}}]},
    {**SLICE, "metadata": {"name": "s", "labels": {"a": 1}}},
    {**SLICE, "metadata": {"name": "s", "generation": -1, "managedFields": [{"fieldsV1": {"f:x": [1, True]}}]}},
    {**SLICE, "endpoints": {"not": "a list"}},
    {**SLICE, "endpoints": [{"hints": {"forZones": [{"name": "a", "weight": 1}]}, "unknown": [1]}]},
]
SERVICES = [
    {"kind": "Service", "spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 8081}]}},
    {"kind": "Service", "spec": {"ports": [{"port": 80, "targetPort": 2**40}]}},
    {"kind": "Service", "spec": {"ports": [{"port": 80, "targetPort": 1.5}], "bogus": 1}},
]


@pytest.mark.parametrize("body", [(ENDPOINTSLICE, b) for b in BODIES] + [(SERVICE, b) for b in SERVICES])
def test_decode_matches_the_three_exact_walkers(body: tuple[Any, dict[str, Any]]) -> None:
    kind, obj = body
    fast, exact = copy.deepcopy(obj), copy.deepcopy(obj)
    mismatch = check_types(exact, kind.schema, kind.kind)
    unknown = [] if mismatch else prune_unknown(exact, kind.schema)
    if not mismatch:
        apply_defaults(exact, kind.schema)
    assert decode(fast, kind.schema, kind.kind) == (mismatch, unknown)
    if not mismatch:
        assert json.dumps(fast) == json.dumps(exact)  # same content, same key order


# --- plain_family --------------------------------------------------------------------------------


def _addresses(count: int) -> list[str]:
    rng = random.Random(7)
    out = ["", "::", "::1", "0.0.0.0", "0.1.2.3", "127.0.0.1", "169.254.9.9", "224.0.0.5", "224.0.1.5", "01.2.3.4",
           "1.2.3.04", "256.1.1.1", "1.2.3", "١.2.3.4", " 1.2.3.4", "::ffff:1.2.3.4", "::ffff:102:304", "fe80::1",
           "febf::1", "fec0::1", "ff02::1", "ff12::2", "fd00::", "2001:DB8::1", "2001:0db8::1", "0:1::", "1::2::3",
           "1:::2", "a:b:c:d:e:f:0:0", "a:0:0:d::", "a::d:0:0:0", "a:0:0:0:d::", "1:2:3:4:5:6::8", "1::%eth0"]
    for _ in range(count):
        if rng.random() < 0.4:
            out.append(".".join(rng.choice(["0", "01", "1", "10", "127", "169", "254", "224", "255", "256",
                                            str(rng.randrange(256))]) for _ in range(4)))
            continue
        hextets = [rng.choice([0, 0, 0, 1, 0xFE80, 0xFF02, 0xFD00, 0x2001, 0xFFFF, rng.randrange(1 << 16)])
                   for _ in range(8)]
        address = ipaddress.IPv6Address(b"".join(h.to_bytes(2, "big") for h in hextets))
        out.append(rng.choice([address.compressed, address.exploded, address.compressed.upper(),
                               ":".join(f"{h:x}" for h in hextets), address.compressed.replace(":", "::", 1)]))
    return out


ADDRESSES = _addresses(3000)
CHECKS: list[Callable[[str], object]] = [
    lambda v: ip.validate_ip("f", v),
    lambda v: ip.validate_ip_family("f", v, 4),
    lambda v: ip.validate_ip_family("f", v, 6),
    lambda v: ip.validate_non_special_ip("f", v),
    lambda v: ip.validate_endpoint_ip("f", v, 4),
    lambda v: ip.validate_endpoint_ip("f", v, 6),
]


def test_ip_checks_give_the_same_answers_without_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = [[check(v) for check in CHECKS] for v in ADDRESSES]
    monkeypatch.setattr(ip, "plain_family", lambda value: 0)
    assert [[check(v) for check in CHECKS] for v in ADDRESSES] == fast


def test_plain_addresses_are_canonical_and_not_special() -> None:
    plain = [v for v in ADDRESSES if ip.plain_family(v)]
    assert len(plain) > len(ADDRESSES) // 10
    for value in plain:
        address = ipaddress.ip_address(value)
        assert address.version == ip.plain_family(value) and str(address) == value
        assert not (address.is_unspecified or address.is_loopback or address.is_link_local)
        assert not (address.version == 6 and (address.ipv4_mapped or address.is_multicast))
        assert not value.startswith("224.0.0.")


def test_common_addresses_are_plain() -> None:
    for value in ("10.244.1.5", "192.168.0.1", "8.8.8.8", "fd00:10:244::5", "2001:db8::1", "2001:db8:0:1::",
                  "2001:db8::1:0:0:1", "1:2:3:4:5:6:7:8", "1:0:2:3:4:5:6:7"):
        assert ip.plain_family(value) == (6 if ":" in value else 4), value
    assert ip.plain_family(None) == 0


# --- json_equal ----------------------------------------------------------------------------------

NAN = float("nan")
PAIRS = [
    ([1, {"a": True}], [1, {"a": 1}]),
    ([1, {"a": 1}], [1.0, {"a": 1}]),
    ({"a": 1, "b": 2}, {"b": 2, "a": 1}),
    ([NAN], [NAN]),
    ({"a": [NAN]}, {"a": [None]}),
    ([None, "x"], [None, "x"]),
    ([2**70], [2**70]),
    ([False], [0]),
    ([[]], [{}]),
    ({"a": {"b": [1, 2]}}, {"a": {"b": [1, 2]}}),
]


@pytest.mark.parametrize("pair", PAIRS)
def test_json_equal_matches_the_exact_walk(pair: tuple[Any, Any]) -> None:
    assert json_equal(*pair) == _json_equal(*pair)
