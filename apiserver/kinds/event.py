"""core/v1 Event and events.k8s.io/v1 Event (upstream's types): one set of stored objects, the core form, shown
by two APIs. Events expire `--event-ttl` after their last write (the registry writes them with a storage lease).

Both print the same Table; the events.k8s.io form is converted to and from the stored one field by field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apiserver.kinds.base import Column, Kind, Obj, Strategy, View
from apiserver.kinds.columns import NAME, since
from apiserver.kinds.fielddoc import field_doc
from apiserver.kinds.upstream import CORE, definition
from apiserver.schema import Object, Schema, String
from apiserver.validation.event import validate_event, validate_event_update
from apiserver.validation.field import ErrorList

SCHEMA = definition(CORE + "Event")
EVENTS_SCHEMA = definition("io.k8s.api.events.v1.Event")
# events.k8s.io/v1 field: core/v1 field, for those named differently.
RENAMED = {"regarding": "involvedObject", "note": "message", "reportingController": "reportingComponent",
           "deprecatedSource": "source", "deprecatedFirstTimestamp": "firstTimestamp",
           "deprecatedLastTimestamp": "lastTimestamp", "deprecatedCount": "count"}
CORE_NAMES = {core: new for new, core in RENAMED.items()}
Cell = Callable[[Obj], Any]


class EventStrategy(Strategy):
    """A PUT may create an Event; core/v1 writes get the legacy checks, events.k8s.io/v1 ones the strict ones
    (on the stored form either way)."""

    allow_create_on_update = True

    def __init__(self, strict: bool) -> None:
        self.strict = strict

    def _stored(self, obj: Obj) -> Obj:
        return to_core(obj) if self.strict else obj

    def validate(self, obj: Obj) -> ErrorList:
        return validate_event(self._stored(obj), self.strict)

    def validate_update(self, obj: Obj, old: Obj) -> ErrorList:
        return validate_event_update(self._stored(obj), self._stored(old), self.strict)


def _converted(obj: Obj, target: Object, api_version: str, names: dict[str, str]) -> Obj:
    """`obj` as the `target` type: fields renamed per `names`, in the target's order; Go's zero values of the
    fields the target omits when empty are left out, those it always writes are present."""
    out: Obj = {"kind": "Event", "apiVersion": api_version, "metadata": obj.get("metadata") or {}}
    for name in target.properties:
        if name in out:
            continue
        value = obj.get(names.get(name, name))
        if name in target.always:
            out[name] = value if value is not None else _zero(target.properties[name])
        elif value not in (None, "", 0):
            out[name] = value
    return out


def _zero(node: Schema) -> object:
    """Go's JSON of an unset field it always writes: {} for a struct, null for a time, "" for a string."""
    if isinstance(node, Object):
        return {}
    return "" if isinstance(node, String) else None


def to_core(event: Obj) -> Obj:
    """An events.k8s.io/v1 Event in its stored, core/v1 form."""
    return _converted(event, SCHEMA, "v1", CORE_NAMES)


def from_core(event: Obj) -> Obj:
    """A stored (core/v1) Event as events.k8s.io/v1 shows it."""
    return _converted(event, EVENTS_SCHEMA, "events.k8s.io/v1", RENAMED)


def _stamp_since(stamp: str | None) -> str:
    """The time since a Time or MicroTime, `<unknown>` when unset."""
    return since(stamp[:19] + "Z") if stamp else "<unknown>"


def _first_seen(event: Obj) -> str:
    return _stamp_since(event.get("firstTimestamp") or event.get("eventTime"))


def _last_seen(event: Obj) -> str:
    series = event.get("series")
    if series is not None:
        return _stamp_since(series.get("lastObservedTime"))
    return _stamp_since(event["lastTimestamp"]) if event.get("lastTimestamp") else _first_seen(event)


def _count(event: Obj) -> int:
    series = event.get("series")
    return int(series.get("count") or 0) if series is not None else int(event.get("count") or 1)


