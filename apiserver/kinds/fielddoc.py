"""Column descriptions as upstream's printers give them: the documentation of the field a column shows."""

from __future__ import annotations

from apiserver.schema import Object, Schema


def field_doc(schema: Object, path: str) -> str:
    """The description of the field at dotted `path` in `schema` (`spec.replicas`), as its parent documents it."""
    node: Schema = schema
    for name in path.split("."):
        assert isinstance(node, Object), path
        node = node.properties[name]
    return node.about if isinstance(node, Object) else node.description
