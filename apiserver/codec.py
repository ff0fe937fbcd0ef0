"""How objects are stored, as kube-apiserver's etcd3 store writes them: the object in the storage media type
(`--storage-media-type`: protobuf, the `k8s\\x00` envelope of a runtime.Unknown naming apiVersion and kind, or
JSON) without metadata.resourceVersion and selfLink (APIObjectVersioner.PrepareObjectForStorage: the version
is the kv's mod revision, supplied on read). managedFields and everything else are stored as they are.

Reading recognises either form whatever the media type, as upstream's storage codec does, so servers writing
different media types share one store. A kind without a protobuf form here is written in JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from apiserver.protobuf import envelope
from apiserver.protobuf.values import ProtobufError
from storage import KeyValue

Obj = dict[str, Any]
Encoder = Callable[[Obj], bytes]

JSON = "application/json"
PROTOBUF = envelope.MEDIA_TYPE
MEDIA_TYPES = (PROTOBUF, JSON)


def _stored(obj: Obj) -> Obj:
    """The object minus metadata.resourceVersion and selfLink (storage owns the version)."""
    meta = obj["metadata"]
    if "resourceVersion" in meta or "selfLink" in meta:
        meta = {k: v for k, v in meta.items() if k not in ("resourceVersion", "selfLink")}
        obj = {**obj, "metadata": meta}
    return obj


def encode(obj: Obj) -> bytes:
    """The stored form in JSON."""
    return orjson.dumps(_stored(obj))


def encode_protobuf(obj: Obj) -> bytes:
    """The stored form in protobuf (JSON for a kind without a protobuf form)."""
    stored = _stored(obj)
    try:
        return envelope.encode(stored)
    except ProtobufError:
        return orjson.dumps(stored)


def encoder(media_type: str) -> Encoder:
    """The encoder of a storage media type (ValueError for one storage does not support)."""
    if media_type == JSON:
        return encode
    if media_type == PROTOBUF:
        return encode_protobuf
    raise ValueError(f"unable to find serializer for {media_type!r}, supported media types: {', '.join(MEDIA_TYPES)}")


def decode(kv: KeyValue) -> Obj:
    """The object for a stored kv (protobuf or JSON), its resourceVersion set to the kv's mod_revision."""
    value = kv.value
    obj: Obj = envelope.decode(value) if value[:4] == envelope.PREFIX else orjson.loads(value)
    obj["metadata"]["resourceVersion"] = str(kv.mod_revision)
    return obj


def decode_again(kv: KeyValue, obj: Obj) -> Obj:
    """A private copy of `obj`, which is `decode(kv)`: JSON decoded again, protobuf (several times slower to
    decode) through an orjson round trip; either is many times cheaper than copy.deepcopy."""
    if kv.value[:4] != envelope.PREFIX:
        return decode(kv)
    copied: Obj = orjson.loads(orjson.dumps(obj))
    return copied
