"""Table columns every kind prints, and the formatting helpers the per-kind columns share."""

from __future__ import annotations

import time
from calendar import timegm
from collections.abc import Sequence
from typing import Any

from apiserver.kinds.base import Column, Obj
from apiserver.names import human_duration

NAME = Column(
    name="Name",
    format="name",
    description=("Name must be unique within a namespace. Is required when creating resources, although some "
                 "resources may allow a client to request the generation of an appropriate name automatically. Name "
                 "is primarily intended for creation idempotence and configuration definition. Cannot be updated. "
                 "More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"),
    cell=lambda obj: obj["metadata"].get("name", ""),
)


def since(stamp: str) -> str:
    """The time since an RFC 3339 timestamp, as kubectl shows it (`5m`, `3d`); ValueError if it is not one."""
    then = timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))
    return human_duration(max(0.0, time.time() - then))


def age(obj: Obj) -> str:
    """The AGE cell: time since creationTimestamp."""
    stamp = obj["metadata"].get("creationTimestamp")
    return since(stamp) if stamp else "<unknown>"


AGE = Column(
    name="Age",
    description=("CreationTimestamp is a timestamp representing the server time when this object was created. It is "
                 "not guaranteed to be set in happens-before order across separate operations. Clients may not set "
                 "this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. "
                 "Read-only. Null for lists. More info: "
                 "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"),
    cell=age,
)


def first_three(values: Sequence[Any], empty: str) -> str:
    """`a,b,c + N more...`, or `empty` when there is nothing: the upstream printers' list format."""
    if not values:
        return empty
    shown = ",".join(str(v) for v in values[:3])
    return shown if len(values) <= 3 else f"{shown} + {len(values) - 3} more..."
