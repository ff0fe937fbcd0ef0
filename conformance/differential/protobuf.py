"""Protobuf answers compared byte for byte, but for what two correct servers may write differently.

An answer (or a watch frame) is parsed with the schema-free reader (`wire`) into a tree keyed by field number,
in the order written: `2` for a field met once, `2[0]`, `2[1]`, ... for a repeated one. A length-delimited value
is a nested message when it parses as one and starts with a tag of fields 1-3 or is not printable text, an enveloped document (`k8s\\0` then a
runtime.Unknown) when it starts with the prefix, else a string (or hex when it is not UTF-8). The fields known to
be volatile are rewritten at their field-number paths, with the run's JSON normaliser so placeholders number
alike in both encodings: ObjectMeta's resourceVersion, generated name and timestamps, ListMeta's
resourceVersion and continue, managedFields times, a Status message, a Service's cluster IPs and node ports.
Everything else is compared exactly, field order included (`compare.differences`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from conformance.differential import wire
from conformance.differential.normalise import Normaliser

# The messages met at known field numbers (from meta/v1, core/v1 and apidiscovery/v2 generated.proto)
SHAPES: dict[str, dict[int, str]] = {
    "Unknown": {1: "TypeMeta"},
    "Object": {1: "ObjectMeta"},
    "Service": {1: "ObjectMeta", 2: "ServiceSpec"},
    "ServiceSpec": {1: "ServicePort"},
    "List": {1: "ListMeta", 2: "Object"},
    "ServiceList": {1: "ListMeta", 2: "Service"},
    "APIGroupDiscoveryList": {1: "ListMeta", 2: "Object"},
    "meta.k8s.io/v1beta1 PartialObjectMetadataList": {1: "Object", 2: "ListMeta"},  # v1beta1 numbers them so
    "Status": {1: "ListMeta", 5: "StatusDetails"},
    "StatusDetails": {4: "StatusCause"},
    "ObjectMeta": {8: "Time", 9: "Time", 17: "ManagedFieldsEntry"},
    "ManagedFieldsEntry": {4: "Time"},
    "WatchEvent": {2: "RawExtension"},
}
UNSHAPED = {"APIVersions", "APIGroupList", "APIGroup", "APIResourceList"}  # discovery: no ObjectMeta
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


@dataclass(frozen=True)
class Protobuf:
    """A protobuf answer or watch frame, kept as its bytes until the run's normaliser reads it."""

    data: bytes
    frame: bool = False  # a watch frame: a bare WatchEvent

    def event_type(self) -> str:
        fields = wire.message_or_none(self.data) or []
        return next((v.decode() for n, t, v in fields if n == 1 and isinstance(v, bytes)), "")

    def annotations(self) -> dict[str, str]:
        """The annotations of a watch event's object (bookmarks are told apart by them)."""
        fields = wire.message_or_none(self.data) or []
        raw = _field(_message(_field(fields, 2)), 1)
        if not raw.startswith(wire.PREFIX):
            return {}
        meta = _message(_field(_message(_field(_message(raw[len(wire.PREFIX):]), 2)), 1))
        entries = [_message(v) for n, _, v in meta if n == 12 and isinstance(v, bytes)]
        return {_field(e, 1).decode(): _field(e, 2).decode() for e in entries}

    def is_bookmark(self) -> bool:
        return self.frame and self.event_type() == "BOOKMARK"

    def is_initial_events_end(self) -> bool:
        return self.is_bookmark() and self.annotations().get(INITIAL_EVENTS_END) == "true"


def _message(data: bytes) -> list[wire.Field]:
    return wire.message_or_none(data) or []


def _field(fields: list[wire.Field], number: int) -> bytes:
    return next((v for n, t, v in fields if n == number and isinstance(v, bytes)), b"")


def printable(data: bytes) -> bool:
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return False
    return all(c >= " " or c in "\n\t\r" for c in text)


def keys(fields: list[wire.Field]) -> list[str]:
    """`n` for a field met once, `n[i]` for the i-th of a repeated one."""
    counts: dict[int, int] = {}
    for number, _, _ in fields:
        counts[number] = counts.get(number, 0) + 1
    seen: dict[int, int] = {}
    names = []
    for number, _, _ in fields:
        index = seen.get(number, 0)
        seen[number] = index + 1
        names.append(str(number) if counts[number] == 1 else f"{number}[{index}]")
    return names


