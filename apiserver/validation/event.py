"""Event validation (upstream's pkg/apis/core/validation/events.go), on the core/v1 form of an Event.

Both APIs validate the stored (core) form, so errors name core fields whichever API wrote it; events.k8s.io/v1
writes (`strict`) add the rules of the new API. Every Event's metadata is then checked as the generic registry
checks any object's (names are path segments).
"""

from __future__ import annotations

from typing import Any

from apiserver.validation.field import ErrorList, invalid, required
from apiserver.validation.names import is_dns1123_subdomain, is_qualified_name
from apiserver.validation.objectmeta import FIELD_IMMUTABLE, validate_object_meta, validate_object_meta_update
from apiserver.validation.rbac import path_segment_name

Obj = dict[str, Any]
LIMITS = {"reportingInstance": 128, "action": 128, "reason": 128}
NOTE_LIMIT = 1024
# The fields an events.k8s.io/v1 update may not change, as upstream lists them (reason twice).
IMMUTABLE = ("involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp", "count", "reason",
             "type")
IMMUTABLE_NEW = ("action", "related", "reportingComponent", "reportingInstance")


def validate_event(event: Obj, strict: bool) -> ErrorList:
    """ValidateEventCreate; `strict` for a write through events.k8s.io/v1."""
    errs = _legacy(event, strict)
    meta = event.get("metadata") or {}
    if strict:
        errs.extend(validate_object_meta(meta, namespaced=True))
        errs.extend(_series(event))
        if not event.get("eventTime"):
            errs.append(required("eventTime"))
        if event.get("type") not in ("Normal", "Warning"):
            errs.append(invalid("type", "", f"has invalid value: {event.get('type') or ''}"))
        for name in ("firstTimestamp", "lastTimestamp"):
            if event.get(name):
                errs.append(invalid(name, "", "needs to be unset"))
        if event.get("count"):
            errs.append(invalid("count", "", "needs to be unset"))
        if any((event.get("source") or {}).get(key) for key in ("component", "host")):
            errs.append(invalid("source", "", "needs to be unset"))
    return errs or validate_object_meta(meta, namespaced=True, name_fn=path_segment_name)


def validate_event_update(event: Obj, old: Obj, strict: bool) -> ErrorList:
    """ValidateEventUpdate, after the metadata checks every update gets."""
    meta, old_meta = event.get("metadata") or {}, old.get("metadata") or {}
    errs = validate_object_meta(meta, namespaced=True, name_fn=path_segment_name)
    errs.extend(validate_object_meta_update(meta, old_meta))
    errs.extend(_legacy(event, strict))
    if not strict:
        return errs
    errs.extend(validate_object_meta_update(meta, old_meta))
    if event.get("series") != old.get("series"):
        errs.extend(_series(event))
    for name in IMMUTABLE:
        errs.extend(_immutable(event, old, name))
    if _micro(event.get("eventTime")) != _micro(old.get("eventTime")):
        errs.extend(_immutable(event, old, "eventTime"))
    for name in IMMUTABLE_NEW:
        errs.extend(_immutable(event, old, name))
    return errs


def _immutable(event: Obj, old: Obj, name: str) -> ErrorList:
    value = event.get(name)
    if value == old.get(name) or (not value and not old.get(name)):
        return ErrorList()
    path = "reportingController" if name == "reportingComponent" else name
    return ErrorList([invalid(path, value if value is not None else "", FIELD_IMMUTABLE)])


def _micro(stamp: Any) -> str:
    """A MicroTime to the microsecond (sub-microsecond changes are tolerated)."""
    return str(stamp or "")[:26]


def _series(event: Obj) -> ErrorList:
    errs = ErrorList()
    series = event.get("series")
    if series is not None:
        if (series.get("count") or 0) < 2:
            errs.append(invalid("series.count", "", "should be at least 2"))
        if not series.get("lastObservedTime"):
            errs.append(required("series.lastObservedTime"))
    return errs


def _legacy(event: Obj, strict: bool) -> ErrorList:
    """legacyValidateEvent: the involved object's namespace is the Event's; an Event with an eventTime names its
    reporter, action and reason, within their lengths."""
    errs = ErrorList()
    namespace = (event.get("metadata") or {}).get("namespace") or ""
    involved = (event.get("involvedObject") or {}).get("namespace") or ""
    mismatch = invalid("involvedObject.namespace", involved, "does not match event.namespace")
    if not event.get("eventTime"):
        if (not involved and namespace not in ("", "default")) or (involved and namespace != involved):
            errs.append(mismatch)
    else:
        if not involved and namespace not in ("default", "kube-system"):
            errs.append(mismatch)
        reporter = event.get("reportingComponent") or ""
        reporter_path = "reportingController" if strict else "reportingComponent"
        if not reporter:
            errs.append(required(reporter_path))
        errs.extend(invalid(reporter_path, reporter, msg) for msg in is_qualified_name(reporter))
        for name, limit in LIMITS.items():
            value = event.get(name) or ""
            if not value:
                errs.append(required(name))
            if len(value) > limit:
                errs.append(invalid(name, "", f"can have at most {limit} characters"))
        if len(event.get("message") or "") > NOTE_LIMIT:
            errs.append(invalid("message", "", f"can have at most {NOTE_LIMIT} characters"))
    errs.extend(invalid("namespace", namespace, msg) for msg in is_dns1123_subdomain(namespace))
    return errs
