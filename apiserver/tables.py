"""Server-side printing: `meta.k8s.io/v1` Table and PartialObjectMetadata forms of objects.

Columns come from the kind's definition; rows are computed at response time (Age moves on).
"""

from __future__ import annotations

from typing import Any

from apiserver.kinds.base import Kind, Obj

META_V1 = "meta.k8s.io/v1"


def partial_metadata(obj: Obj) -> Obj:
    return {"kind": "PartialObjectMetadata", "apiVersion": META_V1, "metadata": obj["metadata"]}


def partial_metadata_list(items: list[Obj], list_meta: Obj) -> Obj:
    return {"kind": "PartialObjectMetadataList", "apiVersion": META_V1, "metadata": list_meta,
            "items": [partial_metadata(o) for o in items]}


def column_definitions(kind: Kind) -> list[Obj]:
    return [
        {"name": c.name, "type": c.type, "format": c.format, "description": c.description, "priority": c.priority}
        for c in kind.columns
    ]


def row(kind: Kind, obj: Obj, include_object: str) -> Obj:
    cells: list[Any] = [column.cell(obj) for column in kind.columns]
    result: Obj = {"cells": cells}
    if include_object == "Object":
        result["object"] = obj
    elif include_object != "None":
        result["object"] = partial_metadata(obj)
    return result


def table(kind: Kind, items: list[Obj], list_meta: Obj, include_object: str, headers: bool = True) -> Obj:
    """A Table of `items`; without headers (later watch events) columnDefinitions is null, as upstream."""
    return {
        "kind": "Table",
        "apiVersion": META_V1,
        "metadata": list_meta,
        "columnDefinitions": column_definitions(kind) if headers else None,
        "rows": [row(kind, obj, include_object) for obj in items],
    }
