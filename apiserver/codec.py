"""How objects are stored: compact JSON without resourceVersion, which storage supplies on read."""

from __future__ import annotations

from typing import Any

import orjson

from storage import KeyValue

Obj = dict[str, Any]


def encode(obj: Obj) -> bytes:
    """The stored form: the object minus metadata.resourceVersion and selfLink (storage owns the version)."""
    meta = obj["metadata"]
    if "resourceVersion" in meta or "selfLink" in meta:
        meta = {k: v for k, v in meta.items() if k not in ("resourceVersion", "selfLink")}
        obj = {**obj, "metadata": meta}
    return orjson.dumps(obj)


def decode(kv: KeyValue) -> Obj:
    """The object for a stored kv, its resourceVersion set to the kv's mod_revision."""
    obj: Obj = orjson.loads(kv.value)
    obj["metadata"]["resourceVersion"] = str(kv.mod_revision)
    return obj
