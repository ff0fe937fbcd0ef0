"""resource.Quantity: the amount a quantity (`500m`, `1Gi`, `2`) stands for, and the canonical text Go writes for it.

Go parses a quantity when it decodes an object and writes it back in canonical form: `0.5` is stored as `500m`,
`1.5Gi` as `1536Mi`, `1000` as `1k`, `2e3` as `2e3`, precision below a nano (a milli in a ResourceList) rounded up.
"""

from __future__ import annotations

import re
from decimal import ROUND_UP, Decimal, InvalidOperation

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {exponent: suffix for suffix, exponent in _DECIMAL.items()}
# Go's parser reads a number without digits ("+", ".", even none before a suffix: "Ki") as 0
_QUANTITY = re.compile(r"([+-]?[0-9]*\.?[0-9]*)(|[numkMGTPE]|[KMGTPE]i|[eE][+-]?[0-9]+)")
# What Go's parser reads as a number and a suffix before it looks the suffix up (parseQuantityString)
_GO_SHAPE = re.compile(r"[+-]?[0-9]*\.?[0-9]*[eEinumkKMGTP]*[-+]?[0-9]*")
FORMAT_WRONG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
SUFFIX_WRONG = "unable to parse quantity's suffix"
_NANO = Decimal("1e-9")
MILLI = Decimal("1e-3")


def _parse(value: object) -> tuple[Decimal, str] | None:
    """The amount and the format (binary, decimal, exponent) of a quantity, or None for one that does not parse."""
    text = str(value).strip()
    found = _QUANTITY.fullmatch(text) if text else None  # ParseQuantity refuses only the empty string whole
    if found is None:
        return None
    try:
        digits = found.group(1)
        number, suffix = Decimal(digits if any(c.isdigit() for c in digits) else 0), found.group(2)
    except InvalidOperation:
        return None
    if suffix in _BINARY:
        return number * 1024 ** _BINARY[suffix], "binary"
    if suffix in _DECIMAL:  # `E` alone is exa
        return number.scaleb(_DECIMAL[suffix]), "decimal"
    return number.scaleb(int(suffix[1:])), "exponent"


def parse_error(text: str) -> str | None:
    """Go's error (ParseQuantity's) for text that is no quantity, or None when it is one."""
    if _parse(text) is not None:
        return None
    return SUFFIX_WRONG if text.strip() and _GO_SHAPE.fullmatch(text.strip()) else FORMAT_WRONG


def quantity(value: object) -> Decimal:
    """The amount a quantity stands for; 0 for one that does not parse."""
    parsed = _parse(value)
    return parsed[0] if parsed else Decimal(0)


_GO_PARTS = re.compile(r"[+-]?0*([0-9]*)(?:\.([0-9]*))?(.*)")


def _kept_as_written(text: str, lowest: int) -> bool:
    """ParseQuantity's fast path keeps the text as written when it deems it canonical: a whole number of
    thousandths, thousands… (no `000` ending it, no leading zero: `5.`, `+5`, `10m`, `2E3`), or a binary amount
    not a multiple of 8 (`1Ki`); rounding below `lowest` (the milli in a ResourceList) writes it anew."""
    num, denom, suffix = _GO_PARTS.fullmatch(text).groups()  # type: ignore[union-attr]
    num, denom = num or "0", denom or ""
    if suffix in _BINARY:
        exponent = 10 * _BINARY[suffix]
        whole = int(num)
        return (not denom and 15 - len(num) - int(exponent * 3 / 10) - 1 >= 0
                and whole << exponent < 2 ** 63 and whole & 7 != 0)
    exponent = int(suffix[1:]) if suffix[:1] in ("e", "E") and suffix[1:] else _DECIMAL.get(suffix, 0)
    scale, shifted = exponent - len(denom), num + denom
    return (18 - len(num) - len(denom) >= 0 and scale >= max(-9, lowest) and int(shifted) < 2 ** 63
            and scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0")


def canonical(value: object, precision: Decimal = _NANO) -> str | None:
    """The quantity as Go writes it (Quantity.CanonicalizeBytes), rounded up (away from zero) to `precision`, or
    None when it does not parse. A ResourceList's quantities are rounded to the milli (SetDefaults_ResourceList)."""
    parsed = _parse(value)
    if parsed is None:
        return None
    text = str(value).strip()
    if _kept_as_written(text, int(precision.as_tuple().exponent)):
        return text
    amount, form = parsed
    if amount.as_tuple().exponent < precision.as_tuple().exponent:  # type: ignore[operator]
        amount = amount.quantize(precision, rounding=ROUND_UP)
    if amount == 0:
        return "0"
    if form == "binary":
        if -1024 < amount < 1024 or amount != amount.to_integral_value():
            form = "decimal"
        else:
            whole, power = int(amount), 0
            while whole % 1024 == 0 and power < 6:
                whole, power = whole // 1024, power + 1
            return f"{whole}{next(s for s, p in _BINARY.items() if p == power) if power else ''}"
    sign, digits, exponent = amount.normalize().as_tuple()
    mantissa = int("".join(map(str, digits))) * (-1 if sign else 1)
    exponent = int(exponent)
    shift = exponent % 3  # lower the exponent to a multiple of 3, keeping the mantissa whole
    mantissa, exponent = mantissa * 10 ** shift, exponent - shift
    if form == "decimal" and exponent in _DECIMAL_SUFFIX:
        return f"{mantissa}{_DECIMAL_SUFFIX[exponent]}"
    return f"{mantissa}e{exponent}" if exponent else str(mantissa)
