"""Generated object names and the human-readable durations of the AGE column.

`generate_name` follows k8s.io/apiserver/pkg/storage/names (with the alphabet of
k8s.io/apimachinery/pkg/util/rand); the durations follow k8s.io/apimachinery/pkg/util/duration,
working in whole nanoseconds and truncating as Go's integer division does.
"""

from __future__ import annotations

import random

__all__ = ["MAX_GENERATED_NAME_LENGTH", "generate_name", "human_duration", "short_human_duration"]

_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # no vowels (no words) and no easily confused 0/1/3
_RANDOM_LENGTH = 5
MAX_GENERATED_NAME_LENGTH = 63 - _RANDOM_LENGTH  # 58: room for the suffix in a 63-byte name

_SECOND = 1_000_000_000
_MINUTE = 60 * _SECOND
_HOUR = 60 * _MINUTE


def generate_name(prefix: str) -> str:
    """`metadata.generateName` expansion: the prefix cut to 58 bytes plus 5 random characters.

    The result is not checked for collisions; the registry retries create with a new name.
    """
    cut = prefix.encode("utf-8")[:MAX_GENERATED_NAME_LENGTH].decode("utf-8", "ignore")
    return cut + "".join(random.choices(_ALPHABET, k=_RANDOM_LENGTH))


def _nanoseconds(seconds: float) -> int:
    return round(seconds * _SECOND)


def _whole_seconds(seconds: float) -> int | None:
    """Whole seconds, or None when the clock skew is too large to hide (< -1 s, shown `<invalid>`)."""
    whole = int(seconds)  # truncates toward zero, like Go's int(d.Seconds())
    if whole < -1:
        return None
    return max(whole, 0)


def short_human_duration(seconds: float) -> str:
    """One unit, truncated: `59s`, `5m`, `23h`, `364d`, `2y` (Go's `duration.ShortHumanDuration`)."""
    whole = _whole_seconds(seconds)
    if whole is None:
        return "<invalid>"
    if whole < 60:
        return f"{whole}s"
    d = _nanoseconds(seconds)
    if (minutes := d // _MINUTE) < 60:
        return f"{minutes}m"
    if (hours := d // _HOUR) < 24:
        return f"{hours}h"
    if hours < 24 * 365:
        return f"{hours // 24}d"
    return f"{hours // 24 // 365}y"


def human_duration(seconds: float) -> str:
    """Two or three significant figures, as the AGE column shows (Go's `duration.HumanDuration`).

    `0s`..`119s`, then `2m`/`3m5s` below 10 minutes, `45m` below 3 hours, `3h4m` below 8 hours,
    `20h` below 2 days, `2d3h` below 8 days, `300d` below 2 years, `3y45d` below 8 years, else `9y`.
    A negative age within one second of zero (clock skew) is `0s`; beyond that `<invalid>`.
    """
    whole = _whole_seconds(seconds)
    if whole is None:
        return "<invalid>"
    if whole < 120:
        return f"{whole}s"
    d = _nanoseconds(seconds)
    minutes = d // _MINUTE
    if minutes < 10:
        rest = d // _SECOND % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = d // _HOUR
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years = days // 365
    if hours < 24 * 365 * 8:
        rest = days % 365
        return f"{years}y{rest}d" if rest else f"{years}y"
    return f"{years}y"
