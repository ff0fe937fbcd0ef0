"""generateName expansion and the AGE column's human durations."""

from __future__ import annotations

import re

import pytest

from apiserver.names import MAX_GENERATED_NAME_LENGTH, generate_name, human_duration, short_human_duration

SUFFIX = re.compile(r"[bcdfghjklmnpqrstvwxz2456789]{5}")


def test_generate_name_appends_five_random_characters() -> None:
    name = generate_name("web-")
    assert name.startswith("web-")
    assert SUFFIX.fullmatch(name[4:])


def test_generate_name_truncates_long_prefix() -> None:
    prefix = "p" * 70
    name = generate_name(prefix)
    assert MAX_GENERATED_NAME_LENGTH == 58
    assert len(name) == 63
    assert name[:58] == prefix[:58]
    assert SUFFIX.fullmatch(name[58:])


def test_generate_name_empty_prefix_and_variety() -> None:
    assert SUFFIX.fullmatch(generate_name(""))
    assert len({generate_name("x-") for _ in range(50)}) > 40


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (-3, "<invalid>"),
        (-2, "<invalid>"),
        (-1.9, "0s"),
        (-1, "0s"),
        (0, "0s"),
        (0.9, "0s"),
        (1, "1s"),
        (59, "59s"),
        (60, "60s"),
        (119.99, "119s"),
        (120, "2m"),
        (185, "3m5s"),
        (599, "9m59s"),
        (600, "10m"),
        (659, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 4 * 60 + 59, "3h4m"),
        (8 * 3600 - 60, "7h59m"),
        (8 * 3600, "8h"),
        (47 * 3600 + 3599, "47h"),
        (48 * 3600, "2d"),
        (51 * 3600, "2d3h"),
        (8 * 86400 - 1, "7d23h"),
        (8 * 86400, "8d"),
        (730 * 86400 - 1, "729d"),
        (730 * 86400, "2y"),
        (731 * 86400, "2y1d"),
        (8 * 365 * 86400 - 1, "7y364d"),
        (8 * 365 * 86400, "8y"),
        (20 * 365 * 86400 + 86400, "20y"),
    ],
)
def test_human_duration(seconds: float, expected: str) -> None:
    assert human_duration(seconds) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (-2, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (59.9, "59s"),
        (60, "1m"),
        (3599, "59m"),
        (3600, "1h"),
        (86399, "23h"),
        (86400, "1d"),
        (364 * 86400, "364d"),
        (365 * 86400, "1y"),
        (3 * 365 * 86400 + 100 * 86400, "3y"),
    ],
)
def test_short_human_duration(seconds: float, expected: str) -> None:
    assert short_human_duration(seconds) == expected
