"""IP address checks as upstream's validators make them.

1.32 (StrictIPCIDRValidation off) parses with `netutils.ParseIPSloppy` alone (Go 1.16 net.ParseIP:
IPv4 octets may have leading zeros): what it reads is valid, in any form. `parse_sloppy` reproduces
it on top of `ipaddress`.

That is slow, and almost every address is a canonical one outside the special ranges, about which
no check has anything to say: `plain_family` recognises those from the text alone, and each check
returns at once for them.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from apiserver.validation.field import FieldError, invalid

MSG_INVALID_IP = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
MSG_LOOPBACK = "may not be in the loopback range (127.0.0.0/8, ::1/128)"
MSG_LINK_LOCAL = "may not be in the link-local range (169.254.0.0/16, fe80::/10)"
MSG_LINK_LOCAL_MULTICAST = "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"

_IPV4_SLOPPY = re.compile(r"([0-9]+)\.([0-9]+)\.([0-9]+)\.([0-9]+)")

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
# A dotted quad without leading zeros (as net.IP.String() prints it) outside the ranges that
# validate_non_special_ip looks at more closely: 0.0.0.0, 127.0.0.0/8, 169.254.0.0/16, 224.0.0.0/24.
_PLAIN_IPV4 = re.compile(rf"(?!0\.|127\.|169\.254\.|224\.0\.0\.)(?:{_OCTET}\.){{3}}{_OCTET}")
_HEXTET = "(?:0|[1-9a-f][0-9a-f]{0,3})"
# Colon-separated lowercase hextets without leading zeros (one side of an IPv6 address's "::").
_HEXTETS = re.compile(rf"{_HEXTET}(?::{_HEXTET})*")


def plain_family(value: object) -> int:
    """4 or 6 when `value` is an address none of this module's checks reports, else 0 (run them).

    Plain: in canonical form (a dotted quad without leading zeros, or RFC 5952 IPv6 as
    `ipaddress` compresses it) and outside the special ranges. The IPv6 ones start with a hextet
    other than 0 and outside fe00::/8 and ff00::/8, which also rules out IPv4-mapped addresses.
    """
    if type(value) is not str:
        return 0
    if ":" not in value:
        return 4 if _PLAIN_IPV4.fullmatch(value) else 0
    return 6 if _plain_ipv6(value) else 0


def _plain_ipv6(value: str) -> bool:
    head, compressed, tail = value.partition("::")
    if not _HEXTETS.fullmatch(head) or (tail and not _HEXTETS.fullmatch(tail)):
        return False
    left = head.split(":")
    if left[0] == "0" or (len(left[0]) == 4 and left[0][0:2] in ("fe", "ff")):
        return False
    if not compressed:
        return len(left) == 8 and _zero_run(left) < 2
    right = tail.split(":") if tail else []
    # "::" stands for `run` zero hextets. RFC 5952 compresses a run of at least 2, the whole run, the
    # longest one, and the first of equally long ones.
    run = 8 - len(left) - len(right)
    return (run >= 2 and left[-1] != "0" and (not right or right[0] != "0")
            and _zero_run(left) < run and _zero_run(right) <= run)


def _zero_run(hextets: list[str]) -> int:
    """The length of the longest run of "0" hextets."""
    longest = current = 0
    for hextet in hextets:
        current = current + 1 if hextet == "0" else 0
        longest = max(longest, current)
    return longest


@dataclass(frozen=True)
class ParsedIP:
    """An address accepted by the sloppy parser."""

    text: str
    address: ipaddress.IPv4Address | ipaddress.IPv6Address

    @property
    def ipv4(self) -> ipaddress.IPv4Address | None:
        """The IPv4 address, also for IPv4-mapped IPv6 (Go's ip.To4())."""
        if isinstance(self.address, ipaddress.IPv4Address):
            return self.address
        return self.address.ipv4_mapped


def _sloppy_ipv4(text: str) -> ipaddress.IPv4Address | None:
    match = _IPV4_SLOPPY.fullmatch(text)
    if not match:
        return None
    octets = match.groups()
    if any(int(o) > 255 for o in octets):
        return None
    return ipaddress.IPv4Address(".".join(str(int(o)) for o in octets))


def parse_sloppy(text: str) -> ParsedIP | None:
    """ParseIPSloppy: None when the string is not an IP address in any form Go 1.16 accepted."""
    if ":" not in text:
        v4 = _sloppy_ipv4(text)
        return ParsedIP(text, v4) if v4 else None
    if "%" in text or not text.isascii():
        return None
    head, _, tail = text.rpartition(":")
    text_for_parse = text
    if "." in tail:
        v4 = _sloppy_ipv4(tail)
        if v4 is None:
            return None
        text_for_parse = f"{head}:{v4}"
    try:
        return ParsedIP(text, ipaddress.IPv6Address(text_for_parse))
    except ValueError:
        return None


def validate_ip(path: str, value: str) -> list[FieldError]:
    """IsValidIP as 1.32 has it (StrictIPCIDRValidation off): whatever the sloppy parser reads is valid."""
    if plain_family(value) or parse_sloppy(value) is not None:
        return []
    return [invalid(path, value, MSG_INVALID_IP)]


def validate_ip_family(path: str, value: str, family: int) -> list[FieldError]:
    """IsValidIPv4Address / IsValidIPv6Address of 1.32: sloppy parsing, an IPv4-mapped address counts as IPv4."""
    if plain_family(value) == family:
        return []
    ip = parse_sloppy(value)
    if ip is None or (ip.ipv4 is not None) != (family == 4):
        return [invalid(path, value, f"must be a valid IPv{family} address")]
    return []


def validate_non_special_ip(path: str, value: str) -> list[FieldError]:
    """ValidateEndpointIP: no unspecified, loopback, link-local or link-local multicast addresses.

    Like upstream it re-parses, so an unparsable value gets a second, shorter error here.
    """
    if plain_family(value):
        return []
    ip = parse_sloppy(value)
    if ip is None:
        return [invalid(path, value, "must be a valid IP address")]
    errs = []
    v4 = ip.ipv4
    packed = ip.address.packed
    if ip.address.is_unspecified or (v4 is not None and v4.is_unspecified):
        errs.append(invalid(path, value, f"may not be unspecified ({value})"))
    if (v4.is_loopback if v4 is not None else ip.address.is_loopback):
        errs.append(invalid(path, value, MSG_LOOPBACK))
    if v4 is not None:
        link_local = v4.packed[:2] == b"\xa9\xfe"
        link_local_multicast = v4.packed[:3] == b"\xe0\x00\x00"
    else:
        link_local = packed[0] == 0xFE and packed[1] & 0xC0 == 0x80
        link_local_multicast = packed[0] == 0xFF and packed[1] & 0x0F == 0x02
    if link_local:
        errs.append(invalid(path, value, MSG_LINK_LOCAL))
    if link_local_multicast:
        errs.append(invalid(path, value, MSG_LINK_LOCAL_MULTICAST))
    return errs


def validate_endpoint_ip(path: str, value: str, family: int) -> list[FieldError]:
    """An EndpointSlice IPv4/IPv6 address in 1.32: the family, then the non-special checks (which re-parse)."""
    return validate_ip_family(path, value, family) + validate_non_special_ip(path, value)
