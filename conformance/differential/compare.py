"""Structural comparison of two normalised answers, as readable lines: `path: ours … | theirs …`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MISSING = object()
SHOWN = 160
FIELD_KEY = re.compile(r"\d+(\[\d+\])?")  # a protobuf field tree's keys (conformance.differential.protobuf)


@dataclass
class Record:
    """One compared request of a scenario run on one server, normalised."""

    step: int
    label: str
    status: int
    headers: dict[str, Any]
    body: Any


def show(value: Any) -> str:
    if value is MISSING:
        return "(absent)"
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= SHOWN else text[:SHOWN] + "…"


def differences(ours: Any, theirs: Any, path: str = "") -> list[str]:
    """Where two JSON values differ, deepest first-level paths, in document order."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        lines = []
        for key in [*ours, *(k for k in theirs if k not in ours)]:
            lines += differences(ours.get(key, MISSING), theirs.get(key, MISSING), f"{path}.{key}")
        if not lines and list(ours) != list(theirs) and all(FIELD_KEY.fullmatch(k) for k in ours):
            lines.append(f"{path or '.'}: field order ours {list(ours)} | theirs {list(theirs)}")
        return lines
    if isinstance(ours, list) and isinstance(theirs, list):
        lines = []
        for index in range(max(len(ours), len(theirs))):
            a = ours[index] if index < len(ours) else MISSING
            b = theirs[index] if index < len(theirs) else MISSING
            lines += differences(a, b, f"{path}[{index}]")
        return lines
    if ours == theirs and type(ours) is type(theirs):
        return []
    if isinstance(ours, str) and isinstance(theirs, str) and max(len(ours), len(theirs)) > SHOWN:
        start = max(0, next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), len(ours)) - 40)
        return [f"{path or '.'}: from character {start}: ours {show(ours[start:])} | theirs {show(theirs[start:])}"]
    return [f"{path or '.'}: ours {show(ours)} | theirs {show(theirs)}"]


def compare(ours: Record, theirs: Record, parts: tuple[str, ...]) -> list[str]:
    """The differing lines of two records over the compared `parts` (status, headers, body)."""
    lines = []
    if "status" in parts and ours.status != theirs.status:
        lines.append(f"status: ours {ours.status} | theirs {theirs.status}")
    if "headers" in parts:
        lines += differences(ours.headers, theirs.headers, "headers")
    if "body" in parts:
        lines += differences(ours.body, theirs.body, "body")
    return lines
