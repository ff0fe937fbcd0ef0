"""The meta types every kind shares: ObjectMeta, and those operations name (ListMeta, Status, DeleteOptions, Patch,
WatchEvent), all upstream's; and the envelope of a list, as the protobuf codec writes lists of any kind."""

from __future__ import annotations

from apiserver.kinds.upstream import META, definition
from apiserver.schema import Array, Object, String, numbered

__all__ = ["DELETE_OPTIONS", "LIST_META", "META", "OBJECT_META", "PARTIAL_OBJECT_METADATA", "PARTIAL_OBJECT_METADATA_LISTS",
           "PATCH", "STATUS", "WATCH_EVENT", "list_of"]

OBJECT_META = definition(META + "ObjectMeta")
LIST_META = definition(META + "ListMeta")
STATUS = definition(META + "Status")
DELETE_OPTIONS = definition(META + "DeleteOptions")
PATCH = definition(META + "Patch")
WATCH_EVENT = definition(META + "WatchEvent")


def list_of(item: Object, ref: str, metadata: int = 1, items: int = 2) -> Object:
    """The schema of a list kind: ListMeta and the items, numbered as every generated `<Kind>List` numbers them
    unless `metadata` and `items` say otherwise."""
    return Object(ref=ref, description=f"A list of {item.ref.rsplit('.', 1)[-1]} objects.", properties={
        "apiVersion": String(), "kind": String(), "metadata": numbered(LIST_META, metadata),
        "items": Array(proto=items, items=item)})


PARTIAL_OBJECT_METADATA = Object(ref=META + "PartialObjectMetadata", properties={
    "apiVersion": String(), "kind": String(), "metadata": numbered(OBJECT_META, 1)})
# The metadata-only list of each meta.k8s.io version: v1beta1's message numbers its items 1 and its ListMeta 2.
PARTIAL_OBJECT_METADATA_LISTS = {
    "meta.k8s.io/v1": list_of(PARTIAL_OBJECT_METADATA, META + "PartialObjectMetadataList"),
    "meta.k8s.io/v1beta1": list_of(PARTIAL_OBJECT_METADATA, "io.k8s.apimachinery.pkg.apis.meta.v1beta1."
                                   "PartialObjectMetadataList", metadata=2, items=1)}
