"""The meta types every kind shares: ObjectMeta, and those operations name (ListMeta, Status, DeleteOptions, Patch,
WatchEvent), all upstream's; and the envelope of a list, as the protobuf codec writes lists of any kind."""

from __future__ import annotations

from apiserver.kinds.upstream import META, definition
from apiserver.schema import Array, Object, String, numbered

__all__ = ["DELETE_OPTIONS", "LIST_META", "META", "OBJECT_META", "PATCH", "STATUS", "WATCH_EVENT", "list_of"]

OBJECT_META = definition(META + "ObjectMeta")
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
