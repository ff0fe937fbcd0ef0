"""GET and LIST answers made of the watch cache's kept encodings (`CacheEvent.body`), as upstream's
CachingObject does: an object version is serialized once in JSON and once in protobuf however many clients
read it, a list is the join of its items' bodies.

Only the object projection in JSON (not indented) or protobuf, and only for objects that are the cache's
current version of their key: the cache's own object, or one read from storage at that resourceVersion (the
same stored bytes). Answers to writes never come here (a dry run reuses a resourceVersion with other content).
"""

from __future__ import annotations

import orjson

from apiserver.cacher.event import CacheEvent, list_item
from apiserver.handlers.negotiation import Output
from apiserver.kinds.base import Kind, Obj
from apiserver.protobuf import envelope
from apiserver.registry import ListResult, Registry


def served(output: Output) -> bool:
    """Whether answers in `output` are made of bodies."""
    return output.form == "object" and (output.encoding == "protobuf" or (output.encoding == "json"
                                                                          and not output.pretty))


def _event(registry: Registry, obj: Obj) -> CacheEvent | None:
    """The watch-cache event whose object is `obj`'s version, if the cache keeps encodings."""
    cacher = registry.cacher
    if not cacher.hub.encode_cache:
        return None
    meta = obj.get("metadata") or {}
    event: CacheEvent | None = cacher.cache.store.get(registry.key(meta.get("namespace", ""), meta.get("name", "")))
    if event is None:
        return None
    if event.obj is obj or event.obj["metadata"].get("resourceVersion") == meta.get("resourceVersion"):
        return event
    return None


def object_body(registry: Registry, obj: Obj, output: Output) -> bytes | None:
    """The answer to a GET of `obj` from its kept body; None if it has none (encode it as usual)."""
    event = _event(registry, obj)
    if event is None:
        return None
    counted = registry.cacher.meters.encoded
    if output.encoding == "protobuf":
        return envelope.unknown(obj.get("apiVersion", ""), obj.get("kind", ""), event.body("protobuf", counted))
    return event.body("json", counted)


def list_body(registry: Registry, kind: Kind, result: ListResult, meta: Obj, output: Output) -> bytes:
    """The answer to a LIST: its metadata, then every item from its kept body (or encoded, if it has none)."""
    counted = registry.cacher.meters.encoded
    events = [_event(registry, item) for item in result.items]
    if output.encoding == "protobuf":
        items = [envelope.encode_message(item) if event is None else event.body("protobuf", counted)
                 for item, event in zip(result.items, events, strict=True)]
        return envelope.encode_list(kind.api_version, kind.list_kind, meta, items)
    parts: list[bytes | memoryview] = [b'{"kind":', orjson.dumps(kind.list_kind), b',"apiVersion":',
                                       orjson.dumps(kind.api_version), b',"metadata":', orjson.dumps(meta),
                                       b',"items":[']
    whole = kind.unstructured
    for index, (item, event) in enumerate(zip(result.items, events, strict=True)):
        if index:
            parts.append(b",")
        if event is None:
            parts.append(orjson.dumps(item if whole else list_item(item)))
        elif whole:
            parts.append(event.body("json", counted))
        else:
            parts += (b"{", event.json_item(counted))
    parts.append(b"]}")
    return b"".join(parts)
