"""Schemas shared by every kind: ObjectMeta, ObjectReference, Condition, the envelope of a resource and of a list,
and the meta types operations name (Status, DeleteOptions, Patch, WatchEvent), all upstream's."""

from __future__ import annotations

from apiserver.kinds.upstream import CORE, META, definition
from apiserver.schema import Array, Object, Schema, String, numbered

__all__ = ["CONDITION", "DELETE_OPTIONS", "LIST_META", "META", "OBJECT_META", "OBJECT_REFERENCE", "PATCH", "STATUS",
           "WATCH_EVENT", "conditions", "creation_timestamp", "list_of", "resource"]

OBJECT_META = definition(META + "ObjectMeta")
OBJECT_REFERENCE = definition(CORE + "ObjectReference")
CONDITION = definition(META + "Condition")


def conditions(item: Object, description: str, proto: int = 0) -> Array:
    """A status' conditions: a map list keyed by type (`+listType=map +listMapKey=type`)."""
    return Array(items=item, list_type="map", map_keys=("type",), merge_key="type", patch_strategy="merge",
                 description=description, proto=proto)


def resource(ref: str, description: str, required: tuple[str, ...] = (), always: tuple[str, ...] = (),
             **fields: Schema) -> Object:
    """The top-level schema of a kind: apiVersion, kind and metadata, then the kind's own fields.

    metadata and struct fields (spec, status) are always serialised, as are the fields named in `always`."""
    return Object(
        ref=ref,
        description=description,
        required=required,
        always=("metadata", *(name for name, node in fields.items() if isinstance(node, Object)), *always),
        properties={
            "apiVersion": String(
                description="APIVersion defines the versioned schema of this representation of an object."
            ),
            "kind": String(description="Kind is a string value representing the REST resource this object represents."),
            "metadata": numbered(OBJECT_META, 1),
            **fields,
        },
    )


def creation_timestamp(obj: dict[str, object]) -> str:
    meta = obj.get("metadata")
    return str(meta.get("creationTimestamp", "")) if isinstance(meta, dict) else ""


LIST_META = definition(META + "ListMeta")
STATUS = definition(META + "Status")
DELETE_OPTIONS = definition(META + "DeleteOptions")
PATCH = definition(META + "Patch")
WATCH_EVENT = definition(META + "WatchEvent")


def list_of(item: Object, ref: str) -> Object:
    """The schema of a list kind: ListMeta and the items (numbered as every generated `<Kind>List` numbers them)."""
    return Object(ref=ref, description=f"A list of {item.ref.rsplit('.', 1)[-1]} objects.", properties={
        "apiVersion": String(), "kind": String(), "metadata": numbered(LIST_META, 1),
        "items": Array(proto=2, items=item)})
