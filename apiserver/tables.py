"""Server-side printing: `meta.k8s.io` Table and PartialObjectMetadata forms of objects (v1, or v1beta1 if asked).

Columns come from the kind's definition; rows are computed at response time (Age moves on).
"""

from __future__ import annotations

from typing import Any

from apiserver import errors
from apiserver.kinds.base import Kind, Obj

META_V1 = "meta.k8s.io/v1"
INCLUDE_OBJECT = ("Metadata", "Object", "None")


def partial_metadata(obj: Obj, api_version: str = META_V1, kind: Kind | None = None) -> Obj:
    """The object's metadata alone, less the annotations of `kind` its internal type keeps elsewhere."""
    meta = obj["metadata"]
    hidden = kind.internal_annotations if kind is not None else ()
    annotations = meta.get("annotations")
    if hidden and annotations and any(name in annotations for name in hidden):
        kept = {k: v for k, v in annotations.items() if k not in hidden}
        meta = {k: v for k, v in meta.items() if k != "annotations"} | ({"annotations": kept} if kept else {})
    return {"kind": "PartialObjectMetadata", "apiVersion": api_version, "metadata": meta}


def partial_metadata_list(items: list[Obj], list_meta: Obj, api_version: str = META_V1,
                          kind: Kind | None = None) -> Obj:
    return {"kind": "PartialObjectMetadataList", "apiVersion": api_version, "metadata": list_meta,
            "items": [partial_metadata(o, api_version, kind) for o in items]}


def check_include_object(include_object: str) -> None:
    """400 for an includeObject other than Metadata, Object or None (empty means Metadata)."""
    if include_object not in INCLUDE_OBJECT:
        raise errors.bad_request(f'Unable to convert to Table as requested: includeObject: Invalid value: '
                                 f'"{include_object}": must be \'Metadata\', \'Object\', \'None\', or empty')


def column_definitions(kind: Kind) -> list[Obj]:
    return [
        {"name": c.name, "type": c.type, "format": c.format, "description": c.description, "priority": c.priority}
        for c in kind.columns
    ]


def row(kind: Kind, obj: Obj, include_object: str, api_version: str = META_V1) -> Obj:
    """One row: its cells and the object in full, as metadata (the default) or null (includeObject=None)."""
    cells: list[Any] = [column.cell(obj) for column in kind.columns]
    if include_object == "Object":
        return {"cells": cells, "object": obj}
    if include_object == "None":
        return {"cells": cells, "object": None}
    return {"cells": cells, "object": partial_metadata(obj, api_version, kind)}


def table(kind: Kind, items: list[Obj], list_meta: Obj, include_object: str, headers: bool = True,
          api_version: str = META_V1) -> Obj:
    """A Table of `items`; without headers (later watch events) columnDefinitions is null, as upstream."""
    return {
        "kind": "Table",
        "apiVersion": api_version,
        "metadata": list_meta,
        "columnDefinitions": column_definitions(kind) if headers else None,
        "rows": [row(kind, obj, include_object, api_version) for obj in items],
    }
