"""Watch-cache events and the forms they are encoded in, each (form, type, object) at most once.

A watcher asks for one form: the plain object, a Table row (the first one with column headers),
or PartialObjectMetadata, in JSON or in protobuf (length-prefixed WatchEvent frames). Every watcher of
the same form receives the same bytes: an event keeps the frames made for it, so N watchers cost one
serialization per form (encoding included) in use, not N. What events keep after their dispatch (the
current state's ADDED frame for initial events, frames encoded for a replay) is charged to a FrameBudget,
which drops the least recently charged past its byte limit.

An event also keeps its object's own encodings ("bodies": the JSON, the protobuf message without its
envelope), made at most once per object version: its watch frames in the object projection wrap them, and
GET and LIST answers of that version (`apiserver.handlers.encoded`) are made of them, a list by joining its
items' bodies. They are charged like frames and go with them: superseded, out of the window, over the budget.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import orjson

from apiserver import tables
from apiserver.kinds.base import Kind
from apiserver.protobuf import envelope

Obj = dict[str, Any]
Projection = Literal["object", "table", "partial"]
Serialization = Literal["json", "protobuf"]


def watch_frame(event_type: str, object_json: bytes) -> bytes:
    """Frame already-encoded object bytes as one newline-terminated JSON watch event."""
    return b'{"type":"' + event_type.encode() + b'","object":' + object_json + b"}\n"


@dataclass(frozen=True)
class Form:
    """How a watcher wants its objects; `headers` marks a Table event that carries columnDefinitions. Tables are
    JSON only."""

    projection: Projection = "object"
    include_object: str = "Metadata"
    headers: bool = False
    serialization: Serialization = "json"

    @property
    def encoding(self) -> str:
        """The metrics label for this form: its media type."""
        media = envelope.MEDIA_TYPE if self.serialization == "protobuf" else "application/json"
        if self.projection == "table":
            return media + ";as=Table"
        if self.projection == "partial":
            return media + ";as=PartialObjectMetadata"
        return media

    def list_blueprint(self, kind: Kind) -> str:
        """The empty list a watch-list client builds its list from, as this form's lists are encoded, in base64:
        the initial-events-end bookmark carries it, as upstream's (kubernetes.io/initial-events-list-blueprint)."""
        if self.projection == "partial":
            empty: Obj = {"kind": "PartialObjectMetadataList", "apiVersion": tables.META_V1}
        else:
            empty = {"kind": kind.list_kind, "apiVersion": kind.api_version}
        if self.serialization == "protobuf":
            return base64.b64encode(envelope.encode({**empty, "metadata": {}, "items": None})).decode()
        return base64.b64encode(orjson.dumps({**empty, "metadata": {}, "items": None}) + b"\n").decode()

    def without_headers(self) -> Form:
        return Form(self.projection, self.include_object, False, self.serialization) if self.headers else self

    def error(self, status: Obj) -> bytes:
        """An ERROR event: the Status as it is, whatever the projection, in this form's encoding."""
        if self.serialization == "protobuf":
            return envelope.watch_event("ERROR", envelope.encode(status))
        return watch_frame("ERROR", orjson.dumps(status))

    def wrap(self, event_type: str, obj: Obj, body: bytes) -> bytes:
        """The frame of `obj` in the object projection, from its body (`CacheEvent.body`): as `encode` makes it."""
        if self.serialization == "protobuf":
            return envelope.watch_event(event_type, envelope.unknown(obj.get("apiVersion", ""), obj.get("kind", ""),
                                                                     body))
        return watch_frame(event_type, body)

    def encode(self, kind: Kind, event_type: str, obj: Obj) -> bytes:
        if self.serialization == "protobuf":
            shown = tables.partial_metadata(obj, kind=kind) if self.projection == "partial" else obj
            return envelope.watch_event(event_type, envelope.encode(shown))
        if self.projection == "object":
            return watch_frame(event_type, orjson.dumps(obj))
        if self.projection == "partial":
            return watch_frame(event_type, orjson.dumps(tables.partial_metadata(obj, kind=kind)))
        meta = {"resourceVersion": obj["metadata"].get("resourceVersion", "")}
        rows = [] if event_type == "BOOKMARK" else [obj]
        body = tables.table(kind, rows, meta, self.include_object, headers=self.headers)
        return watch_frame(event_type, orjson.dumps(body))


def list_item(obj: Obj) -> Obj:
    """An item as a list carries it: without kind and apiVersion, which the list's own TypeMeta implies (as
    kube-apiserver encodes the items of a typed list; watch events and single objects keep them)."""
    item = dict(obj)
    item.pop("kind", None)
    item.pop("apiVersion", None)
    return item


@lru_cache(maxsize=256)
def _type_meta_openings(kind: Any, api_version: Any) -> tuple[bytes, bytes]:
    """How the JSON of an object opens with its kind and apiVersion, in either order."""
    kind_json, version_json = orjson.dumps(kind), orjson.dumps(api_version)
    return (b'{"kind":' + kind_json + b',"apiVersion":' + version_json + b",",
            b'{"apiVersion":' + version_json + b',"kind":' + kind_json + b",")


PLAIN = Form()
PROTOBUF = Form(serialization="protobuf")
BODY = ""  # the event type under which an event keeps its object's own encoding, no watch frame around it
ITEM = "item"  # ... and its JSON as a list item (without kind and apiVersion), when not a slice of the body
Counter = Callable[[Form], None]
FRAME_BUDGET = 64 * 1024 * 1024