def _object(event: Obj) -> str:
    involved = event.get("involvedObject") or {}
    kind = str(involved.get("kind") or "").lower()
    return f"{kind}/{involved['name']}" if involved.get("name") else kind


def _source(event: Obj) -> str:
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent") or ""
    instance = source.get("host") or event.get("reportingInstance") or ""
    return f"{component}, {instance}" if instance else component


def _columns(view: bool) -> tuple[Column, ...]:
    """printEvent's columns, of the stored form (converted first for the events.k8s.io view)."""
    def stored(cell: Cell) -> Cell:
        return (lambda o: cell(to_core(o))) if view else cell
    involved = definition(CORE + "ObjectReference")
    return (
        Column(name="Last Seen", description=field_doc(SCHEMA, "lastTimestamp"), cell=stored(_last_seen)),
        Column(name="Type", description=field_doc(SCHEMA, "type"), cell=stored(lambda o: o.get("type") or "")),
        Column(name="Reason", description=field_doc(SCHEMA, "reason"), cell=stored(lambda o: o.get("reason") or "")),
        Column(name="Object", description=field_doc(SCHEMA, "involvedObject"), cell=stored(_object)),
        Column(name="Subobject", priority=1, description=field_doc(involved, "fieldPath"),
               cell=stored(lambda o: (o.get("involvedObject") or {}).get("fieldPath") or "")),
        Column(name="Source", priority=1, cell=stored(_source),
               description="The component reporting this event. Should be a short machine understandable string."),
        Column(name="Message", description=field_doc(SCHEMA, "message"),
               cell=stored(lambda o: str(o.get("message") or "").strip())),
        Column(name="First Seen", priority=1, description=field_doc(SCHEMA, "firstTimestamp"), cell=stored(_first_seen)),
        Column(name="Count", priority=1, description=field_doc(SCHEMA, "count"), cell=stored(_count)),
        Column(name=NAME.name, format=NAME.format, priority=1, description=NAME.description, cell=NAME.cell),
    )


def _selectors(view: bool) -> dict[str, Cell]:
    """ToSelectableFields (the events.k8s.io names map to the same values)."""
    def involved(key: str) -> Cell:
        return lambda o: str((o.get("involvedObject") or {}).get(key) or "")
    fields: dict[str, Cell] = {f"involvedObject.{key}": involved(key)
              for key in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")}
    fields.update({
        "reason": lambda o: o.get("reason") or "",
        "reportingComponent": lambda o: o.get("reportingComponent") or "",
        "source": lambda o: (o.get("source") or {}).get("component") or o.get("reportingComponent") or "",
        "type": lambda o: o.get("type") or "",
    })
    if not view:
        return fields
    renamed = {name.replace("involvedObject.", "regarding.").replace("reportingComponent", "reportingController"):
               cell for name, cell in fields.items() if name != "source"}
    return {name: _of_core(cell) for name, cell in renamed.items()}


def _of_core(cell: Cell) -> Cell:
    return lambda o: cell(to_core(o))


EVENT = Kind(
    group="",
    version="v1",
    kind="Event",
    plural="events",
    singular="event",
    namespaced=True,
    schema=SCHEMA,
    etcd_prefix="/registry/events",
    strategy=EventStrategy(strict=False),
    description=SCHEMA.description,
    short_names=("ev",),
    extra_field_selectors=_selectors(False),
    columns=_columns(False),
)

EVENTS_EVENT = Kind(
    group="events.k8s.io",
    version="v1",
    kind="Event",
    plural="events",
    singular="event",
    namespaced=True,
    schema=EVENTS_SCHEMA,
    etcd_prefix="/registry/events",
    strategy=EventStrategy(strict=True),
    description=EVENTS_SCHEMA.description,
    short_names=("ev",),
    extra_field_selectors=_selectors(True),
    columns=_columns(True),
    view=View(of=EVENT, from_stored=from_core, to_stored=to_core),
)