class Reader:
    """One run's protobuf answers turned into normalised field trees."""

    def __init__(self, normaliser: Normaliser) -> None:
        self.normaliser = normaliser

    def document(self, answer: Protobuf | list[Any]) -> Any:
        """An answer's tree, or a watch's events' trees (periodic bookmarks dropped)."""
        if isinstance(answer, list):
            return [self.document(e) if isinstance(e, Protobuf) else e for e in answer
                    if not (isinstance(e, Protobuf) and e.is_bookmark() and not e.is_initial_events_end())]
        if answer.frame:
            return self.message(answer.data, "WatchEvent")
        return self.value(answer.data, "")

    def value(self, data: bytes, shape: str) -> Any:
        if data.startswith(wire.PREFIX):
            return {"k8s": self.envelope(data[len(wire.PREFIX):])}
        if shape and wire.message_or_none(data) is not None:
            return self.message(data, shape)
        if data and (data[0] < 0x20 or not printable(data)) and wire.message_or_none(data) is not None:
            return self.message(data, "")
        try:
            return self.normaliser.string(data.decode())
        except UnicodeDecodeError:
            return "0x" + data.hex()

    def envelope(self, data: bytes) -> Any:
        fields = wire.message_or_none(data)
        if fields is None:
            return "0x" + data.hex()
        type_meta = _message(_field(fields, 1))
        api_version, kind = (_field(type_meta, n).decode("utf-8", "replace") for n in (1, 2))
        return self.message(data, "Unknown", object_shape(api_version, kind))

    def message(self, data: bytes, shape: str, raw_shape: str = "") -> Any:
        if shape == "Time":
            return "<time>" if data else {}  # an empty Time is Go's zero time, written as an empty message
        fields = wire.read(data)
        if shape == "ObjectMeta":
            self.learn_generated_name(fields)
        tree: dict[str, Any] = {}
        for key, (number, wire_type, value) in zip(keys(fields), fields):
            tree[key] = self.field(shape, number, value, raw_shape, fields)
        return tree

    def field(self, shape: str, number: int, value: int | bytes, raw_shape: str, fields: list[wire.Field]) -> Any:
        special = self.volatile(shape, number, value, fields)
        if special is not None:
            return special
        if isinstance(value, int):
            return value
        inner = raw_shape if shape == "Unknown" and number == 2 else SHAPES.get(shape, {}).get(number, "")
        return self.value(value, inner)

    def volatile(self, shape: str, number: int, value: int | bytes, fields: list[wire.Field]) -> Any:
        """The placeholder of a volatile field, or None."""
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else ""
        if shape == "ObjectMeta" and number == 6:
            named = any(n in (1, 2, 5) for n, _, _ in fields)
            return self.normaliser.object_version(text) if named else self.normaliser.collection_version(text)
        if shape == "ListMeta" and number == 2:
            return self.normaliser.collection_version(text)
        if shape == "ListMeta" and number == 3 and text:
            return "<continue>"
        if (shape, number) in (("Status", 3), ("StatusCause", 2)):
            return self.normaliser.message(text)
        if shape == "ServiceSpec" and number in (3, 18) and text not in ("", "None"):
            self.normaliser.addresses.add(text)
            return "<ip>"
        if (shape, number) in (("ServiceSpec", 12), ("ServicePort", 5)) and value:
            return "<port>"
        return None

    def learn_generated_name(self, fields: list[wire.Field]) -> None:
        name, prefix = _field(fields, 1).decode(errors="replace"), _field(fields, 2).decode(errors="replace")
        if prefix:
            self.normaliser.learn_generated_names({"metadata": {"name": name, "generateName": prefix}})


def object_shape(api_version: str, kind: str) -> str:
    """The shape of an envelope's object, by its kind (and apiVersion, where that changes the numbers)."""
    if f"{api_version} {kind}" in SHAPES:
        return f"{api_version} {kind}"
    if kind in SHAPES:
        return kind
    if kind in UNSHAPED:
        return ""
    return "List" if kind.endswith("List") else "Object"