class FrameBudget:
    """The bytes of encoded frames events keep for reuse, bounded: past `limit`, the events that
    charged least recently drop theirs (a watcher that needs one again encodes it again)."""

    __slots__ = ("bytes", "dropped", "holders", "limit")

    def __init__(self, limit: int = FRAME_BUDGET) -> None:
        self.limit = limit
        self.bytes = 0
        self.dropped = 0  # frames dropped to stay within the limit
        self.holders: dict[CacheEvent, None] = {}  # events holding frames, least recently charged first

    def charge(self, event: CacheEvent, size: int) -> None:
        self.bytes += size
        holders = self.holders
        holders.pop(event, None)
        holders[event] = None
        while self.bytes > self.limit and holders:
            self.dropped += next(iter(holders)).drop_frames()

    def release(self, event: CacheEvent, size: int, holding: bool) -> None:
        self.bytes -= size
        if not holding:
            self.holders.pop(event, None)


@dataclass(slots=True, eq=False)
class CacheEvent:
    """One change as the watch cache saw it.

    `obj` is the object after the change (for DELETED, its last state with the deletion revision as
    resourceVersion); `prev` the object before it (None when it was created). A watcher whose
    selector stops matching receives `prev` with this event's resourceVersion as DELETED.
    """

    type: str
    key: str
    rv: int
    obj: Obj
    prev: Obj | None
    received: float = 0.0
    budget: FrameBudget | None = None  # set when the watch cache takes the event
    _frames: dict[tuple[Form, str, bool], bytes] = field(default_factory=dict)
    frame_bytes: int = 0
    stored: bytes | None = None  # the value storage holds, when protobuf: the protobuf body is spliced from it

    def frame(self, kind: Kind, form: Form, event_type: str, use_prev: bool, counted: Counter) -> bytes:
        """The frame of this event in `form` as `event_type`, made on first use and then shared; in the object
        projection it wraps the object's body."""
        key = (form, event_type, use_prev)
        cached = self._frames.get(key)
        if cached is None:
            if form.projection == "object" and not use_prev:
                frame = form.wrap(event_type, self.obj, self.body(form.serialization, counted))
            else:
                frame = self.encode(kind, form, event_type, use_prev)
                counted(form)
            cached = self._keep_one(key, frame)
        return cached

    def body(self, serialization: Serialization, counted: Counter) -> bytes:
        """The object's own encoding, made once (and counted) and then kept: JSON, or the protobuf message that
        the envelope, a watch event or a list item wraps (spliced from the stored value when storage holds
        protobuf: `envelope.message_at_version`)."""
        form = PROTOBUF if serialization == "protobuf" else PLAIN
        key = (form, BODY, False)
        cached = self._frames.get(key)
        if cached is None:
            if serialization == "json":
                data = orjson.dumps(self.obj)
            else:
                spliced = None if self.stored is None else envelope.message_at_version(
                    self.stored, self.obj["metadata"]["resourceVersion"])
                data = envelope.encode_message(self.obj) if spliced is None else spliced
            counted(form)
            cached = self._keep_one(key, data)
        return cached

    def json_item(self, counted: Counter) -> memoryview:
        """The object's JSON as a list holds it (without kind and apiVersion), less its opening brace: a view of
        the body after its leading kind and apiVersion (either order), else encoded once without them and kept."""
        body = self.body("json", counted)
        obj = self.obj
        for type_meta in _type_meta_openings(obj.get("kind"), obj.get("apiVersion")):
            if body.startswith(type_meta):
                return memoryview(body)[len(type_meta):]
        key = (PLAIN, ITEM, False)
        cached = self._frames.get(key)
        if cached is None:
            cached = self._keep_one(key, orjson.dumps(list_item(obj)))
            counted(PLAIN)
        return memoryview(cached)[1:]

    def _keep_one(self, key: tuple[Form, str, bool], data: bytes) -> bytes:
        self._frames[key] = data
        self.frame_bytes += len(data)
        if self.budget is not None:
            self.budget.charge(self, len(data))
        return data

    def encode(self, kind: Kind, form: Form, event_type: str, use_prev: bool) -> bytes:
        """A fresh serialization, not cached (the per-watcher baseline uses this)."""
        return form.encode(kind, event_type, self.prev_at_rv() if use_prev else self.obj)

    def prev_at_rv(self) -> Obj:
        assert self.prev is not None
        return {**self.prev, "metadata": {**self.prev["metadata"], "resourceVersion": str(self.rv)}}

    def forget_frames(self) -> None:
        """Drop the frames once dispatched; the bodies are kept, and the ADDED frame of the current state in
        the PartialObjectMetadata projection (frames of objects are wrapped from bodies again at little cost; a
        Table row's Age cell is computed when it is sent)."""
        kept = {k: v for k, v in self._frames.items()
                if k[1] in (BODY, ITEM) or (k[1] == "ADDED" and not k[2] and k[0].projection == "partial")}
        if len(kept) < len(self._frames):
            self._keep(kept)

    def retire(self) -> None:
        """The event's object is no longer the current state: drop its frames and the stored value."""
        self.drop_frames()
        self.stored = None

    def drop_frames(self) -> int:
        """Drop every encoding (the event was superseded, left the window, or the budget is full); how many."""
        count = len(self._frames)
        if count:
            self._keep({})
        return count

    def _keep(self, frames: dict[tuple[Form, str, bool], bytes]) -> None:
        size = sum(map(len, frames.values()))
        released, self._frames, self.frame_bytes = self.frame_bytes - size, frames, size
        if self.budget is not None:
            self.budget.release(self, released, bool(frames))
