"""A watch-cache event and the frames it is encoded into, each encoded at most once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

Obj = dict[str, Any]


@dataclass(slots=True)
class CacheEvent:
    """One change as the watch cache saw it.

    `obj` is the object after the change (for DELETED, its last state with the deletion revision as
    resourceVersion); `prev` the object before it (None for ADDED). `prev_at_rv` is `prev` carrying
    this event's resourceVersion, which is what a watcher whose selector stops matching receives
    as DELETED. Frames are cached per (event type, object) so every watcher of the same form
    shares one encoding.
    """

    type: str
    key: str
    rv: int
    obj: Obj
    prev: Obj | None
    _frames: dict[tuple[str, bool], bytes] = field(default_factory=dict)

    def frame(self, event_type: str, use_prev: bool = False) -> bytes:
        """The JSON watch frame `{"type":…,"object":…}\\n` for this event, encoded once."""
        cached = self._frames.get((event_type, use_prev))
        if cached is None:
            obj = self.prev_at_rv() if use_prev else self.obj
            cached = watch_frame(event_type, orjson.dumps(obj))
            self._frames[(event_type, use_prev)] = cached
        return cached

    def prev_at_rv(self) -> Obj:
        assert self.prev is not None
        return {**self.prev, "metadata": {**self.prev["metadata"], "resourceVersion": str(self.rv)}}


def watch_frame(event_type: str, object_json: bytes) -> bytes:
    """Frame already-encoded object bytes as one newline-terminated JSON watch event."""
    return b'{"type":"' + event_type.encode() + b'","object":' + object_json + b"}\n"
